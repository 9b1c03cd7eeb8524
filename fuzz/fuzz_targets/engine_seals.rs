//! Every engine's block seals and header data (difficulty and nonce, slot and
//! signature, round and commit certificate, view and prepared proof): a child
//! of the genesis whose consensus data and seal the fuzzer writes, checked
//! as the host checks a header from a peer, by an engine of the kind the first
//! byte picks.
#![no_main]
use generals_fuzz::engines::{keys, Engine, KINDS};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static KEYS: OnceLock<Vec<generals_chain::Keypair>> = OnceLock::new();
    let keys = KEYS.get_or_init(keys);
    let [pick, split, producer, ..] = data else {
        return;
    };
    let rest = &data[3..];
    let at = (*split as usize).min(rest.len());
    let e = Engine::new(KINDS[*pick as usize % KINDS.len()], keys);
    let mut header = e.tip.clone();
    header.parent = e.tip.hash();
    header.height = 1;
    header.timestamp_ms = e.now_ms + 2_000;
    header.producer = keys[*producer as usize % keys.len()].public();
    header.consensus = rest[..at].to_vec();
    header.seal = rest[at..].to_vec();
    let _ = e.engine.precheck(&header);
    let _ = e.engine.validate(&header, &e.known, e.now_ms + 2_000);
    let _ = e.engine.certified(&header);
    let _ = e.engine.weight(&header);
    let _ = e.engine.difficulty(&header);
});
