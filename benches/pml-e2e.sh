#!/usr/bin/env bash
# End-to-end PML figures, as quoted in the issue notes. Not a test: it prints numbers.
#
#   benches/pml-e2e.sh [ROUNDS] [BIN]
#
# The corpus's 24 MB CompressedLogfileTests64bitUTC.PML (53,214 events) and its CSV export,
# read with `rdtriage --threads N dump --summary` (the whole reader, nothing written), in
# alternated rounds (PML 1 thread, PML 2 threads, two PML 1-thread reads at once, CSV 1
# thread, ...) so that a busy machine weighs on all of them alike. Prints the medians (wall
# and CPU seconds, max RSS) and the ratios the issue asks for, beside what two cores give
# this machine at that moment: two 1-thread reads started at once (2 x one read's time / their
# time together; a 2-thread read cannot beat it).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-7}
bin=${2:-target/release/rdtriage}
[ -x "$bin" ] || cargo build --release -q
base=../shared/corpus/procmon/eronnen__procmon-parser/CompressedLogfileTests64bitUTC
[ -f "$base.PML" ] || { echo "SKIPPED: the shared corpus is missing"; exit 0; }
. benches/timing.sh
for _ in $(seq "$rounds"); do
  run pml1 "$bin" --threads 1 dump --summary "$base.PML"
  run pml2 "$bin" --threads 2 dump --summary "$base.PML"
  run_two two1 "$bin" --threads 1 dump --summary "$base.PML"
  run csv1 "$bin" --threads 1 dump --summary "$base.csv"
done
events=53214
for k in pml1 pml2 csv1; do
  wall=$(median $k); cpu=$(median $k 3)
  python3 -c "import sys; k, w, c, r, n = sys.argv[1:]; print(f'{k}: median wall {float(w):.4f} s ({int(n) / float(w):,.0f} events/s), CPU {float(c):.4f} s, max RSS {int(r) / 1024:.1f} MiB')" \
    "$k" "$wall" "$cpu" "$(sort -n -k2 "$TIMES.$k" | tail -1 | cut -d' ' -f2)" "$events"
done
p1=$(median pml1); p2=$(median pml2); c1=$(median csv1)
echo "PML 1 thread vs CSV: $(ratio "$c1" "$p1") by wall, $(ratio "$(median csv1 3)" "$(median pml1 3)") by CPU"
echo "PML 2 threads vs 1: $(ratio "$p1" "$p2") by wall"
echo "  the machine's ceiling, two 1-thread reads at once vs one: $(ceiling pml1 two1)"
