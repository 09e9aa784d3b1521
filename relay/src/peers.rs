//! The relay addresses a relay knows and dials (PROTOCOL.md §16.7): bounded overall and per
//! source, scored by what dialing them gave, aged out, and kept apart from private networks.
//! No I/O and no clock: time is an argument, so tests drive it directly.
//!
//! Why each bound: peer exchange lets any relay that connects tell us addresses. Without them
//! the first peer could fill the book with dead addresses, each pinning a dial slot for ever,
//! and point us at hosts on our own private network.

use crate::admission::client_key;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Most addresses remembered.
pub const MAX_KNOWN_PEERS: usize = 256;
/// Most addresses learned from one source (an IPv4 address or an IPv6 /64) kept at once: one
/// peer cannot fill the book.
pub const MAX_PER_SOURCE: usize = 32;
/// Dials in a row that fail before a learned address is forgotten and its dial slot freed.
pub const MAX_FAILURES: u32 = 3;
/// A learned address not connected to for this long (or never, this long after it was learned)
/// is forgotten.
pub const PEER_TTL: Duration = Duration::from_secs(3600);

/// Why an address was not remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not `ws://` or `wss://` followed by 1 to 199 printable ASCII characters.
    NotWsUrl,
    /// The relay's own public address.
    Own,
    /// A loopback, private or link-local host, told by a peer on a public address.
    PrivateFromPublic,
    /// The source already has [`MAX_PER_SOURCE`] addresses in the book.
    SourceFull,
    /// The book is full and no learned address in it has failed.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Given by the operator (`--peer`): dialed for ever, never forgotten.
    Configured,
    /// Told by a peer at this address (its [`client_key`]).
    Learned { source: IpAddr, public_only: bool },
}

#[derive(Debug, Clone)]
struct Entry {
    origin: Origin,
    learned: Instant,
    /// The last time a dial reached a relay of our chain.
    last_ok: Option<Instant>,
    /// Failed dials since the last good one.
    failures: u32,
}

impl Entry {
    /// Dial order: configured first, then those that worked (most recent first), then untried
    /// (oldest first), then failing ones (fewest failures first).
    fn rank(&self) -> (u8, u32, std::cmp::Reverse<Option<Instant>>, Instant) {
        let class = match (self.origin, self.last_ok, self.failures) {
            (Origin::Configured, ..) => 0,
            (_, Some(_), 0) => 1,
            (_, None, 0) => 2,
            _ => 3,
        };
        (class, self.failures, std::cmp::Reverse(self.last_ok), self.learned)
    }
}

/// The address book.
#[derive(Debug, Default)]
pub struct PeerBook {
    own: Option<String>,
    entries: BTreeMap<String, Entry>,
}

impl PeerBook {
    /// An empty book for a relay whose public address is `own`.
    pub fn new(own: Option<String>) -> Self {
        PeerBook { own, entries: BTreeMap::new() }
    }

    /// Adds an address the operator gave: dialed for ever, never forgotten, and not counted
    /// against any source. Returns whether it was new.
    pub fn add_configured(&mut self, addr: &str, now: Instant) -> Result<bool, Refused> {
        self.check(addr)?;
        if let Some(e) = self.entries.get_mut(addr) {
            let new = e.origin != Origin::Configured;
            e.origin = Origin::Configured;
            return Ok(new);
        }
        let entry = Entry { origin: Origin::Configured, learned: now, last_ok: None, failures: 0 };
        self.entries.insert(addr.to_string(), entry);
        Ok(true)
    }

    /// Remembers an address a peer at `source` told us of (its `hello`'s `listen`, or `peers`).
    /// Returns whether it was new.
    pub fn learn(&mut self, addr: &str, source: IpAddr, now: Instant) -> Result<bool, Refused> {
        self.check(addr)?;
        if self.entries.contains_key(addr) {
            return Ok(false);
        }
        // A peer on the public internet has no business pointing us into our own network.
        let public_source = !is_local(source);
        if public_source && host_of(addr).is_some_and(host_is_local) {
            return Err(Refused::PrivateFromPublic);
        }
        let source = client_key(source);
        let from_source = self
            .entries
            .values()
            .filter(|e| matches!(e.origin, Origin::Learned { source: s, .. } if s == source))
            .count();
        if from_source >= MAX_PER_SOURCE {
            return Err(Refused::SourceFull);
        }
        if self.entries.len() >= MAX_KNOWN_PEERS {
            // Room is made only at the expense of an address that has failed: an untried or
            // working one is never pushed out by a newcomer.
            let worst = self
                .entries
                .iter()
                .filter(|(_, e)| matches!(e.origin, Origin::Learned { .. }) && e.failures > 0)
                .max_by_key(|(_, e)| e.rank())
                .map(|(a, _)| a.clone());
            match worst {
                Some(a) => self.entries.remove(&a),
                None => return Err(Refused::Full),
            };
        }
        let origin = Origin::Learned { source, public_only: public_source };
        self.entries
            .insert(addr.to_string(), Entry { origin, learned: now, last_ok: None, failures: 0 });
        Ok(true)
    }

