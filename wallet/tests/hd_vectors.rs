//! BIP-39 and BIP-32 test vectors, read from `tests/vectors/`.
//!
//! - `bip39.json`: the English vectors of trezor/python-mnemonic (`[entropy, phrase, seed,
//!   xprv]`, passphrase "TREZOR").
//! - `bip39_nfkd.json`: a phrase and a passphrase that are not NFKD (full-width letters, an
//!   ideographic space, composed accents, kana, a ligature), with their NFKD forms, the seed
//!   and the wallet's first address (`m/44'/7337'/0'/0'/0'`).
//! - `bip32.json`: BIP-32's test vectors 1-4 (seed, then each chain's xpub and xprv) and
//!   vector 5 (extended keys that must be rejected, with the BIP's reason).

use memecoin_core::address::Address;
use memecoin_wallet::hd::{
    ChildNumber, DerivationPath, ExtendedKey, ExtendedPublicKey, HdError, nfkd, parse_phrase,
    parse_phrase_normalized, phrase_from_entropy, seed_from_phrase, seed_from_phrase_normalized,
    wallet_key,
};
use serde_json::Value;

const BIP39: &str = include_str!("vectors/bip39.json");
const BIP39_NFKD: &str = include_str!("vectors/bip39_nfkd.json");
const BIP32: &str = include_str!("vectors/bip32.json");

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("missing string {key:?} in {v}"))
}

#[test]
fn bip39_english_vectors() {
    let doc: Value = serde_json::from_str(BIP39).unwrap();
    let vectors = doc["english"].as_array().unwrap();
    assert_eq!(vectors.len(), 24);
    let mut made_from_entropy = 0;
    for v in vectors {
        let [entropy, words, seed, xprv] = [0, 1, 2, 3].map(|i| v[i].as_str().unwrap());
        let entropy = unhex(entropy);

        // entropy -> phrase: memecoin makes 12- and 24-word phrases only; the 15/18/21-word
        // vectors are checked in the other direction (phrase -> entropy) below.
        match entropy.len() {
            16 | 32 => {
                assert_eq!(phrase_from_entropy(&entropy).unwrap(), words, "{words}");
                made_from_entropy += 1;
            }
            len => assert_eq!(phrase_from_entropy(&entropy), Err(HdError::EntropyLength { len })),
        }

        // phrase -> entropy, phrase -> seed -> master xprv.
        let phrase = parse_phrase(words).unwrap();
        assert_eq!(phrase.to_entropy(), entropy, "{words}");
        assert_eq!(phrase.to_string(), words);
        let got_seed = seed_from_phrase(&phrase, "TREZOR");
        assert_eq!(hex::encode(got_seed), seed, "{words}");
        let master = ExtendedKey::master(&got_seed).unwrap();
        assert_eq!(master.to_base58(), xprv, "{words}");
        assert_eq!(ExtendedKey::from_base58(xprv).unwrap().to_base58(), xprv);
    }
    assert_eq!(made_from_entropy, 16);
}

#[test]
fn bip39_normalizes_phrase_and_passphrase() {
    let doc: Value = serde_json::from_str(BIP39_NFKD).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(!vectors.is_empty());
    for v in vectors {
        let [phrase, phrase_nfkd, passphrase, passphrase_nfkd, seed] =
            ["phrase", "phrase_nfkd", "passphrase", "passphrase_nfkd", "seed"]
                .map(|k| str_at(v, k));
        assert_ne!(passphrase, passphrase_nfkd, "the vector must need normalizing");
        assert_eq!(nfkd(passphrase), passphrase_nfkd);
        assert_eq!(nfkd(passphrase_nfkd), passphrase_nfkd);

        // The normalizing path and the pre-normalized path give the same seed.
        let parsed = parse_phrase(phrase).unwrap();
        assert_eq!(parsed.to_string(), phrase_nfkd);
        assert_eq!(hex::encode(seed_from_phrase(&parsed, passphrase)), seed);
        let parsed_nfkd = parse_phrase_normalized(&nfkd(phrase)).unwrap();
        assert_eq!(parsed_nfkd, parsed);
        assert_eq!(hex::encode(seed_from_phrase_normalized(&parsed, passphrase_nfkd)), seed);

        // The pre-normalized path does not normalize: a full-width word is unknown, and a
        // passphrase that is not NFKD gives another seed.
        assert_eq!(parse_phrase_normalized(phrase), Err(HdError::UnknownWord { index: 0 }));
        assert_ne!(hex::encode(seed_from_phrase_normalized(&parsed, passphrase)), seed);

        // The wallet's first address under that seed (the wasm checks it gives the same).
        let key = wallet_key(&unhex(seed).try_into().unwrap(), 0, 0).unwrap();
        assert_eq!(Address::from_public_key(&key.public_key()).to_text(), str_at(v, "address"));
    }
}

