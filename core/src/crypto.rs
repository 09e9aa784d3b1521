//! secp256k1 keys and ECDSA signatures (k256).
//!
//! - Public keys are 33-byte compressed SEC1 points, checked to be on the curve when decoded.
//! - Signatures are 64 bytes `r || s`, big-endian, with `1 <= r, s < n` and **low S**
//!   (`s <= n/2`); a high-S signature is rejected when decoded, so a signature has one form.
//! - Signing is RFC 6979 deterministic: the same key and digest always give the same signature.
//! - What is signed is never raw bytes but a digest bound to a purpose and to the chain:
//!   `signing_digest(domain, chain_id, object_id) = tagged_hash(domain, chain_id || object_id)`.

use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::hash::{Domain, Hash, tagged_hash};
use alloc::vec::Vec;
use core::fmt;
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::{Signature as EcdsaSignature, SigningKey, VerifyingKey};

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature does not verify for this key and digest.
    Mismatch,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("signature does not match the key and message")
    }
}

impl core::error::Error for SignatureError {}

/// The digest a signature covers: purpose, chain and object.
pub fn signing_digest(domain: Domain, chain_id: &Hash, object_id: &Hash) -> Hash {
    tagged_hash(domain, &[chain_id.as_bytes(), object_id.as_bytes()])
}

/// A compressed secp256k1 public key, known to be a valid point.
#[derive(Clone)]
pub struct PublicKey {
    bytes: [u8; 33],
    // Decoded once at decode time: verification does not decompress the point again.
    key: VerifyingKey,
}

impl PublicKey {
    pub const SIZE: usize = 33;

    pub fn from_sec1(bytes: &[u8]) -> Result<Self, DecodeError> {
        let arr: [u8; 33] =
            bytes.try_into().map_err(|_| DecodeError::Invalid { what: "public key length" })?;
        // Only the compressed form (02/03 prefix) is canonical.
        if !matches!(arr[0], 2 | 3) {
            return Err(DecodeError::NonCanonical { what: "public key prefix" });
        }
        let key = decode_point(&arr)
            .ok_or(DecodeError::Invalid { what: "public key (not a curve point)" })?;
        Ok(Self { bytes: arr, key })
    }

    pub fn as_bytes(&self) -> &[u8; 33] {
        &self.bytes
    }

    /// Checks `sig` over `digest` (already domain-separated with [`signing_digest`]).
    pub fn verify(&self, digest: &Hash, sig: &Signature) -> Result<(), SignatureError> {
        self.key.verify_prehash(digest.as_bytes(), &sig.sig).map_err(|_| SignatureError::Mismatch)
    }

    pub fn to_hex(&self) -> alloc::string::String {
        hex::encode(self.bytes)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for PublicKey {}
impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl Encode for PublicKey {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_raw(&self.bytes);
    }
}

impl Decode for PublicKey {
    const MAX_SIZE: usize = 33;
    const NAME: &'static str = "public key";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_sec1(r.take(33)?)
    }
}

/// The compressed SEC1 form of a point: `02` (even y) or `03` (odd y), then x. Written out
/// rather than through k256's `ToSec1Point`, whose generic encoder brings the SEC1/DER error
/// types and their formatting into the `.wasm`.
pub fn compress(point: &k256::AffinePoint) -> [u8; 33] {
    use k256::elliptic_curve::point::AffineCoordinates;
    let mut out = [0u8; 33];
    let (prefix, x) = out.split_at_mut(1);
    prefix.fill(2 | point.y_is_odd().unwrap_u8());
    x.copy_from_slice(&point.x());
    out
}

/// Decodes a compressed point (prefix already checked to be 02 or 03).
#[cfg(not(target_arch = "wasm32"))]
fn decode_point(compressed: &[u8; 33]) -> Option<VerifyingKey> {
    VerifyingKey::from_sec1_bytes(compressed).ok()
}

/// Decodes a compressed point with [`small::decompress`] (in the browser's `.wasm`; see there).
#[cfg(target_arch = "wasm32")]
fn decode_point(compressed: &[u8; 33]) -> Option<VerifyingKey> {
    small::decompress(compressed)
}

/// Point decompression in little code, for the wallet's `.wasm`.
///
/// k256 decompresses with an addition chain whose ~15 field multiplications it inlines
/// (`#[inline(always)]`), each a kilobyte and more of WebAssembly: its `from_sec1_bytes` was the
/// largest function of the served `.wasm` (25 KB). The same square root as a loop over a table,
/// with one multiplication not inlined, is a few KB and about a quarter slower (a fixed 4-bit
/// window: 256 squarings and 80 multiplications, against k256's 253 and 13). Native builds keep
/// k256's; the tests check that both decode every input alike.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
// Arithmetic in the field is modulo p: it cannot overflow or panic.
#[allow(clippy::arithmetic_side_effects)]
mod small {
    use k256::ecdsa::VerifyingKey;
    use k256::elliptic_curve::ff::PrimeField;
    use k256::elliptic_curve::hazmat::FieldArithmetic;
    use k256::elliptic_curve::point::AffineCoordinates;
    use k256::{AffinePoint, FieldBytes, Secp256k1};

