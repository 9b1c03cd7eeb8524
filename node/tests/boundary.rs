//! The node's trust boundary and its limits, as a hostile or careless caller
//! meets them: calls that change the node need its token, bodies must be JSON,
//! foreign origins and hosts are refused, every error is JSON (405 and 413
//! too), event streams and slow headers are bounded, mining on request ends
//! with its caller and keeps the hash-rate limit, recipients that could never
//! spend are refused, and impossible settings stop the node with a reason.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The API's host:port.
fn addr(n: &Node) -> String {
    n.api.trim_start_matches("http://").to_string()
}

/// Sends raw bytes and reads the whole answer (the node closes or answers).
fn raw(n: &Node, request: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr(n)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= at + 4 + len {
                let code = head[9..12].parse().unwrap_or(0);
                let body =
                    serde_json::from_slice(&buf[at + 4..at + 4 + len]).unwrap_or(Value::Null);
                return (code, body);
            }
        }
    }
    panic!(
        "no answer to {request:?}: {}",
        String::from_utf8_lossy(&buf)
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn post(n: &Node, path: &str, headers: &str, body: &str) -> (u16, Value) {
    let host = addr(n);
    raw(
        n,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn token(n: &Node) -> String {
    let t = std::fs::read_to_string(n.home.join("admin_token")).expect("token");
    format!("Authorization: Bearer {}\r\n", t.trim())
}

const JSON: &str = "Content-Type: application/json\r\n";

#[test]
fn calls_that_change_the_node_need_its_token_json_and_its_own_origin() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let homes = homes(tmp.path(), 1);
    let a = Node::start(&homes[0], &[]);
    let changes = [
        ("/mine", r#"{"blocks":1}"#),
        ("/miner/start", "{}"),
        ("/miner/stop", "{}"),
        ("/admin/block", r#"{"peer_id":"x"}"#),
        ("/admin/unblock", r#"{"peer_id":"x"}"#),
        ("/admin/link", r#"{"peer_id":"x","latency_ms":100}"#),
        ("/authorities/propose", r#"{"candidate":"00","add":true}"#),
        ("/authorities/discard", r#"{"candidate":"00"}"#),
    ];
    for (path, body) in changes {
        let (code, v) = post(&a, path, JSON, body);
        assert_eq!(code, 401, "{path} without the token: {v}");
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains("token")),
            "{v}"
        );
        // A wrong token is no better.
        let (code, _) = post(
            &a,
            path,
            &format!("{JSON}Authorization: Bearer 00\r\n"),
            body,
        );
        assert_eq!(code, 401, "{path} with a wrong token");
    }
    // With the token the miner obeys.
    let (code, v) = post(&a, "/miner/stop", &format!("{JSON}{}", token(&a)), "{}");
    assert_eq!((code, v["mining"].as_bool()), (200, Some(false)), "{v}");
    // Submitting a signed transaction needs no token (the body is checked).
    let (code, v) = post(&a, "/tx", JSON, r#"{"nonsense":1}"#);
    assert_eq!(code, 400, "{v}");
    // A form post from a web page: text/plain, even with the token.
    for path in ["/tx", "/miner/start"] {
        let headers = format!("Content-Type: text/plain\r\n{}", token(&a));
        let (code, v) = post(&a, path, &headers, "{}");
        assert_eq!(code, 415, "{path}: {v}");
        assert!(v["error"].is_string());
    }
    // Another site's page cannot call, whatever it sends.
    let evil = format!("{JSON}{}Origin: http://evil.example\r\n", token(&a));
    let (code, v) = post(&a, "/miner/start", &evil, "{}");
    assert_eq!(code, 403, "{v}");
    assert_eq!(a.status()["mining"].as_bool(), Some(false));
    let own = format!("{JSON}{}Origin: {}\r\n", token(&a), a.api);
    assert_eq!(post(&a, "/miner/stop", &own, "{}").0, 200);
    // A name rebound to 127.0.0.1 by another site is not this node.
    let (code, v) = raw(
        &a,
        "GET /status HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 403, "{v}");
    // Errors axum makes itself are JSON too.
    let (code, v) = post(&a, "/status", JSON, "{}");
    assert_eq!(code, 405, "{v}");
    assert!(v["error"].is_string(), "{v}");
    let big = "x".repeat(3 << 20);
    let (code, v) = post(&a, "/tx", JSON, &big);
    assert_eq!(code, 413, "{v}");
    assert!(v["error"].is_string(), "{v}");
}

#[test]
fn slow_headers_and_too_many_event_streams_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let homes = homes(tmp.path(), 1);
    let config = homes[0].join("config.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replace(
        "api_header_timeout_ms = 10000",
        "api_header_timeout_ms = 300",
    );
    assert!(text.contains("api_header_timeout_ms = 300"), "{text}");
    std::fs::write(&config, text).expect("config");
    let a = Node::start(&homes[0], &[]);
    // A connection that never finishes its headers is closed.
    let mut slow = TcpStream::connect(addr(&a)).expect("connect");
    slow.write_all(b"GET /status HTTP/1.1\r\nHost: ")
        .expect("write");
    slow.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let closed = slow.read(&mut buf).is_ok() && started.elapsed() < Duration::from_secs(4);
    assert!(closed, "the slow connection was not closed");
    // 64 event streams open; the next is refused with a JSON error.
    let open: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut s = TcpStream::connect(addr(&a)).expect("connect");
            s.write_all(format!("GET /events HTTP/1.1\r\nHost: {}\r\n\r\n", addr(&a)).as_bytes())
                .expect("write");
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut head = [0u8; 64];
            let k = s.read(&mut head).expect("answer");
            assert!(String::from_utf8_lossy(&head[..k]).starts_with("HTTP/1.1 200"));
            s
        })
        .collect();
    let (code, v) = raw(
        &a,
        &format!(
            "GET /events HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            addr(&a)
        ),
    );
    assert_eq!(code, 503, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("event streams")),
        "{v}"
    );
    drop(open);
    // Closed streams give their places back.
    a.wait(
        |_| {
            let (code, _) = raw(
                &a,
                &format!(
                    "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                    addr(&a)
                ),
            );
            code == 200
        },
        "the API to answer",
    );
}

#[test]
fn mining_on_request_ends_with_its_caller_and_keeps_the_hash_rate_limit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let homes = homes(tmp.path(), 1);
    let a = Node::start(&homes[0], &["--hashrate-limit", "20000"]);
    let mut caller = TcpStream::connect(addr(&a)).expect("connect");
    let body = r#"{"blocks":1000}"#;
    caller
        .write_all(
            format!(
                "POST /mine HTTP/1.1\r\nHost: {}\r\n{JSON}{}Content-Length: {}\r\n\r\n{body}",
                addr(&a),
                token(&a),
                body.len()
            )
            .as_bytes(),
        )
        .expect("write");
    a.wait(|s| s["mining"] == true, "mining on request");
    // The limit holds: the measured rate stays near 20,000 hashes a second.
    std::thread::sleep(Duration::from_millis(4_500));
    let rate = a.status()["hashrate"].as_f64().unwrap_or(0.0);
    assert!(
        rate > 0.0 && rate < 40_000.0,
        "hash rate {rate} with a limit of 20000"
    );
    // The caller goes away: the node stops mining.
    drop(caller);
    a.wait(
        |s| s["mining"] == false,
        "mining to stop once the caller left",
    );
}

#[test]
fn recipients_that_could_never_spend_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let homes = homes(tmp.path(), 1);
    let a = Node::start(&homes[0], &[]);
    let dev = generals_chain::Keypair::dev("dev-0");
    let chain_id = a.status()["chain_id"].as_str().expect("chain").to_string();
    // All zeros is a point of small order; so is the identity.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for (nonce, to) in [[0u8; 32], identity].into_iter().enumerate() {
        let tx = generals_chain::TxBody {
            chain_id: chain_id.clone(),
            sender: dev.public(),
            nonce: nonce as u64,
            fee: 1,
            action: generals_chain::Action::Transfer {
                to: generals_chain::PublicKey(to),
                amount: 10,
            },
        }
        .sign(&dev);
        let (code, v) = a.post("/tx", &json!({ "tx": tx }));
        assert_eq!(code, 422, "{v}");
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("never be spent")),
            "{v}"
        );
    }
}

