//! Slashing evidence: proof that a validator signed two things it must never sign together.
//!
//! - **Double proposal**: two different headers for the same slot, both signed by their
//!   proposer.
//! - **Double vote**: two different votes by one validator that conflict
//!   ([`Vote::conflicts_with`](crate::finality::Vote::conflicts_with): same target height, or one surrounding the other).
//!
//! The pair is carried in a fixed order (the first item's hash is the smaller) so that one offence
//! has one encoding. Valid evidence burns `slash_percent` of the offender's bonded and unbonding
//! stake (rounded up), marks its account slashed, and leaves it out of every validator set
//! snapshotted afterwards. The set of the coming epoch was fixed at the start of this one and is
//! committed in headers light clients follow, so it is not rewritten; the offender leaves at the
//! epoch after.

use crate::crypto::PublicKey;
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::finality::SignedVote;
use crate::hash::Hash;
use crate::header::SignedHeader;
use alloc::vec::Vec;
use core::fmt;

/// Two signed objects that together prove equivocation.
// Evidence is rare and travels boxed inside `TxKind`; the size gap costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    DoubleProposal { a: SignedHeader, b: SignedHeader },
    DoubleVote { a: SignedVote, b: SignedVote },
}

/// Why evidence does not prove an offence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The two items are signed by different keys.
    DifferentSigners,
    /// The two headers are for different slots.
    DifferentSlots { a: u64, b: u64 },
    /// The two items are the same, or not in canonical order.
    NotOrdered,
    /// The two votes do not conflict.
    NoConflict,
    /// A signature in the evidence does not verify.
    BadSignature,
}

impl fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DifferentSigners => f.write_str("evidence items are signed by different keys"),
            Self::DifferentSlots { a, b } => write!(f, "headers are for slots {a} and {b}"),
            Self::NotOrdered => f.write_str("evidence items are equal or out of order"),
            Self::NoConflict => f.write_str("the two votes do not conflict"),
            Self::BadSignature => f.write_str("an evidence signature is invalid"),
        }
    }
}

impl core::error::Error for EvidenceError {}

impl Evidence {
    /// Orders a pair canonically. Returns `None` if the two are the same object.
    pub fn double_proposal(x: SignedHeader, y: SignedHeader) -> Option<Self> {
        match x.hash().cmp(&y.hash()) {
            core::cmp::Ordering::Less => Some(Evidence::DoubleProposal { a: x, b: y }),
            core::cmp::Ordering::Greater => Some(Evidence::DoubleProposal { a: y, b: x }),
            core::cmp::Ordering::Equal => None,
        }
    }

    pub fn double_vote(x: SignedVote, y: SignedVote) -> Option<Self> {
        match x.vote.hash().cmp(&y.vote.hash()) {
            core::cmp::Ordering::Less => Some(Evidence::DoubleVote { a: x, b: y }),
            core::cmp::Ordering::Greater => Some(Evidence::DoubleVote { a: y, b: x }),
            core::cmp::Ordering::Equal => None,
        }
    }

    /// The key the evidence accuses (not yet checked: see [`Evidence::verify`]).
    pub fn offender(&self) -> &PublicKey {
        match self {
            Evidence::DoubleProposal { a, .. } => &a.header.proposer,
            Evidence::DoubleVote { a, .. } => &a.validator,
        }
    }

    /// Checks the evidence on its own (no state) and returns the offender's key.
    pub fn verify(&self, chain_id: &Hash) -> Result<&PublicKey, EvidenceError> {
        match self {
            Evidence::DoubleProposal { a, b } => {
                if a.header.proposer != b.header.proposer {
                    return Err(EvidenceError::DifferentSigners);
                }
                if a.header.slot != b.header.slot {
                    return Err(EvidenceError::DifferentSlots {
                        a: a.header.slot,
                        b: b.header.slot,
                    });
                }
                if a.hash() >= b.hash() {
                    return Err(EvidenceError::NotOrdered);
                }
                a.verify_signature(chain_id).map_err(|_| EvidenceError::BadSignature)?;
                b.verify_signature(chain_id).map_err(|_| EvidenceError::BadSignature)?;
                Ok(self.offender())
            }
            Evidence::DoubleVote { a, b } => {
                if a.validator != b.validator {
                    return Err(EvidenceError::DifferentSigners);
                }
                if a.vote.hash() >= b.vote.hash() {
                    return Err(EvidenceError::NotOrdered);
                }
                if !a.vote.conflicts_with(&b.vote) {
                    return Err(EvidenceError::NoConflict);
                }
                a.verify_signature(chain_id).map_err(|_| EvidenceError::BadSignature)?;
                b.verify_signature(chain_id).map_err(|_| EvidenceError::BadSignature)?;
                Ok(self.offender())
            }
        }
    }
}

impl Encode for Evidence {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Evidence::DoubleProposal { a, b } => {
                out.put_u8(0);
                a.encode_to(out);
                b.encode_to(out);
            }
            Evidence::DoubleVote { a, b } => {
                out.put_u8(1);
                a.encode_to(out);
                b.encode_to(out);
            }
        }
    }
}

impl Decode for Evidence {
    const MAX_SIZE: usize = 1 + 2 * SignedHeader::MAX_SIZE;
    const NAME: &'static str = "evidence";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(Evidence::DoubleProposal {
                a: SignedHeader::decode_from(r)?,
                b: SignedHeader::decode_from(r)?,
            }),
            1 => Ok(Evidence::DoubleVote {
                a: SignedVote::decode_from(r)?,
                b: SignedVote::decode_from(r)?,
            }),
            tag => Err(DecodeError::InvalidTag { what: "evidence kind", tag }),
        }
    }
}
