//! What the CLI tests share: a node process of their own (stopped when
//! dropped), and `generals` run against it with its token.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The node binary beside this test's binaries, built if `cargo test` did not.
pub fn node_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("generals-node");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "generals-node"]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().expect("cargo build").success());
    }
    bin
}

/// Each node's token, by API URL: `generals` passes it (GENERALS_TOKEN), as a
/// user who ran the node would.
static TOKENS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

pub fn token_of(node: &str) -> Option<String> {
    let tokens = TOKENS.lock().expect("tokens");
    tokens
        .iter()
        .find(|(n, _)| n == node)
        .map(|(_, t)| t.clone())
}

pub struct NodeProc(Child);

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_node(home: &Path) -> (NodeProc, String) {
    start_kind(home, "pow")
}

pub fn start_kind(home: &Path, kind: &str) -> (NodeProc, String) {
    start_with(home, &["--consensus", kind])
}

/// A node started from a dev genesis that `init` writes with `args`.
pub fn start_with(home: &Path, args: &[&str]) -> (NodeProc, String) {
    let bin = node_bin();
    let out = Command::new(&bin)
        .args(["init", "--home"])
        .arg(home)
        .args(["--api", "127.0.0.1:0"])
        .args(args)
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(home)
}

/// Starts (or starts again) the node of `home`.
pub fn run(home: &Path) -> (NodeProc, String) {
    let _ = std::fs::remove_file(home.join("run.json"));
    let child = Command::new(node_bin())
        .args(["run", "--home"])
        .arg(home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run");
    let node = NodeProc(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(home.join("run.json")) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                let api = format!("http://{}", v["api"].as_str().expect("api"));
                let token = std::fs::read_to_string(home.join("admin_token")).expect("token");
                let mut tokens = TOKENS.lock().expect("tokens");
                tokens.push((api.clone(), token.trim().to_string()));
                return (node, api);
            }
        }
        assert!(Instant::now() < deadline, "node did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn generals(node: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_generals"));
    cmd.arg("--node").arg(node).args(args);
    match token_of(node) {
        Some(token) => cmd.env("GENERALS_TOKEN", token),
        None => cmd.env_remove("GENERALS_TOKEN"),
    };
    cmd.output().expect("run generals")
}

pub fn json(node: &str, args: &[&str]) -> Value {
    let out = generals(node, &[args, &["--json"]].concat());
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

pub fn hashes(v: &Value) -> Vec<String> {
    v["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|h| h.as_str().expect("hash").to_string())
        .collect()
}

/// A stopped node's chain replays from genesis to the stored state
/// (`generals-node verify`).
pub fn verify(home: &Path) {
    let out = Command::new(node_bin())
        .args(["verify", "--home"])
        .arg(home)
        .output()
        .expect("verify");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
