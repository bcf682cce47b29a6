#!/usr/bin/env bash
# Measure `rdtriage batch` unsharded against N shards run one after another plus `merge`
# (what the merge costs), and the merge's peak memory, over tickets from make-batch.sh:
#
#   cargo build --release
#   benches/batch-shards.sh /tmp/tickets 1000 4
#
# Prints tickets/s for both, the merge's wall time and peak RSS (from /usr/bin/time -v), and
# checks that the merged JSONL is byte-identical to the unsharded one.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: batch-shards.sh DIR [TICKETS] [SHARDS]}
n=${2:-1000}
shards=${3:-4}
threads=${THREADS:-0}
bin=${RDTRIAGE:-target/release/rdtriage}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
benches/make-batch.sh "$dir" "$n" >/dev/null

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f tickets/s (%.2f s)", n / s, s }'; }

t0=$(now)
"$bin" --threads "$threads" batch --follow "$dir" --format jsonl > "$work/whole.jsonl" || true
t1=$(now)
whole=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

t0=$(now)
for k in $(seq 1 "$shards"); do
  "$bin" --threads "$threads" batch --follow "$dir" --format jsonl --shard "$k/$shards" > "$work/part-$k.jsonl" || true
done
t1=$(now)
/usr/bin/time -v "$bin" merge "$work"/part-*.jsonl > "$work/merged.jsonl" 2> "$work/merge.time" || true
t2=$(now)
sharded=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
merge=$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')
rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/merge.time")

echo "tickets: $n, threads: $threads, shards: $shards"
echo "unsharded:               $(rate "$n" "$whole")"
echo "$shards shards, in turn:      $(rate "$n" "$sharded")"
echo "$shards shards + merge:       $(rate "$n" "$(awk -v a="$sharded" -v b="$merge" 'BEGIN { print a + b }')")"
echo "merge alone:             ${merge} s, peak RSS ${rss} KB, $(wc -c < "$work/merged.jsonl") bytes of JSONL"
if cmp -s "$work/whole.jsonl" "$work/merged.jsonl"; then
  echo "merged JSONL is byte-identical to the unsharded run"
else
  echo "merged JSONL DIFFERS from the unsharded run" >&2
  exit 1
fi
