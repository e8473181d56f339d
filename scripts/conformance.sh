#!/usr/bin/env bash
# Runs the black-box conformance suites of conformance/ against a reestr binary.
#
#   scripts/conformance.sh [SUITE...]
#
# SUITE is responses, rows, records, batches, archive, oracle, mutants, exports, history,
# messages, interop, readme, schemas, certify, operations, environment or evidence (default: all seventeen, in that order; environment and evidence need root for FIFOs,
# devices, mounts and another user). The
# binary is $REESTR_BIN when set; otherwise the release binary is built (`cargo build --release
# --locked`, honouring CARGO_TARGET_DIR) and used. Each suite prints one line per case; at the
# end one line per suite says how many cases passed and how long it took. Exits 1 if any case of
# any suite differs from the agreement (or a suite could not run), 2 on a usage error.
#
# Needs python3 (standard library only). Scratch receivers are made in a fresh folder under
# $CONFORMANCE_DIR (default: the system's temporary folder), removed at the end unless a case
# failed or KEEP=1. CONFORMANCE_JOBS cases run at a time (default: the number of cores; the
# operations, environment and evidence suites always run one at a time). Approximate times with a release binary on 2
# cores: responses 1 min, rows 3 s, records 4 s, batches 15 s, archive 3 s, oracle 25 s,
# mutants 5 s, exports 7 s, history 45 s, messages 20 s, interop 3 s, readme 8 s, schemas 8 s, certify 10 s, operations 3 min, environment 45 s, evidence 1 min.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

all_suites=(responses rows records batches archive oracle mutants exports history messages interop readme schemas certify operations environment evidence)
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=("${all_suites[@]}")
for s in "${suites[@]}"; do
  if [ ! -f "conformance/$s.py" ] || [ "$s" = lib ] || [ "$s" = zipraw ]; then
    echo "unknown suite: $s (suites: ${all_suites[*]})" >&2
    exit 2
  fi
done

command -v python3 >/dev/null || { echo "python3 is needed to run the conformance suites" >&2; exit 1; }

if [ -z "${REESTR_BIN:-}" ]; then
  target=${CARGO_TARGET_DIR:-target}
  case $target in /*) ;; *) target=$repo/$target ;; esac
  cargo build --release --locked
  REESTR_BIN=$target/release/reestr
fi
case $REESTR_BIN in */*) REESTR_BIN=$(cd "$(dirname "$REESTR_BIN")" && pwd)/$(basename "$REESTR_BIN") ;; esac
export REESTR_BIN
echo "== conformance suites against $REESTR_BIN: ${suites[*]}"

summary=()
failed=0
for s in "${suites[@]}"; do
  echo "== $s"
  start=$(date +%s)
  log=$(mktemp)
  rc=0
  # Cases run two (or as many as there are cores) at a time, each with its own receiver; the
  # operations, environment and evidence suites time kills, growing files and mounts, or
  # share one history, so their cases run one at a time.
  jobs=${CONFORMANCE_JOBS:-$(nproc 2>/dev/null || echo 1)}
  case $s in operations | environment | evidence) jobs=1 ;; esac
  CONFORMANCE_JOBS=$jobs python3 "conformance/$s.py" 2>&1 | tee "$log" || rc=$?
  secs=$(( $(date +%s) - start ))
  last=$(grep -E '^== [a-z]+: [0-9]+/[0-9]+ cases OK' "$log" | tail -n 1 || true)
  rm -f "$log"
  last=${last% (*}
  if [ "$rc" -eq 0 ] && [ -n "$last" ]; then
    summary+=("PASS  $s: ${last#== $s: } (${secs} s)")
  else
    failed=1
    summary+=("FAIL  $s: ${last:+${last#== $s: }, }exit code $rc (${secs} s)")
  fi
done

echo
echo "== conformance summary"
printf '%s\n' "${summary[@]}"
exit $failed
