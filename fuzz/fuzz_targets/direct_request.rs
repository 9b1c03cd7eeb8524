//! The direct protocol's requests (a block or a consensus message sent to one
//! peer), read by the node's libp2p codec.
#![no_main]
use generals_node::direct::{DirectCodec, DIRECT_PROTOCOL};
use generals_node::net::MAX_GOSSIP_BYTES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    generals_fuzz::read_frame::<DirectCodec>(
        "direct request",
        MAX_GOSSIP_BYTES,
        DIRECT_PROTOCOL,
        true,
        data,
    );
});
