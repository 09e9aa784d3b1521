//! Fork choice: which of the known blocks is the head.
//!
//! Rule, among blocks that descend from the last finalized block:
//! 1. prefer the block whose state has the **highest justified checkpoint** — votes follow the
//!    latest justified checkpoint (Casper FFG's rule), so this is the branch finality can still
//!    advance on, and a branch that lost the vote race cannot hold the head back;
//! 2. then the **greatest height** — the branch that saw the most proposals;
//! 3. then the block **inserted first** — a block that arrives later at the same justified
//!    height and height does not take the head, so a proposer cannot replace the block before
//!    its own for free (a sibling on the grandparent, ground until its hash is lower, won the
//!    old lowest-hash tie-break). The order is the order of [`ForkChoice::insert`] calls, so the
//!    rule stays deterministic for a given sequence of inserts; nodes that saw the blocks in
//!    another order may disagree until the next block or justification settles it.
//!
//! Blocks that do not descend from the finalized block are refused, and when a block is
//! finalized every branch that does not contain it is pruned: the head can never cross finality.
//!
//! # Bounded without finality
//!
//! Finality may stall for any length of time (more than 1/3 of the stake away); the tree must
//! not grow with it. Two steps, both the caller's to call ([`ForkChoice::prune`] and
//! [`ForkChoice::advance_anchor`], with a `window` in blocks):
//! - a **side branch that cannot win** is dropped: its tip is not above the head's justified
//!   height (justification only grows along a chain, so no block of it is) and is more than
//!   `window` blocks below the head's height. The head chain is never pruned.
//! - the **anchor** (the deepest block held; the finalized block until it moves) follows the head
//!   chain up to `window` blocks below the head, as long as nothing forks below its new place.
//!   Blocks at or below the anchor leave the tree (the caller keeps them in its store), and a
//!   block at or below the anchor's height is refused (`BelowAnchor`): a branch forking more
//!   than `window` blocks below the head is not followed.
//!
//! A finalized checkpoint at or below the anchor is an ancestor of the anchor (core puts only a
//! block's ancestors in its `finalized`), so finality moves there without pruning anything.

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
    /// The parent is neither the anchor nor a known descendant of it.
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
    /// The block is at or below the anchor (above finality): it forks off the head chain deeper
    /// than the window fork choice keeps.
    BelowAnchor {
        anchor: u64,
        found: u64,
    },
    Duplicate,
}

impl core::fmt::Display for ForkChoiceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnknownParent { parent } => write!(f, "its parent {parent} is not a known block"),
            Self::WrongHeight { expected, found } => {
                write!(f, "height {found}, expected {expected} (parent + 1)")
            }
            Self::BelowFinalized { finalized, found } => {
                write!(f, "height {found} is not above the finalized height {finalized}")
            }
            Self::BelowAnchor { anchor, found } => write!(
                f,
                "height {found} forks off below the oldest block kept ({anchor}), deeper than \
                 fork choice keeps"
            ),
            Self::Duplicate => f.write_str("the block is already known"),
        }
    }
}

impl core::error::Error for ForkChoiceError {}

#[derive(Debug, Clone, Copy)]
struct Entry {
    info: BlockInfo,
    /// Insertion order: the earlier block wins a tie.
    seen: u64,
}

/// The tree of non-finalized blocks above the anchor.
#[derive(Debug, Clone)]
pub struct ForkChoice {
    finalized: Checkpoint,
    /// The deepest block held, at or above `finalized`: every block in `blocks` strictly
    /// descends from it.
    anchor: Checkpoint,
    blocks: BTreeMap<Hash, Entry>,
    children: BTreeMap<Hash, BTreeSet<Hash>>,
    next_seen: u64,
}

impl ForkChoice {
    /// Starts from a finalized checkpoint (genesis: height 0, the chain id).
    pub fn new(finalized: Checkpoint) -> Self {
        Self::with_anchor(finalized, finalized)
    }

    /// Starts from a finalized checkpoint and an anchor on the chain above it (a node resuming
    /// from its store); an anchor below `finalized` is taken as `finalized`.
    pub fn with_anchor(finalized: Checkpoint, anchor: Checkpoint) -> Self {
        let anchor = if anchor.height < finalized.height { finalized } else { anchor };
        ForkChoice {
            finalized,
            anchor,
            blocks: BTreeMap::new(),
            children: BTreeMap::new(),
            next_seen: 0,
        }
    }

