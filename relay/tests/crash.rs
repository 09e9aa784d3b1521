//! Crashes and faults on the real `memecoin-relay` binary, each relay its own process with its
//! own database file:
//!
//! - `kill -9` a relay again and again at random points while it imports and syncs blocks (a
//!   validator keeps producing blocks with transactions meanwhile). After every restart the store
//!   opens, no finalized block is lost, an account proof from the restored state checks against
//!   the chain's state root, and the relay catches up with the validator.
//! - A disk that fills up (the file-size limit of the process, `ulimit -f`): the relay says so
//!   and stops with an error; restarted with room, it opens its store intact and goes on.
//! - A data dir that cannot be one (a file in its place): a clear error at start.
//!
//! `MEMECOIN_CRASH_KILLS` (default 10) and `MEMECOIN_CRASH_SEED` (default 1) set the kill loop;
//! `cargo xtask crash --kills 100` runs it long. Figures go to stdout (`--nocapture`).

use memecoin_core::address::Address;
use memecoin_core::crypto::SecretKey;
use memecoin_core::encode::{Decode, Encode};
use memecoin_core::genesis::{Genesis, GenesisAccount, GenesisValidator};
use memecoin_core::header::SignedHeader;
use memecoin_core::light::{self, AccountProof};
use memecoin_core::params::Params;
use memecoin_core::tx::{Tx, TxKind};
use memecoin_node::keys;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[path = "support/http.rs"]
mod support;

use support::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_memecoin-relay");
/// Short slots, so that a few seconds hold many blocks to import and sync.
const SLOT_MS: u64 = 250;

/// A small deterministic generator (SplitMix64): the kill points of a seed are the same on every
/// run, up to the timing of the processes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.next() % (max + 1))
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One HTTP/1.1 request; the status and the JSON body, `None` if the relay is not answering.
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> Option<(u16, Value)> {
    let (status, body) = support::request(port, method, path, body)?;
    Some((status, serde_json::from_str(&body).ok()?))
}

