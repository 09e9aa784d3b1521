//! The light-client fixture the wasm tests run on: `tests/data/light_chain.json`.
//!
//! protocol.json has block 1 of the vector chain and a certificate for `genesis -> 1`, which a
//! light client at genesis cannot use (it finalizes height 0). This native test builds the same
//! chain one block further with core (block 2 carries the certificate for block 1, and both
//! validators vote `1 -> 2`), so a finality proof for block 1 exists, plus forged variants. It
//! checks that the stored file equals what core computes; `UPDATE_FIXTURES=1 cargo test -p
//! memecoin-wasm --test fixture` rewrites it.
#![cfg(not(target_arch = "wasm32"))]

use memecoin_core::address::Address;
use memecoin_core::crypto::SecretKey;
use memecoin_core::encode::Encode;
use memecoin_core::finality::{Certificate, Checkpoint, Vote};
use memecoin_core::genesis::Genesis;
use memecoin_core::hash::{Domain, Hash, tagged_hash};
use memecoin_core::light::{FinalityProof, LightClient};
use memecoin_core::pos::HashChain;
use memecoin_core::state::{self, ChainState};
use memecoin_core::tree::MemStore;
use memecoin_core::tx::{Tx, TxKind};
use memecoin_wallet::hd;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const PROTOCOL: &str = include_str!("../../core/tests/vectors/protocol.json");
const FIXTURE: &str = "tests/data/light_chain.json";

fn wallet(phrase: &str, index: u32) -> SecretKey {
    let seed = hd::seed_from_phrase(&hd::parse_phrase(phrase).unwrap(), "");
    hd::wallet_key(&seed, 0, index).unwrap()
}

fn hash_chain(k: &SecretKey) -> HashChain {
    HashChain::new(tagged_hash(Domain::Reveal, &[b"vector secret", &k.to_bytes()]), 16)
}

