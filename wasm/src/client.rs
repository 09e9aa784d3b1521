//! The relay client: WebSocket connections to one or more relays (`/ws`, PROTOCOL.md §16), with
//! everything they send checked by the light client before the page hears of it.
//!
//! A relay is a messenger, not an authority. The client subscribes to heads, finality and the
//! watched accounts; feeds every header and finality proof to [`crate::light::LightClient`]
//! (core's checks); and reports to the page through one callback, with events that carry only
//! verified values (`head`, `finalized`, `account`) or say what failed and who sent it
//! (`rejected`), or that two relays contradict each other (`disagreement`). A connection that
//! drops is reopened with exponential backoff (0.5 s doubling to 30 s, jittered so that many
//! pages do not return at once).
//!
//! It runs wherever a global `WebSocket` and `setTimeout` exist: browsers, and Node.js 22 (or
//! Node.js 20 with `--experimental-websocket`). Everything is single-threaded: state lives in a
//! `RefCell` that is never borrowed across an `await` or while the page's callback runs, so the
//! callback may call back into the client.

use crate::error::{Error, decode_hex, to_js};
use crate::light::{AccountView, AnchorView, LightClient};
use memecoin_core::address::Address;
use memecoin_core::crypto::PublicKey;
use memecoin_core::hash::Hash;
use memecoin_core::header::SignedHeader;
use memecoin_core::light::{
    self as core_light, AccountProof, Anchor, FinalityProof, LightError, Located, Verdict,
};
use memecoin_core::merkle::InclusionProof;
use memecoin_core::slashing::Evidence;
use memecoin_core::state::registry_of;
use memecoin_core::tx::SignedTx;
use memecoin_core::wire::{self, At, MAX_RANGE, Message, PROTOCOL_VERSION, Role};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// First reconnect delay; it doubles per failed attempt up to [`BACKOFF_MAX_MS`].
const BACKOFF_MIN_MS: u32 = 500;
const BACKOFF_MAX_MS: u32 = 30_000;
/// A request without a reply by then fails (the relay may be gone without a close).
const REQUEST_TIMEOUT_MS: i32 = 10_000;
/// Requests in flight, all relays together: a page cannot queue without bound.
const MAX_PENDING: usize = 256;
/// Relays one client talks to.
const MAX_RELAYS: usize = 8;
/// Verified head hashes kept per height, to notice relays on different branches.
const RECENT_HEIGHTS: usize = 64;
/// Heads kept until finality crosses into their epoch (see `State::deferred`).
const MAX_DEFERRED: usize = 4;
/// Attempts of `account` over all relays when none could be checked yet, and the pause between.
const ACCOUNT_ROUNDS: u32 = 4;
const ROUND_PAUSE_MS: i32 = 750;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &JsValue, ms: i32) -> JsValue;
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(text: &str);
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** One relay connection. */
export interface RelayStatus {
  url: string;
  state: "connecting" | "open" | "reconnecting" | "closed";
  /** Height of the newest header this relay sent that verified. */
  head_height?: bigint;
  /** Delay before the next attempt, while reconnecting. */
  retry_ms?: number;
  last_error?: string;
}

export interface ClientStatus {
  finalized: Anchor;
  head: Anchor;
  /** Milliseconds since the finalized block's slot began, by this machine's clock. */
  age_ms: bigint;
  /** More than 3 epochs without new finality. */
  stalled: boolean;
  relays: RelayStatus[];
}

export interface ChainParams {
  min_fee: bigint;
  slot_ms: bigint;
  slots_per_epoch: bigint;
  unbonding_epochs: bigint;
  min_stake: bigint;
}

/** `accepted` if any relay took it; `relay` is the first that did (or the first that refused,
 *  with its `reason`); `accepted_by` lists every relay that took it. */
export interface SubmitResult {
  accepted: boolean;
  tx_id?: string;
  reason?: string;
  relay: string;
  accepted_by: string[];
}

/** `included` and `finalized` with `verified: true` are proven; everything with `verified: false` is the relay's word (`pending`, `unknown`, or `included` in a block the client cannot check yet: an epoch whose finality it has not verified). */
export interface TxStatus {
  status: "pending" | "included" | "finalized" | "unknown";
  height?: bigint;
  block?: string;
  verified: boolean;
  relay: string;
  /** Relays that answered `pending`, and those that do not have it (`unknown`): a wallet sends
   *  the transaction again to the latter while none has included it. */
  pending_at: string[];
  unknown_at: string[];
}

export type ClientEvent =
  | { type: "relay"; url: string; state: RelayStatus["state"]; retry_ms?: number; reason?: string }
  | { type: "head"; anchor: Anchor; proposer: string; relay: string }
  | { type: "finalized"; anchor: Anchor; relay: string }
  | { type: "account"; account: VerifiedAccount; relay: string }
  /** `what`: "message" (not a protocol message), "header" (a head), "finality" (a finality
   *  proof), "account" (an account proof), "meta" (a chain meta), "inclusion" (an inclusion
   *  proof or its headers). */
  | { type: "rejected"; what: "message" | "header" | "finality" | "account" | "meta" | "inclusion"; reason: string; relay: string }
  /** `what`: "head" (two verified blocks at one height from different relays). */
  | { type: "disagreement"; what: "head"; detail: string; relays: string[] }
  /** Two conflicting finalized blocks (more than 1/3 of a validator set signed both): the
   *  client has stopped; `evidence` pieces of slashing evidence went to every connected relay. */
  | { type: "alarm"; what: "finality"; detail: string; relays: string[]; evidence: number }
  /** The saved position (or genesis) was older than the weak-subjectivity bound: the client
   *  started again from the finalized block `anchor`, on which every source in `sources` agreed
   *  (one source alone when only one answered). */
  | { type: "checkpoint"; anchor: Anchor; sources: string[] };
"#;

