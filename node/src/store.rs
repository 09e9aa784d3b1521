//! The relay's embedded database: blocks, the state after each block, state-tree nodes and the
//! indexes a node needs to restart, in one [redb] file, `<data dir>/chain.redb`.
//!
//! # What is stored
//!
//! Values are core's canonical bytes ([`Encode`]/[`Decode`]), so the database holds nothing a
//! peer could not have sent us. Keys are 32-byte hashes or big-endian heights, so a key range
//! scan walks heights in order.
//!
//! | table       | key                        | value                                     |
//! |-------------|----------------------------|-------------------------------------------|
//! | `meta`      | `"chain_id"`               | the chain id (32 bytes)                   |
//! |             | `"finalized"`              | the finalized [`Checkpoint`]              |
//! |             | `"head"`                   | the last head the node chose (32 bytes)   |
//! |             | `"last_vote"`              | the validator's last signed [`Vote`]      |
//! |             | `"last_proposal"`          | the last slot it signed a block for (`u64` BE) |
//! |             | `"chain_generation"`       | the generation of its hash chain it reveals from (`u64` BE) |
//! |             | `"anchor"`                 | the node's anchor [`Checkpoint`] (the deepest block it keeps in memory) |
//! |             | `"pruned_below"`           | the lowest height blocks may still be stored at (`u64` BE; absent: nothing pruned) |
//! |             | `"states_pruned_below"`    | the lowest height the state after a block may still be stored at (`u64` BE) |
//! |             | `"pruning"`                | the node's window (`u64` BE, 0 for an archive node) ‖ the chain's minimum window (`u64` BE) |
//! | `blocks_by_height` | height (`u64` BE) ‖ block hash | [`Block`]: every stored block, on every branch |
//! | `block_heights` | block hash            | its height (`u64` BE): where `blocks_by_height` keeps it |
//! | `states`    | block hash (chain id for genesis) | [`ChainState`] after that block    |
//! | `nodes`     | node hash                  | state-tree [`Node`]                       |
//! | `txs`       | transaction id             | block hash ‖ index in block (`u32` BE)    |
//! | `canonical` | height (`u64` BE)          | hash of the finalized chain's block there, and of the head chain's up to the anchor |
//! | `account_txs` | address ‖ height (`u64` BE) ‖ block hash ‖ index (`u32` BE) | nothing: the transactions each address sent or received a transfer in, on every stored branch |
//! | `finality`  | source height (`u64` BE)   | [`FinalityProof`] for light clients: the newest of each epoch, the newest `keep` epochs ([`Store::put_finality_proof`]) |
//!
//! There is no genesis block: the genesis state is stored under the chain id, which is also the
//! parent of the block at height 1.
//!
//! Blocks are filed by height, not by hash: new blocks go in at the end of the table and a prune
//! takes them from its start, so its pages stay full. Filed by their (random) hashes, the same
//! blocks left their pages about 40 % empty (3.7 MB of slack for 6.3 MB of blocks, `db stats`
//! after 9,600 blocks under load), which moved the file across one of redb's doublings. A file
//! of the earlier layout (`blocks` by hash, `heights`) is moved to this one when it is opened
//! ([`Store::open`], [`Store::open_existing`]), in batches that each commit whole; there is no
//! way back (a relay from before the move sees no blocks in a moved file).
//!
//! # Atomicity and durability
//!
//! Every mutating method is one redb write transaction (the one exception is the move of a file
//! of the earlier layout at open, a batch a transaction, over before the open returns): a block,
//! the state after it, its new tree nodes and its transaction index commit together or not at
//! all, and a method that fails part way commits nothing. Commits use redb's default durability
//! ([`redb::Durability::Immediate`]): when a method returns `Ok`, the data has been fsynced and
//! survives a crash or power loss. Readers see the last committed transaction (MVCC), never a
//! half-written block.
//!
//! # Pruning
//!
//! [`Store::prune`] (module `prune`) deletes blocks, states, their index entries and the tree
//! nodes no remaining state reaches, below a height at or under the finalized one; everything
//! else is only ever added to (the finality proofs for light clients are a bounded window of
//! their own). A root the node hands out — its finalized block's or a block above — stays
//! readable as long as the node's window is not zero.
//!
//! # Not here
//!
//! Decisions about validity are core's; the store keeps what it is given, and only refuses what
//! would make the database inconsistent (a state filed under the wrong block, a finalized block
//! replaced by another, finality moving backwards, pruning above finality). When to prune is the
//! node's ([`Pruning`]).
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

use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::encode::{Decode, Encode};
use memecoin_core::finality::{Checkpoint, Vote};
use memecoin_core::hash::Hash;
use memecoin_core::light::FinalityProof;
use memecoin_core::state::ChainState;
use memecoin_core::tree::{self, Node, NodeBatch, NodeStore};
use memecoin_core::tx::{SignedTx, TxKind};
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, TableHandle, WriteTransaction,
};
use std::fmt;
use std::path::{Path, PathBuf};

/// File name of the database inside the data directory.
pub const FILE_NAME: &str = "chain.redb";

/// Memory redb may use to cache the file's pages. Its default is 1 GiB a database, so a node's
/// resident memory grew with its file up to that (about 6.5 KB a block); a node reads mostly
/// recent blocks and states, and what it reads again the OS keeps in its page cache.
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Blocks, and bytes of them, moved a write transaction when a file of the earlier layout is
/// opened: a transaction's pages are freed for reuse only once it commits, so the batches
/// bound how far the move grows the file.
const UPGRADE_BATCH: (usize, usize) = (4_096, 64 << 20);

/// What the relay and the `db` tools say before they open a file [`Store::needs_upgrade`] finds
/// of the earlier layout.
pub const UPGRADE_NOTICE: &str =
    "moving the database's blocks to the by-height layout (once; a long archive takes a while)";

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<&[u8; 40], &[u8]> = TableDefinition::new("blocks_by_height");
const BLOCK_HEIGHTS: TableDefinition<&[u8; 32], &[u8; 8]> = TableDefinition::new("block_heights");
const STATES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("states");
const NODES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("nodes");
const TXS: TableDefinition<&[u8; 32], &[u8; 36]> = TableDefinition::new("txs");
/// The earlier layout's tables, moved to [`BLOCKS`] and [`BLOCK_HEIGHTS`] at open
/// ([`Store::upgrade_layout`]).
const OLD_BLOCKS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blocks");
const OLD_HEIGHTS: TableDefinition<&[u8; 40], ()> = TableDefinition::new("heights");
const CANONICAL: TableDefinition<&[u8; 8], &[u8; 32]> = TableDefinition::new("canonical");
const ACCOUNT_TXS: TableDefinition<&[u8; 64], ()> = TableDefinition::new("account_txs");
const FINALITY: TableDefinition<&[u8; 8], &[u8]> = TableDefinition::new("finality");

const KEY_CHAIN_ID: &str = "chain_id";
const KEY_FINALIZED: &str = "finalized";
const KEY_HEAD: &str = "head";
const KEY_LAST_VOTE: &str = "last_vote";
const KEY_LAST_PROPOSAL: &str = "last_proposal";
const KEY_CHAIN_GENERATION: &str = "chain_generation";
const KEY_ANCHOR: &str = "anchor";
const KEY_PRUNED_BELOW: &str = "pruned_below";
const KEY_PRUNING: &str = "pruning";
const KEY_STATES_PRUNED_BELOW: &str = "states_pruned_below";

mod prune;

pub use prune::{Below, DEFAULT_WINDOW, Pruned, Pruning, PruningError, STATE_WINDOW};

/// A stored block and the state after it, as stored ([`StoreReader::checkpoint_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointBytes {
    pub block: Vec<u8>,
    pub state: Vec<u8>,
}

/// What a database holds ([`Store::stats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub path: String,
    pub chain_id: Hash,
    /// The file's size on disk, free pages included.
    pub file_bytes: u64,
    pub finalized: Option<Checkpoint>,
    /// The lowest and highest heights of a stored block (`None`: no block yet).
    pub blocks_from: Option<u64>,
    pub blocks_to: Option<u64>,
    pub tables: Vec<TableStats>,
}

