//! HTTP: the JSON API, `/metrics`, the `/ws` upgrade and the wallet page.
//!
//! Errors are JSON `{"error": "<reason>"}` with 400 (bad input), 404 (unknown) or 503 (not
//! ready). Amounts are integers of base units.

use crate::faucet::{Faucet, Spending, within_budget};
use crate::net;
use crate::shared::Shared;
use crate::wire::{self, decode_hex, encode_hex};
use memecoin_core::address::Address;
use memecoin_core::hash::Hash;
use memecoin_core::tx::{SignedTx, Tx, TxKind};
use memecoin_node::node::TxStatus;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use warp::Filter;
use warp::http::{HeaderName, HeaderValue, StatusCode};
use warp::reply::{Reply, Response};

fn error(status: StatusCode, reason: impl Into<String>) -> Response {
    warp::reply::with_status(warp::reply::json(&json!({ "error": reason.into() })), status)
        .into_response()
}

/// The HTTP API's version, in `/api/head` (PROTOCOL.md §16.10). 2: amounts are decimal strings
/// (a JSON number above 2^53 loses its last digits in JavaScript); 1 had them as numbers.
pub const API_VERSION: u32 = 2;

fn ok(value: Value) -> Response {
    warp::reply::json(&value).into_response()
}

/// Every route of the relay.
pub fn routes(
    shared: Arc<Shared>,
    www: Option<PathBuf>,
    faucet: Option<Arc<Faucet>>,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static
{
    let with = {
        let shared = shared.clone();
        warp::any().map(move || shared.clone())
    };
    let head = warp::path!("api" / "head").and(warp::get()).and(with.clone()).then(head);
    let block =
        warp::path!("api" / "blocks" / String).and(warp::get()).and(with.clone()).then(block);
    let tx = warp::path!("api" / "tx" / String).and(warp::get()).and(with.clone()).then(tx_status);
    let account = warp::path!("api" / "accounts" / String)
        .and(warp::get())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(with.clone())
        .then(account);
    let history = warp::path!("api" / "accounts" / String / "txs")
        .and(warp::get())
        .and(with.clone())
        .then(account_txs);
    let validators =
        warp::path!("api" / "validators").and(warp::get()).and(with.clone()).then(validators);
    let genesis = warp::path!("api" / "genesis").and(warp::get()).and(with.clone()).then(genesis);
    let submit = warp::path!("api" / "tx")
        .and(warp::post())
        .and(warp::body::content_length_limit(16 * 1024))
        .and(warp::body::bytes())
        .and(crate::listen::remote())
        .and(with.clone())
        .then(submit);
    let with_faucet = warp::any().map(move || faucet.clone());
    let faucet_info = warp::path!("api" / "faucet").and(warp::get()).and(with_faucet.clone()).map(
        |f: Option<Arc<Faucet>>| match f {
            Some(f) => ok(json!({
                "address": f.from().to_text(),
                "amount": f.config.amount.to_string(),
                "per_address_s": f.config.per_address.as_secs(),
            })),
            None => error(StatusCode::NOT_FOUND, "no faucet on this relay"),
        },
    );
    let faucet_pay = warp::path!("api" / "faucet")
        .and(warp::post())
        .and(warp::body::content_length_limit(1024))
        .and(warp::body::bytes())
        .and(crate::listen::remote())
        .and(with_faucet)
        .and(with.clone())
        .then(pay_faucet);
    let metrics = warp::path!("metrics").and(warp::get()).and(with.clone()).then(metrics);
    let ws = warp::path!("ws").and(warp::ws()).and(crate::listen::remote()).and(with.clone()).map(
        |ws: warp::ws::Ws, remote: Option<std::net::SocketAddr>, shared: Arc<Shared>| {
            // A banned address never gets here: the listener refuses it at accept.
            let open = shared.metrics.connections.load(std::sync::atomic::Ordering::Relaxed);
            if open >= shared.gate.limits().max_websockets as u64 {
                shared.metrics.reject("TooManyConnections");
                return error(StatusCode::SERVICE_UNAVAILABLE, "too many connections");
            }
            ws.max_message_size(wire::MAX_FRAME)
                .max_frame_size(wire::MAX_FRAME)
                .on_upgrade(move |socket| net::accept_warp(shared, socket, remote))
                .into_response()
        },
    );
    let api = head
        .or(block)
        .unify()
        .or(tx)
        .unify()
        .or(account)
        .unify()
        .or(history)
        .unify()
        .or(validators)
        .unify()
        .or(genesis)
        .unify()
        .or(submit)
        .unify()
        .or(faucet_info)
        .unify()
        .or(faucet_pay)
        .unify()
        .or(metrics)
        .unify()
        .or(ws)
        .unify();
    let page = warp::get()
        .and(page_path())
        .and(warp::header::optional::<String>("accept-encoding"))
        .and(warp::header::optional::<String>("if-none-match"))
        .and(warp::any().map(move || www.clone()))
        .then(
            |path: String,
             encoding: Option<String>,
             cached: Option<String>,
             www: Option<PathBuf>| async move {
                let gzip = encoding.is_some_and(|e| accepts_gzip(&e));
                static_file(www, &path, gzip, cached.as_deref()).await
            },
        );
    api.or(page)
        .unify()
        .recover(|rejection: warp::Rejection| async move {
            let status = if rejection.is_not_found() {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            let reason = if rejection.is_not_found() {
                "not found".to_string()
            } else {
                format!("{rejection:?}")
            };
            Ok::<_, std::convert::Infallible>(error(status, reason))
        })
        .unify()
}

/// The path of a wallet page file, up to three segments (`index.html`, `pkg/memecoin_wasm.js`),
/// as sent (not percent-decoded); `""` for `/`. Built from segment filters, not
/// `warp::path::full()`, which panics on a request target without a path (`GET host:80`, the
/// authority form, which hyper passes on): found by the `relay_http` fuzz target.
fn page_path() -> impl Filter<Extract = (String,), Error = warp::Rejection> + Clone {
    use warp::path::{end, param};
    end()
        .map(String::new)
        .or(param::<String>().and(end()))
        .unify()
        .or(param::<String>().and(param::<String>()).and(end()).map(|a, b| format!("{a}/{b}")))
        .unify()
        .or(param::<String>()
            .and(param::<String>())
            .and(param::<String>())
            .and(end())
            .map(|a, b, c| format!("{a}/{b}/{c}")))
        .unify()
}

/// Whether an `Accept-Encoding` value allows gzip (and does not refuse it with `q=0`).
fn accepts_gzip(header: &str) -> bool {
    header.split(',').any(|part| {
        let mut it = part.split(';').map(str::trim);
        it.next().is_some_and(|coding| coding.eq_ignore_ascii_case("gzip"))
            && !it.any(|p| p.replace(' ', "") == "q=0")
    })
}

/// `file.gz` when it exists and is at least as new as `file` (a stale one is never served).
async fn fresh_gzip(file: &std::path::Path) -> Option<PathBuf> {
    let mut name = file.as_os_str().to_owned();
    name.push(".gz");
    let gz = PathBuf::from(name);
    let (plain, packed) =
        (tokio::fs::metadata(file).await.ok()?, tokio::fs::metadata(&gz).await.ok()?);
    if packed.modified().ok()? < plain.modified().ok()? {
        return None;
    }
    Some(gz)
}

/// Sent with every file of the wallet page: the page runs only its own scripts and wasm, talks
/// only to its origin and to relays over WebSockets, cannot be framed (clickjacking a "Send"), is
/// never sniffed into another type, and leaks no URL to other sites. Written once, in
/// `www/headers.json`, which the static bundle (`tools/wallet/bundle.mjs`, `cargo xtask wallet`)
/// also reads for its `<meta>` policy and its `_headers`. Parsed once, into what a response
/// carries.
pub fn page_headers() -> &'static [(HeaderName, HeaderValue)] {
    static HEADERS: std::sync::LazyLock<Vec<(HeaderName, HeaderValue)>> =
        std::sync::LazyLock::new(|| {
            parse_page_headers(include_str!("../../www/headers.json")).expect(
                "www/headers.json is an object of header names to values or directive lists",
            )
        });
    &HEADERS
}

/// `www/headers.json`: each name to a value, or to a list of directives joined with `; `.
fn parse_page_headers(json: &str) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).ok()?;
    map.into_iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(v) => v,
                serde_json::Value::Array(parts) => parts
                    .iter()
                    .map(|p| p.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()?
                    .join("; "),
                _ => return None,
            };
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            Some((name, HeaderValue::from_str(&value).ok()?))
        })
        .collect()
}

