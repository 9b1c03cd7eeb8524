//! The direct protocol's requests (a block or a consensus message sent to one
//! peer), read by the node's libp2p codec.
#![no_main]
use generals_node::direct::{DirectCodec, DIRECT_PROTOCOL};
use generals_node::net::MAX_GOSSIP_BYTES;
use libfuzzer_sys::fuzz_target;
use libp2p::request_response::Codec;
use libp2p::StreamProtocol;

fuzz_target!(|data: &[u8]| {
    let mut codec = DirectCodec::default();
    let protocol = StreamProtocol::new(DIRECT_PROTOCOL);
    generals_fuzz::bounded("direct request", MAX_GOSSIP_BYTES, || {
        futures::executor::block_on(async {
            let _ = codec
                .read_request(&protocol, &mut futures::io::Cursor::new(data))
                .await;
        })
    });
});