/// One table's figures, from redb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStats {
    pub name: &'static str,
    pub entries: u64,
    /// Bytes of keys and values.
    pub stored_bytes: u64,
    /// Bytes of the table's index (branch pages) and other metadata.
    pub metadata_bytes: u64,
    /// Bytes lost to fragmentation.
    pub fragmented_bytes: u64,
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory could not be created.
    Io(String),
    /// The database failed; the text says during what, then redb's own message.
    Db(String),
    /// The data directory holds another chain: `found` is recorded there, `expected` is the
    /// chain id the node was started with.
    ChainMismatch { expected: Hash, found: Hash },
    /// Stored bytes of `what` do not decode: the file was damaged or written by something else.
    Corrupt { what: &'static str },
    /// `put_block` or `put_genesis` was given a state whose tip is not that block.
    StateNotForBlock { block: Hash, state_tip: Hash },
    /// `set_finalized` would replace the finalized block at `height`.
    FinalityConflict { height: u64, stored: Hash, new: Hash },
    /// `set_finalized` would move finality below the stored finalized checkpoint.
    FinalityRegression { stored: Checkpoint, new: Checkpoint },
    /// `set_finalized` was given canonical entries that are not strictly ascending, or that do
    /// not end at the finalized checkpoint.
    BadCanonical { reason: &'static str },
    /// An earlier write failed (disk full, I/O error): the store takes no more writes, so the
    /// node stops instead of running ahead of what it has stored. The text is the first failure.
    Failed(String),
    /// Another process has the database open (a running relay): it is not opened a second time.
    InUse { path: String },
    /// There is no database in the data directory (`path` is where it would be).
    Missing { path: String },
    /// `prune` was asked to delete blocks at or above the finalized height.
    PruneAboveFinalized { below: u64, finalized: u64 },
    /// `put_checkpoint` on a store that has a finalized block already.
    NotFresh { finalized: u64 },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(msg) => write!(f, "store: {msg}"),
            Self::Db(msg) => write!(f, "store: {msg}"),
            Self::ChainMismatch { expected, found } => write!(
                f,
                "data dir belongs to chain {found}, this genesis is chain {expected}; \
                 use another data dir or the matching genesis"
            ),
            Self::Corrupt { what } => write!(f, "store: stored {what} does not decode (corrupt)"),
            Self::StateNotForBlock { block, state_tip } => {
                write!(f, "store: state with tip {state_tip} filed under block {block}")
            }
            Self::FinalityConflict { height, stored, new } => write!(
                f,
                "store: height {height} is finalized as {stored}, refusing to replace it with {new}"
            ),
            Self::FinalityRegression { stored, new } => write!(
                f,
                "store: finalized at height {} ({}), refusing to move back to height {} ({})",
                stored.height, stored.hash, new.height, new.hash
            ),
            Self::BadCanonical { reason } => write!(f, "store: canonical entries {reason}"),
            Self::Failed(first) => {
                write!(f, "store: writes stopped after a failed write ({first})")
            }
            Self::InUse { path } => write!(
                f,
                "the database {path} is open in another process (a running relay?): stop it first"
            ),
            Self::Missing { path } => write!(f, "there is no database at {path}"),
            Self::NotFresh { finalized } => write!(
                f,
                "store: the data dir has a chain already (finalized height {finalized}): a \
                 checkpoint starts only an empty one"
            ),
            Self::PruneAboveFinalized { below, finalized } => write!(
                f,
                "store: refusing to prune below height {below}, above the finalized height {finalized}"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// Why the database at `path` did not open: in use by another process, or redb's own reason.
fn open_err(path: &Path, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => {
            StoreError::InUse { path: path.display().to_string() }
        }
        e => StoreError::Db(format!("opening the database {}: {e}", path.display())),
    }
}

/// Maps a redb error to [`StoreError::Db`], saying what we were doing.
fn db_err<E: fmt::Display>(context: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Db(format!("{context}: {e}"))
}

/// Decodes a stored value; failure means the database is damaged.
fn decode<T: Decode>(bytes: &[u8], what: &'static str) -> Result<T, StoreError> {
    T::from_bytes(bytes).map_err(|_| StoreError::Corrupt { what })
}

fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

/// `height (BE) ‖ hash`: sorts by height, then hash.
fn height_hash_key(height: u64, hash: &Hash) -> [u8; 40] {
    let mut key = [0u8; 40];
    let (h, rest) = key.split_at_mut(8);
    h.copy_from_slice(&height.to_be_bytes());
    rest.copy_from_slice(hash.as_bytes());
    key
}

fn split_height_hash_key(key: &[u8; 40]) -> (u64, Hash) {
    let (h, rest) = key.split_at(8);
    let mut height = [0u8; 8];
    height.copy_from_slice(h);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(rest);
    (u64::from_be_bytes(height), Hash(hash))
}

fn tx_location_value(block: &Hash, index: u32) -> [u8; 36] {
    let mut value = [0u8; 36];
    let (b, i) = value.split_at_mut(32);
    b.copy_from_slice(block.as_bytes());
    i.copy_from_slice(&index.to_be_bytes());
    value
}

fn account_tx_key(address: &Address, height: u64, block: &Hash, index: u32) -> [u8; 64] {
    let mut key = [0u8; 64];
    let (a, rest) = key.split_at_mut(20);
    a.copy_from_slice(&address.0);
    let (h, rest) = rest.split_at_mut(8);
    h.copy_from_slice(&height.to_be_bytes());
    rest.copy_from_slice(&tx_location_value(block, index));
    key
}

fn split_account_tx_key(key: &[u8; 64]) -> (u64, Hash, u32) {
    let (_, rest) = key.split_at(20);
    let (h, loc) = rest.split_at(8);
    let mut height = [0u8; 8];
    height.copy_from_slice(h);
    let mut location = [0u8; 36];
    location.copy_from_slice(loc);
    let (block, index) = split_tx_location(&location);
    (u64::from_be_bytes(height), block, index)
}

fn split_tx_location(value: &[u8; 36]) -> (Hash, u32) {
    let (b, i) = value.split_at(32);
    let mut block = [0u8; 32];
    block.copy_from_slice(b);
    let mut index = [0u8; 4];
    index.copy_from_slice(i);
    (Hash(block), u32::from_be_bytes(index))
}

/// The node's database. Cheap to share behind an `Arc`: redb serializes writers and lets readers
/// run alongside them.
pub struct Store {
    /// Shared with [`StoreReader`]s: redb serves reads concurrently with the writer.
    db: std::sync::Arc<Database>,
    chain_id: Hash,
    path: PathBuf,
    /// The first write that failed in the database or the file system, if one did.
    failure: std::sync::OnceLock<String>,
}

/// Reads stored blocks, as they were written, and state-tree nodes, concurrently with the node
/// ([`Store::reader`]): what a connection reads off the node's lock. Nothing it reads is
/// rewritten; pruning deletes only what lies below the finalized block by the node's window, so
/// a root the node handed out stays readable.
#[derive(Clone)]
pub struct StoreReader {
    db: std::sync::Arc<Database>,
    /// The database file, for its size.
    path: std::sync::Arc<Path>,
}

impl fmt::Debug for StoreReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreReader")
    }
}

impl StoreReader {
    /// The database file's size on disk, free pages included (`db stats`' first line): what
    /// the disk holds for this relay, grown by blocks and states, shrunk only by `db compact`.
    pub fn file_bytes(&self) -> Result<u64, StoreError> {
        std::fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|e| StoreError::Io(format!("reading {}: {e}", self.path.display())))
    }

    /// The canonical encoding of block `hash`, as stored.
    pub fn block_bytes(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err("starting a read transaction"))?;
        read_block_bytes(&txn, hash)
    }

    /// The stored block `hash` and the state after it, as stored: a `checkpoint` reply
    /// (PROTOCOL.md §16.11). `None` unless both are kept.
    pub fn checkpoint_bytes(&self, hash: &Hash) -> Result<Option<CheckpointBytes>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err("starting a read transaction"))?;
        let states = txn.open_table(STATES).map_err(db_err("opening table states"))?;
        let state = states.get(hash.as_bytes()).map_err(db_err("reading a state"))?;
        let Some(state) = state else { return Ok(None) };
        Ok(read_block_bytes(&txn, hash)?
            .map(|block| CheckpointBytes { block, state: state.value().to_vec() }))
    }

    /// The stored tree nodes `hashes` name, each followed by the stored nodes below it, breadth
    /// first, as stored: a `nodes` reply (PROTOCOL.md §16.11). Stops before `max_nodes` nodes or
    /// `max_bytes` bytes of them; a hash not stored (pruned, or never a node) is skipped.
    pub fn subtrees(
        &self,
        hashes: &[Hash],
        max_nodes: usize,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err("starting a read transaction"))?;
        let table = txn.open_table(NODES).map_err(db_err("opening table nodes"))?;
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut bytes = 0usize;
        let mut queue = std::collections::VecDeque::new();
        for root in hashes {
            queue.push_back(*root);
            while let Some(hash) = queue.pop_front() {
                let Some(value) = table.get(hash.as_bytes()).map_err(db_err("reading a node"))?
                else {
                    continue;
                };
                let raw = value.value();
                bytes = bytes.saturating_add(raw.len());
                if out.len() >= max_nodes || bytes > max_bytes {
                    return Ok(out);
                }
                let node: Node = decode(raw, "state node")?;
                queue.extend(node.children());
                out.push(raw.to_vec());
            }
        }
        Ok(out)
    }

    /// The lowest height blocks may still be stored at ([`Store::pruned_below`]): what a
    /// connection refuses a range below of.
    pub fn pruned_below(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(db_err("starting a read transaction"))?;
        let table = txn.open_table(META).map_err(db_err("opening table meta"))?;
        let value = table.get(KEY_PRUNED_BELOW).map_err(db_err("reading the pruned height"))?;
        value
            .map(|v| {
                <[u8; 8]>::try_from(v.value())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt { what: "pruned height" })
            })
            .transpose()
            .map(|h| h.unwrap_or(0))
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("chain_id", &self.chain_id).finish()
    }
}

