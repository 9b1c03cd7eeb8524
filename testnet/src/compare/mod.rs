//! `generals-testnet compare [FILE] --consensus pow,pos,poa,bft,dpos,pbft [--sim
//! --seeds K] [--out DIR]`: one scenario on each mechanism, side by side.
//!
//! A node's role maps across mechanisms by its share of the deciding
//! resource: its weight is hash power on proof of work and stake on proof of
//! stake and BFT; on proof of authority each node holds one seat. The role
//! `attacker` is each mechanism's usual attack (`ATTACKS`), and `roles = {..}`
//! names one per mechanism. Each mechanism's runs (real processes, or K seeds
//! in the simulator) give `Figures`; `summary` sets them side by side with
//! 95% intervals and the theory that applies; `report.md`, `report.json` and
//! `report.html` (SVG charts by plotters, nothing fetched) go to the output
//! folder, with each mechanism's runs in a folder of its own.
//!
//! - `figures`: one run's figures; `summary`: the figures of a mechanism
//!   over its runs, and the theory rows; `html`: the page and its charts.

pub mod figures;
mod html;
pub mod summary;

use crate::scenario::{check, judge, Scenario};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use summary::Summary;

/// The comparison a newcomer runs with no file: a third of the deciding
/// resource is Byzantine and the network splits for a while.
pub const DEFAULT: &str = include_str!("../../scenarios/compare-third-split.toml");

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// The scenario (TOML); without one, the built-in comparison
    /// (testnet/scenarios/compare-third-split.toml).
    pub file: Option<PathBuf>,
    /// The mechanisms to compare.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "pow,pos,poa,bft,dpos,pbft"
    )]
    pub consensus: Vec<String>,
    /// Run in the simulator instead of on real processes.
    #[arg(long)]
    pub sim: bool,
    /// With --sim: seeds a mechanism, from the scenario's own.
    #[arg(long, default_value_t = 20)]
    pub seeds: u64,
    /// The comparison's folder (compare-NAME if left out).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// With --sim: also run the scenario with the Byzantine nodes holding
    /// each of these shares of the deciding resource (their weights scaled),
    /// for the chart of the attack's success against the attacker's share.
    /// Proof of authority keeps its seats.
    #[arg(long, value_delimiter = ',')]
    pub shares: Vec<f64>,
}

/// The simulator's runs of `s`, `seeds` of them, in `folder`.
fn simulated(s: &Scenario, seeds: u64, folder: &std::path::Path) -> Result<Vec<figures::Figures>> {
    let (outcomes, verdicts) = crate::scenario::simulate_seeds(s, seeds, folder)?;
    outcomes
        .iter()
        .zip(&verdicts)
        .enumerate()
        .map(|(k, (o, v))| {
            let log = folder.join(format!("events-seed-{}.jsonl", s.seed + k as u64));
            let events = check::read_sim(&log)?;
            Ok(figures::figures(s, o, v, &events))
        })
        .collect()
}

/// Leaves out the twins (they come last), and the steps, links and
/// expectations that name them.
fn drop_twins(s: &mut Scenario) {
    s.nodes.retain(|n| n.twin_of.is_none());
    let n = s.nodes.len();
    s.steps
        .retain(|st| st.action().is_ok_and(|a| a.nodes().iter().all(|x| *x < n)));
    if let Some(net) = &mut s.network {
        net.links.retain(|l| l.a < n && l.b < n);
    }
    for list in [&mut s.expect.jailed, &mut s.expect.voted_out]
        .into_iter()
        .flatten()
    {
        list.retain(|x| *x < n);
    }
}

/// `s` with its Byzantine nodes' weights scaled to hold `share` of the
/// deciding resource.
fn with_share(s: &Scenario, share: f64) -> Scenario {
    let mut s = s.clone();
    let honest = s.honest();
    let validators = |i: &usize| s.nodes[*i].twin_of.is_none();
    let h: f64 = (0..s.nodes.len())
        .filter(validators)
        .filter(|i| honest.contains(i))
        .map(|i| s.nodes[i].weight)
        .sum();
    let bad: Vec<usize> = (0..s.nodes.len())
        .filter(validators)
        .filter(|i| !honest.contains(i))
        .collect();
    let b: f64 = bad.iter().map(|i| s.nodes[*i].weight).sum();
    if b > 0.0 && h > 0.0 {
        let factor = share / (1.0 - share) * h / b;
        for i in bad {
            s.nodes[i].weight *= factor;
        }
    }
    s
}

