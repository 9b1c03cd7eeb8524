//! A hostile peer: an invalid block on the block topic is rejected and the peer
//! penalised; garbage on every gossip topic and on the sync protocol does not
//! crash the node.

mod common;

use common::*;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use generals_chain::{build_block, BlockTemplate, Genesis, Keypair};
use generals_consensus::pow::{work, PowData};
use generals_node::protocol::{Topics, SYNC_PROTOCOL};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{gossipsub, noise, request_response, tcp, yamux, StreamProtocol};
use std::io;
use std::time::Duration;

/// Writes whatever bytes it is given, framing included.
#[derive(Clone, Default)]
struct RawCodec;

#[async_trait::async_trait]
impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;
    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        io.take(1 << 20).read_to_end(&mut v).await?;
        Ok(v)
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        io.take(1 << 20).read_to_end(&mut v).await?;
        Ok(v)
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&r).await?;
        io.close().await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&r).await?;
        io.close().await
    }
}

#[derive(NetworkBehaviour)]
struct Evil {
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<RawCodec>,
}

/// A block on genesis whose nonce does not meet its difficulty.
fn bad_block(g: &Genesis) -> Vec<u8> {
    let genesis = g.block().expect("genesis");
    let generals_chain::ConsensusSpec::Pow(p) = g.consensus else {
        panic!("a pow genesis")
    };
    let mut block = build_block(
        &g.state().expect("state"),
        &g.rules(),
        BlockTemplate {
            parent: genesis.hash(),
            height: 1,
            timestamp_ms: genesis.header.timestamp_ms + 1,
            producer: Keypair::dev("evil").public(),
            consensus: PowData {
                difficulty: p.initial_difficulty as u128,
            }
            .encode(),
            max_txs: 0,
        },
        vec![],
        vec![],
    )
    .expect("build")
    .block;
    let seal_hash = block.header.seal_hash();
    let nonce = (0u64..)
        .find(|n| {
            !work::meets(
                &work::work_hash(&seal_hash, *n),
                p.initial_difficulty as u128,
            )
        })
        .expect("a failing nonce");
    block.header.seal = nonce.to_le_bytes().to_vec();
    block.encode()
}

#[test]
fn invalid_blocks_and_garbage_are_rejected_and_the_sender_penalised() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let homes = homes(tmp.path(), 1);
    let a = Node::start(&homes[0], &[]);
    let genesis = Genesis::load(&homes[0].join("genesis.json")).expect("genesis");
    let topics = Topics::for_chain(&genesis.chain_id);
    let target: libp2p::Multiaddr = a.listen.parse().expect("addr");
    let node_peer: libp2p::PeerId = a.peer_id.parse().expect("peer id");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let evil_id = rt.block_on(async {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .expect("tcp")
            .with_behaviour(|_| Evil {
                gossipsub: gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Anonymous,
                    gossipsub::ConfigBuilder::default()
                        .validation_mode(gossipsub::ValidationMode::Anonymous)
                        .message_id_fn(|m: &gossipsub::Message| {
                            use sha2::Digest;
                            gossipsub::MessageId::from(sha2::Sha256::digest(&m.data).to_vec())
                        })
                        .build()
                        .expect("config"),
                )
                .expect("gossipsub"),
                sync: request_response::Behaviour::new(
                    [(
                        StreamProtocol::new(SYNC_PROTOCOL),
                        request_response::ProtocolSupport::Full,
                    )],
                    request_response::Config::default(),
                ),
            })
            .expect("behaviour")
            .build();
        for t in topics.all() {
            swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&gossipsub::IdentTopic::new(t))
                .expect("subscribe");
        }
        swarm.dial(target).expect("dial");
        // Wait until the node has subscribed us to its topics.
        let mut subscribed = 0;
        tokio::time::timeout(Duration::from_secs(20), async {
            while subscribed < 4 {
                if let SwarmEvent::Behaviour(EvilEvent::Gossipsub(gossipsub::Event::Subscribed {
                    ..
                })) = swarm.select_next_some().await
                {
                    subscribed += 1;
                }
            }
        })
        .await
        .expect("the node subscribed");
        // An invalid block, then garbage on every topic.
        swarm
            .behaviour_mut()
            .gossipsub
            .publish(
                gossipsub::IdentTopic::new(topics.blocks.clone()),
                bad_block(&genesis),
            )
            .expect("publish the bad block");
        for (i, t) in topics.all().iter().enumerate() {
            swarm
                .behaviour_mut()
                .gossipsub
                .publish(
                    gossipsub::IdentTopic::new(*t),
                    vec![0xde, 0xad, i as u8, 0xff, 0xff, 0xff, 0xff, 7],
                )
                .expect("publish garbage");
        }
        // Garbage on the sync protocol: a frame claiming 4 GiB, and a short frame
        // of junk.
        let huge = [vec![0xff, 0xff, 0xff, 0xff], vec![1; 64]].concat();
        swarm.behaviour_mut().sync.send_request(&node_peer, huge);
        swarm
            .behaviour_mut()
            .sync
            .send_request(&node_peer, vec![0, 0, 0, 5, 9, 9, 9, 9, 9]);
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                swarm.select_next_some().await;
            }
        })
        .await;
        *swarm.local_peer_id()
    });

    // The node is up, did not take the block, and holds the sender to account.
    let status = a.status();
    assert_eq!(status["height"].as_u64(), Some(0), "{status}");
    let peers = a.get("/peers");
    let evil = peers
        .as_array()
        .expect("peers")
        .iter()
        .find(|p| p["peer_id"] == evil_id.to_string())
        .unwrap_or_else(|| panic!("the hostile peer is listed: {peers}"))
        .clone();
    assert!(evil["penalty"].as_u64() >= Some(5), "{evil}");
    assert!(a.log().contains("invalid block"), "{}", a.log());
    let (code, _) = a.admin(
        "/mine",
        &serde_json::json!({"blocks": 1, "full_speed": true}),
    );
    assert_eq!(code, 200, "the node still works");
}
