//! The API's handlers, each with its OpenAPI description (`#[utoipa::path]`),
//! which `openapi` gathers into the document served at `/openapi.json`.

use super::guard::MAX_EVENT_STREAMS;
use super::openapi::BlockRef;
use super::server::{ask, bad, not_found, ApiCmd, ApiError, AppState, BlockId};
use super::types::*;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::Stream;
use generals_chain::{Hash, PublicKey, Transaction};

#[utoipa::path(get, path = "/status", tag = "chain",
    responses((status = 200, description = "The node's chain, peers, miner and engine", body = Status)))]
pub(super) async fn status(State(s): State<AppState>) -> Result<Json<Status>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Status).await?))
}

#[utoipa::path(get, path = "/block/{id}", tag = "chain",
    params(("id" = BlockRef, Path, description = "A height, or a block hash (64 hex digits)")),
    responses((status = 200, body = BlockView),
        (status = 400, description = "Neither a height nor a hash", body = ErrorBody),
        (status = 404, description = "No such block", body = ErrorBody)))]
pub(super) async fn block(
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

#[utoipa::path(get, path = "/tips", tag = "chain",
    responses((status = 200, description = "The heads of the fork tree", body = Vec<TipView>)))]
pub(super) async fn tips(State(s): State<AppState>) -> Result<Json<Vec<TipView>>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Tips).await?))
}

#[utoipa::path(get, path = "/account/{key}", tag = "chain",
    params(("key" = PublicKey, Path, description = "An account's public key (64 hex digits)")),
    responses((status = 200, body = AccountView),
        (status = 400, description = "Not a key", body = ErrorBody)))]
pub(super) async fn account(
    State(s): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let key: PublicKey = key
        .parse()
        .map_err(|_| bad(format!("{key:?} is not an account (64 hex digits)")))?;
    Ok(Json(ask(&s, |r| ApiCmd::Account(key, r)).await?))
}

#[utoipa::path(post, path = "/tx", tag = "transactions",
    request_body = SubmitTx,
    responses((status = 200, description = "Accepted into the mempool", body = Submitted),
        (status = 400, description = "Not a transaction", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody),
        (status = 422, description = "Refused by the mempool", body = ErrorBody)))]
pub(super) async fn submit(
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
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    Ok(Json(Submitted { hash }))
}

#[utoipa::path(post, path = "/txs", tag = "transactions",
    request_body(content(
        (SubmitTxs = "application/json"),
        (Vec<u8> = "application/octet-stream")
    ), description = "Up to 10,000 signed transactions: JSON, or the codec's bytes of the list"),
    responses((status = 200, description = "Each transaction's answer, in order", body = SubmittedMany),
        (status = 400, description = "Not a list of transactions, or over 10,000", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body sent as neither JSON nor octet-stream", body = ErrorBody)))]
pub(super) async fn submit_many(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<SubmittedMany>, ApiError> {
    let binary = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/octet-stream"));
    let txs: Vec<Transaction> = if binary {
        generals_chain::codec::decode::<Vec<Transaction>, { super::guard::MAX_BODY_BYTES }>(
            "transactions",
            &body,
        )
        .map_err(|e| bad(e.to_string()))?
    } else {
        let req: SubmitTxs = serde_json::from_slice(&body).map_err(|e| {
            bad(format!(
                "expected {{\"txs\": [...]}} or {{\"hex\": [...]}}: {e}"
            ))
        })?;
        match req {
            SubmitTxs::Json { txs } => txs,
            SubmitTxs::Hex { hex } => hex
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let bytes = hex::decode(h.trim()).map_err(|e| bad(format!("hex[{i}]: {e}")))?;
                    Transaction::decode(&bytes).map_err(|e| bad(format!("hex[{i}]: {e}")))
                })
                .collect::<Result<_, _>>()?,
        }
    };
    if txs.len() > MAX_BATCH {
        return Err(bad(format!(
            "{} transactions: a batch takes at most {MAX_BATCH}",
            txs.len()
        )));
    }
    let answers = ask(&s, |r| ApiCmd::SubmitMany(txs, r)).await?;
    let results: Vec<BatchItem> = answers
        .into_iter()
        .map(|a| match a {
            Ok(hash) => BatchItem {
                hash: Some(hash),
                error: None,
            },
            Err(e) => BatchItem {
                hash: None,
                error: Some(e.to_string()),
            },
        })
        .collect();
    Ok(Json(SubmittedMany {
        accepted: results.iter().filter(|r| r.hash.is_some()).count(),
        results,
    }))
}

#[utoipa::path(get, path = "/tx/{hash}", tag = "transactions",
    params(("hash" = Hash, Path, description = "A transaction hash (64 hex digits)")),
    responses((status = 200, body = TxStatus),
        (status = 400, description = "Not a hash", body = ErrorBody),
        (status = 404, description = "Not in the mempool or the last 1000 blocks", body = ErrorBody)))]
