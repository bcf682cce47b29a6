#!/usr/bin/env bash
# End-to-end PML figures, as quoted in the issue notes. Not a test: it prints numbers.
#
#   benches/pml-e2e.sh [ROUNDS] [BIN]
#
# The corpus's 24 MB CompressedLogfileTests64bitUTC.PML (53,214 events) and its CSV export,
# read with `rdtriage --threads N dump --summary` (the whole reader, nothing written), in
# alternated rounds (PML 1 thread, PML 2 threads, CSV 1 thread, ...) so that a busy machine
# weighs on all three alike. Prints per run wall seconds, CPU seconds (user + sys) and max RSS,
# then the medians and the ratios the issue asks for.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-7}
bin=${2:-target/release/rdtriage}
[ -x "$bin" ] || cargo build --release -q
base=../shared/corpus/procmon/eronnen__procmon-parser/CompressedLogfileTests64bitUTC
[ -f "$base.PML" ] || { echo "SKIPPED: the shared corpus is missing"; exit 0; }
out=$(mktemp)
for round in $(seq "$rounds"); do
  for run in "pml 1 $base.PML" "pml 2 $base.PML" "csv 1 $base.csv"; do
    set -- $run
    /usr/bin/time -f "$1 $2 %e %U %S %M" -a -o "$out" "$bin" --threads "$2" dump --summary "$3" > /dev/null
  done
done
python3 - "$out" <<'PY'
import sys, statistics as st
runs = {}
for line in open(sys.argv[1]):
    kind, threads, wall, user, sys_, rss = line.split()
    runs.setdefault(f"{kind} {threads}", []).append((float(wall), float(user) + float(sys_), int(rss)))
EVENTS = 53214
med = {}
for k, v in runs.items():
    wall = st.median(r[0] for r in v); cpu = st.median(r[1] for r in v); rss = max(r[2] for r in v)
    med[k] = (wall, cpu)
    print(f"{k}-thread: {len(v)} runs, median wall {wall:.3f} s ({EVENTS/wall:,.0f} events/s), "
          f"median CPU {cpu:.3f} s ({EVENTS/cpu:,.0f} events/CPU-s), max RSS {rss/1024:.1f} MiB")
print(f"PML 1 thread vs CSV: {med['csv 1'][0]/med['pml 1'][0]:.2f}x by wall, {med['csv 1'][1]/med['pml 1'][1]:.2f}x by CPU")
print(f"PML 2 threads vs 1: {med['pml 1'][0]/med['pml 2'][0]:.2f}x by wall")
PY
rm -f "$out"
