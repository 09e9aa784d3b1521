//! The devnet faucet on a real relay: `GET /api/faucet` describes it, `POST /api/faucet` pays an
//! address with a transfer that is finalized like any other, back-to-back requests get
//! consecutive nonces, `GET /api/accounts/{a}/txs` lists them for both sides, a repeat for the
//! same address is refused (429), bad input is a 400, a relay without a faucet says so (404), and
//! a drained faucet says why (503), and one that would hand out a blocking share of the stake
//! refuses (403).

use memecoin_core::address::Address;
use memecoin_node::keys;
use memecoin_relay::Config;
use memecoin_relay::faucet::FaucetConfig;
use memecoin_tests::{config, genesis, http, launch, start, wait_for};
use serde_json::Value;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faucet_pays_once_per_address_and_is_finalized() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 300);
    let dev = keys::devnet_dev_key().unwrap();
    let faucet = FaucetConfig::devnet(dev.clone());
    let amount = faucet.amount;
    let relay = launch(Config {
        faucet: Some(faucet),
        ..config(&g, &dir.path().join("v0"), Some(keys::devnet_validator(0).unwrap()), vec![])
    })
    .await
    .unwrap();
    let addr = relay.handle.addr;

    let (status, body) = http(addr, "GET", "/api/faucet", None).await;
    assert_eq!(status, 200, "{body}");
    let info = json(&body);
    assert_eq!(info["amount"], amount.to_string(), "amounts are decimal strings");
    assert_eq!(info["address"], Address::from_public_key(&dev.public_key()).to_text());

    // Wait for a head: before it, the faucet cannot pick a nonce.
    wait_for("a head", 30, || async { (relay.head().await.0 >= 1).then_some(()) }).await;

    // Two addresses in a row: the second transfer takes the nonce after the first (pending).
    let a = Address([1; 20]).to_text();
    let b = Address([2; 20]).to_text();
    let mut ids = vec![];
    for to in [&a, &b] {
        let (status, body) =
            http(addr, "POST", "/api/faucet", Some(&format!(r#"{{"address":"{to}"}}"#))).await;
        assert_eq!(status, 200, "{body}");
        let reply = json(&body);
        assert_eq!(reply["amount"], amount.to_string());
        // The transaction itself, for a wallet to read the amount from what its proof covers.
        let tx: memecoin_core::tx::SignedTx =
            memecoin_core::wire::decode_hex("tx", reply["tx"].as_str().unwrap()).unwrap();
        assert_eq!(tx.id().to_hex(), reply["tx_id"].as_str().unwrap());
        let paid = memecoin_core::tx::TxKind::Transfer { to: Address::parse(to).unwrap(), amount };
        assert_eq!(tx.tx.kind, paid);
        ids.push(reply["tx_id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        wait_for("the faucet's transfer to be finalized", 60, || async {
            let (status, body) = http(addr, "GET", &format!("/api/tx/{id}"), None).await;
            (status == 200 && body.contains("\"finalized\"")).then_some(())
        })
        .await;
    }
    for to in [&a, &b] {
        let (status, body) = http(addr, "GET", &format!("/api/accounts/{to}"), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["balance"], amount.to_string(), "{to}");
    }

    // The account listing names each payment, with the transaction's bytes.
    let (status, body) = http(addr, "GET", &format!("/api/accounts/{a}/txs"), None).await;
    assert_eq!(status, 200, "{body}");
    let listed = json(&body);
    let txs = listed["txs"].as_array().unwrap();
    assert_eq!(txs.len(), 1, "{body}");
    assert_eq!(txs[0]["tx_id"], ids[0].as_str());
    let tx: memecoin_core::tx::SignedTx =
        memecoin_core::wire::decode_hex("tx", txs[0]["tx"].as_str().unwrap()).unwrap();
    assert_eq!(tx.id().to_hex(), ids[0]);
    let from = Address::from_public_key(&dev.public_key()).to_text();
    let (status, body) = http(addr, "GET", &format!("/api/accounts/{from}/txs"), None).await;
    assert_eq!(status, 200, "{body}");
    let sent: Vec<String> = json(&body)["txs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tx_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, [ids[1].clone(), ids[0].clone()], "newest first");
    let (status, body) = http(addr, "GET", "/api/accounts/meme1nope/txs", None).await;
    assert_eq!(status, 400, "{body}");

    // The same address again within the minute: refused, nothing sent.
    let (status, body) =
        http(addr, "POST", "/api/faucet", Some(&format!(r#"{{"address":"{a}"}}"#))).await;
    assert_eq!(status, 429, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("funded recently"), "{body}");

    // Bad input.
    let (status, body) =
        http(addr, "POST", "/api/faucet", Some(r#"{"address":"meme1nope"}"#)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bad address"), "{body}");
    let (status, body) = http(addr, "POST", "/api/faucet", Some(r#"{"to":"x"}"#)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bad JSON"), "{body}");

    // A relay without a faucet.
    let plain = start(&g, &dir.path().join("r1"), None, vec![relay.url()]).await;
    let (status, body) = http(plain.handle.addr, "GET", "/api/faucet", None).await;
    assert_eq!((status, json(&body)["error"].as_str().unwrap()), (404, "no faucet on this relay"));
    let (status, body) =
        http(plain.handle.addr, "POST", "/api/faucet", Some(&format!(r#"{{"address":"{a}"}}"#)))
            .await;
    assert_eq!((status, json(&body)["error"].as_str().unwrap()), (404, "no faucet on this relay"));
    plain.stop().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_faucet_says_why_and_admits_nothing() {
    // A faucet whose account holds nothing (a key that was never funded): its transfer is
    // refused by the mempool, and the client hears why (503), not a transaction id.
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 300);
    let drained = memecoin_core::crypto::SecretKey::from_bytes(&[42; 32]).unwrap();
    let relay = launch(Config {
        faucet: Some(FaucetConfig::devnet(drained)),
        ..config(&g, dir.path(), None, vec![])
    })
    .await
    .unwrap();
    let to = Address([3; 20]).to_text();
    let (status, body) =
        http(relay.handle.addr, "POST", "/api/faucet", Some(&format!(r#"{{"address":"{to}"}}"#)))
            .await;
    assert_eq!(status, 503, "{body}");
    let error = json(&body)["error"].as_str().unwrap().to_string();
    assert!(error.starts_with("faucet: ") && error.contains("balance"), "{body}");
    let (status, body) = http(relay.handle.addr, "GET", "/api/head", None).await;
    assert_eq!((status, json(&body)["mempool"].as_u64()), (200, Some(0)), "{body}");
    relay.stop().await;
}

/// The faucet never hands out a blocking share of the stake. Paying a quarter of
/// the one validator's stake is fine once; a second quarter (the first pending or included)
/// would let one visitor who gathered both stake a third of the total, and is refused (403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_faucet_stops_short_of_a_blocking_share_of_the_stake() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 300);
    let faucet = FaucetConfig {
        amount: keys::DEVNET_STAKE / 4,
        ..FaucetConfig::devnet(keys::devnet_dev_key().unwrap())
    };
    let relay = launch(Config {
        faucet: Some(faucet),
        ..config(&g, &dir.path().join("v0"), Some(keys::devnet_validator(0).unwrap()), vec![])
    })
    .await
    .unwrap();
    let addr = relay.handle.addr;
    wait_for("a head", 30, || async { (relay.head().await.0 >= 1).then_some(()) }).await;
    let pay = |to: Address| async move {
        let body = format!(r#"{{"address":"{to}"}}"#);
        http(addr, "POST", "/api/faucet", Some(&body)).await
    };
    let (status, body) = pay(Address([5; 20])).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = pay(Address([6; 20])).await;
    assert_eq!(status, 403, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("blocking share"), "{body}");
    relay.stop().await;
}
