//! The long-range attack on proof of stake, in the simulator. Validator 2
//! holds three quarters of the stake at genesis, unbonds all of it and leaves;
//! its key goes to node 3, which rebuilds history from genesis alone, where
//! that key's old stake still rules and finalizes. Node 4 joins later and
//! hears only the attacker; node 5 too, but with a weak-subjectivity
//! checkpoint copied from node 0. Then the network heals.
//!
//! - Node 0, online throughout, refuses the fork: its finality stands.
//! - Node 4, new and without a checkpoint, is fooled: it finalizes the fork
//!   and keeps it after the heal.
//! - Node 5, new with the checkpoint, refuses the fork and follows node 0.

use generals_chain::tx::Action;
use generals_chain::{BlockStore, Hash, MemoryStore};
use generals_consensus::core::NodeCore;
use generals_consensus::sim::{Attack, EventLog, NetChange, SimConfig, Simulator};

/// The run; `checkpoint`: whether node 5 starts with one.
fn long_range(seed: u64, checkpoint: bool) -> Vec<NodeCore<MemoryStore>> {
    let mut c = SimConfig::pos(6, seed, 100);
    c.stakes = vec![100, 100, 600, 0, 0, 0];
    c.attack = Some(Attack::LongRange {
        seller: 2,
        attacker: 3,
    });
    c.late = vec![3, 4, 5];
    c.net.latency_ms = 50;
    c.net.jitter_ms = 150;
    let slot = c.pos.slot_ms;
    c.at_height = vec![(
        3,
        NetChange::Submit {
            node: 2,
            action: Action::Unbond { amount: 600 },
        },
    )];
    c.schedule = vec![
        (0, NetChange::Cut(vec![vec![0, 1, 2], vec![3, 4, 5]])),
        (
            30 * slot,
            NetChange::Join {
                node: 3,
                checkpoint: None,
            },
        ),
        (
            55 * slot,
            NetChange::Join {
                node: 4,
                checkpoint: None,
            },
        ),
        (
            55 * slot,
            NetChange::Join {
                node: 5,
                checkpoint: checkpoint.then_some((0, 2)),
            },
        ),
        (75 * slot, NetChange::Heal),
    ];
    let log = match std::env::var("LONG_RANGE_LOG").ok().filter(|_| checkpoint) {
        Some(path) => EventLog::new(Box::new(std::fs::File::create(path).expect("log file"))),
        None => EventLog::sink(),
    };
    Simulator::new(c, log)
        .expect("config")
        .run()
        .expect("run")
        .1
}

fn at(core: &NodeCore<MemoryStore>, height: u64) -> Option<Hash> {
    core.ledger().store().hash_at(height).expect("store")
}

fn final_height(core: &NodeCore<MemoryStore>) -> u64 {
    core.finalized()
        .and_then(|f| core.tree().get(&f).map(|n| n.height))
        .unwrap_or(0)
}

#[test]
fn a_long_range_fork_fools_only_the_new_node_without_a_checkpoint() {
    let seeds: u64 = std::env::var("LONG_RANGE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    for seed in 0..seeds {
        let cores = long_range(seed, true);
        let honest = at(&cores[0], 1);
        let fork = at(&cores[3], 1);
        assert_ne!(
            honest, fork,
            "seed {seed}: the attacker forked from genesis"
        );
        // Node 0 stayed online: it refused the fork, and its finality went on
        // after the heal (the fork's votes did not move its justification).
        assert_eq!(at(&cores[1], 1), honest, "seed {seed}");
        // It heard the fork and refused it by finality: the fork's first
        // block is in its tree, marked as a branch never to follow.
        let fork_first = fork.expect("the attacker's first block");
        assert!(
            cores[0].tree().contains(&fork_first) && cores[0].tree().is_invalid(&fork_first),
            "seed {seed}: node 0 did not refuse the fork by finality"
        );
        let (tip0, final0) = (cores[0].tip().height, final_height(&cores[0]));
        assert!(
            final0 + 3 * 8 >= tip0,
            "seed {seed}: node 0 finalized only {final0} of {tip0}"
        );
        // Node 4 is fooled: it finalized the fork and kept it.
        assert_eq!(at(&cores[4], 1), fork, "seed {seed}: node 4 on the fork");
        assert!(
            final_height(&cores[4]) > 0,
            "seed {seed}: node 4 final on the fork"
        );
        // Node 5, with the checkpoint, follows node 0.
        assert_eq!(
            at(&cores[5], 1),
            honest,
            "seed {seed}: node 5 refused the fork"
        );
        let (h5, h0) = (cores[5].tip().height, cores[0].tip().height);
        assert_eq!(
            at(&cores[5], h5.min(h0)),
            at(&cores[0], h5.min(h0)),
            "seed {seed}: node 5 at {h5}, node 0 at {h0}"
        );
        assert!(h5 + 2 >= h0, "seed {seed}: node 5 at {h5}, node 0 at {h0}");
        // And its finality follows the chain's, rebuilt from the checkpoint.
        assert!(
            final_height(&cores[5]) + 8 >= final0,
            "seed {seed}: node 5 finalized {}, node 0 {final0}",
            final_height(&cores[5])
        );

        // Without the checkpoint, node 5 is fooled as node 4 is: the
        // checkpoint is what saved it.
        let cores = long_range(seed, false);
        assert_eq!(
            at(&cores[5], 1),
            at(&cores[3], 1),
            "seed {seed}: without a checkpoint node 5 takes the fork"
        );
    }
}
