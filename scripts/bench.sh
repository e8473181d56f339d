#!/usr/bin/env bash
# The benchmark of issue 5: scripts/bench.sh [ROWS] [RUNS]   (defaults 1000000 and 3)
#
# In one run, on the same data:
#  - builds the release binary and the examples (honours CARGO_TARGET_DIR);
#  - generates the data set once with the project's own generator (examples/gen_bench.rs,
#    src/bench_data.rs) into $BENCH_DIR/data-ROWS (default target/bench/), reused when present;
#  - times, as whole processes, RUNS times each: `reestr invoices import` of ROWS invoices into a
#    fresh store; `reestr run` of the ROWS-row PAY archive into a copy of the store made after
#    the import (durable, as the engine is); `reestr check` (evaluation alone, rolled back);
#    `reestr run` on an empty inbox (start-up);
#  - for more than 1M rows, also times `reestr run` of the 1M data set just before and just after
#    each `run` (stage run-1m), for the ratio to 1M measured side by side;
#  - times the baselines: the floor (`unzip -p | sha256sum`, and the engine's own reader alone:
#    examples/floor.rs) and DuckDB (bench/duckdb_baseline.py on the registry in UTF-8);
#  - cross-checks the engine's answer against the generator's expected statuses and DuckDB's
#    per-row result;
#  - prints the table and appends a dated section to bench/RESULTS.md (bench/report.py).
#
# Peak memory comes from /usr/bin/time -v. Caches are warm (every input is read once before).
# Environment: CARGO_TARGET_DIR, BENCH_DIR (default $CARGO_TARGET_DIR/bench or target/bench),
# BENCH_WAIT_IDLE (seconds to wait for a load average below 1 before measuring), BENCH_RESULTS
# (the results file, default bench/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
ROWS=${1:-1000000}
RUNS=${2:-3}
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$repo/$target ;; esac
bench=${BENCH_DIR:-$target/bench}
data=$bench/data-$ROWS
work=$bench/work
archive=$data/inbox/MUNIS_SUDBILLING_PAY_20261121_001.zip
ack=SUDBILLING_MUNIS_PAY_20261121_001_ACK.zip

say() { printf '== %s\n' "$*" >&2; }

# --- tools -----------------------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
  say "installing GNU time (Debian package time)"
  apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi
for t in unzip sha256sum python3; do
  command -v "$t" >/dev/null || { echo "bench: $t is needed" >&2; exit 3; }
done
if ! python3 -c 'import duckdb' 2>/dev/null; then
  say "installing duckdb (pip)"
  python3 -m pip install --quiet duckdb
fi

# --- build -----------------------------------------------------------------------------------
say "building (release)"
cargo build --release --quiet --bins --examples
bin=$target/release/reestr
gen=$target/release/examples/gen_bench
floor=$target/release/examples/floor

# --- data ------------------------------------------------------------------------------------
# ensure_data ROWS DIR: the generator's data set of ROWS rows in DIR, made once and reused.
ensure_data() {
  if [ -f "$2/bench-data.json" ] && [ -f "$2/inbox/MUNIS_SUDBILLING_PAY_20261121_001.zip" ] &&
    python3 -c "import json,sys; sys.exit(0 if json.load(open('$2/bench-data.json'))['spec']['rows']==$1 else 1)"; then
    say "reusing the data in $2"
  else
    say "generating $1 rows into $2"
    rm -rf "$2"
    mkdir -p "$2"
    "$gen" --rows "$1" --out "$2" >/dev/null
  fi
}
ensure_data "$ROWS" "$data"
ls -l "$archive" "$data/invoices.csv" "$data/registry-utf8.csv" >&2
# A run of more than 1M rows also times the 1M archive, just before and just after each of its
# own `run`s (stage run-1m), so that its ratio to 1M is measured side by side, in the same
# rounds and on the same machine state.
ref_data=""
if [ "$ROWS" -gt 1000000 ]; then
  ref_data=$bench/data-1000000
  ensure_data 1000000 "$ref_data"
fi

