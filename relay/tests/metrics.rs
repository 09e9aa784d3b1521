//! What an operator's Prometheus reads, on real processes: two relays that dialed each other are
//! one peer each (the count was of connections: 2 on a node with 1 peer), browsers are counted
//! apart, and the version, epoch, sync status, the validator's proposals, misses and votes, and
//! the process's memory, CPU and files are there.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;

#[path = "support/http.rs"]
mod support;

const BIN: &str = env!("CARGO_BIN_EXE_memecoin-relay");

struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, name: &str, port: u16, peer: u16, key: Option<&Path>) -> Relay {
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--genesis", dir.join("genesis.json").to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--peer", &format!("ws://127.0.0.1:{peer}/ws")])
        .args(["--data-dir", dir.join(name).to_str().unwrap(), "--doppelganger-epochs", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(key) = key {
        cmd.args(["--validator-key", key.to_str().unwrap()]);
    }
    Relay(cmd.spawn().unwrap())
}

fn metrics(port: u16) -> String {
    support::request(port, "GET", "/metrics", None).map(|(_, b)| b).unwrap_or_default()
}

fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn peers_are_counted_once_browsers_apart_and_an_operator_sees_the_validator_and_process() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("v.key");
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["keygen", "--out", key.to_str().unwrap()]);
    let spec = dir.path().join("genesis.json");
    run(&["genesis", "--devnet", "--slot-ms", "200", "--validator-key", key.to_str().unwrap()]
        .iter()
        .copied()
        .chain(["--out", spec.to_str().unwrap()])
        .collect::<Vec<_>>());

    // Each dials the other: two connections between them, one peer on each side.
    let (pa, pb) = (support::free_port(), support::free_port());
    let _a = start(dir.path(), "a", pa, pb, Some(&key));
    let _b = start(dir.path(), "b", pb, pa, None);
    wait_until("two connections each way", 60, || {
        [pa, pb].iter().all(|&p| gauge(&metrics(p), "memecoin_relay_connections") == Some(2.0))
    });
    for port in [pa, pb] {
        let text = metrics(port);
        assert_eq!(gauge(&text, "memecoin_relay_peers"), Some(1.0), "{text}");
        assert_eq!(gauge(&text, "memecoin_browsers"), Some(0.0), "{text}");
    }

    // A browser on `a`: a browser, not a peer.
    let (_, head) = support::request(pa, "GET", "/api/head", None).unwrap();
    let chain_id = serde_json::from_str::<Value>(&head).unwrap()["chain_id"].clone();
    let (mut ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{pa}/ws")).unwrap();
    let hello = serde_json::json!({
        "type": "hello", "version": 1, "chain_id": chain_id, "role": "browser", "head_height": 0
    });
    ws.send(tungstenite::Message::text(hello.to_string())).unwrap();
    wait_until("the browser counted", 30, || gauge(&metrics(pa), "memecoin_browsers") == Some(1.0));
    let text = metrics(pa);
    assert_eq!(gauge(&text, "memecoin_relay_peers"), Some(1.0), "{text}");

    // The validator's work, the chain's position, the build and the process.
    wait_until("blocks proposed", 60, || {
        gauge(&metrics(pa), "memecoin_blocks_proposed_total").is_some_and(|n| n >= 20.0)
    });
    let text = metrics(pa);
    assert!(gauge(&text, "memecoin_votes_total").is_some_and(|n| n >= 10.0), "{text}");
    assert_eq!(gauge(&text, "memecoin_slots_missed_total"), Some(0.0), "alone, it misses nothing");
    assert!(gauge(&text, "memecoin_epoch").is_some_and(|e| e >= 1.0), "{text}");
    assert_eq!(gauge(&text, "memecoin_syncing"), Some(0.0), "{text}");
    assert_eq!(gauge(&text, "memecoin_validator_signing"), Some(1.0), "{text}");
    assert!(text.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains("memecoin_build_info{"), "{text}");
    assert!(gauge(&text, "process_resident_memory_bytes").is_some_and(|b| b > 1e6), "{text}");
    assert!(gauge(&text, "process_open_fds").is_some_and(|n| n >= 3.0), "{text}");
    assert!(gauge(&text, "process_cpu_seconds_total").is_some_and(|s| s > 0.0), "{text}");
    assert!(gauge(&text, "memecoin_database_bytes").is_some_and(|b| b > 0.0), "{text}");
    // `b` has no key: no validator figures.
    assert!(!metrics(pb).contains("memecoin_votes_total"));
    drop(ws);
}
