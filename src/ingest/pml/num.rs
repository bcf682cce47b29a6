//! Numbers as the Detail and other columns print them, written on the stack: a PML event has
//! half a dozen of them, and going through `format!` (a heap string and the formatting
//! machinery per number) cost more than decoding the rest of the event.

use std::fmt;

/// A short number's text, held inline.
#[derive(Clone, Copy)]
pub struct Num {
    buf: [u8; 40],
    len: u8,
}

impl Num {
    fn new() -> Num {
        Num {
            buf: [0; 40],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) {
        self.buf[usize::from(self.len)] = b;
        self.len += 1;
    }

    /// The digits of `n`, most significant first, appended.
    fn digits(&mut self, n: u64, min_width: usize, group: bool) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        let mut n = n;
        loop {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 && tmp.len() - i >= min_width {
                break;
            }
        }
        let digits = &tmp[i..];
        for (k, &d) in digits.iter().enumerate() {
            if group && k > 0 && (digits.len() - k).is_multiple_of(3) {
                self.push(b',');
            }
            self.push(d);
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits, commas, '-' and '.' are ever written.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl AsRef<str> for Num {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for Num {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// `n` in decimal.
pub fn dec(n: u64) -> Num {
    let mut out = Num::new();
    out.digits(n, 1, false);
    out
}

/// A signed `n` in decimal.
pub fn dec_signed(n: i64) -> Num {
    signed(n, false)
}

/// A signed `n`, its digits grouped by thousands or not.
fn signed(n: i64, group: bool) -> Num {
    let mut out = Num::new();
    if n < 0 {
        out.push(b'-');
    }
    out.digits(n.unsigned_abs(), 1, group);
    out
}

/// `1234567` → `1,234,567`.
pub fn grouped(n: u64) -> Num {
    let mut out = Num::new();
    out.digits(n, 1, true);
    out
}

/// `-1500` → `-1,500`.
pub fn grouped_signed(n: i64) -> Num {
    signed(n, true)
}

/// A duration in 100 ns units as `seconds.fraction` (7 digits).
pub fn seconds(ticks: u64) -> Num {
    let mut out = Num::new();
    out.digits(ticks / 10_000_000, 1, false);
    out.push(b'.');
    out.digits(ticks % 10_000_000, 7, false);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_the_formatting_machinery_does() {
        for n in [0u64, 1, 9, 10, 999, 1000, 12_345, 1_000_000, u64::MAX] {
            assert_eq!(dec(n).as_str(), n.to_string());
            let plain = n.to_string();
            let mut want = String::new();
            for (i, c) in plain.chars().enumerate() {
                if i > 0 && (plain.len() - i) % 3 == 0 {
                    want.push(',');
                }
                want.push(c);
            }
            assert_eq!(grouped(n).as_str(), want);
            assert_eq!(
                seconds(n).as_str(),
                format!("{}.{:07}", n / 10_000_000, n % 10_000_000)
            );
        }
        for n in [0i64, -1, -1500, 1500, i64::MIN, i64::MAX] {
            assert_eq!(dec_signed(n).as_str(), n.to_string());
        }
        assert_eq!(grouped_signed(-1500), "-1,500");
        assert_eq!(grouped_signed(i64::MIN), "-9,223,372,036,854,775,808");
    }
}
