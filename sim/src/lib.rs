//! Deterministic simulation of memecoin's consensus.
//!
//! N validators (4 to 20) run in one process on a simulated clock and network. Each honest
//! validator is a real [`memecoin_node::node::Node`] — the code a relay runs, over its own
//! redb store in a temporary data dir — driven the way the relay drives it: `tick(now)` every
//! 100 ms, `import_block_at` / `on_vote` / `add_evidence` / `submit_tx_at` for what arrives,
//! and `take_events` for what it gossips. A crash drops the `Node`; a restart opens it again on
//! the same data dir. Byzantine validators (less than 1/3 of the stake) follow the chain with a
//! key-less `Node` and sign their misbehaviour with core's functions: double proposals, double
//! and surround votes, withheld reveals and late blocks, votes for forks.
//!
//! The network delays, loses, duplicates and reorders messages and partitions the nodes, all
//! from one seeded generator ([`rng::Rng`]), during a fault phase; then a calm phase follows in
//! which the liveness bound must hold. After every step the checker looks at what changed:
//! safety (no two honest nodes finalize different blocks at a height, finality never goes
//! back), honest validators never sign a slashable pair, supply conservation at every new head;
//! at the deadline, liveness; at the end, slashing. See RELIABILITY.md ("Deterministic
//! simulation") for the model and its bounds.
//!
//! Long mode ([`world::Options::long`], `--long`) runs a seed for 100,000 slots on 3 or 4
//! validators plus a joiner that stakes, unstakes and registers again with a fresh hash chain,
//! with stalls of more than 1/3 of the stake beyond every bound of the node (or for good), a
//! 32-reveal hash chain and costly byzantine messages; it adds checks that honest validators
//! propose when elected, that no honest message is refused for lack of room, that the chain
//! grows through a stall, and that finality returns within a bound after each stall and
//! restart, and it reports every kind of violation it meets, not only the first.
//!
//! A seed is a complete description of a run: [`world::run`]`(seed, None)` replays it exactly
//! (`Outcome::trace` hashes every step; a test checks two runs agree).

pub mod check;
pub mod rng;
pub mod scenario;
pub mod world;

pub use world::{Options, Outcome, run, run_opts, run_with};
