//! The wasm test suite, compiled twice: by `node.rs` (run by `wasm-pack test --node`) and by
//! `browser.rs` (configured `run_in_browser`, run by `wasm-pack test --headless --chrome`).
//! wasm-bindgen's runner skips, without failing, a suite configured for the other environment,
//! so each runner must report a non-zero count (`cargo xtask test` checks that).
//!
//! Data: `core/tests/vectors/protocol.json` and `wallet/tests/vectors/{bip39,bip39_nfkd,payment_uri}.json` (the shared vectors),
//! `tests/data/light_chain.json` (made by `tests/fixture.rs`) and `bench/wasm/catch_up.json`
//! (100,002 blocks of history, made by `tests/catch_up_fixture.rs`).

use memecoin_wasm::light::LightClient;
use memecoin_wasm::sign::{Sender, sign};
use memecoin_wasm::{Error, vault, wallet};
use serde_json::Value;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

const PROTOCOL: &str = include_str!("../../../core/tests/vectors/protocol.json");
const BIP39: &str = include_str!("../../../wallet/tests/vectors/bip39.json");
const BIP39_NFKD: &str = include_str!("../../../wallet/tests/vectors/bip39_nfkd.json");
const PAYMENT_URI: &str = include_str!("../../../wallet/tests/vectors/payment_uri.json");
const CHAIN: &str = include_str!("../data/light_chain.json");
const CATCH_UP: &str = include_str!("../../../bench/wasm/catch_up.json");

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("vector files are JSON")
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().fold(v, |v, k| &v[*k]).as_str().unwrap_or_else(|| panic!("{path:?} is a string"))
}

/// The message of the JavaScript `Error` a binding threw.
fn message(e: wasm_bindgen::JsError) -> String {
    js_sys::Error::from(JsValue::from(e)).message().into()
}

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &key.into()).expect("a field of a plain object")
}

// --- wallet -----------------------------------------------------------------------------------

#[wasm_bindgen_test]
fn phrases_round_trip() {
    for words in [12, 24] {
        let phrase = memecoin_wasm::wallet::generate_phrase(words).unwrap();
        assert_eq!(phrase.split(' ').count(), words as usize);
        assert_eq!(wallet::validate_phrase(&phrase).unwrap(), phrase);
        let other = memecoin_wasm::wallet::generate_phrase(words).unwrap();
        assert_ne!(phrase, other, "fresh randomness every time");
    }
    assert_eq!(
        message(wallet::generate_phrase(13).unwrap_err()),
        "a new phrase has 12 or 24 words, not 13"
    );
    let bad = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon";
    assert_eq!(
        message(wallet::validate_phrase(bad).unwrap_err()),
        "phrase checksum does not match"
    );
    assert_eq!(
        message(wallet::validate_phrase("abandon zzz").unwrap_err()),
        "phrase of 2 words; 12, 15, 18, 21 or 24 expected"
    );
}

#[wasm_bindgen_test]
fn bip39_vectors() {
    let vectors = json(BIP39);
    let english = vectors["english"].as_array().unwrap();
    assert_eq!(english.len(), 24);
    for v in english {
        let phrase = v[1].as_str().unwrap();
        assert_eq!(wallet::validate_phrase(phrase).unwrap(), phrase);
        let parsed = wallet::parse_phrase(phrase).unwrap();
        assert_eq!(hex::encode(parsed.to_entropy()), v[0].as_str().unwrap());
        let seed = wallet::seed(phrase, "TREZOR").unwrap();
        assert_eq!(hex::encode(seed), v[2].as_str().unwrap());
    }
}

/// NFKD is done by JavaScript in the wasm (core's Unicode tables are not linked): a phrase and
/// a passphrase that are not NFKD give the seed and address native core gives (the vector's
/// seed was computed independently, with Python's unicodedata and hashlib).
#[wasm_bindgen_test]
fn bip39_phrase_and_passphrase_are_nfkd_normalized() {
    let vectors = json(BIP39_NFKD);
    let vectors = vectors["vectors"].as_array().unwrap();
    assert!(!vectors.is_empty());
    for v in vectors {
        let [phrase, phrase_nfkd, passphrase, passphrase_nfkd, seed, address] =
            ["phrase", "phrase_nfkd", "passphrase", "passphrase_nfkd", "seed", "address"]
                .map(|k| s(v, &[k]));
        assert_ne!(passphrase, passphrase_nfkd);
        assert_eq!(wallet::nfkd(passphrase), passphrase_nfkd);
        assert_eq!(wallet::nfkd(phrase_nfkd), phrase_nfkd);
        assert_eq!(wallet::validate_phrase(phrase).unwrap(), phrase_nfkd);
        assert_eq!(hex::encode(wallet::seed(phrase, passphrase).unwrap()), seed);
        assert_eq!(hex::encode(wallet::seed(phrase_nfkd, passphrase_nfkd).unwrap()), seed);
        assert_eq!(wallet::derive_account(phrase, passphrase, 0, 0).unwrap().address, address);
    }
}

