//! A Process Monitor row's own text: its Path, its Detail as written, and the Detail's
//! `Key: value` pairs: inside the row when Path and Detail fit in [`INLINE_TEXT`] bytes, else
//! in one allocation.
//!
//! Every pair of a Detail is a piece of the Detail text (a value holding `, ` runs on to the
//! end of its last piece), so the pairs are kept as spans of that text, not as a copy of it.
//! The spans of the common small Detail (up to [`INLINE`] pairs, 64 KiB of text) are held
//! inline, four bytes a pair; a larger one's on the heap. A kept row used to hold five
//! allocations (its box, Path, Detail, the pairs' text and their spans), each freed by the
//! thread the row is handed to; it held two (docs/pml.md, "Session 11"), and now holds one,
//! its box, when its text fits in the box ("Session 12").
//!
//! The pairs are split as a CSV export's Detail column is split
//! ([`split_detail`](crate::ingest::detail::split_detail)), whichever reader wrote them.

use std::ops::Range;

use arrayvec::ArrayString;

use super::{DetailText, NetPath};

/// The most pairs whose spans are held inline (a CreateFile's Detail has seven).
const INLINE: usize = 8;

/// The most bytes of Path and Detail held in the row itself, with no allocation of their own
/// (docs/pml.md, "Session 12": four rows in five of a capture fit).
const INLINE_TEXT: usize = 128;

/// Path, Detail and the Detail's pairs.
#[derive(Clone, Default)]
pub struct RowText {
    /// The Path, then the Detail.
    text: Text,
    /// Where the Path ends and the Detail starts.
    path_end: u32,
    spans: Spans,
    /// For a network event: where the Path's hosts lie, and its ports.
    net: Option<NetSpans>,
}

/// Text held in place when it fits in [`INLINE_TEXT`] bytes, else on the heap.
///
/// A kept row is one allocation when its text fits (its box), two otherwise: the thread that
/// frees a kept row pays glibc's `free` once per allocation (docs/pml.md, "Session 12"). A
/// refilled row reuses its heap room for long text and frees it for short text, so a row never
/// holds both rooms (the spare rows waiting to be refilled would otherwise gather heap room).
#[derive(Clone)]
enum Text {
    Inline(ArrayString<INLINE_TEXT>),
    Heap(String),
}

impl Default for Text {
    fn default() -> Text {
        Text::Inline(ArrayString::new())
    }
}

impl Text {
    #[inline]
    fn as_str(&self) -> &str {
        match self {
            Text::Inline(s) => s,
            Text::Heap(s) => s,
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.as_str().len()
    }

    /// Nothing held, room for `total` bytes: in place when they fit (heap room held before is
    /// freed), else on the heap.
    fn start(&mut self, total: usize) {
        match self {
            Text::Inline(s) if total <= INLINE_TEXT => s.clear(),
            Text::Heap(s) if total > INLINE_TEXT => {
                s.clear();
                s.reserve_exact(total);
            }
            Text::Heap(_) => *self = Text::default(),
            Text::Inline(_) => *self = Text::Heap(String::with_capacity(total)),
        }
    }

    #[inline]
    fn push_str(&mut self, part: &str) {
        let full = match self {
            Text::Inline(s) => s.try_push_str(part).is_err(),
            Text::Heap(s) => {
                s.push_str(part);
                false
            }
        };
        if full {
            self.spill(part);
        }
    }

    /// Move the text to the heap, `part` after it (more than [`start`](Text::start) said).
    #[cold]
    fn spill(&mut self, part: &str) {
        let mut s = String::with_capacity(self.len() + part.len());
        s.push_str(self.as_str());
        s.push_str(part);
        *self = Text::Heap(s);
    }

    fn clear(&mut self) {
        match self {
            Text::Inline(s) => s.clear(),
            Text::Heap(s) => s.clear(),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Text::Inline(_) => 0,
            Text::Heap(s) => s.capacity(),
        }
    }
}

/// A network Path (`local:port -> remote:port`) as spans of the Path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NetSpans {
    local_host: [u32; 2],
    remote_host: [u32; 2],
    local_port: Option<u16>,
    remote_port: Option<u16>,
}

/// Where each pair's name and value lie in the text.
#[derive(Clone)]
enum Spans {
    Inline(Packed),
    /// Name start, name end, value start, value end.
    Heap(Vec<[u32; 4]>),
}

impl Default for Spans {
    fn default() -> Spans {
        Spans::Inline(Packed::default())
    }
}

