//! The BFT engine step by step (inputs in, outputs checked), after Algorithm 1
//! of arXiv 1807.04938: a validator prevotes a valid proposal, locks on a
//! block once 2f+1 prevote it (line 36) and then prevotes nil for any other
//! block in later rounds (line 23); restarted from its signing record, it
//! never signs a second, different vote for a round it voted in, while a
//! validator without the record would; the record saved with a precommit holds
//! the lock and the valid value together; and a validator restarted after a
//! decision gives a peer still voting at that height the certificate its
//! record kept (peers that waited for its lost precommit would wait for ever).

use generals_chain::genesis::BftParams;
use generals_chain::{
    codec, Block, Hash, Header, Keypair, MessageKind, Position, PublicKey, SignedMessage,
};
use generals_consensus::bft::engine::{seal, vote_payload, vote_value, BftData, ProposalBody};
use generals_consensus::bft::{BftEngine, BftRecord, ValidatorSet};
use generals_consensus::factory::bft_record;
use generals_consensus::{Consensus, Headers, Input, Output};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CHAIN: &str = "bft-steps";
const T0: u64 = 1_700_000_000_000;

struct Store(HashMap<Hash, Header>);

impl Headers for Store {
    fn header(&self, hash: &Hash) -> Option<Header> {
        self.0.get(hash).cloned()
    }
}

/// Where the host saves what the engine asks to persist.
#[derive(Clone, Debug, Default)]
struct Saved(Arc<Mutex<Option<BftRecord>>>);

impl Saved {
    fn save(&self, bytes: &[u8]) {
        let record = bft_record(bytes).expect("a readable record");
        *self.0.lock().expect("lock") = Some(record);
    }
}

struct World {
    keys: Vec<Keypair>,
    genesis: Header,
    store: Store,
}

impl World {
    fn new() -> World {
        let keys: Vec<Keypair> = (0..4).map(|i| Keypair::dev(&format!("v{i}"))).collect();
        let genesis = Header {
            parent: Hash::ZERO,
            height: 0,
            timestamp_ms: T0,
            producer: PublicKey::default(),
            tx_root: Block::compute_tx_root(&[]),
            evidence_root: Block::compute_evidence_root(&[]),
            state_root: Hash::ZERO,
            consensus: Vec::new(),
            seal: Vec::new(),
        };
        let store = Store(HashMap::from([(genesis.hash(), genesis.clone())]));
        World {
            keys,
            genesis,
            store,
        }
    }

    fn validators(&self) -> Vec<(PublicKey, u64)> {
        self.keys.iter().map(|k| (k.public(), 100)).collect()
    }

    fn key_of(&self, p: PublicKey) -> &Keypair {
        self.keys
            .iter()
            .find(|k| k.public() == p)
            .expect("a validator")
    }

    fn proposer(&self, round: u64) -> PublicKey {
        ValidatorSet::new(self.validators().into_iter().collect())
            .proposer(round)
            .expect("a proposer")
    }

    /// A validator that is not the proposer of rounds 0 and 1.
    fn voter(&self) -> Keypair {
        let busy = [self.proposer(0), self.proposer(1)];
        self.keys
            .iter()
            .find(|k| !busy.contains(&k.public()))
            .expect("a voter")
            .clone()
    }

    fn engine(&self, key: Keypair, record: BftRecord) -> BftEngine {
        let params = BftParams {
            timeout_propose_ms: 1_000,
            timeout_vote_ms: 500,
            timeout_commit_ms: 0,
        };
        BftEngine::new(params, CHAIN, &self.genesis, self.validators(), key).with_record(record)
    }

    /// A block at height 1 proposed in `round`, stamped `ms` after genesis.
    fn block(&self, round: u64, ms: u64) -> Block {
        let producer = self.proposer(round);
        let mut b = Block {
            header: Header {
                parent: self.genesis.hash(),
                height: 1,
                timestamp_ms: T0 + ms,
                producer,
                tx_root: Block::compute_tx_root(&[]),
                evidence_root: Block::compute_evidence_root(&[]),
                state_root: Hash::ZERO,
                consensus: BftData {
                    round,
                    last_commit: Vec::new(),
                }
                .encode(),
                seal: Vec::new(),
            },
            transactions: Vec::new(),
            evidence: Vec::new(),
        };
        seal(&mut b, self.key_of(producer), CHAIN);
        b
    }

