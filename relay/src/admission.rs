//! Admission: who may open a socket and send a request. Per client (an IPv4 address or an IPv6
//! /64, [`client_key`]): sockets open, HTTP requests a second, strikes towards a ban; in all:
//! sockets open. Every table here is bounded ([`MAX_TRACKED`]); the listener asks the [`Gate`]
//! before it reads a byte, and a refusal is a complete HTTP response ([`Refusal`]).

use crate::limits::{BAN, Limits};
use memecoin_node::peer::MAX_STRIKES;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warp::Reply as _;
use warp::reply::Response;

/// Addresses whose request rate and strikes are tracked at once (about 1 MiB). When the table
/// is full, it is pruned (at most once a second): expired tallies go, then those holding no
/// strike; if it is still full, new addresses share one tally until the next pruning.
pub const MAX_TRACKED: usize = 16_384;
/// How often a full table may be pruned: pruning walks it, and must not cost every request.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// The client an address stands for, in every per-address bound (sockets, requests, strikes,
/// bans): an IPv4 address (an IPv4-mapped IPv6 one taken as the IPv4 address), or the /64 an
/// IPv6 address is in. One IPv6 host is commonly given a whole /64: counted by address, it
/// would have 2^64 budgets and could never be banned.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & 0xffff_ffff_ffff_ffff_0000_0000_0000_0000,
            )),
        },
    }
}

/// Why a connection was refused at accept, or a request on an admitted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address was disconnected for invalid input lately; seconds left.
    Banned(u64),
    /// [`Limits::max_per_ip`] sockets from this address are open.
    TooManyFromAddress,
    /// [`Limits::max_open`] sockets are open.
    TooManyConnections,
    /// [`Limits::max_requests_per_ip`] requests from this address this second.
    TooManyRequests,
}

impl Refusal {
    /// The metrics label (`memecoin_rejects_total{reason}`).
    pub fn kind(self) -> &'static str {
        match self {
            Refusal::Banned(_) => "Banned",
            Refusal::TooManyFromAddress => "TooManyConnectionsFromAddress",
            Refusal::TooManyConnections => "TooManyConnections",
            Refusal::TooManyRequests => "TooManyRequests",
        }
    }

    fn status(self) -> (warp::http::StatusCode, String) {
        use warp::http::StatusCode;
        match self {
            Refusal::Banned(left) => {
                (StatusCode::FORBIDDEN, format!("refused for {left} s after invalid messages"))
            }
            Refusal::TooManyFromAddress => {
                (StatusCode::TOO_MANY_REQUESTS, "too many connections from your address".into())
            }
            Refusal::TooManyConnections => {
                (StatusCode::SERVICE_UNAVAILABLE, "too many connections".into())
            }
            Refusal::TooManyRequests => {
                (StatusCode::TOO_MANY_REQUESTS, "too many requests from your address".into())
            }
        }
    }

    /// A complete HTTP response, written best-effort before the socket is closed.
    pub(crate) fn response(self) -> String {
        let (status, reason) = self.status();
        let body = serde_json::json!({ "error": reason }).to_string();
        format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            status.as_str(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        )
    }

    /// The answer to a refused request on an open connection: over the rate, come back in a
    /// second; banned, the connection is closed after it.
    pub(crate) fn into_reply(self) -> Response {
        let (status, reason) = self.status();
        let mut reply = warp::reply::with_status(
            warp::reply::json(&serde_json::json!({ "error": reason })),
            status,
        )
        .into_response();
        let (name, value) = match self {
            Refusal::TooManyRequests => ("retry-after", "1"),
            _ => ("connection", "close"),
        };
        reply.headers_mut().insert(name, warp::http::HeaderValue::from_static(value));
        reply
    }
}

/// The open sockets, in all and by address, and the HTTP requests by address.
#[derive(Debug, Default)]
pub struct Gate {
    limits: Limits,
    by_ip: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicU64,
    requests: Mutex<Tallies>,
}

/// Every tracked address's [`Tally`], and when the table was last pruned.
#[derive(Debug, Default)]
struct Tallies {
    by_ip: HashMap<IpAddr, Tally>,
    pruned: Option<Instant>,
}

/// One address's HTTP requests in its current one-second window, and its invalid submissions
/// since its first strike.
#[derive(Debug, Clone, Copy)]
struct Tally {
    window: Instant,
    requests: u32,
    strikes: u32,
    first_strike: Instant,
}

impl Tally {
    fn new(now: Instant) -> Self {
        Tally { window: now, requests: 0, strikes: 0, first_strike: now }
    }

    /// Whether it holds a strike that still counts.
    fn has_strike(&self, now: Instant) -> bool {
        self.strikes > 0 && now.duration_since(self.first_strike) < BAN
    }

