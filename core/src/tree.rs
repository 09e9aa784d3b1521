//! The state tree: an authenticated map from 32-byte keys to byte values, whose root goes into
//! the state root.
//!
//! # Shape
//!
//! A compressed binary sparse Merkle tree over 256-bit keys. Callers hash what they index
//! (addresses) into keys, so keys are uniformly spread and the tree stays about `log2(n)` deep.
//! The path of a key walks its bits from the most significant bit of byte 0 ([`Hash::bit`]): at
//! depth `d`, bit `d` = 0 goes left, 1 goes right. Depth is at most 256.
//!
//! Every subtree has exactly one hash:
//! - an empty subtree hashes to [`Hash::ZERO`];
//! - a subtree holding exactly one entry is that entry's leaf, placed at the top of the subtree
//!   (no chain of single-child inner nodes above a lone leaf):
//!   `leaf = tagged_hash(StateLeaf, key || value)`, the value written raw (the key has a fixed
//!   width, so the split is unambiguous);
//! - a subtree holding two or more entries is an inner node:
//!   `inner = tagged_hash(StateNode, left || right)`.
//!
//! So an inner node never has children (empty, empty), (empty, leaf) or (leaf, empty): these
//! collapse to empty, the leaf, the leaf. An inner node *may* have (empty, inner) or
//! (inner, empty), where two or more keys share a longer prefix. The root therefore depends only
//! on the map's contents, never on the order of updates. The empty map's root is `Hash::ZERO`.
//! A leaf's hash does not depend on its depth, so a leaf that moves up when its sibling subtree
//! empties keeps its hash.
//!
//! # Storage
//!
//! Nodes are content-addressed by their hash and read through a [`NodeStore`]: the relay keeps
//! them in its database, tests use a [`MemStore`], and a light client keeps none (it only calls
//! [`verify`]). [`update`] writes nothing: it returns the new root and the nodes it created, for
//! the caller to persist once the block is accepted. Updates never delete nodes, so older roots
//! stay readable; pruning is the store's business.
//!
//! # Cost
//!
//! [`get`] and [`prove`] read one node per level. [`update`] reads and creates O(depth) nodes per
//! changed key, never anything proportional to the size of the map.

use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::hash::{Domain, Hash, tagged_hash};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Largest value stored under one key, in bytes.
pub const MAX_VALUE_SIZE: usize = 4096;

/// Largest depth of the tree: one level per key bit. A proof has at most this many siblings.
pub const MAX_DEPTH: usize = 256;

/// [`MAX_VALUE_SIZE`] as a length-prefix cap.
const MAX_VALUE_COUNT: u32 = MAX_VALUE_SIZE as u32;
/// [`MAX_DEPTH`] as a count cap.
const MAX_DEPTH_COUNT: u32 = MAX_DEPTH as u32;

/// Hash of the leaf holding `value` under `key`.
pub fn leaf_hash(key: &Hash, value: &[u8]) -> Hash {
    tagged_hash(Domain::StateLeaf, &[key.as_bytes(), value])
}

/// Hash of the inner node with children `left` and `right`.
pub fn inner_hash(left: &Hash, right: &Hash) -> Hash {
    tagged_hash(Domain::StateNode, &[left.as_bytes(), right.as_bytes()])
}

/// One stored node of the tree.
///
/// Canonical encoding: tag `0`, key (32 bytes), value (`u32` length, at most
/// [`MAX_VALUE_SIZE`], then the bytes); or tag `1`, left hash, right hash (32 bytes each).
/// An inner node with two empty children does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Leaf { key: Hash, value: Vec<u8> },
    Inner { left: Hash, right: Hash },
}

impl Node {
    /// The hash this node is stored and referenced under.
    pub fn hash(&self) -> Hash {
        match self {
            Node::Leaf { key, value } => leaf_hash(key, value),
            Node::Inner { left, right } => inner_hash(left, right),
        }
    }

    /// The nodes this one references, by hash: none for a leaf, the non-empty children of an
    /// inner node (an empty subtree is `Hash::ZERO`, which is no node).
    pub fn children(&self) -> impl Iterator<Item = Hash> {
        let pair = match self {
            Node::Leaf { .. } => [None, None],
            Node::Inner { left, right } => [Some(*left), Some(*right)],
        };
        pair.into_iter().flatten().filter(|h| *h != Hash::ZERO)
    }
}

impl Encode for Node {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Node::Leaf { key, value } => {
                out.put_u8(0);
                key.encode_to(out);
                out.put_bytes(value);
            }
            Node::Inner { left, right } => {
                out.put_u8(1);
                left.encode_to(out);
                right.encode_to(out);
            }
        }
    }
}

impl Decode for Node {
    // Tag, key, length prefix, value.
    const MAX_SIZE: usize = 1 + 32 + 4 + MAX_VALUE_SIZE;
    const NAME: &'static str = "state node";

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => {
                let key = Hash::decode_from(r)?;
                let value = r.bytes("state value", MAX_VALUE_COUNT)?;
                Ok(Node::Leaf { key, value })
            }
            1 => {
                let left = Hash::decode_from(r)?;
                let right = Hash::decode_from(r)?;
                if left == Hash::ZERO && right == Hash::ZERO {
                    return Err(DecodeError::NonCanonical { what: Self::NAME });
                }
                Ok(Node::Inner { left, right })
            }
            tag => Err(DecodeError::InvalidTag { what: Self::NAME, tag }),
        }
    }
}

/// The nodes created by an [`update`], by hash, for the caller to persist.
pub type NodeBatch = BTreeMap<Hash, Node>;

/// A failure of the storage behind a [`NodeStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed; the message is the backend's own.
    Backend(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Backend(msg) => write!(f, "node store: {msg}"),
        }
    }
}

impl core::error::Error for StoreError {}

/// Read access to nodes by hash. `Ok(None)` means the store does not hold that node.
///
/// The tree checks every node it reads against the hash it asked for, so a store that returns
/// the wrong node produces [`TreeError::Corrupt`], never a wrong answer.
pub trait NodeStore {
    fn get_node(&self, hash: &Hash) -> Result<Option<Node>, StoreError>;
}

impl<S: NodeStore + ?Sized> NodeStore for &S {
    fn get_node(&self, hash: &Hash) -> Result<Option<Node>, StoreError> {
        (**self).get_node(hash)
    }
}

