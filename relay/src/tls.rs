//! TLS on the relay's listener, so a wallet page served over `https://` can reach `wss://`.
//!
//! warp 0.4 serves plain TCP only, and its acceptor trait is private. So the relay's own accept
//! loop ([`crate::listen`]) runs the warp filter as a hyper service on the connections it accepts,
//! after a rustls handshake (tokio-rustls, `ring` provider) here; `/ws` upgrades work over TLS
//! as over plain HTTP.

use anyhow::{Context, anyhow};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
