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
