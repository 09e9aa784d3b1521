//! State shared by every task of a running relay: the node behind a lock, the event fan-out,
//! the peer book and the metrics.

use crate::limits::{BAN, MAX_BANNED, MAX_SERVED_ALL, SEEN_CACHE};
use crate::peers::PeerBook;
use crate::wire::{Message, encode_hex};
use memecoin_node::node::{Event, Node};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, broadcast};

pub use crate::peers::MAX_KNOWN_PEERS;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub connections: AtomicU64,
    pub relay_peers: AtomicU64,
    /// Sockets refused at accept (banned, over a connection cap).
    pub refused: AtomicU64,
    /// Times a browser connection fell behind the event stream and was sent the head instead.
    pub lagged: AtomicU64,
    /// Clients banned for invalid input (each ban lasts [`BAN`]).
    pub bans: AtomicU64,
    /// How long the last prune took (ms), and how many prunes ran.
    pub prune_ms: AtomicU64,
    pub prunes: AtomicU64,
    /// The highest head a relay peer announced (its `hello`) or sent a block at: what the node
    /// syncs towards. Only for logs and metrics: nothing is decided on it.
    pub best_peer_head: AtomicU64,
    /// Open connections whose `hello` said `browser`.
    pub browsers: AtomicU64,
    /// Relay peers by who they are (the address they listen on, else their socket's), with
    /// their open connections: two relays that dialed each other are one peer.
    relay_peers_by_key: StdMutex<BTreeMap<String, u32>>,
    /// When the relay started, for `memecoin_uptime_seconds`.
    pub started: std::sync::OnceLock<Instant>,
    rejects: StdMutex<BTreeMap<String, u64>>,
}

/// Blocks behind the best head a peer showed that count as syncing (the log's progress lines,
/// `memecoin_syncing`).
pub const SYNC_BEHIND: u64 = 8;

impl Metrics {
    /// A relay peer's connection said hello; `key` names the peer.
    pub fn relay_peer_up(&self, key: &str) {
        if let Ok(mut peers) = self.relay_peers_by_key.lock() {
            *peers.entry(key.to_owned()).or_default() += 1;
        }
    }

    /// A relay peer's connection ended.
    pub fn relay_peer_down(&self, key: &str) {
        if let Ok(mut peers) = self.relay_peers_by_key.lock()
            && let Some(open) = peers.get_mut(key)
        {
            *open = open.saturating_sub(1);
            if *open == 0 {
                peers.remove(key);
            }
        }
    }

    /// Distinct relay peers connected.
    pub fn relay_peers(&self) -> u64 {
        self.relay_peers_by_key.lock().map_or(0, |p| p.len() as u64)
    }

    pub fn reject(&self, reason: &str) {
        // The reason's kind only (up to the first space or brace), so labels stay few.
        let kind: String =
            reason.chars().take_while(|c| c.is_alphanumeric() || *c == '_').take(40).collect();
        if let Ok(mut map) = self.rejects.lock()
            && (map.len() < 64 || map.contains_key(&kind))
        {
            *map.entry(kind).or_default() += 1;
        }
    }