/// Up to [`INLINE`] spans of a text under 64 KiB where each pair's name starts two bytes (the
/// `, ` between pairs) after the value before it ends, as in every Detail.
#[derive(Clone, Copy, Default)]
struct Packed {
    /// Where the first name starts.
    first: u16,
    len: u8,
    pairs: [PackedPair; INLINE],
}

#[derive(Clone, Copy, Default)]
struct PackedPair {
    value_end: u16,
    name_len: u8,
    /// From the name's end to the value's start (`: `, `:` or nothing).
    gap: u8,
}

impl Packed {
    fn get(&self, i: usize) -> [usize; 4] {
        let p = self.pairs[i];
        let start = match i.checked_sub(1) {
            Some(prev) => usize::from(self.pairs[prev].value_end) + 2,
            None => usize::from(self.first),
        };
        let name_end = start + usize::from(p.name_len);
        [
            start,
            name_end,
            name_end + usize::from(p.gap),
            usize::from(p.value_end),
        ]
    }

    /// Hold `span` after the others; false (nothing held) when it does not fit.
    fn push(&mut self, [ns, ne, vs, ve]: [usize; 4]) -> bool {
        let len = usize::from(self.len);
        let start_fits = match len.checked_sub(1) {
            Some(prev) => usize::from(self.pairs[prev].value_end) + 2 == ns,
            None => u16::try_from(ns).is_ok(),
        };
        let (Ok(value_end), Ok(name_len), Ok(gap)) = (
            u16::try_from(ve),
            u8::try_from(ne - ns),
            u8::try_from(vs - ne),
        ) else {
            return false;
        };
        if len == INLINE || !start_fits {
            return false;
        }
        if len == 0 {
            self.first = ns as u16;
        }
        self.pairs[len] = PackedPair {
            value_end,
            name_len,
            gap,
        };
        self.len += 1;
        true
    }
}

impl Spans {
    fn len(&self) -> usize {
        match self {
            Spans::Inline(p) => usize::from(p.len),
            Spans::Heap(v) => v.len(),
        }
    }

    fn get(&self, i: usize) -> Option<[usize; 4]> {
        match self {
            Spans::Inline(p) => (i < usize::from(p.len)).then(|| p.get(i)),
            Spans::Heap(v) => v.get(i).map(|s| s.map(|x| x as usize)),
        }
    }

    fn clear(&mut self) {
        match self {
            Spans::Inline(p) => p.len = 0,
            Spans::Heap(v) => v.clear(),
        }
    }

    fn push(&mut self, span: [usize; 4]) {
        if let Spans::Inline(p) = self {
            if p.push(span) {
                return;
            }
            let spilled: Vec<[u32; 4]> = (0..usize::from(p.len))
                .map(|i| p.get(i).map(|x| x as u32))
                .collect();
            *self = Spans::Heap(spilled);
        }
        if let Spans::Heap(v) = self {
            // The text is at most `u32::MAX` bytes (checked where it is written).
            v.push(span.map(|x| x as u32));
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Spans::Inline(_) => 0,
            Spans::Heap(v) => v.capacity() * std::mem::size_of::<[u32; 4]>(),
        }
    }
}

impl RowText {
    /// A row's Path and Detail, the Detail split into pairs.
    pub fn new(path: &str, detail: &str) -> RowText {
        let mut t = RowText::default();
        t.set(path, detail);
        t
    }

    pub fn path(&self) -> &str {
        &self.text.as_str()[..self.path_end as usize]
    }

    /// The Detail as written.
    pub fn detail_raw(&self) -> &str {
        &self.text.as_str()[self.path_end as usize..]
    }

