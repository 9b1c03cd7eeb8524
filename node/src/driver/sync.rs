//! Sync: a node that is behind (it starts late, restarts, or comes back from a
//! partition) asks peers for their status, then for main-chain headers after a
//! block locator, then for the bodies it lacks, a bounded number in flight; a
//! peer's heavier chain then wins fork choice and the ledger reorgs to it.

use super::{now_ms, Driver, Verdict};
use crate::protocol::{
    SyncRequest, SyncResponse, MAX_BLOCKS_PER_REQUEST, MAX_HEADERS, MAX_SYNC_BYTES,
};
use generals_chain::{BlockStore, Hash};
use generals_consensus::Input;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::PeerId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Block requests in flight per peer.
const IN_FLIGHT: usize = 4;

/// A request unanswered this long is given up, whether or not the network
/// said it failed (its own timeout is 10 s). Seen on real nodes healed from
/// a partition: requests sent while duplicate connections were being closed
/// got neither an answer nor a failure, and a node that held a headers
/// request so never asked that peer again and mined alone on its branch.
const GIVE_UP: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
pub struct SyncState {
    /// Requests in flight, by id: the peer, the block hashes asked for, and
    /// when.
    inflight: HashMap<OutboundRequestId, (PeerId, Vec<Hash>, Instant)>,
    /// Block hashes waiting to be asked for, per peer.
    queue: HashMap<PeerId, VecDeque<Hash>>,
    /// Hashes asked for and not yet answered.
    asked: HashSet<Hash>,
    /// Peers with a headers request in flight (one at a time each), and when
    /// it was sent.
    headers_inflight: HashMap<PeerId, Instant>,
}

/// Bodies queued per peer at most; more headers are asked for once it drains.
const MAX_QUEUE: usize = 2_048;

impl SyncState {
    pub fn forget(&mut self, peer: &PeerId) {
        if let Some(queued) = self.queue.remove(peer) {
            for h in queued {
                self.asked.remove(&h);
            }
        }
        self.headers_inflight.remove(peer);
        let gone: Vec<OutboundRequestId> = self
            .inflight
            .iter()
            .filter(|(_, (p, _, _))| p == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some((_, hashes, _)) = self.inflight.remove(&id) {
                for h in hashes {
                    self.asked.remove(&h);
                }
            }
        }
    }

    fn inflight_to(&self, peer: &PeerId) -> usize {
        self.inflight.values().filter(|(p, _, _)| p == peer).count()
    }

    /// Gives up the requests older than `GIVE_UP` (what they asked for is
    /// asked again); returns the peers they went to.
    pub fn give_up_stale(&mut self, now: Instant) -> Vec<PeerId> {
        let stale = |at: &Instant| now.duration_since(*at) > GIVE_UP;
        let mut peers: Vec<PeerId> = self
            .headers_inflight
            .iter()
            .filter(|(_, at)| stale(at))
            .map(|(p, _)| *p)
            .collect();
        self.headers_inflight.retain(|_, at| !stale(at));
        let old: Vec<OutboundRequestId> = self
            .inflight
            .iter()
            .filter(|(_, (_, _, at))| stale(at))
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            if let Some((peer, hashes, _)) = self.inflight.remove(&id) {
                for h in hashes {
                    self.asked.remove(&h);
                }
                peers.push(peer);
            }
        }
        peers.sort();
        peers.dedup();
        peers
    }
}

impl Driver {
    pub(super) fn send_request(&mut self, peer: PeerId, req: SyncRequest) -> OutboundRequestId {
        self.p.swarm.behaviour_mut().sync.send_request(&peer, req)
    }

    /// Bitcoin's block locator: the tip, nine more, then back exponentially.
    fn locator(&self) -> Vec<Hash> {
        let ledger = self.p.core.ledger();
        let tip = ledger.tip().height;
        let mut out = Vec::new();
        let mut h = tip;
        let mut step = 1;
        loop {
            if let Ok(Some(hash)) = ledger.store().hash_at(h) {
                out.push(hash);
            }
            if h == 0 {
                break;
            }
            if out.len() >= 10 {
                step *= 2;
            }
            h = h.saturating_sub(step);
        }
        out
    }

    pub(super) fn request_headers(&mut self, peer: PeerId) {
        if self.sync.headers_inflight.contains_key(&peer) {
            tracing::debug!(%peer, "headers already asked of this peer");
            return;
        }
        self.sync.headers_inflight.insert(peer, Instant::now());
        tracing::debug!(%peer, "asking for headers");
        let locator = self.locator();
        self.send_request(
            peer,
            SyncRequest::Headers {
                locator,
                max: MAX_HEADERS as u32,
            },
        );
    }

