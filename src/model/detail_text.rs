//! A Detail written as Process Monitor shows it, `Key: value` pairs with `, ` between them,
//! together with where each pair lies in it: what the PML reader's detail decoders write.
//!
//! The PML reader used to gather pairs into [`Fields`](super::Fields) and then write them out
//! again as the row's Detail, one small copy per name, value and separator. Written here once
//! in their final form, they reach the row in one copy ([`RowText::set_written`]).
//!
//! [`RowText::set_written`]: super::RowText::set_written

use crate::ingest::detail::split_key;

/// `Key: value, Key: value`, with each pair's spans.
#[derive(Debug, Clone, Default)]
pub struct DetailText {
    text: String,
    /// Per pair: name start, name end, value start, value end (in `text`).
    spans: Vec<[usize; 4]>,
    /// Whether every name so far reads as a Procmon key ([`reads_as_key`]).
    keys_read: bool,
}

impl DetailText {
    pub fn push(&mut self, name: &str, value: &str) {
        if self.spans.is_empty() {
            self.keys_read = true;
        } else {
            self.text.push_str(", ");
        }
        self.keys_read &= reads_as_key(name);
        let start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        self.text.push_str(": ");
        let value_start = self.text.len();
        self.text.push_str(value);
        self.spans
            .push([start, name_end, value_start, self.text.len()]);
    }

    /// Put `name: value` in place of the pair at `index` (after the last one when `index` is
    /// the count; nothing when it is beyond).
    pub fn set(&mut self, index: usize, name: &str, value: &str) {
        if index > self.len() {
            return;
        }
        let old = std::mem::take(self);
        for (i, (k, v)) in old.iter().enumerate() {
            if i == index {
                self.push(name, value);
            } else {
                self.push(k, v);
            }
        }
        if index == old.len() {
            self.push(name, value);
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The Detail as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Each pair's name start, name end, value start and value end in [`as_str`](Self::as_str).
    pub fn spans(&self) -> &[[usize; 4]] {
        &self.spans
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spans
            .iter()
            .map(|&[ns, ne, vs, ve]| (&self.text[ns..ne], &self.text[vs..ve]))
    }

    /// The value of the first pair named `name` (ignoring ASCII case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Nothing held, the room kept.
    pub fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.spans.capacity() * std::mem::size_of::<[usize; 4]>()
    }

    /// Whether [`parse_detail`](crate::ingest::detail::parse_detail) of the text gives these
    /// pairs back, so that they can be used as they are instead of the text being split again.
    ///
    /// That parser trims the text, splits it at every `, `, and starts a pair at each segment
    /// that splits as `Key: value`, gluing any other segment (with its `, `) to the value
    /// before. The pairs come back (exactly then: a test holds the two together) when nothing
    /// but an empty last value's space is trimmed away, every name reads as a Procmon key (so
    /// each pair's first segment splits at its own colon), and every segment that starts
    /// inside a value (after a `, ` the value holds, as in `Options: Synchronous IO
    /// Non-Alert, Non-Directory File`) does not split as a key. The names are checked as they
    /// are written; the text in one pass over its `, `.
    pub fn reads_back(&self) -> bool {
        let n = self.spans.len();
        if n == 0 {
            return true;
        }
        // Only the space after the last name's colon may be trimmed away (its value empty:
        // `Name:` still splits as the name and an empty value).
        let last_empty = self.spans.last().is_some_and(|s| s[2] == s[3]);
        let trimmed = self.text.len() - self.text.trim_end().len();
        if !self.keys_read || (trimmed > 0 && !last_empty) {
            return false;
        }
        let b = self.text.as_bytes();
        // The next pair, whose `, ` comes next unless a value holds one first.
        let mut next = 1;
        // Where a segment inside a value starts, until the `, ` that ends it is found.
        let mut inside: Option<usize> = None;
        for at in memchr::memchr_iter(b',', b).filter(|&i| b.get(i + 1) == Some(&b' ')) {
            if let Some(start) = inside.take()
                && split_key(&self.text[start..at]).is_some()
            {
                return false;
            }
            if self.spans.get(next).is_some_and(|s| s[0] == at + 2) {
                next += 1;
            } else {
                inside = Some(at + 2);
            }
        }
        if let Some(start) = inside
            && split_key(&self.text[start..]).is_some()
        {
            return false;
        }
        // Every pair's `, ` was one of those found (always, as they are written).
        next == n
    }
}

/// Whether `k:` splits as the key `k`, as [`split_key`](crate::ingest::detail::split_key)
/// splits it (a test holds the two together): the same rules, without a search for the colon
/// (which a key cannot hold) nor decoding characters. A key starts with a letter, so a text of
/// pairs has nothing to trim at its start.
fn reads_as_key(k: &str) -> bool {
    let b = k.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(&last)) => {
            b.len() <= 40
                && first.is_ascii_alphabetic()
                && last != b' '
                && b.iter().all(|&c| KEY_BYTES[usize::from(c)])
        }
        _ => false,
    }
}

