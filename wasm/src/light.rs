//! The light validator: core's [`memecoin_core::light::LightClient`] behind a JavaScript class.
//!
//! The client starts from the genesis spec built into the page, moves its finalized anchor with
//! finality proofs (`finalized` notifications and `finality` replies of the relay protocol,
//! PROTOCOL.md §13 and §16), follows the head with signed headers, and checks the account and
//! inclusion proofs a relay sends against a verified header's roots. Every check is core's; this
//! module decodes hex, picks the anchor a proof is against, and converts results to JavaScript
//! objects.

use crate::error::{Error, decode_hex, to_js};
use memecoin_core::address::Address;
use memecoin_core::encode::Encode;
use memecoin_core::hash::Hash;
use memecoin_core::header::SignedHeader;
use memecoin_core::light::{self as core_light, AccountProof, Anchor, FinalityProof, Trusted};
use memecoin_core::merkle::InclusionProof;
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// Decodes link headers (hex of `SignedHeader`), at most core's `MAX_LINKS`.
pub(crate) fn decode_links(links_hex: &[String]) -> Result<Vec<SignedHeader>, Error> {
    if links_hex.len() as u64 > core_light::MAX_LINKS {
        return Err(Error::Light(core_light::LightError::NotLinked));
    }
    links_hex.iter().map(|hex| decode_hex("header", hex)).collect()
}

/// The local clock, Unix milliseconds (0 outside a JavaScript host, e.g. native tests).
pub(crate) fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now() as u64
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A verified block: its hash and the roots its state and transactions are checked against. */
export interface Anchor {
  hash: string;
  height: bigint;
  slot: bigint;
  state_root: string;
  tx_root: string;
}

/** Stake on its way out, paid to the balance at the start of `release_epoch`. */
export interface Unbonding {
  amount: bigint;
  release_epoch: bigint;
}

/** An account as proven under `at`'s state root. `exists: false` reads as all zero. */
export interface VerifiedAccount {
  address: string;
  exists: boolean;
  balance: bigint;
  nonce: bigint;
  stake: bigint;
  unbonding: Unbonding[];
  slashed: boolean;
  at: Anchor;
  /** Whether `at` is the verified finalized block (settled) rather than a head. */
  finalized: boolean;
}
"#;

/// A verified block, as JavaScript sees it (`Anchor` in the .d.ts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnchorView {
    pub hash: String,
    pub height: u64,
    pub slot: u64,
    pub state_root: String,
    pub tx_root: String,
}

impl From<&Anchor> for AnchorView {
    fn from(a: &Anchor) -> Self {
        AnchorView {
            hash: a.hash.to_hex(),
            height: a.height,
            slot: a.slot,
            state_root: a.state_root.to_hex(),
            tx_root: a.tx_root.to_hex(),
        }
    }
}

/// One pending unbond (`Unbonding` in the .d.ts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnbondingView {
    pub amount: u64,
    pub release_epoch: u64,
}

/// A proven account (`VerifiedAccount` in the .d.ts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    pub address: String,
    pub exists: bool,
    pub balance: u64,
    pub nonce: u64,
    pub stake: u64,
    pub unbonding: Vec<UnbondingView>,
    pub slashed: bool,
    pub at: AnchorView,
    /// Whether `at` is the verified finalized block (settled), not a head.
    pub finalized: bool,
}

impl AccountView {
    /// Verifies `proof` of `address` against `at`'s state root (core's `verify_account`).
    pub fn verify(
        address: &Address,
        proof: &AccountProof,
        at: &Anchor,
        finalized: bool,
    ) -> Result<AccountView, Error> {
        let account = core_light::verify_account(&at.state_root, address, proof)?;
        let exists = account.is_some();
        let account = account.unwrap_or_default();
        Ok(AccountView {
            address: address.to_text(),
            exists,
            balance: account.balance,
            nonce: account.nonce,
            stake: account.stake,
            unbonding: account
                .unbonding
                .iter()
                .map(|u| UnbondingView { amount: u.amount, release_epoch: u.release_epoch })
                .collect(),
            slashed: account.slashed,
            at: at.into(),
            finalized,
        })
    }
}

/// A light client of one chain: it believes genesis, and after that only what more than 2/3 of
/// the stake signed.
#[wasm_bindgen]
#[derive(Debug, Clone)]
pub struct LightClient {
    inner: core_light::LightClient,
    /// From the genesis spec: what turns the local clock into a slot (`now_slot`).
    genesis_time_ms: u64,
}

/// The Rust side, returning [`Error`]; the JavaScript methods below wrap these.
impl LightClient {
    pub fn new(genesis_json: &str) -> Result<Self, Error> {
        let genesis = crate::json::genesis_from_json(genesis_json)?;
        let inner = core_light::LightClient::from_genesis(&genesis)?;
        Ok(LightClient { inner, genesis_time_ms: genesis.genesis_time_ms })
    }

