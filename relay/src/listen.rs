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

use crate::admission::{Refusal, Slot};
use crate::limits::Limits;
use crate::shared::{Metrics, Shared};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use warp::reply::Response;
use warp::{Filter, Reply as _};

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
