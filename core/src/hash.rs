//! SHA-256 with a domain tag per object type.
//!
//! `tagged_hash(domain, data) = SHA-256(SHA-256(tag) || SHA-256(tag) || data)` where `tag` is the
//! ASCII name of the domain (BIP-340's construction). Two objects of different types can never
//! hash alike, even if their bytes are equal.

use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use alloc::vec::Vec;
use core::fmt;
use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 output.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, the text form used in PROTOCOL.md, vectors and the API.
    pub fn to_hex(&self) -> alloc::string::String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Self, DecodeError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| DecodeError::Invalid { what: "hash hex" })?;
        Ok(Hash(out))
    }

    /// Bit `i` (0 = most significant bit of byte 0), used to walk the state tree.
    pub fn bit(&self, i: usize) -> bool {
        let byte = self.0.get(i / 8).copied().unwrap_or(0);
        // i % 8 <= 7, so the shift is 0..=7.
        let shift = 7u32.saturating_sub((i % 8) as u32);
        (byte >> shift) & 1 == 1
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Encode for Hash {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_raw(&self.0);
    }
}

impl Decode for Hash {
    const MAX_SIZE: usize = 32;
    const NAME: &'static str = "hash";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Hash(r.array()?))
    }
}

/// Every hashing domain of the protocol. The tag string is what gets hashed; PROTOCOL.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Chain id: hash of the canonical genesis spec.
    Genesis,
    /// Transaction id: hash of the unsigned transaction.
    Tx,
    /// Block id: hash of the unsigned header.
    Header,
    /// A finality vote.
    Vote,
    /// Leaf of the transactions Merkle tree.
    TxLeaf,
    /// Inner node of the transactions Merkle tree.
    TxNode,
    /// Leaf of the state tree (an account).
    StateLeaf,
    /// Inner node of the state tree.
    StateNode,
    /// State-tree key of an address.
    StateKey,
    /// State-tree key of an entry of a release queue.
    ReleaseKey,
    /// The chain-wide part of the state (epochs, validator sets, finality, supply).
    ChainMeta,
    /// The state root: accounts root and chain-meta hash.
    StateRoot,
    /// A validator set with its epoch seed.
    ValidatorSet,
    /// Address from public key.
    Address,
    /// One step of a validator's commit-reveal hash chain.
    Reveal,
    /// The running randomness mix.
    RandaoMix,
    /// Proposer election in a slot.
    Proposer,
    /// The commitment to a block's finality certificate.
    Certificate,
    /// Signing digests: one domain per purpose, each bound to the chain id.
    SignTx,
    SignHeader,
    SignVote,
}

impl Domain {
    /// Every domain, in the order PROTOCOL.md lists them.
    pub const ALL: [Domain; 21] = [
        Domain::Genesis,
        Domain::Tx,
        Domain::Header,
        Domain::Vote,
        Domain::TxLeaf,
        Domain::TxNode,
        Domain::StateLeaf,
        Domain::StateNode,
        Domain::StateKey,
        Domain::ReleaseKey,
        Domain::ChainMeta,
        Domain::StateRoot,
        Domain::ValidatorSet,
        Domain::Address,
        Domain::Reveal,
        Domain::RandaoMix,
        Domain::Proposer,
        Domain::Certificate,
        Domain::SignTx,
        Domain::SignHeader,
        Domain::SignVote,
    ];

    pub const fn tag(self) -> &'static str {
        match self {
            Domain::Genesis => "memecoin/genesis",
            Domain::Tx => "memecoin/tx",
            Domain::Header => "memecoin/header",
            Domain::Vote => "memecoin/vote",
            Domain::TxLeaf => "memecoin/tx-leaf",
            Domain::TxNode => "memecoin/tx-node",
            Domain::StateLeaf => "memecoin/state-leaf",
            Domain::StateNode => "memecoin/state-node",
            Domain::StateKey => "memecoin/state-key",
            Domain::ReleaseKey => "memecoin/release-key",
            Domain::ChainMeta => "memecoin/chain-meta",
            Domain::StateRoot => "memecoin/state-root",
            Domain::ValidatorSet => "memecoin/validator-set",
            Domain::Address => "memecoin/address",
            Domain::Reveal => "memecoin/reveal",
            Domain::RandaoMix => "memecoin/randao-mix",
            Domain::Proposer => "memecoin/proposer",
            Domain::Certificate => "memecoin/certificate",
            Domain::SignTx => "memecoin/sign/tx",
            Domain::SignHeader => "memecoin/sign/header",
            Domain::SignVote => "memecoin/sign/vote",
        }
    }

    /// A hasher already primed with this domain's tag prefix.
    pub fn hasher(self) -> Sha256 {
        let tag = Sha256::digest(self.tag().as_bytes());
        let mut h = Sha256::new();
        h.update(tag);
        h.update(tag);
        h
    }
}

/// `tagged_hash(domain, parts...)`: the parts are concatenated.
pub fn tagged_hash(domain: Domain, parts: &[&[u8]]) -> Hash {
    let mut h = domain.hasher();
    for part in parts {
        h.update(part);
    }
    Hash(h.finalize().into())
}

/// Hash of the canonical encoding of `value` in `domain`.
pub fn hash_encoded<T: Encode + ?Sized>(domain: Domain, value: &T) -> Hash {
    tagged_hash(domain, &[&value.to_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_equal_bytes() {
        let a = tagged_hash(Domain::Tx, &[b"same"]);
        let b = tagged_hash(Domain::Vote, &[b"same"]);
        assert_ne!(a, b);
        assert_eq!(a, tagged_hash(Domain::Tx, &[b"sa", b"me"]));
    }

    #[test]
    fn tags_are_unique() {
        let all = Domain::ALL;
        for (i, a) in all.iter().enumerate() {
            for b in all.iter().skip(i + 1) {
                assert_ne!(a.tag(), b.tag());
            }
        }
    }

    #[test]
    fn bits_walk_from_the_top() {
        let mut h = Hash::ZERO;
        h.0[0] = 0b1000_0001;
        assert!(h.bit(0));
        assert!(!h.bit(1));
        assert!(h.bit(7));
        assert!(!h.bit(8));
    }
}
