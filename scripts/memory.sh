#!/usr/bin/env bash
# Memory on hostile input (issue 4; results and the bound in docs/MEMORY.md): scripts/memory.sh
#
# Builds the release binary and examples/hostile.rs, then writes, streaming (never holding the
# registry in memory), well-signed PAY archives with right control totals, manifest and HMAC:
#  rows         registry.csv of 1 GiB of short valid rows, distinct payment ids, pseudo-random
#               digits (deflates about 4:1, far under the 200:1 ratio limit), paying a billing
#               export of 1000 invoices: every row goes through both passes (archive read; then
#               dialect, validation, reconciliation, store) and is accepted (status 1);
#  long-line    the header and one physical line of 64 MiB (pseudo-random letters, so the ratio
#               limit does not stop it first): B02 at 64 KiB;
#  long-record  the header and one row whose quoted purpose is 64 MiB of 64-byte lines: no
#               physical line is over the limit, so the record is read to its end, holding
#               max_field_bytes (1 MiB) of the purpose: the row gets 202 purpose;
#  long-records the same with 16 records of 16 MiB less 64 KiB each: every row gets 202
#               purpose;
#  long-id      one row whose quoted payment_id is 64 MiB of 64-byte lines: 202 payment_id,
#               the id echoed whole in result.csv (through a file, not memory);
#  wide-rows    registry.csv of 1 GiB of rows just under the 64 KiB line limit, each with a
#               payment_id of 65000 pseudo-random digits (202 payment_id).
# Runs `reestr check` (read-only, rolled back) and `reestr run` on each under /usr/bin/time -v
# (sampling VmRSS every second for the profile), checks the answers, prints a table, and fails
# if any peak RSS exceeds the bound. Also measured, not held to the bound ("info"): the long line
# with the line limit raised above it, to show what the 64 KiB limit protects.
#
# Environment: MEMORY_BOUND_MIB (default 256), HOSTILE_ROWS_BYTES (default 1073741824; several
# sizes, space-separated, make a series), HOSTILE_LINE_BYTES (default 67108864, also the
# long-record size), HOSTILE_WIDE_BYTES (default 1073741824), MEMORY_CASES (default
# "rows long-line long-record long-records long-id wide-rows info"), MEMORY_DIR (default $CARGO_TARGET_DIR/memory,
# removed first). Needs about 4 GiB of free disk per GiB of rows, and, for wide-rows, several
# GiB of free memory (see docs/MEMORY.md).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$repo/$target ;; esac
work=${MEMORY_DIR:-$target/memory}
bound_mib=${MEMORY_BOUND_MIB:-256}
rows_sizes=${HOSTILE_ROWS_BYTES:-1073741824}
line_bytes=${HOSTILE_LINE_BYTES:-67108864}
wide_bytes=${HOSTILE_WIDE_BYTES:-1073741824}
cases=" ${MEMORY_CASES:-rows long-line long-record long-records long-id wide-rows info} "
want() { [[ $cases == *" $1 "* ]]; }

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'memory: %s\n' "$*" >&2; exit 1; }

if [ ! -x /usr/bin/time ]; then
  say "installing GNU time (Debian package time)"
  apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi
command -v python3 >/dev/null || die "python3 is needed"

engine=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || engine="$engine+uncommitted"
say "building (release) at $engine"
cargo build --release --quiet --bin reestr --example hostile
bin=$target/release/reestr
hostile=$target/release/examples/hostile

