//! The one host loop (`host::drive`) and a signer's record: a record is written
//! before anything after it is carried out, a record older than one already
//! written is not written over it, and when a record cannot be written nothing
//! after it leaves and `drive` says why. A block an engine imports but sends
//! to no one when it is produced is reported withheld, and released when it
//! goes out later.

use generals_chain::{
    Block, Hash, Header, Keypair, MemoryStore, MempoolConfig, MessageKind, Position, PublicKey,
    SignedMessage, Transaction,
};
use generals_consensus::core::NodeCore;
use generals_consensus::host::{drive, Host, MineJob, PersistError, Report, Withheld};
use generals_consensus::sim::{sim_genesis, SimConfig};
use generals_consensus::{Consensus, ConsensusError, Headers, Input, NodeId, Output, Record};

/// Gives out what it was told to, once.
struct Scripted(Vec<Output>);

impl Consensus for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }
    fn weight(&self, _: &Header) -> u128 {
        1
    }
    fn validate(&self, _: &Header, _: &dyn Headers, _: u64) -> Result<(), ConsensusError> {
        Ok(())
    }
    fn handle(&mut self, _: Input, _: &dyn Headers) -> Vec<Output> {
        std::mem::take(&mut self.0)
    }
}

/// Writes down what the loop asks of it.
struct Recorder {
    core: NodeCore<MemoryStore>,
    did: Vec<String>,
    refuse_writes: bool,
    withheld: Withheld,
}

impl Host for Recorder {
    type Store = MemoryStore;
    fn core(&self) -> &NodeCore<MemoryStore> {
        &self.core
    }
    fn core_mut(&mut self) -> &mut NodeCore<MemoryStore> {
        &mut self.core
    }
    fn now_ms(&self) -> u64 {
        0
    }
    fn producer(&self) -> PublicKey {
        PublicKey::default()
    }
    fn mine(&mut self, _: MineJob) {}
    fn stop_mining(&mut self) {}
    fn send_block(&mut self, _: Option<NodeId>, _: Block) {}
    fn send_message(&mut self, _: Option<NodeId>, m: SignedMessage) {
        self.did.push(format!("send round {}", m.position.round));
    }
    fn send_transaction(&mut self, _: Transaction) {}
    fn set_timer(&mut self, _: u64, _: u64) {}
    fn persist(&mut self, record: &Record) -> Result<(), PersistError> {
        if self.refuse_writes {
            return Err("the disk is full".into());
        }
        self.did.push(format!("persist {}", record.seq));
        Ok(())
    }
    fn fetch(&mut self, _: NodeId, _: Hash) {}
    fn produced(&mut self, _: &Block) -> u64 {
        0
    }
    fn report(&mut self, event: Report<'_>) {
        match event {
            Report::Withheld(b) => self.did.push(format!("withheld {}", b.height())),
            Report::Released(b) => self.did.push(format!("released {}", b.height())),
            _ => {}
        }
    }
    fn withheld(&mut self) -> &mut Withheld {
        &mut self.withheld
    }
}

fn recorder(refuse_writes: bool) -> Recorder {
    let genesis = sim_genesis(&SimConfig::bft(1, 0, 1));
    let core = NodeCore::open(
        MemoryStore::new(),
        &genesis,
        |_: &Header| 1,
        MempoolConfig::default(),
    )
    .expect("genesis");
    Recorder {
        core,
        did: Vec::new(),
        refuse_writes,
        withheld: Withheld::default(),
    }
}

fn persist(seq: u64) -> Output {
    Output::Persist(Record {
        name: "test-record",
        seq,
        bytes: vec![seq as u8],
    })
}

fn vote(round: u64) -> Output {
    let position = Position {
        kind: MessageKind::Prevote,
        height: 1,
        round,
    };
    let m = SignedMessage::sign(&Keypair::dev("v"), "generals-sim", position, vec![]);
    Output::BroadcastMessage(m)
}

#[test]
fn a_record_is_written_before_what_follows_and_never_over_a_newer_one() {
    let mut host = recorder(false);
    let mut engine = Scripted(vec![persist(2), vote(0), persist(1), vote(1)]);
    let verdicts = drive(&mut host, &mut engine, Input::Tick { now_ms: 0 }, None);
    assert!(verdicts.is_ok());
    assert_eq!(host.did, ["persist 2", "send round 0", "send round 1"]);
}

#[test]
fn nothing_leaves_after_a_record_that_could_not_be_written() {
    let mut host = recorder(true);
    let mut engine = Scripted(vec![persist(1), vote(0)]);
    let err = drive(&mut host, &mut engine, Input::Tick { now_ms: 0 }, None)
        .expect_err("the write failed");
    assert!(err.to_string().contains("the disk is full"), "{err}");
    assert!(
        host.did.is_empty(),
        "carried out after the failed write: {:?}",
        host.did
    );
}

fn child_of(host: &Recorder, parent: Hash, height: u64, at: u64) -> Block {
    host.core
        .build_on(
            parent,
            height,
            at,
            PublicKey::default(),
            vec![],
            vec![],
            &|_| true,
        )
        .expect("a block")
}

#[test]
fn a_produced_block_kept_from_every_peer_is_withheld_until_it_goes_out() {
    let mut host = recorder(false);
    let genesis = host.core.tip().hash;
    // Kept: imported, sent to no one.
    let kept = child_of(&host, genesis, 1, 1);
    let mut engine = Scripted(vec![Output::Import(kept.clone())]);
    let produced = Input::Produced {
        block: kept.clone(),
        now_ms: 1,
    };
    drive(&mut host, &mut engine, produced, None).expect("step");
    assert_eq!(host.did, ["withheld 1"]);
    assert!(host.withheld.contains(&kept.hash()));
    // An honest producer sends what it imports: nothing withheld.
    let sent = child_of(&host, kept.hash(), 2, 2);
    let mut engine = Scripted(vec![
        Output::Import(sent.clone()),
        Output::Broadcast(sent.clone()),
    ]);
    let produced = Input::Produced {
        block: sent.clone(),
        now_ms: 2,
    };
    drive(&mut host, &mut engine, produced, None).expect("step");
    assert_eq!(host.did, ["withheld 1"]);
    // A block received and imported, sent on to no one, is not withheld:
    // only what the node produced can be.
    let received = child_of(&host, sent.hash(), 3, 3);
    let mut engine = Scripted(vec![Output::Import(received.clone())]);
    let input = Input::BlockReceived {
        block: received.clone(),
        now_ms: 3,
        from: 1,
    };
    drive(&mut host, &mut engine, input, Some(1)).expect("step");
    assert_eq!(host.did, ["withheld 1"]);
    assert!(!host.withheld.contains(&received.hash()));
    // The kept block goes out later: released, and no longer withheld.
    let mut engine = Scripted(vec![Output::Broadcast(kept.clone())]);
    drive(&mut host, &mut engine, Input::Tick { now_ms: 3 }, None).expect("step");
    assert_eq!(host.did, ["withheld 1", "released 1"]);
    assert!(!host.withheld.contains(&kept.hash()));
}