    /// Resumes from a position saved with [`LightClient::trusted_hex`] (hex of core's
    /// `Trusted`), for the chain of `genesis_json`.
    pub fn resume(genesis_json: &str, trusted_hex: &str) -> Result<Self, Error> {
        let genesis = crate::json::genesis_from_json(genesis_json)?;
        let trusted: Trusted = decode_hex("checkpoint", trusted_hex)?;
        let inner = core_light::LightClient::resume(&genesis, &trusted)?;
        Ok(LightClient { inner, genesis_time_ms: genesis.genesis_time_ms })
    }

    pub fn trusted_hex(&self) -> String {
        hex::encode(self.inner.trusted().to_bytes())
    }

    pub fn core(&self) -> &core_light::LightClient {
        &self.inner
    }

    pub fn core_mut(&mut self) -> &mut core_light::LightClient {
        &mut self.inner
    }

    /// The slot the clock is in at Unix time `now_ms` (0 before genesis): a header from a later
    /// slot than the next is refused (core's `accept_header`).
    pub fn now_slot(&self, now_ms: u64) -> u64 {
        let slot_ms = self.inner.params().slot_ms;
        memecoin_core::pos::slot_at(self.genesis_time_ms, slot_ms, now_ms).unwrap_or(0)
    }

    /// Whether the trusted position is past the weak-subjectivity bound at Unix time `now_ms`
    /// (core's `is_expired`).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.inner.is_expired(self.now_slot(now_ms))
    }

    /// Checks `proof` as a checkpoint on its own (core's `from_finality_proof`), changing nothing.
    pub fn check_checkpoint(&self, proof: &FinalityProof) -> Result<(), Error> {
        let (id, params) = (self.inner.chain_id(), self.inner.params().clone());
        core_light::LightClient::from_finality_proof(id, params, proof)?;
        Ok(())
    }

    /// Starts again from `proof`, a checkpoint the caller's sources agreed on.
    pub fn restart_from(&mut self, proof: &FinalityProof) -> Result<(), Error> {
        let (id, params) = (self.inner.chain_id(), self.inner.params().clone());
        self.inner = core_light::LightClient::from_finality_proof(id, params, proof)?;
        Ok(())
    }

    /// Unix milliseconds at which `slot` starts (saturating).
    pub fn slot_start_ms(&self, slot: u64) -> u64 {
        let slot_ms = self.inner.params().slot_ms;
        memecoin_core::pos::slot_start(self.genesis_time_ms, slot_ms, slot).unwrap_or(u64::MAX)
    }

    /// A finality proof, with the headers that link its source to the finalized block (hex of
    /// `SignedHeader`, lowest first; none when its parent is known).
    pub fn finality(&mut self, proof_hex: &str, links_hex: &[String]) -> Result<AnchorView, Error> {
        let proof: FinalityProof = decode_hex("finality proof", proof_hex)?;
        let links = decode_links(links_hex)?;
        Ok((&self.inner.accept_finality(&proof, &links)?).into())
    }

    /// A head candidate at Unix time `now_ms`, with the headers that link it to the finalized
    /// block (hex, lowest first; none when its parent is known).
    pub fn header(
        &mut self,
        header_hex: &str,
        links_hex: &[String],
        now_ms: u64,
    ) -> Result<AnchorView, Error> {
        let header: SignedHeader = decode_hex("header", header_hex)?;
        let links = decode_links(links_hex)?;
        let now = self.now_slot(now_ms);
        Ok((&self.inner.accept_header(&header, &links, now)?).into())
    }

    /// The anchor a proof is checked against: the finalized one when `header_hex` is absent;
    /// otherwise the finalized or head anchor if the header is one of them, else the header is
    /// verified as a new head first (core's `accept_header`).
    fn anchor(&mut self, header_hex: Option<&str>) -> Result<Anchor, Error> {
        let Some(header_hex) = header_hex else { return Ok(*self.inner.finalized()) };
        let header: SignedHeader = decode_hex("header", header_hex)?;
        let hash = header.hash();
        for known in [self.inner.finalized(), self.inner.head()] {
            if known.hash == hash {
                return Ok(*known);
            }
        }
        let now = self.now_slot(now_ms());
        Ok(self.inner.accept_header(&header, &[], now)?)
    }

    pub fn account(
        &mut self,
        address: &str,
        header_hex: Option<&str>,
        proof_hex: &str,
    ) -> Result<AccountView, Error> {
        let address = Address::parse(address)?;
        let proof: AccountProof = decode_hex("account proof", proof_hex)?;
        let at = self.anchor(header_hex)?;
        let finalized = at.hash == self.inner.finalized().hash;
        AccountView::verify(&address, &proof, &at, finalized)
    }

    pub fn inclusion(
        &mut self,
        tx_id_hex: &str,
        header_hex: Option<&str>,
        proof_hex: &str,
    ) -> Result<AnchorView, Error> {
        let tx_id: Hash = decode_hex("transaction id", tx_id_hex)?;
        let proof: InclusionProof = decode_hex("inclusion proof", proof_hex)?;
        let at = self.anchor(header_hex)?;
        core_light::verify_inclusion(&at, &tx_id, &proof)?;
        Ok((&at).into())
    }
}

