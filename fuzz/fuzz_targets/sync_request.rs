//! The sync protocol's request frames (4-byte length, then the codec), read by
//! the node's libp2p codec.
#![no_main]
use generals_node::protocol::{SyncCodec, MAX_SYNC_REQUEST_BYTES, SYNC_PROTOCOL};
use libfuzzer_sys::fuzz_target;
use libp2p::request_response::Codec;
use libp2p::StreamProtocol;

fuzz_target!(|data: &[u8]| {
    let mut codec = SyncCodec::default();
    let protocol = StreamProtocol::new(SYNC_PROTOCOL);
    generals_fuzz::bounded("sync request", MAX_SYNC_REQUEST_BYTES, || {
        futures::executor::block_on(async {
            let _ = codec
                .read_request(&protocol, &mut futures::io::Cursor::new(data))
                .await;
        })
    });
});
