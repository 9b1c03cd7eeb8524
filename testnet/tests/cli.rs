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
    // Each row has its interval, and the exact probability of this attacker.
    assert!(
        text.contains("95% interval") && text.contains("exact P"),
        "{text}"
    );
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
            "equivocate proof of authority, proof of stake and DPoS",
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

#[test]
fn lamport_runs_om_and_sm_and_checks_ic1_and_ic2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let args = |alg: &'static str| {
        vec![
            "lamport",
            "--algorithm",
            alg,
            "--generals",
            "3",
            "--traitors",
            "2",
            "--order",
            "attack",
            "--strategy",
            "lie",
            "--trace",
        ]
    };
    let out = testnet(&args("om"), tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("round 2  2 -> 1  retreat"), "{text}");
    assert!(text.contains("lieutenant 1 (loyal)    retreat"), "{text}");
    assert!(text.contains("obeys the loyal commander): FAILS"), "{text}");
    assert!(text.contains("not guaranteed"), "{text}");

    let out = testnet(&args("sm"), tmp.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("REFUSED: general 0's signature does not verify"),
        "{text}"
    );
    assert!(text.contains("lieutenant 1 (loyal)    attack"), "{text}");
    assert!(text.contains("obeys the loyal commander): holds"), "{text}");

    let out = testnet(
        &["lamport", "--exhaustive", "--max-generals", "4"],
        tmp.path(),
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // n=3, m=1, one traitor: OM fails, SM holds by Theorem 2.
    let row = text
        .lines()
        .find(|l| l.starts_with(" 3  1  1 |"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("FAILS") && row.contains("holds (theorem)"),
        "{row}"
    );
    assert!(!text.contains("against the theorem"), "{text}");
}

#[test]
fn lamport_refuses_bad_input_with_a_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (args, why) in [
        (
            &["lamport", "--generals", "4", "--traitors", "4"][..],
            "numbered 0",
        ),
        (&["lamport", "--generals", "4", "--m", "3"][..], "at most 2"),
        (&["lamport", "--generals", "40"][..], "--generals must be"),
        (&["lamport", "--strategy", "bribe"][..], "not a strategy"),
        (&["lamport", "--order", "charge"][..], "not an order"),
        (&["lamport", "--traitors", "1,1"][..], "twice"),
        (
            &["lamport", "--exhaustive", "--max-generals", "12"][..],
            "3 to 8",
        ),
    ] {
        let out = testnet(args, tmp.path());
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(why) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn sim_restarts_a_validator_from_its_record() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let args = [
        "sim",
        "--consensus",
        "bft",
        "--nodes",
        "4",
        "--blocks",
        "8",
        "--restart",
        "1:1",
        "--restart",
        "2:1",
        "--restart",
        "3:1",
        "--seed",
        "3",
    ];
    let out = testnet(&args, tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("conflicting decisions (two honest nodes, one height): none"),
        "{text}"
    );
    // The log shows each restart, and the restarted validator goes on deciding.
    let log = std::fs::read_to_string(tmp.path().join("sim-bft-3.jsonl")).expect("log written");
    let restarts = log
        .lines()
        .filter(|l| l.contains("Restart { node: 1, record: true }"))
        .count();
    assert_eq!(restarts, 3, "{log}");
    let decided_after = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["node"] == 1 && v["event"] == "finalized")
        .filter(|v| v["t"].as_u64().is_some_and(|t| t > 1_700_000_003_000))
        .count();
    assert!(
        decided_after > 0,
        "node 1 decided nothing after its restarts"
    );

    let out = testnet(
        &[
            "sim",
            "--consensus",
            "bft",
            "--nodes",
            "4",
            "--restart",
            "2:9",
        ],
        tmp.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("Restart"), "{err}");
}

/// The safety matrix runs every engine with each of its attacks at 4 and 7
/// nodes, the Byzantine nodes under a third, and finds no conflicting decision;
/// the engines with finality show the heights they finalized.
#[test]
fn safety_matrix_covers_every_engine_and_attack() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = testnet(
        &["sim", "--safety", "--seeds", "1", "--blocks", "3"],
        tmp.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 10 && ["4", "7"].contains(&w[2]))
        .collect();
    assert_eq!(rows.len(), 34, "{text}");
    for kind in ["pow", "pos", "poa", "bft", "dpos", "pbft"] {
        assert!(rows.iter().any(|w| w[0] == kind), "{kind} missing: {text}");
    }
    for w in &rows {
        assert_eq!(w[w.len() - 5], "0", "conflicts in {w:?}");
        assert_eq!(w[w.len() - 3], "0", "errors in {w:?}");
    }
    // BFT decides: the honest validators hold final heights.
    let bft = rows.iter().find(|w| w[0] == "bft").expect("a bft row");
    let height: f64 = bft[bft.len() - 4].parse().expect("a height");
    assert!(height >= 3.0, "{bft:?}");
    assert!(text.contains("34 runs in"), "{text}");
    // A sweep's memory is bounded: too many seeds is a clear error.
    let out = testnet(&["sim", "--safety", "--seeds", "100001"], tmp.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--seeds must be 1 to 100000"));
}

#[test]
fn two_generals_disagree_on_the_last_courier_and_a_volley_matches_p_to_the_k() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = testnet(
        &[
            "two-generals",
            "--json",
            "--seeds",
            "20000",
            "--max-rounds",
            "10",
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let last = v["last_lost"].as_array().expect("last_lost");
    assert_eq!(last.len(), 10);
    for (i, run) in last.iter().enumerate() {
        let r = i + 1;
        assert_eq!(run["couriers"].as_array().map(Vec::len), Some(r), "R = {r}");
        assert_ne!(run["a_attacks"], run["b_attacks"], "R = {r}: {run}");
    }
    let rows = |name: &str| v[name].as_array().expect(name).clone();
    // The default table: P in 0.1, 0.3, 0.5, 0.7 and K in 1, 2, 4, 8.
    assert_eq!(rows("volley").len(), 16);
    for row in rows("volley").iter().chain(rows("handshake").iter()) {
        let (m, e, se) = (
            row["measured"].as_f64().expect("measured"),
            row["expected"].as_f64().expect("expected"),
            row["std_error"].as_f64().expect("std_error"),
        );
        assert!((m - e).abs() <= 4.0 * se + 1.0 / 20_000.0, "{row}");
    }
    // The text shows the same with the argument beside it.
    let out = testnet(
        &["two-generals", "--rounds", "3", "--seeds", "100"],
        tmp.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("R =  3: A attacks, B retreats: THEY DISAGREE"),
        "{text}"
    );
    assert!(text.contains("no number of couriers is enough"), "{text}");
    for (args, why) in [
        (&["two-generals", "--loss", "1.5"][..], "--loss must be"),
        (&["two-generals", "--rounds", "0"][..], "--rounds must be"),
        (&["two-generals", "--seeds", "0"][..], "--seeds must be"),
        (
            &["two-generals", "--couriers", "1,99"][..],
            "--couriers must be",
        ),
    ] {
        let out = testnet(args, tmp.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(why),
            "{args:?}: {err}"
        );
    }
}
