//! What weighs against a cause ([`Against`]), from what ranking decided about its findings and
//! from the inputs left unread: kept apart from the scoring that decides it.

use super::Scored;
use crate::analysis::anchors::Disproof;
use crate::analysis::diagnosis::{Against, CauseScore};
use crate::model::{FileAccount, FileStatus};
use crate::rules::Strength;

/// What weighs against one cause, from what ranking decided about its findings. The causes
/// ranked above it are added by [`super::rank`] once all are sorted, unread inputs by
/// [`weigh_unread`].
pub(super) fn against(
    scored: &[Scored<'_>],
    rules_agreeing: usize,
    sources: &std::collections::BTreeSet<crate::model::Source>,
    healthy: Option<String>,
    anchors_exist: bool,
) -> Vec<Against> {
    let mut out = Vec::new();
    // Counted weaker than the rule says: by distance, because logon came after, or because
    // the session was established.
    let demoted = |why: Option<Disproof>| {
        scored
            .iter()
            .filter(|s| s.effective != s.strength && s.disproved == why)
            .map(|s| s.findings)
            .sum::<u64>()
    };
    let far = demoted(None);
    // With no 0x904 at all, "far from every 0x904" is what `NoAnchor` says.
    if anchors_exist && far > 0 {
        out.push(Against::FarFromAnchor { findings: far });
    }
    type Said = fn(u64) -> Against;
    let disproved: [(Disproof, Said); 5] = [
        (Disproof::BeforeLogon, |findings| Against::BeforeLogon {
            findings,
        }),
        (Disproof::InSession, |findings| Against::InSession {
            findings,
        }),
        (Disproof::Repaired, |findings| Against::Repaired {
            findings,
        }),
        (Disproof::Later, |findings| Against::Later { findings }),
        (Disproof::LongAfter, |findings| Against::LongAfter {
            findings,
        }),
    ];
    for (why, against) in disproved {
        let n = demoted(Some(why));
        if n > 0 {
            out.push(against(n));
        }
    }
    if !anchors_exist {
        out.push(Against::NoAnchor);
    }
    // One rule: every finding has its strength.
    if let (1, Some(s)) = (rules_agreeing, scored.first())
        && s.strength >= Strength::Weak
    {
        out.push(Against::LoneWeakRule {
            strength: s.strength,
        });
    }
    if !sources.is_empty()
        && sources
            .iter()
            .all(|s| crate::analysis::config::is_configuration(*s))
    {
        out.push(Against::ConfigurationOnly);
    }
    if let Some(setting) = healthy {
        out.push(Against::HealthyConfiguration { setting });
    }
    out
}

/// Inputs not read fully weigh against every cause: evidence in them was not seen.
pub fn weigh_unread(causes: &mut [CauseScore], inputs: &[FileAccount]) {
    let files = inputs
        .iter()
        .filter(|a| matches!(a.status, FileStatus::Partial | FileStatus::Failed))
        .count() as u64;
    if files > 0 {
        for c in causes {
            c.against.push(Against::NotReadFully { files });
        }
    }
}