/// What the client tells the page (`ClientEvent` in the .d.ts).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    Relay {
        url: String,
        state: ConnState,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_ms: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Head {
        anchor: AnchorView,
        proposer: String,
        relay: String,
    },
    Finalized {
        anchor: AnchorView,
        relay: String,
    },
    Account {
        account: AccountView,
        relay: String,
    },
    /// Something a relay sent failed verification: never shown as fact.
    Rejected {
        what: &'static str,
        reason: String,
        relay: String,
    },
    Disagreement {
        what: &'static str,
        detail: String,
        relays: Vec<String>,
    },
    /// The trusted position was past the weak-subjectivity bound: the client started again
    /// from a recent finalized block on which `sources` agreed.
    Checkpoint {
        anchor: AnchorView,
        sources: Vec<String>,
    },
    /// Conflicting finality: the client has stopped and accepts nothing more.
    Alarm {
        what: &'static str,
        detail: String,
        relays: Vec<String>,
        /// Pieces of slashing evidence sent to every connected relay.
        evidence: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum ConnState {
    Connecting,
    Open,
    Reconnecting,
    Closed,
}

#[derive(Debug, Serialize)]
struct RelayStatus {
    url: String,
    state: ConnState,
    #[serde(skip_serializing_if = "Option::is_none")]
    head_height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_ms: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Status {
    finalized: AnchorView,
    head: AnchorView,
    age_ms: u64,
    stalled: bool,
    relays: Vec<RelayStatus>,
}

#[derive(Debug, Serialize)]
struct ParamsView {
    min_fee: u64,
    slot_ms: u64,
    slots_per_epoch: u64,
    unbonding_epochs: u64,
    min_stake: u64,
}

#[derive(Debug, Serialize)]
struct SubmitResult {
    accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tx_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    relay: String,
    accepted_by: Vec<String>,
}

#[derive(Debug, Serialize)]
struct TxStatus {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    block: Option<String>,
    verified: bool,
    relay: String,
    pending_at: Vec<String>,
    unknown_at: Vec<String>,
}

impl TxStatus {
    /// How far a status goes: proven final, proven included, the relay's word that it is
    /// included, pending, unknown.
    fn rank(&self) -> u8 {
        match (self.status, self.verified) {
            ("finalized", true) => 4,
            ("included", true) => 3,
            ("included", false) => 2,
            ("pending", _) => 1,
            _ => 0,
        }
    }
}

/// The JavaScript callbacks of one connection, kept alive as long as its socket may call them.
#[derive(Debug)]
struct Handlers {
    _open: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
    _error: Closure<dyn FnMut(web_sys::Event)>,
}

#[derive(Debug)]
struct Relay {
    url: String,
    socket: Option<WebSocket>,
    /// Replaced on the next connect, never dropped from inside one of its own callbacks.
    handlers: Option<Handlers>,
    state: ConnState,
    /// The relay's `hello` was checked: requests may go out.
    ready: bool,
    failures: u32,
    retry_ms: Option<u32>,
    head_height: Option<u64>,
    last_error: Option<String>,
    /// What the relay said in an `error` without an id on this connection (e.g. `wrong chain:
    /// …`): the reason it gives for closing, when the close frame has none.
    said: Option<String>,
}

#[derive(Debug)]
struct Pending {
    id: u64,
    relay: usize,
    resolve: js_sys::Function,
    reject: js_sys::Function,
}

#[derive(Debug)]
struct State {
    light: LightClient,
    relays: Vec<Relay>,
    // Small and bounded (64 addresses, 256 requests, 64 heights): vectors searched in order,
    // rather than more B-tree code in the .wasm (it has a size budget).
    watched: Vec<Address>,
    pending: Vec<Pending>,
    next_id: u64,
    /// Verified header hash per height, with the relay that sent it first.
    heads: Vec<(u64, Hash, usize)>,
    /// Heads that could not be checked when they came (the first blocks of an epoch the
    /// client has not crossed: its validator set arrives with finality), with the relay that
    /// sent each: checked again each time finality moves, so that every height is reported
    /// once it can be verified (the page's list of blocks skipped each epoch's first block).
    deferred: Vec<(usize, SignedHeader)>,
    closed: bool,
    /// Set while the trusted position is past the weak-subjectivity bound (PROTOCOL.md §13.2):
    /// nothing is followed from it until sources agree on a recent checkpoint.
    resync: Option<Resync>,
}

/// Gathering a recent checkpoint: each relay's newest finality proof that holds together, then
/// every relay that sent one asked for its block at the lowest proof's height (core's
/// `Resync` decides; this drives it).
#[derive(Debug)]
struct Resync {
    sources: core_light::Resync,
    deciding: bool,
    /// The sources disagreed: the client has stopped.
    failed: bool,
}

impl State {
    /// Removes and returns the request `id`, if it is still pending.
    fn take_pending(&mut self, id: u64) -> Option<Pending> {
        let i = self.pending.iter().position(|p| p.id == id)?;
        Some(self.pending.swap_remove(i))
    }
}

#[derive(Debug)]
struct Shared {
    state: RefCell<State>,
    on_event: js_sys::Function,
}

impl Shared {
    /// Hands events to the page. Call with no borrow of `state` held: the callback may call
    /// back into the client. An exception in the callback is the page's, and is dropped.
    fn emit(&self, events: Vec<Event>) {
        for event in events {
            if let Ok(value) = to_js(&event) {
                let _ = self.on_event.call1(&JsValue::NULL, &value);
            }
        }
    }

    fn url(&self, relay: usize) -> String {
        self.state.borrow().relays.get(relay).map(|r| r.url.clone()).unwrap_or_default()
    }
}

impl Drop for State {
    fn drop(&mut self) {
        for relay in &mut self.relays {
            close_socket(relay);
        }
    }
}

/// Detaches the callbacks (a closed client's sockets must never call into freed closures) and
/// closes the socket.
fn close_socket(relay: &mut Relay) {
    if let Some(socket) = relay.socket.take() {
        socket.set_onopen(None);
        socket.set_onmessage(None);
        socket.set_onclose(None);
        socket.set_onerror(None);
        let _ = socket.close();
    }
    relay.ready = false;
}

/// Connections to relays of one chain, with a light client that verifies what they send.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Client {
    shared: Rc<Shared>,
}

#[wasm_bindgen]
impl Client {
    /// Connects to every relay in `urls` (`ws://host:port/ws` or `wss://…`, at most 8) for the
    /// chain of `genesis_json` — the chain spec that ships with the page, the one thing the client
    /// trusts — and reports to `on_event` (see `ClientEvent`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        genesis_json: &str,
        urls: Vec<String>,
        #[wasm_bindgen(unchecked_param_type = "(event: ClientEvent) => void")]
        on_event: js_sys::Function,
    ) -> Result<Client, JsError> {
        Ok(Client::start(LightClient::new(genesis_json)?, urls, on_event)?)
    }

    /// Like the constructor, starting from `checkpoint` (saved earlier from `checkpoint()`)
    /// instead of genesis.
    pub fn resume(
        genesis_json: &str,
        checkpoint: &str,
        urls: Vec<String>,
        #[wasm_bindgen(unchecked_param_type = "(event: ClientEvent) => void")]
        on_event: js_sys::Function,
    ) -> Result<Client, JsError> {
        Ok(Client::start(LightClient::resume(genesis_json, checkpoint)?, urls, on_event)?)
    }

    /// The verified finalized position as hex, to keep (e.g. in `localStorage`) and resume from.
    pub fn checkpoint(&self) -> String {
        self.shared.state.borrow().light.trusted_hex()
    }

    /// The chain id (genesis hash), hex.
    pub fn chain_id(&self) -> String {
        self.shared.state.borrow().light.core().chain_id().to_hex()
    }

    /// The chain's parameters, from the genesis the client trusts (not from a relay).
    #[wasm_bindgen(unchecked_return_type = "ChainParams")]
    pub fn params(&self) -> Result<JsValue, JsError> {
        let state = self.shared.state.borrow();
        let p = state.light.core().params();
        Ok(to_js(&ParamsView {
            min_fee: p.min_fee,
            slot_ms: p.slot_ms,
            slots_per_epoch: p.slots_per_epoch,
            unbonding_epochs: p.unbonding_epochs,
            min_stake: p.min_stake,
        })?)
    }

    /// The verified finalized and head blocks, how old the finalized one is by this machine's
    /// clock (`age_ms` since its slot began) and whether finality has stalled (`stalled`: more
    /// than 3 epochs without it, core's `is_stalled`), and each relay connection.
    #[wasm_bindgen(unchecked_return_type = "ClientStatus")]
    pub fn status(&self) -> Result<JsValue, JsError> {
        let state = self.shared.state.borrow();
        let now = crate::light::now_ms();
        let started = state.light.slot_start_ms(state.light.core().finalized().slot);
        let status = Status {
            finalized: state.light.core().finalized().into(),
            head: state.light.core().head().into(),
            age_ms: now.saturating_sub(started),
            stalled: state.light.core().is_stalled(state.light.now_slot(now)),
            relays: state
                .relays
                .iter()
                .map(|r| RelayStatus {
                    url: r.url.clone(),
                    state: r.state,
                    head_height: r.head_height,
                    retry_ms: r.retry_ms,
                    last_error: r.last_error.clone(),
                })
                .collect(),
        };
        Ok(to_js(&status)?)
    }

    /// Follows `address` (`meme1…`, at most 64): its verified account is reported with an
    /// `account` event now, whenever a relay says it changed (read at the head), and whenever
    /// finality moves (read at the finalized block).
    pub fn watch(&self, address: &str) -> Result<(), JsError> {
        let address = Address::parse(address).map_err(Error::from)?;
        let relays = {
            let mut state = self.shared.state.borrow_mut();
            if !state.watched.contains(&address)
                && state.watched.len() >= wire::MAX_ACCOUNT_SUBSCRIPTIONS
            {
                return Err(JsError::new("at most 64 addresses can be watched"));
            }
            if !state.watched.contains(&address) {
                state.watched.push(address);
            }
            let subscribe = Message::Subscribe {
                heads: false,
                finality: false,
                accounts: vec![address.to_text()],
            };
            let ready = ready_relays(&state);
            for &i in &ready {
                send(&state, i, &subscribe);
            }
            ready
        };
        if let Some(&relay) = relays.first() {
            let shared = self.shared.clone();
            spawn_local(
                async move { refresh_account(&shared, relay, address, At::Finalized).await },
            );
        }
        Ok(())
    }

    /// The account of `address`, proven against the verified finalized state. Asks the
    /// connected relays in turn until one answers with a proof that verifies; a proof that fails
    /// is also reported as a `rejected` event. Rejects with the last reason.
    #[wasm_bindgen(unchecked_return_type = "Promise<VerifiedAccount>")]
    pub fn account(&self, address: &str) -> Result<js_sys::Promise, JsError> {
        let address = Address::parse(address).map_err(Error::from)?;
        let shared = self.shared.clone();
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let mut last = Error::NoRelay;
            // A relay a moment ahead of the client (its finality proof for a new epoch not out
            // yet) cannot be checked now but can be shortly: a few rounds, a slot apart. A
            // proof that fails (a lie) ends the round for that relay at once.
            for round in 0..ACCOUNT_ROUNDS {
                if round > 0 {
                    sleep_ms(ROUND_PAUSE_MS).await;
                }
                let relays = ready_relays(&shared.state.borrow());
                for relay in relays {
                    match fetch_account(&shared, relay, address, At::Finalized).await {
                        Ok(account) => return resolved(&account),
                        Err(e) => last = e,
                    }
                }
                if is_lie(&last) || matches!(last, Error::NoRelay | Error::Closed) {
                    break;
                }
            }
            Err(JsError::from(last).into())
        }))
    }

    /// Whether `public_key` (33 bytes, hex) has a registration (a validator, or a staker who was
    /// one and is not pruned yet) in the verified finalized state:
    /// read from the chain meta a relay sends (`get_meta`), proven against the finalized block's
    /// state root (core's `verify_meta`). What decides whether a stake must carry a first
    /// commitment (`check_stake`). Asks the connected relays in turn, once each (a relay whose
    /// finalized block is not the client's yet is asked again by the caller, a moment later);
    /// a meta that does not verify is also reported as a `rejected` event.
    #[wasm_bindgen(unchecked_return_type = "Promise<boolean>")]
    pub fn registration(&self, public_key: &str) -> Result<js_sys::Promise, JsError> {
        let bytes = hex::decode(public_key).map_err(|_| Error::Hex { field: "public key" })?;
        let key = PublicKey::from_sec1(&bytes)
            .map_err(|error| Error::Decode { field: "public key", error })?;
        let shared = self.shared.clone();
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let mut last = Error::NoRelay;
            let relays = ready_relays(&shared.state.borrow());
            for relay in relays {
                match fetch_registration(&shared, relay, &key).await {
                    Ok(registered) => return Ok(JsValue::from_bool(registered)),
                    Err(e) => last = e,
                }
            }
            Err(JsError::from(last).into())
        }))
    }

    /// Sends a signed transaction (hex of `SignedTx`, as `sign_*` return it) to every connected
    /// relay at once, so that no one relay can swallow it, and resolves with every answer folded
    /// in: accepted if any relay took it (`accepted_by` lists them), else the first refusal and
    /// its reason. Rejects if no relay answers.
    #[wasm_bindgen(unchecked_return_type = "Promise<SubmitResult>")]
    pub fn submit(&self, tx_hex: &str) -> Result<js_sys::Promise, JsError> {
        let _checked: SignedTx = decode_hex("transaction", tx_hex)?;
        let tx = tx_hex.to_owned();
        let shared = self.shared.clone();
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let relays = ready_relays(&shared.state.borrow());
            // All sent before any reply is awaited: every relay has it at once.
            let sent: Vec<(usize, Sent)> = relays
                .iter()
                .map(|&r| {
                    (r, send_request(&shared, r, |id| Message::SubmitTx { id, tx: tx.clone() }))
                })
                .collect();
            let mut accepted: Option<SubmitResult> = None;
            let mut refused = None;
            let mut accepted_by = Vec::new();
            let mut last = Error::NoRelay;
            for (relay, sent) in sent {
                let url = shared.url(relay);
                match reply(sent).await {
                    Ok(Message::TxResult { accepted: true, tx_id, .. }) => {
                        accepted_by.push(url.clone());
                        accepted.get_or_insert(SubmitResult {
                            accepted: true,
                            tx_id,
                            reason: None,
                            relay: url,
                            accepted_by: Vec::new(),
                        });
                    }
                    Ok(Message::TxResult { reason, .. }) => {
                        refused.get_or_insert(SubmitResult {
                            accepted: false,
                            tx_id: None,
                            reason,
                            relay: url,
                            accepted_by: Vec::new(),
                        });
                    }
                    Ok(_) => last = unexpected(url),
                    Err(e) => last = e,
                }
            }
            match accepted.or(refused) {
                Some(mut result) => {
                    result.accepted_by = accepted_by;
                    resolved(&result)
                }
                None => Err(JsError::from(last).into()),
            }
        }))
    }

    /// The status of transaction `tx_id` (hex), verified where it can be: `included` comes with
    /// an inclusion proof under a header signed by its elected proposer, `finalized` with one
    /// under a header hash-linked to the verified finalized block. Asks every connected relay
    /// and answers with the furthest status (a proof outranks a relay's word): `unknown`
    /// only when no relay has it. A proof that fails is reported as `rejected`.
    #[wasm_bindgen(unchecked_return_type = "Promise<TxStatus>")]
    pub fn tx_status(&self, tx_id: &str) -> Result<js_sys::Promise, JsError> {
        let id: Hash = decode_hex("transaction id", tx_id)?;
        let shared = self.shared.clone();
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            // One relay after another: a relay that does not answer costs its timeout.
            let relays = ready_relays(&shared.state.borrow());
            let mut best: Option<TxStatus> = None;
            let (mut pending_at, mut unknown_at) = (Vec::new(), Vec::new());
            let mut last = Error::NoRelay;
            for relay in relays {
                match fetch_tx_status(&shared, relay, id).await {
                    Ok(status) => {
                        match status.status {
                            "pending" => pending_at.push(status.relay.clone()),
                            "unknown" => unknown_at.push(status.relay.clone()),
                            _ => {}
                        }
                        if best.as_ref().is_none_or(|b| status.rank() > b.rank()) {
                            best = Some(status);
                        }
                    }
                    Err(e) => last = e,
                }
            }
            match best {
                Some(mut status) => {
                    status.pending_at = pending_at;
                    status.unknown_at = unknown_at;
                    resolved(&status)
                }
                None => Err(JsError::from(last).into()),
            }
        }))
    }

    /// Closes every connection for good; pending requests fail.
    pub fn close(&self) {
        let mut events = Vec::new();
        {
            let mut state = self.shared.state.borrow_mut();
            state.closed = true;
            for relay in &mut state.relays {
                close_socket(relay);
                relay.state = ConnState::Closed;
                relay.retry_ms = None;
                events.push(Event::Relay {
                    url: relay.url.clone(),
                    state: ConnState::Closed,
                    retry_ms: None,
                    reason: None,
                });
            }
            for pending in std::mem::take(&mut state.pending) {
                let _ = pending.reject.call1(&JsValue::NULL, &JsError::from(Error::Closed).into());
            }
        }
        self.shared.emit(events);
    }
}

