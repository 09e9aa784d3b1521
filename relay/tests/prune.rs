//! Pruning and the database tools on the real binary and real database files:
//!
//! 1. A devnet on 50 ms slots, as an archive node, past the shortest pruning window; stopped.
//! 2. `db prune` killed with SIGKILL at points spread over its run, then let finish; `db compact`
//!    the same. After every kill the database opens, its finalized block is the same, and it
//!    holds either everything or exactly the window (one transaction); compaction shrinks the file.
//! 3. The devnet restarted on the pruned data dir as a pruned node: it resumes, prunes on its
//!    own as finality moves, answers `get_blocks` below what it keeps with `NotAvailable: pruned
//!    below height N` (not a strike) and within it with blocks, and `/api/blocks/{height}` with
//!    410, while a light client's requests (finality, account proofs) are served.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/http.rs"]
mod support;
#[path = "support/ws.rs"]
mod ws;

const BIN: &str = env!("CARGO_BIN_EXE_memecoin-relay");
/// The smallest window a devnet allows (`Pruning::min_window`: the light clients' 1,024 links).
const WINDOW: u64 = 1024;

fn devnet(dir: &Path, port: u16, pruning: &str) -> Child {
    Command::new(BIN)
        .args(["devnet", "--validators", "1", "--slot-ms", "50", "--pruning", pruning])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A gauge of `/metrics`.
fn gauge(port: u16, name: &str) -> Option<u64> {
    let (_, body) = support::request(port, "GET", "/metrics", None)?;
    body.lines().find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn db(args: &[&str], data_dir: &Path) -> std::process::Output {
    Command::new(BIN).arg("db").args(args).arg("--data-dir").arg(data_dir).output().unwrap()
}

/// (finalized height, lowest stored height, entries of `blocks`) from `db stats`.
fn stats(data_dir: &Path) -> (u64, u64, u64) {
    let out = db(&["stats"], data_dir);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "db stats: {}", String::from_utf8_lossy(&out.stderr));
    let word = |prefix: &str, n: usize| -> u64 {
        let line = text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{text}"));
        line.split_whitespace().nth(n).unwrap().parse().unwrap()
    };
    (word("finalized", 2), word("heights", 1), word("blocks", 1))
}

/// Runs `db <args>` again and again, killing it after 0, 3, 6, … ms (each kill a fresh run on
/// what the last left) until one run finishes or a kill lands after the work was done (between
/// the last write and the exit); checks the database after every kill with `check`, which says
/// whether the work is complete. Returns how many runs were killed.
fn kill_loop(args: &[&str], data_dir: &Path, check: impl Fn() -> bool) -> usize {
    for (killed, delay_ms) in (0..).step_by(3).enumerate() {
        let mut child = Command::new(BIN)
            .arg("db")
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "db {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            return killed;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        if check() {
            return killed + 1;
        }
    }
    unreachable!()
}

