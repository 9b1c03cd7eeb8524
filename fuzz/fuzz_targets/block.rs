//! A block from gossip, a direct message or a sync response.
#![no_main]
use generals_chain::codec::{encode, MAX_BLOCK_BYTES};
use generals_chain::Block;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = generals_fuzz::bounded("block", MAX_BLOCK_BYTES, || Block::decode(data)) {
        // The one codec is canonical: what decodes re-encodes to the input.
        assert_eq!(encode(&block), data);
        let _ = block.hash();
        let _ = block.header.hash();
    }
});