impl Client {
    fn start(
        light: LightClient,
        urls: Vec<String>,
        on_event: js_sys::Function,
    ) -> Result<Self, Error> {
        if urls.is_empty() || urls.len() > MAX_RELAYS {
            return Err(Error::Relay {
                url: String::new(),
                reason: format!("give 1 to {MAX_RELAYS} relay URLs, not {}", urls.len()),
            });
        }
        let relays = urls
            .into_iter()
            .map(|url| Relay {
                url,
                socket: None,
                handlers: None,
                state: ConnState::Connecting,
                ready: false,
                failures: 0,
                retry_ms: None,
                head_height: None,
                last_error: None,
                said: None,
            })
            .collect::<Vec<_>>();
        // A panic is a bug (a trap that kills the module); say where it was, on the console.
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| console_error(&format!("memecoin-wasm: {info}"))))
        });
        let count = relays.len();
        let state = State {
            light,
            relays,
            watched: Vec::new(),
            pending: Vec::new(),
            next_id: 1,
            heads: Vec::new(),
            deferred: Vec::new(),
            closed: false,
            resync: None,
        };
        let mut state = state;
        if state.light.is_expired(crate::light::now_ms()) {
            let sources = core_light::Resync::new(state.relays.len());
            state.resync = Some(Resync { sources, deciding: false, failed: false });
        }
        let shared = Rc::new(Shared { state: RefCell::new(state), on_event });
        for relay in 0..count {
            connect(&shared, relay);
        }
        Ok(Client { shared })
    }
}

