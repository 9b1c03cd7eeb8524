//! The evidence gossip topic: two conflicting signed messages of one signer.
#![no_main]
use generals_chain::codec::decode;
use generals_chain::Evidence;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 262_144;

fuzz_target!(|data: &[u8]| {
    let decoded = generals_fuzz::bounded("evidence", LIMIT, || {
        decode::<Evidence, LIMIT>("evidence", data)
    });
    if let Ok(e) = decoded {
        let _ = e.verify("generals-dev");
        let _ = e.offender();
    }
});
