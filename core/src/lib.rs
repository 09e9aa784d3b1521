//! memecoin's protocol core.
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

pub mod account;
pub mod address;
pub mod block;
pub mod crypto;
pub mod encode;
pub mod finality;
pub mod forkchoice;
pub mod genesis;
pub mod hash;
pub mod hd;
pub mod light;
pub mod merkle;
pub mod params;
pub mod pos;
pub mod slashing;
pub mod state;
pub mod tree;
pub mod tx;
