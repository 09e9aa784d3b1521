//! The protocol test vectors: computed here, stored in `core/tests/vectors/protocol.json` by
//! `cargo xtask vectors`, and checked against that file by `tests/vectors.rs`. A second
//! implementation checks itself against the JSON file (PROTOCOL.md, "Test vectors").

use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::crypto::SecretKey;
use memecoin_core::encode::Encode;
use memecoin_core::finality::{Certificate, Checkpoint, Vote};
use memecoin_core::genesis::{Genesis, GenesisAccount, GenesisValidator};
use memecoin_core::hash::{Domain, tagged_hash};
use memecoin_core::light;
use memecoin_core::merkle;
use memecoin_core::params::Params;
use memecoin_core::pos::HashChain;
use memecoin_core::state;
use memecoin_core::tree::MemStore;
use memecoin_core::tx::{Tx, TxKind};
use memecoin_wallet::hd;
use serde_json::{Value, json};

pub const PHRASE: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

fn hex(b: impl AsRef<[u8]>) -> String {
    ::hex::encode(b)
}

fn wallet(index: u32) -> SecretKey {
    let phrase = hd::parse_phrase(PHRASE).unwrap();
    let seed = hd::seed_from_phrase(&phrase, "");
    hd::wallet_key(&seed, 0, index).unwrap()
}