    pub fn rejects(&self) -> Vec<(String, u64)> {
        self.rejects
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The relay-wide budget of reads of stored objects (headers, blocks, finality proofs, account
/// and inclusion proofs), in one-second windows, shared fairly: once the relay served
/// [`MAX_SERVED_ALL`] in a window, a connection that read more than its share (the budget over
/// the connections that read in the window) waits for its next window. Each connection's own
/// [`crate::limits::MAX_SERVED`] bounds one connection; this bounds many (from many addresses),
/// and a connection that reads little, a wallet, never waits behind those that read much.
#[derive(Debug)]
pub struct ReadBudget {
    window: StdMutex<ReadWindow>,
}

#[derive(Debug)]
struct ReadWindow {
    start: Instant,
    id: u64,
    total: u64,
    readers: u64,
}

/// A connection's reads in the budget's current window ([`ReadBudget::charge`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct MyReads {
    window: u64,
    reads: u64,
}

impl ReadBudget {
    pub fn new(now: Instant) -> Self {
        // Window ids start at 1: a connection's `MyReads::default()` is in none.
        let window = ReadWindow { start: now, id: 1, total: 0, readers: 0 };
        ReadBudget { window: StdMutex::new(window) }
    }

    /// Counts `reads` done for a connection (`mine`) at `now`; `true` if it is over its share
    /// of a spent budget and waits for its next window before it is answered.
    pub fn charge(&self, mine: &mut MyReads, reads: u64, now: Instant) -> bool {
        let Ok(mut w) = self.window.lock() else { return false };
        if now.saturating_duration_since(w.start) >= Duration::from_secs(1) {
            let id = w.id.wrapping_add(1).max(1);
            *w = ReadWindow { start: now, id, total: 0, readers: 0 };
        }
        if mine.window != w.id {
            *mine = MyReads { window: w.id, reads: 0 };
            w.readers = w.readers.saturating_add(1);
        }
        mine.reads = mine.reads.saturating_add(reads);
        w.total = w.total.saturating_add(reads);
        w.total > MAX_SERVED_ALL && mine.reads > MAX_SERVED_ALL / w.readers.max(1)
    }
}

/// Replies of many stored objects read and encoded at once, relay-wide: half the cores (one
/// on a 2-core machine), at least one.
pub fn big_replies_at_once() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get() / 2).max(1)
}

pub struct Shared {
    pub node: Mutex<Node>,
    /// Reads served to all connections ([`ReadBudget`]).
    pub reads: ReadBudget,
    /// Turns to read and encode a reply of many stored objects (a range of headers or blocks,
    /// finality proofs): [`big_replies_at_once`] relay-wide. However many connections ask,
    /// such replies take at most that many cores, and the others serve everything else (a
    /// wallet's small requests, gossip, a validator's duties) without waiting behind them.
    /// A turn is given back before the connection waits for its read budget.
    pub big_replies: tokio::sync::Semaphore,
    pub events: broadcast::Sender<Arc<Published>>,
    pub metrics: Metrics,
    /// Relay addresses from config and peer exchange ([`crate::peers`]).
    peers: StdMutex<PeerBook>,
    /// Our own dialable address, if we know it (never dialed, advertised in hello).
    pub public_addr: Option<String>,
    /// Whether we take part in peer exchange (§16.7): learn relay addresses from peers, share
    /// ours and those we know. Off, the relay dials only its configured peers.
    pub peer_exchange: bool,
    /// Flips to `true` when the relay shuts down: every connection and dialer ends.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The listener's open sockets, in all and by address ([`crate::listen`]).
    pub gate: Arc<crate::admission::Gate>,
    /// Addresses disconnected for invalid input, and until when they are refused.
    banned: StdMutex<HashMap<IpAddr, Instant>>,
    /// Gossip payloads seen lately, so copies from other peers cost a hash, not a decode and
    /// a signature check.
    seen: StdMutex<SeenCache>,
    /// Transaction signatures verified, shared with the node: a connection verifies a block's
    /// before it takes the node's lock.
    pub sigcache: Arc<memecoin_node::sigcache::SigCache>,
    /// Stored blocks, read by connections without the node's lock.
    pub reader: memecoin_node::store::StoreReader,
    /// Validator duties waiting for the node ([`Shared::with_node_duty`]).
    duties_waiting: AtomicU64,
    /// Wakes the callers that stepped aside for a duty.
    duty_done: tokio::sync::Notify,
}