/// Resolves after `ms` milliseconds (`setTimeout`).
async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// A promise's value, or the conversion failure as its rejection.
fn resolved<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    to_js(value).map_err(|e| JsError::from(e).into())
}

fn ready_relays(state: &State) -> Vec<usize> {
    (0..state.relays.len())
        .filter(|&i| state.relays.get(i).is_some_and(|r| r.ready && r.socket.is_some()))
        .collect()
}

fn send(state: &State, relay: usize, message: &Message) -> bool {
    match state.relays.get(relay).and_then(|r| r.socket.as_ref()) {
        Some(socket) => socket.send_with_str(&crate::json::message_to_json(message)).is_ok(),
        None => false,
    }
}

fn unexpected(url: String) -> Error {
    Error::Relay { url, reason: "unexpected reply".into() }
}

/// Opens (or reopens) the connection to relay `index`.
fn connect(shared: &Rc<Shared>, index: usize) {
    let url = {
        let mut state = shared.state.borrow_mut();
        if state.closed {
            return;
        }
        let Some(relay) = state.relays.get_mut(index) else { return };
        close_socket(relay);
        relay.state = ConnState::Connecting;
        relay.retry_ms = None;
        relay.said = None;
        relay.url.clone()
    };
    let socket = match WebSocket::new(&url) {
        Ok(socket) => socket,
        Err(e) => {
            // A malformed URL or a refused scheme: retrying cannot help, but keep the backoff
            // so that the page sees the reason and nothing spins.
            let reason = e.as_string().unwrap_or_else(|| "cannot open a WebSocket".into());
            return dropped(shared, index, reason);
        }
    };
    let weak: Weak<Shared> = Rc::downgrade(shared);
    let on_open = Closure::<dyn FnMut()>::new({
        let weak = weak.clone();
        move || {
            if let Some(shared) = weak.upgrade() {
                opened(&shared, index);
            }
        }
    });
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
        let weak = weak.clone();
        move |event: MessageEvent| {
            if let (Some(shared), Some(text)) = (weak.upgrade(), event.data().as_string()) {
                received(&shared, index, &text);
            }
        }
    });
    // A failed connection fires `error`, then (in browsers, not in every Node.js) `close`;
    // whichever comes first ends the attempt and detaches the other.
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new({
        let weak = weak.clone();
        move |_: web_sys::Event| {
            if let Some(shared) = weak.upgrade() {
                dropped(&shared, index, "connection failed".into());
            }
        }
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        if let Some(shared) = weak.upgrade() {
            let said = shared.state.borrow().relays.get(index).and_then(|r| r.said.clone());
            let reason = match (event.reason(), said) {
                (r, _) if !r.is_empty() => r,
                (_, Some(said)) => format!("closed by the relay: {said}"),
                _ => format!("connection closed ({})", event.code()),
            };
            dropped(&shared, index, reason);
        }
    });
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    socket.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let event = {
        let mut state = shared.state.borrow_mut();
        let Some(relay) = state.relays.get_mut(index) else { return };
        relay.socket = Some(socket);
        relay.handlers = Some(Handlers {
            _open: on_open,
            _message: on_message,
            _close: on_close,
            _error: on_error,
        });
        Event::Relay { url, state: ConnState::Connecting, retry_ms: None, reason: None }
    };
    shared.emit(vec![event]);
}

/// The socket is open: say hello (the relay answers with its own, checked in `received`).
fn opened(shared: &Rc<Shared>, index: usize) {
    let state = shared.state.borrow();
    let hello = Message::Hello {
        version: PROTOCOL_VERSION,
        chain_id: state.light.core().chain_id().to_hex(),
        role: Role::Browser,
        listen: None,
        head_height: state.light.core().finalized().height,
    };
    send(&state, index, &hello);
}

/// The connection ended (or never opened): fail its requests, then retry after a backoff.
fn dropped(shared: &Rc<Shared>, index: usize, reason: String) {
    let (event, delay) = {
        let mut state = shared.state.borrow_mut();
        if state.closed {
            return;
        }
        let failed: Vec<u64> =
            state.pending.iter().filter(|p| p.relay == index).map(|p| p.id).collect();
        let Some(relay) = state.relays.get_mut(index) else { return };
        let url = relay.url.clone();
        close_socket(relay);
        let delay = backoff(relay.failures);
        relay.failures = relay.failures.saturating_add(1);
        relay.state = ConnState::Reconnecting;
        relay.retry_ms = Some(delay);
        relay.last_error = Some(reason.clone());
        for id in failed {
            if let Some(p) = state.take_pending(id) {
                let error = Error::Relay { url: url.clone(), reason: reason.clone() };
                let _ = p.reject.call1(&JsValue::NULL, &JsError::from(error).into());
            }
        }
        let event = Event::Relay {
            url,
            state: ConnState::Reconnecting,
            retry_ms: Some(delay),
            reason: Some(reason),
        };
        (event, delay)
    };
    let weak = Rc::downgrade(shared);
    let retry = Closure::once_into_js(move || {
        if let Some(shared) = weak.upgrade() {
            connect(&shared, index);
        }
    });
    set_timeout(&retry, i32::try_from(delay).unwrap_or(i32::MAX));
    shared.emit(vec![event]);
}

/// `BACKOFF_MIN_MS · 2^failures`, at most `BACKOFF_MAX_MS`, then a random point in its upper
/// half: spread out, never shorter than half the step.
fn backoff(failures: u32) -> u32 {
    let step = BACKOFF_MIN_MS.saturating_mul(1u32 << failures.min(16)).min(BACKOFF_MAX_MS);
    let mut random = [0u8; 4];
    let jitter = match getrandom::fill(&mut random) {
        Ok(()) => u32::from_le_bytes(random) % (step / 2 + 1),
        Err(_) => 0,
    };
    step / 2 + jitter
}

