//! Scenario files: nodes, their roles, a timeline of faults and the
//! expectations of a run, in one TOML file that runs on real nodes
//! (`generals-testnet run FILE`) and in the simulator (`generals-testnet sim
//! --scenario FILE --seeds K`). Both runs end in one `Outcome`, which the same
//! expectations judge.
//!
//! - `format`: the file and its checks;
//! - `real`: the run on real processes; `sim`: the runs in the simulator;
//! - here: the outcome, the verdicts and the report files.

mod act;
pub mod check;
pub mod format;
mod observe;
mod real;
mod sim;
pub mod timeline;

pub use format::{Scenario, MECHANISMS};
pub(crate) use real::run_scenario;
pub use real::{run, RunArgs};
pub use sim::simulate;
pub(crate) use sim::simulate_seeds;

use format::{Expect, Outcome as Goal, Presence};
use serde::Serialize;

/// What a run ended with, real or simulated.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    /// "real nodes" or "simulator, seed N".
    pub source: String,
    /// Each node's final height (none for a node that was down).
    pub heights: Vec<Option<u64>>,
    /// Messages the nodes sent over the network, all of them (real nodes:
    /// those running at the end, from their metrics).
    pub messages: Option<u64>,
    /// Heights at which two honest nodes decided (BFT) or kept, k blocks
    /// deep (the others), different blocks.
    pub conflicts: Vec<u64>,
    /// Nodes jailed for evidence of double signing (a twin counts as the
    /// node it copies).
    pub jailed: Vec<usize>,
    /// Proof of authority: authorities no longer in the set at the end.
    pub voted_out: Vec<usize>,
    /// A private fork's payment: reverted (true) or kept (false).
    pub double_spend: Option<bool>,
    /// Each node's share of the main chain of the first honest node.
    pub shares: Vec<f64>,
    /// Every honest node on one tip at the end.
    pub converged: bool,
    /// The workload (real nodes): transactions the nodes accepted, and of
    /// those, on the main chain at the end.
    pub accepted: Option<u64>,
    pub included: Option<u64>,
    /// After the timeline's last heal, resume or restart: the seconds until
    /// every honest node had added a block (`Some(None)`: one never did;
    /// `None`: the timeline heals nothing).
    pub recovery_s: Option<Option<f64>>,
    /// The deepest reorg an honest node went through (from the event stream).
    pub deepest_reorg: u64,
    /// Nodes whose main chain leaves the first honest node's at or below
    /// its finalized height.
    pub forked: Vec<usize>,
    /// Honest nodes that evidence names (their key signed twice).
    pub accused: Vec<usize>,
    /// Honest nodes whose main chain did not replay from genesis to the
    /// state roots its headers name, with the error.
    pub replay_failures: Vec<String>,
    /// The transactions the timeline's steps had nodes sign.
    pub watched: Vec<act::Watched>,
    /// A censoring cartel (the simulator's collude, with a workload): the
    /// share of its victims' transfers kept off the main chain beyond the
    /// share of everyone else's.
    pub censored: Option<f64>,
}

/// One expectation and whether the run met it, with the evidence.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub expectation: String,
    pub passed: bool,
    pub detail: String,
}

