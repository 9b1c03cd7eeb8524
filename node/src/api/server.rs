//! The HTTP API (axum), JSON on 127.0.0.1 by default. Handlers ask the driver
//! through a channel and wait for its answer. Calls that change the node need
//! the home folder's token as `Authorization: Bearer <token>`; `guard` holds
//! that and the rest of the boundary. Every error is JSON.

use super::guard::{self, MAX_BODY_BYTES, MAX_EVENT_STREAMS};
use super::types::*;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use generals_chain::{Hash, PublicKey, Transaction};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};

/// A block asked for by height or by hash.
#[derive(Clone, Debug)]
pub enum BlockId {
    Height(u64),
    Hash(Hash),
}

/// What the API asks of the driver.
#[derive(Debug)]
pub enum ApiCmd {
    Status(oneshot::Sender<Status>),
    Block(BlockId, oneshot::Sender<Option<BlockView>>),
    Tips(oneshot::Sender<Vec<TipView>>),
    /// The fork tree from a height up.
    Tree(u64, oneshot::Sender<TreeView>),
    Account(PublicKey, oneshot::Sender<AccountView>),
    Submit(Transaction, oneshot::Sender<Result<Hash, Refusal>>),
    /// A batch (`POST /txs`): each transaction's answer, in order.
    SubmitMany(
        Vec<Transaction>,
        oneshot::Sender<Vec<Result<Hash, Refusal>>>,
    ),
    Tx(Hash, oneshot::Sender<Option<TxStatus>>),
    Mempool(oneshot::Sender<Vec<TxView>>),
    Peers(oneshot::Sender<Vec<PeerView>>),
    Mine {
        blocks: u64,
        /// Past the node's hash-rate limit.
        full_speed: bool,
        reply: oneshot::Sender<Result<Vec<Hash>, Refusal>>,
    },
    Miner(bool, oneshot::Sender<bool>),
    /// Blocks on request on an on-demand chain (`generals forge`).
    Forge {
        blocks: u64,
        parent: Option<Hash>,
        reply: oneshot::Sender<Result<Forged, Refusal>>,
    },
    Authorities(oneshot::Sender<Result<Authorities, Refusal>>),
    Delegates(oneshot::Sender<Result<Delegates, Refusal>>),
    Validators(oneshot::Sender<Validators>),
    Evidence(oneshot::Sender<EvidenceList>),
    Propose(Proposal, oneshot::Sender<Result<(), Refusal>>),
    Discard(PublicKey, oneshot::Sender<Result<(), Refusal>>),
    BlockPeer {
        peer: String,
        block: bool,
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
    Link(LinkRequest, oneshot::Sender<Result<(), Refusal>>),
    /// `invalidate` (true) or `reconsider` (false) a block.
    Manual {
        hash: Hash,
        invalidate: bool,
        reply: oneshot::Sender<Result<ManualView, Refusal>>,
    },
}

#[derive(Clone)]
pub struct AppState {
    pub cmd: mpsc::Sender<ApiCmd>,
    pub events: broadcast::Sender<NodeEvent>,
    pub registry: Arc<Registry>,
    pub token: String,
    /// Where the API listens (the only Host and Origin it answers).
    pub addr: SocketAddr,
    /// Event streams that may still open.
    pub streams: Arc<Semaphore>,
}

impl AppState {
    pub fn new(
        cmd: mpsc::Sender<ApiCmd>,
        events: broadcast::Sender<NodeEvent>,
        registry: Arc<Registry>,
        token: String,
        addr: SocketAddr,
    ) -> AppState {
        AppState {
            cmd,
            events,
            registry,
            token,
            addr,
            streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
        }
    }
}

/// An error answer.
pub struct ApiError(StatusCode, String);

impl ApiError {
    pub fn new(status: StatusCode, msg: impl Into<String>) -> ApiError {
        ApiError(status, msg.into())
    }
}

/// Why the driver refused an API call that changes the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Transaction(#[from] generals_chain::mempool::MempoolError),
    #[error("this chain has no authorities (it is not proof of authority)")]
    NotProofOfAuthority,
    #[error("the authority set at the tip could not be worked out")]
    NoAuthoritySet,
    #[error("this chain has no delegates (it is not delegated proof of stake)")]
    NotDelegated,
    #[error("no proposal about {0} to discard")]
    NoProposal(PublicKey),
    #[error("already mining blocks on request")]
    AlreadyMining,
    #[error("the miner was stopped or started by another call")]
    Interrupted,
    #[error("{peer:?} is not a peer id: {reason}")]
    NotAPeer { peer: String, reason: String },
    #[error("no block {0} is known to this node")]
    UnknownBlock(Hash),
    /// `invalidate` or `reconsider` refused, with the reason.
    #[error("{0}")]
    Manual(String),
    /// `forge` refused or cut short, with the reason.
    #[error("{0}")]
    Forge(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

pub(super) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

pub(super) fn not_found(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, msg.into())
}

pub(super) async fn ask<T>(
    state: &AppState,
    make: impl FnOnce(oneshot::Sender<T>) -> ApiCmd,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    state.cmd.send(make(tx)).await.map_err(|_| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is shutting down".into(),
        )
    })?;
    rx.await.map_err(|_| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is shutting down".into(),
        )
    })
}

pub fn router(state: AppState) -> Router {
    let (routes, _) = super::openapi::routes().split_for_parts();
    routes
        .fallback(|| async { not_found("no such endpoint; see the README for the API") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), guard::token))
        .layer(middleware::from_fn(guard::deadline))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::boundary,
        ))
        .layer(middleware::from_fn(guard::json_errors))
        .with_state(state)
}
