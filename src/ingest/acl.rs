//! ACL dumps → `acl` events, one per access rule.
//!
//! Two text shapes, both what PowerShell's `Out-File` writes (UTF-16LE in Windows PowerShell):
//!
//! * the access list, `Get-Acl -Path X | Select-Object -ExpandProperty Access`, which is how
//!   MSRD-Collect writes `<COMPUTER>_Certificates\<COMPUTER>_ACL-MachineKeys.txt` (the
//!   `...\Crypto\RSA\MachineKeys` folder, then, appended to the same file, the RDP key files
//!   `f686aace6942fb7f7ceb231212eef4a4_*`), `ACL-SystemCertificates-RemoteDesktop.txt` and
//!   `ACL-TerminalServer-RCM.txt`: one block of `FileSystemRights|RegistryRights`,
//!   `AccessControlType`, `IdentityReference`, `IsInherited`, ... per rule, a blank line between
//!   rules. The rules carry no path: each command's output is one object, told apart by the run
//!   of blank lines `Format-List` leaves at its end (or by the error text a failed command
//!   writes), and named from the command that wrote the file;
//! * `Get-Acl X | Format-List`: `Path : ...` then `Access : IDENTITY Allow|Deny  RIGHTS`, one
//!   rule a line.
//!
//! Each event also carries the whole object's access list (`object_access`) and its position in
//! it (`entry`), so that a rule can see an identity that has no entry at all.

use std::sync::Arc;

use super::{Emit, bundle, text_lines};
use crate::model::{AclEntry, Event, EventKind, FileAccount};

/// The objects MSRD-Collect's `Get-Acl` commands write into each file, in command order
/// (`MSRDC-Core.psm1`). The last one repeats for any further output.
const KNOWN_DUMPS: &[(&str, &[&str])] = &[
    (
        "acl-machinekeys",
        &[
            r"C:\ProgramData\Microsoft\Crypto\RSA\MachineKeys",
            r"C:\ProgramData\Microsoft\Crypto\RSA\MachineKeys\f686aace6942fb7f7ceb231212eef4a4_*",
        ],
    ),
    (
        "acl-systemcertificates-remotedesktop",
        &[r"HKLM:\SOFTWARE\Microsoft\SystemCertificates\Remote Desktop"],
    ),
    (
        "acl-terminalserver-rcm",
        &[r"HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\RCM"],
    ),
];

/// Does this decoded text look like an ACL dump?
pub fn looks_like(text: &str) -> bool {
    let mut rights = false;
    let mut identity = false;
    let mut access_line = false;
    let mut path = false;
    for line in text_lines::lines(text.trim_start_matches('\u{feff}')).take(200) {
        match property(line) {
            Some((k, _)) if k == "FileSystemRights" || k == "RegistryRights" => rights = true,
            Some(("IdentityReference", _)) => identity = true,
            Some((k, v)) if k == "Access" && split_access(v).is_some() => access_line = true,
            Some(("Path", _)) => path = true,
            _ => {}
        }
        if line.starts_with("Get-Acl : ") {
            return true;
        }
    }
    (rights && identity) || (path && access_line)
}

/// `Name   : value` (a property line of `Format-List`).
fn property(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let (k, v) = line.split_once(" :").or_else(|| line.split_once(':'))?;
    let k = k.trim_end();
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some((k, v.strip_prefix(' ').unwrap_or(v).trim_end()))
}

/// `NT AUTHORITY\NETWORK SERVICE Allow  Read, Synchronize` → (identity, Allow|Deny, rights).
fn split_access(v: &str) -> Option<(&str, &'static str, &str)> {
    for kind in ["Allow", "Deny"] {
        let pat = format!(" {kind} ");
        if let Some(i) = v.rfind(&pat) {
            let identity = v[..i].trim();
            let rights = v[i + pat.len()..].trim();
            if !identity.is_empty() && !rights.is_empty() {
                return Some((
                    identity,
                    if kind == "Allow" { "Allow" } else { "Deny" },
                    rights,
                ));
            }
        }
    }
    None
}

/// One access rule as read, before its object is complete.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclRule {
    pub line: u64,
    /// The object's path, shared by its rules (set once the object is complete).
    pub path: Arc<str>,
    pub identity: String,
    pub rights: String,
    pub access: String,
    pub inherited: bool,
}

