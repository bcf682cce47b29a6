//! What the rules decided about an event when ingest kept it, carried on the event so the
//! evaluation does not ask again (issue 11: conditions evaluated once per event).
//!
//! Ingest has to run the rules' conditions to know which events to keep; the evaluation needs
//! the same answers. [`Marks`] holds them: per rule, did its condition hold, and did its
//! `unless:` witness condition hold. Only rules whose answer cannot change between keep and
//! evaluation are decided here (those reading no field analysis rewrites after keep,
//! [`crate::rules::Rule::reads_placed`]); the evaluation asks the others itself.
//!
//! Riding on the event, the marks follow it through every step between keep and evaluation —
//! shedding past `--max-kept-events`, sorting, `retain` — with nothing to keep in line. An event
//! made after keep (a certificate check, a test's event) carries none, and is evaluated fully.
//! The marks name the rule set that made them: another set's marks are not used.
//!
//! Up to 64 rules the bits are held inline (the built-in pack has 56); beyond, in one boxed
//! slice.

/// See the module docs. `Marks::default()` is "nothing decided".
///
/// A cache, not part of what the event says: two events compare equal whatever marks they
/// carry.
#[derive(Debug, Clone, Default)]
pub struct Marks(Option<Decided>);

impl PartialEq for Marks {
    fn eq(&self, _: &Marks) -> bool {
        true
    }
}

/// Which rules' conditions held, and which rules' witnesses, for one event, by rule index.
#[derive(Debug, Clone)]
pub(crate) enum Decided {
    /// Rules `0..64`: bit `r` of `held`, of `witnessed`.
    Inline { set: u32, held: u64, witnessed: u64 },
    /// Any number of rules: for rules `64k..64k+64`, word `2k` holds the held bits and word
    /// `2k + 1` the witnessed bits. Only as long as the highest rule set needs: empty (no
    /// allocation) while nothing is set, as for most events.
    Spilled { set: u32, bits: Box<[u64]> },
}

impl Marks {
    /// Nothing held and nothing witnessed yet, for a set `set` of `rules` rules.
    pub(crate) fn decided(set: u32, rules: usize) -> Marks {
        Marks(Some(if rules <= 64 {
            Decided::Inline {
                set,
                held: 0,
                witnessed: 0,
            }
        } else {
            Decided::Spilled {
                set,
                bits: Box::default(),
            }
        }))
    }

    /// The answers, when rule set `set` made them.
    pub(crate) fn of(&self, set: u32) -> Option<&Decided> {
        self.0.as_ref().filter(|d| d.set() == set)
    }

    /// Were any answers recorded, by any rule set?
    pub fn is_decided(&self) -> bool {
        self.0.is_some()
    }

    /// Rule `r`'s condition held.
    pub(crate) fn hold(&mut self, r: usize) {
        if let Some(d) = &mut self.0 {
            d.set_bit(false, r);
        }
    }

    /// Rule `r`'s `unless:` witness condition held.
    pub(crate) fn witness(&mut self, r: usize) {
        if let Some(d) = &mut self.0 {
            d.set_bit(true, r);
        }
    }
}

impl Decided {
    fn set(&self) -> u32 {
        match self {
            Decided::Inline { set, .. } | Decided::Spilled { set, .. } => *set,
        }
    }

    fn set_bit(&mut self, witnessed: bool, r: usize) {
        match self {
            Decided::Inline {
                held, witnessed: w, ..
            } => {
                if r < 64 {
                    *if witnessed { w } else { held } |= 1 << r;
                }
            }
            Decided::Spilled { bits, .. } => {
                let at = 2 * (r / 64) + usize::from(witnessed);
                if at >= bits.len() {
                    let mut grown = vec![0; at + 2 - at % 2];
                    grown[..bits.len()].copy_from_slice(bits);
                    *bits = grown.into_boxed_slice();
                }
                bits[at] |= 1 << (r % 64);
            }
        }
    }