/// A bounded set of recently seen payload hashes (oldest forgotten first).
#[derive(Debug, Default)]
struct SeenCache {
    set: std::collections::HashSet<u64>,
    order: std::collections::VecDeque<u64>,
    hasher: std::hash::RandomState,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

impl Shared {
    pub fn new(
        node: Node,
        public_addr: Option<String>,
        peer_exchange: bool,
        stopping: tokio::sync::watch::Receiver<bool>,
        limits: crate::limits::Limits,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(limits.event_buffer.max(1));
        Arc::new(Shared {
            sigcache: node.sigcache(),
            reader: node.reader(),
            node: Mutex::new(node),
            reads: ReadBudget::new(Instant::now()),
            big_replies: tokio::sync::Semaphore::new(big_replies_at_once()),
            events,
            metrics: Metrics::default(),
            peers: StdMutex::new(PeerBook::new(public_addr.clone())),
            public_addr,
            peer_exchange,
            stopping,
            gate: crate::admission::Gate::new(limits),
            banned: StdMutex::new(HashMap::new()),
            seen: StdMutex::new(SeenCache::default()),
            duties_waiting: AtomicU64::new(0),
            duty_done: tokio::sync::Notify::new(),
        })
    }

    /// Runs `f` on the node, then broadcasts the events it produced. While a validator duty
    /// waits for the node ([`Shared::with_node_duty`]), this waits for it to finish, and a
    /// caller that got the lock meanwhile gives it up at once: a duty waits for at most the
    /// closure running when it asked, never for the requests queued behind it.
    pub async fn with_node<T>(&self, f: impl FnOnce(&mut Node) -> T) -> T {
        loop {
            // Registered before the check, so a duty that finishes in between still wakes us.
            let done = self.duty_done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.duties_waiting.load(Ordering::Acquire) == 0 {
                let mut node = self.node.lock().await;
                if self.duties_waiting.load(Ordering::Acquire) == 0 {
                    return self.run(&mut node, f);
                }
            }
            done.await;
        }
    }

