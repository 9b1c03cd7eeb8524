//! A transaction from gossip or `POST /tx`.
#![no_main]
use generals_chain::codec::{encode, MAX_TX_BYTES};
use generals_chain::Transaction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = generals_fuzz::bounded("transaction", MAX_TX_BYTES, || Transaction::decode(data));
    if let Ok(tx) = decoded {
        assert_eq!(encode(&tx), data);
        let _ = tx.verify_signature();
        let _ = tx.hash();
    }
});
