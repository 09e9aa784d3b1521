//! `memecoin-load`: the load generator of `cargo xtask bench`, apart from the relay it loads. It
//! offers transfers to a relay over `/ws` at fixed rates and reports what it
//! accepted, how fast it answered, and how the chain kept up (head and finality).
//!
//! For a devnet (`memecoin-relay devnet`): it funds `--senders` accounts from the devnet's dev
//! account, then, for each rate in `--rates`, signs `rate × seconds` transfers up front (so that
//! signing never limits the rate), spreads them over `--connections` WebSocket connections and
//! sends them on a 10 ms tick. Every count is bounded by the arguments. One JSON object per rate
//! goes to stdout; progress goes to stderr.
//!
//! With `--invalid-rate N` it is an attacker instead: for `--seconds` it offers N invalid
//! `submit_tx` a second (transfers signed by the wrong key, and bad hex) over `--connections`
//! connections, reconnects whenever the relay drops one, and reports what the relay did: how many
//! connections it closed and why, how many it refused and with which status, and how long until
//! it first refused this address (`--bind` picks the address to attack from).

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use memecoin_core::address::Address;
use memecoin_core::crypto::SecretKey;
use memecoin_core::hash::Hash;
use memecoin_core::header::SignedHeader;
use memecoin_core::light::AccountProof;
use memecoin_core::tx::{Tx, TxKind};
use memecoin_core::wire::{At, Message, PROTOCOL_VERSION, Role, decode_hex, encode_hex};
use memecoin_node::keys;
use memecoin_wallet::hd;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as Frame;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Parser, Debug)]
#[command(name = "memecoin-load", about = "Offer transfers to a relay at fixed rates and measure")]
pub struct Cli {
    /// The relay's WebSocket endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
    /// Offered rates, transactions per second, one step each (`0`: none).
    #[arg(long, value_delimiter = ',', default_value = "250,500,1000,2000")]
    rates: Vec<u32>,
    /// Length of each step.
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// Funded accounts that send (each holds at most 64 pending transactions at a relay).
    #[arg(long, default_value_t = 512)]
    senders: u32,
    /// WebSocket connections the load is spread over (a relay caps each one's message rate).
    #[arg(long, default_value_t = 4)]
    connections: u32,
    /// Fee per transfer (the devnet's minimum by default).
    #[arg(long, default_value_t = 1_000)]
    fee: u64,
    /// The verify bound to report accepted/s against (cores × signature verifications per
    /// second, measured by the caller in the same run); omitted from the report when absent.
    #[arg(long)]
    bound: Option<f64>,
    /// After the load steps: open this many connections subscribed to heads and measure how
    /// long each new head takes to reach them (0: skip).
    #[arg(long, default_value_t = 0)]
    subscribers: u32,
    /// Heads to time in the fan-out and propagation measurements.
    #[arg(long, default_value_t = 10)]
    heads: u32,
    /// After the rest: subscribe to heads at each of these relays (`ws://…/ws`, comma
    /// separated) and time how long each new block takes to reach all of them.
    #[arg(long, value_delimiter = ',')]
    propagation: Vec<String>,
    /// Attack instead of load: offer this many invalid transactions a second for `--seconds`
    /// over `--connections` connections (0: off).
    #[arg(long, default_value_t = 0)]
    invalid_rate: u32,
    /// The local address to connect from (e.g. 127.0.0.2: on Linux all of 127.0.0.0/8 is
    /// loopback, so a relay can tell this client from others on the same host).
    #[arg(long)]
    bind: Option<std::net::IpAddr>,
    /// Offer the rates again and again until stopped: a steady load for a soak (`cargo xtask
    /// soak`), one report line a step.
    #[arg(long)]
    repeat: bool,
}

/// Upper bounds on what one run may do, whatever the arguments.
const MAX_RATE: u32 = 100_000;
const MAX_SECONDS: u32 = 600;
const MAX_SENDERS: u32 = 4_096;
const MAX_CONNECTIONS: u32 = 64;
const MAX_SUBSCRIBERS: u32 = 4_000;
const MAX_HEADS: u32 = 1_000;