impl Store {
    /// Opens or creates `<dir>/chain.redb`, creating `dir` if needed. A new store records
    /// `chain_id`; an existing store for another chain is refused with
    /// [`StoreError::ChainMismatch`].
    pub fn open(dir: &Path, chain_id: Hash) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("creating data dir {}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            // Made whole aside (tables and chain id) and renamed into place: a process killed
            // while redb writes a new file's header, or before the tables are made, would
            // otherwise leave a file that is not a database, or one without a chain, and later
            // starts and tools would fail on it.
            let fresh = dir.join(format!("{FILE_NAME}.new"));
            let _ = std::fs::remove_file(&fresh);
            let db = redb::Builder::new().create(&fresh).map_err(|e| open_err(&fresh, e))?;
            let made = Store {
                db: std::sync::Arc::new(db),
                chain_id,
                path: fresh.clone(),
                failure: std::sync::OnceLock::new(),
            };
            made.init()?;
            drop(made);
            let io =
                |e: std::io::Error| StoreError::Io(format!("creating {}: {e}", path.display()));
            std::fs::rename(&fresh, &path).map_err(io)?;
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| open_err(&path, e))?;
        let db = std::sync::Arc::new(db);
        let store = Store { db, chain_id, path, failure: std::sync::OnceLock::new() };
        store.init()?;
        store.upgrade_layout(UPGRADE_BATCH.0, UPGRADE_BATCH.1)?;
        Ok(store)
    }

    /// Makes every table (so readers never meet a missing one) and records the chain id, or
    /// refuses a database of another chain.
    fn init(&self) -> Result<(), StoreError> {
        let chain_id = self.chain_id;
        self.write(|txn| {
            txn.open_table(BLOCKS).map_err(db_err("creating table blocks_by_height"))?;
            txn.open_table(BLOCK_HEIGHTS).map_err(db_err("creating table block_heights"))?;
            txn.open_table(STATES).map_err(db_err("creating table states"))?;
            txn.open_table(NODES).map_err(db_err("creating table nodes"))?;
            txn.open_table(TXS).map_err(db_err("creating table txs"))?;
            txn.open_table(CANONICAL).map_err(db_err("creating table canonical"))?;
            txn.open_table(ACCOUNT_TXS).map_err(db_err("creating table account_txs"))?;
            txn.open_table(FINALITY).map_err(db_err("creating table finality"))?;
            let mut meta = txn.open_table(META).map_err(db_err("creating table meta"))?;
            let found: Option<Hash> = meta
                .get(KEY_CHAIN_ID)
                .map_err(db_err("reading the chain id"))?
                .map(|v| decode(v.value(), "chain id"))
                .transpose()?;
            match found {
                Some(found) if found != chain_id => {
                    return Err(StoreError::ChainMismatch { expected: chain_id, found });
                }
                Some(_) => {}
                None => {
                    meta.insert(KEY_CHAIN_ID, chain_id.as_bytes().as_slice())
                        .map_err(db_err("recording the chain id"))?;
                }
            }
            Ok(())
        })
    }

    /// Whether the database in `dir` is of the earlier layout (`blocks` by hash, and
    /// `heights`), which the next open moves to this one ([`Store::open`]): the relay says so
    /// before it starts the move, which takes a while on a long archive. Opens and closes the
    /// file; `false` if there is none.
    pub fn needs_upgrade(dir: &Path) -> Result<bool, StoreError> {
        let path = dir.join(FILE_NAME);
        if !path.is_file() {
            return Ok(false);
        }
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .open(&path)
            .map_err(|e| open_err(&path, e))?;
        let txn = db.begin_read().map_err(db_err("starting a read transaction"))?;
        Ok(has_old_tables(txn.list_tables().map_err(db_err("listing tables"))?))
    }

    /// Moves the blocks of a file of the earlier layout into `blocks_by_height` and
    /// `block_heights`, then deletes the old tables. Each block goes by its own header's height
    /// (so a block the old height index lacked moves too; an index entry without its block is
    /// dropped with the index). Batches of at most `max_blocks` blocks and `max_bytes` of them,
    /// each a write transaction: a crash between batches leaves each block in one layout or the
    /// other, and the next open goes on from there. Returns how many blocks it moved.
    fn upgrade_layout(&self, max_blocks: usize, max_bytes: usize) -> Result<u64, StoreError> {
        let txn = self.read()?;
        let old = has_old_tables(txn.list_tables().map_err(db_err("listing tables"))?);
        drop(txn);
        if !old {
            return Ok(0);
        }
        let mut moved = 0u64;
        loop {
            let done = self.write(|txn| {
                let mut old_blocks =
                    txn.open_table(OLD_BLOCKS).map_err(db_err("opening table blocks"))?;
                let mut blocks =
                    txn.open_table(BLOCKS).map_err(db_err("opening table blocks_by_height"))?;
                let mut heights =
                    txn.open_table(BLOCK_HEIGHTS).map_err(db_err("opening table block_heights"))?;
                let (mut count, mut bytes) = (0usize, 0usize);
                while count < max_blocks && bytes < max_bytes {
                    let Some((hash, value)) =
                        old_blocks.pop_first().map_err(db_err("moving a block"))?
                    else {
                        moved = moved.saturating_add(count as u64);
                        drop(old_blocks);
                        txn.delete_table(OLD_BLOCKS).map_err(db_err("deleting table blocks"))?;
                        txn.delete_table(OLD_HEIGHTS).map_err(db_err("deleting table heights"))?;
                        return Ok(true);
                    };
                    let hash = Hash(*hash.value());
                    let block: Block = decode(value.value(), "block")?;
                    let height = block.header.header.height;
                    blocks
                        .insert(&height_hash_key(height, &hash), value.value())
                        .map_err(db_err("moving a block"))?;
                    heights
                        .insert(hash.as_bytes(), &height.to_be_bytes())
                        .map_err(db_err("moving a block"))?;
                    count = count.saturating_add(1);
                    bytes = bytes.saturating_add(value.value().len());
                }
                moved = moved.saturating_add(count as u64);
                Ok(false)
            })?;
            if done {
                return Ok(moved);
            }
        }
    }

    /// Opens the database of an existing data dir, whatever its chain (the operator's tools:
    /// `memecoin-relay db …`). Refuses a missing database ([`StoreError::Missing`]) rather than
    /// creating one, and one another process has open ([`StoreError::InUse`]).
    pub fn open_existing(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(FILE_NAME);
        if !path.is_file() {
            return Err(StoreError::Missing { path: path.display().to_string() });
        }
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .open(&path)
            .map_err(|e| open_err(&path, e))?;
        let txn = db.begin_read().map_err(db_err("starting a read transaction"))?;
        let meta = txn.open_table(META).map_err(db_err("opening table meta"))?;
        let chain_id: Hash = meta
            .get(KEY_CHAIN_ID)
            .map_err(db_err("reading the chain id"))?
            .map(|v| decode(v.value(), "chain id"))
            .transpose()?
            .ok_or(StoreError::Corrupt { what: "chain id" })?;
        drop((meta, txn));
        let db = std::sync::Arc::new(db);
        let store = Store { db, chain_id, path, failure: std::sync::OnceLock::new() };
        store.upgrade_layout(UPGRADE_BATCH.0, UPGRADE_BATCH.1)?;
        Ok(store)
    }

    /// Stores tree nodes (a checkpoint sync's download), in one transaction.
    pub fn put_nodes<'a>(
        &self,
        nodes: impl IntoIterator<Item = &'a Node>,
    ) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut table = txn.open_table(NODES).map_err(db_err("opening table nodes"))?;
            for node in nodes {
                table
                    .insert(node.hash().as_bytes(), node.to_bytes().as_slice())
                    .map_err(db_err("writing a node"))?;
            }
            Ok(())
        })
    }

    /// Whether tree node `hash` is stored.
    pub fn has_node(&self, hash: &Hash) -> Result<bool, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(NODES).map_err(db_err("opening table nodes"))?;
        Ok(table.get(hash.as_bytes()).map_err(db_err("reading a node"))?.is_some())
    }

    /// Makes a checkpoint the store's start, in one transaction: `block` and the state after it
    /// (whose tree nodes must be stored already, [`Store::put_nodes`]) become the finalized
    /// block, the anchor and the head, the canonical index starts at it, and nothing below it is
    /// kept ([`Store::pruned_below`] is its height). With `proof`, light clients are served it.
    /// Refuses, changing nothing, a store that has a finalized block already
    /// ([`StoreError::NotFresh`]) and a state that is not the block's.
    pub fn put_checkpoint(
        &self,
        block: &Block,
        state: &ChainState,
        proof: Option<&FinalityProof>,
    ) -> Result<Checkpoint, StoreError> {
        let hash = block.hash();
        let checkpoint = Checkpoint { height: block.header.header.height, hash };
        self.write(|txn| {
            let mut meta = txn.open_table(META).map_err(db_err("opening table meta"))?;
            if let Some(finalized) = meta
                .get(KEY_FINALIZED)
                .map_err(db_err("reading the finalized checkpoint"))?
                .map(|v| decode::<Checkpoint>(v.value(), "finalized checkpoint"))
                .transpose()?
            {
                return Err(StoreError::NotFresh { finalized: finalized.height });
            }
            write_block(txn, block, state, &NodeBatch::new())?;
            write_canonical(txn, &[(checkpoint.height, hash)])?;
            let bytes = checkpoint.to_bytes();
            meta.insert(KEY_FINALIZED, bytes.as_slice())
                .map_err(db_err("writing the checkpoint"))?;
            meta.insert(KEY_ANCHOR, bytes.as_slice()).map_err(db_err("writing the anchor"))?;
            meta.insert(KEY_HEAD, hash.as_bytes().as_slice())
                .map_err(db_err("writing the head"))?;
            meta.insert(KEY_PRUNED_BELOW, checkpoint.height.to_be_bytes().as_slice())
                .map_err(db_err("writing the pruned height"))?;
            meta.insert(KEY_STATES_PRUNED_BELOW, checkpoint.height.to_be_bytes().as_slice())
                .map_err(db_err("writing the states' pruned height"))?;
            if let Some(proof) = proof {
                let mut table =
                    txn.open_table(FINALITY).map_err(db_err("opening table finality"))?;
                table
                    .insert(&proof.source.height.to_be_bytes(), proof.to_bytes().as_slice())
                    .map_err(db_err("writing a proof"))?;
            }
            Ok(checkpoint)
        })
    }

    /// Gives the file's free pages back to the file system (redb's compaction: a series of
    /// committed transactions, so a crash in the middle leaves a database that opens, repaired
    /// by redb, with everything it held). Needs the only handle on the database: a store opened
    /// with [`Store::open_existing`] that lent out no [`StoreReader`].
    pub fn compact(self) -> Result<(), StoreError> {
        let Store { mut db, path, .. } = self;
        let db = std::sync::Arc::get_mut(&mut db)
            .ok_or_else(|| StoreError::InUse { path: path.display().to_string() })?;
        db.compact().map_err(db_err("compacting"))?;
        Ok(())
    }

    /// What the database holds, table by table, and the file's size: `memecoin-relay db stats`.
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let txn = self.read()?;
        let mut tables = Vec::new();
        fn figures<T: ReadableTableMetadata>(
            name: &'static str,
            table: &T,
        ) -> Result<TableStats, StoreError> {
            let stats = table.stats().map_err(db_err("reading a table's figures"))?;
            Ok(TableStats {
                name,
                entries: table.len().map_err(db_err("counting a table"))?,
                stored_bytes: stats.stored_bytes(),
                metadata_bytes: stats.metadata_bytes(),
                fragmented_bytes: stats.fragmented_bytes(),
            })
        }
        macro_rules! table {
            ($def:expr, $name:literal) => {
                tables.push(figures(
                    $name,
                    &txn.open_table($def).map_err(db_err(concat!("opening table ", $name)))?,
                )?)
            };
        }
        table!(META, "meta");
        // Named as an operator thinks of them; the redb table is `blocks_by_height`.
        table!(BLOCKS, "blocks");
        table!(BLOCK_HEIGHTS, "block_heights");
        table!(STATES, "states");
        table!(NODES, "nodes");
        table!(TXS, "txs");
        table!(CANONICAL, "canonical");
        table!(ACCOUNT_TXS, "account_txs");
        table!(FINALITY, "finality");
        let blocks = txn.open_table(BLOCKS).map_err(db_err("opening table blocks_by_height"))?;
        let lowest = blocks.first().map_err(db_err("reading the lowest height"))?;
        let lowest = lowest.map(|(key, _)| split_height_hash_key(key.value()).0);
        let highest = blocks.last().map_err(db_err("reading the highest height"))?;
        let highest = highest.map(|(key, _)| split_height_hash_key(key.value()).0);
        drop((blocks, txn));
        let file_bytes = std::fs::metadata(&self.path)
            .map_err(|e| StoreError::Io(format!("reading {}: {e}", self.path.display())))?
            .len();
        Ok(Stats {
            path: self.path.display().to_string(),
            chain_id: self.chain_id,
            file_bytes,
            finalized: self.finalized()?,
            blocks_from: lowest,
            blocks_to: highest,
            tables,
        })
    }

    /// The chain this store belongs to.
    pub fn chain_id(&self) -> Hash {
        self.chain_id
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction and commits (durably) only if it returns `Ok`; on an
    /// error nothing `f` wrote is kept.
    ///
    /// A failure of the database or the file system (not a refusal such as
    /// [`StoreError::FinalityConflict`]) is latched: every later write fails with
    /// [`StoreError::Failed`] and [`Store::failure`] reports it, and the relay stops. What was
    /// committed before stays intact (redb commits atomically), so a restart resumes from there.
    fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(first) = self.failure.get() {
            return Err(StoreError::Failed(first.clone()));
        }
        let result =
            self.db.begin_write().map_err(db_err("starting a write transaction")).and_then(|txn| {
                match f(&txn) {
                    Ok(value) => txn.commit().map_err(db_err("committing")).map(|()| value),
                    Err(e) => {
                        // The caller's error is the one to report; an abort that fails leaves the
                        // transaction uncommitted all the same (redb rolls back on drop).
                        let _ = txn.abort();
                        Err(e)
                    }
                }
            });
        if let Err(e @ (StoreError::Db(_) | StoreError::Io(_))) = &result {
            let _ = self.failure.set(e.to_string());
        }
        result
    }

    /// The first write that failed in the database or the file system (disk full, I/O error),
    /// after which the store refuses writes.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    fn read(&self) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().map_err(db_err("starting a read transaction"))
    }

    /// Atomically stores the block (by hash), the state after it (by block hash), the new tree
    /// nodes and the transaction index (tx id → (block hash, index in block)). A block and its
    /// state commit together or not at all. Storing a block again rewrites the same bytes.
    ///
    /// The transaction index keeps one location per id: if the same transaction is in blocks on
    /// two forks, the block stored last wins; callers check that block against the canonical
    /// chain.
    pub fn put_block(
        &self,
        block: &Block,
        state: &ChainState,
        nodes: &NodeBatch,
    ) -> Result<(), StoreError> {
        self.write(|txn| write_block(txn, block, state, nodes))
    }

    /// Stores the genesis state and its tree nodes under the chain id, as the state "after" the
    /// genesis anchor (there is no genesis block).
    pub fn put_genesis(&self, state: &ChainState, nodes: &NodeBatch) -> Result<(), StoreError> {
        if state.tip.hash != self.chain_id {
            return Err(StoreError::StateNotForBlock {
                block: self.chain_id,
                state_tip: state.tip.hash,
            });
        }
        self.write(|txn| {
            write_state(txn, &self.chain_id, state)?;
            write_nodes(txn, nodes)
        })
    }

    pub fn block(&self, hash: &Hash) -> Result<Option<Block>, StoreError> {
        let txn = self.read()?;
        read_block(&txn, hash)
    }

    /// A reader of stored blocks that needs neither the store nor the node: what a connection
    /// serving `get_blocks` and `get_headers` reads with, off the node's lock.
    pub fn reader(&self) -> StoreReader {
        StoreReader { db: self.db.clone(), path: self.path.as_path().into() }
    }

    /// The state after block `hash` (after genesis for the chain id).
    pub fn state(&self, hash: &Hash) -> Result<Option<ChainState>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(STATES).map_err(db_err("opening table states"))?;
        let value = table.get(hash.as_bytes()).map_err(db_err("reading a state"))?;
        value.map(|v| decode(v.value(), "state")).transpose()
    }

    /// The block holding transaction `id`, and the transaction's index in it.
    pub fn tx_location(&self, id: &Hash) -> Result<Option<(Hash, u32)>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(TXS).map_err(db_err("opening table txs"))?;
        let value = table.get(id.as_bytes()).map_err(db_err("reading a tx location"))?;
        Ok(value.map(|v| split_tx_location(v.value())))
    }

    /// The newest (by height) at most `max` entries of the account index for `address`:
    /// (height, block hash, index in block) of transactions it sent or received a transfer in,
    /// on any stored branch (callers keep those on their chain).
    pub fn account_txs(
        &self,
        address: &Address,
        max: usize,
    ) -> Result<Vec<(u64, Hash, u32)>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(ACCOUNT_TXS).map_err(db_err("opening table account_txs"))?;
        let from = account_tx_key(address, 0, &Hash([0; 32]), 0);
        let to = account_tx_key(address, u64::MAX, &Hash([0xff; 32]), u32::MAX);
        let range =
            table.range::<&[u8; 64]>(&from..=&to).map_err(db_err("reading the account index"))?;
        let mut out = Vec::new();
        for entry in range.rev().take(max) {
            let (key, _) = entry.map_err(db_err("reading the account index"))?;
            out.push(split_account_tx_key(key.value()));
        }
        Ok(out)
    }

    /// Records `finalized` and the canonical chain's height → hash entries from the previous
    /// finalized height up to it (oldest first), in one transaction.
    ///
    /// Refuses, changing nothing: entries that are not strictly ascending or whose last entry is
    /// not `finalized`; a finalized checkpoint below the stored one; an entry that would replace
    /// a different hash already recorded at its height (finality never reverts).
    pub fn set_finalized(
        &self,
        finalized: Checkpoint,
        canonical: &[(u64, Hash)],
    ) -> Result<(), StoreError> {
        if canonical.windows(2).any(|w| matches!(w, [(a, _), (b, _)] if a >= b)) {
            return Err(StoreError::BadCanonical { reason: "are not strictly ascending" });
        }
        if let Some((height, hash)) = canonical.last()
            && (*height != finalized.height || *hash != finalized.hash)
        {
            return Err(StoreError::BadCanonical {
                reason: "do not end at the finalized checkpoint",
            });
        }
        self.write(|txn| {
            let mut meta = txn.open_table(META).map_err(db_err("opening table meta"))?;
            let stored: Option<Checkpoint> = meta
                .get(KEY_FINALIZED)
                .map_err(db_err("reading the finalized checkpoint"))?
                .map(|v| decode(v.value(), "finalized checkpoint"))
                .transpose()?;
            if let Some(stored) = stored
                && (finalized.height < stored.height
                    || (finalized.height == stored.height && finalized.hash != stored.hash))
            {
                return Err(StoreError::FinalityRegression { stored, new: finalized });
            }
            write_canonical(txn, canonical)?;
            meta.insert(KEY_FINALIZED, finalized.to_bytes().as_slice())
                .map_err(db_err("writing the finalized checkpoint"))?;
            Ok(())
        })
    }

    /// Records the node's anchor (the deepest block it keeps in memory, on its head chain above
    /// finality) and the head chain's height → hash entries up to it (oldest first), in one
    /// transaction: below the anchor the node follows no other branch, so the `canonical` index
    /// covers every height up to the anchor, not only finalized ones. Refuses, changing nothing,
    /// entries not strictly ascending or not ending at `anchor`, and an entry that would replace
    /// a different hash at its height.
    pub fn set_anchor(
        &self,
        anchor: Checkpoint,
        canonical: &[(u64, Hash)],
    ) -> Result<(), StoreError> {
        if canonical.windows(2).any(|w| matches!(w, [(a, _), (b, _)] if a >= b)) {
            return Err(StoreError::BadCanonical { reason: "are not strictly ascending" });
        }
        if canonical.last().is_some_and(|(h, x)| *h != anchor.height || *x != anchor.hash) {
            return Err(StoreError::BadCanonical { reason: "do not end at the anchor" });
        }
        self.write(|txn| {
            write_canonical(txn, canonical)?;
            let mut meta = txn.open_table(META).map_err(db_err("opening table meta"))?;
            meta.insert(KEY_ANCHOR, anchor.to_bytes().as_slice())
                .map_err(db_err("writing the anchor"))?;
            Ok(())
        })
    }

    /// Moves the node's anchor onto another branch (it took a branch forking below its anchor,
    /// PROTOCOL.md §12): forgets the canonical entries above `fork` (the block the two
    /// branches share), records `canonical` (the new branch from above `fork` up to `anchor`,
    /// oldest first) and the anchor, in one transaction. Refuses, changing nothing, a `fork`
    /// below the stored finalized height (finality never reverts) and entries that are not
    /// strictly ascending from `fork` or do not end at `anchor`.
    pub fn rewind_anchor(
        &self,
        fork: Checkpoint,
        anchor: Checkpoint,
        canonical: &[(u64, Hash)],
    ) -> Result<(), StoreError> {
        let ascending = canonical.windows(2).all(|w| matches!(w, [(a, _), (b, _)] if a < b));
        if !ascending || canonical.first().is_some_and(|(h, _)| *h <= fork.height) {
            return Err(StoreError::BadCanonical { reason: "are not strictly ascending" });
        }
        let last = canonical.last().map_or((fork.height, fork.hash), |(h, x)| (*h, *x));
        if last != (anchor.height, anchor.hash) {
            return Err(StoreError::BadCanonical { reason: "do not end at the anchor" });
        }
        if let Some(finalized) = self.finalized()?
            && fork.height < finalized.height
        {
            return Err(StoreError::FinalityRegression { stored: finalized, new: fork });
        }
        self.write(|txn| {
            {
                let mut table =
                    txn.open_table(CANONICAL).map_err(db_err("opening table canonical"))?;
                let from = height_key(fork.height.saturating_add(1));
                table
                    .retain_in::<&[u8; 8], _>(&from.., |_, _| false)
                    .map_err(db_err("rewinding the canonical index"))?;
            }
            write_canonical(txn, canonical)?;
            let mut meta = txn.open_table(META).map_err(db_err("opening table meta"))?;
            meta.insert(KEY_ANCHOR, anchor.to_bytes().as_slice())
                .map_err(db_err("writing the anchor"))?;
            Ok(())
        })
    }

    /// Whether block `hash` is stored (on any branch).
    pub fn has_block(&self, hash: &Hash) -> Result<bool, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(BLOCK_HEIGHTS).map_err(db_err("opening table block_heights"))?;
        Ok(table.get(hash.as_bytes()).map_err(db_err("reading the block index"))?.is_some())
    }

    /// The anchor recorded by [`Store::set_anchor`].
    pub fn anchor(&self) -> Result<Option<Checkpoint>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(META).map_err(db_err("opening table meta"))?;
        let value = table.get(KEY_ANCHOR).map_err(db_err("reading the anchor"))?;
        value.map(|v| decode(v.value(), "anchor")).transpose()
    }

    /// (height, hash) of every stored block above `height`, by height then hash: every branch.
    /// Keys only, so a restarting node reads the blocks one at a time.
    pub fn hashes_above(&self, height: u64) -> Result<Vec<(u64, Hash)>, StoreError> {
        let Some(start) = height.checked_add(1) else {
            return Ok(Vec::new());
        };
        let txn = self.read()?;
        let blocks = txn.open_table(BLOCKS).map_err(db_err("opening table blocks_by_height"))?;
        let from = height_hash_key(start, &Hash::ZERO);
        let range = blocks.range::<&[u8; 40]>(&from..).map_err(db_err("scanning blocks"))?;
        let mut out = Vec::new();
        for entry in range {
            let (key, _) = entry.map_err(db_err("scanning blocks"))?;
            out.push(split_height_hash_key(key.value()));
        }
        Ok(out)
    }

    /// The last checkpoint recorded by [`Store::set_finalized`].
    pub fn finalized(&self) -> Result<Option<Checkpoint>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(META).map_err(db_err("opening table meta"))?;
        let value = table.get(KEY_FINALIZED).map_err(db_err("reading the finalized checkpoint"))?;
        value.map(|v| decode(v.value(), "finalized checkpoint")).transpose()
    }

    /// The finalized chain's block at `height`, if finality has reached it, or the head chain's
    /// if the node's anchor has ([`Store::set_anchor`]).
    pub fn hash_at(&self, height: u64) -> Result<Option<Hash>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(CANONICAL).map_err(db_err("opening table canonical"))?;
        let value =
            table.get(&height_key(height)).map_err(db_err("reading the canonical index"))?;
        Ok(value.map(|v| Hash(*v.value())))
    }

    /// Records the head the node chose, to resume from after a restart.
    pub fn set_head(&self, hash: &Hash) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut meta = txn.open_table(META).map_err(db_err("opening table meta"))?;
            meta.insert(KEY_HEAD, hash.as_bytes().as_slice())
                .map_err(db_err("writing the head"))?;
            Ok(())
        })
    }

    /// The head recorded by [`Store::set_head`].
    pub fn head(&self) -> Result<Option<Hash>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(META).map_err(db_err("opening table meta"))?;
        let value = table.get(KEY_HEAD).map_err(db_err("reading the head"))?;
        value.map(|v| decode(v.value(), "head")).transpose()
    }

    /// Records the validator's newest vote, before it is signed: after a restart the node must
    /// not sign a vote that conflicts with one it signed before (PROTOCOL.md §10.4), so what it
    /// signed has to outlive the process.
    pub fn set_last_vote(&self, vote: &Vote) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut meta = txn.open_table(META).map_err(db_err("opening table meta"))?;
            meta.insert(KEY_LAST_VOTE, vote.to_bytes().as_slice())
                .map_err(db_err("writing the last vote"))?;
            Ok(())
        })
    }

    /// The vote recorded by [`Store::set_last_vote`].
    pub fn last_vote(&self) -> Result<Option<Vote>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(META).map_err(db_err("opening table meta"))?;
        let value = table.get(KEY_LAST_VOTE).map_err(db_err("reading the last vote"))?;
        value.map(|v| decode(v.value(), "last vote")).transpose()
    }

    /// Records the slot the validator is about to sign a block for, before it signs: one block
    /// per slot, restarts included.
    pub fn set_last_proposal(&self, slot: u64) -> Result<(), StoreError> {
        self.set_meta_u64(KEY_LAST_PROPOSAL, slot, "writing the last proposal")
    }

    /// The slot recorded by [`Store::set_last_proposal`].
    pub fn last_proposal(&self) -> Result<Option<u64>, StoreError> {
        self.meta_u64(KEY_LAST_PROPOSAL, "last proposal")
    }

    /// A `u64` (big-endian) under `key` in the meta table, in one write transaction.
    fn set_meta_u64(&self, key: &str, value: u64, what: &'static str) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut meta = txn.open_table(META).map_err(db_err("opening table meta"))?;
            meta.insert(key, value.to_be_bytes().as_slice()).map_err(db_err(what))?;
            Ok(())
        })
    }

    /// The `u64` written by [`Store::set_meta_u64`] under `key`; `Corrupt { what }` if it is not
    /// eight bytes.
    fn meta_u64(&self, key: &str, what: &'static str) -> Result<Option<u64>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(META).map_err(db_err("opening table meta"))?;
        let value = table.get(key).map_err(db_err("reading the meta table"))?;
        value
            .map(|v| {
                <[u8; 8]>::try_from(v.value())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt { what })
            })
            .transpose()
    }

    /// Records a finality proof for light clients under its source's height (the last of its
    /// epoch), and drops the oldest while more than `keep` are stored: relays serve a wallet
    /// catching up after a restart, as far back as the weak-subjectivity window (PROTOCOL.md
    /// §13.2), never without bound.
    pub fn put_finality_proof(&self, proof: &FinalityProof, keep: u64) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut table = txn.open_table(FINALITY).map_err(db_err("opening table finality"))?;
            let key = proof.source.height.to_be_bytes();
            table.insert(&key, proof.to_bytes().as_slice()).map_err(db_err("writing a proof"))?;
            let mut stored = table.len().map_err(db_err("counting finality proofs"))?;
            while stored > keep.max(1) {
                table.pop_first().map_err(db_err("dropping an old finality proof"))?;
                stored = stored.saturating_sub(1);
            }
            Ok(())
        })
    }

    /// Up to `max` stored finality proofs whose source is above `since`, oldest first.
    pub fn finality_proofs(
        &self,
        since: u64,
        max: usize,
    ) -> Result<Vec<FinalityProof>, StoreError> {
        let Some(from) = since.checked_add(1) else { return Ok(Vec::new()) };
        let txn = self.read()?;
        let table = txn.open_table(FINALITY).map_err(db_err("opening table finality"))?;
        let range = table
            .range::<&[u8; 8]>(&from.to_be_bytes()..)
            .map_err(db_err("scanning finality proofs"))?;
        let mut proofs = Vec::new();
        for entry in range.take(max) {
            let (_, value) = entry.map_err(db_err("scanning finality proofs"))?;
            proofs.push(decode(value.value(), "finality proof")?);
        }
        Ok(proofs)
    }

    /// The newest `max` stored finality proofs, oldest first.
    pub fn newest_finality_proofs(&self, max: usize) -> Result<Vec<FinalityProof>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(FINALITY).map_err(db_err("opening table finality"))?;
        let range = table.iter().map_err(db_err("scanning finality proofs"))?;
        let mut proofs = Vec::new();
        for entry in range.rev().take(max) {
            let (_, value) = entry.map_err(db_err("scanning finality proofs"))?;
            proofs.push(decode(value.value(), "finality proof")?);
        }
        proofs.reverse();
        Ok(proofs)
    }

    /// Records the generation of the validator's hash chain it reveals from (PROTOCOL.md §9.3),
    /// so a restart indexes that chain and the next, not every generation since the first.
    pub fn set_chain_generation(&self, generation: u64) -> Result<(), StoreError> {
        self.set_meta_u64(KEY_CHAIN_GENERATION, generation, "writing the chain generation")
    }

    /// The generation recorded by [`Store::set_chain_generation`], 0 if none.
    pub fn chain_generation(&self) -> Result<u64, StoreError> {
        Ok(self.meta_u64(KEY_CHAIN_GENERATION, "chain generation")?.unwrap_or(0))
    }

    /// Up to `max` stored blocks with height above `height`, by height then hash: every fork, not
    /// only the canonical chain. A restarting node calls it with the finalized height to rebuild
    /// fork choice, paging on with the last height it got if it got `max`.
    pub fn blocks_above(&self, height: u64, max: usize) -> Result<Vec<Block>, StoreError> {
        let Some(start) = height.checked_add(1) else {
            return Ok(Vec::new());
        };
        let txn = self.read()?;
        let table = txn.open_table(BLOCKS).map_err(db_err("opening table blocks_by_height"))?;
        let from = height_hash_key(start, &Hash::ZERO);
        let range = table.range::<&[u8; 40]>(&from..).map_err(db_err("scanning blocks"))?;
        let mut blocks = Vec::new();
        for entry in range.take(max) {
            let (_, value) = entry.map_err(db_err("scanning blocks"))?;
            blocks.push(decode(value.value(), "block")?);
        }
        Ok(blocks)
    }
}

