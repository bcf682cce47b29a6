#!/usr/bin/env bash
# Byte-compare what two builds of rdtriage print, over the corpus and the ticket fixtures:
# stdout, stderr and exit code of `scan --format json` (big System.evtx, the EVTX corpus, the
# Procmon corpus) and `dump --format jsonl` (Procmon corpus) at 1 and 2 threads, and of
# `scan --format json` / `--format markdown` of every fixtures/tickets/* ticket. A speed change
# must leave all of them identical. Not a test: it prints DIFF lines, or ALL-IDENTICAL.
#
#   benches/compare-outputs.sh NEW_BINARY BASE_BINARY
set -uo pipefail
cd "$(dirname "$0")/.."
new=${1:?usage: compare-outputs.sh NEW_BINARY BASE_BINARY}
base=${2:?usage: compare-outputs.sh NEW_BINARY BASE_BINARY}
corpus=../shared/corpus
big=$corpus/evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/System.evtx
[ -d "$corpus" ] || echo "compare-outputs: no corpus at $corpus: only the fixtures are compared" >&2
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { # LABEL ARGS...: run both builds with ARGS, compare everything they print
  local label=$1; shift
  "$base" "$@" > "$tmp/a" 2> "$tmp/ae"; local ra=$?
  "$new" "$@" > "$tmp/b" 2> "$tmp/be"; local rb=$?
  if ! cmp -s "$tmp/a" "$tmp/b" || ! cmp -s "$tmp/ae" "$tmp/be" || [ "$ra" != "$rb" ]; then
    echo "DIFF: $label (exit $ra / $rb)"; fail=1
  fi
}
if [ -d "$corpus" ]; then
  for t in 1 2; do
    check "big System.evtx scan, $t threads" --threads "$t" scan --format json "$big"
    check "EVTX corpus scan, $t threads" --threads "$t" scan --format json "$corpus/evtx"
    check "Procmon corpus scan, $t threads" --threads "$t" scan --format json "$corpus/procmon"
    check "Procmon corpus dump, $t threads" --threads "$t" dump --format jsonl "$corpus/procmon"
  done
fi
for d in fixtures/tickets/*/; do
  check "ticket $d (json)" --threads 2 scan --format json "$d"
  check "ticket $d (markdown)" scan --format markdown "$d"
done
[ "$fail" = 0 ] && echo ALL-IDENTICAL
exit "$fail"