/// Runs what `cli` asks for and prints its report, one JSON object a line, to stdout.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    anyhow::ensure!(cli.rates.iter().all(|&r| r <= MAX_RATE), "rates are 0..={MAX_RATE}");
    // `--rates 0`: no load steps (e.g. only `--propagation`).
    let rates: Vec<u32> = cli.rates.iter().copied().filter(|&r| r > 0).collect();
    anyhow::ensure!(cli.seconds > 0 && cli.seconds <= MAX_SECONDS, "seconds are 1..={MAX_SECONDS}");
    anyhow::ensure!(cli.senders > 0 && cli.senders <= MAX_SENDERS, "senders are 1..={MAX_SENDERS}");
    anyhow::ensure!(
        cli.connections > 0 && cli.connections <= MAX_CONNECTIONS,
        "connections are 1..={MAX_CONNECTIONS}"
    );
    anyhow::ensure!(cli.subscribers <= MAX_SUBSCRIBERS, "subscribers are 0..={MAX_SUBSCRIBERS}");
    anyhow::ensure!(cli.heads > 0 && cli.heads <= MAX_HEADS, "heads are 1..={MAX_HEADS}");
    if cli.invalid_rate > 0 {
        anyhow::ensure!(cli.invalid_rate <= MAX_RATE, "invalid rate is 0..={MAX_RATE}");
        println!("{}", flood(&cli).await?);
        return Ok(());
    }
    let (mut control, chain_id) = connect(&cli.url).await?;
    let dev = keys::devnet_dev_key()?;
    let phrase = hd::parse_phrase(keys::DEVNET_PHRASE)?;
    let seed = hd::seed_from_phrase(&phrase, "");
    // Account 3 of the devnet phrase: not the dev account (0) nor the validators (1).
    let senders: Vec<SecretKey> =
        (0..cli.senders).map(|i| hd::wallet_key(&seed, 3, i)).collect::<Result<_, _>>()?;
    let mut nonces = if rates.is_empty() {
        Vec::new()
    } else {
        fund(&mut control, chain_id, &dev, &senders, cli.fee).await?
    };

    let steps: Box<dyn Iterator<Item = &u32>> =
        if cli.repeat { Box::new(rates.iter().cycle()) } else { Box::new(rates.iter()) };
    for &rate in steps {
        let count = rate as usize * cli.seconds as usize;
        eprintln!("memecoin-load: signing {count} transfers for {rate} tx/s");
        // A relay strikes (and then bans) a connection over 2,000 messages a second: stay at or
        // under 1,000 a connection.
        let connections = cli.connections.max(rate.div_ceil(1_000)).min(MAX_CONNECTIONS);
        let batches =
            sign_round_robin(chain_id, &senders, &mut nonces, count, cli.fee, connections);
        let chain = Arc::new(Mutex::new(ChainWatch::default()));
        let watcher = tokio::spawn(watch_chain(cli.url.clone(), chain_id, chain.clone()));
        let started = Instant::now();
        let per_connection = f64::from(rate) / f64::from(connections);
        let tasks: Vec<_> = batches
            .into_iter()
            .map(|txs| {
                let url = cli.url.clone();
                tokio::spawn(async move { offer(&url, txs, per_connection).await })
            })
            .collect();
        let mut step = Step::default();
        for task in tasks {
            step.merge(task.await??);
        }
        let elapsed = started.elapsed().as_secs_f64();
        watcher.abort();
        let chain = chain.lock().map_err(|_| anyhow::anyhow!("watcher poisoned"))?.clone();
        let mut report = step.report(rate, elapsed, &chain);
        if let (Some(bound), Some(accepted)) = (cli.bound, report["accepted_per_s"].as_f64()) {
            report["bound_per_s"] = json!(bound);
            report["ratio"] = json!(accepted / bound);
        }
        println!("{report}");
        // Let the pool drain before the next step, so steps do not bleed into each other.
        tokio::time::sleep(Duration::from_secs(3)).await;
        // The senders' next nonces, from the chain: refused transfers left gaps.
        for (i, key) in senders.iter().enumerate() {
            pace(i).await;
            if let Some(n) = nonces.get_mut(i) {
                *n = account_nonce(
                    &mut control,
                    &Address::from_public_key(&key.public_key()),
                    At::Head,
                )
                .await?;
            }
        }
    }
    if cli.subscribers > 0 {
        println!("{}", fan_out(std::slice::from_ref(&cli.url), cli.subscribers, cli.heads).await?);
    }
    if !cli.propagation.is_empty() {
        anyhow::ensure!(cli.propagation.len() <= 64, "at most 64 relays to watch");
        let mut report = fan_out(&cli.propagation, cli.propagation.len() as u32, cli.heads).await?;
        report["relays"] = json!(cli.propagation.len());
        println!("{}", json!({ "propagation": report }));
    }
    Ok(())
}

