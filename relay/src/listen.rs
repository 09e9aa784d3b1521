//! The listener: accepts TCP connections, admits or refuses each one before any HTTP is parsed,
//! and serves warp's routes over HTTP/1.1 (with upgrades, for `/ws`) on plain TCP or TLS.
//!
//! warp 0.4's own server sets no timer on hyper, so it has no header deadline: a client that
//! sends its request one byte a minute, or nothing at all, holds a socket forever. This loop
//! bounds every stage instead:
//!
//! - **Admission**, at accept: an address refused for invalid input ([`Shared::ban`]) gets a
//!   403 and the socket is closed; so is a connection over [`Limits::max_per_ip`] from one
//!   address (429) or over [`Limits::max_open`] in all (503). Nothing else is read from it.
//! - **TLS handshake**: [`tls::HANDSHAKE_TIMEOUT`](crate::tls::HANDSHAKE_TIMEOUT).
//! - **Request head**: [`Limits::header_timeout`] (hyper's `header_read_timeout`, which also ends
//!   an idle keep-alive connection waiting for its next request).
//! - **Request**: [`Limits::request_timeout`] covers reading the body and the handler (408).
//! - **Request rate**: at most [`Limits::max_requests_per_ip`] HTTP requests a second from one
//!   address (429 beyond, with `retry-after`); a request from an address banned since its
//!   connection opened gets 403 and the connection is closed (a keep-alive connection would
//!   otherwise outlive the ban it earned).
//!
//! An admitted connection holds its slot until its socket closes, through the upgrade: a
//! WebSocket counts against its address's cap for as long as it is open.

use crate::shared::{Metrics, Shared};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use warp::reply::Response;
use warp::{Filter, Reply as _};

/// Bounds on what the listener keeps open and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most sockets open at once, HTTP and WebSocket together.
    pub max_open: usize,
    /// Most sockets open at once from one IP address (0: no per-address cap). Behind a reverse
    /// proxy every client has the proxy's address: raise it or turn it off there.
    pub max_per_ip: usize,
    /// How long a client may take to send a request's head (and an idle keep-alive connection
    /// may wait for its next request).
    pub header_timeout: Duration,
    /// How long a request may take from its head to the response (body and handler).
    pub request_timeout: Duration,
    /// Most WebSockets open at once, accepted and dialed together: an upgrade beyond gets 503.
    pub max_websockets: usize,
    /// Events (§16.5) a connection may fall behind before it lags: a relay peer is then
    /// dropped, a browser sent the current head.
    pub event_buffer: usize,
    /// Most HTTP requests a second from one IP address, over all its connections (0: no
    /// limit). A WebSocket's upgrade is one request; its messages have their own cap
    /// ([`crate::net::MAX_RATE`]).
    pub max_requests_per_ip: u32,
}

