//! Liveness for days, on the real `memecoin-relay` binary, each relay its own process with its
//! own database file, on chain specs from `memecoin-relay genesis` with short slots (the
//! `slot_ms` of the spec edited, as an operator would):
//!
//! - a validator made with `keygen --chain-length 32` keeps proposing for hundreds of 50 ms slots, one block a slot: it
//!   renews its hash chain on its own (PROTOCOL.md §9.3), where it used to stop at height 32;
//! - two validators with equal stake: one is down for more than 4,096 slots. The other goes on
//!   alone, finality comes back once the absent one is left out as inactive (§9.5), and when
//!   it returns it syncs, shows it is alive on its own, is back in the set and votes again.
//!
//! - two validators with equal stake start apart (a partition from genesis), each building its
//!   own chain without finality for more than fork choice's window (1,024 blocks), then meet:
//!   the one behind takes the other's branch, which forks below its anchor (§12), and finality
//!   comes back on one chain. Each used to refuse the other's branch (`BelowAnchor`) for good.
//!
//! `MEMECOIN_LIVENESS_DOWN_SLOTS` (default 4,600: more than 4,096, and past the 4,112 slots after
//! which inactivity leaves it out) sets how long the second validator is down;
//! `cargo xtask liveness` runs this file on release binaries. Figures go to stdout
//! (`--nocapture`).

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/http.rs"]
mod support;

use support::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_memecoin-relay");

/// One HTTP/1.1 GET; the body, if the relay answered 200.
fn get_text(port: u16, path: &str) -> Option<String> {
    match support::request(port, "GET", path, None)? {
        (200, body) => Some(body),
        _ => None,
    }
}

fn get(port: u16, path: &str) -> Option<Value> {
    serde_json::from_str(&get_text(port, path)?).ok()
}

#[derive(Debug, Clone, Copy)]
struct Head {
    height: u64,
    slot: u64,
    finalized: u64,
}

fn head(port: u16) -> Option<Head> {
    let v = get(port, "/api/head")?;
    Some(Head {
        height: v["height"].as_u64()?,
        slot: v["slot"].as_u64()?,
        finalized: v["finalized_height"].as_u64()?,
    })
}

