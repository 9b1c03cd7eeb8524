//! A genesis file's JSON, parsed and checked as `generals-node init --genesis`
//! and every start do.
#![no_main]
use generals_chain::genesis::MAX_GENESIS_BYTES;
use generals_chain::Genesis;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    generals_fuzz::bounded("genesis", MAX_GENESIS_BYTES as usize, || {
        if let Ok(g) = Genesis::from_json(data) {
            let _ = g.state();
            // What was accepted writes out as a genesis that is accepted again.
            assert!(Genesis::from_json(g.to_json().as_bytes()).is_ok());
        }
    });
});