    fn check(&self, addr: &str) -> Result<(), Refused> {
        if !is_ws_url(addr) {
            return Err(Refused::NotWsUrl);
        }
        if Some(addr) == self.own.as_deref() {
            return Err(Refused::Own);
        }
        Ok(())
    }

    /// Records a dial of `addr`: `ok` if it reached a relay of our chain. Returns whether to go
    /// on dialing it: a learned address that failed [`MAX_FAILURES`] times in a row is
    /// forgotten, which frees its dial slot.
    pub fn dialed(&mut self, addr: &str, ok: bool, now: Instant) -> bool {
        let Some(e) = self.entries.get_mut(addr) else { return false };
        if ok {
            e.last_ok = Some(now);
            e.failures = 0;
            return true;
        }
        e.failures = e.failures.saturating_add(1);
        if e.origin != Origin::Configured && e.failures >= MAX_FAILURES {
            self.entries.remove(addr);
            return false;
        }
        true
    }

    /// Forgets learned addresses not connected to within [`PEER_TTL`] (counted from when they
    /// were learned if never), except those in `connected`.
    pub fn expire(&mut self, now: Instant, connected: impl Fn(&str) -> bool) {
        self.entries.retain(|addr, e| {
            let since = e.last_ok.unwrap_or(e.learned);
            e.origin == Origin::Configured
                || connected(addr)
                || now.saturating_duration_since(since) < PEER_TTL
        });
    }

    /// Whether `addr` is in the book (a dialer stops once its address is forgotten).
    pub fn contains(&self, addr: &str) -> bool {
        self.entries.contains_key(addr)
    }

    /// Whether `addr` was learned from a public peer, so that what its host name resolves to
    /// must be public too before it is dialed.
    pub fn public_only(&self, addr: &str) -> bool {
        self.entries
            .get(addr)
            .is_some_and(|e| matches!(e.origin, Origin::Learned { public_only: true, .. }))
    }

