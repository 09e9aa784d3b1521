//! Deterministic keys from a recovery phrase: BIP-39 phrases and seeds, BIP-32 key trees.
//!
//! - **BIP-39** (written here on `sha2`/`pbkdf2`, with the BIP's English word list in
//!   `bip39_english.txt`; NFKD by `unicode-normalization` behind the `unicode` feature): entropy
//!   ↔ phrase, and `seed = PBKDF2-HMAC-SHA512(phrase, "mnemonic" || passphrase, 2048 rounds)`,
//!   64 bytes.
//!   No randomness here: the entropy of a new phrase is an argument.
//! - **BIP-32** (written here on k256): master key from a seed, private and public child
//!   derivation, derivation paths, and the `xprv`/`xpub` Base58Check text form. Parsing that
//!   text enforces every rule of BIP-32's test vector 5.
//! - **memecoin's wallet path** is [`WALLET_PATH`]: `m/44'/7337'/{account}'/0'/{index}'`,
//!   every level hardened (see [`wallet_path`] and [`wallet_key`]).
//!
//! Nothing here panics, and no length read from untrusted input drives an allocation beyond
//! the input itself: extended-key text is capped at [`MAX_EXTENDED_KEY_CHARS`] before decoding.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;
use hmac::{Hmac, KeyInit, Mac};
use k256::elliptic_curve::{NonZeroScalar, PrimeField};
use k256::{ProjectivePoint, PublicKey, Scalar, Secp256k1, SecretKey};
use memecoin_core::crypto::{PublicKey as CorePublicKey, SecretKey as CoreSecretKey};
use ripemd::Ripemd160;
use sha2::{Digest, Sha256, Sha512};

/// Why a phrase, seed, path or extended key was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HdError {
    // --- BIP-39 ---
    /// New phrases are made from 16 or 32 bytes of entropy (12 or 24 words) only.
    EntropyLength { len: usize },
    /// A phrase has 12, 15, 18, 21 or 24 words.
    WordCount { count: usize },
    /// The word at `index` (0-based) is not in the English BIP-39 list.
    UnknownWord { index: usize },
    /// Every word is known but the phrase's checksum bits do not match its entropy.
    PhraseChecksum,

    // --- BIP-32 derivation ---
    /// A BIP-32 seed is 16 to 64 bytes.
    SeedLength { len: usize },
    /// The seed gives a master key of zero or `>= n` (probability below 2^-127).
    InvalidMasterKey,
    /// Child `index` (with its hardened bit) does not exist: `IL >= n`, or the child key is
    /// zero / the point at infinity. BIP-32 says to skip to the next index.
    InvalidChild { index: u32 },
    /// A hardened child cannot be derived from a public key.
    HardenedFromPublic { index: u32 },
    /// An index (without the hardened bit) must be below 2^31.
    IndexOutOfRange { index: u32 },
    /// A key tree is at most 255 levels deep.
    DepthOverflow,
    /// A derivation path that does not parse; `what` says which rule it breaks.
    InvalidPath { what: &'static str },

    // --- xprv / xpub text ---
    /// Extended-key text longer than [`MAX_EXTENDED_KEY_CHARS`].
    KeyTextTooLong { chars: usize },
    /// A character outside the Base58 alphabet.
    Base58,
    /// The Base58Check checksum does not match.
    KeyChecksum,
    /// The payload is not 78 bytes.
    KeyLength { len: usize },
    /// The version bytes are neither `xprv` nor `xpub`.
    UnknownVersion { version: u32 },
    /// An `xpub` was given where an `xprv` was expected.
    ExpectedPrivate,
    /// An `xprv` was given where an `xpub` was expected.
    ExpectedPublic,
    /// Depth 0 (a master key) with a parent fingerprint other than zero.
    ZeroDepthParent,
    /// Depth 0 (a master key) with a child number other than zero.
    ZeroDepthIndex,
    /// The key data of an `xprv` must start with `0x00`.
    PrivateKeyPrefix { prefix: u8 },
    /// The key data of an `xpub` must start with `0x02` or `0x03`.
    PublicKeyPrefix { prefix: u8 },
    /// A private key of zero or `>= n`.
    InvalidPrivateKey,
    /// A public key that is not a point on secp256k1.
    InvalidPublicKey,
}

impl fmt::Display for HdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EntropyLength { len } => {
                write!(f, "entropy of {len} bytes; a new phrase takes 16 or 32")
            }
            Self::WordCount { count } => {
                write!(f, "phrase of {count} words; 12, 15, 18, 21 or 24 expected")
            }
            // Counted from 1, as a person counts the words they wrote down.
            Self::UnknownWord { index } => {
                write!(f, "word {} is not a BIP-39 word", index.saturating_add(1))
            }
            Self::PhraseChecksum => f.write_str("phrase checksum does not match"),
            Self::SeedLength { len } => write!(f, "seed of {len} bytes; 16 to 64 expected"),
            Self::InvalidMasterKey => f.write_str("seed gives an invalid master key"),
            Self::InvalidChild { index } => write!(f, "child {index:#x} is invalid"),
            Self::HardenedFromPublic { index } => {
                write!(f, "hardened child {index:#x} needs the private key")
            }
            Self::IndexOutOfRange { index } => write!(f, "index {index} is not below 2^31"),
            Self::DepthOverflow => f.write_str("key tree deeper than 255 levels"),
            Self::InvalidPath { what } => write!(f, "invalid derivation path: {what}"),
            Self::KeyTextTooLong { chars } => write!(f, "extended key of {chars} characters"),
            Self::Base58 => f.write_str("extended key is not Base58"),
            Self::KeyChecksum => f.write_str("extended key checksum does not match"),
            Self::KeyLength { len } => write!(f, "extended key of {len} bytes; 78 expected"),
            Self::UnknownVersion { version } => {
                write!(f, "unknown extended key version {version:#010x}")
            }
            Self::ExpectedPrivate => f.write_str("expected an xprv, found an xpub"),
            Self::ExpectedPublic => f.write_str("expected an xpub, found an xprv"),
            Self::ZeroDepthParent => f.write_str("master key with a parent fingerprint"),
            Self::ZeroDepthIndex => f.write_str("master key with a child number"),
            Self::PrivateKeyPrefix { prefix } => {
                write!(f, "private key data starts with {prefix:#04x}, not 0x00")
            }
            Self::PublicKeyPrefix { prefix } => {
                write!(f, "public key data starts with {prefix:#04x}, not 0x02/0x03")
            }
            Self::InvalidPrivateKey => f.write_str("private key is zero or not below n"),
            Self::InvalidPublicKey => f.write_str("public key is not a curve point"),
        }
    }
}

