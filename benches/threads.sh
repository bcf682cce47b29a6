#!/usr/bin/env bash
# Issue 15's thread speed-up on one big EVTX file: `scan --format json` of the corpus's 16.8 MB
# DC System.evtx at 2 threads against 1 thread, wall time, runs alternating so that a busy
# machine slows both alike. Not a test: it prints numbers.
#
#   benches/threads.sh [PAIRS] [RDTRIAGE_BINARY...]
#
# With several binaries (a build before and after a change, say) their runs alternate too,
# and each gets its own line. Prints the load average before and after: on a machine whose
# two cores are shared, no thread count can be faster than the cores it is given.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
pairs=${1:-9}
shift || true
bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
  cargo build --release -q
  bins=("$CARGO_TARGET_DIR/release/rdtriage")
fi
big=../shared/corpus/evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/System.evtx
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
median() { sort -n "$1" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$pairs"); do
  for i in "${!bins[@]}"; do
    for t in 1 2; do
      /usr/bin/time -f '%e' -a -o "$out/$i.$t" "${bins[$i]}" --threads "$t" scan --format json "$big" > /dev/null
    done
  done
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo "medians of $pairs alternating runs, wall seconds: 1 thread, 2 threads, speed-up"
for i in "${!bins[@]}"; do
  one=$(median "$out/$i.1"); two=$(median "$out/$i.2")
  python3 -c "import sys; a, b = float(sys.argv[2]), float(sys.argv[3]); print(f'{sys.argv[1]}: {a:.3f} s, {b:.3f} s, {a / b:.2f}x')" "${bins[$i]}" "$one" "$two"
done
