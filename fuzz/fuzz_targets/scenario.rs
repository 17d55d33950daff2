//! Fuzzes the scenario parser: any text gives a scenario or a one-line error naming the file —
//! never a panic — and a scenario that parses writes itself back (`Scenario::to_toml`, the
//! `scenario.toml` of every results directory) as a file that parses to the same scenario.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wsbench::scenario::{Scenario, parse};

/// The file runs its transports in a fixed order, whatever order the input gave them.
fn normalized(mut s: Scenario) -> Scenario {
    s.transports.sort_by_key(|t| t.kind());
    s
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    match parse(path, text) {
        Ok(scenario) => {
            let written = scenario.to_toml();
            match parse(path, &written) {
                Ok(again) => assert_eq!(normalized(again), normalized(scenario), "{written}"),
                Err(e) => panic!("a scenario's own TOML does not parse: {e}\n{written}"),
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("fuzz.toml"), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }
});
