//! Chain parameters, fixed at genesis.

use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use alloc::vec::Vec;

/// The rules a chain is started with. Part of the genesis spec, so of the chain id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(deny_unknown_fields))]
pub struct Params {
    /// Length of a slot in milliseconds. Slot `s` starts at `genesis_time_ms + s * slot_ms`.
    #[cfg_attr(feature = "std", serde(with = "crate::json::integer"))]
    pub slot_ms: u64,
    /// Slots per epoch. Validator sets and seeds change only at epoch boundaries.
    #[cfg_attr(feature = "std", serde(with = "crate::json::integer"))]
    pub slots_per_epoch: u64,
    /// Epochs between an unstake and the payout of its amount.
    #[cfg_attr(feature = "std", serde(with = "crate::json::integer"))]
    pub unbonding_epochs: u64,
    /// Smallest fee a transaction may pay, in base units.
    #[cfg_attr(feature = "std", serde(with = "crate::json::integer"))]
    pub min_fee: u64,
    /// New coins issued to each block's proposer, in base units.
    #[cfg_attr(feature = "std", serde(with = "crate::json::integer"))]
    pub block_reward: u64,
    /// Most transactions in one block.
    pub max_block_txs: u32,
    /// Most validators (registered stakers) at once.
    pub max_validators: u32,
    /// Least bonded stake that makes a validator eligible for the next epoch's set.
    #[cfg_attr(feature = "std", serde(with = "crate::json::integer"))]
    pub min_stake: u64,
    /// Percent of an offender's bonded and unbonding stake burned on proven equivocation (1..=100).
    pub slash_percent: u8,
}

impl Params {
    /// Largest `max_block_txs` any chain may choose; also the decoder's cap on a block's txs.
    pub const MAX_BLOCK_TXS: u32 = 10_000;
    /// Largest `max_validators` any chain may choose; also the decoder's cap on set sizes.
    pub const MAX_VALIDATORS: u32 = 1_000;

    /// A small devnet: 1 s slots, 8-slot epochs.
    pub fn devnet() -> Self {
        Params {
            slot_ms: 1_000,
            slots_per_epoch: 8,
            unbonding_epochs: 2,
            min_fee: 1_000,
            block_reward: 1_000_000_000,
            max_block_txs: 2_000,
            max_validators: 100,
            min_stake: 1_000_000_000,
            slash_percent: 50,
        }
    }

    /// A chain for real use: 4 s slots, 32-slot epochs (128 s), unbonding for 9,450 epochs
    /// (14 days), so that a light client's trusted position stays safe to skip from for about two
    /// weeks (the weak-subjectivity bound of PROTOCOL.md §13.2), and a minimum stake of 1,000
    /// coins.
    pub fn standard() -> Self {
        Params {
            slot_ms: 4_000,
            slots_per_epoch: 32,
            unbonding_epochs: 9_450,
            min_fee: 1_000,
            block_reward: 1_000_000_000,
            max_block_txs: 2_000,
            max_validators: 100,
            min_stake: 1_000_000_000_000,
            slash_percent: 50,
        }
    }

    /// Checks the ranges that make the rest of the rules well defined.
    pub fn validate(&self) -> Result<(), ParamsError> {
        if self.slot_ms == 0 {
            return Err(ParamsError::Zero { field: "slot_ms" });
        }
        if self.slots_per_epoch == 0 {
            return Err(ParamsError::Zero { field: "slots_per_epoch" });
        }
        if self.max_block_txs == 0 || self.max_block_txs > Self::MAX_BLOCK_TXS {
            return Err(ParamsError::OutOfRange { field: "max_block_txs" });
        }
        if self.max_validators == 0 || self.max_validators > Self::MAX_VALIDATORS {
            return Err(ParamsError::OutOfRange { field: "max_validators" });
        }
        if self.slash_percent == 0 || self.slash_percent > 100 {
            return Err(ParamsError::OutOfRange { field: "slash_percent" });
        }
        // Stake must stay slashable for the epoch its set was fixed in and the one it serves.
        if self.unbonding_epochs < 2 {
            return Err(ParamsError::OutOfRange { field: "unbonding_epochs" });
        }
        if self.min_stake == 0 {
            return Err(ParamsError::Zero { field: "min_stake" });
        }
        Ok(())
    }

    /// The epoch a slot belongs to.
    pub fn epoch_of(&self, slot: u64) -> u64 {
        slot.checked_div(self.slots_per_epoch).unwrap_or(0)
    }
}

/// Why a parameter set is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamsError {
    Zero { field: &'static str },
    OutOfRange { field: &'static str },
}

impl core::fmt::Display for ParamsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Zero { field } => write!(f, "parameter {field} must not be zero"),
            Self::OutOfRange { field } => write!(f, "parameter {field} is out of range"),
        }
    }
}

impl core::error::Error for ParamsError {}

impl Encode for Params {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u64(self.slot_ms);
        out.put_u64(self.slots_per_epoch);
        out.put_u64(self.unbonding_epochs);
        out.put_u64(self.min_fee);
        out.put_u64(self.block_reward);
        out.put_u32(self.max_block_txs);
        out.put_u32(self.max_validators);
        out.put_u64(self.min_stake);
        out.put_u8(self.slash_percent);
    }
}

impl Decode for Params {
    const MAX_SIZE: usize = 8 * 6 + 4 * 2 + 1;
    const NAME: &'static str = "params";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Params {
            slot_ms: r.u64()?,
            slots_per_epoch: r.u64()?,
            unbonding_epochs: r.u64()?,
            min_fee: r.u64()?,
            block_reward: r.u64()?,
            max_block_txs: r.u32()?,
            max_validators: r.u32()?,
            min_stake: r.u64()?,
            slash_percent: r.u8()?,
        })
    }
}
