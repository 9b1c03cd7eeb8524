//! `generals-testnet lamport`: Lamport, Shostak and Pease's oral (OM) and
//! signed (SM) messages algorithms, one run with its messages and decisions,
//! or `--exhaustive`: every placement of traitors and every strategy for each
//! number of generals and depth m, against the paper's theorems.

use anyhow::{bail, Result};
use generals_consensus::generals::{
    self, guaranteed, om_messages, sm_loyal_messages, tally, Algorithm, Order, Setup, Strategy,
    Tally, MAX_GENERALS,
};
use std::collections::BTreeSet;

#[derive(clap::Args, Debug)]
pub struct LamportArgs {
    /// om: oral messages, OM(m); sm: signed messages, SM(m).
    #[arg(long, default_value = "om", value_parser = ["om", "sm"])]
    algorithm: String,
    /// Generals in all: the commander (general 0) and its lieutenants (1..N-1).
    #[arg(long, default_value_t = 4)]
    generals: usize,
    /// The traitors, by number (0 is the commander), e.g. 2,5.
    #[arg(long, value_delimiter = ',')]
    traitors: Vec<usize>,
    /// The depth of the algorithm (default: as many as there are traitors,
    /// at most generals - 2).
    #[arg(long)]
    m: Option<usize>,
    /// What a loyal commander orders: attack or retreat.
    #[arg(long, default_value = "attack")]
    order: String,
    /// What the traitors do: split (attack to odd-numbered generals, retreat
    /// to even), lie (the opposite of what they were told; under SM a
    /// forgery, refused), silent (nothing), collude (one plan for all: split
    /// the loyal army, or contradict a loyal commander).
    #[arg(long, default_value = "split")]
    strategy: String,
    /// Print every message.
    #[arg(long)]
    trace: bool,
    /// Every placement of 1 to N-1 traitors, every strategy and both orders,
    /// for each number of generals N from 3 and every m from 0 to N-2: a
    /// table of where OM and SM hold.
    #[arg(long)]
    exhaustive: bool,
    /// With --exhaustive: the most generals.
    #[arg(long, default_value_t = 7)]
    max_generals: usize,
}

pub fn run(args: LamportArgs) -> Result<()> {
    if args.exhaustive {
        if !(3..=8).contains(&args.max_generals) {
            bail!("--max-generals must be 3 to 8");
        }
        exhaustive(args.max_generals);
        return Ok(());
    }
    let algorithm = match args.algorithm.as_str() {
        "sm" => Algorithm::Sm,
        _ => Algorithm::Om,
    };
    let order: Order = args.order.parse().map_err(anyhow::Error::msg)?;
    let strategy: Strategy = args.strategy.parse().map_err(anyhow::Error::msg)?;
    let traitors: BTreeSet<usize> = args.traitors.iter().copied().collect();
    if traitors.len() != args.traitors.len() {
        bail!("--traitors names a general twice");
    }
    let n = args.generals;
    if !(2..=MAX_GENERALS).contains(&n) {
        bail!("--generals must be 2 to {MAX_GENERALS}");
    }
    let m = args.m.unwrap_or(traitors.len().min(n - 2));
    let setup = Setup {
        generals: n,
        m,
        traitors,
        order,
        strategy,
    };
    let outcome = generals::run(algorithm, &setup).map_err(anyhow::Error::msg)?;
    let who = |g: usize| if setup.loyal(g) { "loyal" } else { "traitor" };
    println!(
        "{algorithm}({m}) with {n} generals: commander 0 ({}), lieutenants 1..{}",
        who(0),
        n - 1
    );
    let list: Vec<String> = setup.traitors.iter().map(|g| g.to_string()).collect();
    println!(
        "traitors: {} ({strategy}); a loyal commander orders {order}",
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        }
    );
    if args.trace {
        println!();
        for msg in &outcome.messages {
            println!("  {msg}");
        }
    }
    println!();
    let expected = match algorithm {
        Algorithm::Om => format!("OM({m}) with {n} generals sends {}", om_messages(n, m)),
        Algorithm::Sm => format!(
            "SM({m}) among {n} loyal generals sends {}",
            sm_loyal_messages(n, m)
        ),
    };
    println!(
        "messages: {} sent, {} refused ({expected} when everyone sends)",
        outcome.sent(),
        outcome.refused()
    );
    println!("decisions:");
    for g in 1..n {
        match outcome.decisions.get(&g) {
            Some(d) => println!("  lieutenant {g} (loyal)    {d}"),
            None => println!("  lieutenant {g} (traitor)  -"),
        }
    }
    let yes = |b: bool| if b { "holds" } else { "FAILS" };
    println!(
        "IC1 (all loyal lieutenants obey the same order): {}",
        yes(outcome.ic1())
    );
    match outcome.ic2(&setup) {
        Some(b) => println!(
            "IC2 (every loyal lieutenant obeys the loyal commander): {}",
            yes(b)
        ),
        None => println!("IC2: holds (the commander is a traitor, so IC2 asks nothing)"),
    }
    let t = setup.traitors.len();
    let theorem = match algorithm {
        Algorithm::Om => format!(
            "Theorem 1 (more than 3m generals, at most m traitors): {n} > {} and {t} <= {m}",
            3 * m
        ),
        Algorithm::Sm => format!("Theorem 2 (at most m traitors): {t} <= {m}"),
    };
    println!(
        "{theorem}: {}",
        if guaranteed(algorithm, n, m, t) {
            "guaranteed"
        } else {
            "not guaranteed"
        }
    );
    Ok(())
}

