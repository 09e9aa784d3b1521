//! Checkpoint sync, sans I/O: a new node starts from a finalized block it trusts instead of
//! replaying every block from genesis (PROTOCOL.md §16.11).
//!
//! The caller fetches the trusted block and the state after it (`get_checkpoint`), which
//! [`StateSync::new`] checks with core ([`light::verify_checkpoint`]); then the state's trees,
//! node by node: [`StateSync::wanted`] names the hashes to ask for (`get_nodes`), and
//! [`StateSync::receive`] keeps only nodes that hash to a wanted hash — every node kept is
//! reachable from the trusted roots, so a peer can slow the download but never change it — and
//! stores them. When nothing is wanted, [`StateSync::finish`] makes the checkpoint the store's
//! finalized block, and the node opens from it and follows the chain block by block.
//!
//! Crash safety: nodes are stored as they come (one transaction a reply) and the checkpoint is
//! recorded last, in one transaction. A sync killed in the middle leaves a store with some nodes
//! and no finalized block; a new [`StateSync`] walks what is stored and asks only for the rest.

use crate::store::{Store, StoreError};
use memecoin_core::block::Block;
use memecoin_core::encode::Decode;
use memecoin_core::finality::Checkpoint;
use memecoin_core::hash::Hash;
use memecoin_core::light::{self, FinalityProof, LightError};
use memecoin_core::state::ChainState;
use memecoin_core::tree::Node;
use std::collections::BTreeSet;
use std::fmt;

/// A state being downloaded.
#[derive(Debug)]
pub struct StateSync {
    block: Block,
    state: ChainState,
    /// Hashes of nodes reachable from the state's roots that the store lacks and no reply has
    /// brought yet.
    wanted: BTreeSet<Hash>,
    /// Nodes stored by this sync.
    stored: u64,
}

/// Why a checkpoint sync stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncError {
    /// The block or state is not the trusted block's (a peer lied, or has another chain).
    Checkpoint(LightError),
    /// Bytes a peer sent do not decode.
    Decode {
        what: &'static str,
    },
    Store(StoreError),
    /// `finish` before every node was stored.
    Incomplete {
        wanted: usize,
    },
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Checkpoint(e) => write!(f, "checkpoint refused: {e}"),
            Self::Decode { what } => write!(f, "checkpoint sync: a {what} does not decode"),
            Self::Store(e) => write!(f, "checkpoint sync: {e}"),
            Self::Incomplete { wanted } => {
                write!(f, "checkpoint sync: {wanted} nodes still missing")
            }
        }
    }
}

impl std::error::Error for SyncError {}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        SyncError::Store(e)
    }
}

impl StateSync {
    /// Starts (or resumes) downloading the state after `block`, which must be the trusted block
    /// `trusted`, with `state` the state its header commits to (both as a peer sent them, in
    /// canonical bytes). Nodes already in `store` are not asked for again.
    pub fn new(
        store: &Store,
        trusted: &Hash,
        block: &[u8],
        state: &[u8],
    ) -> Result<StateSync, SyncError> {
        let block = Block::from_bytes(block).map_err(|_| SyncError::Decode { what: "block" })?;
        let state =
            ChainState::from_bytes(state).map_err(|_| SyncError::Decode { what: "state" })?;
        light::verify_checkpoint(trusted, &block, &state).map_err(SyncError::Checkpoint)?;
        let mut sync = StateSync { block, state, wanted: BTreeSet::new(), stored: 0 };
        // What a killed sync (of this checkpoint or another) stored is walked, not trusted.
        let roots = sync.state.tree_roots();
        sync.wanted = missing(store, &roots, &BTreeSet::new())?;
        Ok(sync)
    }

