//! Doppelganger protection on the real binary: three validators on 200 ms slots finalize; then
//! the first one's key file is started on a second node, as an operator who copied it to a new
//! machine without stopping the old one would. The second node watches before signing, sees
//! the key's votes and blocks from the first, says so in its log and never signs: nobody is
//! slashed and finality goes on. (Before: the same key on a second node was slashed by 50 %
//! within 8 s, with nothing in either log.)

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

#[path = "support/http.rs"]
mod support;

use support::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_memecoin-relay");

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

struct Relay {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Relay {
    fn start(dir: &Path, name: &str, key: &Path, peers: &[u16]) -> Relay {
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "--genesis", dir.join("genesis.json").to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--no-peer-exchange"])
            .arg("--data-dir")
            .arg(dir.join(name))
            .arg("--validator-key")
            .arg(key)
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for p in peers {
            cmd.args(["--peer", &format!("ws://127.0.0.1:{p}/ws")]);
        }
        Relay { child: cmd.spawn().unwrap(), port, log }
    }

    fn head(&self) -> Option<Value> {
        let (_, body) = support::request(self.port, "GET", "/api/head", None)?;
        serde_json::from_str(&body).ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every validator's stake, by public key, from `/api/validators`.
fn stakes(relay: &Relay) -> Vec<(String, String)> {
    let (_, body) = support::request(relay.port, "GET", "/api/validators", None).unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    let list = v["current"].as_array().unwrap_or_else(|| panic!("{v}"));
    let mut out: Vec<(String, String)> =
        list.iter().map(|x| (x["public_key"].to_string(), x["stake"].to_string())).collect();
    out.sort();
    out
}

#[test]
fn a_second_node_with_the_same_key_watches_sees_the_first_and_never_signs() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("v{i}.key"))).collect();
    let mut genesis = vec!["genesis", "--devnet", "--out"];
    let spec = dir.path().join("genesis.json");
    genesis.push(spec.to_str().unwrap());
    for key in &keys {
        run(&["keygen", "--out", key.to_str().unwrap()]);
        genesis.extend(["--validator-key", key.to_str().unwrap()]);
    }
    run(&genesis);
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
    json["params"]["slot_ms"] = Value::from(200);
    std::fs::write(&spec, json.to_string()).unwrap();

    let a = Relay::start(dir.path(), "a", &keys[0], &[]);
    let b = Relay::start(dir.path(), "b", &keys[1], &[a.port]);
    let c = Relay::start(dir.path(), "c", &keys[2], &[a.port, b.port]);
    // Each of them watched two epochs (16 slots) before signing: then finality.
    let finalized = |r: &Relay| r.head().and_then(|h| h["finalized_height"].as_u64()).unwrap_or(0);
    wait_until("finality", 90, || finalized(&c) >= 10);
    assert!(a.log().contains("doppelganger protection: no other node signed with this key"));
    let before = stakes(&a);

    // The same key as `a` on a second node.
    let twin = Relay::start(dir.path(), "twin", &keys[0], &[a.port, b.port, c.port]);
    wait_until("the twin sees the key signed elsewhere", 60, || {
        twin.log().contains("doppelganger: a ")
    });
    let seen = twin.log();
    assert!(seen.contains("This node will not sign"), "{seen}");
    // Long past its watch: it never signed, so there is nothing to slash and finality goes on.
    let at = finalized(&c);
    wait_until("finality going on", 60, || finalized(&c) >= at + 30);
    assert!(!twin.log().contains("proposed block"), "the twin proposed:\n{}", twin.log());
    assert_eq!(stakes(&a), before, "a validator was slashed");
    let (_, metrics) = support::request(twin.port, "GET", "/metrics", None).unwrap();
    assert!(metrics.contains("memecoin_validator_doppelganger 1"), "{metrics}");
    drop((a, b, c));
}
