//! `--from` / `--to`: the events outside the window left out of the analysis, after the
//! connections (the client's and the server's sides) were grouped over all of them.

use super::connection::Connection;
use super::server_side::ServerConnection;
use crate::model::Event;

/// Keep the events `within` holds, in order, and renumber what the connections point at:
/// a client connection whose disconnect is left out is left out with it (its 0x904 is not
/// in the window), one still open is kept; a server connection keeps the events of it that
/// are left (none: it is left out), and what it was grouped from (its user, its times).
pub(super) fn keep(
    events: &mut Vec<Event>,
    within: &(dyn Fn(&Event) -> bool + Sync),
    conns: Vec<Connection>,
    servers: Vec<ServerConnection>,
) -> (Vec<Connection>, Vec<ServerConnection>) {
    let mut next = 0usize;
    let renumbered: Vec<Option<usize>> = events
        .iter()
        .map(|e| {
            within(e).then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    if next == events.len() {
        return (conns, servers);
    }
    let mut kept = renumbered.iter();
    events.retain(|_| kept.next().copied().flatten().is_some());
    let now = |i: usize| renumbered.get(i).copied().flatten();
    let conns = conns
        .into_iter()
        .filter_map(|mut c| {
            if let Some((i, t)) = c.end {
                c.end = Some((now(i)?, t));
            }
            Some(c)
        })
        .collect();
    let servers = servers
        .into_iter()
        .filter_map(|mut s| {
            s.events = s.events.iter().filter_map(|&i| now(i)).collect();
            (!s.events.is_empty()).then_some(s)
        })
        .collect();
    (conns, servers)
}
