//! The PBFT replica step by step (inputs in, outputs checked), after Castro
//! and Liskov (OSDI 1999), section 4: a backup prepares the primary's block,
//! commits once prepared (saving its certificate first), decides on a quorum
//! of commits; a view change that claims a block without a valid prepared
//! certificate is refused, while one with a valid certificate obliges the new
//! primary to order that block again; restarted from its record, a replica's
//! view change still carries its certificate, and without the record it
//! would not.

use generals_chain::genesis::PbftParams;
use generals_chain::{codec, Block, Hash, Header, Keypair, MessageKind, PublicKey, SignedMessage};
use generals_consensus::bft::engine::BftData;
use generals_consensus::byzantine::LieViewChange;
use generals_consensus::pbft::proof::{at, decode, digest_of, digest_payload};
use generals_consensus::pbft::{
    seal_block, NewViewBody, PbftEngine, PbftRecord, Prepared, ProofError, Replicas, ViewChangeBody,
};
use generals_consensus::{Consensus, Headers, Input, Output};
use std::collections::HashMap;

const CHAIN: &str = "pbft-steps";
const T0: u64 = 1_700_000_000_000;

struct Store(HashMap<Hash, Header>);

impl Headers for Store {
    fn header(&self, hash: &Hash) -> Option<Header> {
        self.0.get(hash).cloned()
    }
}

struct World {
    /// The replicas' keys in primary order (sorted by public key).
    keys: Vec<Keypair>,
    genesis: Header,
    store: Store,
}

