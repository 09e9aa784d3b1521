//! memecoin's relay: the native node.
//!
//! It owns everything `memecoin-core` refuses to touch: sockets, the clock, the disk, randomness
//! and logs. Every decision about validity is core's; the relay moves bytes, keeps time, stores
//! blocks and states, and asks core.
//!
//! - [`store`] — the embedded database (redb): blocks, states, tree nodes, indexes.
//! - [`mempool`] — pending transactions, ordered by fee, bounded.

pub mod mempool;
pub mod store;
