//! Genesis: the chain spec every node and wallet starts from. Its hash is the chain id.
//!
//! `chain_id = tagged_hash("memecoin/genesis", encode(genesis))`. The JSON form (behind the
//! `std` feature) is for humans and tools; the canonical bytes are what is hashed.

use crate::account::Account;
use crate::address::Address;
use crate::crypto::PublicKey;
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::finality::Checkpoint;
use crate::hash::{Domain, Hash, hash_encoded};
use crate::params::{Params, ParamsError};
use crate::pos::{Member, SetError, ValidatorSet};
use crate::state::{Chain, ChainMeta, ChainState, Registration, Releases, Supply, Tip};
use crate::tree::{self, NodeBatch, TreeError};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Most bytes in a chain name.
pub const MAX_NAME: u32 = 64;
/// Most genesis accounts.
pub const MAX_GENESIS_ACCOUNTS: u32 = 100_000;

/// An initial balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisAccount {
    pub address: Address,
    pub balance: u64,
}

/// An initial validator: its stake is bonded from the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisValidator {
    pub key: PublicKey,
    pub stake: u64,
    /// Head of its commit-reveal hash chain.
    pub commitment: Hash,
}

/// The chain spec. Accounts are sorted by address and validators by key, each without
/// duplicates, so one chain has one genesis encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    pub chain_name: String,
    /// Unix milliseconds at which slot 0 starts.
    pub genesis_time_ms: u64,
    pub params: Params,
    pub accounts: Vec<GenesisAccount>,
    pub validators: Vec<GenesisValidator>,
}

/// Why a genesis spec is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GenesisError {
    Params(ParamsError),
    NameTooLong {
        bytes: usize,
        max: u32,
    },
    TooManyAccounts {
        count: usize,
        max: u32,
    },
    NoValidators,
    /// A validator without a commit-reveal commitment could never propose.
    MissingCommitment,
    TooManyValidators {
        count: usize,
        max: u32,
    },
    StakeBelowMinimum {
        stake: u64,
        min: u64,
    },
    Unsorted {
        what: &'static str,
    },
    SupplyOverflow,
    ValidatorSet(SetError),
    Tree(TreeError),
    /// JSON that does not parse, or a field that does not decode.
    Json(String),
}

impl fmt::Display for GenesisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Params(e) => write!(f, "{e}"),
            Self::NameTooLong { bytes, max } => {
                write!(f, "chain name of {bytes} bytes, at most {max} allowed")
            }
            Self::TooManyAccounts { count, max } => {
                write!(f, "genesis has {count} accounts, at most {max} allowed")
            }
            Self::NoValidators => f.write_str("genesis has no validators"),
            Self::MissingCommitment => f.write_str("a genesis validator has a zero commitment"),
            Self::TooManyValidators { count, max } => {
                write!(f, "genesis has {count} validators, at most {max} allowed")
            }
            Self::StakeBelowMinimum { stake, min } => {
                write!(f, "a genesis validator stakes {stake}, below the minimum {min}")
            }
            Self::Unsorted { what } => write!(f, "genesis {what} are not sorted and distinct"),
            Self::SupplyOverflow => f.write_str("genesis supply overflows a u64"),
            Self::ValidatorSet(e) => write!(f, "genesis validator set: {e}"),
            Self::Tree(e) => write!(f, "state tree: {e}"),
            Self::Json(e) => write!(f, "chain spec: {e}"),
        }
    }
}

impl core::error::Error for GenesisError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Params(e) => Some(e),
            Self::ValidatorSet(e) => Some(e),
            Self::Tree(e) => Some(e),
            _ => None,
        }
    }
}

impl Genesis {
    pub fn chain_id(&self) -> Hash {
        hash_encoded(Domain::Genesis, self)
    }

    pub fn chain(&self) -> Chain {
        Chain {
            id: self.chain_id(),
            params: self.params.clone(),
            genesis_time_ms: self.genesis_time_ms,
        }
    }

    /// Sorts accounts and validators into canonical order (for tools writing a spec).
    ///
    /// Unstable sorts (less code in the wallet's `.wasm`): they order equal keys arbitrarily, but
    /// a spec with two equal keys is refused by [`Genesis::build`] whatever their order.
    pub fn canonicalize(&mut self) {
        self.accounts.sort_unstable_by_key(|a| a.address);
        self.validators.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    }

