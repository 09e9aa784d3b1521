//! A relay serving TLS with a self-signed certificate made at test time: the JSON API answers
//! over HTTPS, `/ws` upgrades over TLS (`wss://`) and says hello, plain HTTP on the TLS port
//! gets no HTTP answer, a bad or missing certificate or key is a startup error naming the file,
//! and the relay stops cleanly.

use futures_util::StreamExt;
use memecoin_relay::TlsConfig;
use memecoin_tests::{genesis, http_on, tcp_from, try_start};
use rustls_pki_types::ServerName;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files in `dir`.
/// Returns the files and a client configuration that trusts (only) that certificate.
fn self_signed(dir: &Path) -> (TlsConfig, Arc<rustls::ClientConfig>) {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let tls = TlsConfig { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
    std::fs::write(&tls.cert, made.cert.pem()).unwrap();
    std::fs::write(&tls.key, made.signing_key.serialize_pem()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    (tls, Arc::new(client))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_serves_https_and_wss_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, client) = self_signed(dir.path());
    let g = genesis(1, 400);
    let relay = try_start(&g, &dir.path().join("relay"), None, vec![], Some(tls)).await.unwrap();
    let addr = relay.handle.addr;
    assert_eq!(relay.handle.shared.public_addr, Some(format!("wss://{addr}/ws")));
    // A client that connects and never starts its handshake (checked at the end).
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();

    // (1) The JSON API over HTTPS, checked against the certificate's name.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(client.clone())
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (status, body) =
        http_on(stream, &format!("localhost:{}", addr.port()), "GET", "/api/head", None).await;
    assert_eq!(status, 200, "{body}");
    let head: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(head.get("height").is_some(), "{body}");

    // (2) A WebSocket over TLS: the upgrade goes through and the relay says hello first.
    let url = format!("wss://127.0.0.1:{}/ws", addr.port());
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(client.clone())),
    )
    .await
    .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a first message within 10 s")
        .expect("the stream is open")
        .unwrap();
    let hello: serde_json::Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(hello["type"], "hello", "{hello}");
    assert_eq!(hello["chain_id"], g.chain_id().to_hex(), "{hello}");

    // (3) Plain HTTP on the TLS port: the handshake fails, no HTTP response comes back.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /api/head HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), plain.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "the relay closes a connection that does not speak TLS");
    assert!(
        !raw.starts_with(b"HTTP/"),
        "plain HTTP got an answer: {:?}",
        String::from_utf8_lossy(&raw)
    );

    // (4) The silent client: still held while the rest ran, then closed at the handshake
    // deadline (`tls::HANDSHAKE_TIMEOUT`), without a byte.
    let mut byte = [0u8; 1];
    assert!(
        matches!(silent.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the silent client was not held for its handshake"
    );
    let deadline = memecoin_relay::tls::HANDSHAKE_TIMEOUT + Duration::from_secs(10);
    let ended = tokio::time::timeout(deadline, silent.read(&mut byte)).await;
    assert!(
        matches!(ended, Ok(Ok(0)) | Ok(Err(_))),
        "a client without a handshake is closed at its deadline: {ended:?}"
    );

    // Shutdown with a WebSocket still open: the relay closes it and every task ends.
    relay.stop().await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the WebSocket ends when the relay stops");
}

#[tokio::test]
async fn bad_certificate_or_key_is_a_startup_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, _) = self_signed(dir.path());
    let g = genesis(1, 400);
    let check = |tls: TlsConfig, file: &'static str, data: &'static str| {
        let g = g.clone();
        let data_dir = dir.path().join(format!("relay-{file}"));
        async move {
            let err = try_start(&g, &data_dir, None, vec![], Some(tls))
                .await
                .expect_err("start must fail");
            let text = format!("{err:#}");
            assert!(text.contains(file), "error {text:?} names {file}");
            assert!(text.contains(data), "error {text:?} says {data:?}");
            // Refused before the data dir is created: nothing was started.
            assert!(!data_dir.exists(), "{text}");
        }
    };
    // (4) A missing key file.
    check(
        TlsConfig { key: dir.path().join("missing.pem"), ..tls.clone() },
        "missing.pem",
        "No such file",
    )
    .await;
    // A certificate file with no certificate in it.
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
    check(
        TlsConfig { cert: dir.path().join("empty.pem"), ..tls.clone() },
        "empty.pem",
        "no CERTIFICATE",
    )
    .await;
    // A key that is not the certificate's.
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(dir.path().join("other.pem"), other.serialize_pem()).unwrap();
    check(TlsConfig { key: dir.path().join("other.pem"), ..tls }, "other.pem", "other.pem").await;
}

/// Over TLS the relay knows each client's address too: a peer struck out over `wss://` is
/// refused at accept afterwards (its next TLS handshake gets no answer), others are served.
/// (warp's filter run as a bare service never saw the address, so bans did nothing over TLS.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_struck_out_over_tls_is_refused() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message as T;
    let dir = tempfile::tempdir().unwrap();
    let (tls, client) = self_signed(dir.path());
    let g = genesis(1, 400);
    let relay = try_start(&g, &dir.path().join("relay"), None, vec![], Some(tls)).await.unwrap();
    let addr = relay.handle.addr;
    let wss = |from: &'static str| {
        let client = client.clone();
        async move {
            let tcp = tcp_from(from, addr).await?;
            let url = format!("wss://127.0.0.1:{}/ws", addr.port());
            let connector = tokio_tungstenite::Connector::Rustls(client);
            tokio_tungstenite::client_async_tls_with_config(url, tcp, None, Some(connector))
                .await
                .map(|(ws, _)| ws)
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
    };
    let mut ws = wss("127.0.0.2").await.unwrap();
    let hello = serde_json::json!({"type": "hello", "version": 1, "chain_id": g.chain_id().to_hex(), "role": "relay"});
    ws.send(T::text(hello.to_string())).await.unwrap();
    for _ in 0..memecoin_relay::net::MAX_STRIKES {
        ws.send(T::text("not a message")).await.unwrap();
    }
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(m)) = ws.next().await {
            if let T::Close(frame) = m {
                return frame.map(|f| f.reason.to_string());
            }
        }
        None
    })
    .await
    .unwrap();
    assert!(closed.is_some_and(|r| r.contains("too many invalid messages")));
    let again = tokio::time::timeout(Duration::from_secs(10), wss("127.0.0.2")).await.unwrap();
    assert!(again.is_err(), "a banned address got a TLS connection");
    wss("127.0.0.1").await.expect("another address is served");
    relay.stop().await;
}