    /// For a network event whose Path reads as `local:port -> remote:port`: its parts.
    pub fn network(&self) -> Option<NetPath<'_>> {
        let n = self.net?;
        let text = self.text.as_str();
        let part = |[a, b]: [u32; 2]| &text[a as usize..b as usize];
        Some(NetPath {
            local_host: part(n.local_host),
            local_port: n.local_port,
            remote_host: part(n.remote_host),
            remote_port: n.remote_port,
        })
    }

    /// Read the Path as a network path (`local:port -> remote:port`) when `network` is true (a
    /// TCP or UDP event), else hold none.
    pub fn set_network(&mut self, network: bool) {
        self.net = None;
        if !network {
            return;
        }
        let path = self.path();
        let Some(n) = crate::ingest::detail::parse_net_path(path) else {
            return;
        };
        // The hosts are pieces of the Path (at most `u32::MAX` bytes, as the whole text is).
        let at = |s: &str| {
            let start = (s.as_ptr() as usize - path.as_ptr() as usize) as u32;
            [start, start + s.len() as u32]
        };
        self.net = Some(NetSpans {
            local_host: at(n.local_host),
            remote_host: at(n.remote_host),
            local_port: n.local_port,
            remote_port: n.remote_port,
        });
    }

    /// A network event's Path and Detail ([`new`](RowText::new), then
    /// [`set_network`](RowText::set_network)).
    pub fn with_network(path: &str, detail: &str) -> RowText {
        let mut t = RowText::new(path, detail);
        t.set_network(true);
        t
    }

    /// The Detail's `Key: value` pairs.
    pub fn detail(&self) -> Pairs<'_> {
        Pairs {
            text: self.text.as_str(),
            spans: &self.spans,
        }
    }

    /// Hold `path` and `detail` (the room already held is reused).
    pub fn set(&mut self, path: &str, detail: &str) {
        if self.set_text(path, detail) {
            self.split_detail();
        }
    }

    /// Hold `path` and `detail`, no pairs (the room already held is reused); false (nothing
    /// held) when spans could not address the text.
    fn set_text(&mut self, path: &str, detail: &str) -> bool {
        self.text.clear();
        self.spans.clear();
        self.net = None;
        let total = path.len() + detail.len();
        self.path_end = 0;
        if u32::try_from(total).is_err() {
            // Far beyond every reader's limits (a PML detail is at most 1 MiB, a CSV row is
            // bounded): text spans cannot address is not held.
            return false;
        }
        self.text.start(total);
        self.text.push_str(path);
        self.path_end = path.len() as u32;
        self.text.push_str(detail);
        true
    }

    /// Hold `path` in place of the Path, the Detail kept (and read as a network path if the
    /// one before was).
    pub fn set_path(&mut self, path: &str) {
        let detail = self.detail_raw().to_string();
        let network = self.net.is_some();
        self.set(path, &detail);
        self.set_network(network);
    }

    /// Hold `detail` in place of the Detail, the Path kept (with its network parts).
    pub fn set_detail(&mut self, detail: &str) {
        let path = self.path().to_string();
        let network = self.net.is_some();
        self.set(&path, detail);
        self.set_network(network);
    }

    /// Hold `path` and `detail`, a Detail already written as `Key: value` pairs: its pairs are
    /// the spans it was written with when splitting it as a CSV's Detail gives them back
    /// ([`DetailText::reads_back`]), else it is split as [`set`](RowText::set) splits it.
    pub fn set_written(&mut self, path: &str, detail: &DetailText) {
        if !self.set_text(path, detail.as_str()) {
            return;
        }
        if detail.reads_back() {
            let base = path.len();
            for &[ns, ne, vs, ve] in detail.spans() {
                self.spans
                    .push([base + ns, base + ne, base + vs, base + ve]);
            }
        } else {
            self.split_detail();
        }
    }

    /// Split the Detail into pairs.
    fn split_detail(&mut self) {
        let base = self.path_end as usize;
        let (text, spans) = (&self.text.as_str()[base..], &mut self.spans);
        crate::ingest::detail::split_detail(text, |k: Range<usize>, v: Range<usize>| {
            spans.push([base + k.start, base + k.end, base + v.start, base + v.end]);
        });
    }

    /// Nothing held, the room kept.
    pub fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
        self.path_end = 0;
        self.net = None;
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.text.heap_bytes() + self.spans.heap_bytes()
    }
}

/// Equal when Path, Detail and pairs are.
impl PartialEq for RowText {
    fn eq(&self, other: &RowText) -> bool {
        self.path() == other.path()
            && self.detail_raw() == other.detail_raw()
            && self.detail() == other.detail()
            && self.network() == other.network()
    }
}

impl std::fmt::Debug for RowText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowText")
            .field("path", &self.path())
            .field("detail_raw", &self.detail_raw())
            .field("detail", &self.detail())
            .field("network", &self.network())
            .finish()
    }
}

/// A row's Detail pairs, in order, looked up without regard to case (as
/// [`Fields`](super::Fields) are).
#[derive(Clone, Copy)]
pub struct Pairs<'a> {
    text: &'a str,
    spans: &'a Spans,
}