# --- helpers ---------------------------------------------------------------------------------
rm -rf "$work"
mkdir -p "$work"
measures=$work/measures.tsv
: >"$measures"

# A receiver in folder $1 (config, key, empty inbox and outbox); its store is made by init. The
# key is the one of data set $2 (default: this run's).
receiver() {
  mkdir -p "$1/keys"
  install -m 600 "${2:-$data}/MUNIS.key" "$1/keys/MUNIS.key"
  cat >"$1/reestr.toml" <<'TOML'
receiver = "SUDBILLING"
settle_seconds = 0
unreadable_grace_seconds = 0
[partners.MUNIS]
key_file = "keys/MUNIS.key"
TOML
}

# measure STAGE RUN -- COMMAND...: one whole process, wall time and /usr/bin/time -v figures.
measure() {
  local stage=$1 run=$2
  shift 3
  sync
  local t0 t1
  t0=$(date +%s%N)
  if ! /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/$stage.out" 2>"$work/$stage.err"; then
    echo "bench: $stage failed:" >&2
    tail -20 "$work/$stage.err" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  awk -v stage="$stage" -v run="$run" -v ns=$((t1 - t0)) -F': ' '
    /Maximum resident set size/ {rss=$2} /User time/ {u=$2} /System time/ {s=$2}
    END {printf "%s\t%s\t%.3f\t%s\t%s\t%s\n", stage, run, ns/1e9, rss, u, s}' \
    "$work/time.txt" | tee -a "$measures" >&2
}

# BENCH_WAIT_IDLE=SECONDS: wait, at most that long, for the machine to be idle (1-minute load
# average below 1) before measuring; the load is written into the results either way.
if [ "${BENCH_WAIT_IDLE:-0}" -gt 0 ]; then
  deadline=$(($(date +%s) + BENCH_WAIT_IDLE))
  while awk '{exit !($1 >= 1)}' /proc/loadavg && [ "$(date +%s)" -lt "$deadline" ]; do
    say "waiting for an idle machine (load $(cut -d' ' -f1-3 /proc/loadavg))"
    sleep 30
  done
fi

# Warm the page cache: every input read once.
cat "$archive" "$data/invoices.csv" "$data/registry-utf8.csv" >/dev/null

# A copy of the imported receiver in $1, with the archive in its inbox when $2 is "archive";
# $3 and $4: another imported receiver and its data set (default: this run's). The archive goes
# in first, and the copy waits until it has sat in the inbox for over 2 s, as a settled archive
# has (`settle_seconds` is 0 here): an archive changed less than 2 s before it was claimed is
# read a second time before it is removed (`fsutil::Stamp`), which a nightly run never needs.
copy_receiver() {
  local from=${3:-$base} set=${4:-$data}
  rm -rf "$1"
  receiver "$1" "$set"
  mkdir -p "$1/inbox" "$1/outbox"
  if [ "${2:-}" = archive ]; then cp "$set/inbox/MUNIS_SUDBILLING_PAY_20261121_001.zip" "$1/inbox/"; fi
  local copied=$SECONDS
  cp -a "$from/var" "$1/var"
  if [ "${2:-}" = archive ] && [ $((SECONDS - copied)) -lt 3 ]; then sleep $((3 - (SECONDS - copied))); fi
}

# The 1M receiver, its invoices imported once (not timed), for stage run-1m.
ref=""
if [ -n "$ref_data" ]; then
  ref=$work/ref-import
  receiver "$ref" "$ref_data"
  "$bin" --config "$ref/reestr.toml" init >/dev/null 2>&1
  "$bin" --config "$ref/reestr.toml" invoices import "$ref_data/invoices.csv" >/dev/null 2>&1
  cat "$ref_data/inbox/MUNIS_SUDBILLING_PAY_20261121_001.zip" >/dev/null
fi

# measure_ref RUN: one `run` of the 1M archive into a copy of the 1M receiver (stage run-1m).
measure_ref() {
  [ -n "$ref" ] || return 0
  copy_receiver "$work/run-1m" archive "$ref" "$ref_data"
  measure run-1m "$1" -- "$bin" --config "$work/run-1m/reestr.toml" run
  [ -f "$work/run-1m/outbox/$ack" ] || { echo "bench: the 1M run did not answer ACK" >&2; exit 1; }
  rm -rf "$work/run-1m"
}