pub(super) async fn tx_status(
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

#[utoipa::path(get, path = "/mempool", tag = "transactions",
    responses((status = 200, body = Vec<TxView>)))]
pub(super) async fn mempool(State(s): State<AppState>) -> Result<Json<Vec<TxView>>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Mempool).await?))
}

#[utoipa::path(get, path = "/peers", tag = "network",
    responses((status = 200, body = Vec<PeerView>)))]
pub(super) async fn peers(State(s): State<AppState>) -> Result<Json<Vec<PeerView>>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Peers).await?))
}

#[utoipa::path(post, path = "/mine", tag = "control",
    request_body(content = Option<MineRequest>, description = "Absent: one block"),
    security(("token" = [])),
    responses((status = 200, description = "The hashes of the blocks mined", body = Mined),
        (status = 400, description = "blocks is not 1 to 1000", body = ErrorBody),
        (status = 401, description = "No token or the wrong one", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody),
        (status = 409, description = "Not a proof-of-work chain, or already mining", body = ErrorBody)))]
pub(super) async fn mine(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Mined>, ApiError> {
    let req = blocks_request(
        &body,
        MineRequest {
            blocks: 1,
            full_speed: false,
        },
        "{\"blocks\": N}",
        |r| r.blocks,
    )?;
    let blocks = ask(&s, |reply| ApiCmd::Mine {
        blocks: req.blocks,
        full_speed: req.full_speed,
        reply,
    })
    .await?
    .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))?;
    Ok(Json(Mined { blocks }))
}

/// A request for blocks (`/mine`, `/forge`): no body (or JSON null) asks for
/// `default`; 1 to 1000 blocks.
fn blocks_request<T: serde::de::DeserializeOwned>(
    body: &[u8],
    default: T,
    expected: &str,
    blocks: impl Fn(&T) -> u64,
) -> Result<T, ApiError> {
    let req: Option<T> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(body).map_err(|e| bad(format!("expected {expected}: {e}")))?
    };
    let req = req.unwrap_or(default);
    if !(1..=1_000).contains(&blocks(&req)) {
        return Err(bad("blocks must be 1 to 1000"));
    }
    Ok(req)
}

#[utoipa::path(post, path = "/forge", tag = "control",
    request_body(content = Option<ForgeRequest>, description = "Absent: one block on the tip"),
    security(("token" = [])),
    responses((status = 200, description = "The blocks forged, and the tip after", body = Forged),
        (status = 400, description = "blocks is not 1 to 1000, or not a block hash", body = ErrorBody),
        (status = 401, description = "No token or the wrong one", body = ErrorBody),
        (status = 404, description = "No such parent block here", body = ErrorBody),
        (status = 409, description = "Not an on-demand chain, already forging, no turn for this validator, or a fork the engine does not allow", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody)))]
