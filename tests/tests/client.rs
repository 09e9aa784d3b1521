//! The wallet's relay client (memecoin-wasm's `Client`, in Node.js) against real relays: it
//! follows finality, verifies an account and a transfer up to finality, resumes from a saved
//! checkpoint, reconnects with backoff to a relay that starts late, and catches three kinds of
//! lying relay — a forged balance, a certificate signed by a non-validator, and a second validly
//! signed block at a height (an equivocating proposer) — reporting each instead of believing it.
//!
//! The liars are proxies in front of a real relay that rewrite what it sends (`tests/src/liar.rs`).
//! The checks run in tests/js/client.mjs; this side starts the relays and proxies and reads the
//! script's output.

use memecoin_core::address::Address;
use memecoin_node::keys;
use memecoin_tests::liar::{self, Lie};
use memecoin_tests::{genesis, node_command, start, try_start_on, wait_for, wasm_pkg_for_node};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;

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
    let validator_address = Address::from_public_key(&proposer.public_key()).to_text();
    let a = start(&g, dirs[0].path(), Some(validator), vec![]).await;
    let b = start(&g, dirs[1].path(), None, vec![a.url()]).await;
    wait_for("finality", 60, || async { (a.head().await.1 >= 2).then_some(()) }).await;
    let genesis_file = build.path().join("genesis.json");
    std::fs::write(&genesis_file, g.to_json()).unwrap();

    // The same block height, validly signed twice by its (only) proposer: a client that hears
    // both from two relays must say they disagree.
    let equivocate = Lie::Equivocate(proposer.clone(), g.chain_id());
    let liars = (
        liar::start(b.url(), Lie::Balance).await,
        liar::start(b.url(), Lie::Certificate).await,
        liar::start(b.url(), equivocate).await,
        liar::start(b.url(), Lie::Fork(proposer.clone(), g.chain_id())).await,
        liar::start(b.url(), Lie::Swallow).await,
    );
    let liar_urls = json!({
        "account": liars.0.url(),
        "finality": liars.1.url(),
        "head": liars.2.url(),
        "fork": liars.3.url(),
        "swallow": liars.4.url(),
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
        "validator_key": proposer.public_key().to_hex(),
        "to": to,
        "liars": liar_urls,
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
    // 2.5 MEME, and the 1 base unit of the transfer the swallowing relay held back.
    assert!(body.contains("2500000001"), "{body}");
    // The evidence the client read off the two certificates reached relay a, which included
    // it: its one validator is slashed.
    wait_for("the forking validator slashed", 60, || async {
        let path = format!("/api/accounts/{validator_address}");
        let (_, body) = memecoin_tests::http(a.handle.addr, "GET", &path, None).await;
        let v: Value = serde_json::from_str(&body).ok()?;
        let stake =
            v["stake"].as_str().and_then(|s| s.parse::<u64>().ok()).or(v["stake"].as_u64())?;
        (stake < keys::DEVNET_STAKE).then_some(())
    })
    .await;
    if let Some(relay) = late_relay {
        relay.stop().await;
    }
    drop(liars);
    b.stop().await;
    a.stop().await;
}
