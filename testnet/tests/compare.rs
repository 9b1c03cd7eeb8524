//! `generals-testnet compare`: one scenario on the five mechanisms, its three
//! report files, and the page rendered in headless Chromium with every chart.

mod common;
use common::testnet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A comparison's `report.json`.
fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("report.json"))
        .expect("json")
}

/// The charts every comparison page holds.
const CHARTS: [&str; 9] = [
    "finality",
    "throughput",
    "reorgs",
    "forks",
    "share",
    "success",
    "cost-gain",
    "honest-losses",
    "invariants",
];

/// Debian's chromium (installed by `.ci/run`).
fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(c).output() {
            if out.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
    panic!("no chromium on this machine: `apt-get install chromium` (.ci/run installs it)");
}

/// Runs headless Chromium on `page` with `args`; returns stdout.
fn browse(page: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("profile");
    let out = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_default_comparison_writes_three_reports_and_its_page_renders_every_chart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cmp");
    let out = testnet(&[
        "compare",
        "--sim",
        "--seeds",
        "3",
        "--out",
        dir.to_str().expect("path"),
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // The mapping is stated for each mechanism.
    for line in [
        "pow: n3 private-fork; 33.3% of the hash power",
        "pos: n3 nothing-at-stake; 33.3% of the stake",
        "poa: n3 equivocate; 25.0% of the authority seats",
        "bft: n3 split-vote; 33.3% of the voting power",
        "dpos: n3 collude; 33.3% of the producer slots",
        "pbft: n3 split-vote; 25.0% of the replicas (one vote each)",
    ] {
        assert!(t.contains(line), "{line}\n{t}");
    }
    let json: serde_json::Value = report(&dir);
    let kinds: Vec<&str> = json["mechanisms"]
        .as_array()
        .expect("mechanisms")
        .iter()
        .filter_map(|m| m["consensus"].as_str())
        .collect();
    assert_eq!(kinds, ["pow", "pos", "poa", "bft", "dpos", "pbft"]);
    for m in json["mechanisms"].as_array().expect("mechanisms") {
        assert_eq!(m["runs"], 3, "{m}");
        assert!(m["blocks_per_s"]["value"].as_f64() > Some(0.0), "{m}");
        assert!(m["finality_p50_ms"]["value"].as_f64() > Some(0.0), "{m}");
    }
    // BFT with a third Byzantine keeps safety, as its bound says.
    let bft = &json["mechanisms"][3];
    assert_eq!(bft["safety_broken"]["value"], 0.0, "{bft}");
    assert_eq!(bft["theory"][0]["agrees"], true, "{bft}");
    // PBFT beside it: safe with one split primary of four, and the messages
    // each block cost both of them, from the same runs.
    let pbft = &json["mechanisms"][5];
    assert_eq!(pbft["safety_broken"]["value"], 0.0, "{pbft}");
    assert_eq!(pbft["theory"][0]["agrees"], true, "{pbft}");
    for m in [bft, pbft] {
        let per_block = m["messages_per_block"]["value"].as_f64().expect("messages");
        assert!(per_block > 10.0, "{m}");
    }
    // The private fork has Nakamoto's and the exact probability beside it.
    let pow = &json["mechanisms"][0];
    assert_eq!(pow["theory"].as_array().map(Vec::len), Some(2), "{pow}");
    let md = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(md.contains("| finality p50 (ms) |"), "{md}");
    assert!(
        md.contains("| messages sent per block (network-wide) |"),
        "{md}"
    );
    assert!(md.contains("## Theory beside measurement"), "{md}");

    // The page in a real browser: every chart is an SVG with its bars or
    // points, and nothing is fetched (no http URL in it).
    let page = dir.join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html");
    // The only URLs are SVG's namespace names, which nothing fetches.
    assert_eq!(
        html.matches("http").count(),
        html.matches("http://www.w3.org/").count(),
        "the page refers to the network"
    );
    let dom = browse(&page, &["--dump-dom"]);
    for chart in CHARTS {
        let at = dom
            .find(&format!("<figure data-chart=\"{chart}\">"))
            .unwrap_or_else(|| panic!("no {chart} chart in the rendered page"));
        let figure = &dom[at..at + dom[at..].find("</figure>").expect("closed")];
        assert!(figure.contains("<svg"), "{chart}: no SVG");
        assert!(
            figure.contains("<rect") || figure.contains("<circle"),
            "{chart}: nothing drawn"
        );
    }
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compare-report.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1240,1800",
            "--hide-scrollbars",
        ],
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn compare_runs_the_librarys_attack_scenarios_on_every_mechanism() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for name in [
        "pow-double-spend",
        "pow-selfish",
        "pos-nothing-at-stake",
        "bft-split-vote-f-plus-1",
        "poa-collude",
        "poa-clone",
    ] {
        let dir = tmp.path().join(name);
        let file = lib.join(format!("{name}.toml"));
        let out = testnet(&[
            "compare",
            file.to_str().expect("path"),
            "--sim",
            "--seeds",
            "1",
            "--out",
            dir.to_str().expect("path"),
        ]);
        assert!(out.status.success(), "{name}: {}", text(&out));
        for f in ["report.md", "report.json", "report.html"] {
            assert!(dir.join(f).exists(), "{name}: no {f}");
        }
        // A role of another mechanism becomes that mechanism's usual attack.
        let json: serde_json::Value = report(&dir);
        assert_eq!(
            json["mechanisms"].as_array().map(Vec::len),
            Some(6),
            "{name}"
        );
    }
    // A cartel that censors, under a workload: its victims' transfers are
    // kept off the chain, and the report counts them in its gain.
    let body = std::fs::read_to_string(lib.join("poa-collude.toml"))
        .expect("file")
        .replace("[end]", "[workload]\ntps = 5\n\n[end]");
    let file = tmp.path().join("collude-load.toml");
    std::fs::write(&file, body).expect("write");
    let dir = tmp.path().join("censor");
    let out = testnet(&[
        "compare",
        file.to_str().expect("path"),
        "--sim",
        "--seeds",
        "3",
        "--consensus",
        "poa",
        "--out",
        dir.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = report(&dir);
    let censored = json["mechanisms"][0]["censored"]["value"]
        .as_f64()
        .expect("censored");
    assert!(censored > 0.5, "{json}");
}

#[test]
fn a_share_sweep_draws_the_attacks_success_against_the_attackers_share() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("sweep");
    let out = testnet(&[
        "compare",
        "--sim",
        "--seeds",
        "4",
        "--consensus",
        "pow,poa",
        "--shares",
        "0.1,0.6",
        "--out",
        dir.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = report(&dir);
    let curve = json["mechanisms"][0]["curve"].as_array().expect("curve");
    assert_eq!(curve.len(), 2, "{json}");
    // A majority of the hash power wins its private fork more often than a
    // tenth does.
    assert!(
        curve[1][1]["value"].as_f64() > curve[0][1]["value"].as_f64(),
        "{curve:?}"
    );
    // Proof of authority keeps its seats: no curve.
    assert_eq!(json["mechanisms"][1]["curve"], serde_json::json!([]));
    let html = std::fs::read_to_string(dir.join("report.html")).expect("html");
    assert!(html.contains("<figure data-chart=\"success-vs-share\">"));
    // Sweeps are for the simulator.
    let out = testnet(&["compare", "--shares", "0.2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("add --sim"), "{}", text(&out));
}

#[test]
fn compare_refuses_an_unknown_mechanism() {
    let out = testnet(&["compare", "--sim", "--consensus", "pow,raft"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("\"raft\" is not one of"),
        "{}",
        text(&out)
    );
    // A folder of the user's own is left alone.
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("notes.txt"), "mine").expect("write");
    let out = testnet(&[
        "compare",
        "--sim",
        "--out",
        tmp.path().to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("not the folder of an earlier comparison"),
        "{}",
        text(&out)
    );
    assert!(tmp.path().join("notes.txt").exists());
    assert!(!tmp.path().join("pow").exists());
}
