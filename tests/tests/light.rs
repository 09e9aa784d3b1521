//! A light client believes no relay: it follows a real relay over `/ws` with finality proofs
//! only (one per epoch, or the newest alone by skipping), verifies an account proof against the finalized state root it verified
//! itself, and refuses a relay's lie about the balance.

use futures_util::{SinkExt, StreamExt};
use memecoin_core::address::Address;
use memecoin_core::encode::{Decode, Encode};
use memecoin_core::header::SignedHeader;
use memecoin_core::light::{self, AccountProof, FinalityProof, LightClient, LightError};
use memecoin_node::keys;
use memecoin_tests::{genesis, start, wait_for};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as T;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends `request` and returns the first message of type `reply`.
async fn ask(ws: &mut Ws, request: Value, reply: &str) -> Value {
    ws.send(T::text(request.to_string())).await.unwrap();
    let read = async {
        while let Some(Ok(msg)) = ws.next().await {
            if let T::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == reply {
                    return v;
                }
            }
        }
        panic!("connection ended before {reply}");
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("reply within 10 s")
}

fn decode<T: Decode>(v: &Value) -> T {
    T::from_bytes(&hex::decode(v.as_str().unwrap()).unwrap()).unwrap()
}

/// The headers between the client's finalized block and the proof's source (`get_headers`),
/// which link the source to it (PROTOCOL.md §13.4); none when the source is too far above.
async fn links_for(ws: &mut Ws, client: &LightClient, p: &FinalityProof) -> Vec<SignedHeader> {
    let mut links = Vec::new();
    let mut from = client.finalized().height + 1;
    let to = p.source.height.saturating_sub(1);
    if to.saturating_sub(client.finalized().height) > light::MAX_LINKS {
        return links;
    }
    while from <= to {
        let count = (to - from + 1).min(memecoin_core::wire::MAX_RANGE);
        let request = json!({"type": "get_headers", "id": 9, "from": from, "count": count});
        let reply = ask(ws, request, "headers").await;
        let headers = reply["headers"].as_array().unwrap();
        assert!(!headers.is_empty(), "the relay has headers {from}..={to}");
        links.extend(headers.iter().map(decode::<SignedHeader>));
        from += headers.len() as u64;
    }
    links.truncate(usize::try_from(to + 1 - (client.finalized().height + 1)).unwrap());
    links
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_light_client_follows_a_relay_across_epochs_and_catches_a_lie() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 250);
    let relay = start(&g, dir.path(), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    // Three epochs of 8 slots and more: the client must cross validator-set boundaries.
    wait_for("finality past three epochs", 60, || async {
        (relay.head().await.1 >= 26).then_some(())
    })
    .await;

    let (mut ws, _) = tokio_tungstenite::connect_async(relay.url()).await.unwrap();
    let hello = json!({"type": "hello", "version": 1, "chain_id": g.chain_id().to_hex(), "role": "browser"});
    ws.send(T::text(hello.to_string())).await.unwrap();

    let mut client = LightClient::from_genesis(&g).unwrap();
    let reply =
        ask(&mut ws, json!({"type": "get_finality", "id": 1, "since": 0}), "finality").await;
    let proofs: Vec<FinalityProof> =
        reply["proofs"].as_array().unwrap().iter().map(decode).collect();
    assert!(proofs.len() >= 3, "about one proof per epoch, got {}", proofs.len());
    for p in &proofs {
        let links = links_for(&mut ws, &client, p).await;
        client.accept_finality(p, &links).unwrap();
    }
    // As far as the proofs go: the last of each epoch that is over (a relay serves the stored
    // ones to a client from genesis), so its height depends on how many slots had blocks.
    assert_eq!(client.finalized().height, proofs.last().unwrap().source.height);
    assert!(client.epoch() >= 2);

    // The newest proof alone (`latest`): a client at genesis takes it by skipping the epochs
    // between (PROTOCOL.md §13.4), to the same place or further than the walk.
    let reply = ask(
        &mut ws,
        json!({"type": "get_finality", "id": 4, "since": 0, "latest": true}),
        "finality",
    )
    .await;
    let newest: Vec<FinalityProof> =
        reply["proofs"].as_array().unwrap().iter().map(decode).collect();
    assert_eq!(newest.len(), 1, "only the newest proof");
    let mut skipping = LightClient::from_genesis(&g).unwrap();
    let links = links_for(&mut ws, &skipping, &newest[0]).await;
    skipping.accept_finality(&newest[0], &links).unwrap();
    assert!(skipping.finalized().height >= client.finalized().height);
    assert!(skipping.epoch() >= 2, "several epochs skipped");
    let since = skipping.finalized().height;
    let reply = ask(
        &mut ws,
        json!({"type": "get_finality", "id": 5, "since": since, "latest": true}),
        "finality",
    )
    .await;
    let newer = reply["proofs"].as_array().unwrap();
    assert!(newer.iter().map(decode::<FinalityProof>).all(|p| p.source.height > since));

    // The dev account, proven against the root the client verified itself. If the relay
    // finalized more in between, the client catches up first and asks again.
    let dev = Address::from_public_key(&keys::devnet_dev_key().unwrap().public_key());
    let mut found = None;
    for _ in 0..50 {
        let r = ask(
            &mut ws,
            json!({"type": "get_account", "id": 2, "address": dev.to_text()}),
            "account",
        )
        .await;
        let header: SignedHeader = decode(&r["header"]);
        if header.hash() == client.finalized().hash {
            found = Some((header, decode::<AccountProof>(&r["proof"])));
            break;
        }
        let since = client.finalized().height;
        let reply =
            ask(&mut ws, json!({"type": "get_finality", "id": 3, "since": since}), "finality")
                .await;
        for p in reply["proofs"].as_array().unwrap().iter().map(decode::<FinalityProof>) {
            let links = links_for(&mut ws, &client, &p).await;
            let _ = client.accept_finality(&p, &links);
        }
    }
    let (header, proof) = found.expect("an account proof at the client's finalized block");
    let finalized = *client.finalized();
    assert_eq!(header.header.state_root, finalized.state_root);
    let account = light::verify_account(&finalized.state_root, &dev, &proof).unwrap().unwrap();
    assert_eq!(account.balance, keys::DEVNET_DEV_BALANCE);

    // A relay that inflates the balance is caught.
    let mut lie = proof.clone();
    lie.account.as_mut().unwrap().balance += 1;
    let lie = AccountProof::from_bytes(&lie.to_bytes()).unwrap();
    assert!(matches!(
        light::verify_account(&finalized.state_root, &dev, &lie),
        Err(LightError::AccountProof(_))
    ));
    relay.stop().await;
}

