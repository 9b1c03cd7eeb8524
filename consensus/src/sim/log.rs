//! The event log: one JSON object per line, for checks and reports.

use crate::engine::NodeId;
use generals_chain::{Hash, PublicKey};
use serde::Serialize;
use std::io::Write;

/// One thing that happened at one node.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The run's nodes, first in the log (for the fork-tree page's replay).
    Info {
        consensus: String,
        nodes: Vec<LogNode>,
    },
    Produced {
        hash: Hash,
        height: u64,
        txs: usize,
    },
    Received {
        from: NodeId,
        hash: Hash,
        height: u64,
    },
    Imported {
        hash: Hash,
        height: u64,
        parent: Hash,
        producer: PublicKey,
        /// Whether its producer had the turn (engines with turns only).
        #[serde(skip_serializing_if = "Option::is_none")]
        in_turn: Option<bool>,
    },
    /// A block the node produced and kept to itself.
    Withheld {
        hash: Hash,
        height: u64,
    },
    /// A block it had withheld went out.
    Released {
        hash: Hash,
        height: u64,
    },
    Reorg {
        depth: usize,
        from: Hash,
        to: Hash,
        height: u64,
    },
    Invalid {
        hash: Hash,
        reason: String,
    },
    Finalized {
        hash: Hash,
    },
    Justified {
        hash: Hash,
    },
    Evidence {
        offender: PublicKey,
    },
    Network {
        change: String,
    },
    Attack {
        what: String,
    },
    TxSent {
        hash: Hash,
    },
}

/// A node as the log's `info` line names it.
#[derive(Debug, Clone, Serialize)]
pub struct LogNode {
    pub name: String,
    pub key: PublicKey,
    pub role: String,
}

#[derive(Serialize)]
struct Line<'a> {
    t: u64,
    node: Option<NodeId>,
    #[serde(flatten)]
    kind: &'a EventKind,
}

/// Writes events as JSON lines to any writer.
pub struct EventLog {
    out: Box<dyn Write>,
    pub lines: u64,
    error: Option<std::io::Error>,
    /// Counts events without writing them (`sink`): sweeps of thousands of
    /// runs spent a tenth of their time writing JSON no one read.
    discard: bool,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventLog({} lines)", self.lines)
    }
}

impl EventLog {
    pub fn new(out: Box<dyn Write>) -> EventLog {
        EventLog {
            out,
            lines: 0,
            error: None,
            discard: false,
        }
    }

    /// Writes nothing (and spends nothing on writing).
    pub fn sink() -> EventLog {
        EventLog {
            discard: true,
            ..EventLog::new(Box::new(std::io::sink()))
        }
    }

    pub fn record(&mut self, t: u64, node: Option<NodeId>, kind: &EventKind) {
        if self.error.is_some() {
            return;
        }
        if self.discard {
            self.lines += 1;
            return;
        }
        let r = serde_json::to_writer(&mut self.out, &Line { t, node, kind })
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        match r {
            Ok(()) => self.lines += 1,
            Err(e) => self.error = Some(e),
        }
    }

    /// Flushes, and reports the first write error, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}
