//! Fork choice: which of the known blocks is the head.
//!
//! Rule, among blocks that descend from the last finalized block:
//! 1. prefer the block whose state has the **highest justified checkpoint** — votes follow the
//!    latest justified checkpoint (Casper FFG's rule), so this is the branch finality can still
//!    advance on, and a branch that lost the vote race cannot hold the head back;
//! 2. then the **greatest height** — the branch that saw the most proposals;
//! 3. then the **lowest block hash** — an arbitrary but deterministic tie-break, so all honest
//!    nodes with the same blocks agree on the head.
//!
//! Blocks that do not descend from the finalized block are refused, and when a block is
//! finalized every branch that does not contain it is pruned: the head can never cross finality.

use crate::finality::Checkpoint;
use crate::hash::Hash;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::cmp::Reverse;

/// What fork choice needs to know of a block: taken from its (already validated) header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    pub hash: Hash,
    pub parent: Hash,
    pub height: u64,
    pub justified: Checkpoint,
    pub finalized: Checkpoint,
}

/// Why a block cannot join the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForkChoiceError {
    /// The parent is neither the finalized block nor a known descendant of it.
    UnknownParent {
        parent: Hash,
    },
    WrongHeight {
        expected: u64,
        found: u64,
    },
    /// The block is at or below the finalized height: it would revert finality.
    BelowFinalized {
        finalized: u64,
        found: u64,
    },
    Duplicate,
}

/// The tree of non-finalized blocks above the last finalized block.
#[derive(Debug, Clone)]
pub struct ForkChoice {
    finalized: Checkpoint,
    blocks: BTreeMap<Hash, BlockInfo>,
    children: BTreeMap<Hash, BTreeSet<Hash>>,
}

impl ForkChoice {
    /// Starts from a finalized checkpoint (genesis: height 0, the chain id).
    pub fn new(finalized: Checkpoint) -> Self {
        ForkChoice { finalized, blocks: BTreeMap::new(), children: BTreeMap::new() }
    }

    pub fn finalized(&self) -> Checkpoint {
        self.finalized
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        *hash == self.finalized.hash || self.blocks.contains_key(hash)
    }

    pub fn get(&self, hash: &Hash) -> Option<&BlockInfo> {
        self.blocks.get(hash)
    }

    /// Number of non-finalized blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    fn height_of(&self, hash: &Hash) -> Option<u64> {
        if *hash == self.finalized.hash {
            Some(self.finalized.height)
        } else {
            self.blocks.get(hash).map(|b| b.height)
        }
    }

    /// Adds a validated block. If its state finalized a newer checkpoint that is in the tree,
    /// finality advances and other branches are pruned.
    pub fn insert(&mut self, block: BlockInfo) -> Result<(), ForkChoiceError> {
        if block.height <= self.finalized.height {
            return Err(ForkChoiceError::BelowFinalized {
                finalized: self.finalized.height,
                found: block.height,
            });
        }
        if self.blocks.contains_key(&block.hash) {
            return Err(ForkChoiceError::Duplicate);
        }
        let parent_height = self
            .height_of(&block.parent)
            .ok_or(ForkChoiceError::UnknownParent { parent: block.parent })?;
        let expected = parent_height.saturating_add(1);
        if block.height != expected {
            return Err(ForkChoiceError::WrongHeight { expected, found: block.height });
        }
        self.blocks.insert(block.hash, block);
        self.children.entry(block.parent).or_default().insert(block.hash);
        if block.finalized.height > self.finalized.height && self.contains(&block.finalized.hash) {
            self.finalize(block.finalized);
        }
        Ok(())
    }

    /// Whether `ancestor` is `hash` or one of its ancestors in the tree.
    pub fn is_ancestor(&self, ancestor: &Hash, hash: &Hash) -> bool {
        let mut cursor = *hash;
        loop {
            if cursor == *ancestor {
                return true;
            }
            match self.blocks.get(&cursor) {
                Some(b) => cursor = b.parent,
                None => return false,
            }
        }
    }

    /// Moves finality to `checkpoint` (a block in the tree) and prunes what does not descend
    /// from it. Ignored if the checkpoint is unknown or not newer.
    pub fn finalize(&mut self, checkpoint: Checkpoint) {
        if checkpoint.height <= self.finalized.height || !self.blocks.contains_key(&checkpoint.hash)
        {
            return;
        }
        // Keep only strict descendants of the new finalized block.
        let mut keep = BTreeSet::new();
        let mut stack = Vec::from([checkpoint.hash]);
        while let Some(h) = stack.pop() {
            if let Some(kids) = self.children.get(&h) {
                for k in kids {
                    keep.insert(*k);
                    stack.push(*k);
                }
            }
        }
        self.blocks.retain(|h, _| keep.contains(h));
        self.children.retain(|h, _| keep.contains(h) || *h == checkpoint.hash);
        self.finalized = checkpoint;
    }

    /// The head: see the module docs for the rule. The finalized block when the tree is empty.
    pub fn head(&self) -> Hash {
        self.blocks
            .values()
            .filter(|b| self.children.get(&b.hash).is_none_or(|c| c.is_empty()))
            .max_by_key(|b| (b.justified.height, b.height, Reverse(b.hash)))
            .map_or(self.finalized.hash, |b| b.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{Domain, tagged_hash};

    fn h(n: u64) -> Hash {
        tagged_hash(Domain::Header, &[&n.to_be_bytes()])
    }

    fn block(n: u64, parent: Hash, height: u64, justified: u64) -> BlockInfo {
        BlockInfo {
            hash: h(n),
            parent,
            height,
            justified: Checkpoint { height: justified, hash: Hash::ZERO },
            finalized: Checkpoint { height: 0, hash: h(0) },
        }
    }

    #[test]
    fn justified_beats_length_and_finality_prunes() {
        let mut fc = ForkChoice::new(Checkpoint { height: 0, hash: h(0) });
        fc.insert(block(1, h(0), 1, 0)).unwrap();
        fc.insert(block(2, h(1), 2, 0)).unwrap();
        fc.insert(block(3, h(2), 3, 0)).unwrap();
        fc.insert(block(10, h(0), 1, 0)).unwrap();
        fc.insert(block(11, h(10), 2, 1)).unwrap();
        assert_eq!(fc.head(), h(11), "higher justified wins over a longer branch");
        // Finalizing block 1 prunes the other branch.
        let mut f = block(4, h(3), 4, 3);
        f.finalized = Checkpoint { height: 1, hash: h(1) };
        fc.insert(f).unwrap();
        assert_eq!(fc.head(), h(4));
        assert!(!fc.contains(&h(10)));
        assert_eq!(
            fc.insert(block(12, h(11), 3, 1)),
            Err(ForkChoiceError::UnknownParent { parent: h(11) })
        );
        assert_eq!(
            fc.insert(block(13, h(0), 1, 0)),
            Err(ForkChoiceError::BelowFinalized { finalized: 1, found: 1 })
        );
    }
}
