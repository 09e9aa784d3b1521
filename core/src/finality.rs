//! Finality: votes, certificates and the Casper-FFG rules they follow.
//!
//! Every block is a checkpoint `(height, hash)`. A validator's vote is a link
//! `source -> target`: `source` is the latest justified checkpoint it knows, `target` a block it
//! considers the head, `epoch` the epoch of `target` (whose validator set casts the vote).
//! - A certificate is votes for one link from validators holding more than 2/3 of that set's
//!   stake. It **justifies** its target.
//! - A certificate whose target is the direct child of its source (`target.height ==
//!   source.height + 1`) **finalizes** the source.
//! - An honest validator never signs two votes with the same target height (double vote) nor a
//!   vote whose span strictly surrounds another of its votes (surround vote). Either is slashable
//!   evidence; with those rules, two conflicting finalized blocks imply that more than 1/3 of stake
//!   signed slashable votes.

use crate::crypto::{PublicKey, SecretKey, Signature, SignatureError, signing_digest};
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::hash::{Domain, Hash, hash_encoded};
use crate::params::Params;
use crate::pos::ValidatorSet;
use alloc::vec::Vec;
use core::fmt;

/// A block as a finality checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Checkpoint {
    pub height: u64,
    pub hash: Hash,
}

/// A finality vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// Epoch of `target`: the validator set that casts this vote.
    pub epoch: u64,
    pub source: Checkpoint,
    pub target: Checkpoint,
}

impl Vote {
    pub fn hash(&self) -> Hash {
        hash_encoded(Domain::Vote, self)
    }

    pub fn signing_digest(&self, chain_id: &Hash) -> Hash {
        signing_digest(Domain::SignVote, chain_id, &self.hash())
    }

    /// Whether one validator signing both `self` and `other` is slashable.
    pub fn conflicts_with(&self, other: &Vote) -> bool {
        if self == other {
            return false;
        }
        let double = self.target.height == other.target.height;
        let surrounds = |a: &Vote, b: &Vote| {
            a.source.height < b.source.height && b.target.height < a.target.height
        };
        double || surrounds(self, other) || surrounds(other, self)
    }

    pub fn sign(self, chain_id: &Hash, key: &SecretKey) -> SignedVote {
        let signature = key.sign(&self.signing_digest(chain_id));
        SignedVote { vote: self, validator: key.public_key(), signature }
    }
}

/// A vote with its validator's key and signature: what validators gossip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedVote {
    pub vote: Vote,
    pub validator: PublicKey,
    pub signature: Signature,
}

impl SignedVote {
    pub fn verify_signature(&self, chain_id: &Hash) -> Result<(), SignatureError> {
        self.validator.verify(&self.vote.signing_digest(chain_id), &self.signature)
    }
}

/// Votes for one link from a supermajority of one epoch's validator set. Signers are named by
/// their index in that set, strictly increasing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub vote: Vote,
    pub signatures: Vec<(u16, Signature)>,
}

/// Why a certificate does not prove what it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateError {
    /// `source.height >= target.height`.
    BackwardLink { source: u64, target: u64 },
    /// Signer indices not strictly increasing.
    UnsortedSigners,
    /// A signer index past the end of the set.
    UnknownSigner { index: u16, set_size: usize },
    /// A signature that does not verify.
    BadSignature { index: u16 },
    /// Signers hold `signed` of `total` stake, not more than 2/3.
    InsufficientStake { signed: u64, total: u64 },
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BackwardLink { source, target } => {
                write!(f, "vote links height {source} to height {target}, not forward")
            }
            Self::UnsortedSigners => f.write_str("certificate signers are not strictly increasing"),
            Self::UnknownSigner { index, set_size } => {
                write!(f, "signer {index} is not in a set of {set_size} validators")
            }
            Self::BadSignature { index } => write!(f, "signature of validator {index} is invalid"),
            Self::InsufficientStake { signed, total } => {
                write!(f, "signers hold {signed} of {total} stake, not more than 2/3")
            }
        }
    }
}

impl core::error::Error for CertificateError {}

impl Certificate {
    pub fn hash(&self) -> Hash {
        hash_encoded(Domain::Certificate, self)
    }