    /// Asks `peer` for queued bodies, up to the in-flight bound.
    pub(super) fn pump(&mut self, peer: PeerId) {
        while self.sync.inflight_to(&peer) < IN_FLIGHT {
            let Some(queue) = self.sync.queue.get_mut(&peer) else {
                return;
            };
            let mut batch = Vec::new();
            while batch.len() < MAX_BLOCKS_PER_REQUEST {
                match queue.pop_front() {
                    Some(h) => batch.push(h),
                    None => break,
                }
            }
            if batch.is_empty() {
                return;
            }
            let id = self.send_request(
                peer,
                SyncRequest::Blocks {
                    hashes: batch.clone(),
                },
            );
            self.sync.inflight.insert(id, (peer, batch, Instant::now()));
        }
    }

    pub(super) fn on_sync_event(&mut self, ev: request_response::Event<SyncRequest, SyncResponse>) {
        use request_response::{Event, Message};
        match ev {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                if !self.admit_inbound(peer) {
                    return;
                }
                let response = self.answer(request);
                let _ = self
                    .p
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some((_, hashes, _)) = self.sync.inflight.remove(&request_id) {
                    for h in hashes {
                        self.sync.asked.remove(&h);
                    }
                }
                if self.shaping.shaped(&peer) {
                    // Over a shaped link the answer is taken later, or lost
                    // (and what it held is asked for again).
                    let fate =
                        self.shaping
                            .admit(&peer, super::now_ms(), || super::shape::Held::Sync {
                                source: peer,
                                response,
                            });
                    if let super::shape::Fate::Lost = fate {
                        // Whatever it answered is asked for again, headers too.
                        self.sync.headers_inflight.remove(&peer);
                    }
                } else {
                    self.take_response(peer, response);
                }
            }
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "sync request failed");
                if let Some((_, hashes, _)) = self.sync.inflight.remove(&request_id) {
                    for h in hashes {
                        self.sync.asked.remove(&h);
                    }
                }
                // It may have been the headers request (on a connection closed
                // as a duplicate when two nodes dial each other): without this
                // no headers were ever asked of the peer again, and a node
                // healed from a partition stayed on its own branch.
                self.sync.headers_inflight.remove(&peer);
            }
            Event::InboundFailure { peer, error, .. } => {
                // A request we could not read: garbage or over the size limit.
                if matches!(error, request_response::InboundFailure::Io(_)) {
                    self.penalize(peer, &format!("unreadable sync request: {error}"));
                }
            }
            Event::ResponseSent { .. } => {}
        }
    }

    /// The height of the highest main-chain block this node has published:
    /// blocks it made and keeps to itself (a private fork, a selfish miner's
    /// lead) are not served to peers until the engine sends them.
    fn public_height(&self) -> u64 {
        let ledger = self.p.core.ledger();
        let mut h = ledger.tip().height;
        while h > 0
            && ledger
                .store()
                .hash_at(h)
                .ok()
                .flatten()
                .is_some_and(|x| self.withheld.contains(&x))
        {
            h -= 1;
        }
        h
    }

    fn answer(&self, request: SyncRequest) -> SyncResponse {
        let core = &self.p.core;
        let ledger = core.ledger();
        match request {
            SyncRequest::Status => {
                let height = self.public_height();
                let tip = ledger
                    .store()
                    .hash_at(height)
                    .ok()
                    .flatten()
                    .unwrap_or(ledger.tip().hash);
                let weight = core.tree().get(&tip).map_or(0, |n| n.cumulative);
                SyncResponse::Status {
                    genesis: self.p.genesis,
                    tip,
                    height,
                    weight: weight.to_be_bytes(),
                }
            }
            SyncRequest::Headers { locator, max } => {
                if locator.len() > 256 {
                    return SyncResponse::Refused("a locator has at most 256 hashes".into());
                }
                let store = ledger.store();
                // The first locator hash on our main chain is where the peer forked.
                let start = locator
                    .iter()
                    .find_map(|h| {
                        let header = store.header(h).ok().flatten()?;
                        (store.hash_at(header.height).ok().flatten() == Some(*h))
                            .then_some(header.height)
                    })
                    .unwrap_or(0);
                let max = (max as usize).min(MAX_HEADERS) as u64;
                let tip = self.public_height();
                let headers = (start.saturating_add(1)..=tip.min(start.saturating_add(max)))
                    .filter_map(|h| store.hash_at(h).ok().flatten())
                    .filter_map(|hash| store.header(&hash).ok().flatten())
                    .collect();
                SyncResponse::Headers(headers)
            }
            SyncRequest::Blocks { hashes } => {
                if hashes.len() > MAX_BLOCKS_PER_REQUEST {
                    return SyncResponse::Refused(format!(
                        "at most {MAX_BLOCKS_PER_REQUEST} blocks a request"
                    ));
                }
                let mut size = 0;
                let mut blocks = Vec::new();
                for h in hashes {
                    if self.withheld.contains(&h) {
                        continue;
                    }
                    if let Some(b) = core.block(&h) {
                        size += b.encode().len();
                        // Always at least one block, however large.
                        if size > MAX_SYNC_BYTES - 65_536 && !blocks.is_empty() {
                            break;
                        }
                        blocks.push(b);
                    }
                }
                SyncResponse::Blocks(blocks)
            }
        }
    }

    /// An answer to a sync request, taken: what it holds, then the next
    /// request to that peer.
    pub(super) fn take_response(&mut self, peer: PeerId, response: SyncResponse) {
        self.on_response(peer, response);
        self.pump(peer);
    }

    fn on_response(&mut self, peer: PeerId, response: SyncResponse) {
        match response {
            SyncResponse::Status {
                genesis,
                tip,
                weight,
                ..
            } => {
                if genesis != self.p.genesis {
                    tracing::warn!(%peer, "peer is on another chain (genesis differs)");
                    self.penalize(peer, "another genesis");
                    return;
                }
                let ours = self
                    .p
                    .core
                    .tree()
                    .get(&self.p.core.tip().hash)
                    .map_or(0, |n| n.cumulative);
                tracing::debug!(%peer, theirs = u128::from_be_bytes(weight), ours, tip = %tip.short(), "peer status");
                // Behind, or holding the peer's tip only as an orphan: ask again.
                if u128::from_be_bytes(weight) > ours
                    && self.p.core.missing_ancestor(&tip).is_some()
                {
                    self.request_headers(peer);
                }
            }
            SyncResponse::Headers(headers) => {
                self.sync.headers_inflight.remove(&peer);
                // Headers must link up, each to the one before it, and carry the
                // work they claim; a peer that sends others is penalised.
                let linked = headers.windows(2).all(|w| {
                    w[1].parent == w[0].hash() && w[0].height.checked_add(1) == Some(w[1].height)
                });
                if !linked || headers.iter().any(|h| self.engine().precheck(h).is_err()) {
                    self.penalize(peer, "headers that do not link up or lack their work");
                    return;
                }
                let full = headers.len() >= MAX_HEADERS;
                let queued = self.sync.queue.get(&peer).map_or(0, VecDeque::len);
                let room = MAX_QUEUE.saturating_sub(queued);
                let wanted: Vec<Hash> = headers
                    .iter()
                    .map(|h| h.hash())
                    .filter(|h| !self.p.core.knows(h) && !self.sync.asked.contains(h))
                    .take(room)
                    .collect();
                for h in &wanted {
                    self.sync.asked.insert(*h);
                }
                tracing::debug!(%peer, headers = headers.len(), wanted = wanted.len(), "headers");
                self.sync.queue.entry(peer).or_default().extend(wanted);
                self.pump(peer);
                // More after these: the periodic status check asks again once the
                // queue has drained and the peer is still ahead.
                let _ = full;
            }
            SyncResponse::Blocks(blocks) => {
                tracing::debug!(%peer, blocks = blocks.len(), "blocks");
                let from = self.peer_id_of(peer);
                for block in blocks {
                    if self.p.core.knows(&block.hash()) {
                        continue;
                    }
                    let verdicts = self.step(
                        Input::BlockReceived {
                            from,
                            block,
                            now_ms: now_ms(),
                        },
                        Some(peer),
                    );
                    if let Some(Verdict::Invalid(why)) = verdicts.first() {
                        let why = why.clone();
                        self.penalize(peer, &format!("invalid block in sync: {why}"));
                        break;
                    }
                }
            }
            SyncResponse::Refused(why) => tracing::debug!(%peer, why, "sync request refused"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_unanswered_past_the_limit_are_given_up_and_asked_again() {
        let mut s = SyncState::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        let start = Instant::now();
        s.headers_inflight.insert(a, start);
        s.headers_inflight
            .insert(b, start + Duration::from_secs(10));
        // Not yet: nothing is given up.
        assert!(s.give_up_stale(start + GIVE_UP).is_empty());
        // Past the limit for a only: a may be asked for headers again.
        let given_up = s.give_up_stale(start + GIVE_UP + Duration::from_secs(1));
        assert_eq!(given_up, vec![a]);
        assert!(!s.headers_inflight.contains_key(&a));
        assert!(s.headers_inflight.contains_key(&b));
    }
}
