//! The page's HTTP server on 127.0.0.1: the page itself (the node's own, with
//! its source set), its script and style, `/feed` (server-sent events: a
//! `reset`, every line so far, then each new line) and `/log` (every line, for
//! a replay). Only its own Host is answered, as the node's API does.

use super::hub::Hub;
use anyhow::{Context, Result};
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Pages that may follow the feed at once.
pub const MAX_PAGES: usize = 32;

#[derive(Clone)]
struct Served {
    hub: Arc<Hub>,
    source: &'static str,
    addr: SocketAddr,
    pages: Arc<Semaphore>,
}

/// Binds 127.0.0.1:`port` (0: any free port; a taken port falls back to a
/// free one when `fallback`) and serves the page on a thread of its own.
/// `source` is `testnet` (live) or `replay`.
pub fn serve(hub: Arc<Hub>, port: u16, fallback: bool, source: &'static str) -> Result<SocketAddr> {
    let listener = match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(_) if fallback && port != 0 => std::net::TcpListener::bind(("127.0.0.1", 0))
            .context("binding the fork-tree page to a free port")?,
        Err(e) => {
            return Err(e)
                .with_context(|| format!("binding the fork-tree page to 127.0.0.1:{port}"))
        }
    };
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let served = Served {
        hub,
        source,
        addr,
        pages: Arc::new(Semaphore::new(MAX_PAGES)),
    };
    let app = Router::new()
        .route("/", get(page))
        .route("/ui/{file}", get(asset))
        .route("/feed", get(feed))
        .route("/log", get(log))
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such page; the fork tree is at /") })
        .layer(middleware::from_fn_with_state(served.clone(), own_host))
        .with_state(served);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("fork-tree page".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        if let Err(e) = axum::serve(l, app).await {
                            eprintln!("the fork-tree page stopped: {e}");
                        }
                    }
                    Err(e) => eprintln!("the fork-tree page could not listen: {e}"),
                }
            })
        })?;
    Ok(addr)
}

async fn own_host(State(s): State<Served>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let port = s.addr.port();
    if host != format!("127.0.0.1:{port}") && host != format!("localhost:{port}") {
        return (
            StatusCode::FORBIDDEN,
            format!("Host {host:?} is not this page"),
        )
            .into_response();
    }
    next.run(req).await
}

async fn page(State(s): State<Served>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        generals_node::api::ui::page_for(s.source),
    )
        .into_response()
}

async fn asset(Path(name): Path<String>) -> Response {
    match generals_node::api::ui::file(&name) {
        Some((kind, body)) => ([(header::CONTENT_TYPE, kind)], body).into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

async fn log(State(s): State<Served>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        s.hub.text(),
    )
        .into_response()
}

async fn feed(State(s): State<Served>) -> Response {
    use futures::StreamExt;
    let Ok(permit) = s.pages.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_PAGES} pages follow the feed already; close one"),
        )
            .into_response();
    };
    let (past, live) = s.hub.subscribe();
    let reset = futures::stream::once(async { Event::default().event("reset").data("") });
    let past = futures::stream::iter(past.into_iter().map(|l| Event::default().data(&*l)));
    // A page that falls behind the live lines is dropped: its browser
    // reconnects and starts again from a reset.
    let live = tokio_stream::wrappers::BroadcastStream::new(live)
        .take_while(|l| std::future::ready(l.is_ok()))
        .filter_map(|l| std::future::ready(l.ok().map(|l| Event::default().data(&*l))));
    let stream = reset.chain(past).chain(live).map(move |e| {
        let _held = &permit;
        Ok::<_, std::convert::Infallible>(e)
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
