//! When a Byzantine node misbehaves: always, from a height of its tip, from a
//! time after it started, or with a probability at each opportunity (each input
//! it takes: a block made or heard, a message, a timer), drawn from a seed.
//! Until then, or when the draw says no, the input goes to the honest engine
//! inside the wrapper, so the node is honest up to its trigger.

use crate::engine::{Consensus, ConsensusError, Headers, Input, Output};
use generals_chain::Header;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// When a Byzantine behaviour acts.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Trigger {
    #[default]
    Always,
    /// Once the node's tip reaches this height, and from then on.
    FromHeight(u64),
    /// This many milliseconds after the node's first input, and from then on.
    AfterMs(u64),
    /// At each opportunity with this probability (0 to 1).
    Probability(f64),
}

impl Trigger {
    /// Whether a behaviour that keeps state across inputs (a withheld chain, a
    /// private fork, a restart) can run under this trigger: it must stay on
    /// once it starts, so a probability does not apply.
    pub fn latches(&self) -> bool {
        !matches!(self, Trigger::Probability(_))
    }
}

fn now_of(input: &Input) -> Option<u64> {
    match input {
        Input::NewTip { now_ms, .. }
        | Input::BlockReceived { now_ms, .. }
        | Input::Produced { now_ms, .. }
        | Input::Message { now_ms, .. }
        | Input::Timer { now_ms, .. }
        | Input::Transaction { now_ms, .. }
        | Input::Tick { now_ms } => Some(*now_ms),
        Input::Propose { .. } | Input::Discard { .. } => None,
    }
}

/// A Byzantine wrapper that acts only when its trigger says so.
pub struct Triggered {
    byzantine: Box<dyn Consensus>,
    trigger: Trigger,
    rng: ChaCha8Rng,
    started_ms: Option<u64>,
    height: u64,
    armed: bool,
}

impl std::fmt::Debug for Triggered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Triggered")
            .field("trigger", &self.trigger)
            .field("armed", &self.armed)
            .finish()
    }
}

impl Triggered {
    /// `byzantine` must be a wrapper of `byzantine/` (one that can hand over
    /// its honest engine).
    pub fn new(byzantine: Box<dyn Consensus>, trigger: Trigger, seed: u64) -> Self {
        Triggered {
            byzantine,
            trigger,
            rng: ChaCha8Rng::seed_from_u64(seed),
            started_ms: None,
            height: 0,
            armed: false,
        }
    }

    fn acts(&mut self, input: &Input) -> bool {
        if let Input::NewTip { tip, .. } = input {
            self.height = self.height.max(tip.height);
        }
        let now = now_of(input);
        if self.started_ms.is_none() {
            self.started_ms = now;
        }
        if self.armed {
            return true;
        }
        let act = match self.trigger {
            Trigger::Always => true,
            Trigger::FromHeight(h) => self.height >= h,
            Trigger::AfterMs(ms) => match (now, self.started_ms) {
                (Some(now), Some(start)) => now >= start.saturating_add(ms),
                _ => false,
            },
            Trigger::Probability(p) => return self.rng.gen_bool(p.clamp(0.0, 1.0)),
        };
        self.armed = act;
        act
    }
}

impl Consensus for Triggered {
    delegate_rules!(@rules byzantine);

    fn restore(&mut self, block: &generals_chain::Block) {
        self.byzantine.restore(block)
    }

    fn includes(&self, tx: &generals_chain::Transaction) -> bool {
        // Censorship is a standing policy: it follows the latch.
        !self.armed || self.byzantine.includes(tx)
    }

    fn honest_mut(&mut self) -> Option<&mut dyn Consensus> {
        self.byzantine.honest_mut()
    }

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        if self.acts(&input) {
            return self.byzantine.handle(input, headers);
        }
        match self.byzantine.honest_mut() {
            Some(honest) => honest.handle(input, headers),
            None => self.byzantine.handle(input, headers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use generals_chain::Hash;

    struct NoHeaders;
    impl Headers for NoHeaders {
        fn header(&self, _: &Hash) -> Option<Header> {
            None
        }
    }

    /// An "honest engine" that answers each input with one output.
    #[derive(Debug)]
    struct Honest;
    impl Consensus for Honest {
        fn kind(&self) -> &'static str {
            "test"
        }
        fn weight(&self, _: &Header) -> u128 {
            1
        }
        fn validate(&self, _: &Header, _: &dyn Headers, _: u64) -> Result<(), ConsensusError> {
            Ok(())
        }
        fn handle(&mut self, _: Input, _: &dyn Headers) -> Vec<Output> {
            vec![Output::StopMining]
        }
    }

    /// A "wrapper" that doubles what its honest engine says.
    #[derive(Debug)]
    struct Double {
        inner: Honest,
    }
    impl Consensus for Double {
        delegate_rules!();
        fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
            let mut out = self.inner.handle(input, headers);
            out.push(Output::StopMining);
            out
        }
    }

    fn tip(height: u64, now_ms: u64) -> Input {
        let tip = Header {
            parent: Hash::ZERO,
            height,
            timestamp_ms: now_ms,
            producer: generals_chain::PublicKey([0; 32]),
            tx_root: Hash::ZERO,
            evidence_root: Hash::ZERO,
            state_root: Hash::ZERO,
            consensus: Vec::new(),
            seal: Vec::new(),
        };
        Input::NewTip { tip, now_ms }
    }

    fn outputs(t: &mut Triggered, input: Input) -> usize {
        t.handle(input, &NoHeaders).len()
    }

    fn gated(trigger: Trigger, seed: u64) -> Triggered {
        Triggered::new(Box::new(Double { inner: Honest }), trigger, seed)
    }

    #[test]
    fn a_height_trigger_keeps_the_node_honest_until_its_tip_gets_there_then_latches() {
        let mut t = gated(Trigger::FromHeight(5), 0);
        assert_eq!(outputs(&mut t, tip(3, 0)), 1);
        assert_eq!(outputs(&mut t, tip(5, 10)), 2);
        // A reorg to a lower tip does not make it honest again.
        assert_eq!(outputs(&mut t, tip(4, 20)), 2);
    }

    #[test]
    fn a_time_trigger_counts_from_the_first_input() {
        let mut t = gated(Trigger::AfterMs(1_000), 0);
        assert_eq!(outputs(&mut t, tip(1, 50_000)), 1);
        assert_eq!(outputs(&mut t, Input::Tick { now_ms: 50_999 }), 1);
        assert_eq!(outputs(&mut t, Input::Tick { now_ms: 51_000 }), 2);
        assert_eq!(outputs(&mut t, tip(1, 51_001)), 2);
    }

    #[test]
    fn a_probability_acts_at_about_that_share_of_opportunities_and_repeats_by_seed() {
        let run = |seed| {
            let mut t = gated(Trigger::Probability(0.25), seed);
            (0..2_000)
                .map(|i| outputs(&mut t, Input::Tick { now_ms: i }) == 2)
                .collect::<Vec<_>>()
        };
        let a = run(7);
        let acted = a.iter().filter(|x| **x).count();
        assert!((400..=600).contains(&acted), "{acted} of 2000");
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
    }
}
