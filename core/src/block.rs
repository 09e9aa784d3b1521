//! Blocks: a signed header and a body of transactions, optionally carrying a finality
//! certificate.

use crate::crypto::{PublicKey, SecretKey, Signature, SignatureError, signing_digest};
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::finality::{Certificate, Checkpoint};
use crate::hash::{Domain, Hash, hash_encoded};
use crate::merkle;
use crate::params::Params;
use crate::state::BlockError;
use crate::tx::SignedTx;
use alloc::vec::Vec;

/// Largest encoded block, in bytes.
pub const MAX_BLOCK_SIZE: usize = 4 * 1024 * 1024;

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

/// A full block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub header: SignedHeader,
    pub txs: Vec<SignedTx>,
    pub certificate: Option<Certificate>,
}

impl Block {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    pub fn tx_ids(&self) -> Vec<Hash> {
        self.txs.iter().map(SignedTx::id).collect()
    }

    /// Checks the body against what the header commits to, in the order of PROTOCOL.md §8.5:
    /// the certificate hash, the transaction count (`max_txs`, the chain's `max_block_txs`),
    /// the transaction root. Needs no state, so a block whose parent is unknown can be checked:
    /// the header alone names the block, and a copy with another body is not the same block.
    pub fn check_body(&self, max_txs: u32) -> Result<(), BodyError> {
        let h = &self.header.header;
        let computed = self.certificate.as_ref().map_or(Hash::ZERO, Certificate::hash);
        if computed != h.certificate {
            return Err(BodyError::WrongCertificateHash { header: h.certificate, computed });
        }
        if self.txs.len() > max_txs as usize {
            return Err(BodyError::TooManyTxs { count: self.txs.len(), max: max_txs });
        }
        let computed = merkle::root(&self.tx_ids());
        if computed != h.tx_root {
            return Err(BodyError::WrongTxRoot { header: h.tx_root, computed });
        }
        Ok(())
    }
}

/// Why a block's body does not match its header ([`Block::check_body`]). Each variant is the
/// [`BlockError`] of the same name, which `apply_block` gives for the same block.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    WrongCertificateHash { header: Hash, computed: Hash },
    TooManyTxs { count: usize, max: u32 },
    WrongTxRoot { header: Hash, computed: Hash },
}

/// The same words as the [`BlockError`] of the same name.
impl core::fmt::Display for BodyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        BlockError::from(self.clone()).fmt(f)
    }
}

impl core::error::Error for BodyError {}

impl From<BodyError> for BlockError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::WrongCertificateHash { header, computed } => {
                BlockError::WrongCertificateHash { header, computed }
            }
            BodyError::TooManyTxs { count, max } => BlockError::TooManyTxs { count, max },
            BodyError::WrongTxRoot { header, computed } => {
                BlockError::WrongTxRoot { header, computed }
            }
        }
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

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        out.put_list(&self.txs);
        out.put_option(&self.certificate);
    }
}

impl Decode for Block {
    const MAX_SIZE: usize = MAX_BLOCK_SIZE;
    const NAME: &'static str = "block";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = SignedHeader::decode_from(r)?;
        // The smallest signed transaction is well over 100 bytes.
        let txs = r.list("transactions", Params::MAX_BLOCK_TXS, 100, SignedTx::decode_from)?;
        let certificate = r.option("certificate", Certificate::decode_from)?;
        Ok(Block { header, txs, certificate })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finality::Vote;

    /// A header signed by `key` committing to no transactions and no certificate.
    fn empty_block() -> Block {
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        let none = Checkpoint { height: 0, hash: Hash::ZERO };
        let header = Header {
            height: 1,
            slot: 1,
            parent: Hash([1; 32]),
            proposer: key.public_key(),
            tx_root: merkle::root(&[]),
            state_root: Hash::ZERO,
            reveal: Hash::ZERO,
            validators: Hash::ZERO,
            next_validators: Hash::ZERO,
            justified: none,
            finalized: none,
            certificate: Hash::ZERO,
        };
        Block { header: header.sign(&Hash([9; 32]), &key), txs: Vec::new(), certificate: None }
    }

    #[test]
    fn a_body_is_checked_against_its_header() {
        let b = empty_block();
        assert_eq!(b.check_body(0), Ok(()));
        let mut cert = b.clone();
        let vote =
            Vote { epoch: 0, source: cert.header.header.justified, target: Checkpoint::default() };
        let c = Certificate { vote, signatures: Vec::new() };
        let computed = c.hash();
        cert.certificate = Some(c);
        assert_eq!(
            cert.check_body(0),
            Err(BodyError::WrongCertificateHash { header: Hash::ZERO, computed })
        );
        let mut root = b.clone();
        root.header.header.tx_root = Hash([3; 32]);
        assert_eq!(
            root.check_body(0),
            Err(BodyError::WrongTxRoot { header: Hash([3; 32]), computed: merkle::root(&[]) })
        );
        let key = SecretKey::from_bytes(&[8; 32]).unwrap();
        let to = crate::address::Address([1; 20]);
        let kind = crate::tx::TxKind::Transfer { to, amount: 1 };
        let tx = crate::tx::Tx {
            chain_id: Hash::ZERO,
            sender: key.public_key(),
            nonce: 0,
            fee: 1,
            kind,
        };
        let mut full = b.clone();
        full.txs.push(tx.sign(&key));
        full.header.header.tx_root = merkle::root(&full.tx_ids());
        assert_eq!(full.check_body(0), Err(BodyError::TooManyTxs { count: 1, max: 0 }));
        assert_eq!(full.check_body(1), Ok(()));
        assert_eq!(
            BlockError::from(BodyError::TooManyTxs { count: 1, max: 0 }),
            BlockError::TooManyTxs { count: 1, max: 0 }
        );
    }
}
