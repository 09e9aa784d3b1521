//! The vault: a recovery phrase encrypted under a password, for storage in the browser.
//!
//! Format (version 1), a JSON object:
//!
//! ```json
//! {"version":1,"kdf":"pbkdf2-sha256","iterations":600000,
//!  "salt":"<16 bytes hex>","nonce":"<12 bytes hex>","ciphertext":"<hex>"}
//! ```
//!
//! `key = PBKDF2-HMAC-SHA256(password, salt, 600 000 iterations, 32 bytes)` (OWASP's 2023
//! figure for PBKDF2-SHA256); `ciphertext = AES-256-GCM(key, nonce, phrase, aad =
//! "memecoin/vault/1")`, the 16-byte tag appended. Salt and nonce are fresh randomness for every
//! encryption. A wrong password fails the GCM tag check and is reported as
//! [`Error::WrongPassword`], never as garbage; a blob altered after encryption fails the same way.
//! Version 1 opens only with exactly these parameters, so a blob cannot talk the wallet into a
//! weaker or endless key derivation.

use crate::error::Error;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use wasm_bindgen::prelude::*;

/// The only vault version this code writes and reads.
pub const VERSION: u32 = 1;
/// The key derivation function's name in the blob.
pub const KDF: &str = "pbkdf2-sha256";
/// PBKDF2 iterations of version 1.
pub const ITERATIONS: u32 = 600_000;
/// Salt length in bytes.
pub const SALT_LEN: usize = 16;
/// AES-GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// Associated data: binds the ciphertext to this format and version.
const AAD: &[u8] = b"memecoin/vault/1";
/// Longest ciphertext accepted: a 24-word phrase is at most 24 × 9 bytes, plus the tag; anything
/// far larger is not a vault.
const MAX_CIPHERTEXT: usize = 1024;

/// The JSON blob, field for field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Blob {
    version: u32,
    kdf: String,
    iterations: u32,
    salt: String,
    nonce: String,
    ciphertext: String,
}

fn cipher(password: &str, salt: &[u8]) -> Result<Aes256Gcm, Error> {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, ITERATIONS, &mut key);
    let cipher = Aes256Gcm::new_from_slice(&key)
        .map_err(|_| Error::VaultFormat { what: "key length".into() })?;
    key.fill(0);
    Ok(cipher)
}

/// Encrypts `phrase` (checked and normalized first) with `salt` and `nonce`: the deterministic
/// core of [`seal`], for tests.
pub fn seal_with(
    phrase: &str,
    password: &str,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> Result<String, Error> {
    let phrase = crate::wallet::parse_phrase(phrase)?.to_string();
    let ciphertext = cipher(password, salt)?
        .encrypt(&Nonce::from(*nonce), Payload { msg: phrase.as_bytes(), aad: AAD })
        .map_err(|_| Error::VaultFormat { what: "encryption failed".into() })?;
    let blob = Blob {
        version: VERSION,
        kdf: KDF.into(),
        iterations: ITERATIONS,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(ciphertext),
    };
    serde_json::to_string(&blob).map_err(|e| Error::VaultFormat { what: e.to_string() })
}

/// Encrypts `phrase` under `password` with a fresh salt and nonce.
pub fn seal(phrase: &str, password: &str) -> Result<String, Error> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut salt).map_err(|_| Error::Random)?;
    getrandom::fill(&mut nonce).map_err(|_| Error::Random)?;
    seal_with(phrase, password, &salt, &nonce)
}

fn field<const N: usize>(name: &str, text: &str) -> Result<[u8; N], Error> {
    let bytes =
        hex::decode(text).map_err(|_| Error::VaultFormat { what: format!("{name} is not hex") })?;
    bytes.try_into().map_err(|_| Error::VaultFormat { what: format!("{name} is not {N} bytes") })
}

/// Decrypts a vault blob with `password` and returns the phrase.
pub fn open(blob: &str, password: &str) -> Result<String, Error> {
    let blob: Blob =
        serde_json::from_str(blob).map_err(|e| Error::VaultFormat { what: e.to_string() })?;
    if blob.version != VERSION {
        return Err(Error::VaultFormat { what: format!("version {}", blob.version) });
    }
    if blob.kdf != KDF || blob.iterations != ITERATIONS {
        return Err(Error::VaultFormat {
            what: format!("key derivation {} with {} iterations", blob.kdf, blob.iterations),
        });
    }
    let salt: [u8; SALT_LEN] = field("salt", &blob.salt)?;
    let nonce: [u8; NONCE_LEN] = field("nonce", &blob.nonce)?;
    if blob.ciphertext.len() > MAX_CIPHERTEXT.saturating_mul(2) {
        return Err(Error::VaultFormat { what: "ciphertext too long".into() });
    }
    let ciphertext = hex::decode(&blob.ciphertext)
        .map_err(|_| Error::VaultFormat { what: "ciphertext is not hex".into() })?;
    let plain = cipher(password, &salt)?
        .decrypt(&Nonce::from(nonce), Payload { msg: &ciphertext, aad: AAD })
        .map_err(|_| Error::WrongPassword)?;
    String::from_utf8(plain).map_err(|_| Error::WrongPassword)
}

/// Encrypts a recovery phrase under a password and returns the vault as JSON text:
/// `{"version":1,"kdf":"pbkdf2-sha256","iterations":600000,"salt":…,"nonce":…,"ciphertext":…}`.
/// The phrase is checked (and normalized) first. Takes as long as one unlock (600 000 PBKDF2
/// iterations).
#[wasm_bindgen]
pub fn encrypt_phrase(phrase: &str, password: &str) -> Result<String, JsError> {
    Ok(seal(phrase, password)?)
}

/// Decrypts a vault made by [`encrypt_phrase`] and returns the phrase.
///
/// Throws `wrong password` when the password does not open it (an altered vault gives the same
/// error), or `not a memecoin vault: …` when the text is not a version-1 vault.
#[wasm_bindgen]
pub fn decrypt_phrase(vault: &str, password: &str) -> Result<String, JsError> {
    Ok(open(vault, password)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                          abandon abandon abandon about";

    #[test]
    fn round_trip_and_wrong_password() {
        let blob = seal_with(PHRASE, "hunter2", &[7; 16], &[9; 12]).unwrap();
        assert!(blob.starts_with(r#"{"version":1,"kdf":"pbkdf2-sha256","iterations":600000,"#));
        assert_eq!(open(&blob, "hunter2").unwrap(), PHRASE);
        assert_eq!(open(&blob, "hunter3"), Err(Error::WrongPassword));
    }

    #[test]
    fn refuses_other_formats() {
        let blob = seal_with(PHRASE, "pw", &[1; 16], &[2; 12]).unwrap();
        let weak = blob.replace("600000", "1");
        assert!(matches!(open(&weak, "pw"), Err(Error::VaultFormat { .. })));
        let v2 = blob.replace(r#""version":1"#, r#""version":2"#);
        assert_eq!(open(&v2, "pw"), Err(Error::VaultFormat { what: "version 2".into() }));
        assert!(matches!(open("{}", "pw"), Err(Error::VaultFormat { .. })));
        assert!(matches!(seal_with("not a phrase", "pw", &[1; 16], &[2; 12]), Err(Error::Hd(_))));
    }
}
