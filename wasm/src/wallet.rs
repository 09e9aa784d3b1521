//! Recovery phrases, wallet keys and addresses.
//!
//! A phrase is made here from 16 or 32 bytes of the platform's randomness
//! (`crypto.getRandomValues`); everything else is core's `hd` and `address` modules: BIP-39
//! parsing and seeds, BIP-32 keys at `m/44'/7337'/{account}'/0'/{index}'` (PROTOCOL.md §5).
//!
//! BIP-39 asks for phrases and passphrases in Unicode NFKD. In the browser, [`nfkd`] asks the
//! JavaScript engine (`String.prototype.normalize("NFKD")`) and core takes the result as it is
//! (`hd::parse_phrase_normalized`, `hd::seed_from_phrase_normalized`), so the wasm carries no
//! Unicode tables (≈ 50 KB gzipped; BENCHMARKS.md). Natively (tools, clippy) core normalizes.

use crate::error::{Error, decode_hex};
use memecoin_core::address::{Address, AddressError};
use memecoin_core::crypto::{PublicKey, SecretKey};
use memecoin_wallet::{hd, uri};
use wasm_bindgen::prelude::*;

/// A phrase of `words` words (12 or 24) from fresh randomness.
pub fn new_phrase(words: u32) -> Result<String, Error> {
    let mut entropy = [0u8; 32];
    let len = match words {
        12 => 16,
        24 => 32,
        _ => return Err(Error::WordCount { words }),
    };
    let entropy = entropy.get_mut(..len).ok_or(Error::WordCount { words })?;
    getrandom::fill(entropy).map_err(|_| Error::Random)?;
    Ok(hd::phrase_from_entropy(entropy)?)
}

/// `text` in Unicode normalization form KD, as BIP-39 asks of phrases and passphrases. ASCII text
/// is already NFKD and is returned as it is, without a call into JavaScript.
pub fn nfkd(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    #[cfg(target_arch = "wasm32")]
    {
        String::from(js_sys::JsString::from(text).normalize("NFKD"))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        hd::nfkd(text).into_owned()
    }
}

/// Parses and checks `phrase` after [`nfkd`]: word count, each word, then the checksum.
pub fn parse_phrase(phrase: &str) -> Result<hd::Phrase, Error> {
    Ok(hd::parse_phrase_normalized(&nfkd(phrase))?)
}

/// The 64-byte BIP-39 seed of `phrase` with `passphrase` (`""` for none), both NFKD-normalized
/// first ([`nfkd`]): the same bytes as core's `hd::seed_from_phrase`.
pub fn seed(phrase: &str, passphrase: &str) -> Result<[u8; 64], Error> {
    Ok(hd::seed_from_phrase_normalized(&parse_phrase(phrase)?, &nfkd(passphrase)))
}

/// The signing key of wallet `account`, key `index`, for `phrase` and `passphrase`.
pub fn wallet_key(
    phrase: &str,
    passphrase: &str,
    account: u32,
    index: u32,
) -> Result<SecretKey, Error> {
    Ok(hd::wallet_key(&seed(phrase, passphrase)?, account, index)?)
}

/// One wallet key's public side.
#[wasm_bindgen(getter_with_clone)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The address, `meme1…` (bech32m, lower case).
    pub address: String,
    /// The compressed public key, 33 bytes as hex.
    pub public_key: String,
}

impl Account {
    pub fn of(key: &PublicKey) -> Self {
        Account { address: Address::from_public_key(key).to_text(), public_key: key.to_hex() }
    }
}

/// A new recovery phrase of `words` words, 12 or 24, from the platform's secure randomness.
///
/// Throws if `words` is another number or the random number generator fails.
#[wasm_bindgen]
pub fn generate_phrase(words: u32) -> Result<String, JsError> {
    Ok(new_phrase(words)?)
}

