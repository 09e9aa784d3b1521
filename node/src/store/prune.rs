//! Pruning: what a node keeps behind finality, and the deletion of the rest.
//!
//! A pruned node ([`Pruning::Window`], the default) keeps the blocks, the states after them and
//! the tree nodes those states reach for `window` blocks below its finalized block; an archive
//! node ([`Pruning::Archive`]) keeps everything. [`Store::prune`] deletes, in one write
//! transaction, every block below a height (on every branch) with its state and index entries,
//! then every tree node no remaining state reaches (mark and sweep). A crash in the middle
//! commits nothing; the freed pages are reused by later writes (`db compact` gives them back to
//! the file system).
//!
//! Why mark and sweep rather than reference counts: tree nodes are content-addressed, so a block
//! may write a node that already exists (an account back at an earlier value, an inner node over
//! two such); counting references correctly would mean reading before every write of a block.
//! Marking walks each kept root only until it meets a node already marked, so its cost is the
//! number of live nodes plus the roots, paid once per prune, and a node prunes every `window / 8`
//! blocks of finality, not every block.

use super::{
    ACCOUNT_TXS, BLOCK_HEIGHTS, BLOCKS, CANONICAL, KEY_PRUNED_BELOW, KEY_PRUNING,
    KEY_STATES_PRUNED_BELOW, META, NODES, STATES, Store, StoreError, TXS, account_tx_key, db_err,
    decode, height_hash_key, indexed_addresses, split_height_hash_key,
};
use memecoin_core::block::Block;
use memecoin_core::hash::Hash;
use memecoin_core::light;
use memecoin_core::params::Params;
use memecoin_core::state::ChainState;
use memecoin_core::tree::Node;
use redb::{ReadableTable, ReadableTableMetadata};
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// What a node keeps behind finality (`memecoin-relay run --pruning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pruning {
    /// Keeps every block, state and tree node.
    Archive,
    /// Keeps blocks, states and tree nodes for this many blocks below the finalized block.
    Window(u64),
}

/// States (and the tree nodes they reach) a pruned node keeps behind finality, whatever its
/// window for blocks: nothing reads a state far below finality (no branch is taken below it,
/// account proofs are of the finalized state or above), and a joining relay asks for the state
/// of a recent finality proof's block (`get_checkpoint`). Keeping them a short window is what
/// keeps a prune's marking and the database small on a chain whose window is weeks of blocks.
pub const STATE_WINDOW: u64 = 256;

/// Blocks kept behind finality by default, if the chain's weak-subjectivity window is shorter:
/// about 2 hours 16 minutes of 1-second slots, enough for a peer that was away that long to
/// catch up block by block.
pub const DEFAULT_WINDOW: u64 = 8_192;

impl Pruning {
    /// The smallest window a pruned node may keep on a chain with `params`: the
    /// weak-subjectivity window in blocks (a light client may start from a checkpoint that old,
    /// PROTOCOL.md §13.2) and the headers a light client links a finality proof to its own
    /// finalized block with ([`light::MAX_LINKS`]).
    pub fn min_window(params: &Params) -> u64 {
        light::min_kept_blocks(params)
    }

    /// The default: pruned, with [`DEFAULT_WINDOW`] or the minimum if larger.
    pub fn default_for(params: &Params) -> Pruning {
        Pruning::Window(Self::min_window(params).max(DEFAULT_WINDOW))
    }

    /// Refuses a window smaller than [`Pruning::min_window`].
    pub fn check(self, params: &Params) -> Result<Pruning, PruningError> {
        let min = Self::min_window(params);
        match self {
            Pruning::Window(window) if window < min => {
                Err(PruningError::WindowTooSmall { window, min })
            }
            _ => Ok(self),
        }
    }

