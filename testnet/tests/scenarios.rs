//! Scenario files: the library passes in the simulator; short scenarios pass
//! on real nodes; a false expectation fails the run and names the violation;
//! a malformed file is refused with its line and field.

mod common;
use common::{serial, testnet};
use std::path::{Path, PathBuf};

fn library() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testnet/scenarios")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_scenario_of_the_library_passes_in_the_simulator() {
    // Seeds per scenario: GENERALS_SCENARIO_SEEDS (CI runs a few).
    let seeds = std::env::var("GENERALS_SCENARIO_SEEDS").unwrap_or_else(|_| "3".into());
    let tmp = tempfile::tempdir().expect("tempdir");
    let files = library();
    assert!(files.len() >= 10, "{files:?}");
    for f in files {
        let out_dir = tmp.path().join(f.file_stem().expect("name"));
        let out = testnet(&[
            "sim",
            "--scenario",
            f.to_str().expect("path"),
            "--seeds",
            &seeds,
            "--out",
            out_dir.to_str().expect("path"),
        ]);
        assert!(out.status.success(), "{}: {}", f.display(), text(&out));
        let report: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out_dir.join("report.json")).expect("report.json"),
        )
        .expect("json");
        assert!(
            report["verdicts"].as_array().is_some_and(|v| !v.is_empty()),
            "{}: a scenario with no expectation checks nothing",
            f.display()
        );
    }
}

fn run_real(file: &Path, out: &Path) -> std::process::Output {
    testnet(&[
        "run",
        file.to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
    ])
}

/// Runs the library's scenario `name` on real nodes into `tmp/out`; checks
/// that it passed and returns its report.json.
fn library_on_real_nodes(name: &str, tmp: &Path) -> serde_json::Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    let out = run_real(&file, &tmp.join("out"));
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&std::fs::read(tmp.join("out/report.json")).expect("report.json"))
        .expect("json")
}

#[test]
fn split_votes_beyond_the_bound_pass_on_real_nodes_and_a_false_expectation_fails() {
    let _one = serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bft-split-vote-f-plus-1.toml");
    let out = run_real(&file, &tmp.path().join("ok"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("pass  conflicting_decisions = \"some\""),
        "{}",
        text(&out)
    );
    let md = std::fs::read_to_string(tmp.path().join("ok/report.md")).expect("report.md");
    assert!(md.contains("| pass |"), "{md}");
    assert!(tmp.path().join("ok/testnet/n0/node.log").exists());
    // The event streams are kept: n0 saw blocks finalised.
    let events = std::fs::read_to_string(tmp.path().join("ok/events-n0.jsonl")).expect("events");
    assert!(events.contains("\"finalized\""), "{events}");
    // The same run, expecting safety: exit 1, naming the heights.
    let wrong = tmp.path().join("wrong.toml");
    let body = std::fs::read_to_string(&file).expect("file").replace(
        "conflicting_decisions = \"some\"",
        "conflicting_decisions = \"none\"",
    );
    std::fs::write(&wrong, body).expect("write");
    let out = run_real(&wrong, &tmp.path().join("wrong"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("FAIL  conflicting_decisions = \"none\""), "{t}");
    assert!(t.contains("honest nodes differ at heights"), "{t}");
}

#[test]
fn a_long_range_fork_fools_only_the_new_node_without_a_checkpoint_on_real_nodes() {
    let _one = serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = library_on_real_nodes("pos-long-range", tmp.path());
    // The attacker (n5) and the new node without a checkpoint (n3) end on
    // the fork; node 0 and the new node with the checkpoint (n4) do not.
    assert_eq!(
        report["runs"][0]["forked"],
        serde_json::json!([3, 5]),
        "{report}"
    );
    let heights = &report["runs"][0]["heights"];
    assert!(
        heights[4].as_u64() >= heights[0].as_u64().map(|h| h.saturating_sub(3)),
        "n4 follows node 0: {report}"
    );
    let n4 = std::fs::read_to_string(tmp.path().join("out/testnet/n4/node.log")).expect("log");
    assert!(n4.contains("refused by the checkpoint"), "{n4}");
}

#[test]
fn an_equivocating_proof_of_stake_validator_scenario_passes_on_real_nodes() {
    let _one = serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = library_on_real_nodes("pos-equivocate", tmp.path());
    assert_eq!(
        report["runs"][0]["jailed"],
        serde_json::json!([3]),
        "{report}"
    );
}

#[test]
fn timeline_steps_by_height_and_time_run_on_real_nodes_and_their_transactions_are_followed() {
    let _one = serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/pos-bond-unbond.toml");
    let out = run_real(&file, &tmp.path().join("out"));
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // Each step ran, by height or by time, in the order the chain reached it.
    let bond = t.find("n1 bonds 5000").expect("bond step");
    let pay = t.find("n0 pays 500 to the merchant").expect("pay step");
    assert!(bond < pay, "{t}");
    assert!(t.contains("n2 unbonds 100"), "{t}");
    assert!(
        t.contains("3 of 3 signed steps' transactions on the main chain"),
        "{t}"
    );
    assert!(t.contains("pass  honest chains replay from genesis"), "{t}");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tmp.path().join("out/report.json")).expect("report.json"),
    )
    .expect("json");
    let watched = report["runs"][0]["watched"].as_array().expect("watched");
    assert_eq!(watched.len(), 3, "{report}");
    assert!(watched.iter().all(|w| w["kept"] == true), "{report}");
}

