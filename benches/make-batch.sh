#!/usr/bin/env bash
# Build a batch folder of N tickets (default 1000) from the fixtures and the shared corpus,
# for measuring `rdtriage batch`:
#
#   benches/make-batch.sh /tmp/tickets 1000
#   /usr/bin/time -v target/release/rdtriage --threads 1 batch --follow /tmp/tickets --format jsonl >/dev/null
#
# (--follow: the tickets link to their files, and links are not followed without it.)
#
# Tickets cycle through seven shapes: a client's RDPClient log, a server's RCM + LSM logs, a
# Procmon trace, a Security log with firewall events, a mixed zip, the DC's RdpCoreTS log and
# a broken ticket (a truncated EVTX). Files are symlinked (zips are real), so the folder is
# small on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: make-batch.sh DIR [N]}
n=${2:-1000}
root=$(pwd)
corpus=$root/../shared/corpus/evtx
fx=$root/fixtures
rm -rf "$out"
mkdir -p "$out"
dc="$corpus/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC"
trunc="$out.truncated.evtx"
head -c 40000 "$fx/evtx/Security_short_selected.evtx" > "$trunc"
python3 - "$out.mixed.zip" "$fx" <<'PY'
import sys, zipfile
out, fx = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(f"{fx}/evtx/rcm-1149-rdp-logins.evtx", "server/RCM.evtx")
    z.write(f"{fx}/procmon/default-crlf-bom.csv", "client/Logfile.CSV")
    z.write(f"{fx}/procmon/reordered-lf.csv", "server/Logfile.CSV")
PY
for i in $(seq -w 1 "$n"); do
  t="$out/T$i"
  case $((10#$i % 7)) in
    0) mkdir "$t"; ln -s "$dc/Microsoft-Windows-TerminalServices-RDPClient%4Operational.evtx" "$t/RDPClient.evtx" ;;
    1) mkdir "$t"; ln -s "$dc/Microsoft-Windows-TerminalServices-RemoteConnectionManager%4Operational.evtx" "$t/RCM.evtx"
       ln -s "$dc/Microsoft-Windows-TerminalServices-LocalSessionManager%4Operational.evtx" "$t/LSM.evtx" ;;
    2) mkdir "$t"; ln -s "$fx/procmon/default-crlf-bom.csv" "$t/Logfile.CSV" ;;
    3) mkdir "$t"; ln -s "$fx/evtx/Security_short_selected.evtx" "$t/Security.evtx" ;;
    4) cp "$out.mixed.zip" "$t.zip" ;;
    5) mkdir "$t"; ln -s "$dc/Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx" "$t/RdpCoreTS.evtx" ;;
    6) mkdir "$t"; ln -s "$trunc" "$t/System.evtx"; ln -s "$fx/evtx/new-user-security.evtx" "$t/Security.evtx" ;;
  esac
done
rm -f "$out.mixed.zip"
echo "$n tickets in $out"