#[test]
fn impossible_settings_stop_the_node_with_a_reason_not_a_panic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let homes = homes(tmp.path(), 1);
    let out = std::process::Command::new(BIN)
        .args(["run", "--home"])
        .arg(&homes[0])
        .args(["--miner-threads", "100000"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("miner_threads = 100000"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_token_others_can_read_is_made_private_and_an_unreachable_peer_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let homes = homes(tmp.path(), 1);
    let token_file = homes[0].join("admin_token");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // A bootstrap peer on a port where nothing listens.
    let peer = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWHxn1W1Bq4X2Wm3K4pL8rQvHn4Lx8sA4mS3D7VgZk2pQe";
    let a = Node::start(&homes[0], &["--bootstrap", peer]);
    let mode = std::fs::metadata(&token_file)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    a.wait(
        |_| a.log().contains("could not dial a peer"),
        "the failed dial to be reported",
    );
    assert!(a.log().contains("readable by others"), "{}", a.log());
}

#[test]
fn a_byzantine_behaviour_that_cannot_run_here_is_refused_with_the_choices() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let homes = homes(tmp.path(), 1);
    // A proof-of-work dev node: split votes are BFT's.
    let out = std::process::Command::new(BIN)
        .args(["run", "--home"])
        .arg(&homes[0])
        .args(["--byzantine", "split-vote"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"split-vote\" does not apply to pow"),
        "{err}"
    );
    assert!(err.contains("pow: private-fork, selfish"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
