//! Blocks: a signed header and a body of transactions, optionally carrying a finality
//! certificate.

use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::finality::Certificate;
use crate::hash::Hash;
use crate::header::SignedHeader;
use crate::merkle;
use crate::params::Params;
use crate::tx::SignedTx;
use alloc::vec::Vec;

/// Largest encoded block, in bytes.
pub const MAX_BLOCK_SIZE: usize = 4 * 1024 * 1024;

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
/// [`BlockError`](crate::state::BlockError) of the same name, which `apply_block` gives for the same block.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    WrongCertificateHash { header: Hash, computed: Hash },
    TooManyTxs { count: usize, max: u32 },
    WrongTxRoot { header: Hash, computed: Hash },
}

impl core::error::Error for BodyError {}

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
    use crate::crypto::SecretKey;
    use crate::finality::{Checkpoint, Vote};
    use crate::header::Header;
    use crate::state::BlockError;

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
