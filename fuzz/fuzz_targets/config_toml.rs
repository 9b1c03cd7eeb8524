//! A node's config.toml, parsed and checked as every start does.
#![no_main]
use generals_node::config::{NodeConfig, MAX_CONFIG_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    generals_fuzz::bounded("config.toml", MAX_CONFIG_BYTES as usize, || {
        let _ = NodeConfig::parse(text);
    });
});
