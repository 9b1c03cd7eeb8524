//! The libp2p network: TCP, noise and yamux; gossipsub for blocks, transactions,
//! consensus messages and evidence (content-addressed message ids, every message
//! validated by the node before it propagates, no gossipsub signing: our values
//! carry our own signatures); request-response for sync and for sends aimed at
//! one peer (`direct`); identify; ping, whose failures close a connection
//! that went silent (a peer whose network was cut off, not closed, so that
//! the node dials again once it is back); a block list through which the admin API
//! partitions the network and the node cuts off a peer; and bounds on
//! connections (`MAX_INCOMING`, `MAX_PENDING_INCOMING`, `MAX_PER_PEER`).

use crate::direct::{DirectCodec, DIRECT_PROTOCOL, MAX_DIRECT_STREAMS};
use crate::protocol::{SyncCodec, Topics, MAX_SYNC_BYTES, SYNC_PROTOCOL};
use anyhow::{Context, Result};
use generals_chain::codec::MAX_BLOCK_BYTES;
use libp2p::allow_block_list::{self, BlockedPeers};
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    gossipsub, identify, noise, ping, request_response, tcp, yamux, StreamProtocol, Swarm,
};
use sha2::{Digest, Sha256};
use std::time::Duration;

const _: () = assert!(MAX_SYNC_BYTES >= MAX_BLOCK_BYTES);

/// How often each connection is pinged, and how long an answer may take
/// before the connection is closed as dead.
pub const PING_EVERY: Duration = Duration::from_secs(5);
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest gossip message: a full block and a margin for framing.
pub const MAX_GOSSIP_BYTES: usize = MAX_BLOCK_BYTES + 1024;

/// How long gossip remembers a message id to drop repeats.
pub const DUPLICATE_CACHE_TIME: Duration = Duration::from_secs(10);

/// Connections a node accepts: established from others, being set up, and
/// to any one peer.
pub const MAX_INCOMING: u32 = 128;
pub const MAX_PENDING_INCOMING: u32 = 32;
pub const MAX_PER_PEER: u32 = 4;

/// The behaviours are asked in field order whether to take a new
/// connection, and the first refusal ends the asking with nothing undone:
/// one asked before a refusal keeps a connection that never opens (request-
/// response then sends requests into it, which get neither an answer nor a
/// failure, and its debug assertion fails when the peer's next connection
/// closes). So the two that refuse come first.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub blocked: allow_block_list::Behaviour<BlockedPeers>,
    pub limits: connection_limits::Behaviour,
    pub gossipsub: gossipsub::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub sync: request_response::Behaviour<SyncCodec>,
    pub direct: request_response::Behaviour<DirectCodec>,
}

/// Builds the swarm of a node with `identity`, subscribed to `topics`.
pub fn build_swarm(
    identity: libp2p::identity::Keypair,
    topics: &Topics,
) -> Result<Swarm<Behaviour>> {
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .context("setting up TCP, noise and yamux")?
        .with_behaviour(|key| {
            let gossip_config = gossipsub::ConfigBuilder::default()
                .heartbeat_interval(Duration::from_millis(500))
                .validation_mode(gossipsub::ValidationMode::Anonymous)
                .validate_messages()
                .max_transmit_size(MAX_GOSSIP_BYTES)
                // Every message id seen is kept this long (about 260 bytes
                // each): gossipsub's 60 s default let a flood of 10,000
                // messages a second grow a node by 150 MiB in a minute.
                // Honest repeats come within the gossip history (2.5 s).
                .duplicate_cache_time(DUPLICATE_CACHE_TIME)
                .message_id_fn(|m: &gossipsub::Message| {
                    gossipsub::MessageId::from(Sha256::digest(&m.data).to_vec())
                })
                .build()
                .map_err(|e| anyhow::anyhow!("gossipsub config: {e}"))?;
            let gossipsub =
                gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_config)
                    .map_err(|e| anyhow::anyhow!("gossipsub: {e}"))?;
            let identify =
                identify::Behaviour::new(identify::Config::new("/generals/1".into(), key.public()));
            let sync = request_response::Behaviour::with_codec(
                SyncCodec::default(),
                [(
                    StreamProtocol::new(SYNC_PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
            );
            let direct = request_response::Behaviour::with_codec(
                DirectCodec::default(),
                [(
                    StreamProtocol::new(DIRECT_PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(10))
                    .with_max_concurrent_streams(MAX_DIRECT_STREAMS),
            );
            let ping = ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(PING_EVERY)
                    .with_timeout(PING_TIMEOUT),
            );
            Ok(Behaviour {
                blocked: allow_block_list::Behaviour::default(),
                limits: connection_limits::Behaviour::new(
                    ConnectionLimits::default()
                        .with_max_established_incoming(Some(MAX_INCOMING))
                        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
                        .with_max_established_per_peer(Some(MAX_PER_PEER)),
                ),
                gossipsub,
                identify,
                ping,
                sync,
                direct,
            })
        })
        .map_err(|e| anyhow::anyhow!("building the network behaviour: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    for t in topics.all() {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&gossipsub::IdentTopic::new(t))
            .context("subscribing to a gossip topic")?;
    }
    Ok(swarm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use libp2p::identity::Keypair;
    use libp2p::swarm::SwarmEvent;

    /// A node that has blocked a peer refuses its connection and no
    /// behaviour keeps it: the sync and direct protocols do not count the
    /// peer as connected. (Declared before the refusing behaviours, they
    /// did; their requests to the peer then went nowhere, and a debug build
    /// panicked when the peer's next real connection closed, as two nodes
    /// healed from a partition did.)
    #[tokio::test]
    async fn a_refused_connection_is_kept_by_no_behaviour() {
        let topics = Topics::for_chain("generals-test");
        let mut a = build_swarm(Keypair::generate_ed25519(), &topics).expect("swarm a");
        let mut b = build_swarm(Keypair::generate_ed25519(), &topics).expect("swarm b");
        let a_id = *a.local_peer_id();
        b.behaviour_mut().blocked.block_peer(a_id);
        b.listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("address"))
            .expect("listen");
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = b.select_next_some().await {
                break address;
            }
        };
        a.dial(addr).expect("dial");
        let deadline = tokio::time::sleep(Duration::from_secs(10));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                ev = b.select_next_some() => {
                    if matches!(ev, SwarmEvent::IncomingConnectionError { .. }) {
                        break;
                    }
                }
                _ = a.select_next_some() => {}
                _ = &mut deadline => panic!("the blocked peer's connection was never refused"),
            }
        }
        assert!(!b.behaviour().sync.is_connected(&a_id));
        assert!(!b.behaviour().direct.is_connected(&a_id));
    }
}