pub fn run(args: CompareArgs) -> Result<()> {
    let (text, from) = match &args.file {
        Some(f) => (
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
            f.display().to_string(),
        ),
        None => (DEFAULT.to_string(), "the built-in comparison".into()),
    };
    let raw = Scenario::parse_raw(&text).with_context(|| format!("scenario {from}"))?;
    for m in &args.consensus {
        if !crate::scenario::MECHANISMS.contains(&m.as_str()) {
            bail!(
                "--consensus: {m:?} is not one of {}",
                crate::scenario::MECHANISMS.join(", ")
            );
        }
    }
    if args.seeds == 0 || args.seeds > 10_000 {
        bail!("--seeds: 1 to 10000");
    }
    if !args.shares.is_empty() && !args.sim {
        bail!("--shares sweeps in the simulator: add --sim");
    }
    if let Some(x) = args.shares.iter().find(|x| !(**x > 0.0 && **x < 1.0)) {
        bail!("--shares: {x} is not a share between 0 and 1");
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("compare-{}", raw.name)));
    // Only an earlier comparison's folder (or an empty one) is written over.
    if out.exists() {
        let earlier = out.join("report.json").exists();
        let empty = std::fs::read_dir(&out).is_ok_and(|mut d| d.next().is_none());
        if !earlier && !empty {
            bail!(
                "{} exists and is not the folder of an earlier comparison; choose another --out",
                out.display()
            );
        }
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut summaries = Vec::new();
    for m in &args.consensus {
        let mut s = raw.on(m)?;
        // The simulator clones only authorities; elsewhere its twins go
        // (they come last, so no other node's number changes).
        // (and a twin mining proof of work is only more hash power).
        let twins = s.nodes.iter().filter(|n| n.twin_of.is_some()).count();
        let dropped = ((args.sim && m != "poa") || m == "pow") && twins > 0;
        if dropped {
            drop_twins(&mut s);
        }
        let folder = out.join(m);
        println!(
            "{m}: {}",
            summary::mapping(&s).unwrap_or_else(|| "no Byzantine node".into())
        );
        let runs = if args.sim {
            simulated(&s, args.seeds, &folder)?
        } else {
            let o = crate::scenario::run_scenario(
                &s,
                &folder,
                None,
                &crate::local::RuntimeArgs::processes(),
            )?;
            let v = judge(&s, &o);
            let events = check::read_real(&folder, s.nodes.len());
            vec![figures::figures(&s, &o, &v, &events)]
        };
        let mut sum = Summary::of(&s, &runs);
        if dropped {
            sum.mapping.push_str(&format!(
                " ({twins} twin(s) left out: the simulator clones only authorities, and proof of work has no keys to clone)"
            ));
        }
        if m != "poa" {
            for x in &args.shares {
                let runs = simulated(
                    &with_share(&s, *x),
                    args.seeds,
                    &folder.join(format!("share-{x}")),
                )?;
                sum.curve.push((*x, summary::success(&runs)));
            }
        }
        summary::print(&sum);
        summaries.push(sum);
    }
    let json = serde_json::json!({
        "scenario": raw.name,
        "description": raw.description,
        "source": from,
        "runs": if args.sim { format!("simulator, {} seeds a mechanism from seed {}", args.seeds, raw.seed) } else { "real processes, one run a mechanism".into() },
        "version": env!("CARGO_PKG_VERSION"),
        "mechanisms": summaries,
    });
    std::fs::write(out.join("report.json"), serde_json::to_vec_pretty(&json)?)?;
    std::fs::write(
        out.join("report.md"),
        summary::markdown(&raw, &summaries, &json),
    )?;
    std::fs::write(
        out.join("report.html"),
        html::page(&raw, &summaries, &json)?,
    )?;
    println!(
        "report: {} (and report.md, report.json)",
        out.join("report.html").display()
    );
    Ok(())
}
