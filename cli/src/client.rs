//! A small HTTP client of the node's API that turns every failure into one line.

use anyhow::{anyhow, bail, Result};
use generals_node::api::types::ErrorBody;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The node's token: given, or read from a node home's `admin_token`.
pub fn token(given: Option<&str>, home: Option<&std::path::Path>) -> Result<Option<String>> {
    match (given, home) {
        (Some(t), _) => Ok(Some(t.trim().to_string())),
        (None, Some(home)) => {
            let path = home.join("admin_token");
            let t = std::fs::read_to_string(&path)
                .map_err(|e| anyhow!("reading the token in {}: {e}", path.display()))?;
            Ok(Some(t.trim().to_string()))
        }
        (None, None) => Ok(None),
    }
}

pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
    /// The node's token, sent with every POST when known.
    token: Option<String>,
}

impl Client {
    pub fn new(node: &str, token: Option<String>) -> Result<Client> {
        let base = node.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base).map_err(|e| {
            anyhow!("--node {node:?} is not a URL ({e}); e.g. http://127.0.0.1:8645")
        })?;
        if url.scheme() != "http" {
            bail!("--node {node:?}: only http:// URLs are served by a node");
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| anyhow!("HTTP client: {e}"))?;
        Ok(Client { base, http, token })
    }

    fn answer<T: DeserializeOwned>(
        &self,
        r: reqwest::Result<reqwest::blocking::Response>,
    ) -> Result<T> {
        let r = r.map_err(|e| {
            if e.is_connect() {
                anyhow!(
                    "no node answers at {} (is it running? set --node)",
                    self.base
                )
            } else if e.is_timeout() {
                anyhow!("the node at {} did not answer in time", self.base)
            } else {
                anyhow!("talking to {}: {e}", self.base)
            }
        })?;
        let status = r.status();
        let body = r.bytes().map_err(|e| anyhow!("reading the answer: {e}"))?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<ErrorBody>(&body)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            bail!("the node refused ({status}): {msg}");
        }
        serde_json::from_slice(&body)
            .map_err(|e| anyhow!("the node's answer is not what this client expects: {e}"))
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.answer(self.http.get(format!("{}{path}", self.base)).send())
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> Result<T> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        self.answer(request.send())
    }
}
