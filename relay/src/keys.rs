//! Validator key files, and the devnet's well-known keys.
//!
//! A validator key file is JSON holding the signing key and the secret of its commit-reveal hash
//! chain (PROTOCOL.md, "Proof of stake"). It never leaves the validator's machine.

use crate::node::ValidatorKey;
use memecoin_core::address::Address;
use memecoin_core::crypto::SecretKey;
use memecoin_core::genesis::{Genesis, GenesisAccount, GenesisValidator};
use memecoin_core::hash::{Domain, Hash, tagged_hash};
use memecoin_core::hd;
use memecoin_core::params::Params;
use memecoin_core::pos::HashChain;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Proposals a fresh hash chain allows before the validator must re-register.
pub const DEFAULT_CHAIN_LENGTH: u64 = 1_000_000;

/// The devnet's recovery phrase (BIP-39's all-`abandon` test phrase): public, for testing only.
pub const DEVNET_PHRASE: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
/// Coins of the devnet's funded dev account (account 0, index 0 of the phrase), in base units.
pub const DEVNET_DEV_BALANCE: u64 = 1_000_000_000_000_000_000;
/// Stake of each devnet validator.
pub const DEVNET_STAKE: u64 = 100_000_000_000;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    secret_key: String,
    hash_chain_secret: String,
    hash_chain_length: u64,
    /// Informational: what the secret key and chain give.
    public_key: String,
    address: String,
    commitment: String,
}

/// A new validator key from the operating system's randomness.
/// Returns the key and its hash chain's secret (for [`save`]).
pub fn generate(length: u64) -> anyhow::Result<(ValidatorKey, Hash)> {
    loop {
        let mut secret = [0u8; 32];
        let mut chain = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        getrandom::fill(&mut chain).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        // A 32-byte string is a valid key except with probability ~2^-128; draw again if not.
        if let Ok(key) = SecretKey::from_bytes(&secret) {
            return Ok((
                ValidatorKey { key, chain: HashChain::new(Hash(chain), length) },
                Hash(chain),
            ));
        }
    }
}

pub fn save(v: &ValidatorKey, chain_secret: &Hash, length: u64, path: &Path) -> anyhow::Result<()> {
    let pk = v.key.public_key();
    let file = KeyFile {
        secret_key: hex::encode(v.key.to_bytes()),
        hash_chain_secret: chain_secret.to_hex(),
        hash_chain_length: length,
        public_key: pk.to_hex(),
        address: Address::from_public_key(&pk).to_text(),
        commitment: v.chain.commitment().to_hex(),
    };
    let text = serde_json::to_string_pretty(&file)?;
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

pub fn load(path: &Path) -> anyhow::Result<ValidatorKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read key file {}: {e}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("key file {}: {e}", path.display()))?;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(&file.secret_key, &mut secret)
        .map_err(|e| anyhow::anyhow!("key file secret_key: {e}"))?;
    let key =
        SecretKey::from_bytes(&secret).map_err(|e| anyhow::anyhow!("key file secret_key: {e}"))?;
    let chain_secret = Hash::from_hex(&file.hash_chain_secret)
        .map_err(|e| anyhow::anyhow!("key file hash_chain_secret: {e}"))?;
    Ok(ValidatorKey { key, chain: HashChain::new(chain_secret, file.hash_chain_length) })
}

/// The devnet's funded dev account key.
pub fn devnet_dev_key() -> anyhow::Result<SecretKey> {
    let phrase = hd::parse_phrase(DEVNET_PHRASE)?;
    Ok(hd::wallet_key(&hd::seed_from_phrase(&phrase, ""), 0, 0)?)
}

/// Devnet validator `i`: account 1 of the devnet phrase, index `i`; its hash chain secret is
/// derived from its key, so every run of the devnet agrees.
pub fn devnet_validator(i: u32) -> anyhow::Result<ValidatorKey> {
    let phrase = hd::parse_phrase(DEVNET_PHRASE)?;
    let key = hd::wallet_key(&hd::seed_from_phrase(&phrase, ""), 1, i)?;
    let secret = tagged_hash(Domain::Reveal, &[b"devnet hash chain", &key.to_bytes()]);
    Ok(ValidatorKey { key, chain: HashChain::new(secret, DEFAULT_CHAIN_LENGTH / 10) })
}

/// A devnet genesis: `validators` validators, 1-second slots, the dev account funded.
pub fn devnet_genesis(validators: u32, genesis_time_ms: u64) -> anyhow::Result<Genesis> {
    let dev = devnet_dev_key()?;
    let mut genesis = Genesis {
        chain_name: "memecoin-devnet".into(),
        genesis_time_ms,
        params: Params::devnet(),
        accounts: vec![GenesisAccount {
            address: Address::from_public_key(&dev.public_key()),
            balance: DEVNET_DEV_BALANCE,
        }],
        validators: (0..validators.max(1))
            .map(|i| {
                let v = devnet_validator(i)?;
                Ok(GenesisValidator {
                    key: v.key.public_key(),
                    stake: DEVNET_STAKE,
                    commitment: v.chain.commitment(),
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    genesis.canonicalize();
    Ok(genesis)
}
