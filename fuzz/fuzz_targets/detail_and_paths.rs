#![no_main]
//! The small parsers of Procmon fields: Detail, network paths, times and dates.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::detail::{parse_detail, parse_net_path, port_number};
use rdtriage::ingest::procmon_time::{is_excel_mangled, parse_date, parse_time_of_day};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let fields = parse_detail(&text);
    // Keys and values are pieces of the input: never longer than it.
    for (k, v) in fields.iter() {
        assert!(k.len() + v.len() <= text.len());
    }
    let _ = parse_net_path(&text);
    let _ = port_number(&text);
    let _ = parse_time_of_day(&text);
    let _ = is_excel_mangled(&text);
    let _ = parse_date(&text);
});
