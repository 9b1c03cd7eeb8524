//! Prometheus metrics, served at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
    pub direction: String,
}

/// Every metric of a node.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub height: Gauge,
    pub tips: Gauge,
    pub reorgs: Counter,
    pub reorg_depth: Histogram,
    pub peers: Gauge,
    pub mempool: Gauge,
    pub hashrate: Gauge<f64, AtomicU64>,
    pub produced: Counter,
    pub messages: Family<TopicLabel, Counter>,
    pub rejected: Counter,
    pub cut_off: Counter,
    pub finalized_height: Gauge,
    pub justified_height: Gauge,
    pub round: Gauge,
    pub step: Family<StepLabel, Gauge>,
    pub evidence_seen: Counter,
    pub evidence_included: Counter,
    pub jailed: Gauge,
    pub withheld: Counter,
    pub released: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabel {
    pub step: String,
}

/// A round-based engine's steps, as the `bft_step` metric names them.
pub const STEPS: [&str; 7] = [
    "propose",
    "prevote",
    "precommit",
    "pre-prepare",
    "prepare",
    "commit",
    "view-change",
];

impl Metrics {
    /// The metrics and the registry that serves them.
    pub fn new() -> (Metrics, Registry) {
        let m = Metrics {
            height: Gauge::default(),
            tips: Gauge::default(),
            reorgs: Counter::default(),
            reorg_depth: Histogram::new([1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0]),
            peers: Gauge::default(),
            mempool: Gauge::default(),
            hashrate: Gauge::default(),
            produced: Counter::default(),
            messages: Family::default(),
            rejected: Counter::default(),
            cut_off: Counter::default(),
            finalized_height: Gauge::default(),
            justified_height: Gauge::default(),
            round: Gauge::default(),
            step: Family::default(),
            evidence_seen: Counter::default(),
            evidence_included: Counter::default(),
            jailed: Gauge::default(),
            withheld: Counter::default(),
            released: Counter::default(),
        };
        let mut r = Registry::with_prefix("generals");
        r.register("height", "Height of the main chain's tip", m.height.clone());
        r.register("tips", "Heads of the fork tree", m.tips.clone());
        r.register(
            "reorgs",
            "Reorganisations of the main chain",
            m.reorgs.clone(),
        );
        r.register(
            "reorg_depth",
            "Blocks undone by each reorganisation",
            m.reorg_depth.clone(),
        );
        r.register("peers", "Connected peers", m.peers.clone());
        r.register(
            "mempool_transactions",
            "Transactions in the mempool",
            m.mempool.clone(),
        );
        r.register(
            "hashrate",
            "Hashes per second of the local miner",
            m.hashrate.clone(),
        );
        r.register(
            "blocks_produced",
            "Blocks this node produced",
            m.produced.clone(),
        );
        r.register(
            "messages",
            "Gossip messages in and out, per topic",
            m.messages.clone(),
        );
        r.register(
            "rejected_messages",
            "Gossip messages rejected as invalid",
            m.rejected.clone(),
        );
        r.register(
            "peers_cut_off",
            "Peers cut off for invalid messages or for flooding",
            m.cut_off.clone(),
        );
        r.register(
            "finalized_height",
            "Height of the newest final block (proof of stake: finalized; BFT: decided; 0 where nothing is final)",
            m.finalized_height.clone(),
        );
        r.register(
            "justified_height",
            "Height of the newest justified checkpoint (proof of stake)",
            m.justified_height.clone(),
        );
        r.register(
            "bft_round",
            "Round of the height being decided (BFT)",
            m.round.clone(),
        );
        r.register(
            "bft_step",
            "1 for the step the BFT round is in, 0 for the others",
            m.step.clone(),
        );
        r.register(
            "evidence_seen",
            "Distinct pieces of evidence of double signing this node saw",
            m.evidence_seen.clone(),
        );
        r.register(
            "evidence_included",
            "Pieces of evidence carried by blocks applied to the main chain",
            m.evidence_included.clone(),
        );
        r.register(
            "validators_jailed",
            "Validators jailed in the state at the tip",
            m.jailed.clone(),
        );
        r.register(
            "blocks_withheld",
            "Blocks this node produced and kept to itself",
            m.withheld.clone(),
        );
        r.register(
            "blocks_released",
            "Withheld blocks this node later sent out",
            m.released.clone(),
        );
        (m, r)
    }

    pub fn message(&self, topic: &str, direction: &str) {
        self.messages
            .get_or_create(&TopicLabel {
                topic: topic.into(),
                direction: direction.into(),
            })
            .inc();
    }
}
