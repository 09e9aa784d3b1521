//! Block validation (`apply_block`) on a state of the fixture chain. The input is
//! `[state index][flags][block bytes]`. With flag bit 0 the header is resealed first (tx root
//! and certificate hash recomputed, signed by the elected proposer), so a fuzzed body reaches
//! execution; with bit 1 transaction signatures count as checked. It must not panic; a block
//! that applies yields a state that encodes canonically and a tip that is the block.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memecoin_core::block::Block;
use memecoin_core::encode::{Decode, Encode};
use memecoin_core::state::{ChainState, Signatures, apply_block};

fuzz_target!(|data: &[u8]| {
    let [index, flags, bytes @ ..] = data else { return };
    let Ok(block) = Block::from_bytes(bytes) else { return };
    let f = memecoin_fuzz::fixture();
    let net = &f.net;
    let state = &net.states[usize::from(*index) % net.states.len()];
    let block = if flags & 1 == 1 { memecoin_fuzz::reseal(net, state, block) } else { block };
    let checked = vec![true; block.txs.len()];
    let signatures =
        if flags & 2 == 2 { Signatures::Checked(&checked) } else { Signatures::Verify };
    if let Ok(applied) = apply_block(&net.store, &net.chain, state, &block, signatures) {
        assert_eq!(applied.state.tip.hash, block.hash());
        assert_eq!(applied.state.tip.height, state.tip.height + 1);
        let bytes = applied.state.to_bytes();
        assert_eq!(ChainState::from_bytes(&bytes).as_ref(), Ok(&applied.state));
    }
});