/// A gauge from `/metrics`.
fn gauge(port: u16, name: &str) -> Option<u64> {
    let text = get_text(port, "/metrics")?;
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Whether `address` is in the head state's current set; `None` if the relay did not answer.
fn in_current_set(port: u16, address: &str) -> Option<bool> {
    let v = get(port, "/api/validators")?;
    Some(v["current"].as_array()?.iter().any(|m| m["address"] == address))
}

/// Waits up to `limit` until `address` is (`member`) or is not in the current set.
fn wait_for_set(port: u16, address: &str, member: bool, limit: Duration) -> Head {
    wait_for_set_change(port, address, member, limit).1
}

/// Like [`wait_for_set`], also returning the last head read while `address` was still not
/// `member`: read before a look at the set that still showed the old membership, so it is a head
/// of that time, however late the poll notices the change (a loaded machine may notice it
/// slots after, when finality has already moved on).
fn wait_for_set_change(
    port: u16,
    address: &str,
    member: bool,
    limit: Duration,
) -> (Option<Head>, Head) {
    let start = Instant::now();
    let mut before = None;
    while start.elapsed() < limit {
        let h = head(port);
        match in_current_set(port, address) {
            Some(m) if m == member => return (before, head(port).unwrap()),
            Some(_) => before = h.or(before),
            None => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{address} in the current set: not {member} within {limit:?}");
}

/// Waits up to `limit` for `done` on the relay's head; panics with `what` and the last head.
fn wait_for(port: u16, limit: Duration, what: &str, done: impl Fn(Head) -> bool) -> Head {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < limit {
        if let Some(h) = head(port) {
            if done(h) {
                return h;
            }
            last = Some(h);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {limit:?}; last head {last:?}");
}

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `memecoin-relay keygen`; the key's address.
fn keygen(path: &Path, chain_length: u64) -> String {
    let out = run(&[
        "keygen",
        "--out",
        path.to_str().unwrap(),
        "--chain-length",
        &chain_length.to_string(),
    ]);
    out.lines().find_map(|l| l.strip_prefix("address:")).unwrap().trim().to_string()
}

/// `memecoin-relay genesis --devnet` for `keys`, starting now, with `slot_ms` edited into the spec.
fn genesis(dir: &Path, keys: &[&Path], slot_ms: u64) -> std::path::PathBuf {
    let path = dir.join("genesis.json");
    let mut args = vec!["genesis", "--devnet", "--out", path.to_str().unwrap()];
    for k in keys {
        args.extend(["--validator-key", k.to_str().unwrap()]);
    }
    run(&args);
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    spec["params"]["slot_ms"] = Value::from(slot_ms);
    std::fs::write(&path, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    path
}

/// A relay process, killed when dropped.
struct Relay {
    child: Child,
    port: u16,
}

impl Relay {
    fn start(genesis: &Path, key: &Path, data: &Path, port: u16, peers: &[u16]) -> Relay {
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "--genesis", genesis.to_str().unwrap(), "--listen", &listen])
            .args(["--data-dir", data.to_str().unwrap(), "--validator-key", key.to_str().unwrap()])
            .arg("--no-peer-exchange")
            .env(
                "RUST_LOG",
                std::env::var("MEMECOIN_LIVENESS_LOG").unwrap_or_else(|_| "warn".into()),
            )
            // The relay logs to stdout: warnings (or MEMECOIN_LIVENESS_LOG) with the test's.
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        for p in peers {
            cmd.args(["--peer", &format!("ws://127.0.0.1:{p}/ws")]);
        }
        let relay = Relay { child: cmd.spawn().unwrap(), port };
        wait_for(port, Duration::from_secs(60), "relay answers", |_| true);
        relay
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 32-reveal validator stopped at height 32 for good; here on 50 ms slots.
#[test]
fn a_validator_with_a_32_reveal_chain_keeps_proposing() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("validator.key");
    keygen(&key, 32);
    let spec = genesis(dir.path(), &[&key], 50);
    let relay = Relay::start(&spec, &key, &dir.path().join("data"), free_port(), &[]);
    let started = Instant::now();
    let h = wait_for(relay.port, Duration::from_secs(300), "height 400", |h| h.height >= 400);
    let left = gauge(relay.port, "memecoin_reveals_left").unwrap();
    println!(
        "32-reveal validator: height {} (finalized {}) at slot {} after {:.1} s; {left} reveals left",
        h.height,
        h.finalized,
        h.slot,
        started.elapsed().as_secs_f64()
    );
    assert!(h.finalized + 10 >= h.height, "finality keeps up: {h:?}");
    // The lone validator is elected in every slot. The relay used to tick every 100 ms
    // whatever the slot, so on 50 ms slots it proposed in about half of them.
    assert!(h.height + 20 >= h.slot, "a block in (nearly) every slot: {h:?}");
    assert!(left > 0);
}

/// Two equal validators, one down for more than 4,096 slots (and past the
/// inactivity bound, `INACTIVITY_EPOCHS + 2` epochs of 8 slots = 4,112 slots).
#[test]
fn two_equal_validators_recover_finality_after_one_was_down_for_4096_slots() {
    const SLOT_MS: u64 = 50;
    let down_slots: u64 = std::env::var("MEMECOIN_LIVENESS_DOWN_SLOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_600);
    let dir = tempfile::tempdir().unwrap();
    let (ka, kb) = (dir.path().join("a.key"), dir.path().join("b.key"));
    keygen(&ka, 1_000_000);
    let b_address = keygen(&kb, 1_000_000);
    let spec = genesis(dir.path(), &[&ka, &kb], SLOT_MS);
    let (pa, pb) = (free_port(), free_port());
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    let a = Relay::start(&spec, &ka, &da, pa, &[pb]);
    let b = Relay::start(&spec, &kb, &db, pb, &[pa]);
    // (A relay that starts long after genesis is left out as inactive at first, and comes
    // back on its own: the same path as below.)
    wait_for(pa, Duration::from_secs(120), "finality", |h| h.finalized >= 20);
    let joined = wait_for_set(pa, &b_address, true, Duration::from_secs(120));
    let h = wait_for(pa, Duration::from_secs(120), "finality with both", |h| {
        h.finalized > joined.height
    });
    println!("both up: {h:?}");
    // B goes down. A alone holds half the stake: nothing more can be justified until B is
    // left out, and the chain must go on meanwhile.
    drop(b);
    let down = head(pa).unwrap();
    let t0 = Instant::now();
    // Nothing is finalized while B is still in the set (the votes in flight aside): B's stake
    // is left out of the set INACTIVITY_EPOCHS + 2 epochs after its last activity.
    let (last_in, out) = wait_for_set_change(pa, &b_address, false, Duration::from_secs(900));
    let last_in = last_in.expect("a head while B was still in the set");
    let back =
        wait_for(pa, Duration::from_secs(120), "finality without B", |h| h.finalized > out.height);
    println!(
        "B down at slot {}: left out of the set at slot {} (height {}, finalized {}); finality \
         back at slot {} ({} slots after B went down, {:.1} s)",
        down.slot,
        out.slot,
        out.height,
        out.finalized,
        back.slot,
        back.slot - down.slot,
        t0.elapsed().as_secs_f64(),
    );
    assert!(
        last_in.finalized < down.height + 8,
        "finality moved while B was in the set: {last_in:?} (B went down at {down:?})"
    );
    let until = down.slot + down_slots;
    let h = wait_for(
        pa,
        Duration::from_secs(down_slots * SLOT_MS / 1000 * 3 + 120),
        "B's downtime",
        |h| h.slot >= until,
    );
    assert!(h.height > down.height + down_slots / 8, "the chain went on without B: {h:?}");
    assert!(h.finalized + 20 >= h.height, "finality kept up without B: {h:?}");
    // B comes back: it syncs A's chain, sends its renewal, and is in the set again.
    let t1 = Instant::now();
    let b = Relay::start(&spec, &kb, &db, pb, &[pa]);
    let synced = wait_for(pb, Duration::from_secs(300), "B syncs", |hb| hb.height >= h.height);
    println!(
        "B synced {} blocks in {:.1} s",
        synced.height - down.height,
        t1.elapsed().as_secs_f64()
    );
    // B holds half the stake again: finality from here on needs its votes.
    let rejoined = wait_for_set(pa, &b_address, true, Duration::from_secs(120));
    let h = wait_for(pa, Duration::from_secs(120), "finality with B back", |h| {
        h.finalized > rejoined.height + 5
    });
    let hb = wait_for(pb, Duration::from_secs(120), "B follows", |hb| hb.finalized >= h.finalized);
    println!(
        "B back in the set at height {} ({:.1} s after its restart); finalized {} on A, {} on B",
        rejoined.height,
        t1.elapsed().as_secs_f64(),
        h.finalized,
        hb.finalized
    );
    drop((a, b));
}

/// The head's hash, if the relay answered.
fn head_hash(port: u16) -> Option<String> {
    Some(get(port, "/api/head")?["hash"].as_str()?.to_string())
}

/// A partition in which both sides grow more than `WINDOW` (1,024) blocks without
/// justification (each holds half the stake) used to leave them on their own branches for good.
#[test]
fn two_sides_of_a_partition_longer_than_the_window_meet_on_one_chain() {
    const SLOT_MS: u64 = 50;
    const APART: u64 = 1_024 + 150;
    let dir = tempfile::tempdir().unwrap();
    let (ka, kb) = (dir.path().join("a.key"), dir.path().join("b.key"));
    keygen(&ka, 1_000_000);
    keygen(&kb, 1_000_000);
    let spec = genesis(dir.path(), &[&ka, &kb], SLOT_MS);
    let (pa, pb) = (free_port(), free_port());
    let (da, db) = (dir.path().join("a"), dir.path().join("b"));
    // Apart: neither knows the other.
    let a = Relay::start(&spec, &ka, &da, pa, &[]);
    let b = Relay::start(&spec, &kb, &db, pb, &[]);
    let limit = Duration::from_secs(APART * 2 * SLOT_MS / 1000 * 3 + 120);
    let t0 = Instant::now();
    for port in [pa, pb] {
        let h = wait_for(port, limit, "a long branch", |h| h.height >= APART);
        assert!(h.finalized <= 1, "half the stake justifies nothing: {h:?}");
    }
    let (ha, hb) = (head(pa).unwrap(), head(pb).unwrap());
    println!(
        "apart for {:.1} s: A at height {} (slot {}), B at height {} (slot {})",
        t0.elapsed().as_secs_f64(),
        ha.height,
        ha.slot,
        hb.height,
        hb.slot
    );
    // They meet: B restarts with A as its peer.
    drop(b);
    let t1 = Instant::now();
    let b = Relay::start(&spec, &kb, &db, pb, &[pa]);
    let start = Instant::now();
    let met = loop {
        assert!(start.elapsed() < Duration::from_secs(300), "A and B never met on one chain");
        let (Some(x), Some(y)) = (head(pa), head(pb)) else { continue };
        if x.height == y.height && head_hash(pa).is_some_and(|h| Some(h) == head_hash(pb)) {
            break x;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("on one chain at height {} after {:.1} s", met.height, t1.elapsed().as_secs_f64());
    let h = wait_for(pa, Duration::from_secs(120), "finality on one chain", |h| {
        h.finalized > met.height
    });
    let hb = wait_for(pb, Duration::from_secs(120), "B follows", |hb| hb.finalized >= h.finalized);
    println!(
        "finality back at slot {} ({:.1} s after they met); finalized {} on A, {} on B",
        h.slot,
        t1.elapsed().as_secs_f64(),
        h.finalized,
        hb.finalized
    );
    drop((a, b));
}
