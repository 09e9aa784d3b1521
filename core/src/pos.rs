//! Proof of stake: validator sets, stake-weighted proposer election, commit-reveal randomness and
//! the slot clock.
//!
//! **Election.** In slot `s` of an epoch whose set has seed `seed` and members sorted by public
//! key with stakes `w_i` (total `W`): `r = first 16 bytes of tagged_hash("memecoin/proposer",
//! seed || s)` read as a big-endian u128; `x = r mod W`; the proposer is the first member whose
//! running stake sum exceeds `x`. The bias of `mod W` is below `W / 2^128`.
//!
//! **Seed.** Each validator commits to the end of a hash chain `c = H^n(secret)` when it stakes
//! (`H = tagged_hash("memecoin/reveal", .)`) and reveals the previous element in each block it
//! proposes (`H(reveal) == commitment`; the reveal becomes its new commitment). The running mix
//! is `mix' = tagged_hash("memecoin/randao-mix", mix || reveal)`. A proposer can only choose
//! between revealing (its one possible value) and missing its slot; it cannot grind, unlike a
//! seed taken from ECDSA signatures, which the signer can re-roll at will. At each epoch
//! boundary the current mix becomes the seed of the set snapshotted for the epoch after next.

use crate::crypto::PublicKey;
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::hash::{Domain, Hash, hash_encoded, tagged_hash};
use crate::params::Params;
use alloc::vec::Vec;

/// One validator with its bonded stake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub key: PublicKey,
    pub stake: u64,
}

/// The validators of one epoch, with the seed that elects its proposers. Members are sorted by
/// public key, distinct, each with non-zero stake; the total fits in a u64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
    pub seed: Hash,
    members: Vec<Member>,
    total: u64,
}

/// Why a validator set is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetError {
    Empty,
    Unsorted,
    ZeroStake,
    TotalOverflow,
    TooMany { count: usize },
}

impl core::fmt::Display for SetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Empty => f.write_str("validator set is empty"),
            Self::Unsorted => f.write_str("validator keys are not strictly increasing"),
            Self::ZeroStake => f.write_str("a validator has zero stake"),
            Self::TotalOverflow => f.write_str("total stake overflows a u64"),
            Self::TooMany { count } => {
                write!(f, "{count} validators, at most {} allowed", Params::MAX_VALIDATORS)
            }
        }
    }
}

impl core::error::Error for SetError {}

impl ValidatorSet {
    /// Builds a set, sorting members by key; rejects duplicates, zero stakes and overflow.
    pub fn new(seed: Hash, mut members: Vec<Member>) -> Result<Self, SetError> {
        // Unstable is enough: equal keys are refused below, whatever their order.
        members.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Self::from_sorted(seed, members)
    }

    fn from_sorted(seed: Hash, members: Vec<Member>) -> Result<Self, SetError> {
        if members.is_empty() {
            return Err(SetError::Empty);
        }
        if members.len() > Params::MAX_VALIDATORS as usize {
            return Err(SetError::TooMany { count: members.len() });
        }
        if members.windows(2).any(|w| matches!(w, [a, b] if a.key >= b.key)) {
            return Err(SetError::Unsorted);
        }
        if members.iter().any(|m| m.stake == 0) {
            return Err(SetError::ZeroStake);
        }
        let total = members
            .iter()
            .try_fold(0u64, |acc, m| acc.checked_add(m.stake))
            .ok_or(SetError::TotalOverflow)?;
        Ok(ValidatorSet { seed, members, total })
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn total_stake(&self) -> u64 {
        self.total
    }

    pub fn hash(&self) -> Hash {
        hash_encoded(Domain::ValidatorSet, self)
    }

    pub fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.members.binary_search_by(|m| m.key.cmp(key)).ok()
    }

    /// The same members under a new seed.
    pub fn with_seed(&self, seed: Hash) -> Self {
        ValidatorSet { seed, ..self.clone() }
    }