/// Nodes in memory, by hash. Never forgets a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemStore {
    nodes: BTreeMap<Hash, Node>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `node` under its hash and returns the hash.
    pub fn insert(&mut self, node: Node) -> Hash {
        let hash = node.hash();
        self.nodes.insert(hash, node);
        hash
    }

    /// Stores every node of an [`update`]'s batch.
    pub fn extend(&mut self, batch: NodeBatch) {
        self.nodes.extend(batch);
    }

    /// Number of nodes held.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl NodeStore for MemStore {
    fn get_node(&self, hash: &Hash) -> Result<Option<Node>, StoreError> {
        Ok(self.nodes.get(hash).cloned())
    }
}

/// Why a tree operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeError {
    /// The store does not hold a node the tree refers to.
    MissingNode(Hash),
    /// The store failed.
    Store(StoreError),
    /// The stored tree breaks a rule of its shape (see `reason`) at node `hash`.
    Corrupt { hash: Hash, reason: &'static str },
    /// A value above [`MAX_VALUE_SIZE`] in an update.
    ValueTooLarge { key: Hash, size: usize, max: usize },
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingNode(hash) => write!(f, "state node {hash} is missing from the store"),
            Self::Store(e) => write!(f, "{e}"),
            Self::Corrupt { hash, reason } => write!(f, "corrupt state node {hash}: {reason}"),
            Self::ValueTooLarge { key, size, max } => {
                write!(f, "value of {size} bytes under {key}, at most {max} allowed")
            }
        }
    }
}

impl core::error::Error for TreeError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for TreeError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Reads the node `hash` (never `ZERO`) and checks it against its hash and shape.
fn load<S: NodeStore + ?Sized>(store: &S, hash: &Hash) -> Result<Node, TreeError> {
    let node = store.get_node(hash)?.ok_or(TreeError::MissingNode(*hash))?;
    if node.hash() != *hash {
        return Err(TreeError::Corrupt { hash: *hash, reason: "node does not match its hash" });
    }
    if let Node::Inner { left, right } = &node
        && *left == Hash::ZERO
        && *right == Hash::ZERO
    {
        return Err(TreeError::Corrupt { hash: *hash, reason: "inner node with no children" });
    }
    Ok(node)
}

/// The child of inner node `hash` at `depth` on the path of `key`, with the other child.
fn step(
    hash: &Hash,
    depth: usize,
    key: &Hash,
    left: Hash,
    right: Hash,
) -> Result<(Hash, Hash), TreeError> {
    if depth >= MAX_DEPTH {
        return Err(TreeError::Corrupt { hash: *hash, reason: "inner node below depth 256" });
    }
    Ok(if key.bit(depth) { (right, left) } else { (left, right) })
}

/// The value under `key` in the tree rooted at `root`, if any.
pub fn get<S: NodeStore + ?Sized>(
    store: &S,
    root: &Hash,
    key: &Hash,
) -> Result<Option<Vec<u8>>, TreeError> {
    Ok(prove_inner(store, root, key, false)?.0)
}

/// Which end the path of a key reaches in a [`Proof`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terminal {
    /// The path ends in an empty subtree: the key is absent.
    Empty,
    /// The path ends in the key's own leaf, whose value is the one claimed to [`verify`].
    Found,
    /// The path ends in the leaf of a different key, which shares the path so far: the key is
    /// absent. Carries that leaf's key and value, so the verifier can hash it.
    OtherLeaf { key: Hash, value: Vec<u8> },
}

/// A proof that a key holds a value, or is absent, under a root.
///
/// `siblings[d]` is the hash of the sibling, at depth `d + 1`, of the node on the key's path at
/// depth `d + 1`, top-down from the root; `Hash::ZERO` for an empty sibling. The path is
/// `siblings.len()` levels deep and ends in `terminal`.
///
/// Canonical encoding: the siblings as a list (`u32` count, at most [`MAX_DEPTH`], then 32
/// bytes each; every sibling is written, empty ones as 32 zero bytes), then the terminal: tag `0`
/// empty, tag `1` found, or tag `2` then the other leaf's key (32 bytes) and value (`u32`
/// length, at most [`MAX_VALUE_SIZE`], then the bytes).
///
/// Why a plain list and not a bitmap of non-empty siblings: keys are hashes, so a path is about
/// `log2(n)` deep and has on average about one empty sibling (only where keys share a longer
/// prefix than their neighbours). A 32-byte bitmap would save about as much as it costs, so the
/// simpler form wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub siblings: Vec<Hash>,
    pub terminal: Terminal,
}

impl Encode for Proof {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_list(&self.siblings);
        match &self.terminal {
            Terminal::Empty => out.put_u8(0),
            Terminal::Found => out.put_u8(1),
            Terminal::OtherLeaf { key, value } => {
                out.put_u8(2);
                key.encode_to(out);
                out.put_bytes(value);
            }
        }
    }
}

impl Decode for Proof {
    // Sibling list, terminal tag, other leaf's key, length prefix and value.
    const MAX_SIZE: usize = 4 + 32 * MAX_DEPTH + 1 + 32 + 4 + MAX_VALUE_SIZE;
    const NAME: &'static str = "state proof";

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let siblings = r.list("proof siblings", MAX_DEPTH_COUNT, 32, Hash::decode_from)?;
        let terminal = match r.u8()? {
            0 => Terminal::Empty,
            1 => Terminal::Found,
            2 => {
                let key = Hash::decode_from(r)?;
                let value = r.bytes("state value", MAX_VALUE_COUNT)?;
                Terminal::OtherLeaf { key, value }
            }
            tag => return Err(DecodeError::InvalidTag { what: "proof terminal", tag }),
        };
        Ok(Proof { siblings, terminal })
    }
}

/// Walks the path of `key`; collects the siblings only if `with_siblings`.
fn prove_inner<S: NodeStore + ?Sized>(
    store: &S,
    root: &Hash,
    key: &Hash,
    with_siblings: bool,
) -> Result<(Option<Vec<u8>>, Proof), TreeError> {
    let mut siblings = Vec::new();
    let mut hash = *root;
    for depth in 0..=MAX_DEPTH {
        if hash == Hash::ZERO {
            return Ok((None, Proof { siblings, terminal: Terminal::Empty }));
        }
        match load(store, &hash)? {
            Node::Leaf { key: leaf_key, value } => {
                return Ok(if leaf_key == *key {
                    (Some(value), Proof { siblings, terminal: Terminal::Found })
                } else {
                    (
                        None,
                        Proof { siblings, terminal: Terminal::OtherLeaf { key: leaf_key, value } },
                    )
                });
            }
            Node::Inner { left, right } => {
                let (next, sibling) = step(&hash, depth, key, left, right)?;
                if with_siblings {
                    siblings.push(sibling);
                }
                hash = next;
            }
        }
    }
    // `step` fails at depth 256, so the loop always returns first.
    Err(TreeError::Corrupt { hash, reason: "inner node below depth 256" })
}

