//! Lamport, Shostak and Pease, "The Byzantine Generals Problem" (ACM TOPLAS
//! 4(3), 1982): a commander sends an order to n-1 lieutenants, some of whom
//! (the commander too) may be traitors. An algorithm must give
//!
//! - IC1: all loyal lieutenants obey the same order;
//! - IC2: if the commander is loyal, every loyal lieutenant obeys its order.
//!
//! Two algorithms of the paper run here, message by message:
//! - [`om`]: OM(m), oral messages (section 3). Every lieutenant relays what it
//!   was told, recursively to depth m, and takes the majority. Theorem 1: it
//!   works with more than 3m generals and at most m traitors.
//! - [`sm`]: SM(m), signed messages (section 4). Orders carry a chain of
//!   ed25519 signatures; every lieutenant collects the set of valid orders and
//!   applies one choice function. Theorem 2: it works with at most m traitors,
//!   for any number of generals.
//!
//! Traitors are played by [`traitor`], outside the honest code: the honest
//! algorithms ask it what a traitor sends. In SM it holds the traitors' signing
//! keys and nothing else, and every receiver verifies every signature, so a
//! traitor cannot forge a loyal general's order: a forged one is refused.
//!
//! General 0 is the commander; 1..n are the lieutenants.

pub mod om;
mod signed;
pub mod sm;
pub mod traitor;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// Every strategy a traitor can follow, in the order the tables list them.
pub const STRATEGIES: [Strategy; 4] = [
    Strategy::Split,
    Strategy::Lie,
    Strategy::Silent,
    Strategy::Collude,
];

/// The most generals a run takes: OM(m) sends (n-1)(n-2)..(n-m-1) messages at
/// its deepest level, which grows too fast to go much further.
pub const MAX_GENERALS: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Order {
    Attack,
    Retreat,
}

impl Order {
    pub fn opposite(self) -> Order {
        match self {
            Order::Attack => Order::Retreat,
            Order::Retreat => Order::Attack,
        }
    }

    fn byte(self) -> u8 {
        match self {
            Order::Attack => 1,
            Order::Retreat => 0,
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Order::Attack => "attack",
            Order::Retreat => "retreat",
        })
    }
}

impl FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> Result<Order, String> {
        match s {
            "attack" => Ok(Order::Attack),
            "retreat" => Ok(Order::Retreat),
            _ => Err(format!("{s:?} is not an order: attack or retreat")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// OM(m): oral messages.
    Om,
    /// SM(m): signed messages.
    Sm,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::Om => "OM",
            Algorithm::Sm => "SM",
        })
    }
}

/// What the traitors do. All traitors of a run follow the same strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Send attack to the odd-numbered generals and retreat to the even ones,
    /// whatever the traitor was told.
    Split,
    /// Send the opposite of what the traitor was told (a traitor commander:
    /// the opposite of the order). Under SM a relayed lie is a forgery
    /// attempt, refused by every receiver.
    Lie,
    /// Send nothing.
    Silent,
    /// One plan shared by all traitors. A loyal commander's order is
    /// contradicted to every loyal lieutenant; a traitor commander's army is
    /// split, attack to the first half of the loyal lieutenants and retreat
    /// to the rest. Under SM the traitors pool their keys and deliver each
    /// half its order under the longest chain of traitor signatures they can
    /// make, as late as the rounds allow.
    Collude,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Split => "split",
            Strategy::Lie => "lie",
            Strategy::Silent => "silent",
            Strategy::Collude => "collude",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Strategy, String> {
        STRATEGIES
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| format!("{s:?} is not a strategy: split, lie, silent or collude"))
    }
}

/// One run: who is loyal, the commander's order, the depth m.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Generals in all, the commander included.
    pub generals: usize,
    /// The depth of the algorithm: OM(m) or SM(m).
    pub m: usize,
    pub traitors: BTreeSet<usize>,
    /// What a loyal commander orders.
    pub order: Order,
    pub strategy: Strategy,
}

