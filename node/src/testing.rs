//! What the node's unit tests share: a one-validator devnet node on simulated time.

use crate::keys;
use crate::node::{Event, Node};
use memecoin_core::block::Block;
use std::path::Path;

pub const START: u64 = 1_700_000_000_000;

/// A node of a one-validator devnet, with its key or without.
pub fn node(dir: &Path, validator: bool) -> Node {
    let genesis = keys::devnet_genesis(1, START).unwrap();
    let key = validator.then(|| keys::devnet_validator(0).unwrap());
    Node::open_at(genesis, dir, key, START).unwrap()
}

/// A time inside `slot`.
pub fn at(n: &Node, slot: u64) -> u64 {
    START + slot * n.chain().params.slot_ms + 10
}

/// Ticks the node through `slots`, returning the blocks it proposed.
pub fn produce(n: &mut Node, slots: std::ops::RangeInclusive<u64>) -> Vec<Block> {
    let mut out = Vec::new();
    for slot in slots {
        n.tick(at(n, slot));
        out.extend(n.take_events().into_iter().filter_map(|e| match e {
            Event::Block(b) => Some(b),
            _ => None,
        }));
    }
    out
}
