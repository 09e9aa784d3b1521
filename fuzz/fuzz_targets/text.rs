//! Core's and the wallet's text parsers: `input[0]` picks one, the rest is the text (UTF-8, else
//! skipped). Each must not panic, and what parses must print back to text that parses to the
//! same value (and for addresses and hashes, to the input itself up to case).
#![no_main]

use libfuzzer_sys::fuzz_target;
use memecoin_core::address::Address;
use memecoin_core::genesis::Genesis;
use memecoin_core::hash::Hash;
use memecoin_wallet::hd::{self, DerivationPath, ExtendedKey, ExtendedPublicKey};
use memecoin_wallet::units::{format_amount, parse_amount};
use memecoin_wallet::uri::{format_payment_uri, parse_payment_uri};

fuzz_target!(|data: &[u8]| {
    let Some((selector, bytes)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    match selector % 9 {
        0 => {
            if let Ok(address) = Address::parse(text) {
                let printed = address.to_text();
                assert!(printed.eq_ignore_ascii_case(text), "{printed} from {text:?}");
                assert_eq!(Address::parse(&printed), Ok(address));
            }
        }
        1 => {
            if let Ok(hash) = Hash::from_hex(text) {
                assert!(hash.to_hex().eq_ignore_ascii_case(text));
            }
        }
        2 => {
            if let Ok(units) = parse_amount(text) {
                assert_eq!(parse_amount(&format_amount(units)), Ok(units));
            }
        }
        3 => {
            if let Ok(phrase) = hd::parse_phrase(text) {
                let again = hd::parse_phrase(&phrase.to_string()).expect("a printed phrase parses");
                assert_eq!(again.to_entropy(), phrase.to_entropy());
            }
            let _ = hd::nfkd(text);
        }
        4 => {
            if let Ok(path) = text.parse::<DerivationPath>() {
                assert_eq!(path.to_string().parse::<DerivationPath>().as_ref(), Ok(&path));
            }
        }
        5 => {
            if let Ok(key) = ExtendedKey::from_base58(text) {
                assert_eq!(key.to_base58(), text);
                let _ = key.to_public().to_base58();
            }
        }
        6 => {
            if let Ok(key) = ExtendedPublicKey::from_base58(text) {
                assert_eq!(key.to_base58(), text);
            }
        }
        // A payment request (a QR code's text): what parses prints back to one form, which
        // parses to the same request.
        8 => {
            if let Ok(request) = parse_payment_uri(text) {
                let printed = format_payment_uri(&request).expect("a parsed request prints");
                assert_eq!(parse_payment_uri(&printed), Ok(request));
            }
        }
        _ => {
            if let Ok(genesis) = Genesis::from_json(text) {
                let again = Genesis::from_json(&genesis.to_json()).expect("printed JSON parses");
                assert_eq!(again, genesis);
                let _ = genesis.build();
            }
        }
    }
});
