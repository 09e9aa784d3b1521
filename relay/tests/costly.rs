//! Valid but costly: the attacks made of well-formed, signed messages, each in turn
//! against the real `memecoin-relay devnet` binary (4 validators in one process), while an honest
//! wallet sends transfers and waits for each answer. Per attack it reports what the issue's
//! target names: honest transfers accepted (and, at the end, included), slots left without a
//! block, the honest round trip against the idle phase, and the relay's peak memory.
//!
//! - `mempool`: 256 never-funded keys × 16 nonces at the highest fee over `submit_tx` (held
//!   transactions that once filled the pool and refused every honest one);
//! - `blocks`: blocks on made-up parents signed with a real validator key (the devnet's keys
//!   are public), each a valid signature on an unknown parent;
//! - `peers`: relays that announce dead addresses, 32 at a time, from 8 addresses;
//! - `requests`: the costliest reads, `get_finality` from 0, `get_blocks` of 256 and
//!   `get_account`, as fast as a connection may, from 4 addresses.
//!
//! The unbonding queue is measured by `cargo bench` (`unbonding_queue/*`): its cost is flat.
//!
//! `MEMECOIN_ATTACK_SECONDS` sets each phase's length (8 here, in CI; `cargo xtask attack` runs
//! 30 and prints the table for RELIABILITY.md). Asserted, loosely, because CI machines are
//! loaded: every honest transfer is accepted and included, the chain goes on in every phase (at
//! most half of its slots empty), the honest median stays within max(2 × idle, idle + 20 ms),
//! and the relay's peak resident memory stays under 1 GiB. The exact figures are printed.

use futures_util::{SinkExt, StreamExt};
use memecoin_core::block::Block;
use memecoin_core::crypto::SecretKey;
use memecoin_core::encode::Encode;
use memecoin_core::finality::Checkpoint;
use memecoin_core::genesis::Genesis;
use memecoin_core::hash::{Domain, Hash, tagged_hash};
use memecoin_core::header::Header;
use memecoin_core::tx::{SignedTx, Tx, TxKind};
use memecoin_node::keys;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Handle;
use tokio_tungstenite::tungstenite::Message as T;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_from(from: &str, addr: SocketAddr) -> Option<Ws> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(format!("{from}:0").parse().ok()?).ok()?;
    let tcp = socket.connect(addr).await.ok()?;
    let plain = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    tokio_tungstenite::client_async(format!("ws://{addr}/ws"), plain).await.ok().map(|(ws, _)| ws)
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

async fn head(addr: SocketAddr) -> (u64, u64) {
    let (_, body) = get(addr, "/api/head").await;
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    (v["height"].as_u64().unwrap_or(0), v["slot"].as_u64().unwrap_or(0))
}

fn hello(chain_id: &str, role: &str, listen: Option<String>) -> String {
    let mut h = json!({"type": "hello", "version": 1, "chain_id": chain_id, "role": role});
    if let Some(l) = listen {
        h["listen"] = json!(l);
    }
    h.to_string()
}