impl core::error::Error for HdError {}

// ------------------------------------------------------------------------------------------
// BIP-39
// ------------------------------------------------------------------------------------------

/// BIP-39's English word list (`english.txt` of the BIP, SHA-256 `2f5eed53…24dbda`): 2048
/// words, one per line, sorted. Searched linearly: a phrase has at most 24 words, and no table of
/// 2048 `&str`s (16 KB in the wasm) is needed.
const ENGLISH: &str = include_str!("bip39_english.txt");

/// The word at `index` (< 2048).
fn word(index: u16) -> &'static str {
    ENGLISH.lines().nth(usize::from(index)).unwrap_or_default()
}

/// The index of `word` in the list, if it is one.
fn word_index(word: &str) -> Option<u16> {
    ENGLISH.lines().position(|w| w == word).and_then(|i| u16::try_from(i).ok())
}

/// A checked BIP-39 phrase (English): its word indices. `Debug` does not print the words;
/// `Display` does, separated by single spaces.
#[derive(Clone, PartialEq, Eq)]
pub struct Phrase(Vec<u16>);

impl Phrase {
    pub fn word_count(&self) -> usize {
        self.0.len()
    }

    /// The entropy the phrase encodes (16 to 32 bytes).
    pub fn to_entropy(&self) -> Vec<u8> {
        let mut bytes = unpack(&self.0);
        bytes.truncate(entropy_len(self.word_count()));
        bytes
    }
}

/// Entropy bytes of a phrase of `words` words: 4 per 3 words.
fn entropy_len(words: usize) -> usize {
    (words / 3).saturating_mul(4)
}

/// The bits of 11-bit word indices, packed into bytes; the last byte is left-aligned.
fn unpack(indices: &[u16]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(33);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &index in indices {
        acc = (acc << 11) | u32::from(index & 0x7ff);
        bits = bits.saturating_add(11);
        while bits >= 8 {
            bits = bits.saturating_sub(8);
            bytes.push(((acc >> bits) & 0xff) as u8);
        }
        acc &= (1u32 << bits).saturating_sub(1);
    }
    if bits > 0 {
        bytes.push(((acc << 8u32.saturating_sub(bits)) & 0xff) as u8);
    }
    bytes
}

impl fmt::Display for Phrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &index) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(word(index))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Phrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phrase({} words)", self.word_count())
    }
}

/// [`parse_phrase`]; without the `unicode` feature, [`parse_phrase_normalized`].
impl FromStr for Phrase {
    type Err = HdError;
    fn from_str(s: &str) -> Result<Self, HdError> {
        #[cfg(feature = "unicode")]
        {
            parse_phrase(s)
        }
        #[cfg(not(feature = "unicode"))]
        {
            parse_phrase_normalized(s)
        }
    }
}

/// The phrase for `entropy`: 16 bytes give 12 words, 32 bytes give 24 words. memecoin makes
/// no other length (BIP-39's 15/18/21-word phrases are still accepted by [`parse_phrase`]).
pub fn phrase_from_entropy(entropy: &[u8]) -> Result<String, HdError> {
    if !matches!(entropy.len(), 16 | 32) {
        return Err(HdError::EntropyLength { len: entropy.len() });
    }
    // BIP-39: the entropy, then its checksum (the first `len / 4` bits of its SHA-256), cut
    // into 11-bit word indices. The length is 16 or 32, so the checksum is 4 or 8 bits.
    let checksum = Sha256::digest(entropy).first().copied().unwrap_or_default();
    let mut indices = Vec::with_capacity(24);
    let (mut acc, mut bits) = (0u32, 0u32);
    for byte in entropy.iter().chain(core::iter::once(&checksum)) {
        acc = (acc << 8) | u32::from(*byte);
        bits = bits.saturating_add(8);
        while bits >= 11 {
            bits = bits.saturating_sub(11);
            indices.push(((acc >> bits) & 0x7ff) as u16);
        }
        acc &= (1u32 << bits).saturating_sub(1);
    }
    Ok(alloc::string::ToString::to_string(&Phrase(indices)))
}

/// Parses and checks a phrase: word count, each word, then the checksum, in that order.
/// Input is NFKD-normalized first ([`nfkd`]); words may be separated by any whitespace.
#[cfg(feature = "unicode")]
pub fn parse_phrase(s: &str) -> Result<Phrase, HdError> {
    parse_phrase_normalized(&nfkd(s))
}