rm -rf "$work"
mkdir -p "$work/archives"
json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# A receiver like the reference setup: SUDBILLING, partner MUNIS with the reference key, the
# billing export of the rows loaded. receiver DIR [LIMIT-LINES...]
receiver() {
  local dir=$1
  shift
  mkdir -p "$dir"
  cp tests/reference/MUNIS.key "$dir/MUNIS.key"
  chmod 600 "$dir/MUNIS.key"
  {
    printf 'receiver = "SUDBILLING"\nsettle_seconds = 0\nunreadable_grace_seconds = 0\n'
    printf '[partners.MUNIS]\nkey_file = "MUNIS.key"\n'
    if [ $# -gt 0 ]; then
      printf '[limits]\n'
      printf '%s\n' "$@"
    fi
  } >"$dir/reestr.toml"
  "$bin" --config "$dir/reestr.toml" init >/dev/null 2>"$dir/init.log" ||
    { cat "$dir/init.log" >&2; die "init"; }
  if [ -f "$work/invoices.csv" ]; then
    "$bin" --config "$dir/reestr.toml" invoices import "$work/invoices.csv" >/dev/null 2>"$dir/import.log" ||
      { cat "$dir/import.log" >&2; die "invoices import"; }
  fi
}

results=$work/results.tsv
printf 'case\tcommand\tinput\tanswer\twall\tpeak_rss_mib\tpeak_rss_kib\trss_profile_mib\tbounded\n' >"$results"
failed=0

# VmRSS of the child of PARENT every second, as "milliseconds kib" lines, until PARENT ends.
sample_rss() { # PARENT OUT
  local parent=$1 out=$2 child="" start
  start=$(date +%s%N)
  : >"$out"
  while kill -0 "$parent" 2>/dev/null; do
    [ -n "$child" ] || child=$(pgrep -P "$parent" | head -1 || true)
    if [ -n "$child" ]; then
      local kib
      kib=$(awk '/^VmRSS/ {print $2}' "/proc/$child/status" 2>/dev/null || true)
      [ -z "$kib" ] || printf '%s %s\n' "$((($(date +%s%N) - start) / 1000000))" "$kib" >>"$out"
    fi
    sleep 1
  done
}
# RSS in MiB at 10, 25, 50, 75 and 90 % of the run's samples.
profile() { # SAMPLES
  python3 - "$1" <<'EOF'
import sys
v = [int(l.split()[1]) for l in open(sys.argv[1]) if len(l.split()) == 2]
if len(v) < 5:
    print("-")
else:
    print("/".join(str((v[min(len(v) - 1, int(len(v) * p))] + 1023) // 1024) for p in (0.1, 0.25, 0.5, 0.75, 0.9)))
EOF
}

# measure CASE COMMAND INPUT HELD OUT -- ARGS...: runs ARGS under /usr/bin/time -v; `record`
# writes the row once the answer is checked.
measure() {
  m_case=$1 m_cmd=$2 m_input=$3 m_held=$4
  local out=$5 tv=$work/time.txt samples=$work/rss-$1-$2.txt status=0
  shift 6
  /usr/bin/time -v -o "$tv" "$@" >"$out" 2>"$out.err" &
  local pid=$!
  sample_rss "$pid" "$samples" &
  local sampler=$!
  wait "$pid" || status=$?
  wait "$sampler" || true
  [ "$status" -eq 0 ] || { cat "$out.err" "$tv" >&2; die "$m_cmd on $m_case exited $status"; }
  m_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
  m_wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tv")
  m_mib=$(((m_kib + 1023) / 1024))
  m_profile=$(profile "$samples")
  m_verdict=info
  if [ "$m_held" = yes ]; then
    if [ "$m_mib" -le "$bound_mib" ]; then m_verdict=yes; else m_verdict=NO; failed=1; fi
  fi
  say "$m_case / $m_cmd: peak RSS $m_mib MiB ($m_kib KiB), wall $m_wall, profile $m_profile MiB"
}
record() { # ANSWER
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m_case" "$m_cmd" "$m_input" "$1" "$m_wall" \
    "$m_mib" "$m_kib" "$m_profile" "$m_verdict" >>"$results"
}

# --- rows: each size of HOSTILE_ROWS_BYTES, check then run, in a fresh receiver ---------------
want rows || rows_sizes=""
for size in $rows_sizes; do
  name=rows-$size
  big=$work/archives/$name/MUNIS_SUDBILLING_PAY_20261121_001.zip
  say "generating $size bytes of rows"
  t0=$(date +%s)
  "$hostile" rows "$big" "$work/invoices.csv" "$size" >"$work/$name.json"
  say "generated in $(($(date +%s) - t0)) s: $(cat "$work/$name.json")"
  nrows=$(json "$work/$name.json" rows)
  input="$(json "$work/$name.json" registry_bytes) B registry, $nrows rows, $(stat -c %s "$big") B archive"
  rx=$work/rx-$name
  receiver "$rx"

  measure "$name" check "$input" yes "$work/check-$name.out" -- \
    "$bin" --config "$rx/reestr.toml" check "$big"
  head -1 "$work/check-$name.out" | grep -q "would answer ACK" ||
    die "check $name: $(head -2 "$work/check-$name.out")"
  grep -q "^accepted=$nrows\$" "$work/check-$name.out" || die "check $name: not every row accepted"
  printed=$(stat -c %s "$work/check-$name.out")
  head -c 4096 "$work/check-$name.out" >"$work/check-$name.head"
  rm -f "$work/check-$name.out"
  record "ACK, $nrows rows status 1 (prints $printed B)"

  cp "$big" "$rx/inbox/"
  measure "$name" run "$input" yes "$work/run-$name.json" -- \
    "$bin" --config "$rx/reestr.toml" run --json
  python3 - "$work/run-$name.json" "$nrows" <<'EOF' || die "run $name: $(head -c 2000 "$work/run-$name.json")"
import json, sys
h = json.load(open(sys.argv[1]))["handled"][0]
n = int(sys.argv[2])
assert h["result"] == "ACK", h
assert int(h["rows"]) == n, h
assert {str(k): v for k, v in h["statuses"].items()} == {"1": n}, h
EOF
  record "ACK, $nrows rows status 1"
  rm -rf "$rx" "$(dirname "$big")" # the store and kept copies take disk, not memory
done

# --- long-line and long-record: check then run ----------------------------------------------
rx=$work/rx-long
receiver "$rx"
long=$work/archives/MUNIS_SUDBILLING_PAY_20261121_002.zip
if want long-line || want info; then
  "$hostile" long-line "$long" "$line_bytes" >"$work/long-line.json"
  say "$(cat "$work/long-line.json")"
fi
if want long-line; then
  input="one line of $line_bytes B, $(stat -c %s "$long") B archive"
  measure long-line check "$input" yes "$work/check-long-line.out" -- \
    "$bin" --config "$rx/reestr.toml" check "$long"
  grep -q "would answer NAK B02" "$work/check-long-line.out" || die "check long-line: $(head -2 "$work/check-long-line.out")"
  grep -q "line 2 is longer than 65536 bytes" "$work/check-long-line.out" || die "check long-line: no line 2"
  record "NAK B02 line 2"
  cp "$long" "$rx/inbox/"
  measure long-line run "$input" yes "$work/run-long-line.json" -- \
    "$bin" --config "$rx/reestr.toml" run --json
  grep -q '"B02"' "$work/run-long-line.json" || die "run long-line: $(cat "$work/run-long-line.json")"
  record "NAK B02 line 2"
fi

# long_records CASE SEQ BYTES COUNT [id]: COUNT records of BYTES in 64 B lines in the purpose
# (each row 202 purpose) or, with "id", in the payment_id (202 payment_id, the id echoed whole).
long_records() {
  local case=$1 seq=$2 bytes=$3 count=$4 kind=${5:-purpose}
  local zip=$work/archives/MUNIS_SUDBILLING_PAY_20261121_$seq.zip mode=long-record
  local want="^$count;25786018516942;202;purpose;"
  if [ "$kind" = id ]; then
    mode=long-id want="^$count;\""
  fi
  "$hostile" "$mode" "$zip" "$bytes" "$count" >"$work/$case.json"
  say "$(cat "$work/$case.json")"
  local input="$count record(s) of $bytes B in 64 B lines ($kind), $(stat -c %s "$zip") B archive"
  measure "$case" check "$input" yes "$work/check-$case.out" -- \
    "$bin" --config "$rx/reestr.toml" check "$zip"
  grep -q "$want" "$work/check-$case.out" ||
    die "check $case: $(head -c 2000 "$work/check-$case.out")"
  record "ACK; $count row(s) 202 $kind"
  cp "$zip" "$rx/inbox/"
  measure "$case" run "$input" yes "$work/run-$case.json" -- \
    "$bin" --config "$rx/reestr.toml" run --json
  python3 - "$work/run-$case.json" "$count" <<'EOF' || die "run $case: $(head -c 2000 "$work/run-$case.json")"
import json, sys
h = json.load(open(sys.argv[1]))["handled"][0]
assert h["result"] == "ACK", h
assert {str(k): v for k, v in h["statuses"].items()} == {"202": int(sys.argv[2])}, h
EOF
  if [ "$kind" = id ]; then
    # The id is echoed whole: result.csv holds every byte of it.
    local ack=$rx/outbox/SUDBILLING_MUNIS_PAY_20261121_${seq}_ACK.zip
    local size
    size=$(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).getinfo("result.csv").file_size)' "$ack")
    [ "$size" -gt "$((bytes * count))" ] || die "run $case: result.csv of $size B does not hold the ids"
  fi
  record "ACK; $count row(s) 202 $kind"
}

if want long-record; then
  long_records long-record 003 "$line_bytes" 1
fi

if want long-records; then
  long_records long-records 005 $(((16 << 20) - (64 << 10))) 16
fi

if want long-id; then
  long_records long-id 006 "$line_bytes" 1 id
fi

# --- wide-rows: check then run -------------------------------------------------------------
if want wide-rows; then
  wide=$work/archives/MUNIS_SUDBILLING_PAY_20261121_004.zip
  "$hostile" wide-rows "$wide" "$wide_bytes" >"$work/wide-rows.json"
  say "$(cat "$work/wide-rows.json")"
  nwide=$(json "$work/wide-rows.json" rows)
  input="$wide_bytes B registry, $nwide rows of 65000-digit payment_id, $(stat -c %s "$wide") B archive"
  measure wide-rows check "$input" yes "$work/check-wide-rows.out" -- \
    "$bin" --config "$rx/reestr.toml" check "$wide"
  grep -q "^rows=$nwide\$" "$work/check-wide-rows.out" || die "check wide-rows: $(head -c 600 "$work/check-wide-rows.out")"
  printed=$(stat -c %s "$work/check-wide-rows.out")
  head -c 4096 "$work/check-wide-rows.out" >"$work/check-wide-rows.head"
  rm -f "$work/check-wide-rows.out"
  record "ACK, $nwide rows 202 payment_id (prints $printed B)"
  cp "$wide" "$rx/inbox/"
  measure wide-rows run "$input" yes "$work/run-wide-rows.json" -- \
    "$bin" --config "$rx/reestr.toml" run --json
  python3 - "$work/run-wide-rows.json" "$nwide" <<'EOF' || die "run wide-rows: $(head -c 2000 "$work/run-wide-rows.json")"
import json, sys
h = json.load(open(sys.argv[1]))["handled"][0]
n = int(sys.argv[2])
assert h["result"] == "ACK", h
assert {str(k): v for k, v in h["statuses"].items()} == {"202": n}, h
EOF
  record "ACK, $nwide rows 202 payment_id"
fi

# --- info: the long line with the line limit raised above it ---------------------------------
if want info; then
  raised=$((line_bytes * 2))
  rx2=$work/rx-raised
  receiver "$rx2" "max_line_bytes = $raised" "max_field_bytes = $raised"
  measure long-line-limit-raised check "one line of $line_bytes B; max_line_bytes = max_field_bytes = $raised" no \
    "$work/check-raised.out" -- "$bin" --config "$rx2/reestr.toml" check "$long"
  grep -q "^1;25786018516942;202;purpose;" "$work/check-raised.out" ||
    die "check long-line-limit-raised: $(head -c 2000 "$work/check-raised.out")"
  record "ACK; row 1 202 purpose"
fi

echo
echo "engine $engine; $(nproc) CPUs; peak RSS bound: $bound_mib MiB (profile: RSS at 10/25/50/75/90 % of the run, 1 s samples)"
column -t -s $'\t' "$results"
if [ "$failed" -ne 0 ]; then
  echo "memory: a peak RSS exceeded $bound_mib MiB (rows marked NO)" >&2
  exit 1
fi
