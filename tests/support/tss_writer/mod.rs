//! A dev-only generator of TSS- and MSRD-Collect-shaped bundles, as the EVTX writer builds
//! logs: the folder and file names, and the text shapes, of what Microsoft's collectors write.
//!
//! The layout follows the public copies of the scripts (architectaj/getTSS):
//!
//! * MSRD-Collect (`MSRDC-Commons.psm1` `msrdInitFolders`): a folder
//!   `MSRD-Results-<HOST>-<yyyyMMdd_HHmmss>` (`MSRD-Results-<HOST>` when TSS runs it) whose files
//!   all start with `<HOST>_`: `<HOST>_EventLogs\<HOST>_<log>.evtx` (`wevtutil epl`, then
//!   `wevtutil al`, which leaves `LocaleMetaData\*.MTA` beside them),
//!   `<HOST>_RegistryKeys\<HOST>_HKLM-<name>.txt` (`reg export`: UTF-16LE with a BOM),
//!   `<HOST>_Certificates\<HOST>_ACL-MachineKeys.txt` (`Get-Acl | Select -Expand Access |
//!   Out-File -Append`, the folder then the RDP key files), `Certificates-My.csv` (tab
//!   separated), `Certificates-My.txt` (`certutil -verifystore -v MY`),
//!   `<HOST>_Networking\<HOST>_Netstat.txt`, `FirewallRules.txt`, and `<HOST>_MSRD-Diag.html`;
//! * TSS (`TSS.ps1`): a folder `TSS_<HOST>_<yyMMdd-HHmmss>_<scenario>` with files prefixed
//!   `<HOST>_<yyMMdd-HHmmss>_` (ETW traces `.etl` with their `.cab`, xray XML, CSV and text
//!   copies of event logs `<HOST>-<log>.csv|txt`), holding MSRD-Collect's folder for the RDS
//!   scenarios.
//!
//! Collector text is written as Windows PowerShell 5.1 writes it: UTF-16LE with a BOM, CRLF.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::support::evtx_writer::{scenario, write_evtx};

/// Which collector's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `MSRD-Results-<HOST>-<stamp>` on its own.
    Msrd,
    /// `TSS_<HOST>_<stamp>_<scenario>` holding `MSRD-Results-<HOST>`.
    Tss,
}

/// A registry value to export.
#[derive(Debug, Clone, PartialEq)]
pub enum RegData {
    Sz(String),
    Dword(u32),
    Qword(u64),
    ExpandSz(String),
    MultiSz(Vec<String>),
    Binary(Vec<u8>),
}

/// One rule of an access list.
#[derive(Debug, Clone, PartialEq)]
pub struct Ace {
    pub identity: String,
    pub rights: String,
    pub allow: bool,
    pub inherited: bool,
}

impl Ace {
    pub fn allow(identity: &str, rights: &str) -> Ace {
        Ace {
            identity: identity.into(),
            rights: rights.into(),
            allow: true,
            inherited: false,
        }
    }
    pub fn deny(identity: &str, rights: &str) -> Ace {
        Ace {
            allow: false,
            ..Ace::allow(identity, rights)
        }
    }
}

/// A bundle being built: paths relative to its top folder, and bytes.
pub struct Bundle {
    pub layout: Layout,
    pub host: String,
    pub top: String,
    msrd: String,
    pub files: Vec<(String, Vec<u8>)>,
}

impl Bundle {
    pub fn new(layout: Layout, host: &str) -> Bundle {
        let (top, msrd) = match layout {
            Layout::Msrd => {
                let t = format!("MSRD-Results-{host}-20240305_091500");
                (t.clone(), t)
            }
            Layout::Tss => (
                format!("TSS_{host}_240305-091500_UEX_RDSsrv"),
                format!("TSS_{host}_240305-091500_UEX_RDSsrv/MSRD-Results-{host}"),
            ),
        };
        Bundle {
            layout,
            host: host.into(),
            top,
            msrd,
            files: Vec::new(),
        }
    }

