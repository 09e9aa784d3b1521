//! Validator key files, and the devnet's well-known keys.
//!
//! A validator key file is JSON holding the signing key and the secret of its commit-reveal hash
//! chain (PROTOCOL.md, "Proof of stake"). It never leaves the validator's machine.

use crate::node::ValidatorKey;
use memecoin_core::address::Address;
use memecoin_core::crypto::{PublicKey, SecretKey};
use memecoin_core::genesis::{Genesis, GenesisAccount, GenesisValidator};
use memecoin_core::hash::{Domain, Hash, tagged_hash};
use memecoin_core::params::Params;
use memecoin_core::pos::HashChain;
use memecoin_wallet::hd;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Proposals a fresh hash chain allows before the validator must re-register.
pub const DEFAULT_CHAIN_LENGTH: u64 = 1_000_000;

/// The devnet's recovery phrase (BIP-39's all-`abandon` test phrase): public, for testing only.
pub const DEVNET_PHRASE: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
/// Coins of the devnet's funded dev account (account 0, index 0 of the phrase), in base units.
pub const DEVNET_DEV_BALANCE: u64 = 1_000_000_000_000_000_000;
/// Stake of each devnet validator: a million coins, so that the faucet (which hands out at
/// most 1/3 of the set's stake in all, the relay's `faucet::within_budget`) pays a thousand coins
/// a few hundred times per validator, and a visitor's faucet coins are a sliver of the stake.
pub const DEVNET_STAKE: u64 = 1_000_000_000_000_000;
/// Spendable coins of each devnet validator at genesis: the fees of its renewals and of the
/// renewal that brings it back after it was left out as inactive (PROTOCOL.md §9.3, §9.5). A
/// validator earns fees and rewards only by proposing, and one left out (started long after
/// genesis, or down for a while) proposes nothing until it is back.
pub const DEVNET_VALIDATOR_BALANCE: u64 = 1_000_000_000_000;

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

/// The validator key of a wallet's recovery phrase at `m/44'/7337'/account'/0'/index'`, with
/// the hash chain the wallet registers for it (core's `HashChain::wallet`), so a relay run with
/// it proposes from, and renews, the chain the wallet's first stake committed to.
pub fn from_phrase(
    phrase: &str,
    passphrase: &str,
    account: u32,
    index: u32,
) -> anyhow::Result<(ValidatorKey, Hash)> {
    let phrase = hd::parse_phrase(phrase)?;
    let key = hd::wallet_key(&hd::seed_from_phrase(&phrase, passphrase), account, index)?;
    let (secret, chain) = (HashChain::wallet_secret(&key), HashChain::wallet(&key));
    Ok((ValidatorKey { key, chain }, secret))
}

