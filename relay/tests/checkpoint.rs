//! Checkpoint sync on real relays, each its own process with its own database file
//! (PROTOCOL.md §16.11): a devnet validator and a relay following it serve; a new relay with an
//! empty data dir starts from the newest finalized block both agree on, downloads its state,
//! and follows the chain; killed with SIGKILL again and again while it syncs, it resumes and
//! gets there all the same. A trusted block nobody serves is a clear error.

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/http.rs"]
mod support;
#[path = "support/ws.rs"]
mod ws;

const BIN: &str = env!("CARGO_BIN_EXE_memecoin-relay");

fn spawn(args: &[&str], log: &Path) -> Child {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn head(port: u16) -> Option<Value> {
    let (status, body) = support::request(port, "GET", "/api/head", None)?;
    (status == 200).then(|| serde_json::from_str(&body).ok()).flatten()
}

fn finalized(port: u16) -> u64 {
    head(port).and_then(|h| h["finalized_height"].as_u64()).unwrap_or(0)
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_new_relay_starts_from_a_checkpoint_survives_kill_9_and_follows_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (pa, pb) = (support::free_port(), support::free_port());
    let a = spawn(
        &[
            "devnet",
            "--slot-ms",
            "50",
            "--listen",
            &format!("127.0.0.1:{pa}"),
            "--data-dir",
            &path("a"),
        ],
        &dir.path().join("a.log"),
    );
    wait_until("the devnet finalizing", 120, || finalized(pa) > 40);
    let genesis = path("a/genesis.json");
    let url_a = format!("ws://127.0.0.1:{pa}/ws");
    let b = spawn(
        &[
            "run",
            "--genesis",
            &genesis,
            "--data-dir",
            &path("b"),
            "--listen",
            &format!("127.0.0.1:{pb}"),
            "--peer",
            &url_a,
        ],
        &dir.path().join("b.log"),
    );
    wait_until("the second relay caught up", 120, || finalized(pb) > 60);
    let url_b = format!("ws://127.0.0.1:{pb}/ws");

    // The requests, as any client may send them: a checkpoint the relay does not hold is
    // NotAvailable (not a strike); too many hashes, or one that is not hex, is a strike.
    let chain_id = head(pa).unwrap()["chain_id"].as_str().unwrap().to_owned();
    let missing = ws::ask(
        pa,
        &chain_id,
        serde_json::json!({
            "type": "get_checkpoint", "id": 1, "hash": "ab".repeat(32)
        }),
    );
    assert_eq!(missing["reason"], "NotAvailable: no such block and state", "{missing}");
    let many = ws::ask(
        pa,
        &chain_id,
        serde_json::json!({
            "type": "get_nodes", "id": 2, "hashes": vec!["00".repeat(32); 65]
        }),
    );
    assert_eq!(many["reason"], "RangeTooLarge: 65 > 64 hashes", "{many}");
    let bad = ws::ask(
        pa,
        &chain_id,
        serde_json::json!({
            "type": "get_nodes", "id": 3, "hashes": ["zz"]
        }),
    );
    assert!(bad["reason"].as_str().unwrap().starts_with("BadHash: "), "{bad}");
    let finalized_hash = head(pa).unwrap()["finalized_hash"].as_str().unwrap().to_owned();
    let found = ws::ask(
        pa,
        &chain_id,
        serde_json::json!({
            "type": "get_checkpoint", "id": 4, "hash": finalized_hash
        }),
    );
    assert_eq!(found["type"], "checkpoint", "{found}");
    let state = hex::decode(found["state"].as_str().unwrap()).unwrap();
    let state =
        <memecoin_core::state::ChainState as memecoin_core::encode::Decode>::from_bytes(&state)
            .unwrap();
    let nodes = ws::ask(
        pa,
        &chain_id,
        serde_json::json!({
            "type": "get_nodes", "id": 5, "hashes": [state.accounts_root.to_hex()]
        }),
    );
    assert!(!nodes["nodes"].as_array().unwrap().is_empty(), "{nodes}");

    // An archive node replays from genesis: checkpoint sync is refused, saying why.
    let out = Command::new(BIN)
        .args(["run", "--genesis", &genesis, "--data-dir", &path("y"), "--listen", "127.0.0.1:0"])
        .args(["--checkpoint-sync-url", &url_a, "--pruning", "archive"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("an archive node keeps the whole history"), "{err}");

    // A trusted block nobody has: a clear error, and the data dir stays without a chain.
    let out = Command::new(BIN)
        .args(["run", "--genesis", &genesis, "--data-dir", &path("x"), "--listen", "127.0.0.1:0"])
        .args(["--checkpoint-sync-url", &url_a, "--checkpoint", &"ab".repeat(32)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no checkpoint relay serves block abab"), "{err}");

    // The joiner, killed again and again while it syncs, then let run.
    let pc = support::free_port();
    let joiner = |log: &str| {
        spawn(
            &[
                "run",
                "--genesis",
                &genesis,
                "--data-dir",
                &path("c"),
                "--listen",
                &format!("127.0.0.1:{pc}"),
                "--checkpoint-sync-url",
                &url_a,
                "--checkpoint-sync-url",
                &url_b,
            ],
            &dir.path().join(log),
        )
    };
    for (i, delay_ms) in [5u64, 20, 40, 80, 120, 200].into_iter().enumerate() {
        let c = joiner(&format!("c-killed-{i}.log"));
        std::thread::sleep(Duration::from_millis(delay_ms));
        stop(c);
    }
    for i in 0..6 {
        let log = std::fs::read_to_string(dir.path().join(format!("c-killed-{i}.log"))).unwrap();
        let last =
            log.lines().rfind(|l| l.contains("checkpoint")).unwrap_or("(killed before a word)");
        println!("killed run {i}: {last}");
    }
    let from = finalized(pa);
    let c = joiner("c.log");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(head(pc).and_then(|h| h["height"].as_u64()).is_some_and(|h| h > from + 40)
        && finalized(pc) > from)
    {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.path().join("c.log")).unwrap();
            panic!("the joiner is not following the chain:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(dir.path().join("c.log")).unwrap();
    let synced = log.lines().find(|l| l.contains("checkpoint sync: done")).unwrap_or_else(|| {
        // A killed run may have finished the sync: then this run resumed from its chain.
        log.lines()
            .find(|l| l.contains("no checkpoint sync, resuming"))
            .unwrap_or_else(|| panic!("{log}"))
    });
    println!("{synced}");
    // It starts from a checkpoint, not genesis: nothing below it is kept.
    let (_, metrics) = support::request(pc, "GET", "/metrics", None).unwrap();
    let pruned_below: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("memecoin_pruned_below "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pruned_below > 0, "the joiner replayed from genesis");
    let (status, _) = support::request(pc, "GET", "/api/blocks/1", None).unwrap();
    assert_eq!(status, 410);
    // Its state is the chain's: an account reads the same at the same finalized block.
    let dev = memecoin_core::address::Address::from_public_key(
        &memecoin_node::keys::devnet_dev_key().unwrap().public_key(),
    );
    let account = |port: u16| {
        let (status, body) =
            support::request(port, "GET", &format!("/api/accounts/{dev}"), None).unwrap();
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        (v["height"].as_u64().unwrap(), v["balance"].clone())
    };
    wait_until("the same account at the same height", 30, || {
        let (hc, bc) = account(pc);
        let (ha, ba) = account(pa);
        hc == ha && bc == ba
    });
    // Restarted, it resumes from its own chain.
    stop(c);
    let c = joiner("c-again.log");
    wait_until("the joiner back", 60, || finalized(pc) > from + 20);
    let log = std::fs::read_to_string(dir.path().join("c-again.log")).unwrap();
    assert!(log.contains("no checkpoint sync, resuming"), "{log}");
    for child in [c, b, a] {
        stop(child);
    }
}

/// Joining a chain whose state holds many accounts (`MEMECOIN_JOIN_ACCOUNTS`, default 2,000;
/// the benchmark of BENCHMARKS.md runs 10,000 on a release build) once it is
/// `MEMECOIN_JOIN_BLOCKS` long (default 20; the benchmark's 100,000 at
/// `MEMECOIN_JOIN_SLOT_MS=50` takes about 85 minutes): the time from the joiner's start to its
/// state checked and stored, and to its head within a slot of the validator's, on stdout. A
/// checkpoint sync's cost is the state's, not the chain's length: it fetches one state and the
/// blocks since the checkpoint.
#[test]
fn joining_a_state_of_many_accounts() {
    use memecoin_core::address::Address;
    use memecoin_core::genesis::{Genesis, GenesisAccount};
    let setting = |name: &str, default: u64| -> u64 {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let accounts = setting("MEMECOIN_JOIN_ACCOUNTS", 2_000);
    let blocks = setting("MEMECOIN_JOIN_BLOCKS", 20);
    let slot_ms = setting("MEMECOIN_JOIN_SLOT_MS", 200);
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["keygen", "--out", &path("v.json"), "--chain-length", "20000"]);
    run(&["genesis", "--devnet", "--validator-key", &path("v.json"), "--out", &path("g.json")]);
    let mut genesis =
        Genesis::from_json(&std::fs::read_to_string(path("g.json")).unwrap()).unwrap();
    genesis.params.slot_ms = slot_ms;
    for i in 0..accounts {
        let seed = memecoin_core::hash::tagged_hash(
            memecoin_core::hash::Domain::Reveal,
            &[&i.to_be_bytes()],
        );
        let mut address = [0u8; 20];
        address.copy_from_slice(&seed.0[..20]);
        genesis.accounts.push(GenesisAccount { address: Address(address), balance: 1 + i });
    }
    genesis.canonicalize();
    std::fs::write(path("g.json"), genesis.to_json()).unwrap();

    let (pa, pb, pc) = (support::free_port(), support::free_port(), support::free_port());
    let a = spawn(
        &[
            "run",
            "--genesis",
            &path("g.json"),
            "--validator-key",
            &path("v.json"),
            "--data-dir",
            &path("a"),
            "--listen",
            &format!("127.0.0.1:{pa}"),
        ],
        &dir.path().join("a.log"),
    );
    wait_until("the validator finalizing", 120, || finalized(pa) > 20);
    let url_a = format!("ws://127.0.0.1:{pa}/ws");
    // The second relay follows from the start, block by block, as a long-running peer would.
    let b = spawn(
        &[
            "run",
            "--genesis",
            &path("g.json"),
            "--data-dir",
            &path("b"),
            "--listen",
            &format!("127.0.0.1:{pb}"),
            "--peer",
            &url_a,
        ],
        &dir.path().join("b.log"),
    );
    // Twice the chain's time, and two minutes.
    let long = blocks.saturating_mul(slot_ms).saturating_mul(2) / 1000 + 120;
    wait_until("the chain long enough", long, || finalized(pa) >= blocks);
    wait_until("the second relay caught up", 120, || finalized(pb) + 4 > finalized(pa));
    let started = Instant::now();
    let c = spawn(
        &[
            "run",
            "--genesis",
            &path("g.json"),
            "--data-dir",
            &path("c"),
            "--listen",
            &format!("127.0.0.1:{pc}"),
            "--checkpoint-sync-url",
            &url_a,
            "--checkpoint-sync-url",
            &format!("ws://127.0.0.1:{pb}/ws"),
        ],
        &dir.path().join("c.log"),
    );
    let height = |port: u16| head(port).and_then(|h| h["height"].as_u64());
    wait_until(
        "the joiner at the validator's head",
        120,
        || matches!((height(pc), height(pa)), (Some(c), Some(a)) if c + 1 >= a),
    );
    let joined = started.elapsed();
    let log = std::fs::read_to_string(dir.path().join("c.log")).unwrap();
    let done = log
        .lines()
        .find(|l| l.contains("checkpoint sync: done"))
        .unwrap_or_else(|| panic!("{log}"));
    let field = |name: &str| -> u64 {
        done.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    println!(
        "checkpoint sync of {accounts} accounts: {} tree nodes checked and stored in {} ms; \
         following the chain {} ms after start (at height {}, {slot_ms} ms slots)",
        field("nodes"),
        field("ms"),
        joined.as_millis(),
        height(pc).unwrap()
    );
    assert!(field("nodes") > accounts, "every account's leaf and the inner nodes");
    for child in [c, b, a] {
        stop(child);
    }
}
