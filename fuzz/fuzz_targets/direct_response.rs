//! The direct protocol's answers (taken, or refused with a reason).
#![no_main]
use generals_node::direct::{DirectCodec, DIRECT_PROTOCOL, MAX_DIRECT_RESPONSE};
use libfuzzer_sys::fuzz_target;
use libp2p::request_response::Codec;
use libp2p::StreamProtocol;

fuzz_target!(|data: &[u8]| {
    let mut codec = DirectCodec::default();
    let protocol = StreamProtocol::new(DIRECT_PROTOCOL);
    generals_fuzz::bounded("direct answer", MAX_DIRECT_RESPONSE, || {
        futures::executor::block_on(async {
            let _ = codec
                .read_response(&protocol, &mut futures::io::Cursor::new(data))
                .await;
        })
    });
});