    /// Checks the spec and builds the genesis state, with the tree nodes to persist.
    pub fn build(&self) -> Result<(Chain, ChainState, NodeBatch), GenesisError> {
        self.params.validate().map_err(GenesisError::Params)?;
        if self.chain_name.len() > MAX_NAME as usize {
            return Err(GenesisError::NameTooLong { bytes: self.chain_name.len(), max: MAX_NAME });
        }
        if self.accounts.len() > MAX_GENESIS_ACCOUNTS as usize {
            return Err(GenesisError::TooManyAccounts {
                count: self.accounts.len(),
                max: MAX_GENESIS_ACCOUNTS,
            });
        }
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        if self.validators.iter().any(|v| v.commitment == Hash::ZERO) {
            return Err(GenesisError::MissingCommitment);
        }
        if self.validators.len() > self.params.max_validators as usize {
            return Err(GenesisError::TooManyValidators {
                count: self.validators.len(),
                max: self.params.max_validators,
            });
        }
        if self.accounts.windows(2).any(|w| matches!(w, [a, b] if a.address >= b.address)) {
            return Err(GenesisError::Unsorted { what: "accounts" });
        }
        if self.validators.windows(2).any(|w| matches!(w, [a, b] if a.key >= b.key)) {
            return Err(GenesisError::Unsorted { what: "validators" });
        }
        let chain = self.chain();
        let mut accounts: alloc::collections::BTreeMap<Address, Account> = Default::default();
        let mut supply: u64 = 0;
        for a in &self.accounts {
            accounts.entry(a.address).or_default().balance = a.balance;
            supply = supply.checked_add(a.balance).ok_or(GenesisError::SupplyOverflow)?;
        }
        let mut members = Vec::new();
        let mut registry = Vec::new();
        for v in &self.validators {
            if v.stake < self.params.min_stake {
                return Err(GenesisError::StakeBelowMinimum {
                    stake: v.stake,
                    min: self.params.min_stake,
                });
            }
            accounts.entry(Address::from_public_key(&v.key)).or_default().stake = v.stake;
            supply = supply.checked_add(v.stake).ok_or(GenesisError::SupplyOverflow)?;
            members.push(Member { key: v.key.clone(), stake: v.stake });
            registry.push(Registration {
                key: v.key.clone(),
                commitment: v.commitment,
                renewal: Hash::ZERO,
                renewal_epoch: 0,
                last_active: 0,
            });
        }
        let set = ValidatorSet::new(chain.id, members).map_err(GenesisError::ValidatorSet)?;
        let changes: Vec<(Hash, Option<Vec<u8>>)> = accounts
            .iter()
            .filter(|(_, acc)| !acc.is_empty())
            .map(|(a, acc)| (crate::account::state_key(a), Some(acc.to_bytes())))
            .collect();
        let empty = tree::MemStore::default();
        let (accounts_root, nodes) =
            tree::update(&empty, &Hash::ZERO, &changes).map_err(GenesisError::Tree)?;
        let anchor = Checkpoint { height: 0, hash: chain.id };
        let meta = ChainMeta {
            epoch: 0,
            previous: None,
            current: set.clone(),
            next: set,
            mix: chain.id,
            registry,
            justified: anchor,
            finalized: anchor,
            recent: Vec::new(),
            releases: Releases::NONE,
            supply: Supply { genesis: supply, issued: 0, burned: 0 },
        };
        let state =
            ChainState { tip: Tip { hash: chain.id, height: 0, slot: 0 }, accounts_root, meta };
        Ok((chain, state, nodes))
    }
}

impl Encode for Genesis {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_bytes(self.chain_name.as_bytes());
        out.put_u64(self.genesis_time_ms);
        self.params.encode_to(out);
        out.put_count(self.accounts.len());
        for a in &self.accounts {
            a.address.encode_to(out);
            out.put_u64(a.balance);
        }
        out.put_count(self.validators.len());
        for v in &self.validators {
            v.key.encode_to(out);
            out.put_u64(v.stake);
            v.commitment.encode_to(out);
        }
    }
}

impl Decode for Genesis {
    const MAX_SIZE: usize = 8 * 1024 * 1024;
    const NAME: &'static str = "genesis";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let name = r.bytes("chain name", MAX_NAME)?;
        let chain_name = String::from_utf8(name)
            .map_err(|_| DecodeError::Invalid { what: "chain name (UTF-8)" })?;
        let genesis_time_ms = r.u64()?;
        let params = Params::decode_from(r)?;
        let accounts = r.list("genesis accounts", MAX_GENESIS_ACCOUNTS, 28, |r| {
            Ok(GenesisAccount { address: Address::decode_from(r)?, balance: r.u64()? })
        })?;
        let validators = r.list("genesis validators", Params::MAX_VALIDATORS, 73, |r| {
            Ok(GenesisValidator {
                key: PublicKey::decode_from(r)?,
                stake: r.u64()?,
                commitment: Hash::decode_from(r)?,
            })
        })?;
        Ok(Genesis { chain_name, genesis_time_ms, params, accounts, validators })
    }
}

