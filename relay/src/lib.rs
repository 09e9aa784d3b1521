//! memecoin's relay: the native node.
//!
//! It owns everything `memecoin-core` refuses to touch: sockets, the clock, the disk, randomness
//! and logs. Every decision about validity is core's; the relay moves bytes, keeps time, stores
//! blocks and states, and asks core.
//!
//! The chain itself — import, finality, duties, store, mempool, the peer protocol's handlers —
//! is `memecoin-node`'s (no sockets, no runtime); the relay puts it on the network:
//!
//! - [`wire`] — the `/ws` message protocol (core's, re-exported).
//! - [`net`] — WebSocket connections (inbound and dialed), gossip, sync, limits.
//! - [`peers`] — the relay addresses known and dialed: bounded per source, scored, aged.
//! - [`listen`] — the accept loop: header and request deadlines, HTTP/1.1 with upgrades on plain
//!   TCP or TLS, each socket admitted first.
//! - [`checkpoint`] — checkpoint sync: an empty data dir starts from a trusted finalized block's
//!   state, downloaded from other relays and checked, instead of replaying from genesis.
//! - [`admission`] — who may open a socket or send a request: per-client caps, strikes, bans.
//! - [`limits`] — every bound of the relay: connection caps, deadlines, queues, rates, caches.
//! - [`http`] — warp routes: JSON API, `/metrics`, `/ws`, the wallet page.
//! - [`faucet`] — the devnet faucet (`POST /api/faucet`), rate-limited.
//! - [`tls`] — optional TLS on the listener (`https://`, `wss://`): the same routes through rustls.
//!
//! [`run`] starts a relay on a bound listener and stops it when `shutdown` resolves, so tests
//! run real relays on `127.0.0.1:0`.

pub mod admission;
pub mod checkpoint;
pub mod faucet;
pub mod http;
pub mod limits;
pub mod listen;
pub mod net;
pub mod peers;
pub mod shared;
pub mod tls;
/// The `/ws` messages live in core, shared with the browser wallet.
pub use memecoin_core::wire;

use memecoin_core::genesis::Genesis;
use memecoin_node::node::{self, Node, ValidatorKey};
use memecoin_node::store::{Below, Pruning};
use shared::Shared;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use tls::TlsConfig;

/// How a relay runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub genesis: Genesis,
    pub data_dir: PathBuf,
    /// Relays to dial (`ws://host:port/ws`, or `wss://` with a publicly trusted certificate),
    /// kept connected with backoff.
    pub peers: Vec<String>,
    pub validator: Option<ValidatorKey>,
    /// Doppelganger protection: epochs the validator watches for its key's blocks and votes
    /// after start before signing anything ([`Node::watch_for_doppelganger`]); 0: none.
    pub doppelganger_epochs: u64,
    /// The wallet page to serve at `/`.
    pub www: Option<PathBuf>,
    /// Our own `ws://` (or `wss://`) address as others can dial it (advertised in peer exchange).
    pub public_addr: Option<String>,
    /// Most relays dialed at once, from config and peer exchange together.
    pub max_dialed: usize,
    /// Take part in peer exchange (PROTOCOL.md §16.7). Off: dial only `peers`, learn no
    /// addresses from peers, advertise none (a fixed topology, e.g. behind a sentry relay).
    pub peer_exchange: bool,
    /// Serve HTTPS and `wss://` with this certificate instead of plain HTTP and `ws://`.
    pub tls: Option<TlsConfig>,
    /// Pay test coins from this key on `POST /api/faucet` (devnets only).
    pub faucet: Option<faucet::FaucetConfig>,
    /// Connection caps and deadlines of the listener.
    pub limits: limits::Limits,
    /// What the store keeps behind finality; `None`: the chain's default
    /// ([`Pruning::default_for`]: pruned, at least the weak-subjectivity window).
    pub pruning: Option<Pruning>,
    /// Start an empty data dir from a finalized checkpoint instead of genesis ([`run`] only).
    pub checkpoint_sync: Option<checkpoint::CheckpointSync>,
}

/// A running relay's handle for tests and tools.
#[derive(Debug, Clone)]
pub struct Handle {
    pub shared: Arc<Shared>,
    pub addr: std::net::SocketAddr,
}

/// Opens the data dir, then serves `listener` until `shutdown` resolves. The node's state is
/// committed block by block, so stopping at any point loses nothing that was finalized.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut config = config;
    if config.checkpoint_sync.is_some() && config.pruning == Some(Pruning::Archive) {
        anyhow::bail!(
            "an archive node keeps the whole history, which it gets only by replaying from \
             genesis: drop --checkpoint-sync-url, or --pruning archive"
        );
    }
    if let Some(pruning) = config.pruning {
        // Before any download: a window the chain does not allow is refused at once.
        pruning.check(&config.genesis.params)?;
    }
    if let Some(cs) = &config.checkpoint_sync {
        checkpoint::sync(&config.genesis, &config.data_dir, cs).await?;
        // The checkpoint relays are peers too: they hold the blocks after the checkpoint.
        for url in &cs.urls {
            if !config.peers.contains(url) {
                config.peers.push(url.clone());
            }
        }
    }
    let (handle, server) = start(config, listener, shutdown)?;
    tracing::info!(addr = %handle.addr, "relay listening");
    server.await;
    match handle.shared.store_failure().await {
        Some(e) => Err(anyhow::anyhow!("stopped: {e}")),
        None => Ok(()),
    }
}

