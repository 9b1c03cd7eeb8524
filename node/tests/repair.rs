//! A ledger that lost blocks it had acknowledged: `generals-node run` refuses
//! it and names the way out; `generals-node repair` moves it aside, keeps the
//! validator's signing record, and the node starts again from genesis.

mod common;

use common::*;
use std::process::Command;

fn proposals(home: &std::path::Path) -> usize {
    protection(home)["proposals"]
        .as_object()
        .map_or(0, |m| m.len())
}

#[test]
fn a_ledger_that_lost_acknowledged_blocks_is_refused_and_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("v");
    // Short slots and epochs.
    init_pos(&home, 250, 8);
    {
        let v = Node::start(&home, &[]);
        v.wait(
            |s| s["height"].as_u64() >= Some(3),
            "the validator proposes",
        );
    }
    let signed = proposals(&home);
    assert!(signed >= 3, "{signed} proposals on record");
    // The block the ledger last acknowledged is gone (as after a truncation
    // that took its last writes with it).
    let mut acked = 999u64.to_le_bytes().to_vec();
    acked.extend_from_slice(&[7u8; 32]);
    std::fs::write(home.join("ledger").join("ACKED"), acked).expect("damage");
    let out = Command::new(BIN)
        .args(["run", "--home"])
        .arg(&home)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lost blocks it had acknowledged"), "{err}");
    assert!(err.contains("generals-node repair"), "{err}");
    let out = Command::new(BIN)
        .args(["repair", "--home"])
        .arg(&home)
        .output()
        .expect("repair");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moved: Vec<_> = std::fs::read_dir(&home)
        .expect("home")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("ledger.damaged-")
        })
        .collect();
    assert_eq!(moved.len(), 1, "the damaged ledger is kept");
    // The signing record came along: nothing signed is forgotten.
    assert_eq!(proposals(&home), signed);
    // The node starts again on the new ledger.
    let v = Node::start(&home, &[]);
    v.wait(
        |s| s["height"].as_u64() >= Some(1),
        "the repaired node to go on",
    );
}