/// A page file's validator: its length and modification time, and whether it goes gzipped (a
/// representation of its own). Sent with `cache-control: no-cache`, so that a browser asks
/// again each time (a new page is used at once) and gets a 304 without a body while the file
/// is the same: the page's second load, and the wallet's worker importing the wasm glue the
/// page has just loaded, cost no bytes.
fn etag(meta: &std::fs::Metadata, gzip: bool) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{:x}-{modified:x}{}\"", meta.len(), if gzip { "-gz" } else { "" })
}

/// Whether `if_none_match` (a list of tags, or `*`) names `tag`; weak tags compare by value.
fn names_tag(if_none_match: &str, tag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

async fn static_file(
    www: Option<PathBuf>,
    path: &str,
    gzip: bool,
    if_none_match: Option<&str>,
) -> Response {
    let Some(root) = www else { return error(StatusCode::NOT_FOUND, "no wallet page configured") };
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    if rel.split('/').any(|part| part == ".." || part.starts_with('.')) {
        return error(StatusCode::BAD_REQUEST, "bad path");
    }
    let file = root.join(rel);
    let packed = if gzip { fresh_gzip(&file).await } else { None };
    let encoded = packed.is_some();
    // The validator is decided before anything is read: a 304 reads no file.
    let tag = tokio::fs::metadata(&file).await.ok().map(|meta| etag(&meta, encoded));
    let with_headers = |mut reply: Response| {
        let headers = reply.headers_mut();
        headers.insert("vary", warp::http::HeaderValue::from_static("accept-encoding"));
        headers.insert("cache-control", warp::http::HeaderValue::from_static("no-cache"));
        if let Some(value) = tag.as_deref().and_then(|t| warp::http::HeaderValue::from_str(t).ok())
        {
            headers.insert("etag", value);
        }
        for (name, value) in page_headers() {
            headers.insert(name.clone(), value.clone());
        }
        reply
    };
    if let (Some(tag), Some(asked)) = (&tag, if_none_match)
        && names_tag(asked, tag)
    {
        return with_headers(StatusCode::NOT_MODIFIED.into_response());
    }
    let bytes = tokio::fs::read(packed.as_deref().unwrap_or(&file)).await;
    match bytes {
        Ok(bytes) => {
            let mime = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("wasm") => "application/wasm",
                Some("json") => "application/json",
                Some("png") => "image/png",
                Some("svg") => "image/svg+xml",
                _ => "application/octet-stream",
            };
            let mut reply =
                with_headers(warp::reply::with_header(bytes, "content-type", mime).into_response());
            let headers = reply.headers_mut();
            if encoded {
                headers.insert("content-encoding", warp::http::HeaderValue::from_static("gzip"));
            }
            reply
        }
        Err(_) => error(StatusCode::NOT_FOUND, "not found"),
    }
}

