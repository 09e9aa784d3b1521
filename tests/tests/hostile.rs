//! Real relays on loopback against hostile and broken input, and against a split network:
//! an invalid peer is struck off and nothing it sent is forwarded; bad WebSocket input closes the
//! connection with a reason and leaves the relay serving; every invalid message is struck with
//! its reason; blocks on made-up parents are struck (bad signature or body) or, past a budget a
//! slot, dropped unread; slow and silent clients are cut off, one address cannot take every
//! socket, and a client that never reads is dropped; relays learn of each other through a third; a relay
//! sends a relay peer its head block on hello; a 2|2 partition finalizes nothing, and once
//! healed all four agree on one chain.
//!
//! Attackers connect from other loopback addresses (127.0.0.2 and up, see `tcp_from`) than the
//! honest clients and observers (127.0.0.1), because the relay bans and caps by address.

use futures_util::{SinkExt, StreamExt};
use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::crypto::SecretKey;
use memecoin_core::encode::{Decode, Encode};
use memecoin_core::hash::Hash;
use memecoin_core::tx::{SignedTx, Tx, TxKind};
use memecoin_node::keys;
use memecoin_node::node::TxStatus;
use memecoin_relay::net::MAX_STRIKES;
use memecoin_relay::wire::MAX_FRAME;
use memecoin_tests::{Relay, Ws, genesis, http, http_from, start, tcp_from, wait_for, ws_from};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as T;

/// What a client read from the relay.
#[derive(Debug)]
enum Got {
    Json(Value),
    /// The connection ended: with the close frame's reason, if one came.
    Closed(Option<String>),
}

async fn connect(relay: &Relay) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(relay.url()).await.unwrap();
    ws
}

/// The attacker's address in these tests.
const MALLORY: &str = "127.0.0.2";

/// Whether a WebSocket client at `from` is refused with `status` (e.g. "403").
async fn refused_with(from: &str, relay: &Relay, status: &str) -> bool {
    match ws_from(from, relay).await {
        Ok(_) => false,
        Err(e) => e.to_string().contains(status),
    }
}

async fn send(ws: &mut Ws, value: &Value) {
    ws.send(T::text(value.to_string())).await.unwrap();
}

/// The next JSON message or the end of the connection, within 10 s.
async fn next(ws: &mut Ws) -> Got {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(T::Text(t))) => return Got::Json(serde_json::from_str(&t).unwrap()),
                Some(Ok(T::Close(frame))) => {
                    return Got::Closed(frame.map(|f| f.reason.to_string()));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Got::Closed(None),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the relay neither answered nor closed within 10 s")
}

/// Skips gossip (blocks, votes, peers, the relay's own hello) until a message of type `ty` or
/// the end of the connection.
async fn next_of(ws: &mut Ws, ty: &str) -> Got {
    loop {
        match next(ws).await {
            Got::Json(v) if v["type"] != ty => continue,
            got => return got,
        }
    }
}

/// Reads until the connection ends; returns the close reason, if any.
async fn closed(ws: &mut Ws) -> Option<String> {
    loop {
        if let Got::Closed(reason) = next(ws).await {
            return reason;
        }
    }
}

fn hello(chain_id: &str, version: u32) -> Value {
    json!({"type": "hello", "version": version, "chain_id": chain_id, "role": "relay", "head_height": 0})
}

fn hex_of<E: Encode>(value: &E) -> String {
    hex::encode(value.to_bytes())
}

fn transfer(g: &memecoin_core::genesis::Genesis, signer: &SecretKey, amount: u64) -> SignedTx {
    let dev = keys::devnet_dev_key().unwrap();
    Tx {
        chain_id: g.chain_id(),
        sender: dev.public_key(),
        nonce: 0,
        fee: g.params.min_fee,
        kind: TxKind::Transfer { to: Address([9; 20]), amount },
    }
    .sign(signer)
}

