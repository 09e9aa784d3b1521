//! Helpers for whole-system tests: start real relays on loopback, talk to them over real
//! sockets (HTTP and WebSocket), wait for conditions with a deadline.

pub mod liar;

use memecoin_core::genesis::Genesis;
use memecoin_node::keys;
use memecoin_node::node::ValidatorKey;
use memecoin_relay::{Config, Handle, TlsConfig};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A relay running in this process on its own data dir and port.
#[derive(Debug)]
pub struct Relay {
    pub handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    pub dir: std::path::PathBuf,
}

impl Relay {
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.handle.addr)
    }

    /// Stops the relay and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
        self.task.abort();
        // Every connection task holds the node; the database closes when the last one ends.
        let shared = self.handle.shared.clone();
        wait_for("the relay's tasks to end", 10, || {
            let n = std::sync::Arc::strong_count(&shared);
            async move { (n <= 2).then_some(()) }
        })
        .await;
    }

    pub async fn head(&self) -> (u64, u64) {
        self.handle
            .shared
            .with_node(|n| (n.head_state().map_or(0, |s| s.tip.height), n.finalized().height))
            .await
    }

    pub async fn head_hash(&self) -> Option<memecoin_core::hash::Hash> {
        self.handle.shared.with_node(|n| n.head_state().map(|s| s.tip.hash)).await
    }

    pub async fn finalized_hash_at(&self, height: u64) -> Option<memecoin_core::hash::Hash> {
        self.handle
            .shared
            .with_node(|n| (height <= n.finalized().height).then(|| n.hash_at(height)).flatten())
            .await
    }
}

/// A devnet genesis with `validators` validators and fast slots, starting now.
pub fn genesis(validators: u32, slot_ms: u64) -> Genesis {
    let mut g = keys::devnet_genesis(validators, memecoin_node::node::now_ms()).unwrap();
    g.params.slot_ms = slot_ms;
    g
}

pub async fn start(
    genesis: &Genesis,
    dir: &std::path::Path,
    validator: Option<ValidatorKey>,
    peers: Vec<String>,
) -> Relay {
    try_start(genesis, dir, validator, peers, None).await.unwrap()
}

/// Like [`start`], with optional TLS, returning `start`'s error instead of failing the test.
pub async fn try_start(
    genesis: &Genesis,
    dir: &std::path::Path,
    validator: Option<ValidatorKey>,
    peers: Vec<String>,
    tls: Option<TlsConfig>,
) -> anyhow::Result<Relay> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    try_start_on(listener, genesis, dir, validator, peers, tls).await
}

/// Like [`try_start`], on a listener the test bound itself (e.g. at an address announced
/// before the relay existed).
pub async fn try_start_on(
    listener: tokio::net::TcpListener,
    genesis: &Genesis,
    dir: &std::path::Path,
    validator: Option<ValidatorKey>,
    peers: Vec<String>,
    tls: Option<TlsConfig>,
) -> anyhow::Result<Relay> {
    launch_on(listener, Config { tls, ..config(genesis, dir, validator, peers) })
}

/// The config [`start`] uses: no TLS, no faucet, no wallet page.
pub fn config(
    genesis: &Genesis,
    dir: &std::path::Path,
    validator: Option<ValidatorKey>,
    peers: Vec<String>,
) -> Config {
    Config {
        genesis: genesis.clone(),
        data_dir: dir.to_path_buf(),
        peers,
        validator,
        www: None,
        public_addr: None,
        max_dialed: 8,
        peer_exchange: true,
        tls: None,
        faucet: None,
        limits: Default::default(),
        pruning: None,
        checkpoint_sync: None,
        // In-process test networks start their validators together, from genesis.
        doppelganger_epochs: 0,
    }
}

/// Starts a relay with any `config` on a fresh loopback port.
pub async fn launch(config: Config) -> anyhow::Result<Relay> {
    launch_on(tokio::net::TcpListener::bind("127.0.0.1:0").await?, config)
}

/// Starts a relay with any `config` on `listener`.
pub fn launch_on(listener: tokio::net::TcpListener, config: Config) -> anyhow::Result<Relay> {
    let dir = config.data_dir.clone();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (handle, server) = memecoin_relay::start(config, listener, async move {
        let _ = stop_rx.await;
    })?;
    let task = tokio::spawn(server);
    Ok(Relay { handle, stop: Some(stop_tx), task, dir })
}

/// Polls `check` every 100 ms until it returns `Some`, or fails the test after `secs`.
pub async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A minimal HTTP/1.1 request over a real socket: (status, body).
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    http_on(stream, &addr.to_string(), method, path, body).await
}

/// [`http`] on an already connected stream (plain TCP or TLS); `host` is the Host header.
pub async fn http_on(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    host: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    // A refused connection may end in a reset after its answer: keep what arrived.
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

/// A TCP connection to `addr` from the loopback address `from` (all of 127.0.0.0/8 is loopback
/// on Linux), so that one test can play clients at several addresses: an attacker the relay
/// bans or caps, and honest clients it must go on serving.
pub async fn tcp_from(from: &str, addr: std::net::SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    let local: std::net::SocketAddr =
        format!("{from}:0").parse().map_err(|e| std::io::Error::other(format!("{from}: {e}")))?;
    socket.bind(local)?;
    socket.connect(addr).await
}

/// A WebSocket client of `relay` from the loopback address `from` (see [`tcp_from`]).
pub async fn ws_from(
    from: &str,
    relay: &Relay,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let tcp = tcp_from(from, relay.handle.addr).await?;
    let plain = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    Ok(tokio_tungstenite::client_async(relay.url(), plain).await?.0)
}

/// A WebSocket client stream (plain or TLS).
pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// [`http`] from the loopback address `from` (see [`tcp_from`]).
pub async fn http_from(
    from: &str,
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let stream = tcp_from(from, addr).await.unwrap();
    http_on(stream, &addr.to_string(), method, path, body).await
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// The workspace's root folder (this crate is `tests/` in it): where the page, the npm package
/// and the scripts the tests run are.
pub fn workspace_root() -> std::path::PathBuf {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    tests.parent().unwrap_or(tests).to_path_buf()
}

/// Builds memecoin-wasm for Node.js (`wasm-pack build --dev --target nodejs`) into `out` and
/// returns the package folder. wasm-pack is installed by `cargo xtask test`.
pub fn wasm_pkg_for_node(out: &std::path::Path) -> std::path::PathBuf {
    let root = workspace_root();
    let pkg = out.join("pkg");
    let status = std::process::Command::new("wasm-pack")
        .current_dir(&root)
        .args(["build", "--dev", "--target", "nodejs", "--out-dir"])
        .arg(&pkg)
        .arg("wasm")
        .status()
        .expect("wasm-pack must be installed: run `cargo xtask test`, which installs it");
    assert!(status.success(), "wasm-pack build failed: {status}");
    pkg
}

/// `node` with a global `WebSocket`: built in from Node.js 22, behind a flag in Node.js 20/21.
pub fn node_command() -> tokio::process::Command {
    let version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .expect("node must be installed (Node.js 20 or newer)");
    let text = String::from_utf8_lossy(&version.stdout);
    let major: u32 = text
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(major >= 20, "Node.js 20 or newer is needed, found {text}");
    let mut node = tokio::process::Command::new("node");
    if major < 22 {
        node.arg("--experimental-websocket");
    }
    node
}
