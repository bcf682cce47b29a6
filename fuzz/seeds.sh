#!/usr/bin/env bash
# Seed each fuzz target's corpus from the fixtures and the shared corpus's dirty files.
set -euo pipefail
cd "$(dirname "$0")"
root=..
c=$root/../shared/corpus/evtx
mkdir -p corpus/{rule_parser,procmon_csv,event_xml,detail_and_paths,zip_discovery,evtx_file,reg_export,acl_dump,pml_file}
cp $root/src/rules/pack/*.rdt corpus/rule_parser/
cp $root/fixtures/procmon/*.csv corpus/procmon_csv/
for f in $root/fixtures/tickets/*/*/Logfile.CSV; do cp "$f" "corpus/procmon_csv/$(basename "$(dirname "$(dirname "$f")")")-$(basename "$(dirname "$f")").csv"; done
printf '<Events><Event><System><Provider Name="x"/><EventID Qualifiers="49152">1058</EventID></System><EventData><Data Name="a">b&amp;c</Data></EventData></Event></Events>' > corpus/event_xml/one.xml
printf 'Desired Access: Generic Write, Read Attributes, Disposition: OverwriteIf' > corpus/detail_and_paths/detail
printf 'a:50000 -> b:ms-wbt-server' > corpus/detail_and_paths/path
printf '上午 01:09:44.8222664' > corpus/detail_and_paths/time
for f in $root/fixtures/evtx/*.evtx; do cp "$f" corpus/evtx_file/; done
# A flood (Schannel alerts repeating one template): the file header and one chunk from the middle
# of a domain controller's System log, for the direct reader's remembered records.
big=$c/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/System.evtx
# (dd, not `tail | head`: under pipefail, tail's SIGPIPE when head has its bytes ended the script.)
[ -f "$big" ] && { head -c 4096 "$big"; dd if="$big" bs=4096 skip=$((1 + 16 * 100)) count=16 status=none; } > corpus/evtx_file/flood.evtx
for f in sample_with_a_bad_chunk_magic.evtx sample-with-zero-data-size-event.evtx Application_no_crc32.evtx security_bad_string_cache.evtx; do
  [ -f "$c/omerbenamram-evtx/$f" ] && cp "$c/omerbenamram-evtx/$f" corpus/evtx_file/
done
p=$root/../shared/corpus/procmon
for f in eronnen__procmon-parser/CompressedLogFileUTC64Process.PML Rurik__Noriben/Noriben_09_Apr_13__20_16_13_368000.pml; do
  [ -f "$p/$f" ] && cp "$p/$f" "corpus/pml_file/$(basename "$f")"
done
# Whole captures under libFuzzer's default input bound (1 MiB): a larger seed is cut to it,
# which loses the tables at the end of the file and leaves only damaged captures to explore.
for d in tonyrulez__file_dump jereksel__CloudMirrorFoobar MateFoxer__ron-crash-log; do
  [ -f "$p/$d/Logfile.PML" ] && cp "$p/$d/Logfile.PML" "corpus/pml_file/$d.PML"
done
[ -f "$p/eronnen__procmon-parser/CompressedLogfileTests32bitUTC.PML" ] && head -c 200000 "$p/eronnen__procmon-parser/CompressedLogfileTests32bitUTC.PML" > corpus/pml_file/cut.PML
python3 - <<'PY'
import zipfile, io
for name, entries in [("nested", [("a/b.csv", b'"Time of Day","Process Name","Operation","Path","Result"\r\n')]), ("empty", [])]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in entries:
            z.writestr(n, d)
    open(f"corpus/zip_discovery/{name}.zip", "wb").write(buf.getvalue())
PY
printf 'Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\K]\r\n"A"=dword:00000001\r\n"B"=hex(2):25,00,\\\r\n  00,00\r\n"C"=-\r\n[-HKEY_LOCAL_MACHINE\\D]\r\n' | iconv -f UTF-8 -t UTF-16 > corpus/reg_export/v5.reg
printf 'REGEDIT4\n[HKEY_CURRENT_USER\\K]\n@="x"\n"M"=hex(7):61,00,00\n' > corpus/reg_export/v4.reg
printf '\r\nFileSystemRights  : Read, Synchronize\r\nAccessControlType : Allow\r\nIdentityReference : NT AUTHORITY\\NETWORK SERVICE\r\nIsInherited       : False\r\n\r\n\r\n\r\n' > corpus/acl_dump/access.txt
printf 'Path   : Microsoft.PowerShell.Core\\FileSystem::C:\\x\r\nAccess : Everyone Allow  Read\r\n         BUILTIN\\Users Deny  Write\r\n' > corpus/acl_dump/list.txt
echo seeded