    /// The member elected to propose in `slot`.
    pub fn proposer(&self, slot: u64) -> Option<&Member> {
        let r = tagged_hash(Domain::Proposer, &[self.seed.as_bytes(), &slot.to_be_bytes()]);
        let mut top = [0u8; 16];
        top.copy_from_slice(r.0.get(..16)?);
        let x = u128::from_be_bytes(top).checked_rem(u128::from(self.total))?;
        let mut running: u128 = 0;
        for m in &self.members {
            running = running.checked_add(u128::from(m.stake))?;
            if x < running {
                return Some(m);
            }
        }
        None
    }
}

impl Encode for Member {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.key.encode_to(out);
        out.put_u64(self.stake);
    }
}

impl Encode for ValidatorSet {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.seed.encode_to(out);
        out.put_list(&self.members);
    }
}

impl Decode for ValidatorSet {
    const MAX_SIZE: usize = 32 + 4 + 41 * Params::MAX_VALIDATORS as usize;
    const NAME: &'static str = "validator set";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let seed = Hash::decode_from(r)?;
        let members = r.list("validators", Params::MAX_VALIDATORS, 41, |r| {
            Ok(Member { key: PublicKey::decode_from(r)?, stake: r.u64()? })
        })?;
        Self::from_sorted(seed, members).map_err(|e| match e {
            SetError::Unsorted => DecodeError::NonCanonical { what: "validator order" },
            _ => DecodeError::Invalid { what: "validator set" },
        })
    }
}

/// One step of the commit-reveal chain: `H(x)`.
pub fn reveal_step(x: &Hash) -> Hash {
    tagged_hash(Domain::Reveal, &[x.as_bytes()])
}

/// Whether `reveal` opens `commitment`.
pub fn opens(commitment: &Hash, reveal: &Hash) -> bool {
    reveal_step(reveal) == *commitment
}

/// Mixes a reveal into the running randomness.
pub fn mix(mix: &Hash, reveal: &Hash) -> Hash {
    tagged_hash(Domain::RandaoMix, &[mix.as_bytes(), reveal.as_bytes()])
}

/// A validator's commit-reveal hash chain: `commitment = H^length(secret)`, and the `k`-th reveal
/// (k = 1, 2, ...) is `H^(length - k)(secret)`. The secret comes from the caller (core has no
/// randomness); `length` bounds how many blocks the validator can propose before re-committing.
#[derive(Clone)]
pub struct HashChain {
    secret: Hash,
    length: u64,
}

impl core::fmt::Debug for HashChain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HashChain {{ length: {} }}", self.length)
    }
}

impl HashChain {
    pub fn new(secret: Hash, length: u64) -> Self {
        HashChain { secret, length }
    }

    fn nth(&self, n: u64) -> Hash {
        let mut x = self.secret;
        for _ in 0..n {
            x = reveal_step(&x);
        }
        x
    }

    pub fn commitment(&self) -> Hash {
        self.nth(self.length)
    }

    /// The element whose hash is `commitment`: the reveal that opens it. One walk from the
    /// secret, O(length); `None` if `commitment` is not on this chain.
    pub fn preimage_of(&self, commitment: &Hash) -> Option<Hash> {
        let mut x = self.secret;
        for _ in 0..self.length {
            let next = reveal_step(&x);
            if next == *commitment {
                return Some(x);
            }
            x = next;
        }
        None
    }

    /// Generation `generation` of this chain, which is generation 0: the chain a validator renews
    /// to (PROTOCOL.md §9.3), of the same length, with secret `tagged_hash("memecoin/reveal",
    /// "memecoin hash chain renewal" || secret || u64_be(generation))`. Derived, so a key file
    /// or a recovery phrase that gives generation 0 gives every later one, and nothing new has
    /// to be saved or backed up when a chain is renewed.
    pub fn renewal(&self, generation: u64) -> HashChain {
        if generation == 0 {
            return self.clone();
        }
        let secret = tagged_hash(
            Domain::Reveal,
            &[b"memecoin hash chain renewal", self.secret.as_bytes(), &generation.to_be_bytes()],
        );
        HashChain { secret, length: self.length }
    }

