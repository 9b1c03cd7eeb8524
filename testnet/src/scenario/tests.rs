//! The judge's always-on checks fail when what they guard is broken.

use super::act::Watched;
use super::{judge, Outcome, Scenario};

fn scenario() -> Scenario {
    Scenario::parse(
        "name = \"t\"\nconsensus = \"pos\"\n[[node]]\n[[node]]\n[[node]]\n[[node]]\nrole = \"equivocate\"\n[end]\nheight = 5\n",
    )
    .expect("parses")
}

fn verdict(o: &Outcome, name: &str) -> bool {
    judge(&scenario(), o)
        .into_iter()
        .find(|v| v.expectation.starts_with(name))
        .unwrap_or_else(|| panic!("no verdict {name}"))
        .passed
}

#[test]
fn a_signed_step_that_the_node_took_and_the_chain_lost_fails_the_run() {
    let mut w = Watched {
        step: "n0 pays 5 to the merchant".into(),
        node: 0,
        hash: "ab".repeat(32),
        accepted: true,
        refused: None,
        kept: true,
    };
    let mut o = Outcome {
        watched: vec![w.clone()],
        ..Outcome::default()
    };
    assert!(verdict(&o, "no acknowledged transaction lost"));
    w.kept = false;
    o.watched = vec![w.clone()];
    assert!(!verdict(&o, "no acknowledged transaction lost"));
    // What the node refused was never acknowledged.
    w.accepted = false;
    o.watched = vec![w];
    assert!(judge(&scenario(), &o)
        .iter()
        .all(|v| !v.expectation.starts_with("no acknowledged")));
}

#[test]
fn evidence_against_an_honest_node_or_a_chain_that_does_not_replay_fails_the_run() {
    let mut o = Outcome::default();
    assert!(verdict(&o, "no evidence against an honest node"));
    assert!(verdict(&o, "honest chains replay"));
    o.accused = vec![1];
    o.replay_failures = vec!["n2: block 5 does not replay".into()];
    assert!(!verdict(&o, "no evidence against an honest node"));
    assert!(!verdict(&o, "honest chains replay"));
}