pub(super) async fn forge(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Forged>, ApiError> {
    let req = blocks_request(
        &body,
        ForgeRequest {
            blocks: 1,
            parent: None,
        },
        "{\"blocks\": N, \"parent\": \"<64 hex digits>\"}",
        |r| r.blocks,
    )?;
    ask(&s, |reply| ApiCmd::Forge {
        blocks: req.blocks,
        parent: req.parent,
        reply,
    })
    .await?
    .map_err(|e| match e {
        super::Refusal::UnknownBlock(_) => not_found(e.to_string()),
        e => ApiError::new(StatusCode::CONFLICT, e.to_string()),
    })
    .map(Json)
}

async fn manual(
    s: AppState,
    body: axum::body::Bytes,
    invalidate: bool,
) -> Result<Json<ManualView>, ApiError> {
    let req: BlockRequest = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("expected {{\"hash\": \"<64 hex digits>\"}}: {e}")))?;
    let hash = req.hash;
    ask(&s, |reply| ApiCmd::Manual {
        hash,
        invalidate,
        reply,
    })
    .await?
    .map_err(|e| match e {
        super::Refusal::UnknownBlock(_) => not_found(e.to_string()),
        e => ApiError::new(StatusCode::CONFLICT, e.to_string()),
    })
    .map(Json)
}

#[utoipa::path(post, path = "/invalidate", tag = "control",
    request_body = BlockRequest, security(("token" = [])),
    responses((status = 200, description = "The block and its descendants are invalid on this node; the tip after", body = ManualView),
        (status = 400, description = "Not a block hash", body = ErrorBody),
        (status = 401, description = "No token or the wrong one", body = ErrorBody),
        (status = 404, description = "No such block here", body = ErrorBody),
        (status = 409, description = "The genesis block, or a finalized block", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody)))]
pub(super) async fn invalidate(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<ManualView>, ApiError> {
    manual(s, body, true).await
}

#[utoipa::path(post, path = "/reconsider", tag = "control",
    request_body = BlockRequest, security(("token" = [])),
    responses((status = 200, description = "The marks by hand on the block's branch are gone; the tip after", body = ManualView),
        (status = 400, description = "Not a block hash", body = ErrorBody),
        (status = 401, description = "No token or the wrong one", body = ErrorBody),
        (status = 404, description = "No such block here", body = ErrorBody),
        (status = 409, description = "Not invalidated by hand, or off the finalized chain", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody)))]
pub(super) async fn reconsider(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<ManualView>, ApiError> {
    manual(s, body, false).await
}

#[utoipa::path(post, path = "/miner/start", tag = "control",
    security(("token" = [])),
    responses((status = 200, body = MinerState),
        (status = 401, description = "No token or the wrong one", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody)))]
pub(super) async fn miner_start(State(s): State<AppState>) -> Result<Json<MinerState>, ApiError> {
    let mining = ask(&s, |r| ApiCmd::Miner(true, r)).await?;
    Ok(Json(MinerState { mining }))
}

#[utoipa::path(post, path = "/miner/stop", tag = "control",
    security(("token" = [])),
    responses((status = 200, body = MinerState),
        (status = 401, description = "No token or the wrong one", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody)))]
pub(super) async fn miner_stop(State(s): State<AppState>) -> Result<Json<MinerState>, ApiError> {
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

#[utoipa::path(post, path = "/admin/block", tag = "control",
    request_body = PeerRequest, security(("token" = [])),
    responses((status = 200, description = "The peer is cut off", body = PeerRequest),
        (status = 400, description = "Not a peer id", body = ErrorBody),
        (status = 401, description = "No token or the wrong one", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody)))]
pub(super) async fn admin_block(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<PeerRequest>, ApiError> {
    admin_peer(s, body, true).await
}

#[utoipa::path(post, path = "/admin/unblock", tag = "control",
    request_body = PeerRequest, security(("token" = [])),
    responses((status = 200, description = "The peer may connect again", body = PeerRequest),
        (status = 400, description = "Not a peer id", body = ErrorBody),
        (status = 401, description = "No token or the wrong one", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody)))]