/// What is wrong with a line of a dump (log text in it clipped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclFault {
    #[error("an access rule without IdentityReference or AccessControlType")]
    IncompleteRule,
    #[error("not part of an ACL listing: {0}")]
    NotAcl(String),
    #[error("an Access line without Allow or Deny: {0}")]
    NoAllowOrDeny(String),
    #[error(
        "an access rule past the {MAX_RULES} an ACL can hold (64 KiB, 16 bytes a rule at least): not read"
    )]
    TooManyRules,
}

/// The most access rules one object's ACL can hold: Windows caps an ACL at 64 KiB and an access
/// entry takes 16 bytes at least. A dump listing more for one object is not an ACL; the rules
/// past this are counted as errors, not read.
pub const MAX_RULES: usize = 4096;

/// What reading a dump gives besides its objects (handed over one by one as each is read).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AclDump {
    /// Lines that could not be read (line, why).
    pub errors: super::LineErrors<AclFault>,
    /// Error messages the collector's command wrote instead of an ACL.
    pub collector_errors: Vec<String>,
}

/// Read a dump (`file_name` names the objects of the access-list shape), handing each object
/// with its rules (their path set) to `on_object` as soon as it is complete. Every object had
/// been kept until the dump's end: a 100 MB dump of 900,000 objects peaked at 683 MB.
pub fn parse_each(
    text: &str,
    file_name: &str,
    on_object: &mut dyn FnMut(String, Vec<AclRule>),
) -> AclDump {
    let base = file_name
        .rsplit(['/', '\\', '!'])
        .next()
        .unwrap_or(file_name)
        .to_ascii_lowercase();
    let known: &[&str] = KNOWN_DUMPS
        .iter()
        .find(|(k, _)| base.contains(k))
        .map_or(&[], |(_, paths)| *paths);
    let fallback = base
        .rsplit_once('.')
        .map_or(base.as_str(), |(b, _)| b)
        .to_string();
    let object_path = |n: usize| -> String {
        known
            .get(n)
            .or(known.last())
            .map_or_else(|| fallback.clone(), |p| p.to_string())
    };

    let mut dump = AclDump::default();
    let mut deliver = |path: String, mut rules: Vec<AclRule>| {
        let shared: Arc<str> = Arc::from(path.as_str());
        for r in rules.iter_mut() {
            r.path = Arc::clone(&shared);
        }
        on_object(path, rules);
    };
    let mut object_index = 0usize; // access-list shape: which command's output we are in
    let mut current: Option<AclRule> = None; // access-list shape: the rule being read
    let mut rules: Vec<AclRule> = Vec::new();
    let mut blank_run = 0usize;
    let mut list_path: Option<String> = None; // Format-List shape
    let mut in_access = false;
    let mut after_identity = false; // the last property read was IdentityReference

    let flush_rule =
        |current: &mut Option<AclRule>, rules: &mut Vec<AclRule>, dump: &mut AclDump| {
            if let Some(r) = current.take() {
                if r.identity.is_empty() || r.access.is_empty() {
                    dump.errors.push(r.line, AclFault::IncompleteRule);
                } else {
                    push_rule(r, rules, dump);
                }
            }
        };

    for (line_no, line) in text_lines::numbered(text.trim_start_matches('\u{feff}')) {
        if line.trim().is_empty() {
            blank_run += 1;
            in_access = false;
            flush_rule(&mut current, &mut rules, &mut dump);
            continue;
        }
        let starts_object = blank_run >= 2 && !rules.is_empty() && list_path.is_none();
        blank_run = 0;
        if starts_object {
            let path = object_path(object_index);
            deliver(path, std::mem::take(&mut rules));
            object_index += 1;
        }
        let trimmed = line.trim_start();
        let wraps_identity = std::mem::take(&mut after_identity);
        // A PowerShell error record: the command failed; it still was one command's output.
        if let Some(msg) = trimmed
            .strip_prefix("Get-Acl : ")
            .or_else(|| trimmed.strip_prefix("Select-Object : "))
        {
            flush_rule(&mut current, &mut rules, &mut dump);
            if !rules.is_empty() {
                deliver(object_path(object_index), std::mem::take(&mut rules));
            }
            dump.collector_errors.push(msg.trim().to_string());
            object_index += 1;
            continue;
        }
        if trimmed.starts_with('+')
            || trimmed.starts_with("At line:")
            || trimmed.starts_with("At ") && trimmed.contains("char:")
        {
            continue; // the rest of an error record
        }
        match property(line) {
            Some(("Path", v)) => {
                flush_rule(&mut current, &mut rules, &mut dump);
                if let Some(p) = list_path.take() {
                    deliver(p, std::mem::take(&mut rules));
                } else if !rules.is_empty() {
                    deliver(object_path(object_index), std::mem::take(&mut rules));
                }
                let p = v.split_once("::").map_or(v, |(_, p)| p);
                list_path = Some(p.to_string());
                in_access = false;
            }
            Some(("Access", v)) => {
                in_access = true;
                push_access_line(v, line_no, &mut rules, &mut dump);
            }
            Some((k, v)) if k == "FileSystemRights" || k == "RegistryRights" => {
                in_access = false;
                flush_rule(&mut current, &mut rules, &mut dump);
                current = Some(AclRule {
                    line: line_no,
                    rights: v.to_string(),
                    ..AclRule::default()
                });
            }
            Some((k, v)) => {
                in_access = false;
                if let Some(r) = current.as_mut() {
                    match k {
                        "AccessControlType" => r.access = v.to_string(),
                        "IdentityReference" => {
                            r.identity = v.to_string();
                            after_identity = true;
                        }
                        "IsInherited" => r.inherited = v.eq_ignore_ascii_case("true"),
                        _ => {}
                    }
                }
                // Owner, Group, Audit, Sddl, InheritanceFlags, ...: not needed.
            }
            None if in_access => {
                push_access_line(trimmed, line_no, &mut rules, &mut dump);
            }
            None => {
                // A long identity wrapped by Format-List onto an indented line.
                if let Some(r) = current.as_mut().filter(|_| wraps_identity) {
                    r.identity.push_str(trimmed.trim_end());
                    after_identity = true;
                    continue;
                }
                dump.errors
                    .push(line_no, AclFault::NotAcl(super::clip_chars(trimmed, 60)));
            }
        }
    }
    flush_rule(&mut current, &mut rules, &mut dump);
    if !rules.is_empty() {
        let path = list_path.unwrap_or_else(|| object_path(object_index));
        deliver(path, rules);
    } else if let Some(p) = list_path {
        deliver(p, rules);
    }
    dump
}