async fn metrics(relay: &Relay) -> String {
    let (status, body) = http(relay.handle.addr, "GET", "/metrics", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn gauge(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_peer_is_dropped_and_nothing_of_it_is_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let chain_id = g.chain_id().to_hex();
    let a =
        start(&g, &dir.path().join("a"), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    let b = start(&g, &dir.path().join("b"), None, vec![a.url()]).await;
    wait_for("B to sync blocks from A", 20, || async { (b.head().await.0 >= 2).then_some(()) })
        .await;

    let mut ws = ws_from(MALLORY, &b).await.unwrap();
    send(&mut ws, &hello(&chain_id, 1)).await;
    let mallory = SecretKey::from_bytes(&[7; 32]).unwrap();

    // A transfer from the dev account signed by another key.
    let bad_tx = transfer(&g, &mallory, 4_242);
    send(&mut ws, &json!({"type": "tx", "tx": hex_of(&bad_tx)})).await;

    // A real block re-signed by another key: its hash is the real block's (the signature is not
    // part of it), but the signature is checked before the relay looks the block up: struck.
    // B's head is above its finalized block (finality lags the head by two blocks here), so the
    // forged sibling below has a parent state at B and is checked, not dropped as stale.
    let (height, _) = b.head().await;
    let (status, body) = http(a.handle.addr, "GET", &format!("/api/blocks/{height}"), None).await;
    assert_eq!(status, 200, "{body}");
    let real: Value = serde_json::from_str(&body).unwrap();
    let real = Block::from_bytes(&hex::decode(real["block"].as_str().unwrap()).unwrap()).unwrap();
    let mut copy = real.clone();
    copy.header = copy.header.header.clone().sign(&g.chain_id(), &mallory);
    send(&mut ws, &json!({"type": "block", "block": hex_of(&copy)})).await;
    // The same block with another state root, so it is new, signed by another key: the
    // proposer signature is checked before anything the state root affects (and before the
    // node's lock).
    let mut forged = real.clone();
    forged.header.header.state_root = Hash([0xab; 32]);
    forged.header = forged.header.header.clone().sign(&g.chain_id(), &mallory);
    let forged_hash = forged.hash();
    assert_ne!(forged_hash, real.hash());
    send(&mut ws, &json!({"type": "block", "block": hex_of(&forged)})).await;

    send(&mut ws, &json!({"type": "tx"})).await; // no `tx` field
    send(&mut ws, &json!({"type": "tx", "tx": "zz"})).await;

    let want = ["InvalidTx", "BadSignature", "BadSignature", "BadMessage", "BadTx"];
    assert_eq!(want.len() as u32, MAX_STRIKES);
    for kind in want {
        match next_of(&mut ws, "error").await {
            Got::Json(e) => {
                let reason = e["reason"].as_str().unwrap();
                assert!(reason.starts_with(kind), "expected {kind}, got {e}");
                if kind == "BadSignature" {
                    assert_eq!(reason, "BadSignature: block", "{e}");
                }
            }
            Got::Closed(reason) => panic!("closed before the {kind} error: {reason:?}"),
        }
    }
    let reason = closed(&mut ws).await;
    let reason = reason.expect("a close frame with a reason");
    assert!(reason.contains("too many invalid messages"), "{reason}");
    // And its address is refused for a while (403 at accept), while others are served.
    assert!(refused_with(MALLORY, &b, "403").await, "a struck-out peer must be refused");
    let (status, _) = http_from(MALLORY, b.handle.addr, "GET", "/api/head", None).await;
    assert_eq!(status, 403);
    let (status, body) = http(b.handle.addr, "GET", "/api/head", None).await;
    assert_eq!(status, 200, "{body}");

    // Give gossip time to carry anything B might have forwarded.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (bad_at_a, forged_at_a, copy_sig) = a
        .handle
        .shared
        .with_node(|n| {
            (
                n.tx_status(&bad_tx.id()),
                n.header(&forged_hash).is_some() || n.block(&forged_hash).is_some(),
                n.block(&real.hash()).map(|b| b.header.signature),
            )
        })
        .await;
    assert_eq!(bad_at_a, TxStatus::Unknown);
    assert!(!forged_at_a, "A knows the forged block");
    assert_eq!(copy_sig, Some(real.header.signature), "A's stored block was replaced");
    let (bad_at_b, forged_at_b) = b
        .handle
        .shared
        .with_node(|n| (n.tx_status(&bad_tx.id()), n.header(&forged_hash).is_some()))
        .await;
    assert_eq!(bad_at_b, TxStatus::Unknown);
    assert!(!forged_at_b, "B kept the forged block");

    let m = metrics(&b).await;
    for kind in want {
        assert!(m.contains(&format!("memecoin_rejects_total{{reason=\"{kind}\"}}")), "{m}");
    }
    // A never saw anything to reject: B forwarded none of it.
    let m = metrics(&a).await;
    assert!(!m.contains("memecoin_rejects_total{"), "{m}");
    // A still makes blocks and B still follows.
    let (a_height, _) = a.head().await;
    wait_for("B to follow A after the attack", 20, || async {
        (b.head().await.0 > a_height).then_some(())
    })
    .await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ws_input_closes_with_a_reason_and_the_relay_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let chain_id = g.chain_id().to_hex();
    let r = start(&g, dir.path(), Some(keys::devnet_validator(0).unwrap()), vec![]).await;

    for (first, want) in [
        (hello(&"00".repeat(32), 1), "wrong chain"),
        (hello(&chain_id, 99), "protocol version"),
        (json!({"type": "subscribe", "heads": true}), "expected hello first"),
    ] {
        let mut ws = connect(&r).await;
        send(&mut ws, &first).await;
        let reason = closed(&mut ws).await;
        let reason = reason.unwrap_or_else(|| panic!("closed without a reason after {first}"));
        assert!(reason.contains(want), "{first}: {reason}");
    }

    let mut ws = connect(&r).await;
    send(&mut ws, &hello(&chain_id, 1)).await;
    send(&mut ws, &json!({"type": "launch_rockets"})).await;
    match next_of(&mut ws, "error").await {
        Got::Json(e) => assert!(e["reason"].as_str().unwrap().contains("unknown variant"), "{e}"),
        Got::Closed(reason) => panic!("closed: {reason:?}"),
    }

    // The same connection still serves a valid transfer.
    let dev = keys::devnet_dev_key().unwrap();
    let tx = transfer(&g, &dev, 1_000);
    send(&mut ws, &json!({"type": "submit_tx", "id": 5, "tx": hex_of(&tx)})).await;
    match next_of(&mut ws, "tx_result").await {
        Got::Json(v) => {
            assert_eq!(v["id"], 5, "{v}");
            assert_eq!(v["accepted"], true, "{v}");
            assert_eq!(v["tx_id"], tx.id().to_hex(), "{v}");
        }
        Got::Closed(reason) => panic!("closed: {reason:?}"),
    }
    // A frame over the cap ends the connection and the peer is refused for a while; the relay
    // goes on serving.
    drop(ws);
    let mut ws = ws_from(MALLORY, &r).await.unwrap();
    send(&mut ws, &hello(&chain_id, 1)).await;
    // The relay resets the socket on reading the frame's length, so the send itself may fail.
    if ws.send(T::text("x".repeat(MAX_FRAME + 1))).await.is_ok() {
        let _ = closed(&mut ws).await;
    }
    wait_for("the relay to drop the oversize connection", 10, || async {
        (gauge(&metrics(&r).await, "memecoin_connections") == 0).then_some(())
    })
    .await;
    let (status, body) = http(r.handle.addr, "GET", "/api/head", None).await;
    assert_eq!(status, 200, "{body}");

    wait_for("the oversize sender to be refused (403)", 10, || async {
        refused_with(MALLORY, &r, "403").await.then_some(())
    })
    .await;
    let m = metrics(&r).await;
    assert!(m.contains("FrameTooLarge") && m.contains("reason=\"Banned\""), "{m}");

    // A client still connected when the relay stops hears why.
    let mut ws = connect(&r).await;
    send(&mut ws, &hello(&chain_id, 1)).await;
    let _ = next_of(&mut ws, "hello").await;
    let stopping = tokio::spawn(r.stop());
    assert!(closed(&mut ws).await.is_some_and(|r| r.contains("shutting down")));
    stopping.await.unwrap();
}

/// Each invalid message, on a fresh connection from an address of its own (so that no case
/// inherits another's strikes or ban), and the reason its `error` reply must start with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invalid_message_is_struck_with_its_reason() {
    use memecoin_core::finality::{Checkpoint, Vote};
    use memecoin_core::slashing::Evidence;
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let chain_id = g.chain_id().to_hex();
    // No validator: the chain stays in epoch 0, whose voters the forged vote below names.
    let r = start(&g, dir.path(), None, vec![]).await;
    let mallory = SecretKey::from_bytes(&[7; 32]).unwrap();
    // A vote signed by Mallory in validator 0's name, and "evidence" of one vote against itself.
    let mut vote = Vote {
        epoch: 0,
        source: Checkpoint { height: 0, hash: Hash([1; 32]) },
        target: Checkpoint { height: 1, hash: Hash([2; 32]) },
    }
    .sign(&g.chain_id(), &mallory);
    let not_evidence = Evidence::DoubleVote { a: vote.clone(), b: vote.clone() };
    vote.validator = keys::devnet_validator(0).unwrap().key.public_key();
    let some = |n: usize| (0..n).map(|i| Address([i as u8; 20]).to_text()).collect::<Vec<_>>();
    let cases: Vec<(Value, &str)> = vec![
        (json!("not a message"), "BadMessage"),
        (hello(&chain_id, 1), "Protocol: hello sent twice"),
        (json!({"type": "submit_tx", "id": 1, "tx": "zz"}), "BadTx"),
        (json!({"type": "tx", "tx": hex_of(&transfer(&g, &mallory, 2))}), "InvalidTx"),
        (json!({"type": "block", "block": "00"}), "BadBlock"),
        (json!({"type": "blocks", "id": 1, "blocks": ["00"]}), "BadBlock"),
        // Gossip payloads differ from case to case: one seen before is dropped unread.
        (json!({"type": "vote", "vote": "01"}), "BadVote"),
        (json!({"type": "vote", "vote": hex_of(&vote)}), "BadSignature: vote"),
        (json!({"type": "evidence", "evidence": "02"}), "BadEvidence"),
        (json!({"type": "evidence", "evidence": hex_of(&not_evidence)}), "InvalidEvidence"),
        (json!({"type": "subscribe", "accounts": ["meme1nope"]}), "BadAddress"),
        (json!({"type": "subscribe", "accounts": some(65)}), "TooManySubscriptions"),
        (json!({"type": "get_headers", "id": 1, "from": 0, "count": 257}), "RangeTooLarge"),
        (json!({"type": "get_blocks", "id": 1, "from": 0, "count": 257}), "RangeTooLarge"),
        (json!({"type": "get_account", "id": 1, "address": "meme1nope"}), "BadAddress"),
        (json!({"type": "get_inclusion", "id": 1, "tx_id": "zz"}), "BadHash"),
    ];
    for (i, (message, want)) in cases.iter().enumerate() {
        let from = format!("127.0.1.{}", i + 1);
        let mut ws = ws_from(&from, &r).await.unwrap();
        send(&mut ws, &hello(&chain_id, 1)).await;
        match message {
            Value::String(raw) => ws.send(T::text(raw.clone())).await.unwrap(),
            m => send(&mut ws, m).await,
        }
        match next_of(&mut ws, "error").await {
            Got::Json(e) => {
                let reason = e["reason"].as_str().unwrap();
                assert!(reason.starts_with(want), "{message}: expected {want}, got {e}");
            }
            Got::Closed(reason) => panic!("{message}: closed: {reason:?}"),
        }
    }
    // A request that does not parse is answered with its `id`, when the frame has one: a client
    // waiting for that reply is not left waiting.
    let mut ws = ws_from("127.0.1.90", &r).await.unwrap();
    send(&mut ws, &hello(&chain_id, 1)).await;
    send(&mut ws, &json!({"type": "get_headers", "id": 7, "from": 0, "count": "all"})).await;
    match next_of(&mut ws, "error").await {
        Got::Json(e) => {
            assert_eq!(e["id"], 7, "{e}");
            assert!(e["reason"].as_str().unwrap().starts_with("BadMessage"), "{e}");
        }
        Got::Closed(reason) => panic!("closed: {reason:?}"),
    }
    // A submission is answered with its `tx_result`, whatever the refusal. A bad signature (the
    // one refusal that costs a signature check and that no race causes) also counts as a
    // strike, as over HTTP: the fifth closes the connection.
    let mut ws = ws_from("127.0.1.91", &r).await.unwrap();
    send(&mut ws, &hello(&chain_id, 1)).await;
    for i in 0..MAX_STRIKES as u64 {
        let forged = hex_of(&transfer(&g, &mallory, 10 + i));
        send(&mut ws, &json!({"type": "submit_tx", "id": 100 + i, "tx": forged})).await;
        // The relay's own hello and gossip may come first; an `error` may not.
        let reply = loop {
            match next(&mut ws).await {
                Got::Json(m) if m["type"] == "tx_result" || m["type"] == "error" => {
                    break Got::Json(m);
                }
                Got::Json(_) => continue,
                closed => break closed,
            }
        };
        match reply {
            Got::Json(reply) => {
                assert_eq!(reply["type"], "tx_result", "{reply}");
                assert_eq!(reply["id"], 100 + i, "{reply}");
                assert_eq!(reply["accepted"], false, "{reply}");
                assert_eq!(reply["reason"], "invalid transaction: signature is invalid", "{reply}");
            }
            Got::Closed(reason) => panic!("closed after {i} forged transactions: {reason:?}"),
        }
    }
    assert!(closed(&mut ws).await.is_some_and(|r| r.contains("too many invalid messages")));
    // An unfunded sender's transaction is refused for payment before its signature is looked
    // at (PROTOCOL.md §16.3, *Mempool admission*): a bad signature on it costs no verification
    // and no strike.
    let mut ws = ws_from("127.0.1.92", &r).await.unwrap();
    send(&mut ws, &hello(&chain_id, 1)).await;
    for i in 0..(MAX_STRIKES as u64 + 1) {
        let unfunded = Tx {
            chain_id: g.chain_id(),
            sender: mallory.public_key(),
            nonce: i,
            fee: g.params.min_fee,
            kind: TxKind::Transfer { to: Address([9; 20]), amount: 1 },
        }
        .sign(&keys::devnet_dev_key().unwrap());
        send(&mut ws, &json!({"type": "submit_tx", "id": 200 + i, "tx": hex_of(&unfunded)})).await;
        match next_of(&mut ws, "tx_result").await {
            Got::Json(reply) => {
                assert_eq!(reply["id"], 200 + i, "{reply}");
                let reason = reply["reason"].as_str().unwrap();
                assert!(reason.starts_with("the sender's balance 0 does not pay"), "{reply}");
            }
            Got::Closed(reason) => panic!("closed after {i} unfunded transactions: {reason:?}"),
        }
    }
    round_trip(&mut ws).await;
    // Over MAX_RATE messages a second, for longer than MAX_STRIKES seconds: harmless ones, all
    // written at once. Answered `RateLimited` and slowed down, never struck off: every message
    // is handled in the end, and the connection still answers.
    let mut ws = ws_from("127.0.1.100", &r).await.unwrap();
    send(&mut ws, &hello(&chain_id, 1)).await;
    let peers = json!({"type": "peers", "peers": []}).to_string();
    let flood = tokio::spawn(async move {
        for _ in 0..(memecoin_relay::limits::MAX_RATE * (MAX_STRIKES + 1)) {
            ws.feed(T::text(peers.clone())).await.unwrap();
        }
        ws.flush().await.unwrap();
        ws
    });
    let mut ws = flood.await.unwrap();
    for _ in 0..MAX_STRIKES {
        match next_of(&mut ws, "error").await {
            Got::Json(e) => {
                assert!(e["reason"].as_str().unwrap().starts_with("RateLimited"), "{e}")
            }
            Got::Closed(reason) => panic!("closed: {reason:?}"),
        }
    }
    round_trip(&mut ws).await;
    let m = metrics(&r).await;
    for kind in ["BadMessage", "Protocol", "BadSignature", "InvalidEvidence", "RateLimited"] {
        assert!(m.contains(&format!("memecoin_rejects_total{{reason=\"{kind}\"}}")), "{m}");
    }
    r.stop().await;
}

/// Every refusal of the JSON API, with its status and the start of its `error`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_http_request_is_refused_with_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let r = start(&g, dir.path(), None, vec![]).await;
    let mallory = SecretKey::from_bytes(&[7; 32]).unwrap();
    let forged = json!({"tx": hex_of(&transfer(&g, &mallory, 1))}).to_string();
    let huge = json!({"tx": "00".repeat(9_000)}).to_string();
    let zeros = "00".repeat(32);
    let cases: Vec<(&str, String, Option<&str>, u16, &str)> = vec![
        ("POST", "/api/tx".into(), Some("not json"), 400, "bad JSON"),
        ("POST", "/api/tx".into(), Some(r#"{"tx":"zz"}"#), 400, "tx: bad hex"),
        ("POST", "/api/tx".into(), Some(r#"{"tx":"00","fee":1}"#), 400, "bad JSON: unknown field"),
        (
            "POST",
            "/api/tx".into(),
            Some(forged.as_str()),
            400,
            "invalid transaction: signature is invalid",
        ),
        ("POST", "/api/tx".into(), Some(huge.as_str()), 400, "PayloadTooLarge"),
        ("GET", "/api/accounts/meme1nope".into(), None, 400, "bad address"),
        ("GET", "/api/accounts/meme1nope/txs".into(), None, 400, "bad address"),
        ("GET", "/api/tx/zz".into(), None, 400, "expected a 64-character hex"),
        ("GET", format!("/api/tx/{zeros}"), None, 404, "unknown transaction"),
        ("GET", "/api/blocks/999999".into(), None, 404, "no block at height"),
        ("GET", "/api/faucet".into(), None, 404, "no faucet on this relay"),
        ("POST", "/api/faucet".into(), Some("{}"), 404, "no faucet on this relay"),
        ("GET", "/nothing/here".into(), None, 404, "no wallet page configured"),
        ("DELETE", "/api/head".into(), None, 400, "MethodNotAllowed"),
        // This relay has no validator and no peer: its head is genesis, which has no header
        // to prove an account against.
        (
            "GET",
            format!("/api/accounts/{}", Address([9; 20]).to_text()),
            None,
            503,
            "state not available",
        ),
    ];
    for (method, path, body, status, want) in cases {
        let (got, text) = http(r.handle.addr, method, &path, body).await;
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
        let error = v["error"].as_str().unwrap_or_default();
        assert_eq!(got, status, "{method} {path}: {text}");
        assert!(error.contains(want), "{method} {path}: expected {want:?}, got {text}");
    }
    // The same over the WebSocket: answered `NotAvailable`, not struck.
    let mut ws = connect(&r).await;
    send(&mut ws, &hello(&g.chain_id().to_hex(), 1)).await;
    let address = Address([9; 20]).to_text();
    for id in 0..2 * MAX_STRIKES {
        // `get_meta` as well: no finalized state to read the chain meta of.
        let ask = if id % 2 == 0 {
            json!({"type": "get_account", "id": id, "address": address, "at": "head"})
        } else {
            json!({"type": "get_meta", "id": id})
        };
        send(&mut ws, &ask).await;
        match next_of(&mut ws, "error").await {
            Got::Json(v) => {
                assert_eq!(v["id"], id, "{v}");
                assert!(v["reason"].as_str().unwrap().starts_with("NotAvailable"), "{v}");
            }
            Got::Closed(reason) => panic!("closed for asking too early: {reason:?}"),
        }
    }
    r.stop().await;
}

/// A relay without a validator or peers, with the listener's `limits`.
async fn start_with(
    g: &memecoin_core::genesis::Genesis,
    dir: &std::path::Path,
    limits: memecoin_relay::limits::Limits,
) -> Relay {
    let config = memecoin_tests::config(g, dir, None, vec![]);
    memecoin_tests::launch(memecoin_relay::Config { limits, ..config }).await.unwrap()
}

/// Limits small enough to reach in a test.
fn small_limits() -> memecoin_relay::limits::Limits {
    memecoin_relay::limits::Limits {
        max_open: 12,
        max_per_ip: 8,
        header_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(2),
        max_requests_per_ip: memecoin_relay::limits::MAX_REQUESTS_PER_IP,
        max_websockets: 4,
        event_buffer: memecoin_relay::limits::EVENT_BUFFER,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_peer_that_falls_behind_the_events_is_dropped_and_a_browser_kept() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let chain_id = g.chain_id().to_hex();
    let limits = memecoin_relay::limits::Limits { event_buffer: 4, ..Default::default() };
    let r = start_with(&g, dir.path(), limits).await;
    let addr = r.handle.addr;
    let dev = keys::devnet_dev_key().unwrap();

    // A relay peer and a browser subscribed to heads, each made to sit out the rest of a
    // second: over `MAX_RATE` messages (ignored notifications, so nothing else is done) get
    // `RateLimited` and a wait. Meanwhile more transactions are admitted than the event buffer
    // holds, each an event.
    let mut peer = ws_from("127.0.0.8", &r).await.unwrap();
    send(&mut peer, &hello(&chain_id, 1)).await;
    let mut browser = ws_from("127.0.0.9", &r).await.unwrap();
    let browser_hello =
        json!({"type": "hello", "version": 1, "chain_id": chain_id, "role": "browser"});
    send(&mut browser, &browser_hello).await;
    send(&mut browser, &json!({"type": "subscribe", "heads": true})).await;
    let ignored = T::text(json!({"type": "error", "id": null, "reason": "x"}).to_string());
    for ws in [&mut peer, &mut browser] {
        let burst = (0..=memecoin_relay::limits::MAX_RATE).map(|_| Ok(ignored.clone()));
        ws.send_all(&mut futures_util::stream::iter(burst)).await.unwrap();
    }
    for ws in [&mut peer, &mut browser] {
        match next_of(ws, "error").await {
            Got::Json(v) => {
                assert!(v["reason"].as_str().unwrap().starts_with("RateLimited"), "{v}")
            }
            Got::Closed(reason) => panic!("closed early: {reason:?}"),
        }
    }
    // Signed before, posted at once: the waits started when the connections opened.
    let posts = (0..8u64).map(|nonce| {
        let tx = Tx {
            chain_id: g.chain_id(),
            sender: dev.public_key(),
            nonce,
            fee: g.params.min_fee,
            kind: TxKind::Transfer { to: Address([9; 20]), amount: 1 },
        }
        .sign(&dev);
        let body = json!({"tx": hex_of(&tx)}).to_string();
        async move { http(addr, "POST", "/api/tx", Some(&body)).await }
    });
    for (status, reply) in futures_util::future::join_all(posts).await {
        assert_eq!(status, 200, "{reply}");
    }
    // The relay peer: dropped, to resync when it reconnects.
    assert_eq!(closed(&mut peer).await.as_deref(), Some("too slow: fell behind the event stream"));
    // The browser: it lagged too, and is kept (it would be sent the current head; this relay
    // has no validator, and genesis has no header to send). It answers requests as before.
    round_trip(&mut browser).await;
    let m = metrics(&r).await;
    assert!(m.contains("memecoin_rejects_total{reason=\"FellBehind\"}"), "{m}");
    assert_eq!(gauge(&m, "memecoin_lagged_total"), 1, "{m}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_over_the_cap_are_refused_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let chain_id = g.chain_id().to_hex();
    let limits = small_limits();
    let r = start_with(&g, dir.path(), limits.clone()).await;
    // Up to the cap, from several addresses (each under its own per-address cap).
    let mut open = Vec::new();
    for i in 0..limits.max_websockets {
        let mut ws = ws_from(&format!("127.0.0.{}", 10 + i), &r).await.unwrap();
        send(&mut ws, &hello(&chain_id, 1)).await;
        round_trip(&mut ws).await;
        open.push(ws);
    }
    wait_for("the relay to count its WebSockets", 10, || async {
        (gauge(&metrics(&r).await, "memecoin_connections") == limits.max_websockets as u64)
            .then_some(())
    })
    .await;
    // One more, from yet another address: 503, and HTTP still served.
    let refused = ws_from("127.0.0.30", &r).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("503"), "{refused:?}");
    assert_eq!(http_from("127.0.0.30", r.handle.addr, "GET", "/api/head", None).await.0, 200);
    // A WebSocket closed frees its place.
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    drop(first);
    wait_for("a freed place to be taken", 10, || async { ws_from("127.0.0.30", &r).await.ok() })
        .await;
    for mut ws in open {
        round_trip(&mut ws).await;
    }
    let m = metrics(&r).await;
    assert!(m.contains("memecoin_rejects_total{reason=\"TooManyConnections\"}"), "{m}");
    r.stop().await;
}

/// Writes `requests` at once on one keep-alive connection from `from` (HTTP/1.1 pipelining:
/// the relay answers them in order) and returns the status of each answer it sent before it
/// closed the connection (the last request asks it to).
async fn pipelined(
    from: &str,
    addr: std::net::SocketAddr,
    requests: &[(&str, &str, &str)],
) -> Vec<u16> {
    use tokio::io::AsyncWriteExt;
    let mut raw = String::new();
    for (i, (method, path, body)) in requests.iter().enumerate() {
        let close = if i + 1 == requests.len() { "close" } else { "keep-alive" };
        raw.push_str(&format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: {close}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    let mut tcp = tcp_from(from, addr).await.unwrap();
    tcp.write_all(raw.as_bytes()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut tcp))
        .await
        .expect("the relay neither answered nor closed within 10 s");
    got.match_indices("HTTP/1.1 ")
        .filter_map(|(at, _)| got.get(at + 9..at + 12)?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_floods_are_slowed_and_bad_submissions_banned_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let limits = memecoin_relay::limits::Limits { max_requests_per_ip: 20, ..Default::default() };
    let r = start_with(&g, dir.path(), limits).await;
    let addr = r.handle.addr;

    // 40 requests at once from one address: its first 20 this second are served, the rest get
    // 429 (with retry-after), and the connection stays open for them all.
    let head = ("GET", "/api/head", "");
    let statuses = pipelined(MALLORY, addr, &[head; 40]).await;
    assert_eq!(statuses.len(), 40, "{statuses:?}");
    assert!(statuses[..20].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    let (status, _) = http(addr, "GET", "/api/head", None).await;
    assert_eq!(status, 200, "another address is not slowed");
    wait_for("the next second's budget", 10, || async {
        (http_from(MALLORY, addr, "GET", "/api/head", None).await.0 == 200).then_some(())
    })
    .await;

    // Badly signed transactions from 127.0.0.3 on one keep-alive connection: each is refused,
    // the MAX_STRIKES'th bans the address, its next request on the same connection gets 403
    // and the connection is closed (the pipelined requests after it are never read).
    let mallory = SecretKey::from_bytes(&[7; 32]).unwrap();
    let forged = json!({"tx": hex_of(&transfer(&g, &mallory, 1))}).to_string();
    let post = ("POST", "/api/tx", forged.as_str());
    let mut requests = vec![post; MAX_STRIKES as usize];
    requests.extend([head; 3]);
    let statuses = pipelined("127.0.0.3", addr, &requests).await;
    let mut want = vec![400; MAX_STRIKES as usize];
    want.push(403);
    assert_eq!(statuses, want);
    // Malformed bodies cost a parse, not a signature check: answered, never struck.
    let typo = ("POST", "/api/tx", "{\"tx\": \"zz\"}");
    let mut requests = vec![typo; 2 * MAX_STRIKES as usize];
    requests.push(head);
    let statuses = pipelined("127.0.0.4", addr, &requests).await;
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    assert!(statuses[..statuses.len() - 1].iter().all(|s| *s == 400), "{statuses:?}");
    // Refused at accept from now on, over HTTP and WebSocket; others are served.
    assert_eq!(http_from("127.0.0.3", addr, "GET", "/api/head", None).await.0, 403);
    assert!(refused_with("127.0.0.3", &r, "403").await);
    assert_eq!(http(addr, "GET", "/api/head", None).await.0, 200);
    let m = metrics(&r).await;
    for kind in ["TooManyRequests", "BadSignature", "Banned"] {
        assert!(m.contains(&format!("memecoin_rejects_total{{reason=\"{kind}\"}}")), "{kind}: {m}");
    }
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn costly_requests_are_slowed_not_struck() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let chain_id = g.chain_id().to_hex();
    let r = start(&g, dir.path(), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    wait_for("a few blocks", 20, || async { (r.head().await.0 >= 3).then_some(()) }).await;

    // Full ranges of headers, each several reads under the node lock, more than MAX_SERVED
    // reads in all: every one is answered, the connection stays, and the relay counts that it
    // made the client wait.
    let mut ws = ws_from(MALLORY, &r).await.unwrap();
    send(&mut ws, &hello(&chain_id, 1)).await;
    let (height, _) = r.head().await;
    let per_request = height + 1;
    // Three seconds' worth, so a slow machine that takes over a second to handle them still
    // passes the budget in one second (and under `MAX_RATE` messages).
    let requests = 3 * memecoin_relay::limits::MAX_SERVED as u64 / per_request;
    for id in 0..requests {
        send(&mut ws, &json!({"type": "get_headers", "id": id, "from": 1, "count": 256})).await;
    }
    for id in 0..requests {
        match next_of(&mut ws, "headers").await {
            Got::Json(v) => assert_eq!(v["id"], id, "{v}"),
            Got::Closed(reason) => {
                panic!("a client asking legal questions was dropped: {reason:?}")
            }
        }
    }
    round_trip(&mut ws).await;
    let m = metrics(&r).await;
    assert!(m.contains("memecoin_rejects_total{reason=\"ServeLimited\"}"), "{m}");
    assert!(!m.contains("RangeTooLarge"), "{m}");
    assert!(
        http_from(MALLORY, r.handle.addr, "GET", "/api/head", None).await.0 == 200,
        "not banned"
    );
    r.stop().await;
}

/// A request-response round trip on an honest connection: it must keep working.
async fn round_trip(ws: &mut Ws) {
    send(ws, &json!({"type": "get_headers", "id": 77, "from": 0, "count": 1})).await;
    match next_of(ws, "headers").await {
        Got::Json(v) => assert_eq!(v["id"], 77, "{v}"),
        Got::Closed(reason) => panic!("the honest client was dropped: {reason:?}"),
    }
}

/// Reads until the relay closes `tcp` (EOF or reset) and returns what it sent.
async fn read_until_closed(tcp: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_clients_are_cut_off_and_no_address_takes_every_socket() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let chain_id = g.chain_id().to_hex();
    let limits = small_limits();
    let r = start_with(&g, dir.path(), limits.clone()).await;
    let addr = r.handle.addr;
    let mut honest = connect(&r).await;
    send(&mut honest, &hello(&chain_id, 1)).await;
    round_trip(&mut honest).await;

    // Slow-loris from 127.0.0.3: half its sockets say nothing, half send an upgrade request a
    // byte every 100 ms (it would take 10 s). One more is over the address's cap.
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    let opened = tokio::time::Instant::now();
    let mut loris = Vec::new();
    for i in 0..limits.max_per_ip {
        let (mut rd, mut wr) = tcp_from("127.0.0.3", addr).await.unwrap().into_split();
        let request = request.clone();
        let writer = tokio::spawn(async move {
            if i % 2 == 1 {
                for b in request.bytes() {
                    if wr.write_all(&[b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            // Held open (a dropped half would send FIN): the relay must be the one to close.
            std::future::pending::<()>().await;
            drop(wr);
        });
        loris.push(tokio::spawn(async move {
            let answer = read_until_closed(&mut rd).await;
            writer.abort();
            (answer, opened.elapsed())
        }));
    }
    wait_for("the slow sockets to be admitted", 10, || async {
        (r.handle.shared.gate.open() > limits.max_per_ip as u64).then_some(())
    })
    .await;
    let (status, body) = http_from("127.0.0.3", addr, "GET", "/api/head", None).await;
    assert_eq!(status, 429, "over the per-address cap: {body}");
    assert!(body.contains("too many connections from your address"), "{body}");
    // Another address fills the rest, and then the relay is full for everyone.
    let mut others = Vec::new();
    while others.len() + limits.max_per_ip + 1 < limits.max_open {
        others.push(tcp_from("127.0.0.4", addr).await.unwrap());
    }
    wait_for("every socket to be taken", 10, || async {
        (r.handle.shared.gate.open() == limits.max_open as u64).then_some(())
    })
    .await;
    let (status, body) = http_from("127.0.0.5", addr, "GET", "/api/head", None).await;
    assert_eq!(status, 503, "over the relay's cap: {body}");
    // The honest WebSocket, admitted before, is served all along.
    round_trip(&mut honest).await;

    // Every slow socket is closed once the header deadline passes, unanswered.
    for task in loris {
        let (answer, after) = task.await.unwrap();
        assert!(!answer.contains("101"), "a slow client was upgraded: {answer}");
        assert!(
            after < limits.header_timeout + Duration::from_secs(5),
            "a slow client held its socket for {after:?}"
        );
    }
    drop(others);
    wait_for("the slots to be freed", 10, || async {
        (r.handle.shared.gate.open() == 1).then_some(())
    })
    .await;
    let (status, body) = http_from("127.0.0.3", addr, "GET", "/api/head", None).await;
    assert_eq!(status, 200, "a freed address is served again: {body}");

    // A request whose body trickles in is answered 408 at the request deadline.
    let (mut rd, mut wr) = tcp_from("127.0.0.6", addr).await.unwrap().into_split();
    let head = format!(
        "POST /api/tx HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if wr.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let answer = read_until_closed(&mut rd).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    trickle.abort();

    round_trip(&mut honest).await;
    let m = metrics(&r).await;
    for kind in ["TooManyConnectionsFromAddress", "TooManyConnections"] {
        assert!(m.contains(&format!("memecoin_rejects_total{{reason=\"{kind}\"}}")), "{m}");
    }
    assert!(gauge(&m, "memecoin_refused_total") >= 2, "{m}");
    r.stop().await;
}

/// A client that asks and never reads: its replies fill the relay's outgoing queue, it is
/// dropped as too slow, and its socket is closed although it still reads nothing (the relay
/// used to wait forever to queue its close frame, keeping the socket and both tasks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_and_its_socket_closed() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let chain_id = g.chain_id().to_hex();
    let r = start(&g, dir.path(), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    wait_for("a few blocks", 20, || async { (r.head().await.0 >= 3).then_some(()) }).await;
    let mut honest = connect(&r).await;
    send(&mut honest, &hello(&chain_id, 1)).await;
    round_trip(&mut honest).await;

    // A small receive buffer, so the kernel holds little of what the relay writes.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.7:0".parse().unwrap()).unwrap();
    let tcp = socket.connect(r.handle.addr).await.unwrap();
    let (ws, _) =
        tokio_tungstenite::client_async(r.url(), tokio_tungstenite::MaybeTlsStream::Plain(tcp))
            .await
            .unwrap();
    let (mut sink, stream) = ws.split();
    sink.send(T::text(hello(&chain_id, 1).to_string())).await.unwrap();
    // Requests at 1,000 a second (under the rate cap), each answered with a few headers,
    // until the relay closes the socket: writing then fails.
    let ask = json!({"type": "get_headers", "id": 1, "from": 1, "count": 256}).to_string();
    let mut asked = 0u32;
    let dropped = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if sink.send(T::text(ask.clone())).await.is_err() {
                return;
            }
            asked += 1;
            if asked.is_multiple_of(10) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    })
    .await;
    assert!(dropped.is_ok(), "the relay still holds a non-reader after {asked} requests");
    assert!(asked as usize > memecoin_relay::limits::OUTGOING_QUEUE / 2, "{asked}");
    wait_for("the non-reader's socket to be released", 10, || async {
        (r.handle.shared.gate.open() == 1).then_some(())
    })
    .await;
    drop(stream);
    round_trip(&mut honest).await;
    let m = metrics(&r).await;
    assert!(m.contains("memecoin_rejects_total{reason=\"TooSlow\"}"), "{m}");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_learn_each_other_through_a_common_peer() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let r1 =
        start(&g, &dir.path().join("r1"), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    let r2 = start(&g, &dir.path().join("r2"), None, vec![r1.url()]).await;
    let r3 = start(&g, &dir.path().join("r3"), None, vec![r1.url()]).await;

    wait_for("R2 and R3 to learn each other's address", 20, || async {
        let knows =
            |from: &Relay, other: &Relay| from.handle.shared.peer_list().contains(&other.url());
        (knows(&r2, &r3) && knows(&r3, &r2)).then_some(())
    })
    .await;
    for r in [&r2, &r3] {
        wait_for("a relay to be connected to both others", 20, || async {
            (gauge(&metrics(r).await, "memecoin_relay_peers") >= 2).then_some(())
        })
        .await;
    }
    r3.stop().await;
    r2.stop().await;
    r1.stop().await;
}

/// `--no-peer-exchange`: R2 and R3 each dial R1 only; neither learns the other (R1 knows both
/// addresses only if they advertise them, and they do not), yet blocks reach both over R1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_without_peer_exchange_keep_to_their_configured_peers() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let r1 =
        start(&g, &dir.path().join("r1"), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    let fixed = |name: &str| memecoin_relay::Config {
        peer_exchange: false,
        ..memecoin_tests::config(&g, &dir.path().join(name), None, vec![r1.url()])
    };
    let r2 = memecoin_tests::launch(fixed("r2")).await.unwrap();
    let r3 = memecoin_tests::launch(fixed("r3")).await.unwrap();
    for r in [&r2, &r3] {
        wait_for("blocks to reach a relay without peer exchange", 20, || async {
            (r.head().await.0 >= 3).then_some(())
        })
        .await;
    }
    assert_eq!(r2.handle.shared.peer_list(), vec![r1.url()]);
    assert_eq!(r3.handle.shared.peer_list(), vec![r1.url()]);
    let known = r1.handle.shared.peer_list();
    assert!(!known.contains(&r2.url()) && !known.contains(&r3.url()), "{known:?}");
    for r in [&r2, &r3] {
        assert_eq!(gauge(&metrics(r).await, "memecoin_relay_peers"), 1);
    }
    r3.stop().await;
    r2.stop().await;
    r1.stop().await;
}

/// A block at `height` on a made-up `parent`, naming `proposer` and signed by `signer`, with an
/// empty body that matches its header.
fn block_on(
    g: &memecoin_core::genesis::Genesis,
    parent: Hash,
    height: u64,
    proposer: &SecretKey,
    signer: &SecretKey,
) -> Block {
    use memecoin_core::finality::Checkpoint;
    use memecoin_core::header::Header;
    let none = Checkpoint { height: 0, hash: g.chain_id() };
    let header = Header {
        height,
        slot: 1,
        parent,
        proposer: proposer.public_key(),
        tx_root: memecoin_core::merkle::root(&[]),
        state_root: Hash::ZERO,
        reveal: Hash::ZERO,
        validators: Hash::ZERO,
        next_validators: Hash::ZERO,
        justified: none,
        finalized: none,
        certificate: Hash::ZERO,
    };
    Block { header: header.sign(&g.chain_id(), signer), txs: vec![], certificate: None }
}

/// Blocks on made-up parents cost the relay a signature check each under the node
/// lock, for free. A bad signature (or a body its header does not commit to) is now struck,
/// checked before the lock; and a connection's blocks with unknown parents are looked at only
/// `MAX_UNKNOWN_PARENTS` a slot, the rest dropped unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_on_made_up_parents_are_struck_or_dropped_unread() {
    use memecoin_relay::net::MAX_UNKNOWN_PARENTS;
    let dir = tempfile::tempdir().unwrap();
    // Slots of a minute: the whole test is one slot, one budget.
    let g = genesis(1, 60_000);
    let chain_id = g.chain_id().to_hex();
    let r = start(&g, dir.path(), None, vec![]).await;
    let mallory = SecretKey::from_bytes(&[7; 32]).unwrap();
    let validator = keys::devnet_validator(0).unwrap().key;

    // In the validator's name, signed by Mallory: each a strike, the fifth closes.
    let mut ws = ws_from(MALLORY, &r).await.unwrap();
    send(&mut ws, &hello(&chain_id, 1)).await;
    for i in 0..MAX_STRIKES {
        let b = block_on(&g, Hash([i as u8 + 1; 32]), 2, &validator, &mallory);
        send(&mut ws, &json!({"type": "block", "block": hex_of(&b)})).await;
        match next_of(&mut ws, "error").await {
            Got::Json(e) => assert_eq!(e["reason"], "BadSignature: block", "{e}"),
            Got::Closed(reason) => panic!("closed before strike {i}: {reason:?}"),
        }
    }
    let reason = closed(&mut ws).await.expect("a close frame with a reason");
    assert!(reason.contains("too many invalid messages"), "{reason}");
    // And in a `blocks` message, or with a body its header does not commit to.
    let genuine = block_on(&g, Hash([9; 32]), 2, &mallory, &mallory);
    let mut tampered = genuine.clone();
    tampered.txs.push(transfer(&g, &mallory, 1));
    let forged = block_on(&g, Hash([8; 32]), 2, &validator, &mallory);
    for (i, (message, want)) in [
        (json!({"type": "blocks", "id": 5, "blocks": [hex_of(&forged)]}), "BadSignature: block"),
        (json!({"type": "block", "block": hex_of(&tampered)}), "InvalidBlock: WrongTxRoot"),
    ]
    .iter()
    .enumerate()
    {
        let mut ws = ws_from(&format!("127.0.2.{}", i + 1), &r).await.unwrap();
        send(&mut ws, &hello(&chain_id, 1)).await;
        send(&mut ws, message).await;
        match next_of(&mut ws, "error").await {
            Got::Json(e) => {
                assert!(e["reason"].as_str().unwrap().starts_with(want), "{want}: {e}")
            }
            Got::Closed(reason) => panic!("{want}: closed: {reason:?}"),
        }
    }

    // Well signed by a key of Mallory's own (no stake needed), on made-up parents: not struck
    // (an honest peer ahead of us sends blocks we cannot place), but only the budget is looked
    // at; the rest, as gossip or unasked `blocks`, is dropped before the node's lock.
    let mut ws = ws_from("127.0.0.3", &r).await.unwrap();
    send(&mut ws, &hello(&chain_id, 1)).await;
    let flood = 3 * MAX_UNKNOWN_PARENTS;
    for i in 0..flood {
        let b = block_on(&g, Hash([0x40 + i as u8; 32]), 2, &mallory, &mallory);
        let m = if i % 2 == 0 {
            json!({"type": "block", "block": hex_of(&b)})
        } else {
            json!({"type": "blocks", "id": 1_000 + i, "blocks": [hex_of(&b)]})
        };
        send(&mut ws, &m).await;
    }
    round_trip(&mut ws).await;
    let m = metrics(&r).await;
    let dropped = gauge(&m, "memecoin_rejects_total{reason=\"UnknownParentLimited\"}");
    assert_eq!(dropped, u64::from(flood - MAX_UNKNOWN_PARENTS), "{m}");
    r.stop().await;
}

/// After a `blocks` message the relay asks for the next range from the last
/// block's height + 1, a height the peer chooses: at `u64::MAX` that overflowed (a panic of
/// the connection's task in a debug build, a request from 0 in a release one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_at_the_last_height_does_not_overflow_the_sync() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 60_000);
    let r = start(&g, dir.path(), None, vec![]).await;
    let mallory = SecretKey::from_bytes(&[7; 32]).unwrap();
    // On genesis, so it is checked against a state and refused (a strike), which counts as
    // handled: the sync goes on from the height after it.
    let b = block_on(&g, g.chain_id(), u64::MAX, &mallory, &mallory);
    let mut ws = ws_from(MALLORY, &r).await.unwrap();
    send(&mut ws, &hello(&g.chain_id().to_hex(), 1)).await;
    send(&mut ws, &json!({"type": "blocks", "id": 1, "blocks": [hex_of(&b)]})).await;
    match next_of(&mut ws, "error").await {
        Got::Json(e) => {
            assert!(e["reason"].as_str().unwrap().starts_with("InvalidBlock: WrongHeight"), "{e}")
        }
        Got::Closed(reason) => panic!("closed: {reason:?}"),
    }
    round_trip(&mut ws).await;
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_sends_its_head_block_to_a_relay_peer_whatever_its_height() {
    // A peer higher than us may still be on a branch that loses to ours in fork choice (ours
    // has a higher justified checkpoint); height alone never made it ask for our branch
    // (simulation seeds 2295 and 3737: finality stalled after a partition healed).
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let data = dir.path().join("a");
    let a = start(&g, &data, Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    wait_for("a few blocks", 20, || async { (a.head().await.0 >= 2).then_some(()) }).await;
    a.stop().await;
    // The same chain, without the key: the head stays where it is.
    let b = start(&g, &data, None, vec![]).await;
    let head = b.head_hash().await.unwrap();
    let mut ws = connect(&b).await;
    let higher = json!({"type": "hello", "version": 1, "chain_id": g.chain_id().to_hex(),
        "role": "relay", "head_height": 1_000});
    send(&mut ws, &higher).await;
    let Got::Json(msg) = next_of(&mut ws, "block").await else { panic!("closed") };
    let block = Block::from_bytes(&hex::decode(msg["block"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(block.hash(), head);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_two_partition_finalizes_nothing_and_heals_into_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(4, 400);
    let v = |i: u32| Some(keys::devnet_validator(i).unwrap());
    let v0 = start(&g, &dir.path().join("v0"), v(0), vec![]).await;
    let v1 = start(&g, &dir.path().join("v1"), v(1), vec![v0.url()]).await;
    let v2 = start(&g, &dir.path().join("v2"), v(2), vec![]).await;
    let v3 = start(&g, &dir.path().join("v3"), v(3), vec![v2.url()]).await;
    let all = [v0, v1, v2, v3];

    tokio::time::sleep(Duration::from_secs(4)).await;
    for (i, r) in all.iter().enumerate() {
        let (head, fin) = r.head().await;
        assert_eq!(fin, 0, "validator {i} finalized with half the stake (head {head})");
        assert!(!r.handle.shared.peer_list().iter().any(|p| {
            let other = if i < 2 { &all[2..] } else { &all[..2] };
            other.iter().any(|o| &o.url() == p)
        }));
    }
    // Both sides made blocks of their own.
    assert!(all[0].head().await.0 > 0 && all[2].head().await.0 > 0);
    assert_ne!(all[0].head_hash().await, all[2].head_hash().await);

    assert!(all[1].handle.shared.learn_peer(&all[2].url()));
    for (i, r) in all.iter().enumerate() {
        wait_for(&format!("validator {i} to finalize after the heal"), 25, || async {
            (r.head().await.1 > 0).then_some(())
        })
        .await;
    }
    let mut min_final = u64::MAX;
    for r in &all {
        min_final = min_final.min(r.head().await.1);
    }
    for h in 1..=min_final {
        let first = all[0].finalized_hash_at(h).await;
        assert!(first.is_some());
        for r in &all[1..] {
            assert_eq!(r.finalized_hash_at(h).await, first, "finalized block at height {h}");
        }
    }
    for r in all {
        r.stop().await;
    }
}

/// Peer exchange from one peer cannot take the address book or pin the dialer:
/// Mallory tells a relay of 256 dead addresses (port 1 refuses at once; they sort before any
/// real port). An honest relay's address, told afterwards by another peer, is still remembered
/// and dialed, and the dead addresses are forgotten once they failed, freeing their dial slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_cannot_fill_the_address_book_or_pin_the_dialer() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let chain_id = g.chain_id().to_hex();
    let r =
        start(&g, &dir.path().join("r"), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    let honest = start(&g, &dir.path().join("honest"), None, vec![]).await;
    let dead = |a: &String| a.starts_with("ws://127.0.0.1:1/");

    let mut mallory = ws_from("127.0.2.1", &r).await.unwrap();
    send(&mut mallory, &hello(&chain_id, 1)).await;
    for m in 0..8 {
        let peers: Vec<String> = (0..32).map(|i| format!("ws://127.0.0.1:1/ws{m}-{i}")).collect();
        send(&mut mallory, &json!({"type": "peers", "peers": peers})).await;
    }
    round_trip(&mut mallory).await;
    let mut friend = ws_from("127.0.2.2", &r).await.unwrap();
    send(&mut friend, &hello(&chain_id, 1)).await;
    send(&mut friend, &json!({"type": "peers", "peers": [honest.url()]})).await;
    round_trip(&mut friend).await;

    let known = r.handle.shared.peer_list();
    assert!(known.contains(&honest.url()), "the honest address was not remembered: {known:?}");
    let from_mallory = known.iter().filter(|a| dead(a)).count();
    assert!(from_mallory <= memecoin_relay::peers::MAX_PER_SOURCE, "{from_mallory} kept");
    assert!(metrics(&r).await.contains("reason=\"PeerSourceFull\""));

    wait_for("the relay to dial the honest relay", 60, || async {
        (gauge(&metrics(&honest).await, "memecoin_relay_peers") >= 1).then_some(())
    })
    .await;
    wait_for("the dead addresses to be forgotten", 60, || async {
        (!r.handle.shared.peer_list().iter().any(dead)).then_some(())
    })
    .await;
    honest.stop().await;
    r.stop().await;
}