    /// The hash chain of a validator key from a recovery phrase (the wallet's Stake screen
    /// registers it): secret `tagged_hash("memecoin/reveal", "memecoin wallet hash chain" ||
    /// secret key)`, [`HashChain::WALLET_LENGTH`] steps. The same phrase always gives the same
    /// chain, and its renewals, so a relay run with that key finds them.
    pub fn wallet(key: &crate::crypto::SecretKey) -> HashChain {
        HashChain { secret: Self::wallet_secret(key), length: Self::WALLET_LENGTH }
    }

    /// The secret of [`HashChain::wallet`], for a validator key file made from a phrase.
    pub fn wallet_secret(key: &crate::crypto::SecretKey) -> Hash {
        tagged_hash(Domain::Reveal, &[b"memecoin wallet hash chain", &key.to_bytes()])
    }

    /// Length of a wallet key's chain.
    pub const WALLET_LENGTH: u64 = 100_000;

    pub fn length(&self) -> u64 {
        self.length
    }

    /// The `k`-th reveal, or `None` once the chain is used up.
    pub fn reveal(&self, k: u64) -> Option<Hash> {
        if k == 0 || k > self.length {
            return None;
        }
        Some(self.nth(self.length.checked_sub(k)?))
    }
}

/// A [`HashChain`] indexed for proposing: every [`Reveals::STRIDE`]-th element is kept, and
/// looked up by value. Hashing forward from a commitment on the chain reaches a kept element
/// (or the top) within `STRIDE` steps, which gives the commitment's index, and the preimage is
/// then at most `STRIDE` steps above the kept element below it: any lookup, a miss included,
/// costs at most `2 × STRIDE` hashes instead of a walk from the secret, O(length) (10^6 hashes
/// for a default chain, which the relay did under its node lock at every proposal). Building
/// it is that walk, once; it keeps `length / STRIDE + 2` hashes (about 70 KiB for 10^6).
#[derive(Clone)]
pub struct Reveals {
    /// The chain's length: the index of its top element.
    length: u64,
    /// `marks[j]` = `H^(j × STRIDE)(secret)`.
    marks: Vec<Hash>,
    /// Every kept element and the top (the commitment), with its index, sorted by hash.
    index: Vec<(Hash, u64)>,
}

impl core::fmt::Debug for Reveals {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The first kept element is the secret: never printed.
        write!(f, "Reveals {{ length: {}, kept: {} }}", self.length, self.marks.len())
    }
}

impl Reveals {
    /// Elements between two kept ones.
    pub const STRIDE: u64 = 1024;

    /// Indexes `chain`: one walk over it.
    pub fn new(chain: &HashChain) -> Self {
        let mut marks = Vec::new();
        let mut index = Vec::new();
        let mut x = chain.secret;
        for i in 0..=chain.length {
            if i % Self::STRIDE == 0 {
                marks.push(x);
                index.push((x, i));
            } else if i == chain.length {
                index.push((x, i));
            }
            if i < chain.length {
                x = reveal_step(&x);
            }
        }
        index.sort_unstable();
        Reveals { length: chain.length, marks, index }
    }

    /// The element at index `n`, `H^n(secret)`: from the kept one at or below it.
    fn at(&self, n: u64) -> Option<Hash> {
        let mark = usize::try_from(n / Self::STRIDE).ok()?;
        let mut x = *self.marks.get(mark)?;
        for _ in 0..n % Self::STRIDE {
            x = reveal_step(&x);
        }
        Some(x)
    }

    /// The index of `x` on the chain: hashed forward until it is a kept element or the top.
    fn index_of(&self, x: &Hash) -> Option<u64> {
        let mut y = *x;
        for steps in 0..=Self::STRIDE {
            if let Ok(at) = self.index.binary_search_by(|(h, _)| h.cmp(&y)) {
                let (_, i) = self.index.get(at)?;
                return i.checked_sub(steps);
            }
            y = reveal_step(&y);
        }
        None
    }