fn get(port: u16, path: &str) -> Option<Value> {
    match http(port, "GET", path, None)? {
        (200, v) => Some(v),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Head {
    height: u64,
    finalized: u64,
}

fn head(port: u16) -> Option<Head> {
    let v = get(port, "/api/head")?;
    Some(Head { height: v["height"].as_u64()?, finalized: v["finalized_height"].as_u64()? })
}

/// The hash of the block the relay has at `height` on its chain (finalized or head branch).
fn hash_at(port: u16, height: u64) -> Option<String> {
    get(port, &format!("/api/blocks/{height}"))?["hash"].as_str().map(str::to_owned)
}

/// The test chain: one validator, short slots, a funded account.
struct Chain {
    dir: tempfile::TempDir,
    genesis: Genesis,
    user: SecretKey,
}

impl Chain {
    fn new() -> Chain {
        let dir = tempfile::tempdir().unwrap();
        let (validator, secret) = keys::generate(100_000).unwrap();
        keys::save(&validator, &secret, &dir.path().join("validator.key")).unwrap();
        let user = keys::devnet_dev_key().unwrap();
        let mut genesis = Genesis {
            chain_name: "memecoin-crash".into(),
            genesis_time_ms: memecoin_node::node::now_ms(),
            params: Params { slot_ms: SLOT_MS, ..Params::devnet() },
            accounts: vec![GenesisAccount {
                address: Address::from_public_key(&user.public_key()),
                balance: 1_000_000_000_000_000,
            }],
            validators: vec![GenesisValidator {
                key: validator.key.public_key(),
                stake: keys::DEVNET_STAKE,
                commitment: validator.chain.commitment(),
            }],
        };
        genesis.canonicalize();
        std::fs::write(dir.path().join("genesis.json"), genesis.to_json()).unwrap();
        Chain { dir, genesis, user }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A relay process: its arguments, so it can be started again on the same data dir and port.
struct Relay {
    name: String,
    port: u16,
    args: Vec<String>,
    log: PathBuf,
    /// Prefix for `sh -c` (a `ulimit`), if any.
    limit: Option<String>,
    child: Option<Child>,
}

impl Relay {
    fn new(chain: &Chain, name: &str, validator: bool, peer: Option<u16>) -> Relay {
        let port = free_port();
        let mut args = vec![
            "run".to_string(),
            "--genesis".into(),
            chain.path("genesis.json").display().to_string(),
            "--data-dir".into(),
            chain.path(name).display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ];
        if validator {
            args.extend([
                "--validator-key".into(),
                chain.path("validator.key").display().to_string(),
            ]);
        }
        if let Some(peer) = peer {
            args.extend(["--peer".into(), format!("ws://127.0.0.1:{peer}/ws")]);
        }
        let log = chain.path(&format!("{name}.log"));
        Relay { name: name.into(), port, args, log, limit: None, child: None }
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut command = match &self.limit {
            // `trap '' XFSZ`: an over-size write then fails with EFBIG instead of killing the
            // process, as a full disk fails a write with ENOSPC.
            Some(limit) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(format!("trap '' XFSZ; {limit}; exec \"$0\" \"$@\"")).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        command.args(&self.args).env("RUST_LOG", "warn");
        // Logs go to stdout, errors to stderr: both into the one log file.
        let out = log.try_clone().unwrap();
        let child = command.stdout(out).stderr(log).stdin(Stdio::null()).spawn().unwrap();
        self.child = Some(child);
    }

    /// `kill -9`, and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the relay answers, or panics with its log (the store did not open, say).
    fn wait_ready(&mut self, secs: u64) -> Head {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(h) = head(self.port) {
                return h;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("{} exited ({status}) at start:\n{}", self.name, self.log_text());
            }
            assert!(Instant::now() < deadline, "{} not ready:\n{}", self.name, self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Offers transfers to `port` until stopped, so blocks carry transactions and change state.
fn feed(chain: &Chain, port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let (genesis, user) = (chain.genesis.clone(), chain.user.clone());
    std::thread::spawn(move || {
        let mut nonce = 0;
        let mut accepted = 0;
        while !stop.load(Ordering::Relaxed) {
            let tx = Tx {
                chain_id: genesis.chain_id(),
                sender: user.public_key(),
                nonce,
                fee: genesis.params.min_fee,
                kind: TxKind::Transfer { to: Address([(nonce % 7) as u8 + 1; 20]), amount: 1_000 },
            }
            .sign(&user);
            let body = format!(r#"{{"tx":"{}"}}"#, hex::encode(tx.to_bytes()));
            match http(port, "POST", "/api/tx", Some(&body)) {
                Some((200, _)) => {
                    nonce += 1;
                    accepted += 1;
                }
                // Out of step (a nonce gap, say): start again from the head's nonce.
                _ => {
                    std::thread::sleep(Duration::from_millis(300));
                    let address = Address::from_public_key(&user.public_key());
                    if let Some(v) = get(port, &format!("/api/accounts/{address}?at=head")) {
                        nonce = v["nonce"].as_u64().unwrap_or(nonce);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(40));
        }
        accepted
    })
}

/// The relay's state, checked against the chain: an account proof from its finalized state
/// verifies against the state root of a header the validator has at that height.
fn check_state(relay: u16, validator: u16, address: &Address) {
    let v = get(relay, &format!("/api/accounts/{address}")).expect("account proof");
    let header =
        SignedHeader::from_bytes(&hex::decode(v["header"].as_str().unwrap()).unwrap()).unwrap();
    let proof =
        AccountProof::from_bytes(&hex::decode(v["proof"].as_str().unwrap()).unwrap()).unwrap();
    let account = light::verify_account(&header.header.state_root, address, &proof)
        .expect("the restored state's proof checks against the header's state root");
    // Amounts are decimal strings (HTTP API version 2).
    let balance = v["balance"].as_str().and_then(|b| b.parse::<u64>().ok());
    assert_eq!(account.map(|a| a.balance), balance.filter(|b| *b > 0));
    assert_eq!(
        hash_at(validator, header.header.height),
        Some(header.hash().to_hex()),
        "the relay's finalized block is the validator's"
    );
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(secs), "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

#[test]
fn kill_9_during_import_and_sync_loses_no_finalized_block() {
    let kills = env_u64("MEMECOIN_CRASH_KILLS", 10);
    let seed = env_u64("MEMECOIN_CRASH_SEED", 1);
    let mut rng = Rng(seed);
    let chain = Chain::new();
    let mut validator = Relay::new(&chain, "validator", true, None);
    validator.start();
    validator.wait_ready(30);
    let mut relay = Relay::new(&chain, "relay", false, Some(validator.port));
    relay.start();
    relay.wait_ready(30);
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = feed(&chain, validator.port, stop.clone());
    wait_until("first finality", 30, || head(relay.port).is_some_and(|h| h.finalized >= 2));

    let user = Address::from_public_key(&chain.user.public_key());
    // The highest finalized block the relay reported, and its hash: it must never lose it.
    let (mut finalized, mut finalized_hash) = (0, String::new());
    let (mut during_sync, mut catch_ups, mut validator_kills) = (0, Vec::new(), 0);
    let mut validator_finalized = 0;
    for _ in 0..kills {
        // One kill in four hits the validator, in the middle of producing and storing blocks:
        // it must come back with its finalized chain and go on producing.
        if rng.next().is_multiple_of(4) {
            std::thread::sleep(rng.millis(1_000));
            if let Some(h) = head(validator.port) {
                validator_finalized = validator_finalized.max(h.finalized);
            }
            validator.kill();
            validator_kills += 1;
            std::thread::sleep(rng.millis(500));
            validator.start();
            let restarted = validator.wait_ready(30);
            assert!(restarted.finalized >= validator_finalized, "validator lost finality");
            wait_until("blocks after the validator's restart", 30, || {
                head(validator.port).is_some_and(|h| h.finalized > restarted.finalized)
            });
            continue;
        }
        // A random point in the relay's life: often still syncing what it missed while down.
        std::thread::sleep(rng.millis(1_000));
        if let (Some(h), Some(v)) = (head(relay.port), head(validator.port)) {
            if h.height < v.height {
                during_sync += 1;
            }
            if h.finalized > finalized
                && let Some(hash) = hash_at(relay.port, h.finalized)
            {
                (finalized, finalized_hash) = (h.finalized, hash);
            }
        }
        relay.kill();
        // Down for a while, so the restart has blocks to sync.
        std::thread::sleep(rng.millis(1_500));
        relay.start();
        let restarted = relay.wait_ready(30);
        assert!(
            restarted.finalized >= finalized,
            "finalized height {} after restart, {finalized} before",
            restarted.finalized
        );
        assert_eq!(
            hash_at(relay.port, finalized),
            Some(finalized_hash.clone()),
            "finalized block at {finalized} lost or replaced"
        );
        if finalized > 0 {
            assert_eq!(hash_at(validator.port, finalized), Some(finalized_hash.clone()));
        }
        check_state(relay.port, validator.port, &user);
        // Every other time, let it catch up before the next kill.
        if rng.next().is_multiple_of(2) {
            let target = head(validator.port).unwrap().finalized;
            catch_ups.push(wait_until("catch-up", 60, || {
                head(relay.port).is_some_and(|h| h.finalized >= target)
            }));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let accepted = feeder.join().unwrap();
    let target = head(validator.port).unwrap();
    catch_ups.push(wait_until("final catch-up", 60, || {
        head(relay.port).is_some_and(|h| h.finalized >= target.finalized)
    }));
    check_state(relay.port, validator.port, &user);
    catch_ups.sort();
    let max = catch_ups.last().copied().unwrap_or_default();
    let median = catch_ups.get(catch_ups.len() / 2).copied().unwrap_or_default();
    println!(
        "crash: seed {seed}, {kills} kills ({validator_kills} of the validator; of the relay's, \
         {during_sync} while behind the validator), 0 finalized blocks lost, {} state checks, \
         chain at height {} (finalized {}), {accepted} transfers accepted; catch-up after restart \
         median {} ms, max {} ms",
        kills - validator_kills + 1,
        target.height,
        target.finalized,
        median.as_millis(),
        max.as_millis()
    );
}

#[test]
fn a_full_disk_stops_the_relay_cleanly_and_its_store_reopens_intact() {
    let chain = Chain::new();
    let mut validator = Relay::new(&chain, "validator", true, None);
    validator.start();
    validator.wait_ready(30);
    let mut relay = Relay::new(&chain, "relay", false, Some(validator.port));
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = feed(&chain, validator.port, stop.clone());
    // Let the relay's database grow a little first, then cap its files at 1 MiB more than that.
    relay.start();
    relay.wait_ready(30);
    wait_until("first finality", 30, || head(relay.port).is_some_and(|h| h.finalized >= 2));
    relay.kill();
    let db = chain.path("relay").join(memecoin_node::store::FILE_NAME);
    let size = std::fs::metadata(&db).unwrap().len();
    relay.limit = Some(format!("ulimit -f {}", (size + (1 << 20)) / 512));
    relay.start();
    relay.wait_ready(30);
    let mut last = head(relay.port).unwrap();
    // It runs until a write does not fit, then stops by itself, saying why.
    let status = loop {
        if let Some(status) = relay.child.as_mut().unwrap().try_wait().unwrap() {
            break status;
        }
        if let Some(h) = head(relay.port) {
            last = h;
        }
        assert!(
            std::fs::metadata(&db).unwrap().len() <= size + (1 << 20),
            "the file outgrew its limit"
        );
        std::thread::sleep(Duration::from_millis(50));
        assert!(last.height < 2_000, "the relay never hit the limit:\n{}", relay.log_text());
    };
    relay.child = None;
    assert!(!status.success(), "a relay that cannot store must stop with an error");
    let log = relay.log_text();
    assert!(log.contains("storage failed, stopping the relay"), "{log}");
    assert!(log.contains("error: stopped: store: "), "{log}");

    // With room again, the store opens as it was committed: nothing finalized is lost.
    relay.limit = None;
    relay.start();
    let reopened = relay.wait_ready(30);
    assert!(reopened.finalized >= last.finalized, "{reopened:?} after {last:?}");
    let user = Address::from_public_key(&chain.user.public_key());
    check_state(relay.port, validator.port, &user);
    let target = head(validator.port).unwrap().finalized;
    wait_until("catch-up after the full disk", 60, || {
        head(relay.port).is_some_and(|h| h.finalized >= target)
    });
    stop.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
    println!(
        "disk full: stopped at height {} (finalized {}), reopened at finalized {}, caught up to {target}",
        last.height, last.finalized, reopened.finalized
    );
}

#[test]
fn a_data_dir_that_cannot_be_one_is_a_clear_error() {
    let chain = Chain::new();
    std::fs::write(chain.path("not-a-dir"), b"a file where the data dir should be").unwrap();
    let output = Command::new(BIN)
        .args(["run", "--genesis"])
        .arg(chain.path("genesis.json"))
        .args(["--data-dir"])
        .arg(chain.path("not-a-dir"))
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: ") && stderr.contains("not-a-dir"), "{stderr}");
    assert!(Path::new(&chain.path("not-a-dir")).is_file(), "the file is left as it was");
}