    /// Add a file, replacing one already at that path (a scenario overriding the healthy
    /// configuration).
    fn add(&mut self, path: String, bytes: Vec<u8>) {
        self.files.retain(|(p, _)| *p != path);
        self.files.push((path, bytes));
    }

    /// An event log from the EVTX writer's scenario text (its `output` line is ignored), as
    /// `<HOST>_EventLogs\<HOST>_<log>.evtx` with its locale metadata.
    pub fn evtx(&mut self, log: &str, scenario_text: &str) {
        let parsed = scenario::parse_evtx(log, scenario_text)
            .unwrap_or_else(|e| panic!("scenario for {log}: {e:?}"));
        let bytes = write_evtx(&parsed.events).unwrap_or_else(|e| panic!("{log}: {e:?}"));
        let h = self.host.clone();
        let dir = format!("{}/{h}_EventLogs", self.msrd);
        self.add(format!("{dir}/{h}_{log}.evtx"), bytes);
        self.add(
            format!("{dir}/LocaleMetaData/{h}_{log}_1033.MTA"),
            format!("MTA locale metadata of {h} {log} (binary in real bundles)").into_bytes(),
        );
    }

    /// A `reg export` of `keys` (key path → values) as `<HOST>_RegistryKeys\<HOST>_HKLM-<name>.txt`.
    pub fn reg(&mut self, name: &str, keys: &[(&str, Vec<(&str, RegData)>)]) {
        let text = reg_export_text(keys);
        let h = self.host.clone();
        let path = format!("{}/{h}_RegistryKeys/{h}_HKLM-{name}.txt", self.msrd);
        self.add(path, utf16le_bom(&text));
    }

    /// `ACL-MachineKeys.txt`: the MachineKeys folder's access list, then the RDP key file's.
    pub fn machinekeys_acl(&mut self, folder: &[Ace], key_file: &[Ace]) {
        let text = format!("{}{}", access_listing(folder), access_listing(key_file));
        let h = self.host.clone();
        let path = format!("{}/{h}_Certificates/{h}_ACL-MachineKeys.txt", self.msrd);
        self.add(path, utf16le_bom(&text));
    }

    /// `<HOST>_Networking\<HOST>_Netstat.txt` as MSRD-Collect writes it (`netstat -anobq`
    /// through `Out-File`: UTF-16LE): TCP sockets as (local, foreign, state, pid, service,
    /// program); an empty service writes no service line. Replaces any listing already there.
    pub fn netstat(&mut self, sockets: &[(&str, &str, &str, u32, &str, &str)]) {
        let mut text = String::from(
            "\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n",
        );
        for (local, foreign, state, pid, service, program) in sockets {
            text.push_str(&format!(
                "  TCP    {local:<22} {foreign:<22} {state:<15} {pid}\r\n"
            ));
            if !service.is_empty() {
                text.push_str(&format!("  {service}\r\n"));
            }
            text.push_str(&format!(" [{program}]\r\n"));
        }
        let h = self.host.clone();
        let path = format!("{}/{h}_Networking/{h}_Netstat.txt", self.msrd);
        self.add(path, utf16le_bom(&text));
    }