async fn head(shared: Arc<Shared>) -> Response {
    shared
        .with_node(|n| {
            let Some(state) = n.head_state() else {
                return error(StatusCode::SERVICE_UNAVAILABLE, "no head");
            };
            let fin = n.finalized();
            ok(json!({
                "api_version": API_VERSION,
                "chain_id": n.chain().id.to_hex(),
                "height": state.tip.height,
                "hash": state.tip.hash.to_hex(),
                "slot": state.tip.slot,
                "epoch": state.meta.epoch,
                "finalized_height": fin.height,
                "finalized_hash": fin.hash.to_hex(),
                "justified_height": state.meta.justified.height,
                "mempool": n.mempool_len(),
            }))
        })
        .await
}

async fn block(id: String, shared: Arc<Shared>) -> Response {
    let pruned_below = shared.reader.pruned_below().unwrap_or(0);
    shared
        .with_node(|n| {
            let hash = match id.parse::<u64>() {
                Ok(height) => match n.hash_at(height) {
                    Some(h) => h,
                    None if height > 0 && height < pruned_below => {
                        return error(
                            StatusCode::GONE,
                            format!("pruned: this relay keeps blocks from height {pruned_below}"),
                        );
                    }
                    None => {
                        return error(
                            StatusCode::NOT_FOUND,
                            format!("no block at height {height}"),
                        );
                    }
                },
                Err(_) => match Hash::from_hex(&id) {
                    Ok(h) => h,
                    Err(_) => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "expected a height or a 64-character hex hash",
                        );
                    }
                },
            };
            let Some(b) = n.block(&hash) else {
                return error(StatusCode::NOT_FOUND, "unknown block");
            };
            let h = &b.header.header;
            ok(json!({
                "hash": hash.to_hex(),
                "height": h.height,
                "slot": h.slot,
                "parent": h.parent.to_hex(),
                "proposer": Address::from_public_key(&h.proposer).to_text(),
                "state_root": h.state_root.to_hex(),
                "tx_root": h.tx_root.to_hex(),
                "txs": b.txs.iter().map(|t| t.id().to_hex()).collect::<Vec<_>>(),
                "finalized": h.height <= n.finalized().height && n.hash_at(h.height) == Some(hash),
                "header": encode_hex(&b.header),
                "block": encode_hex(&b),
            }))
        })
        .await
}