/// [`parse_phrase`] of text that is already NFKD-normalized (the caller normalized it, e.g. with
/// JavaScript's `String.prototype.normalize("NFKD")`). ASCII text is always NFKD. Text that is not
/// NFKD is not normalized here: a word in another form is an [`HdError::UnknownWord`].
pub fn parse_phrase_normalized(s: &str) -> Result<Phrase, HdError> {
    let count = s.split_whitespace().count();
    if !matches!(count, 12 | 15 | 18 | 21 | 24) {
        return Err(HdError::WordCount { count });
    }
    let indices = s
        .split_whitespace()
        .enumerate()
        .map(|(index, w)| word_index(w).ok_or(HdError::UnknownWord { index }))
        .collect::<Result<Vec<u16>, HdError>>()?;
    // The words carry the entropy and then its checksum: `len / 4` bits (4 to 8), the first
    // bits of the entropy's SHA-256, left-aligned in the byte after the entropy.
    let bits = unpack(&indices);
    let len = entropy_len(count);
    let entropy = bits.get(..len).ok_or(HdError::PhraseChecksum)?;
    let given = bits.get(len).copied().unwrap_or_default();
    let expected = Sha256::digest(entropy).first().copied().unwrap_or_default();
    let unused = 8u32.saturating_sub(u32::try_from(len / 4).unwrap_or(8));
    if given >> unused != expected >> unused {
        return Err(HdError::PhraseChecksum);
    }
    Ok(Phrase(indices))
}

/// The 64-byte BIP-39 seed of `phrase` with `passphrase` (`""` for none), NFKD-normalized
/// first ([`nfkd`]).
#[cfg(feature = "unicode")]
pub fn seed_from_phrase(phrase: &Phrase, passphrase: &str) -> [u8; 64] {
    seed_from_phrase_normalized(phrase, &nfkd(passphrase))
}

/// [`seed_from_phrase`] with a passphrase that is already NFKD-normalized: its UTF-8 bytes go
/// into PBKDF2 as they are.
pub fn seed_from_phrase_normalized(phrase: &Phrase, passphrase: &str) -> [u8; 64] {
    let words = alloc::string::ToString::to_string(phrase);
    let mut salt = String::from("mnemonic");
    salt.push_str(passphrase);
    let mut seed = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<Sha512>(words.as_bytes(), salt.as_bytes(), 2048, &mut seed);
    seed
}

/// `s` in Unicode normalization form KD, as BIP-39 asks of phrases and passphrases (borrowed
/// when it already is, e.g. ASCII). Needs the `unicode` feature: unicode-normalization's tables.
#[cfg(feature = "unicode")]
pub fn nfkd(s: &str) -> alloc::borrow::Cow<'_, str> {
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkd_quick};
    if is_nfkd_quick(s.chars()) == IsNormalized::Yes {
        alloc::borrow::Cow::Borrowed(s)
    } else {
        alloc::borrow::Cow::Owned(s.nfkd().collect())
    }
}

// ------------------------------------------------------------------------------------------
// Child numbers and paths
// ------------------------------------------------------------------------------------------

/// The hardened bit of a BIP-32 child number.
pub const HARDENED: u32 = 0x8000_0000;

/// A BIP-32 child number: an index below 2^31, hardened or normal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChildNumber(u32);

impl ChildNumber {
    pub fn normal(index: u32) -> Result<Self, HdError> {
        if index >= HARDENED {
            return Err(HdError::IndexOutOfRange { index });
        }
        Ok(Self(index))
    }

    pub fn hardened(index: u32) -> Result<Self, HdError> {
        if index >= HARDENED {
            return Err(HdError::IndexOutOfRange { index });
        }
        Ok(Self(index | HARDENED))
    }

    /// From the 32-bit form used in serialization (hardened bit included).
    pub const fn from_u32(raw: u32) -> Self {
        Self(raw)
    }

    /// The 32-bit form used in serialization (hardened bit included).
    pub const fn to_u32(self) -> u32 {
        self.0
    }

    pub const fn is_hardened(self) -> bool {
        self.0 & HARDENED != 0
    }

    /// The index without the hardened bit.
    pub const fn index(self) -> u32 {
        self.0 & !HARDENED
    }
}

impl fmt::Display for ChildNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_hardened() { write!(f, "{}'", self.index()) } else { write!(f, "{}", self.0) }
    }
}

/// Most levels a path may have: a key tree is at most 255 levels deep.
pub const MAX_PATH_DEPTH: usize = 255;

/// A derivation path from the master key, e.g. `m/44'/7337'/0'/0/5`.
///
/// Text form: `m`, then `/`-separated decimal indices below 2^31, each optionally followed by
/// `'`, `h` or `H` for hardened. Display always uses `'`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DerivationPath(Vec<ChildNumber>);

impl DerivationPath {
    /// The empty path `m`.
    pub fn master() -> Self {
        Self(Vec::new())
    }

    pub fn from_children(children: Vec<ChildNumber>) -> Result<Self, HdError> {
        if children.len() > MAX_PATH_DEPTH {
            return Err(HdError::DepthOverflow);
        }
        Ok(Self(children))
    }

    pub fn children(&self) -> &[ChildNumber] {
        &self.0
    }
}

