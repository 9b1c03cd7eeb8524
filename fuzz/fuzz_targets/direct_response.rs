//! The direct protocol's answers (taken, or refused with a reason).
#![no_main]
use generals_node::direct::{DirectCodec, DIRECT_PROTOCOL, MAX_DIRECT_RESPONSE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    generals_fuzz::read_frame::<DirectCodec>(
        "direct answer",
        MAX_DIRECT_RESPONSE,
        DIRECT_PROTOCOL,
        false,
        data,
    );
});