/// Opens `subscribers` connections subscribed to heads and times `heads` new heads: for each,
/// from the moment the first subscriber has it to the moment each other one does (the relay's
/// fan-out).
/// With several `urls`, subscriber `i` connects to `urls[i % len]`: one per relay, the spread is
/// how long a block takes to reach every relay (propagation).
async fn fan_out(
    urls: &[String],
    subscribers: u32,
    heads: u32,
) -> anyhow::Result<serde_json::Value> {
    eprintln!("memecoin-load: {subscribers} subscribers on {} relays", urls.len());
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let mut tasks = Vec::new();
    for i in 0..subscribers as usize {
        let url = urls.get(i % urls.len().max(1)).ok_or_else(|| anyhow::anyhow!("no relay"))?;
        let (mut ws, _) = connect(url).await?;
        send(&mut ws, &Message::Subscribe { heads: true, finality: false, accounts: vec![] })
            .await?;
        let seen_tx = seen_tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Ok(m) = next(&mut ws).await {
                if let Message::Head { header } = m
                    && let Ok(h) = decode_hex::<SignedHeader>("header", &header)
                {
                    let _ = seen_tx.send((h.header.height, Instant::now()));
                }
            }
        }));
    }
    drop(seen_tx);
    // The current head arrives right after `subscribe`: time only heights first seen after
    // every subscriber is connected.
    let opened = Instant::now();
    let mut by_height: BTreeMap<u64, Vec<Instant>> = BTreeMap::new();
    let mut stale = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(u64::from(heads) * 5 + 30);
    while let Ok(Some((height, at))) =
        tokio::time::timeout_at(deadline.into(), seen_rx.recv()).await
    {
        if at < opened + Duration::from_millis(500) && !by_height.contains_key(&height) {
            stale.insert(height);
        }
        if stale.contains(&height) {
            continue;
        }
        by_height.entry(height).or_default().push(at);
        let complete = by_height.values().filter(|v| v.len() == subscribers as usize).count();
        if complete >= heads as usize {
            break;
        }
    }
    for t in tasks {
        t.abort();
    }
    let mut spread: Vec<f64> = Vec::new();
    let mut timed = 0;
    for times in by_height.values().filter(|v| v.len() == subscribers as usize).take(heads as usize)
    {
        timed += 1;
        let first = times.iter().min().copied().unwrap_or_else(Instant::now);
        spread.extend(times.iter().map(|t| (*t - first).as_secs_f64() * 1000.0));
    }
    spread.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let i = ((spread.len() as f64 - 1.0) * p).round() as usize;
        spread.get(i).copied().unwrap_or(0.0)
    };
    Ok(json!({
        "subscribers": subscribers,
        "heads_timed": timed,
        "fan_out_ms": { "p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0) },
    }))
}

/// What the relay did to an attacker, over all its connections.
#[derive(Debug, Default)]
struct Flood {
    sent: u64,
    opened: u64,
    /// Connection attempts refused, by HTTP status (or the error, if there was none).
    refused: BTreeMap<String, u64>,
    /// Connections the relay closed, by close reason.
    closed: BTreeMap<String, u64>,
    /// `error` replies received.
    errors: u64,
    /// When this address was first refused (403), from the start.
    first_ban: Option<Duration>,
}