/// Checks a recovery phrase: word count (12, 15, 18, 21 or 24), each word in the English BIP-39
/// list, then the checksum. Returns the phrase normalized (words joined by single spaces).
///
/// Throws with the first rule it breaks, e.g. `word 3 is not a BIP-39 word` (counted from 1) or
/// `phrase checksum does not match`.
#[wasm_bindgen]
pub fn validate_phrase(phrase: &str) -> Result<String, JsError> {
    Ok(parse_phrase(phrase)?.to_string())
}

/// The address and public key of wallet `account`, key `index` (each below 2^31): the key at
/// `m/44'/7337'/{account}'/0'/{index}'` under the BIP-39 seed of `phrase` and `passphrase`
/// (`""` for none).
#[wasm_bindgen]
pub fn derive_account(
    phrase: &str,
    passphrase: &str,
    account: u32,
    index: u32,
) -> Result<Account, JsError> {
    Ok(Account::of(&wallet_key(phrase, passphrase, account, index)?.public_key()))
}

/// Parses an address (`meme1…`, all lower or all upper case) and returns its 20 bytes as hex.
///
/// Throws with the reason, e.g. `address checksum is wrong (typo?)` or
/// `address prefix is "mem", expected "meme"`.
#[wasm_bindgen]
pub fn parse_address(text: &str) -> Result<String, JsError> {
    Ok(hex::encode(Address::parse(text).map_err(Error::from)?.0))
}

/// The text form (`meme1…`, lower case) of an address given as 20 bytes of hex.
#[wasm_bindgen]
pub fn format_address(address_hex: &str) -> Result<String, JsError> {
    let bytes = hex::decode(address_hex).map_err(|_| Error::Hex { field: "address" })?;
    let bytes: [u8; 20] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| Error::Address(AddressError::WrongLength { bytes: b.len() }))?;
    Ok(Address(bytes).to_text())
}

/// The address of a compressed public key (33 bytes as hex).
#[wasm_bindgen]
pub fn address_of_public_key(public_key_hex: &str) -> Result<String, JsError> {
    let key: PublicKey = decode_hex("public key", public_key_hex)?;
    Ok(Address::from_public_key(&key).to_text())
}

/// Reads a payment request, `meme:<address>[?amount=<MEME>][&memo=<percent-encoded UTF-8>]`
/// (PROTOCOL.md §5.6), into `{ address, amount, memo }`: the address in lower case, the amount
/// in base units as a `BigInt` (`undefined` when the payer chooses), the memo (`""` for none), a
/// note for the payer that is shown, never sent (transactions carry no memo).
///
/// Throws with the reason, e.g. `address checksum is wrong (typo?)`, `payment request amount:
/// too many decimals: MEME has 9` or `payment request requires req-x, which this wallet does not
/// support`.
#[wasm_bindgen]
pub fn parse_payment_uri(text: &str) -> Result<js_sys::Object, JsError> {
    let r = uri::parse_payment_uri(text).map_err(Error::from)?;
    // A plain object set field by field: an exported class with getters costs the served
    // `.wasm` more (its size budget, BENCHMARKS.md "WebAssembly").
    let o = js_sys::Object::new();
    let amount = r.amount.map_or(JsValue::UNDEFINED, |a| js_sys::BigInt::from(a).into());
    for (key, value) in
        [("address", r.address.to_text().into()), ("amount", amount), ("memo", r.memo.into())]
    {
        let _ = js_sys::Reflect::set(&o, &key.into(), &value);
    }
    Ok(o)
}

/// The `meme:` URI asking for `amount` base units (`undefined`: the payer chooses) to `address`,
/// with `memo` (`""`: none). Throws if the address does not parse, the amount is 0, or the memo
/// breaks a rule (at most 120 bytes, no control or text-direction characters).
#[wasm_bindgen]
pub fn payment_uri(address: &str, amount: Option<u64>, memo: &str) -> Result<String, JsError> {
    let address = Address::parse(address).map_err(Error::from)?;
    let request = uri::PaymentRequest { address, amount, memo: memo.into() };
    Ok(uri::format_payment_uri(&request).map_err(Error::from)?)
}