/// The relay's peak resident memory (`VmHWM`), in MiB.
fn peak_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sends `frames` on `ws` in a loop until the task is aborted, reading (and dropping) whatever
/// comes back so the relay never sees a client that does not read. Returns when the relay
/// closes the connection.
async fn flood(mut ws: Ws, first: String, frames: Vec<String>, sent: Arc<AtomicU64>) {
    if ws.send(T::text(first)).await.is_err() {
        return;
    }
    /// Stops the reader when the flood ends or its task is aborted at the end of a phase, so
    /// no connection of an earlier phase stays open into the next.
    struct Reader(tokio::task::JoinHandle<()>);
    impl Drop for Reader {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let (mut sink, mut stream) = ws.split();
    let _reader =
        Reader(tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} }));
    loop {
        for f in &frames {
            if sink.send(T::text(f.clone())).await.is_err() {
                return;
            }
            sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One phase's figures.
struct Row {
    name: &'static str,
    sent: usize,
    accepted: usize,
    txs: Vec<String>,
    rtt: Vec<Duration>,
    blocks: u64,
    slots: u64,
    peak_mib: f64,
    /// Frames the attackers sent a second: how hard the phase pressed.
    attack_rate: f64,
}

/// The honest wallet: a browser connection that sends a transfer from the dev account every
/// 100 ms (enough round trips a phase for a p99 that is not one outlier) and waits for its
/// `tx_result`, then reads its account at the head and waits for that
/// too; both round trips are timed.
struct Wallet {
    ws: Ws,
    key: SecretKey,
    chain_id: Hash,
    min_fee: u64,
    nonce: u64,
    id: u64,
}

impl Wallet {
    async fn ask(&mut self, msg: Value) -> Value {
        self.id += 1;
        let mut msg = msg;
        msg["id"] = json!(self.id);
        self.ws.send(T::text(msg.to_string())).await.unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(20), self.ws.next())
                .await
                .expect("the honest wallet waited 20 s for an answer");
            let Some(Ok(T::Text(t))) = frame else {
                assert!(matches!(frame, Some(Ok(_))), "the honest wallet was dropped: {frame:?}");
                continue;
            };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"] == self.id {
                return v;
            }
        }
    }

    async fn run(&mut self, seconds: u64, row: &mut Row) {
        let end = Instant::now() + Duration::from_secs(seconds);
        let dev = keys::devnet_dev_key().unwrap();
        while Instant::now() < end {
            let tx = Tx {
                chain_id: self.chain_id,
                sender: self.key.public_key(),
                nonce: self.nonce,
                fee: self.min_fee,
                kind: TxKind::Transfer { to: address_of(&dev, 1), amount: 1 },
            }
            .sign(&self.key);
            let sent = Instant::now();
            let reply =
                self.ask(json!({"type": "submit_tx", "tx": hex::encode(tx.to_bytes())})).await;
            row.rtt.push(sent.elapsed());
            row.sent += 1;
            if reply["accepted"] == true {
                row.accepted += 1;
                row.txs.push(tx.id().to_hex());
                self.nonce += 1;
            } else {
                eprintln!("honest transfer refused in {}: {reply}", row.name);
            }
            let address = memecoin_core::address::Address::from_public_key(&self.key.public_key());
            let sent = Instant::now();
            let reply = self
                .ask(json!({"type": "get_account", "address": address.to_text(), "at": "head"}))
                .await;
            assert_eq!(reply["type"], "account", "{reply}");
            row.rtt.push(sent.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A throw-away address (`i`) derived from `key`.
fn address_of(key: &SecretKey, i: u64) -> memecoin_core::address::Address {
    let k = junk_key(&format!("{}-{i}", hex::encode(key.public_key().as_bytes())), 0);
    memecoin_core::address::Address::from_public_key(&k.public_key())
}

fn junk_key(label: &str, i: u64) -> SecretKey {
    let h =
        tagged_hash(Domain::Reveal, &[b"costly attack key", label.as_bytes(), &i.to_be_bytes()]);
    SecretKey::from_bytes(h.as_bytes()).unwrap()
}

/// A block at `height` and `slot` on a made-up parent, proposed and validly signed by `key`,
/// with an empty body that matches its header.
fn block_on(g: &Genesis, parent: Hash, height: u64, slot: u64, key: &SecretKey) -> Block {
    let none = Checkpoint { height: 0, hash: g.chain_id() };
    let header = Header {
        height,
        slot,
        parent,
        proposer: key.public_key(),
        tx_root: memecoin_core::merkle::root(&[]),
        state_root: Hash::ZERO,
        reveal: Hash::ZERO,
        validators: Hash::ZERO,
        next_validators: Hash::ZERO,
        justified: none,
        finalized: none,
        certificate: Hash::ZERO,
    };
    Block { header: header.sign(&g.chain_id(), key), txs: vec![], certificate: None }
}

/// The attack of a phase, started on `addr`; its tasks are aborted when the phase ends.
fn attack(
    rt: &Handle,
    sent: &Arc<AtomicU64>,
    name: &str,
    addr: SocketAddr,
    g: &Genesis,
    height: u64,
    slot: u64,
) -> Vec<tokio::task::JoinHandle<()>> {
    let chain_id = g.chain_id().to_hex();
    let hex_of = |e: &dyn Fn() -> Vec<u8>| hex::encode(e());
    match name {
        "mempool" => {
            // Signed once; sent again and again.
            let frames: Vec<String> = (0..256u64)
                .flat_map(|k| {
                    let key = junk_key("mempool", k);
                    (0..16u64).map(move |nonce| (key.clone(), nonce))
                })
                .enumerate()
                .map(|(i, (key, nonce))| {
                    let tx: SignedTx = Tx {
                        chain_id: g.chain_id(),
                        sender: key.public_key(),
                        nonce,
                        fee: u64::MAX / 2,
                        kind: TxKind::Transfer { to: address_of(&key, 0), amount: 1 },
                    }
                    .sign(&key);
                    json!({"type": "submit_tx", "id": i, "tx": hex_of(&|| tx.to_bytes())})
                        .to_string()
                })
                .collect();
            (1..=3)
                .map(|i| {
                    let (frames, hello) = (frames.clone(), hello(&chain_id, "browser", None));
                    let sent = sent.clone();
                    rt.spawn(async move {
                        loop {
                            if let Some(ws) = ws_from(&format!("127.0.2.{i}"), addr).await {
                                flood(ws, hello.clone(), frames.clone(), sent.clone()).await;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    })
                })
                .collect()
        }
        "blocks" => {
            let keys: Vec<SecretKey> =
                (0..4).map(|i| keys::devnet_validator(i).unwrap().key).collect();
            let frames: Vec<String> = (0..512u64)
                .map(|i| {
                    let parent =
                        tagged_hash(Domain::Reveal, &[b"made-up parent", &i.to_be_bytes()]);
                    let key = &keys[(i % 4) as usize];
                    let b = block_on(g, parent, height + 2 + i % 8, slot.max(1), key);
                    json!({"type": "block", "block": hex::encode(b.to_bytes())}).to_string()
                })
                .collect();
            (1..=4)
                .map(|i| {
                    let (frames, hello) = (frames.clone(), hello(&chain_id, "relay", None));
                    let sent = sent.clone();
                    rt.spawn(async move {
                        let mut n = 0u32;
                        loop {
                            n += 1;
                            let from = format!("127.0.3.{}", (i * 50 + n % 50) % 250 + 1);
                            if let Some(ws) = ws_from(&from, addr).await {
                                flood(ws, hello.clone(), frames.clone(), sent.clone()).await;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    })
                })
                .collect()
        }
        "peers" => (1..=8u32)
            .map(|i| {
                let (chain_id, sent) = (chain_id.clone(), sent.clone());
                rt.spawn(async move {
                    let mut round = 0u32;
                    loop {
                        round += 1;
                        let dead = |j: u32| format!("ws://127.0.9.{i}:1/ws{round}-{j}");
                        let frames: Vec<String> = (0..8)
                            .map(|m| {
                                let peers: Vec<String> =
                                    (0..32).map(|j| dead(m * 32 + j)).collect();
                                json!({"type": "peers", "peers": peers}).to_string()
                            })
                            .collect();
                        let hello = hello(&chain_id, "relay", Some(dead(9999)));
                        if let Some(mut ws) = ws_from(&format!("127.0.4.{i}"), addr).await {
                            let _ = ws.send(T::text(hello)).await;
                            for f in frames {
                                if ws.send(T::text(f)).await.is_ok() {
                                    sent.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            let _ = ws.close(None).await;
                        }
                    }
                })
            })
            .collect(),
        "requests" => {
            let address = address_of(&keys::devnet_dev_key().unwrap(), 1).to_text();
            let frames = vec![
                json!({"type": "get_finality", "id": 1, "since": 0}).to_string(),
                json!({"type": "get_blocks", "id": 2, "from": 1, "count": 256}).to_string(),
                json!({"type": "get_account", "id": 3, "address": address, "at": "head"})
                    .to_string(),
                json!({"type": "get_headers", "id": 4, "from": 1, "count": 256}).to_string(),
            ];
            (1..=4)
                .map(|i| {
                    let (frames, hello) = (frames.clone(), hello(&chain_id, "browser", None));
                    let sent = sent.clone();
                    rt.spawn(async move {
                        loop {
                            if let Some(ws) = ws_from(&format!("127.0.5.{i}"), addr).await {
                                flood(ws, hello.clone(), frames.clone(), sent.clone()).await;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    })
                })
                .collect()
        }
        _ => vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_but_costly_attacks_leave_honest_users_served() {
    let seconds: u64 =
        std::env::var("MEMECOIN_ATTACK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    let mut relay = tokio::process::Command::new(env!("CARGO_BIN_EXE_memecoin-relay"))
        .args(["devnet", "--listen", "127.0.0.1:0", "--validators", "4"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = relay.id().unwrap();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<SocketAddr>();
    let mut lines = tokio::io::BufReader::new(relay.stdout.take().unwrap()).lines();
    tokio::spawn(async move {
        let mut addr_tx = Some(addr_tx);
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("relay listening") {
                let at = line.find("127.0.0.1:").unwrap();
                let port: String =
                    line[at + 10..].chars().take_while(char::is_ascii_digit).collect();
                if let Some(tx) = addr_tx.take() {
                    let _ = tx.send(format!("127.0.0.1:{port}").parse().unwrap());
                }
            }
        }
    });
    let addr = tokio::time::timeout(Duration::from_secs(60), addr_rx).await.unwrap().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while head(addr).await.0 < 2 {
        assert!(Instant::now() < deadline, "no blocks in 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, spec) = get(addr, "/api/genesis").await;
    let g = Genesis::from_json(&spec).unwrap();

    let mut ws = ws_from("127.0.0.1", addr).await.unwrap();
    ws.send(T::text(hello(&g.chain_id().to_hex(), "browser", None))).await.unwrap();
    let mut wallet = Wallet {
        ws,
        key: keys::devnet_dev_key().unwrap(),
        chain_id: g.chain_id(),
        min_fee: g.params.min_fee,
        nonce: 0,
        id: 0,
    };
    // The dev account's next nonce (the devnet may have used it).
    let dev = memecoin_core::address::Address::from_public_key(&wallet.key.public_key());
    let (_, body) = get(addr, &format!("/api/accounts/{}?at=head", dev.to_text())).await;
    wallet.nonce = serde_json::from_str::<Value>(&body).unwrap()["nonce"].as_u64().unwrap();

    // The attackers run on a runtime of their own: on one runtime the honest wallet's replies
    // queued behind the attackers' own sending and reading, a cost of this test bed (attacker and
    // wallet in one process) and not of the relay. Both still share the machine's two cores
    // with the relay, as before.
    let attackers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("attacker")
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for name in ["idle", "mempool", "blocks", "peers", "requests"] {
        let (h0, s0) = head(addr).await;
        let sent = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let tasks = attack(attackers.handle(), &sent, name, addr, &g, h0, s0);
        let mut row = Row {
            name,
            sent: 0,
            accepted: 0,
            txs: vec![],
            rtt: vec![],
            blocks: 0,
            slots: 0,
            peak_mib: 0.0,
            attack_rate: 0.0,
        };
        wallet.run(seconds, &mut row).await;
        for t in tasks {
            t.abort();
        }
        row.attack_rate = sent.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
        let (h1, s1) = head(addr).await;
        row.blocks = h1.saturating_sub(h0);
        row.slots = s1.saturating_sub(s0);
        row.peak_mib = peak_mib(pid);
        row.rtt.sort();
        rows.push(row);
        // Let the relay settle between attacks (bans expire after 60 s; each attack uses its
        // own addresses).
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // The heavy readers were slowed by the relay-wide read budget, not only each by its own.
    let (_, metrics) = get(addr, "/metrics").await;
    let shared_waits: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("memecoin_rejects_total{reason=\"ServeShared\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    println!("requests slowed by the relay-wide read budget (ServeShared): {shared_waits}");
    assert!(shared_waits > 0, "the relay-wide read budget never slowed a reader");

    // Every accepted honest transfer ends up in a block.
    let mut included = vec![0usize; rows.len()];
    let deadline = Instant::now() + Duration::from_secs(60);
    for (r, row) in rows.iter().enumerate() {
        for id in &row.txs {
            loop {
                let (status, body) = get(addr, &format!("/api/tx/{id}")).await;
                let st = serde_json::from_str::<Value>(&body).unwrap_or_default()["status"].clone();
                if status == 200 && (st == "included" || st == "finalized") {
                    included[r] += 1;
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "honest transfer {id} ({}) not included: {body}",
                    row.name
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    let idle = &rows[0];
    let (idle_p50, idle_p99) = (pct(&idle.rtt, 0.5), pct(&idle.rtt, 0.99));
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    println!("\nValid but costly attacks, {seconds} s each, 4-validator devnet ({build} build):");
    println!(
        "{:<9} {:>14} {:>9} {:>13} {:>17} {:>13} {:>9} {:>16}",
        "attack",
        "honest txs",
        "included",
        "empty slots",
        "p50 / p99 (ms)",
        "÷ idle p99",
        "peak MiB",
        "attack frames/s"
    );
    for (row, inc) in rows.iter().zip(&included) {
        let (p50, p99) = (pct(&row.rtt, 0.5), pct(&row.rtt, 0.99));
        let empty = row.slots.saturating_sub(row.blocks);
        println!(
            "{:<9} {:>6} / {:<6} {:>9} {:>6} of {:<5} {:>7.1} / {:<7.1} {:>13.2} {:>9.0} {:>16.0}",
            row.name,
            row.accepted,
            row.sent,
            inc,
            empty,
            row.slots,
            ms(p50),
            ms(p99),
            ms(p99) / ms(idle_p99).max(0.001),
            row.peak_mib,
            row.attack_rate
        );
    }
    for (row, inc) in rows.iter().zip(&included) {
        assert_eq!(row.accepted, row.sent, "{}: honest transfers refused", row.name);
        assert_eq!(*inc, row.accepted, "{}: honest transfers not included", row.name);
        assert!(
            row.blocks * 2 >= row.slots,
            "{}: {} blocks in {} slots",
            row.name,
            row.blocks,
            row.slots
        );
        let p50 = pct(&row.rtt, 0.5);
        let bound = (idle_p50 * 2).max(idle_p50 + Duration::from_millis(20));
        assert!(
            p50 <= bound,
            "{}: honest median {:.1} ms, idle {:.1} ms",
            row.name,
            ms(p50),
            ms(idle_p50)
        );
        assert!(row.peak_mib < 1024.0, "{}: peak {:.0} MiB", row.name, row.peak_mib);
    }
    let _ = relay.kill().await;
    attackers.shutdown_background();
}
