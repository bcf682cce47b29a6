#!/usr/bin/env bash
# Issue 15's ratios side by side, in one run. Not a test: it prints numbers.
#
#   benches/e2e-big.sh PATH/TO/evtx_dump [PAIRS] [BATCH_TICKETS]
#
# evtx_dump is the anchor (`cargo install evtx --version 0.15.1`). Each figure is the median
# of PAIRS (default 7) runs, rdtriage and its anchor alternating so that a busy machine slows
# both alike; ratio = anchor time / rdtriage time (higher is better for rdtriage). Every line
# gives wall time and, after it, CPU time (user + system): on a shared machine the CPU time is
# the steadier figure for one thread, the wall time the only one for a thread speed-up.
#
# 1. The corpus's 16.8 MB DC System.evtx (60,189 records): `scan --format json` and
#    `dump --summary` on 1 thread vs `evtx_dump -t 1 -o jsonl`; scan on 2 threads vs 1, beside
#    what two cores give this machine at that moment: two 1-thread scans started at once
#    (2 x one scan's time / their time together; a 2-thread scan cannot beat it).
# 2. The corpus's 28 MB Procmon CSV (53,214 rows): `scan` on 1 thread vs the csv crate's bare
#    ByteRecord loop, from `cargo bench --bench big -- procmon_big` (criterion medians).
# 3. `batch` of BATCH_TICKETS (default 1000) tickets from benches/make-batch.sh: 1 vs 2
#    threads, with peak RSS.
# 4. The whole EVTX corpus: `scan --format json` on 2 threads, wall time and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
evtx_dump=${1:?usage: e2e-big.sh PATH/TO/evtx_dump [PAIRS] [BATCH_TICKETS]}
pairs=${2:-7}
tickets=${3:-1000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q
bin=$CARGO_TARGET_DIR/release/rdtriage
corpus=../shared/corpus
big_evtx=$corpus/evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/System.evtx
big_csv=$corpus/procmon/eronnen__procmon-parser/CompressedLogfileTests64bitUTC.csv

. benches/timing.sh

for _ in $(seq "$pairs"); do
  run scan1 "$bin" --threads 1 scan --format json "$big_evtx"
  run anchor "$evtx_dump" -t 1 -o jsonl "$big_evtx"
  run ingest1 "$bin" --threads 1 dump --summary "$big_evtx"
  run scan2 "$bin" --threads 2 scan --format json "$big_evtx"
  run_two two1 "$bin" --threads 1 scan --format json "$big_evtx"
  run csvscan1 "$bin" --threads 1 scan --format json "$big_csv"
done
s1=$(median scan1); a=$(median anchor); i1=$(median ingest1); s2=$(median scan2)
two1=$(median two1)
s1c=$(median scan1 3); ac=$(median anchor 3); i1c=$(median ingest1 3)
echo "medians of $pairs alternating runs (wall; CPU = user + system)"
printf '%-62s %8s %10s %8s\n' "work" "rdtriage" "anchor" "ratio"
printf '%-62s %7.3fs %9.3fs %8s\n' "System.evtx 16.8 MB: scan --format json, 1 thread vs evtx_dump -t 1" "$s1" "$a" "$(ratio "$a" "$s1")"
printf '%-62s %7.3fs %9.3fs %8s\n' "  the same, CPU time" "$s1c" "$ac" "$(ratio "$ac" "$s1c")"
printf '%-62s %7.3fs %9.3fs %8s\n' "System.evtx: dump --summary (ingest only), 1 thread" "$i1" "$a" "$(ratio "$a" "$i1")"
printf '%-62s %7.3fs %9.3fs %8s\n' "  the same, CPU time" "$i1c" "$ac" "$(ratio "$ac" "$i1c")"
printf '%-62s %7.3fs %9.3fs %8s\n' "System.evtx: scan, 2 threads vs its own 1 thread (wall)" "$s2" "$s1" "$(ratio "$s1" "$s2")"
printf '%-62s %7.3fs %9.3fs %8s\n' "  the machine's ceiling: two 1-thread scans at once vs one" "$two1" "$s1" "$(ceiling scan1 two1)"
printf '%-62s %7.3fs %9s %8s\n' "Procmon CSV 28 MB: scan --format json, 1 thread, CPU time" "$(median csvscan1 3)" "-" "-"

# The csv crate's loop is a library call: criterion measures it beside scan, same process.
cargo bench -q --bench big -- procmon_big > "$TIMES.criterion" 2>&1 || true
est() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['median']['point_estimate'] / 1e9)" "$CARGO_TARGET_DIR/criterion/procmon_big/$1/new/estimates.json" 2>/dev/null || echo 0; }
cs=$(est scan-1-thread); ca=$(est anchor-csv-byte-records)
printf '%-62s %7.3fs %9.3fs %8s\n' "Procmon CSV: scan (library) vs csv ByteRecord loop (criterion)" "$cs" "$ca" "$(ratio "$ca" "$cs")"

batch=${TMPDIR:-/tmp}/rdtriage-e2e-batch
benches/make-batch.sh "$batch" "$tickets" > /dev/null
for _ in $(seq 3); do
  run batch1 "$bin" --threads 1 batch --follow "$batch" --format jsonl
  run batch2 "$bin" --threads 2 batch --follow "$batch" --format jsonl
done
b1=$(median batch1); b2=$(median batch2)
printf '%-62s %7.3fs %9.3fs %8s\n' "batch of $tickets tickets: 2 threads vs 1 (medians of 3)" "$b2" "$b1" "$(ratio "$b1" "$b2")"
printf '%-62s %6sK %8sK\n' "batch peak RSS, 2 threads vs 1" "$(median batch2 2)" "$(median batch1 2)"

mapfile -d '' files < <(find "$corpus/evtx" -name '*.evtx' -print0 | sort -z)
for _ in $(seq 3); do
  run corpus2 "$bin" --threads 2 scan --format json "${files[@]}"
done
printf '%-62s %7.3fs  peak RSS %sK\n' "whole EVTX corpus (${#files[@]} files): scan, 2 threads (median of 3)" "$(median corpus2)" "$(median corpus2 2)"