impl FromStr for DerivationPath {
    type Err = HdError;
    fn from_str(s: &str) -> Result<Self, HdError> {
        let mut parts = s.split('/');
        if parts.next() != Some("m") {
            return Err(HdError::InvalidPath { what: "must start with m" });
        }
        let mut children = Vec::new();
        for part in parts {
            if children.len() >= MAX_PATH_DEPTH {
                return Err(HdError::InvalidPath { what: "more than 255 levels" });
            }
            let (digits, hardened) = match part.strip_suffix(['\'', 'h', 'H']) {
                Some(d) => (d, true),
                None => (part, false),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HdError::InvalidPath { what: "index is not a decimal number" });
            }
            // "00" and "+1" would be second spellings of the same index.
            if digits.len() > 1 && digits.starts_with('0') {
                return Err(HdError::InvalidPath { what: "index has a leading zero" });
            }
            let index: u32 = digits
                .parse()
                .map_err(|_| HdError::InvalidPath { what: "index is not below 2^31" })?;
            let child =
                if hardened { ChildNumber::hardened(index) } else { ChildNumber::normal(index) };
            children
                .push(child.map_err(|_| HdError::InvalidPath { what: "index is not below 2^31" })?);
        }
        Ok(Self(children))
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for c in &self.0 {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// memecoin's wallet path
// ------------------------------------------------------------------------------------------

/// BIP-44 purpose level.
pub const WALLET_PURPOSE: u32 = 44;
/// memecoin's coin type (not registered in SLIP-44).
pub const WALLET_COIN_TYPE: u32 = 7337;
/// The chain level: memecoin has no change addresses, so it is always 0 (hardened).
pub const WALLET_CHAIN: u32 = 0;
/// memecoin's wallet path, for documentation and display. [`wallet_path`] builds it from
/// [`WALLET_PURPOSE`], [`WALLET_COIN_TYPE`] and [`WALLET_CHAIN`], and a test checks that the
/// two agree.
pub const WALLET_PATH: &str = "m/44'/7337'/{account}'/0'/{index}'";

/// `m/44'/7337'/{account}'/0'/{index}'`: memecoin's wallet path.
///
/// Every level is hardened, unlike BIP-44's normal chain and index levels: memecoin has no
/// watch-only `xpub` use, and hardening means a leaked child key together with an account
/// `xpub` cannot reveal the account's other keys. `account` and `index` must be below 2^31.
pub fn wallet_path(account: u32, index: u32) -> Result<DerivationPath, HdError> {
    DerivationPath::from_children(alloc::vec![
        ChildNumber::hardened(WALLET_PURPOSE)?,
        ChildNumber::hardened(WALLET_COIN_TYPE)?,
        ChildNumber::hardened(account)?,
        ChildNumber::hardened(WALLET_CHAIN)?,
        ChildNumber::hardened(index)?,
    ])
}

/// The signing key of wallet `account`, key `index`: the key at [`wallet_path`] under the
/// master key of `seed` (a BIP-39 seed from [`seed_from_phrase`]).
pub fn wallet_key(seed: &[u8; 64], account: u32, index: u32) -> Result<CoreSecretKey, HdError> {
    ExtendedKey::master(seed)?.derive_path(&wallet_path(account, index)?)?.secret_key()
}

// ------------------------------------------------------------------------------------------
// BIP-32 keys
// ------------------------------------------------------------------------------------------

/// Version bytes of a mainnet extended private key (`xprv`).
pub const XPRV_VERSION: u32 = 0x0488_ADE4;
/// Version bytes of a mainnet extended public key (`xpub`).
pub const XPUB_VERSION: u32 = 0x0488_B21E;
/// Bytes of a serialized extended key, before the 4-byte checksum.
pub const EXTENDED_KEY_SIZE: usize = 78;
/// Longest extended-key text accepted (82 bytes are at most 112 Base58 characters).
pub const MAX_EXTENDED_KEY_CHARS: usize = 112;

/// `HMAC-SHA512(key, data...)`.
fn hmac_sha512(key: &[u8], data: &[&[u8]]) -> ([u8; 32], [u8; 32]) {
    // HMAC accepts keys of any length: `new_from_slice` never fails for `Hmac`. The fallback
    // is a keyless MAC that no caller reaches.
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha512> as KeyInit>::new(&Default::default()));
    for d in data {
        mac.update(d);
    }
    let (il, ir) = mac.finalize().into_bytes().split::<hmac::digest::consts::U32>();
    (il.into(), ir.into())
}

/// `HASH160(data) = RIPEMD-160(SHA-256(data))`.
fn hash160(data: &[u8]) -> [u8; 20] {
    Ripemd160::digest(Sha256::digest(data)).into()
}

fn compressed(key: &PublicKey) -> [u8; 33] {
    memecoin_core::crypto::compress(key.as_affine())
}

fn fingerprint_of(key: &PublicKey) -> [u8; 4] {
    let [a, b, c, d, ..] = hash160(&compressed(key));
    [a, b, c, d]
}

/// `IL` as a scalar, or `None` when `IL >= n`.
fn scalar_from(bytes: [u8; 32]) -> Option<Scalar> {
    Scalar::from_repr(bytes.into()).into()
}

#[allow(clippy::arithmetic_side_effects)] // Addition mod n: it wraps by definition, never panics.
fn add_scalars(a: &Scalar, b: &Scalar) -> Scalar {
    a + b
}

#[allow(clippy::arithmetic_side_effects)] // Group operations: they cannot overflow or panic.
fn tweak_point(tweak: &Scalar, point: &PublicKey) -> ProjectivePoint {
    ProjectivePoint::GENERATOR * tweak + point.to_projective()
}

/// `parse256(IL) + k_par (mod n)`, refused when `IL >= n` or the sum is zero.
fn child_secret(
    il: [u8; 32],
    parent: &SecretKey,
    child: ChildNumber,
) -> Result<SecretKey, HdError> {
    let invalid = HdError::InvalidChild { index: child.to_u32() };
    let il = scalar_from(il).ok_or(invalid.clone())?;
    let sum = add_scalars(&il, parent.to_nonzero_scalar().as_ref());
    let sum: Option<NonZeroScalar<Secp256k1>> = NonZeroScalar::new(sum).into();
    Ok(SecretKey::from(sum.ok_or(invalid)?))
}

/// `point(parse256(IL)) + K_par`, refused when `IL >= n` or the sum is the point at infinity.
fn child_public(
    il: [u8; 32],
    parent: &PublicKey,
    child: ChildNumber,
) -> Result<PublicKey, HdError> {
    let invalid = HdError::InvalidChild { index: child.to_u32() };
    let il = scalar_from(il).ok_or(invalid.clone())?;
    // The point at infinity has no affine form: `from_affine` rejects it.
    PublicKey::from_affine(tweak_point(&il, parent).to_affine()).map_err(|_| invalid)
}

/// Position of a key in its tree, shared by private and public extended keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    depth: u8,
    parent_fingerprint: [u8; 4],
    child_number: ChildNumber,
    chain_code: [u8; 32],
}

