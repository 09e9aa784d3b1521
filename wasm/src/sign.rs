//! Signed transactions: core builds, encodes and signs them; this module only gathers the
//! arguments. The bytes are exactly those core produces natively (checked against
//! `core/tests/vectors/protocol.json` in the wasm tests).

use crate::error::{Error, decode_hex};
use crate::wallet::wallet_key;
use memecoin_core::address::Address;
use memecoin_core::encode::Encode;
use memecoin_core::hash::Hash;
use memecoin_core::tx::{Tx, TxKind};
use wasm_bindgen::prelude::*;

/// A signed transaction, ready for `submit_tx` (`tx`) and for tracking (`id`).
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    /// The encoded `SignedTx`, hex.
    pub tx: String,
    /// The transaction id (`tagged_hash("memecoin/tx", unsigned tx)`), hex.
    pub id: String,
}

/// Who signs, and the fields every transaction has.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    pub phrase: &'a str,
    pub passphrase: &'a str,
    pub account: u32,
    pub index: u32,
    pub chain_id_hex: &'a str,
    pub nonce: u64,
    pub fee: u64,
}

/// Signs `kind` as `sender`.
pub fn sign(sender: Sender<'_>, kind: TxKind) -> Result<SignedTransaction, Error> {
    let key = wallet_key(sender.phrase, sender.passphrase, sender.account, sender.index)?;
    let chain_id: Hash = decode_hex("chain id", sender.chain_id_hex)?;
    let tx = Tx { chain_id, sender: key.public_key(), nonce: sender.nonce, fee: sender.fee, kind };
    let signed = tx.sign(&key);
    Ok(SignedTransaction { tx: hex::encode(signed.to_bytes()), id: signed.id().to_hex() })
}

/// Signs a transfer of `amount` base units to the address `to` (`meme1…`), from wallet
/// `account`/`index` of `phrase` + `passphrase`, on the chain `chain_id_hex` (the genesis hash),
/// with the sender's next `nonce` and a `fee`.
#[allow(clippy::too_many_arguments, reason = "one flat call for JavaScript, as documented")]
#[wasm_bindgen]
pub fn sign_transfer(
    phrase: &str,
    passphrase: &str,
    account: u32,
    index: u32,
    chain_id_hex: &str,
    nonce: u64,
    fee: u64,
    to: &str,
    amount: u64,
) -> Result<SignedTransaction, JsError> {
    let sender = Sender { phrase, passphrase, account, index, chain_id_hex, nonce, fee };
    let to = Address::parse(to).map_err(Error::from)?;
    Ok(sign(sender, TxKind::Transfer { to, amount })?)
}

/// Signs a stake of `amount` base units. `commitment_hex` is the head of the staker's
/// commit-reveal hash chain for a first stake (which registers a validator), 32 zero bytes
/// when a registered validator adds stake (PROTOCOL.md §7.4), or, from a registered validator,
/// the head of its next chain ([`renewal_commitment`]), which renews its chain (§9.3; `amount`
/// may then be 0).
#[allow(clippy::too_many_arguments, reason = "one flat call for JavaScript, as documented")]
#[wasm_bindgen]
pub fn sign_stake(
    phrase: &str,
    passphrase: &str,
    account: u32,
    index: u32,
    chain_id_hex: &str,
    nonce: u64,
    fee: u64,
    amount: u64,
    commitment_hex: &str,
) -> Result<SignedTransaction, JsError> {
    let sender = Sender { phrase, passphrase, account, index, chain_id_hex, nonce, fee };
    let commitment: Hash = decode_hex("commitment", commitment_hex)?;
    Ok(sign(sender, TxKind::Stake { amount, commitment })?)
}

/// Signs an unstake of `amount` base units (paid to the balance after the unbonding delay).
#[allow(clippy::too_many_arguments, reason = "one flat call for JavaScript, as documented")]
#[wasm_bindgen]
pub fn sign_unstake(
    phrase: &str,
    passphrase: &str,
    account: u32,
    index: u32,
    chain_id_hex: &str,
    nonce: u64,
    fee: u64,
    amount: u64,
) -> Result<SignedTransaction, JsError> {
    let sender = Sender { phrase, passphrase, account, index, chain_id_hex, nonce, fee };
    Ok(sign(sender, TxKind::Unstake { amount })?)
}