#[test]
fn bip32_vectors_1_to_4() {
    let doc: Value = serde_json::from_str(BIP32).unwrap();
    let vectors = doc["valid"].as_array().unwrap();
    assert_eq!(vectors.len(), 4);
    let mut chains_checked = 0;
    for vector in vectors {
        let name = str_at(vector, "name");
        let master = ExtendedKey::master(&unhex(str_at(vector, "seed"))).unwrap();
        let mut parent: Option<(DerivationPath, ExtendedKey)> = None;
        for chain in vector["chains"].as_array().unwrap() {
            let text = str_at(chain, "chain");
            let (want_pub, want_prv) = (str_at(chain, "ext_pub"), str_at(chain, "ext_prv"));
            let path: DerivationPath = text.parse().unwrap();
            let key = master.derive_path(&path).unwrap();
            let xpub = key.to_public();
            assert_eq!(key.to_base58(), want_prv, "{name} {text} ext prv");
            assert_eq!(xpub.to_base58(), want_pub, "{name} {text} ext pub");

            // The parser gives back the same key.
            let parsed = ExtendedKey::from_base58(want_prv).unwrap();
            assert_eq!(parsed.to_base58(), want_prv);
            assert_eq!(
                parsed.secret_key().unwrap().to_bytes(),
                key.secret_key().unwrap().to_bytes()
            );
            assert_eq!(ExtendedPublicKey::from_base58(want_pub).unwrap(), xpub);
            assert_eq!(usize::from(key.depth()), path.children().len());

            // Each chain extends the one before it: check the link, and derive normal
            // children from the parent's xpub alone.
            if let Some((parent_path, parent_key)) = &parent {
                let (last, rest) = path.children().split_last().unwrap();
                assert_eq!(rest, parent_path.children(), "{name} {text}");
                assert_eq!(key.parent_fingerprint(), parent_key.fingerprint());
                assert_eq!(key.child_number(), *last);
                let from_parent = parent_key.derive_child(*last).unwrap();
                assert_eq!(from_parent.to_base58(), want_prv);
                let via_public = parent_key.to_public().derive_child(*last);
                if last.is_hardened() {
                    let index = last.to_u32();
                    assert_eq!(via_public, Err(HdError::HardenedFromPublic { index }));
                } else {
                    assert_eq!(via_public.unwrap().to_base58(), want_pub, "{name} {text} CKDpub");
                }
            } else {
                assert_eq!(text, "m");
                assert_eq!(key.parent_fingerprint(), [0; 4]);
                assert_eq!(key.child_number(), ChildNumber::from_u32(0));
            }
            parent = Some((path, key));
            chains_checked += 1;
        }
    }
    assert_eq!(chains_checked, 6 + 6 + 2 + 3);
}

/// The error each vector-5 reason must produce (checked in this order by the parser:
/// Base58Check, length, version, depth-0 rules, key data).
fn expected_error(reason: &str, key: &str) -> HdError {
    let prefix = |p: &str| u8::from_str_radix(p, 16).unwrap();
    match reason {
        "pubkey version / prvkey mismatch" => HdError::PublicKeyPrefix { prefix: 0 },
        "prvkey version / pubkey mismatch" => {
            // The key data is a compressed public key: 02 or 03.
            let raw = bs58_payload(key);
            HdError::PrivateKeyPrefix { prefix: raw[45] }
        }
        r if r.starts_with("invalid pubkey prefix ") => {
            HdError::PublicKeyPrefix { prefix: prefix(&r["invalid pubkey prefix ".len()..]) }
        }
        r if r.starts_with("invalid prvkey prefix ") => {
            HdError::PrivateKeyPrefix { prefix: prefix(&r["invalid prvkey prefix ".len()..]) }
        }
        "zero depth with non-zero parent fingerprint" => HdError::ZeroDepthParent,
        "zero depth with non-zero index" => HdError::ZeroDepthIndex,
        "unknown extended key version" => {
            let raw = bs58_payload(key);
            HdError::UnknownVersion { version: u32::from_be_bytes(raw[..4].try_into().unwrap()) }
        }
        "private key 0 not in 1..n-1" | "private key n not in 1..n-1" => HdError::InvalidPrivateKey,
        r if r.starts_with("invalid pubkey 02") => HdError::InvalidPublicKey,
        "invalid checksum" => HdError::KeyChecksum,
        other => panic!("vector 5 reason not mapped: {other:?}"),
    }
}

/// Base58Check payload, for reading the fields a reason refers to.
fn bs58_payload(s: &str) -> Vec<u8> {
    let raw = bs58::decode(s).into_vec().unwrap();
    raw[..raw.len() - 4].to_vec()
}

#[test]
fn bip32_vector_5_invalid_keys_are_rejected() {
    let doc: Value = serde_json::from_str(BIP32).unwrap();
    let keys = doc["invalid"]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 16);
    for entry in keys {
        let (key, reason) = (str_at(entry, "key"), str_at(entry, "reason"));
        let want = expected_error(reason, key);
        // An xpub string goes to the public parser, anything else to the private one; the
        // version is checked before the kind, so unknown versions fail the same either way.
        let got = if key.starts_with("xpub") {
            ExtendedPublicKey::from_base58(key).err()
        } else {
            ExtendedKey::from_base58(key).err()
        };
        assert_eq!(got, Some(want), "{reason}: {key}");
    }
}
