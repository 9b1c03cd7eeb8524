//! The API's OpenAPI 3.1 document, derived from the handlers' descriptions and
//! the JSON types (utoipa) and served at `GET /openapi.json`. Calls that change
//! the node declare the `token` security scheme (`Authorization: Bearer`).

use super::handlers::*;
use super::server::AppState;
use super::types::*;
use super::ui::*;
use axum::Json;
use std::sync::LazyLock;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "generals node API",
        description = "One node of a generals chain: its chain and fork tree, transactions, \
            peers, engine state, and the calls that change it (these need the token in the \
            node home's admin_token as `Authorization: Bearer <token>`). POST bodies are JSON."
    ),
    components(schemas(NodeEvent, BlockRef)),
    modifiers(&Token),
    tags(
        (name = "chain", description = "Blocks, heads, the fork tree and live events"),
        (name = "transactions", description = "Submitting and following transactions"),
        (name = "network", description = "Peers and metrics"),
        (name = "engines", description = "Validators, authorities, delegates, evidence"),
        (name = "control", description = "Calls that change the node (token)"),
        (name = "pages", description = "The fork-tree page")
    )
)]
pub struct ApiDoc;

/// Declares the token scheme the `security(("token" = []))` paths name.
struct Token;

impl Modify for Token {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// A block named in a path: its height (decimal) or its hash (64 hex digits).
#[derive(Debug)]
pub struct BlockRef;

impl PartialSchema for BlockRef {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("a height (decimal) or a block hash (64 hex digits)"))
            .pattern(Some("^([0-9]{1,19}|[0-9a-fA-F]{64})$"))
            .into()
    }
}
impl ToSchema for BlockRef {}

/// The API's routes with their descriptions: the router and the document are
/// built from this one list, so no route goes undescribed.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(status))
        .routes(routes!(block))
        .routes(routes!(tips))
        .routes(routes!(tree))
        .routes(routes!(page))
        .routes(routes!(asset))
        .routes(routes!(account))
        .routes(routes!(submit))
        .routes(routes!(submit_many))
        .routes(routes!(tx_status))
        .routes(routes!(mempool))
        .routes(routes!(peers))
        .routes(routes!(authorities))
        .routes(routes!(delegates))
        .routes(routes!(validators))
        .routes(routes!(evidence))
        .routes(routes!(invalidate))
        .routes(routes!(reconsider))
        .routes(routes!(metrics))
        .routes(routes!(events))
        .routes(routes!(mine))
        .routes(routes!(forge))
        .routes(routes!(miner_start))
        .routes(routes!(miner_stop))
        .routes(routes!(admin_block))
        .routes(routes!(admin_unblock))
        .routes(routes!(admin_link))
        .routes(routes!(propose))
        .routes(routes!(discard))
        .routes(routes!(document))
}

/// The document, built once.
pub fn doc() -> &'static utoipa::openapi::OpenApi {
    static DOC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| routes().split_for_parts().1);
    &DOC
}

#[utoipa::path(get, path = "/openapi.json", tag = "pages",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json")))]
pub async fn document() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(doc())
}

#[cfg(test)]
mod tests {
    use super::super::guard::CHANGES;
    use super::super::server::{router, AppState};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use prometheus_client::registry::Registry;
    use std::sync::Arc;
    use tokio::sync::{broadcast, mpsc};
    use tower::ServiceExt;
    use utoipa::openapi::path::HttpMethod;

    /// Every operation of the document, as (method, path).
    fn operations() -> Vec<(&'static str, String)> {
        let mut ops = Vec::new();
        for (path, item) in &super::doc().paths.paths {
            if item.get.is_some() {
                ops.push(("GET", path.clone()));
            }
            if item.post.is_some() {
                ops.push(("POST", path.clone()));
            }
            for other in [HttpMethod::Put, HttpMethod::Delete, HttpMethod::Patch] {
                assert!(
                    match other {
                        HttpMethod::Put => item.put.is_none(),
                        HttpMethod::Delete => item.delete.is_none(),
                        _ => item.patch.is_none(),
                    },
                    "{path} has a method the test does not try"
                );
            }
        }
        ops
    }

    /// What the router answers to a method and path, with the node's token.
    async fn answer(method: &str, path: &str) -> (StatusCode, String) {
        answer_as(method, path, Some("Bearer t")).await
    }

    async fn answer_as(method: &str, path: &str, auth: Option<&str>) -> (StatusCode, String) {
        let (cmd, _) = mpsc::channel(1);
        let (events, _) = broadcast::channel(1);
        let addr = "127.0.0.1:9".parse().expect("addr");
        let state = AppState::new(cmd, events, Arc::new(Registry::default()), "t".into(), addr);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1:9");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let request = request.body(Body::empty()).expect("request");
        let res = router(state).oneshot(request).await.expect("answer");
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Fills a path's parameters with values of the right shape.
    fn concrete(path: &str) -> String {
        path.replace("{id}", "0")
            .replace("{key}", &"00".repeat(32))
            .replace("{hash}", &"00".repeat(32))
            .replace("{file}", "tree.js")
    }

    fn fell_through((status, body): &(StatusCode, String)) -> bool {
        *status == StatusCode::NOT_FOUND && body.contains("no such endpoint")
            || *status == StatusCode::METHOD_NOT_ALLOWED
    }

    #[tokio::test]
    async fn the_document_lists_every_route_and_only_routes() {
        let ops = operations();
        assert!(ops.len() >= 26, "only {} operations", ops.len());
        for (method, path) in &ops {
            let got = answer(method, &concrete(path)).await;
            assert!(
                !fell_through(&got),
                "{method} {path} is documented but not routed: {got:?}"
            );
        }
        // The check can fail: a path or method the document lacks falls through.
        assert!(fell_through(&answer("GET", "/no/such/route").await));
        assert!(fell_through(&answer("POST", "/status").await));
    }

    #[tokio::test]
    async fn the_token_scheme_is_declared_exactly_where_the_guard_asks_for_it() {
        let doc = super::doc();
        for (method, path) in operations() {
            let item = &doc.paths.paths[&path];
            let op = if method == "GET" {
                &item.get
            } else {
                &item.post
            };
            let declared = op.as_ref().and_then(|o| o.security.as_ref()).is_some();
            assert_eq!(
                declared,
                CHANGES.contains(&path.as_str()),
                "{method} {path}: token declared {declared}, guard disagrees"
            );
        }
        for path in CHANGES {
            let (status, _) = answer_as("POST", path, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} without a token");
        }
    }
}
