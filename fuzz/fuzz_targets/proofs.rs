//! Proof verification against the fixture chain's real roots. `input[0]` picks the kind:
//! even, an account proof: `[kind][state index][address: 20][AccountProof]`, checked with
//! `verify_account` against that state's root; odd, an inclusion proof:
//! `[kind][block index][tx id: 32][InclusionProof]`, checked with `verify_inclusion` against
//! that block's header. Soundness is the invariant: a proof that verifies tells the truth (the
//! account is the one in the state; the transaction is in the block).
#![no_main]

use libfuzzer_sys::fuzz_target;
use memecoin_core::account::{Account, state_key};
use memecoin_core::address::Address;
use memecoin_core::encode::Decode;
use memecoin_core::hash::Hash;
use memecoin_core::light::{self, AccountProof, Anchor};
use memecoin_core::merkle::InclusionProof;
use memecoin_core::tree;

fuzz_target!(|data: &[u8]| {
    let [kind, index, rest @ ..] = data else { return };
    let f = memecoin_fuzz::fixture();
    let net = &f.net;
    if kind % 2 == 0 {
        let Some((address, proof)) = rest.split_first_chunk::<20>() else { return };
        let address = Address(*address);
        let Ok(proof) = AccountProof::from_bytes(proof) else { return };
        let state = &net.states[usize::from(*index) % net.states.len()];
        if let Ok(claimed) = light::verify_account(&state.state_root(), &address, &proof) {
            let stored = tree::get(&net.store, &state.accounts_root, &state_key(&address))
                .expect("the fixture store is complete")
                .map(|bytes| Account::from_bytes(&bytes).expect("stored accounts decode"));
            assert_eq!(claimed, stored, "a verified account proof lied");
        }
    } else {
        let Some((id, proof)) = rest.split_first_chunk::<32>() else { return };
        let id = Hash(*id);
        let Ok(proof) = InclusionProof::from_bytes(proof) else { return };
        let block = &net.blocks[usize::from(*index) % net.blocks.len()];
        let anchor = Anchor::of(&block.header.header);
        if light::verify_inclusion(&anchor, &id, &proof).is_ok() {
            assert!(block.tx_ids().contains(&id), "a verified inclusion proof lied");
        }
    }
});