async fn tx_status(id: String, shared: Arc<Shared>) -> Response {
    let Ok(hash) = Hash::from_hex(&id) else {
        return error(StatusCode::BAD_REQUEST, "expected a 64-character hex transaction id");
    };
    shared
        .with_node(|n| match n.tx_status(&hash) {
            TxStatus::Pending => ok(json!({ "id": id, "status": "pending" })),
            TxStatus::Included { block, height, index, finalized } => ok(json!({
                "id": id,
                "status": if finalized { "finalized" } else { "included" },
                "block": block.to_hex(),
                "height": height,
                "index": index,
            })),
            TxStatus::Unknown => error(StatusCode::NOT_FOUND, "unknown transaction"),
        })
        .await
}

async fn account(
    address: String,
    query: std::collections::HashMap<String, String>,
    shared: Arc<Shared>,
) -> Response {
    let addr = match Address::parse(&address) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad address: {e}")),
    };
    let head = query.get("at").map(String::as_str) == Some("head");
    shared
        .with_node(|n| {
            let Some((header, proof)) = n.account_proof(&addr, head) else {
                return error(StatusCode::SERVICE_UNAVAILABLE, "state not available");
            };
            let acc = proof.account.clone().unwrap_or_default();
            ok(json!({
                "address": addr.to_text(),
                "balance": acc.balance.to_string(),
                "nonce": acc.nonce,
                "stake": acc.stake.to_string(),
                "unbonding": acc.unbonding.iter().map(|u| json!({"amount": u.amount.to_string(), "release_epoch": u.release_epoch})).collect::<Vec<_>>(),
                "slashed": acc.slashed,
                "at": if head { "head" } else { "finalized" },
                "height": header.header.height,
                "block": header.hash().to_hex(),
                "header": encode_hex(&header),
                "proof": encode_hex(&proof),
            }))
        })
        .await
}

/// Most transactions `GET /api/accounts/{address}/txs` lists.
pub const MAX_HISTORY: usize = 50;

async fn account_txs(address: String, shared: Arc<Shared>) -> Response {
    let addr = match Address::parse(&address) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad address: {e}")),
    };
    shared
        .with_node(|n| match n.account_history(&addr, MAX_HISTORY) {
            Ok(list) => ok(json!({
                "address": addr.to_text(),
                "txs": list
                    .iter()
                    .map(|(height, block, index, tx)| json!({
                        "tx_id": tx.id().to_hex(),
                        "height": height,
                        "block": block.to_hex(),
                        "index": index,
                        "tx": encode_hex(tx),
                    }))
                    .collect::<Vec<_>>(),
            })),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}")),
        })
        .await
}

async fn validators(shared: Arc<Shared>) -> Response {
    shared
        .with_node(|n| {
            let Some(state) = n.head_state() else { return error(StatusCode::SERVICE_UNAVAILABLE, "no head") };
            let list = |set: &memecoin_core::pos::ValidatorSet| {
                set.members()
                    .iter()
                    .map(|m| json!({ "address": Address::from_public_key(&m.key).to_text(), "public_key": m.key.to_hex(), "stake": m.stake.to_string() }))
                    .collect::<Vec<_>>()
            };
            ok(json!({
                "epoch": state.meta.epoch,
                "total_stake": state.meta.current.total_stake().to_string(),
                "current": list(&state.meta.current),
                "next": list(&state.meta.next),
            }))
        })
        .await
}

async fn genesis(shared: Arc<Shared>) -> Response {
    let text = shared.with_node(|n| n.genesis().to_json()).await;
    warp::reply::with_header(text, "content-type", "application/json").into_response()
}

