//! The feed behind the fork-tree page: every line the page draws from (node
//! events, node statuses, the scenario's steps), kept in order (at most
//! `MAX_LINES`), sent to each open page as it comes, and written to
//! `feed.jsonl` for a replay (at most `MAX_FILE_LINES`).

use anyhow::Result;
use serde_json::{json, Value};
use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::broadcast;

/// Lines kept for pages that open later.
pub const MAX_LINES: usize = 200_000;
/// Blocks remembered as sent.
pub const MAX_KNOWN: usize = 1_000_000;
/// Lines written to the feed file.
pub const MAX_FILE_LINES: u64 = 2_000_000;

#[derive(Debug)]
pub struct Hub {
    start: Instant,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<str>>,
}

#[derive(Debug)]
struct Inner {
    /// The run's `info` line, sent first even once `lines` has let it go.
    info: Option<Arc<str>>,
    lines: VecDeque<Arc<str>>,
    /// Blocks some line has given with their parent.
    known: HashSet<String>,
    file: Option<(
        std::io::BufWriter<std::fs::File>,
        nix::fcntl::Flock<std::fs::File>,
    )>,
    written: u64,
}

impl Inner {
    /// Every line kept, the `info` line first.
    fn snapshot(&self) -> Vec<Arc<str>> {
        let mut out = Vec::with_capacity(self.lines.len() + 1);
        if let Some(info) = &self.info {
            if self.lines.front() != Some(info) {
                out.push(info.clone());
            }
        }
        out.extend(self.lines.iter().cloned());
        out
    }
}

impl Hub {
    /// A live hub; its lines also go to `file` when given.
    /// A feed file another page writes (locked) is left to it.
    pub fn new(file: Option<&Path>) -> Result<Arc<Hub>> {
        let file = match file {
            Some(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(p)?;
                // flock(2): held while this page's handle (or a clone of
                // it) stays open.
                let flag = nix::fcntl::FlockArg::LockExclusiveNonblock;
                if let Ok(lock) = nix::fcntl::Flock::lock(f.try_clone()?, flag) {
                    f.set_len(0)?;
                    Some((std::io::BufWriter::new(f), lock))
                } else {
                    eprintln!(
                        "{} is written by another page; this one keeps no feed",
                        p.display()
                    );
                    None
                }
            }
            None => None,
        };
        let (tx, _) = broadcast::channel(4_096);
        Ok(Arc::new(Hub {
            start: Instant::now(),
            inner: Mutex::new(Inner {
                info: None,
                lines: VecDeque::new(),
                known: HashSet::new(),
                file,
                written: 0,
            }),
            tx,
        }))
    }

    /// A hub holding a finished run's lines.
    pub fn replay(lines: Vec<String>) -> Arc<Hub> {
        let (tx, _) = broadcast::channel(1);
        Arc::new(Hub {
            start: Instant::now(),
            inner: Mutex::new(Inner {
                info: None,
                lines: lines.into_iter().map(Arc::from).collect(),
                known: HashSet::new(),
                file: None,
                written: 0,
            }),
            tx,
        })
    }

    /// Ms since the hub started.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a line: `fields` (an object with `event`) stamped with the time
    /// and the node.
    pub fn push(&self, node: Option<usize>, fields: Value) {
        let mut v = json!({"t": self.now(), "node": node});
        if let (Some(out), Some(add)) = (v.as_object_mut(), fields.as_object()) {
            for (k, x) in add {
                out.insert(k.clone(), x.clone());
            }
        }
        let line: Arc<str> = Arc::from(v.to_string());
        let mut inner = self.lock();
        let kind = v["event"].as_str().unwrap_or("");
        if kind.ends_with("imported") && v["parent"].is_string() {
            if let Some(h) = v["hash"].as_str() {
                if inner.known.len() >= MAX_KNOWN {
                    // Forgotten blocks are only fetched and sent again.
                    inner.known.clear();
                }
                inner.known.insert(h.to_string());
            }
        }
        if kind == "info" {
            inner.info = Some(line.clone());
        }
        if inner.lines.len() >= MAX_LINES {
            inner.lines.pop_front();
        }
        inner.lines.push_back(line.clone());
        if inner.written < MAX_FILE_LINES {
            inner.written += 1;
            if let Some((f, _)) = inner.file.as_mut() {
                let _ = writeln!(f, "{line}");
                let _ = f.flush();
            }
        }
        // Sent under the lock: a page that subscribes meanwhile gets each
        // line once, in its snapshot or live.
        let _ = self.tx.send(line);
    }

    /// Whether some line gave this block with its parent.
    pub fn knows(&self, hash: &str) -> bool {
        self.lock().known.contains(hash)
    }

    /// Every line so far, and the lines after them.
    pub fn subscribe(&self) -> (Vec<Arc<str>>, broadcast::Receiver<Arc<str>>) {
        let inner = self.lock();
        (inner.snapshot(), self.tx.subscribe())
    }

    /// Every line so far, one a line.
    pub fn text(&self) -> String {
        let inner = self.lock();
        let mut s = String::new();
        for l in &inner.snapshot() {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}
