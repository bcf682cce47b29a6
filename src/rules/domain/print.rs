//! A domain printed back as `domain { ... }` text: canonical, so that parsing the printed text
//! gives the same declarations (the built-in pack's round-trip test checks it).

use std::fmt;

use super::{Domain, ServerRole, join};

fn quote(s: &str) -> String {
    crate::rules::ast::Literal::Str(s.to_string()).to_string()
}

fn quoted_list(items: &[String]) -> String {
    match items {
        [one] => quote(one),
        _ => format!(
            "({})",
            items
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn number_list(items: &[u64]) -> String {
    match items {
        [one] => one.to_string(),
        _ => format!("({})", join(items, ", ")),
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "domain {{")?;
        for s in &self.sources {
            write!(f, "    source {} {}", s.side.as_str(), quote(&s.provider))?;
            if let Some(l) = &s.label {
                write!(f, " as {}", quote(l))?;
            }
            writeln!(f)?;
        }
        let (s, d) = (&self.start, &self.disconnect);
        writeln!(f, "    client start {} data.{}", s.id, s.data)?;
        writeln!(f, "    client transport {}", self.transport)?;
        writeln!(f, "    client logon {}", self.logon)?;
        writeln!(f, "    client disconnect {} data.{}", d.id, d.data)?;
        if !self.milestones.is_empty() {
            let m: Vec<u64> = self.milestones.iter().map(|&m| u64::from(m)).collect();
            writeln!(f, "    client milestone {}", number_list(&m))?;
        }
        for d in &self.server_events {
            let ids: Vec<u64> = d.ids.iter().map(|&i| u64::from(i)).collect();
            match d.role {
                ServerRole::Accept => write!(f, "    accept {} {}", quote(&d.source), ids[0])?,
                r => write!(
                    f,
                    "    server {} {} {}",
                    r.as_str(),
                    quote(&d.source),
                    number_list(&ids)
                )?,
            }
            for (name, field) in d.fields() {
                if !field.is_empty() {
                    write!(f, " {name} data.{field}")?;
                }
            }
            writeln!(f)?;
        }
        for (code, meaning) in &self.codes.reasons {
            writeln!(f, "    server reason {code} {}", quote(meaning))?;
        }
        for (code, meaning) in &self.codes.errors {
            if *code > 0xFFFF {
                writeln!(f, "    error 0x{code:08X} {}", quote(meaning))?;
            } else {
                writeln!(f, "    error {code} {}", quote(meaning))?;
            }
        }
        writeln!(f, "    process {}", quoted_list(&self.processes))?;
        writeln!(f, "    port rdp {}", number_list(&self.rdp_ports))?;
        if !self.gateway_ports.is_empty() {
            writeln!(f, "    port gateway {}", number_list(&self.gateway_ports))?;
        }
        writeln!(f, "    procmon connect {}", quote(&self.procmon_connect))?;
        writeln!(
            f,
            "    procmon disconnect {}",
            quote(&self.procmon_disconnect)
        )?;
        if !self.procmon_accept.is_empty() {
            writeln!(f, "    procmon accept {}", quote(&self.procmon_accept))?;
        }
        for (which, g) in [
            ("connect", &self.gateway_connect),
            ("disconnect", &self.gateway_disconnect),
        ] {
            if g.id != 0 {
                writeln!(f, "    gateway {which} {} data.{}", g.id, g.data)?;
            }
        }
        for (which, field) in [
            ("resource", &self.gateway_resource),
            ("user", &self.gateway_user),
            ("duration", &self.gateway_duration),
        ] {
            if !field.is_empty() {
                writeln!(f, "    gateway {which} data.{field}")?;
            }
        }
        for p in &self.peers {
            let ids: Vec<u64> = p.ids.iter().map(|&i| u64::from(i)).collect();
            write!(f, "    peer {} {}", quote(&p.provider), number_list(&ids))?;
            for field in &p.fields {
                write!(f, " data.{field}")?;
            }
            writeln!(f)?;
        }
        for o in &self.occurred {
            let ids: Vec<u64> = o.ids.iter().map(|&i| u64::from(i)).collect();
            writeln!(
                f,
                "    occurred {} {} data.{} systemtime {}",
                quote(&o.provider),
                number_list(&ids),
                o.field,
                o.index
            )?;
        }
        if !self.config_keys.is_empty() {
            writeln!(f, "    config key {}", quoted_list(&self.config_keys))?;
        }
        if !self.config_acls.is_empty() {
            writeln!(f, "    config acl {}", quoted_list(&self.config_acls))?;
        }
        if let Some(l) = &self.config_listener {
            writeln!(
                f,
                "    config listener {} service {}",
                quote(&l.process),
                quote(&l.service)
            )?;
        }
        for a in &self.advice {
            writeln!(
                f,
                "    advice {} {} step {}",
                a.kind.as_str(),
                quote(&a.missing),
                quote(&a.step)
            )?;
        }
        write!(f, "}}")
    }
}