/// Every vector, as one JSON document.
pub fn generate() -> Value {
    let domains = Domain::ALL;
    let hashing: Vec<Value> = domains
        .iter()
        .map(|d| json!({ "tag": d.tag(), "data": hex(b"abc"), "hash": tagged_hash(*d, &[b"abc"]).to_hex() }))
        .collect();

    let keys: Vec<Value> = (0..3)
        .map(|i| {
            let k = wallet(i);
            let pk = k.public_key();
            let address = Address::from_public_key(&pk);
            json!({
                "phrase": PHRASE, "passphrase": "", "path": hd::wallet_path(0, i).unwrap().to_string(),
                "secret_key": hex(k.to_bytes()), "public_key": pk.to_hex(),
                "address_bytes": hex(address.0), "address": address.to_text(),
            })
        })
        .collect();

    // A two-validator chain, its first block and a certificate.
    let (v0, v1, user) = (wallet(0), wallet(1), wallet(2));
    let secret = |k: &SecretKey| tagged_hash(Domain::Reveal, &[b"vector secret", &k.to_bytes()]);
    let chain_of = |k: &SecretKey| HashChain::new(secret(k), 16);
    let mut genesis = Genesis {
        chain_name: "memecoin-vectors".into(),
        genesis_time_ms: 1_767_225_600_000,
        params: Params::devnet(),
        accounts: vec![GenesisAccount {
            address: Address::from_public_key(&user.public_key()),
            balance: 1_000_000_000_000,
        }],
        validators: [&v0, &v1]
            .iter()
            .map(|k| GenesisValidator {
                key: k.public_key(),
                stake: 5_000_000_000,
                commitment: chain_of(k).commitment(),
            })
            .collect(),
    };
    genesis.canonicalize();
    let (chain, genesis_state, nodes) = genesis.build().unwrap();
    let mut store = MemStore::default();
    store.extend(nodes);

    let to = Address::from_public_key(&v1.public_key());
    let kinds = [
        ("transfer", TxKind::Transfer { to, amount: 250_000_000 }),
        (
            "stake",
            TxKind::Stake { amount: 2_000_000_000, commitment: chain_of(&user).commitment() },
        ),
        ("unstake", TxKind::Unstake { amount: 1_000_000_000 }),
    ];
    let mut signed_txs = Vec::new();
    let txs: Vec<Value> = kinds
        .iter()
        .enumerate()
        .map(|(n, (name, kind))| {
            let tx = Tx { chain_id: chain.id, sender: user.public_key(), nonce: n as u64, fee: 1_000, kind: kind.clone() };
            let signed = tx.clone().sign(&user);
            signed_txs.push(signed.clone());
            json!({
                "kind": name, "unsigned": hex(tx.to_bytes()), "id": tx.id().to_hex(),
                "signing_digest": tx.signing_digest().to_hex(), "signature": hex(signed.signature.to_compact()),
                "signed": hex(signed.to_bytes()),
            })
        })
        .collect();

    let slot = 1;
    let proposer_key = state::proposer_for(&chain, &genesis_state, slot).unwrap();
    let proposer = if proposer_key == v0.public_key() { &v0 } else { &v1 };
    let reveal = chain_of(proposer).reveal(1).unwrap();
    let built = state::build_block(
        &store,
        &chain,
        &genesis_state,
        proposer,
        slot,
        &reveal,
        &signed_txs,
        None,
        state::Signatures::Verify,
    )
    .unwrap();
    assert!(built.rejected.is_empty());
    let block: Block = built.block;
    store.extend(built.applied.nodes.clone());
    let s1 = built.applied.state;
    let h = &block.header.header;

    let vote = Vote {
        epoch: 0,
        source: s1.meta.justified,
        target: Checkpoint { height: 1, hash: block.hash() },
    };
    let votes = [vote.sign(&chain.id, &v0), vote.sign(&chain.id, &v1)];
    let cert = Certificate::from_votes(vote, &s1.meta.current, &votes);
    cert.verify(&chain.id, &s1.meta.current).unwrap();

    let user_address = Address::from_public_key(&user.public_key());
    let present = light::prove_account(&store, &s1, &user_address).unwrap();
    let absent_address = Address([0x42; 20]);
    let absent = light::prove_account(&store, &s1, &absent_address).unwrap();
    let ids = block.tx_ids();
    let inclusion = merkle::prove(&ids, 1).unwrap();

    let registration = state::Registration {
        key: v0.public_key(),
        commitment: chain_of(&v0).commitment(),
        renewal: chain_of(&v0).renewal(1).commitment(),
        renewal_epoch: 5,
        last_active: 3,
    };

    json!({
        "about": "memecoin protocol test vectors. Regenerate with `cargo xtask vectors`; PROTOCOL.md explains each field. All byte strings are lower-case hex.",
        "hashing": hashing,
        "keys": keys,
        "genesis": {
            "json": genesis.to_json(),
            "encoded": hex(genesis.to_bytes()),
            "chain_id": chain.id.to_hex(),
            "state_root": genesis_state.state_root().to_hex(),
            "validator_set": hex(genesis_state.meta.current.to_bytes()),
            "validator_set_hash": genesis_state.meta.current.hash().to_hex(),
            "slot_1_proposer": proposer_key.to_hex(),
        },
        "transactions": txs,
        "block": {
            "header": hex(h.to_bytes()),
            "hash": block.hash().to_hex(),
            "signing_digest": h.signing_digest(&chain.id).to_hex(),
            "signature": hex(block.header.signature.to_compact()),
            "tx_root": h.tx_root.to_hex(),
            "state_root": h.state_root.to_hex(),
            "encoded": hex(block.to_bytes()),
            // The block's unstake queued one payout: entry 0 of queue 0 of the releases tree.
            "release_key_0_0": state::release_key(0, 0).to_hex(),
            "release_0_0": hex(state::Release { epoch: s1.meta.releases.unstaked.first_epoch, address: user_address }.to_bytes()),
            "releases_root": s1.meta.releases.root.to_hex(),
            "meta_hash": s1.meta.hash().to_hex(),
        },
        "vote": {
            "unsigned": hex(vote.to_bytes()),
            "hash": vote.hash().to_hex(),
            "signing_digest": vote.signing_digest(&chain.id).to_hex(),
            "signed_by_first_validator": hex(votes[0].to_bytes()),
        },
        "certificate": { "encoded": hex(cert.to_bytes()), "hash": cert.hash().to_hex() },
        "account_proofs": [
            { "state_root": s1.state_root().to_hex(), "address": user_address.to_text(), "proof": hex(present.to_bytes()),
              "balance": present.account.as_ref().unwrap().balance, "nonce": present.account.as_ref().unwrap().nonce,
              "stake": present.account.as_ref().unwrap().stake },
            { "state_root": s1.state_root().to_hex(), "address": absent_address.to_text(), "proof": hex(absent.to_bytes()), "absent": true },
        ],
        "inclusion_proof": { "tx_root": h.tx_root.to_hex(), "tx_id": ids[1].to_hex(), "proof": hex(inclusion.to_bytes()) },
        "hash_chains": {
            "secret_of_key_0": secret(&v0).to_hex(),
            "length": 16,
            "commitment": chain_of(&v0).commitment().to_hex(),
            "first_reveal": chain_of(&v0).reveal(1).unwrap().to_hex(),
            "renewal_1_commitment": chain_of(&v0).renewal(1).commitment().to_hex(),
            "renewal_2_commitment": chain_of(&v0).renewal(2).commitment().to_hex(),
            "wallet_commitment_key_0": HashChain::wallet(&v0).commitment().to_hex(),
            "wallet_renewal_1_commitment_key_0": HashChain::wallet(&v0).renewal(1).commitment().to_hex(),
        },
        "inactivity": {
            "inactivity_epochs": state::INACTIVITY_EPOCHS,
            "registration": {
                "key": v0.public_key().to_hex(),
                "commitment": chain_of(&v0).commitment().to_hex(),
                "renewal": chain_of(&v0).renewal(1).commitment().to_hex(),
                "renewal_epoch": 5,
                "last_active": 3,
                "encoded": hex(registration.to_bytes()),
            },
            "inactive_at_epoch_515": registration.is_inactive_at(515),
            "inactive_at_epoch_516": registration.is_inactive_at(516),
        },
        "bad_addresses": [
            { "text": user_address.to_text().to_uppercase(), "valid": true },
            { "text": mutate_last(&user_address.to_text()), "error": "BadChecksum" },
            { "text": mixed_case(&user_address.to_text()), "error": "MixedCase" },
            { "text": bech32::encode_lower::<bech32::Bech32m>(bech32::Hrp::parse("mem").unwrap(), &[0; 20]).unwrap(), "error": "WrongPrefix" },
        ],
    })
}

fn mutate_last(s: &str) -> String {
    let mut c: Vec<char> = s.chars().collect();
    let last = c.len() - 1;
    c[last] = if c[last] == 'q' { 'p' } else { 'q' };
    c.into_iter().collect()
}

fn mixed_case(s: &str) -> String {
    s.char_indices().map(|(i, c)| if i == 5 { c.to_ascii_uppercase() } else { c }).collect()
}
