//! `generals-testnet sim` as a user runs it.

use std::process::Command;

fn testnet(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_generals-testnet"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run generals-testnet")
}

#[test]
fn sim_prints_a_summary_and_writes_its_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = testnet(
        &[
            "sim",
            "--consensus",
            "pow",
            "--nodes",
            "4",
            "--seed",
            "5",
            "--blocks",
            "30",
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("converged: yes"), "{text}");
    assert!(text.contains("main-chain share"), "{text}");
    let log = std::fs::read_to_string(tmp.path().join("sim-pow-5.jsonl")).expect("log written");
    assert!(log.lines().count() > 100);
    assert!(log
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
}

#[test]
fn sim_json_reports_what_happened() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = testnet(
        &[
            "sim",
            "--nodes",
            "4",
            "--hashpower",
            "70,10,10,10",
            "--blocks",
            "200",
            "--no-log",
            "--json",
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["height"].as_u64().expect("height") >= 200);
    assert_eq!(v["converged"], true);
    let share = v["shares"][0].as_f64().expect("share");
    assert!((share - 0.7).abs() < 0.12, "share {share}");
    assert!(
        std::fs::read_dir(tmp.path()).expect("dir").next().is_none(),
        "--no-log wrote a file"
    );
}

#[test]
fn attack_sweeps_print_tables_beside_the_theory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = testnet(
        &[
            "sim",
            "--attack",
            "private-fork",
            "--shares",
            "0.6",
            "--confirmations",
            "1,2",
            "--seeds",
            "3",
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Nakamoto's P(z)"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_start().starts_with("60.0%"))
            .count(),
        2,
        "{text}"
    );
}

#[test]
fn bad_input_gets_one_clear_line_and_a_failure() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (args, says) in [
        (vec!["sim", "--consensus", "raft"], "unknown consensus kind"),
        (
            vec!["sim", "--attack", "equivocate"],
            "equivocate proof of authority and proof of stake",
        ),
        (
            vec!["sim", "--attack", "nothing-at-stake", "--consensus", "poa"],
            "nothing-at-stake proof of stake",
        ),
        (
            vec!["sim", "--no-slashing"],
            "--no-slashing is for proof of stake",
        ),
        (vec!["sim", "--cut", "soon"], "expected SECONDS:VALUE"),
        (
            vec!["sim", "--hashpower", "1,2"],
            "2 hash power shares for 4 nodes",
        ),
        (vec!["sim", "--loss", "1.5"], "not in [0, 1)"),
        (
            vec!["sim", "--attack", "selfish", "--attacker", "7"],
            "does not exist",
        ),
        (vec!["sim", "--seeds", "0"], "at least 1"),
    ] {
        let out = testnet(&args, tmp.path());
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}
