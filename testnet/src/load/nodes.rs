//! The testnet's nodes as they are now, for `load`: `testnet.json` is read
//! again (at most every half second, and after a failed request), so a node
//! restarted on a new port is followed and a killed one is passed over.

use crate::local::State;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the testnet's state is read again.
const REFRESH: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub struct Nodes {
    dir: PathBuf,
    /// When last read, and each node's API (`None` while it is down).
    apis: Mutex<(Option<Instant>, Vec<Option<String>>)>,
}

impl Nodes {
    pub fn new(dir: PathBuf, count: usize) -> Nodes {
        Nodes {
            dir,
            apis: Mutex::new((None, vec![None; count])),
        }
    }

    fn current(&self) -> Vec<Option<String>> {
        let Ok(mut apis) = self.apis.lock() else {
            return Vec::new();
        };
        if apis.0.is_none_or(|at| at.elapsed() >= REFRESH) {
            if let Ok(state) = State::load(&self.dir) {
                apis.1 = state
                    .nodes
                    .iter()
                    .map(|n| n.running().then(|| n.api.clone()))
                    .collect();
            }
            apis.0 = Some(Instant::now());
        }
        apis.1.clone()
    }

    /// Read the state again at the next call (a request failed).
    pub fn stale(&self) {
        if let Ok(mut apis) = self.apis.lock() {
            apis.0 = None;
        }
    }

    /// The API of node `i`, or of the next live node while it is down.
    pub fn api_for(&self, i: usize) -> Option<String> {
        let apis = self.current();
        let n = apis.len();
        (0..n).find_map(|k| apis[(i + k) % n].clone())
    }

    /// Every live node's API.
    pub fn live(&self) -> Vec<String> {
        self.current().into_iter().flatten().collect()
    }
}
