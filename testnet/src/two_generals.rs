//! `generals-testnet two-generals`: the Two Generals problem (Akkoyunlu,
//! Ekanadham and Huber 1975; Gray 1978), run courier by courier over a channel
//! that loses each courier with probability P (seeded).
//!
//! - The handshake of R couriers: A's order ("I attack if you answer"), B's
//!   answer, A's answer to that, and so on; each courier leaves only once the
//!   one before it arrived, and each general attacks if every courier due to
//!   it arrived. Losing the last courier leaves its sender committed and its
//!   receiver not, whatever R: no finite protocol guarantees agreement.
//! - The practical answer: A commits, sends K couriers, and B attacks if any
//!   arrives. They disagree only when all K are lost, with probability P^K.

use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct TwoGeneralsArgs {
    /// Couriers of the handshake in the traced run.
    #[arg(long, default_value_t = 4)]
    rounds: u32,
    /// The chance that the channel loses a courier, 0 to 1.
    #[arg(long, default_value_t = 0.3)]
    loss: f64,
    /// The seed of the traced run; the tables use seeds 0 to --seeds - 1.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs (one seed each) behind every row of the tables.
    #[arg(long, default_value_t = 20_000)]
    seeds: u64,
    /// The handshake table's rows: 1 to this many couriers.
    #[arg(long, default_value_t = 10)]
    max_rounds: u32,
    /// The courier table's losses P.
    #[arg(long, value_delimiter = ',', default_values_t = [0.1, 0.3, 0.5, 0.7])]
    losses: Vec<f64>,
    /// The courier table's numbers of couriers K.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4, 8])]
    couriers: Vec<u32>,
    /// Print the runs and the tables as one JSON document.
    #[arg(long)]
    json: bool,
}

/// The most couriers a handshake or a volley may have.
const MAX_COURIERS: u32 = 64;
/// The most runs behind a row.
const MAX_SEEDS: u64 = 10_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum General {
    A,
    B,
}

impl General {
    fn other(self) -> General {
        match self {
            General::A => General::B,
            General::B => General::A,
        }
    }
}

/// One courier and its fate.
#[derive(Clone, Debug, Serialize)]
pub struct Courier {
    pub number: u32,
    pub from: General,
    pub to: General,
    pub arrived: bool,
}

/// One run: the couriers that left, in order, and what each general did.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub couriers: Vec<Courier>,
    pub a_attacks: bool,
    pub b_attacks: bool,
}

impl Run {
    pub fn agree(&self) -> bool {
        self.a_attacks == self.b_attacks
    }
}

/// The handshake of `rounds` couriers, courier `i` lost when `lost(i)`.
/// Odd couriers go from A to B, even ones back; each leaves once the one
/// before it arrived. A general attacks when every courier due to it arrived:
/// A the `rounds / 2` answers, B the `(rounds + 1) / 2` others.
pub fn handshake(rounds: u32, mut lost: impl FnMut(u32) -> bool) -> Run {
    let mut couriers = Vec::new();
    let mut got = [0u32; 2];
    for number in 1..=rounds {
        let from = if number % 2 == 1 {
            General::A
        } else {
            General::B
        };
        let arrived = !lost(number);
        couriers.push(Courier {
            number,
            from,
            to: from.other(),
            arrived,
        });
        if !arrived {
            break;
        }
        got[from.other() as usize] += 1;
    }
    Run {
        couriers,
        a_attacks: got[General::A as usize] == rounds / 2,
        b_attacks: got[General::B as usize] == rounds.div_ceil(2),
    }
}

/// A commits to attack and sends `k` couriers; B attacks if any arrives.
pub fn volley(k: u32, mut lost: impl FnMut(u32) -> bool) -> Run {
    let couriers: Vec<Courier> = (1..=k)
        .map(|number| Courier {
            number,
            from: General::A,
            to: General::B,
            arrived: !lost(number),
        })
        .collect();
    let b_attacks = couriers.iter().any(|c| c.arrived);
    Run {
        couriers,
        a_attacks: true,
        b_attacks,
    }
}

/// A channel losing each courier with probability `p`, from `seed`.
fn channel(p: f64, seed: u64) -> impl FnMut(u32) -> bool {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    move |_| rng.gen_bool(p)
}