impl Node {
    fn child(
        &self,
        parent_key: &PublicKey,
        child: ChildNumber,
        chain_code: [u8; 32],
    ) -> Result<Node, HdError> {
        Ok(Node {
            depth: self.depth.checked_add(1).ok_or(HdError::DepthOverflow)?,
            parent_fingerprint: fingerprint_of(parent_key),
            child_number: child,
            chain_code,
        })
    }

    fn serialize(&self, version: u32, key: &[u8; 33]) -> String {
        let mut out = Vec::with_capacity(EXTENDED_KEY_SIZE);
        out.extend_from_slice(&version.to_be_bytes());
        out.push(self.depth);
        out.extend_from_slice(&self.parent_fingerprint);
        out.extend_from_slice(&self.child_number.to_u32().to_be_bytes());
        out.extend_from_slice(&self.chain_code);
        out.extend_from_slice(key);
        let check = base58_checksum(&out);
        out.extend_from_slice(&check);
        bs58::encode(out).into_string()
    }
}

/// Base58Check's checksum: the first 4 bytes of SHA-256(SHA-256(data)). Computed here with our
/// sha2 rather than bs58's `check` feature, which would pull a second sha2 version.
fn base58_checksum(data: &[u8]) -> [u8; 4] {
    use sha2::{Digest, Sha256};
    let twice = Sha256::digest(Sha256::digest(data));
    let mut out = [0u8; 4];
    out.copy_from_slice(twice.get(..4).unwrap_or(&[0; 4]));
    out
}

/// A decoded, checked 78-byte extended key whose key data is not yet interpreted.
struct Raw {
    version: u32,
    node: Node,
    key: [u8; 33],
}

/// Decodes extended-key text and checks everything but the key data, in the order of
/// BIP-32's test vector 5: Base58, checksum, length, version, depth-0 rules.
fn decode(s: &str) -> Result<Raw, HdError> {
    if s.len() > MAX_EXTENDED_KEY_CHARS {
        return Err(HdError::KeyTextTooLong { chars: s.len() });
    }
    let mut data = bs58::decode(s).into_vec().map_err(|_| HdError::Base58)?;
    let body_len = data.len().checked_sub(4).ok_or(HdError::KeyChecksum)?;
    let check = data.split_off(body_len);
    if check.as_slice() != base58_checksum(&data) {
        return Err(HdError::KeyChecksum);
    }
    let bytes: &[u8; EXTENDED_KEY_SIZE] =
        data.as_slice().try_into().map_err(|_| HdError::KeyLength { len: data.len() })?;
    // 4 + 1 + 4 + 4 + 32 + 33 = 78: the destructuring is checked by the compiler.
    let [v0, v1, v2, v3, depth, f0, f1, f2, f3, c0, c1, c2, c3, rest @ ..] = *bytes;
    let mut chain_code = [0u8; 32];
    let mut key = [0u8; 33];
    for (dst, src) in chain_code.iter_mut().chain(key.iter_mut()).zip(rest) {
        *dst = src;
    }
    let version = u32::from_be_bytes([v0, v1, v2, v3]);
    if version != XPRV_VERSION && version != XPUB_VERSION {
        return Err(HdError::UnknownVersion { version });
    }
    let parent_fingerprint = [f0, f1, f2, f3];
    let child_number = ChildNumber::from_u32(u32::from_be_bytes([c0, c1, c2, c3]));
    if depth == 0 && parent_fingerprint != [0; 4] {
        return Err(HdError::ZeroDepthParent);
    }
    if depth == 0 && child_number.to_u32() != 0 {
        return Err(HdError::ZeroDepthIndex);
    }
    Ok(Raw { version, node: Node { depth, parent_fingerprint, child_number, chain_code }, key })
}

/// A BIP-32 extended private key: a secret key and a chain code at a place in a key tree.
/// `Debug` does not print the secret; the secret is zeroized on drop (k256 does it).
#[derive(Clone)]
pub struct ExtendedKey {
    node: Node,
    key: SecretKey,
}

impl ExtendedKey {
    /// The master key of `seed` (16 to 64 bytes): `I = HMAC-SHA512("Bitcoin seed", seed)`.
    pub fn master(seed: &[u8]) -> Result<Self, HdError> {
        if !(16..=64).contains(&seed.len()) {
            return Err(HdError::SeedLength { len: seed.len() });
        }
        let (il, ir) = hmac_sha512(b"Bitcoin seed", &[seed]);
        Self::master_from_hmac(il, ir)
    }

    /// The master key from `I = IL || IR`: `IL` is the key, `IR` the chain code.
    fn master_from_hmac(il: [u8; 32], ir: [u8; 32]) -> Result<Self, HdError> {
        let scalar: Option<NonZeroScalar<Secp256k1>> = NonZeroScalar::from_repr(il.into()).into();
        let scalar = scalar.ok_or(HdError::InvalidMasterKey)?;
        Ok(Self {
            node: Node {
                depth: 0,
                parent_fingerprint: [0; 4],
                child_number: ChildNumber::from_u32(0),
                chain_code: ir,
            },
            key: SecretKey::from(scalar),
        })
    }

    /// `CKDpriv`: the private child `child`, hardened or normal.
    pub fn derive_child(&self, child: ChildNumber) -> Result<Self, HdError> {
        let public = self.key.public_key();
        let index = child.to_u32().to_be_bytes();
        let (il, ir) = if child.is_hardened() {
            let secret: [u8; 32] = self.key.to_bytes().into();
            hmac_sha512(&self.node.chain_code, &[&[0], &secret, &index])
        } else {
            hmac_sha512(&self.node.chain_code, &[&compressed(&public), &index])
        };
        let key = child_secret(il, &self.key, child)?;
        Ok(Self { node: self.node.child(&public, child, ir)?, key })
    }

    /// Derives each child of `path` in turn.
    pub fn derive_path(&self, path: &DerivationPath) -> Result<Self, HdError> {
        let mut key = self.clone();
        for child in path.children() {
            key = key.derive_child(*child)?;
        }
        Ok(key)
    }

