#!/usr/bin/env bash
# Instructions executed by one `scan` of the big EVTX file, counted by callgrind: a figure that
# does not depend on how busy the machine is (wall and CPU times on a shared machine do).
# Not a test: it prints numbers.
#
#   benches/instructions.sh [RDTRIAGE_BINARY] [THREADS]
#
# Prints the total, then with THREADS > 1 the instructions per thread (pool workers, the main
# thread that collects and analyses, the file reader): how much of the work can run in parallel.
# Needs valgrind. Each run takes about 50 times as long as the scan itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
bin=${1:-}
threads=${2:-1}
if [ -z "$bin" ]; then
  cargo build --release -q
  bin=$CARGO_TARGET_DIR/release/rdtriage
fi
big=../shared/corpus/evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/System.evtx
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg" \
  "$bin" --threads "$threads" scan --format json "$big" > /dev/null 2> "$out/log"
total=$(grep -h '^summary:' "$out"/cg* | awk '{s += $2} END {print s}')
echo "rdtriage --threads $threads scan --format json System.evtx: $total instructions"
if [ "$threads" -gt 1 ]; then
  for f in "$out"/cg-*; do
    printf '  thread %s: %s\n' "${f##*-}" "$(grep -h '^summary:' "$f" | awk '{print $2}')"
  done
fi