    /// As [`Shared::with_node`], for a validator's duties (its slot's block, its votes): ahead of
    /// every caller of [`Shared::with_node`] that has not started yet.
    pub async fn with_node_duty<T>(&self, f: impl FnOnce(&mut Node) -> T) -> T {
        /// Counts the duty as waiting until it is done (or dropped while waiting), then wakes
        /// those that stepped aside.
        struct Waiting<'a>(&'a Shared);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                if self.0.duties_waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
                    self.0.duty_done.notify_waiters();
                }
            }
        }
        self.duties_waiting.fetch_add(1, Ordering::AcqRel);
        let waiting = Waiting(self);
        let mut node = self.node.lock().await;
        let out = self.run(&mut node, f);
        drop(node);
        drop(waiting);
        out
    }

    fn run<T>(&self, node: &mut Node, f: impl FnOnce(&mut Node) -> T) -> T {
        let out = f(node);
        for event in node.take_events() {
            // No receivers is fine: nobody is connected.
            let _ = self.events.send(Arc::new(Published::new(event)));
        }
        out
    }

    /// The store's first failed write, if one failed (the relay stops on it).
    pub async fn store_failure(&self) -> Option<String> {
        // Asked by the validator's loop after each tick: a duty too.
        self.with_node_duty(|n| n.store().failure().map(str::to_owned)).await
    }

    /// Records a gossip payload; `false` if it was seen lately (drop it). The hash is keyed
    /// per process (SipHash with random keys), so a peer cannot aim collisions at us.
    pub fn first_sight(&self, payload: &str) -> bool {
        use std::hash::BuildHasher;
        let Ok(mut seen) = self.seen.lock() else { return true };
        let h = seen.hasher.hash_one(payload);
        if !seen.set.insert(h) {
            return false;
        }
        seen.order.push_back(h);
        if seen.order.len() > SEEN_CACHE
            && let Some(old) = seen.order.pop_front()
        {
            seen.set.remove(&old);
        }
        true
    }

    /// Refuses new connections from `ip`'s client ([`crate::admission::client_key`]: its IPv4
    /// address or IPv6 /64) for [`BAN`]. Bounded: at most [`MAX_BANNED`] entries,
    /// expired ones dropped first.
    pub fn ban(&self, ip: IpAddr) {
        let ip = crate::admission::client_key(ip);
        let Ok(mut banned) = self.banned.lock() else { return };
        let now = Instant::now();
        banned.retain(|_, until| *until > now);
        if banned.len() < MAX_BANNED {
            banned.insert(ip, now + BAN);
            Metrics::inc(&self.metrics.bans);
            tracing::info!(%ip, "peer refused for {} s", BAN.as_secs());
        }
    }

    /// Seconds left of a ban on `ip`, if any.
    pub fn banned_for(&self, ip: IpAddr) -> Option<u64> {
        let banned = self.banned.lock().ok()?;
        let until = *banned.get(&crate::admission::client_key(ip))?;
        let left = until.checked_duration_since(Instant::now())?;
        Some(left.as_secs().max(1))
    }

    /// Adds an operator's relay address (`--peer`, or an embedder's): dialed for ever.
    /// Returns whether it was new.
    pub fn learn_peer(&self, addr: &str) -> bool {
        let Ok(mut peers) = self.peers.lock() else { return false };
        peers.add_configured(addr, Instant::now()).unwrap_or(false)
    }

    /// Remembers an address a peer at `source` told us of, if the book takes it
    /// ([`PeerBook::learn`]); a refusal is counted as a reject kind.
    pub fn learn_peer_from(&self, addr: &str, source: IpAddr) -> bool {
        let Ok(mut peers) = self.peers.lock() else { return false };
        match peers.learn(addr, source, Instant::now()) {
            Ok(new) => new,
            // Our own address comes back from every peer we told it to: not worth counting.
            Err(crate::peers::Refused::Own) => false,
            Err(refused) => {
                self.metrics.reject(&format!("Peer{refused:?}"));
                false
            }
        }
    }

    /// Every known relay address, best first: the dial order, and what `peers` shares.
    pub fn peer_list(&self) -> Vec<String> {
        self.peers.lock().map(|p| p.ranked()).unwrap_or_default()
    }

    /// Records a dial of `addr` (`ok`: it reached a relay of our chain); whether to go on
    /// dialing it ([`PeerBook::dialed`]).
    pub fn peer_dialed(&self, addr: &str, ok: bool) -> bool {
        self.peers.lock().is_ok_and(|mut p| p.dialed(addr, ok, Instant::now()))
    }

    /// Whether `addr` is still in the book.
    pub fn knows_peer(&self, addr: &str) -> bool {
        self.peers.lock().is_ok_and(|p| p.contains(addr))
    }

    /// Whether `addr` came from a public peer: its host name must resolve to public addresses.
    pub fn peer_public_only(&self, addr: &str) -> bool {
        self.peers.lock().is_ok_and(|p| p.public_only(addr))
    }

    /// Forgets learned addresses not reached for [`crate::peers::PEER_TTL`], except those in
    /// `connected`.
    pub fn expire_peers(&self, connected: impl Fn(&str) -> bool) {
        if let Ok(mut p) = self.peers.lock() {
            p.expire(Instant::now(), connected);
        }
    }
}

/// An event as it goes out to every connection: its message text is made once, by the first
/// connection that forwards it, and shared by all the others (a head reaches every subscriber,
/// a block every peer relay: encoding it per connection would cost as much as the fan-out).
#[derive(Debug)]
pub struct Published {
    pub event: Event,
    text: std::sync::OnceLock<Option<String>>,
}

impl Published {
    pub fn new(event: Event) -> Self {
        Published { event, text: std::sync::OnceLock::new() }
    }

