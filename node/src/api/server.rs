//! The HTTP API (axum), JSON on 127.0.0.1 by default. Handlers ask the driver
//! through a channel and wait for its answer. Calls that change the node need
//! the home folder's token as `Authorization: Bearer <token>`; `guard` holds
//! that and the rest of the boundary. Every error is JSON.

use super::guard::{self, MAX_BODY_BYTES, MAX_EVENT_STREAMS};
use super::types::*;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
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
    Router::new()
        .route("/status", get(status))
        .route("/block/{id}", get(block))
        .route("/tips", get(tips))
        .route("/tree", get(super::ui::tree))
        .route("/ui", get(super::ui::page))
        .route("/ui/{file}", get(super::ui::asset))
        .route("/account/{key}", get(account))
        .route("/tx", post(submit))
        .route("/tx/{hash}", get(tx_status))
        .route("/mempool", get(mempool))
        .route("/peers", get(peers))
        .route("/authorities", get(authorities))
        .route("/delegates", get(delegates))
        .route("/validators", get(validators))
        .route("/evidence", get(evidence))
        .route("/metrics", get(metrics))
        .route("/events", get(events))
        .route("/mine", post(mine))
        .route("/miner/start", post(miner_start))
        .route("/miner/stop", post(miner_stop))
        .route("/admin/block", post(admin_block))
        .route("/admin/unblock", post(admin_unblock))
        .route("/admin/link", post(admin_link))
        .route("/authorities/propose", post(propose))
        .route("/authorities/discard", post(discard))
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

async fn status(State(s): State<AppState>) -> Result<Json<Status>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Status).await?))
}

async fn block(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BlockView>, ApiError> {
    let which = if let Ok(h) = id.parse::<u64>() {
        BlockId::Height(h)
    } else {
        BlockId::Hash(id.parse().map_err(|_| {
            bad(format!(
                "{id:?} is neither a height nor a 64-hex-digit block hash"
            ))
        })?)
    };
    ask(&s, |r| ApiCmd::Block(which, r))
        .await?
        .map(Json)
        .ok_or_else(|| not_found(format!("no block {id}")))
}

async fn tips(State(s): State<AppState>) -> Result<Json<Vec<TipView>>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Tips).await?))
}

async fn account(
    State(s): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let key: PublicKey = key
        .parse()
        .map_err(|_| bad(format!("{key:?} is not an account (64 hex digits)")))?;
    Ok(Json(ask(&s, |r| ApiCmd::Account(key, r)).await?))
}

async fn submit(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Submitted>, ApiError> {
    let req: SubmitTx = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("expected {{\"tx\": ...}} or {{\"hex\": ...}}: {e}")))?;
    let tx = match req {
        SubmitTx::Json { tx } => tx,
        SubmitTx::Hex { hex } => {
            let bytes = hex::decode(hex.trim()).map_err(|e| bad(format!("hex: {e}")))?;
            Transaction::decode(&bytes).map_err(|e| bad(e.to_string()))?
        }
    };
    let hash = ask(&s, |r| ApiCmd::Submit(tx, r))
        .await?
        .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    Ok(Json(Submitted { hash }))
}

async fn tx_status(
    State(s): State<AppState>,
    Path(hash): Path<String>,
) -> Result<Json<TxStatus>, ApiError> {
    let h: Hash = hash.parse().map_err(|_| {
        bad(format!(
            "{hash:?} is not a transaction hash (64 hex digits)"
        ))
    })?;
    ask(&s, |r| ApiCmd::Tx(h, r))
        .await?
        .map(Json)
        .ok_or_else(|| {
            not_found(format!(
                "no transaction {hash} in the mempool or the last 1000 blocks"
            ))
        })
}

async fn mempool(State(s): State<AppState>) -> Result<Json<Vec<TxView>>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Mempool).await?))
}

async fn peers(State(s): State<AppState>) -> Result<Json<Vec<PeerView>>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Peers).await?))
}

async fn mine(State(s): State<AppState>, body: axum::body::Bytes) -> Result<Json<Mined>, ApiError> {
    let req: MineRequest = if body.is_empty() {
        MineRequest {
            blocks: 1,
            full_speed: false,
        }
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| bad(format!("expected {{\"blocks\": N}}: {e}")))?
    };
    if req.blocks == 0 || req.blocks > 1_000 {
        return Err(bad("blocks must be 1 to 1000"));
    }
    let blocks = ask(&s, |reply| ApiCmd::Mine {
        blocks: req.blocks,
        full_speed: req.full_speed,
        reply,
    })
    .await?
    .map_err(|e| ApiError(StatusCode::CONFLICT, e.to_string()))?;
    Ok(Json(Mined { blocks }))
}