/// Writes height → hash entries of the canonical index, refusing to replace a different hash.
fn write_canonical(txn: &WriteTransaction, canonical: &[(u64, Hash)]) -> Result<(), StoreError> {
    let mut table = txn.open_table(CANONICAL).map_err(db_err("opening table canonical"))?;
    for (height, hash) in canonical {
        let key = height_key(*height);
        let old = table
            .get(&key)
            .map_err(db_err("reading the canonical index"))?
            .map(|v| Hash(*v.value()));
        if let Some(old) = old {
            if old != *hash {
                return Err(StoreError::FinalityConflict {
                    height: *height,
                    stored: old,
                    new: *hash,
                });
            }
            continue;
        }
        table.insert(&key, hash.as_bytes()).map_err(db_err("writing the canonical index"))?;
    }
    Ok(())
}

/// Whether `tables` (a file's) include either table of the earlier layout.
fn has_old_tables(mut tables: impl Iterator<Item = redb::UntypedTableHandle>) -> bool {
    tables.any(|t| [OLD_BLOCKS.name(), OLD_HEIGHTS.name()].contains(&t.name()))
}

fn read_block(txn: &ReadTransaction, hash: &Hash) -> Result<Option<Block>, StoreError> {
    with_block(txn, hash, |bytes| decode(bytes, "block"))
}