fn generate() -> Value {
    let vectors: Value = serde_json::from_str(PROTOCOL).unwrap();
    let phrase = vectors["keys"][0]["phrase"].as_str().unwrap();
    let (v0, v1, user) = (wallet(phrase, 0), wallet(phrase, 1), wallet(phrase, 2));
    let genesis = Genesis::from_json(vectors["genesis"]["json"].as_str().unwrap()).unwrap();
    let (chain, s0, nodes) = genesis.build().unwrap();
    let mut store = MemStore::default();
    store.extend(nodes);
    let mut revealed: BTreeMap<[u8; 33], u64> = BTreeMap::new();

    let mut produce = |state: &ChainState, slot: u64, txs: &[_], cert: Option<Certificate>| {
        let key = state::proposer_for(&chain, state, slot).unwrap();
        let k = if key == v0.public_key() { &v0 } else { &v1 };
        let used = revealed.entry(*key.as_bytes()).or_default();
        *used += 1;
        let reveal = hash_chain(k).reveal(*used).unwrap();
        let built = state::build_block(
            &store,
            &chain,
            state,
            k,
            slot,
            &reveal,
            txs,
            cert,
            state::Signatures::Verify,
        )
        .unwrap();
        assert!(built.rejected.is_empty());
        store.extend(built.applied.nodes.clone());
        (built.block, built.applied.state)
    };

    // Block 1: the vector block, rebuilt (checked equal below).
    let to = Address::from_public_key(&v1.public_key());
    let kinds = [
        TxKind::Transfer { to, amount: 250_000_000 },
        TxKind::Stake { amount: 2_000_000_000, commitment: hash_chain(&user).commitment() },
        TxKind::Unstake { amount: 1_000_000_000 },
    ];
    let txs: Vec<_> = kinds
        .into_iter()
        .zip(0u64..)
        .map(|(kind, nonce)| {
            let tx = Tx { chain_id: chain.id, sender: user.public_key(), nonce, fee: 1_000, kind };
            tx.sign(&user)
        })
        .collect();
    let (b1, s1) = produce(&s0, 1, &txs, None);
    assert_eq!(hex::encode(b1.to_bytes()), vectors["block"]["encoded"].as_str().unwrap());

    let vote_for = |state: &ChainState, height: u64, hash: Hash| {
        let vote =
            Vote { epoch: 0, source: state.meta.justified, target: Checkpoint { height, hash } };
        let votes = [vote.sign(&chain.id, &v0), vote.sign(&chain.id, &v1)];
        (vote, votes)
    };
    let (vote1, votes1) = vote_for(&s1, 1, b1.hash());
    let cert1 = Certificate::from_votes(vote1, &s1.meta.current, &votes1);

    // Block 2 justifies block 1; the certificate for 1 -> 2 finalizes block 1.
    let (b2, s2) = produce(&s1, 2, &[], Some(cert1));
    let (vote2, votes2) = vote_for(&s2, 2, b2.hash());
    let set = &s2.meta.current;
    let cert2 = Certificate::from_votes(vote2, set, &votes2);
    let proof = FinalityProof {
        source: b1.header.header.clone(),
        target: b2.header.clone(),
        certificate: cert2.clone(),
        target_set: None,
    };

    // Forgeries: half the stake only; the target re-signed by the validator not elected.
    let half = FinalityProof {
        certificate: Certificate::from_votes(vote2, set, &votes2[..1]),
        ..proof.clone()
    };
    let proposer2 = b2.header.header.proposer.clone();
    let other = if proposer2 == v0.public_key() { &v1 } else { &v0 };
    let resigned = b2.header.header.clone().sign(&chain.id, other);
    let bad_signature = FinalityProof { target: resigned.clone(), ..proof.clone() };

    // What the wasm tests expect, checked natively first.
    let mut client = LightClient::from_genesis(&genesis).unwrap();
    assert!(client.clone().accept_finality(&half, &[]).is_err());
    assert!(client.clone().accept_finality(&bad_signature, &[]).is_err());
    client.accept_finality(&proof, &[]).unwrap();
    assert_eq!(client.finalized().hash, b1.hash());
    assert_eq!(client.head().hash, b2.hash());

    // A spec with integers above 2^53 − 1, which core writes as decimal strings (PROTOCOL.md
    // §14.2), so the wasm's JSON.parse-based reader can be checked against core's chain id.
    let mut large = genesis.clone();
    large.chain_name = "memecoin-large-integers".into();
    large.genesis_time_ms = (1 << 53) + 1;
    large.accounts[0].balance = (1 << 63) + 1;
    let large_json = large.to_json();
    assert!(large_json.contains("\"9223372036854775809\""));
    large.build().unwrap();
    assert_eq!(Genesis::from_json(&large_json).unwrap(), large);

    json!({
        "about": "Light-client fixture for the wasm tests: the protocol.json chain extended by block 2. Generated by wasm/tests/fixture.rs.",
        "block_1_signed_header": hex::encode(b1.header.to_bytes()),
        "block_1_hash": b1.hash().to_hex(),
        "block_2_signed_header": hex::encode(b2.header.to_bytes()),
        "block_2_hash": b2.hash().to_hex(),
        "block_2_signed_by_other": hex::encode(resigned.to_bytes()),
        "finality_proof": hex::encode(proof.to_bytes()),
        "finality_proof_half_stake": hex::encode(half.to_bytes()),
        "finality_proof_bad_signature": hex::encode(bad_signature.to_bytes()),
        "genesis_large": { "json": large_json, "chain_id": large.chain_id().to_hex() },
    })
}

#[test]
fn fixture_is_current() {
    let generated = serde_json::to_string_pretty(&generate()).unwrap() + "\n";
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(FIXTURE, &generated).unwrap();
    }
    let stored = std::fs::read_to_string(FIXTURE).unwrap_or_default();
    assert!(
        stored == generated,
        "{FIXTURE} is stale: run `UPDATE_FIXTURES=1 cargo test -p memecoin-wasm --test fixture`"
    );
}