    /// The checkpoint being synced.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { height: self.block.header.header.height, hash: self.block.hash() }
    }

    /// Up to `max` hashes to ask for next.
    pub fn wanted(&self, max: usize) -> Vec<Hash> {
        self.wanted.iter().take(max).copied().collect()
    }

    /// Nodes still wanted (each may stand for a whole subtree).
    pub fn wanted_len(&self) -> usize {
        self.wanted.len()
    }

    /// Nodes this sync has stored.
    pub fn stored(&self) -> u64 {
        self.stored
    }

    pub fn is_done(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Takes a `nodes` reply, in the order sent (a node before the nodes below it): keeps and
    /// stores each that hashes to a wanted hash, and wants what lies below it that the store
    /// lacks (below a node already stored too: it may be the top of a subtree a killed sync of
    /// another checkpoint left half done). Anything else (a node not asked for, one already
    /// stored) is dropped. A reply with bytes that do not decode, or one the store fails to
    /// take, changes nothing. Returns how many were kept: 0 means the reply brought nothing,
    /// which the caller counts against the peer.
    pub fn receive(&mut self, store: &Store, nodes: &[Vec<u8>]) -> Result<usize, SyncError> {
        let nodes = nodes
            .iter()
            .map(|bytes| Node::from_bytes(bytes))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| SyncError::Decode { what: "node" })?;
        let mut kept = Vec::new();
        let mut taken = BTreeSet::new();
        let mut added = BTreeSet::new();
        for node in nodes {
            let hash = node.hash();
            let wanted = self.wanted.contains(&hash) || added.contains(&hash);
            if !wanted || !taken.insert(hash) {
                continue;
            }
            added.remove(&hash);
            let children: Vec<Hash> = node.children().filter(|c| !taken.contains(c)).collect();
            added.extend(missing(store, &children, &self.wanted)?);
            kept.push(node);
        }
        store.put_nodes(&kept)?;
        // Only once stored: a failed write leaves the wanted set as it was.
        self.wanted.retain(|h| !taken.contains(h));
        self.wanted.extend(added.into_iter().filter(|h| !taken.contains(h)));
        self.stored = self.stored.saturating_add(kept.len() as u64);
        Ok(kept.len())
    }

    /// Records the checkpoint as the store's finalized block (with `proof`, the finality proof
    /// it was trusted by, if any), once every node is stored: the node then opens from it.
    pub fn finish(
        self,
        store: &Store,
        proof: Option<&FinalityProof>,
    ) -> Result<Checkpoint, SyncError> {
        // Checked, not assumed: every node under the roots is in the store.
        let left = missing(store, &self.state.tree_roots(), &BTreeSet::new())?;
        if !self.is_done() || !left.is_empty() {
            return Err(SyncError::Incomplete { wanted: self.wanted.len().max(left.len()) });
        }
        Ok(store.put_checkpoint(&self.block, &self.state, proof)?)
    }
}

/// The nodes under `tops` (themselves included) that the store lacks, walking down through the
/// stored ones; hashes in `known` (already wanted) are neither walked nor returned.
fn missing(
    store: &Store,
    tops: &[Hash],
    known: &BTreeSet<Hash>,
) -> Result<BTreeSet<Hash>, SyncError> {
    let mut out = BTreeSet::new();
    let mut stack: Vec<Hash> = tops.to_vec();
    while let Some(hash) = stack.pop() {
        if hash == Hash::ZERO || known.contains(&hash) || out.contains(&hash) {
            continue;
        }
        match memecoin_core::tree::NodeStore::get_node(store, &hash)
            .map_err(|e| SyncError::Store(StoreError::Db(e.to_string())))?
        {
            Some(node) => stack.extend(node.children()),
            None => {
                out.insert(hash);
            }
        }
    }
    Ok(out)
}

/// The first bytes of a snapshot file (`db export`): the format's name and version.
pub const SNAPSHOT_MAGIC: &[u8; 18] = b"memecoin-snapshot1";

/// Writes the store's finalized block, the state after it, every tree node under it and its
/// finality proof (if stored) to `out`: a file another node starts from (`db import`). Written
/// to `out` + `.part` and renamed, so `out` is never half-written.
///
/// Layout: [`SNAPSHOT_MAGIC`], the chain id (32 bytes), then length-prefixed items (`u32` BE
/// length, then the bytes): the block, the state, the proof (empty if none), then a `u32` BE
/// count of nodes and each node, length-prefixed.
pub fn export(store: &Store, out: &std::path::Path) -> Result<Checkpoint, SyncError> {
    let finalized = store.finalized()?.ok_or(SyncError::Incomplete { wanted: 0 })?;
    let reader = store.reader();
    let stored =
        reader.checkpoint_bytes(&finalized.hash)?.ok_or(SyncError::Incomplete { wanted: 0 })?;
    let state =
        ChainState::from_bytes(&stored.state).map_err(|_| SyncError::Decode { what: "state" })?;
    let nodes = reader.subtrees(&state.tree_roots(), usize::MAX, usize::MAX)?;
    let proof = store
        .finality_proofs(finalized.height.saturating_sub(1), 1)?
        .into_iter()
        .find(|p| p.source.hash() == finalized.hash)
        .map(|p| memecoin_core::encode::Encode::to_bytes(&p))
        .unwrap_or_default();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(SNAPSHOT_MAGIC);
    bytes.extend_from_slice(store.chain_id().as_bytes());
    for item in [&stored.block, &stored.state, &proof] {
        put_item(&mut bytes, item)?;
    }
    let count = u32::try_from(nodes.len()).map_err(|_| SyncError::Decode { what: "node count" })?;
    bytes.extend_from_slice(&count.to_be_bytes());
    for node in &nodes {
        put_item(&mut bytes, node)?;
    }
    let mut part = out.as_os_str().to_owned();
    part.push(".part");
    let part = std::path::PathBuf::from(part);
    let io =
        |e: std::io::Error| SyncError::Store(StoreError::Io(format!("{}: {e}", out.display())));
    std::fs::write(&part, &bytes).map_err(io)?;
    std::fs::File::open(&part).and_then(|f| f.sync_all()).map_err(io)?;
    std::fs::rename(&part, out).map_err(io)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(finalized)
}

