#!/usr/bin/env bash
# The many-entries case of issue 18: ZIPS zips of ENTRIES deflated tiny entries each (a
# Procmon CSV header and one row, ~200 bytes), and the time and peak RSS of reading them all:
#
#   cargo build --release
#   benches/many-zip-entries.sh /tmp/many 10 9999
#
# Prints `SECONDS s PEAK KiB` from /usr/bin/time for
# `rdtriage dump --summary --format json --max-zip-entries 100000 DIR`, and checks every entry
# was read (one event each). RDTRIAGE=path picks another binary (a build to compare against).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: many-zip-entries.sh DIR [ZIPS] [ENTRIES]}
zips=${2:-10}
entries=${3:-9999}
threads=${THREADS:-0}
bin=${RDTRIAGE:-target/release/rdtriage}
mkdir -p "$dir"
python3 - "$dir" "$zips" "$entries" <<'EOF'
import sys, zipfile
folder, zips, entries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
header = '"Time of Day","Process Name","PID","Operation","Path","Result","Detail"\r\n'
for z in range(zips):
    with zipfile.ZipFile(f"{folder}/case-{z:02}.zip", "w", zipfile.ZIP_DEFLATED) as out:
        for i in range(entries):
            row = (f'"10:00:{i % 60:02}.0000000 AM","notepad.exe","5120","ReadFile",'
                   f'"C:\\Users\\alice\\z{z}-f{i}.txt","SUCCESS","Offset: 0"\r\n')
            out.writestr(f"logs/{i:05}.csv", header + row)
EOF
out=$(mktemp)
trap 'rm -f "$out"' EXIT
/usr/bin/time -f '%e s %M KiB' "$bin" --threads "$threads" dump --summary --format json \
  --max-zip-entries 100000 "$dir" > "$out" || true
python3 - "$out" "$((zips * entries))" <<'EOF'
import json, sys
accounts = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
ok = sum(1 for a in accounts if a["status"] == "ok" and a["events"] == 1)
print(f"{ok} of {want} entries read, one event each")
sys.exit(0 if ok == want else 1)
EOF