    /// The files a real bundle carries besides its logs and registry exports: traces,
    /// cabinets, reports, certificate listings, netstat and firewall listings, text and CSV
    /// copies of logs.
    pub fn side_files(&mut self) {
        let h = self.host.clone();
        let m = self.msrd.clone();
        let t = self.top.clone();
        let utf16 = |s: &str| utf16le_bom(s);
        self.add(
            format!("{m}/{h}_MSRD-Diag.html"),
            b"<!DOCTYPE html><html><head><title>MSRD-Diag</title></head><body><h1>MSRD-Diag</h1></body></html>".to_vec(),
        );
        self.certificates(&[HEALTHY_CERT], &[]);
        self.netstat(&[(
            "0.0.0.0:3389",
            "0.0.0.0:0",
            "LISTENING",
            1100,
            "TermService",
            "svchost.exe",
        )]);
        self.add(
            format!("{m}/{h}_Networking/{h}_FirewallRules.txt"),
            utf16("\r\nRule Name:                            Remote Desktop - User Mode (TCP-In)\r\n----------------------------------------------------------------------\r\nEnabled:                              Yes\r\nDirection:                            In\r\nLocalPort:                            3389\r\nAction:                               Allow\r\n"),
        );
        if self.layout == Layout::Tss {
            let p = format!("{t}/{h}_240305-091500_");
            self.add(
                format!("{p}RDS_RdpCoreTS.etl"),
                b"\x00\x00etl-binary".to_vec(),
            );
            self.add(format!("{p}NetTrace.etl"), b"\x00\x00netsh-trace".to_vec());
            self.add(
                format!("{p}NetTrace.cab"),
                b"MSCF\x00\x00\x00\x00cab".to_vec(),
            );
            self.add(
                format!("{p}xray_report.xml"),
                b"<?xml version=\"1.0\"?><xray><check name=\"rds\" result=\"ok\"/></xray>".to_vec(),
            );
            self.add(
                format!("{t}/SavedEventLog/{h}-System.csv"),
                "LevelDisplayName;TimeCreated;ProviderName;Id;UserId;Message\r\n\"Information\";\"3/5/2024 9:00:00 AM\";\"Service Control Manager\";\"7036\";\"\";\"The Remote Desktop Services service entered the running state.\"\r\n".as_bytes().to_vec(),
            );
            self.add(
                format!("{t}/SavedEventLog/{h}-System.txt"),
                utf16("Log Name: System\r\nSource: Service Control Manager\r\nEvent ID: 7036\r\n"),
            );
        }
    }

    /// The certificate listings MSRD-Collect writes into `<HOST>_Certificates\`:
    /// `Certificates-My.csv` (a DataTable through `Export-Csv -NoTypeInformation -Delimiter
    /// "`t"`: every column quoted, then the DataRow's own properties; ASCII as Windows
    /// PowerShell 5.1 writes it) and `certutil -verifystore -v` dumps of `My` and `Remote
    /// Desktop` (`Out-File`: UTF-16LE). Replaces any listings already there.
    pub fn certificates(&mut self, my: &[Cert], remote_desktop: &[Cert]) {
        let h = self.host.clone();
        let dir = format!("{}/{h}_Certificates", self.msrd);
        let mut csv = String::from(
            "\"Store\"\t\"Thumbprint\"\t\"Subject\"\t\"Issuer\"\t\"NotAfter\"\t\"IssuerThumbprint\"\t\"EnhancedKeyUsage\"\t\"SerialNumber\"\t\"SubjectKeyIdentifier\"\t\"AuthorityKeyIdentifier\"\t\"RowError\"\t\"RowState\"\t\"Table\"\t\"ItemArray\"\t\"HasErrors\"\r\n",
        );
        for c in my {
            csv.push_str(&format!(
                "\"My\"\t\"{}\"\t\"{}\"\t\"{}\"\t\"{}\"\t\"\"\t\"Server Authentication\"\t\"{}\"\t\"\"\t\"\"\t\"\"\t\"Added\"\t\"\"\t\"System.Object[]\"\t\"False\"\r\n",
                c.thumbprint.to_ascii_lowercase(),
                c.subject,
                c.subject,
                c.not_after,
                c.serial
            ));
        }
        self.add(format!("{dir}/{h}_Certificates-My.csv"), csv.into_bytes());
        self.add(
            format!("{dir}/{h}_Certificates-My.txt"),
            utf16le_bom(&certutil_dump("MY \"Personal\"", my)),
        );
        self.add(
            format!("{dir}/{h}_Certificates-RemoteDesktop.txt"),
            utf16le_bom(&certutil_dump("Remote Desktop", remote_desktop)),
        );
    }

    /// Write the bundle under `dir`; returns its top folder.
    pub fn write_to(&self, dir: &Path) -> PathBuf {
        for (rel, bytes) in &self.files {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        dir.join(&self.top)
    }

    /// The bundle as a zip (as customers upload it), entries under its top folder.
    pub fn zip(&self) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut out);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for (rel, bytes) in &self.files {
                z.start_file(rel.as_str(), opts).unwrap();
                z.write_all(bytes).unwrap();
            }
            z.finish().unwrap();
        }
        out.into_inner()
    }
}

