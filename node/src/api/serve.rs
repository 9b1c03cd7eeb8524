//! Serving the API with bounds a caller cannot grow: at most
//! `MAX_CONNECTIONS` connections at once (more are closed at once), and a
//! connection that does not finish a request's headers within the header
//! timeout (`api_header_timeout_ms`, 10 s by default) is closed.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connections open at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Accepts connections on `listener` and serves `app` on each, for ever.
pub async fn serve(listener: TcpListener, app: Router, header_timeout: Duration) {
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "could not accept an API connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::debug!("closed an API connection over the limit");
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}
