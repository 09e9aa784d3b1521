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

/// A [`HashChain`] indexed for proposing: every [`Reveals::STRIDE`]-th element is kept, and where
/// the last preimage was found. A validator's commitment moves one step down the chain per
/// block it proposes, so the next preimage is found from the nearest kept element below it in
/// at most `STRIDE + 2 × WINDOW` steps, instead of a walk from the secret, O(length): 10^6
/// hashes for a default chain, under the relay's node lock, every proposal. Building it is that
/// walk, once; it keeps `length / STRIDE + 1` hashes (31 KiB for 10^6).
#[derive(Clone, Debug)]
pub struct Reveals {
    chain: HashChain,
    /// `marks[j]` = `H^(j × STRIDE)(secret)`.
    marks: Vec<Hash>,
    /// The index `i` of the last preimage found (`H^(i+1)(secret)` was the commitment).
    last: Option<u64>,
}

impl Reveals {
    /// Elements between two kept ones.
    pub const STRIDE: u64 = 1024;
    /// How far from the last preimage the next is looked for first, either way: a proposal on
    /// another branch may find our commitment a few reveals behind or ahead of this one's.
    pub const WINDOW: u64 = 64;

    /// Indexes `chain`: one walk over it.
    pub fn new(chain: HashChain) -> Self {
        let mut marks = Vec::new();
        let mut x = chain.secret;
        for i in 0..=chain.length {
            if i % Self::STRIDE == 0 {
                marks.push(x);
            }
            if i < chain.length {
                x = reveal_step(&x);
            }
        }
        Reveals { chain, marks, last: None }
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

    /// Looks for the preimage of `commitment` at indices `from..to`; remembers where it was.
    fn search(&mut self, commitment: &Hash, from: u64, to: u64) -> Option<Hash> {
        let mut x = self.at(from)?;
        for i in from..to.min(self.chain.length) {
            let next = reveal_step(&x);
            if next == *commitment {
                self.last = Some(i);
                return Some(x);
            }
            x = next;
        }
        None
    }

    /// The element whose hash is `commitment`, as [`HashChain::preimage_of`]: near the last
    /// one found first, then over the whole chain. `None` if `commitment` is not on it.
    pub fn preimage_of(&mut self, commitment: &Hash) -> Option<Hash> {
        if let Some(last) = self.last {
            let from = last.saturating_sub(Self::WINDOW);
            let near = self.search(commitment, from, last.saturating_add(Self::WINDOW));
            if near.is_some() {
                return near;
            }
        }
        self.search(commitment, 0, self.chain.length)
    }

    /// The chain indexed.
    pub fn chain(&self) -> &HashChain {
        &self.chain
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
        let mut reveals = Reveals::new(chain.clone());
        // In turn from the top, across a kept element (index 2048) and past the window.
        let mut commitments = vec![chain.commitment()];
        for _ in 0..200 {
            let commitment = *commitments.last().unwrap();
            let r = reveals.preimage_of(&commitment).unwrap();
            assert!(opens(&commitment, &r));
            commitments.push(r);
        }
        for k in [1, 17, 18, 200] {
            assert_eq!(Some(commitments[k as usize]), chain.reveal(k), "reveal {k}");
        }
        // Another branch, where we proposed fewer blocks: a few reveals back, then on again.
        let behind = commitments[195];
        assert_eq!(reveals.preimage_of(&behind), Some(commitments[196]));
        let newest = commitments[200];
        assert_eq!(reveals.preimage_of(&newest), chain.reveal(201));
        // Far from the last (beyond the window): the whole chain is searched.
        let deep = chain.reveal(length - 5).unwrap();
        assert_eq!(reveals.preimage_of(&deep), chain.preimage_of(&deep));
        assert_eq!(reveals.preimage_of(&commitments[1]), chain.reveal(2));
        // Not on the chain, and the secret: no preimage.
        assert_eq!(reveals.preimage_of(&Hash([1; 32])), None);
        assert_eq!(reveals.preimage_of(&chain.reveal(length).unwrap()), None);
        let empty = HashChain::new(Hash([9; 32]), 0);
        assert_eq!(Reveals::new(empty.clone()).preimage_of(&empty.commitment()), None);
    }
}
