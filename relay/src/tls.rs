//! TLS on the relay's listener, so a wallet page served over `https://` can reach `wss://`.
//!
//! warp 0.4 serves plain TCP only, and its acceptor trait is private. So the TLS path runs the
//! same warp filter as a hyper service ([`warp::service`]) on connections it accepts itself: a
//! tokio `TcpListener`, a rustls handshake (tokio-rustls, `ring` provider), then hyper-util's
//! connection builder with upgrades, so `/ws` upgrades work over TLS as over plain HTTP.
//!
//! Shutdown mirrors warp's graceful server: on the signal the listener is dropped (no new
//! connections), HTTP connections finish their request and close, and upgraded WebSockets
//! (which hyper no longer tracks) end on [`Shared::stopping`](crate::shared::Shared::stopping).

use anyhow::{Context, anyhow};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use warp::Filter;
use warp::reply::Response;

/// A TLS handshake that takes longer than this is dropped, so idle sockets cannot pile up.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate chain and its private key, both PEM files, for serving `https://` and
/// `wss://` on the relay's port instead of plain HTTP (no plain HTTP is served then).
///
/// `cert` holds one or more `CERTIFICATE` blocks, leaf first; `key` holds one private key
/// (PKCS#8, PKCS#1 or SEC1). Both are read once, at start: a missing, unreadable or mismatched
/// file is a startup error naming the file. Renewing a certificate means restarting the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsConfig {
    /// Reads both files and builds the server's rustls configuration (TLS 1.2 and 1.3, ALPN
    /// `http/1.1`: WebSockets upgrade over HTTP/1.1).
    pub fn load(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let cert = self.cert.display();
        let key_file = self.key.display();
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| anyhow!("TLS certificate {cert}: {e}"))?;
        if chain.is_empty() {
            return Err(anyhow!("TLS certificate {cert}: no CERTIFICATE block found"));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| anyhow!("TLS private key {key_file}: {e}"))?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("TLS: the ring provider supports no default protocol version")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| anyhow!("TLS private key {key_file} with certificate {cert}: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Serves `filter` over TLS on `listener` until `shutdown` resolves, then waits for open HTTP
/// connections to finish their current request.
pub async fn serve<F>(
    filter: F,
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
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
        let acceptor = acceptor.clone();
        let service = hyper_util::service::TowerToHyperService::new(warp::service(filter.clone()));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%remote, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            let builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let conn =
                builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%remote, "connection error: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
