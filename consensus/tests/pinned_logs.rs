//! The simulator's event logs, pinned. Each run below (every engine honest, and
//! every attack) writes its event log; the test compares a SHA-256 of the bytes
//! with the value recorded here. A change to the host loop, the engine factory
//! or an engine that alters what a run does shows up as a changed digest: a
//! refactoring must leave every one of them as it was.
//!
//! `GENERALS_PRINT_PINS=1 cargo test -p generals-consensus --test pinned_logs --
//! --nocapture` prints the current digests.

use generals_consensus::sim::{Attack, BftFault, EventLog, NetChange, SimConfig, Simulator};
use sha2::{Digest, Sha256};
mod common;
use common::Shared;

fn digest(config: SimConfig) -> (String, usize) {
    let buf = Shared::default();
    Simulator::new(config, EventLog::new(Box::new(buf.clone())))
        .expect("config")
        .run()
        .expect("run");
    let bytes = buf.bytes();
    (hex(&Sha256::digest(&bytes)), bytes.len())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The runs, by name.
fn runs() -> Vec<(&'static str, SimConfig)> {
    let mut v = Vec::new();
    let mut c = SimConfig::honest(4, 42, 40);
    c.tps = 2.0;
    c.net.loss = 0.05;
    c.schedule = vec![(100_000, NetChange::Isolate(3)), (200_000, NetChange::Heal)];
    v.push(("pow-honest", c));

    let mut c = SimConfig::honest(4, 7, 40);
    c.attack = Some(Attack::PrivateFork {
        node: 0,
        confirmations: 2,
        give_up: 10,
        at_height: 5,
    });
    c.hashpower = vec![60.0, 14.0, 13.0, 13.0];
    v.push(("pow-private-fork", c));

    let mut c = SimConfig::honest(6, 8, 60);
    c.attack = Some(Attack::Selfish {
        node: 0,
        gamma: 0.5,
    });
    c.hashpower = vec![40.0, 12.0, 12.0, 12.0, 12.0, 12.0];
    v.push(("pow-selfish", c));

    let mut c = SimConfig::poa(5, 1, 60);
    c.tps = 1.0;
    v.push(("poa-honest", c));

    let mut c = SimConfig::poa(6, 3, 80);
    c.authorities = 5;
    c.schedule = vec![(
        10_000,
        NetChange::Propose {
            voters: vec![0, 1, 2],
            candidate: 5,
            add: true,
        },
    )];
    v.push(("poa-vote", c));

    let mut c = SimConfig::poa(5, 4, 60);
    c.tps = 2.0;
    c.attack = Some(Attack::Collude {
        nodes: vec![0, 1, 2],
        censor: 4,
    });
    v.push(("poa-collude", c));

    let mut c = SimConfig::poa(5, 5, 60);
    c.attack = Some(Attack::Equivocate { node: 4 });
    v.push(("poa-equivocate", c));

    let mut c = SimConfig::poa(6, 6, 60);
    c.authorities = 5;
    c.attack = Some(Attack::Clone { node: 2, twin: 5 });
    v.push(("poa-clone", c));

    let mut c = SimConfig::pos(4, 1, 60);
    c.tps = 1.0;
    c.stakes = vec![40, 30, 20, 10];
    v.push(("pos-honest", c));

    let mut c = SimConfig::pos(5, 11, 60);
    c.attack = Some(Attack::NothingAtStake { nodes: vec![4] });
    c.schedule = vec![
        (20_000, NetChange::Cut(vec![vec![0, 1, 4], vec![2, 3, 4]])),
        (120_000, NetChange::Heal),
    ];
    v.push(("pos-nothing-at-stake", c));

    let mut c = SimConfig::pos(4, 3, 60);
    c.attack = Some(Attack::Equivocate { node: 3 });
    v.push(("pos-equivocate", c));

    let mut c = SimConfig::bft(4, 1, 12);
    c.tps = 2.0;
    v.push(("bft-honest", c));

    for (i, fault) in BftFault::ALL.into_iter().enumerate() {
        let c = SimConfig::hostile_bft(4, fault, vec![3], 20 + i as u64, 8);
        let name = match fault {
            BftFault::Equivocate => "bft-equivocate",
            BftFault::SplitVote => "bft-split-vote",
            BftFault::Amnesia => "bft-amnesia",
            BftFault::Silent => "bft-silent",
        };
        v.push((name, c));
    }
    v.push(("bft-split-brain", SimConfig::split_brain_bft(4, 2, 9, 6)));
    v
}

/// The digests recorded before the host loop and the engine factory were
/// shared between the simulator and the node (all but amnesia's, as noted).
const PINNED: &[(&str, &str)] = &[
    (
        "pow-honest",
        "8abd945492fc2585c71267f9b7e762159fd9da87c713a789830f3d5937c540a4",
    ),
    (
        "pow-private-fork",
        "8246462c2d8b898d6b42001f39d1a610f011fc1c494e31a777746f5c6b61485d",
    ),
    (
        "pow-selfish",
        "0c6a25685bd9cb4e8f40c66353591974b2c7c82831e61a115127d1e52cf4ea24",
    ),
    (
        "poa-honest",
        "a456164f8404c475b7a2632f67d56f070f7891f29a20046189d7d50d555c75c5",
    ),
    (
        "poa-vote",
        "3b434b16adc79d2d5885588cbe58114029f91c6f40d6ea14053d2bedafa9a274",
    ),
    (
        "poa-collude",
        "13c4c9969cd2084d60d33e0891bd15ccba322d6fc0698fc5882e06f50edf89bb",
    ),
    (
        "poa-equivocate",
        "ca24b398712d3a0d11b0baff014122c7566715d9064f0992b3b23081346c81f7",
    ),
    (
        "poa-clone",
        "9272e950f4bc9ff8e21213428887180cce7287493733e3e62af605d6d3732d57",
    ),
    (
        "pos-honest",
        "6c40fd53b4f9df861a0d85a6609e76cb168aaf275aab05b33b81a462342aebfd",
    ),
    (
        "pos-nothing-at-stake",
        "2de0b5d7009b703b612c5fd7d2f30efc6fb5e8b6653ebf5aa965203d72493d1d",
    ),
    (
        "pos-equivocate",
        "ef45988531fb9a167456b3d5cd4a44a2128e3aa132b96da29c2da32bc6324eb4",
    ),
    (
        "bft-honest",
        "1215860d6e64d4bf9aa1b9857bd68f89d7b038e9a8d5db80aeb6ddf2ba47765d",
    ),
    (
        "bft-equivocate",
        "7a5c40f7a5ee3011ff45d6062bd335d0b638ead7d8d765df664a3e6e0cfd8b44",
    ),
    (
        "bft-split-vote",
        "4ef7d47d9cdbc0b501777b445ea92f6eb762ba62b9602f545c8d226f0b5dba74",
    ),
    (
        // Changed on purpose: amnesia no longer reaches into the honest
        // engine to drop its lock before every step; it restarts the engine
        // from its signing record with the lock cleared whenever a lock is
        // recorded, as a crash that lost it would. Pinned before: 6d784888...
        "bft-amnesia",
        "19b1db53f97716d010f10b195070005774081b785e4a73bf730baee9118a9fe6",
    ),
    (
        "bft-silent",
        "bc12b94163688f00d70bef1a1a413a21b0037500f6d9fda620e541548c4d72c9",
    ),
    (
        "bft-split-brain",
        "0036c4df0fba539fdce5befe01c481ea2b1fb81f7ffd88958ef2e52ff4df3e94",
    ),
];

#[test]
fn every_pinned_run_writes_the_same_event_log() {
    let print = std::env::var_os("GENERALS_PRINT_PINS").is_some();
    let mut changed = Vec::new();
    for (name, config) in runs() {
        let (got, len) = digest(config);
        assert!(len > 1_000, "{name}: a log of only {len} bytes");
        if print {
            println!("    (\"{name}\", \"{got}\"),");
        }
        match PINNED.iter().find(|(n, _)| *n == name) {
            Some((_, want)) if *want == got => {}
            Some((_, want)) => changed.push(format!("{name}: pinned {want}, now {got}")),
            None => changed.push(format!("{name}: not pinned (now {got})")),
        }
    }
    assert!(
        changed.is_empty(),
        "event logs changed:\n{}",
        changed.join("\n")
    );
}
