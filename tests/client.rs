//! The wallet's relay client (memecoin-wasm's `Client`, in Node.js) against real relays: it
//! follows finality, verifies an account and a transfer up to finality, resumes from a saved
//! checkpoint, reconnects with backoff to a relay that starts late, and catches three kinds of
//! lying relay — a forged balance, a forged certificate, and a second validly signed block at a
//! height (an equivocating proposer) — reporting each instead of believing it.
//!
//! The liars are proxies in front of a real relay that rewrite what it sends. The checks run in
//! tests/js/client.mjs; this side starts the relays and proxies and reads the script's output.

use futures_util::{SinkExt, StreamExt};
use memecoin_core::address::Address;
use memecoin_core::block::SignedHeader;
use memecoin_core::encode::{Decode, Encode};
use memecoin_core::hash::Hash;
use memecoin_core::light::{AccountProof, FinalityProof};
use memecoin_relay::keys;
use memecoin_tests::{genesis, node_command, start, try_start_on, wait_for, wasm_pkg_for_node};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as T;

/// How a proxy rewrites one message from the relay (`None`: pass it on unchanged).
type Lie = Arc<dyn Fn(&Value) -> Option<Value> + Send + Sync>;

/// A WebSocket proxy on loopback in front of `relay_url`, passing everything both ways and
/// rewriting the relay's messages with `lie`. Returns its `ws://` URL.
async fn proxy(relay_url: String, lie: Lie) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (relay_url, lie) = (relay_url.clone(), lie.clone());
            tokio::spawn(async move {
                let Ok(client) = tokio_tungstenite::accept_async(tcp).await else { return };
                let Ok((relay, _)) = tokio_tungstenite::connect_async(relay_url).await else {
                    return;
                };
                let (mut to_client, mut from_client) = client.split();
                let (mut to_relay, mut from_relay) = relay.split();
                let up = async {
                    while let Some(Ok(m)) = from_client.next().await {
                        if to_relay.send(m).await.is_err() {
                            break;
                        }
                    }
                };
                let down = async {
                    while let Some(Ok(m)) = from_relay.next().await {
                        let m = match &m {
                            T::Text(t) => {
                                let v: Value = serde_json::from_str(t).unwrap();
                                lie(&v).map_or(m, |v| T::text(v.to_string()))
                            }
                            _ => m,
                        };
                        if to_client.send(m).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::select! { _ = up => {}, _ = down => {} }
            });
        }
    });
    url
}

fn decode<D: Decode>(v: &Value) -> D {
    D::from_bytes(&hex::decode(v.as_str().unwrap()).unwrap()).unwrap()
}

fn encode<E: Encode>(value: &E) -> Value {
    Value::String(hex::encode(value.to_bytes()))
}

/// Every account proof claims one more base unit than the account has.
fn inflate_balance(v: &Value) -> Option<Value> {
    (v["type"] == "account").then(|| {
        let mut proof: AccountProof = decode(&v["proof"]);
        if let Some(account) = proof.account.as_mut() {
            account.balance += 1;
        }
        let mut v = v.clone();
        v["proof"] = encode(&proof);
        v
    })
}

/// Every finality proof loses its certificate's signatures: far under 2/3 of the stake.
fn strip_certificate(v: &Value) -> Option<Value> {
    let strip = |hex: &Value| {
        let mut proof: FinalityProof = decode(hex);
        proof.certificate.signatures.clear();
        encode(&proof)
    };
    let mut v = v.clone();
    match v["type"].as_str()? {
        "finalized" => v["proof"] = strip(&v["proof"]),
        "finality" => {
            let proofs = v["proofs"].as_array()?.iter().map(strip).collect();
            v["proofs"] = Value::Array(proofs);
        }
        _ => return None,
    }
    Some(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wallet_client_verifies_reconnects_and_catches_liars() {
    let build = tempfile::tempdir().unwrap();
    let pkg = tokio::task::spawn_blocking({
        let out = build.path().to_path_buf();
        move || wasm_pkg_for_node(&out)
    })
    .await
    .unwrap();

    let g = genesis(1, 250);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let validator = keys::devnet_validator(0).unwrap();
    let proposer = validator.key.clone();
    let a = start(&g, dirs[0].path(), Some(validator), vec![]).await;
    let b = start(&g, dirs[1].path(), None, vec![a.url()]).await;
    wait_for("finality", 60, || async { (a.head().await.1 >= 2).then_some(()) }).await;
    let genesis_file = build.path().join("genesis.json");
    std::fs::write(&genesis_file, g.to_json()).unwrap();

    // The same block height, validly signed twice by its (only) proposer: a second header with
    // another state root. A client that hears both from two relays must say they disagree.
    let chain_id = g.chain_id();
    let equivocate: Lie = Arc::new(move |v: &Value| {
        (v["type"] == "head").then(|| {
            let signed: SignedHeader = decode(&v["header"]);
            let mut header = signed.header;
            header.state_root = Hash([0xee; 32]);
            json!({"type": "head", "header": encode(&header.sign(&chain_id, &proposer))})
        })
    });
    let liars = json!({
        "account": proxy(b.url(), Arc::new(inflate_balance)).await,
        "finality": proxy(b.url(), Arc::new(strip_certificate)).await,
        "head": proxy(b.url(), equivocate).await,
    });

    // A relay announced before it exists: the client must retry until it comes.
    let later = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let later_addr = later.local_addr().unwrap();
    drop(later);
    let to = Address([0x42; 20]).to_text();
    let setup = json!({
        "pkg": pkg,
        "genesis": genesis_file,
        "relays": [a.url(), b.url()],
        "later": format!("ws://{later_addr}/ws"),
        "phrase": keys::DEVNET_PHRASE,
        "to": to,
        "liars": liars,
    });
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js/client.mjs");
    let mut node = node_command()
        .arg(script)
        .arg(setup.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut late_relay = None;
    let mut done = None;
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["ready"] == "later" {
                let listener = TcpListener::bind(later_addr).await.unwrap();
                let relay = try_start_on(listener, &g, dirs[2].path(), None, vec![a.url()], None);
                late_relay = Some(relay.await.unwrap());
            } else if v.get("done").is_some() {
                done = Some(v["done"].clone());
            }
        }
        node.wait().await.unwrap()
    };
    let status = tokio::time::timeout(Duration::from_secs(240), run).await.expect("script ends");
    assert!(status.success(), "tests/js/client.mjs failed: {status}");
    let done = done.expect("the script reports its results");
    assert!(done["statuses"].as_array().unwrap().contains(&json!("finalized")));
    let delays: Vec<u64> =
        done["delays"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
    assert!(delays.len() >= 3 && delays[2] > delays[0], "backoff grows: {delays:?}");
    println!("client results: {done}");
    // The transfer landed for real: the relay's own state agrees with what the client verified.
    let (code, body) =
        memecoin_tests::http(a.handle.addr, "GET", &format!("/api/accounts/{to}"), None).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("2500000000"), "{body}");
    if let Some(relay) = late_relay {
        relay.stop().await;
    }
    b.stop().await;
    a.stop().await;
}