/// When the validator set changes (a wallet stakes and joins it), a light client still follows
/// the relay's finality proofs across every epoch boundary from genesis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_light_client_follows_finality_across_a_validator_set_change() {
    use memecoin_core::pos::HashChain;
    use memecoin_core::tx::{Tx, TxKind};
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 250);
    let relay = start(&g, dir.path(), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    wait_for("the first blocks", 30, || async { (relay.head().await.0 >= 2).then_some(()) }).await;
    let dev = keys::devnet_dev_key().unwrap();
    let commitment = HashChain::new(memecoin_core::hash::Hash([5; 32]), 100).commitment();
    let stake = Tx {
        chain_id: g.chain_id(),
        sender: dev.public_key(),
        nonce: 0,
        fee: g.params.min_fee,
        kind: TxKind::Stake { amount: 2_000_000_000, commitment },
    }
    .sign(&dev);
    let body = json!({ "tx": hex::encode(stake.to_bytes()) }).to_string();
    let (code, reply) =
        memecoin_tests::http(relay.handle.addr, "POST", "/api/tx", Some(&body)).await;
    assert_eq!(code, 200, "{reply}");
    // The stake joins the set two epoch boundaries later; follow a few epochs past that.
    wait_for("finality five epochs on", 90, || async {
        (relay.head().await.1 >= 48).then_some(())
    })
    .await;

    let (mut ws, _) = tokio_tungstenite::connect_async(relay.url()).await.unwrap();
    let hello = json!({"type": "hello", "version": 1, "chain_id": g.chain_id().to_hex(), "role": "browser"});
    ws.send(T::text(hello.to_string())).await.unwrap();
    let reply =
        ask(&mut ws, json!({"type": "get_finality", "id": 1, "since": 0}), "finality").await;
    let mut client = LightClient::from_genesis(&g).unwrap();
    let mut sets = std::collections::BTreeSet::new();
    for (i, p) in
        reply["proofs"].as_array().unwrap().iter().map(decode::<FinalityProof>).enumerate()
    {
        let epoch = g.params.epoch_of(p.target.header.slot);
        let links = links_for(&mut ws, &client, &p).await;
        client.accept_finality(&p, &links).unwrap_or_else(|e| {
            panic!("proof {i} (target epoch {epoch}, client epoch {}): {e}", client.epoch())
        });
        sets.insert(client.validator_set().hash());
    }
    assert!(sets.len() >= 2, "the set changed along the way");
    relay.stop().await;
}