/// The commitment a wallet sends with its first stake (which registers it as a validator,
/// PROTOCOL.md §7.4), `generation` 0, or with a stake of 0 that renews a registered chain
/// (§9.3), generation 1, 2, …: the head of core's `HashChain::wallet` for this key, renewed
/// `generation` times. The same phrase always gives the same chains, so a validator run with
/// this key (`memecoin-relay keygen --from-phrase`) finds its reveals and renews on its own.
pub fn wallet_commitment(
    phrase: &str,
    passphrase: &str,
    account: u32,
    index: u32,
    generation: u64,
) -> Result<Hash, Error> {
    let key = wallet_key(phrase, passphrase, account, index)?;
    Ok(memecoin_core::pos::HashChain::wallet(&key).renewal(generation).commitment())
}

/// [`wallet_commitment`] of generation 0 as hex, for `sign_stake` on a first stake.
#[wasm_bindgen]
pub fn stake_commitment(
    phrase: &str,
    passphrase: &str,
    account: u32,
    index: u32,
) -> Result<String, JsError> {
    Ok(wallet_commitment(phrase, passphrase, account, index, 0)?.to_hex())
}

/// [`wallet_commitment`] of `generation` (1, 2, …) as hex, for `sign_stake` with amount 0: a
/// registered validator's renewal of its hash chain.
#[wasm_bindgen]
pub fn renewal_commitment(
    phrase: &str,
    passphrase: &str,
    account: u32,
    index: u32,
    generation: u32,
) -> Result<String, JsError> {
    Ok(wallet_commitment(phrase, passphrase, account, index, u64::from(generation))?.to_hex())
}

/// What a transaction says, read from its bytes: the id is computed here, so a listing that
/// names a transaction cannot misstate its contents (its inclusion is proved separately).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TxSummary {
    pub id: String,
    /// `transfer`, `stake`, `unstake` or `evidence`.
    pub kind: &'static str,
    pub sender: String,
    /// The recipient of a transfer.
    pub to: Option<String>,
    /// The amount moved, staked or unstaked (0 for evidence).
    pub amount: u64,
    pub fee: u64,
    pub nonce: u64,
}

/// Decodes a `SignedTx` (hex) into a [`TxSummary`].
pub fn summarize(tx_hex: &str) -> Result<TxSummary, Error> {
    let signed: memecoin_core::tx::SignedTx = decode_hex("transaction", tx_hex)?;
    let tx = &signed.tx;
    let (kind, to, amount) = match &tx.kind {
        TxKind::Transfer { to, amount } => ("transfer", Some(to.to_text()), *amount),
        TxKind::Stake { amount, .. } => ("stake", None, *amount),
        TxKind::Unstake { amount } => ("unstake", None, *amount),
        TxKind::Evidence(_) => ("evidence", None, 0),
    };
    Ok(TxSummary {
        id: signed.id().to_hex(),
        kind,
        sender: tx.sender_address().to_text(),
        to,
        amount,
        fee: tx.fee,
        nonce: tx.nonce,
    })
}

/// [`summarize`] for JavaScript: `{ id, kind, sender, to?, amount, fee, nonce }` (bigints).
#[wasm_bindgen(
    unchecked_return_type = "{ id: string, kind: string, sender: string, to: string | null, amount: bigint, fee: bigint, nonce: bigint }"
)]
pub fn describe_tx(tx_hex: &str) -> Result<JsValue, JsError> {
    Ok(crate::error::to_js(&summarize(tx_hex)?)?)
}

/// Whether an account with `available` to spend (its verified balance less this device's
/// pending transactions) and `staked` bonded can pay for a `kind` ("transfer", "stake" or
/// "unstake") of `amount` with `fee`: core's `check_affordable`, so the page decides nothing
/// itself. Throws core's reason (`needs N, balance is M`; `unstakes N, bonded stake is M`).
#[wasm_bindgen]
pub fn check_spend(
    kind: &str,
    amount: u64,
    fee: u64,
    available: u64,
    staked: u64,
) -> Result<(), JsError> {
    let kind = match kind {
        // The recipient and commitment do not change what is spent.
        "transfer" => TxKind::Transfer { to: Address([0; 20]), amount },
        "stake" => TxKind::Stake { amount, commitment: Hash::ZERO },
        "unstake" => TxKind::Unstake { amount },
        other => return Err(JsError::new(&format!("unknown transaction kind `{other}`"))),
    };
    // The two refusals it can give, worded here: all of `TxError`'s texts would cost the .wasm.
    use memecoin_core::state::TxError;
    memecoin_core::state::check_affordable(available, staked, &kind, fee).map_err(|e| match e {
        TxError::InsufficientBalance { needed, available } => {
            JsError::new(&format!("needs {needed}, balance is {available}"))
        }
        TxError::InsufficientStake { requested, bonded } => {
            JsError::new(&format!("unstakes {requested}, bonded stake is {bonded}"))
        }
        _ => JsError::new("not affordable"),
    })
}

