//! Checkpoint sync against lying relays (PROTOCOL.md §16.11): a relay joining from a liar and an
//! honest relay ends with the honest state, whatever the liar forges — a state that is not its
//! block's (the liar is asked no more), or nodes that are not the ones asked for (none is kept).

use memecoin_core::address::Address;
use memecoin_node::keys;
use memecoin_relay::checkpoint::CheckpointSync;
use memecoin_tests::liar::{self, Lie};
use memecoin_tests::{config, genesis, http, start, wait_for};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_ends_with_the_honest_state_whatever_a_liar_forges() {
    let g = genesis(1, 100);
    let dir = tempfile::tempdir().unwrap();
    let validator =
        start(&g, &dir.path().join("v"), Some(keys::devnet_validator(0).unwrap()), vec![]).await;
    wait_for("finality", 60, || async { (validator.head().await.1 > 20).then_some(()) }).await;
    let dev = Address::from_public_key(&keys::devnet_dev_key().unwrap().public_key());
    let balance = |addr| async move {
        let (status, body) = http(addr, "GET", &format!("/api/accounts/{dev}"), None).await;
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        (status == 200).then(|| (v["height"].as_u64().unwrap(), v["balance"].to_string()))
    };
    for (i, lie) in [Lie::Checkpoint, Lie::Nodes].into_iter().enumerate() {
        let liar = liar::start(validator.url(), lie.clone()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cs = CheckpointSync { urls: vec![liar.url(), validator.url()], trusted: None };
        let joiner = memecoin_relay::Config {
            checkpoint_sync: Some(cs),
            ..config(&g, &dir.path().join(format!("joiner-{i}")), None, vec![])
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(memecoin_relay::run(joiner, listener, async move {
            let _ = stopped.await;
        }));
        // Its state is the validator's: the same balance at the same finalized height.
        wait_for(
            &format!("the joiner past a liar ({lie:?}) agreeing with the validator"),
            60,
            || async {
                let ours = balance(addr).await?;
                let theirs = balance(validator.handle.addr).await?;
                (ours == theirs).then_some(())
            },
        )
        .await;
        let _ = stop.send(());
        let result = tokio::time::timeout(std::time::Duration::from_secs(20), task).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "the joiner failed: {result:?}");
    }
    validator.stop().await;
}