    /// The JSON text of the event's message, the same for every receiver; `None` for
    /// `AccountsChanged`, whose message differs per subscriber.
    pub fn text(&self) -> Option<&str> {
        self.text
            .get_or_init(|| {
                let m = match &self.event {
                    Event::Block(b) => Message::Block { block: encode_hex(b) },
                    Event::Tx(t) => Message::Tx { tx: encode_hex(t) },
                    Event::Vote(v) => Message::Vote { vote: encode_hex(v) },
                    Event::Evidence(e) => Message::Evidence { evidence: encode_hex(e) },
                    Event::NewHead(h) => Message::Head { header: encode_hex(h) },
                    Event::Finalized(p) => Message::Finalized { proof: encode_hex(p) },
                    Event::AccountsChanged(_) => return None,
                };
                Some(m.to_json())
            })
            .as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four connections reading as fast as they may and a wallet reading one object a
    /// second: once the relay served its budget, the heavy readers wait, each past its share,
    /// and the wallet never does.
    #[test]
    fn heavy_readers_share_the_budget_and_a_light_one_never_waits() {
        let start = Instant::now();
        let budget = ReadBudget::new(start);
        let (mut heavy, mut wallet) = ([MyReads::default(); 4], MyReads::default());
        for second in 0..3u64 {
            let now = start + Duration::from_millis(second * 1000 + 1);
            let (mut served, mut waiting) = ([0u64; 4], [false; 4]);
            assert!(!budget.charge(&mut wallet, 1, now));
            // Each asks for 257 reads at a time until it is told to wait (for its next window).
            for _round in 0..16 {
                for (i, mine) in heavy.iter_mut().enumerate() {
                    if !waiting[i] {
                        waiting[i] = budget.charge(mine, 257, now);
                        served[i] += 257;
                    }
                }
                assert!(!budget.charge(&mut wallet, 1, now), "the wallet waited");
            }
            assert!(waiting.iter().all(|&w| w), "every heavy reader waits: {served:?}");
            let total: u64 = served.iter().sum();
            assert!(total <= MAX_SERVED_ALL + 4 * 257, "second {second}: {total} served");
            assert!(served.iter().all(|&s| s >= 257), "each heavy reader served: {served:?}");
        }
        // Alone, one connection reads up to the whole budget without waiting.
        let later = start + Duration::from_secs(10);
        let mut lone = MyReads::default();
        assert!(!budget.charge(&mut lone, MAX_SERVED_ALL, later));
        assert!(budget.charge(&mut lone, 1, later));
    }

    fn shared() -> (Arc<Shared>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let genesis = memecoin_node::keys::devnet_genesis(1, 0).unwrap();
        let node = Node::open(genesis, dir.path(), None).unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        (Shared::new(node, None, true, rx, Default::default()), dir)
    }

    /// A validator duty that asks for the node while a peer's request holds it, and others
    /// wait, runs next: the waiting requests step aside.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_duty_runs_before_requests_that_queued_ahead_of_it() {
        let (s, _dir) = shared();
        let order = Arc::new(StdMutex::new(Vec::new()));
        // A peer's long request holds the node.
        let held = s.node.lock().await;
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (s, order) = (s.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                s.with_node(|_| order.lock().unwrap().push(format!("request {i}"))).await
            }));
        }
        // The requests queue on the node first.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (duty_s, duty_order) = (s.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            duty_s.with_node_duty(|_| duty_order.lock().unwrap().push("duty".into())).await
        }));
        while s.duties_waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order.len(), 4, "{order:?}");
        assert_eq!(order[0], "duty", "{order:?}");
    }

    #[test]
    fn seen_cache_is_bounded_and_forgets_the_oldest() {
        let (s, _dir) = shared();
        assert!(s.first_sight("a"));
        assert!(!s.first_sight("a"));
        for i in 0..SEEN_CACHE {
            s.first_sight(&i.to_string());
        }
        assert!(s.first_sight("a"), "forgotten after SEEN_CACHE newer entries");
        assert!(s.seen.lock().unwrap().order.len() <= SEEN_CACHE);
    }

    #[test]
    fn bans_expire_and_peer_addresses_are_checked() {
        let (s, _dir) = shared();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(s.banned_for(ip), None);
        s.ban(ip);
        assert!(s.banned_for(ip).is_some_and(|left| left <= BAN.as_secs()));
        assert!(s.learn_peer("ws://127.0.0.1:1/ws"));
        assert!(!s.learn_peer("ws://127.0.0.1:1/ws"), "known already");
        assert!(!s.learn_peer("http://example.com/"), "not a ws URL");
        assert!(!s.learn_peer("ws://has space/ws"));
    }
}