/// The stored bytes of block `hash`, as stored.
fn read_block_bytes(txn: &ReadTransaction, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
    with_block(txn, hash, |bytes| Ok(bytes.to_vec()))
}

/// `f` of the stored bytes of block `hash`, read in place: its height from `block_heights`,
/// then the block from `blocks_by_height`.
fn with_block<T>(
    txn: &ReadTransaction,
    hash: &Hash,
    f: impl FnOnce(&[u8]) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let heights = txn.open_table(BLOCK_HEIGHTS).map_err(db_err("opening table block_heights"))?;
    let Some(height) = heights.get(hash.as_bytes()).map_err(db_err("reading the block index"))?
    else {
        return Ok(None);
    };
    let key = height_hash_key(u64::from_be_bytes(*height.value()), hash);
    let blocks = txn.open_table(BLOCKS).map_err(db_err("opening table blocks_by_height"))?;
    let value = blocks.get(&key).map_err(db_err("reading a block"))?;
    let value = value.ok_or(StoreError::Corrupt { what: "block index (block missing)" })?;
    f(value.value()).map(Some)
}

/// Writes a block with its state, nodes and indexes into `txn` (not committed).
fn write_block(
    txn: &WriteTransaction,
    block: &Block,
    state: &ChainState,
    nodes: &NodeBatch,
) -> Result<(), StoreError> {
    let hash = block.hash();
    if state.tip.hash != hash {
        return Err(StoreError::StateNotForBlock { block: hash, state_tip: state.tip.hash });
    }
    let height = block.header.header.height;
    {
        let mut blocks =
            txn.open_table(BLOCKS).map_err(db_err("opening table blocks_by_height"))?;
        blocks
            .insert(&height_hash_key(height, &hash), block.to_bytes().as_slice())
            .map_err(db_err("writing a block"))?;
        let mut heights =
            txn.open_table(BLOCK_HEIGHTS).map_err(db_err("opening table block_heights"))?;
        heights
            .insert(hash.as_bytes(), &height.to_be_bytes())
            .map_err(db_err("writing the block index"))?;
    }
    {
        let mut txs = txn.open_table(TXS).map_err(db_err("opening table txs"))?;
        for (index, tx) in (0u32..).zip(&block.txs) {
            txs.insert(tx.id().as_bytes(), &tx_location_value(&hash, index))
                .map_err(db_err("writing the tx index"))?;
        }
    }
    {
        let mut index_table =
            txn.open_table(ACCOUNT_TXS).map_err(db_err("opening table account_txs"))?;
        for (index, tx) in (0u32..).zip(&block.txs) {
            for address in indexed_addresses(tx) {
                index_table
                    .insert(&account_tx_key(&address, height, &hash, index), ())
                    .map_err(db_err("writing the account index"))?;
            }
        }
    }
    write_state(txn, &hash, state)?;
    write_nodes(txn, nodes)
}

/// The addresses the account index files a transaction under: its sender, and a transfer's
/// recipient if another. Writing a block and pruning it both ask here, so a prune deletes exactly
/// the entries the write made.
fn indexed_addresses(tx: &SignedTx) -> impl Iterator<Item = Address> {
    let sender = tx.tx.sender_address();
    let recipient = match &tx.tx.kind {
        TxKind::Transfer { to, .. } if *to != sender => Some(*to),
        _ => None,
    };
    core::iter::once(sender).chain(recipient)
}

fn write_state(txn: &WriteTransaction, key: &Hash, state: &ChainState) -> Result<(), StoreError> {
    let mut states = txn.open_table(STATES).map_err(db_err("opening table states"))?;
    states
        .insert(key.as_bytes(), state.to_bytes().as_slice())
        .map_err(db_err("writing a state"))?;
    Ok(())
}

fn write_nodes(txn: &WriteTransaction, nodes: &NodeBatch) -> Result<(), StoreError> {
    let mut table = txn.open_table(NODES).map_err(db_err("opening table nodes"))?;
    for (hash, node) in nodes {
        table
            .insert(hash.as_bytes(), node.to_bytes().as_slice())
            .map_err(db_err("writing a node"))?;
    }
    Ok(())
}

impl NodeStore for StoreReader {
    fn get_node(&self, hash: &Hash) -> Result<Option<Node>, tree::StoreError> {
        let backend = |e: StoreError| tree::StoreError::Backend(e.to_string());
        let txn =
            self.db.begin_read().map_err(|e| backend(db_err("starting a read transaction")(e)))?;
        let table = txn.open_table(NODES).map_err(|e| backend(db_err("opening table nodes")(e)))?;
        let value = table.get(hash.as_bytes()).map_err(|e| backend(db_err("reading a node")(e)))?;
        value.map(|v| decode(v.value(), "state node").map_err(backend)).transpose()
    }
}

