//! Text many Procmon rows hold the same: a row's process name, operation and result.
//!
//! A capture names a few processes, a few dozen operations and a few results, row after row.
//! One `String` each cost three allocations per kept row (and three frees on the thread the
//! row is handed to), a third of a PML row's. A [`SharedStr`] is a name from a fixed table (a
//! PML operation or result: no allocation at all) or text shared through an [`Arc`] (a PML
//! process's name, a CSV reader's value repeated from the row before): it reads as a `&str`
//! and compares as one, whichever it is.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Text read as `&str`: a `'static` name, or text shared with other rows.
#[derive(Clone)]
pub struct SharedStr(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl SharedStr {
    /// A name from a fixed table: no allocation.
    pub const fn from_static(text: &'static str) -> SharedStr {
        SharedStr(Repr::Static(text))
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// Whether this holds `text`'s own allocation (not merely the same text).
    pub fn shares(&self, text: &Arc<str>) -> bool {
        matches!(&self.0, Repr::Shared(s) if Arc::ptr_eq(s, text))
    }

    /// Bytes of heap this value may keep alive (shared ones counted whole: an upper bound).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Static(_) => 0,
            Repr::Shared(s) => s.len(),
        }
    }
}

/// How many values of a column [`Recent`] remembers.
const RECENT: usize = 8;

/// The last few distinct values read for one column (a CSV's process names, operations or
/// results, which repeat row after row but interleave: a few processes take turns), which a
/// new row shares when its text is one of them.
#[derive(Default)]
pub struct Recent {
    values: [SharedStr; RECENT],
    /// The one replaced next.
    next: usize,
}

impl Recent {
    /// `text`, sharing a remembered value's allocation when it is the same text, else a new
    /// one, remembered in place of the oldest.
    pub fn share(&mut self, text: &str) -> SharedStr {
        if let Some(v) = self.values.iter().find(|v| v.as_str() == text) {
            return v.clone();
        }
        let v = SharedStr::from(text);
        self.values[self.next] = v.clone();
        self.next = (self.next + 1) % RECENT;
        v
    }
}

impl Default for SharedStr {
    fn default() -> SharedStr {
        SharedStr::from_static("")
    }
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SharedStr {
    fn from(text: &str) -> SharedStr {
        if text.is_empty() {
            return SharedStr::default();
        }
        SharedStr(Repr::Shared(Arc::from(text)))
    }
}

impl From<String> for SharedStr {
    fn from(text: String) -> SharedStr {
        SharedStr::from(text.as_str())
    }
}

impl From<Arc<str>> for SharedStr {
    fn from(text: Arc<str>) -> SharedStr {
        SharedStr(Repr::Shared(text))
    }
}

impl From<std::borrow::Cow<'static, str>> for SharedStr {
    fn from(text: std::borrow::Cow<'static, str>) -> SharedStr {
        match text {
            std::borrow::Cow::Borrowed(s) => SharedStr::from_static(s),
            std::borrow::Cow::Owned(s) => SharedStr::from(s),
        }
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl PartialEq for SharedStr {
    fn eq(&self, other: &SharedStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SharedStr {}

impl std::hash::Hash for SharedStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<SharedStr> for str {
    fn eq(&self, other: &SharedStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<SharedStr> for &str {
    fn eq(&self, other: &SharedStr) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<SharedStr> for String {
    fn eq(&self, other: &SharedStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl serde::Serialize for SharedStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_compares_as_its_text_whatever_holds_it() {
        let fixed = SharedStr::from_static("SUCCESS");
        let shared = SharedStr::from("SUCCESS");
        assert_eq!(fixed, shared);
        assert_eq!(fixed, "SUCCESS");
        assert_eq!("SUCCESS", shared);
        assert_eq!(shared, "SUCCESS".to_string());
        assert_ne!(shared, SharedStr::from("SUCCESS "));
        assert_eq!(format!("{shared}|{fixed:?}"), "SUCCESS|\"SUCCESS\"");
        assert_eq!(fixed.heap_bytes(), 0);
        assert_eq!(shared.heap_bytes(), 7);
        assert_eq!(SharedStr::from(""), SharedStr::default());
        assert_eq!(SharedStr::from("").heap_bytes(), 0);
        assert_eq!(
            serde_json::to_string(&shared).unwrap(),
            serde_json::to_string("SUCCESS").unwrap()
        );
    }

    #[test]
    fn a_remembered_value_is_shared_and_the_oldest_forgotten() {
        let mut recent = Recent::default();
        let same = |a: &SharedStr, b: &SharedStr| match (&a.0, &b.0) {
            (Repr::Shared(x), Repr::Shared(y)) => Arc::ptr_eq(x, y),
            _ => false,
        };
        let a = recent.share("svchost.exe");
        let b = recent.share("mstsc.exe");
        assert!(same(&a, &recent.share("svchost.exe")));
        assert!(same(&b, &recent.share("mstsc.exe")));
        assert_eq!((a.as_str(), b.as_str()), ("svchost.exe", "mstsc.exe"));
        assert_eq!(recent.share(""), "");
        // Eight more names: the first two are forgotten, the last eight still shared.
        let names: Vec<String> = (0..RECENT).map(|i| format!("p{i}.exe")).collect();
        let held: Vec<SharedStr> = names.iter().map(|n| recent.share(n)).collect();
        let again = recent.share("svchost.exe");
        assert!(!same(&a, &again));
        assert_eq!(again, a);
        for (n, h) in names.iter().zip(&held).skip(1) {
            assert!(same(h, &recent.share(n)), "{n}");
        }
    }
}
