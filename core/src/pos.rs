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

    /// The `k`-th reveal, or `None` once the chain is used up.
    pub fn reveal(&self, k: u64) -> Option<Hash> {
        if k == 0 || k > self.length {
            return None;
        }
        Some(self.nth(self.length.checked_sub(k)?))
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
}