impl NodeStore for Store {
    fn get_node(&self, hash: &Hash) -> Result<Option<Node>, tree::StoreError> {
        self.reader().get_node(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memecoin_core::address::Address;
    use memecoin_core::crypto::SecretKey;
    use memecoin_core::genesis::{Genesis, GenesisAccount, GenesisValidator};
    use memecoin_core::hash::{Domain, tagged_hash};
    use memecoin_core::params::Params;
    use memecoin_core::pos::HashChain;
    use memecoin_core::state::{self, Built, Chain};
    use memecoin_core::tx::{SignedTx, Tx, TxKind};
    use tempfile::TempDir;

    const REVEALS: u64 = 512;

    fn key(label: &str) -> SecretKey {
        SecretKey::from_bytes(&tagged_hash(Domain::Reveal, &[label.as_bytes()]).0).unwrap()
    }

    /// The validator's commit-reveal chain.
    fn reveals() -> HashChain {
        HashChain::new(tagged_hash(Domain::Reveal, &[b"validator secret"]), REVEALS)
    }

    fn genesis(name: &str) -> Genesis {
        let validator = key("validator");
        let params = Params::devnet();
        let mut genesis = Genesis {
            chain_name: name.into(),
            genesis_time_ms: 1_700_000_000_000,
            accounts: vec![GenesisAccount {
                address: Address::from_public_key(&key("user").public_key()),
                balance: 1_000_000_000_000,
            }],
            validators: vec![GenesisValidator {
                key: validator.public_key(),
                stake: params.min_stake,
                commitment: reveals().commitment(),
            }],
            params,
        };
        genesis.canonicalize();
        genesis
    }

    /// A one-validator chain whose blocks are built by core against the store itself (so every
    /// block also exercises `NodeStore for Store`) and stored with `put_block`.
    struct TestChain {
        dir: TempDir,
        store: Store,
        chain: Chain,
        genesis: ChainState,
        state: ChainState,
        blocks: Vec<Block>,
        nonce: u64,
    }

    impl TestChain {
        fn new() -> Self {
            let (chain, state, nodes) = genesis("store-test").build().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), chain.id).unwrap();
            store.put_genesis(&state, &nodes).unwrap();
            TestChain {
                dir,
                store,
                chain,
                genesis: state.clone(),
                state,
                blocks: Vec::new(),
                nonce: 0,
            }
        }

        fn transfer(&mut self, amount: u64) -> SignedTx {
            let user = key("user");
            let tx = Tx {
                chain_id: self.chain.id,
                sender: user.public_key(),
                nonce: self.nonce,
                fee: self.chain.params.min_fee,
                kind: TxKind::Transfer {
                    to: Address::from_public_key(&key("other").public_key()),
                    amount,
                },
            }
            .sign(&user);
            self.nonce += 1;
            tx
        }

        /// Builds (does not store) a block on `parent` at `slot`.
        fn build(&self, parent: &ChainState, slot: u64, txs: &[SignedTx]) -> Built {
            let reveal = reveals().reveal(parent.tip.height + 1).unwrap();
            let built = state::build_block(
                &self.store,
                &self.chain,
                parent,
                &key("validator"),
                slot,
                &reveal,
                txs,
                None,
                state::Signatures::Verify,
            )
            .unwrap();
            assert!(built.rejected.is_empty(), "rejected: {:?}", built.rejected);
            built
        }

        /// Builds the next block on the tip, stores it and moves the tip.
        fn extend(&mut self, txs: &[SignedTx]) -> Block {
            let built = self.build(&self.state, self.state.tip.slot + 1, txs);
            self.store.put_block(&built.block, &built.applied.state, &built.applied.nodes).unwrap();
            self.state = built.applied.state;
            self.blocks.push(built.block.clone());
            built.block
        }

        fn reopen(self) -> Self {
            let TestChain { dir, store, chain, genesis, state, blocks, nonce } = self;
            drop(store);
            let store = Store::open(dir.path(), chain.id).unwrap();
            TestChain { dir, store, chain, genesis, state, blocks, nonce }
        }
    }

    #[test]
    fn reopen_keeps_everything() {
        let mut t = TestChain::new();
        let tx = t.transfer(5);
        let block = t.extend(std::slice::from_ref(&tx));
        t.store.set_head(&block.hash()).unwrap();
        let t = t.reopen();
        assert_eq!(t.store.chain_id(), t.chain.id);
        assert_eq!(t.store.block(&block.hash()).unwrap(), Some(block.clone()));
        assert_eq!(t.store.state(&block.hash()).unwrap(), Some(t.state.clone()));
        assert_eq!(t.store.state(&t.chain.id).unwrap(), Some(t.genesis.clone()));
        assert_eq!(t.store.tx_location(&tx.id()).unwrap(), Some((block.hash(), 0)));
        assert_eq!(t.store.head().unwrap(), Some(block.hash()));
        // The reopened store serves the tree: the next block builds on it.
        let mut t = t;
        let next = t.extend(&[]);
        assert_eq!(next.header.header.height, 2);
    }