#[test]
fn run_never_clears_a_folder_that_is_not_an_earlier_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let keep = tmp.path().join("mine");
    std::fs::create_dir_all(&keep).expect("dir");
    std::fs::write(keep.join("notes.txt"), "mine").expect("write");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bft-equivocate.toml");
    let out = run_real(&file, &keep);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("not the folder of an earlier run"),
        "{}",
        text(&out)
    );
    assert!(keep.join("notes.txt").exists());
}

#[test]
fn a_malformed_scenario_is_refused_with_its_line_and_field() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("name = \"x\"\nconsensus = \"bft\"\nnodez = 4\n", "line 3", "nodez"),
        (
            "name = \"x\"\nconsensus = \"bft\"\n[[node]]\nweight = \"heavy\"\n[end]\nheight = 3\n",
            "line 4",
            "weight",
        ),
        (
            "name = \"x\"\nconsensus = \"bft\"\n[[node]]\n[[step]]\nat_s = 1\naction = \"explode\"\n[end]\nheight = 3\n",
            "line 4, step 0",
            "explode",
        ),
        (
            "name = \"x\"\nconsensus = \"pow\"\n[[node]]\n[[step]]\nat_s = 1\naction = \"bond\"\nnode = 0\namount = 5\n[end]\nheight = 3\n",
            "line 4, step 0",
            "\"pos\", \"bft\", \"dpos\" or \"pbft\"",
        ),
        (
            "name = \"x\"\nconsensus = \"pow\"\n[[node]]\n[[node]]\nrole = \"selfsh\"\n[end]\nheight = 3\n",
            "line 4, node 1",
            "role \"selfsh\" is not honest, attacker",
        ),
        (
            "name = \"x\"\nconsensus = \"pow\"\n[[node]]\n[[node]]\n[[step]]\nat_s = 1\naction = \"partition\"\ngroups = [[0], [0, 1]]\n[end]\nheight = 3\n",
            "line 5, step 0",
            "a node is in two groups",
        ),
        (
            "name = \"x\"\nconsensus = \"poa\"\n[[node]]\n[[node]]\n[[step]]\nat_height = 2\naction = \"link\"\na = 0\n[end]\nheight = 3\n",
            "line 5, step 0",
            "needs b",
        ),
        (
            "name = \"x\"\nconsensus = \"pos\"\n[[node]]\n[[node]]\n[[step]]\nat_s = 1\naction = \"join\"\nnode = 1\n[end]\nheight = 3\n",
            "line 5, step 0",
            "join starts a late node",
        ),
        (
            "name = \"x\"\nconsensus = \"pos\"\n[[node]]\n[[node]]\nlate = true\n[[step]]\nat_s = 1\naction = \"join\"\nnode = 1\ncheckpoint_from = 0\n[end]\nheight = 3\n",
            "line 6, step 0",
            "checkpoint_from (a node) and checkpoint_height",
        ),
        (
            "name = \"x\"\nconsensus = \"pos\"\n[[node]]\n[[node]]\nrole = \"long-range\"\ntwin_of = 0\n[end]\nheight = 3\n",
            "line 4, node 1",
            "comes late",
        ),
    ];
    for (body, line, field) in cases {
        let f = tmp.path().join("bad.toml");
        std::fs::write(&f, body).expect("write");
        for args in [
            vec!["run", f.to_str().expect("path")],
            vec!["sim", "--scenario", f.to_str().expect("path")],
        ] {
            let out = testnet(&args);
            assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            let t = text(&out);
            assert!(t.contains(line) && t.contains(field), "{args:?}: {t}");
            assert!(!t.contains("panicked"), "{t}");
        }
    }
}
