#![no_main]
//! Rule text is user input: loading it must never panic or hang, and what loads must print
//! back to rule text that loads to the same rules.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(set) = rdtriage::rules::load_rules(&[("fuzz.rdt", text.as_ref())]) {
        let printed: String = set
            .rules()
            .iter()
            .map(|r| format!("{}\n", r.ast()))
            .collect();
        let again = rdtriage::rules::load_rules(&[("printed.rdt", printed.as_str())])
            .expect("printed rules load");
        assert_eq!(set.rules().len(), again.rules().len());
        let _ = set.check_examples();
    }
});