    #[test]
    fn new_store_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("nested/data"), Hash([7; 32])).unwrap();
        assert!(store.path().ends_with(FILE_NAME));
        assert_eq!(store.head().unwrap(), None);
        assert_eq!(store.finalized().unwrap(), None);
        assert_eq!(store.hash_at(0).unwrap(), None);
        assert_eq!(store.block(&Hash([1; 32])).unwrap(), None);
        assert_eq!(store.state(&Hash([7; 32])).unwrap(), None);
        assert_eq!(store.tx_location(&Hash([1; 32])).unwrap(), None);
        assert_eq!(store.get_node(&Hash([1; 32])).unwrap(), None);
        assert_eq!(store.blocks_above(0, 100).unwrap(), Vec::<Block>::new());
    }

    #[test]
    fn foreign_chain_is_refused() {
        let ours = genesis("ours").chain_id();
        let theirs = genesis("theirs").chain_id();
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), ours).unwrap());
        let err = Store::open(dir.path(), theirs).unwrap_err();
        assert_eq!(err, StoreError::ChainMismatch { expected: theirs, found: ours });
        assert_eq!(
            err.to_string(),
            format!(
                "data dir belongs to chain {ours}, this genesis is chain {theirs}; \
                 use another data dir or the matching genesis"
            )
        );
        // The refused open changed nothing: the right chain still opens.
        assert_eq!(Store::open(dir.path(), ours).unwrap().chain_id(), ours);
    }

    #[test]
    fn block_state_and_tx_index_read_back() {
        let mut t = TestChain::new();
        let txs = [t.transfer(1), t.transfer(2), t.transfer(3)];
        let block = t.extend(&txs);
        assert_eq!(block.txs.len(), 3);
        let hash = block.hash();
        assert_eq!(t.store.block(&hash).unwrap(), Some(block.clone()));
        assert_eq!(t.store.state(&hash).unwrap(), Some(t.state.clone()));
        for (i, tx) in block.txs.iter().enumerate() {
            assert_eq!(t.store.tx_location(&tx.id()).unwrap(), Some((hash, i as u32)));
        }
        assert_eq!(t.store.tx_location(&Hash([9; 32])).unwrap(), None);
    }

    #[test]
    fn state_for_another_block_is_refused() {
        let mut t = TestChain::new();
        let first = t.extend(&[]);
        let built = t.build(&t.state, t.state.tip.slot + 1, &[]);
        // The state after `first`, filed under the second block.
        let wrong = t.store.state(&first.hash()).unwrap().unwrap();
        assert_eq!(
            t.store.put_block(&built.block, &wrong, &built.applied.nodes),
            Err(StoreError::StateNotForBlock {
                block: built.block.hash(),
                state_tip: first.hash()
            })
        );
        assert_eq!(t.store.block(&built.block.hash()).unwrap(), None);
        assert_eq!(
            t.store.put_genesis(&wrong, &NodeBatch::new()),
            Err(StoreError::StateNotForBlock { block: t.chain.id, state_tip: first.hash() })
        );
    }

    #[test]
    fn node_store_reads_nodes_back() {
        let (_, state, nodes) = genesis("store-test").build().unwrap();
        let t = TestChain::new();
        assert!(!nodes.is_empty());
        for (hash, node) in &nodes {
            assert_eq!(t.store.get_node(hash).unwrap().as_ref(), Some(node));
        }
        // Core reads accounts through the store.
        let user = Address::from_public_key(&key("user").public_key());
        assert_eq!(state.account(&t.store, &user).unwrap().balance, 1_000_000_000_000);
        let mut t = t;
        let tx = t.transfer(10);
        let built = t.build(&t.state, 1, &[tx]);
        t.store.put_block(&built.block, &built.applied.state, &built.applied.nodes).unwrap();
        for (hash, node) in &built.applied.nodes {
            assert_eq!(t.store.get_node(hash).unwrap().as_ref(), Some(node));
        }
        let other = Address::from_public_key(&key("other").public_key());
        assert_eq!(built.applied.state.account(&t.store, &other).unwrap().balance, 10);
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let mut t = TestChain::new();
        let tx = t.transfer(4);
        let built = t.build(&t.state, 1, std::slice::from_ref(&tx));
        let (block, state, nodes) = (&built.block, &built.applied.state, &built.applied.nodes);
        let err = t
            .store
            .write(|txn| {
                write_block(txn, block, state, nodes)?;
                Err::<(), _>(StoreError::Db("simulated failure before commit".into()))
            })
            .unwrap_err();
        assert_eq!(err, StoreError::Db("simulated failure before commit".into()));
        let check = |store: &Store| {
            assert_eq!(store.block(&block.hash()).unwrap(), None);
            assert_eq!(store.state(&block.hash()).unwrap(), None);
            assert_eq!(store.tx_location(&tx.id()).unwrap(), None);
            assert_eq!(store.blocks_above(0, 10).unwrap(), Vec::<Block>::new());
            for hash in nodes.keys() {
                assert_eq!(store.get_node(hash).unwrap(), None);
            }
        };
        check(&t.store);
        let t = t.reopen();
        check(&t.store);
        // The store still works after the failed write.
        t.store.put_block(block, state, nodes).unwrap();
        assert_eq!(t.store.block(&block.hash()).unwrap().as_ref(), Some(block));
    }

    /// Moving the anchor onto another branch forgets the old branch's heights above the fork,
    /// records the new ones, and never goes below finality.
    #[test]
    fn rewind_anchor_replaces_the_index_above_the_fork_only() {
        let mut t = TestChain::new();
        let blocks: Vec<Block> = (0..4).map(|_| t.extend(&[])).collect();
        let entry = |b: &Block| (b.header.header.height, b.hash());
        let cp = |b: &Block| b.header.header.checkpoint();
        t.store.set_finalized(cp(&blocks[0]), &[entry(&blocks[0])]).unwrap();
        let old: Vec<(u64, Hash)> = blocks.iter().map(entry).collect();
        t.store.set_anchor(cp(&blocks[3]), &old).unwrap();
        // Another branch from blocks[1] (height 2): heights 3 and 4 are (made-up) other blocks.
        let other = [(3, Hash([3; 32])), (4, Hash([4; 32]))];
        let anchor = Checkpoint { height: 4, hash: other[1].1 };
        t.store.rewind_anchor(cp(&blocks[1]), anchor, &other[..]).unwrap();
        let t = t.reopen();
        assert_eq!(t.store.anchor().unwrap(), Some(anchor));
        assert_eq!(t.store.hash_at(2).unwrap(), Some(blocks[1].hash()));
        assert_eq!(t.store.hash_at(3).unwrap(), Some(other[0].1));
        assert_eq!(t.store.hash_at(4).unwrap(), Some(other[1].1));
        // An anchor at the fork itself, with nothing above it recorded.
        t.store.rewind_anchor(cp(&blocks[1]), cp(&blocks[1]), &[]).unwrap();
        assert_eq!(t.store.hash_at(3).unwrap(), None);
        // Refused, changing nothing: below finality, not ascending from the fork, wrong end.
        assert_eq!(
            t.store.rewind_anchor(Checkpoint { height: 0, hash: Hash::ZERO }, anchor, &other[..]),
            Err(StoreError::FinalityRegression {
                stored: cp(&blocks[0]),
                new: Checkpoint { height: 0, hash: Hash::ZERO }
            })
        );
        assert_eq!(
            t.store.rewind_anchor(cp(&blocks[2]), anchor, &other[..]),
            Err(StoreError::BadCanonical { reason: "are not strictly ascending" })
        );
        assert_eq!(
            t.store.rewind_anchor(cp(&blocks[1]), cp(&blocks[3]), &other[..]),
            Err(StoreError::BadCanonical { reason: "do not end at the anchor" })
        );
        assert_eq!(t.store.anchor().unwrap(), Some(cp(&blocks[1])));
        assert_eq!(t.store.hash_at(2).unwrap(), Some(blocks[1].hash()));
    }

    #[test]
    fn finality_and_canonical_index() {
        let mut t = TestChain::new();
        let blocks: Vec<Block> = (0..4).map(|_| t.extend(&[])).collect();
        let entry = |b: &Block| (b.header.header.height, b.hash());
        let cp = |b: &Block| b.header.header.checkpoint();

        t.store.set_finalized(cp(&blocks[1]), &[entry(&blocks[0]), entry(&blocks[1])]).unwrap();
        assert_eq!(t.store.finalized().unwrap(), Some(cp(&blocks[1])));
        assert_eq!(t.store.hash_at(1).unwrap(), Some(blocks[0].hash()));
        assert_eq!(t.store.hash_at(2).unwrap(), Some(blocks[1].hash()));
        assert_eq!(t.store.hash_at(3).unwrap(), None);

        // From the previous finalized height (repeated, same hash) up to the new one.
        t.store
            .set_finalized(
                cp(&blocks[3]),
                &[entry(&blocks[1]), entry(&blocks[2]), entry(&blocks[3])],
            )
            .unwrap();
        let t = t.reopen();
        assert_eq!(t.store.finalized().unwrap(), Some(cp(&blocks[3])));
        for b in &blocks {
            assert_eq!(t.store.hash_at(b.header.header.height).unwrap(), Some(b.hash()));
        }

        // Refusals change nothing.
        assert_eq!(
            t.store.set_finalized(cp(&blocks[2]), &[entry(&blocks[2])]),
            Err(StoreError::FinalityRegression { stored: cp(&blocks[3]), new: cp(&blocks[2]) })
        );
        let forged = Checkpoint { height: 5, hash: Hash([5; 32]) };
        assert_eq!(
            t.store.set_finalized(forged, &[(3, Hash([3; 32])), (5, forged.hash)]),
            Err(StoreError::FinalityConflict {
                height: 3,
                stored: blocks[2].hash(),
                new: Hash([3; 32])
            })
        );
        assert_eq!(
            t.store.set_finalized(forged, &[(5, forged.hash), (4, blocks[3].hash())]),
            Err(StoreError::BadCanonical { reason: "are not strictly ascending" })
        );
        assert_eq!(
            t.store.set_finalized(forged, &[(4, blocks[3].hash())]),
            Err(StoreError::BadCanonical { reason: "do not end at the finalized checkpoint" })
        );
        assert_eq!(t.store.finalized().unwrap(), Some(cp(&blocks[3])));
        assert_eq!(t.store.hash_at(5).unwrap(), None);
    }

    #[test]
    fn head_round_trip() {
        let mut t = TestChain::new();
        assert_eq!(t.store.head().unwrap(), None);
        let a = t.extend(&[]);
        let b = t.extend(&[]);
        t.store.set_head(&a.hash()).unwrap();
        assert_eq!(t.store.head().unwrap(), Some(a.hash()));
        t.store.set_head(&b.hash()).unwrap();
        let t = t.reopen();
        assert_eq!(t.store.head().unwrap(), Some(b.hash()));
    }

    #[test]
    fn blocks_above_returns_every_fork_in_height_order() {
        let mut t = TestChain::new();
        let main: Vec<Block> = (0..4).map(|_| t.extend(&[])).collect();
        // A fork at height 2: another block on the state after height 1, at a later slot.
        let after_first = t.store.state(&main[0].hash()).unwrap().unwrap();
        let fork = t.build(&after_first, main[3].header.header.slot + 1, &[]);
        t.store.put_block(&fork.block, &fork.applied.state, &fork.applied.nodes).unwrap();
        assert_eq!(fork.block.header.header.height, 2);

        let hashes = |blocks: Vec<Block>| blocks.iter().map(Block::hash).collect::<Vec<_>>();
        let mut at_two = vec![main[1].hash(), fork.block.hash()];
        at_two.sort();

        let mut expected = vec![main[0].hash()];
        expected.extend(&at_two);
        expected.extend([main[2].hash(), main[3].hash()]);
        assert_eq!(hashes(t.store.blocks_above(0, 100).unwrap()), expected);

        let mut expected = at_two.clone();
        expected.extend([main[2].hash(), main[3].hash()]);
        assert_eq!(hashes(t.store.blocks_above(1, 100).unwrap()), expected);
        assert_eq!(hashes(t.store.blocks_above(1, 2).unwrap()), at_two);
        assert_eq!(hashes(t.store.blocks_above(3, 100).unwrap()), vec![main[3].hash()]);
        assert_eq!(t.store.blocks_above(4, 100).unwrap(), Vec::<Block>::new());
        assert_eq!(t.store.blocks_above(u64::MAX, 100).unwrap(), Vec::<Block>::new());
        assert_eq!(t.store.blocks_above(0, 0).unwrap(), Vec::<Block>::new());
    }

    /// Overwrites the raw value of `key` in `table`, as a damaged disk or another program might.
    fn clobber(store: &Store, table: TableDefinition<&[u8; 32], &[u8]>, key: &Hash, bytes: &[u8]) {
        let txn = store.db.begin_write().unwrap();
        txn.open_table(table).unwrap().insert(key.as_bytes(), bytes).unwrap();
        txn.commit().unwrap();
    }

    #[test]
    fn corrupt_values_are_errors_not_panics() {
        let mut t = TestChain::new();
        let block = t.extend(&[]);
        let hash = block.hash();
        let node = *genesis("store-test").build().unwrap().2.keys().next().unwrap();

        let txn = t.store.db.begin_write().unwrap();
        txn.open_table(BLOCKS)
            .unwrap()
            .insert(&height_hash_key(1, &hash), [0xff; 3].as_slice())
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(t.store.block(&hash), Err(StoreError::Corrupt { what: "block" }));
        assert_eq!(t.store.blocks_above(0, 10), Err(StoreError::Corrupt { what: "block" }));

        clobber(&t.store, STATES, &hash, &[]);
        assert_eq!(t.store.state(&hash), Err(StoreError::Corrupt { what: "state" }));

        clobber(&t.store, NODES, &node, &[9, 9, 9]);
        assert_eq!(
            t.store.get_node(&node),
            Err(tree::StoreError::Backend(
                "store: stored state node does not decode (corrupt)".into()
            ))
        );

        let txn = t.store.db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(META).unwrap();
            meta.insert(KEY_HEAD, [1u8; 31].as_slice()).unwrap();
            meta.insert(KEY_FINALIZED, [1u8; 7].as_slice()).unwrap();
        }
        txn.commit().unwrap();
        assert_eq!(t.store.head(), Err(StoreError::Corrupt { what: "head" }));
        assert_eq!(t.store.finalized(), Err(StoreError::Corrupt { what: "finalized checkpoint" }));

        let txn = t.store.db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert(KEY_CHAIN_ID, [0u8; 33].as_slice()).unwrap();
        txn.commit().unwrap();
        let TestChain { dir, store, chain, .. } = t;
        drop(store);
        assert_eq!(
            Store::open(dir.path(), chain.id).unwrap_err(),
            StoreError::Corrupt { what: "chain id" }
        );
    }

    #[test]
    fn missing_block_behind_the_block_index_is_corrupt() {
        let mut t = TestChain::new();
        let block = t.extend(&[]);
        let (height, hash) = (block.header.header.height, block.hash());
        let txn = t.store.db.begin_write().unwrap();
        txn.open_table(BLOCKS).unwrap().remove(&height_hash_key(height, &hash)).unwrap();
        txn.commit().unwrap();
        let missing = Err(StoreError::Corrupt { what: "block index (block missing)" });
        assert_eq!(t.store.block(&hash), missing);
        assert_eq!(
            t.store.reader().block_bytes(&hash).map(|_| ()),
            missing.map(|_: Option<Block>| ())
        );
    }

    /// Writes the blocks at heights `from..` back in the earlier layout (`blocks` by hash and
    /// `heights`), as a relay before the change left them, or one killed part way through the
    /// move left the ones not moved yet. From 1, the new tables go too, as in a real old file.
    fn to_old_layout(store: &Store, from: u64) {
        let txn = store.db.begin_write().unwrap();
        {
            let mut blocks = txn.open_table(BLOCKS).unwrap();
            let mut heights = txn.open_table(BLOCK_HEIGHTS).unwrap();
            let mut old_blocks = txn.open_table(OLD_BLOCKS).unwrap();
            let mut old_heights = txn.open_table(OLD_HEIGHTS).unwrap();
            let moved: Vec<([u8; 40], Vec<u8>)> = blocks
                .extract_from_if::<&[u8; 40], _>(&height_hash_key(from, &Hash::ZERO).., |_, _| true)
                .unwrap()
                .map(|e| e.map(|(k, v)| (*k.value(), v.value().to_vec())).unwrap())
                .collect();
            assert!(!moved.is_empty());
            for (key, block) in moved {
                let (_, hash) = split_height_hash_key(&key);
                heights.remove(hash.as_bytes()).unwrap();
                old_blocks.insert(hash.as_bytes(), block.as_slice()).unwrap();
                old_heights.insert(&key, ()).unwrap();
            }
        }
        if from <= 1 {
            assert!(txn.delete_table(BLOCKS).unwrap());
            assert!(txn.delete_table(BLOCK_HEIGHTS).unwrap());
        }
        txn.commit().unwrap();
    }

    fn table_names(store: &Store) -> Vec<String> {
        let txn = store.db.begin_read().unwrap();
        txn.list_tables().unwrap().map(|t| t.name().to_owned()).collect()
    }

    #[test]
    fn a_file_of_the_earlier_layout_is_moved_whole_at_open_even_after_a_crash_part_way() {
        let mut t = TestChain::new();
        let blocks: Vec<Block> = (0..7).map(|_| t.extend(&[])).collect();
        let expected = t.store.blocks_above(0, 100).unwrap();
        assert_eq!(expected, blocks);
        let TestChain { dir, store, chain, .. } = t;
        let check = |store: &Store| {
            assert_eq!(store.blocks_above(0, 100).unwrap(), expected);
            for block in &blocks {
                assert_eq!(store.block(&block.hash()).unwrap().as_ref(), Some(block));
                assert!(store.has_block(&block.hash()).unwrap());
            }
            let names = table_names(store);
            assert!(!names.iter().any(|n| n == "blocks" || n == "heights"), "{names:?}");
        };
        // A real old file: the relay's open moves it, and says first that it will.
        to_old_layout(&store, 1);
        drop(store);
        assert!(Store::needs_upgrade(dir.path()).unwrap());
        let store = Store::open(dir.path(), chain.id).unwrap();
        check(&store);
        drop(store);
        assert!(!Store::needs_upgrade(dir.path()).unwrap());
        // One whose move was cut short: the blocks below 4 moved, the rest not.
        let store = Store::open(dir.path(), chain.id).unwrap();
        to_old_layout(&store, 4);
        drop(store);
        check(&Store::open(dir.path(), chain.id).unwrap());
        // The tools' open moves it too (it does not make the tables first).
        let store = Store::open(dir.path(), chain.id).unwrap();
        to_old_layout(&store, 1);
        drop(store);
        check(&Store::open_existing(dir.path()).unwrap());
        // In many batches, by count and by bytes: the same blocks, and how many moved.
        for (max_blocks, max_bytes) in [(2, usize::MAX), (usize::MAX, 1)] {
            let store = Store::open(dir.path(), chain.id).unwrap();
            to_old_layout(&store, 1);
            assert_eq!(store.upgrade_layout(max_blocks, max_bytes).unwrap(), 7);
            check(&store);
            assert_eq!(store.upgrade_layout(max_blocks, max_bytes).unwrap(), 0);
        }
    }

    #[test]
    fn the_move_takes_a_block_the_old_index_lacked_and_drops_an_index_entry_without_a_block() {
        let mut t = TestChain::new();
        let blocks: Vec<Block> = (0..3).map(|_| t.extend(&[])).collect();
        to_old_layout(&t.store, 1);
        let txn = t.store.db.begin_write().unwrap();
        {
            let mut old_heights = txn.open_table(OLD_HEIGHTS).unwrap();
            let lone = &blocks[1];
            old_heights.remove(&height_hash_key(2, &lone.hash())).unwrap();
            old_heights.insert(&height_hash_key(9, &Hash([7; 32])), ()).unwrap();
        }
        txn.commit().unwrap();
        assert_eq!(t.store.upgrade_layout(2, usize::MAX).unwrap(), 3);
        assert_eq!(t.store.blocks_above(0, 100).unwrap(), blocks);
        assert_eq!(t.store.hashes_above(0).unwrap().len(), 3);
        assert!(!t.store.has_block(&Hash([7; 32])).unwrap());
    }

    /// Every node reachable from `root` that the store lacks.
    fn missing_nodes(store: &Store, root: Hash) -> usize {
        let mut stack = vec![root];
        let mut missing = 0;
        while let Some(hash) = stack.pop() {
            if hash == Hash::ZERO {
                continue;
            }
            match store.get_node(&hash).unwrap() {
                Some(node) => stack.extend(node.children()),
                None => missing += 1,
            }
        }
        missing
    }

    /// Finalizes the test chain's block at `height` (index `height - 1`), with the canonical
    /// entries from 1.
    fn finalize(t: &TestChain, height: u64) {
        let canonical: Vec<(u64, Hash)> = t.blocks[..height as usize]
            .iter()
            .map(|b| (b.header.header.height, b.hash()))
            .collect();
        let last = *canonical.last().unwrap();
        t.store.set_finalized(Checkpoint { height: last.0, hash: last.1 }, &canonical).unwrap();
    }

    /// A pruned node's blocks come in at the top and leave at the bottom: the table that holds
    /// them must keep its pages full, or the file grows by the slack (blocks filed by hash left
    /// about 40 % of their pages empty: 3.7 MB of slack for 6.3 MB of blocks after a 9,600-block
    /// soak under load).
    #[test]
    fn blocks_coming_in_and_pruned_out_keep_their_pages_full() {
        let mut t = TestChain::new();
        for round in 1..=8u64 {
            for _ in 0..50 {
                let tx = t.transfer(1);
                t.extend(&[tx]);
            }
            finalize(&t, round * 50);
            let below = (round * 50).saturating_sub(100);
            t.store.prune(Below { blocks: below, states: below }).unwrap();
        }
        let stats = t.store.stats().unwrap();
        let blocks = stats.tables.iter().find(|t| t.name.starts_with("blocks")).unwrap();
        assert!(blocks.entries >= 100, "{blocks:?}");
        assert!(
            blocks.fragmented_bytes * 5 < blocks.stored_bytes,
            "more than a fifth of the blocks' pages empty: {blocks:?}"
        );
    }

    #[test]
    fn prune_deletes_below_and_keeps_every_node_kept_states_reach() {
        let mut t = TestChain::new();
        let mut sent = Vec::new();
        for _ in 0..40 {
            let tx = t.transfer(1);
            sent.push(tx.id());
            t.extend(&[tx]);
        }
        // A side branch off block 4: pruned with its height like the rest.
        let side = t.build(&t.store.state(&t.blocks[3].hash()).unwrap().unwrap(), 100, &[]);
        t.store.put_block(&side.block, &side.applied.state, &side.applied.nodes).unwrap();
        finalize(&t, 30);
        let nodes = |store: &Store| {
            store.stats().unwrap().tables.iter().find(|t| t.name == "nodes").unwrap().entries
        };
        let nodes_before = nodes(&t.store);

        let at = |h: u64| Below { blocks: h, states: h };
        assert_eq!(
            t.store.prune(at(31)),
            Err(StoreError::PruneAboveFinalized { below: 31, finalized: 30 })
        );
        assert_eq!(t.store.pruned_below().unwrap(), 0);

        let pruned = t.store.prune(at(20)).unwrap();
        // Blocks 1 to 19 and the side block; their states and genesis's.
        assert_eq!((pruned.blocks, pruned.states), (20, 21));
        assert!(pruned.nodes > 0);
        assert_eq!(nodes(&t.store), nodes_before - pruned.nodes);
        assert_eq!(t.store.pruned_below().unwrap(), 20);
        assert_eq!(t.store.reader().pruned_below().unwrap(), 20);
        assert!(!t.store.has_block(&side.block.hash()).unwrap());
        assert_eq!(t.store.state(&t.chain.id).unwrap(), None);
        for (i, block) in t.blocks.iter().enumerate() {
            let (height, hash) = (block.header.header.height, block.hash());
            let kept = height >= 20;
            assert_eq!(t.store.has_block(&hash).unwrap(), kept, "block {height}");
            assert_eq!(t.store.state(&hash).unwrap().is_some(), kept, "state {height}");
            assert_eq!(t.store.tx_location(&sent[i]).unwrap().is_some(), kept, "tx {height}");
            assert_eq!(t.store.hash_at(height).unwrap().is_some(), kept && height <= 30);
            if kept {
                let state = t.store.state(&hash).unwrap().unwrap();
                for root in state.tree_roots() {
                    assert_eq!(missing_nodes(&t.store, root), 0, "state {height}");
                }
            }
        }
        let user = Address::from_public_key(&key("user").public_key());
        let history = t.store.account_txs(&user, 100).unwrap();
        assert_eq!(history.len(), 21);
        assert!(history.iter().all(|(height, _, _)| *height >= 20));
        assert_eq!(t.store.hashes_above(0).unwrap().first().map(|(h, _)| *h), Some(20));

        // Nothing more to do at the same height; a reopened store remembers it and builds on.
        assert_eq!(t.store.prune(at(20)).unwrap(), Pruned::default());
        let mut t = t.reopen();
        assert_eq!(t.store.pruned_below().unwrap(), 20);
        let tx = t.transfer(1);
        let next = t.extend(&[tx]);
        assert_eq!(next.header.header.height, 41);
        finalize(&t, 41);
        // States go before their blocks: a short state window, a long block window.
        let states_only = t.store.prune(Below { blocks: 20, states: 35 }).unwrap();
        assert_eq!((states_only.blocks, states_only.states), (0, 15));
        assert_eq!(t.store.states_pruned_below().unwrap(), 35);
        for block in &t.blocks[19..41] {
            let height = block.header.header.height;
            assert!(t.store.has_block(&block.hash()).unwrap(), "block {height}");
            let state = t.store.state(&block.hash()).unwrap();
            assert_eq!(state.is_some(), height >= 35, "state {height}");
            if let Some(state) = state {
                for root in state.tree_roots() {
                    assert_eq!(missing_nodes(&t.store, root), 0, "state {height}");
                }
            }
        }
        let again = t.store.prune(at(41)).unwrap();
        assert_eq!((again.blocks, again.states), (21, 6));
        let tip = t.store.state(&next.hash()).unwrap().unwrap();
        for root in tip.tree_roots() {
            assert_eq!(missing_nodes(&t.store, root), 0);
        }
    }

    #[test]
    fn pruning_policy() {
        let params = Params::devnet();
        // Devnet: 16 slots of weak subjectivity, so the light clients' links decide.
        assert_eq!(Pruning::min_window(&params), 1024);
        assert_eq!(Pruning::default_for(&params), Pruning::Window(DEFAULT_WINDOW));
        let standard = Params::standard();
        assert_eq!(Pruning::min_window(&standard), 9_450 * 32);
        assert_eq!(Pruning::default_for(&standard), Pruning::Window(9_450 * 32));
        assert_eq!("archive".parse(), Ok(Pruning::Archive));
        assert_eq!("2048".parse(), Ok(Pruning::Window(2048)));
        assert_eq!("".parse::<Pruning>(), Err(PruningError::Unreadable(String::new())));
        assert_eq!("-1".parse::<Pruning>(), Err(PruningError::Unreadable("-1".into())));
        assert_eq!(
            Pruning::Window(100).check(&params),
            Err(PruningError::WindowTooSmall { window: 100, min: 1024 })
        );
        assert_eq!(Pruning::Archive.check(&params), Ok(Pruning::Archive));
        // States a short window behind finality, blocks the whole window; due every quarter of
        // the state window, never for an archive.
        let p = Pruning::Window(1024);
        assert_eq!(p.due(255, 0), None);
        assert_eq!(p.due(256 + 63, 0), None);
        assert_eq!(p.due(256 + 64, 0), Some(Below { blocks: 0, states: 64 }));
        assert_eq!(p.due(1024 + 300, 1000), Some(Below { blocks: 300, states: 1068 }));
        assert_eq!(p.due(1024 + 300, 1020), None);
        assert_eq!(Pruning::Archive.due(u64::MAX, 0), None);
    }
}
