//! RDP client disconnect reasons (RDPClient/Operational 1026, `Value`): decode the number so a
//! ticket that is *not* a 0x904 is recognised as such.
//!
//! The meanings are Microsoft's (`IMsTscAxEvents::OnDisconnected`, the `disconnectReason*`
//! constants); the layer comes from the low byte (docs/domain.md §1: 0x04 network, 0x06 security,
//! 0x07 NLA/CredSSP, 0x08 UI/licensing). A code with no documented meaning is reported as
//! "undocumented" with its layer, never guessed at.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disconnect {
    pub code: u32,
    pub hex: String,
    pub meaning: String,
    pub layer: &'static str,
    /// Normal ends (the user or server closed the session on purpose), not errors.
    pub error: bool,
}

const DOCUMENTED: &[(u32, &str)] = &[
    (0x0, "no information is available"),
    (0x1, "local disconnection (not an error)"),
    (0x2, "remote disconnection by user (not an error)"),
    (0x3, "remote disconnection by server (not an error)"),
    (0x104, "DNS name lookup failure"),
    (0x106, "out of memory"),
    (0x108, "connection timed out"),
    (
        0x204,
        "socket connect failed: nothing listening, or blocked",
    ),
    (0x206, "out of memory"),
    (0x208, "host not found"),
    (0x304, "Winsock send call failed"),
    (0x306, "out of memory"),
    (0x308, "invalid IP address specified"),
    (0x404, "Winsock recv call failed"),
    (0x406, "invalid security data"),
    (0x408, "internal error"),
    (0x506, "invalid encryption method specified"),
    (0x508, "DNS lookup failed"),
    (0x604, "Windows Sockets gethostbyname call failed"),
    (0x606, "invalid server security data"),
    (0x608, "internal timer error"),
    (0x704, "timeout occurred"),
    (0x706, "failed to unpack server certificate"),
    (0x804, "bad IP address specified"),
    (0x808, LICENSING),
    (
        0x904,
        "socket closed: the TCP connection was closed under the client (FD_CLOSE)",
    ),
    (0x906, "internal security error"),
    (0x908, LICENSING),
    (0xA06, "internal security error"),
    (0xB06, "encryption error"),
    (0xC06, "decryption error"),
    (0xC08, "decompression error"),
    (0x1B07, "the server certificate expired during NLA"),
];

/// What 0x808 and 0x908 mean: the same licensing error.
const LICENSING: &str =
    "licensing: internal error (a client MSLicensing key it cannot write is one known cause)";

fn layer(code: u32) -> &'static str {
    if code <= 3 {
        return "session";
    }
    match code & 0xFF {
        0x04 => "network",
        0x06 => "security",
        0x07 => "NLA/CredSSP",
        0x08 => "UI/licensing",
        _ => "unknown",
    }
}

/// Decode a disconnect reason as the 1026 event writes it (decimal text, or `0x` hex).
pub fn decode_text(value: &str) -> Option<Disconnect> {
    let v = value.trim();
    let code = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok()?,
        None => v.parse().ok()?,
    };
    Some(decode(code))
}

pub fn decode(code: u32) -> Disconnect {
    let meaning = DOCUMENTED
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, m)| (*m).to_string())
        .unwrap_or_else(|| format!("undocumented code ({} layer)", layer(code)));
    Disconnect {
        code,
        hex: format!("0x{code:X}"),
        meaning,
        layer: layer(code),
        error: code > 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_documented_and_undocumented_codes() {
        let d = decode_text("2308").unwrap();
        assert_eq!(
            (d.code, d.hex.as_str(), d.layer, d.error),
            (0x904, "0x904", "network", true)
        );
        assert!(d.meaning.starts_with("socket closed"));
        let d = decode_text("2").unwrap();
        assert!(!d.error);
        assert!(d.meaning.contains("remote disconnection by user"));
        assert_eq!(decode_text("0x204").unwrap().code, 516);
        let d = decode(0x2407);
        assert_eq!(d.meaning, "undocumented code (NLA/CredSSP layer)");
        assert_eq!(decode(0x1108).layer, "UI/licensing");
        assert!(decode_text("abc").is_none());
    }
}