    /// Every address, best first (the dial order, and what `peers` messages share).
    pub fn ranked(&self) -> Vec<String> {
        let mut all: Vec<(&String, &Entry)> = self.entries.iter().collect();
        all.sort_by_key(|(_, e)| e.rank());
        all.into_iter().map(|(a, _)| a.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `ws://` or `wss://`, then 1 to 199 printable ASCII characters: what we accept from peers.
pub fn is_ws_url(s: &str) -> bool {
    let rest = s.strip_prefix("ws://").or_else(|| s.strip_prefix("wss://"));
    matches!(rest, Some(r) if !r.is_empty() && r.len() < 200 && r.chars().all(|c| c.is_ascii_graphic()))
}

/// The host of a `ws://` or `wss://` URL (an IPv6 address without its brackets).
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("ws://").or_else(|| url.strip_prefix("wss://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next();
    }
    authority.split(':').next().filter(|h| !h.is_empty())
}

/// Whether a URL's host is on this machine or a private network: a loopback, private,
/// link-local, shared (100.64/10) or unspecified address, or `localhost`. Other names are
/// checked when they are resolved ([`is_local`]).
pub fn host_is_local(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(is_local)
}

/// Whether `ip` is on this machine or a private network.
pub fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_local(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "203.0.113.5";
    const OTHER_PUBLIC: &str = "198.51.100.7";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hosts_and_local_addresses() {
        assert_eq!(host_of("ws://10.0.0.1:8080/ws"), Some("10.0.0.1"));
        assert_eq!(host_of("wss://relay.example.org/ws"), Some("relay.example.org"));
        assert_eq!(host_of("ws://[fe80::1]:80/ws"), Some("fe80::1"));
        assert_eq!(host_of("ws://user@192.168.1.2:1/ws"), Some("192.168.1.2"));
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::2",
            "::ffff:10.0.0.1",
            "localhost",
            "a.localhost",
            "LOCALHOST.",
        ] {
            assert!(host_is_local(local), "{local}");
        }
        for public in [PUBLIC, "8.8.8.8", "2001:db8::1", "relay.example.org", "100.128.0.1"] {
            assert!(!host_is_local(public), "{public}");
        }
    }

    #[test]
    fn a_public_peer_cannot_point_us_into_a_private_network() {
        let now = Instant::now();
        let mut book = PeerBook::new(Some("ws://203.0.113.1:80/ws".into()));
        for addr in
            ["ws://127.0.0.1:9/ws", "ws://192.168.1.1/ws", "ws://[::1]:1/ws", "ws://localhost:1/ws"]
        {
            assert_eq!(book.learn(addr, ip(PUBLIC), now), Err(Refused::PrivateFromPublic));
            // From a peer on the same private network, it is what a private testnet looks like.
            assert_eq!(book.learn(addr, ip("10.0.0.2"), now), Ok(true));
        }
        assert_eq!(book.learn("ws://203.0.113.1:80/ws", ip(PUBLIC), now), Err(Refused::Own));
        assert_eq!(book.learn("http://x/", ip(PUBLIC), now), Err(Refused::NotWsUrl));
        assert_eq!(book.learn("ws://relay.example.org/ws", ip(PUBLIC), now), Ok(true));
        assert!(book.public_only("ws://relay.example.org/ws"));
        assert!(!book.public_only("ws://127.0.0.1:9/ws"));
    }

    #[test]
    fn one_source_fills_at_most_its_share_and_dead_addresses_make_room() {
        let now = Instant::now();
        let mut book = PeerBook::new(None);
        for i in 0..MAX_PER_SOURCE {
            assert_eq!(book.learn(&format!("ws://198.18.0.{i}/ws"), ip(PUBLIC), now), Ok(true));
        }
        assert_eq!(
            book.learn("ws://198.18.1.1/ws", ip(PUBLIC), now),
            Err(Refused::SourceFull),
            "one peer's share is full"
        );
        // An IPv6 peer's /64 is one source.
        for i in 0..MAX_PER_SOURCE {
            let from = ip(&format!("2001:db8::{:x}", i + 1));
            assert_eq!(book.learn(&format!("ws://198.18.2.{i}/ws"), from, now), Ok(true));
        }
        assert_eq!(
            book.learn("ws://198.18.3.1/ws", ip("2001:db8::ffff"), now),
            Err(Refused::SourceFull)
        );
        // Fill the rest from many sources; the book is then full of untried addresses.
        let mut n = 0u32;
        while book.len() < MAX_KNOWN_PEERS {
            let from = ip(&format!("198.51.{}.{}", n / 200, n % 200 + 1));
            book.learn(&format!("ws://198.19.{}.{}/ws", n / 200, n % 200), from, now).unwrap();
            n += 1;
        }
        assert_eq!(book.learn("ws://198.20.0.1/ws", ip(OTHER_PUBLIC), now), Err(Refused::Full));
        // One that failed gives way; an untried or working one never does.
        assert!(book.dialed("ws://198.18.0.0/ws", false, now));
        assert_eq!(book.learn("ws://198.20.0.1/ws", ip(OTHER_PUBLIC), now), Ok(true));
        assert!(!book.contains("ws://198.18.0.0/ws"));
        assert_eq!(book.len(), MAX_KNOWN_PEERS);
    }

    #[test]
    fn failing_addresses_are_forgotten_configured_ones_never() {
        let now = Instant::now();
        let mut book = PeerBook::new(None);
        book.add_configured("ws://10.0.0.1/ws", now).unwrap();
        book.learn("ws://10.0.0.2/ws", ip("10.0.0.9"), now).unwrap();
        book.learn("ws://10.0.0.3/ws", ip("10.0.0.9"), now).unwrap();
        for _ in 1..MAX_FAILURES {
            assert!(book.dialed("ws://10.0.0.2/ws", false, now));
        }
        assert!(book.dialed("ws://10.0.0.3/ws", true, now));
        assert_eq!(
            book.ranked(),
            ["ws://10.0.0.1/ws", "ws://10.0.0.3/ws", "ws://10.0.0.2/ws"],
            "configured, then working, then failing"
        );
        assert!(!book.dialed("ws://10.0.0.2/ws", false, now), "the last failure forgets it");
        assert!(!book.contains("ws://10.0.0.2/ws"));
        for _ in 0..10 * MAX_FAILURES {
            assert!(book.dialed("ws://10.0.0.1/ws", false, now));
        }
        // Age: a learned address not reached for PEER_TTL goes, unless connected.
        book.learn("ws://10.0.0.4/ws", ip("10.0.0.9"), now).unwrap();
        let later = now + PEER_TTL;
        book.expire(later, |a| a == "ws://10.0.0.4/ws");
        assert_eq!(book.ranked(), ["ws://10.0.0.1/ws", "ws://10.0.0.4/ws"]);
        book.expire(later, |_| false);
        assert_eq!(book.ranked(), ["ws://10.0.0.1/ws"]);
    }
}
