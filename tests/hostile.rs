//! Real relays on loopback against hostile and broken input, and against a split network:
//! an invalid peer is struck off and nothing it sent is forwarded; bad WebSocket input closes the
//! connection with a reason and leaves the relay serving; relays learn of each other through a
//! third; a 2|2 partition finalizes nothing, and once healed all four agree on one chain.

use futures_util::{SinkExt, StreamExt};
use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::crypto::SecretKey;
use memecoin_core::encode::{Decode, Encode};
use memecoin_core::hash::Hash;
use memecoin_core::tx::{SignedTx, Tx, TxKind};
use memecoin_relay::keys;
use memecoin_relay::net::MAX_STRIKES;
use memecoin_relay::node::TxStatus;
use memecoin_relay::wire::MAX_FRAME;
use memecoin_tests::{Relay, genesis, http, start, wait_for};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as T;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

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

    let mut ws = connect(&b).await;
    send(&mut ws, &hello(&chain_id, 1)).await;
    let mallory = SecretKey::from_bytes(&[7; 32]).unwrap();

    // A transfer from the dev account signed by another key.
    let bad_tx = transfer(&g, &mallory, 4_242);
    send(&mut ws, &json!({"type": "tx", "tx": hex_of(&bad_tx)})).await;

    // A real block re-signed by another key: its hash is the real block's (the signature is not
    // part of it), so the relay has it already and ignores the copy.
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
    // proposer signature is checked before anything the state root affects.
    let mut forged = real.clone();
    forged.header.header.state_root = Hash([0xab; 32]);
    forged.header = forged.header.header.clone().sign(&g.chain_id(), &mallory);
    let forged_hash = forged.hash();
    assert_ne!(forged_hash, real.hash());
    send(&mut ws, &json!({"type": "block", "block": hex_of(&forged)})).await;

    send(&mut ws, &json!({"type": "tx"})).await; // no `tx` field
    send(&mut ws, &json!({"type": "tx", "tx": "zz"})).await;
    send(&mut ws, &json!({"type": "vote", "vote": "00"})).await;

    let want = ["InvalidTx", "InvalidBlock", "BadMessage", "BadTx", "BadVote"];
    assert_eq!(want.len() as u32, MAX_STRIKES);
    for kind in want {
        match next_of(&mut ws, "error").await {
            Got::Json(e) => {
                let reason = e["reason"].as_str().unwrap();
                assert!(reason.starts_with(kind), "expected {kind}, got {e}");
                if kind == "InvalidBlock" {
                    assert!(reason.contains("BadProposerSignature"), "{e}");
                }
            }
            Got::Closed(reason) => panic!("closed before the {kind} error: {reason:?}"),
        }
    }
    let reason = closed(&mut ws).await;
    let reason = reason.expect("a close frame with a reason");
    assert!(reason.contains("too many invalid messages"), "{reason}");
    // And it is refused for a while: the upgrade is answered 403.
    let refused = tokio_tungstenite::connect_async(b.url()).await;
    let err = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("403"), "a struck-out peer must be refused, got {err:?}");

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
    let mut ws = connect(&r).await;
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

    let url = r.url();
    wait_for("the oversize sender to be refused (403)", 10, || {
        let url = url.clone();
        async move {
            let err = tokio_tungstenite::connect_async(url).await.err()?.to_string();
            err.contains("403").then_some(())
        }
    })
    .await;
    assert!(metrics(&r).await.contains("FrameTooLarge"));
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