    /// `N((k, c))`: the extended public key with the same place in the tree.
    pub fn to_public(&self) -> ExtendedPublicKey {
        ExtendedPublicKey { node: self.node, key: self.key.public_key() }
    }

    /// The signing key.
    pub fn secret_key(&self) -> Result<CoreSecretKey, HdError> {
        let bytes: [u8; 32] = self.key.to_bytes().into();
        CoreSecretKey::from_bytes(&bytes).map_err(|_| HdError::InvalidPrivateKey)
    }

    /// The first 4 bytes of HASH160 of the public key.
    pub fn fingerprint(&self) -> [u8; 4] {
        fingerprint_of(&self.key.public_key())
    }

    pub fn depth(&self) -> u8 {
        self.node.depth
    }

    pub fn parent_fingerprint(&self) -> [u8; 4] {
        self.node.parent_fingerprint
    }

    pub fn child_number(&self) -> ChildNumber {
        self.node.child_number
    }

    pub fn chain_code(&self) -> &[u8; 32] {
        &self.node.chain_code
    }

    /// The `xprv...` text form.
    pub fn to_base58(&self) -> String {
        let mut data = [0u8; 33];
        let secret: [u8; 32] = self.key.to_bytes().into();
        for (d, s) in data.iter_mut().skip(1).zip(secret) {
            *d = s;
        }
        self.node.serialize(XPRV_VERSION, &data)
    }

    /// Parses `xprv...` text, enforcing every rule of BIP-32's test vector 5.
    pub fn from_base58(s: &str) -> Result<Self, HdError> {
        let raw = decode(s)?;
        if raw.version != XPRV_VERSION {
            return Err(HdError::ExpectedPrivate);
        }
        let [prefix, secret @ ..] = raw.key;
        if prefix != 0 {
            return Err(HdError::PrivateKeyPrefix { prefix });
        }
        let scalar: Option<NonZeroScalar<Secp256k1>> =
            NonZeroScalar::from_repr(secret.into()).into();
        let scalar = scalar.ok_or(HdError::InvalidPrivateKey)?;
        Ok(Self { node: raw.node, key: SecretKey::from(scalar) })
    }
}

impl fmt::Debug for ExtendedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtendedKey")
            .field("depth", &self.node.depth)
            .field("child_number", &self.node.child_number)
            .finish_non_exhaustive()
    }
}

/// A BIP-32 extended public key: a public key and a chain code at a place in a key tree.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtendedPublicKey {
    node: Node,
    key: PublicKey,
}

impl ExtendedPublicKey {
    /// `CKDpub`: the public child `child`; hardened children need the private key.
    pub fn derive_child(&self, child: ChildNumber) -> Result<Self, HdError> {
        if child.is_hardened() {
            return Err(HdError::HardenedFromPublic { index: child.to_u32() });
        }
        let (il, ir) = hmac_sha512(
            &self.node.chain_code,
            &[&compressed(&self.key), &child.to_u32().to_be_bytes()],
        );
        let key = child_public(il, &self.key, child)?;
        Ok(Self { node: self.node.child(&self.key, child, ir)?, key })
    }

    /// Derives each child of `path` in turn (all must be normal).
    pub fn derive_path(&self, path: &DerivationPath) -> Result<Self, HdError> {
        let mut key = self.clone();
        for child in path.children() {
            key = key.derive_child(*child)?;
        }
        Ok(key)
    }

    /// The public key, in core's type.
    pub fn public_key(&self) -> Result<CorePublicKey, HdError> {
        CorePublicKey::from_sec1(&compressed(&self.key)).map_err(|_| HdError::InvalidPublicKey)
    }

    /// The first 4 bytes of HASH160 of the public key.
    pub fn fingerprint(&self) -> [u8; 4] {
        fingerprint_of(&self.key)
    }

    pub fn depth(&self) -> u8 {
        self.node.depth
    }

    pub fn parent_fingerprint(&self) -> [u8; 4] {
        self.node.parent_fingerprint
    }

    pub fn child_number(&self) -> ChildNumber {
        self.node.child_number
    }

    pub fn chain_code(&self) -> &[u8; 32] {
        &self.node.chain_code
    }

    /// The `xpub...` text form.
    pub fn to_base58(&self) -> String {
        self.node.serialize(XPUB_VERSION, &compressed(&self.key))
    }

    /// Parses `xpub...` text, enforcing every rule of BIP-32's test vector 5.
    pub fn from_base58(s: &str) -> Result<Self, HdError> {
        let raw = decode(s)?;
        if raw.version != XPUB_VERSION {
            return Err(HdError::ExpectedPublic);
        }
        let [prefix, ..] = raw.key;
        if !matches!(prefix, 2 | 3) {
            return Err(HdError::PublicKeyPrefix { prefix });
        }
        let key = PublicKey::from_sec1_bytes(&raw.key).map_err(|_| HdError::InvalidPublicKey)?;
        Ok(Self { node: raw.node, key })
    }
}

