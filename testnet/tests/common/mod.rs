//! What the testnet's integration tests share.
#![allow(dead_code)]

use std::process::Command;

/// Runs `generals-testnet` with `args` and waits for it.
pub fn testnet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_generals-testnet"))
        .args(args)
        .output()
        .expect("run generals-testnet")
}

/// Stops the testnet in its folder when dropped, so a failed assertion leaves
/// no node running.
pub struct Down<'a>(pub &'a str);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = testnet(&["down", "--dir", self.0]);
    }
}
