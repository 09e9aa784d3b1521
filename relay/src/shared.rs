//! State shared by every task of a running relay: the node behind a lock, the event fan-out,
//! the peer book and the metrics.

use crate::node::{Event, Node};
use crate::peers::PeerBook;
use crate::wire::{Message, encode_hex};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, broadcast};

/// Capacity of the event fan-out; a connection that falls this far behind is dropped.
pub const EVENT_BUFFER: usize = 4096;
pub use crate::peers::MAX_KNOWN_PEERS;
pub const MAX_CONNECTIONS: usize = 2048;
/// How long a peer disconnected for invalid input is refused.
pub const BAN: Duration = Duration::from_secs(60);
/// Gossip payloads remembered by the seen-cache.
pub const SEEN_CACHE: usize = 65_536;
/// Most banned addresses remembered.
pub const MAX_BANNED: usize = 4096;

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
    rejects: StdMutex<BTreeMap<String, u64>>,
}

impl Metrics {
    pub fn reject(&self, reason: &str) {
        // The reason's kind only (up to the first space or brace), so labels stay few.
        let kind: String =
            reason.chars().take_while(|c| c.is_alphanumeric() || *c == '_').take(40).collect();
        if let Ok(mut map) = self.rejects.lock() {
            if map.len() < 64 || map.contains_key(&kind) {
                *map.entry(kind).or_default() += 1;
            }
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

pub struct Shared {
    pub node: Mutex<Node>,
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
    pub gate: Arc<crate::listen::Gate>,
    /// Addresses disconnected for invalid input, and until when they are refused.
    banned: StdMutex<HashMap<IpAddr, Instant>>,
    /// Gossip payloads seen lately, so copies from other peers cost a hash, not a decode and
    /// a signature check.
    seen: StdMutex<SeenCache>,
    /// Transaction signatures verified, shared with the node: a connection verifies a block's
    /// before it takes the node's lock.
    pub sigcache: Arc<crate::sigcache::SigCache>,
    /// Stored blocks, read by connections without the node's lock.
    pub blocks: crate::store::BlockReader,
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
        limits: crate::listen::Limits,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(limits.event_buffer.max(1));
        Arc::new(Shared {
            sigcache: node.sigcache(),
            blocks: node.block_reader(),
            node: Mutex::new(node),
            events,
            metrics: Metrics::default(),
            peers: StdMutex::new(PeerBook::new(public_addr.clone())),
            public_addr,
            peer_exchange,
            stopping,
            gate: crate::listen::Gate::new(limits),
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
        if seen.order.len() > SEEN_CACHE {
            if let Some(old) = seen.order.pop_front() {
                seen.set.remove(&old);
            }
        }
        true
    }

    /// Refuses new connections from `ip`'s client ([`crate::listen::client_key`]: its IPv4
    /// address or IPv6 /64) for [`BAN`]. Bounded: at most [`MAX_BANNED`] entries,
    /// expired ones dropped first.
    pub fn ban(&self, ip: IpAddr) {
        let ip = crate::listen::client_key(ip);
        let Ok(mut banned) = self.banned.lock() else { return };
        let now = Instant::now();
        banned.retain(|_, until| *until > now);
        if banned.len() < MAX_BANNED {
            banned.insert(ip, now + BAN);
            tracing::info!(%ip, "peer refused for {} s", BAN.as_secs());
        }
    }

    /// Seconds left of a ban on `ip`, if any.
    pub fn banned_for(&self, ip: IpAddr) -> Option<u64> {
        let banned = self.banned.lock().ok()?;
        let until = *banned.get(&crate::listen::client_key(ip))?;
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

    fn shared() -> (Arc<Shared>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let genesis = crate::keys::devnet_genesis(1, 0).unwrap();
        let node = Node::open(genesis, dir.path(), None).unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        (Shared::new(node, None, true, rx, Default::default()), dir)
    }

    /// A validator duty that asks for the node while a peer's request holds it, and others
    /// wait, runs next: the waiting requests step aside (issue 15.6).
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