# One round of every stage. Rounds, not stage after stage, so that a disturbance of the machine
# (another build, say) spreads over all the stages and their ratios stay comparable.
cat /proc/loadavg >"$work/load-start.txt"
base=$work/import-1 # its store holds the invoices; copied for every run of `run` and `check`
for k in $(seq 1 "$RUNS"); do
  say "round $k of $RUNS"
  # 1. invoices import into a fresh store
  rx=$work/import-$k
  receiver "$rx"
  "$bin" --config "$rx/reestr.toml" init >/dev/null 2>&1
  measure import "$k" -- "$bin" --config "$rx/reestr.toml" invoices import "$data/invoices.csv"
  if [ "$k" -gt 1 ]; then rm -rf "$rx"; fi

  # 2. run on the archive, into a copy of the store holding the invoices
  rx=$work/run-$k
  copy_receiver "$rx" archive
  measure_ref "$k"
  measure run "$k" -- "$bin" --config "$rx/reestr.toml" run
  measure_ref "$k"
  [ -f "$rx/outbox/$ack" ] || { echo "bench: run $k did not answer ACK" >&2; ls "$rx/outbox" >&2; exit 1; }
  if [ "$k" -eq 1 ]; then
    unzip -p "$rx/outbox/$ack" control.txt >"$work/engine-control.txt"
    unzip -p "$rx/outbox/$ack" result.csv | tr -d '\r' | cut -d';' -f1-4 >"$work/engine-result.txt"
  fi
  grown=$(($(stat -c %s "$rx/var/reestr.db") - $(stat -c %s "$base/var/reestr.db")))
  rm -rf "$rx"

  # 2b. the write floor: as many bytes as `run` added to the store, written by dd and synced
  # (what this machine charges for writing them, whatever writes them)
  measure write-floor "$k" -- dd if=/dev/zero of="$work/write-floor.bin" bs=16k count=$((grown / 16384)) conv=fsync status=none
  rm -f "$work/write-floor.bin"

  # 3. stages: start-up (empty inbox) and the evaluation alone (check: rolled back)
  rx=$work/empty
  copy_receiver "$rx"
  measure startup "$k" -- "$bin" --config "$rx/reestr.toml" run
  measure check "$k" -- "$bin" --config "$rx/reestr.toml" check "$archive"
  rm -rf "$rx"

  # 4. the floor
  measure floor-unzip "$k" -- bash -c "unzip -p '$archive' registry.csv | sha256sum"
  measure floor-reader "$k" -- "$floor" "$archive"

  # 5. DuckDB
  measure duckdb "$k" -- python3 bench/duckdb_baseline.py "$data/registry-utf8.csv" "$data/invoices.csv" "$work/duckdb-result.csv"
done
cat /proc/loadavg >"$work/load-end.txt"
cp "$work/duckdb.out" "$work/duckdb-summary.json"

# --- 6. cross-checks and report --------------------------------------------------------------
if cmp -s "$work/engine-result.txt" "$work/duckdb-result.csv"; then
  echo "same" >"$work/agreement.txt"
else
  diff "$work/engine-result.txt" "$work/duckdb-result.csv" | head -20 >"$work/agreement.txt" || true
fi
cp "$measures" "$bench/measures-$ROWS.tsv"
python3 bench/report.py \
  --reference "$bench/measures-1000000.tsv" \
  --measures "$measures" \
  --data "$data/bench-data.json" \
  --engine-control "$work/engine-control.txt" \
  --duckdb "$work/duckdb-summary.json" \
  --agreement "$work/agreement.txt" \
  --archive "$archive" \
  --load "$work/load-start.txt" "$work/load-end.txt" \
  --command "scripts/bench.sh $ROWS $RUNS" \
  --results "${BENCH_RESULTS:-bench/RESULTS.md}"