/// One text frame from relay `index`.
fn received(shared: &Rc<Shared>, index: usize, text: &str) {
    if text.len() > wire::MAX_FRAME {
        return reject(
            shared,
            index,
            "message",
            format!("{} bytes, over the frame limit", text.len()),
        );
    }
    let message = match crate::json::message_from_json(text) {
        Ok(message) => message,
        Err(reason) => return reject(shared, index, "message", reason),
    };
    match message {
        Message::Hello { version, chain_id, .. } => hello(shared, index, version, &chain_id),
        Message::Head { header } => {
            let shared = shared.clone();
            spawn_local(async move { head(&shared, index, &header).await });
        }
        Message::Finalized { proof } => {
            let shared = shared.clone();
            spawn_local(async move {
                // A proof the client cannot check yet (a notification while it is behind):
                // catch up.
                if finality(&shared, index, &[proof]).await {
                    let since = shared.state.borrow().light.core().finalized().height;
                    catch_up(&shared, index, since).await;
                }
            });
        }
        Message::AccountChanged { address } => {
            if let Ok(address) = Address::parse(&address) {
                let shared = shared.clone();
                spawn_local(
                    async move { refresh_account(&shared, index, address, At::Head).await },
                );
            }
        }
        Message::Error { id: None, reason } => {
            if let Some(relay) = shared.state.borrow_mut().relays.get_mut(index) {
                relay.said = Some(reason.clone());
                relay.last_error = Some(reason);
            }
        }
        Message::Error { id: Some(id), reason } => settle(shared, id, Err(reason)),
        Message::TxResult { id, .. }
        | Message::Headers { id, .. }
        | Message::Blocks { id, .. }
        | Message::Finality { id, .. }
        | Message::Account { id, .. }
        | Message::Meta { id, .. }
        | Message::Inclusion { id, .. } => settle(shared, id, Ok(text)),
        // Gossip and requests are for relays; a browser neither serves nor forwards.
        _ => {}
    }
}

fn reject(shared: &Rc<Shared>, index: usize, what: &'static str, reason: String) {
    let relay = shared.url(index);
    shared.emit(vec![Event::Rejected { what, reason, relay }]);
}

/// Resolves (with the reply's text) or rejects the request `id`.
fn settle(shared: &Rc<Shared>, id: u64, outcome: Result<&str, String>) {
    let Some(pending) = shared.state.borrow_mut().take_pending(id) else { return };
    let _ = match outcome {
        Ok(text) => pending.resolve.call1(&JsValue::NULL, &JsValue::from_str(text)),
        Err(reason) => pending.reject.call1(&JsValue::NULL, &JsValue::from_str(&reason)),
    };
}

/// The relay's `hello`: same protocol version and chain, or the connection is closed (and
/// retried later: relays get upgraded).
fn hello(shared: &Rc<Shared>, index: usize, version: u32, chain_id: &str) {
    let problem = {
        let state = shared.state.borrow();
        let ours = state.light.core().chain_id().to_hex();
        if version != PROTOCOL_VERSION {
            Some(format!("relay speaks protocol version {version}, this wallet {PROTOCOL_VERSION}"))
        } else if !chain_id.eq_ignore_ascii_case(&ours) {
            Some(format!("relay is on another chain ({chain_id})"))
        } else {
            None
        }
    };
    if let Some(reason) = problem {
        return dropped(shared, index, reason);
    }
    let (event, since) = {
        let mut state = shared.state.borrow_mut();
        let since = state.light.core().finalized().height;
        let watched: Vec<Address> = state.watched.to_vec();
        let subscribe = Message::Subscribe {
            heads: true,
            finality: true,
            accounts: watched.iter().map(Address::to_text).collect(),
        };
        send(&state, index, &subscribe);
        let Some(relay) = state.relays.get_mut(index) else { return };
        relay.ready = true;
        relay.failures = 0;
        relay.state = ConnState::Open;
        relay.last_error = None;
        let event = Event::Relay {
            url: relay.url.clone(),
            state: ConnState::Open,
            retry_ms: None,
            reason: None,
        };
        (event, since)
    };
    shared.emit(vec![event]);
    let shared = shared.clone();
    if shared.state.borrow().resync.is_some() {
        return spawn_local(async move { resync(&shared, index).await });
    }
    spawn_local(async move { follow(&shared, index, since).await });
}

/// Catches up finality from `since` with relay `index`, then reads the watched accounts there.
async fn follow(shared: &Rc<Shared>, index: usize, since: u64) {
    catch_up(shared, index, since).await;
    let watched = shared.state.borrow().watched.to_vec();
    for address in watched {
        refresh_account(shared, index, address, At::Finalized).await;
    }
}

/// Past the weak-subjectivity bound: asks relay `index` for its newest finality proof, keeps it
/// if it holds together on its own (core's `from_finality_proof`), then tries to decide.
async fn resync(shared: &Rc<Shared>, index: usize) {
    let asked = request(shared, index, |id| Message::GetFinality { id, since: 0, latest: true });
    let Ok(Message::Finality { proofs, .. }) = asked.await else { return };
    let Some(hex) = proofs.last() else { return };
    let checked = decode_hex::<FinalityProof>("finality proof", hex)
        .and_then(|proof| shared.state.borrow().light.check_checkpoint(&proof).map(|()| proof));
    match checked {
        Ok(proof) => {
            if let Some(r) = shared.state.borrow_mut().resync.as_mut() {
                r.sources.proof(index, proof);
            }
            decide(shared).await;
        }
        Err(e) => reject(shared, index, "finality", e.to_string()),
    }
}

/// Once two sources (or every configured one, if fewer) sent a proof: the lowest proof's block
/// must be the block every one of them has at that height. Then the client starts from it;
/// a source that has another block there, with a valid proof of its own, is conflicting
/// finality (an alarm, with the double votes of the two certificates when they are at one
/// height).
async fn decide(shared: &Rc<Shared>) {
    let (height, asked) = {
        let mut state = shared.state.borrow_mut();
        let Some(r) = state.resync.as_mut() else { return };
        if r.deciding || r.failed {
            return;
        }
        let Some(ask) = r.sources.ask() else { return };
        r.deciding = true;
        ask
    };
    let mut headers = Vec::new();
    for index in asked {
        let fetched = fetch_headers(shared, index, height, height, 1).await;
        headers.push((index, fetched.ok().and_then(|h| h.first().map(SignedHeader::hash))));
    }
    let verdict = match shared.state.borrow_mut().resync.as_mut() {
        Some(r) => {
            r.deciding = false;
            r.sources.decide(&headers)
        }
        None => return,
    };
    let (proof, agreed) = match verdict {
        Verdict::Wait => return,
        Verdict::Conflict { source, height, evidence } => {
            return disagree(shared, height, &shared.url(source), &evidence);
        }
        Verdict::Start { proof, agreed } => (proof, agreed),
    };
    let agreed: Vec<String> = agreed.into_iter().map(|i| shared.url(i)).collect();
    let started = {
        let mut state = shared.state.borrow_mut();
        let started = state.light.restart_from(&proof).map(|()| *state.light.core().finalized());
        if started.is_ok() {
            state.resync = None;
        }
        started
    };
    let Ok(anchor) = started else { return };
    let relay = agreed.first().cloned().unwrap_or_default();
    shared.emit(vec![
        Event::Checkpoint { anchor: (&anchor).into(), sources: agreed },
        Event::Finalized { anchor: (&anchor).into(), relay },
    ]);
    let ready = ready_relays(&shared.state.borrow());
    for index in ready {
        follow(shared, index, anchor.height).await;
    }
}

/// Sources that disagree on the finalized block at `height`: the client stops, as for
/// conflicting finality, and sends what evidence the two proofs hold to every relay.
fn disagree(shared: &Rc<Shared>, height: u64, url: &str, evidence: &[Evidence]) {
    if let Some(r) = shared.state.borrow_mut().resync.as_mut() {
        r.failed = true;
    }
    let what = format!(
        "the sources asked for a recent checkpoint disagree on the block at height {height} \
         ({url} has another one)"
    );
    raise(shared, &what, url.to_string(), evidence);
}

/// Asks relay `index` for the newest finality proof above `since`, which verifies alone when
/// validators the client trusts vouch for it (skipping, PROTOCOL.md §13.4); only if it cannot be
/// checked yet, for all the proofs above `since` (one per epoch), and feeds them to the client.
async fn catch_up(shared: &Rc<Shared>, index: usize, since: u64) {
    for latest in [true, false] {
        match request(shared, index, |id| Message::GetFinality { id, since, latest }).await {
            Ok(Message::Finality { proofs, .. }) if finality(shared, index, &proofs).await => {}
            // A relay older than `latest` refuses it (PROTOCOL.md §16.3): walk.
            Err(_) if latest => {}
            _ => return,
        }
    }
}

