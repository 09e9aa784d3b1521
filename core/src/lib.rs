//! memecoin's protocol core: everything two nodes must agree on, and nothing else.
//!
//! memecoin is a proof-of-stake chain. Time is cut into **slots**; in each slot one validator,
//! elected with probability proportional to its bonded stake ([`pos`]), may propose a **block**
//! ([`block`]): a signed header committing to the transactions ([`tx`], [`merkle`]) and to the
//! **state** after them ([`state`], [`tree`]). Slots group into **epochs**; validator sets and the
//! election seed change only at epoch boundaries. Validators **vote** on blocks; votes from more
//! than 2/3 of an epoch's stake form a **certificate** that justifies a block and, for a parent
//! and child, finalizes the parent ([`finality`]). Nodes follow the best chain above the last
//! finalized block ([`forkchoice`]). Signing two conflicting headers or votes is provable
//! ([`slashing`]) and burns stake. A **light client** ([`light`]) follows all of this with headers,
//! certificates and proofs only: that is how the browser wallet trusts no server.
//!
//! The crate is sans-I/O: no files, sockets, clock, randomness or logging. Time, randomness and
//! storage come in as arguments (`now_ms`, entropy bytes, a [`tree::NodeStore`]). It builds
//! without `std` (checked for `thumbv7m-none-eabi` and `wasm32-unknown-unknown`), and consensus
//! code cannot panic: unwrap, expect, panic, indexing and unchecked arithmetic are denied outside
//! tests. Every object has one canonical encoding ([`encode`]) and hashes under its own domain
//! ([`hash`]). PROTOCOL.md specifies all of it byte for byte. [`wire`] holds the message types of
//! the relay protocol (`/ws`), which relays and the browser wallet both speak.
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
pub mod header;
pub mod json;
pub mod light;
pub mod merkle;
pub mod params;
pub mod pos;
pub mod slashing;
pub mod state;
#[cfg(feature = "test-utils")]
pub mod test_utils;
pub mod tree;
pub mod tx;
pub mod wire;
