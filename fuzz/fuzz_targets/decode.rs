//! Every decoder in core: `input[0]` picks the type (`memecoin_fuzz::DECODERS`), the rest is
//! its bytes. Decoding must not panic, and whatever decodes must re-encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memecoin_fuzz::DECODERS;

fuzz_target!(|data: &[u8]| {
    let Some((selector, bytes)) = data.split_first() else { return };
    let (_, check) = DECODERS[usize::from(*selector) % DECODERS.len()];
    check(bytes);
});