#[wasm_bindgen]
impl LightClient {
    /// A client at genesis, from the chain's JSON spec (PROTOCOL.md §14.2) — the one thing it
    /// trusts, so it must come with the page, not from a relay.
    pub fn from_genesis(genesis_json: &str) -> Result<LightClient, JsError> {
        Ok(LightClient::new(genesis_json)?)
    }

    /// A client resumed from `checkpoint` (what `checkpoint()` returned earlier, e.g. kept in
    /// `localStorage`) for the chain of `genesis_json`: it goes on from that verified finalized
    /// block instead of replaying finality from genesis. Throws `saved checkpoint is for another
    /// chain` if the two do not belong together.
    pub fn resume_from(genesis_json: &str, checkpoint: &str) -> Result<LightClient, JsError> {
        Ok(LightClient::resume(genesis_json, checkpoint)?)
    }

    /// The verified finalized position as hex, to save and pass to `resume_from` later.
    pub fn checkpoint(&self) -> String {
        self.trusted_hex()
    }

    /// The chain id (genesis hash), hex: what `hello` and every signature carry.
    pub fn chain_id(&self) -> String {
        self.inner.chain_id().to_hex()
    }

    /// The epoch whose validator set the client holds.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch()
    }

    /// Accepts a finality proof (hex of `FinalityProof`) and returns the new finalized anchor.
    /// A proof of a later epoch whose set the client cannot link by hash is taken by skipping
    /// the epochs between when its signers hold more than 1/3 of the stake of the set the client
    /// trusts (PROTOCOL.md §13.4). Throws with the reason it was refused (e.g. `proposer
    /// signature is invalid`, `certificate: …`, or `signers hold … not more than 1/3: follow the
    /// epochs in between` — then feed the proofs of the epochs between first; or `headers a..=b
    /// are needed to link the header to finality` — then pass those headers (`get_headers`,
    /// hex, lowest first) as `links`); a refused proof changes nothing. A valid proof that
    /// conflicts with the finalized block throws `conflicting finality: …` and stops the client.
    #[wasm_bindgen(unchecked_return_type = "Anchor")]
    pub fn accept_finality(
        &mut self,
        proof_hex: &str,
        links: Option<Vec<String>>,
    ) -> Result<JsValue, JsError> {
        let anchor = self.finality(proof_hex, &links.unwrap_or_default())?;
        Ok(to_js(&anchor)?)
    }

    /// Accepts a signed header (hex of `SignedHeader`) of the current epoch as a head candidate
    /// (not from a future slot by the local clock, height at most its slot, elected proposer,
    /// valid signature, linked to the finalized block — by `links` when its parent is not
    /// known, as for `accept_finality`) and returns its anchor. A head is not final.
    #[wasm_bindgen(unchecked_return_type = "Anchor")]
    pub fn accept_header(
        &mut self,
        header_hex: &str,
        links: Option<Vec<String>>,
    ) -> Result<JsValue, JsError> {
        let anchor = self.header(header_hex, &links.unwrap_or_default(), now_ms())?;
        Ok(to_js(&anchor)?)
    }

    /// The finalized anchor: settled state.
    #[wasm_bindgen(unchecked_return_type = "Anchor")]
    pub fn finalized(&self) -> Result<JsValue, JsError> {
        Ok(to_js(&AnchorView::from(self.inner.finalized()))?)
    }

    /// The newest header with a verified proposer signature (at least the finalized one).
    #[wasm_bindgen(unchecked_return_type = "Anchor")]
    pub fn head(&self) -> Result<JsValue, JsError> {
        Ok(to_js(&AnchorView::from(self.inner.head()))?)
    }

    /// Verifies an account proof (hex of `AccountProof`) for `address` (`meme1…`) and returns
    /// the proven account. The proof is checked against the finalized state when `header_hex`
    /// is null; otherwise against that signed header (hex of `SignedHeader`, as the relay's
    /// `account` reply carries it), which must be the finalized or head header or pass
    /// `accept_header` (it then becomes the head). Throws with the reason on any mismatch, e.g.
    /// `proof is for another state root`.
    #[wasm_bindgen(unchecked_return_type = "VerifiedAccount")]
    pub fn verify_account(
        &mut self,
        address: &str,
        header_hex: Option<String>,
        proof_hex: &str,
    ) -> Result<JsValue, JsError> {
        let account = self.account(address, header_hex.as_deref(), proof_hex)?;
        Ok(to_js(&account)?)
    }

    /// Verifies that transaction `tx_id_hex` is in the block of `header_hex` (a signed header,
    /// handled as in `verify_account`; null for the finalized block) with an inclusion proof
    /// (hex of `InclusionProof`), and returns that block's anchor.
    #[wasm_bindgen(unchecked_return_type = "Anchor")]
    pub fn verify_inclusion(
        &mut self,
        tx_id_hex: &str,
        header_hex: Option<String>,
        proof_hex: &str,
    ) -> Result<JsValue, JsError> {
        let anchor = self.inclusion(tx_id_hex, header_hex.as_deref(), proof_hex)?;
        Ok(to_js(&anchor)?)
    }
}
