//! Block headers: what a proposer signs, what light clients follow, and what equivocation
//! evidence carries. Apart from [`crate::block`] so that evidence ([`crate::slashing`]) can hold
//! headers without depending on blocks, which hold transactions, which hold evidence.

use crate::crypto::{PublicKey, SecretKey, Signature, SignatureError, signing_digest};
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::finality::Checkpoint;
use crate::hash::{Domain, Hash, hash_encoded};
use alloc::vec::Vec;

/// A block header. Its hash is the block id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Parent height + 1. The genesis anchor has height 0.
    pub height: u64,
    /// The slot this block was proposed in; strictly greater than the parent's.
    pub slot: u64,
    /// Id of the parent block (the chain id for height 1).
    pub parent: Hash,
    /// The validator elected for `slot`, who signs this header.
    pub proposer: PublicKey,
    /// Merkle root of the body's transaction ids ([`crate::merkle`]).
    pub tx_root: Hash,
    /// State root after applying this block.
    pub state_root: Hash,
    /// The proposer's next commit-reveal preimage.
    pub reveal: Hash,
    /// Hash of the validator set (with seed) of this block's epoch.
    pub validators: Hash,
    /// Hash of the validator set (with seed) of the next epoch that has blocks.
    pub next_validators: Hash,
    /// Latest justified checkpoint after applying this block.
    pub justified: Checkpoint,
    /// Latest finalized checkpoint after applying this block.
    pub finalized: Checkpoint,
    /// Hash of the carried certificate, or `Hash::ZERO` when the block carries none.
    pub certificate: Hash,
}

impl Header {
    pub fn hash(&self) -> Hash {
        hash_encoded(Domain::Header, self)
    }

    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { height: self.height, hash: self.hash() }
    }

    pub fn signing_digest(&self, chain_id: &Hash) -> Hash {
        signing_digest(Domain::SignHeader, chain_id, &self.hash())
    }

    pub fn sign(self, chain_id: &Hash, key: &SecretKey) -> SignedHeader {
        let signature = key.sign(&self.signing_digest(chain_id));
        SignedHeader { header: self, signature }
    }
}

/// A header with its proposer's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeader {
    pub header: Header,
    pub signature: Signature,
}

impl SignedHeader {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    pub fn verify_signature(&self, chain_id: &Hash) -> Result<(), SignatureError> {
        self.header.proposer.verify(&self.header.signing_digest(chain_id), &self.signature)
    }
}

impl Encode for Header {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u64(self.height);
        out.put_u64(self.slot);
        self.parent.encode_to(out);
        self.proposer.encode_to(out);
        self.tx_root.encode_to(out);
        self.state_root.encode_to(out);
        self.reveal.encode_to(out);
        self.validators.encode_to(out);
        self.next_validators.encode_to(out);
        self.justified.encode_to(out);
        self.finalized.encode_to(out);
        self.certificate.encode_to(out);
    }
}

impl Decode for Header {
    const MAX_SIZE: usize = 8 + 8 + 32 + 33 + 32 * 5 + 40 * 2 + 32;
    const NAME: &'static str = "header";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Header {
            height: r.u64()?,
            slot: r.u64()?,
            parent: Hash::decode_from(r)?,
            proposer: PublicKey::decode_from(r)?,
            tx_root: Hash::decode_from(r)?,
            state_root: Hash::decode_from(r)?,
            reveal: Hash::decode_from(r)?,
            validators: Hash::decode_from(r)?,
            next_validators: Hash::decode_from(r)?,
            justified: Checkpoint::decode_from(r)?,
            finalized: Checkpoint::decode_from(r)?,
            certificate: Hash::decode_from(r)?,
        })
    }
}

impl Encode for SignedHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for SignedHeader {
    const MAX_SIZE: usize = Header::MAX_SIZE + 64;
    const NAME: &'static str = "signed header";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedHeader { header: Header::decode_from(r)?, signature: Signature::decode_from(r)? })
    }
}
