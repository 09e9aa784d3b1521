//! Several real relays on loopback: four validators and two plain relays produce, gossip and
//! finalize one chain; a transaction sent to one relay is finalized and visible at another; a
//! stopped validator leaves > 2/3 of stake and the chain goes on; restarted from its data dir,
//! it keeps its finalized blocks and catches up.

use memecoin_core::address::Address;
use memecoin_core::tx::{Tx, TxKind};
use memecoin_node::keys;
use memecoin_tests::{genesis, http, start, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_and_relays_finalize_one_chain_and_carry_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(4, 400);
    let v0 =
        start(&g, &dir.path().join("v0"), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    let mut relays = vec![];
    for i in 1..4 {
        relays.push(
            start(
                &g,
                &dir.path().join(format!("v{i}")),
                Some(keys::devnet_validator(i).unwrap()),
                vec![v0.url()],
            )
            .await,
        );
    }
    let r4 = start(&g, &dir.path().join("r4"), None, vec![relays[0].url()]).await;
    let r5 = start(&g, &dir.path().join("r5"), None, vec![relays[1].url()]).await;
    let mut all = vec![v0];
    all.extend(relays);
    all.push(r4);
    all.push(r5);

    // Every node finalizes at least 3 blocks.
    for (i, r) in all.iter().enumerate() {
        wait_for(&format!("node {i} to finalize"), 60, || async {
            (r.head().await.1 >= 3).then_some(())
        })
        .await;
    }
    // They agree on every finalized block.
    let min_final = {
        let mut m = u64::MAX;
        for r in &all {
            m = m.min(r.head().await.1);
        }
        m
    };
    for h in 1..=min_final {
        let first = all[0].finalized_hash_at(h).await;
        assert!(first.is_some());
        for r in &all[1..] {
            assert_eq!(r.finalized_hash_at(h).await, first, "finalized block at height {h}");
        }
    }

    // A transfer sent over HTTP to plain relay r4 is finalized and visible at plain relay r5.
    let dev = keys::devnet_dev_key().unwrap();
    let to = Address([7; 20]);
    let tx = Tx {
        chain_id: g.chain_id(),
        sender: dev.public_key(),
        nonce: 0,
        fee: g.params.min_fee,
        kind: TxKind::Transfer { to, amount: 12_345 },
    }
    .sign(&dev);
    let body =
        format!(r#"{{"tx":"{}"}}"#, hex::encode(memecoin_core::encode::Encode::to_bytes(&tx)));
    let (status, reply) = http(all[4].handle.addr, "POST", "/api/tx", Some(&body)).await;
    assert_eq!(status, 200, "{reply}");
    let id = tx.id().to_hex();
    let r5_addr = all[5].handle.addr;
    wait_for("the transfer to be finalized at r5", 60, || async {
        let (status, body) = http(r5_addr, "GET", &format!("/api/tx/{id}"), None).await;
        (status == 200 && body.contains("\"finalized\"")).then_some(())
    })
    .await;
    let (status, body) =
        http(r5_addr, "GET", &format!("/api/accounts/{}", to.to_text()), None).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["balance"], "12345", "amounts are decimal strings");

    // The same transaction again is refused with core's reason, as JSON.
    let (status, reply) = http(all[4].handle.addr, "POST", "/api/tx", Some(&body_of(&tx))).await;
    assert_eq!(status, 400);
    assert!(reply.contains("error"), "{reply}");

    // Stop validator 3 (1/4 of stake): the rest still finalize.
    let stopped = all.remove(3);
    let dir3 = stopped.dir.clone();
    let (_, fin_before) = stopped.head().await;
    let root_before =
        stopped.handle.shared.with_node(|n| n.finalized_state().map(|s| s.state_root())).await;
    stopped.stop().await;
    let target = all[0].head().await.1 + 3;
    wait_for("finality without validator 3", 60, || async {
        (all[0].head().await.1 >= target).then_some(())
    })
    .await;

    // Restarted from its data dir, it keeps what it had finalized and catches up.
    let back = start(&g, &dir3, Some(keys::devnet_validator(3).unwrap()), vec![all[0].url()]).await;
    let (_, fin_after_restart) = back.head().await;
    assert!(
        fin_after_restart >= fin_before,
        "finalized {fin_after_restart} < {fin_before} after restart"
    );
    let root_after =
        back.handle.shared.with_node(|n| n.finalized_state().map(|s| s.state_root())).await;
    if fin_after_restart == fin_before {
        assert_eq!(root_after, root_before);
    }
    wait_for("the restarted validator to catch up", 60, || async {
        (back.head().await.1 >= target).then_some(())
    })
    .await;

    for r in all {
        r.stop().await;
    }
    back.stop().await;
}

fn body_of(tx: &memecoin_core::tx::SignedTx) -> String {
    format!(r#"{{"tx":"{}"}}"#, hex::encode(memecoin_core::encode::Encode::to_bytes(tx)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_http_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(1, 400);
    let r = start(&g, dir.path(), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    let a = r.handle.addr;
    for (method, path, body, want) in [
        ("POST", "/api/tx", Some("not json"), 400),
        ("POST", "/api/tx", Some(r#"{"tx":"zz"}"#), 400),
        ("POST", "/api/tx", Some(r#"{"tx":"00"}"#), 400),
        ("GET", "/api/accounts/meme1notanaddress", None, 400),
        ("GET", "/api/tx/1234", None, 400),
        ("GET", "/api/blocks/999999", None, 404),
        ("GET", "/api/nothing", None, 404),
    ] {
        let (status, reply) = http(a, method, path, body).await;
        assert_eq!(status, want, "{method} {path}: {reply}");
        assert!(reply.contains("\"error\""), "{method} {path}: {reply}");
    }
    let (status, head) = http(a, "GET", "/api/head", None).await;
    assert_eq!(status, 200);
    for field in ["height", "hash", "slot", "finalized_height", "finalized_hash"] {
        assert!(head.contains(field), "{head}");
    }
    let (status, metrics) = http(a, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("memecoin_head_height"));
    r.stop().await;
}