/// Starts the data dir `data_dir` (created if needed, with the snapshot's chain) from a snapshot
/// file written by [`export`], checking it as a checkpoint sync checks what a relay sends (the
/// block against the state, every node against the hash that names it); returns the
/// checkpoint, which the operator compares with a source they trust. A data dir with a chain
/// is refused ([`StoreError::NotFresh`]), one of another chain too
/// ([`StoreError::ChainMismatch`]), one in use by a relay too ([`StoreError::InUse`]); an import
/// killed in the middle is resumed by running it again.
pub fn import(data_dir: &std::path::Path, from: &std::path::Path) -> Result<Checkpoint, SyncError> {
    let bytes = std::fs::read(from)
        .map_err(|e| SyncError::Store(StoreError::Io(format!("{}: {e}", from.display()))))?;
    let bad = SyncError::Decode { what: "snapshot" };
    let rest = bytes.strip_prefix(SNAPSHOT_MAGIC.as_slice()).ok_or(bad.clone())?;
    let (chain_id, mut rest) = rest.split_first_chunk::<32>().ok_or(bad.clone())?;
    let store = Store::open(data_dir, Hash(*chain_id))?;
    let store = &store;
    if let Some(finalized) = store.finalized()? {
        return Err(SyncError::Store(StoreError::NotFresh { finalized: finalized.height }));
    }
    let block = take_item(&mut rest).ok_or(bad.clone())?;
    let state = take_item(&mut rest).ok_or(bad.clone())?;
    let proof = take_item(&mut rest).ok_or(bad.clone())?;
    let (count, mut rest) = rest.split_first_chunk::<4>().ok_or(bad.clone())?;
    let mut nodes = Vec::new();
    for _ in 0..u32::from_be_bytes(*count) {
        nodes.push(take_item(&mut rest).ok_or(bad.clone())?.to_vec());
    }
    let hash = Block::from_bytes(block).map_err(|_| SyncError::Decode { what: "block" })?.hash();
    let proof = match proof {
        [] => None,
        p => Some(FinalityProof::from_bytes(p).map_err(|_| SyncError::Decode { what: "proof" })?),
    };
    let mut sync = StateSync::new(store, &hash, block, state)?;
    for chunk in nodes.chunks(4096) {
        sync.receive(store, chunk)?;
    }
    sync.finish(store, proof.as_ref())
}

fn put_item(out: &mut Vec<u8>, item: &[u8]) -> Result<(), SyncError> {
    let len = u32::try_from(item.len()).map_err(|_| SyncError::Decode { what: "item length" })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(item);
    Ok(())
}

