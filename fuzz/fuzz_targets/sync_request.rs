//! The sync protocol's request frames (4-byte length, then the codec), read by
//! the node's libp2p codec.
#![no_main]
use generals_node::protocol::{SyncCodec, MAX_SYNC_REQUEST_BYTES, SYNC_PROTOCOL};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    generals_fuzz::read_frame::<SyncCodec>(
        "sync request",
        MAX_SYNC_REQUEST_BYTES,
        SYNC_PROTOCOL,
        true,
        data,
    );
});