/// Finality proofs (hex), oldest first: each that verifies moves the finalized block. A proof
/// whose source the client cannot link to its finalized block yet gets the headers between from
/// the same relay first. Returns whether none moved it and some could not be checked yet (the
/// epochs before them come first).
async fn finality(shared: &Rc<Shared>, index: usize, proofs: &[String]) -> bool {
    // Nothing is followed from a position past the weak-subjectivity bound.
    if shared.state.borrow().resync.is_some() {
        return false;
    }
    let mut moved = None;
    let mut gap = false;
    let url = shared.url(index);
    for hex in proofs {
        let proof: FinalityProof = match decode_hex("finality proof", hex) {
            Ok(proof) => proof,
            Err(e) => {
                reject(shared, index, "finality", e.to_string());
                break;
            }
        };
        let mut accepted = shared.state.borrow_mut().light.core_mut().accept_finality(&proof, &[]);
        if let Err(LightError::UnknownParent { from, to }) = accepted {
            accepted = match fetch_links(shared, index, from, to).await {
                Ok(links) => {
                    shared.state.borrow_mut().light.core_mut().accept_finality(&proof, &links)
                }
                Err(_) => break, // the relay is gone or behind: the next proof retries
            };
        }
        match accepted {
            Ok(anchor) => moved = Some(anchor),
            // Old news, or a proof from an epoch after one the client has not crossed yet
            // (a notification while it catches up): neither is a lie.
            Err(LightError::NotNewer { .. } | LightError::Halted) => {}
            Err(LightError::EpochNotKnown { .. } | LightError::InsufficientTrust { .. }) => {
                gap = true
            }
            Err(LightError::ConflictingFinality { .. }) => {
                alarm(shared, index);
                break;
            }
            Err(e) => {
                reject(shared, index, "finality", e.to_string());
                break;
            }
        }
    }
    let Some(anchor) = moved else { return gap };
    shared.emit(vec![Event::Finalized { anchor: (&anchor).into(), relay: url }]);
    retry_deferred(shared);
    let watched: Vec<Address> = shared.state.borrow().watched.to_vec();
    {
        let shared = shared.clone();
        spawn_local(async move {
            for address in watched {
                refresh_account(&shared, index, address, At::Finalized).await;
            }
        });
    }
    false
}

/// Conflicting finality (core's `ConflictingFinality`): the client has stopped. Tells the page,
/// and sends the evidence read off the two certificates to every connected relay, so that
/// validators include it and the offenders are slashed.
fn alarm(shared: &Rc<Shared>, index: usize) {
    let url = shared.url(index);
    let (detail, evidence) = {
        let state = shared.state.borrow();
        let Some(conflict) = state.light.core().conflict() else { return };
        let detail = format!(
            "{} at height {} (verified before), {} at height {} (from {url})",
            conflict.ours.hash, conflict.ours.height, conflict.theirs.hash, conflict.theirs.height
        );
        (detail, conflict.evidence.clone())
    };
    raise(shared, &detail, url, &evidence);
}

/// The client has stopped on conflicting finality (`what` says which blocks): sends the
/// evidence to every relay and tells the page.
fn raise(shared: &Rc<Shared>, what: &str, url: String, evidence: &[Evidence]) {
    {
        let state = shared.state.borrow();
        for e in evidence {
            let message = Message::Evidence { evidence: memecoin_core::wire::encode_hex(e) };
            for relay in 0..state.relays.len() {
                send(&state, relay, &message);
            }
        }
    }
    let detail = format!(
        "two conflicting finalized blocks: {what}; the wallet has stopped: its finalized state \
         can no longer be trusted"
    );
    let count = evidence.len();
    let event = Event::Alarm { what: "finality", detail, relays: vec![url], evidence: count };
    shared.emit(vec![event]);
}

/// The signed headers `from..=to` from relay `index` (at most `max`), lowest first, in ranges of
/// `MAX_RANGE`: the links of a header or a finality proof to the finalized block, or the
/// ancestry of a block below it.
async fn fetch_headers(
    shared: &Rc<Shared>,
    index: usize,
    from: u64,
    to: u64,
    max: u64,
) -> Result<Vec<SignedHeader>, Error> {
    let mut headers = Vec::new();
    let mut next = from;
    while next <= to && (headers.len() as u64) < max {
        let count = (to - next + 1).min(MAX_RANGE);
        let reply =
            request(shared, index, |id| Message::GetHeaders { id, from: next, count }).await?;
        let Message::Headers { headers: got, .. } = reply else {
            return Err(unexpected(shared.url(index)));
        };
        if got.is_empty() {
            break;
        }
        for hex in &got {
            headers.push(decode_hex::<SignedHeader>("header", hex)?);
        }
        next = next.saturating_add(got.len() as u64);
    }
    headers.truncate(usize::try_from(to.saturating_sub(from).saturating_add(1)).unwrap_or(0));
    Ok(headers)
}

/// The links from `from` to `to` (core's `UnknownParent`), at most core's `MAX_LINKS`.
async fn fetch_links(
    shared: &Rc<Shared>,
    index: usize,
    from: u64,
    to: u64,
) -> Result<Vec<SignedHeader>, Error> {
    fetch_headers(shared, index, from, to, memecoin_core::light::MAX_LINKS).await
}

/// Verifies a header as a head (core's `accept_header` at the local clock's slot), with the
/// headers that link it to the finalized block fetched from relay `index` when its parent is not
/// known yet.
async fn accept_head(
    shared: &Rc<Shared>,
    index: usize,
    header: &SignedHeader,
) -> Result<Anchor, LightError> {
    let now = {
        let state = shared.state.borrow();
        state.light.now_slot(crate::light::now_ms())
    };
    let accepted = shared.state.borrow_mut().light.core_mut().accept_header(header, &[], now);
    let Err(LightError::UnknownParent { from, to }) = accepted else { return accepted };
    match fetch_links(shared, index, from, to).await {
        Ok(links) => {
            match shared.state.borrow_mut().light.core_mut().accept_header(header, &links, now) {
                // The relay's head chain moved to another branch between the header and the
                // headers below it (a short fork): not checkable now, and not a lie.
                Err(LightError::NotLinked) => accepted,
                other => other,
            }
        }
        // The relay is gone or behind: not checkable now, and not a lie.
        Err(_) => accepted,
    }
}

/// A `head` notification: the header is verified (plausible by the local clock, elected
/// proposer, signature, linked to the finalized block) before it becomes the head; a verified
/// header that differs from another relay's at the same height is a disagreement.
async fn head(shared: &Rc<Shared>, index: usize, hex: &str) {
    if shared.state.borrow().resync.is_some() {
        return;
    }
    let header: SignedHeader = match decode_hex("header", hex) {
        Ok(header) => header,
        Err(e) => return reject(shared, index, "header", e.to_string()),
    };
    let before = shared.state.borrow().light.core().head().hash;
    let accepted = accept_head(shared, index, &header).await;
    let mut events = Vec::new();
    let mut gap = None;
    {
        let mut state = shared.state.borrow_mut();
        let url = state.relays.get(index).map(|r| r.url.clone()).unwrap_or_default();
        match accepted {
            Ok(anchor) => {
                if let Some(relay) = state.relays.get_mut(index) {
                    relay.head_height = Some(anchor.height);
                }
                let seen = state.heads.iter().find(|(height, ..)| *height == anchor.height);
                if let Some(&(_, other, first)) = seen {
                    if other != anchor.hash && first != index {
                        let first_url =
                            state.relays.get(first).map(|r| r.url.clone()).unwrap_or_default();
                        events.push(Event::Disagreement {
                            what: "head",
                            detail: format!(
                                "two verified blocks at height {}: {} from {first_url}, {} from {url}",
                                anchor.height, other, anchor.hash
                            ),
                            relays: vec![first_url, url.clone()],
                        });
                    }
                } else {
                    state.heads.push((anchor.height, anchor.hash, index));
                    if state.heads.len() > RECENT_HEIGHTS {
                        // Forget the lowest height.
                        let lowest = state.heads.iter().enumerate().min_by_key(|(_, h)| h.0);
                        if let Some((i, _)) = lowest {
                            state.heads.swap_remove(i);
                        }
                    }
                }
                if state.light.core().head().hash != before {
                    let proposer = Address::from_public_key(&header.header.proposer).to_text();
                    events.push(Event::Head { anchor: (&anchor).into(), proposer, relay: url });
                }
            }
            Err(LightError::NotNewer { .. } | LightError::UnknownParent { .. }) => {}
            Err(LightError::Halted) => {}
            // A header of an epoch the client has not crossed, or too far above finality to
            // link: fetch finality, then go on.
            Err(LightError::EpochNotKnown { .. } | LightError::TooFarAhead { .. }) => {
                gap = Some(state.light.core().finalized().height);
                defer(&mut state, index, header);
            }
            Err(e) => {
                events.push(Event::Rejected { what: "header", reason: e.to_string(), relay: url })
            }
        }
    }
    shared.emit(events);
    if let Some(since) = gap {
        catch_up(shared, index, since).await;
    }
}