impl Setup {
    /// Checks the numbers: 2 to [`MAX_GENERALS`] generals, traitors among
    /// them, and m at most n-2 (each level of recursion takes one general
    /// away, and OM(0) needs a commander and a lieutenant).
    pub fn check(&self) -> Result<(), String> {
        let n = self.generals;
        if !(2..=MAX_GENERALS).contains(&n) {
            return Err(format!(
                "{n} generals: a run takes 2 to {MAX_GENERALS} (the commander and its lieutenants)"
            ));
        }
        if let Some(t) = self.traitors.iter().find(|&&t| t >= n) {
            return Err(format!(
                "traitor {t}: the generals are numbered 0 (the commander) to {}",
                n - 1
            ));
        }
        if self.m > n - 2 {
            return Err(format!(
                "m = {}: with {n} generals the recursion goes at most {} deep",
                self.m,
                n - 2
            ));
        }
        Ok(())
    }

    pub fn loyal(&self, g: usize) -> bool {
        !self.traitors.contains(&g)
    }

    /// The loyal lieutenants, in order.
    pub fn loyal_lieutenants(&self) -> Vec<usize> {
        (1..self.generals).filter(|&g| self.loyal(g)).collect()
    }
}

/// What happened to a message at its receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    /// SM only: a signature chain that does not verify, or is malformed.
    Refused(String),
}

/// One message. Under OM, `path` is who passed the value on, the commander
/// first and the sender last ("0 said, 2 says": `[0, 2]`). Under SM it is the
/// signers of the order's chain, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// 1 for the commander's messages, k for a value passed on k-1 times.
    pub round: usize,
    pub to: usize,
    pub path: Vec<usize>,
    pub value: Order,
    pub fate: Fate,
}

impl Message {
    pub fn from(&self) -> usize {
        *self.path.last().expect("a message has a sender")
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path: Vec<String> = self.path.iter().map(|g| g.to_string()).collect();
        write!(
            f,
            "round {}  {} -> {}  {:<7}  via {}",
            self.round,
            self.from(),
            self.to,
            self.value,
            path.join(":")
        )?;
        if let Fate::Refused(why) = &self.fate {
            write!(f, "  REFUSED: {why}")?;
        }
        Ok(())
    }
}

/// A run's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The order each loyal lieutenant obeys.
    pub decisions: BTreeMap<usize, Order>,
    /// Every message sent, in order.
    pub messages: Vec<Message>,
}

impl Outcome {
    /// IC1: all loyal lieutenants obey the same order.
    pub fn ic1(&self) -> bool {
        let mut d = self.decisions.values();
        match d.next() {
            Some(first) => d.all(|x| x == first),
            None => true,
        }
    }

    /// IC2: if the commander is loyal, every loyal lieutenant obeys its
    /// order. `None` when the commander is a traitor (IC2 then asks nothing).
    pub fn ic2(&self, setup: &Setup) -> Option<bool> {
        setup
            .loyal(0)
            .then(|| self.decisions.values().all(|&d| d == setup.order))
    }

    pub fn holds(&self, setup: &Setup) -> bool {
        self.ic1() && self.ic2(setup) != Some(false)
    }

    /// Messages sent (refused forgeries included).
    pub fn sent(&self) -> usize {
        self.messages.len()
    }

    pub fn refused(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| m.fate != Fate::Delivered)
            .count()
    }

    /// What lieutenant `g` received: (path, value) in order, refused ones out.
    pub fn view(&self, g: usize) -> Vec<(Vec<usize>, Order)> {
        self.messages
            .iter()
            .filter(|m| m.to == g && m.fate == Fate::Delivered)
            .map(|m| (m.path.clone(), m.value))
            .collect()
    }
}

/// Runs one algorithm on one setup.
pub fn run(algorithm: Algorithm, setup: &Setup) -> Result<Outcome, String> {
    setup.check()?;
    Ok(match algorithm {
        Algorithm::Om => om::run(setup),
        Algorithm::Sm => sm::run(setup),
    })
}

/// The messages OM(m) sends among n generals when everyone sends, as the
/// paper counts them: (n-1) + (n-1)(n-2) + ... + (n-1)(n-2)...(n-m-1).
pub fn om_messages(n: usize, m: usize) -> usize {
    (0..=m)
        .map(|k| (1..=k + 1).map(|j| n.saturating_sub(j)).product::<usize>())
        .sum()
}

/// The messages SM(m) sends among n loyal generals: the commander's n-1,
/// then, if m > 0, each lieutenant passes the one order on to the n-2 others
/// once; nobody relays a value it already holds.
pub fn sm_loyal_messages(n: usize, m: usize) -> usize {
    (n - 1) + if m > 0 { (n - 1) * (n - 2) } else { 0 }
}

