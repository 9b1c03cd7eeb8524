//! The API's trust boundary and limits, as middleware around every route:
//!
//! - every request names this node in its `Host` (when the API listens on a
//!   loopback address, so a page served elsewhere cannot rebind a name to it);
//! - every POST body is sent as `Content-Type: application/json` and every POST,
//!   if it has an `Origin`, comes from the node's own (a web page elsewhere
//!   cannot make a call);
//! - calls that change the node (mining, the miner, authority votes, admin)
//!   carry the node's token; reading and submitting a signed transaction do not;
//! - a request that takes longer than `REQUEST_TIMEOUT` (its body included) is
//!   answered 408; an event stream is exempt, but at most `MAX_EVENT_STREAMS`
//!   are open at once;
//! - every error goes out as JSON, axum's own 404, 405 and 413 included.

use super::server::{ApiError, AppState};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// The longest a request may take, body and answer included (not `/events`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Event streams open at once.
pub const MAX_EVENT_STREAMS: usize = 64;
/// The largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 2 << 20;

fn refuse(status: StatusCode, msg: impl Into<String>) -> Response {
    ApiError::new(status, msg).into_response()
}

/// Host, Origin and Content-Type, for every request.
pub async fn boundary(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let addr = s.addr;
    if addr.ip().is_loopback() {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let port = addr.port();
        let ours = [
            addr.to_string(),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ];
        if !ours.iter().any(|o| o == host) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!("Host {host:?} is not this node ({addr})"),
            );
        }
    }
    if req.method() == Method::POST {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let port = addr.port();
            let ours = [
                format!("http://{addr}"),
                format!("http://localhost:{port}"),
                format!("http://127.0.0.1:{port}"),
            ];
            if !ours.iter().any(|o| o == origin) {
                return refuse(
                    StatusCode::FORBIDDEN,
                    format!("calls from the origin {origin:?} are refused"),
                );
            }
        }
        // A body must say it is JSON (a web page's form post cannot); a POST
        // without one, or to a route that takes none, goes on to its answer.
        // `/txs` also takes the codec's bytes as application/octet-stream,
        // which a page elsewhere cannot send without asking first (CORS).
        use axum::body::HttpBody;
        let empty = req.body().size_hint().exact() == Some(0);
        let path = req.uri().path();
        let kind = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let ok = empty
            || !POSTS.contains(&path)
            || kind == "application/json"
            || (path == "/txs" && kind == "application/octet-stream");
        if !ok {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a POST body must be sent as Content-Type: application/json \
                 (or, to /txs, application/octet-stream)",
            );
        }
    }
    next.run(req).await
}

/// The calls that change the node, which need its token.
pub const CHANGES: [&str; 11] = [
    "/mine",
    "/forge",
    "/invalidate",
    "/reconsider",
    "/miner/start",
    "/miner/stop",
    "/admin/block",
    "/admin/unblock",
    "/admin/link",
    "/authorities/propose",
    "/authorities/discard",
];

/// The routes that take a POST: the calls that change the node, `/tx` and
/// `/txs`.
const POSTS: [&str; 13] = [
    "/tx",
    "/txs",
    CHANGES[0],
    CHANGES[1],
    CHANGES[2],
    CHANGES[3],
    CHANGES[4],
    CHANGES[5],
    CHANGES[6],
    CHANGES[7],
    CHANGES[8],
    CHANGES[9],
    CHANGES[10],
];

/// The node's token, for calls that change the node.
pub async fn token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if !CHANGES.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if given.is_empty() || !same(given.as_bytes(), s.token.as_bytes()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "this call changes the node: it needs `Authorization: Bearer <token>` with the \
             token in the node home's admin_token (generals --token, GENERALS_TOKEN or --home)",
        );
    }
    next.run(req).await
}

/// Compares in time that does not depend on where the strings differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A deadline for every request but the event stream and mining or forging
/// on request (bounded by its block count, and ended when its caller goes).
pub async fn deadline(req: Request, next: Next) -> Response {
    if matches!(req.uri().path(), "/events" | "/mine" | "/forge") {
        return next.run(req).await;
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(response) => response,
        Err(_) => refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request took more than {} s", REQUEST_TIMEOUT.as_secs()),
        ),
    }
}

/// Errors that axum answers itself (405, 413, a bad path) become JSON too.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), 4_096).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => String::new(),
    };
    let msg = match (status, text.is_empty()) {
        (StatusCode::METHOD_NOT_ALLOWED, _) => "this endpoint does not take that method".into(),
        (StatusCode::PAYLOAD_TOO_LARGE, _) => {
            format!("the request body is over {MAX_BODY_BYTES} bytes")
        }
        (_, false) => text,
        (_, true) => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_lowercase(),
    };
    let mut out = refuse(status, msg);
    // Keep what a client needs from the original (which methods are allowed).
    out.headers_mut().remove(header::CONTENT_LENGTH);
    out
}