    fn proposal(&self, round: u64, block: &Block, valid_round: Option<u64>) -> SignedMessage {
        let body = ProposalBody {
            block: block.hash(),
            valid_round,
        };
        SignedMessage::sign(
            self.key_of(self.proposer(round)),
            CHAIN,
            Position {
                kind: MessageKind::Proposal,
                height: 1,
                round,
            },
            codec::encode(&body),
        )
    }

    fn vote(&self, key: &Keypair, kind: MessageKind, round: u64, v: Option<Hash>) -> SignedMessage {
        SignedMessage::sign(
            key,
            CHAIN,
            Position {
                kind,
                height: 1,
                round,
            },
            vote_payload(v),
        )
    }
}

/// Feeds inputs to an engine and keeps the votes it signs.
struct Run<'a> {
    world: &'a World,
    engine: BftEngine,
    me: PublicKey,
    votes: Vec<SignedMessage>,
    db: Saved,
}

impl Run<'_> {
    fn feed(&mut self, input: Input) {
        for o in self.engine.handle(input, &self.world.store) {
            // As a host does: the record is saved before anything after it
            // leaves, and no signed vote comes before the record that holds it.
            if let Output::Persist(r) = &o {
                self.db.save(&r.bytes);
            }
            if let Output::BroadcastMessage(m) = o {
                if m.signer == self.me {
                    let on_record = self.db.0.lock().expect("lock").as_ref().is_some_and(|r| {
                        r.signed.iter().any(|(k, round, p)| {
                            *k == m.position.kind && *round == m.position.round && *p == m.payload
                        })
                    });
                    assert!(
                        on_record,
                        "a signed message left before its record was saved"
                    );
                }
                if m.signer == self.me
                    && matches!(
                        m.position.kind,
                        MessageKind::Prevote | MessageKind::Precommit
                    )
                {
                    self.votes.push(m);
                }
            }
        }
    }

    fn start(&mut self) {
        let tip = self.world.genesis.clone();
        self.feed(Input::NewTip {
            tip,
            now_ms: T0 + 1,
        });
    }

    fn offer(&mut self, block: Block, proposal: SignedMessage) {
        self.feed(Input::BlockReceived {
            from: 0,
            block,
            now_ms: T0 + 10,
        });
        self.message(proposal);
    }

    fn message(&mut self, message: SignedMessage) {
        self.feed(Input::Message {
            from: 0,
            message,
            now_ms: T0 + 20,
        });
    }

    /// The values of the votes of `kind` it signed in `round`.
    fn signed(&self, kind: MessageKind, round: u64) -> Vec<Option<Hash>> {
        self.votes
            .iter()
            .filter(|m| m.position.kind == kind && m.position.round == round)
            .filter_map(|m| vote_value(&m.payload))
            .collect()
    }
}

fn run<'a>(world: &'a World, key: Keypair, record: BftRecord, db: Saved) -> Run<'a> {
    Run {
        world,
        me: key.public(),
        engine: world.engine(key, record),
        votes: Vec::new(),
        db,
    }
}

#[test]
fn a_locked_validator_prevotes_nil_for_another_block() {
    let w = World::new();
    let me = w.voter();
    let mut r = run(&w, me.clone(), BftRecord::default(), Saved::default());
    r.start();
    let x = w.block(0, 5);
    r.offer(x.clone(), w.proposal(0, &x, None));
    // Lines 22-24: a valid proposal, no lock: prevote it.
    assert_eq!(r.signed(MessageKind::Prevote, 0), vec![Some(x.hash())]);
    // Lines 36-41: 2f+1 prevotes for it (two others and its own): lock and
    // precommit it.
    let others: Vec<&Keypair> = w
        .keys
        .iter()
        .filter(|k| k.public() != me.public())
        .collect();
    for k in &others[..2] {
        r.message(w.vote(k, MessageKind::Prevote, 0, Some(x.hash())));
    }
    assert_eq!(r.signed(MessageKind::Precommit, 0), vec![Some(x.hash())]);
    assert_eq!(r.engine.status().locked_round, Some(0));
    // Lines 55-56: f+1 validators in round 1 pull it there.
    for k in &others[..2] {
        r.message(w.vote(k, MessageKind::Prevote, 1, None));
    }
    assert_eq!(r.engine.status().round, 1);
    // Line 23: locked on x, it prevotes nil for a new block z.
    let z = w.block(1, 30);
    r.offer(z.clone(), w.proposal(1, &z, None));
    assert_eq!(r.signed(MessageKind::Prevote, 1), vec![None]);
}