    /// Nothing in it matters any more: its window is over and it holds no live strike.
    fn is_stale(&self, now: Instant) -> bool {
        now.duration_since(self.window) >= Duration::from_secs(1) && !self.has_strike(now)
    }
}

/// Where addresses beyond [`MAX_TRACKED`] are counted, together (no client has it).
const UNTRACKED: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

impl Gate {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Gate { limits, ..Gate::default() })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sockets open now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Admits a socket from `ip` (a slot, freed when dropped) or says why not. Counted by
    /// [`client_key`].
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let ip = client_key(ip);
        let Ok(mut by_ip) = self.by_ip.lock() else { return Err(Refusal::TooManyConnections) };
        if self.open() >= self.limits.max_open as u64 {
            return Err(Refusal::TooManyConnections);
        }
        let n = by_ip.entry(ip).or_default();
        if self.limits.max_per_ip > 0 && *n >= self.limits.max_per_ip {
            return Err(Refusal::TooManyFromAddress);
        }
        *n += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Slot { gate: self.clone(), ip })
    }

    /// `f` on the tally of `ip`'s client. Bounded: a new client when [`MAX_TRACKED`] are
    /// tracked prunes the table (at most every [`PRUNE_EVERY`]: expired tallies, then those
    /// without a strike: a rate budget forgotten costs a second's worth of requests, a strike
    /// forgotten a ban); if it is still full, the client is counted in the shared
    /// [`UNTRACKED`] tally.
    fn with_tally<T>(&self, ip: IpAddr, now: Instant, f: impl FnOnce(&mut Tally) -> T) -> T {
        // Nothing panics under this lock; if something did, the counts are still counts.
        let mut tallies = self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut key = client_key(ip);
        if !tallies.by_ip.contains_key(&key) && tallies.by_ip.len() >= MAX_TRACKED {
            if tallies.pruned.is_none_or(|t| now.duration_since(t) >= PRUNE_EVERY) {
                tallies.pruned = Some(now);
                tallies.by_ip.retain(|_, t| !t.is_stale(now));
                if tallies.by_ip.len() >= MAX_TRACKED {
                    tallies.by_ip.retain(|_, t| t.has_strike(now));
                }
            }
            if tallies.by_ip.len() >= MAX_TRACKED {
                key = UNTRACKED;
            }
        }
        f(tallies.by_ip.entry(key).or_insert_with(|| Tally::new(now)))
    }

    /// Counts an HTTP request from `ip` at `now`; `false` when it is over
    /// [`Limits::max_requests_per_ip`] in its one-second window.
    pub fn admit_request(&self, ip: IpAddr, now: Instant) -> bool {
        let limit = self.limits.max_requests_per_ip;
        if limit == 0 {
            return true;
        }
        self.with_tally(ip, now, |t| {
            if now.duration_since(t.window) >= Duration::from_secs(1) {
                t.window = now;
                t.requests = 0;
            }
            t.requests = t.requests.saturating_add(1);
            t.requests <= limit
        })
    }

    /// Counts a strike against `ip` (a badly signed transaction over HTTP); `true` when it is
    /// the [`MAX_STRIKES`]th within one [`BAN`] period, and the
    /// address is to be banned.
    pub fn strike(&self, ip: IpAddr, now: Instant) -> bool {
        self.with_tally(ip, now, |t| {
            if t.strikes == 0 || now.duration_since(t.first_strike) >= BAN {
                t.strikes = 0;
                t.first_strike = now;
            }
            t.strikes = t.strikes.saturating_add(1);
            let out = t.strikes >= MAX_STRIKES;
            if out {
                t.strikes = 0;
            }
            out
        })
    }
}

