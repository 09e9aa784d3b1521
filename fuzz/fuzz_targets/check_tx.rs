//! Transaction validation (`check_tx`) against the fixture chain's tip state. The input is
//! `[flags][signed tx bytes]`; with flag bit 0 the signature counts as verified (as for a
//! mempool re-check), so that fuzzed transactions reach the rules after the signature. The
//! rules must not panic, and `check_tx` changes nothing (it takes the state by reference).
#![no_main]

use libfuzzer_sys::fuzz_target;
use memecoin_core::encode::Decode;
use memecoin_core::state::{Signatures, check_tx};
use memecoin_core::tx::SignedTx;

fuzz_target!(|data: &[u8]| {
    let Some((flags, bytes)) = data.split_first() else { return };
    let Ok(tx) = SignedTx::from_bytes(bytes) else { return };
    let f = memecoin_fuzz::fixture();
    let net = &f.net;
    let state = net.states.get(usize::from(flags >> 1) % net.states.len()).expect("in range");
    let signatures = if flags & 1 == 1 { Signatures::Verified } else { Signatures::Verify };
    let checked = check_tx(&net.store, &net.chain, state, &tx, signatures);
    if flags & 1 == 0 {
        // The same as a caller that verified the signature itself and passes its result.
        let valid = [tx.verify_signature().is_ok()];
        let told = check_tx(&net.store, &net.chain, state, &tx, Signatures::Checked(&valid));
        assert_eq!(checked, told);
    }
});
