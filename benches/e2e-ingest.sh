#!/usr/bin/env bash
# End-to-end ingest figures, as quoted in the issue notes. Not a test: it prints numbers.
#
#   benches/e2e-ingest.sh [EVTX_DUMP]
#
# 1. The whole EVTX corpus (../shared/corpus/evtx, every .evtx file) ingested (`dump --summary`)
#    and dumped as JSONL to /dev/null with 1 and 2 threads, beside `evtx_dump -o jsonl` (from `cargo install evtx`)
#    on the same files in the same run, when EVTX_DUMP (or `evtx_dump` on PATH) is there.
# 2. A Procmon CSV of >= 1 GB built by repeating corpus rows, read with 1 thread: MB/s and
#    peak memory (max RSS), for `dump --summary` (parse only) and `dump` (parse + JSONL).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=target/release/rdtriage
corpus=../shared/corpus
evtx_dump=${1:-$(command -v evtx_dump || true)}

mapfile -d '' files < <(find "$corpus/evtx" -name '*.evtx' -print0 | sort -z)
bytes=$(cat "${files[@]}" | wc -c)
events=$("$bin" dump --summary --format json "${files[@]}" 2>/dev/null | python3 -c 'import json,sys; print(sum(a["events"] for a in json.load(sys.stdin)))' || true)
echo "EVTX corpus: ${#files[@]} files, $bytes bytes, $events records"

timed() { # label, command...: wall seconds and max RSS
  local label=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o /tmp/rdtriage-rss "$@" > /dev/null 2>/dev/null || true
  t1=$(date +%s.%N)
  python3 - "$label" "$t0" "$t1" "$bytes" "${events:-0}" "$(tail -1 /tmp/rdtriage-rss)" <<'PY'
import sys
label, t0, t1, size, events, rss = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
s = t1 - t0
print(f"  {label:42s} {s:7.2f} s  {size/s/1e6:7.1f} MB/s  {events/s:9.0f} events/s  max RSS {rss/1024:6.1f} MiB")
PY
}

for round in 1 2 3; do
  echo "round $round"
  timed "rdtriage --threads 1 dump --summary (ingest)" "$bin" --threads 1 dump --summary "${files[@]}"
  timed "rdtriage --threads 2 dump --summary (ingest)" "$bin" --threads 2 dump --summary "${files[@]}"
  timed "rdtriage --threads 1 dump (jsonl)" "$bin" --threads 1 dump "${files[@]}"
  timed "rdtriage --threads 2 dump (jsonl)" "$bin" --threads 2 dump "${files[@]}"
  if [ -n "$evtx_dump" ]; then
    timed "evtx_dump -t 1 -o jsonl (per file)" bash -c 'for f in "$@"; do "'"$evtx_dump"'" -t 1 -o jsonl "$f"; done' _ "${files[@]}"
    timed "evtx_dump -t 2 -o jsonl (per file)" bash -c 'for f in "$@"; do "'"$evtx_dump"'" -t 2 -o jsonl "$f"; done' _ "${files[@]}"
  fi
done

big=${TMPDIR:-/tmp}/rdtriage-1g.csv
src="$corpus/procmon/eric2969__semiar-slui-file-hijack/procmon.CSV"
if [ ! -s "$big" ]; then
  python3 - "$src" "$big" <<'PY'
import sys
src, dst = sys.argv[1], sys.argv[2]
data = open(src, 'rb').read()
header_end = data.index(b'\r\n') + 2
header, body = data[:header_end], data[header_end:]
with open(dst, 'wb') as out:
    out.write(header)
    written = len(header)
    while written < 1_000_000_000:
        out.write(body)
        written += len(body)
PY
fi
bytes=$(wc -c < "$big")
events=$("$bin" dump --summary --format json "$big" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["events"])')
echo "Procmon CSV: $bytes bytes, $events rows (corpus rows repeated)"
timed "rdtriage --threads 1 dump --summary" "$bin" --threads 1 dump --summary "$big"
timed "rdtriage --threads 1 dump (jsonl)" "$bin" --threads 1 dump "$big"
timed "rdtriage --threads 2 scan --format json" "$bin" --threads 2 scan --format json "$big"

# 3. Zip bombs with honest headers (lying ones stop at their declared size): a 2 GiB
#    zero-padded System.evtx in a 2 MB zip, and 1 GiB of Procmon rows that every one match a
#    rule (so --max-kept-events is what bounds memory) in a 4 MB zip.
bombs=${TMPDIR:-/tmp}/rdtriage-bombs
mkdir -p "$bombs"
if [ ! -s "$bombs/csv-bomb.zip" ]; then
  python3 - "$bombs" fixtures/evtx/rcm-1149-rdp-logins.evtx <<'PY'
import sys, zipfile
out, evtx = sys.argv[1], open(sys.argv[2], 'rb').read()
with zipfile.ZipFile(f'{out}/evtx-bomb.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    with z.open('System.evtx', 'w', force_zip64=True) as f:
        f.write(evtx)
        for _ in range(2048):
            f.write(bytes(1 << 20))
header = b'"Time of Day","Process Name","PID","Operation","Path","Result","Detail"\r\n'
row = (b'"9:14:06.1234567 AM","svchost.exe","1100","CreateFile","C:\\ProgramData\\Microsoft\\Crypto'
       b'\\RSA\\MachineKeys\\f686aace6942fb7f7ceb231212eef4a4","ACCESS DENIED","Desired Access: Generic Read"\r\n')
with zipfile.ZipFile(f'{out}/csv-bomb.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    with z.open('Logfile.CSV', 'w', force_zip64=True) as f:
        f.write(header)
        block = row * 8000
        for _ in range((1 << 30) // len(block)):
            f.write(block)
PY
fi
for b in evtx-bomb csv-bomb; do
  bytes=$(wc -c < "$bombs/$b.zip")
  events=0
  timed "rdtriage --threads 2 scan $b.zip" "$bin" --threads 2 scan --format json "$bombs/$b.zip"
done
