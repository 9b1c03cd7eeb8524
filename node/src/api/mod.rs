//! The node's HTTP API: its JSON types (`types`, all a client needs) and, with
//! the `full` feature, the axum server (`server`).

pub mod types;

#[cfg(feature = "full")]
mod guard;
#[cfg(feature = "full")]
mod handlers;
#[cfg(feature = "full")]
pub mod openapi;
#[cfg(feature = "full")]
pub mod serve;
#[cfg(feature = "full")]
mod server;
#[cfg(feature = "full")]
pub mod ui;
#[cfg(feature = "full")]
pub use guard::MAX_BODY_BYTES;
#[cfg(feature = "full")]
pub use server::*;