    /// What to prune now, if a prune is due: blocks below `finalized − window` and states below
    /// `finalized − STATE_WINDOW` (or the window, if smaller), the node having finalized
    /// `finalized` and the store keeping states from `states_pruned_below`. Due once finality
    /// has moved a quarter of the state window past the last prune, so the work comes in small
    /// batches.
    pub fn due(self, finalized: u64, states_pruned_below: u64) -> Option<Below> {
        let Pruning::Window(window) = self else { return None };
        let state_window = window.min(STATE_WINDOW);
        let states = finalized.checked_sub(state_window)?;
        let step = (state_window / 4).max(1);
        let blocks = finalized.saturating_sub(window);
        (states >= states_pruned_below.saturating_add(step)).then_some(Below { blocks, states })
    }
}

impl fmt::Display for Pruning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pruning::Archive => f.write_str("archive"),
            Pruning::Window(window) => write!(f, "{window}"),
        }
    }
}

/// `archive`, or a window in blocks.
impl FromStr for Pruning {
    type Err = PruningError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "archive" => Ok(Pruning::Archive),
            _ => s.parse().map(Pruning::Window).map_err(|_| PruningError::Unreadable(s.into())),
        }
    }
}

/// Why a pruning setting is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruningError {
    /// Neither `archive` nor a number of blocks.
    Unreadable(String),
    /// A window the chain's light clients and syncing peers could not live with.
    WindowTooSmall { window: u64, min: u64 },
}

impl fmt::Display for PruningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(s) => {
                write!(f, "pruning {s:?} is neither \"archive\" nor a number of blocks")
            }
            Self::WindowTooSmall { window, min } => write!(
                f,
                "a pruning window of {window} blocks is below this chain's minimum of {min} \
                 (its weak-subjectivity window, and the headers light clients link with)"
            ),
        }
    }
}

impl std::error::Error for PruningError {}

/// Where a prune cuts ([`Store::prune`]): blocks below `blocks`, states below `states`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Below {
    pub blocks: u64,
    pub states: u64,
}

/// What [`Store::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub blocks: u64,
    pub states: u64,
    pub nodes: u64,
}

impl Store {
    /// Records the node's pruning setting and the chain's minimum window
    /// ([`Pruning::min_window`]), for `memecoin-relay db prune`, which has no chain spec.
    pub fn record_pruning(&self, pruning: Pruning, min_window: u64) -> Result<(), StoreError> {
        let window = match pruning {
            Pruning::Archive => 0,
            Pruning::Window(window) => window,
        };
        let mut value = [0u8; 16];
        let (w, m) = value.split_at_mut(8);
        w.copy_from_slice(&window.to_be_bytes());
        m.copy_from_slice(&min_window.to_be_bytes());
        self.write(|txn| {
            let mut meta = txn.open_table(META).map_err(db_err("opening table meta"))?;
            meta.insert(KEY_PRUNING, value.as_slice()).map_err(db_err("recording the pruning"))?;
            Ok(())
        })
    }