/// Default [`Limits::max_open`]: the WebSocket cap and room for HTTP clients.
pub const MAX_OPEN: usize = crate::shared::MAX_CONNECTIONS + 512;
/// Default [`Limits::max_per_ip`]: a browser opens a few, a relay one or two; a NAT of many
/// users is the case that needs the room.
pub const MAX_PER_IP: usize = 64;
/// Default [`Limits::max_requests_per_ip`]: a page load is a dozen requests, a wallet talks over
/// its WebSocket; a script polling the API a few hundred times a second is refused.
pub const MAX_REQUESTS_PER_IP: u32 = 200;
/// Addresses whose request rate and strikes are tracked at once (about 1 MiB). When the table
/// is full, it is pruned (at most once a second): expired tallies go, then those holding no
/// strike; if it is still full, new addresses share one tally until the next pruning.
pub const MAX_TRACKED: usize = 16_384;
/// How often a full table may be pruned: pruning walks it, and must not cost every request.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// Default [`Limits::header_timeout`].
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Limits::request_timeout`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_open: MAX_OPEN,
            max_per_ip: MAX_PER_IP,
            header_timeout: HEADER_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_requests_per_ip: MAX_REQUESTS_PER_IP,
            max_websockets: crate::shared::MAX_CONNECTIONS,
            event_buffer: crate::shared::EVENT_BUFFER,
        }
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
    fn response(self) -> String {
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
    fn into_reply(self) -> Response {
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

/// Why a request from `ip` on an admitted connection is not served, if it is not (counted as a
/// request either way).
fn request_refusal(shared: &Shared, ip: IpAddr) -> Option<Refusal> {
    let refusal = match shared.banned_for(ip) {
        Some(left) => Refusal::Banned(left),
        None if !shared.gate.admit_request(ip, Instant::now()) => Refusal::TooManyRequests,
        None => return None,
    };
    shared.metrics.reject(refusal.kind());
    Some(refusal)
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
        self.strikes > 0 && now.duration_since(self.first_strike) < crate::shared::BAN
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
    /// the [`crate::net::MAX_STRIKES`]th within one [`crate::shared::BAN`] period, and the
    /// address is to be banned.
    pub fn strike(&self, ip: IpAddr, now: Instant) -> bool {
        self.with_tally(ip, now, |t| {
            if t.strikes == 0 || now.duration_since(t.first_strike) >= crate::shared::BAN {
                t.strikes = 0;
                t.first_strike = now;
            }
            t.strikes = t.strikes.saturating_add(1);
            let out = t.strikes >= crate::net::MAX_STRIKES;
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

/// A socket with its slot: the slot is freed when the socket is dropped, wherever it went (an
/// upgraded WebSocket owns it).
#[derive(Debug)]
struct Counted<S> {
    io: S,
    _slot: Slot,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The client's address, as a request extension (warp's own `addr::remote` is filled only by
/// warp's server, which this module replaces).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The client's socket address, for routes.
pub fn remote() -> impl Filter<Extract = (Option<SocketAddr>,), Error = Infallible> + Clone {
    warp::ext::optional::<ClientAddr>().map(|c: Option<ClientAddr>| c.map(|c| c.0))
}

/// Serves `filter` on `listener` (over TLS with `tls`) until `shutdown` resolves, then lets open
/// HTTP connections finish their current request (up to `request_timeout`). Upgraded
/// WebSockets end on [`Shared::stopping`] instead.
pub async fn serve<F>(
    filter: F,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let gate = shared.gate.clone();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    // Every connection task holds a clone; when all are gone, `done` yields `None`.
    let (alive, mut done) = tokio::sync::mpsc::channel::<()>(1);
    let lingering = Arc::new(AtomicU64::new(0));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let admitted = match shared.banned_for(remote.ip()) {
            Some(left) => Err(Refusal::Banned(left)),
            None => gate.admit(remote.ip()),
        };
        let slot = match admitted {
            Ok(slot) => slot,
            Err(refusal) => {
                shared.metrics.reject(refusal.kind());
                Metrics::inc(&shared.metrics.refused);
                tracing::debug!(%remote, "refused: {}", refusal.kind());
                // A plain-HTTP client learns why; a TLS client sees the connection close.
                if acceptor.is_none() {
                    refuse(tcp, refusal, &lingering);
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let tcp = Counted { io: tcp, _slot: slot };
        let filter = filter.clone();
        let acceptor = acceptor.clone();
        let limits = limits.clone();
        let shared = shared.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            match acceptor {
                None => serve_http(tcp, remote, filter, &limits, shared).await,
                Some(acceptor) => {
                    let handshake = acceptor.accept(tcp);
                    match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, handshake).await {
                        Ok(Ok(tls)) => serve_http(tls, remote, filter, &limits, shared).await,
                        Ok(Err(e)) => tracing::debug!(%remote, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                    }
                }
            }
            drop(alive);
        });
    }
    drop(listener);
    drop(alive);
    let _ = done.recv().await;
}

/// Refused sockets answered at once, at most: beyond this, a refused socket is just closed.
const MAX_LINGERING: u64 = 256;
/// How long a refused socket is kept to deliver its answer.
const LINGER: Duration = Duration::from_millis(500);

/// Answers a refused socket and closes it. The answer is written, then what the client sent is
/// read and dropped for up to [`LINGER`] (closing with unread input would reset the connection
/// and the client might never see the answer). Bounded: at most [`MAX_LINGERING`] at a time.
fn refuse(tcp: tokio::net::TcpStream, refusal: Refusal, lingering: &Arc<AtomicU64>) {
    let _ = tcp.try_write(refusal.response().as_bytes());
    if lingering.fetch_add(1, Ordering::Relaxed) >= MAX_LINGERING {
        lingering.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let lingering = lingering.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tcp;
        let _ = tokio::time::timeout(LINGER, async {
            let _ = tcp.shutdown().await;
            let mut sink = [0u8; 1024];
            while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
        lingering.fetch_sub(1, Ordering::Relaxed);
    });
}

/// HTTP/1.1 on one admitted socket, with upgrades, until it closes, upgrades, or the relay stops.
async fn serve_http<S, F>(
    io: S,
    remote: SocketAddr,
    filter: F,
    limits: &Limits,
    shared: Arc<Shared>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let warp_service = warp::service(filter);
    let request_timeout = limits.request_timeout;
    let mut stopping = shared.stopping.clone();
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let refused = request_refusal(&shared, remote.ip());
            req.extensions_mut().insert(ClientAddr(remote));
            let mut svc = warp_service.clone();
            let answer = match refused {
                None => Ok(tower_service::Service::call(&mut svc, req)),
                Some(refusal) => Err(refusal),
            };
            async move {
                let answer = match answer {
                    Ok(answer) => answer,
                    Err(refusal) => return Ok(refusal.into_reply()),
                };
                match tokio::time::timeout(request_timeout, answer).await {
                    Ok(answer) => answer,
                    Err(_) => Ok(warp::reply::with_status(
                        warp::reply::json(&serde_json::json!({ "error": "request timed out" })),
                        warp::http::StatusCode::REQUEST_TIMEOUT,
                    )
                    .into_response()),
                }
            }
        });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = async { drop(stopping.wait_for(|s| *s).await) } => {
            conn.as_mut().graceful_shutdown();
            tokio::time::timeout(request_timeout, conn.as_mut()).await.unwrap_or(Ok(()))
        }
    };
    if let Err(e) = result {
        tracing::debug!(%remote, "connection: {e}");
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
        let mut at = t + crate::shared::BAN;
        for _ in 0..3 * max {
            assert!(!gate.strike(a, at));
            at += crate::shared::BAN;
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
