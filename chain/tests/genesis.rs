//! Genesis files: what they say, and clear errors for what they must not say.

mod common;

use common::*;
use generals_chain::genesis::GenesisError;
use generals_chain::Genesis;

fn json_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let (g, _) = genesis(3, 500, 2);
    let mut v: serde_json::Value = serde_json::from_str(&g.to_json()).expect("json");
    edit(&mut v);
    serde_json::to_vec(&v).expect("bytes")
}

fn err(bytes: &[u8]) -> String {
    Genesis::from_json(bytes).expect_err("refused").to_string()
}

#[test]
fn a_genesis_round_trips_through_its_file() {
    let (g, keys) = genesis(3, 500, 2);
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("genesis.json");
    std::fs::write(&path, g.to_json()).expect("write");
    let loaded = Genesis::load(&path).expect("load");
    assert_eq!(loaded, g);
    let state = loaded.state().expect("state");
    let a = state.get(&keys[0].public()).expect("funded validator");
    assert_eq!((a.balance, a.bonded), (500, 100));
    assert_eq!(state.get(&keys[2].public()).expect("funded").bonded, 0);
    assert_eq!(
        loaded.block().expect("block").header.state_root,
        state.root()
    );
}

#[test]
fn any_change_gives_another_genesis_block() {
    let (g, _) = genesis(3, 500, 2);
    let mut other = g.clone();
    other.consensus = generals_chain::ConsensusSpec::default_for("pos").expect("pos");
    assert_ne!(
        g.block().expect("a").hash(),
        other.block().expect("b").hash()
    );
}

#[test]
fn parameters_are_optional_and_checked() {
    let bytes = json_with(|v| v["consensus"] = serde_json::json!({"kind": "poa"}));
    let g = Genesis::from_json(&bytes).expect("defaults");
    assert_eq!(g.consensus.kind(), "poa");
    let bytes =
        json_with(|v| v["consensus"] = serde_json::json!({"kind": "pow", "target_block_ms": 1000}));
    assert!(Genesis::from_json(&bytes).is_ok());
    let bytes = json_with(|v| v["consensus"] = serde_json::json!({"kind": "pow", "bogus": 1}));
    assert!(err(&bytes).contains("bogus"));
}

#[test]
fn an_unknown_kind_is_named() {
    let bytes = json_with(|v| v["consensus"]["kind"] = "raft".into());
    let e = err(&bytes);
    assert!(
        e.contains("\"raft\"") && e.contains("pow, pos, poa, bft"),
        "{e}"
    );
}

#[test]
fn duplicate_keys_are_refused() {
    let bytes = json_with(|v| {
        let first = v["accounts"][0].clone();
        v["accounts"].as_array_mut().expect("array").push(first);
    });
    assert!(matches!(
        Genesis::from_json(&bytes),
        Err(GenesisError::DuplicateAccount { .. })
    ));
    let bytes = json_with(|v| {
        let first = v["validators"][0].clone();
        v["validators"].as_array_mut().expect("array").push(first);
    });
    assert!(matches!(
        Genesis::from_json(&bytes),
        Err(GenesisError::DuplicateValidator { .. })
    ));
}

#[test]
fn zero_stake_and_missing_validators_are_refused() {
    let bytes = json_with(|v| v["validators"][1]["stake"] = 0.into());
    let e = Genesis::from_json(&bytes).expect_err("zero stake");
    assert!(matches!(e, GenesisError::ZeroStake { .. }));
    assert!(e.to_string().contains("zero stake"));
    let bytes = json_with(|v| {
        v["validators"] = serde_json::json!([]);
        v["consensus"] = serde_json::json!({"kind": "bft"});
    });
    assert!(matches!(
        Genesis::from_json(&bytes),
        Err(GenesisError::NoValidators { kind: "bft" })
    ));
}

#[test]
fn bad_chain_ids_keys_and_shares_are_refused() {
    for id in ["", "Has Spaces", &"x".repeat(65)] {
        let bytes = json_with(|v| v["chain_id"] = id.into());
        assert!(
            matches!(
                Genesis::from_json(&bytes),
                Err(GenesisError::BadChainId { .. })
            ),
            "{id:?}"
        );
    }
    let mut identity = "00".repeat(32);
    identity.replace_range(0..2, "01");
    let bytes = json_with(|v| v["accounts"][0]["key"] = identity.clone().into());
    assert!(matches!(
        Genesis::from_json(&bytes),
        Err(GenesisError::BadKey { .. })
    ));
    let bytes = json_with(|v| v["accounts"][0]["key"] = "abc".into());
    assert!(err(&bytes).contains("64 hex digits"));
    let bytes = json_with(|v| v["slashing"]["fraction_ppm"] = 2_000_000.into());
    assert!(matches!(
        Genesis::from_json(&bytes),
        Err(GenesisError::BadShare { .. })
    ));
}

#[test]
fn unreadable_files_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("missing.json");
    let e = Genesis::load(&missing).expect_err("missing");
    assert!(e.to_string().contains("missing.json"), "{e}");
    let junk = tmp.path().join("junk.json");
    std::fs::write(&junk, b"{\"chain_id\": ").expect("write");
    assert!(matches!(Genesis::load(&junk), Err(GenesisError::Json(_))));
}

#[test]
fn parameters_that_cannot_make_a_chain_are_refused_with_the_field_named() {
    for (consensus, field) in [
        (
            serde_json::json!({"kind": "pow", "initial_difficulty": 0}),
            "initial_difficulty",
        ),
        (
            serde_json::json!({"kind": "pow", "target_block_ms": 0}),
            "target_block_ms",
        ),
        (serde_json::json!({"kind": "pos", "slot_ms": 0}), "slot_ms"),
        (
            serde_json::json!({"kind": "pos", "epoch_slots": 1}),
            "epoch_slots",
        ),
        (
            serde_json::json!({"kind": "poa", "period_ms": 0}),
            "period_ms",
        ),
        (
            serde_json::json!({"kind": "bft", "timeout_vote_ms": 0}),
            "timeout_vote_ms",
        ),
    ] {
        let bytes = json_with(|v| v["consensus"] = consensus.clone());
        let e = err(&bytes);
        assert!(
            e.contains(&format!("consensus.{field}")),
            "{consensus}: {e}"
        );
    }
    // BFT may commit at once (timeout_commit_ms = 0).
    let bytes =
        json_with(|v| v["consensus"] = serde_json::json!({"kind": "bft", "timeout_commit_ms": 0}));
    assert!(Genesis::from_json(&bytes).is_ok());
}

#[test]
fn balances_whose_sum_overflows_are_refused() {
    let bytes = json_with(|v| {
        let accounts = v["accounts"].as_array_mut().expect("accounts");
        for a in accounts.iter_mut() {
            a["balance"] = serde_json::json!(u64::MAX / 2);
        }
    });
    let e = err(&bytes);
    assert!(e.contains("add up to more than"), "{e}");
}