/// A certificate in a listing.
#[derive(Debug, Clone, Copy)]
pub struct Cert {
    /// 40 hex digits.
    pub thumbprint: &'static str,
    pub subject: &'static str,
    /// As en-US Windows prints it: `3/5/2025 9:00:00 AM`.
    pub not_after: &'static str,
    pub serial: &'static str,
}

/// The certificate the healthy server's RDP-Tcp is configured to use, valid until 2025.
pub const HEALTHY_CERT: Cert = Cert {
    thumbprint: "3C1A0F7D2B9E4C6A8D5F1E0B7A6C9D2E4F8B1A3C",
    subject: "CN=RDS01.contoso.com",
    not_after: "3/5/2025 9:00:00 AM",
    serial: "1a2b3c4d",
};

/// What `certutil -verifystore -v STORE` prints (the parts rdtriage reads, and some around
/// them): the store line, a block per certificate, the closing line. certutil prints dates
/// without seconds and the SHA-1 hash without spaces (Windows 8 and later).
pub fn certutil_dump(store_line: &str, certs: &[Cert]) -> String {
    let mut out = format!("{store_line}\r\n");
    for (i, c) in certs.iter().enumerate() {
        let not_after = c.not_after.replacen(":00 ", " ", 1);
        out.push_str(&format!(
            "================ Certificate {i} ================\r\nX509 Certificate:\r\nVersion: 3\r\nSerial Number: {}\r\nSignature Algorithm:\r\n    Algorithm ObjectId: 1.2.840.113549.1.1.11 sha256RSA\r\nIssuer:\r\n    {}\r\n\r\n NotBefore: 3/5/2024 9:00 AM\r\n NotAfter: {not_after}\r\n\r\nSubject:\r\n    {}\r\n\r\nCert Hash(md5): 0f1e2d3c4b5a69788796a5b4c3d2e1f0\r\nCert Hash(sha1): {}\r\n  ChainContext.dwInfoStatus = 0x100\r\n  CertContext[0][0]: dwInfoStatus=10c dwErrorStatus=0\r\n    Issuer: {}\r\n    NotAfter: {not_after}\r\n\r\n",
            c.serial,
            c.subject,
            c.subject,
            c.thumbprint.to_ascii_lowercase(),
            c.subject
        ));
    }
    out.push_str("CertUtil: -verifystore command completed successfully.\r\n");
    out
}

/// UTF-16LE with a BOM, as `reg export` and PowerShell 5.1's `Out-File` write.
pub fn utf16le_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

