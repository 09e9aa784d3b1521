//! A lying relay for tests: a WebSocket proxy in front of a real relay that passes everything
//! through, except that it forges what a light client must catch. With [`Lie::Balance`] every
//! `account` reply's proof claims a much larger balance (a forged account, same state root),
//! and every `meta` reply's chain meta has an empty validator registry;
//! with [`Lie::Certificate`] every finality proof (`finality` replies and `finalized`
//! notifications) carries signatures by a key that is not the validators'. With
//! [`Lie::Equivocate`] every `head` is replaced by a second header at the same height, validly
//! signed by the proposer (whose key the test holds): what a relay on another branch, or an
//! equivocating proposer, would show — not a forgery a light client can refuse, but a
//! disagreement it must report. With [`Lie::HeadBalance`] it works with an elected proposer to
//! show a balance that no finality proof covers, as a head state.

use futures_util::{SinkExt, StreamExt};
use memecoin_core::account::state_key;
use memecoin_core::address::Address;
use memecoin_core::crypto::SecretKey;
use memecoin_core::encode::Encode;
use memecoin_core::finality::{Certificate, Checkpoint, Vote};
use memecoin_core::hash::Hash;
use memecoin_core::header::SignedHeader;
use memecoin_core::light;
use memecoin_core::light::{AccountProof, FinalityProof};
use memecoin_core::state::{ChainMeta, ChainState, state_root};
use memecoin_core::tree::{self, MemStore};
use memecoin_core::tx::SignedTx;
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
    /// A relay working with an elected proposer (`key`, signing for `chain_id`): it tells the
    /// browser every 2 s that its watched accounts changed, and answers each read at the head
    /// with a header the proposer signed over a made-up state in which the account holds
    /// [`FORGED_EXTRA`] more — at the real head's height, or, with `tall`, at height 10^15.
    HeadBalance {
        key: SecretKey,
        chain_id: Hash,
        tall: bool,
    },
    /// Every finality proof replaced by one for a sibling of its source (another state root,
    /// the same parent), with a child and a certificate signed by `key`, a validator of the chain
    /// `chain_id` with more than 2/3 of the stake: conflicting finality, as a corrupt
    /// supermajority would sign it.
    Fork(SecretKey, Hash),
    /// Every `submit_tx` answered "accepted" and never passed on, and every later
    /// `get_inclusion` for it answered "pending": a relay that swallows transactions.
    Swallow,
    /// Finality withheld: no `finalized` notification passes, and `finality` replies are empty.
    /// What a relay shows when finality has stalled (or one that hides that it moved).
    Stale,
    /// Every `checkpoint` reply's state forged (another accounts root): what a joining relay
    /// must refuse against the block's state root (PROTOCOL.md §16.11).
    Checkpoint,
    /// Every `nodes` reply's nodes forged (each leaf's value changed, each inner node's
    /// children swapped): none hashes to what was asked, so a joining relay keeps none.
    Nodes,
}

/// The height a `tall` forged head claims.
pub const TALL: u64 = 1_000_000_000_000_000;

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
    // What a swallowing liar took, across its connections (a wallet that reconnects asks again).
    let swallowed = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            conns.spawn(proxy(stream, upstream.clone(), lie.clone(), swallowed.clone()));
        }
    });
    Liar { addr, task }
}