/// A measured rate beside the value the model predicts.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub loss: f64,
    /// Couriers: R for the handshake, K for the volley.
    pub couriers: u32,
    pub runs: u64,
    pub disagreements: u64,
    pub measured: f64,
    pub expected: f64,
    /// The standard error of the measured rate around the expected one.
    pub std_error: f64,
    /// Whether the measured rate lies within 4 standard errors (and one run).
    pub within: bool,
}

impl Row {
    fn new(loss: f64, couriers: u32, runs: u64, disagreements: u64, expected: f64) -> Row {
        let measured = disagreements as f64 / runs as f64;
        let std_error = (expected * (1.0 - expected) / runs as f64).sqrt();
        Row {
            loss,
            couriers,
            runs,
            disagreements,
            measured,
            expected,
            std_error,
            within: (measured - expected).abs() <= 4.0 * std_error + 1.0 / runs as f64,
        }
    }
}

/// Disagreement of the handshake over `runs` seeds: it happens exactly when
/// the first R - 1 couriers arrive and the last is lost, (1 - P)^(R-1) P.
pub fn handshake_row(loss: f64, rounds: u32, runs: u64) -> Row {
    let bad = (0..runs)
        .filter(|&s| !handshake(rounds, channel(loss, s)).agree())
        .count() as u64;
    let expected = (1.0 - loss).powi(rounds as i32 - 1) * loss;
    Row::new(loss, rounds, runs, bad, expected)
}

/// Disagreement of the volley over `runs` seeds, beside P^K.
pub fn volley_row(loss: f64, k: u32, runs: u64) -> Row {
    let bad = (0..runs)
        .filter(|&s| !volley(k, channel(loss, s)).agree())
        .count() as u64;
    Row::new(loss, k, runs, bad, loss.powi(k as i32))
}

#[derive(Serialize)]
struct Report {
    traced: Run,
    /// For each R from 1: the handshake with only its last courier lost.
    last_lost: Vec<Run>,
    handshake: Vec<Row>,
    volley: Vec<Row>,
}

const ARGUMENT: &str = "\
Why no number of couriers is enough (Akkoyunlu, Ekanadham and Huber; Gray):
  Suppose a protocol of R couriers made both generals act alike on every run.
  Take the run where all R arrive, and lose the last one instead. Its sender
  sees nothing different (no courier comes back to it either way), so it does
  what it did. If the receiver also did what it did, the last courier changed
  nothing and R - 1 couriers would have done; repeat down to 0 couriers, where
  B learns nothing of A's plan yet must act as A does: impossible. So some
  courier's loss splits them, and the table above shows it is always the last.
  The practical answer gives up certainty for probability: A commits and sends
  K couriers; they disagree only when all K are lost, P^K.";

pub fn run(args: TwoGeneralsArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.loss) {
        bail!("--loss must be between 0 and 1, not {}", args.loss);
    }
    if let Some(p) = args.losses.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        bail!("--losses must be between 0 and 1, not {p}");
    }
    for (name, n) in [("--rounds", args.rounds), ("--max-rounds", args.max_rounds)]
        .into_iter()
        .chain(args.couriers.iter().map(|k| ("--couriers", *k)))
    {
        if !(1..=MAX_COURIERS).contains(&n) {
            bail!("{name} must be 1 to {MAX_COURIERS}, not {n}");
        }
    }
    if !(1..=MAX_SEEDS).contains(&args.seeds) {
        bail!("--seeds must be 1 to {MAX_SEEDS}, not {}", args.seeds);
    }
    let report = Report {
        traced: handshake(args.rounds, channel(args.loss, args.seed)),
        last_lost: (1..=args.max_rounds)
            .map(|r| handshake(r, |i| i == r))
            .collect(),
        handshake: (1..=args.max_rounds)
            .map(|r| handshake_row(args.loss, r, args.seeds))
            .collect(),
        volley: args
            .losses
            .iter()
            .flat_map(|&p| args.couriers.iter().map(move |&k| (p, k)))
            .map(|(p, k)| volley_row(p, k, args.seeds))
            .collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print!("{}", render(&args, &report));
    Ok(())
}