/// The wallet's hash chain (its first stake) and its renewals (PROTOCOL.md §9.3) are the ones
/// the vectors give, which `memecoin-relay keygen --from-phrase` also proposes from.
#[wasm_bindgen_test]
fn wallet_hash_chains_match_protocol_vectors() {
    let vectors = json(PROTOCOL);
    let chains = &vectors["hash_chains"];
    let key = &vectors["keys"][0];
    let (phrase, passphrase) = (s(key, &["phrase"]), s(key, &["passphrase"]));
    let first = memecoin_wasm::sign::stake_commitment(phrase, passphrase, 0, 0).unwrap();
    assert_eq!(first, s(chains, &["wallet_commitment_key_0"]));
    let renewed = memecoin_wasm::sign::renewal_commitment(phrase, passphrase, 0, 0, 1).unwrap();
    assert_eq!(renewed, s(chains, &["wallet_renewal_1_commitment_key_0"]));
    let again = memecoin_wasm::sign::renewal_commitment(phrase, passphrase, 0, 0, 0).unwrap();
    assert_eq!(again, first, "generation 0 is the first chain");
}

#[wasm_bindgen_test]
fn keys_and_addresses_match_protocol_vectors() {
    let vectors = json(PROTOCOL);
    for (i, key) in vectors["keys"].as_array().unwrap().iter().enumerate() {
        let account =
            wallet::derive_account(s(key, &["phrase"]), s(key, &["passphrase"]), 0, i as u32)
                .unwrap();
        assert_eq!(account.address, s(key, &["address"]));
        assert_eq!(account.public_key, s(key, &["public_key"]));
        assert_eq!(wallet::parse_address(&account.address).unwrap(), s(key, &["address_bytes"]));
        assert_eq!(wallet::format_address(s(key, &["address_bytes"])).unwrap(), account.address);
        assert_eq!(wallet::address_of_public_key(&account.public_key).unwrap(), account.address);
    }
    let expected = [
        "",
        "address checksum is wrong (typo?)",
        "address mixes upper and lower case",
        "address prefix is \"mem\", expected \"meme\"",
    ];
    for (bad, expected) in vectors["bad_addresses"].as_array().unwrap().iter().zip(expected) {
        match wallet::parse_address(s(bad, &["text"])) {
            Ok(_) => assert_eq!(bad["valid"], Value::Bool(true)),
            Err(e) => assert_eq!(message(e), expected),
        }
    }
    assert_eq!(
        message(wallet::format_address("00").unwrap_err()),
        "address holds 1 bytes, expected 20"
    );
    assert_eq!(
        message(
            wallet::derive_account(s(&vectors["keys"][0], &["phrase"]), "", 1 << 31, 0)
                .unwrap_err()
        ),
        "index 2147483648 is not below 2^31"
    );
}

// --- vault ------------------------------------------------------------------------------------

/// A vault written by the wallet's earlier, pure-Rust vault (RustCrypto `pbkdf2` + `aes-gcm`):
/// salt 07…07, nonce 09…09, password `hunter2`. WebCrypto must open it and write the same bytes.
const VAULT_V1: &str = r#"{"version":1,"kdf":"pbkdf2-sha256","iterations":600000,"salt":"07070707070707070707070707070707","nonce":"090909090909090909090909","ciphertext":"0f1f20025483ae459615169486ab99e9d45e05892dbcdb9ec7690d8facf1effbe0c587620447af0abbf171543e3984d94742248f9edef98996f902b809c0ed58b5b7c5ea91503e021777110bddcd7eac94bd2eeec75a47b61b20c4964f089f7076fa4cc2ced5a17d7c487759bc"}"#;
const VAULT_V1_PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                               abandon abandon abandon about";

#[wasm_bindgen_test]
async fn vault_round_trip_and_wrong_password() {
    let phrase = wallet::generate_phrase(24).unwrap();
    let blob =
        vault::encrypt_wallet(phrase.clone(), "".into(), "correct horse".into()).await.unwrap();
    let parsed = json(&blob);
    assert_eq!(parsed["version"], 2);
    assert_eq!(parsed["kdf"], "pbkdf2-sha256");
    assert_eq!(parsed["iterations"], 600_000);
    assert_eq!(s(&parsed, &["salt"]).len(), 32);
    assert_eq!(s(&parsed, &["nonce"]).len(), 24);
    let open = |blob: &str, password: &str| vault::decrypt_wallet(blob.into(), password.into());
    let secret = open(&blob, "correct horse").await.unwrap();
    assert_eq!(secret.get(0).as_string(), Some(phrase.clone()));
    assert_eq!(secret.get(1).as_string(), Some(String::new()));
    assert_eq!(message(open(&blob, "battery staple").await.err().unwrap()), "wrong password");
    let again =
        vault::encrypt_wallet(phrase.clone(), "".into(), "correct horse".into()).await.unwrap();
    assert_ne!(json(&again)["salt"], parsed["salt"], "fresh salt every time");
    assert!(message(open("{}", "x").await.err().unwrap()).starts_with("not a memecoin vault"));
    let altered = blob.replacen("\"ciphertext\":\"", "\"ciphertext\":\"00", 1);
    assert_eq!(message(open(&altered, "correct horse").await.err().unwrap()), "wrong password");
}

