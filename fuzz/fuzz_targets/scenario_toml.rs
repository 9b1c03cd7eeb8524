//! A scenario file of `generals-testnet scenario`, parsed and checked for each
//! mechanism as the runner does (the testnet tool is a binary, so its parser's
//! two files are compiled in here).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../testnet/src/scenario/format.rs"]
mod format;
#[allow(dead_code)]
#[path = "../../testnet/src/scenario/timeline.rs"]
mod timeline;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    generals_fuzz::bounded("scenario", format::MAX_SCENARIO_BYTES, || {
        if let Ok(s) = format::Scenario::parse(text) {
            for kind in ["pow", "pos", "poa", "bft", "dpos", "pbft"] {
                let _ = s.on(kind);
            }
        }
    });
});