/// The value under `key` in the tree rooted at `root`, and a proof of it (or of its absence).
pub fn prove<S: NodeStore + ?Sized>(
    store: &S,
    root: &Hash,
    key: &Hash,
) -> Result<(Option<Vec<u8>>, Proof), TreeError> {
    prove_inner(store, root, key, true)
}

/// Why a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// More siblings than the tree has levels.
    TooDeep { depth: usize, max: usize },
    /// A value was claimed but the proof shows the key absent.
    ProvesAbsence,
    /// The key was claimed absent but the proof ends in the key's own leaf.
    ProvesPresence,
    /// A proof of absence ending in a leaf that holds the queried key itself.
    LeafHasQueriedKey,
    /// A proof of absence ending in a leaf whose key does not share the path walked so far.
    LeafOffPath { leaf_key: Hash },
    /// The deepest sibling is empty: no canonical tree has that shape (its node would collapse).
    NonCanonical,
    /// The proof hashes up to `computed`, not to the root it was checked against.
    RootMismatch { expected: Hash, computed: Hash },
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooDeep { depth, max } => {
                write!(f, "proof of depth {depth}, at most {max} allowed")
            }
            Self::ProvesAbsence => f.write_str("a value was claimed but the proof shows absence"),
            Self::ProvesPresence => f.write_str("absence was claimed but the proof shows a value"),
            Self::LeafHasQueriedKey => {
                f.write_str("proof of absence ends in the queried key's own leaf")
            }
            Self::LeafOffPath { leaf_key } => {
                write!(f, "proof of absence ends in leaf {leaf_key}, which is off the key's path")
            }
            Self::NonCanonical => f.write_str("proof has an empty deepest sibling"),
            Self::RootMismatch { expected, computed } => {
                write!(f, "proof hashes to {computed}, expected root {expected}")
            }
        }
    }
}

impl core::error::Error for ProofError {}

/// Checks that under `root`, `key` holds `value` (`None`: `key` is absent), as `proof` claims.
///
/// The checks, in order: depth at most 256; the terminal agrees with the claim (a value needs
/// [`Terminal::Found`], absence needs [`Terminal::Empty`] or [`Terminal::OtherLeaf`] with a
/// different key on the same path); the deepest sibling is not empty; the path hashes up to
/// `root`.
pub fn verify(
    root: &Hash,
    key: &Hash,
    value: Option<&[u8]>,
    proof: &Proof,
) -> Result<(), ProofError> {
    let depth = proof.siblings.len();
    if depth > MAX_DEPTH {
        return Err(ProofError::TooDeep { depth, max: MAX_DEPTH });
    }
    let mut hash = match (&proof.terminal, value) {
        (Terminal::Found, Some(value)) => leaf_hash(key, value),
        (Terminal::Found, None) => return Err(ProofError::ProvesPresence),
        (Terminal::Empty | Terminal::OtherLeaf { .. }, Some(_)) => {
            return Err(ProofError::ProvesAbsence);
        }
        (Terminal::Empty, None) => Hash::ZERO,
        (Terminal::OtherLeaf { key: leaf_key, value: leaf_value }, None) => {
            if leaf_key == key {
                return Err(ProofError::LeafHasQueriedKey);
            }
            if (0..depth).any(|d| leaf_key.bit(d) != key.bit(d)) {
                return Err(ProofError::LeafOffPath { leaf_key: *leaf_key });
            }
            leaf_hash(leaf_key, leaf_value)
        }
    };
    if proof.siblings.last() == Some(&Hash::ZERO) {
        return Err(ProofError::NonCanonical);
    }
    for (d, sibling) in proof.siblings.iter().enumerate().rev() {
        hash = if key.bit(d) { inner_hash(sibling, &hash) } else { inner_hash(&hash, sibling) };
    }
    if hash != *root {
        return Err(ProofError::RootMismatch { expected: *root, computed: hash });
    }
    Ok(())
}

/// A subtree produced during an update.
#[derive(Debug, Clone, Copy)]
enum Sub {
    Empty,
    Leaf(Hash),
    Inner(Hash),
    /// An existing, unchanged subtree whose kind was not needed so far.
    Unknown(Hash),
}

impl Sub {
    fn existing(hash: Hash) -> Self {
        if hash == Hash::ZERO { Sub::Empty } else { Sub::Unknown(hash) }
    }

    fn hash(self) -> Hash {
        match self {
            Sub::Empty => Hash::ZERO,
            Sub::Leaf(h) | Sub::Inner(h) | Sub::Unknown(h) => h,
        }
    }
}

/// A leaf of a subtree being rebuilt: a new one, or an existing one (already stored).
#[derive(Debug, Clone, Copy)]
enum Entry<'a> {
    New(&'a [u8]),
    Existing(Hash),
}

/// The two halves of a sorted run of keyed items.
type Halves<'a, T> = (&'a [(Hash, T)], &'a [(Hash, T)]);

/// Splits `items`, sorted by key and sharing their first `depth` key bits, by bit `depth`.
fn split_by_bit<T>(items: &[(Hash, T)], depth: usize) -> Result<Halves<'_, T>, TreeError> {
    let mid = items.partition_point(|(key, _)| !key.bit(depth));
    // `partition_point` returns at most `items.len()`, so this never fails.
    items.split_at_checked(mid).ok_or(TreeError::Corrupt {
        hash: Hash::ZERO,
        reason: "internal: split point out of range",
    })
}

/// One update in progress: the store it reads and the nodes it creates.
struct Updater<'s, S: ?Sized> {
    store: &'s S,
    batch: NodeBatch,
}

