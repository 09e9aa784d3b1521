//! The stored protocol vectors still match what the code computes, and each stored byte string
//! decodes and verifies on its own (as a second implementation would use them).

#[path = "support/vectors.rs"]
mod vectors;

use memecoin_core::address::{Address, AddressError};
use memecoin_core::block::Block;
use memecoin_core::encode::Decode;
use memecoin_core::hash::Hash;
use memecoin_core::light::{self, AccountProof};
use memecoin_core::merkle::{self, InclusionProof};
use memecoin_core::tx::SignedTx;
use serde_json::Value;

const STORED: &str = include_str!("vectors/protocol.json");

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn stored_vectors_match_the_code() {
    let stored: Value = serde_json::from_str(STORED).unwrap();
    let computed = vectors::generate();
    for key in computed.as_object().unwrap().keys() {
        assert_eq!(
            stored[key], computed[key],
            "vector section {key:?} differs: run `cargo xtask vectors` if the change is intended"
        );
    }
}

#[test]
fn stored_vectors_decode_and_verify() {
    let v: Value = serde_json::from_str(STORED).unwrap();
    for tx in v["transactions"].as_array().unwrap() {
        let signed = SignedTx::from_bytes(&bytes(&tx["signed"])).unwrap();
        assert_eq!(signed.id().to_hex(), tx["id"].as_str().unwrap());
        signed.verify_signature().unwrap();
    }
    let block = Block::from_bytes(&bytes(&v["block"]["encoded"])).unwrap();
    let chain_id = Hash::from_hex(v["genesis"]["chain_id"].as_str().unwrap()).unwrap();
    block.header.verify_signature(&chain_id).unwrap();
    assert_eq!(merkle::root(&block.tx_ids()).to_hex(), v["block"]["tx_root"].as_str().unwrap());

    // A tree of one entry has that entry's leaf as its root (§6.3, §6.5).
    let b = &v["block"];
    let key = Hash::from_hex(b["release_key_0_0"].as_str().unwrap()).unwrap();
    assert_eq!(key, memecoin_core::state::release_key(0, 0));
    let leaf = memecoin_core::tree::leaf_hash(&key, &bytes(&b["release_0_0"]));
    assert_eq!(leaf.to_hex(), b["releases_root"].as_str().unwrap());

    for p in v["account_proofs"].as_array().unwrap() {
        let root = Hash::from_hex(p["state_root"].as_str().unwrap()).unwrap();
        let address = Address::parse(p["address"].as_str().unwrap()).unwrap();
        let proof = AccountProof::from_bytes(&bytes(&p["proof"])).unwrap();
        let account = light::verify_account(&root, &address, &proof).unwrap();
        match account {
            Some(a) => assert_eq!(a.balance, p["balance"].as_u64().unwrap()),
            None => assert_eq!(p["absent"], Value::Bool(true)),
        }
    }
    let inc = &v["inclusion_proof"];
    let proof = InclusionProof::from_bytes(&bytes(&inc["proof"])).unwrap();
    let root = Hash::from_hex(inc["tx_root"].as_str().unwrap()).unwrap();
    let id = Hash::from_hex(inc["tx_id"].as_str().unwrap()).unwrap();
    merkle::verify(&root, &id, &proof).unwrap();

    for a in v["bad_addresses"].as_array().unwrap() {
        let r = Address::parse(a["text"].as_str().unwrap());
        match a["error"].as_str() {
            None => assert!(r.is_ok()),
            Some("BadChecksum") => assert_eq!(r, Err(AddressError::BadChecksum)),
            Some("MixedCase") => assert_eq!(r, Err(AddressError::MixedCase)),
            Some("WrongPrefix") => assert!(matches!(r, Err(AddressError::WrongPrefix { .. }))),
            Some(other) => panic!("unknown error kind {other}"),
        }
    }
}
