//! The JSON bodies of the API's POST calls, parsed as their handlers parse
//! them; the first byte picks the call. A transaction sent as hex is decoded
//! on, as `POST /tx` does.
#![no_main]
use generals_chain::Transaction;
use generals_node::api::types::{
    Discard, LinkRequest, MineRequest, PeerRequest, Proposal, SubmitTx,
};
use generals_node::api::MAX_BODY_BYTES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    generals_fuzz::bounded("API body", MAX_BODY_BYTES, || match pick % 6 {
        0 => {
            if let Ok(SubmitTx::Hex { hex }) = serde_json::from_slice::<SubmitTx>(body) {
                if let Ok(bytes) = hex::decode(hex.trim()) {
                    let _ = Transaction::decode(&bytes);
                }
            }
        }
        1 => {
            let _ = serde_json::from_slice::<Option<MineRequest>>(body);
        }
        2 => {
            let _ = serde_json::from_slice::<PeerRequest>(body);
        }
        3 => {
            let _ = serde_json::from_slice::<LinkRequest>(body);
        }
        4 => {
            let _ = serde_json::from_slice::<Proposal>(body);
        }
        _ => {
            let _ = serde_json::from_slice::<Discard>(body);
        }
    });
});
