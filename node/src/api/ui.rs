//! The fork-tree page: plain HTML, JS and CSS kept in `node/ui/` and built
//! into the binary (nothing from a CDN). A node serves it at `/ui` over its
//! own fork tree (`/tree`) and event stream (`/events`); `generals-testnet`
//! serves the same page over the merged tree of all its nodes.

use super::server::{ask, bad, not_found, ApiCmd, ApiError, AppState};
use super::types::TreeView;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The page. `data-source` tells its script where the blocks come from:
/// `node` (this node's `/tree` and `/events`), `testnet` (`/feed`) or
/// `replay` (`/log`).
pub const PAGE: &str = include_str!("../../ui/index.html");
pub const SCRIPT: &str = include_str!("../../ui/tree.js");
pub const STYLE: &str = include_str!("../../ui/style.css");

/// The page with its source set.
pub fn page_for(source: &str) -> String {
    PAGE.replace("data-source=\"node\"", &format!("data-source=\"{source}\""))
}

/// One of the page's files by name (`tree.js`, `style.css`).
pub fn file(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "tree.js" => Some(("text/javascript; charset=utf-8", SCRIPT)),
        "style.css" => Some(("text/css; charset=utf-8", STYLE)),
        _ => None,
    }
}

#[utoipa::path(get, path = "/ui", tag = "pages",
    responses((status = 200, description = "The fork-tree page", content_type = "text/html", body = String)))]
pub async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

#[utoipa::path(get, path = "/ui/{file}", tag = "pages",
    params(("file" = String, Path, description = "tree.js or style.css")),
    responses((status = 200, description = "A file of the page", body = String),
        (status = 404, description = "No such file", body = super::types::ErrorBody)))]
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (kind, body) = file(&name).ok_or_else(|| not_found(format!("no page file {name:?}")))?;
    Ok(([(header::CONTENT_TYPE, kind)], body).into_response())
}

#[derive(serde::Deserialize)]
pub struct TreeQuery {
    from: Option<String>,
}

/// `GET /tree?from=HEIGHT`: the newest blocks of the fork tree.
#[utoipa::path(get, path = "/tree", tag = "chain",
    params(("from" = Option<u64>, Query, description = "The lowest height wanted (default 0)")),
    responses((status = 200, description = "The fork tree's newest blocks", body = TreeView),
        (status = 400, description = "from is not a height", body = super::types::ErrorBody)))]
pub async fn tree(
    State(s): State<AppState>,
    Query(q): Query<TreeQuery>,
) -> Result<Json<TreeView>, ApiError> {
    let from = match q.from {
        None => 0,
        Some(f) => f
            .parse::<u64>()
            .map_err(|_| bad(format!("from={f:?} is not a height")))?,
    };
    Ok(Json(ask(&s, |r| ApiCmd::Tree(from, r)).await?))
}