    /// What [`Store::record_pruning`] recorded last: the setting and the minimum window.
    pub fn recorded_pruning(&self) -> Result<Option<(Pruning, u64)>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(META).map_err(db_err("opening table meta"))?;
        let value = table.get(KEY_PRUNING).map_err(db_err("reading the pruning"))?;
        let Some(value) = value else { return Ok(None) };
        let corrupt = StoreError::Corrupt { what: "pruning" };
        let (window, min) = value.value().split_first_chunk::<8>().ok_or(corrupt.clone())?;
        let min = <[u8; 8]>::try_from(min).map_err(|_| corrupt)?;
        let pruning = match u64::from_be_bytes(*window) {
            0 => Pruning::Archive,
            window => Pruning::Window(window),
        };
        Ok(Some((pruning, u64::from_be_bytes(min))))
    }

    /// The lowest height the store may still hold blocks at: the `blocks` of the last
    /// [`Store::prune`], 0 if it never pruned.
    pub fn pruned_below(&self) -> Result<u64, StoreError> {
        self.reader().pruned_below()
    }

    /// The lowest height the store may still hold the state after a block at.
    pub fn states_pruned_below(&self) -> Result<u64, StoreError> {
        Ok(self.meta_u64(KEY_STATES_PRUNED_BELOW, "states pruned height")?.unwrap_or(0))
    }

    /// Deletes every stored block with a height below `below.blocks`, on every branch, with its
    /// transaction and account index entries and the canonical entries below it; every state
    /// after a block below `below.states` (the genesis state too, once that is above 0); then
    /// every tree node that no remaining state reaches; and records both heights
    /// ([`Store::pruned_below`], [`Store::states_pruned_below`]). One write transaction: a
    /// crash or an error leaves the store as it was.
    ///
    /// Refuses, changing nothing, heights above the finalized one
    /// ([`StoreError::PruneAboveFinalized`]): what a node may still reorganise onto stays.
    /// A state is never kept without its block: `below.states` is raised to `below.blocks` if
    /// under it. Heights at or under the last ones do nothing.
    pub fn prune(&self, below: Below) -> Result<Pruned, StoreError> {
        let finalized = self.finalized()?.map_or(0, |f| f.height);
        let Below { blocks: blocks_below, states } = below;
        let states_below = states.max(blocks_below);
        if states_below > finalized {
            return Err(StoreError::PruneAboveFinalized { below: states_below, finalized });
        }
        let (old_blocks, old_states) = (self.pruned_below()?, self.states_pruned_below()?);
        if blocks_below <= old_blocks && states_below <= old_states {
            return Ok(Pruned::default());
        }
        let below = states_below;
        // Mark in a snapshot, off the write lock, so block imports go on meanwhile: every node a
        // kept state reaches. States stored after the snapshot are marked again in the write
        // transaction below (few: the blocks imported during the walk).
        let mut live = HashSet::new();
        let mut marked_states = HashSet::new();
        {
            let txn = self.read()?;
            let states = txn.open_table(STATES).map_err(db_err("opening table states"))?;
            let nodes = txn.open_table(NODES).map_err(db_err("opening table nodes"))?;
            for entry in states.iter().map_err(db_err("scanning states"))? {
                let (key, value) = entry.map_err(db_err("scanning states"))?;
                let state: ChainState = decode(value.value(), "state")?;
                if state.tip.height >= below {
                    mark(&nodes, &state, &mut live)?;
                    marked_states.insert(*key.value());
                }
            }
        }
        self.write(|txn| {
            let mut pruned = Pruned::default();
            {
                let mut heights =
                    txn.open_table(BLOCK_HEIGHTS).map_err(db_err("opening table block_heights"))?;
                let mut blocks =
                    txn.open_table(BLOCKS).map_err(db_err("opening table blocks_by_height"))?;
                let mut states = txn.open_table(STATES).map_err(db_err("opening table states"))?;
                let mut txs = txn.open_table(TXS).map_err(db_err("opening table txs"))?;
                let mut index =
                    txn.open_table(ACCOUNT_TXS).map_err(db_err("opening table account_txs"))?;
                let to = height_hash_key(blocks_below, &Hash::ZERO);
                // The blocks below, oldest first, taken off the start of the table one at a
                // time (the iterator removes each as it yields it): a first prune of a long
                // archive holds one block in memory, whatever it deletes.
                for entry in blocks
                    .extract_from_if::<&[u8; 40], _>(..&to, |_, _| true)
                    .map_err(db_err("deleting blocks"))?
                {
                    let (key, value) = entry.map_err(db_err("deleting a block"))?;
                    let (height, hash) = split_height_hash_key(key.value());
                    let block: Block = decode(value.value(), "block")?;
                    for (position, tx) in (0u32..).zip(&block.txs) {
                        let id = tx.id();
                        // The index keeps one location per id: only if it is this block's.
                        let here = txs
                            .get(id.as_bytes())
                            .map_err(db_err("reading the tx index"))?
                            .is_some_and(|v| v.value().starts_with(hash.as_bytes()));
                        if here {
                            txs.remove(id.as_bytes()).map_err(db_err("deleting a tx location"))?;
                        }
                        for address in indexed_addresses(tx) {
                            index
                                .remove(&account_tx_key(&address, height, &hash, position))
                                .map_err(db_err("deleting an account index entry"))?;
                        }
                    }
                    pruned.blocks = pruned.blocks.saturating_add(1);
                    if states.remove(hash.as_bytes()).map_err(db_err("deleting a state"))?.is_some()
                    {
                        pruned.states = pruned.states.saturating_add(1);
                    }
                    heights
                        .remove(hash.as_bytes())
                        .map_err(db_err("deleting a block index entry"))?;
                }
                // States of the blocks kept, below the state window.
                let from = height_hash_key(blocks_below.max(old_states), &Hash::ZERO);
                let to = height_hash_key(states_below, &Hash::ZERO);
                let stateless = blocks
                    .range::<&[u8; 40]>(&from..&to)
                    .map_err(db_err("scanning blocks"))?
                    .map(|e| e.map(|(k, _)| split_height_hash_key(k.value()).1))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db_err("scanning blocks"))?;
                for hash in stateless {
                    if states.remove(hash.as_bytes()).map_err(db_err("deleting a state"))?.is_some()
                    {
                        pruned.states = pruned.states.saturating_add(1);
                    }
                }
                // Genesis has no block: its state goes with height 0.
                if states
                    .remove(self.chain_id.as_bytes())
                    .map_err(db_err("deleting a state"))?
                    .is_some()
                {
                    pruned.states = pruned.states.saturating_add(1);
                }
                let mut canonical =
                    txn.open_table(CANONICAL).map_err(db_err("opening table canonical"))?;
                canonical
                    .retain_in::<&[u8; 8], _>(..&blocks_below.to_be_bytes(), |_, _| false)
                    .map_err(db_err("pruning the canonical index"))?;
                // States stored since the snapshot.
                let nodes = txn.open_table(NODES).map_err(db_err("opening table nodes"))?;
                for entry in states.iter().map_err(db_err("scanning states"))? {
                    let (key, value) = entry.map_err(db_err("scanning states"))?;
                    if !marked_states.contains(key.value()) {
                        mark(&nodes, &decode(value.value(), "state")?, &mut live)?;
                    }
                }
            }
            let mut nodes = txn.open_table(NODES).map_err(db_err("opening table nodes"))?;
            let before = nodes.len().map_err(db_err("counting nodes"))?;
            nodes
                .retain(|hash, _| live.contains(hash))
                .map_err(db_err("sweeping unreachable nodes"))?;
            let after = nodes.len().map_err(db_err("counting nodes"))?;
            pruned.nodes = before.saturating_sub(after);
            let mut meta = txn.open_table(META).map_err(db_err("opening table meta"))?;
            meta.insert(KEY_PRUNED_BELOW, blocks_below.max(old_blocks).to_be_bytes().as_slice())
                .map_err(db_err("recording the pruned height"))?;
            meta.insert(
                KEY_STATES_PRUNED_BELOW,
                states_below.max(old_states).to_be_bytes().as_slice(),
            )
            .map_err(db_err("recording the states' pruned height"))?;
            Ok(pruned)
        })
    }
}

/// Adds to `live` every node `state`'s trees reach, walking down from each root until a node
/// already marked (everything below it is too). A node missing from the table is left out: the
/// walk marks what is there.
fn mark<T: ReadableTable<&'static [u8; 32], &'static [u8]>>(
    nodes: &T,
    state: &ChainState,
    live: &mut HashSet<[u8; 32]>,
) -> Result<(), StoreError> {
    let mut stack: Vec<Hash> =
        state.tree_roots().into_iter().filter(|h| *h != Hash::ZERO).collect();
    while let Some(hash) = stack.pop() {
        if !live.insert(hash.0) {
            continue;
        }
        let Some(value) = nodes.get(hash.as_bytes()).map_err(db_err("reading a node"))? else {
            continue;
        };
        let node: Node = decode(value.value(), "state node")?;
        stack.extend(node.children().filter(|h| !live.contains(&h.0)));
    }
    Ok(())
}
