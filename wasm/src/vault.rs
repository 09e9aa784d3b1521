//! The vault: a recovery phrase and its BIP-39 passphrase encrypted under a password, for
//! storage in the browser.
//!
//! Format, a JSON object (version 2 is written; version 1 is still opened):
//!
//! ```json
//! {"version":2,"kdf":"pbkdf2-sha256","iterations":600000,
//!  "salt":"<16 bytes hex>","nonce":"<12 bytes hex>","ciphertext":"<hex>"}
//! ```
//!
//! `key = PBKDF2-HMAC-SHA256(password, salt, 600 000 iterations, 32 bytes)` (OWASP's 2023
//! figure for PBKDF2-SHA256); `ciphertext = AES-256-GCM(key, nonce, plaintext, aad =
//! "memecoin/vault/<version>")`, the 16-byte tag appended. The plaintext of version 1 is the
//! phrase; of version 2, the phrase, a line feed, then the passphrase (`""` for none): a
//! normalized phrase (words joined by single spaces) never holds a line feed, so the first one
//! ends it, and a passphrase may hold any text. The version is bound by the associated data, so a
//! blob's version cannot be changed to read its plaintext another way. Salt and nonce are fresh
//! randomness for every encryption. A wrong password fails the GCM tag check and is reported as
//! [`Error::WrongPassword`], never as garbage; a blob altered after encryption fails the same way.
//! Each version opens only with exactly these parameters, so a blob cannot talk the wallet into a
//! weaker or endless key derivation.
//!
//! Both primitives run in the platform's WebCrypto (`crypto.subtle`: the browser's, or Node's):
//! native PBKDF2 unlocks faster than the same rounds in WebAssembly, the derived key is created
//! non-extractable, and no AES or PBKDF2 code ships in the `.wasm`. The bytes of version 1 are
//! those of the earlier Rust implementation (the wasm tests open a vault it wrote). WebCrypto
//! exists only in secure contexts: a page served over plain HTTP from another host than
//! localhost gets [`Error::NoWebCrypto`].

use crate::error::Error;
use crate::json::js::parse_object;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

/// The vault version this code writes: phrase and passphrase. It also reads version 1 (the
/// phrase alone, written before passphrases), whose passphrase is `""`.
pub const VERSION: u32 = 2;
/// The longest passphrase sealed, in bytes of UTF-8: BIP-39 sets no bound, a vault must.
pub const MAX_PASSPHRASE: usize = 512;
/// The key derivation function's name in the blob.
pub const KDF: &str = "pbkdf2-sha256";
/// PBKDF2 iterations (both versions).
pub const ITERATIONS: u32 = 600_000;
/// Salt length in bytes.
pub const SALT_LEN: usize = 16;
/// AES-GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// Associated data: binds the ciphertext to the format and its version.
const AAD_V1: &[u8] = b"memecoin/vault/1";
const AAD_V2: &[u8] = b"memecoin/vault/2";
/// Longest ciphertext accepted: a 24-word phrase is at most 24 × 9 bytes, a line feed, a
/// passphrase of at most [`MAX_PASSPHRASE`] bytes, plus the tag; anything larger is not a vault.
const MAX_CIPHERTEXT: usize = 1024;

fn subtle() -> Result<SubtleCrypto, Error> {
    let crypto =
        Reflect::get(&js_sys::global(), &"crypto".into()).map_err(|_| Error::NoWebCrypto)?;
    if !crypto.is_object() {
        return Err(Error::NoWebCrypto);
    }
    let subtle = Reflect::get(&crypto, &"subtle".into()).map_err(|_| Error::NoWebCrypto)?;
    if !subtle.is_object() {
        return Err(Error::NoWebCrypto);
    }
    Ok(subtle.unchecked_into())
}

/// `{name, …fields}` for a WebCrypto algorithm argument.
fn algorithm(name: &str, fields: &[(&str, JsValue)]) -> Object {
    let object = Object::new();
    let _ = Reflect::set(&object, &"name".into(), &name.into());
    for (key, value) in fields {
        let _ = Reflect::set(&object, &(*key).into(), value);
    }
    object
}

fn bytes(data: &[u8]) -> JsValue {
    Uint8Array::from(data).into()
}

/// A WebCrypto call that should not fail on valid arguments.
async fn call(
    step: &'static str,
    promise: Result<js_sys::Promise, JsValue>,
) -> Result<JsValue, Error> {
    let failed = |_| Error::WebCrypto { step };
    JsFuture::from(promise.map_err(failed)?).await.map_err(failed)
}

/// The AES-256-GCM key of `password` and `salt` (PBKDF2-HMAC-SHA256, [`ITERATIONS`]).
async fn derive_key(
    subtle: &SubtleCrypto,
    password: &str,
    salt: &[u8],
) -> Result<CryptoKey, Error> {
    let derive = Array::of1(&"deriveKey".into());
    let password = Uint8Array::from(password.as_bytes());
    let material =
        call("import", subtle.import_key_with_str("raw", &password, "PBKDF2", false, &derive))
            .await?;
    let pbkdf2 = algorithm(
        "PBKDF2",
        &[("hash", "SHA-256".into()), ("salt", bytes(salt)), ("iterations", ITERATIONS.into())],
    );
    let aes = algorithm("AES-GCM", &[("length", 256.into())]);
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let key = subtle.derive_key_with_object_and_object(
        &pbkdf2,
        material.unchecked_ref(),
        &aes,
        false,
        &usages,
    );
    Ok(call("key derivation", key).await?.unchecked_into())
}

fn gcm(nonce: &[u8], aad: &[u8]) -> Object {
    algorithm("AES-GCM", &[("iv", bytes(nonce)), ("additionalData", bytes(aad))])
}