    /// Builds a certificate from signed votes for one link, keeping those by members of `set`
    /// (one per member). Whether they reach 2/3 is for [`Certificate::verify`] to say.
    pub fn from_votes<'a>(
        vote: Vote,
        set: &ValidatorSet,
        votes: impl IntoIterator<Item = &'a SignedVote>,
    ) -> Self {
        let mut signatures: Vec<(u16, Signature)> = votes
            .into_iter()
            .filter(|v| v.vote == vote)
            .filter_map(|v| {
                let i = u16::try_from(set.index_of(&v.validator)?).ok()?;
                Some((i, v.signature))
            })
            .collect();
        signatures.sort_by_key(|(i, _)| *i);
        signatures.dedup_by_key(|(i, _)| *i);
        Certificate { vote, signatures }
    }

    /// Checks the certificate against the validator set of `self.vote.epoch`: returns the
    /// signed stake. Rules in order: forward link, sorted signers, known signers, every
    /// signature, more than 2/3 of stake.
    pub fn verify(&self, chain_id: &Hash, set: &ValidatorSet) -> Result<u64, CertificateError> {
        let (source, target) = (self.vote.source.height, self.vote.target.height);
        if source >= target {
            return Err(CertificateError::BackwardLink { source, target });
        }
        if self.signatures.windows(2).any(|w| matches!(w, [a, b] if a.0 >= b.0)) {
            return Err(CertificateError::UnsortedSigners);
        }
        let members = set.members();
        let digest = self.vote.signing_digest(chain_id);
        let mut signed: u64 = 0;
        for (index, sig) in &self.signatures {
            let member =
                members.get(usize::from(*index)).ok_or(CertificateError::UnknownSigner {
                    index: *index,
                    set_size: members.len(),
                })?;
            member
                .key
                .verify(&digest, sig)
                .map_err(|_| CertificateError::BadSignature { index: *index })?;
            // The set's total fits in a u64, so any subset's sum does too.
            signed = signed.saturating_add(member.stake);
        }
        let total = set.total_stake();
        if !is_supermajority(signed, total) {
            return Err(CertificateError::InsufficientStake { signed, total });
        }
        Ok(signed)
    }
}

/// `3 * signed > 2 * total`, without overflow.
pub fn is_supermajority(signed: u64, total: u64) -> bool {
    u128::from(signed).saturating_mul(3) > u128::from(total).saturating_mul(2)
}

impl Encode for Checkpoint {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u64(self.height);
        self.hash.encode_to(out);
    }
}

impl Decode for Checkpoint {
    const MAX_SIZE: usize = 40;
    const NAME: &'static str = "checkpoint";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Checkpoint { height: r.u64()?, hash: Hash::decode_from(r)? })
    }
}

impl Encode for Vote {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u64(self.epoch);
        self.source.encode_to(out);
        self.target.encode_to(out);
    }
}

impl Decode for Vote {
    const MAX_SIZE: usize = 8 + 40 + 40;
    const NAME: &'static str = "vote";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Vote {
            epoch: r.u64()?,
            source: Checkpoint::decode_from(r)?,
            target: Checkpoint::decode_from(r)?,
        })
    }
}

impl Encode for SignedVote {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.vote.encode_to(out);
        self.validator.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for SignedVote {
    const MAX_SIZE: usize = Vote::MAX_SIZE + 33 + 64;
    const NAME: &'static str = "signed vote";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedVote {
            vote: Vote::decode_from(r)?,
            validator: PublicKey::decode_from(r)?,
            signature: Signature::decode_from(r)?,
        })
    }
}

struct IndexedSignature<'a>(&'a (u16, Signature));

impl Encode for IndexedSignature<'_> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u16(self.0.0);
        self.0.1.encode_to(out);
    }
}

impl Encode for Certificate {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.vote.encode_to(out);
        out.put_count(self.signatures.len());
        for s in &self.signatures {
            IndexedSignature(s).encode_to(out);
        }
    }
}

impl Decode for Certificate {
    const MAX_SIZE: usize = Vote::MAX_SIZE + 4 + 66 * Params::MAX_VALIDATORS as usize;
    const NAME: &'static str = "certificate";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let vote = Vote::decode_from(r)?;
        let signatures = r.list("certificate signatures", Params::MAX_VALIDATORS, 66, |r| {
            Ok((r.u16()?, Signature::decode_from(r)?))
        })?;
        if signatures.windows(2).any(|w| matches!(w, [a, b] if a.0 >= b.0)) {
            return Err(DecodeError::NonCanonical { what: "certificate signer order" });
        }
        Ok(Certificate { vote, signatures })
    }
}
