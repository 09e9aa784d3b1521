//! A lying relay for tests: a WebSocket proxy in front of a real relay that passes everything
//! through, except that it forges what a light client must catch. With [`Lie::Balance`] every
//! `account` reply's proof claims a much larger balance (a forged account, same state root);
//! with [`Lie::Certificate`] every finality proof (`finality` replies and `finalized`
//! notifications) carries signatures by a key that is not the validators'. With
//! [`Lie::Equivocate`] every `head` is replaced by a second header at the same height, validly
//! signed by the proposer (whose key the test holds): what a relay on another branch, or an
//! equivocating proposer, would show — not a forgery a light client can refuse, but a
//! disagreement it must report.

use futures_util::{SinkExt, StreamExt};
use memecoin_core::block::SignedHeader;
use memecoin_core::crypto::SecretKey;
use memecoin_core::hash::Hash;
use memecoin_core::light::{AccountProof, FinalityProof};
use memecoin_core::wire::{decode_hex, encode_hex};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// Coins (base units) a forged balance proof adds: a million MEME.
pub const FORGED_EXTRA: u64 = 1_000_000_000_000_000;

#[derive(Debug, Clone)]
pub enum Lie {
    Balance,
    Certificate,
    /// The proposer's key and the chain id it signs for.
    Equivocate(SecretKey, Hash),
}

/// A running liar: browsers connect to `url()`, it connects to the real relay per browser.
#[derive(Debug)]
pub struct Liar {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Liar {
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

impl Drop for Liar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a liar on a loopback port in front of `upstream` (`ws://…/ws`).
pub async fn start(upstream: String, lie: Lie) -> Liar {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            conns.spawn(proxy(stream, upstream.clone(), lie.clone()));
        }
    });
    Liar { addr, task }
}

async fn proxy(stream: tokio::net::TcpStream, upstream: String, lie: Lie) {
    let Ok(browser) = tokio_tungstenite::accept_async(stream).await else { return };
    let Ok((relay, _)) = tokio_tungstenite::connect_async(&upstream).await else { return };
    let (mut to_browser, mut from_browser) = browser.split();
    let (mut to_relay, mut from_relay) = relay.split();
    let up = async {
        while let Some(Ok(msg)) = from_browser.next().await {
            if to_relay.send(msg).await.is_err() {
                break;
            }
        }
    };
    let down = async {
        while let Some(Ok(msg)) = from_relay.next().await {
            let msg = match msg {
                Message::Text(text) => Message::text(tamper(text.as_str(), &lie)),
                other => other,
            };
            if to_browser.send(msg).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = up => {},
        _ = down => {},
    }
}

/// The frame as the liar passes it on.
pub fn tamper(text: &str, lie: &Lie) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(text) else { return text.to_string() };
    match (lie, v["type"].as_str()) {
        (Lie::Balance, Some("account")) => {
            let proof = v["proof"].as_str().map(|hex| decode_hex::<AccountProof>("proof", hex));
            if let Some(Ok(mut proof)) = proof {
                let mut account = proof.account.unwrap_or_default();
                account.balance = account.balance.saturating_add(FORGED_EXTRA);
                proof.account = Some(account);
                v["proof"] = Value::String(encode_hex(&proof));
            }
        }
        (Lie::Certificate, Some("finalized")) => {
            if let Some(hex) = v["proof"].as_str() {
                v["proof"] = Value::String(forge_certificate(hex));
            }
        }
        (Lie::Certificate, Some("finality")) => {
            if let Some(proofs) = v["proofs"].as_array_mut() {
                for p in proofs {
                    if let Some(hex) = p.as_str() {
                        *p = Value::String(forge_certificate(hex));
                    }
                }
            }
        }
        (Lie::Equivocate(proposer, chain_id), Some("head")) => {
            let signed = v["header"].as_str().map(|hex| decode_hex::<SignedHeader>("header", hex));
            if let Some(Ok(signed)) = signed {
                let mut header = signed.header;
                header.state_root = Hash([0xee; 32]);
                v["header"] = Value::String(encode_hex(&header.sign(chain_id, proposer)));
            }
        }
        _ => return text.to_string(),
    }
    v.to_string()
}

/// The same finality proof with every certificate signature made by a stranger's key.
fn forge_certificate(hex: &str) -> String {
    let Ok(mut proof) = decode_hex::<FinalityProof>("proof", hex) else { return hex.to_string() };
    let stranger = SecretKey::from_bytes(&[0x42; 32]).expect("a fixed valid key");
    for (_, signature) in &mut proof.certificate.signatures {
        *signature = stranger.sign(&Hash([0x17; 32]));
    }
    encode_hex(&proof)
}