    /// An element of secp256k1's base field (k256's, through the curve's arithmetic traits).
    type Fe = <Secp256k1 as FieldArithmetic>::FieldElement;

    /// `(p + 1) / 4`, big-endian: since `p ≡ 3 (mod 4)`, `a^((p+1)/4)` is a square root of `a`
    /// whenever `a` has one.
    const SQRT_EXPONENT: [u8; 32] = [
        0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbf, 0xff,
        0xff, 0x0c,
    ];

    // Out of line on purpose: one copy of k256's multiplication instead of one per call site.
    #[inline(never)]
    fn mul(a: &Fe, b: &Fe) -> Fe {
        *a * b
    }

    /// `a^SQRT_EXPONENT`, a nibble at a time.
    fn sqrt_candidate(a: &Fe) -> Fe {
        let mut powers = [Fe::ONE; 16];
        let mut power = Fe::ONE;
        for slot in powers.iter_mut() {
            *slot = power;
            power = mul(&power, a);
        }
        let mut r = Fe::ONE;
        for byte in SQRT_EXPONENT {
            for nibble in [byte >> 4, byte & 0x0f] {
                for _ in 0..4 {
                    r = r.square();
                }
                if let Some(p) = powers.get(usize::from(nibble)) {
                    r = mul(&r, p);
                }
            }
        }
        r
    }

    /// `02/03 || x` to the point: `y = ±sqrt(x³ + 7)` with the parity the prefix names. The
    /// candidate root is not checked here: `from_coordinates` checks that `(x, y)` is on the
    /// curve, which fails exactly when `x³ + 7` has no root (or `x ≥ p`).
    pub(super) fn decompress(compressed: &[u8; 33]) -> Option<VerifyingKey> {
        let (prefix, x_bytes) = compressed.split_first()?;
        let x_bytes = FieldBytes::try_from(x_bytes).ok()?;
        let x: Fe = Option::from(Fe::from_repr(x_bytes))?;
        let alpha = mul(&mul(&x, &x), &x) + Fe::from(7u64);
        let beta = sqrt_candidate(&alpha);
        // A public key is public: no need for a constant-time choice of the root.
        let root = beta.to_repr();
        let y =
            if root.last().map(|b| b & 1) == Some(prefix & 1) { root } else { (-beta).to_repr() };
        let point: AffinePoint = Option::from(AffinePoint::from_coordinates(&x_bytes, &y))?;
        VerifyingKey::from_affine(point).ok()
    }
}

/// A low-S ECDSA signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    sig: EcdsaSignature,
}

impl Signature {
    pub const SIZE: usize = 64;

    pub fn from_compact(bytes: &[u8]) -> Result<Self, DecodeError> {
        let sig = EcdsaSignature::from_slice(bytes)
            .map_err(|_| DecodeError::Invalid { what: "signature (r or s out of range)" })?;
        // A high-S signature is the same signature in a second form; only low S is canonical.
        if sig.normalize_s() != sig {
            return Err(DecodeError::NonCanonical { what: "signature (high S)" });
        }
        Ok(Self { sig })
    }

    pub fn to_compact(&self) -> [u8; 64] {
        self.sig.to_bytes().into()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.to_compact()))
    }
}

impl Encode for Signature {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_raw(&self.to_compact());
    }
}

impl Decode for Signature {
    const MAX_SIZE: usize = 64;
    const NAME: &'static str = "signature";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_compact(r.take(64)?)
    }
}

/// A secret signing key. Zeroized on drop (k256 does it); never encoded by core.
#[derive(Clone)]
pub struct SecretKey {
    key: SigningKey,
}

impl SecretKey {
    /// A secret key from 32 big-endian bytes in `[1, n-1]`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, DecodeError> {
        let key = SigningKey::from_slice(bytes)
            .map_err(|_| DecodeError::Invalid { what: "secret key (zero or >= n)" })?;
        Ok(Self { key })
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes().into()
    }

    pub fn public_key(&self) -> PublicKey {
        let key = *self.key.verifying_key();
        PublicKey { bytes: compress(key.as_affine()), key }
    }

    /// RFC 6979 signature over `digest`, normalized to low S.
    pub fn sign(&self, digest: &Hash) -> Signature {
        // k256 signs with RFC 6979 and a 32-byte prehash never fails; if it ever did we return
        // a signature over nothing meaningful rather than panic, and it fails verification.
        let sig: EcdsaSignature = match self.key.sign_prehash(digest.as_bytes()) {
            Ok(sig) => sig,
            Err(_) => return Signature { sig: zero_like_signature() },
        };
        Signature { sig: sig.normalize_s() }
    }
}

