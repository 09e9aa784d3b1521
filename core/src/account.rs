//! Accounts: what the state tree stores per address.

use crate::address::Address;
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::hash::{Domain, Hash, tagged_hash};
use alloc::vec::Vec;

/// Most unbonding entries one account may have pending at once.
pub const MAX_UNBONDING: u32 = 16;

/// Stake on its way out: paid to the balance at the start of `release_epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unbonding {
    pub amount: u64,
    pub release_epoch: u64,
}

/// One account. An account equal to `Account::default()` does not exist in the tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    /// Spendable coins, in base units.
    pub balance: u64,
    /// Number of transactions this account has sent: the next one must carry this nonce.
    pub nonce: u64,
    /// Bonded stake, in base units.
    pub stake: u64,
    /// Pending unbonds, oldest first (release epochs never decrease).
    pub unbonding: Vec<Unbonding>,
    /// Proven to have equivocated: never again in a validator set, may not stake.
    pub slashed: bool,
}

impl Account {
    /// Whether evidence against this account can still slash it (§7.6): not slashed yet
    /// (`AlreadySlashed`), and holding stake or unbonding coins (`NothingToSlash`). What a node
    /// asks before it keeps, gossips or proposes evidence.
    pub fn is_slashable(&self) -> bool {
        !self.slashed && (self.stake > 0 || !self.unbonding.is_empty())
    }

    /// Coins held in any form: balance, stake and pending unbonds.
    pub fn total(&self) -> Option<u64> {
        self.unbonding
            .iter()
            .try_fold(self.balance.checked_add(self.stake)?, |acc, u| acc.checked_add(u.amount))
    }

    pub fn is_empty(&self) -> bool {
        self == &Account::default()
    }
}

/// The state-tree key of an address: hashing spreads keys evenly, so the tree stays balanced
/// whatever addresses an attacker grinds.
pub fn state_key(address: &Address) -> Hash {
    tagged_hash(Domain::StateKey, &[&address.0])
}

impl Encode for Unbonding {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u64(self.amount);
        out.put_u64(self.release_epoch);
    }
}

impl Encode for Account {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u64(self.balance);
        out.put_u64(self.nonce);
        out.put_u64(self.stake);
        out.put_list(&self.unbonding);
        out.put_bool(self.slashed);
    }
}

impl Decode for Account {
    const MAX_SIZE: usize = 8 * 3 + 4 + 16 * MAX_UNBONDING as usize + 1;
    const NAME: &'static str = "account";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let balance = r.u64()?;
        let nonce = r.u64()?;
        let stake = r.u64()?;
        let unbonding = r.list("unbonding entries", MAX_UNBONDING, 16, |r| {
            Ok(Unbonding { amount: r.u64()?, release_epoch: r.u64()? })
        })?;
        if unbonding.windows(2).any(|w| matches!(w, [a, b] if a.release_epoch > b.release_epoch)) {
            return Err(DecodeError::NonCanonical { what: "unbonding order" });
        }
        if unbonding.iter().any(|u| u.amount == 0) {
            return Err(DecodeError::NonCanonical { what: "zero unbonding entry" });
        }
        let slashed = r.bool("slashed flag")?;
        Ok(Account { balance, nonce, stake, unbonding, slashed })
    }
}