async fn submit(
    body: bytes::Bytes,
    remote: Option<std::net::SocketAddr>,
    shared: Arc<Shared>,
) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        tx: String,
    }
    let parsed: Body = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")),
    };
    let tx: SignedTx = match decode_hex("tx", &parsed.tx) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    // First what needs no signature: an unfunded sender's transaction costs no verification.
    if let Err(reason) = shared.with_node(|n| n.precheck_tx(&tx)).await {
        shared.metrics.reject(&format!("{reason:?}"));
        return error(StatusCode::BAD_REQUEST, reason.to_string());
    }
    let tx = match memecoin_node::node::verify_tx(tx) {
        Ok(tx) => tx,
        Err(bad) => {
            // The one costly refusal (a signature check), and never an honest wallet's mistake:
            // a strike against the address, which at `MAX_STRIKES` bans it, as on a WebSocket.
            // Malformed bodies cost a parse and are only answered (a developer's typo is not
            // an attack).
            shared.metrics.reject("BadSignature");
            if let Some(ip) = remote.map(|r| r.ip())
                && shared.gate.strike(ip, std::time::Instant::now())
            {
                shared.ban(ip);
            }
            return error(StatusCode::BAD_REQUEST, bad.to_string());
        }
    };
    match shared.with_node(|n| n.submit_verified_tx(tx)).await {
        Ok(id) => ok(json!({ "tx_id": id.to_hex(), "status": "pending" })),
        Err(reason) => {
            shared.metrics.reject(&format!("{reason:?}"));
            error(StatusCode::BAD_REQUEST, reason.to_string())
        }
    }
}

async fn pay_faucet(
    body: bytes::Bytes,
    remote: Option<std::net::SocketAddr>,
    faucet: Option<Arc<Faucet>>,
    shared: Arc<Shared>,
) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        address: String,
    }
    let Some(faucet) = faucet else {
        return error(StatusCode::NOT_FOUND, "no faucet on this relay");
    };
    let parsed: Body = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")),
    };
    let to = match Address::parse(&parsed.address) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad address: {e}")),
    };
    if let Err(refusal) = faucet.admit(&to, remote.map(|r| r.ip()), std::time::Instant::now()) {
        shared.metrics.reject("FaucetLimit");
        return error(StatusCode::TOO_MANY_REQUESTS, refusal.to_string());
    }
    let key = &faucet.config.key;
    let from = faucet.from();
    let result = shared
        .with_node(|n| {
            let no_head = || (StatusCode::SERVICE_UNAVAILABLE, "faucet: no head".to_string());
            let state = n.head_state().ok_or_else(no_head)?;
            let account = state.account(n.store(), &from).map_err(|_| no_head())?;
            let nonce = n.next_nonce(&from).ok_or_else(no_head)?;
            let fee = n.chain().params.min_fee;
            let genesis = n.genesis().accounts.iter().find(|a| a.address == from);
            let spending = Spending {
                genesis_balance: genesis.map_or(0, |a| a.balance),
                balance: account.balance,
                pending: nonce.saturating_sub(account.nonce),
                set_stake: state.meta.current.total_stake(),
            };
            within_budget(&spending, faucet.config.amount, fee)
                .map_err(|refusal| (StatusCode::FORBIDDEN, refusal.to_string()))?;
            let tx = Tx {
                chain_id: n.chain().id,
                sender: key.public_key(),
                nonce,
                fee,
                kind: TxKind::Transfer { to, amount: faucet.config.amount },
            };
            let signed = tx.sign(key);
            let hex = memecoin_core::wire::encode_hex(&signed);
            n.submit_tx(signed)
                .map(|id| (id, hex))
                .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, format!("faucet: {e}")))
        })
        .await;
    match result {
        Ok((id, tx)) => ok(
            json!({ "tx_id": id.to_hex(), "amount": faucet.config.amount.to_string(), "tx": tx }),
        ),
        Err((status, reason)) => {
            if status == StatusCode::FORBIDDEN {
                shared.metrics.reject("FaucetBudget");
            }
            error(status, reason)
        }
    }
}