/// Keeps a head to check again once finality moves: at most [`MAX_DEFERRED`], the lowest (an
/// epoch's first blocks, which no later `head` message brings again).
fn defer(state: &mut State, index: usize, header: SignedHeader) {
    let hash = header.hash();
    if state.deferred.iter().any(|(_, h)| h.hash() == hash) {
        return;
    }
    state.deferred.push((index, header));
    if state.deferred.len() > MAX_DEFERRED {
        // Forget the highest (no sort: each monomorphized sort costs the .wasm kilobytes).
        let highest = state.deferred.iter().enumerate().max_by_key(|(_, (_, h))| h.header.height);
        if let Some((i, _)) = highest {
            state.deferred.swap_remove(i);
        }
    }
}

/// Finality moved: the deferred heads, lowest first, each reported as a head if it now
/// verifies (or is the block just finalized); those still of an epoch not crossed wait on.
fn retry_deferred(shared: &Rc<Shared>) {
    let mut deferred = core::mem::take(&mut shared.state.borrow_mut().deferred);
    let mut events = Vec::new();
    {
        let mut state = shared.state.borrow_mut();
        let now = state.light.now_slot(crate::light::now_ms());
        // Lowest first (taken one by one: at most `MAX_DEFERRED`, and no sort in the .wasm).
        while let Some(i) =
            deferred.iter().enumerate().min_by_key(|(_, (_, h))| h.header.height).map(|(i, _)| i)
        {
            let (index, header) = deferred.swap_remove(i);
            let url = state.relays.get(index).map(|r| r.url.clone()).unwrap_or_default();
            let proposer = Address::from_public_key(&header.header.proposer).to_text();
            match state.light.core_mut().accept_header(&header, &[], now) {
                // Reported even when it is the head already: the proof that crossed into its
                // epoch made it so (a proof's target is remembered) without a `head` event.
                // The page lists a block once by hash.
                Ok(anchor) => {
                    events.push(Event::Head { anchor: (&anchor).into(), proposer, relay: url })
                }
                Err(LightError::NotNewer { .. }) => {
                    let finalized = state.light.core().finalized();
                    if finalized.hash == header.hash() {
                        events.push(Event::Head { anchor: finalized.into(), proposer, relay: url });
                    }
                }
                Err(LightError::EpochNotKnown { .. } | LightError::TooFarAhead { .. }) => {
                    defer(&mut state, index, header)
                }
                // Anything else was not a lie when it came and is old news now.
                Err(_) => {}
            }
        }
    }
    shared.emit(events);
}

/// Sends a request to relay `index` and waits for its reply (or its `error`, or the timeout).
async fn request(
    shared: &Rc<Shared>,
    index: usize,
    build: impl FnOnce(u64) -> Message,
) -> Result<Message, Error> {
    reply(send_request(shared, index, build)).await
}

/// A request on its way: the promise its reply settles, and the relay's URL.
type Sent = Result<(js_sys::Promise, String), Error>;

/// Sends a request to relay `index` now (its reply, `error` or timeout settles the promise): a
/// caller that sends to several relays first and then waits for each has them all in flight
/// at once, with no future per relay.
fn send_request(shared: &Rc<Shared>, index: usize, build: impl FnOnce(u64) -> Message) -> Sent {
    let (promise, id, url) = {
        let mut state = shared.state.borrow_mut();
        let url = state.relays.get(index).map(|r| r.url.clone()).unwrap_or_default();
        if state.closed {
            return Err(Error::Closed);
        }
        if state.pending.len() >= MAX_PENDING {
            return Err(Error::Relay { url, reason: "too many requests in flight".into() });
        }
        let id = state.next_id;
        state.next_id = id.wrapping_add(1);
        let mut slot = None;
        let promise = js_sys::Promise::new(&mut |resolve, reject| slot = Some((resolve, reject)));
        let Some((resolve, reject)) = slot else { return Err(Error::Closed) };
        if !send(&state, index, &build(id)) {
            return Err(Error::Relay { url, reason: "not connected".into() });
        }
        state.pending.push(Pending { id, relay: index, resolve, reject });
        (promise, id, url)
    };
    let weak = Rc::downgrade(shared);
    let timeout = Closure::once_into_js(move || {
        if let Some(shared) = weak.upgrade() {
            settle(&shared, id, Err(format!("no reply in {} s", REQUEST_TIMEOUT_MS / 1000)));
        }
    });
    set_timeout(&timeout, REQUEST_TIMEOUT_MS);
    Ok((promise, url))
}

/// The reply to a request sent with [`send_request`], decoded.
async fn reply(sent: Sent) -> Result<Message, Error> {
    let (promise, url) = sent?;
    match JsFuture::from(promise).await {
        Ok(text) => {
            let text = text.as_string().unwrap_or_default();
            crate::json::message_from_json(&text).map_err(|reason| Error::Relay { url, reason })
        }
        Err(reason) => {
            let reason = reason.as_string().unwrap_or_else(|| "request failed".into());
            Err(Error::Relay { url, reason })
        }
    }
}

/// Reads `address` from relay `index` and verifies it; a proof that fails is reported.
async fn fetch_account(
    shared: &Rc<Shared>,
    index: usize,
    address: Address,
    at: At,
) -> Result<AccountView, Error> {
    if shared.state.borrow().resync.is_some() {
        let reason = "starting again from a recent checkpoint first".to_string();
        return Err(Error::Relay { url: shared.url(index), reason });
    }
    let text = address.to_text();
    let reply = request(shared, index, |id| Message::GetAccount { id, address: text, at }).await?;
    let Message::Account { header, proof, .. } = reply else {
        return Err(unexpected(shared.url(index)));
    };
    let checked = async {
        let header: SignedHeader = decode_hex("header", &header)?;
        let proof: AccountProof = decode_hex("account proof", &proof)?;
        let (anchor, finalized) = anchor_of(shared, index, &header, at == At::Finalized).await?;
        AccountView::verify(&address, &proof, &anchor, finalized)
    };
    let result = checked.await;
    if let Err(e) = &result
        && is_lie(e)
    {
        reject(shared, index, "account", e.to_string());
    }
    result
}

/// `get_meta` from one relay, checked: the header must be the client's verified finalized
/// block, and the meta its state's (`verify_meta`).
async fn fetch_registration(
    shared: &Rc<Shared>,
    index: usize,
    key: &PublicKey,
) -> Result<bool, Error> {
    let reply = request(shared, index, |id| Message::GetMeta { id }).await?;
    let result = check_registration_reply(shared, index, key, reply);
    if let Err(e) = &result
        && is_lie(e)
    {
        reject(shared, index, "meta", e.to_string());
    }
    result
}

