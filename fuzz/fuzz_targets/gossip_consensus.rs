//! The consensus gossip topic: a signed message, alone or with a relay count,
//! decoded as the node's gossip handler does, then its signature checked.
#![no_main]
use generals_chain::codec::decode;
use generals_chain::SignedMessage;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 65_536;

fuzz_target!(|data: &[u8]| {
    let decoded = generals_fuzz::bounded("consensus message", LIMIT, || {
        decode::<SignedMessage, LIMIT>("consensus message", data).or_else(|e| {
            decode::<(SignedMessage, u64), LIMIT>("consensus message", data)
                .map(|(m, _)| m)
                .map_err(|_| e)
        })
    });
    if let Ok(m) = decoded {
        let _ = m.verify("generals-dev");
    }
});