#[wasm_bindgen_test]
async fn vault_opens_version_1_and_keeps_a_passphrase() {
    // Written before passphrases: it still opens, with none.
    let v1 = vault::open(VAULT_V1, "hunter2").await.unwrap();
    assert_eq!(v1, (VAULT_V1_PHRASE.to_owned(), String::new()));
    assert_eq!(vault::open(VAULT_V1, "hunter3").await, Err(Error::WrongPassword));
    let weak = VAULT_V1.replace("600000", "1");
    assert!(matches!(vault::open(&weak, "hunter2").await, Err(Error::VaultFormat { .. })));
    // The version is bound by the associated data: a version-1 blob relabelled 2 does not open.
    let relabelled = VAULT_V1.replace(r#""version":1"#, r#""version":2"#);
    assert_eq!(vault::open(&relabelled, "hunter2").await, Err(Error::WrongPassword));
    let v3 = VAULT_V1.replace(r#""version":1"#, r#""version":3"#);
    assert_eq!(
        vault::open(&v3, "hunter2").await,
        Err(Error::VaultFormat { what: "version 3".into() })
    );
    let extra = VAULT_V1.replace(r#"{"version":1"#, r#"{"extra":0,"version":1"#);
    assert_eq!(
        vault::open(&extra, "hunter2").await,
        Err(Error::VaultFormat { what: "unknown field `extra`".into() })
    );
    // A passphrase with a line feed and non-ASCII text comes back as it went in.
    let passphrase = "TREZOR\nsecond line é";
    let sealed =
        vault::seal_with(VAULT_V1_PHRASE, passphrase, "hunter2", &[7; 16], &[9; 12]).await.unwrap();
    assert!(sealed.starts_with(r#"{"version":2,"#));
    let opened = vault::open(&sealed, "hunter2").await.unwrap();
    assert_eq!(opened, (VAULT_V1_PHRASE.to_owned(), passphrase.to_owned()));
    let long = "x".repeat(vault::MAX_PASSPHRASE + 1);
    assert_eq!(
        vault::seal_with(VAULT_V1_PHRASE, &long, "pw", &[1; 16], &[2; 12]).await,
        Err(Error::PassphraseTooLong { bytes: 513, max: 512 })
    );
    assert!(matches!(
        vault::seal_with("not a phrase", "", "pw", &[1; 16], &[2; 12]).await,
        Err(Error::Hd(_))
    ));
}

// --- payment requests -------------------------------------------------------------------------

/// The shared vectors through the bindings (`wallet/tests/vectors/payment_uri.json`).
#[wasm_bindgen_test]
fn payment_uri_vectors() {
    let doc = json(PAYMENT_URI);
    for v in doc["valid"].as_array().unwrap() {
        let r: JsValue = wallet::parse_payment_uri(s(v, &["uri"])).unwrap().into();
        let address = get(&r, "address").as_string().unwrap();
        assert_eq!(address, s(v, &["address"]));
        let amount = v["amount"].as_str().map(|a| a.parse::<u64>().unwrap());
        assert_eq!(get(&r, "amount").try_into().ok(), amount);
        let memo = get(&r, "memo").as_string().unwrap();
        assert_eq!(memo, s(v, &["memo"]));
        assert_eq!(wallet::payment_uri(&address, amount, &memo).unwrap(), s(v, &["format"]));
    }
    for v in doc["invalid"].as_array().unwrap() {
        let e = wallet::parse_payment_uri(s(v, &["uri"])).unwrap_err();
        assert_eq!(message(e), s(v, &["error"]));
    }
    let addr = s(&doc["valid"][0], &["address"]);
    assert_eq!(
        message(wallet::payment_uri(addr, Some(0), "").unwrap_err()),
        "payment request amount must be more than 0"
    );
}

// --- genesis ----------------------------------------------------------------------------------

#[wasm_bindgen_test]
fn genesis_integers_read_as_core_reads_them() {
    let chain = json(CHAIN);
    let large = &chain["genesis_large"];
    let client = LightClient::from_genesis(s(large, &["json"])).unwrap();
    assert_eq!(client.chain_id(), s(large, &["chain_id"]), "integers above 2^53 as strings");

    let v = json(PROTOCOL);
    let spec = s(&v, &["genesis", "json"]);
    let chain_id = s(&v, &["genesis", "chain_id"]);
    let quoted = spec.replace("\"slot_ms\": 1000", "\"slot_ms\": \"1000\"");
    assert_ne!(quoted, spec);
    assert_eq!(LightClient::from_genesis(&quoted).unwrap().chain_id(), chain_id);

    let refused = |text: &str| message(LightClient::from_genesis(text).unwrap_err());
    // JSON.parse would round this to 2^53: a number must be a safe integer.
    let rounded = spec.replace("\"balance\": 1000000000000", "\"balance\": 9007199254740993");
    assert_eq!(refused(&rounded), "genesis: chain spec: `balance` is out of range");
    let padded = spec.replace("\"slot_ms\": 1000", "\"slot_ms\": \"01000\"");
    assert_eq!(refused(&padded), "genesis: chain spec: `slot_ms` is out of range");
    let extra = spec.replacen("{", "{\"extra\": 1,", 1);
    assert_eq!(refused(&extra), "genesis: chain spec: unknown field `extra`");
    assert!(refused("[]").starts_with("genesis: chain spec: expected an object"));
}

// --- signing ----------------------------------------------------------------------------------

#[wasm_bindgen_test]
fn signed_transactions_equal_protocol_vectors() {
    let v = json(PROTOCOL);
    let phrase = s(&v["keys"][0], &["phrase"]);
    let chain_id = s(&v, &["genesis", "chain_id"]);
    let to = s(&v["keys"][1], &["address"]);
    let txs = v["transactions"].as_array().unwrap();
    let transfer =
        memecoin_wasm::sign::sign_transfer(phrase, "", 0, 2, chain_id, 0, 1000, to, 250_000_000)
            .unwrap();
    assert_eq!(
        (transfer.tx.as_str(), transfer.id.as_str()),
        (s(&txs[0], &["signed"]), s(&txs[0], &["id"]))
    );
    // The stake vector's commitment is bytes 82..114 of its unsigned encoding (after the tag
    // and amount); read it from there rather than recompute the hash chain.
    let unsigned = hex::decode(s(&txs[1], &["unsigned"])).unwrap();
    let commitment = hex::encode(&unsigned[unsigned.len() - 32..]);
    let stake = memecoin_wasm::sign::sign_stake(
        phrase,
        "",
        0,
        2,
        chain_id,
        1,
        1000,
        2_000_000_000,
        &commitment,
    )
    .unwrap();
    assert_eq!(
        (stake.tx.as_str(), stake.id.as_str()),
        (s(&txs[1], &["signed"]), s(&txs[1], &["id"]))
    );
    let unstake =
        memecoin_wasm::sign::sign_unstake(phrase, "", 0, 2, chain_id, 2, 1000, 1_000_000_000)
            .unwrap();
    assert_eq!(
        (unstake.tx.as_str(), unstake.id.as_str()),
        (s(&txs[2], &["signed"]), s(&txs[2], &["id"]))
    );

    let sender = Sender {
        phrase,
        passphrase: "",
        account: 0,
        index: 2,
        chain_id_hex: "zz",
        nonce: 0,
        fee: 0,
    };
    let kind = memecoin_core::tx::TxKind::Unstake { amount: 1 };
    assert_eq!(sign(sender, kind).unwrap_err(), Error::Hex { field: "chain id" });
    let e = memecoin_wasm::sign::sign_transfer(phrase, "", 0, 2, chain_id, 0, 1, "memex", 1)
        .unwrap_err();
    assert_eq!(message(e), "address has no '1' separator");
}

/// The review's preview is core's `sender_after`: the balance and stake after, or the chain's
/// reason for refusing it, worded.
#[wasm_bindgen_test]
fn a_preview_is_what_the_chain_leaves_the_sender() {
    use memecoin_wasm::sign::preview_tx;
    let v = json(PROTOCOL);
    let genesis = s(&v, &["genesis", "json"]);
    let key = s(&v["keys"][0], &["public_key"]);
    let me = s(&v["keys"][0], &["address"]);
    let to = s(&v["keys"][1], &["address"]);
    let preview = |kind, to, amount, fee, balance, stake| {
        preview_tx(genesis, kind, key, to, amount, fee, 3, 3, balance, stake, 0, false)
    };
    let after = preview("transfer", to, 250, 1000, 10_000, 0).unwrap();
    assert_eq!(
        (get(&after, "balance"), get(&after, "stake")),
        (JsValue::from(8_750u64), JsValue::from(0u64))
    );
    // To oneself, only the fee leaves the balance.
    let own = preview("transfer", me, 250, 1000, 10_000, 0).unwrap();
    assert_eq!(get(&own, "balance"), JsValue::from(9_000u64));
    let staked = preview("stake", "", 5_000, 1000, 10_000, 7).unwrap();
    assert_eq!(
        (get(&staked, "balance"), get(&staked, "stake")),
        (JsValue::from(4_000u64), JsValue::from(5_007u64))
    );
    let unstaked = preview("unstake", "", 5, 1000, 10_000, 7).unwrap();
    assert_eq!(
        (get(&unstaked, "balance"), get(&unstaked, "stake")),
        (JsValue::from(9_000u64), JsValue::from(2u64))
    );
    let refused = |r: Result<JsValue, wasm_bindgen::JsError>| message(r.unwrap_err());
    assert_eq!(
        refused(preview("transfer", to, 9_001, 1000, 10_000, 0)),
        "needs 10001, balance is 10000"
    );
    assert_eq!(
        refused(preview("unstake", "", 8, 1000, 10_000, 7)),
        "unstakes 8, bonded stake is 7"
    );
    assert_eq!(
        refused(preview("transfer", to, 1, 999, 10_000, 0)),
        "the fee is below the minimum, 1000"
    );
    // A nonce set by hand that was used already.
    let stale = preview_tx(genesis, "transfer", key, to, 1, 1000, 2, 3, 10_000, 0, 0, false);
    assert_eq!(refused(stale), "nonce 2, the account's next is 3");
}

#[wasm_bindgen_test]
fn bare_signatures_match_protocol_vectors() {
    use memecoin_wasm::crypto::{sign_digest, verify_signature};
    let v = json(PROTOCOL);
    let bytes = |t: &str| hex::decode(t).unwrap();
    // Transaction 0 is signed by key 2.
    let (key, tx) = (&v["keys"][2], &v["transactions"][0]);
    let secret = bytes(s(key, &["secret_key"]));
    let public = bytes(s(key, &["public_key"]));
    let digest = bytes(s(tx, &["signing_digest"]));
    let signature = bytes(s(tx, &["signature"]));
    assert_eq!(sign_digest(&secret, &digest).unwrap(), signature, "RFC 6979, as core signs");
    assert!(verify_signature(&public, &digest, &signature).unwrap());
    let mut other = digest.clone();
    other[0] ^= 1;
    assert!(!verify_signature(&public, &other, &signature).unwrap(), "another digest");
    let wrong_key = bytes(s(&v["keys"][0], &["public_key"]));
    assert!(!verify_signature(&wrong_key, &digest, &signature).unwrap(), "another key");

    let e = |r: Result<bool, wasm_bindgen::JsError>| message(r.unwrap_err());
    assert_eq!(
        e(verify_signature(&public[1..], &digest, &signature)),
        "public key: input ended, 1 more bytes expected"
    );
    assert!(e(verify_signature(&public, &digest[1..], &signature)).starts_with("digest: "));
    let mut high_s = signature.clone();
    high_s[32] = 0x80; // n/2 < s < n
    assert_eq!(
        e(verify_signature(&public, &digest, &high_s)),
        "signature: non-canonical signature (high S)"
    );
    assert!(message(sign_digest(&[0; 32], &digest).unwrap_err()).starts_with("secret key: "));
}

// --- light client -----------------------------------------------------------------------------

fn client_at_genesis() -> LightClient {
    let v = json(PROTOCOL);
    LightClient::from_genesis(s(&v, &["genesis", "json"])).unwrap()
}

#[wasm_bindgen_test]
fn light_client_follows_finality_and_verifies_proofs() {
    let (v, chain) = (json(PROTOCOL), json(CHAIN));
    let mut client = client_at_genesis();
    assert_eq!(client.chain_id(), s(&v, &["genesis", "chain_id"]));
    let genesis = client.finalized().unwrap();
    assert_eq!(get(&genesis, "height"), JsValue::from(0u64));
    assert_eq!(get(&genesis, "state_root"), JsValue::from(s(&v, &["genesis", "state_root"])));

    // The account proof is against block 1's state: not yet verified, so refused.
    let user = &v["account_proofs"][0];
    let refused = client.account(s(user, &["address"]), None, s(user, &["proof"])).unwrap_err();
    assert_eq!(refused.to_string(), "proof is for another state root");

    let finalized = client.accept_finality(s(&chain, &["finality_proof"]), None).unwrap();
    assert_eq!(get(&finalized, "hash"), JsValue::from(s(&chain, &["block_1_hash"])));
    assert_eq!(get(&finalized, "height"), JsValue::from(1u64));
    assert_eq!(get(&client.head().unwrap(), "hash"), JsValue::from(s(&chain, &["block_2_hash"])));

    let account = client.verify_account(s(user, &["address"]), None, s(user, &["proof"])).unwrap();
    assert_eq!(get(&account, "balance"), JsValue::from(user["balance"].as_u64().unwrap()));
    assert_eq!(get(&account, "nonce"), JsValue::from(user["nonce"].as_u64().unwrap()));
    assert_eq!(get(&account, "stake"), JsValue::from(user["stake"].as_u64().unwrap()));
    assert_eq!(get(&account, "exists"), JsValue::TRUE);
    // The same proof, named by block 1's signed header (as the relay's `account` reply does).
    let at_header = client.account(
        s(user, &["address"]),
        Some(s(&chain, &["block_1_signed_header"])),
        s(user, &["proof"]),
    );
    assert_eq!(at_header.unwrap().balance, 997_749_997_000);

    let absent = &v["account_proofs"][1];
    let view = client.account(s(absent, &["address"]), None, s(absent, &["proof"])).unwrap();
    assert!(!view.exists && view.balance == 0);

    let inclusion = &v["inclusion_proof"];
    let at =
        client.verify_inclusion(s(inclusion, &["tx_id"]), None, s(inclusion, &["proof"])).unwrap();
    assert_eq!(get(&at, "tx_root"), JsValue::from(s(inclusion, &["tx_root"])));

    // Saved and resumed, the client is where it was: block 1 final, its proofs still verify.
    let genesis_json = s(&v, &["genesis", "json"]);
    let resumed = LightClient::resume_from(genesis_json, &client.checkpoint()).unwrap();
    assert_eq!(
        get(&resumed.finalized().unwrap(), "hash"),
        JsValue::from(s(&chain, &["block_1_hash"]))
    );
    let mut resumed = resumed;
    let again = resumed.account(s(user, &["address"]), None, s(user, &["proof"])).unwrap();
    assert_eq!(again.balance, 997_749_997_000);
    let cut = &client.checkpoint()[..100];
    assert!(
        message(LightClient::resume_from(genesis_json, cut).unwrap_err())
            .starts_with("checkpoint:")
    );
    let other = genesis_json.replacen("\"chain_name\": \"", "\"chain_name\": \"x", 1);
    assert_ne!(other, genesis_json, "the vector's genesis names its chain");
    assert_eq!(
        message(LightClient::resume_from(&other, &client.checkpoint()).unwrap_err()),
        "saved checkpoint is for another chain"
    );
}

/// A client at genesis takes the newest proof of a 100,002-block chain alone, by skipping
/// (PROTOCOL.md §13.4); with too few of the validators it trusts among the signers it refuses,
/// and is left where it was.
#[wasm_bindgen_test]
fn light_client_skips_to_the_newest_proof() {
    use memecoin_core::encode::{Decode, Encode};
    let history = json(CATCH_UP);
    let genesis_json = s(&history, &["genesis_json"]);
    let proof_hex = s(&history, &["finality_proof"]);
    let height = history["finalized_height"].as_u64().unwrap();
    let epochs = history["epochs"].as_u64().unwrap();

    let mut refused = LightClient::from_genesis(genesis_json).unwrap();
    let bytes = hex::decode(proof_hex).unwrap();
    let mut one_signer = memecoin_core::light::FinalityProof::from_bytes(&bytes).unwrap();
    one_signer.certificate.signatures.truncate(1);
    let e = refused.finality(&hex::encode(one_signer.to_bytes()), &[]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "signers hold 5000000000 of the trusted set's 20000000000 stake, not more than 1/3: \
         follow the epochs in between"
    );
    assert_eq!((refused.core().finalized().height, refused.epoch()), (0, 0));

    let mut client = LightClient::from_genesis(genesis_json).unwrap();
    let finalized = client.accept_finality(proof_hex, None).unwrap();
    assert!(height >= 100_000);
    assert_eq!(get(&finalized, "height"), JsValue::from(height));
    assert_eq!(client.epoch(), epochs - 1);
    assert_eq!(get(&client.head().unwrap(), "height"), JsValue::from(height + 1));
}

// --- amounts ----------------------------------------------------------------------------------

#[wasm_bindgen_test]
fn amounts_convert_exactly() {
    use memecoin_wasm::units;
    assert_eq!((units::ticker(), units::decimals()), ("MEME".to_owned(), 9));
    assert_eq!(units::parse_amount("1.000000001").unwrap(), 1_000_000_001);
    assert_eq!(units::format_amount(1_000_000_001), "1.000000001");
    assert_eq!(
        message(units::parse_amount("1.0000000001").unwrap_err()),
        "too many decimals: MEME has 9"
    );
    assert_eq!(
        message(units::parse_amount("1e9").unwrap_err()),
        "not an amount: use digits and at most one decimal point"
    );
}

#[wasm_bindgen_test]
fn light_client_rejects_forgeries() {
    let (v, chain) = (json(PROTOCOL), json(CHAIN));
    let mut client = client_at_genesis();
    let e = client.finality(s(&chain, &["finality_proof_half_stake"]), &[]).unwrap_err();
    assert!(e.to_string().starts_with("certificate: "), "{e}");
    let e = client.finality(s(&chain, &["finality_proof_bad_signature"]), &[]).unwrap_err();
    assert_eq!(e.to_string(), "proposer signature is invalid");
    let e = client.header(s(&chain, &["block_2_signed_by_other"]), &[], u64::MAX).unwrap_err();
    assert_eq!(e.to_string(), "proposer signature is invalid");
    let e = client.finality("00", &[]).unwrap_err();
    assert!(e.to_string().starts_with("finality proof: input ended"), "{e}");
    // Nothing above moved the client.
    assert_eq!(client.core().finalized().height, 0);
    assert_eq!(client.core().head().height, 0);

    client.finality(s(&chain, &["finality_proof"]), &[]).unwrap();
    let e = message(client.accept_finality(s(&chain, &["finality_proof"]), None).unwrap_err());
    assert_eq!(e, "height 1 is not above the finalized height 1");

    // A tampered account proof: the balance changed (it sits right after the roots and the
    // option tag), the root check passes, the Merkle path does not.
    let user = &v["account_proofs"][0];
    let mut proof = hex::decode(s(user, &["proof"])).unwrap();
    proof[65 + 7] ^= 1;
    let e = client.account(s(user, &["address"]), None, &hex::encode(&proof)).unwrap_err();
    assert!(e.to_string().starts_with("account proof: "), "{e}");
    // The right proof for another address.
    let absent = &v["account_proofs"][1];
    let e = client.account(s(absent, &["address"]), None, s(user, &["proof"])).unwrap_err();
    assert!(e.to_string().starts_with("account proof: "), "{e}");
    // An inclusion proof for another transaction.
    let inclusion = &v["inclusion_proof"];
    let other_tx = s(&v["transactions"][0], &["id"]);
    let e = client.inclusion(other_tx, None, s(inclusion, &["proof"])).unwrap_err();
    assert!(e.to_string().starts_with("inclusion proof: "), "{e}");
    // A header the client cannot verify is not a place to read state from.
    let e = client.account(s(user, &["address"]), Some("00"), s(user, &["proof"])).unwrap_err();
    assert!(e.to_string().starts_with("header: "), "{e}");
}

// --- relay messages ---------------------------------------------------------------------------

/// What the client sends is written as core's serde writes it, byte for byte: every message a
/// browser sends, with the optional fields set and not, and strings that need escapes.
#[wasm_bindgen_test]
fn browser_messages_encode_as_core_encodes_them() {
    use memecoin_core::wire::{At, Message, Role};
    use memecoin_wasm::json::message_to_json;
    let s = |t: &str| t.to_string();
    let sent = [
        Message::Hello {
            version: 1,
            chain_id: s("ab"),
            role: Role::Browser,
            listen: None,
            head_height: 0,
        },
        Message::Hello {
            version: 4_294_967_295,
            chain_id: s("quote \" backslash \\ nl \n tab \t bell \u{7} del \u{7f} é 😀"),
            role: Role::Relay,
            listen: Some(s("ws://127.0.0.1:1/ws")),
            head_height: u64::MAX,
        },
        Message::SubmitTx { id: 1, tx: s("00ff") },
        Message::Subscribe { heads: true, finality: false, accounts: vec![] },
        Message::Subscribe { heads: false, finality: true, accounts: vec![s("meme1x"), s("y")] },
        Message::GetHeaders { id: 3, from: 4, count: 5 },
        Message::GetFinality { id: 6, since: 7, latest: false },
        Message::GetFinality { id: 6, since: 7, latest: true },
        Message::GetAccount { id: 8, address: s("meme1x"), at: At::Head },
        Message::GetAccount { id: 8, address: s("meme1x"), at: At::Finalized },
        Message::GetMeta { id: u64::MAX },
        Message::GetInclusion { id: 9, tx_id: s("06") },
        Message::Evidence { evidence: s("0c") },
    ];
    for m in sent {
        assert_eq!(message_to_json(&m), m.to_json(), "{m:?}");
    }
}

/// The client's decoder (`JSON.parse`, field by field) accepts what core's serde decoder
/// accepts of what relays send browsers, with the same result, and refuses what it refuses.
#[wasm_bindgen_test]
fn relay_messages_decode_as_core_decodes_them() {
    use memecoin_core::wire::{At, Message, Role};
    use memecoin_wasm::json::message_from_json;
    let s = |t: &str| t.to_string();
    let every = [
        Message::Hello {
            version: 1,
            chain_id: s("ab"),
            role: Role::Relay,
            listen: Some(s("ws://127.0.0.1:1/ws")),
            head_height: 9,
        },
        Message::Hello {
            version: 1,
            chain_id: s("ab"),
            role: Role::Browser,
            listen: None,
            head_height: 0,
        },
        Message::SubmitTx { id: 1, tx: s("00") },
        Message::TxResult { id: 2, tx_id: Some(s("aa")), accepted: true, reason: None },
        Message::TxResult {
            id: 2,
            tx_id: None,
            accepted: false,
            reason: Some(s("fee \"too\" low\n")),
        },
        Message::Subscribe {
            heads: true,
            finality: false,
            accounts: vec![s("meme1x"), s("meme1y")],
        },
        Message::GetHeaders { id: 3, from: 4, count: 5 },
        Message::Headers { id: 3, headers: vec![s("01"), s("02")] },
        Message::GetBlocks { id: 3, from: 4, count: 5 },
        Message::Blocks { id: 3, blocks: vec![] },
        Message::GetFinality { id: 6, since: 7, latest: false },
        Message::GetFinality { id: 6, since: 7, latest: true },
        Message::Finality { id: 6, proofs: vec![s("03")] },
        Message::GetAccount { id: 8, address: s("meme1x"), at: At::Head },
        Message::Account { id: 8, header: s("04"), proof: s("05") },
        Message::GetMeta { id: 10 },
        Message::Meta { id: 10, height: 11, hash: s("04"), accounts_root: s("06"), meta: s("07") },
        Message::GetInclusion { id: 9, tx_id: s("06") },
        Message::Inclusion { id: 9, header: None, proof: None, status: s("pending") },
        Message::Inclusion {
            id: 9,
            header: Some(s("07")),
            proof: Some(s("08")),
            status: s("included"),
        },
        Message::Tx { tx: s("09") },
        Message::Block { block: s("0a") },
        Message::Vote { vote: s("0b") },
        Message::Evidence { evidence: s("0c") },
        Message::Peers { peers: vec![s("ws://a/ws")] },
        Message::Head { header: s("0d") },
        Message::Finalized { proof: s("0e") },
        Message::AccountChanged { address: s("meme1x") },
        Message::Error { id: Some(10), reason: s("no") },
        Message::Error { id: None, reason: s("busy") },
        Message::Error { id: Some(9_007_199_254_740_991), reason: s("largest safe id") },
    ];
    // What a relay sends to a browser (§16.8) decodes as core decodes it; what relays send
    // only to relays (requests, gossip, peers) the client refuses unread.
    for m in every {
        let text = m.to_json();
        let for_relays = matches!(
            m,
            Message::SubmitTx { .. }
                | Message::Subscribe { .. }
                | Message::GetHeaders { .. }
                | Message::GetBlocks { .. }
                | Message::Blocks { .. }
                | Message::GetFinality { .. }
                | Message::GetAccount { .. }
                | Message::GetMeta { .. }
                | Message::GetInclusion { .. }
                | Message::Tx { .. }
                | Message::Block { .. }
                | Message::Vote { .. }
                | Message::Evidence { .. }
                | Message::Peers { .. }
        );
        if for_relays {
            let refused = message_from_json(&text);
            assert!(refused.is_err_and(|e| e.ends_with("is not sent to browsers")), "{text}");
        } else {
            assert_eq!(message_from_json(&text), Ok(m));
        }
    }
    // Defaults, `null` options, field order, whitespace, escapes: the same value as core's.
    let accepted = [
        r#"{"type":"hello","version":1,"chain_id":"ab","role":"browser"}"#,
        r#"{"chain_id":"ab","role":"relay","type":"hello","version":1,"listen":null}"#,
        r#"{"type":"tx_result","id":1,"accepted":false}"#,
        r#"{"type":"inclusion","id":1,"header":null,"status":"unknown"}"#,
        r#"{"type":"error","reason":"\u00e9\t\"x\""}"#,
        " {\"type\" : \"head\" , \"header\" : \"00\"}\n",
    ];
    for text in accepted {
        let core = Message::from_json(text);
        assert!(core.is_ok(), "{text}: {core:?}");
        assert_eq!(message_from_json(text), core, "{text}");
    }
    // Refused by both: not JSON, not an object, unknown type or field, wrong types, missing
    // fields, out-of-range numbers.
    let refused = [
        "",
        "not json",
        "[1]",
        "null",
        r#""head""#,
        r#"{"header":"00"}"#,
        r#"{"type":"launch_rockets"}"#,
        r#"{"type":7}"#,
        r#"{"type":"head"}"#,
        r#"{"type":"head","header":7}"#,
        r#"{"type":"head","header":"00","extra":1}"#,
        r#"{"type":"submit_tx","id":-1,"tx":"00"}"#,
        r#"{"type":"submit_tx","id":1.5,"tx":"00"}"#,
        r#"{"type":"submit_tx","id":"1","tx":"00"}"#,
        r#"{"type":"hello","version":4294967296,"chain_id":"ab","role":"browser"}"#,
        r#"{"type":"hello","version":1,"chain_id":"ab","role":"validator"}"#,
        r#"{"type":"get_account","id":1,"address":"meme1x","at":"tip"}"#,
        r#"{"type":"tx_result","id":1}"#,
        r#"{"type":"headers","id":1,"headers":"00"}"#,
        r#"{"type":"headers","id":1,"headers":[1]}"#,
        r#"{"type":"subscribe","heads":1}"#,
        r#"{"type":"error","id":1}"#,
    ];
    for text in refused {
        assert!(Message::from_json(text).is_err(), "core accepts {text}");
        let ours = message_from_json(text);
        assert!(ours.as_ref().is_err_and(|e| e.starts_with("bad message: ")), "{text}: {ours:?}");
    }
}