/// `--invalid-rate`: offers invalid transactions for `--seconds` and reports the relay's answers.
pub async fn flood(cli: &Cli) -> anyhow::Result<serde_json::Value> {
    let (ws, chain_id) = connect_from(&cli.url, cli.bind).await?;
    drop(ws);
    // A transfer from the dev account signed by another key (bad signature), and bad hex.
    let dev = keys::devnet_dev_key()?;
    let mallory = SecretKey::from_bytes(&[7; 32]).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let forged = Tx {
        chain_id,
        sender: dev.public_key(),
        nonce: 0,
        fee: cli.fee,
        kind: TxKind::Transfer { to: Address([7; 20]), amount: 1 },
    };
    let forged = encode_hex(&forged.sign(&mallory));
    let payloads = Arc::new([forged, "zz".to_string()]);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(u64::from(cli.seconds));
    let report = Arc::new(Mutex::new(Flood::default()));
    let per_tick = f64::from(cli.invalid_rate) / f64::from(cli.connections) / 100.0;
    eprintln!(
        "memecoin-load: {} invalid tx/s over {} connections for {} s",
        cli.invalid_rate, cli.connections, cli.seconds
    );
    let tasks: Vec<_> = (0..cli.connections)
        .map(|_| {
            let (url, bind) = (cli.url.clone(), cli.bind);
            let (payloads, report) = (payloads.clone(), report.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(10));
                let mut owed = 0.0f64;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    tick.tick().await;
                    // One connection attempt per tick at most: refused, it waits for the next.
                    let mut ws = match connect_from(&url, bind).await {
                        Ok((ws, _)) => ws,
                        Err(e) => {
                            let e = e.to_string();
                            let status = ["403", "429", "503"]
                                .into_iter()
                                .find(|s| e.contains(s))
                                .map_or_else(|| e.clone(), str::to_string);
                            if let Ok(mut r) = report.lock() {
                                if status == "403" && r.first_ban.is_none() {
                                    r.first_ban = Some(started.elapsed());
                                }
                                *r.refused.entry(status).or_default() += 1;
                            }
                            continue;
                        }
                    };
                    if let Ok(mut r) = report.lock() {
                        r.opened += 1;
                    }
                    let closed = loop {
                        tokio::select! {
                            _ = tick.tick() => {
                                if Instant::now() >= deadline {
                                    break None;
                                }
                                owed += per_tick;
                                let mut sent = 0;
                                while owed >= 1.0 {
                                    owed -= 1.0;
                                    n += 1;
                                    let tx = payloads[(n % 2) as usize].clone();
                                    let m = Message::SubmitTx { id: n, tx };
                                    if ws.send(Frame::text(m.to_json())).await.is_err() {
                                        break;
                                    }
                                    sent += 1;
                                }
                                if let Ok(mut r) = report.lock() {
                                    r.sent += sent;
                                }
                            }
                            frame = ws.next() => match frame {
                                Some(Ok(Frame::Text(_))) => {
                                    if let Ok(mut r) = report.lock() {
                                        r.errors += 1;
                                    }
                                }
                                Some(Ok(Frame::Close(close))) => {
                                    break Some(close.map_or_else(String::new, |c| c.reason.to_string()));
                                }
                                Some(Ok(_)) => {}
                                Some(Err(_)) | None => break Some(String::new()),
                            },
                        }
                    };
                    if let (Some(reason), Ok(mut r)) = (closed, report.lock()) {
                        *r.closed.entry(reason).or_default() += 1;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let r = report.lock().map_err(|_| anyhow::anyhow!("report poisoned"))?;
    Ok(json!({
        "invalid_rate": cli.invalid_rate,
        "seconds": started.elapsed().as_secs_f64(),
        "sent": r.sent,
        "connections_opened": r.opened,
        "errors_received": r.errors,
        "closed": r.closed,
        "refused": r.refused,
        "first_ban_ms": r.first_ban.map(|d| d.as_secs_f64() * 1000.0),
    }))
}

/// [`connect`] from a local address of our choice.
async fn connect_from(url: &str, bind: Option<std::net::IpAddr>) -> anyhow::Result<(Ws, Hash)> {
    let Some(ip) = bind else { return connect(url).await };
    let host = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| anyhow::anyhow!("--bind needs a ws:// URL"))?;
    let addr: std::net::SocketAddr = tokio::net::lookup_host(host)
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host}: no address"))?;
    let socket = if ip.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(std::net::SocketAddr::new(ip, 0))?;
    let tcp = socket.connect(addr).await?;
    let (ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(tcp)).await?;
    handshake(ws).await
}

/// Opens a connection and completes the handshake; returns the relay's chain id.
async fn connect(url: &str) -> anyhow::Result<(Ws, Hash)> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await?;
    handshake(ws).await
}

/// Reads the relay's hello and answers it as a browser.
async fn handshake(mut ws: Ws) -> anyhow::Result<(Ws, Hash)> {
    let chain_id = loop {
        match next(&mut ws).await? {
            Message::Hello { chain_id, .. } => {
                break decode_hex::<Hash>("chain id", &chain_id).map_err(anyhow::Error::msg)?;
            }
            _ => continue,
        }
    };
    send(
        &mut ws,
        &Message::Hello {
            version: PROTOCOL_VERSION,
            chain_id: chain_id.to_hex(),
            role: Role::Browser,
            listen: None,
            head_height: 0,
        },
    )
    .await?;
    Ok((ws, chain_id))
}

async fn send(ws: &mut Ws, m: &Message) -> anyhow::Result<()> {
    ws.send(Frame::text(m.to_json())).await?;
    Ok(())
}