pub(super) async fn admin_unblock(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<PeerRequest>, ApiError> {
    admin_peer(s, body, false).await
}

#[utoipa::path(post, path = "/admin/link", tag = "control",
    request_body = LinkRequest, security(("token" = [])),
    responses((status = 200, description = "The link from that peer is shaped", body = LinkRequest),
        (status = 400, description = "Not a peer id, or out of range", body = ErrorBody),
        (status = 401, description = "No token or the wrong one", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody)))]
pub(super) async fn admin_link(
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

#[utoipa::path(get, path = "/authorities", tag = "engines",
    responses((status = 200, description = "Proof of authority: the signers and votes", body = Authorities),
        (status = 409, description = "Not a proof-of-authority chain", body = ErrorBody)))]
pub(super) async fn authorities(State(s): State<AppState>) -> Result<Json<Authorities>, ApiError> {
    ask(&s, ApiCmd::Authorities)
        .await?
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))
}

#[utoipa::path(get, path = "/delegates", tag = "engines",
    responses((status = 200, description = "Delegated proof of stake: the election", body = Delegates),
        (status = 409, description = "Not a delegated chain", body = ErrorBody)))]
pub(super) async fn delegates(State(s): State<AppState>) -> Result<Json<Delegates>, ApiError> {
    ask(&s, ApiCmd::Delegates)
        .await?
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))
}

#[utoipa::path(get, path = "/validators", tag = "engines",
    responses((status = 200, body = Validators)))]
pub(super) async fn validators(State(s): State<AppState>) -> Result<Json<Validators>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Validators).await?))
}

#[utoipa::path(get, path = "/evidence", tag = "engines",
    responses((status = 200, body = EvidenceList)))]
pub(super) async fn evidence(State(s): State<AppState>) -> Result<Json<EvidenceList>, ApiError> {
    Ok(Json(ask(&s, ApiCmd::Evidence).await?))
}

#[utoipa::path(post, path = "/authorities/propose", tag = "control",
    request_body = Proposal, security(("token" = [])),
    responses((status = 200, body = Proposal),
        (status = 400, description = "Not a proposal", body = ErrorBody),
        (status = 401, description = "No token or the wrong one", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody),
        (status = 409, description = "Not a proof-of-authority chain", body = ErrorBody)))]
pub(super) async fn propose(
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
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))?;
    Ok(Json(echo))
}

#[utoipa::path(post, path = "/authorities/discard", tag = "control",
    request_body = Discard, security(("token" = [])),
    responses((status = 200, body = Discard),
        (status = 400, description = "Not a key", body = ErrorBody),
        (status = 401, description = "No token or the wrong one", body = ErrorBody),
        (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
        (status = 415, description = "A body not sent as JSON", body = ErrorBody),
        (status = 409, description = "No such proposal", body = ErrorBody)))]
pub(super) async fn discard(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Discard>, ApiError> {
    let d: Discard = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("expected {{\"candidate\": KEY}}: {e}")))?;
    let c = d.candidate;
    ask(&s, |r| ApiCmd::Discard(c, r))
        .await?
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))?;
    Ok(Json(d))
}

#[utoipa::path(get, path = "/metrics", tag = "network",
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text)",
        content_type = "application/openmetrics-text", body = String)))]
pub(super) async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &s.registry)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

#[utoipa::path(get, path = "/events", tag = "chain",
    responses((status = 200, description = "Server-sent events, one NodeEvent each (JSON in `data`)",
        content_type = "text/event-stream", body = NodeEvent),
        (status = 503, description = "Too many event streams open", body = ErrorBody)))]
pub(super) async fn events(
    State(s): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    use tokio_stream::StreamExt;
    let permit = s.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
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