/// What `reg export` writes for these keys: the 5.00 header, a blank line, then each key and
/// its values, hex data wrapped at 80 columns with `\` continuations indented by two spaces.
pub fn reg_export_text(keys: &[(&str, Vec<(&str, RegData)>)]) -> String {
    let mut out = String::from("Windows Registry Editor Version 5.00\r\n\r\n");
    for (key, values) in keys {
        out.push_str(&format!("[{key}]\r\n"));
        for (name, data) in values {
            let lhs = if name.is_empty() {
                "@".to_string()
            } else {
                format!("\"{}\"", escape(name))
            };
            let rhs = match data {
                RegData::Sz(s) => format!("\"{}\"", escape(s)),
                RegData::Dword(n) => format!("dword:{n:08x}"),
                RegData::Qword(n) => hex_data("hex(b):", &lhs, &n.to_le_bytes()),
                RegData::ExpandSz(s) => hex_data("hex(2):", &lhs, &utf16z(&[s.as_str()])),
                RegData::MultiSz(v) => {
                    let parts: Vec<&str> = v.iter().map(String::as_str).collect();
                    let mut bytes = utf16z(&parts);
                    bytes.extend_from_slice(&[0, 0]);
                    hex_data("hex(7):", &lhs, &bytes)
                }
                RegData::Binary(b) => hex_data("hex:", &lhs, b),
            };
            out.push_str(&format!("{lhs}={rhs}\r\n"));
        }
        out.push_str("\r\n");
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn utf16z(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        for u in p.encode_utf16() {
            out.extend_from_slice(&u.to_le_bytes());
        }
        out.extend_from_slice(&[0, 0]);
    }
    out
}

/// `hex(..):aa,bb,...` wrapped the way `reg export` wraps it (lines of at most 80 columns).
fn hex_data(prefix: &str, lhs: &str, bytes: &[u8]) -> String {
    let mut out = String::from(prefix);
    let mut col = lhs.len() + 1 + prefix.len();
    for (i, b) in bytes.iter().enumerate() {
        let piece = if i + 1 < bytes.len() {
            format!("{b:02x},")
        } else {
            format!("{b:02x}")
        };
        if col + piece.len() > 77 && i + 1 < bytes.len() {
            out.push_str("\\\r\n  ");
            col = 2;
        }
        out.push_str(&piece);
        col += piece.len();
    }
    out
}

/// What `Get-Acl X | Select-Object -ExpandProperty Access | Out-File -Append` writes.
pub fn access_listing(rules: &[Ace]) -> String {
    let mut out = String::from("\r\n");
    for r in rules {
        out.push_str(&format!(
            "FileSystemRights  : {}\r\nAccessControlType : {}\r\nIdentityReference : {}\r\nIsInherited       : {}\r\nInheritanceFlags  : None\r\nPropagationFlags  : None\r\n\r\n",
            r.rights,
            if r.allow { "Allow" } else { "Deny" },
            r.identity,
            if r.inherited { "True" } else { "False" }
        ));
    }
    out.push_str("\r\n\r\n");
    out
}

/// A healthy server's configuration: what Windows ships.
pub fn healthy_server_config(b: &mut Bundle) {
    b.reg(
        "System-CCS-Control-SecurityProviders",
        &[
            (
                r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server",
                vec![("Enabled", RegData::Dword(1)), ("DisabledByDefault", RegData::Dword(0))],
            ),
            (
                r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Client",
                vec![("Enabled", RegData::Dword(1)), ("DisabledByDefault", RegData::Dword(0))],
            ),
        ],
    );
    b.reg(
        "System-CCS-Control-TerminalServer",
        &[
            (
                r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Terminal Server",
                vec![("fDenyTSConnections", RegData::Dword(0))],
            ),
            (
                r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp",
                vec![
                    ("PortNumber", RegData::Dword(3389)),
                    ("fEnableWinStation", RegData::Dword(1)),
                    ("LoadableProtocol_Object", RegData::Sz("{5828227c-20cf-4408-b73f-73ab70b8849f}".into())),
                    ("MaxInstanceCount", RegData::Dword(0xFFFF_FFFF)),
                    ("SecurityLayer", RegData::Dword(1)),
                    ("MinEncryptionLevel", RegData::Dword(2)),
                    ("SSLCertificateSHA1Hash", RegData::Binary(vec![0x3c, 0x1a, 0x0f, 0x7d, 0x2b, 0x9e, 0x4c, 0x6a, 0x8d, 0x5f, 0x1e, 0x0b, 0x7a, 0x6c, 0x9d, 0x2e, 0x4f, 0x8b, 0x1a, 0x3c])),
                ],
            ),
        ],
    );
    b.reg(
        "System-CCS-Svc-TermService",
        &[(
            r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\TermService\Parameters",
            vec![
                (
                    "ServiceDll",
                    RegData::ExpandSz(r"%SystemRoot%\System32\termsrv.dll".into()),
                ),
                ("ServiceDllUnloadOnStop", RegData::Dword(1)),
            ],
        )],
    );
    b.machinekeys_acl(
        &[
            Ace::allow("Everyone", "Write, Read, Synchronize"),
            Ace::allow(r"BUILTIN\Administrators", "FullControl"),
        ],
        &[
            Ace::allow(r"NT AUTHORITY\SYSTEM", "FullControl"),
            Ace::allow(r"BUILTIN\Administrators", "FullControl"),
            Ace::allow(r"NT AUTHORITY\NETWORK SERVICE", "Read, Synchronize"),
        ],
    );
}