/// The synchronous half of [`fetch_registration`], kept out of its future (the wasm's size).
#[inline(never)]
fn check_registration_reply(
    shared: &Rc<Shared>,
    index: usize,
    key: &PublicKey,
    reply: Message,
) -> Result<bool, Error> {
    let Message::Meta { height, hash, accounts_root, meta, .. } = reply else {
        return Err(unexpected(shared.url(index)));
    };
    let hash = Hash::from_hex(&hash).map_err(|_| Error::Hex { field: "hash" })?;
    let accounts_root =
        Hash::from_hex(&accounts_root).map_err(|_| Error::Hex { field: "accounts root" })?;
    // `&str`: the `hex::decode` the wasm has already.
    let meta = hex::decode(meta.as_str()).map_err(|_| Error::Hex { field: "chain meta" })?;
    // Its finalized block must be this client's: a relay a block ahead or behind is asked
    // again a round later, when finality has moved here or there (no headers fetched).
    let located = shared.state.borrow().light.core().locate(height, &hash);
    let Located::Finalized(anchor) = located else {
        let reason = "its finalized block is not this client's yet".to_string();
        return Err(Error::Relay { url: shared.url(index), reason });
    };
    core_light::verify_meta(&anchor.state_root, &accounts_root, &meta)?;
    // Only the registry is read: the bytes were checked by their hash as sent.
    let registry =
        registry_of(&meta).map_err(|error| Error::Decode { field: "chain meta", error })?;
    Ok(registry.binary_search_by(|r| r.key.cmp(key)).is_ok())
}

/// Whether a failed check means the relay sent something false (core's `LightError::is_lie`,
/// and any reply that does not decode), rather than something the client cannot check yet, or
/// a relay that is gone or behind.
fn is_lie(error: &Error) -> bool {
    match error {
        Error::Light(e) => e.is_lie(),
        Error::Decode { .. } | Error::Hex { .. } => true,
        _ => false,
    }
}

/// The verified block a relay's `header` stands for, and whether it is final, by core's
/// `locate`: the finalized block (final); a verified head (not final); above finality and new —
/// when `want_final`, finality is caught up first (the relay may be ahead of us), then it must
/// pass as a head (elected proposer, signature, links); at or below finality — the headers from
/// it up to the finalized block must link by hash.
async fn anchor_of(
    shared: &Rc<Shared>,
    index: usize,
    header: &SignedHeader,
    want_final: bool,
) -> Result<(Anchor, bool), Error> {
    let hash = header.hash();
    let height = header.header.height;
    if want_final && height > shared.state.borrow().light.core().finalized().height {
        let since = shared.state.borrow().light.core().finalized().height;
        catch_up(shared, index, since).await;
    }
    // Twice at most: a head that finality passed while it was checked is located again below.
    for _ in 0..2 {
        let (located, finalized) = {
            let state = shared.state.borrow();
            let core = state.light.core();
            (core.locate(height, &hash), *core.finalized())
        };
        match located {
            Located::Finalized(anchor) => return Ok((anchor, true)),
            Located::Head(anchor) => return Ok((anchor, false)),
            Located::AboveFinalized => {
                let mut accepted = accept_head(shared, index, header).await;
                if matches!(
                    accepted,
                    Err(LightError::EpochNotKnown { .. } | LightError::TooFarAhead { .. })
                ) {
                    catch_up(shared, index, finalized.height).await;
                    accepted = accept_head(shared, index, header).await;
                }
                match accepted {
                    Ok(anchor) => return Ok((anchor, false)),
                    Err(LightError::NotNewer { .. }) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Located::Below { from, count } => {
                return ancestry(shared, index, hash, from, count, &finalized).await;
            }
            Located::TooDeep { .. } => {
                return Err(Error::Relay {
                    url: shared.url(index),
                    reason: format!(
                        "block {height} is over {} blocks below finality; not checked",
                        memecoin_core::light::MAX_ANCESTRY
                    ),
                });
            }
        }
    }
    Err(Error::Light(LightError::NotNewer { height, finalized: height }))
}

/// The `count` headers from `from` up to `finalized`, from relay `index`, checked to link by
/// hash (core's `verify_ancestry`) and to start at the block `hash`: it is final.
async fn ancestry(
    shared: &Rc<Shared>,
    index: usize,
    hash: Hash,
    from: u64,
    count: u64,
    finalized: &Anchor,
) -> Result<(Anchor, bool), Error> {
    let top = finalized.height.min(from.saturating_add(count).saturating_sub(1));
    let signed = fetch_headers(shared, index, from, top, count).await?;
    let mut links: Vec<_> = signed.into_iter().map(|s| s.header).collect();
    // The relay's head chain runs past our finalized block: link up to it only. Checked against
    // the finalized block as it was when the headers were asked for: finality may have moved on
    // meanwhile, and that block is final all the same.
    links.truncate(usize::try_from(count).unwrap_or(usize::MAX));
    if links.first().map(|h| h.hash()) != Some(hash) {
        return Err(Error::Light(LightError::NotLinked));
    }
    Ok((memecoin_core::light::verify_ancestry(&links, finalized)?, true))
}

/// Reads and verifies a watched account, then reports it. Failures that are not lies (relay
/// behind, gone, or not yet verifiable) are dropped: the next change or finality retries.
async fn refresh_account(shared: &Rc<Shared>, index: usize, address: Address, at: At) {
    if !shared.state.borrow().watched.contains(&address) {
        return;
    }
    if let Ok(account) = fetch_account(shared, index, address, at).await {
        let relay = shared.url(index);
        shared.emit(vec![Event::Account { account, relay }]);
    }
}

async fn fetch_tx_status(
    shared: &Rc<Shared>,
    index: usize,
    tx_id: Hash,
) -> Result<TxStatus, Error> {
    let url = shared.url(index);
    let hex_id = tx_id.to_hex();
    let reply = request(shared, index, |id| Message::GetInclusion { id, tx_id: hex_id }).await?;
    let Message::Inclusion { header, proof, status, .. } = reply else {
        return Err(unexpected(url));
    };
    let (Some(header_hex), Some(proof_hex)) = (header, proof) else {
        let status = match status.as_str() {
            "pending" => "pending",
            _ => "unknown",
        };
        return Ok(TxStatus {
            status,
            height: None,
            block: None,
            verified: false,
            relay: url,
            pending_at: Vec::new(),
            unknown_at: Vec::new(),
        });
    };
    let header: SignedHeader = match decode_hex("header", &header_hex) {
        Ok(header) => header,
        Err(e) => {
            reject(shared, index, "inclusion", e.to_string());
            return Err(e);
        }
    };
    let checked = async {
        let proof: InclusionProof = decode_hex("inclusion proof", &proof_hex)?;
        let (anchor, finalized) = anchor_of(shared, index, &header, false).await?;
        memecoin_core::light::verify_inclusion(&anchor, &tx_id, &proof)?;
        Ok::<_, Error>((anchor, finalized))
    };
    match checked.await {
        Ok((anchor, finalized)) => Ok(TxStatus {
            status: if finalized { "finalized" } else { "included" },
            height: Some(anchor.height),
            block: Some(anchor.hash.to_hex()),
            verified: true,
            relay: url,
            pending_at: Vec::new(),
            unknown_at: Vec::new(),
        }),
        // Not checkable yet (a block in an epoch the client has not crossed: finality into it
        // comes a block or two later): the relay's word, unverified, not an error.
        Err(Error::Light(
            LightError::EpochNotKnown { .. } | LightError::InsufficientTrust { .. },
        )) => Ok(TxStatus {
            status: "included",
            height: Some(header.header.height),
            block: Some(header.hash().to_hex()),
            verified: false,
            relay: url,
            pending_at: Vec::new(),
            unknown_at: Vec::new(),
        }),
        Err(e) => {
            if is_lie(&e) {
                reject(shared, index, "inclusion", e.to_string());
            }
            Err(e)
        }
    }
}