impl<S: NodeStore + ?Sized> Updater<'_, S> {
    fn emit(&mut self, node: Node) -> Hash {
        let hash = node.hash();
        self.batch.insert(hash, node);
        hash
    }

    /// The subtree with children `left` and `right`, collapsed to canonical form.
    fn join(&mut self, left: Sub, right: Sub) -> Result<Sub, TreeError> {
        let lone = match (left, right) {
            (Sub::Empty, Sub::Empty) => return Ok(Sub::Empty),
            (Sub::Empty, lone) | (lone, Sub::Empty) => lone,
            (left, right) => {
                let node = Node::Inner { left: left.hash(), right: right.hash() };
                return Ok(Sub::Inner(self.emit(node)));
            }
        };
        // One child left: a leaf moves up, an inner node stays below a new single-child node.
        let lone = match lone {
            Sub::Unknown(hash) => match load(self.store, &hash)? {
                Node::Leaf { .. } => Sub::Leaf(hash),
                Node::Inner { .. } => Sub::Inner(hash),
            },
            known => known,
        };
        match lone {
            Sub::Inner(hash) => {
                let node = if matches!(left, Sub::Empty) {
                    Node::Inner { left: Hash::ZERO, right: hash }
                } else {
                    Node::Inner { left: hash, right: Hash::ZERO }
                };
                Ok(Sub::Inner(self.emit(node)))
            }
            other => Ok(other),
        }
    }

    /// The canonical subtree at `depth` holding exactly `leaves` (sorted, distinct keys that
    /// share their first `depth` bits).
    fn build(&mut self, depth: usize, leaves: &[(Hash, Entry<'_>)]) -> Result<Sub, TreeError> {
        match leaves {
            [] => Ok(Sub::Empty),
            [(_, Entry::Existing(hash))] => Ok(Sub::Leaf(*hash)),
            [(key, Entry::New(value))] => {
                Ok(Sub::Leaf(self.emit(Node::Leaf { key: *key, value: value.to_vec() })))
            }
            _ => {
                let (left, right) = split_by_bit(leaves, depth)?;
                let below = depth.checked_add(1).filter(|d| *d <= MAX_DEPTH).ok_or(
                    // Two distinct keys differ in some bit, so they split before depth 256.
                    TreeError::Corrupt { hash: Hash::ZERO, reason: "internal: equal keys" },
                )?;
                let left = self.build(below, left)?;
                let right = self.build(below, right)?;
                self.join(left, right)
            }
        }
    }

    /// Applies `changes` (sorted, distinct keys sharing their first `depth` bits) to the
    /// existing subtree `hash` at `depth`.
    fn apply(
        &mut self,
        hash: Hash,
        depth: usize,
        changes: &[(Hash, Option<&[u8]>)],
    ) -> Result<Sub, TreeError> {
        if changes.is_empty() {
            return Ok(Sub::existing(hash));
        }
        if hash == Hash::ZERO {
            let leaves: Vec<(Hash, Entry<'_>)> = changes
                .iter()
                .filter_map(|(key, value)| value.map(|v| (*key, Entry::New(v))))
                .collect();
            return self.build(depth, &leaves);
        }
        match load(self.store, &hash)? {
            Node::Leaf { key: old_key, value: old_value } => {
                // Rebuild this subtree from the old leaf and the changes.
                let mut leaves = Vec::with_capacity(changes.len().saturating_add(1));
                let mut old_seen = false;
                for (key, value) in changes {
                    if !old_seen && old_key < *key {
                        leaves.push((old_key, Entry::Existing(hash)));
                        old_seen = true;
                    }
                    if *key == old_key {
                        old_seen = true;
                        match value {
                            Some(v) if *v == old_value.as_slice() => {
                                leaves.push((old_key, Entry::Existing(hash)));
                            }
                            Some(v) => leaves.push((*key, Entry::New(v))),
                            None => {}
                        }
                    } else if let Some(v) = value {
                        leaves.push((*key, Entry::New(v)));
                    }
                }
                if !old_seen {
                    leaves.push((old_key, Entry::Existing(hash)));
                }
                self.build(depth, &leaves)
            }
            Node::Inner { left, right } => {
                if depth >= MAX_DEPTH {
                    return Err(TreeError::Corrupt { hash, reason: "inner node below depth 256" });
                }
                let below = depth.saturating_add(1);
                let (left_changes, right_changes) = split_by_bit(changes, depth)?;
                let new_left = self.apply(left, below, left_changes)?;
                let new_right = self.apply(right, below, right_changes)?;
                if new_left.hash() == left && new_right.hash() == right {
                    return Ok(Sub::Inner(hash));
                }
                self.join(new_left, new_right)
            }
        }
    }
}

/// Applies `changes` to the tree rooted at `root`: `Some(value)` inserts or overwrites,
/// `None` deletes (a no-op for an absent key). If a key appears more than once, its last change
/// wins.
///
/// Returns the new root and the nodes created for it, which the caller persists if it keeps the
/// result. Nothing is written; nodes of the old tree are left in place. Every node in the batch
/// is reachable from the new root (intermediate states are never materialised).
pub fn update<S: NodeStore + ?Sized>(
    store: &S,
    root: &Hash,
    changes: &[(Hash, Option<Vec<u8>>)],
) -> Result<(Hash, NodeBatch), TreeError> {
    let mut latest: BTreeMap<Hash, Option<&[u8]>> = BTreeMap::new();
    for (key, value) in changes {
        if let Some(value) = value
            && value.len() > MAX_VALUE_SIZE
        {
            return Err(TreeError::ValueTooLarge {
                key: *key,
                size: value.len(),
                max: MAX_VALUE_SIZE,
            });
        }
        latest.insert(*key, value.as_deref());
    }
    let sorted: Vec<(Hash, Option<&[u8]>)> = latest.into_iter().collect();
    let mut updater = Updater { store, batch: NodeBatch::new() };
    let new_root = updater.apply(*root, 0, &sorted)?.hash();
    Ok((new_root, updater.batch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use alloc::vec;
    use core::cell::Cell;
    use proptest::prelude::*;

    #[test]
    fn children_are_the_non_empty_subtrees() {
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        let leaf = Node::Leaf { key: a, value: vec![1] };
        assert_eq!(leaf.children().count(), 0);
        let both = Node::Inner { left: a, right: b };
        assert_eq!(both.children().collect::<Vec<_>>(), vec![a, b]);
        let right = Node::Inner { left: Hash::ZERO, right: b };
        assert_eq!(right.children().collect::<Vec<_>>(), vec![b]);
    }

    fn key(n: u64) -> Hash {
        tagged_hash(Domain::StateKey, &[&n.to_be_bytes()])
    }

    fn val(n: u64) -> Vec<u8> {
        n.to_be_bytes().to_vec()
    }

    /// Applies `changes` to `root` and persists the batch into `store`.
    fn apply(store: &mut MemStore, root: Hash, changes: &[(Hash, Option<Vec<u8>>)]) -> Hash {
        let (new_root, batch) = update(&*store, &root, changes).unwrap();
        store.extend(batch);
        new_root
    }

    /// The canonical root of `map`, straight from the definition, without nodes or a store.
    fn reference_root(map: &BTreeMap<Hash, Vec<u8>>) -> Hash {
        fn sub(entries: &[(&Hash, &Vec<u8>)], depth: usize) -> (Hash, bool) {
            match entries {
                [] => (Hash::ZERO, false),
                [(k, v)] => (leaf_hash(k, v), true),
                _ => {
                    let mid = entries.partition_point(|(k, _)| !k.bit(depth));
                    let (l, r) = entries.split_at(mid);
                    let (lh, l_leaf) = sub(l, depth + 1);
                    let (rh, r_leaf) = sub(r, depth + 1);
                    if l.is_empty() && r_leaf {
                        (rh, true)
                    } else if r.is_empty() && l_leaf {
                        (lh, true)
                    } else {
                        (inner_hash(&lh, &rh), false)
                    }
                }
            }
        }
        let entries: Vec<(&Hash, &Vec<u8>)> = map.iter().collect();
        sub(&entries, 0).0
    }

    /// Every node hash reachable from `root`.
    fn reachable(store: &MemStore, root: Hash) -> BTreeSet<Hash> {
        let mut out = BTreeSet::new();
        let mut todo = vec![root];
        while let Some(h) = todo.pop() {
            if h == Hash::ZERO || !out.insert(h) {
                continue;
            }
            if let Node::Inner { left, right } = store.get_node(&h).unwrap().unwrap() {
                todo.push(left);
                todo.push(right);
            }
        }
        out
    }

    /// Checks `get`, `prove` and `verify` for every key of `map` and for `absent` keys.
    fn check_map(store: &MemStore, root: Hash, map: &BTreeMap<Hash, Vec<u8>>, absent: &[Hash]) {
        assert_eq!(root, reference_root(map));
        for (k, v) in map {
            assert_eq!(get(store, &root, k).unwrap().as_ref(), Some(v));
            let (found, proof) = prove(store, &root, k).unwrap();
            assert_eq!(found.as_ref(), Some(v));
            assert_eq!(proof.terminal, Terminal::Found);
            assert_eq!(verify(&root, k, Some(v), &proof), Ok(()));
            assert_eq!(verify(&root, k, None, &proof), Err(ProofError::ProvesPresence));
            assert_eq!(Proof::from_bytes(&proof.to_bytes()), Ok(proof));
        }
        for k in absent.iter().filter(|k| !map.contains_key(k)) {
            assert_eq!(get(store, &root, k).unwrap(), None);
            let (found, proof) = prove(store, &root, k).unwrap();
            assert_eq!(found, None);
            assert_ne!(proof.terminal, Terminal::Found);
            assert_eq!(verify(&root, k, None, &proof), Ok(()));
            assert_eq!(verify(&root, k, Some(b"x"), &proof), Err(ProofError::ProvesAbsence));
        }
    }

    #[test]
    fn empty_tree() {
        let store = MemStore::new();
        assert_eq!(get(&store, &Hash::ZERO, &key(1)), Ok(None));
        let (found, proof) = prove(&store, &Hash::ZERO, &key(1)).unwrap();
        assert_eq!(found, None);
        assert_eq!(proof, Proof { siblings: vec![], terminal: Terminal::Empty });
        assert_eq!(verify(&Hash::ZERO, &key(1), None, &proof), Ok(()));
        // Deleting from the empty tree changes nothing and creates nothing.
        let (root, batch) = update(&store, &Hash::ZERO, &[(key(1), None)]).unwrap();
        assert_eq!(root, Hash::ZERO);
        assert!(batch.is_empty());
    }

    #[test]
    fn single_leaf_is_the_root() {
        let mut store = MemStore::new();
        let root = apply(&mut store, Hash::ZERO, &[(key(1), Some(val(10)))]);
        assert_eq!(root, leaf_hash(&key(1), &val(10)));
        assert_eq!(store.len(), 1);
        check_map(&store, root, &BTreeMap::from([(key(1), val(10))]), &[key(2), key(3)]);
        let (_, proof) = prove(&store, &root, &key(2)).unwrap();
        assert_eq!(
            proof,
            Proof {
                siblings: vec![],
                terminal: Terminal::OtherLeaf { key: key(1), value: val(10) }
            }
        );
    }

    #[test]
    fn insert_overwrite_delete_round_trip() {
        let mut store = MemStore::new();
        let mut map = BTreeMap::new();
        let mut root = Hash::ZERO;
        let mut roots = vec![(root, map.clone())];
        for i in 0..50 {
            root = apply(&mut store, root, &[(key(i), Some(val(i)))]);
            map.insert(key(i), val(i));
            roots.push((root, map.clone()));
        }
        check_map(&store, root, &map, &[key(100), key(101)]);
        for i in (0..50).step_by(3) {
            root = apply(&mut store, root, &[(key(i), Some(val(i + 1000)))]);
            map.insert(key(i), val(i + 1000));
            roots.push((root, map.clone()));
        }
        check_map(&store, root, &map, &[]);
        for i in (0..50).step_by(2) {
            root = apply(&mut store, root, &[(key(i), None)]);
            map.remove(&key(i));
            roots.push((root, map.clone()));
        }
        check_map(&store, root, &map, &[key(0), key(2), key(100)]);
        // Deleting absent keys is a no-op that creates nothing.
        let (same, batch) = update(&store, &root, &[(key(0), None), (key(100), None)]).unwrap();
        assert_eq!(same, root);
        assert!(batch.is_empty());
        // Rewriting present values unchanged creates nothing either.
        let (same, batch) = update(&store, &root, &[(key(1), Some(val(1)))]).unwrap();
        assert_eq!(same, root);
        assert!(batch.is_empty());
        for i in (1..50).step_by(2) {
            root = apply(&mut store, root, &[(key(i), None)]);
            map.remove(&key(i));
            roots.push((root, map.clone()));
        }
        assert_eq!(root, Hash::ZERO);
        // Every older root still reads its own values.
        for (old_root, old_map) in &roots {
            check_map(&store, *old_root, old_map, &[key(7)]);
        }
    }

    #[test]
    fn last_change_of_a_key_wins() {
        let store = MemStore::new();
        let (root, _) = update(
            &store,
            &Hash::ZERO,
            &[
                (key(1), Some(val(1))),
                (key(1), None),
                (key(2), Some(val(2))),
                (key(2), Some(val(3))),
            ],
        )
        .unwrap();
        assert_eq!(root, leaf_hash(&key(2), &val(3)));
    }

    #[test]
    fn value_cap_is_enforced() {
        let store = MemStore::new();
        let changes = [(key(1), Some(vec![0; MAX_VALUE_SIZE + 1]))];
        assert_eq!(
            update(&store, &Hash::ZERO, &changes),
            Err(TreeError::ValueTooLarge {
                key: key(1),
                size: MAX_VALUE_SIZE + 1,
                max: MAX_VALUE_SIZE
            })
        );
        let changes = [(key(1), Some(vec![0; MAX_VALUE_SIZE]))];
        assert!(update(&store, &Hash::ZERO, &changes).is_ok());
    }

    /// Keys sharing 255 bits: the deepest possible tree, with a long chain of single-child
    /// inner nodes that collapses back to one leaf when a key goes.
    #[test]
    fn deepest_keys() {
        let a = Hash([0; 32]);
        let mut b = Hash([0; 32]);
        b.0[31] = 1;
        let mut store = MemStore::new();
        let root = apply(&mut store, Hash::ZERO, &[(a, Some(val(1))), (b, Some(val(2)))]);
        let map = BTreeMap::from([(a, val(1)), (b, val(2))]);
        let mut c = Hash([0; 32]);
        c.0[31] = 2;
        check_map(&store, root, &map, &[c, Hash([0xff; 32])]);
        let (_, proof) = prove(&store, &root, &b).unwrap();
        assert_eq!(proof.siblings.len(), MAX_DEPTH);
        let (_, proof) = prove(&store, &root, &c).unwrap();
        assert_eq!(proof.siblings.len(), 255);
        assert_eq!(proof.terminal, Terminal::Empty);
        let after = apply(&mut store, root, &[(a, None)]);
        assert_eq!(after, leaf_hash(&b, &val(2)));
    }

    #[test]
    fn store_errors_are_reported() {
        let mut store = MemStore::new();
        let root = apply(&mut store, Hash::ZERO, &[(key(1), Some(val(1))), (key(2), Some(val(2)))]);
        let empty = MemStore::new();
        assert_eq!(get(&empty, &root, &key(1)), Err(TreeError::MissingNode(root)));
        assert_eq!(
            update(&empty, &root, &[(key(3), Some(val(3)))]),
            Err(TreeError::MissingNode(root))
        );

        /// Returns a node that does not match the requested hash.
        #[derive(Debug)]
        struct Lying;
        impl NodeStore for Lying {
            fn get_node(&self, _: &Hash) -> Result<Option<Node>, StoreError> {
                Ok(Some(Node::Leaf { key: key(1), value: val(1) }))
            }
        }
        assert_eq!(
            get(&Lying, &root, &key(1)),
            Err(TreeError::Corrupt { hash: root, reason: "node does not match its hash" })
        );

        #[derive(Debug)]
        struct Failing;
        impl NodeStore for Failing {
            fn get_node(&self, _: &Hash) -> Result<Option<Node>, StoreError> {
                Err(StoreError::Backend("disk on fire".into()))
            }
        }
        assert_eq!(
            prove(&Failing, &root, &key(1)),
            Err(TreeError::Store(StoreError::Backend("disk on fire".into())))
        );
    }

    /// Counts reads, to show that work does not grow with the map.
    #[derive(Debug)]
    struct Counting<'a> {
        inner: &'a MemStore,
        reads: Cell<usize>,
    }

    impl NodeStore for Counting<'_> {
        fn get_node(&self, hash: &Hash) -> Result<Option<Node>, StoreError> {
            self.reads.set(self.reads.get() + 1);
            self.inner.get_node(hash)
        }
    }

    #[test]
    fn update_cost_is_per_change_not_per_map() {
        let mut store = MemStore::new();
        let changes: Vec<_> = (0..10_000).map(|i| (key(i), Some(val(i)))).collect();
        let root = apply(&mut store, Hash::ZERO, &changes);
        // n leaves, n - 1 branching inner nodes, and some single-child ones (~0.44 n).
        assert!(store.len() >= 19_999 && store.len() < 30_000, "{}", store.len());

        let counting = Counting { inner: &store, reads: Cell::new(0) };
        let (r1, batch) = update(&counting, &root, &[(key(20_000), Some(val(1)))]).unwrap();
        assert!(batch.len() < 64, "insert created {} nodes", batch.len());
        assert!(counting.reads.get() < 64, "insert read {} nodes", counting.reads.get());

        counting.reads.set(0);
        let (r2, batch) = update(&counting, &root, &[(key(5), None)]).unwrap();
        assert!(batch.len() < 64, "delete created {} nodes", batch.len());
        assert!(counting.reads.get() < 64, "delete read {} nodes", counting.reads.get());

        counting.reads.set(0);
        let (r3, batch) = update(&counting, &root, &[(key(5), Some(val(6)))]).unwrap();
        assert!(batch.len() < 64, "overwrite created {} nodes", batch.len());
        assert!(counting.reads.get() < 64, "overwrite read {} nodes", counting.reads.get());

        counting.reads.set(0);
        assert_eq!(get(&counting, &root, &key(9_999)), Ok(Some(val(9_999))));
        assert!(counting.reads.get() < 64);
        assert_ne!(r1, root);
        assert_ne!(r2, root);
        assert_ne!(r3, root);
    }

    #[test]
    fn tampered_proofs_are_rejected() {
        let mut store = MemStore::new();
        let changes: Vec<_> = (0..100).map(|i| (key(i), Some(val(i)))).collect();
        let root = apply(&mut store, Hash::ZERO, &changes);
        let other_root = apply(&mut store, root, &[(key(1000), Some(val(0)))]);
        let (_, proof) = prove(&store, &root, &key(7)).unwrap();
        assert!(proof.siblings.len() >= 2);
        let v = val(7);

        // Wrong value, wrong root, wrong key.
        assert!(matches!(
            verify(&root, &key(7), Some(&val(8)), &proof),
            Err(ProofError::RootMismatch { expected, .. }) if expected == root
        ));
        assert!(matches!(
            verify(&other_root, &key(7), Some(&v), &proof),
            Err(ProofError::RootMismatch { expected, .. }) if expected == other_root
        ));
        assert!(matches!(
            verify(&root, &key(8), Some(&v), &proof),
            Err(ProofError::RootMismatch { .. })
        ));

        // A flipped sibling.
        let mut bad = proof.clone();
        bad.siblings[0].0[0] ^= 1;
        assert!(matches!(
            verify(&root, &key(7), Some(&v), &bad),
            Err(ProofError::RootMismatch { .. })
        ));
        // A dropped sibling, an extra sibling.
        let mut bad = proof.clone();
        bad.siblings.pop();
        assert!(matches!(
            verify(&root, &key(7), Some(&v), &bad),
            Err(ProofError::RootMismatch { .. })
        ));
        let mut bad = proof.clone();
        bad.siblings.push(key(1));
        assert!(matches!(
            verify(&root, &key(7), Some(&v), &bad),
            Err(ProofError::RootMismatch { .. })
        ));
        // An empty deepest sibling.
        let mut bad = proof.clone();
        bad.siblings.push(Hash::ZERO);
        assert_eq!(verify(&root, &key(7), Some(&v), &bad), Err(ProofError::NonCanonical));
        // Too deep.
        let bad = Proof { siblings: vec![key(1); MAX_DEPTH + 1], terminal: Terminal::Found };
        assert_eq!(
            verify(&root, &key(7), Some(&v), &bad),
            Err(ProofError::TooDeep { depth: MAX_DEPTH + 1, max: MAX_DEPTH })
        );

        // Absence of a present key cannot be shown: not with its own leaf as the "other" leaf,
        // not with an empty terminal, not with a leaf of another key.
        let fake = Proof {
            siblings: proof.siblings.clone(),
            terminal: Terminal::OtherLeaf { key: key(7), value: v.clone() },
        };
        assert_eq!(verify(&root, &key(7), None, &fake), Err(ProofError::LeafHasQueriedKey));
        let fake = Proof { siblings: proof.siblings.clone(), terminal: Terminal::Empty };
        assert!(matches!(
            verify(&root, &key(7), None, &fake),
            Err(ProofError::RootMismatch { .. })
        ));
        let (_, other) = prove(&store, &root, &key(8)).unwrap();
        let fake = Proof {
            siblings: proof.siblings.clone(),
            terminal: Terminal::OtherLeaf { key: key(8), value: val(8) },
        };
        let result = verify(&root, &key(7), None, &fake);
        assert!(
            matches!(result, Err(ProofError::LeafOffPath { .. } | ProofError::RootMismatch { .. })),
            "{result:?}"
        );
        assert_eq!(verify(&root, &key(8), Some(&val(8)), &other), Ok(()));

        // An absence proof whose other leaf is off the path.
        let absent = (200..).map(key).find(|k| {
            matches!(prove(&store, &root, k).unwrap().1.terminal, Terminal::OtherLeaf { .. })
        });
        let absent = absent.unwrap();
        let (_, proof) = prove(&store, &root, &absent).unwrap();
        let Terminal::OtherLeaf { key: leaf_key, .. } = proof.terminal.clone() else {
            unreachable!()
        };
        let mut flipped = absent;
        flipped.0[0] ^= 0x80;
        assert_eq!(
            verify(&root, &flipped, None, &proof),
            Err(ProofError::LeafOffPath { leaf_key })
        );
        // Its other leaf's value changed.
        let mut bad = proof.clone();
        if let Terminal::OtherLeaf { value, .. } = &mut bad.terminal {
            value.push(0);
        }
        assert!(matches!(verify(&root, &absent, None, &bad), Err(ProofError::RootMismatch { .. })));
        assert_eq!(verify(&root, &absent, None, &proof), Ok(()));
    }

    #[test]
    fn node_encoding() {
        let leaf = Node::Leaf { key: key(1), value: val(2) };
        let inner = Node::Inner { left: key(1), right: Hash::ZERO };
        for node in [&leaf, &inner, &Node::Leaf { key: key(1), value: vec![] }] {
            assert_eq!(Node::from_bytes(&node.to_bytes()).as_ref(), Ok(node));
        }
        let mut bytes = vec![0];
        bytes.extend_from_slice(&key(1).0);
        bytes.extend_from_slice(&[0, 0, 0, 8]);
        bytes.extend_from_slice(&val(2));
        assert_eq!(leaf.to_bytes(), bytes);
        let mut bytes = vec![1];
        bytes.extend_from_slice(&key(1).0);
        bytes.extend_from_slice(&[0; 32]);
        assert_eq!(inner.to_bytes(), bytes);

        let mut trailing = leaf.to_bytes();
        trailing.push(0);
        assert_eq!(Node::from_bytes(&trailing), Err(DecodeError::TrailingBytes { left: 1 }));
        let mut bad_tag = inner.to_bytes();
        bad_tag[0] = 2;
        assert_eq!(
            Node::from_bytes(&bad_tag),
            Err(DecodeError::InvalidTag { what: "state node", tag: 2 })
        );
        let mut over = vec![0];
        over.extend_from_slice(&key(1).0);
        over.extend_from_slice(&4097u32.to_be_bytes());
        assert_eq!(
            Node::from_bytes(&over),
            Err(DecodeError::TooMany { what: "state value", count: 4097, max: 4096 })
        );
        over.extend_from_slice(&[0; 4097]);
        assert_eq!(
            Node::from_bytes(&over),
            Err(DecodeError::TooLarge { what: "state node", size: 4134, max: 4133 })
        );
        let max = Node::Leaf { key: key(1), value: vec![7; MAX_VALUE_SIZE] };
        assert_eq!(Node::from_bytes(&max.to_bytes()), Ok(max));
        let mut empty_inner = vec![1];
        empty_inner.extend_from_slice(&[0; 64]);
        assert_eq!(
            Node::from_bytes(&empty_inner),
            Err(DecodeError::NonCanonical { what: "state node" })
        );
        assert_eq!(Node::from_bytes(&[1]), Err(DecodeError::UnexpectedEnd { needed: 32 }));
    }

    #[test]
    fn proof_encoding() {
        let proofs = [
            Proof { siblings: vec![], terminal: Terminal::Empty },
            Proof { siblings: vec![key(1), Hash::ZERO, key(2)], terminal: Terminal::Found },
            Proof {
                siblings: vec![key(3); MAX_DEPTH],
                terminal: Terminal::OtherLeaf { key: key(4), value: vec![9; MAX_VALUE_SIZE] },
            },
        ];
        for proof in &proofs {
            assert_eq!(Proof::from_bytes(&proof.to_bytes()).as_ref(), Ok(proof));
        }
        assert_eq!(proofs[2].to_bytes().len(), Proof::MAX_SIZE);
        let mut bytes = vec![0, 0, 0, 1];
        bytes.extend_from_slice(&key(1).0);
        bytes.push(1);
        assert_eq!(Proof { siblings: vec![key(1)], terminal: Terminal::Found }.to_bytes(), bytes);

        let mut trailing = proofs[1].to_bytes();
        trailing.push(0);
        assert_eq!(Proof::from_bytes(&trailing), Err(DecodeError::TrailingBytes { left: 1 }));
        let mut bad_tag = proofs[0].to_bytes();
        bad_tag[4] = 3;
        assert_eq!(
            Proof::from_bytes(&bad_tag),
            Err(DecodeError::InvalidTag { what: "proof terminal", tag: 3 })
        );
        let too_deep = Proof { siblings: vec![key(1); MAX_DEPTH + 1], terminal: Terminal::Empty };
        assert_eq!(
            Proof::from_bytes(&too_deep.to_bytes()),
            Err(DecodeError::TooMany { what: "proof siblings", count: 257, max: 256 })
        );
        let mut over = vec![0, 0, 0, 0, 2];
        over.extend_from_slice(&key(1).0);
        over.extend_from_slice(&4097u32.to_be_bytes());
        over.extend_from_slice(&[0; 4097]);
        assert_eq!(
            Proof::from_bytes(&over),
            Err(DecodeError::TooMany { what: "state value", count: 4097, max: 4096 })
        );
    }

    /// Keys either fully random or sharing long prefixes (only 2 + 8 bits vary), so that both
    /// shallow random trees and deep single-child chains come up.
    fn arb_key() -> impl Strategy<Value = Hash> {
        prop_oneof![
            any::<[u8; 32]>().prop_map(Hash),
            (0u8..4, any::<u8>()).prop_map(|(a, b)| {
                let mut k = [0u8; 32];
                k[0] = a << 6;
                k[31] = b;
                Hash(k)
            }),
        ]
    }

    fn arb_changes() -> impl Strategy<Value = Vec<(Hash, Option<Vec<u8>>)>> {
        prop::collection::vec(
            (arb_key(), prop::option::weighted(0.75, prop::collection::vec(any::<u8>(), 0..8))),
            0..40,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// One change at a time, in batches, all at once, and the final map inserted in reverse
        /// order: all give the reference root of the final map.
        #[test]
        fn root_is_canonical(changes in arb_changes(), chunk in 1usize..8, deletes in arb_changes()) {
            let mut store = MemStore::new();
            let mut model = BTreeMap::new();
            let mut one_by_one = Hash::ZERO;
            let mut history = vec![(Hash::ZERO, model.clone())];
            for (k, v) in changes.iter().chain(&deletes) {
                let old_root = one_by_one;
                let old_nodes = reachable(&store, old_root);
                let (new_root, batch) =
                    update(&store, &old_root, &[(*k, v.clone())]).unwrap();
                store.extend(batch.clone());
                one_by_one = new_root;
                let old_value = model.get(k).cloned();
                match v {
                    Some(v) => model.insert(*k, v.clone()),
                    None => model.remove(k),
                };
                // The batch holds only new nodes, all of them reachable from the new root.
                let new_nodes = reachable(&store, new_root);
                for h in batch.keys() {
                    prop_assert!(new_nodes.contains(h));
                    prop_assert!(!old_nodes.contains(h));
                }
                prop_assert_eq!(get(&store, &new_root, k).unwrap(), v.clone());
                prop_assert_eq!(get(&store, &old_root, k).unwrap(), old_value);
                history.push((new_root, model.clone()));
            }
            // Every older root still reads its own values.
            for (old_root, old_model) in history.iter().step_by(7) {
                prop_assert_eq!(*old_root, reference_root(old_model));
                for (k, v) in old_model {
                    prop_assert_eq!(get(&store, old_root, k).unwrap(), Some(v.clone()));
                }
            }
            check_map(&store, one_by_one, &model, &[Hash::ZERO, Hash([0xff; 32])]);

            let mut batched = Hash::ZERO;
            let all: Vec<_> = changes.iter().chain(&deletes).cloned().collect();
            for part in all.chunks(chunk) {
                batched = apply(&mut store, batched, part);
            }
            prop_assert_eq!(batched, one_by_one);

            let (at_once, _) = update(&store, &Hash::ZERO, &all).unwrap();
            prop_assert_eq!(at_once, one_by_one);

            let reversed: Vec<_> =
                model.iter().rev().map(|(k, v)| (*k, Some(v.clone()))).collect();
            let mut rev_root = Hash::ZERO;
            for c in &reversed {
                rev_root = apply(&mut store, rev_root, core::slice::from_ref(c));
            }
            prop_assert_eq!(rev_root, one_by_one);

            // Deleting every key, in one batch or one by one, gives the empty root.
            let wipe: Vec<_> = model.keys().map(|k| (*k, None)).collect();
            let (empty, batch) = update(&store, &one_by_one, &wipe).unwrap();
            prop_assert_eq!(empty, Hash::ZERO);
            prop_assert!(batch.is_empty());
            let mut root = one_by_one;
            for c in &wipe {
                root = apply(&mut store, root, core::slice::from_ref(c));
            }
            prop_assert_eq!(root, Hash::ZERO);
        }

        /// Proofs under one root fail under the root of a different map.
        #[test]
        fn proofs_are_bound_to_their_root(changes in arb_changes(), extra in arb_key()) {
            let mut store = MemStore::new();
            let root = apply(&mut store, Hash::ZERO, &changes);
            let present = get(&store, &root, &extra).unwrap();
            let new_value = match &present {
                Some(v) => { let mut v = v.clone(); v.push(1); v }
                None => vec![1],
            };
            let other = apply(&mut store, root, &[(extra, Some(new_value))]);
            prop_assert_ne!(other, root);
            let (value, proof) = prove(&store, &root, &extra).unwrap();
            prop_assert_eq!(&value, &present);
            prop_assert_eq!(verify(&root, &extra, value.as_deref(), &proof), Ok(()));
            let is_mismatch = matches!(
                verify(&other, &extra, value.as_deref(), &proof),
                Err(ProofError::RootMismatch { .. })
            );
            prop_assert!(is_mismatch);
        }
    }
}