async fn next(ws: &mut Ws) -> anyhow::Result<Message> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await? {
            Some(Ok(Frame::Text(t))) => return Message::from_json(&t).map_err(anyhow::Error::msg),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("relay closed the connection"),
        }
    }
}

/// Keeps a run of requests on one connection under the relay's per-connection message rate
/// (2,000 a second): a pause after every 500.
async fn pace(i: usize) {
    if i % 500 == 499 {
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

/// The account's nonce at the relay's head (or finalized) state, from its proof. Waits (up to
/// 30 s) while the relay has no block yet to prove against.
async fn account_nonce(ws: &mut Ws, address: &Address, at: At) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        send(ws, &Message::GetAccount { id: 1, address: address.to_text(), at }).await?;
        let reason = loop {
            match next(ws).await? {
                Message::Account { proof, .. } => {
                    let proof: AccountProof =
                        decode_hex("proof", &proof).map_err(anyhow::Error::msg)?;
                    return Ok(proof.account.map_or(0, |a| a.nonce));
                }
                Message::Error { id: Some(1), reason } => break reason,
                _ => continue,
            }
        };
        if !reason.starts_with("NotAvailable") || Instant::now() > deadline {
            anyhow::bail!("get_account: {reason}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn transfer(
    chain_id: Hash,
    key: &SecretKey,
    nonce: u64,
    fee: u64,
    to: Address,
    amount: u64,
) -> String {
    let tx = Tx {
        chain_id,
        sender: key.public_key(),
        nonce,
        fee,
        kind: TxKind::Transfer { to, amount },
    };
    encode_hex(&tx.sign(key))
}

/// Gives every sender enough for the run, 64 transfers at a time (a sender's pending limit),
/// waiting for each batch to be included. Returns the senders' next nonces.
async fn fund(
    ws: &mut Ws,
    chain_id: Hash,
    dev: &SecretKey,
    senders: &[SecretKey],
    fee: u64,
) -> anyhow::Result<Vec<u64>> {
    let dev_address = Address::from_public_key(&dev.public_key());
    let mut nonce = account_nonce(ws, &dev_address, At::Head).await?;
    for batch in senders.chunks(64) {
        for key in batch {
            let tx = transfer(
                chain_id,
                dev,
                nonce,
                fee,
                Address::from_public_key(&key.public_key()),
                1_000_000_000_000,
            );
            send(ws, &Message::SubmitTx { id: 2, tx }).await?;
            nonce += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while account_nonce(ws, &dev_address, At::Head).await? < nonce {
            anyhow::ensure!(
                Instant::now() < deadline,
                "funding transfers were not included in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!("memecoin-load: funded {} senders", batch.len());
    }
    let mut nonces = Vec::with_capacity(senders.len());
    for (i, key) in senders.iter().enumerate() {
        pace(i).await;
        nonces
            .push(account_nonce(ws, &Address::from_public_key(&key.public_key()), At::Head).await?);
    }
    Ok(nonces)
}

/// `count` signed transfers, senders in turn, split into one list per connection.
fn sign_round_robin(
    chain_id: Hash,
    senders: &[SecretKey],
    nonces: &mut [u64],
    count: usize,
    fee: u64,
    connections: u32,
) -> Vec<Vec<String>> {
    let mut out = vec![Vec::with_capacity(count / connections as usize + 1); connections as usize];
    let sink = Address([0x5a; 20]);
    for i in 0..count {
        let s = i % senders.len();
        let (Some(key), Some(nonce)) = (senders.get(s), nonces.get_mut(s)) else { continue };
        let tx = transfer(chain_id, key, *nonce, fee, sink, 1);
        *nonce += 1;
        if let Some(list) = out.get_mut(i % connections as usize) {
            list.push(tx);
        }
    }
    out
}

/// What one step saw on one connection (merged across connections).
#[derive(Debug, Default)]
struct Step {
    sent: u64,
    accepted: u64,
    refused: BTreeMap<String, u64>,
    unanswered: u64,
    latencies: Vec<Duration>,
}

impl Step {
    fn merge(&mut self, other: Step) {
        self.sent += other.sent;
        self.accepted += other.accepted;
        self.unanswered += other.unanswered;
        for (k, v) in other.refused {
            *self.refused.entry(k).or_default() += v;
        }
        self.latencies.extend(other.latencies);
    }

    fn report(mut self, offered: u32, elapsed: f64, chain: &ChainWatch) -> serde_json::Value {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        json!({
            "offered_per_s": offered,
            "seconds": elapsed,
            "sent": self.sent,
            "accepted": self.accepted,
            "accepted_per_s": self.accepted as f64 / elapsed,
            "refused": self.refused,
            "unanswered": self.unanswered,
            "latency_ms": { "p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0) },
            "heads": chain.heads,
            "head_interval_ms_max": chain.max_head_gap.as_secs_f64() * 1000.0,
            "finality_lag_blocks_max": chain.max_lag,
        })
    }
}

/// Offers `txs` on one connection at `rate` per second; collects the replies.
async fn offer(url: &str, txs: Vec<String>, rate: f64) -> anyhow::Result<Step> {
    let (ws, _) = connect(url).await?;
    let (mut sink, mut stream) = ws.split();
    let total = txs.len();
    let sent_at: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let reader = {
        let sent_at = sent_at.clone();
        tokio::spawn(async move {
            let mut step = Step::default();
            let mut answered = 0;
            while answered < total {
                let frame = match tokio::time::timeout(Duration::from_secs(10), stream.next()).await
                {
                    Ok(Some(Ok(Frame::Text(t)))) => t,
                    Ok(Some(Ok(_))) => continue,
                    _ => break,
                };
                let Ok(Message::TxResult { id, accepted, reason, .. }) = Message::from_json(&frame)
                else {
                    continue;
                };
                answered += 1;
                if let Some(t) = sent_at.lock().ok().and_then(|mut m| m.remove(&id)) {
                    step.latencies.push(t.elapsed());
                }
                if accepted {
                    step.accepted += 1;
                } else {
                    // The reason without its numbers, so that counts group.
                    let reason = reason.unwrap_or_default();
                    let kind: String = reason.chars().filter(|c| !c.is_ascii_digit()).collect();
                    *step.refused.entry(kind).or_default() += 1;
                }
            }
            step.unanswered = (total - answered) as u64;
            step
        })
    };
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // After a stall (a busy machine), catch up at most at 1.5 times the rate: a burst could
    // pass the relay's per-connection limit (`MAX_RATE` a second), which strikes and in the
    // end bans the address, as it would any client.
    let per_tick = ((rate * 0.015).ceil() as usize).max(1);
    let mut sent = 0usize;
    let mut txs = txs.into_iter().enumerate();
    while sent < total {
        tick.tick().await;
        let due =
            ((started.elapsed().as_secs_f64() * rate) as usize).min(total).min(sent + per_tick);
        while sent < due {
            let Some((i, tx)) = txs.next() else { break };
            let id = i as u64 + 10;
            if let Ok(mut m) = sent_at.lock() {
                m.insert(id, Instant::now());
            }
            sink.send(Frame::text(Message::SubmitTx { id, tx }.to_json())).await?;
            sent += 1;
        }
    }
    let mut step = reader.await?;
    step.sent = sent as u64;
    Ok(step)
}

/// Heads and finality as a subscriber sees them during a step.
#[derive(Debug, Default, Clone)]
struct ChainWatch {
    heads: u64,
    max_head_gap: Duration,
    max_lag: u64,
}

async fn watch_chain(
    url: String,
    _chain_id: Hash,
    out: Arc<Mutex<ChainWatch>>,
) -> anyhow::Result<()> {
    let (mut ws, _) = connect(&url).await?;
    send(&mut ws, &Message::Subscribe { heads: true, finality: true, accounts: vec![] }).await?;
    let (mut head, mut finalized) = (0u64, 0u64);
    let mut last = None::<Instant>;
    loop {
        match next(&mut ws).await? {
            Message::Head { header } => {
                let h: SignedHeader = decode_hex("header", &header).map_err(anyhow::Error::msg)?;
                head = head.max(h.header.height);
                let now = Instant::now();
                if let Ok(mut w) = out.lock() {
                    w.heads += 1;
                    if let Some(prev) = last {
                        w.max_head_gap = w.max_head_gap.max(now - prev);
                    }
                    // Only once this watcher has heard of finality (it starts at 0).
                    if finalized > 0 {
                        w.max_lag = w.max_lag.max(head.saturating_sub(finalized));
                    }
                }
                last = Some(now);
            }
            Message::Finalized { proof } => {
                let p: memecoin_core::light::FinalityProof =
                    decode_hex("proof", &proof).map_err(anyhow::Error::msg)?;
                finalized = finalized.max(p.source.height);
            }
            _ => {}
        }
    }
}