fn take_item<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, tail) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let (item, tail) = tail.split_at_checked(len)?;
    *rest = tail;
    Some(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;
    use crate::node::Node;
    use crate::testing::{at, node, produce};
    use memecoin_core::address::Address;

    /// A checkpoint synced from a live node's store, through the bytes a peer would send, with
    /// a lying peer and a killed sync on the way: the new node opens at the checkpoint, reads
    /// the same accounts, and imports the blocks after it.
    #[test]
    fn a_new_node_starts_from_a_checkpoint_and_follows_the_chain() {
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut source = node(da.path(), true);
        produce(&mut source, 1..=40);
        let checkpoint = source.finalized();
        assert!(checkpoint.height > 20, "finalized {}", checkpoint.height);
        let reader = source.reader();
        let stored = reader.checkpoint_bytes(&checkpoint.hash).unwrap().unwrap();
        let (block, state) = (stored.block, stored.state);

        let store = Store::open(db.path(), source.chain().id).unwrap();
        // The wrong block for the trusted hash, or a state that is not its own, is refused.
        let other = reader.checkpoint_bytes(&source.hash_at(3).unwrap()).unwrap().unwrap();
        assert_eq!(
            StateSync::new(&store, &checkpoint.hash, &other.block, &other.state).unwrap_err(),
            SyncError::Checkpoint(LightError::WrongCheckpoint { what: "block" })
        );
        assert_eq!(
            StateSync::new(&store, &checkpoint.hash, &block, &other.state).unwrap_err(),
            SyncError::Checkpoint(LightError::WrongCheckpoint { what: "state's tip" })
        );

        let mut sync = StateSync::new(&store, &checkpoint.hash, &block, &state).unwrap();
        assert_eq!(sync.checkpoint(), checkpoint);
        // A peer sending nodes nobody asked for gets nothing stored.
        let stray = reader.subtrees(&[other_root(&other.state)], 16, usize::MAX).unwrap();
        assert_eq!(sync.receive(&store, &stray).unwrap(), 0);
        // Half the download, then the sync is "killed" (dropped) and started again.
        let first = reader.subtrees(&sync.wanted(64), 3, usize::MAX).unwrap();
        assert_eq!(sync.receive(&store, &first).unwrap(), first.len());
        let before = sync.wanted_len();
        drop(sync);
        let mut sync = StateSync::new(&store, &checkpoint.hash, &block, &state).unwrap();
        assert_eq!(sync.wanted_len(), before, "resumed where it stopped");
        let mut rounds = 0;
        while !sync.is_done() {
            let reply = reader.subtrees(&sync.wanted(64), 2, usize::MAX).unwrap();
            assert!(sync.receive(&store, &reply).unwrap() > 0);
            rounds += 1;
        }
        assert!(rounds >= 1);
        // Every node under the roots, each once.
        let roots = ChainState::from_bytes(&state).unwrap().tree_roots();
        let all = reader.subtrees(&roots, usize::MAX, usize::MAX).unwrap();
        assert_eq!(sync.stored() + first.len() as u64, all.len() as u64);
        sync.finish(&store, None).unwrap();
        assert_eq!(store.finalized().unwrap(), Some(checkpoint));
        assert_eq!(store.pruned_below().unwrap(), checkpoint.height);
        drop(store);

        // The new node opens at the checkpoint and follows the chain from there.
        let mut joined = node(db.path(), false);
        assert_eq!(joined.finalized(), checkpoint);
        let dev = Address::from_public_key(&keys::devnet_dev_key().unwrap().public_key());
        let read = |n: &Node, h: &Hash| {
            n.store().state(h).unwrap().unwrap().account(n.store(), &dev).unwrap()
        };
        assert_eq!(read(&joined, &checkpoint.hash), read(&source, &checkpoint.hash));
        let after: Vec<Block> = (checkpoint.height + 1..=source.head_state().unwrap().tip.height)
            .map(|h| source.block(&source.hash_at(h).unwrap()).unwrap())
            .collect();
        let now = at(&source, 40);
        for b in after {
            joined.import_block_at(b, now).unwrap();
        }
        assert_eq!(joined.head_state().unwrap().tip, source.head_state().unwrap().tip);
        // A second checkpoint into a store with a chain is refused.
        let store = joined.store();
        assert_eq!(
            store.put_checkpoint(
                &Block::from_bytes(&block).unwrap(),
                &ChainState::from_bytes(&state).unwrap(),
                None
            ),
            Err(StoreError::NotFresh { finalized: checkpoint.height })
        );
    }

    /// A reply whose last node does not decode changes nothing; a sync killed half way through
    /// one checkpoint, resumed onto a later one (the newest proof moved on meanwhile), still
    /// ends with every node of the later state, not with the earlier one's half-stored subtrees.
    #[test]
    fn a_bad_reply_changes_nothing_and_a_resume_onto_another_checkpoint_is_complete() {
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut source = node(da.path(), true);
        produce(&mut source, 1..=30);
        let first = source.finalized();
        produce(&mut source, 31..=60);
        let second = source.finalized();
        assert!(second.height > first.height);
        let reader = source.reader();
        let store = Store::open(db.path(), source.chain().id).unwrap();

        let one = reader.checkpoint_bytes(&first.hash).unwrap().unwrap();
        let mut sync = StateSync::new(&store, &first.hash, &one.block, &one.state).unwrap();
        let mut reply = reader.subtrees(&sync.wanted(64), 2, usize::MAX).unwrap();
        reply.push(vec![0xff, 0x00]);
        let before = sync.wanted(usize::MAX);
        assert_eq!(sync.receive(&store, &reply), Err(SyncError::Decode { what: "node" }));
        assert_eq!(sync.wanted(usize::MAX), before, "a bad reply changed what is wanted");
        assert_eq!(sync.stored(), 0);
        reply.pop();
        assert_eq!(sync.receive(&store, &reply).unwrap(), reply.len());
        assert!(matches!(sync.finish(&store, None), Err(SyncError::Incomplete { .. })));

        let two = reader.checkpoint_bytes(&second.hash).unwrap().unwrap();
        let mut sync = StateSync::new(&store, &second.hash, &two.block, &two.state).unwrap();
        while !sync.is_done() {
            let reply = reader.subtrees(&sync.wanted(64), 1, usize::MAX).unwrap();
            assert!(sync.receive(&store, &reply).unwrap() > 0);
        }
        sync.finish(&store, None).unwrap();
        let state = ChainState::from_bytes(&two.state).unwrap();
        assert!(missing(&store, &state.tree_roots(), &BTreeSet::new()).unwrap().is_empty());
    }

    fn other_root(state: &[u8]) -> Hash {
        ChainState::from_bytes(state).unwrap().accounts_root
    }
}
