//! Writes the seed corpora of the fuzz targets (`fuzz/corpus/<target>/`): one
//! well-formed input or a few for each decoder, from which the fuzzer mutates.
//!   cargo run -p generals-node --example fuzz_seeds -- fuzz/corpus

use generals_chain::codec::encode;
use generals_chain::{Action, Block, Evidence, Keypair, MessageKind, Position, SignedMessage};
use generals_node::config::{dev_genesis, NodeConfig};
use generals_node::direct::{Direct, DirectAnswer};
use generals_node::protocol::{SyncRequest, SyncResponse};
use std::path::{Path, PathBuf};

fn frame(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

fn write(root: &Path, target: &str, seeds: Vec<Vec<u8>>) -> std::io::Result<()> {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir)?;
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), seed)?;
    }
    Ok(())
}

/// A chunk of the engine_messages target: kind, signer, height, round, length.
fn chunk(kind: u8, signer: u8, height: u8, round: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![kind, signer, height, round];
    out.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or("fuzz/corpus".into()));
    let key = Keypair::dev("fuzz-0");
    let other = Keypair::dev("fuzz-1");
    let genesis = dev_genesis("pow", &key, Default::default())?;
    let block: Block = genesis.block()?;
    let tx = generals_chain::tx::TxBody {
        chain_id: genesis.chain_id.clone(),
        sender: key.public(),
        nonce: 0,
        fee: 1,
        action: Action::Transfer {
            to: other.public(),
            amount: 5,
        },
    }
    .sign(&key);
    let mut with_tx = block.clone();
    with_tx.header.height = 1;
    with_tx.header.parent = block.hash();
    with_tx.transactions.push(tx.clone());
    let position = |kind| Position {
        kind,
        height: 1,
        round: 0,
    };
    let vote = encode(&Some(block.hash()));
    let m = SignedMessage::sign(
        &key,
        "generals-dev",
        position(MessageKind::Prevote),
        vote.clone(),
    );
    let m2 = SignedMessage::sign(
        &key,
        "generals-dev",
        position(MessageKind::Prevote),
        encode(&None::<generals_chain::Hash>),
    );
    let evidence = Evidence {
        first: m.clone(),
        second: m2.clone(),
    };

    write(&root, "block", vec![encode(&block), encode(&with_tx)])?;
    write(&root, "transaction", vec![encode(&tx)])?;
    write(
        &root,
        "gossip_consensus",
        vec![encode(&m), encode(&(m.clone(), 3u64))],
    )?;
    write(&root, "gossip_evidence", vec![encode(&evidence)])?;
    write(
        &root,
        "sync_request",
        vec![
            frame(&encode(&SyncRequest::Status)),
            frame(&encode(&SyncRequest::Headers {
                locator: vec![block.hash()],
                max: 512,
            })),
            frame(&encode(&SyncRequest::Blocks {
                hashes: vec![block.hash()],
            })),
        ],
    )?;
    write(
        &root,
        "sync_response",
        vec![
            frame(&encode(&SyncResponse::Status {
                genesis: block.hash(),
                tip: block.hash(),
                height: 0,
                weight: [0; 16],
            })),
            frame(&encode(&SyncResponse::Headers(vec![block.header.clone()]))),
            frame(&encode(&SyncResponse::Blocks(vec![with_tx.clone()]))),
            frame(&encode(&SyncResponse::Refused("too many".into()))),
        ],
    )?;
    write(
        &root,
        "direct_request",
        vec![
            frame(&encode(&Direct::Block(block.clone()))),
            frame(&encode(&Direct::Message(m.clone()))),
        ],
    )?;
    write(
        &root,
        "direct_response",
        vec![
            frame(&encode(&DirectAnswer::Taken)),
            frame(&encode(&DirectAnswer::Refused("invalid".into()))),
        ],
    )?;
    // Engine messages: for each engine (first byte), votes and proposals.
    let mut engine = Vec::new();
    for pick in 0..6u8 {
        let mut seed = vec![pick];
        for kind in 0..12u8 {
            seed.extend(chunk(kind, 1, 1, 0, &vote));
        }
        seed.extend(chunk(11, 4, 1, 0, &[]));
        engine.push(seed);
    }
    write(&root, "engine_messages", engine)?;
    let seals = (0..6u8)
        .map(|pick| {
            let mut s = vec![pick, 8, 1];
            s.extend(encode(&(1u64, 2u64)));
            s.extend(encode(&m.signature));
            s
        })
        .collect();
    write(&root, "engine_seals", seals)?;
    let kinds = ["pow", "pos", "poa", "bft", "dpos", "pbft"];
    let genesis_json = kinds
        .iter()
        .map(|k| {
            Ok(dev_genesis(k, &key, Default::default())?
                .to_json()
                .into_bytes())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    write(&root, "genesis_json", genesis_json)?;
    write(
        &root,
        "config_toml",
        vec![toml::to_string_pretty(&NodeConfig::default())?.into_bytes()],
    )?;
    let mut scenarios = Vec::new();
    let library = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnet/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&library)?.collect::<Result<_, _>>()?;
    files.sort_by_key(|e| e.path());
    for file in files {
        scenarios.push(std::fs::read(file.path())?);
    }
    write(&root, "scenario_toml", scenarios)?;
    let bodies: Vec<(u8, String)> = vec![
        (0, format!("{{\"hex\": \"{}\"}}", hex::encode(encode(&tx)))),
        (0, format!("{{\"tx\": {}}}", serde_json::to_string(&tx)?)),
        (1, "{\"blocks\": 3, \"full_speed\": false}".into()),
        (1, "null".into()),
        (2, "{\"peer_id\": \"12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo\"}".into()),
        (
            3,
            "{\"peer_id\": \"12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo\", \"latency_ms\": 50, \"jitter_ms\": 5, \"loss\": 0.1}".into(),
        ),
        (4, format!("{{\"candidate\": \"{}\", \"add\": true}}", other.public())),
        (5, format!("{{\"candidate\": \"{}\"}}", other.public())),
    ];
    write(
        &root,
        "api_bodies",
        bodies
            .into_iter()
            .map(|(pick, body)| {
                let mut s = vec![pick];
                s.extend(body.into_bytes());
                s
            })
            .collect(),
    )?;
    println!("seed corpora written under {}", root.display());
    Ok(())
}
