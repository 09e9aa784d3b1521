//! Transactions.
//!
//! Every transaction names its chain, its sender (public key), the sender's nonce and a fee, and
//! is signed over `signing_digest("memecoin/sign/tx", chain_id, tx_id)` where
//! `tx_id = tagged_hash("memecoin/tx", encode(tx))`.

use crate::address::Address;
use crate::crypto::{PublicKey, SecretKey, Signature, SignatureError, signing_digest};
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::hash::{Domain, Hash, hash_encoded};
use crate::slashing::Evidence;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Largest encoded signed transaction, in bytes (evidence carrying two headers is the largest).
pub const MAX_TX_SIZE: usize = 2048;

/// What a transaction does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxKind {
    /// Move `amount` from the sender's balance to `to`.
    Transfer { to: Address, amount: u64 },
    /// Bond `amount` of the sender's balance as stake. A first stake registers the sender as a
    /// validator with `commitment`, the head of its commit-reveal hash chain; a registered
    /// validator adding stake sends `Hash::ZERO` and keeps its chain.
    Stake { amount: u64, commitment: Hash },
    /// Unbond `amount` of stake; it is paid to the balance after the unbonding delay.
    Unstake { amount: u64 },
    /// Proof that a validator equivocated; burns part of its stake.
    Evidence(Box<Evidence>),
}

impl TxKind {
    const TRANSFER: u8 = 0;
    const STAKE: u8 = 1;
    const UNSTAKE: u8 = 2;
    const EVIDENCE: u8 = 3;
}

/// An unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tx {
    pub chain_id: Hash,
    pub sender: PublicKey,
    pub nonce: u64,
    pub fee: u64,
    pub kind: TxKind,
}

impl Tx {
    pub fn id(&self) -> Hash {
        hash_encoded(Domain::Tx, self)
    }

    pub fn sender_address(&self) -> Address {
        Address::from_public_key(&self.sender)
    }

    /// The digest the sender signs.
    pub fn signing_digest(&self) -> Hash {
        signing_digest(Domain::SignTx, &self.chain_id, &self.id())
    }

    /// Signs with `key`. The caller makes sure `key` belongs to `self.sender`; a wrong key gives a
    /// transaction that fails [`SignedTx::verify_signature`].
    pub fn sign(self, key: &SecretKey) -> SignedTx {
        let signature = key.sign(&self.signing_digest());
        SignedTx { tx: self, signature }
    }
}

/// A transaction with its sender's signature: what is sent and included in blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    pub tx: Tx,
    pub signature: Signature,
}

impl SignedTx {
    pub fn id(&self) -> Hash {
        self.tx.id()
    }

    pub fn verify_signature(&self) -> Result<(), SignatureError> {
        self.tx.sender.verify(&self.tx.signing_digest(), &self.signature)
    }
}

impl Encode for TxKind {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            TxKind::Transfer { to, amount } => {
                out.put_u8(Self::TRANSFER);
                to.encode_to(out);
                out.put_u64(*amount);
            }
            TxKind::Stake { amount, commitment } => {
                out.put_u8(Self::STAKE);
                out.put_u64(*amount);
                commitment.encode_to(out);
            }
            TxKind::Unstake { amount } => {
                out.put_u8(Self::UNSTAKE);
                out.put_u64(*amount);
            }
            TxKind::Evidence(e) => {
                out.put_u8(Self::EVIDENCE);
                e.encode_to(out);
            }
        }
    }
}

impl TxKind {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            Self::TRANSFER => {
                Ok(TxKind::Transfer { to: Address::decode_from(r)?, amount: r.u64()? })
            }
            Self::STAKE => {
                Ok(TxKind::Stake { amount: r.u64()?, commitment: Hash::decode_from(r)? })
            }
            Self::UNSTAKE => Ok(TxKind::Unstake { amount: r.u64()? }),
            Self::EVIDENCE => Ok(TxKind::Evidence(Box::new(Evidence::decode_from(r)?))),
            tag => Err(DecodeError::InvalidTag { what: "transaction kind", tag }),
        }
    }
}

impl Encode for Tx {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.chain_id.encode_to(out);
        self.sender.encode_to(out);
        out.put_u64(self.nonce);
        out.put_u64(self.fee);
        self.kind.encode_to(out);
    }
}

impl Decode for Tx {
    const MAX_SIZE: usize = MAX_TX_SIZE;
    const NAME: &'static str = "transaction";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Tx {
            chain_id: Hash::decode_from(r)?,
            sender: PublicKey::decode_from(r)?,
            nonce: r.u64()?,
            fee: r.u64()?,
            kind: TxKind::decode_from(r)?,
        })
    }
}

impl Encode for SignedTx {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.tx.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for SignedTx {
    const MAX_SIZE: usize = MAX_TX_SIZE;
    const NAME: &'static str = "signed transaction";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.remaining();
        let tx = Tx::decode_from(r)?;
        let signature = Signature::decode_from(r)?;
        // Inside a block the whole-object cap of `from_bytes` does not apply: check it here.
        let size = start.saturating_sub(r.remaining());
        if size > MAX_TX_SIZE {
            return Err(DecodeError::TooLarge { what: Self::NAME, size, max: MAX_TX_SIZE });
        }
        Ok(SignedTx { tx, signature })
    }
}
