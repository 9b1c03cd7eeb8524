//! Every engine's consensus messages: proposals, votes, attestations,
//! pre-prepares, view changes, new views, checkpoints. The fuzzer writes a run
//! of messages (kind, signer, height, round, payload); each is signed by one of
//! the four validators, so it passes the signature check and reaches the
//! engine's decoders and rules, and fed to an engine of the kind the first
//! byte picks, with timers and ticks between them.
#![no_main]
use generals_chain::{MessageKind, Position, SignedMessage};
use generals_consensus::engine::Input;
use generals_fuzz::engines::{keys, Engine, KINDS};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const MESSAGE_KINDS: [MessageKind; 10] = [
    MessageKind::Block,
    MessageKind::Proposal,
    MessageKind::Prevote,
    MessageKind::Precommit,
    MessageKind::Attestation,
    MessageKind::PrePrepare,
    MessageKind::Prepare,
    MessageKind::Commit,
    MessageKind::ViewChange,
    MessageKind::NewView,
];

fuzz_target!(|data: &[u8]| {
    static KEYS: OnceLock<Vec<generals_chain::Keypair>> = OnceLock::new();
    let keys = KEYS.get_or_init(keys);
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let mut e = Engine::new(KINDS[pick as usize % KINDS.len()], keys);
    let chain_id = e.genesis.chain_id.clone();
    while rest.len() >= 6 {
        let (head, tail) = rest.split_at(6);
        let len = (u16::from_le_bytes([head[4], head[5]]) as usize).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        let kind = match head[0] as usize % (MESSAGE_KINDS.len() + 2) {
            k if k < MESSAGE_KINDS.len() => MESSAGE_KINDS[k],
            k if k == MESSAGE_KINDS.len() => MessageKind::Checkpoint,
            _ => {
                // A timer or the clock moving on, instead of a message.
                e.now_ms += 250 * u64::from(head[1]);
                let now_ms = e.now_ms;
                e.handle(Input::Timer {
                    id: u64::from(head[2]),
                    now_ms,
                });
                e.handle(Input::Tick { now_ms });
                continue;
            }
        };
        let signer = head[1] as usize % keys.len();
        let position = Position {
            kind,
            height: u64::from(head[2] % 8),
            round: u64::from(head[3] % 4),
        };
        let message = SignedMessage::sign(&keys[signer], &chain_id, position, payload.to_vec());
        let now_ms = e.now_ms;
        e.handle(Input::Message {
            from: signer,
            message,
            now_ms,
        });
    }
});