/// Writes a key file readable and writable by its owner only.
pub fn save(v: &ValidatorKey, chain_secret: &Hash, path: &Path) -> anyhow::Result<()> {
    let pk = v.key.public_key();
    let file = KeyFile {
        secret_key: hex::encode(v.key.to_bytes()),
        hash_chain_secret: chain_secret.to_hex(),
        hash_chain_length: v.chain.length(),
        public_key: pk.to_hex(),
        address: Address::from_public_key(&pk).to_text(),
        commitment: v.chain.commitment().to_hex(),
    };
    let text = serde_json::to_string_pretty(&file)?;
    let cannot = |e| anyhow::anyhow!("cannot write {}: {e}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(cannot)?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(cannot)?;
    f.sync_all().map_err(cannot)
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

/// A devnet genesis: `validators` validators, each with [`DEVNET_VALIDATOR_BALANCE`] to spend,
/// 1-second slots, the dev account funded.
pub fn devnet_genesis(validators: u32, genesis_time_ms: u64) -> anyhow::Result<Genesis> {
    let keys = (0..validators.max(1))
        .map(|i| devnet_validator(i).map(|v| (v.key.public_key(), v.chain.commitment())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    devnet_genesis_with(&keys, genesis_time_ms)
}

/// A devnet-style genesis for the given validators (key, hash chain commitment): each with
/// [`DEVNET_STAKE`] and [`DEVNET_VALIDATOR_BALANCE`], 1-second slots, the dev account funded.
pub fn devnet_genesis_with(
    validators: &[(PublicKey, Hash)],
    genesis_time_ms: u64,
) -> anyhow::Result<Genesis> {
    let dev = devnet_dev_key()?;
    let mut accounts = vec![GenesisAccount {
        address: Address::from_public_key(&dev.public_key()),
        balance: DEVNET_DEV_BALANCE,
    }];
    accounts.extend(validators.iter().map(|(key, _)| GenesisAccount {
        address: Address::from_public_key(key),
        balance: DEVNET_VALIDATOR_BALANCE,
    }));
    let mut genesis = Genesis {
        chain_name: "memecoin-devnet".into(),
        genesis_time_ms,
        params: Params::devnet(),
        accounts,
        validators: validators
            .iter()
            .map(|(key, commitment)| GenesisValidator {
                key: key.clone(),
                stake: DEVNET_STAKE,
                commitment: *commitment,
            })
            .collect(),
    };
    genesis.canonicalize();
    Ok(genesis)
}

/// Coins a validator of a [`standard_genesis`] stakes unless told otherwise: a million.
pub const STANDARD_STAKE: u64 = 1_000_000_000_000_000;

/// A chain spec for real use (`memecoin-relay genesis` without `--devnet`): the standard
/// parameters ([`Params::standard`]), each validator with `stake` staked and
/// [`DEVNET_VALIDATOR_BALANCE`] for its renewal fees, and no account of the public test phrase.
pub fn standard_genesis(
    chain_name: &str,
    validators: &[(PublicKey, Hash)],
    stake: u64,
    genesis_time_ms: u64,
) -> anyhow::Result<Genesis> {
    let mut genesis = Genesis {
        chain_name: chain_name.into(),
        genesis_time_ms,
        params: Params::standard(),
        accounts: validators
            .iter()
            .map(|(key, _)| GenesisAccount {
                address: Address::from_public_key(key),
                balance: DEVNET_VALIDATOR_BALANCE,
            })
            .collect(),
        validators: validators
            .iter()
            .map(|(key, commitment)| GenesisValidator {
                key: key.clone(),
                stake,
                commitment: *commitment,
            })
            .collect(),
    };
    genesis.canonicalize();
    check_not_devnet(&genesis)?;
    Ok(genesis)
}

/// What `memecoin-relay genesis` makes a chain spec from: its flags, and its `--spec` TOML.
/// Amounts are coins (text, as a wallet writes them: `"1000000"`, `"0.5"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub chain_name: Option<String>,
    pub genesis_time_ms: Option<u64>,
    /// Coins each validator stakes unless it names its own.
    pub stake: Option<String>,
    /// Parameters by name (`Params`' fields); the rest standard (or devnet's).
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, u64>,
    #[serde(default)]
    pub validator: Vec<SpecValidator>,
    #[serde(default)]
    pub account: Vec<SpecAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecValidator {
    /// SEC1 compressed, hex.
    pub public_key: String,
    /// The hash chain's commitment, hex.
    pub commitment: String,
    pub stake: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecAccount {
    pub address: String,
    pub coins: String,
}

fn coins(what: &str, text: &str) -> anyhow::Result<u64> {
    memecoin_wallet::units::parse_amount(text).map_err(|e| anyhow::anyhow!("{what} {text:?}: {e}"))
}

/// `base` with the parameters `spec` names; an unknown name is refused.
fn params_from(base: Params, spec: &NetworkSpec) -> anyhow::Result<Params> {
    let mut json = serde_json::to_value(&base)?;
    for (name, value) in &spec.params {
        let Some(field) = json.get_mut(name) else {
            anyhow::bail!("params: no parameter named {name:?}");
        };
        *field = serde_json::Value::from(*value);
    }
    Ok(serde_json::from_value(json)?)
}

/// The validators and accounts of `spec`, each validator with `default_stake` unless it names
/// its own and `balance` for its renewal fees; refuses a malformed key, commitment, address or
/// amount, and any key or address given twice.
fn members(
    spec: &NetworkSpec,
    default_stake: u64,
    balance: u64,
) -> anyhow::Result<(Vec<GenesisValidator>, Vec<GenesisAccount>)> {
    let mut validators = Vec::new();
    let mut accounts: Vec<GenesisAccount> = Vec::new();
    for v in &spec.validator {
        let bytes = hex::decode(&v.public_key)
            .map_err(|e| anyhow::anyhow!("validator public key {:?}: {e}", v.public_key))?;
        let key = PublicKey::from_sec1(&bytes)
            .map_err(|e| anyhow::anyhow!("validator public key {:?}: {e}", v.public_key))?;
        let commitment = Hash::from_hex(&v.commitment)
            .map_err(|e| anyhow::anyhow!("validator commitment {:?}: {e}", v.commitment))?;
        if validators.iter().any(|g: &GenesisValidator| g.key == key) {
            anyhow::bail!("validator {} is given twice", v.public_key);
        }
        let stake = match &v.stake {
            Some(text) => coins("stake", text)?,
            None => default_stake,
        };
        validators.push(GenesisValidator { key: key.clone(), stake, commitment });
        accounts.push(GenesisAccount { address: Address::from_public_key(&key), balance });
    }
    for a in &spec.account {
        let address = Address::parse(&a.address)
            .map_err(|e| anyhow::anyhow!("account address {:?}: {e}", a.address))?;
        let balance = coins("account coins", &a.coins)?;
        match accounts.iter_mut().find(|g| g.address == address) {
            // A validator's own account: its renewal fees and what it is given.
            Some(g) if validators.iter().any(|v| Address::from_public_key(&v.key) == address) => {
                g.balance = g.balance.checked_add(balance).ok_or_else(|| {
                    anyhow::anyhow!("account {}: the balance overflows", a.address)
                })?;
            }
            Some(_) => anyhow::bail!("account {} is given twice", a.address),
            None => accounts.push(GenesisAccount { address, balance }),
        }
    }
    Ok((validators, accounts))
}

/// A chain spec for a real network from `spec` (`memecoin-relay genesis` without `--devnet`):
/// the standard parameters but those it names, its validators (public keys and commitments:
/// nobody's secret key file is needed) with their stakes and [`DEVNET_VALIDATOR_BALANCE`] for
/// renewal fees, its accounts. Refuses what core's [`Genesis::build`] refuses (no validator, a
/// stake under the minimum, …) and what [`check_not_devnet`] does.
pub fn network_genesis(spec: &NetworkSpec, genesis_time_ms: u64) -> anyhow::Result<Genesis> {
    let Some(name) = spec.chain_name.clone().filter(|n| !n.trim().is_empty()) else {
        anyhow::bail!("a chain name is required (--chain-name, or --devnet for a devnet)");
    };
    if spec.validator.is_empty() {
        anyhow::bail!(
            "a chain needs at least one validator (--validator PUBLIC_KEY:COMMITMENT, \
             --validator-key FILE, or [[validator]] in --spec)"
        );
    }
    let stake = match &spec.stake {
        Some(text) => coins("stake", text)?,
        None => STANDARD_STAKE,
    };
    let (validators, accounts) = members(spec, stake, DEVNET_VALIDATOR_BALANCE)?;
    let mut genesis = Genesis {
        chain_name: name,
        genesis_time_ms,
        params: params_from(Params::standard(), spec)?,
        accounts,
        validators,
    };
    genesis.canonicalize();
    // Core's rules first (a parameter out of range is named as such), then a devnet's look.
    genesis.build().map_err(|e| anyhow::anyhow!("{e}"))?;
    check_not_devnet(&genesis)?;
    Ok(genesis)
}

/// A devnet spec from `spec` (`genesis --devnet`): devnet parameters but those it names, the
/// public test phrase's account funded, named `memecoin-devnet` unless it says otherwise, and
/// devnet validator 0 if it names no validator.
pub fn devnet_genesis_from(spec: &NetworkSpec, genesis_time_ms: u64) -> anyhow::Result<Genesis> {
    let stake = match &spec.stake {
        Some(text) => coins("stake", text)?,
        None => DEVNET_STAKE,
    };
    let (mut validators, mut accounts) = members(spec, stake, DEVNET_VALIDATOR_BALANCE)?;
    if validators.is_empty() {
        let v = devnet_validator(0)?;
        let key = v.key.public_key();
        accounts.push(GenesisAccount {
            address: Address::from_public_key(&key),
            balance: DEVNET_VALIDATOR_BALANCE,
        });
        validators.push(GenesisValidator { key, stake, commitment: v.chain.commitment() });
    }
    let mut genesis = devnet_genesis_with(&[], genesis_time_ms)?;
    genesis.validators = validators;
    genesis.accounts.extend(accounts);
    if let Some(name) = &spec.chain_name {
        genesis.chain_name = name.clone();
    }
    genesis.params = params_from(Params::devnet(), spec)?;
    genesis.canonicalize();
    genesis.build().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(genesis)
}

/// Refuses a spec that is not for a devnet but looks like one: a name with "devnet" in it, the
/// devnet's parameters, unbonding shorter than a week (a light client could not skip from a
/// position a few days old, §13.2), or coins for the public test phrase's account (anyone can
/// spend them: on a real chain they would buy a blocking share of the stake).
pub fn check_not_devnet(genesis: &Genesis) -> anyhow::Result<()> {
    if genesis.chain_name.contains("devnet") {
        anyhow::bail!("a chain that is not a devnet must not be named \"{}\"", genesis.chain_name);
    }
    let params = &genesis.params;
    if *params == Params::devnet() {
        anyhow::bail!("devnet parameters are for devnets only (use --devnet)");
    }
    let week_ms: u128 = 7 * 24 * 3600 * 1000;
    let unbonding_ms = u128::from(params.unbonding_epochs)
        * u128::from(params.slots_per_epoch)
        * u128::from(params.slot_ms);
    if unbonding_ms < week_ms {
        anyhow::bail!(
            "unbonding lasts {} s, under a week: wallets could not trust a checkpoint a few days \
             old (PROTOCOL.md §13.2)",
            unbonding_ms / 1000
        );
    }
    let public = Address::from_public_key(&devnet_dev_key()?.public_key());
    if genesis.accounts.iter().any(|a| a.address == public && a.balance > 0) {
        anyhow::bail!("the public test phrase's account is funded only on a devnet (use --devnet)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key file made from a recovery phrase proposes from the chain the wallet's first stake
    /// registered, and renews to the wallet's renewals: the protocol vectors' values, which the
    /// wasm wallet's tests check too.
    /// A spec for real use funds no public phrase and has no devnet parameters.
    #[test]
    fn a_standard_spec_is_no_devnet() {
        let v = devnet_validator(0).unwrap();
        let keys = [(v.key.public_key(), v.chain.commitment())];
        let g = standard_genesis("memecoin", &keys, STANDARD_STAKE, 0).unwrap();
        g.build().unwrap();
        assert_eq!(g.params, Params::standard());
        assert_eq!(g.accounts.len(), 1, "the validator's account only");
        let devnet = devnet_genesis_with(&keys, 0).unwrap();
        let refused = |g: &Genesis| check_not_devnet(g).unwrap_err().to_string();
        assert!(refused(&devnet).contains("devnet"));
        let mut renamed = devnet.clone();
        renamed.chain_name = "memecoin".into();
        assert!(refused(&renamed).contains("devnet parameters"));
        let mut short = g.clone();
        short.params.unbonding_epochs = 2;
        assert!(refused(&short).contains("under a week"));
        let mut funded = g.clone();
        let dev = Address::from_public_key(&devnet_dev_key().unwrap().public_key());
        funded.accounts.push(GenesisAccount { address: dev, balance: 1 });
        assert!(refused(&funded).contains("public test phrase"));
        assert!(standard_genesis("my-devnet", &keys, STANDARD_STAKE, 0).is_err());
    }

    #[test]
    fn a_key_from_a_phrase_has_the_wallets_hash_chains() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../core/tests/vectors/protocol.json")).unwrap();
        let chains = &vectors["hash_chains"];
        let (v, secret) = from_phrase(DEVNET_PHRASE, "", 0, 0).unwrap();
        let hex = |h: Hash| serde_json::Value::String(h.to_hex());
        assert_eq!(hex(v.chain.commitment()), chains["wallet_commitment_key_0"]);
        assert_eq!(
            hex(v.chain.renewal(1).commitment()),
            chains["wallet_renewal_1_commitment_key_0"]
        );
        // Saved and loaded, the same chain; the file is its owner's only, and never overwritten.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator.key");
        save(&v, &secret, &path).unwrap();
        assert_eq!(load(&path).unwrap().chain.commitment(), v.chain.commitment());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(save(&v, &secret, &path).is_err(), "an existing key file is not overwritten");
    }
}
