//! memecoin's node, without I/O of its own: what a relay is once sockets, HTTP and the clock are
//! taken away. The relay (`memecoin-relay`) drives it from tokio tasks; the simulation
//! (`memecoin-sim`) drives the very same code on a simulated clock and network.
//!
//! - [`checkpoint`] — checkpoint sync: a trusted block's state downloaded node by node, each
//!   checked against the hash that names it.
//! - [`node`] — the chain: import, fork choice, finality, votes, validator duties.
//! - [`store`] — the embedded database (redb): blocks, states, tree nodes, indexes.
//! - [`mempool`] — pending transactions, ordered by fee, bounded; every rule asked of core.
//! - [`sigcache`] — signatures already verified, and parallel verification of the rest.
//! - [`keys`] — validator key files and the devnet's deterministic keys.
//! - [`peer`] — the `/ws` peer protocol as handlers that take what arrived and return what to
//!   send (sans-I/O): hello, sync, gossip, requests, subscriptions, strikes.
//!
//! It reads the disk (the store, key files) but owns no socket, no timer and no runtime: time
//! comes in as `now_ms`, and what the node has to say comes out as events.

pub mod checkpoint;
pub mod keys;
pub mod mempool;
pub mod node;
pub mod peer;
pub mod sigcache;
pub mod store;
#[cfg(test)]
mod testing;