    /// The chain's length: the reveals it held when registered.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// How many reveals are left after `commitment` (its index on the chain: 0 for the secret,
    /// the chain's length for its first commitment); `None` if it is not on the chain.
    pub fn remaining(&self, commitment: &Hash) -> Option<u64> {
        let i = self.index_of(commitment)?;
        // Checked, not assumed, as in `preimage_of`.
        (self.at(i)? == *commitment).then_some(i)
    }

    /// The element whose hash is `commitment`, as [`HashChain::preimage_of`] finds it.
    /// `None` if `commitment` is not on the chain, or is its secret.
    pub fn preimage_of(&self, commitment: &Hash) -> Option<Hash> {
        let i = self.index_of(commitment)?;
        let preimage = self.at(i.checked_sub(1)?)?;
        // Checked, not assumed: a value that merely hashes forward onto the chain is not on it.
        (reveal_step(&preimage) == *commitment).then_some(preimage)
    }
}

/// The slot in progress at `now_ms` (Unix milliseconds), or `None` before genesis.
pub fn slot_at(genesis_time_ms: u64, slot_ms: u64, now_ms: u64) -> Option<u64> {
    now_ms.checked_sub(genesis_time_ms)?.checked_div(slot_ms)
}

/// Unix milliseconds at which `slot` starts.
pub fn slot_start(genesis_time_ms: u64, slot_ms: u64, slot: u64) -> Option<u64> {
    slot.checked_mul(slot_ms)?.checked_add(genesis_time_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_chain_reveals_open_commitments_in_turn() {
        let chain = HashChain::new(Hash([7; 32]), 50);
        let mut commitment = chain.commitment();
        for k in 1..=50 {
            let r = chain.reveal(k).unwrap();
            assert!(opens(&commitment, &r));
            assert_eq!(chain.preimage_of(&commitment), Some(r));
            commitment = r;
        }
        assert_eq!(chain.reveal(51), None);
        assert_eq!(chain.preimage_of(&commitment), None, "the secret has no preimage");
    }

    #[test]
    fn reveals_finds_what_the_chain_walk_finds() {
        let length = 2 * Reveals::STRIDE + 17;
        let chain = HashChain::new(Hash([9; 32]), length);
        let reveals = Reveals::new(&chain);
        // In turn from the top, then around and across kept elements (indices 1024, 2048),
        // in any order (a proposal on another branch may need an older or newer reveal).
        let mut commitment = chain.commitment();
        for k in 1..=40 {
            let r = reveals.preimage_of(&commitment).unwrap();
            assert_eq!(Some(r), chain.reveal(k), "reveal {k}");
            commitment = r;
        }
        for k in [length, length - 1, 18, 17, 16, 19, 1024, 1023, 1025, 2048, 2047, 1, 2] {
            let commitment = chain.reveal(k - 1).unwrap_or_else(|| chain.commitment());
            let want = chain.reveal(k);
            assert_eq!(reveals.preimage_of(&commitment), want, "reveal {k}");
            assert_eq!(chain.preimage_of(&commitment), want, "walk, reveal {k}");
        }
        // Not on the chain, and the secret: no preimage.
        assert_eq!(reveals.preimage_of(&Hash([1; 32])), None);
        assert_eq!(reveals.preimage_of(&chain.reveal(length).unwrap()), None);
        assert!(!format!("{reveals:?}").contains(&Hash([9; 32]).to_hex()), "the secret printed");
        for length in [0, 1, Reveals::STRIDE - 1, Reveals::STRIDE, Reveals::STRIDE + 1] {
            let chain = HashChain::new(Hash([3; 32]), length);
            let reveals = Reveals::new(&chain);
            let top = chain.commitment();
            assert_eq!(reveals.preimage_of(&top), chain.preimage_of(&top), "length {length}");
            let bottom = chain.reveal(length.saturating_sub(1)).unwrap_or(top);
            assert_eq!(reveals.preimage_of(&bottom), chain.preimage_of(&bottom), "length {length}");
        }
    }
}