impl fmt::Debug for ExtendedPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExtendedPublicKey({})", self.to_base58())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                           abandon abandon about";

    fn seed() -> [u8; 64] {
        seed_from_phrase(&parse_phrase(ABANDON).unwrap(), "")
    }

    fn path(s: &str) -> Result<DerivationPath, HdError> {
        s.parse()
    }

    /// `n - k` as 32 big-endian bytes: the `IL` that makes a child key zero.
    fn negated(k: &SecretKey) -> [u8; 32] {
        (-*k.to_nonzero_scalar().as_ref()).to_repr().into()
    }

    /// The group order `n`, the smallest `IL` that is out of range.
    const ORDER: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];

    #[test]
    fn word_list_is_the_bips_english_txt() {
        assert_eq!(
            Sha256::digest(ENGLISH.as_bytes()).as_slice(),
            hex::decode("2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda")
                .unwrap()
        );
        assert_eq!(ENGLISH.lines().count(), 2048);
        assert_eq!((word(0), word(2047)), ("abandon", "zoo"));
        assert_eq!(
            (word_index("abandon"), word_index("zoo"), word_index("zzz")),
            (Some(0), Some(2047), None)
        );
    }

    #[test]
    fn phrase_errors() {
        assert_eq!(phrase_from_entropy(&[0; 15]), Err(HdError::EntropyLength { len: 15 }));
        assert_eq!(phrase_from_entropy(&[0; 20]), Err(HdError::EntropyLength { len: 20 }));
        assert_eq!(phrase_from_entropy(&[0; 16]).unwrap(), ABANDON);
        assert_eq!(phrase_from_entropy(&[0; 32]).unwrap().split(' ').count(), 24);
        assert_eq!(parse_phrase("abandon abandon about"), Err(HdError::WordCount { count: 3 }));
        assert_eq!(parse_phrase(""), Err(HdError::WordCount { count: 0 }));
        let thirteen = [ABANDON, "about"].join(" ");
        assert_eq!(parse_phrase(&thirteen), Err(HdError::WordCount { count: 13 }));
        let unknown = ABANDON.replacen("abandon", "abandun", 1).replacen("abandon", "x", 1);
        assert_eq!(parse_phrase(&unknown), Err(HdError::UnknownWord { index: 0 }));
        // People count words from 1: the 12th word of a 12-word phrase is "word 12".
        let last = ABANDON.replace("about", "abuot");
        assert_eq!(parse_phrase(&last), Err(HdError::UnknownWord { index: 11 }));
        assert_eq!(HdError::UnknownWord { index: 11 }.to_string(), "word 12 is not a BIP-39 word");
        let bad_sum = ABANDON.replace("about", "abandon");
        assert_eq!(parse_phrase(&bad_sum), Err(HdError::PhraseChecksum));
    }

    #[test]
    fn phrase_accepts_extra_whitespace_and_hides_words_in_debug() {
        let p = parse_phrase(&ABANDON.replace(' ', "  \n")).unwrap();
        assert_eq!(p.to_string(), ABANDON);
        assert_eq!(p.to_entropy(), [0u8; 16]);
        assert_eq!(format!("{p:?}"), "Phrase(12 words)");
        assert_eq!(ABANDON.parse::<Phrase>(), Ok(p));
    }

    #[test]
    fn seed_and_master_key_errors() {
        assert_eq!(ExtendedKey::master(&[0; 15]).err(), Some(HdError::SeedLength { len: 15 }));
        assert_eq!(ExtendedKey::master(&[0; 65]).err(), Some(HdError::SeedLength { len: 65 }));
        assert!(ExtendedKey::master(&[0; 16]).is_ok());
        assert!(ExtendedKey::master(&[0; 64]).is_ok());
        let zero = ExtendedKey::master_from_hmac([0; 32], [1; 32]);
        assert_eq!(zero.err(), Some(HdError::InvalidMasterKey));
        let n = ExtendedKey::master_from_hmac(ORDER, [1; 32]);
        assert_eq!(n.err(), Some(HdError::InvalidMasterKey));
    }

    #[test]
    fn invalid_children_are_refused() {
        let master = ExtendedKey::master(&seed()).unwrap();
        let child = ChildNumber::normal(7).unwrap();
        let invalid = Some(HdError::InvalidChild { index: 7 });
        // IL >= n.
        assert_eq!(child_secret(ORDER, &master.key, child).err(), invalid);
        assert_eq!(child_public(ORDER, &master.key.public_key(), child).err(), invalid);
        // IL = n - k: the child key is zero, the child point is at infinity.
        let il = negated(&master.key);
        assert_eq!(child_secret(il, &master.key, child).err(), invalid);
        assert_eq!(child_public(il, &master.key.public_key(), child).err(), invalid);
        // IL = 0 is allowed: the child is the parent.
        assert_eq!(
            child_secret([0; 32], &master.key, child).unwrap().to_bytes(),
            master.key.to_bytes()
        );
    }

    #[test]
    fn hardened_from_public_index_range_and_depth() {
        let xpub = ExtendedKey::master(&seed()).unwrap().to_public();
        let h = ChildNumber::hardened(0).unwrap();
        assert_eq!(xpub.derive_child(h), Err(HdError::HardenedFromPublic { index: HARDENED }));
        assert_eq!(
            ChildNumber::normal(HARDENED),
            Err(HdError::IndexOutOfRange { index: HARDENED })
        );
        assert_eq!(
            ChildNumber::hardened(u32::MAX),
            Err(HdError::IndexOutOfRange { index: u32::MAX })
        );
        assert_eq!(ChildNumber::hardened(5).unwrap().to_u32(), HARDENED | 5);
        assert_eq!(ChildNumber::hardened(5).unwrap().index(), 5);

        let mut deep = ExtendedKey::master(&seed()).unwrap();
        deep.node.depth = u8::MAX;
        let one = ChildNumber::normal(1).unwrap();
        assert_eq!(deep.derive_child(one).err(), Some(HdError::DepthOverflow));
        assert_eq!(deep.to_public().derive_child(one).err(), Some(HdError::DepthOverflow));
        let too_long = alloc::vec![one; MAX_PATH_DEPTH + 1];
        assert_eq!(DerivationPath::from_children(too_long), Err(HdError::DepthOverflow));
    }

    #[test]
    fn paths_parse_and_print() {
        let p = path("m/44'/7337h/0H/0/5").unwrap();
        assert_eq!(p.to_string(), "m/44'/7337'/0'/0/5");
        assert_eq!(path(&p.to_string()), Ok(p));
        assert_eq!(path("m"), Ok(DerivationPath::master()));
        assert_eq!(path("m/2147483647'").unwrap().children()[0].to_u32(), u32::MAX);
        let bad = |s: &str, what: &'static str| {
            assert_eq!(path(s), Err(HdError::InvalidPath { what }), "{s:?}");
        };
        bad("", "must start with m");
        bad("M/1", "must start with m");
        bad("1/2", "must start with m");
        bad("m/", "index is not a decimal number");
        bad("m/1/", "index is not a decimal number");
        bad("m//1", "index is not a decimal number");
        bad("m/'", "index is not a decimal number");
        bad("m/1''", "index is not a decimal number");
        bad("m/-1", "index is not a decimal number");
        bad("m/+1", "index is not a decimal number");
        bad("m/ 1", "index is not a decimal number");
        bad("m/1x", "index is not a decimal number");
        bad("m/01", "index has a leading zero");
        bad("m/2147483648", "index is not below 2^31");
        bad("m/2147483648'", "index is not below 2^31");
        bad("m/99999999999", "index is not below 2^31");
        let deep = core::iter::once("m").chain(core::iter::repeat_n("1", 256)).collect::<Vec<_>>();
        bad(&deep.join("/"), "more than 255 levels");
        let max = core::iter::once("m").chain(core::iter::repeat_n("1", 255)).collect::<Vec<_>>();
        assert_eq!(path(&max.join("/")).unwrap().children().len(), MAX_PATH_DEPTH);
    }

    #[test]
    fn extended_key_text_errors() {
        let master = ExtendedKey::master(&seed()).unwrap();
        let xprv = master.to_base58();
        let xpub = master.to_public().to_base58();
        assert_eq!(ExtendedKey::from_base58(&xpub).err(), Some(HdError::ExpectedPrivate));
        assert_eq!(ExtendedPublicKey::from_base58(&xprv).err(), Some(HdError::ExpectedPublic));
        let long = "1".repeat(MAX_EXTENDED_KEY_CHARS + 1);
        assert_eq!(
            ExtendedKey::from_base58(&long).err(),
            Some(HdError::KeyTextTooLong { chars: MAX_EXTENDED_KEY_CHARS + 1 })
        );
        assert_eq!(ExtendedKey::from_base58("xprv0OIl").err(), Some(HdError::Base58));
        assert_eq!(ExtendedKey::from_base58("").err(), Some(HdError::KeyChecksum));
        let with_check = |b: &[u8]| {
            let mut v = b.to_vec();
            v.extend_from_slice(&base58_checksum(b));
            bs58::encode(v).into_string()
        };
        let short = with_check(&[0u8; 77]);
        assert_eq!(ExtendedKey::from_base58(&short).err(), Some(HdError::KeyLength { len: 77 }));
        let mut bytes = bs58::decode(&xprv).into_vec().unwrap();
        bytes.truncate(bytes.len() - 4);
        bytes[3] ^= 1;
        let other = with_check(&bytes);
        assert_eq!(
            ExtendedKey::from_base58(&other).err(),
            Some(HdError::UnknownVersion { version: XPRV_VERSION ^ 1 })
        );
        // Round trips.
        assert_eq!(ExtendedKey::from_base58(&xprv).unwrap().to_base58(), xprv);
        assert_eq!(ExtendedPublicKey::from_base58(&xpub).unwrap().to_base58(), xpub);
        assert!(!format!("{master:?}").contains(&xprv[4..20]));
    }

    #[test]
    fn public_derivation_matches_private() {
        let master = ExtendedKey::master(&seed()).unwrap();
        let p = path("m/0/1/2").unwrap();
        let via_private = master.derive_path(&p).unwrap().to_public();
        let via_public = master.to_public().derive_path(&p).unwrap();
        assert_eq!(via_private, via_public);
        assert_eq!(via_public.depth(), 3);
        assert_eq!(via_public.child_number(), ChildNumber::normal(2).unwrap());
        let parent = master.derive_path(&path("m/0/1").unwrap()).unwrap();
        assert_eq!(via_public.parent_fingerprint(), parent.fingerprint());
    }

    #[test]
    fn wallet_path_is_the_documented_one() {
        let p = wallet_path(3, 9).unwrap();
        assert_eq!(p.to_string(), WALLET_PATH.replace("{account}", "3").replace("{index}", "9"));
        assert!(p.children().iter().all(|c| c.is_hardened()));
        assert_eq!(wallet_path(HARDENED, 0), Err(HdError::IndexOutOfRange { index: HARDENED }));
        assert_eq!(wallet_path(0, HARDENED), Err(HdError::IndexOutOfRange { index: HARDENED }));
    }

    #[test]
    fn wallet_key_is_deterministic_and_separated() {
        let s = seed();
        let k = wallet_key(&s, 0, 5).unwrap();
        assert_eq!(k.to_bytes(), wallet_key(&s, 0, 5).unwrap().to_bytes());
        let by_text = ExtendedKey::master(&s)
            .unwrap()
            .derive_path(&path("m/44'/7337'/0'/0'/5'").unwrap())
            .unwrap();
        assert_eq!(k.to_bytes(), by_text.secret_key().unwrap().to_bytes());
        assert_ne!(k.to_bytes(), wallet_key(&s, 0, 6).unwrap().to_bytes());
        assert_ne!(k.to_bytes(), wallet_key(&s, 1, 5).unwrap().to_bytes());
        let other = seed_from_phrase(&parse_phrase(ABANDON).unwrap(), "TREZOR");
        assert_ne!(k.to_bytes(), wallet_key(&other, 0, 5).unwrap().to_bytes());
        assert_eq!(
            wallet_key(&s, 0, HARDENED).map(|k| k.to_bytes()),
            Err(HdError::IndexOutOfRange { index: HARDENED })
        );
        // Pinned: a change of path, KDF or derivation shows up here.
        assert_eq!(
            hex::encode(k.to_bytes()),
            "f9bf206d4e085cfa9dfd26bbc7a0c982fb8dfdffd5551f0f240113548fe3ddaa"
        );
    }
}
