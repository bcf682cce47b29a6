#!/usr/bin/env bash
# Instructions of one `scan` of the big Procmon CSV beside the csv crate's bare `ByteRecord` loop
# over the same file (issue 15's CSV goal, `procmon_big` in benches/big.rs), counted by
# callgrind: figures that do not depend on how busy the machine is. Not a test: it prints
# numbers.
#
#   benches/csv-instructions.sh [RDTRIAGE_BINARY]
#
# Prints the binary's `--threads 1 scan --format json` of the file, then the bench binary's
# library scan and anchor loop, each run once (`RDTRIAGE_BIG_ONCE`), and the ratio anchor ÷
# scan. Needs valgrind and the corpus beside this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release -q
  bin=$CARGO_TARGET_DIR/release/rdtriage
fi
csv=../shared/corpus/procmon/eronnen__procmon-parser/CompressedLogfileTests64bitUTC.csv
if [ ! -f "$csv" ]; then
  echo "the corpus file $csv is missing" >&2
  exit 2
fi
# The bench's own executable (cargo also lists the rdtriage binary the bench target builds).
bench=$(cargo bench --bench big --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*/deps/big-[^"]*"' | tail -n 1 | cut -d'"' -f4)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() { # name, command...
  local name=$1
  shift
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$name" "$@" > /dev/null 2> "$out/log"
  grep -h '^summary:' "$out/cg.$name" | awk '{print $2}'
}
cli=$(count cli "$bin" --threads 1 scan --format json "$csv")
scan=$(RDTRIAGE_BIG_ONCE=scan-1-thread count scan "$bench")
anchor=$(RDTRIAGE_BIG_ONCE=anchor-csv-byte-records count anchor "$bench")
echo "rdtriage --threads 1 scan --format json $(basename "$csv"): $cli instructions"
echo "bench scan-1-thread (library scan, once): $scan instructions"
echo "bench anchor-csv-byte-records (once): $anchor instructions"
awk -v a="$anchor" -v c="$cli" -v s="$scan" \
  'BEGIN {printf "anchor / scan: %.2fx (binary), %.2fx (bench)\n", a / c, a / s}'
