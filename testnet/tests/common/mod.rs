//! What the testnet's integration tests share.
#![allow(dead_code)]

use std::process::Command;

/// Runs `generals-testnet` with `args` and waits for it.
pub fn testnet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_generals-testnet"))
        .args(args)
        .output()
        .expect("run generals-testnet")
}

/// Stops the testnet in its folder when dropped, so a failed assertion leaves
/// no node running.
pub struct Down<'a>(pub &'a str);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = testnet(&["down", "--dir", self.0]);
    }
}

/// One testnet at a time in a test binary: several at once on two cores
/// would slow every node down past its consensus timeouts.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// GET `url` as JSON (null when the node does not answer).
pub fn get(url: &str) -> serde_json::Value {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .ok()
        .and_then(|c| c.get(url).send().ok())
        .and_then(|r| r.json().ok())
        .unwrap_or(serde_json::Value::Null)
}

/// A metric of the node at `api` (`name` with its labels, as
/// `generals_bft_step{step="prevote"}`), from `GET /metrics`.
pub fn metric(api: &str, name: &str) -> Option<f64> {
    metric_in(&metrics(api), name)
}

/// `GET /metrics` of the node at `api` (empty when it does not answer).
pub fn metrics(api: &str) -> String {
    reqwest::blocking::get(format!("{api}/metrics"))
        .and_then(|r| r.text())
        .unwrap_or_default()
}

/// A metric in the text of one `GET /metrics`.
pub fn metric_in(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A detached testnet in a temporary folder, stopped when dropped.
pub struct Net {
    pub tmp: tempfile::TempDir,
    pub dir: String,
    /// What `up` printed.
    pub stdout: String,
    pub apis: Vec<String>,
}

impl Net {
    /// `generals-testnet up --detach` with `args`.
    pub fn up(args: &[&str]) -> Net {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("tn").to_str().expect("path").to_string();
        // No fork-tree page unless the test asks for one (each is a process
        // that polls every node).
        let page: &[&str] = if args.contains(&"--ui-port") {
            &[]
        } else {
            &["--no-ui"]
        };
        let out = testnet(&[&["up", "--dir", &dir, "--detach"], page, args].concat());
        let mut net = Net {
            tmp,
            dir,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            apis: Vec::new(),
        };
        assert!(
            out.status.success(),
            "up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status: serde_json::Value =
            serde_json::from_slice(&testnet(&["status", "--dir", &net.dir, "--json"]).stdout)
                .expect("status --json");
        net.apis = status
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["api"].as_str().expect("api").to_string())
            .collect();
        net
    }

    /// GET `path` of node `i`.
    pub fn get(&self, i: usize, path: &str) -> serde_json::Value {
        get(&format!("{}{path}", self.apis[i]))
    }

    /// Runs a `generals-testnet` command on this testnet (`--dir` added).
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        testnet(&[args, &["--dir", &self.dir]].concat())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = testnet(&["down", "--dir", &self.dir]);
    }
}

/// Polls `f` every 200 ms until it returns `Some`, for at most `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited {secs} s in vain for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
