#!/usr/bin/env bash
# Side-by-side timing of two or more builds: scripts/ab.sh MODE N BIN...
#
# MODE is one of:
#   run     `reestr run` of the 1M PAY archive into a copy of the store holding the invoices;
#   import  `reestr invoices import` of the billing export into a fresh store;
#   replay  `reestr replay` of the kept archive, on a copy of a receiver after its `run`;
#   audit   `reestr audit verify` on such a copy.
# Each of N rounds runs every BIN once, one after the other (alternating), on the same inputs,
# so that the machine's drift hits all builds alike. One line a run: wall, user and system
# seconds, peak RSS (/usr/bin/time), and the ACK's sha256 (run) or the invoice count (import).
#
# The inputs are the benchmark's (scripts/bench.sh, run once before): its data set in
# $BENCH_DIR/data-ROWS and its imported receiver $BENCH_DIR/work/import-1, which holds the
# invoices of the last bench.sh run's ROWS (run it with the same ROWS first). Environment:
# BENCH_DIR (default target/bench), ROWS (default 1000000), AB_DIR (scratch, default
# $BENCH_DIR/ab). For replay and audit, the receiver after a `run` is made once by the first
# BIN, in $AB_DIR/done.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
  sed -n '2,18p' "$0" >&2
  exit 2
fi
mode=$1 n=$2
shift 2
bench=${BENCH_DIR:-target/bench}
data=$bench/data-${ROWS:-1000000}
base=$bench/work/import-1
ab=${AB_DIR:-$bench/ab}
archive=MUNIS_SUDBILLING_PAY_20261121_001.zip
ack=SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip
[ -d "$base/var" ] && [ -f "$data/invoices.csv" ] || {
  echo "ab: run scripts/bench.sh first (no $base/var or $data)" >&2
  exit 2
}
mkdir -p "$ab"
w=$ab/w

# fresh: an empty receiver in $w (config and key, as scripts/bench.sh makes them).
fresh() {
  rm -rf "$w"
  mkdir -p "$w/keys" "$w/inbox" "$w/outbox"
  install -m 600 "$data/MUNIS.key" "$w/keys/MUNIS.key"
  printf '%s\n' 'receiver = "SUDBILLING"' 'settle_seconds = 0' 'unreadable_grace_seconds = 0' \
    '[partners.MUNIS]' 'key_file = "keys/MUNIS.key"' >"$w/reestr.toml"
}

# with_archive: $w holds the imported store and the archive, settled (over 2 s old, as a
# nightly run finds it).
with_archive() {
  fresh
  cp "$data/inbox/$archive" "$w/inbox/"
  cp -a "$base/var" "$w/var"
  sync
  sleep 3
}

if [ "$mode" = replay ] || [ "$mode" = audit ]; then
  if [ ! -d "$ab/done/var" ]; then
    with_archive
    "$1" --config "$w/reestr.toml" run >/dev/null 2>&1
    rm -rf "$ab/done"
    cp -a "$w" "$ab/done"
  fi
fi

for k in $(seq 1 "$n"); do
  for bin in "$@"; do
    fresh
    case $mode in
      run) with_archive; cmd=(run) ;;
      import) "$bin" --config "$w/reestr.toml" init >/dev/null 2>&1; cmd=(invoices import "$data/invoices.csv") ;;
      replay) cp -a "$ab/done/var" "$w/var"; cmd=(replay "$(ls "$w"/var/received/*.zip)" --out "$w/replayed") ;;
      audit) cp -a "$ab/done/var" "$w/var"; cmd=(audit verify) ;;
      *) echo "ab: unknown mode $mode" >&2; exit 2 ;;
    esac
    sync
    t0=$(date +%s%N)
    if ! /usr/bin/time -f '%U %S %M' -o "$ab/time.txt" "$bin" --config "$w/reestr.toml" "${cmd[@]}" \
      >"$ab/out.txt" 2>"$ab/err.txt"; then
      echo "ab: $bin $mode failed:" >&2
      tail -5 "$ab/err.txt" >&2
      exit 1
    fi
    t1=$(date +%s%N)
    read -r user sys rss <"$ab/time.txt"
    what=""
    case $mode in
      run) what="ACK $(sha256sum "$w/outbox/$ack" | cut -c1-16)" ;;
      import) what="$(grep -o '[0-9]* invoices' "$ab/out.txt" | head -1 || true)" ;;
    esac
    printf '%s %d %s wall %.3f user %s sys %s rss %d MiB %s\n' "$mode" "$k" "$bin" \
      "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')" "$user" "$sys" $((rss / 1024)) "$what"
  done
done