/// One admitted socket's place in the [`Gate`].
#[derive(Debug)]
pub struct Slot {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.open.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut by_ip) = self.gate.by_ip.lock()
            && let Some(n) = by_ip.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_caps_per_address_and_in_all_and_frees_on_drop() {
        let gate = Gate::new(Limits { max_open: 3, max_per_ip: 2, ..Limits::default() });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = gate.admit(a).unwrap();
        let _a2 = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).unwrap_err(), Refusal::TooManyFromAddress);
        let _b1 = gate.admit(b).unwrap();
        assert_eq!(gate.admit(b).unwrap_err(), Refusal::TooManyConnections);
        assert_eq!(gate.open(), 3);
        drop(a1);
        assert_eq!(gate.open(), 2);
        assert!(gate.admit(a).is_ok(), "a freed slot is reusable");
        assert_eq!(gate.open(), 2, "the slot above was dropped at once");
        assert!(gate.by_ip.lock().unwrap().len() <= 2);
    }

    #[test]
    fn no_per_address_cap_at_zero() {
        let gate = Gate::new(Limits { max_open: 10, max_per_ip: 0, ..Limits::default() });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let slots: Vec<_> = (0..10).map(|_| gate.admit(a).unwrap()).collect();
        assert_eq!(gate.admit(a).unwrap_err(), Refusal::TooManyConnections);
        drop(slots);
        assert_eq!(gate.open(), 0);
        assert!(gate.by_ip.lock().unwrap().is_empty());
    }

    #[test]
    fn requests_are_counted_per_address_and_per_second() {
        let gate = Gate::new(Limits { max_requests_per_ip: 3, ..Limits::default() });
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Instant::now();
        assert!((0..3).all(|_| gate.admit_request(a, t)));
        assert!(!gate.admit_request(a, t + Duration::from_millis(999)));
        assert!(gate.admit_request(b, t), "another address has its own budget");
        assert!(gate.admit_request(a, t + Duration::from_secs(1)), "a new second, a new budget");
        let open = Gate::new(Limits { max_requests_per_ip: 0, ..Limits::default() });
        assert!((0..1000).all(|_| open.admit_request(a, t)), "0: no limit");
    }

    #[test]
    fn strikes_ban_at_the_limit_within_a_ban_period() {
        let gate = Gate::new(Limits::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let t = Instant::now();
        let max = crate::net::MAX_STRIKES;
        assert!((1..max).all(|_| !gate.strike(a, t)));
        assert!(gate.strike(a, t), "the last strike bans");
        assert!(!gate.strike(a, t), "and the count starts over");
        // Strikes further apart than a ban period never add up to one.
        let mut at = t + crate::limits::BAN;
        for _ in 0..3 * max {
            assert!(!gate.strike(a, at));
            at += crate::limits::BAN;
        }
    }

    #[test]
    fn the_request_table_is_bounded_and_keeps_strikes() {
        let gate = Gate::new(Limits { max_requests_per_ip: 2, ..Limits::default() });
        let t = Instant::now();
        let ip = |i: u32| IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        let struck = 10;
        for i in 0..struck {
            assert!(!gate.strike(ip(i), t));
        }
        for i in struck..MAX_TRACKED as u32 {
            assert!(gate.admit_request(ip(i), t));
        }
        let tracked = || gate.requests.lock().unwrap().by_ip.len();
        assert_eq!(tracked(), MAX_TRACKED);
        // Full of live tallies: a new client prunes those without a strike, and strikes stay.
        assert!(gate.admit_request(ip(1 << 20), t));
        assert_eq!(tracked(), struck as usize + 1);
        for _ in 2..crate::net::MAX_STRIKES {
            assert!(!gate.strike(ip(0), t));
        }
        assert!(gate.strike(ip(0), t), "strikes survive pruning");
        // Full again within the second: no second pruning; new clients share one tally.
        let soon = t + Duration::from_millis(500);
        for i in 0..(MAX_TRACKED - tracked()) as u32 {
            assert!(gate.admit_request(ip((1 << 21) + i), soon));
        }
        assert_eq!(tracked(), MAX_TRACKED);
        assert!(gate.admit_request(ip(1 << 22), soon));
        assert!(gate.admit_request(ip((1 << 22) + 1), soon));
        assert!(!gate.admit_request(ip((1 << 22) + 2), soon), "untracked clients share a tally");
        // A second later the table may be pruned again: expired tallies go.
        assert!(gate.admit_request(ip(1 << 23), soon + PRUNE_EVERY));
        assert!(tracked() <= struck as usize + 2, "{}", tracked());
    }

    #[test]
    fn clients_are_ipv4_addresses_and_ipv6_64s() {
        let key = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(key("10.1.2.3"), key("::ffff:10.1.2.3"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_ne!(key("10.1.2.3"), key("10.1.2.4"));
        // Every per-address bound goes by client: one /64 is one client.
        let gate = Gate::new(Limits { max_per_ip: 2, max_requests_per_ip: 2, ..Limits::default() });
        let (a, b): (IpAddr, IpAddr) =
            ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap());
        let _slots = (gate.admit(a).unwrap(), gate.admit(b).unwrap());
        assert_eq!(
            gate.admit("2001:db8::3".parse().unwrap()).unwrap_err(),
            Refusal::TooManyFromAddress
        );
        let t = Instant::now();
        assert!(gate.admit_request(a, t) && gate.admit_request(b, t));
        assert!(!gate.admit_request("2001:db8::4".parse().unwrap(), t));
    }

    #[test]
    fn refusals_are_complete_http_responses() {
        for (r, status) in [
            (Refusal::Banned(5), "403"),
            (Refusal::TooManyFromAddress, "429"),
            (Refusal::TooManyConnections, "503"),
            (Refusal::TooManyRequests, "429"),
        ] {
            let text = r.response();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
            assert!(head.contains(&format!("content-length: {}", body.len())), "{text}");
            assert!(serde_json::from_str::<serde_json::Value>(body).unwrap()["error"].is_string());
        }
    }
}