async fn metrics(shared: Arc<Shared>) -> Response {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let now_ms = memecoin_node::node::now_ms();
    let (height, head_slot, slot, finalized, mempool, capacity, reveals, signing, epoch, duties) =
        shared
            .with_node(|n| {
                let epoch = n.head_state().map_or(0, |s| s.meta.epoch);
                let duties = n.signing().map(|_| n.duties());
                let tip = n.head_state().map(|s| (s.tip.height, s.tip.slot));
                let c = n.chain();
                let slot = memecoin_core::pos::slot_at(c.genesis_time_ms, c.params.slot_ms, now_ms);
                let (height, head_slot) = tip.unwrap_or((0, 0));
                let (finalized, reveals) = (n.finalized().height, n.reveals_left());
                let (mempool, capacity) = (n.mempool_len(), n.mempool_capacity());
                (
                    height,
                    head_slot,
                    slot,
                    finalized,
                    mempool,
                    capacity,
                    reveals,
                    n.signing(),
                    epoch,
                    duties,
                )
            })
            .await;
    // Off the node's lock: a file system call.
    let database = shared.reader.file_bytes().unwrap_or(0);
    let m = &shared.metrics;
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: u64| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
    };
    gauge("memecoin_head_height", "Height of the head block.", height);
    gauge("memecoin_head_slot", "Slot of the head block.", head_slot);
    gauge(
        "memecoin_slot",
        "The slot in progress by this relay's clock (0 before genesis); minus memecoin_head_slot, \
         the slots since the head was made.",
        slot.unwrap_or(0),
    );
    gauge("memecoin_finalized_height", "Height of the last finalized block.", finalized);
    gauge("memecoin_mempool_size", "Transactions in the mempool.", mempool as u64);
    gauge(
        "memecoin_mempool_capacity",
        "The most transactions the mempool holds (ready and held); beyond it the lowest fees \
         are evicted or refused.",
        capacity as u64,
    );
    gauge(
        "memecoin_database_bytes",
        "Size of the database file (chain.redb) on disk, free pages included.",
        database,
    );
    gauge(
        "memecoin_pruned_below",
        "Lowest height this relay may still hold blocks at (0: nothing pruned).",
        shared.reader.pruned_below().unwrap_or(0),
    );
    gauge(
        "memecoin_prune_duration_ms",
        "How long the last prune took, in milliseconds (marking runs beside the node; the \
         deletion holds the store's writes).",
        m.prune_ms.load(Relaxed),
    );
    gauge("memecoin_connections", "Open WebSocket connections.", m.connections.load(Relaxed));
    gauge(
        "memecoin_relay_peers",
        "Connected relays, each counted once (two that dialed each other are one peer).",
        m.relay_peers(),
    );
    gauge(
        "memecoin_relay_connections",
        "Open WebSocket connections whose hello said relay.",
        m.relay_peers.load(Relaxed),
    );
    gauge(
        "memecoin_browsers",
        "Open WebSocket connections whose hello said browser.",
        m.browsers.load(Relaxed),
    );
    gauge("memecoin_epoch", "Epoch of the head state.", epoch);
    let best = m.best_peer_head.load(Relaxed);
    gauge(
        "memecoin_syncing",
        "1 while a relay peer showed a head more than 8 blocks above ours (catching up).",
        u64::from(best > height.saturating_add(crate::shared::SYNC_BEHIND)),
    );
    gauge("memecoin_best_peer_height", "The highest head a relay peer showed.", best);
    let process = process_stats();
    gauge(
        "memecoin_uptime_seconds",
        "Seconds since the relay started.",
        m.started.get().map_or(0, |t| t.elapsed().as_secs()),
    );
    gauge(
        "process_resident_memory_bytes",
        "Resident memory of the relay process.",
        process.rss_bytes,
    );
    gauge("process_open_fds", "Open file descriptors of the relay process.", process.open_fds);
    gauge("memecoin_sockets_open", "Open sockets, HTTP and WebSocket.", shared.gate.open());
    if let Some(left) = reveals {
        gauge(
            "memecoin_reveals_left",
            "Blocks this validator can still propose from its hash chain, a renewal announced \
             included (it renews on its own; near 0 it cannot propose).",
            left,
        );
    }
    if let Some(signing) = signing {
        use memecoin_node::node::Signing;
        gauge(
            "memecoin_validator_signing",
            "1 if the validator proposes and votes; 0 while it holds back (doppelganger watch, \
             a doppelganger seen, or behind the network).",
            u64::from(signing == Signing::Signing),
        );
        gauge(
            "memecoin_validator_doppelganger",
            "1 once another node was seen signing with this validator's key: it signs nothing \
             until restarted.",
            u64::from(signing == Signing::Doppelganger),
        );
    }
    if let Some(d) = duties {
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
        };
        counter(
            "memecoin_blocks_proposed_total",
            "Blocks this validator proposed since it started.",
            d.proposed,
        );
        counter(
            "memecoin_slots_missed_total",
            "Slots that elected this validator and passed without its block, since it started.",
            d.missed,
        );
        counter("memecoin_votes_total", "Votes this validator signed since it started.", d.votes);
    }
    let _ = write!(
        out,
        "# HELP memecoin_refused_total Sockets refused at accept (banned, over a cap).\n# TYPE memecoin_refused_total counter\nmemecoin_refused_total {}\n",
        m.refused.load(Relaxed)
    );
    let _ = write!(
        out,
        "# HELP memecoin_bans_total Clients banned for invalid input (their sockets are then refused for a while).\n# TYPE memecoin_bans_total counter\nmemecoin_bans_total {}\n",
        m.bans.load(Relaxed)
    );
    let _ = write!(
        out,
        "# HELP memecoin_lagged_total Times a browser connection fell behind the event stream (sent the head instead).\n# TYPE memecoin_lagged_total counter\nmemecoin_lagged_total {}\n",
        m.lagged.load(Relaxed)
    );
    let _ = write!(
        out,
        "# HELP memecoin_messages_in_total Messages received.\n# TYPE memecoin_messages_in_total counter\nmemecoin_messages_in_total {}\n",
        m.messages_in.load(Relaxed)
    );
    let _ = write!(
        out,
        "# HELP memecoin_messages_out_total Messages sent.\n# TYPE memecoin_messages_out_total counter\nmemecoin_messages_out_total {}\n",
        m.messages_out.load(Relaxed)
    );
    let _ = write!(
        out,
        "# HELP process_cpu_seconds_total CPU time of the relay process, user and system.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {:.2}\n",
        process.cpu_seconds
    );
    let _ = write!(
        out,
        "# HELP memecoin_build_info The relay's version, wire protocol version and HTTP API version.\n# TYPE memecoin_build_info gauge\nmemecoin_build_info{{version=\"{}\",protocol=\"{}\",api=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION"),
        memecoin_core::wire::PROTOCOL_VERSION,
        API_VERSION
    );
    let _ = writeln!(
        out,
        "# HELP memecoin_rejects_total Rejected inputs by reason.\n# TYPE memecoin_rejects_total counter"
    );
    for (reason, count) in m.rejects() {
        let _ = writeln!(out, "memecoin_rejects_total{{reason=\"{reason}\"}} {count}");
    }
    warp::reply::with_header(out, "content-type", "text/plain; version=0.0.4").into_response()
}

