//! `POST /txs`: many signed transactions in one call, as JSON or as the codec's
//! bytes (`application/octet-stream`); each one's answer comes back in order,
//! a batch over 10,000 or bytes that are not a list of transactions are
//! refused whole, and octet-stream is taken on `/txs` only.

mod common;

use common::*;
use generals_chain::{codec, Action, Keypair, Transaction, TxBody};
use serde_json::{json, Value};

fn transfers(from: &Keypair, first_nonce: u64, n: u64) -> Vec<Transaction> {
    (first_nonce..first_nonce + n)
        .map(|nonce| {
            TxBody {
                chain_id: "generals-dev".into(),
                sender: from.public(),
                nonce,
                fee: 1,
                action: Action::Transfer {
                    to: Keypair::dev("dev-3").public(),
                    amount: 5,
                },
            }
            .sign(from)
        })
        .collect()
}

fn post_bytes(n: &Node, path: &str, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}{path}", n.api))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .expect("POST");
    let code = r.status().as_u16();
    (code, r.json().unwrap_or(Value::Null))
}

#[test]
fn a_batch_of_transactions_is_answered_one_by_one_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    init(dir.path(), None);
    let n = Node::start(dir.path(), &[]);
    let alice = Keypair::dev("dev-0");
    // Binary: 50 transfers, then the same 50 again (each known now).
    let txs = transfers(&alice, 0, 50);
    let (code, answer) = post_bytes(&n, "/txs", codec::encode(&txs));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["accepted"], 50, "{answer}");
    let results = answer["results"].as_array().expect("results");
    for (tx, r) in txs.iter().zip(results) {
        assert_eq!(r["hash"], json!(tx.hash()), "in order: {answer}");
    }
    let (code, again) = post_bytes(&n, "/txs", codec::encode(&txs));
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["accepted"], 0, "{again}");
    assert!(
        again["results"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("already")),
        "{again}"
    );
    // JSON: one good transfer and one from an unfunded key, answered apart.
    let mut mixed = transfers(&alice, 50, 1);
    mixed.extend(transfers(&Keypair::dev("nobody"), 0, 1));
    let (code, answer) = n.post("/txs", &json!({ "txs": mixed }));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert!(answer["results"][0]["hash"].is_string(), "{answer}");
    assert!(answer["results"][1]["error"].is_string(), "{answer}");
    // Hex, as `POST /tx` takes it.
    let hex: Vec<String> = transfers(&alice, 51, 2)
        .iter()
        .map(|t| hex::encode(codec::encode(t)))
        .collect();
    let (code, answer) = n.post("/txs", &json!({ "hex": hex }));
    assert_eq!(
        (code, answer["accepted"].clone()),
        (200, json!(2)),
        "{answer}"
    );
    assert_eq!(n.get("/mempool").as_array().map(Vec::len), Some(53));
    // Refused whole: bytes that are not a list, more than 10,000, and
    // octet-stream anywhere but /txs.
    let (code, answer) = post_bytes(&n, "/txs", vec![0xff; 40]);
    assert_eq!(code, 400, "{answer}");
    assert!(answer["error"].is_string(), "{answer}");
    let many = vec![txs[0].clone(); 10_001];
    let (code, answer) = post_bytes(&n, "/txs", codec::encode(&many));
    assert_eq!(code, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("10000")),
        "{answer}"
    );
    let (code, answer) = post_bytes(&n, "/tx", codec::encode(&txs[0]));
    assert_eq!(code, 415, "{answer}");
}