/// Whether the paper guarantees IC1 and IC2: Theorem 1 for OM(m) (more than
/// 3m generals, at most m traitors), Theorem 2 for SM(m) (at most m traitors).
pub fn guaranteed(algorithm: Algorithm, n: usize, m: usize, traitors: usize) -> bool {
    match algorithm {
        Algorithm::Om => n > 3 * m && traitors <= m,
        Algorithm::Sm => traitors <= m,
    }
}

/// Every way of placing `t` traitors among `n` generals, as sorted sets.
pub fn placements(n: usize, t: usize) -> Vec<BTreeSet<usize>> {
    let mut out = Vec::new();
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize == t {
            out.push((0..n).filter(|g| mask & (1 << g) != 0).collect());
        }
    }
    out
}

/// A row of the exhaustive table: one algorithm, n, m and number of traitors,
/// over every placement of them, every strategy and both orders.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub runs: usize,
    pub ic1_failed: usize,
    pub ic2_failed: usize,
    /// Runs in which IC1 or IC2 failed.
    pub failed: usize,
    pub max_messages: usize,
    pub refused: usize,
    /// The first failing run: traitors, strategy, order.
    pub example: Option<(BTreeSet<usize>, Strategy, Order)>,
}

/// Runs `algorithm` on n generals with depth m and t traitors: every placement
/// of the traitors, every strategy, both orders.
pub fn tally(algorithm: Algorithm, n: usize, m: usize, t: usize) -> Tally {
    let mut out = Tally::default();
    for traitors in placements(n, t) {
        for strategy in STRATEGIES {
            for order in [Order::Attack, Order::Retreat] {
                let setup = Setup {
                    generals: n,
                    m,
                    traitors: traitors.clone(),
                    order,
                    strategy,
                };
                let o = run(algorithm, &setup).expect("valid setup");
                out.runs += 1;
                out.max_messages = out.max_messages.max(o.sent());
                out.refused += o.refused();
                let ic1 = o.ic1();
                let ic2 = o.ic2(&setup) != Some(false);
                out.ic1_failed += usize::from(!ic1);
                out.ic2_failed += usize::from(!ic2);
                if !(ic1 && ic2) {
                    out.failed += 1;
                    out.example
                        .get_or_insert_with(|| (traitors.clone(), strategy, order));
                }
            }
        }
    }
    out
}

/// The majority of `values`, or retreat if there is none (the paper's
/// `majority`, section 3).
pub fn majority(values: &[Order]) -> Order {
    let attack = values.iter().filter(|&&v| v == Order::Attack).count();
    if 2 * attack > values.len() {
        Order::Attack
    } else {
        Order::Retreat
    }
}

/// The paper's choice function for SM (section 4): the one order in `v` if
/// there is exactly one, retreat otherwise.
pub fn choice(v: &BTreeSet<Order>) -> Order {
    match (v.len(), v.iter().next()) {
        (1, Some(&only)) => only,
        _ => Order::Retreat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_needs_more_than_half_and_defaults_to_retreat() {
        use Order::*;
        assert_eq!(majority(&[Attack, Attack, Retreat]), Attack);
        assert_eq!(majority(&[Attack, Retreat]), Retreat);
        assert_eq!(majority(&[]), Retreat);
    }

    #[test]
    fn choice_obeys_a_single_order_only() {
        use Order::*;
        assert_eq!(choice(&[Attack].into()), Attack);
        assert_eq!(choice(&[Attack, Retreat].into()), Retreat);
        assert_eq!(choice(&BTreeSet::new()), Retreat);
    }

    #[test]
    fn placements_are_every_subset_of_a_size() {
        assert_eq!(placements(5, 2).len(), 10);
        assert_eq!(placements(7, 0), vec![BTreeSet::new()]);
    }

    #[test]
    fn bad_setups_are_refused_with_a_reason() {
        let s = |generals, m, traitors: &[usize]| Setup {
            generals,
            m,
            traitors: traitors.iter().copied().collect(),
            order: Order::Attack,
            strategy: Strategy::Split,
        };
        assert!(s(1, 0, &[]).check().is_err());
        assert!(s(MAX_GENERALS + 1, 1, &[]).check().is_err());
        assert!(s(4, 1, &[4])
            .check()
            .expect_err("no general 4")
            .contains("numbered 0"));
        assert!(s(4, 3, &[])
            .check()
            .expect_err("too deep")
            .contains("at most 2"));
        assert!(s(4, 2, &[0, 3]).check().is_ok());
    }
}