/// Like [`run`], but returns a handle and the server future to drive.
pub fn start(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(Handle, impl Future<Output = ()>)> {
    let addr = listener.local_addr()?;
    // Before anything else: a bad certificate or key stops the start, naming the file.
    let tls = config.tls.as_ref().map(TlsConfig::load).transpose()?;
    if memecoin_node::store::Store::needs_upgrade(&config.data_dir).unwrap_or(false) {
        tracing::info!(data_dir = %config.data_dir.display(), "{}", memecoin_node::store::UPGRADE_NOTICE);
    }
    let mut node = Node::open(config.genesis.clone(), &config.data_dir, config.validator.clone())?;
    let validator = config.validator.as_ref().map_or("none".into(), |v| {
        memecoin_core::address::Address::from_public_key(&v.key.public_key()).to_text()
    });
    tracing::info!(
        version = %env!("CARGO_PKG_VERSION"),
        chain = %config.genesis.chain_name,
        chain_id = %node.chain().id,
        validator = %validator,
        data_dir = %config.data_dir.display(),
        "memecoin-relay starting"
    );
    match node.head_state().map(|s| s.tip.height) {
        Some(height) if height > 0 => {
            tracing::info!("resumed at height {height} (finalized {})", node.finalized().height);
        }
        _ => tracing::info!("starting from genesis"),
    }
    if let Some(pruning) = config.pruning {
        node.set_pruning(pruning)?;
    }
    node.watch_for_doppelganger(config.doppelganger_epochs, node::now_ms());
    node.store().record_pruning(node.pruning(), Pruning::min_window(&node.chain().params))?;
    match node.pruning() {
        Pruning::Archive => match node.store().pruned_below()? {
            0 => tracing::info!("archive node: keeps every block and state"),
            from => tracing::warn!(
                "archive node from height {from} on: the blocks below were pruned (or the data \
                 dir began at a checkpoint); only a data dir synced from genesis holds them"
            ),
        },
        Pruning::Window(window) => tracing::info!(
            window,
            pruned_below = node.store().pruned_below()?,
            "pruned node: keeps {window} blocks behind finality"
        ),
    }
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let public = config.public_addr.clone().or_else(|| Some(format!("{scheme}://{addr}/ws")));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shared =
        Shared::new(node, public, config.peer_exchange, stop_rx.clone(), config.limits.clone());
    let _ = shared.metrics.started.set(Instant::now());
    for p in &config.peers {
        shared.learn_peer(p);
    }
    // Set by the background task when the store fails: the relay then stops as if shut down.
    let failed = Arc::new(tokio::sync::Notify::new());
    let tasks = background(
        shared.clone(),
        config.max_dialed.max(config.peers.len()),
        stop_rx.clone(),
        failed.clone(),
    );
    let faucet = config.faucet.clone().map(|f| Arc::new(faucet::Faucet::new(f)));
    let routes = http::routes(shared.clone(), config.www.clone(), faucet);
    let (limits, served) = (config.limits.clone(), shared.clone());
    let server = async move {
        let graceful = async move {
            tokio::select! {
                () = shutdown => {}
                () = failed.notified() => {}
            }
            let _ = stop_tx.send(true);
        };
        listen::serve(routes, listener, tls, limits, served, graceful).await;
        // The background task ends its dialers on the stop signal; connections end on it too.
        let _ = tasks.await;
    };
    Ok((Handle { shared, addr }, server))
}

/// How often the validator ticks on slots of `slot_ms`: several times a slot (a proposer that
/// ticks once a slot may wake just before its slot and miss it), at most every 100 ms, at least
/// every 10 ms. A fixed 100 ms missed every other slot of a 50 ms chain spec.
fn tick_ms(slot_ms: u64) -> u64 {
    (slot_ms / 5).clamp(10, 100)
}

/// Validator ticks and peer dialing, until `stop` flips or the store fails (then it notifies
/// `failed`, and the relay stops: a node that cannot store what it accepts must not go on
/// accepting, voting or proposing).
fn background(
    shared: Arc<Shared>,
    max_dialed: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
    failed: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut dialing: std::collections::HashMap<String, tokio::task::JoinHandle<()>> =
            Default::default();
        let slot_ms = shared.with_node(|n| n.chain().params.slot_ms).await;
        let mut tick = tokio::time::interval(Duration::from_millis(tick_ms(slot_ms)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // One prune at a time, on a blocking thread: it walks the live tree nodes, which must
        // never hold up the node's lock or a tick.
        let mut pruning: Option<tokio::task::JoinHandle<()>> = None;
        let mut progress = Progress::new(Instant::now());
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            // The validator's duties: ahead of every peer's request still waiting.
            shared.with_node_duty(|n| n.tick(node::now_ms())).await;
            if let Some(e) = shared.store_failure().await {
                tracing::error!("storage failed, stopping the relay: {e}");
                failed.notify_one();
                break;
            }
            if pruning.as_ref().is_none_or(|task| task.is_finished())
                && let Some((store, below)) = shared.with_node(|n| n.prune_due()).await
            {
                let metrics = shared.clone();
                pruning = Some(tokio::task::spawn_blocking(move || {
                    prune(&store, below, &metrics.metrics)
                }));
            }
            if progress.due(Instant::now()) {
                let (head, finalized, chain) = shared
                    .with_node(|n| {
                        let head = n.head_state().map_or(0, |s| s.tip.height);
                        (head, n.finalized().height, n.chain().clone())
                    })
                    .await;
                let best = shared.metrics.best_peer_head.load(std::sync::atomic::Ordering::Relaxed);
                progress.report(Instant::now(), head, finalized, best, &chain);
            }
            // A dialer ends once its address is forgotten (it failed too often): its slot is free.
            dialing.retain(|_, task| !task.is_finished());
            shared.expire_peers(|addr| dialing.contains_key(addr));
            for peer in shared.peer_list() {
                if dialing.len() >= max_dialed {
                    break;
                }
                dialing
                    .entry(peer.clone())
                    .or_insert_with(|| tokio::spawn(net::keep_dialing(shared.clone(), peer)));
            }
        }
        for (_, task) in dialing {
            task.abort();
        }
        // A prune under way finishes (or, killed, commits nothing): the store is left whole.
        if let Some(task) = pruning {
            let _ = task.await;
        }
    })
}