impl<'a> Pairs<'a> {
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The pair at `index`.
    pub fn at(&self, index: usize) -> Option<(&'a str, &'a str)> {
        let [ns, ne, vs, ve] = self.spans.get(index)?;
        Some((&self.text[ns..ne], &self.text[vs..ve]))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + Clone + use<'a> {
        let me = *self;
        (0..self.len()).filter_map(move |i| me.at(i))
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for Pairs<'_> {
    fn eq(&self, other: &Pairs<'_>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl PartialEq<super::Fields> for Pairs<'_> {
    fn eq(&self, other: &super::Fields) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for Pairs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::detail::{parse_detail, parse_net_path};
    use crate::model::Fields;

    fn written(pairs: &Fields) -> DetailText {
        let mut d = DetailText::default();
        for (k, v) in pairs.iter() {
            d.push(k, v);
        }
        d
    }

    #[test]
    fn path_detail_and_pairs_read_back_as_given_and_as_a_csv_detail_splits() {
        let details = [
            "",
            "n/a",
            "Key:",
            "A:, B: x",
            "  Desired Access: Generic Write, Read Attributes, Disposition: OverwriteIf  ",
            "Offset: 0, Length: 13,385,728, Priority: Normal",
            "Type: REG_SZ, Length: 12, Data: a, B: c, 1st: d",
        ];
        for path in ["", r"C:\Windows\x.dll", "a:1 -> b:ms-wbt-server"] {
            for d in details {
                let t = RowText::new(path, d);
                assert_eq!((t.path(), t.detail_raw()), (path, d));
                assert_eq!(t.detail(), parse_detail(d), "{d:?}");
                assert_eq!(t.detail().len(), parse_detail(d).len());
            }
        }
        let t = RowText::new("p", "Desired Access: Read, Disposition: Open");
        assert_eq!(t.detail().get("DISPOSITION"), Some("Open"));
        assert_eq!(t.detail().get("Missing"), None);
        assert_eq!(t.detail().at(2), None);
    }

    #[test]
    fn every_short_detail_splits_as_the_csv_parser_splits_it_after_any_path() {
        // Every string of up to six characters from the ones the Detail grammar turns on.
        let alphabet = [',', ' ', ':', 'K', '1', '\u{e9}'];
        let mut details = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..6 {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            details.extend(last.iter().cloned());
        }
        // A path long enough that no span fits inline.
        let long = "p".repeat(70_000);
        let mut t = RowText::default();
        for (i, d) in details.iter().enumerate() {
            let path = [r"C:\x", "", "a:1 -> b:ms-wbt-server", long.as_str()][i % 4];
            t.set(path, d);
            assert_eq!((t.path(), t.detail_raw()), (path, d.as_str()));
            assert_eq!(t.detail(), parse_detail(d), "{d:?}");
            t.set_network(true);
            assert_eq!(t.network(), parse_net_path(path));
            // Filled afresh (in place unless long) or refilled (on the heap since the long
            // path): the same row.
            assert_eq!(RowText::with_network(path, d), t);
        }
    }

    #[test]
    fn many_pairs_long_names_and_long_text_spill_to_the_heap_unchanged() {
        let many: Vec<String> = (0..20).map(|i| format!("K{i}: {i}")).collect();
        let long_key = format!("{}: v, B: w", "a".repeat(40));
        let long_value = format!("A: {}, B: w", "x".repeat(70_000));
        for d in [many.join(", "), long_key, long_value] {
            let t = RowText::new(r"C:\p", &d);
            assert_eq!(t.detail(), parse_detail(&d));
            let inline = matches!(t.spans, Spans::Inline(_));
            assert_eq!(inline, t.spans.heap_bytes() == 0);
        }
        let t = RowText::new("", &many[..8].join(", "));
        assert!(
            matches!(t.spans, Spans::Inline(_)),
            "eight pairs stay inline"
        );
        let t = RowText::new("", &many[..9].join(", "));
        assert!(matches!(t.spans, Spans::Heap(_)));
        assert_eq!(t.detail().at(8), Some(("K8", "8")));
    }

    #[test]
    fn pairs_rendered_into_the_text_are_used_only_when_they_read_back() {
        let f: Fields = [("Desired Access", "Read"), ("Disposition", "Open")]
            .into_iter()
            .collect();
        let mut t = RowText::default();
        t.set_written("p", &written(&f));
        assert_eq!(t.detail_raw(), "Desired Access: Read, Disposition: Open");
        assert_eq!(t.detail(), f);
        // Not read back: the text is split as a CSV's Detail is.
        let odd: Fields = [("Data", "a, B: c")].into_iter().collect();
        assert!(!written(&odd).reads_back());
        t.set_written("q", &written(&odd));
        assert_eq!((t.path(), t.detail_raw()), ("q", "Data: a, B: c"));
        assert_eq!(t.detail(), parse_detail("Data: a, B: c"));
        assert_eq!(t, RowText::new("q", "Data: a, B: c"));
        t.set_path("other");
        t.set_detail("X: 1");
        assert_eq!(t, RowText::new("other", "X: 1"));
        assert_eq!(t.heap_bytes(), 0, "short text is held in place");
        let long = "p".repeat(INLINE_TEXT);
        t.set_path(&long);
        assert_eq!(t, RowText::new(&long, "X: 1"));
        assert!(t.heap_bytes() >= INLINE_TEXT + 4);
        t.clear();
        assert_eq!(t, RowText::default());
        assert!(t.heap_bytes() > 0, "the room is kept");
        t.set(&long, "Data: 1");
        assert!(
            t.heap_bytes() >= INLINE_TEXT + 7,
            "long text refills the heap room"
        );
        t.set("q", "Data: 1");
        assert_eq!(t.heap_bytes(), 0, "short text is held in place again");
        assert_eq!(t, RowText::new("q", "Data: 1"));
    }

    #[test]
    fn text_up_to_the_inline_room_costs_no_allocation_and_longer_text_reads_the_same() {
        // Multi-byte characters on every side of the limit, written whole or pair by pair.
        let (mut tried, mut read_back) = (0, 0);
        for len in INLINE_TEXT - 4..INLINE_TEXT + 4 {
            for tail in ["", "\u{e9}", "\u{20ac}", "\u{1f600}"] {
                let path = format!("{}{tail}", "a".repeat(len - tail.len().min(len)));
                let detail = format!("K: {tail}x, L: y");
                for split in 0..=path.len() {
                    if !path.is_char_boundary(split) {
                        continue;
                    }
                    let (p, rest) = path.split_at(split);
                    let d = format!("{rest}{detail}");
                    let t = RowText::new(p, &d);
                    assert_eq!((t.path(), t.detail_raw()), (p, d.as_str()));
                    assert_eq!(t.detail(), parse_detail(&d));
                    let fits = p.len() + d.len() <= INLINE_TEXT;
                    assert_eq!(t.heap_bytes() == 0, fits, "{} bytes", p.len() + d.len());
                    let pairs = parse_detail(&d);
                    let mut r = RowText::default();
                    let w = written(&pairs);
                    r.set_written(p, &w);
                    let rendered: Vec<String> =
                        pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    assert_eq!(r.detail_raw(), rendered.join(", "));
                    assert_eq!(r.path(), p);
                    // The written spans when they read back, else the text split: the same.
                    assert_eq!(r.detail(), parse_detail(r.detail_raw()));
                    if w.reads_back() {
                        assert_eq!(r.detail(), pairs);
                        read_back += 1;
                    }
                    tried += 1;
                }
            }
        }
        // Both ways were taken: a key too long to read as one leaves a pair with no name.
        assert!(read_back > 0 && read_back < tried, "{read_back} of {tried}");
    }

    #[test]
    fn a_network_path_is_read_in_place_and_follows_the_path() {
        let path = "DESKTOP-1:60791 -> rdp.contoso.com:ms-wbt-server";
        let mut t = RowText::with_network(path, "Length: 0");
        assert_eq!(t.network(), parse_net_path(path));
        let n = t.network().unwrap();
        assert_eq!(
            (n.local_host, n.remote_host),
            ("DESKTOP-1", "rdp.contoso.com")
        );
        assert_eq!((n.local_port, n.remote_port), (Some(60791), Some(3389)));
        t.set_detail("Length: 5");
        assert_eq!(t.network(), parse_net_path(path));
        t.set_path("fe80::1:50000 -> fe80::2:https");
        assert_eq!(t.network().map(|n| n.remote_host), Some("fe80::2"));
        assert_ne!(
            t,
            RowText::new(t.path(), t.detail_raw()),
            "one has no network parts"
        );
        t.set_network(false);
        assert_eq!(t.network(), None);
        t.set_network(true);
        assert!(t.network().is_some());
        t.set(r"C:\x", "");
        assert_eq!(t.network(), None);
        assert_eq!(RowText::with_network(r"C:\x", "").network(), None);
    }
}