fn cell(algorithm: Algorithm, n: usize, m: usize, t: usize, x: &Tally) -> String {
    let verdict = match (x.failed == 0, guaranteed(algorithm, n, m, t)) {
        (true, true) => "holds (theorem)",
        (true, false) => "holds",
        (false, false) => "FAILS",
        (false, true) => "FAILS, against the theorem",
    };
    format!("{verdict:<16} {:>4}/{:<4}", x.failed, x.runs)
}

fn example(x: &Tally) -> String {
    match &x.example {
        None => String::new(),
        Some((traitors, strategy, order)) => {
            let list: Vec<String> = traitors.iter().map(|g| g.to_string()).collect();
            format!("traitors {} {strategy} {order}", list.join(","))
        }
    }
}

/// Prints the exhaustive table for 3 to `max` generals.
pub fn exhaustive(max: usize) {
    println!(
        "Every placement of t traitors among n generals, every strategy (split, lie, silent, collude) \
         and both orders; a run fails if IC1 or IC2 fails."
    );
    println!(
        "OM(m) is guaranteed for n > 3m and t <= m (Theorem 1); SM(m) for t <= m (Theorem 2). \
         msgs: messages sent when everyone sends (OM), most sent in a run (SM)."
    );
    println!();
    println!(
        "{:>2} {:>2} {:>2} | {:<16} {:>9} {:>5} | {:<16} {:>9} {:>5} {:>7} | first failure",
        "n", "m", "t", "OM(m)", "fail/runs", "msgs", "SM(m)", "fail/runs", "msgs", "refused"
    );
    for n in 3..=max {
        for m in 0..=n - 2 {
            for t in 1..n {
                let om = tally(Algorithm::Om, n, m, t);
                let sm = tally(Algorithm::Sm, n, m, t);
                let first = if om.example.is_some() {
                    format!("OM: {}", example(&om))
                } else {
                    String::new()
                };
                let first = match (&sm.example, first.is_empty()) {
                    (None, _) => first,
                    (Some(_), true) => format!("SM: {}", example(&sm)),
                    (Some(_), false) => format!("{first}; SM: {}", example(&sm)),
                };
                println!(
                    "{n:>2} {m:>2} {t:>2} | {} {:>5} | {} {:>5} {:>7} | {first}",
                    cell(Algorithm::Om, n, m, t, &om),
                    om.max_messages,
                    cell(Algorithm::Sm, n, m, t, &sm),
                    sm.max_messages,
                    sm.refused,
                );
            }
        }
    }
}