async fn miner_start(State(s): State<AppState>) -> Result<Json<MinerState>, ApiError> {
    let mining = ask(&s, |r| ApiCmd::Miner(true, r)).await?;
    Ok(Json(MinerState { mining }))
}

async fn miner_stop(State(s): State<AppState>) -> Result<Json<MinerState>, ApiError> {
    let mining = ask(&s, |r| ApiCmd::Miner(false, r)).await?;
    Ok(Json(MinerState { mining }))
}

async fn admin_peer(
    s: AppState,
    body: axum::body::Bytes,
    block: bool,
) -> Result<Json<PeerRequest>, ApiError> {
    let req: PeerRequest = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("expected {{\"peer_id\": ...}}: {e}")))?;
    let peer = req.peer_id.clone();
    ask(&s, |reply| ApiCmd::BlockPeer { peer, block, reply })
        .await?
        .map_err(|e| bad(e.to_string()))?;
    Ok(Json(req))
}

async fn admin_block(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<PeerRequest>, ApiError> {
    admin_peer(s, body, true).await
}

async fn admin_unblock(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<PeerRequest>, ApiError> {
    admin_peer(s, body, false).await
}

async fn admin_link(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<LinkRequest>, ApiError> {
    let req: LinkRequest = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "expected {{\"peer_id\": ..., \"latency_ms\": ..., \"jitter_ms\": ..., \"loss\": ...}}: {e}"
        ))
    })?;
    if !(0.0..=1.0).contains(&req.loss) || req.latency_ms > 60_000 || req.jitter_ms > 60_000 {
        return Err(bad(
            "loss is 0 to 1, latency_ms and jitter_ms at most 60000",
        ));
    }
    let r = req.clone();
    ask(&s, |reply| ApiCmd::Link(r, reply))
        .await?
        .map_err(|e| bad(e.to_string()))?;
    Ok(Json(req))
}

async fn authorities(State(s): State<AppState>) -> Result<Json<Authorities>, ApiError> {
    ask(&s, ApiCmd::Authorities)
        .await?
        .map(Json)
        .map_err(|e| ApiError(StatusCode::CONFLICT, e.to_string()))
}

async fn delegates(State(s): State<AppState>) -> Result<Json<Delegates>, ApiError> {
    ask(&s, ApiCmd::Delegates)
        .await?
        .map(Json)
        .map_err(|e| ApiError(StatusCode::CONFLICT, e.to_string()))
}

async fn validators(State(s): State<AppState>) -> Result<Json<Validators>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Validators).await?))
}

async fn evidence(State(s): State<AppState>) -> Result<Json<EvidenceList>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Evidence).await?))
}

async fn propose(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Proposal>, ApiError> {
    let p: Proposal = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "expected {{\"candidate\": KEY, \"add\": true|false}}: {e}"
        ))
    })?;
    let echo = p.clone();
    ask(&s, |r| ApiCmd::Propose(p, r))
        .await?
        .map_err(|e| ApiError(StatusCode::CONFLICT, e.to_string()))?;
    Ok(Json(echo))
}

async fn discard(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Discard>, ApiError> {
    let d: Discard = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("expected {{\"candidate\": KEY}}: {e}")))?;
    let c = d.candidate;
    ask(&s, |r| ApiCmd::Discard(c, r))
        .await?
        .map_err(|e| ApiError(StatusCode::CONFLICT, e.to_string()))?;
    Ok(Json(d))
}

async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &s.registry)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

async fn events(
    State(s): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    use tokio_stream::StreamExt;
    let permit = s.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_EVENT_STREAMS} event streams are open already; close one and retry"),
        )
    })?;
    let stream =
        tokio_stream::wrappers::BroadcastStream::new(s.events.subscribe()).filter_map(move |e| {
            // The stream holds its place until the client goes.
            let _held = &permit;
            let e = e.ok()?;
            let name = serde_json::to_value(&e)
                .ok()
                .and_then(|v| v["event"].as_str().map(String::from))
                .unwrap_or_else(|| "event".into());
            let data = serde_json::to_string(&e).ok()?;
            Some(Ok(Event::default().event(name).data(data)))
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