    pub fn finalized(&self) -> Checkpoint {
        self.finalized
    }

    /// The deepest block held (see the module docs).
    pub fn anchor(&self) -> Checkpoint {
        self.anchor
    }

    /// Whether `hash` is the anchor or a block in the tree.
    pub fn contains(&self, hash: &Hash) -> bool {
        *hash == self.anchor.hash || self.blocks.contains_key(hash)
    }

    pub fn get(&self, hash: &Hash) -> Option<&BlockInfo> {
        self.blocks.get(hash).map(|e| &e.info)
    }

    /// Number of blocks held above the anchor.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    fn height_of(&self, hash: &Hash) -> Option<u64> {
        if *hash == self.anchor.hash {
            Some(self.anchor.height)
        } else {
            self.blocks.get(hash).map(|e| e.info.height)
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
        if block.height <= self.anchor.height {
            return Err(ForkChoiceError::BelowAnchor {
                anchor: self.anchor.height,
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
        let seen = self.next_seen;
        self.next_seen = seen.saturating_add(1);
        self.blocks.insert(block.hash, Entry { info: block, seen });
        self.children.entry(block.parent).or_default().insert(block.hash);
        self.finalize(block.finalized);
        Ok(())
    }

    /// Whether `ancestor` is `hash` or one of its ancestors in the tree (the anchor included).
    pub fn is_ancestor(&self, ancestor: &Hash, hash: &Hash) -> bool {
        let mut cursor = *hash;
        loop {
            if cursor == *ancestor {
                return true;
            }
            match self.blocks.get(&cursor) {
                Some(e) => cursor = e.info.parent,
                None => return false,
            }
        }
    }

    /// Moves finality to `checkpoint`, which the caller took from a validated block in the tree
    /// (so it is that block's ancestor). In the tree: it becomes the anchor too, and what does
    /// not descend from it is pruned. At or below the anchor: only finality moves. Ignored if
    /// not newer, or above the anchor and unknown.
    pub fn finalize(&mut self, checkpoint: Checkpoint) {
        if checkpoint.height <= self.finalized.height {
            return;
        }
        if checkpoint.height <= self.anchor.height {
            self.finalized = checkpoint;
            return;
        }
        if !self.blocks.contains_key(&checkpoint.hash) {
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
        self.anchor = checkpoint;
    }

    fn head_entry(&self) -> Option<&Entry> {
        self.blocks
            .values()
            .filter(|e| self.children.get(&e.info.hash).is_none_or(|c| c.is_empty()))
            .max_by_key(|e| (e.info.justified.height, e.info.height, Reverse(e.seen)))
    }

    /// The head: see the module docs for the rule. The anchor when the tree is empty.
    pub fn head(&self) -> Hash {
        self.head_entry().map_or(self.anchor.hash, |e| e.info.hash)
    }

    /// Drops the side branches that can no longer win (module docs): each leaf other than the
    /// head whose justified height is not above the head's and whose height is more than
    /// `window` below the head's, with its ancestors up to where it joins a kept branch. Returns
    /// the blocks dropped.
    pub fn prune(&mut self, window: u64) -> Vec<Hash> {
        let Some(head) = self.head_entry().map(|e| e.info) else { return Vec::new() };
        let lowest = head.height.saturating_sub(window);
        let dead: Vec<Hash> = self
            .blocks
            .values()
            .filter(|e| {
                e.info.hash != head.hash
                    && self.children.get(&e.info.hash).is_none_or(|c| c.is_empty())
                    && e.info.justified.height <= head.justified.height
                    && e.info.height < lowest
            })
            .map(|e| e.info.hash)
            .collect();
        let mut dropped = Vec::new();
        for leaf in dead {
            let mut cursor = leaf;
            // Up the branch while the block is the only child left of its parent.
            while let Some(entry) = self.blocks.remove(&cursor) {
                dropped.push(cursor);
                self.children.remove(&cursor);
                let parent = entry.info.parent;
                let now_leaf = match self.children.get_mut(&parent) {
                    Some(kids) => {
                        kids.remove(&cursor);
                        kids.is_empty()
                    }
                    None => false,
                };
                if !now_leaf || parent == self.anchor.hash {
                    break;
                }
                self.children.remove(&parent);
                cursor = parent;
            }
        }
        dropped
    }

    /// Moves the anchor up the head chain while its only child is at least `window` blocks
    /// below the head (module docs). Returns the blocks that left the tree, oldest first; the
    /// last is the new anchor.
    pub fn advance_anchor(&mut self, window: u64) -> Vec<Checkpoint> {
        let Some(head_height) = self.head_entry().map(|e| e.info.height) else {
            return Vec::new();
        };
        let mut moved = Vec::new();
        loop {
            let only = match self.children.get(&self.anchor.hash) {
                Some(kids) if kids.len() == 1 => kids.first().copied(),
                _ => None,
            };
            let Some(child) = only.and_then(|h| self.blocks.get(&h)).map(|e| e.info) else {
                break;
            };
            if child.height.saturating_add(window) > head_height {
                break;
            }
            self.children.remove(&self.anchor.hash);
            self.blocks.remove(&child.hash);
            self.anchor = Checkpoint { height: child.height, hash: child.hash };
            moved.push(self.anchor);
        }
        moved
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

    /// A sibling inserted later does not take the head, whatever its hash.
    #[test]
    fn the_block_seen_first_wins_a_tie() {
        let mut fc = ForkChoice::new(Checkpoint { height: 0, hash: h(0) });
        let (low, high) = if h(1) < h(2) { (h(1), h(2)) } else { (h(2), h(1)) };
        let at = |hash: Hash| BlockInfo { hash, ..block(0, h(0), 1, 0) };
        fc.insert(at(high)).unwrap();
        fc.insert(at(low)).unwrap();
        assert_eq!(fc.head(), high, "the later block has the lower hash, and loses");
        let mut other = ForkChoice::new(Checkpoint { height: 0, hash: h(0) });
        other.insert(at(low)).unwrap();
        other.insert(at(high)).unwrap();
        assert_eq!(other.head(), low);
    }

    /// Without finality the tree stays within the window; branches that cannot win
    /// go, the anchor follows the head, and finality below the anchor still moves.
    #[test]
    fn without_finality_the_tree_stays_within_the_window() {
        let mut fc = ForkChoice::new(Checkpoint { height: 0, hash: h(0) });
        let mut parent = h(0);
        for height in 1..=100 {
            fc.insert(block(height, parent, height, 0)).unwrap();
            parent = h(height);
            // A late sibling of every tenth block.
            if height % 10 == 0 {
                fc.insert(block(1_000 + height, h(height - 1), height, 0)).unwrap();
            }
            fc.prune(8);
            let moved = fc.advance_anchor(8);
            assert!(moved.iter().all(|c| c.hash == h(c.height)), "the head chain: {moved:?}");
            assert!(fc.len() <= 10, "height {height}: {} blocks", fc.len());
        }
        assert_eq!(fc.head(), h(100));
        assert_eq!(fc.anchor(), Checkpoint { height: 92, hash: h(92) });
        assert_eq!(
            fc.insert(block(2_000, h(91), 92, 0)),
            Err(ForkChoiceError::BelowAnchor { anchor: 92, found: 92 })
        );
        // A branch with a higher justified checkpoint is the head, and holds the anchor.
        fc.insert(block(3_000, h(95), 96, 7)).unwrap();
        assert_eq!(fc.head(), h(3_000));
        for height in 101..=120 {
            fc.insert(block(height, h(height - 1), height, 0)).unwrap();
            fc.prune(8);
            fc.advance_anchor(8);
        }
        assert_eq!(fc.head(), h(3_000));
        // The taller branch is within the window of the head's height: kept, and the anchor
        // stays below the fork.
        assert_eq!(fc.anchor(), Checkpoint { height: 92, hash: h(92) });
        assert!(fc.contains(&h(120)) && fc.contains(&h(3_000)));
        // Finality at or below the anchor moves without pruning.
        let mut f = block(4_000, h(3_000), 97, 7);
        f.finalized = Checkpoint { height: 50, hash: h(50) };
        fc.insert(f).unwrap();
        assert_eq!(fc.finalized(), Checkpoint { height: 50, hash: h(50) });
        assert_eq!(fc.head(), h(4_000));
    }
}