/// What the relay says in its log about sync and finality, every [`Progress::EVERY`]: sync
/// progress while the best head a peer showed is ahead of ours (height, percent, blocks/s,
/// time left), "synced" when it is caught up, and a warning when finality has not advanced for
/// [`Progress::STALL_EPOCHS`] epochs (again at twice as many, and so on).
struct Progress {
    last: Instant,
    height: u64,
    syncing: bool,
    finalized: u64,
    finalized_at: Instant,
    warned_epochs: u64,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(10);
    const STALL_EPOCHS: u64 = 4;

    fn new(now: Instant) -> Self {
        Progress {
            last: now,
            height: 0,
            syncing: false,
            finalized: 0,
            finalized_at: now,
            warned_epochs: 0,
        }
    }

    fn due(&self, now: Instant) -> bool {
        now.duration_since(self.last) >= Self::EVERY
    }

    fn report(
        &mut self,
        now: Instant,
        head: u64,
        finalized: u64,
        best: u64,
        chain: &memecoin_core::state::Chain,
    ) {
        let secs = now.duration_since(self.last).as_secs_f64().max(0.001);
        let rate = head.saturating_sub(self.height) as f64 / secs;
        if best > head.saturating_add(shared::SYNC_BEHIND) {
            let percent = head as f64 * 100.0 / best as f64;
            let left = if rate > 0.0 {
                format!("about {:.0} s left", best.saturating_sub(head) as f64 / rate)
            } else {
                "waiting for blocks".into()
            };
            tracing::info!(
                "syncing: height {head} of {best} ({percent:.1} %), {rate:.0} blocks/s, {left}"
            );
            self.syncing = true;
        } else if self.syncing || self.height == 0 && head > 0 && best > 0 {
            tracing::info!("synced at height {head}");
            self.syncing = false;
        }
        if finalized != self.finalized {
            self.finalized = finalized;
            self.finalized_at = now;
            if self.warned_epochs > 0 {
                tracing::info!("finality advanced again: finalized height {finalized}");
            }
            self.warned_epochs = 0;
        } else {
            let epoch_ms = chain.params.slot_ms.saturating_mul(chain.params.slots_per_epoch).max(1);
            let stalled_ms = u64::try_from(now.duration_since(self.finalized_at).as_millis())
                .unwrap_or(u64::MAX);
            let epochs = stalled_ms / epoch_ms;
            if epochs >= Self::STALL_EPOCHS.max(self.warned_epochs.saturating_mul(2)) {
                tracing::warn!(
                    "finality has not advanced for {epochs} epochs (finalized height {finalized}, \
                     head {head}): less than 2/3 of the stake votes on one chain"
                );
                self.warned_epochs = epochs;
            }
        }
        self.height = head;
        self.last = now;
    }
}

/// Prunes `store` below `below` and says what went. A failure of the disk is latched by the
/// store, and the next tick stops the relay.
fn prune(store: &memecoin_node::store::Store, below: Below, metrics: &shared::Metrics) {
    use std::sync::atomic::Ordering::Relaxed;
    let started = std::time::Instant::now();
    let result = store.prune(below);
    metrics.prune_ms.store(started.elapsed().as_millis() as u64, Relaxed);
    metrics.prunes.fetch_add(1, Relaxed);
    match result {
        Ok(p) => tracing::info!(
            states_below = below.states,
            blocks = p.blocks,
            states = p.states,
            nodes = p.nodes,
            ms = started.elapsed().as_millis() as u64,
            "pruned blocks below height {}",
            below.blocks
        ),
        Err(e) => tracing::error!("pruning below height {} failed: {e}", below.blocks),
    }
}
