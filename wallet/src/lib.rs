//! memecoin's wallet rules: what a wallet needs and no two nodes must agree on.
//!
//! - [`hd`]: recovery phrases (BIP-39) and the key tree (BIP-32) on memecoin's path.
//! - [`units`]: amounts as people read and type them (coins with decimals ↔ base units).
//! - [`uri`]: payment requests as text (`meme:<address>?amount=…&memo=…`), for QR codes.
//!
//! Consensus lives in `memecoin-core`; nothing here is read by a rule of the chain, so a change
//! here never splits the network. Like core it is sans-I/O and builds without `std`: the entropy
//! of a new phrase is an argument, and the same panic-free lints apply.
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

extern crate alloc;

pub mod hd;
pub mod units;
pub mod uri;