/// Encrypts `phrase` (checked and normalized first) and `passphrase` with `salt` and `nonce`: the
/// deterministic core of [`seal`], for tests.
pub async fn seal_with(
    phrase: &str,
    passphrase: &str,
    password: &str,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> Result<String, Error> {
    if passphrase.len() > MAX_PASSPHRASE {
        return Err(Error::PassphraseTooLong { bytes: passphrase.len(), max: MAX_PASSPHRASE });
    }
    let plain = format!("{}\n{passphrase}", crate::wallet::parse_phrase(phrase)?);
    let subtle = subtle()?;
    let key = derive_key(&subtle, password, salt).await?;
    let sealed =
        subtle.encrypt_with_object_and_u8_array(&gcm(nonce, AAD_V2), &key, plain.as_bytes());
    let ciphertext = Uint8Array::new(&call("encryption", sealed).await?).to_vec();
    // Key order as version 1 was written.
    Ok(format!(
        r#"{{"version":{VERSION},"kdf":"{KDF}","iterations":{ITERATIONS},"salt":"{}","nonce":"{}","ciphertext":"{}"}}"#,
        hex::encode(salt),
        hex::encode(nonce),
        hex::encode(ciphertext),
    ))
}

/// Encrypts `phrase` and `passphrase` under `password` with a fresh salt and nonce.
pub async fn seal(phrase: &str, passphrase: &str, password: &str) -> Result<String, Error> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut salt).map_err(|_| Error::Random)?;
    getrandom::fill(&mut nonce).map_err(|_| Error::Random)?;
    seal_with(phrase, passphrase, password, &salt, &nonce).await
}

fn field<const N: usize>(name: &str, text: &str) -> Result<[u8; N], Error> {
    let bytes =
        hex::decode(text).map_err(|_| Error::VaultFormat { what: format!("{name} is not hex") })?;
    bytes.try_into().map_err(|_| Error::VaultFormat { what: format!("{name} is not {N} bytes") })
}

/// Decrypts a vault blob with `password` and returns the phrase and the passphrase (`""` in a
/// version-1 vault).
pub async fn open(blob: &str, password: &str) -> Result<(String, String), Error> {
    let format = |what: String| Error::VaultFormat { what };
    let o = parse_object(blob).map_err(format)?;
    o.exactly(&["version", "kdf", "iterations", "salt", "nonce", "ciphertext"]).map_err(format)?;
    let version = o.u64("version").map_err(format)?;
    let aad = match version {
        1 => AAD_V1,
        2 => AAD_V2,
        _ => return Err(format(format!("version {version}"))),
    };
    let (kdf, iterations) =
        (o.string("kdf").map_err(format)?, o.u64("iterations").map_err(format)?);
    if kdf != KDF || iterations != u64::from(ITERATIONS) {
        return Err(format(format!("key derivation {kdf} with {iterations} iterations")));
    }
    let salt: [u8; SALT_LEN] = field("salt", &o.string("salt").map_err(format)?)?;
    let nonce: [u8; NONCE_LEN] = field("nonce", &o.string("nonce").map_err(format)?)?;
    let ciphertext = o.string("ciphertext").map_err(format)?;
    if ciphertext.len() > MAX_CIPHERTEXT.saturating_mul(2) {
        return Err(format("ciphertext too long".into()));
    }
    let ciphertext =
        hex::decode(&ciphertext).map_err(|_| format("ciphertext is not hex".into()))?;
    let subtle = subtle()?;
    let key = derive_key(&subtle, password, &salt).await?;
    let opened = subtle
        .decrypt_with_object_and_u8_array(&gcm(&nonce, aad), &key, &ciphertext)
        .map_err(|_| Error::WrongPassword)?;
    // WebCrypto rejects with an `OperationError` when the tag does not check.
    let plain = JsFuture::from(opened).await.map_err(|_| Error::WrongPassword)?;
    let plain =
        String::from_utf8(Uint8Array::new(&plain).to_vec()).map_err(|_| Error::WrongPassword)?;
    Ok(match (version, plain.split_once('\n')) {
        (2, Some((phrase, passphrase))) => (phrase.to_owned(), passphrase.to_owned()),
        (2, None) => return Err(format("no passphrase line".into())),
        _ => (plain, String::new()),
    })
}

/// Encrypts a recovery phrase and its BIP-39 passphrase (`""` for none, at most 512 bytes)
/// under a password and resolves to the vault as JSON text:
/// `{"version":2,"kdf":"pbkdf2-sha256","iterations":600000,"salt":…,"nonce":…,"ciphertext":…}`.
/// The phrase is checked (and normalized) first. Takes as long as one unlock (600 000 PBKDF2
/// iterations, in the platform's WebCrypto).
#[wasm_bindgen]
pub async fn encrypt_wallet(
    phrase: String,
    passphrase: String,
    password: String,
) -> Result<String, JsError> {
    Ok(seal(&phrase, &passphrase, &password).await?)
}

/// Decrypts a vault made by [`encrypt_wallet`] (or a version-1 vault, which holds the phrase
/// alone) and resolves to `[phrase, passphrase]` (`""` for none). An array, not a class with
/// getters, for the served `.wasm`'s size budget; and nothing that could print the secret.
///
/// Rejects with `wrong password` when the password does not open it (an altered vault gives the
/// same error), with `not a memecoin vault: …` when the text is not a version-1 or 2 vault, and
/// with `WebCrypto is unavailable…` outside a secure context.
#[wasm_bindgen]
pub async fn decrypt_wallet(vault: String, password: String) -> Result<Array, JsError> {
    let (phrase, passphrase) = open(&vault, &password).await?;
    Ok(Array::of2(&phrase.into(), &passphrase.into()))
}