impl World {
    fn new() -> World {
        let mut keys: Vec<Keypair> = (0..4).map(|i| Keypair::dev(&format!("r{i}"))).collect();
        keys.sort_by_key(|k| k.public());
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

    fn engine(&self, i: usize) -> PbftEngine {
        let validators = self.keys.iter().map(|k| (k.public(), 100)).collect();
        PbftEngine::new(
            PbftParams::default(),
            CHAIN,
            &self.genesis,
            validators,
            self.keys[i].clone(),
        )
    }

    /// A block at height 1 by the primary of `view`, sealed.
    fn block(&self, view: u64, stamp: u64) -> Block {
        let primary = &self.keys[view as usize % 4];
        let mut b = Block {
            header: Header {
                parent: self.genesis.hash(),
                height: 1,
                timestamp_ms: T0 + stamp,
                producer: primary.public(),
                tx_root: Block::compute_tx_root(&[]),
                evidence_root: Block::compute_evidence_root(&[]),
                state_root: Hash::ZERO,
                consensus: BftData {
                    round: view,
                    last_commit: Vec::new(),
                }
                .encode(),
                seal: Vec::new(),
            },
            transactions: Vec::new(),
            evidence: Vec::new(),
        };
        seal_block(&mut b, primary, CHAIN);
        b
    }

    fn sign(&self, i: usize, kind: MessageKind, view: u64, payload: Vec<u8>) -> SignedMessage {
        SignedMessage::sign(&self.keys[i], CHAIN, at(kind, 1, view), payload)
    }

    fn vote(&self, i: usize, kind: MessageKind, view: u64, block: &Block) -> SignedMessage {
        self.sign(i, kind, view, digest_payload(block.hash()))
    }

    fn view_change(&self, i: usize, view: u64, prepared: Option<Prepared>) -> SignedMessage {
        let body = ViewChangeBody {
            prepared,
            stable: 0,
        };
        self.sign(i, MessageKind::ViewChange, view, codec::encode(&body))
    }
}

fn start(w: &World, e: &mut PbftEngine) -> Vec<Output> {
    e.handle(
        Input::NewTip {
            tip: w.genesis.clone(),
            now_ms: T0,
        },
        &w.store,
    )
}

fn message(w: &World, e: &mut PbftEngine, m: SignedMessage) -> Vec<Output> {
    e.handle(
        Input::Message {
            from: 0,
            message: m,
            now_ms: T0 + 600,
        },
        &w.store,
    )
}

fn block_in(w: &World, e: &mut PbftEngine, b: &Block) -> Vec<Output> {
    e.handle(
        Input::BlockReceived {
            from: 0,
            block: b.clone(),
            now_ms: T0 + 600,
        },
        &w.store,
    )
}

/// The messages of `kind` an output list broadcasts.
fn sent(out: &[Output], kind: MessageKind) -> Vec<SignedMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::BroadcastMessage(m) if m.position.kind == kind => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn refused(e: &PbftEngine) -> u64 {
    e.views().refused_proofs
}

#[test]
fn a_backup_prepares_commits_after_saving_its_certificate_and_decides() {
    let w = World::new();
    let mut e = w.engine(1);
    start(&w, &mut e);
    let b = w.block(0, 500);
    block_in(&w, &mut e, &b);
    let out = message(&w, &mut e, w.vote(0, MessageKind::PrePrepare, 0, &b));
    let prepares = sent(&out, MessageKind::Prepare);
    assert_eq!(prepares.len(), 1, "{out:?}");
    assert_eq!(digest_of(&prepares[0].payload), Some(b.hash()));
    // One more backup's prepare: with the pre-prepare and its own, a quorum
    // of 3 of 4. It commits, and its certificate is saved before the commit.
    let out = message(&w, &mut e, w.vote(2, MessageKind::Prepare, 0, &b));
    let commit_at = out
        .iter()
        .position(
            |o| matches!(o, Output::BroadcastMessage(m) if m.position.kind == MessageKind::Commit),
        )
        .expect("a commit");
    let saved = match &out[0] {
        Output::Persist(r) => PbftRecord::from_json(&r.bytes).expect("a record"),
        other => panic!("the record goes first, got {other:?}"),
    };
    assert!(commit_at > 0);
    let cert = saved.prepared.expect("the prepared certificate is saved");
    assert_eq!(digest_of(&cert.pre_prepare.payload), Some(b.hash()));
    assert_eq!(cert.prepares.len(), 2);
    assert!(!out.iter().any(|o| matches!(o, Output::Finalize(_))));
    // Commits of two others: a quorum of three decides.
    message(&w, &mut e, w.vote(0, MessageKind::Commit, 0, &b));
    let out = message(&w, &mut e, w.vote(3, MessageKind::Commit, 0, &b));
    assert!(out.contains(&Output::Finalize(b.hash())), "{out:?}");
}

#[test]
fn a_second_pre_prepare_for_the_view_is_evidence_and_not_prepared() {
    let w = World::new();
    let mut e = w.engine(1);
    start(&w, &mut e);
    let (a, b) = (w.block(0, 500), w.block(0, 501));
    block_in(&w, &mut e, &a);
    block_in(&w, &mut e, &b);
    let out = message(&w, &mut e, w.vote(0, MessageKind::PrePrepare, 0, &a));
    assert_eq!(sent(&out, MessageKind::Prepare).len(), 1);
    let out = message(&w, &mut e, w.vote(0, MessageKind::PrePrepare, 0, &b));
    assert!(
        out.iter().any(|o| matches!(o, Output::Evidence(_))),
        "{out:?}"
    );
    assert!(sent(&out, MessageKind::Prepare).is_empty());
}

/// The new primary of view 1 (replica 1), fed the given view changes for
/// view 1 from replicas 0, 2 and 3 in that order: what it broadcasts.
fn new_primary_after(
    w: &World,
    vcs: [SignedMessage; 3],
    known: &[&Block],
) -> (PbftEngine, Vec<Output>) {
    let mut e = w.engine(1);
    start(w, &mut e);
    for b in known {
        block_in(w, &mut e, b);
    }
    let mut all = Vec::new();
    for m in vcs {
        all.extend(message(w, &mut e, m));
    }
    (e, all)
}

#[test]
fn a_view_change_claiming_a_block_without_its_certificate_is_refused() {
    let w = World::new();
    // Replica 0, the primary of view 0, pre-prepared B to nobody but claims
    // it prepared B: its certificate has its own pre-prepare and prepare only.
    let b = w.block(0, 500);
    let lie = Prepared {
        pre_prepare: w.vote(0, MessageKind::PrePrepare, 0, &b),
        prepares: vec![w.vote(0, MessageKind::Prepare, 0, &b)],
    };
    let group = Replicas {
        chain_id: CHAIN,
        keys: &w.keys.iter().map(|k| k.public()).collect::<Vec<_>>(),
        quorum: 3,
    };
    assert!(matches!(
        group.check_prepared(&lie, 1),
        Err(ProofError::ShortCertificate { got: 1, need: 3 })
    ));
    let liar = w.view_change(0, 1, Some(lie));
    let (mut e, out) = new_primary_after(
        &w,
        [liar, w.view_change(2, 1, None), w.view_change(3, 1, None)],
        &[&b],
    );
    assert_eq!(refused(&e), 1);
    // Replica 1 joined once 2 (f+1) valid view changes asked for view 1, and
    // with its own had a quorum: none carries a valid certificate, so it asks
    // for a new block rather than ordering B.
    assert_eq!(sent(&out, MessageKind::ViewChange).len(), 1);
    let build = out
        .iter()
        .find_map(|o| match o {
            Output::Build { consensus, .. } => Some(consensus.clone()),
            _ => None,
        })
        .expect("the new primary builds a block");
    let data = BftData::decode(&build).expect("data");
    assert_eq!(data.round, 1);
    let fresh = w.block(1, 2_600);
    let out = e.handle(
        Input::Produced {
            block: fresh.clone(),
            now_ms: T0 + 2_600,
        },
        &w.store,
    );
    let nv = sent(&out, MessageKind::NewView);
    assert_eq!(nv.len(), 1, "{out:?}");
    let body: NewViewBody = decode("new view", &nv[0].payload).expect("a new view");
    assert!(body
        .view_changes
        .iter()
        .all(|m| m.signer != w.keys[0].public()));
    let ordered = digest_of(&body.pre_prepare.payload).expect("a digest");
    assert_ne!(ordered, b.hash());
    // Every replica checks the new view as the new primary built it.
    assert!(group.check_new_view(&nv[0], 1, 1).is_ok());
}

#[test]
fn a_view_change_with_a_valid_certificate_obliges_the_new_primary() {
    let w = World::new();
    let b = w.block(0, 500);
    let cert = Prepared {
        pre_prepare: w.vote(0, MessageKind::PrePrepare, 0, &b),
        prepares: vec![
            w.vote(2, MessageKind::Prepare, 0, &b),
            w.vote(3, MessageKind::Prepare, 0, &b),
        ],
    };
    let (e, out) = new_primary_after(
        &w,
        [
            w.view_change(0, 1, None),
            w.view_change(2, 1, Some(cert.clone())),
            w.view_change(3, 1, None),
        ],
        &[&b],
    );
    assert_eq!(refused(&e), 0);
    let nv = sent(&out, MessageKind::NewView);
    assert_eq!(nv.len(), 1, "{out:?}");
    let body: NewViewBody = decode("new view", &nv[0].payload).expect("a new view");
    assert_eq!(digest_of(&body.pre_prepare.payload), Some(b.hash()));
    // A new view that orders another block is refused for its proof.
    let keys: Vec<PublicKey> = w.keys.iter().map(|k| k.public()).collect();
    let group = Replicas {
        chain_id: CHAIN,
        keys: &keys,
        quorum: 3,
    };
    let other = w.block(1, 2_000);
    let forged = NewViewBody {
        view_changes: body.view_changes.clone(),
        pre_prepare: w.vote(1, MessageKind::PrePrepare, 1, &other),
    };
    let m = w.sign(1, MessageKind::NewView, 1, codec::encode(&forged));
    assert!(matches!(
        group.check_new_view(&m, 1, 1),
        Err(ProofError::WrongValue { .. })
    ));
}

#[test]
fn the_lying_wrapper_sends_only_refusable_view_changes() {
    let w = World::new();
    let liar = LieViewChange::new(w.engine(0), w.keys[0].clone(), CHAIN);
    let keys: Vec<PublicKey> = w.keys.iter().map(|k| k.public()).collect();
    let group = Replicas {
        chain_id: CHAIN,
        keys: &keys,
        quorum: 3,
    };
    for view in 1..6 {
        let m = liar.lie(1, view);
        assert!(group.check_view_change(&m, 1, view).is_err(), "view {view}");
    }
}

/// A replica that prepared and committed B in view 0, then was restarted
/// (from `record`, or from nothing): the view change it sends for view 1 once
/// two others ask for it.
fn view_change_after_restart(record: Option<PbftRecord>) -> ViewChangeBody {
    let w = World::new();
    let mut e = w.engine(1);
    if let Some(r) = record {
        e = e.with_record(r);
    }
    start(&w, &mut e);
    let out = message(&w, &mut e, w.view_change(2, 1, None));
    assert!(sent(&out, MessageKind::ViewChange).is_empty());
    let out = message(&w, &mut e, w.view_change(3, 1, None));
    let vc = sent(&out, MessageKind::ViewChange);
    assert_eq!(vc.len(), 1, "{out:?}");
    decode("view change", &vc[0].payload).expect("a view change")
}

#[test]
fn restarted_from_its_record_a_replica_still_proves_what_it_prepared() {
    let w = World::new();
    let mut e = w.engine(1);
    start(&w, &mut e);
    let b = w.block(0, 500);
    block_in(&w, &mut e, &b);
    message(&w, &mut e, w.vote(0, MessageKind::PrePrepare, 0, &b));
    let out = message(&w, &mut e, w.vote(2, MessageKind::Prepare, 0, &b));
    let Some(Output::Persist(r)) = out.first() else {
        panic!("a record: {out:?}");
    };
    let record = PbftRecord::from_json(&r.bytes).expect("a record");
    let with = view_change_after_restart(Some(record));
    let cert = with.prepared.expect("the certificate survives the restart");
    assert_eq!(digest_of(&cert.pre_prepare.payload), Some(b.hash()));
    // Without the record the replica forgets it prepared B, and a new view
    // could order another block after B was decided elsewhere.
    assert!(view_change_after_restart(None).prepared.is_none());
}
