//! Bare secp256k1 ECDSA over a 32-byte digest, on raw bytes (`Uint8Array`): what a light
//! validator needs to check a signature it was handed, and what `bench/wasm` times against
//! JavaScript libraries. Core does the crypto (`memecoin_core::crypto`): compressed keys only,
//! 64-byte `r || s` signatures with low S, RFC 6979 signing. Bytes are not hex here, so that
//! decoding text does not dominate a timing.

use crate::error::Error;
use memecoin_core::crypto::{PublicKey, SecretKey, Signature};
use memecoin_core::encode::{Decode, DecodeError};
use memecoin_core::hash::Hash;
use wasm_bindgen::prelude::*;

fn decode<T: Decode>(field: &'static str, bytes: &[u8]) -> Result<T, Error> {
    T::from_bytes(bytes).map_err(|error| Error::Decode { field, error })
}

/// Whether `signature` (64 bytes) is a signature of `digest` (32 bytes) by `public_key`
/// (33 bytes, compressed). `Ok(false)` is a well-formed signature that does not match.
pub fn verify(public_key: &[u8], digest: &[u8], signature: &[u8]) -> Result<bool, Error> {
    let key: PublicKey = decode("public key", public_key)?;
    let digest: Hash = decode("digest", digest)?;
    let signature: Signature = decode("signature", signature)?;
    Ok(key.verify(&digest, &signature).is_ok())
}

/// The signature (64 bytes, low S, RFC 6979) of `digest` (32 bytes) by `secret_key` (32 bytes).
pub fn sign(secret_key: &[u8], digest: &[u8]) -> Result<[u8; 64], Error> {
    let bytes: &[u8; 32] = secret_key.try_into().map_err(|_| Error::Decode {
        field: "secret key",
        error: DecodeError::Invalid { what: "secret key length" },
    })?;
    let key = SecretKey::from_bytes(bytes)
        .map_err(|error| Error::Decode { field: "secret key", error })?;
    let digest: Hash = decode("digest", digest)?;
    Ok(key.sign(&digest).to_compact())
}

/// Checks an ECDSA signature: `true` if `signature` (64 bytes `r || s`, low S) signs `digest`
/// (32 bytes, already hashed: nothing is hashed here) under `public_key` (33 bytes, compressed),
/// `false` if it does not.
///
/// Throws if an argument is malformed: wrong length, a key not on the curve, `r` or `s` out of
/// range, or a high-S signature.
#[wasm_bindgen]
pub fn verify_signature(
    public_key: &[u8],
    digest: &[u8],
    signature: &[u8],
) -> Result<bool, JsError> {
    Ok(verify(public_key, digest, signature)?)
}

/// Signs a 32-byte `digest` with a 32-byte `secret_key`: 64 bytes `r || s`, low S, RFC 6979
/// (deterministic). Signs whatever digest it is given: transactions are signed with
/// `sign_transfer` and friends, which build the digest themselves.
///
/// Throws if the key is not in `[1, n-1]` or an argument has the wrong length.
#[wasm_bindgen]
pub fn sign_digest(secret_key: &[u8], digest: &[u8]) -> Result<Vec<u8>, JsError> {
    Ok(sign(secret_key, digest)?.to_vec())
}