#[test]
fn a_restarted_validator_never_signs_a_different_vote_for_a_round() {
    let w = World::new();
    let me = w.voter();
    let db = Saved::default();
    let mut first = run(&w, me.clone(), BftRecord::default(), db.clone());
    first.start();
    let x = w.block(0, 5);
    first.offer(x.clone(), w.proposal(0, &x, None));
    assert_eq!(first.signed(MessageKind::Prevote, 0), vec![Some(x.hash())]);
    // The process dies; a new one starts from the saved record, and a
    // faulty proposer now offers a different block for the same round.
    let saved = db.0.lock().expect("lock").clone().expect("a saved record");
    let y = w.block(0, 6);
    let mut second = run(&w, me.clone(), saved, db.clone());
    second.start();
    second.offer(y.clone(), w.proposal(0, &y, None));
    let all: Vec<Option<Hash>> = first
        .signed(MessageKind::Prevote, 0)
        .into_iter()
        .chain(second.signed(MessageKind::Prevote, 0))
        .collect();
    assert!(
        all.iter().all(|v| *v == Some(x.hash())),
        "prevotes signed for round 0 across the restart: {all:?}"
    );
    // Without the record the same validator would prevote y: the record is
    // what keeps it from double-signing.
    let mut amnesiac = run(&w, me, BftRecord::default(), Saved::default());
    amnesiac.start();
    amnesiac.offer(y.clone(), w.proposal(0, &y, None));
    assert_eq!(
        amnesiac.signed(MessageKind::Prevote, 0),
        vec![Some(y.hash())]
    );
}

/// The voter of round 0 prevotes and precommits `x` with two others and
/// decides it; returns the run and the two others.
fn decide_x<'a>(w: &'a World, me: &Keypair, db: Saved) -> (Run<'a>, Block, Vec<Keypair>) {
    let mut r = run(w, me.clone(), BftRecord::default(), db);
    r.start();
    let x = w.block(0, 5);
    r.offer(x.clone(), w.proposal(0, &x, None));
    let others: Vec<Keypair> = w
        .keys
        .iter()
        .filter(|k| k.public() != me.public())
        .take(2)
        .cloned()
        .collect();
    for k in &others {
        r.message(w.vote(k, MessageKind::Prevote, 0, Some(x.hash())));
    }
    (r, x, others)
}

#[test]
fn the_record_saved_with_a_precommit_holds_the_lock_and_the_valid_value() {
    let w = World::new();
    let me = w.voter();
    let db = Saved::default();
    let (r, x, _) = decide_x(&w, &me, db.clone());
    assert_eq!(r.signed(MessageKind::Precommit, 0), vec![Some(x.hash())]);
    let saved = db.0.lock().expect("lock").clone().expect("a saved record");
    // Line 36-43 set both; a record with the lock alone would make a
    // restarted proposer offer a new block it must itself prevote nil on.
    assert_eq!(saved.locked, Some((0, x.hash())));
    assert_eq!(saved.valid, Some((0, x.hash())));
}

#[test]
fn a_restarted_validator_helps_a_peer_behind_it_with_the_certificate_its_record_kept() {
    let w = World::new();
    let me = w.voter();
    let db = Saved::default();
    let (mut r, x, others) = decide_x(&w, &me, db.clone());
    for k in &others {
        r.message(w.vote(k, MessageKind::Precommit, 0, Some(x.hash())));
    }
    let saved = db.0.lock().expect("lock").clone().expect("a saved record");
    assert_eq!(saved.commit.len(), 3, "the decision's precommits are saved");
    // The process dies having decided x; the others never got its precommit
    // and still vote at height 1. Restarted on x, it has decided nothing in
    // this life, yet a peer's height-1 vote gets it the certificate.
    let mut store = Store(w.store.0.clone());
    store.0.insert(x.hash(), x.header.clone());
    let mut engine = w.engine(me.clone(), saved.clone());
    engine.restore(&x);
    let _ = engine.handle(
        Input::NewTip {
            tip: x.header.clone(),
            now_ms: T0 + 2_000,
        },
        &store,
    );
    let stuck = w.vote(&others[0], MessageKind::Precommit, 1, None);
    let out = engine.handle(
        Input::Message {
            from: 7,
            message: stuck,
            now_ms: T0 + 3_000,
        },
        &store,
    );
    let sent: Vec<&SignedMessage> = out
        .iter()
        .filter_map(|o| match o {
            Output::SendMessage { to: 7, message } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 3, "{out:?}");
    assert!(sent
        .iter()
        .all(|m| m.position.kind == MessageKind::Precommit && saved.commit.contains(m)));
}
