//! Real node processes for the integration tests: 127.0.0.1, ephemeral ports,
//! killed when dropped.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_generals-node");

pub struct Node {
    pub home: PathBuf,
    pub child: Option<Child>,
    pub api: String,
    pub peer_id: String,
    pub listen: String,
    client: reqwest::blocking::Client,
}

/// Writes a home folder (`genesis` from another node's home, or a dev genesis).
pub fn init(home: &Path, genesis: Option<&Path>) {
    let mut cmd = Command::new(BIN);
    cmd.args(["init", "--home"])
        .arg(home)
        .args(["--api", "127.0.0.1:0"]);
    if let Some(g) = genesis {
        cmd.arg("--genesis").arg(g);
    }
    let out = cmd.output().expect("run generals-node init");
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Node {
    /// Starts a node on an initialised home and waits until its API answers.
    pub fn start(home: &Path, args: &[&str]) -> Node {
        let _ = std::fs::remove_file(home.join("run.json"));
        let log = std::fs::File::create(home.join("node.log")).expect("log file");
        let child = Command::new(BIN)
            .args(["run", "--home"])
            .arg(home)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn generals-node");
        let deadline = Instant::now() + Duration::from_secs(20);
        let info: Value = loop {
            if let Ok(text) = std::fs::read_to_string(home.join("run.json")) {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    break v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node at {} did not start",
                home.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let node = Node {
            home: home.to_owned(),
            child: Some(child),
            api: format!("http://{}", info["api"].as_str().expect("api")),
            peer_id: info["peer_id"].as_str().expect("peer id").to_string(),
            listen: info["listen"][0].as_str().expect("listen").to_string(),
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("http client"),
        };
        node.wait(|s| s["height"].is_u64(), "the API to answer");
        node
    }

    pub fn get(&self, path: &str) -> Value {
        let r = self
            .client
            .get(format!("{}{path}", self.api))
            .send()
            .expect("GET");
        r.json().expect("json")
    }

    pub fn get_status(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.api))
            .send()
            .expect("GET");
        let code = r.status().as_u16();
        (code, r.json().unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.api))
            .json(body)
            .send()
            .expect("POST");
        let code = r.status().as_u16();
        (code, r.json().unwrap_or(Value::Null))
    }

    pub fn admin(&self, path: &str, body: &Value) -> (u16, Value) {
        let token = std::fs::read_to_string(self.home.join("admin_token")).expect("token");
        let r = self
            .client
            .post(format!("{}{path}", self.api))
            .bearer_auth(token.trim())
            .json(body)
            .send()
            .expect("POST");
        let code = r.status().as_u16();
        (code, r.json().unwrap_or(Value::Null))
    }

    pub fn client_text(&self, path: &str) -> String {
        let r = self
            .client
            .get(format!("{}{path}", self.api))
            .send()
            .expect("GET");
        r.text().expect("text")
    }

    pub fn status(&self) -> Value {
        self.get("/status")
    }

    pub fn height(&self) -> u64 {
        self.status()["height"].as_u64().expect("height")
    }

    pub fn tip(&self) -> String {
        self.status()["tip"].as_str().expect("tip").to_string()
    }

    /// Polls `/status` until `ok` holds (20 s at most).
    pub fn wait(&self, ok: impl Fn(&Value) -> bool, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.client.get(format!("{}/status", self.api)).send() {
                if let Ok(v) = r.json::<Value>() {
                    if ok(&v) {
                        return v;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} at {}",
                self.api
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("node.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until every node has the same tip at height `min` or more.
pub fn converge(nodes: &[&Node], min: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let tips: Vec<(u64, String)> = nodes
            .iter()
            .map(|n| {
                let s = n.status();
                (
                    s["height"].as_u64().unwrap_or(0),
                    s["tip"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        if tips[0].0 >= min && tips.iter().all(|t| t.1 == tips[0].1) {
            return tips[0].1.clone();
        }
        assert!(
            Instant::now() < deadline,
            "nodes did not converge: {tips:?}\n--- last node log ---\n{}",
            nodes
                .last()
                .map(|n| n.log())
                .unwrap_or_default()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Three initialised homes sharing the first one's genesis.
pub fn homes(dir: &Path, n: usize) -> Vec<PathBuf> {
    let homes: Vec<PathBuf> = (0..n).map(|i| dir.join(format!("n{i}"))).collect();
    init(&homes[0], None);
    let genesis = homes[0].join("genesis.json");
    for h in &homes[1..] {
        init(h, Some(&genesis));
    }
    homes
}

pub const MINE: &[&str] = &["--mine", "--hashrate-limit", "150000"];

/// The node's slashing-protection record, exported as JSON.
pub fn protection(home: &Path) -> Value {
    let out = Command::new(BIN)
        .args(["protection", "export", "--home"])
        .arg(home)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("record json")
}

/// A one-validator dev home of `kind` (its own dev genesis).
pub fn init_kind(home: &Path, kind: &str) {
    let out = Command::new(BIN)
        .args([
            "init",
            "--consensus",
            kind,
            "--api",
            "127.0.0.1:0",
            "--home",
        ])
        .arg(home)
        .output()
        .expect("init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A one-validator proof-of-stake dev home with `slot_ms` slots of `epoch_slots`
/// each; returns its genesis file.
pub fn init_pos(home: &Path, slot_ms: u64, epoch_slots: u64) -> PathBuf {
    init_kind(home, "pos");
    let path = home.join("genesis.json");
    let mut g: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("genesis")).expect("json");
    g["consensus"]["slot_ms"] = slot_ms.into();
    g["consensus"]["epoch_slots"] = epoch_slots.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&g).expect("json")).expect("write");
    path
}
