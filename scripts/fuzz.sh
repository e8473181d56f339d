#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for a set time, one after another, one process at a time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 60; TARGET defaults to all of them. Before running, the seed
# corpus is (re)built into fuzz/corpus/<target>/ from samples/inbox/*.zip, tests/reference/*.zip
# and the control files, manifests and registries inside them (the fuzzers' own finds stay in the
# same folders and are kept between runs). Logs go to fuzz/artifacts/<target>/run.log, crashes to
# fuzz/artifacts/<target>/. Exits non-zero if any target finds a crash, a timeout or an
# out-of-memory input (1), or if the targets do not build (2); prints a table of target, seconds,
# executions and findings.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and unzip. The machine's stable toolchain is
# enough: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the nightly-only sanitizer flags.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-60}
shift || true
all_targets=(archive control manifest registry pipeline batch export)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

export RUSTC_BOOTSTRAP=1
# cargo-fuzz flags: release build with debug assertions (and so overflow checks) on.
build_flags=(-O -a)

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 2; }
command -v unzip >/dev/null || { echo "unzip missing" >&2; exit 2; }

# ---------------------------------------------------------------- seed corpus
corpus=$root/fuzz/corpus
mkdir -p "$corpus"/{archive,control,manifest,registry,pipeline,batch,export}

names=(MUNIS_SUDBILLING_PAY_20261121_001 MUNIS_SUDBILLING_PAY_20261121_002
  MUNIS_SUDBILLING_PAY_20261121_003 MUNIS_SUDBILLING_PAY_20261121_004
  MUNIS_SUDBILLING_PAY_20261121_005 MUNIS_SUDBILLING_PAY_20261121_006
  MUNIS_SUDBILLING_REV_20261121_001 MUNIS_SUDBILLING_REC_20261121_001)

byte() { printf "\\x$(printf %02x "$1")"; }

seed_from_zip() { # zip, key bit for the pipeline target (8: reference key, 16: sample key)
  local z=$1 keybit=$2 base tag
  base=$(basename "$z" .zip)
  tag=$(basename "$(dirname "$z")")-$base
  cp "$z" "$corpus/archive/seed-$tag.zip"
  for i in "${!names[@]}"; do
    if [ "${names[$i]}" = "$base" ]; then
      { byte $((i | keybit)); cat "$z"; } >"$corpus/pipeline/seed-$tag"
      { byte "$i"; cat "$z"; } >"$corpus/pipeline/seed-$tag-nokey"
    fi
  done
  unzip -p "$z" control.txt >"$corpus/control/seed-$tag" 2>/dev/null || true
  unzip -p "$z" manifest.sha256 >"$corpus/manifest/seed-$tag" 2>/dev/null || true
  if unzip -p "$z" registry.csv >"$corpus/registry/seed-$tag" 2>/dev/null; then
    local ctl type enc sel=0
    ctl=$(unzip -p "$z" control.txt 2>/dev/null || true)
    type=$(sed -n 's/^type=\([A-Z]*\).*/\1/p' <<<"$ctl")
    enc=$(sed -n 's/^encoding=\([a-z0-9-]*\).*/\1/p' <<<"$ctl")
    case $type in REV) sel=1 ;; REC) sel=2 ;; esac
    case $enc in windows-1251) sel=$((sel | 4)) ;; cp866) sel=$((sel | 8)) ;; esac
    { byte "$sel"; cat "$corpus/registry/seed-$tag"; } >"$corpus/batch/seed-$tag"
  fi
}

for z in "$root"/tests/reference/*.zip; do seed_from_zip "$z" 8; done
for z in "$root"/samples/inbox/*.zip; do seed_from_zip "$z" 16; done
cp "$root/tests/reference/invoices.csv" "$corpus/registry/seed-reference-invoices.csv"
cp "$root/tests/reference/invoices.csv" "$corpus/export/seed-reference-invoices.csv"
cp "$root/samples/invoices.csv" "$corpus/export/seed-sample-invoices.csv"
# The manifest target's archive holds control.txt = "control" and registry.csv = "registry".
{
  printf '%s  control.txt\n' "$(printf control | sha256sum | cut -d' ' -f1)"
  printf '%s  registry.csv\n' "$(printf registry | sha256sum | cut -d' ' -f1)"
} >"$corpus/manifest/seed-good"

# ---------------------------------------------------------------- build and run
# Build every target once, then run the built binaries: all targets fuzz the same snapshot of
# the code, and nothing is rebuilt between runs.
if ! (cd fuzz && cargo fuzz build "${build_flags[@]}"); then
  echo "fuzz build failed (the crate does not compile?)" >&2
  exit 2
fi
bindir=$root/fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}

status=0
summary=()
for t in "${targets[@]}"; do
  art=$root/fuzz/artifacts/$t
  mkdir -p "$art"
  log=$art/run.log
  case $t in archive | pipeline) maxlen=16384 ;; *) maxlen=8192 ;; esac
  before=$(find "$art" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  echo "== $t: ${secs}s (log: $log)"
  rc=0
  start=$SECONDS
  # One process (no -jobs/-workers): one fuzzer at a time on a shared machine.
  "$bindir/$t" -max_total_time="$secs" -max_len="$maxlen" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" "$corpus/$t" >"$log" 2>&1 || rc=$?
  after=$(find "$art" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  ran=$((SECONDS - start))
  found=$((after - before))
  if [ "$rc" -ne 0 ] && [ "$found" -eq 0 ]; then found=1; fi
  [ "$found" -ne 0 ] && status=1
  summary+=("$(printf '%-9s %8s %12s %8s' "$t" "$ran" "${execs:-?}" "$found")")
  if [ "$found" -ne 0 ]; then
    echo "   FINDING in $t: see $log and $art/" >&2
    grep -m5 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" >&2 || true
  fi
done

echo
printf '%-9s %8s %12s %8s\n' target seconds executions findings
printf '%s\n' "${summary[@]}"
exit "$status"