#[test]
fn prune_and_compact_survive_kill_9_and_a_pruned_relay_says_what_it_no_longer_has() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("node-0");

    // 1. An archive devnet, well past the window.
    let port = support::free_port();
    let relay = devnet(dir.path(), port, "archive");
    wait_until("finality past the window", 240, || {
        gauge(port, "memecoin_finalized_height").is_some_and(|f| f > WINDOW + 300)
    });
    assert_eq!(gauge(port, "memecoin_pruned_below"), Some(0), "an archive node pruned");
    stop(relay);
    let (finalized, lowest, blocks) = stats(&data_dir);
    assert_eq!(lowest, 1);
    let below = finalized - WINDOW;

    // A window under the chain's minimum is refused, changing nothing.
    let out = db(&["prune", "--window", "100"], &data_dir);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("below this chain's minimum of 1024"), "{err}");
    assert_eq!(stats(&data_dir), (finalized, 1, blocks));

    // 2. Prune, killed part way again and again: all or nothing each time.
    let before_prune = std::fs::metadata(data_dir.join("chain.redb")).unwrap().len();
    let killed = kill_loop(&["prune", "--window", "1024"], &data_dir, || {
        let (f, low, n) = stats(&data_dir);
        assert_eq!(f, finalized, "finality moved under a prune");
        assert!(
            (low, n) == (1, blocks) || (low == below && n == blocks - (below - 1)),
            "half a prune: blocks from {low}, {n} of {blocks}"
        );
        low == below
    });
    let (f, low, n) = stats(&data_dir);
    assert_eq!((f, low), (finalized, below));
    assert_eq!(n, blocks - (below - 1));
    println!("db prune: {killed} runs killed, then blocks {blocks} -> {n}");

    let killed = kill_loop(&["compact"], &data_dir, || {
        assert_eq!(stats(&data_dir), (finalized, below, n), "a killed compaction lost data");
        false
    });
    let after_compact = std::fs::metadata(data_dir.join("chain.redb")).unwrap().len();
    println!("db compact: {killed} runs killed, then file {before_prune} -> {after_compact} bytes");
    assert!(after_compact < before_prune, "compaction did not shrink the file");

    // Export the finalized snapshot; import it into an empty data dir, killed part way again
    // and again: after each kill the data dir has no chain or the whole snapshot.
    let snapshot = dir.path().join("snapshot.bin");
    let out = db(&["export", "--out", snapshot.to_str().unwrap()], &data_dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let imported = dir.path().join("imported");
    let killed = kill_loop(&["import", "--from", snapshot.to_str().unwrap()], &imported, || {
        let out = db(&["stats"], &imported);
        let (text, err) =
            (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let whole = text.contains(&format!("finalized  height {finalized} "));
        assert!(
            err.contains("there is no database") || text.contains("finalized  genesis") || whole,
            "a killed import left: {text}{err}"
        );
        whole
    });
    assert_eq!(stats(&imported), (finalized, finalized, 1));
    println!("db import: {killed} runs killed, then a data dir at height {finalized}");
    let again = db(&["import", "--from", snapshot.to_str().unwrap()], &imported);
    assert!(String::from_utf8_lossy(&again.stderr).contains("has a chain already"));

    // 3. The same data dir as a pruned relay: resumes, prunes as finality moves, says so.
    let port = support::free_port();
    let relay = devnet(dir.path(), port, "1024");
    let chain_id = {
        let (_, body) = support::request(port, "GET", "/api/head", None).unwrap_or_default();
        let mut id = serde_json::from_str::<Value>(&body).ok().map(|v| v["chain_id"].clone());
        wait_until("the pruned relay serving", 60, || {
            id = support::request(port, "GET", "/api/head", None)
                .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
                .map(|v| v["chain_id"].clone())
                .filter(Value::is_string);
            id.is_some()
        });
        id.unwrap().as_str().unwrap().to_owned()
    };
    wait_until("a prune of its own", 120, || {
        gauge(port, "memecoin_pruned_below").is_some_and(|p| p > below)
    });
    let kept_from = gauge(port, "memecoin_pruned_below").unwrap();
    let took = gauge(port, "memecoin_prune_duration_ms").expect("the prune's duration");
    println!("the relay pruned below height {kept_from} in {took} ms");
    // Every tool refuses the data dir of a running relay, changing nothing.
    for args in
        [&["prune", "--window", "1024"][..], &["compact"], &["export", "--out", "/dev/null"]]
    {
        let out = db(args, &data_dir);
        assert!(!out.status.success(), "db {args:?} ran on a data dir in use");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is open in another process"), "db {args:?}: {err}");
    }
    let out = db(&["import", "--from", snapshot.to_str().unwrap()], &data_dir);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is open in another process"));
    let refused = ws::ask(
        port,
        &chain_id,
        serde_json::json!({
            "type": "get_blocks", "id": 7, "from": 1, "count": 16
        }),
    );
    assert_eq!(refused["type"], "error", "{refused}");
    let reason = refused["reason"].as_str().unwrap();
    assert!(reason.starts_with("NotAvailable: pruned below height "), "{reason}");
    let said: u64 = reason.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(said >= kept_from, "{reason}");
    let served = ws::ask(
        port,
        &chain_id,
        serde_json::json!({
            "type": "get_blocks", "id": 8, "from": said, "count": 4
        }),
    );
    assert_eq!(served["type"], "blocks", "{served}");
    assert_eq!(served["blocks"].as_array().unwrap().len(), 4, "{served}");
    let (status, body) = support::request(port, "GET", "/api/blocks/1", None).unwrap();
    assert_eq!(status, 410, "{body}");
    assert!(body.contains("pruned: this relay keeps blocks from height"), "{body}");
    // A light client's requests: the newest finality proof, an account proof.
    let finality = ws::ask(
        port,
        &chain_id,
        serde_json::json!({
            "type": "get_finality", "id": 9, "since": 0, "latest": true
        }),
    );
    assert_eq!(finality["proofs"].as_array().map(Vec::len), Some(1), "{finality}");
    let dev = memecoin_node::keys::devnet_dev_key().unwrap();
    let address = memecoin_core::address::Address::from_public_key(&dev.public_key());
    let account = ws::ask(
        port,
        &chain_id,
        serde_json::json!({
            "type": "get_account", "id": 10, "address": address.to_text(), "at": "finalized"
        }),
    );
    assert_eq!(account["type"], "account", "{account}");
    // The imported data dir, as a relay of its own, follows the devnet from its snapshot.
    let port2 = support::free_port();
    let follower = Command::new(BIN)
        .args(["run", "--genesis"])
        .arg(dir.path().join("genesis.json"))
        .arg("--data-dir")
        .arg(&imported)
        .args(["--listen", &format!("127.0.0.1:{port2}")])
        .args(["--peer", &format!("ws://127.0.0.1:{port}/ws")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the imported relay following", 120, || {
        gauge(port2, "memecoin_finalized_height").is_some_and(|f| f > finalized + 200)
    });
    stop(follower);
    stop(relay);
    let (_, low, n) = stats(&data_dir);
    assert!(low > below, "blocks from {low}");
    assert!(n < WINDOW + WINDOW / 8 + 300, "{n} blocks kept");
}