/// Judges an outcome: one verdict per expectation the scenario sets.
pub fn judge(s: &Scenario, o: &Outcome) -> Vec<Verdict> {
    let e: &Expect = &s.expect;
    let honest: Vec<usize> = s.honest();
    let mut out = Vec::new();
    let mut add = |name: String, passed: bool, detail: String| {
        out.push(Verdict {
            expectation: name,
            passed,
            detail,
        })
    };
    // Always: no honest node is jailed (a node whose key a twin holds is not
    // honest: its key signs twice).
    let cloned: Vec<usize> = s.nodes.iter().filter_map(|x| x.twin_of).collect();
    let wronged: Vec<usize> = honest
        .iter()
        .copied()
        .filter(|i| !cloned.contains(i) && o.jailed.contains(i))
        .collect();
    add(
        "no honest node jailed (always)".into(),
        wronged.is_empty(),
        if wronged.is_empty() {
            "none".into()
        } else {
            format!("honest nodes jailed: {wronged:?}")
        },
    );
    add(
        "no evidence against an honest node (always)".into(),
        o.accused.is_empty(),
        if o.accused.is_empty() {
            "none".into()
        } else {
            format!("evidence names honest nodes {:?}", o.accused)
        },
    );
    add(
        "honest chains replay from genesis (always)".into(),
        o.replay_failures.is_empty(),
        if o.replay_failures.is_empty() {
            "every block gives the state root its header names".into()
        } else {
            o.replay_failures.join("; ")
        },
    );
    // Always, with a workload or signed steps: nothing a node acknowledged
    // is lost.
    let taken: Vec<&act::Watched> = o.watched.iter().filter(|w| w.accepted).collect();
    if o.accepted.is_some() || !taken.is_empty() {
        let (a, i) = (o.accepted.unwrap_or(0), o.included.unwrap_or(0));
        let lost: Vec<String> = taken
            .iter()
            .filter(|w| !w.kept)
            .map(|w| format!("{} ({})", w.step, &w.hash[..8.min(w.hash.len())]))
            .collect();
        let mut parts = Vec::new();
        if o.accepted.is_some() {
            parts.push(format!("{i} of {a} accepted transfers on the main chain"));
        }
        if !taken.is_empty() {
            parts.push(format!(
                "{} of {} signed steps' transactions on the main chain",
                taken.len() - lost.len(),
                taken.len()
            ));
        }
        let mut detail = parts.join("; ");
        if !lost.is_empty() {
            detail.push_str(&format!("; lost: {}", lost.join(", ")));
        }
        add(
            "no acknowledged transaction lost (always)".into(),
            i >= a && lost.is_empty(),
            detail,
        );
    }
    if let Some(max) = e.max_reorg_depth {
        add(
            format!("max_reorg_depth = {max}"),
            o.deepest_reorg <= max,
            format!("the deepest reorg of an honest node: {}", o.deepest_reorg),
        );
    }
    if let Some(want) = e.conflicting_decisions {
        let detail = if o.conflicts.is_empty() {
            "no two honest nodes differ at any height".to_string()
        } else {
            format!("honest nodes differ at heights {}", heights(&o.conflicts))
        };
        let passed = (want == Presence::Some) != o.conflicts.is_empty();
        let want = if want == Presence::Some {
            "some"
        } else {
            "none"
        };
        add(
            format!("conflicting_decisions = \"{want}\""),
            passed,
            detail,
        );
    }
    if let Some(want) = &e.jailed {
        let mut want = want.clone();
        want.sort_unstable();
        add(
            format!("jailed = {want:?}"),
            o.jailed == want,
            format!("jailed: {:?}", o.jailed),
        );
    }
    if let Some(want) = &e.forked {
        let mut want = want.clone();
        want.sort_unstable();
        add(
            format!("forked = {want:?}"),
            o.forked == want,
            format!(
                "nodes off node 0's finalized chain: {:?} (its finalized height and below)",
                o.forked
            ),
        );
    }
    if let Some(want) = &e.voted_out {
        let mut want = want.clone();
        want.sort_unstable();
        add(
            format!("voted_out = {want:?}"),
            o.voted_out == want,
            format!("authorities voted out: {:?}", o.voted_out),
        );
    }
    if let Some(want) = e.double_spend {
        let passed = o.double_spend == Some(want == Goal::Succeeds);
        let detail = match o.double_spend {
            Some(true) => "the payment was reverted".into(),
            Some(false) => "the payment stayed on the chain".into(),
            None => "no private fork ran".into(),
        };
        let want = if want == Goal::Succeeds {
            "succeeds"
        } else {
            "fails"
        };
        add(format!("double_spend = \"{want}\""), passed, detail);
    }
    if let Some(h) = e.min_height {
        let low: Vec<usize> = honest
            .iter()
            .copied()
            .filter(|i| o.heights.get(*i).copied().flatten().unwrap_or(0) < h)
            .collect();
        add(
            format!("min_height = {h}"),
            low.is_empty(),
            format!("heights {:?}; below: {low:?}", o.heights),
        );
    }
    if let Some(x) = e.attacker_share_at_least {
        let share: f64 = (0..s.nodes.len())
            .filter(|i| !honest.contains(i))
            .filter_map(|i| o.shares.get(i))
            .sum();
        add(
            format!("attacker_share_at_least = {x}"),
            share >= x,
            format!(
                "the Byzantine nodes hold {:.1}% of the main chain",
                share * 100.0
            ),
        );
    }
    if let Some(bound) = e.liveness_after_heal_s {
        let (passed, detail) = match o.recovery_s {
            None => (
                false,
                "the timeline has no heal, resume or restart".to_string(),
            ),
            Some(None) => (
                false,
                "an honest node added no block after the last heal".into(),
            ),
            Some(Some(secs)) => (
                secs <= bound as f64,
                format!("every honest node added a block {secs:.1} s after the last heal"),
            ),
        };
        add(format!("liveness_after_heal_s = {bound}"), passed, detail);
    }
    if let Some(want) = e.converged {
        add(
            format!("converged = {want}"),
            o.converged == want,
            format!("honest nodes on one tip: {}", o.converged),
        );
    }
    out
}

