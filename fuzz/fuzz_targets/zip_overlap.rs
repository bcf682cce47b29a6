#![no_main]
//! Zip discovery on zips whose central directory entries point anywhere in one shared body:
//! overlapping, duplicated, out of range or named like folders. Whatever they claim, every
//! central-directory entry that is a file is accounted for exactly once (read, or refused by
//! name), no two accounts share a name, and nothing read passes the declared sizes.
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

use rdtriage::ingest::discover::{Found, Limits, discover};

/// A zip of one stored body (the input's tail) and up to 16 directory entries taken from the
/// input's head: each 4 bytes (start, length, name, flags) pointing into the body.
fn build(data: &[u8]) -> (Vec<u8>, usize) {
    let n = (data.first().copied().unwrap_or(0) % 16) as usize;
    let head = data.get(1..1 + 4 * n).unwrap_or(&[]);
    let body = data.get(1 + 4 * n..).unwrap_or(&[]);
    let le16 = |z: &mut Vec<u8>, v: u16| z.extend_from_slice(&v.to_le_bytes());
    let le32 = |z: &mut Vec<u8>, v: u32| z.extend_from_slice(&v.to_le_bytes());
    let mut z = Vec::new();
    let mut locals = Vec::new();
    for (i, e) in head.chunks_exact(4).enumerate() {
        let start = e[0] as usize % (body.len() + 1);
        let len = (e[1] as usize).min(body.len() - start);
        let name = match e[2] % 4 {
            0 => "a.csv".to_string(),
            1 => format!("e{}.csv", e[2] % 3),
            2 => format!("d{}/", e[2] % 2),
            _ => format!("x{i}"),
        };
        let shared = e[3] % 2 == 0 && !locals.is_empty();
        let offset = if shared {
            locals[e[3] as usize % locals.len()]
        } else {
            let at = z.len() as u32;
            le32(&mut z, 0x0403_4b50);
            for v in [20u16, 0, 0, 0, 0] {
                le16(&mut z, v);
            }
            le32(&mut z, 0);
            le32(&mut z, len as u32);
            le32(&mut z, len as u32);
            le16(&mut z, name.len() as u16);
            le16(&mut z, 0);
            z.extend_from_slice(name.as_bytes());
            z.extend_from_slice(&body[start..start + len]);
            locals.push(at);
            at
        };
        locals.push(offset);
    }
    let central = z.len() as u32;
    let count = head.len() / 4;
    for (i, e) in head.chunks_exact(4).enumerate() {
        let len = e[1] as u32;
        let name = match e[2] % 4 {
            0 => "a.csv".to_string(),
            1 => format!("e{}.csv", e[2] % 3),
            2 => format!("d{}/", e[2] % 2),
            _ => format!("x{i}"),
        };
        le32(&mut z, 0x0201_4b50);
        for v in [20u16, 20, 0, 0, 0, 0] {
            le16(&mut z, v);
        }
        le32(&mut z, 0);
        le32(&mut z, len);
        le32(&mut z, len);
        for v in [name.len() as u16, 0, 0, 0, 0] {
            le16(&mut z, v);
        }
        le32(&mut z, 0);
        le32(&mut z, locals.get(i).copied().unwrap_or(0));
        z.extend_from_slice(name.as_bytes());
    }
    let central_len = z.len() as u32 - central;
    le32(&mut z, 0x0605_4b50);
    for v in [0u16, 0, count as u16, count as u16] {
        le16(&mut z, v);
    }
    le32(&mut z, central_len);
    le32(&mut z, central);
    le16(&mut z, 0);
    (z, count)
}

fuzz_target!(|data: &[u8]| {
    let (zip, count) = build(data);
    let path = std::env::temp_dir().join(format!("rdtriage-fuzz-ov-{}.zip", std::process::id()));
    if std::fs::write(&path, &zip).is_err() {
        return;
    }
    let limits = Limits {
        zip_total_bytes: 1 << 16,
        zip_entries: 64,
        ..Limits::default()
    };
    let found = discover(std::slice::from_ref(&path), &limits);
    let mut names = HashSet::new();
    for f in &found {
        let name = match f {
            Found::Input(i) => i.name.clone(),
            Found::Problem(a) => a.file.clone(),
        };
        assert!(names.insert(name.clone()), "two accounts named {name}");
        if let Found::Input(input) = f {
            let size = input.size();
            let _ = input.with_reader(|r| {
                let mut n = 0u64;
                let mut buf = [0u8; 1024];
                while let Ok(k) = r.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    n += k as u64;
                }
                assert!(size.is_none_or(|s| n <= s));
            });
        }
    }
    // A readable zip: at most one account per directory entry (empty folders have none).
    assert!(found.len() <= count.max(1), "{} accounts for {count} entries", found.len());
});
