//! The API's OpenAPI 3.1 document, derived from the handlers' descriptions and
//! the JSON types (utoipa) and served at `GET /openapi.json`. Calls that change
//! the node declare the `token` security scheme (`Authorization: Bearer`).

use super::handlers::*;
use super::types::*;
use super::ui::*;
use axum::Json;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "generals node API",
        description = "One node of a generals chain: its chain and fork tree, transactions, \
            peers, engine state, and the calls that change it (these need the token in the \
            node home's admin_token as `Authorization: Bearer <token>`). POST bodies are JSON."
    ),
    paths(
        status, block, tips, tree, page, asset, account, submit, tx_status, mempool, peers,
        authorities, delegates, validators, evidence, metrics, events, mine, miner_start,
        miner_stop, admin_block, admin_unblock, admin_link, propose, discard
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

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