#[cfg(test)]
mod tests {
    use super::{accepts_gzip, page_headers, parse_page_headers};

    #[test]
    fn the_page_headers_come_from_www_headers_json() {
        let headers = page_headers();
        let csp = headers.iter().find(|(n, _)| n == "content-security-policy").map(|(_, v)| v);
        let csp = csp.expect("a content-security-policy").to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'; "), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(headers.iter().any(|(n, v)| n == "x-frame-options" && v == "DENY"));
        // What the file may not hold: a number, a list of non-strings, a value with a newline.
        for bad in [r#"{"a": 1}"#, r#"{"a": [1]}"#, r#"{"a": "x\ny"}"#, r#"{"bad name": "x"}"#] {
            assert!(parse_page_headers(bad).is_none(), "{bad}");
        }
        let parsed = parse_page_headers(r#"{"X-A": ["b", "c"]}"#).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!((parsed[0].0.as_str(), parsed[0].1.to_str().unwrap()), ("x-a", "b; c"));
    }

    #[test]
    fn reads_accept_encoding() {
        assert!(accepts_gzip("gzip, deflate, br, zstd"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("deflate, br"));
        assert!(!accepts_gzip("x-gzip"));
    }
}

#[cfg(test)]
mod served {
    use super::routes;
    use crate::shared::Shared;
    use memecoin_node::node::Node;
    use std::io::{Read, Write};

    /// The routes served on loopback, with a page folder holding `index.html`.
    struct Served {
        dir: tempfile::TempDir,
        addr: std::net::SocketAddr,
        _runtime: tokio::runtime::Runtime,
        _stop: tokio::sync::watch::Sender<bool>,
    }

    fn serve() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        std::fs::create_dir(&www).unwrap();
        std::fs::write(www.join("index.html"), "page").unwrap();
        let genesis = memecoin_node::keys::devnet_genesis(1, 0).unwrap();
        let node = Node::open(genesis, &dir.path().join("data"), None).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let filter = routes(
            Shared::new(node, None, true, stopping, crate::limits::Limits::default()),
            Some(www),
            None,
        );
        runtime.spawn(warp::serve(filter).incoming(listener).run());
        Served { dir, addr, _runtime: runtime, _stop: stop }
    }

    impl Served {
        /// Sends `request` as raw bytes; the raw answer.
        fn ask(&self, request: &[u8]) -> String {
            let mut stream = std::net::TcpStream::connect(self.addr).unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            stream.write_all(request).unwrap();
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            answer
        }
    }

    /// Sends `request` to a fresh server; the raw answer.
    fn ask(request: &[u8]) -> String {
        serve().ask(request)
    }

    /// A header's value in a raw answer (names compared without case).
    fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
        let head = answer.split("\r\n\r\n").next()?;
        head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// A page file comes with a validator (`etag`) and `cache-control: no-cache`: asked again
    /// with it, the answer is 304 without a body — the wallet's worker imports the wasm glue
    /// the page has just loaded, and a returning visitor loads nothing that did not change —
    /// while a changed file is sent again under a new tag.
    #[test]
    fn a_page_file_asked_again_with_its_etag_is_not_sent_again() {
        let served = serve();
        let get = |extra: &str| {
            let request =
                format!("GET /index.html HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n");
            served.ask(request.as_bytes())
        };
        let first = get("");
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        assert_eq!(header(&first, "cache-control"), Some("no-cache"), "{first}");
        let tag = header(&first, "etag").expect("an etag").to_owned();
        let again = get(&format!("If-None-Match: {tag}\r\n"));
        assert!(again.starts_with("HTTP/1.1 304"), "{again}");
        assert_eq!(again.split("\r\n\r\n").nth(1), Some(""), "no body: {again}");
        assert_eq!(header(&again, "etag"), Some(tag.as_str()));
        // The page's policy comes with a 304 as with a 200.
        assert!(header(&again, "content-security-policy").is_some(), "{again}");
        // The gzipped copy (as `cargo xtask page` writes it beside the file) is another
        // representation: another tag.
        std::fs::write(served.dir.path().join("www/index.html.gz"), "gzipped page").unwrap();
        let gz = get("Accept-Encoding: gzip\r\n");
        assert_eq!(header(&gz, "content-encoding"), Some("gzip"), "{gz}");
        let gz_tag = header(&gz, "etag").expect("an etag").to_owned();
        assert_ne!(gz_tag, tag);
        // A changed file is sent again, under a new tag; the old one no longer matches.
        std::fs::write(served.dir.path().join("www/index.html"), "a new page").unwrap();
        let changed = get(&format!("If-None-Match: {tag}\r\n"));
        assert!(
            changed.starts_with("HTTP/1.1 200") && changed.ends_with("a new page"),
            "{changed}"
        );
        assert_ne!(header(&changed, "etag"), Some(tag.as_str()));
    }

    /// Found by the `relay_http` fuzz target: input `b"temtics"` (method byte `t`: GET, target
    /// `emtics`; kept as fuzz/corpus/relay_http/regression-authority-form). A request target in
    /// authority form has no path, and warp's `path::full()` then panicked
    /// (`PathAndQuery::from_static("")`), dropping the connection without an answer.
    #[test]
    fn a_request_without_a_path_gets_an_answer() {
        let answer = ask(b"GET emtics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 "), "no answer: {answer:?}");
        let answer = ask(b"GET example.com:80 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 "), "no answer: {answer:?}");
    }

    /// The page's files are found by their paths as before (`page_path` replaced
    /// `path::full()`); nothing outside the folder is.
    #[test]
    fn serves_the_page_by_path() {
        let get = |path: &str| {
            let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let answer = ask(request.as_bytes());
            answer.lines().next().unwrap_or_default().to_owned()
        };
        for (path, status) in [
            ("/", "200"),
            ("/index.html", "200"),
            ("/sub/dir/index.html", "404"),
            ("/a/b/c/d", "404"),
            ("/../secret", "400"),
            ("/%2e%2e/secret", "404"),
        ] {
            assert_eq!(get(path), format!("HTTP/1.1 {status} {}", reason(status)), "{path}");
        }
    }

    fn reason(status: &str) -> &'static str {
        match status {
            "200" => "OK",
            "400" => "Bad Request",
            _ => "Not Found",
        }
    }
}

/// The relay process's own figures, from `/proc/self` (zeros where it is not Linux).
#[derive(Default)]
struct ProcessStats {
    rss_bytes: u64,
    open_fds: u64,
    cpu_seconds: f64,
}

fn process_stats() -> ProcessStats {
    let mut stats = ProcessStats::default();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        stats.rss_bytes = kb.unwrap_or(0).saturating_mul(1024);
    }
    stats.open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    // Fields 14 and 15 of /proc/self/stat (utime, stime), in clock ticks, after the command
    // name's closing parenthesis; Linux's USER_HZ is 100.
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        stats.cpu_seconds = (ticks(11) + ticks(12)) as f64 / 100.0;
    }
    stats
}