#[cfg(feature = "std")]
mod spec {
    //! The JSON chain spec: addresses in bech32m, keys and hashes in hex, integers as JSON
    //! numbers up to 2^53 − 1 and as decimal strings above ([`json::integer`](crate::json::integer)).
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SpecJson {
        chain_name: String,
        #[serde(with = "crate::json::integer")]
        genesis_time_ms: u64,
        params: Params,
        accounts: Vec<AccountJson>,
        validators: Vec<ValidatorJson>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AccountJson {
        address: String,
        #[serde(with = "crate::json::integer")]
        balance: u64,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ValidatorJson {
        public_key: String,
        #[serde(with = "crate::json::integer")]
        stake: u64,
        commitment: String,
    }

    impl Genesis {
        /// Parses a JSON chain spec. Accounts and validators may come in any order; they are
        /// sorted into canonical order, and duplicates are rejected by [`Genesis::build`].
        pub fn from_json(text: &str) -> Result<Genesis, GenesisError> {
            let spec: SpecJson =
                serde_json::from_str(text).map_err(|e| GenesisError::Json(e.to_string()))?;
            let json = |e: &dyn fmt::Display| GenesisError::Json(e.to_string());
            let accounts = spec
                .accounts
                .iter()
                .map(|a| {
                    let address = Address::parse(&a.address).map_err(|e| json(&e))?;
                    Ok(GenesisAccount { address, balance: a.balance })
                })
                .collect::<Result<Vec<_>, GenesisError>>()?;
            let validators = spec
                .validators
                .iter()
                .map(|v| {
                    let bytes = hex::decode(&v.public_key).map_err(|e| json(&e))?;
                    let key = PublicKey::from_sec1(&bytes).map_err(|e| json(&e))?;
                    let commitment = Hash::from_hex(&v.commitment).map_err(|e| json(&e))?;
                    Ok(GenesisValidator { key, stake: v.stake, commitment })
                })
                .collect::<Result<Vec<_>, GenesisError>>()?;
            let mut g = Genesis {
                chain_name: spec.chain_name,
                genesis_time_ms: spec.genesis_time_ms,
                params: spec.params,
                accounts,
                validators,
            };
            g.canonicalize();
            Ok(g)
        }

        pub fn to_json(&self) -> String {
            let spec = SpecJson {
                chain_name: self.chain_name.clone(),
                genesis_time_ms: self.genesis_time_ms,
                params: self.params.clone(),
                accounts: self
                    .accounts
                    .iter()
                    .map(|a| AccountJson { address: a.address.to_text(), balance: a.balance })
                    .collect(),
                validators: self
                    .validators
                    .iter()
                    .map(|v| ValidatorJson {
                        public_key: v.key.to_hex(),
                        stake: v.stake,
                        commitment: v.commitment.to_hex(),
                    })
                    .collect(),
            };
            serde_json::to_string_pretty(&spec).unwrap_or_default()
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use crate::json::MAX_JSON_INTEGER;

    fn spec(balance: u64) -> Genesis {
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        let mut g = Genesis {
            chain_name: "json".into(),
            genesis_time_ms: 1_767_225_600_000,
            params: Params::devnet(),
            accounts: vec![GenesisAccount {
                address: Address::from_public_key(&key.public_key()),
                balance,
            }],
            validators: vec![GenesisValidator {
                key: key.public_key(),
                stake: 5_000_000_000,
                commitment: Hash::ZERO,
            }],
        };
        g.canonicalize();
        g
    }

    #[test]
    fn integers_above_2_53_are_strings_and_round_trip() {
        let small = spec(MAX_JSON_INTEGER);
        let text = small.to_json();
        assert!(text.contains(&format!("\"balance\": {MAX_JSON_INTEGER}")), "{text}");
        assert_eq!(Genesis::from_json(&text).unwrap(), small);

        let big = spec(MAX_JSON_INTEGER + 1);
        let text = big.to_json();
        assert!(text.contains("\"balance\": \"9007199254740992\""), "{text}");
        assert_eq!(Genesis::from_json(&text).unwrap(), big);
        assert_eq!(Genesis::from_json(&text).unwrap().chain_id(), big.chain_id());

        // Either form is read, for any integer field.
        let quoted = small.to_json().replace("\"slot_ms\": 1000", "\"slot_ms\": \"1000\"");
        assert_eq!(Genesis::from_json(&quoted).unwrap(), small);
        let max = big.to_json().replace("9007199254740992", "18446744073709551615");
        assert_eq!(Genesis::from_json(&max).unwrap().accounts[0].balance, u64::MAX);
    }

    #[test]
    fn a_spec_integer_string_with_a_leading_zero_is_refused() {
        let text = spec(1).to_json().replace("\"slot_ms\": 1000", "\"slot_ms\": \"01000\"");
        assert!(matches!(Genesis::from_json(&text), Err(GenesisError::Json(_))));
    }
}