fn zero_like_signature() -> EcdsaSignature {
    // r = s = 1: a well-formed signature that verifies for no realistic key and digest.
    let mut bytes = [0u8; 64];
    if let Some(b) = bytes.get_mut(31) {
        *b = 1;
    }
    if let Some(b) = bytes.get_mut(63) {
        *b = 1;
    }
    EcdsaSignature::from_slice(&bytes).unwrap_or_else(|_| unreachable_signature())
}

#[allow(clippy::panic)] // r = s = 1 is always in range; this cannot be reached.
fn unreachable_signature() -> EcdsaSignature {
    panic!("r = s = 1 is a valid ECDSA scalar pair")
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_bytes(&[b; 32]).unwrap()
    }

    #[test]
    fn sign_verify_and_determinism() {
        let k = key(7);
        let d = tagged_hash(Domain::SignTx, &[b"x"]);
        let s1 = k.sign(&d);
        assert_eq!(s1, k.sign(&d), "RFC 6979 is deterministic");
        assert_eq!(k.public_key().verify(&d, &s1), Ok(()));
        let other = tagged_hash(Domain::SignTx, &[b"y"]);
        assert_eq!(k.public_key().verify(&other, &s1), Err(SignatureError::Mismatch));
        assert_eq!(key(8).public_key().verify(&d, &s1), Err(SignatureError::Mismatch));
    }

    #[test]
    fn high_s_is_rejected() {
        let k = key(9);
        let d = tagged_hash(Domain::SignTx, &[b"z"]);
        let sig = k.sign(&d);
        // s' = n - s is the high-S twin of the same signature.
        let (r, s) = (sig.sig.r(), sig.sig.s());
        let high = EcdsaSignature::from_scalars(r, -*s.as_ref()).unwrap();
        let bytes: [u8; 64] = high.to_bytes().into();
        assert_eq!(
            Signature::from_compact(&bytes),
            Err(DecodeError::NonCanonical { what: "signature (high S)" })
        );
    }

    #[test]
    fn chain_id_separates_signatures() {
        let k = key(3);
        let obj = tagged_hash(Domain::Tx, &[b"tx"]);
        let a = signing_digest(Domain::SignTx, &Hash([1; 32]), &obj);
        let b = signing_digest(Domain::SignTx, &Hash([2; 32]), &obj);
        let c = signing_digest(Domain::SignVote, &Hash([1; 32]), &obj);
        let sig = k.sign(&a);
        assert_eq!(k.public_key().verify(&b, &sig), Err(SignatureError::Mismatch));
        assert_eq!(k.public_key().verify(&c, &sig), Err(SignatureError::Mismatch));
    }

    #[test]
    fn uncompressed_and_off_curve_keys_are_rejected() {
        let mut bytes = *key(1).public_key().as_bytes();
        bytes[0] = 4;
        assert!(matches!(PublicKey::from_sec1(&bytes), Err(DecodeError::NonCanonical { .. })));
        let mut bad = [0u8; 33];
        bad[0] = 2;
        bad[32] = 5; // x = 5 is not on secp256k1 (x^3 + 7 = 132 is not a square mod p)
        assert!(matches!(PublicKey::from_sec1(&bad), Err(DecodeError::Invalid { .. })));
    }

    /// Both decoders (k256's natively, `small` in the `.wasm`) agree on every input: real keys
    /// of either parity, prefixes flipped, and x values with and without a point (about half of
    /// all x have none), at the edges of the field and beyond it.
    #[test]
    fn small_decompression_matches_k256() {
        let decode_both = |bytes: &[u8; 33]| {
            let k256 = VerifyingKey::from_sec1_bytes(bytes).ok();
            let small = small::decompress(bytes);
            assert_eq!(small, k256, "{}", hex::encode(bytes));
            k256.is_some()
        };
        let mut points = 0;
        for i in 0u32..300 {
            let seed = tagged_hash(Domain::Reveal, &[b"decompress", &i.to_be_bytes()]);
            let mut bytes = [0u8; 33];
            bytes[1..].copy_from_slice(seed.as_bytes());
            for prefix in [2, 3] {
                bytes[0] = prefix;
                points += usize::from(decode_both(&bytes));
            }
            if let Ok(k) = SecretKey::from_bytes(seed.as_bytes()) {
                let mut real = *k.public_key().as_bytes();
                assert!(decode_both(&real));
                real[0] ^= 1; // the other root: the negated point, also valid
                assert!(decode_both(&real));
            }
        }
        assert!((200..400).contains(&points), "about half of random x are on the curve: {points}");
        let p = hex::decode("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f")
            .unwrap();
        let mut edge = [0u8; 33];
        for prefix in [2, 3] {
            edge[0] = prefix;
            for x in [[0u8; 32], [0xff; 32], <[u8; 32]>::try_from(p.as_slice()).unwrap()] {
                edge[1..].copy_from_slice(&x);
                decode_both(&edge);
            }
            // p - 1 and 1 (the largest and smallest field elements after zero)
            edge[1..].copy_from_slice(&p);
            edge[32] -= 1;
            decode_both(&edge);
            edge[1..].fill(0);
            edge[32] = 1;
            decode_both(&edge);
        }
    }
}
