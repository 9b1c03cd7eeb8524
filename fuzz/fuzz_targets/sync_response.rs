//! The sync protocol's response frames (headers, blocks, status), read by the
//! node's libp2p codec.
#![no_main]
use generals_node::protocol::{SyncCodec, MAX_SYNC_BYTES, SYNC_PROTOCOL};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    generals_fuzz::read_frame::<SyncCodec>(
        "sync response",
        MAX_SYNC_BYTES,
        SYNC_PROTOCOL,
        false,
        data,
    );
});
