//! The catch-up history of `bench/wasm` (`bench/wasm/catch_up.json`): a real chain of 100,002
//! blocks, one per slot (12,500 epochs of 8 slots), built with core's block production by 4
//! equal validators that vote on every block, as a healthy devnet does. Blocks carry no
//! transactions; each carries the certificate for its parent, so finality trails the head by two
//! blocks. The file keeps the genesis and the newest finality proof, whose source is block
//! 100,000: the wasm bench times a light client going from genesis to that verified finalized
//! block, as a wallet far behind does with the relay's `get_finality` `latest` (PROTOCOL.md
//! §13.4, skipping).
//!
//! Building the chain takes minutes, so the test does not rebuild it: it checks that the stored
//! proof decodes and verifies with core from the stored genesis, to the stored height.
//! `UPDATE_FIXTURES=1 cargo test --release -p memecoin-wasm --test catch_up_fixture` rebuilds
//! the chain and rewrites the file (`CATCH_UP_BLOCKS` overrides the length, for a quick look).
#![cfg(not(target_arch = "wasm32"))]

use memecoin_core::address::Address;
use memecoin_core::crypto::SecretKey;
use memecoin_core::encode::{Decode, Encode};
use memecoin_core::finality::{Certificate, Checkpoint, Vote};
use memecoin_core::genesis::{Genesis, GenesisAccount, GenesisValidator};
use memecoin_core::hash::{Domain, Hash, tagged_hash};
use memecoin_core::light::{Anchor, FinalityProof, LightClient};
use memecoin_core::params::Params;
use memecoin_core::pos::{HashChain, reveal_step};
use memecoin_core::state::{self, ChainState};
use memecoin_core::tree::MemStore;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const FIXTURE: &str = "../bench/wasm/catch_up.json";
const VALIDATORS: u32 = 4;
/// Source of the newest proof at height `BLOCKS - 2`.
const BLOCKS: u64 = 100_002;
/// Hash-chain length per validator: more than its share of `BLOCKS` proposals.
const CHAIN_LENGTH: u64 = 40_000;

fn key(i: u32) -> SecretKey {
    let bytes = tagged_hash(Domain::Reveal, &[b"catch-up validator", &i.to_be_bytes()]);
    SecretKey::from_bytes(bytes.as_bytes()).unwrap()
}

fn secret(k: &SecretKey) -> Hash {
    tagged_hash(Domain::Reveal, &[b"catch-up secret", &k.to_bytes()])
}

/// The whole hash chain `H^0(secret) ..= H^L(secret)`: the `k`-th proposal reveals `H^(L-k)`
/// (PROTOCOL.md §9.3), read here instead of walked from the secret each time.
fn hash_chain(k: &SecretKey) -> Vec<Hash> {
    let mut chain = vec![secret(k)];
    for i in 0..CHAIN_LENGTH as usize {
        chain.push(reveal_step(&chain[i]));
    }
    assert_eq!(chain[CHAIN_LENGTH as usize], HashChain::new(secret(k), CHAIN_LENGTH).commitment());
    chain
}

fn genesis(keys: &[SecretKey]) -> Genesis {
    let mut genesis = Genesis {
        chain_name: "memecoin-bench-catch-up".into(),
        genesis_time_ms: 1_767_225_600_000,
        params: Params::devnet(),
        accounts: vec![GenesisAccount {
            address: Address::from_public_key(&keys[0].public_key()),
            balance: 1_000_000_000_000,
        }],
        validators: keys
            .iter()
            .map(|k| GenesisValidator {
                key: k.public_key(),
                stake: 5_000_000_000,
                commitment: HashChain::new(secret(k), CHAIN_LENGTH).commitment(),
            })
            .collect(),
    };
    genesis.canonicalize();
    genesis
}