/// What a stake of `amount` by an account with `staked` bonded must carry, by core's registry
/// rule (`check_registration`), given whether its key is `registered` (`Client::registration`,
/// proven): `true` when it registers — it must carry the first commitment (`stake_commitment`)
/// — `false` when it adds to a registered stake (commitment ZERO). Throws when a registration
/// would be refused: `below the minimum stake` (`StakeBelowMinimum`; the page words it with
/// the amounts it has).
#[wasm_bindgen]
pub fn check_stake(
    registered: bool,
    staked: u64,
    amount: u64,
    min_stake: u64,
) -> Result<bool, JsError> {
    use memecoin_core::state::{TxError, check_registration};
    let bonded_after = staked.saturating_add(amount);
    // Any non-ZERO commitment stands for the one the wallet will derive.
    let commitment = if registered { Hash::ZERO } else { Hash([1; 32]) };
    match check_registration(min_stake, registered, bonded_after, &commitment) {
        Ok(()) => Ok(!registered),
        Err(TxError::StakeBelowMinimum { .. }) => Err(JsError::new("below the minimum stake")),
        Err(_) => Err(JsError::new("this stake cannot register")),
    }
}

/// What a transaction would leave its sender with: core's `sender_after` (the rules a block
/// applies to the sender), for the review screen before signing. The sender is the account of
/// public key `sender_key` (hex) with
/// the proven `balance` (less this device's pending transactions), `stake`, `unbonding`
/// entries, `slashed` flag and next nonce `next`, and `nonce` is the one the transaction will
/// carry (a wallet's own, set by hand in its advanced section, or `next`). Returns
/// `{ balance, stake }` after it; throws the reason the chain would refuse it.
#[wasm_bindgen(unchecked_return_type = "{ balance: bigint, stake: bigint }")]
#[allow(clippy::too_many_arguments)]
pub fn preview_tx(
    genesis_json: &str,
    kind: &str,
    sender_key: &str,
    to: &str,
    amount: u64,
    fee: u64,
    nonce: u64,
    next: u64,
    balance: u64,
    stake: u64,
    unbonding: u32,
    slashed: bool,
) -> Result<JsValue, JsError> {
    use memecoin_core::account::{Account, MAX_UNBONDING, Unbonding};
    use memecoin_core::state::{TxError, sender_after};
    let genesis = crate::json::genesis_from_json(genesis_json)
        .map_err(|e| JsError::new(&format!("chain spec: {e}")))?;
    let chain = genesis.chain();
    let key: memecoin_core::crypto::PublicKey = decode_hex("public key", sender_key)?;
    let sender = Address::from_public_key(&key);
    let kind = match kind {
        "transfer" => {
            let to = Address::parse(to).map_err(|e| JsError::new(&format!("recipient: {e}")))?;
            TxKind::Transfer { to, amount }
        }
        // Any commitment: registration is `check_stake`'s question, not this one.
        "stake" => TxKind::Stake { amount, commitment: Hash([1; 32]) },
        "unstake" => TxKind::Unstake { amount },
        other => return Err(JsError::new(&format!("unknown transaction kind `{other}`"))),
    };
    // Only how many entries there are matters here (the cap on unbonding entries).
    let entries = unbonding.min(MAX_UNBONDING);
    let unbonding = (0..entries).map(|_| Unbonding { amount: 0, release_epoch: 0 }).collect();
    let account = Account { balance, nonce: next, stake, unbonding, slashed };
    let t = Tx { chain_id: chain.id, sender: key, nonce, fee, kind };
    match sender_after(&chain, &t, &sender, &account) {
        Ok(after) => {
            let view = Preview { balance: after.balance, stake: after.stake };
            Ok(crate::error::to_js(&view)?)
        }
        // Worded here, as in `check_spend`: all of `TxError`'s texts would cost the .wasm.
        Err(e) => Err(JsError::new(&match e {
            TxError::InsufficientBalance { needed, available } => {
                format!("needs {needed}, balance is {available}")
            }
            TxError::InsufficientStake { requested, bonded } => {
                format!("unstakes {requested}, bonded stake is {bonded}")
            }
            TxError::FeeTooLow { min, .. } => format!("the fee is below the minimum, {min}"),
            TxError::SenderSlashed => "this account was slashed and may not stake".into(),
            TxError::ZeroAmount => "the amount is 0".into(),
            TxError::TooManyUnbondings { max } => {
                format!("{max} unstakes are already unbonding")
            }
            TxError::NonceMismatch { expected, found } => {
                format!("nonce {found}, the account's next is {expected}")
            }
            _ => "the chain would refuse it".into(),
        })),
    }
}

#[derive(serde::Serialize)]
struct Preview {
    balance: u64,
    stake: u64,
}
