//! The `/ws` message codec of core (`wire::Message`), as relays and the wallet parse every
//! frame: JSON text in; what parses must print back to JSON that parses to the same message,
//! and every hex payload goes through the same bounded decoders the relay uses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::finality::SignedVote;
use memecoin_core::hash::Hash;
use memecoin_core::header::SignedHeader;
use memecoin_core::light::{AccountProof, FinalityProof};
use memecoin_core::merkle::InclusionProof;
use memecoin_core::slashing::Evidence;
use memecoin_core::state::ChainMeta;
use memecoin_core::tx::SignedTx;
use memecoin_core::wire::{Message, decode_hex};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(message) = Message::from_json(text) else { return };
    let printed = message.to_json();
    assert_eq!(Message::from_json(&printed).as_ref(), Ok(&message), "{printed}");
    match &message {
        Message::SubmitTx { tx, .. } | Message::Tx { tx } => {
            let _ = decode_hex::<SignedTx>("tx", tx);
        }
        Message::Block { block } => {
            let _ = decode_hex::<Block>("block", block);
        }
        Message::Blocks { blocks, .. } => {
            for b in blocks {
                let _ = decode_hex::<Block>("block", b);
            }
        }
        Message::Vote { vote } => {
            let _ = decode_hex::<SignedVote>("vote", vote);
        }
        Message::Evidence { evidence } => {
            let _ = decode_hex::<Evidence>("evidence", evidence);
        }
        Message::Headers { headers, .. } => {
            for h in headers {
                let _ = decode_hex::<SignedHeader>("header", h);
            }
        }
        Message::Head { header } => {
            let _ = decode_hex::<SignedHeader>("header", header);
        }
        Message::Finality { proofs, .. } => {
            for p in proofs {
                let _ = decode_hex::<FinalityProof>("proof", p);
            }
        }
        Message::Finalized { proof } => {
            let _ = decode_hex::<FinalityProof>("proof", proof);
        }
        Message::Account { header, proof, .. } => {
            let _ = decode_hex::<SignedHeader>("header", header);
            let _ = decode_hex::<AccountProof>("proof", proof);
        }
        Message::Meta { hash, accounts_root, meta, .. } => {
            let _ = Hash::from_hex(hash);
            let _ = Hash::from_hex(accounts_root);
            let _ = decode_hex::<ChainMeta>("meta", meta);
        }
        Message::Inclusion { header, proof, .. } => {
            if let Some(h) = header {
                let _ = decode_hex::<SignedHeader>("header", h);
            }
            if let Some(p) = proof {
                let _ = decode_hex::<InclusionProof>("proof", p);
            }
        }
        Message::GetAccount { address, .. } => {
            let _ = Address::parse(address);
        }
        Message::GetInclusion { tx_id, .. } => {
            let _ = Hash::from_hex(tx_id);
        }
        Message::Subscribe { accounts, .. } => {
            for a in accounts {
                let _ = Address::parse(a);
            }
        }
        _ => {}
    }
});