/// `rule` added to its object's `rules`, unless they are already as many as an ACL can hold:
/// then it is a bad line (rules past that had been kept until the object ended, a 80 MB dump
/// of one object's rules held 2 million).
fn push_rule(rule: AclRule, rules: &mut Vec<AclRule>, dump: &mut AclDump) {
    if rules.len() < MAX_RULES {
        rules.push(rule);
    } else {
        dump.errors.push(rule.line, AclFault::TooManyRules);
    }
}

fn push_access_line(v: &str, line: u64, rules: &mut Vec<AclRule>, dump: &mut AclDump) {
    if v.trim().is_empty() {
        return;
    }
    match split_access(v) {
        Some((identity, access, rights)) => push_rule(
            AclRule {
                line,
                // Set once the object is complete, shared by its rules.
                path: Arc::default(),
                identity: identity.to_string(),
                rights: rights.to_string(),
                access: access.to_string(),
                inherited: false,
            },
            rules,
            dump,
        ),
        None => dump
            .errors
            .push(line, AclFault::NoAllowOrDeny(super::clip_chars(v, 60))),
    }
}

/// `identity: Allow rights; ...` for one object.
fn object_access(rules: &[AclRule]) -> String {
    rules
        .iter()
        .map(|r| format!("{}: {} {}", r.identity, r.access, r.rights))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Read one ACL dump into `acl` events.
pub fn read_acl_dump(bytes: Vec<u8>, emit: &mut Emit<'_>, account: &mut FileAccount) {
    let text = bundle::collector_text(bytes, account);
    let computer = bundle::host_from_name(emit.file).unwrap_or_default();
    let file: Arc<str> = Arc::clone(emit.file);
    let mut batch = crate::ingest::Batch::default();
    let mut events = 0u64;
    let dump = parse_each(&text, &file, &mut |_, rules| {
        let summary: Arc<str> = Arc::from(object_access(&rules));
        for (n, r) in rules.into_iter().enumerate() {
            events += 1;
            let event = Event {
                file: Arc::clone(&file),
                record: r.line,
                time: None,
                kind: EventKind::Acl(Box::new(AclEntry {
                    path: r.path,
                    identity: r.identity,
                    rights: r.rights,
                    access: r.access,
                    inherited: r.inherited,
                    entry: u32::try_from(n + 1).unwrap_or(u32::MAX),
                    object_access: Arc::clone(&summary),
                    computer: computer.clone(),
                })),
                marks: Default::default(),
            };
            emit.offer(&mut batch, event);
        }
    });
    account.events += events;
    for msg in dump.collector_errors.iter().take(super::MAX_LISTED_ERRORS) {
        account.note(format!(
            "the collector could not read an ACL: {}",
            super::clip_chars(msg, 60)
        ));
    }
    super::count_line_errors(account, &dump.errors);
    emit.flush(batch);
    account.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dump read whole: its objects in order, with what else reading it gave.
    struct Parsed {
        objects: Vec<(String, Vec<AclRule>)>,
        errors: crate::ingest::LineErrors<AclFault>,
        collector_errors: Vec<String>,
    }

    fn parse(text: &str, file_name: &str) -> Parsed {
        let mut objects = Vec::new();
        let dump = parse_each(text, file_name, &mut |path, rules| {
            objects.push((path, rules))
        });
        Parsed {
            objects,
            errors: dump.errors,
            collector_errors: dump.collector_errors,
        }
    }

    fn rule(rights: &str, access: &str, identity: &str, inherited: bool) -> String {
        format!(
            "FileSystemRights  : {rights}\r\nAccessControlType : {access}\r\nIdentityReference : {identity}\r\nIsInherited       : {}\r\nInheritanceFlags  : None\r\nPropagationFlags  : None\r\n\r\n",
            if inherited { "True" } else { "False" }
        )
    }

    /// What `Get-Acl X | Select -Expand Access | Out-File -Append` writes: a blank line before
    /// the list, a blank line after each rule, and two more at the end.
    fn listing(rules: &[String]) -> String {
        format!("\r\n{}\r\n\r\n", rules.concat())
    }

    #[test]
    fn reads_msrd_collect_machinekeys_dump_as_two_objects() {
        let folder = listing(&[
            rule("Write, Read, Synchronize", "Allow", "Everyone", false),
            rule("FullControl", "Allow", r"BUILTIN\Administrators", false),
        ]);
        let key = listing(&[
            rule("FullControl", "Allow", r"NT AUTHORITY\SYSTEM", false),
            rule(
                "Read, Synchronize",
                "Deny",
                r"NT AUTHORITY\NETWORK SERVICE",
                true,
            ),
        ]);
        let text = format!("{folder}{key}");
        assert!(looks_like(&text));
        let dump = parse(
            &text,
            "MSRD-Results-RDS01/RDS01_Certificates/RDS01_ACL-MachineKeys.txt",
        );
        assert_eq!(dump.errors, vec![]);
        assert_eq!(dump.objects.len(), 2);
        assert_eq!(
            dump.objects[0].0,
            r"C:\ProgramData\Microsoft\Crypto\RSA\MachineKeys"
        );
        assert!(
            dump.objects[1]
                .0
                .ends_with("f686aace6942fb7f7ceb231212eef4a4_*")
        );
        let ns = &dump.objects[1].1[1];
        assert_eq!(
            (
                ns.identity.as_str(),
                ns.access.as_str(),
                ns.rights.as_str(),
                ns.inherited
            ),
            (
                r"NT AUTHORITY\NETWORK SERVICE",
                "Deny",
                "Read, Synchronize",
                true
            )
        );
        assert_eq!(ns.line, 26);
        assert_eq!(
            object_access(&dump.objects[1].1),
            r"NT AUTHORITY\SYSTEM: Allow FullControl; NT AUTHORITY\NETWORK SERVICE: Deny Read, Synchronize"
        );
    }

    /// An object listing more rules than an ACL can hold keeps the first [`MAX_RULES`], the rest
    /// counted as errors by their lines; every rule of an object shares its path.
    #[test]
    fn an_object_with_more_rules_than_an_acl_holds_keeps_the_first() {
        let mut text = String::from("Path   : Microsoft.PowerShell.Core\\FileSystem::C:\\x\r\n");
        for k in 0..MAX_RULES + 3 {
            let lead = if k == 0 { "Access : " } else { "         " };
            text.push_str(&format!("{lead}DOMAIN\\user{k} Allow  Read\r\n"));
        }
        let dump = parse(&text, "acl.txt");
        assert_eq!(dump.objects.len(), 1);
        let (path, rules) = &dump.objects[0];
        assert_eq!(path, r"C:\x");
        assert_eq!(rules.len(), MAX_RULES);
        assert!(rules.iter().all(|r| Arc::ptr_eq(&r.path, &rules[0].path)));
        let lines: Vec<u64> = dump.errors.iter().map(|(l, _)| *l).collect();
        let first = MAX_RULES as u64 + 2;
        assert_eq!(lines, vec![first, first + 1, first + 2]);
        assert!(
            dump.errors
                .iter()
                .all(|(_, e)| *e == AclFault::TooManyRules)
        );
    }

    #[test]
    fn a_failed_command_still_counts_as_its_object() {
        let err = "Get-Acl : Cannot find path 'C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys' because it does not exist.\r\nAt line:1 char:1\r\n+ Get-Acl -Path 'C:\\x'\r\n+ ~~~~~~~\r\n    + CategoryInfo          : ObjectNotFound: (:) [Get-Acl], ItemNotFoundException\r\n    + FullyQualifiedErrorId : GetAcl_PathNotFound_Exception\r\n \r\n";
        let key = listing(&[rule("FullControl", "Allow", r"NT AUTHORITY\SYSTEM", false)]);
        let dump = parse(&format!("{err}{key}"), "ACL-MachineKeys.txt");
        assert_eq!(dump.errors, vec![]);
        assert_eq!(dump.collector_errors.len(), 1);
        assert_eq!(dump.objects.len(), 1);
        assert!(dump.objects[0].0.ends_with("_*"));
    }

    #[test]
    fn reads_registry_rights_and_names_the_key() {
        let text = listing(&[
            "RegistryRights    : ReadKey\r\nAccessControlType : Allow\r\nIdentityReference : NT AUTHORITY\\NETWORK SERVICE\r\nIsInherited       : False\r\n\r\n".to_string(),
        ]);
        let dump = parse(&text, "X_ACL-TerminalServer-RCM.txt");
        assert_eq!(dump.objects.len(), 1);
        assert_eq!(
            dump.objects[0].0,
            r"HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\RCM"
        );
        assert_eq!(dump.objects[0].1[0].rights, "ReadKey");
        // An unknown file names its objects after itself.
        let dump = parse(&text, "dir/Other-ACL.txt");
        assert_eq!(dump.objects[0].0, "other-acl");
    }

    #[test]
    fn reads_get_acl_format_list() {
        let text = "\r\n\r\nPath   : Microsoft.PowerShell.Core\\FileSystem::C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys\\f686aace6942fb7f7ceb231212eef4a4_6a4b\r\nOwner  : NT AUTHORITY\\SYSTEM\r\nGroup  : NT AUTHORITY\\SYSTEM\r\nAccess : NT AUTHORITY\\SYSTEM Allow  FullControl\r\n         BUILTIN\\Administrators Allow  FullControl\r\n         NT AUTHORITY\\NETWORK SERVICE Deny  Read, Synchronize\r\nAudit  : \r\nSddl   : O:SYG:SYD:P(A;;FA;;;SY)\r\n\r\nPath   : Microsoft.PowerShell.Core\\FileSystem::C:\\other\r\nAccess : Everyone Allow  Read\r\n";
        assert!(looks_like(text));
        let dump = parse(text, "anything.txt");
        assert_eq!(dump.errors, vec![]);
        assert_eq!(dump.objects.len(), 2);
        assert!(
            dump.objects[0].0.starts_with(r"C:\ProgramData")
                && dump.objects[0].0.ends_with("_6a4b")
        );
        let rules = &dump.objects[0].1;
        assert_eq!(rules.len(), 3);
        assert_eq!(
            (
                rules[2].identity.as_str(),
                rules[2].access.as_str(),
                rules[2].rights.as_str()
            ),
            (r"NT AUTHORITY\NETWORK SERVICE", "Deny", "Read, Synchronize")
        );
        assert_eq!(&*dump.objects[1].1[0].path, r"C:\other");
    }

    #[test]
    fn damaged_dumps_keep_what_they_can() {
        // Cut inside a rule, a line of noise, a rule with no identity.
        let text = format!(
            "\r\n{}garbage here\r\n\r\nFileSystemRights  : Read\r\nAccessControlType : Allow\r\n\r\nFileSystemRights  : Read\r\nAccessControlType : Al",
            rule("FullControl", "Allow", "Everyone", false)
        );
        let dump = parse(&text, "ACL-MachineKeys.txt");
        let kept: Vec<&str> = dump
            .objects
            .iter()
            .flat_map(|o| o.1.iter().map(|r| r.identity.as_str()))
            .collect();
        assert_eq!(kept, vec!["Everyone"]);
        assert_eq!(dump.errors.len(), 3, "{:?}", dump.errors);
        assert!(!looks_like("just some text\r\nwith lines"));
    }
}
