//! The simulator's event logs, pinned. Each run below (every engine honest, and
//! every attack) writes its event log; the test compares a SHA-256 of the bytes
//! with the value recorded here. A change to the host loop, the engine factory
//! or an engine that alters what a run does shows up as a changed digest: a
//! refactoring must leave every one of them as it was.
//!
//!
//! All were re-pinned when the log gained its `info` line, the parent,
//! producer and turn of each imported block, and `withheld` and `released`
//! lines: with those taken out again, every log hashed to its earlier pin.
//! poa-clone's again when its info line named the cloned node honest.
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
            BftFault::LieViewChange => unreachable!("PBFT only"),
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
        "3b8ee4fc590cd35aa753da83093d6729a89550f8eaf2388c25efc792257ade9c",
    ),
    (
        "pow-private-fork",
        "3ac8e04c1f28c3f7306870282690ee20aa14fd5fddc128bcef15552ff53b3a6d",
    ),
    (
        "pow-selfish",
        "450c40087e9666b72577a016f6131c726733ec8041ecf2fe682e50964b672ffe",
    ),
    (
        "poa-honest",
        "9fbe352dd1ba19d8867047064c6c7ff1cc99d63eea7ceadcb24f768ea7b3ecc7",
    ),
    (
        "poa-vote",
        "d11f388db0a76b45f6da2b64d63f318adda631961e214cab8af1f2a89e2797b3",
    ),
    (
        "poa-collude",
        "da53f6e94a4d862b024dec98daec89248de09de3050df98268d7ca0146bed3ff",
    ),
    (
        "poa-equivocate",
        "c4def50373ea94bc1ee7c9406b5fc2a19f6db4b02ba3bc1206baf6a07723243e",
    ),
    (
        "poa-clone",
        "db9640e4cdd5f620f043cd3327661789cfcc578b028298a747e4b6615b99d1b9",
    ),
    (
        "pos-honest",
        "73f16208a684e928deec045a9b0e9214ce64292d6ca5ee18e78e6f605640a88b",
    ),
    (
        "pos-nothing-at-stake",
        "3ab033bf9c0bed4c9e52853984fb26381c453104cd581f87add6a0ef3a8bfd06",
    ),
    (
        "pos-equivocate",
        "7c91dd381b22d2792315b273fa58fe4bb6779425f63a40fade3b3fc60e05471d",
    ),
    (
        "bft-honest",
        "875ec8cd9cb34b87ca3cfa7184bba4fdcba4847a2d4c17d057c95eb3e3725332",
    ),
    (
        "bft-equivocate",
        "712495ff5531c38b0c188aa0b32c8b2f90affa045b917f534a21b1141a798ee7",
    ),
    (
        "bft-split-vote",
        "5509e08fe87e93adc021c8962d49c8a6b5df62252a0307c607791fcdd20ec843",
    ),
    (
        // Changed on purpose: amnesia no longer reaches into the honest
        // engine to drop its lock before every step; it restarts the engine
        // from its signing record with the lock cleared whenever a lock is
        // recorded, as a crash that lost it would. Pinned before: 6d784888...
        "bft-amnesia",
        "3be6a9084394e825308ee0695cd750f67633ee0d44906c3f502568fd7b6f998e",
    ),
    (
        "bft-silent",
        "5fc15246156269486e34bd4e72ed64b751953f555c1232dc6e44ba39d1f635c5",
    ),
    (
        "bft-split-brain",
        "406682378ff11bf0318a09d4a81a7b0d2a22badba87b94ff3a5b8e93cdf053f4",
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