/// Builds the chain and returns the genesis and the newest finality proof.
fn build(blocks: u64) -> (Genesis, FinalityProof) {
    let keys: Vec<SecretKey> = (0..VALIDATORS).map(key).collect();
    let chains: BTreeMap<[u8; 33], Vec<Hash>> =
        keys.iter().map(|k| (*k.public_key().as_bytes(), hash_chain(k))).collect();
    let genesis = genesis(&keys);
    let (chain, mut state, nodes) = genesis.build().unwrap();
    let mut store = MemStore::default();
    store.extend(nodes);
    let mut proposals: BTreeMap<[u8; 33], usize> = BTreeMap::new();
    let mut certificate: Option<Certificate> = None;
    // The last three blocks and the state after the middle one, for the proof.
    let mut last: Vec<(memecoin_core::block::Block, ChainState)> = Vec::new();
    for slot in 1..=blocks {
        let proposer = state::proposer_for(&chain, &state, slot).unwrap();
        let k = keys.iter().find(|k| k.public_key() == proposer).unwrap();
        let used = proposals.entry(*proposer.as_bytes()).or_default();
        *used += 1;
        let reveal = chains[proposer.as_bytes()][CHAIN_LENGTH as usize - *used];
        let built = state::build_block(
            &store,
            &chain,
            &state,
            k,
            slot,
            &reveal,
            &[],
            certificate.take(),
            state::Signatures::Verify,
        )
        .unwrap();
        store.extend(built.applied.nodes);
        state = built.applied.state;
        // Every validator votes on the new tip; the next block carries the certificate.
        let vote = Vote {
            epoch: chain.params.epoch_of(slot),
            source: state.meta.justified,
            target: Checkpoint { height: state.tip.height, hash: state.tip.hash },
        };
        let votes: Vec<_> = keys.iter().map(|k| vote.sign(&chain.id, k)).collect();
        let set = state::voting_set(&state, vote.epoch).unwrap();
        certificate = Some(Certificate::from_votes(vote, set, &votes));
        last.push((built.block, state.clone()));
        if last.len() > 3 {
            last.remove(0);
        }
    }
    let [(source, _), (target, after_target), (carrier, after)] = &last[..] else {
        panic!("at least three blocks")
    };
    assert_eq!(after.meta.finalized.hash, source.hash(), "finality trails the head by two");
    let proof = FinalityProof {
        source: source.header.header.clone(),
        target: target.header.clone(),
        certificate: carrier.certificate.clone().unwrap(),
        target_set: Some(after_target.meta.current.clone()),
    };
    (genesis, proof)
}

/// What the light client does in the bench: from genesis, the one proof.
fn catch_up(genesis: &Genesis, proof: &FinalityProof) -> LightClient {
    let mut client = LightClient::from_genesis(genesis).unwrap();
    assert_eq!(client.accept_finality(proof, &[]), Ok(Anchor::of(&proof.source)));
    client
}

fn fixture(genesis: &Genesis, proof: &FinalityProof) -> Value {
    let params = &genesis.params;
    json!({
        "about": "A light client's catch-up from genesis over a real chain of empty blocks (one per slot, every block certified by all 4 validators): the genesis and the newest finality proof, accepted by skipping. Generated by wasm/tests/catch_up_fixture.rs.",
        "blocks": proof.source.height + 2,
        "epochs": params.epoch_of(proof.target.header.slot) + 1,
        "validators": VALIDATORS,
        "finalized_height": proof.source.height,
        "genesis_json": genesis.to_json(),
        "finality_proof": hex::encode(proof.to_bytes()),
    })
}

#[test]
fn catch_up_fixture_verifies() {
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        let blocks = std::env::var("CATCH_UP_BLOCKS").map_or(BLOCKS, |b| b.parse().unwrap());
        let (genesis, proof) = build(blocks);
        catch_up(&genesis, &proof);
        let text = serde_json::to_string_pretty(&fixture(&genesis, &proof)).unwrap() + "\n";
        std::fs::write(FIXTURE, text).unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    let genesis = Genesis::from_json(stored["genesis_json"].as_str().unwrap()).unwrap();
    let bytes = hex::decode(stored["finality_proof"].as_str().unwrap()).unwrap();
    let proof = FinalityProof::from_bytes(&bytes).unwrap();
    // The stored figures are the proof's, and the proof is a skip far past 100,000 blocks.
    assert_eq!(stored, fixture(&genesis, &proof));
    assert!(proof.source.height >= 100_000, "{}", proof.source.height);
    let client = catch_up(&genesis, &proof);
    assert_eq!(client.finalized().height, proof.source.height);
    assert!(client.epoch() > 12_000);
}

/// The generator on a short chain (a little over `MAX_LINKS` blocks): it builds a valid chain whose newest proof a client at
/// genesis takes by skipping, and the stored genesis is the generator's.
#[test]
fn catch_up_generator_builds_a_chain_a_client_skips() {
    // Just past what a client links by headers (`MAX_LINKS`): the proof alone is taken.
    let blocks = memecoin_core::light::MAX_LINKS + 3;
    let (genesis, proof) = build(blocks);
    assert_eq!(proof.source.height, blocks - 2);
    let client = catch_up(&genesis, &proof);
    assert_eq!(client.epoch(), genesis.params.epoch_of(blocks - 1));
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    assert_eq!(stored["genesis_json"].as_str(), Some(genesis.to_json().as_str()));
}