/// The bytes a key may hold: ASCII letters and digits, space and `_-/.()#`.
const KEY_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(b, b' ' | b'_' | b'-' | b'/' | b'.' | b'(' | b')' | b'#');
        c += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::detail::parse_detail;
    use crate::model::Fields;

    fn written(p: &[(&str, &str)]) -> DetailText {
        let mut d = DetailText::default();
        for (k, v) in p {
            d.push(k, v);
        }
        d
    }

    fn fields(d: &DetailText) -> Fields {
        d.iter().collect()
    }

    #[test]
    fn pairs_are_written_as_the_detail_column_shows_them() {
        let mut d = written(&[("Desired Access", "Read"), ("Disposition", "Open")]);
        assert_eq!(d.as_str(), "Desired Access: Read, Disposition: Open");
        assert_eq!(
            d.iter().collect::<Vec<_>>(),
            [("Desired Access", "Read"), ("Disposition", "Open")]
        );
        assert_eq!(d.get("disposition"), Some("Open"));
        d.set(0, "Class", "Basic");
        assert_eq!(d.as_str(), "Class: Basic, Disposition: Open");
        d.set(2, "Third", "");
        assert_eq!(d.as_str(), "Class: Basic, Disposition: Open, Third: ");
        d.set(7, "Beyond", "x");
        assert_eq!(d.len(), 3);
        d.set(2, "1st", "x");
        assert!(!d.reads_back(), "a name set in place is checked too");
        d.clear();
        assert!(d.is_empty() && d.as_str().is_empty() && d.reads_back());
        d.push("A", "1");
        assert!(d.reads_back(), "a cleared text checks its names afresh");
    }

    #[test]
    fn keys_are_recognised_as_the_csv_detail_parser_recognises_them() {
        let names = [
            "Desired Access",
            "1",
            "1st",
            "",
            "A",
            "Key ",
            " Key",
            "I/O Flags",
            "a_b-c.d(e)#f",
            "C:\\x",
            "x:y",
            "Caf\u{e9}",
            "Tab\tKey",
            "a,b",
            "0123456789012345678901234567890123456789",
            "a123456789012345678901234567890123456789",
            "a1234567890123456789012345678901234567890",
        ];
        for k in names {
            let name = format!("{k}:");
            assert_eq!(reads_as_key(k), split_key(&name) == Some((k, "")), "{k:?}");
        }
    }

    #[test]
    fn pairs_are_used_as_they_are_only_when_parsing_gives_them_back() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("Desired Access", "Generic Read"), ("Disposition", "Open")],
            &[("Length", "0"), ("mss", "1460")],
            &[("Thread ID", "7764")],
            // Empty values, and a value that is a path with a colon.
            &[("Type", ""), ("Name", r"C:\x: y")],
            // A value holding the segment separator, glued back to it by the parser...
            &[("Options", "Synchronous IO Non-Alert, Non-Directory File")],
            &[("A", "x,"), ("B", "y")],
            &[("A", "x, "), ("B", "y")],
            &[("A", ","), ("B", ", ")],
            &[("A", "x"), ("B", "y,")],
            &[("A", " , x")],
            &[("A", "C:, D:\\x, e:")],
            // ... but not when what follows it splits as a key.
            &[("Data", "a, B: c")],
            &[("Data", "a, B:")],
            &[("A", "x, B: y, z"), ("C", "1")],
            // A key that is not one, trailing space (Unicode too), an empty last value.
            &[("1st", "x")],
            &[("Key", "x ")],
            &[("Key", "x\u{3000}")],
            &[("A", "1"), ("B", "")],
            &[("", "x")],
            &[("A", "1"), ("", "x")],
        ];
        for case in cases {
            let d = written(case);
            let parsed = parse_detail(d.as_str());
            assert_eq!(d.reads_back(), fields(&d) == parsed, "{:?}", d.as_str());
        }
        assert!(written(cases[1]).reads_back());
        assert!(written(cases[5]).reads_back(), "glued back: the same pairs");
        assert!(!written(&[("Data", "a, B: c")]).reads_back());
        assert!(!written(&[("1st", "x")]).reads_back());
        assert!(!written(&[("A", "1"), ("", "x")]).reads_back());
    }

    /// Pairs made of the pieces that matter to the parser (`,`, `, `, `:`, spaces, key-like
    /// and non-key names, non-ASCII): they read back exactly when parsing their text gives
    /// them back.
    #[test]
    fn read_back_is_exactly_when_parsing_gives_the_pairs_back() {
        const NAMES: [&str; 7] = ["A", "Key", "Desired Access", "1st", "", "K ", "x:y"];
        const PIECES: [&str; 12] = [
            ",", ", ", ":", ": ", " ", "x", "K: ", "K:", "C:\\", "\u{e9}", "1st: ", "\u{3000}",
        ];
        let mut random = crate::rules::testutil::xorshift(0x2545_f491_4f6c_dd1d);
        let mut next = |n: usize| random(n as u64) as usize;
        let (mut glued, mut split) = (0, 0);
        for _ in 0..100_000 {
            let mut d = DetailText::default();
            for _ in 0..1 + next(3) {
                let value: String = (0..next(4)).map(|_| PIECES[next(PIECES.len())]).collect();
                d.push(NAMES[next(NAMES.len())], &value);
            }
            let same = fields(&d) == parse_detail(d.as_str());
            assert_eq!(d.reads_back(), same, "{:?}", d.as_str());
            let holds_separator = d.iter().any(|(_, v)| v.contains(", "));
            glued += usize::from(same && holds_separator);
            split += usize::from(!same && holds_separator);
        }
        // Both kinds of value holding `, ` were met.
        assert!(glued > 1000 && split > 1000, "{glued} {split}");
    }
}