fn said(c: &Courier) -> String {
    match c.number {
        1 => "attack at dawn, if you answer".to_string(),
        n => format!("your courier {} arrived", n - 1),
    }
}

fn act(attacks: bool) -> &'static str {
    if attacks {
        "attacks"
    } else {
        "retreats"
    }
}

fn render(args: &TwoGeneralsArgs, r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "The handshake, {} couriers, each lost with probability {}, seed {}\n\
         (a courier leaves once the one before it arrived; a general attacks\n\
         only if every courier due to it arrived):",
        args.rounds, args.loss, args.seed
    );
    for c in &r.traced.couriers {
        let fate = if c.arrived { "arrived" } else { "LOST" };
        let _ = writeln!(
            s,
            "  courier {:>2}  {:?} -> {:?}  {:<32} {fate}",
            c.number,
            c.from,
            c.to,
            format!("\"{}\"", said(c))
        );
    }
    let verdict = |run: &Run| {
        format!(
            "A {}, B {}: {}",
            act(run.a_attacks),
            act(run.b_attacks),
            if run.agree() {
                "they agree"
            } else {
                "THEY DISAGREE"
            }
        )
    };
    let _ = writeln!(s, "  {}\n", verdict(&r.traced));
    let _ = writeln!(s, "Every courier arrives but the last:");
    for run in &r.last_lost {
        let _ = writeln!(s, "  R = {:>2}: {}", run.couriers.len(), verdict(run));
    }
    let _ = writeln!(
        s,
        "\nThe handshake over {} seeds, loss {}: disagreement measured and (1-P)^(R-1) P",
        args.seeds, args.loss
    );
    table(&mut s, "R", &r.handshake);
    let _ = writeln!(s, "\n{ARGUMENT}\n");
    let _ = writeln!(
        s,
        "The volley over {} seeds: A commits and sends K couriers, B attacks if one arrives",
        args.seeds
    );
    table(&mut s, "K", &r.volley);
    s
}

fn table(s: &mut String, n: &str, rows: &[Row]) {
    use std::fmt::Write;
    let _ = writeln!(
        s,
        "| P | {n} | disagreed | measured | expected | std. error | within 4 s.e. |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for row in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {}/{} | {:.6} | {:.6} | {:.6} | {} |",
            row.loss,
            row.couriers,
            row.disagreements,
            row.runs,
            row.measured,
            row.expected,
            row.std_error,
            if row.within { "yes" } else { "NO" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losing_the_last_courier_splits_the_generals_for_every_r() {
        for r in 1..=10 {
            let all = handshake(r, |_| false);
            assert!(all.a_attacks && all.b_attacks, "R = {r}: all arrive");
            let last = handshake(r, |i| i == r);
            assert!(!last.agree(), "R = {r}: the last courier lost");
            // Its sender attacks, its receiver does not.
            let sender_attacks = if r % 2 == 1 {
                last.a_attacks
            } else {
                last.b_attacks
            };
            assert!(sender_attacks, "R = {r}");
            // Losing any earlier courier leaves both at home.
            for k in 1..r {
                let early = handshake(r, |i| i == k);
                assert!(!early.a_attacks && !early.b_attacks, "R = {r}, lost {k}");
                assert_eq!(
                    early.couriers.len() as u32,
                    k,
                    "nothing leaves after a loss"
                );
            }
        }
    }

    #[test]
    fn a_volley_disagrees_only_when_every_courier_is_lost() {
        assert!(!volley(3, |_| true).agree());
        assert!(volley(3, |i| i != 2).agree());
        assert!(volley(3, |_| false).agree());
    }

    #[test]
    fn measured_rates_match_the_model() {
        for row in [volley_row(0.5, 2, 20_000), handshake_row(0.3, 3, 20_000)] {
            assert!(row.within, "{row:?}");
        }
        // A wrong model is caught: P^K against K + 1 couriers.
        let wrong = volley_row(0.5, 3, 20_000);
        let claimed = Row::new(0.5, 3, wrong.runs, wrong.disagreements, 0.25);
        assert!(!claimed.within, "{claimed:?}");
    }
}