async fn proxy(
    stream: tokio::net::TcpStream,
    upstream: String,
    lie: Lie,
    swallowed: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
) {
    let Ok(browser) = tokio_tungstenite::accept_async(stream).await else { return };
    let Ok((relay, _)) = tokio_tungstenite::connect_async(&upstream).await else { return };
    let (to_browser, mut from_browser) = browser.split();
    let to_browser = tokio::sync::Mutex::new(to_browser);
    let (mut to_relay, mut from_relay) = relay.split();
    // Reads at the head the browser asked for: request id -> address.
    let head_reads = std::sync::Mutex::new(std::collections::HashMap::<u64, String>::new());
    let watched = std::sync::Mutex::new(Vec::<String>::new());
    let up = async {
        while let Some(Ok(msg)) = from_browser.next().await {
            if let Message::Text(text) = &msg {
                let v: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                if let Some(reply) = swallow(&lie, &v, &swallowed) {
                    if to_browser.lock().await.send(Message::text(reply)).await.is_err() {
                        break;
                    }
                    continue;
                }
                match v["type"].as_str() {
                    Some("get_account") if v["at"] == "head" => {
                        let id = v["id"].as_u64().unwrap_or_default();
                        let address = v["address"].as_str().unwrap_or_default().to_string();
                        head_reads.lock().unwrap().insert(id, address);
                    }
                    Some("subscribe") => {
                        let accounts = v["accounts"].as_array().cloned().unwrap_or_default();
                        *watched.lock().unwrap() =
                            accounts.iter().filter_map(|a| a.as_str().map(String::from)).collect();
                    }
                    _ => {}
                }
            }
            if to_relay.send(msg).await.is_err() {
                break;
            }
        }
    };
    let down = async {
        while let Some(Ok(msg)) = from_relay.next().await {
            let msg = match msg {
                Message::Text(text) => {
                    let v: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                    let id = v["id"].as_u64();
                    let read = id.and_then(|id| head_reads.lock().unwrap().remove(&id));
                    match (&lie, read) {
                        (Lie::HeadBalance { key, chain_id, tall }, Some(address)) => {
                            Message::text(forge_head_account(&v, &address, key, chain_id, *tall))
                        }
                        _ => Message::text(tamper(text.as_str(), &lie)),
                    }
                }
                other => other,
            };
            let withheld = matches!(lie, Lie::Stale)
                && matches!(&msg, Message::Text(t) if t.as_str().contains(r#""type":"finalized""#));
            if withheld {
                continue;
            }
            if to_browser.lock().await.send(msg).await.is_err() {
                break;
            }
        }
    };
    let nudge = async {
        if !matches!(lie, Lie::HeadBalance { .. }) {
            return std::future::pending().await;
        }
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            let addresses = watched.lock().unwrap().clone();
            for address in addresses {
                let changed = serde_json::json!({"type": "account_changed", "address": address});
                if to_browser.lock().await.send(Message::text(changed.to_string())).await.is_err() {
                    return;
                }
            }
        }
    };
    tokio::select! {
        _ = up => {},
        _ = down => {},
        _ = nudge => {},
    }
}

/// An `account` reply at the head, as a relay and the proposer `key` would forge it: a state in
/// which `address` holds [`FORGED_EXTRA`] more (a tree of that one account, the real meta), under
/// the real head header with that state root (at height [`TALL`] if `tall`), signed again.
fn forge_head_account(
    reply: &Value,
    address: &str,
    key: &SecretKey,
    chain_id: &Hash,
    tall: bool,
) -> String {
    let mut v = reply.clone();
    let (Some(header), Some(proof)) = (v["header"].as_str(), v["proof"].as_str()) else {
        return reply.to_string();
    };
    let (Ok(signed), Ok(proof)) =
        (decode_hex::<SignedHeader>("header", header), decode_hex::<AccountProof>("proof", proof))
    else {
        return reply.to_string();
    };
    let address = Address::parse(address).expect("the browser asks for valid addresses");
    let mut account = proof.account.unwrap_or_default();
    account.balance = account.balance.saturating_add(FORGED_EXTRA);
    let mut store = MemStore::new();
    let change = vec![(state_key(&address), Some(account.to_bytes()))];
    let (root, batch) = tree::update(&store, &Hash::ZERO, &change).expect("a one-account tree");
    store.extend(batch);
    let forged = light::prove_account_at(&store, root, proof.meta_hash, &address)
        .expect("the forged tree proves its account");
    let mut header = signed.header;
    header.state_root = state_root(&root, &proof.meta_hash);
    if tall {
        header.height = TALL;
    }
    v["header"] = Value::String(encode_hex(&header.sign(chain_id, key)));
    v["proof"] = Value::String(encode_hex(&forged));
    v.to_string()
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
        (Lie::Checkpoint, Some("checkpoint")) => {
            let state = v["state"].as_str().map(|hex| decode_hex::<ChainState>("state", hex));
            if let Some(Ok(mut state)) = state {
                state.accounts_root = Hash([0x5a; 32]);
                v["state"] = Value::String(encode_hex(&state));
            }
        }
        (Lie::Nodes, Some("nodes")) => {
            if let Some(nodes) = v["nodes"].as_array_mut() {
                for n in nodes {
                    let forged = n
                        .as_str()
                        .and_then(|hex| decode_hex::<tree::Node>("node", hex).ok())
                        .map(|node| match node {
                            tree::Node::Leaf { key, mut value } => {
                                value.push(1);
                                tree::Node::Leaf { key, value }
                            }
                            tree::Node::Inner { left, right } => {
                                tree::Node::Inner { left: right, right: left }
                            }
                        });
                    if let Some(forged) = forged {
                        *n = Value::String(encode_hex(&forged));
                    }
                }
            }
        }
        (Lie::Balance, Some("meta")) => {
            let meta = v["meta"].as_str().map(|hex| decode_hex::<ChainMeta>("meta", hex));
            if let Some(Ok(mut meta)) = meta {
                meta.registry.clear();
                v["meta"] = Value::String(encode_hex(&meta));
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
        (Lie::Fork(key, chain_id), Some("finalized")) => {
            if let Some(hex) = v["proof"].as_str() {
                v["proof"] = Value::String(fork(hex, key, chain_id));
            }
        }
        (Lie::Fork(key, chain_id), Some("finality")) => {
            if let Some(proofs) = v["proofs"].as_array_mut() {
                for p in proofs {
                    if let Some(hex) = p.as_str() {
                        *p = Value::String(fork(hex, key, chain_id));
                    }
                }
            }
        }
        (Lie::Stale, Some("finality")) => v["proofs"] = Value::Array(Vec::new()),
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

/// The proof of a sibling of `hex`'s source, signed by `key`, which holds more than 2/3 of the
/// stake.
fn fork(hex: &str, key: &SecretKey, chain_id: &Hash) -> String {
    let Ok(mut proof) = decode_hex::<FinalityProof>("proof", hex) else { return hex.to_string() };
    proof.source.state_root = Hash([0xf0; 32]);
    let mut target = proof.target.header.clone();
    target.parent = proof.source.hash();
    let target = target.sign(chain_id, key);
    let vote = Vote {
        epoch: proof.certificate.vote.epoch,
        source: Checkpoint { height: proof.source.height, hash: proof.source.hash() },
        target: Checkpoint { height: target.header.height, hash: target.hash() },
    };
    let signature = vote.sign(chain_id, key).signature;
    // Its index in the target's set (relays always send the set); its stake must be more than
    // 2/3 of the set's, as the tests' one validator's is.
    let index = proof.target_set.as_ref().and_then(|set| set.index_of(&key.public_key()));
    let index = index.and_then(|i| u16::try_from(i).ok()).unwrap_or(0);
    proof.certificate = Certificate { vote, signatures: vec![(index, signature)] };
    proof.target = target;
    encode_hex(&proof)
}

/// [`Lie::Swallow`]'s answer to a browser's request, if it does not pass it on.
fn swallow(
    lie: &Lie,
    request: &Value,
    swallowed: &std::sync::Mutex<std::collections::HashSet<String>>,
) -> Option<String> {
    if !matches!(lie, Lie::Swallow) {
        return None;
    }
    let id = request["id"].as_u64()?;
    match request["type"].as_str()? {
        "submit_tx" => {
            let tx = decode_hex::<SignedTx>("tx", request["tx"].as_str()?).ok()?;
            let tx_id = tx.id().to_hex();
            swallowed.lock().unwrap().insert(tx_id.clone());
            let reply = serde_json::json!({
                "type": "tx_result", "id": id, "tx_id": tx_id, "accepted": true,
            });
            Some(reply.to_string())
        }
        "get_inclusion" => {
            let tx_id = request["tx_id"].as_str()?;
            if !swallowed.lock().unwrap().contains(tx_id) {
                return None;
            }
            let reply = serde_json::json!({
                "type": "inclusion", "id": id, "header": null, "proof": null, "status": "pending",
            });
            Some(reply.to_string())
        }
        _ => None,
    }
}