/// Prints verdicts, one line each.
pub fn print_verdicts(verdicts: &[Verdict]) {
    for v in verdicts {
        let mark = if v.passed { "pass" } else { "FAIL" };
        println!("  {mark}  {:<36} {}", v.expectation, v.detail);
    }
}

/// Writes `report.json` and `report.md` in `out`: the scenario, each run's
/// outcome and the verdicts (for several seeds, how many passed each).
pub fn write_reports(
    s: &Scenario,
    out: &std::path::Path,
    outcomes: &[Outcome],
    verdicts: &[Verdict],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let json = serde_json::json!({
        "scenario": s.name,
        "description": s.description,
        "consensus": s.consensus,
        "expect": s.expect,
        "runs": outcomes,
        "verdicts": verdicts,
    });
    std::fs::write(out.join("report.json"), serde_json::to_vec_pretty(&json)?)?;
    let mut md = format!("# {}\n\n{}\n\n", s.name, s.description);
    md.push_str(&format!(
        "{} run(s), {}.\n\n| expectation | result | evidence |\n|---|---|---|\n",
        outcomes.len(),
        outcomes.first().map_or("", |o| o.source.as_str())
    ));
    for v in verdicts {
        let mark = if v.passed { "pass" } else { "**FAIL**" };
        md.push_str(&format!(
            "| `{}` | {mark} | {} |\n",
            v.expectation, v.detail
        ));
    }
    md.push_str("\n| run | heights | conflicts | jailed | voted out | double spend | converged |\n|---|---|---|---|---|---|---|\n");
    for o in outcomes {
        md.push_str(&format!(
            "| {} | {:?} | {:?} | {:?} | {:?} | {:?} | {} |\n",
            o.source, o.heights, o.conflicts, o.jailed, o.voted_out, o.double_spend, o.converged
        ));
    }
    let watched: Vec<(&str, &act::Watched)> = outcomes
        .iter()
        .flat_map(|o| o.watched.iter().map(move |w| (o.source.as_str(), w)))
        .collect();
    if !watched.is_empty() {
        md.push_str("\n| run | signed step | transaction | accepted | on the main chain |\n|---|---|---|---|---|\n");
        for (source, w) in watched {
            md.push_str(&format!(
                "| {source} | {} | `{}` | {} | {} |\n",
                w.step,
                &w.hash[..16.min(w.hash.len())],
                w.accepted,
                w.kept
            ));
        }
    }
    std::fs::write(out.join("report.md"), md)?;
    Ok(())
}

#[cfg(test)]
mod tests;

/// Heights for a report: all of them when few, else the first ones and how
/// many.
fn heights(hs: &[u64]) -> String {
    const SHOWN: usize = 8;
    if hs.len() <= SHOWN {
        return format!("{hs:?}");
    }
    let first: Vec<String> = hs[..SHOWN].iter().map(u64::to_string).collect();
    format!("[{}, ...] ({} heights)", first.join(", "), hs.len())
}