    /// The held (or witnessed) bits, a word per 64 rules from rule 0.
    fn words(&self, witnessed: bool) -> impl Iterator<Item = u64> + '_ {
        let (inline, spilled): (Option<u64>, &[u64]) = match self {
            Decided::Inline {
                held, witnessed: w, ..
            } => (Some(if witnessed { *w } else { *held }), &[]),
            Decided::Spilled { bits, .. } => {
                (None, bits.get(usize::from(witnessed)..).unwrap_or(&[]))
            }
        };
        inline.into_iter().chain(spilled.iter().step_by(2).copied())
    }

    /// Did rule `r`'s condition hold?
    pub(crate) fn holds(&self, r: usize) -> bool {
        self.words(false)
            .nth(r / 64)
            .is_some_and(|w| w >> (r % 64) & 1 == 1)
    }

    /// The rules whose condition held, ascending.
    pub(crate) fn held(&self) -> impl Iterator<Item = usize> + '_ {
        ones(self.words(false))
    }

    /// The rules whose `unless:` witness condition held, ascending.
    pub(crate) fn witnessed(&self) -> impl Iterator<Item = usize> + '_ {
        ones(self.words(true))
    }
}

/// The indices of the set bits of `words`, ascending.
fn ones(words: impl Iterator<Item = u64>) -> impl Iterator<Item = usize> {
    words.enumerate().flat_map(|(k, w)| {
        let mut rest = w;
        std::iter::from_fn(move || {
            (rest != 0).then(|| {
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                k * 64 + bit
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(rules: usize, held: &[usize], witnessed: &[usize]) {
        let mut m = Marks::decided(7, rules);
        for &r in held {
            m.hold(r);
        }
        for &r in witnessed {
            m.witness(r);
        }
        let d = m.of(7).expect("made by set 7");
        assert_eq!(d.held().collect::<Vec<_>>(), held, "{rules} rules");
        assert_eq!(
            d.witnessed().collect::<Vec<_>>(),
            witnessed,
            "{rules} rules"
        );
        for r in 0..rules {
            assert_eq!(d.holds(r), held.contains(&r), "rule {r} of {rules}");
        }
        assert!(m.of(8).is_none(), "another set's marks are not used");
    }

    #[test]
    fn bits_inline_and_spilled() {
        round_trip(1, &[], &[]);
        round_trip(1, &[0], &[]);
        round_trip(56, &[0, 3, 55], &[3, 17]);
        round_trip(64, &[63], &[0, 63]);
        round_trip(65, &[0, 64], &[64]);
        round_trip(200, &[1, 63, 64, 127, 128, 199], &[5, 130, 199]);
        round_trip(200, &[], &[199]);
        let m = Marks::decided(1, 56);
        assert!(matches!(m.0, Some(Decided::Inline { .. })));
        let mut m = Marks::decided(1, 200);
        assert!(matches!(&m.0, Some(Decided::Spilled { bits, .. }) if bits.is_empty()));
        m.witness(64);
        assert!(matches!(&m.0, Some(Decided::Spilled { bits, .. }) if bits.len() == 4));
        m.hold(3);
        assert!(matches!(&m.0, Some(Decided::Spilled { bits, .. }) if bits.len() == 4));
        m.hold(130);
        assert!(matches!(&m.0, Some(Decided::Spilled { bits, .. }) if bits.len() == 6));
        let d = m.of(1).expect("set 1");
        assert_eq!(d.held().collect::<Vec<_>>(), [3, 130]);
        assert_eq!(d.witnessed().collect::<Vec<_>>(), [64]);
    }

    #[test]
    fn nothing_decided_by_default_and_marks_do_not_change_equality() {
        let none = Marks::default();
        assert!(!none.is_decided());
        assert!(none.of(0).is_none());
        let mut m = Marks::decided(3, 10);
        m.hold(2);
        assert!(m.is_decided());
        assert_eq!(m, none);
    }

    #[test]
    fn inline_marks_cost_no_more_than_three_words() {
        assert!(std::mem::size_of::<Marks>() <= 24);
    }
}
