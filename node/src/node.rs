//! The node: one chain's blocks, states, fork choice, mempool, votes and validator duties.
//!
//! `Node` is plain synchronous code over core and the store; the networking layer owns it behind
//! a lock and calls it with already-decoded objects. Everything that changes chain state goes
//! through [`Node::import_block`], which asks core to validate, persists block + state + tree
//! nodes in one store transaction, then updates fork choice. Nothing is kept on failure.

use crate::mempool::{Mempool, MempoolConfig, Rejection};
use crate::sigcache::SigCache;
use crate::store::{Below, Pruning, PruningError, Store, StoreError};
use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::crypto::{PublicKey, SecretKey};
use memecoin_core::encode::Encode;
use memecoin_core::finality::{Certificate, Checkpoint, SignedVote, Vote};
use memecoin_core::forkchoice::{BlockInfo, ForkChoice, ForkChoiceError};
use memecoin_core::genesis::Genesis;
use memecoin_core::hash::Hash;
use memecoin_core::header::SignedHeader;
use memecoin_core::light::{self, AccountProof, FinalityProof};
use memecoin_core::pos::{self, HashChain};
use memecoin_core::slashing::Evidence;
use memecoin_core::state::{self, BlockError, Chain, ChainState, RECENT_BLOCKS, Signatures};
use memecoin_core::tx::{SignedTx, Tx, TxKind};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Votes are kept for target heights from `RECENT_BLOCKS` below the head's height (a
/// certificate can only target one of the last `RECENT_BLOCKS` ancestors of the block carrying
/// it, PROTOCOL.md §10.3) to `MAX_VOTE_AHEAD` above it (a vote may arrive just before its block);
/// others are refused and, when the head moves, dropped.
const MAX_VOTE_AHEAD: u64 = 16;
/// Votes kept per validator: one per target height in the window (a second vote at a height is
/// a double vote, refused). So the votes kept are at most this many times the validators of the
/// sets votes are accepted for (the head state's previous, current and next sets), and one
/// validator's votes, however many it signs, never push out another's.
const VOTES_PER_VALIDATOR: usize = RECENT_BLOCKS + 1 + MAX_VOTE_AHEAD as usize;
/// Generations of its own hash chain a validator searches at open for its registered
/// commitment, when the store's generation does not hold it.
const GENERATIONS_SEARCHED: u64 = 16;
/// Most finality proofs kept in memory for light clients (one per epoch, the newest); the store
/// keeps more ([`Node::proofs_kept`]), and serves older ones [`MAX_STORED_PROOFS_SERVED`] at a
/// time.
const MAX_FINALITY_PROOFS: usize = 1024;
/// Most finality proofs one request reads from the store (the reply carries at most half a
/// frame of them anyway).
const MAX_STORED_PROOFS_SERVED: usize = 256;
/// Blocks fork choice holds above its anchor: beyond this, only a block that would become the
/// head (a child of the head, or one with a higher justified checkpoint or height) is imported;
/// side branches are refused (`ImportError::Full`) until pruning makes room.
const MAX_UNFINALIZED: usize = 4096;
/// How far below the head's height the node keeps blocks in memory (fork choice's `window`):
/// side branches that cannot win are dropped once their tip is this far below the head, and the
/// anchor (the deepest block held) follows the head chain this far below the head; older blocks
/// are read from the store. A branch forking deeper than this is refused (`BelowAnchor`).
/// About 17 minutes of 1-second slots, 16 times `RECENT_BLOCKS`.
const WINDOW: u64 = 1024;
/// Branches forking below the anchor whose tips the node keeps (`Node::deep`): the least
/// promising by fork choice's order goes first when a better one arrives.
const MAX_DEEP_TIPS: usize = 64;
/// And at most this many whose tip one proposer signed.
const MAX_DEEP_TIPS_PER_PROPOSER: usize = 4;
/// Blocks whose parent is unknown, kept until it arrives (a sync usually brings it): at most
/// this many, and at most `MAX_ORPHANS_PER_PROPOSER` of one proposer, so one validator signing
/// blocks on made-up parents cannot push out the others'.
const MAX_ORPHANS: usize = 256;
const MAX_ORPHANS_PER_PROPOSER: usize = 4;
/// And at most this many bytes of them (a block may be 4 MiB; only its signature and that its
/// body is the one its header commits to are checked before its parent's state is known).
const MAX_ORPHAN_BYTES: usize = 16 << 20;

/// A validator key with its commit-reveal hash chain.
#[derive(Clone)]
pub struct ValidatorKey {
    pub key: SecretKey,
    pub chain: HashChain,
}

impl fmt::Debug for ValidatorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValidatorKey({})", Address::from_public_key(&self.key.public_key()))
    }
}

/// Why a block was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportError {
    AlreadyKnown,
    /// The parent is unknown: the caller should sync.
    UnknownParent {
        parent: Hash,
        height: u64,
    },
    /// At or below finality, or off the finalized chain.
    Conflicts(ForkChoiceError),
    Invalid(BlockError),
    /// Too many non-finalized blocks are held.
    Full,
    /// The block's slot has not started yet by our clock (beyond the allowed drift).
    FutureSlot {
        slot: u64,
        now: u64,
    },
    Store(String),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyKnown => f.write_str("block already known"),
            Self::UnknownParent { parent, height } => {
                write!(f, "unknown parent {parent} of block at height {height}")
            }
            Self::Conflicts(e) => write!(f, "conflicts with finality: {e}"),
            Self::Invalid(e) => write!(f, "invalid block: {e}"),
            Self::Full => f.write_str("too many unfinalized blocks"),
            Self::FutureSlot { slot, now } => {
                write!(f, "block for slot {slot}, the current slot is {now}")
            }
            Self::Store(e) => write!(f, "storage: {e}"),
        }
    }
}

impl std::error::Error for ImportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Conflicts(e) => Some(e),
            Self::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        ImportError::Store(e.to_string())
    }
}

/// Why a vote was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteError {
    BadSignature,
    NotAValidator,
    AlreadyKnown,
    /// The vote conflicts with another by the same validator: evidence was recorded.
    Equivocation,
    /// The target height is outside the window of votes kept (`RECENT_BLOCKS` below the head's
    /// height to `MAX_VOTE_AHEAD` above it): no block on this head could use it.
    OutsideWindow {
        target: u64,
        head: u64,
    },
}

impl fmt::Display for VoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSignature => f.write_str("vote signature is invalid"),
            Self::NotAValidator => f.write_str("voter is not in the epoch's validator set"),
            Self::AlreadyKnown => f.write_str("vote already known"),
            Self::Equivocation => {
                f.write_str("vote conflicts with an earlier vote of the same validator")
            }
            Self::OutsideWindow { target, head } => {
                write!(f, "vote for height {target} is outside the window of head height {head}")
            }
        }
    }
}

impl std::error::Error for VoteError {}

/// What the node did that others should hear about.
#[derive(Debug, Clone)]
pub enum Event {
    NewHead(SignedHeader),
    Finalized(FinalityProof),
    Block(Block),
    Tx(SignedTx),
    Vote(SignedVote),
    Evidence(Evidence),
    AccountsChanged(Vec<Address>),
}

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    Unknown,
    Pending,
    Included { block: Hash, height: u64, index: u32, finalized: bool },
}

/// A state's header and roots, to read account proofs against ([`Node::account_view`]).
#[derive(Debug, Clone)]
pub struct AccountView {
    pub header: SignedHeader,
    pub accounts_root: Hash,
    pub meta_hash: Hash,
}

pub struct Node {
    genesis: Genesis,
    chain: Chain,
    /// Shared with a prune running off the node's lock ([`Node::prune_due`]).
    store: Arc<Store>,
    /// What the store keeps behind finality.
    pruning: Pruning,
    fork_choice: ForkChoice,
    /// Fork choice's window in blocks: `WINDOW`, smaller in tests.
    window: u64,
    /// States of the finalized block, fork choice's anchor and every block in fork choice
    /// (at most `MAX_UNFINALIZED` plus the head chain's `WINDOW`, plus two); older ones are in
    /// the store. `headers` holds the same blocks' headers.
    states: HashMap<Hash, ChainState>,
    headers: HashMap<Hash, SignedHeader>,
    head: Hash,
    mempool: Mempool,
    /// Transaction signatures verified on mempool admission, so block import skips them.
    sigcache: Arc<SigCache>,
    /// Votes per link, by validator: the same votes as `seen_votes`.
    votes: BTreeMap<VoteKey, BTreeMap<[u8; 33], SignedVote>>,
    /// Last vote seen per validator and target height, to catch double votes. A `BTreeMap`: the
    /// search for a conflicting earlier vote walks it, and which one it finds is the evidence
    /// the node makes and gossips, so the walk must not depend on a hasher's random seed. At
    /// most `VOTES_PER_VALIDATOR` per validator (the vote window); double and surround votes are
    /// caught against what is kept, not against votes out of the window.
    seen_votes: BTreeMap<([u8; 33], u64), SignedVote>,
    evidence: VecDeque<Evidence>,
    /// The first imported header per (slot, proposer) above finality, to catch a proposer that
    /// signs two blocks for one slot. Only slots above the anchor's: bounded by the blocks
    /// fork choice holds.
    proposals: BTreeMap<(u64, [u8; 33]), SignedHeader>,
    /// Branches that fork off the head chain below the anchor (a partition that healed, a node
    /// that was on the losing side): their blocks are validated against the store's states and
    /// stored like any other, but fork choice holds only `window` blocks, so only each branch's
    /// tip is kept here, by hash. Once a tip is better than the head by fork choice's order, the
    /// node moves its anchor onto that branch ([`Node::take_branch`]). At most `MAX_DEEP_TIPS`.
    deep: BTreeMap<Hash, DeepTip>,
    /// Blocks whose parent was unknown when they arrived, by (parent, block id), oldest first in
    /// `orphan_order`: imported as soon as their parent is. A block that arrives before its
    /// parent (reordering, a partition healing) is otherwise lost for good: gossip is not
    /// repeated, and a sync brings the peer's head chain only, not its side branches, which
    /// fork choice (a branch with a higher justified checkpoint) and slashing (one half of a
    /// double proposal) may need.
    orphans: Orphans,
    /// Shared, so a request copies pointers under the lock, not up to 1,024 proofs with their
    /// validator sets.
    finality_proofs: VecDeque<Arc<FinalityProof>>,
    /// The `get_meta` reply of the finalized state, made once a finalized block (on the first
    /// request after finality moved), then shared: a peer asking again and again costs a pointer
    /// copy under the lock, not an encoding of the meta.
    finalized_meta: Option<Arc<FinalizedMeta>>,
    validator: Option<ValidatorKey>,
    /// The validator's hash chains, the one it reveals from and the one it renews to, indexed
    /// when the node opens (one walk over each, before anyone waits on the node): each reveal is
    /// then found in about `Reveals::STRIDE` hashes, not a walk from the secret under the lock.
    chains: Option<OwnChains>,
    /// The renewal transaction this validator last sent, while the mempool holds it, and the
    /// slot it was last announced in.
    renewal_sent: Option<(Hash, u64)>,
    /// The slot in which the mempool last refused our renewal: tried again an epoch later, not
    /// every tick (an account without the fee would log an error ten times a slot).
    renewal_refused: Option<u64>,
    /// This node's own last vote and the slot it last proposed in.
    last_vote: Option<Vote>,
    last_proposed_slot: Option<u64>,
    /// Doppelganger protection ([`Node::watch_for_doppelganger`]): the slots in which the
    /// validator signs nothing and watches for blocks and votes of its key.
    watch: Option<std::ops::Range<u64>>,
    /// What showed another node signing with our key: the validator never signs again.
    doppelganger: Option<String>,
    /// The slot since which the validator has been behind the network, if it is.
    behind_since: Option<u64>,
    /// What the validator did since the node opened ([`Node::duties`]).
    duties: Duties,
    events: Vec<Event>,
}

/// A validator's work since its node opened, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Duties {
    /// Blocks it proposed.
    pub proposed: u64,
    /// Slots it was elected for (by its head state at the time) that ended without its block.
    pub missed: u64,
    /// Votes it signed.
    pub votes: u64,
    /// The last slot whose proposer was checked.
    checked_slot: u64,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("chain", &self.chain.id)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct VoteKey {
    epoch: u64,
    source: Checkpoint,
    target: Checkpoint,
}

impl From<&Vote> for VoteKey {
    fn from(v: &Vote) -> Self {
        VoteKey { epoch: v.epoch, source: v.source, target: v.target }
    }
}

/// The tip of a branch forking below the anchor (see `Node::deep`).
#[derive(Debug, Clone, Copy)]
struct DeepTip {
    /// The block of the head chain it forks from, at or above finality and below the anchor
    /// (when it was recorded: a later change of branch is checked again by `take_branch`).
    fork: Checkpoint,
    /// Fork choice's order of the tip: justified height, then height.
    rank: (u64, u64),
    /// Who signed the tip (`MAX_DEEP_TIPS_PER_PROPOSER`).
    proposer: [u8; 33],
}

impl Node {
    /// Opens the data dir for `genesis` (refusing one from another chain) and restores the
    /// finalized block and every stored block above it, at the wall clock's time.
    pub fn open(
        genesis: Genesis,
        dir: &Path,
        validator: Option<ValidatorKey>,
    ) -> Result<Node, NodeError> {
        Self::open_at(genesis, dir, validator, now_ms())
    }

    /// As [`Node::open`] at Unix time `now_ms` (the future-slot check of the stored blocks it
    /// re-imports reads it): the node reads no clock of its own, so a simulation can run it on
    /// simulated time.
    pub fn open_at(
        genesis: Genesis,
        dir: &Path,
        validator: Option<ValidatorKey>,
        now_ms: u64,
    ) -> Result<Node, NodeError> {
        let (chain, genesis_state, nodes) =
            genesis.build().map_err(|e| NodeError::Genesis(e.to_string()))?;
        let store = Arc::new(Store::open(dir, chain.id)?);
        // A store that finalized a block may have pruned the genesis state since.
        if store.finalized()?.is_none() && store.state(&chain.id)?.is_none() {
            store.put_genesis(&genesis_state, &nodes)?;
        }
        let finalized = store.finalized()?.unwrap_or(Checkpoint { height: 0, hash: chain.id });
        let anchor = store.anchor()?.filter(|a| a.height > finalized.height).unwrap_or(finalized);
        let (last_vote, last_proposed_slot) = (store.last_vote()?, store.last_proposal()?);
        let finalized_state = store
            .state(&finalized.hash)?
            .ok_or(NodeError::Store("store: finalized state missing".into()))?;
        let anchor_state = store
            .state(&anchor.hash)?
            .ok_or(NodeError::Store("store: anchor state missing".into()))?;
        // Light clients' finality proofs outlive a restart (the blocks re-imported below add
        // none twice).
        let proofs = store.newest_finality_proofs(MAX_FINALITY_PROOFS)?;
        let pruning = Pruning::default_for(&chain.params);
        let mut node = Node {
            genesis,
            chain,
            store,
            pruning,
            fork_choice: ForkChoice::with_anchor(finalized, anchor),
            window: WINDOW,
            states: HashMap::from([(finalized.hash, finalized_state), (anchor.hash, anchor_state)]),
            headers: HashMap::new(),
            head: anchor.hash,
            sigcache: Arc::new(SigCache::default()),
            mempool: Mempool::new(MempoolConfig {
                max_txs: 20_000,
                // Held transactions never reach a block as they are: a small room of their own.
                max_held: 2_000,
                max_per_sender: 64,
                max_nonce_gap: 16,
                expiry_ms: 10 * 60 * 1000,
            }),
            votes: BTreeMap::new(),
            seen_votes: BTreeMap::new(),
            evidence: VecDeque::new(),
            proposals: BTreeMap::new(),
            orphans: Orphans::default(),
            deep: BTreeMap::new(),
            finality_proofs: proofs.into_iter().map(Arc::new).collect(),
            finalized_meta: None,
            chains: None,
            renewal_sent: None,
            renewal_refused: None,
            validator,
            // What this validator signed before a restart binds it still.
            last_vote,
            last_proposed_slot,
            watch: None,
            doppelganger: None,
            behind_since: None,
            duties: Duties::default(),
            events: Vec::new(),
        };
        if let Some(v) = &node.validator {
            node.chains = Some(OwnChains::new(&v.chain, node.store.chain_generation()?));
        }
        for hash in [finalized.hash, anchor.hash] {
            if let Some(block) = node.store.block(&hash)? {
                node.headers.insert(hash, block.header);
            }
        }
        // Re-import the stored blocks above the anchor (their states are stored too, but
        // re-validating costs little and proves the store consistent): the stored head's chain
        // first, so it is first seen among equals (fork choice's tie-break) and the head
        // survives a restart, then every other stored block whose parent is held, by height.
        // The anchor bounds the work: about `WINDOW` blocks, however long finality has stalled.
        let mut head_chain = Vec::new();
        let mut cursor = node.store.head()?;
        while let Some(hash) = cursor.filter(|h| *h != anchor.hash) {
            let Some(block) = node.store.block(&hash)? else { break };
            if block.header.header.height <= anchor.height {
                break;
            }
            head_chain.push(hash);
            cursor = Some(block.header.header.parent);
        }
        head_chain.reverse();
        let others = node.store.hashes_above(anchor.height)?.into_iter().map(|(_, h)| h);
        for hash in head_chain.into_iter().chain(others) {
            if node.states.contains_key(&hash) {
                continue;
            }
            let Some(block) = node.store.block(&hash)? else { continue };
            if !node.states.contains_key(&block.header.header.parent) {
                continue; // on a branch pruned before the restart
            }
            match node.import_block_at(block, now_ms) {
                Ok(()) | Err(ImportError::AlreadyKnown) => {}
                Err(e) => tracing::warn!("stored block not restored: {e}"),
            }
        }
        node.events.clear();
        node.find_own_generation()?;
        Ok(node)
    }

    /// A reader of stored blocks, for serving them off the node's lock.
    pub fn reader(&self) -> crate::store::StoreReader {
        self.store.reader()
    }

    /// Sets what the store keeps behind finality (the default is
    /// [`Pruning::default_for`] the chain); refuses a window below the chain's minimum.
    pub fn set_pruning(&mut self, pruning: Pruning) -> Result<(), PruningError> {
        self.pruning = pruning.check(&self.chain.params)?;
        Ok(())
    }

    pub fn pruning(&self) -> Pruning {
        self.pruning
    }

    /// The store and the height to prune it below, if a prune is due ([`Pruning::due`]): the
    /// caller runs [`Store::prune`] off the node's lock (it takes the store's write lock for
    /// the deletion only, after marking in a snapshot), and one at a time.
    pub fn prune_due(&self) -> Option<(Arc<Store>, Below)> {
        let finalized = self.fork_choice.finalized().height;
        let states_pruned_below = self.store.states_pruned_below().ok()?;
        let below = self.pruning.due(finalized, states_pruned_below)?;
        Some((self.store.clone(), below))
    }

    /// The signature cache, for verifying a block's signatures off the node's lock.
    pub fn sigcache(&self) -> Arc<SigCache> {
        self.sigcache.clone()
    }

    /// Whether `hash` was imported already (in memory, as a deep tip, or stored).
    pub fn is_known(&self, hash: &Hash) -> bool {
        self.states.contains_key(hash)
            || self.deep.contains_key(hash)
            || self.store.has_block(hash).unwrap_or(false)
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Events since the last call, for the network layer to broadcast.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn head_state(&self) -> Option<&ChainState> {
        self.states.get(&self.head)
    }

    pub fn finalized(&self) -> Checkpoint {
        self.fork_choice.finalized()
    }

    /// Fork choice's anchor: the deepest block the node keeps in memory, on the head chain at
    /// or above finality. A block at or below its height is not imported, so a sync starts
    /// above it.
    pub fn anchor(&self) -> Checkpoint {
        self.fork_choice.anchor()
    }

    pub fn finalized_state(&self) -> Option<&ChainState> {
        self.states.get(&self.fork_choice.finalized().hash)
    }

    /// The head block; none while the head is genesis, which has no block.
    pub fn head_block(&self) -> Option<Block> {
        if self.head == self.chain.id { None } else { self.block(&self.head) }
    }

    pub fn head_header(&self) -> Option<&SignedHeader> {
        self.headers.get(&self.head)
    }

    pub fn header(&self, hash: &Hash) -> Option<SignedHeader> {
        self.headers
            .get(hash)
            .cloned()
            .or_else(|| self.store.block(hash).ok().flatten().map(|b| b.header))
    }

    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    /// The most transactions the mempool holds ([`Mempool::capacity`]).
    pub fn mempool_capacity(&self) -> usize {
        self.mempool.capacity()
    }

    /// The hash of the head chain's block at `height`, if any: from fork choice above the
    /// anchor, from the store's canonical index at or below it.
    pub fn hash_at(&self, height: u64) -> Option<Hash> {
        let anchor = self.fork_choice.anchor();
        if height <= anchor.height {
            return if height == 0 {
                Some(self.chain.id)
            } else if height == anchor.height {
                Some(anchor.hash)
            } else {
                self.store.hash_at(height).ok().flatten()
            };
        }
        let mut cursor = self.head;
        loop {
            let info = self.fork_choice.get(&cursor)?;
            if info.height == height {
                return Some(cursor);
            }
            if info.height < height {
                return None;
            }
            cursor = info.parent;
        }
    }

    /// The hashes of the head chain's blocks at heights `from..from + count`, in height order,
    /// stopping at the first height it has none for. One walk down from the head for the
    /// heights above the anchor, where [`Node::hash_at`] per height would walk once each (a
    /// peer's `get_blocks` of 256 heights cost 256 walks under the node lock).
    pub fn hashes_from(&self, from: u64, count: u64) -> Vec<Hash> {
        let end = from.saturating_add(count);
        let anchor = self.fork_choice.anchor().height;
        let mut out: Vec<Hash> =
            (from..end.min(anchor.saturating_add(1))).map_while(|h| self.hash_at(h)).collect();
        if out.len() as u64 != end.min(anchor.saturating_add(1)).saturating_sub(from) {
            return out;
        }
        let mut above = Vec::new();
        let mut cursor = self.head;
        while let Some(info) = self.fork_choice.get(&cursor) {
            if info.height < from.max(anchor.saturating_add(1)) {
                break;
            }
            if info.height < end {
                above.push(cursor);
            }
            cursor = info.parent;
        }
        out.extend(above.into_iter().rev());
        out
    }

    /// The height a sync asks a peer's blocks from (PROTOCOL.md §16.6): above the anchor, since
    /// below it the node holds the head chain.
    pub fn sync_start(&self) -> u64 {
        self.fork_choice.anchor().height.saturating_add(1)
    }

    /// Where to ask next after a peer's blocks from height `from` did not join anything the
    /// node holds (the first one's parent is unknown): the peer's branch forks lower, so twice
    /// as far below the anchor as `from` was (at least `range` lower), and never below the
    /// block after finality. `None` when `from` was that block already: the peer is on another
    /// finalized chain, or lying. A fork `d` blocks below the anchor is found in about
    /// `log2(d / range)` requests.
    pub fn sync_below(&self, from: u64, range: u64) -> Option<u64> {
        let lowest = self.fork_choice.finalized().height.saturating_add(1);
        if from <= lowest {
            return None;
        }
        let gap = self.sync_start().saturating_sub(from);
        Some(from.saturating_sub(gap.max(range)).max(lowest))
    }

    pub fn block(&self, hash: &Hash) -> Option<Block> {
        self.store.block(hash).ok().flatten()
    }

    /// Validates and imports a block at the wall clock's time; on success it is stored and fork
    /// choice updated.
    pub fn import_block(&mut self, block: Block) -> Result<(), ImportError> {
        self.import_block_at(block, now_ms())
    }

    /// As [`Node::import_block`] at Unix time `now_ms`: the clock decides which slots have
    /// begun (the future-slot check) and the mempool's expiry after a new head.
    ///
    /// A block whose parent is unknown is kept aside (`UnknownParent` still tells the caller to
    /// sync) and imported when its parent is; so is every kept descendant of a block imported
    /// here. Their own results are not reported (the network layer does not answer them).
    pub fn import_block_at(&mut self, block: Block, now_ms: u64) -> Result<(), ImportError> {
        self.import_at(block, Checks::ToDo, now_ms)
    }

    /// As [`Node::import_block`] for a block [`check_block`] passed (off the node's lock): if
    /// its parent is unknown, it is kept without checking its signature and body again.
    pub fn import_checked(&mut self, block: Checked) -> Result<(), ImportError> {
        self.import_at(block.0, Checks::Done, now_ms())
    }

    fn import_at(&mut self, block: Block, checks: Checks, now_ms: u64) -> Result<(), ImportError> {
        let hash = block.hash();
        let result = self.import_one(block, checks, now_ms);
        if result.is_ok() {
            self.adopt_orphans(hash, now_ms);
        }
        result
    }

    /// Imports the kept orphans that descend from `parent`, now imported, depth first.
    fn adopt_orphans(&mut self, parent: Hash, now_ms: u64) {
        let mut ready = vec![parent];
        while let Some(parent) = ready.pop() {
            for block in self.orphans.take_children(&parent) {
                let hash = block.hash();
                match self.import_one(block, Checks::Done, now_ms) {
                    Ok(()) => ready.push(hash),
                    Err(e) => tracing::debug!("kept block {hash} not imported: {e}"),
                }
            }
        }
    }

    /// Keeps a block whose parent is unknown, if it could be a validator's: its proposer is in
    /// the head state's current or next set and signed it, and its body is the one its header
    /// commits to ([`check_block`]: nothing else is checkable without the parent's state). The
    /// body check matters because blocks are kept by header: a copy with another body kept
    /// first would make the genuine block be dropped as already kept. It is also compared with
    /// the known proposals of its slot: a double proposal needs no state to prove.
    fn keep_orphan(&mut self, block: Block, checks: Checks) {
        let h = &block.header.header;
        let known_validator = self.states.get(&self.head).is_some_and(|s| {
            s.meta.current.index_of(&h.proposer).is_some()
                || s.meta.next.index_of(&h.proposer).is_some()
        });
        if !known_validator
            || self.orphans.contains(&block)
            || self.orphans.count_of(&h.proposer) >= MAX_ORPHANS_PER_PROPOSER
        {
            return;
        }
        let block = match checks {
            Checks::Done => block,
            Checks::ToDo => match check_block(block, &self.chain) {
                Ok(Checked(block)) => block,
                Err(_) => return,
            },
        };
        self.check_double_proposal(&block.header);
        self.orphans.insert(block);
    }

    /// Two headers signed by one proposer for one slot are evidence (PROTOCOL.md §11): `header`
    /// against the first one recorded for its slot and proposer, or a kept orphan's.
    fn check_double_proposal(&mut self, header: &SignedHeader) {
        self.watch_key(&header.header.proposer.clone(), header.header.slot, "block");
        let h = &header.header;
        let hash = header.hash();
        let earlier = self
            .proposals
            .get(&(h.slot, *h.proposer.as_bytes()))
            .filter(|first| first.hash() != hash)
            .or_else(|| {
                self.orphans.headers().find(|o| {
                    o.header.slot == h.slot && o.header.proposer == h.proposer && o.hash() != hash
                })
            })
            .cloned();
        if let Some(first) = earlier
            && let Some(e) = Evidence::double_proposal(first, header.clone())
        {
            self.add_evidence(e);
        }
    }

    fn import_one(&mut self, block: Block, checks: Checks, now_ms: u64) -> Result<(), ImportError> {
        let hash = block.hash();
        let h = &block.header.header;
        if self.states.contains_key(&hash) || self.deep.contains_key(&hash) {
            return Err(ImportError::AlreadyKnown);
        }
        if h.height <= self.fork_choice.finalized().height {
            return Err(ImportError::Conflicts(ForkChoiceError::BelowFinalized {
                finalized: self.fork_choice.finalized().height,
                found: h.height,
            }));
        }
        let in_tree = self.fork_choice.contains(&h.parent);
        if !in_tree && self.store.has_block(&hash)? {
            // The head chain below the anchor, or a block of a branch imported before (only
            // its tip is in `deep`): validated and stored once.
            return Err(ImportError::AlreadyKnown);
        }
        let deep_fork = if in_tree { None } else { self.deep_fork(h)? };
        if !in_tree && deep_fork.is_none() {
            let unknown = ImportError::UnknownParent { parent: h.parent, height: h.height };
            self.keep_orphan(block, checks);
            return Err(unknown);
        }
        // Full: side branches wait, the head chain never does.
        if in_tree && self.fork_choice.len() >= MAX_UNFINALIZED && !self.could_be_head(h) {
            return Err(ImportError::Full);
        }
        if deep_fork.is_some()
            && !self.deep.contains_key(&h.parent)
            && self.deep_to_evict(&h.proposer, (h.justified.height, h.height)).is_err()
        {
            return Err(ImportError::Full);
        }
        // Core never reads the clock; the node does: a block from a slot that has not begun (with
        // one slot of tolerance for clock drift) could let a proposer jump the queue.
        let now = pos::slot_at(self.chain.genesis_time_ms, self.chain.params.slot_ms, now_ms)
            .unwrap_or(0);
        if h.slot > now.saturating_add(1) {
            return Err(ImportError::FutureSlot { slot: h.slot, now });
        }
        if let Some(fork) = deep_fork {
            return self.import_deep(block, fork, now_ms);
        }
        let Some(parent_state) = self.states.get(&h.parent) else {
            let unknown = ImportError::UnknownParent { parent: h.parent, height: h.height };
            self.keep_orphan(block, checks);
            return Err(unknown);
        };
        // Signatures seen in the mempool are not checked again; the rest on all cores, while
        // core works through the block.
        let applied = self
            .sigcache
            .apply_overlapped(&block.txs, |signatures| {
                state::apply_block(&*self.store, &self.chain, parent_state, &block, signatures)
            })
            .map_err(ImportError::Invalid)?;
        self.store.put_block(&block, &applied.state, &applied.nodes)?;
        // Every account core wrote: senders and recipients, the proposer's reward, an
        // offender, unbonds paid out.
        let touched = applied.touched;
        let info = BlockInfo {
            hash,
            parent: h.parent,
            height: h.height,
            justified: h.justified,
            finalized: h.finalized,
        };
        let old_finalized = self.fork_choice.finalized();
        let old_anchor = self.fork_choice.anchor();
        self.fork_choice.insert(info).map_err(ImportError::Conflicts)?;
        self.states.insert(hash, applied.state);
        self.headers.insert(hash, block.header.clone());
        self.note_finality_proof(&block);

        let new_finalized = self.fork_choice.finalized();
        if new_finalized != old_finalized {
            self.on_finalized(old_finalized, new_finalized, old_anchor)?;
        }
        let old_head = self.head;
        self.head = self.fork_choice.head();
        // Two blocks signed by one proposer for one slot are evidence (PROTOCOL.md §11).
        self.check_double_proposal(&block.header);
        self.proposals.entry((h.slot, *h.proposer.as_bytes())).or_insert(block.header.clone());
        if self.is_recent(h.slot, now_ms) {
            self.events.push(Event::Block(block));
        }
        if self.head != old_head {
            if let Some(header) = self.headers.get(&self.head) {
                self.events.push(Event::NewHead(header.clone()));
            }
            self.store.set_head(&self.head)?;
            let orphaned = self.orphaned_txs(old_head);
            if let Some(state) = self.states.get(&self.head) {
                let now = now_ms;
                self.mempool.on_new_state(&*self.store, &self.chain, state, now);
                // Transactions of a branch that lost the head go back to the pool (those the new
                // branch also holds, or that are now invalid, are refused by the pool's checks).
                for tx in orphaned {
                    let _ = self.mempool.insert(
                        &*self.store,
                        &self.chain,
                        state,
                        tx,
                        now,
                        Signatures::Verify,
                    );
                }
                self.announce_ready();
            }
        }
        if !touched.is_empty() {
            self.events.push(Event::AccountsChanged(touched));
        }
        self.bound_memory()?;
        if self.head != old_head {
            self.prune_votes();
        }
        Ok(())
    }

    /// Whether a block with header `h` would be the head if valid: a child of the head, or above
    /// it by justified height, then height (fork choice's order).
    fn could_be_head(&self, h: &memecoin_core::header::Header) -> bool {
        h.parent == self.head
            || self.states.get(&self.head).is_none_or(|head| {
                (h.justified.height, h.height) > (head.meta.justified.height, head.tip.height)
            })
    }

    /// Where a block whose parent is not in fork choice forks from, if it can start or extend a
    /// branch outside the tree (see [`Node::deep`]): its parent is a kept deep tip (the fork is
    /// the tip's), a block of the head chain at or above finality and below the anchor (the
    /// store's canonical index holds those heights), or another stored block at or above
    /// finality (inside a branch imported before, or the old head's after a change of branch;
    /// recorded as its own fork point, an upper bound of the real one: `take_branch` walks down
    /// to the head chain and refuses a branch that does not descend from finality).
    fn deep_fork(
        &self,
        h: &memecoin_core::header::Header,
    ) -> Result<Option<Checkpoint>, StoreError> {
        if let Some(tip) = self.deep.get(&h.parent) {
            return Ok(Some(tip.fork));
        }
        let Some(height) = h.height.checked_sub(1) else { return Ok(None) };
        if height < self.fork_choice.finalized().height {
            return Ok(None);
        }
        let parent = Checkpoint { height, hash: h.parent };
        if height < self.fork_choice.anchor().height && self.canonical_at(height)? == Some(h.parent)
        {
            return Ok(Some(parent));
        }
        Ok(self.store.has_block(&h.parent)?.then_some(parent))
    }

    /// The head chain's block at `height` at or below the anchor: the store's canonical index,
    /// which starts at height 1 (genesis has no block).
    fn canonical_at(&self, height: u64) -> Result<Option<Hash>, StoreError> {
        if height == 0 { Ok(Some(self.chain.id)) } else { self.store.hash_at(height) }
    }

    /// Room for a new deep tip of `proposer` ranked `rank` (fork choice's order): `Ok(None)` if
    /// there is room, the tip to drop for it if the table is full and that tip ranks below
    /// `rank`; `Err(())` if `proposer` has `MAX_DEEP_TIPS_PER_PROPOSER` tips already, or the
    /// table is full of tips that rank at least as high. The per-proposer bound keeps one key
    /// (each block of which costs it an election) from filling the table with short branches
    /// off the head chain that outrank the first block of an honest branch being synced.
    fn deep_to_evict(&self, proposer: &PublicKey, rank: (u64, u64)) -> Result<Option<Hash>, ()> {
        let key = *proposer.as_bytes();
        if self.deep.values().filter(|t| t.proposer == key).count() >= MAX_DEEP_TIPS_PER_PROPOSER {
            return Err(());
        }
        if self.deep.len() < MAX_DEEP_TIPS {
            return Ok(None);
        }
        match self.deep.iter().min_by_key(|(hash, t)| (t.rank, **hash)) {
            Some((hash, t)) if t.rank < rank => Ok(Some(*hash)),
            _ => Err(()),
        }
    }

    /// Imports a block of a branch that forks below the anchor at `fork` (see [`Node::deep`]):
    /// validated against its parent's stored state and stored; it replaces its parent as the
    /// branch's tip, and once the tip is better than the head the node takes the branch.
    fn import_deep(
        &mut self,
        block: Block,
        fork: Checkpoint,
        now_ms: u64,
    ) -> Result<(), ImportError> {
        let hash = block.hash();
        let h = block.header.header.clone();
        let parent_state = self
            .store
            .state(&h.parent)?
            .ok_or_else(|| ImportError::Store(format!("store: no state for block {}", h.parent)))?;
        let applied = self
            .sigcache
            .apply_overlapped(&block.txs, |signatures| {
                state::apply_block(&*self.store, &self.chain, &parent_state, &block, signatures)
            })
            .map_err(ImportError::Invalid)?;
        self.store.put_block(&block, &applied.state, &applied.nodes)?;
        let rank = (h.justified.height, h.height);
        if self.deep.remove(&h.parent).is_none()
            && let Ok(Some(evicted)) = self.deep_to_evict(&h.proposer, rank)
        {
            self.deep.remove(&evicted);
        }
        self.deep.insert(hash, DeepTip { fork, rank, proposer: *h.proposer.as_bytes() });
        // Two blocks of one proposer for one slot are evidence on any branch.
        self.check_double_proposal(&block.header);
        self.proposals.entry((h.slot, *h.proposer.as_bytes())).or_insert(block.header);
        // Not gossiped: peers fetch the branch by sync once its head is better than theirs (its
        // proposers gossip it), so one key's deep blocks are not spread by every relay.
        let head = self.states.get(&self.head).map(|s| (s.meta.justified.height, s.tip.height));
        if head.is_none_or(|head| rank > head) {
            self.take_branch(hash, now_ms)?;
        }
        Ok(())
    }

    /// Moves fork choice onto the branch of deep tip `tip`, better than the head: finds where it
    /// meets the head chain (walking down the store to the first block of the canonical index),
    /// rewrites the store's canonical index above that block with the branch, rebuilds fork
    /// choice on the branch's last `window` blocks (their states read from the store), and keeps
    /// the old head as a deep tip, so the node can come back to it the same way. Everything is
    /// read before anything changes. The work is the branch's length, once per change.
    fn take_branch(&mut self, tip: Hash, now_ms: u64) -> Result<(), ImportError> {
        let finalized = self.fork_choice.finalized();
        let old_anchor = self.fork_choice.anchor();
        // The branch from the tip down to the head chain's block it forks from, newest first.
        let mut branch = Vec::new();
        let mut cursor = tip;
        let fork = loop {
            if cursor == self.chain.id {
                break Checkpoint { height: 0, hash: cursor };
            }
            let Some(block) = self.store.block(&cursor)? else {
                self.deep.remove(&tip);
                return Ok(());
            };
            let b = &block.header.header;
            let height = b.height;
            if height <= old_anchor.height && self.canonical_at(height)? == Some(cursor) {
                break Checkpoint { height, hash: cursor };
            }
            if height <= finalized.height {
                self.deep.remove(&tip); // not on the finalized chain
                return Ok(());
            }
            branch.push(BlockInfo {
                hash: cursor,
                parent: b.parent,
                height,
                justified: b.justified,
                finalized: b.finalized,
            });
            cursor = b.parent;
        };
        branch.reverse();
        let top = branch.last().map_or(fork.height, |b| b.height);
        let kept_from = top.saturating_sub(self.window).max(fork.height);
        let split =
            usize::try_from(kept_from - fork.height).unwrap_or(usize::MAX).min(branch.len());
        let (below, above) = branch.split_at(split);
        let anchor = below.last().map_or(fork, |b| Checkpoint { height: b.height, hash: b.hash });
        let canonical: Vec<(u64, Hash)> = below.iter().map(|b| (b.height, b.hash)).collect();
        let mut fork_choice = ForkChoice::with_anchor(finalized, anchor);
        for info in above {
            fork_choice.insert(*info).map_err(ImportError::Conflicts)?;
        }
        // States and headers of the finalized block (kept), the new anchor and the tree.
        let mut states = HashMap::new();
        let mut headers = HashMap::new();
        if let Some(s) = self.states.get(&finalized.hash) {
            states.insert(finalized.hash, s.clone());
        }
        if let Some(h) = self.headers.get(&finalized.hash) {
            headers.insert(finalized.hash, h.clone());
        }
        for hash in std::iter::once(anchor.hash).chain(above.iter().map(|b| b.hash)) {
            let missing = || StoreError::Corrupt { what: "state or block of a stored branch" };
            states.insert(hash, self.store.state(&hash)?.ok_or_else(missing)?);
            if hash != self.chain.id {
                headers.insert(hash, self.store.block(&hash)?.ok_or_else(missing)?.header);
            }
        }
        // The old branch's transactions go back to the pool (those the new one holds, or that
        // are now invalid, are refused there): from at most `window` of its newest blocks.
        let old_head = self.head;
        let mut orphaned = Vec::new();
        let mut cursor = old_head;
        for _ in 0..self.window {
            if cursor == fork.hash {
                break;
            }
            let Some(block) = self.store.block(&cursor)? else { break };
            cursor = block.header.header.parent;
            orphaned.extend(block.txs);
        }
        // Everything read: the store moves first (a crash after it restarts on the new branch,
        // from its anchor, §12), then memory.
        self.store.rewind_anchor(fork, anchor, &canonical)?;
        let old = self.headers.get(&old_head).map(|h| h.header.clone());
        self.deep.remove(&tip);
        self.fork_choice = fork_choice;
        self.states = states;
        self.headers = headers;
        if let Some(old) = old.as_ref().filter(|_| old_head != fork.hash) {
            let rank = (old.justified.height, old.height);
            if let Ok(evicted) = self.deep_to_evict(&old.proposer, rank) {
                if let Some(e) = evicted {
                    self.deep.remove(&e);
                }
                let proposer = *old.proposer.as_bytes();
                self.deep.insert(old_head, DeepTip { fork, rank, proposer });
            }
        }
        tracing::info!(
            fork = fork.height,
            from = old.as_ref().map_or(0, |h| h.height),
            to = top,
            "took a branch forking below the anchor"
        );
        let new_finalized = self.fork_choice.finalized();
        if new_finalized != finalized {
            self.on_finalized(finalized, new_finalized, anchor)?;
        }
        self.head = self.fork_choice.head();
        if let Some(header) = self.headers.get(&self.head) {
            self.events.push(Event::NewHead(header.clone()));
        }
        self.store.set_head(&self.head)?;
        if let Some(state) = self.states.get(&self.head) {
            self.mempool.on_new_state(&*self.store, &self.chain, state, now_ms);
            for tx in orphaned {
                let _ = self.mempool.insert(
                    &*self.store,
                    &self.chain,
                    state,
                    tx,
                    now_ms,
                    Signatures::Verify,
                );
            }
            self.announce_ready();
        }
        self.bound_memory()?;
        self.prune_votes();
        Ok(())
    }

    /// Keeps what fork choice holds within `WINDOW` of the head (see [`WINDOW`]): drops side
    /// branches that cannot win and moves the anchor up the head chain, recording in the store
    /// the head chain's blocks that left memory; their states and headers are dropped here.
    fn bound_memory(&mut self) -> Result<(), ImportError> {
        let old_anchor = self.fork_choice.anchor();
        let mut dropped = self.fork_choice.prune(self.window);
        let moved = self.fork_choice.advance_anchor(self.window);
        if let Some(anchor) = moved.last() {
            let canonical: Vec<(u64, Hash)> = moved.iter().map(|c| (c.height, c.hash)).collect();
            self.store.set_anchor(*anchor, &canonical)?;
            let slot = self.headers.get(&anchor.hash).map_or(0, |h| h.header.slot);
            self.proposals = self.proposals.split_off(&(slot.saturating_add(1), [0; 33]));
            dropped.push(old_anchor.hash);
            dropped.extend(moved.iter().map(|c| c.hash));
        }
        let keep = [self.fork_choice.finalized().hash, self.fork_choice.anchor().hash];
        for hash in dropped.iter().filter(|h| !keep.contains(h)) {
            self.states.remove(hash);
            self.headers.remove(hash);
        }
        Ok(())
    }

    /// Drops the votes outside the window of the head (see [`MAX_VOTE_AHEAD`]).
    fn prune_votes(&mut self) {
        let Some(head) = self.states.get(&self.head).map(|s| s.tip.height) else { return };
        let window = vote_window(head);
        self.seen_votes.retain(|(_, target), _| window.contains(target));
        self.votes.retain(|k, _| window.contains(&k.target.height));
    }

    /// The transactions of the blocks between `old_head` and the point where it joins the
    /// current head's chain: empty unless the head moved to another branch.
    fn orphaned_txs(&self, old_head: Hash) -> Vec<SignedTx> {
        let mut txs = Vec::new();
        let mut cursor = old_head;
        while cursor != self.fork_choice.finalized().hash
            && !self.fork_choice.is_ancestor(&cursor, &self.head)
        {
            let Some(header) = self.headers.get(&cursor) else { break };
            if let Ok(Some(block)) = self.store.block(&cursor) {
                txs.extend(block.txs);
            }
            cursor = header.header.parent;
        }
        txs
    }

    /// A block carrying a certificate that finalizes its source gives light clients a proof:
    /// source header, target header, certificate.
    fn note_finality_proof(&mut self, block: &Block) {
        let Some(cert) = &block.certificate else { return };
        let v = &cert.vote;
        if v.target.height != v.source.height.saturating_add(1) {
            return;
        }
        let (Some(source), Some(target)) =
            (self.header(&v.source.hash), self.header(&v.target.hash))
        else {
            return;
        };
        // The set of the target's epoch is `current` in the state after the target; kept with
        // the proof, so serving proofs reads nothing.
        let target_set =
            self.states.get(&v.target.hash).map(|s| s.meta.current.clone()).or_else(|| {
                self.store.state(&v.target.hash).ok().flatten().map(|s| s.meta.current)
            });
        let proof =
            FinalityProof { source: source.header, target, certificate: cert.clone(), target_set };
        // Keep the newest proof of each epoch (by the target's slot).
        let epoch = self.chain.params.epoch_of(proof.target.header.slot);
        if let Some(last) = self.finality_proofs.back() {
            if last.source.height >= proof.source.height {
                return; // a block re-imported at open: its proof is known already
            }
            if self.chain.params.epoch_of(last.target.header.slot) == epoch {
                self.finality_proofs.pop_back();
            } else {
                // The last proof of an epoch that is over: stored, one write an epoch, not one
                // a block, so that a wallet further behind than memory holds can catch up after
                // a restart (the current epoch's is made again from the blocks re-imported at
                // open). A store failure costs light clients that history, not the node.
                if let Err(e) = self.store.put_finality_proof(last, self.proofs_kept()) {
                    tracing::warn!(error = %e, "storing a finality proof failed");
                }
            }
        }
        self.finality_proofs.push_back(Arc::new(proof));
        if self.finality_proofs.len() > MAX_FINALITY_PROOFS {
            self.finality_proofs.pop_front();
        }
    }

    /// Finality moved from `old` to `new`; `old_anchor` was fork choice's anchor before. `new`
    /// may be above the old anchor (its path is in memory) or at or below it (then the store's
    /// canonical index holds its height already, written when the anchor passed it).
    fn on_finalized(
        &mut self,
        old: Checkpoint,
        new: Checkpoint,
        old_anchor: Checkpoint,
    ) -> Result<(), ImportError> {
        // The canonical chain from the old anchor (exclusive) to new (inclusive), oldest first;
        // at or below the old anchor the index has it.
        let mut canonical = Vec::new();
        let mut cursor = new.hash;
        while cursor != old.hash && cursor != old_anchor.hash {
            let Some(header) = self.headers.get(&cursor) else { break };
            canonical.push((header.header.height, cursor));
            cursor = header.header.parent;
        }
        canonical.reverse();
        if canonical.is_empty() {
            canonical.push((new.height, new.hash));
        }
        self.store.set_finalized(new, &canonical)?;
        // The new finalized block's state and header, from the store if it was below the anchor.
        if !self.states.contains_key(&new.hash)
            && let Some(state) = self.store.state(&new.hash)?
        {
            self.states.insert(new.hash, state);
        }
        if !self.headers.contains_key(&new.hash)
            && let Some(block) = self.store.block(&new.hash)?
        {
            self.headers.insert(new.hash, block.header);
        }
        // Drop states of pruned branches and of blocks below the anchor.
        let keep: std::collections::HashSet<Hash> = self
            .states
            .keys()
            .filter(|h| **h == new.hash || self.fork_choice.contains(h))
            .copied()
            .collect();
        self.states.retain(|h, _| keep.contains(h));
        self.headers.retain(|h, _| keep.contains(h));
        self.votes.retain(|k, _| k.target.height > new.height);
        self.seen_votes.retain(|(_, height), _| *height > new.height);
        // Evidence whose offender is slashed in the finalized state has done its work.
        if let Some(state) = self.states.get(&new.hash) {
            let store = &*self.store;
            self.evidence.retain(|e| {
                !state
                    .account(store, &Address::from_public_key(e.offender()))
                    .is_ok_and(|a| a.slashed)
            });
        }
        let finalized_slot = self.header(&new.hash).map_or(0, |h| h.header.slot);
        self.proposals.retain(|(slot, _), _| *slot > finalized_slot);
        // A kept orphan at or below finality can never be imported, nor a branch forking below it.
        self.orphans.prune(new.height);
        self.deep.retain(|_, t| t.fork.height > new.height || t.fork == new);
        if let Some(proof) = self.finality_proofs.back()
            && proof.source.hash() == new.hash
        {
            self.events.push(Event::Finalized(FinalityProof::clone(proof)));
        }
        tracing::info!(height = new.height, hash = %new.hash, "finalized");
        Ok(())
    }

    /// Admits a transaction to the mempool (checked against the head state).
    pub fn submit_tx(&mut self, tx: SignedTx) -> Result<Hash, Rejection> {
        self.submit(tx, Signatures::Verify, now_ms())
    }

    /// As [`Node::submit_tx`] at Unix time `now_ms` (the mempool's admission time, for expiry).
    pub fn submit_tx_at(&mut self, tx: SignedTx, now_ms: u64) -> Result<Hash, Rejection> {
        self.submit(tx, Signatures::Verify, now_ms)
    }

    /// The mempool's checks of `tx` that come before its signature (already known, nonce,
    /// replacement, gap, the sender's limit, payment), against the head, changing nothing: a
    /// connection asks this before it verifies a signature, so an unfunded sender's
    /// transactions cost no verification (PROTOCOL.md §16.3, *Mempool admission*).
    pub fn precheck_tx(&self, tx: &SignedTx) -> Result<(), Rejection> {
        let state = self.states.get(&self.head).ok_or(Rejection::AlreadyKnown)?;
        self.mempool.precheck(&*self.store, state, tx)
    }

    /// As [`Node::submit_tx`], for a transaction whose signature the caller verified (see
    /// [`verify_tx`]): connection tasks verify before they take the node's lock, so admission
    /// uses every core while the lock covers only the state checks.
    pub fn submit_verified_tx(&mut self, tx: Verified) -> Result<Hash, Rejection> {
        self.submit(tx.0, Signatures::Verified, now_ms())
    }

    fn submit(
        &mut self,
        tx: SignedTx,
        signatures: Signatures<'_>,
        now: u64,
    ) -> Result<Hash, Rejection> {
        let state = self.states.get(&self.head).ok_or(Rejection::AlreadyKnown)?;
        let id =
            self.mempool.insert(&*self.store, &self.chain, state, tx.clone(), now, signatures)?;
        // Admitted means its signature verified (the mempool checks it through core).
        self.sigcache.insert(&tx);
        self.announce_ready();
        Ok(id)
    }

    /// Whether a block of `slot` is still news at `now_ms` and is relayed (PROTOCOL.md §16.5):
    /// at most one epoch behind the clock. Older blocks are history, fetched by sync; relaying
    /// them would send every block a syncing relay imports back out to all its peers, faster
    /// than their connections drain.
    fn is_recent(&self, slot: u64, now_ms: u64) -> bool {
        let now = pos::slot_at(self.chain.genesis_time_ms, self.chain.params.slot_ms, now_ms);
        now.is_none_or(|now| slot.saturating_add(self.chain.params.slots_per_epoch) >= now)
    }

    /// Gossips what became ready in the mempool (a held transaction only once its gap filled):
    /// a relay passes on only what could go in its next block.
    fn announce_ready(&mut self) {
        let ready = self.mempool.take_newly_ready();
        self.events.extend(ready.into_iter().map(Event::Tx));
    }

    /// The nonce `address`'s next transaction should carry: its account's at the head, after
    /// its ready transactions in the mempool. `None` before the node has a head state.
    pub fn next_nonce(&self, address: &Address) -> Option<u64> {
        let state = self.states.get(&self.head)?;
        let account = state.account(&*self.store, address).ok()?;
        Some(self.mempool.next_nonce(address, account.nonce))
    }

    /// The newest transactions of `address` on the head chain (sent, or transfers received),
    /// at most `max`, newest first: (height, block hash, index in block, transaction). Looks at
    /// most `4 × max` index entries, so branches that lost cost little. The head chain above
    /// the anchor is read in one walk down from the head ([`Node::hashes_from`]), not one walk
    /// per entry ([`Node::hash_at`]); below it, each height is one read of the store's index.
    pub fn account_history(
        &self,
        address: &Address,
        max: usize,
    ) -> Result<Vec<(u64, Hash, u32, SignedTx)>, StoreError> {
        let entries = self.store.account_txs(address, max.saturating_mul(4))?;
        let anchor = self.fork_choice.anchor().height;
        let lowest = entries.iter().map(|e| e.0).filter(|h| *h > anchor).min();
        let above = lowest.map_or_else(Vec::new, |from| self.hashes_from(from, u64::MAX));
        let on_head = |height: u64| match lowest {
            Some(from) if height > anchor => {
                let i = usize::try_from(height.saturating_sub(from)).ok()?;
                above.get(i).copied()
            }
            _ => self.hash_at(height),
        };
        let mut out = Vec::new();
        for (height, block, index) in entries {
            if out.len() >= max || on_head(height) != Some(block) {
                continue;
            }
            let tx = self.block(&block).and_then(|b| b.txs.get(index as usize).cloned());
            if let Some(tx) = tx {
                out.push((height, block, index, tx));
            }
        }
        Ok(out)
    }

    /// Records a vote; builds evidence if it conflicts with an earlier vote of the same validator.
    pub fn on_vote(&mut self, vote: SignedVote) -> Result<(), VoteError> {
        let epoch_set = self
            .states
            .get(&self.head)
            .and_then(|s| {
                state::voting_set(s, vote.vote.epoch)
                    .or_else(|| (s.meta.epoch + 1 == vote.vote.epoch).then_some(&s.meta.next))
            })
            .ok_or(VoteError::NotAValidator)?;
        if epoch_set.index_of(&vote.validator).is_none() {
            return Err(VoteError::NotAValidator);
        }
        let head = self.states.get(&self.head).map_or(0, |s| s.tip.height);
        let target = vote.vote.target.height;
        if !vote_window(head).contains(&target) {
            return Err(VoteError::OutsideWindow { target, head });
        }
        let who = *vote.validator.as_bytes();
        let key = (who, target);
        // A vote we already hold is dropped before paying for its signature check.
        if self.seen_votes.get(&key).is_some_and(|earlier| earlier.vote == vote.vote) {
            return Err(VoteError::AlreadyKnown);
        }
        vote.verify_signature(&self.chain.id).map_err(|_| VoteError::BadSignature)?;
        let first_slot = vote.vote.epoch.saturating_mul(self.chain.params.slots_per_epoch);
        self.watch_key(&vote.validator.clone(), first_slot, "vote");
        // Any earlier vote of this validator that this one conflicts with: same target height
        // (double vote) or a span surrounding or surrounded by it (surround vote), among its
        // votes kept: at most VOTES_PER_VALIDATOR.
        let conflicting = self
            .seen_votes
            .range((who, 0)..=(who, u64::MAX))
            .find(|(_, earlier)| earlier.vote.conflicts_with(&vote.vote))
            .map(|(_, earlier)| earlier.clone());
        if let Some(earlier) = conflicting {
            if let Some(e) = Evidence::double_vote(earlier, vote.clone()) {
                self.add_evidence(e);
            }
            return Err(VoteError::Equivocation);
        }
        self.seen_votes.insert(key, vote.clone());
        debug_assert!(
            self.seen_votes.range((who, 0)..=(who, u64::MAX)).count() <= VOTES_PER_VALIDATOR
        );
        self.votes.entry(VoteKey::from(&vote.vote)).or_default().insert(who, vote.clone());
        self.events.push(Event::Vote(vote));
        Ok(())
    }

    /// Queues verified evidence for our next proposals and gossips it: one piece per offender
    /// (one slashes it; more would let an equivocator crowd others' evidence out of the queue).
    pub fn add_evidence(&mut self, evidence: Evidence) {
        // Only evidence a block could still use (core refuses `NothingToSlash` and
        // `AlreadySlashed`) is kept and gossiped: otherwise anyone could sign double votes with
        // throw-away keys and push real evidence out of the bounded queue. Checked before the
        // signatures, the costly part.
        let offender = Address::from_public_key(evidence.offender());
        let slashable = self
            .head_state()
            .and_then(|s| s.account(&*self.store, &offender).ok())
            .is_some_and(|a| a.is_slashable());
        if !slashable
            || self.evidence.iter().any(|e| e.offender() == evidence.offender())
            || evidence.verify(&self.chain.id).is_err()
        {
            return;
        }
        self.evidence.push_back(evidence.clone());
        if self.evidence.len() > 64 {
            self.evidence.pop_front();
        }
        self.events.push(Event::Evidence(evidence));
    }

    /// The best certificate a block on top of `state` can carry, among the links from its
    /// justified checkpoint `J` that have a supermajority: the link to `J`'s child if there is
    /// one, since it finalizes `J` (PROTOCOL.md §10.3 rule 7); else the newest.
    ///
    /// Newest first alone stalled finality (simulation seed 5069): when every other block comes
    /// from a proposer that carries no certificate, `J`'s child gets its votes (`J → J+1`) only
    /// after the next block `J+2` is out and voted on (`J → J+2`), and taking the higher link
    /// justified `J+2` every time and finalized nothing.
    fn best_certificate(&self, state: &ChainState) -> Option<Certificate> {
        let justified = state.meta.justified;
        let links = self.votes.iter().rev().filter(|(k, _)| {
            k.source == justified
                && k.target.height > justified.height
                && certifiable_target(state, &k.target)
        });
        let certify = |(k, votes): (&VoteKey, &BTreeMap<[u8; 33], SignedVote>)| {
            let vote = Vote { epoch: k.epoch, source: k.source, target: k.target };
            let set = state::voting_set(state, k.epoch)?;
            let cert = Certificate::from_votes(vote, set, votes.values());
            cert.verify(&self.chain.id, set).ok().map(|_| cert)
        };
        let child = justified.height.saturating_add(1);
        links
            .clone()
            .filter(|(k, _)| k.target.height == child)
            .find_map(certify)
            .or_else(|| links.clone().find_map(certify))
    }

    /// Doppelganger protection, as a validator starts: for `epochs` epochs from `now_ms` it
    /// signs nothing and watches the blocks and votes it receives; one signed with its key for a
    /// slot in that time was made by another node with the same key (two nodes signing with one
    /// key are slashed for the first pair of different blocks or votes they make), and the
    /// validator then never signs until restarted. A restart costs `epochs` epochs of duties.
    pub fn watch_for_doppelganger(&mut self, epochs: u64, now_ms: u64) {
        if self.validator.is_none() || epochs == 0 {
            return;
        }
        let params = &self.chain.params;
        let now = pos::slot_at(self.chain.genesis_time_ms, params.slot_ms, now_ms).unwrap_or(0);
        let until = now.saturating_add(epochs.saturating_mul(params.slots_per_epoch));
        tracing::info!(
            "doppelganger protection: watching for blocks and votes of this validator's key \
             until slot {until} ({epochs} epochs) before signing anything"
        );
        self.watch = Some(now..until);
    }

    /// What showed that another node signs with this validator's key, if anything did.
    pub fn doppelganger(&self) -> Option<&str> {
        self.doppelganger.as_deref()
    }

    /// Whether the validator is holding back: watching for a doppelganger, stopped by one, or
    /// behind the network (not synced). `None` without a validator key.
    pub fn signing(&self) -> Option<Signing> {
        self.validator.as_ref()?;
        Some(if self.doppelganger.is_some() {
            Signing::Doppelganger
        } else if self.watch.is_some() {
            Signing::Watching
        } else if self.behind_since.is_some() {
            Signing::Syncing
        } else {
            Signing::Signing
        })
    }

    /// A block or vote of `key` for `slot` was received: during the watch, if the key is ours,
    /// another node signed it.
    fn watch_key(&mut self, key: &PublicKey, slot: u64, what: &str) {
        let Some(watch) = &self.watch else { return };
        // Strictly after the start: a block or vote this node made in its slot before a
        // restart is its own.
        if slot <= watch.start
            || self.validator.as_ref().is_none_or(|v| v.key.public_key() != *key)
            || self.doppelganger.is_some()
        {
            return;
        }
        let seen = format!("a {what} for slot {slot} signed with this validator's key");
        tracing::error!(
            "doppelganger: {seen} reached us while this node has signed nothing since it started \
             (slot {}): another node runs with the same key. This node will not sign; stop \
             the other one, then restart this one",
            watch.start
        );
        self.doppelganger = Some(seen);
    }

    /// Counts the slots before `now` that elected us and passed without our proposal (once
    /// each; only slots in which the validator was signing, so a watch or a sync is not
    /// counted as missed).
    fn count_missed(&mut self, validator: &ValidatorKey, now: u64) {
        let previous = now.saturating_sub(1);
        if self.duties.checked_slot == 0 {
            self.duties.checked_slot = previous;
            return;
        }
        if previous <= self.duties.checked_slot {
            return;
        }
        self.duties.checked_slot = previous;
        let Some(state) = self.states.get(&self.head) else { return };
        let elected = state.tip.slot < previous
            && state::proposer_for(&self.chain, state, previous).as_ref()
                == Some(&validator.key.public_key());
        if elected && self.last_proposed_slot != Some(previous) {
            self.duties.missed = self.duties.missed.saturating_add(1);
        }
    }

    /// What the validator did since the node opened.
    pub fn duties(&self) -> Duties {
        self.duties
    }

    /// Whether the node is behind the network: its head more than two epochs old by the clock
    /// while it holds signed blocks above it (a node whose peers are all as stale — a stall —
    /// is not behind: someone must propose).
    fn behind(&self, slot: u64) -> bool {
        let Some(state) = self.states.get(&self.head) else { return true };
        let old = slot
            > state.tip.slot.saturating_add(self.chain.params.slots_per_epoch.saturating_mul(2));
        let height = state.tip.height;
        old && self.orphans.headers().any(|o| o.header.height > height.saturating_add(1))
    }

    /// Validator duties at `now_ms`: propose if elected for the current slot, then vote for the
    /// head. Returns whether anything was done. Nothing is signed during the doppelganger
    /// watch, after a doppelganger was seen, or while the node is behind the network.
    pub fn tick(&mut self, now_ms: u64) -> bool {
        let Some(validator) = self.validator.clone() else { return false };
        let params = &self.chain.params;
        let now = pos::slot_at(self.chain.genesis_time_ms, params.slot_ms, now_ms);
        if self.doppelganger.is_some() {
            return false;
        }
        if let Some(watch) = &self.watch {
            match now {
                Some(slot) if slot < watch.end => return false,
                Some(_) => tracing::info!(
                    "doppelganger protection: no other node signed with this key; signing"
                ),
                // Started before genesis: nobody can have signed yet, and waiting would only
                // delay the chain's start (two nodes started with one key before genesis are
                // not told apart).
                None => tracing::info!(
                    "doppelganger protection: started before genesis, nothing to watch for; \
                     signing from genesis"
                ),
            }
            self.watch = None;
        }
        let slot_now = now.unwrap_or(0);
        let behind = self.behind(slot_now);
        let grace = params.slots_per_epoch.saturating_mul(SYNC_GRACE_EPOCHS);
        match (behind, self.behind_since) {
            (true, None) => {
                tracing::warn!("behind the network: not signing until synced");
                self.behind_since = Some(slot_now);
            }
            (false, Some(_)) => {
                tracing::info!("synced: signing");
                self.behind_since = None;
            }
            _ => {}
        }
        // Held back at most `grace` slots in a row: blocks above the head that never connect
        // (a validator can sign one on a made-up parent) must not silence us for good.
        if let Some(since) = self.behind_since
            && slot_now < since.saturating_add(grace)
        {
            return false;
        }
        if let Some(slot) = now {
            self.count_missed(&validator, slot);
        }
        let mut acted = false;
        if let Some(slot) = now
            && self.last_proposed_slot.is_none_or(|s| s < slot)
        {
            acted |= self.propose(&validator, slot, now_ms);
        }
        acted |= self.vote(&validator);
        acted |= self.renew(&validator, now_ms);
        acted
    }

    fn propose(&mut self, validator: &ValidatorKey, slot: u64, now_ms: u64) -> bool {
        let Some(state) = self.states.get(&self.head).cloned() else { return false };
        if slot <= state.tip.slot {
            return false;
        }
        let me = validator.key.public_key();
        if state::proposer_for(&self.chain, &state, slot).as_ref() != Some(&me) {
            return false;
        }
        self.last_proposed_slot = Some(slot);
        if let Err(e) = self.store.set_last_proposal(slot) {
            tracing::error!("cannot record our proposal slot, not proposing: {e}");
            return false;
        }
        let Some(commitment) = state::commitment_to_open(&self.chain, &state, &me, slot) else {
            tracing::warn!("elected but not registered");
            return false;
        };
        let Some(reveal) = self.reveal_for(&validator.chain, &commitment) else {
            tracing::error!(
                "no reveal left for the registered commitment (hash chain used up, or not this \
                 key file's); cannot propose"
            );
            return false;
        };
        let mut candidates = self.mempool.select(
            |a| state.account(&*self.store, a).map(|acc| acc.nonce).unwrap_or(0),
            self.chain.params.max_block_txs as usize,
        );
        // One piece of evidence per block keeps our own nonce simple: the first whose offender
        // this state can still slash. Evidence against an offender already slashed on this
        // branch would be refused (`AlreadySlashed`) and, if taken first, would hold every other
        // piece back; it stays queued for other branches until finality settles it.
        let store = &*self.store;
        let slashable = |e: &&Evidence| {
            state
                .account(store, &Address::from_public_key(e.offender()))
                .is_ok_and(|a| a.is_slashable())
        };
        if let Some(e) = self.evidence.iter().find(slashable) {
            let nonce = state
                .account(&*self.store, &Address::from_public_key(&me))
                .map(|a| a.nonce)
                .unwrap_or(0);
            let tx = Tx {
                chain_id: self.chain.id,
                sender: me.clone(),
                nonce,
                fee: self.chain.params.min_fee,
                kind: TxKind::Evidence(Box::new(e.clone())),
            };
            candidates.insert(0, tx.sign(&validator.key));
        }
        let cert = self.best_certificate(&state);
        // Every candidate's signature is known good: the mempool verified each on admission,
        // and the evidence transaction is our own.
        let verified = vec![true; candidates.len()];
        let build = |cert| {
            state::build_block(
                &*self.store,
                &self.chain,
                &state,
                &validator.key,
                slot,
                &reveal,
                &candidates,
                cert,
                Signatures::Checked(&verified),
            )
        };
        // A certificate that does not fit must never cost the slot: build without it.
        let built = match build(cert.clone()) {
            Err(e) if cert.is_some() => {
                tracing::warn!("certificate left out: {e}");
                build(None)
            }
            other => other,
        };
        match built {
            Ok(built) => {
                let height = built.block.header.header.height;
                let count = built.block.txs.len();
                match self.import_block_at(built.block, now_ms) {
                    Ok(()) => {
                        tracing::info!(slot, height, txs = count, "proposed block");
                        self.duties.proposed = self.duties.proposed.saturating_add(1);
                        // Below two epochs of slots with no renewal announced (a renewal is sent
                        // long before, at `renew_below`): it may run out before one takes effect.
                        let urgent = self.chain.params.slots_per_epoch.saturating_mul(2);
                        if let Some(left) = self.reveals_left().filter(|l| *l <= urgent) {
                            tracing::warn!(left, "few reveals left on the hash chain");
                        }
                        true
                    }
                    Err(e) => {
                        tracing::error!("own block rejected: {e}");
                        false
                    }
                }
            }
            Err(e) => {
                tracing::error!("cannot build block: {e}");
                false
            }
        }
    }

    /// The reveal that opens `commitment`, from our current chain or the one we renewed to (then
    /// that one becomes current, and the store remembers it before we sign with it).
    fn reveal_for(&mut self, chain: &HashChain, commitment: &Hash) -> Option<Hash> {
        let chains = self.chains.as_mut()?;
        if let Some(reveal) = chains.current.preimage_of(commitment) {
            return Some(reveal);
        }
        if let Some(reveal) = chains.previous.as_ref().and_then(|p| p.preimage_of(commitment)) {
            // A branch still registered to the generation before: reveal from it.
            return Some(reveal);
        }
        let reveal = chains.next.preimage_of(commitment)?;
        chains.advance(chain);
        if let Err(e) = self.store.set_chain_generation(chains.generation) {
            tracing::error!("cannot record the hash chain's generation, not proposing: {e}");
            return None;
        }
        tracing::info!(generation = chains.generation, "revealing from the renewed hash chain");
        Some(reveal)
    }

    /// Makes sure the indexed generations hold the head state's registered commitment: a key
    /// file or phrase used with a new data dir (the store's generation lost), or a wallet that
    /// registered its chain again from generation 0, leaves it on another generation. Searches
    /// the first [`GENERATIONS_SEARCHED`] at open, before anyone waits on the node.
    fn find_own_generation(&mut self) -> Result<(), NodeError> {
        let (Some(v), Some(chains)) = (&self.validator, &self.chains) else { return Ok(()) };
        let Some(state) = self.states.get(&self.head) else { return Ok(()) };
        let Some(r) = state.meta.registration(&v.key.public_key()) else { return Ok(()) };
        if chains.remaining(&r.commitment).is_some() {
            return Ok(());
        }
        let found = (0..GENERATIONS_SEARCHED)
            .find(|g| pos::Reveals::new(&v.chain.renewal(*g)).remaining(&r.commitment).is_some());
        match found {
            Some(g) => {
                tracing::info!(generation = g, "the registered hash chain is generation {g}");
                self.chains = Some(OwnChains::new(&v.chain, g));
                self.store.set_chain_generation(g)?;
            }
            None => tracing::error!(
                "the registered commitment is on none of the first {GENERATIONS_SEARCHED} \
                 generations of this key file's hash chain: this validator cannot propose"
            ),
        }
        Ok(())
    }

    /// Reveals this validator can still make from the head state: left on its registered chain,
    /// plus a whole chain if it announced a renewal. `None` without a validator key, or if the
    /// head's registration is none of ours.
    pub fn reveals_left(&self) -> Option<u64> {
        let chains = self.chains.as_ref()?;
        let me = self.validator.as_ref()?.key.public_key();
        let state = self.states.get(&self.head)?;
        let r = state.meta.registration(&me)?;
        let left = chains.remaining(&r.commitment)?;
        let renewed = if r.renewal == Hash::ZERO { 0 } else { chains.length() };
        Some(left.saturating_add(renewed))
    }

    /// Renews our hash chain (PROTOCOL.md §9.3) once at most [`Self::renew_below`] reveals are
    /// left on the registered one and no renewal is announced: a stake of 0 carrying the next
    /// generation's commitment, sent through our own mempool like any transaction. The renewal
    /// takes effect at the next epoch transition, well before the old chain ends.
    ///
    /// The same transaction shows we are alive (§9.5, inactivity) once we are out of the
    /// current set and the head state would leave us out of the next snapshot: after a long
    /// time offline, or a stall without certificates in which we were not elected. (Inside the
    /// current set only proposing and signing count.)
    fn renew(&mut self, validator: &ValidatorKey, now_ms: u64) -> bool {
        let slot = pos::slot_at(self.chain.genesis_time_ms, self.chain.params.slot_ms, now_ms);
        let epoch_slots = self.chain.params.slots_per_epoch;
        if self.renewal_refused.is_some_and(|r| slot < Some(r.saturating_add(epoch_slots))) {
            return false;
        }
        let Some(state) = self.states.get(&self.head) else { return false };
        let me = validator.key.public_key();
        let Some(r) = state.meta.registration(&me) else { return false };
        let inactive_soon = r.is_inactive_at(state.meta.epoch.saturating_add(2))
            && state.meta.current.index_of(&me).is_none();
        let Some(chains) = self.chains.as_ref() else { return false };
        if r.renewal != Hash::ZERO {
            return false;
        }
        // The registered commitment is on the current chain, or already on the next one: the
        // renewal took effect and we have not proposed since. Then the next one becomes
        // current now, before we renew again, or a validator that is seldom elected would
        // renew generation after generation past the two it holds (simulation seed 19).
        let commitment = r.commitment;
        let left = match chains.current.remaining(&commitment) {
            Some(left) => left,
            None => {
                let Some(left) = chains.next.remaining(&commitment) else { return false };
                if let Some(chains) = self.chains.as_mut() {
                    chains.advance(&validator.chain);
                    if let Err(e) = self.store.set_chain_generation(chains.generation) {
                        tracing::error!("cannot record the hash chain's generation: {e}");
                        return false;
                    }
                }
                left
            }
        };
        let generation = self.chains.as_ref().map_or(0, |c| c.generation);
        if left > self.renew_below() && !inactive_soon {
            return false;
        }
        if let Some((id, announced)) = self.renewal_sent
            && let Some(tx) = self.mempool.get(&id)
        {
            // Still pending: announced again once an epoch, for a gossip can be lost (a
            // connection that fell behind the event stream, no peer yet after a restart)
            // and a validator out of the set has no block of its own to carry it.
            if slot.is_some_and(|s| s >= announced.saturating_add(epoch_slots)) {
                tracing::info!("hash chain renewal announced again");
                self.events.push(Event::Tx(tx.clone()));
                self.renewal_sent = Some((id, slot.unwrap_or(announced)));
                return true;
            }
            return false;
        }
        let commitment = validator.chain.renewal(generation.saturating_add(1)).commitment();
        let Some(nonce) = self.next_nonce(&Address::from_public_key(&me)) else { return false };
        let tx = Tx {
            chain_id: self.chain.id,
            sender: me,
            nonce,
            fee: self.chain.params.min_fee,
            kind: TxKind::Stake { amount: 0, commitment },
        }
        .sign(&validator.key);
        let id = tx.id();
        match self.submit(tx, Signatures::Verified, now_ms) {
            Ok(_) => {
                tracing::warn!(
                    left,
                    inactive_soon,
                    generation = generation + 1,
                    "hash chain renewal sent"
                );
                self.renewal_sent = Some((id, slot.unwrap_or(0)));
                true
            }
            Err(e) => {
                tracing::error!(left, "hash chain renewal refused by the mempool: {e}");
                self.renewal_sent = None;
                self.renewal_refused = slot;
                false
            }
        }
    }

    /// Reveals left at or below which a validator renews: four epochs of slots (a renewal
    /// needs a block to carry it and takes effect at the next epoch transition), or a tenth of
    /// the chain if that is more.
    fn renew_below(&self) -> u64 {
        let length = self.chains.as_ref().map_or(0, OwnChains::length);
        self.chain.params.slots_per_epoch.saturating_mul(4).max(length / 10)
    }

    /// Votes once per head: source = the head state's justified checkpoint, target = the head.
    /// Never two votes with one target height, never a vote surrounding or surrounded by our own.
    fn vote(&mut self, validator: &ValidatorKey) -> bool {
        let Some(state) = self.states.get(&self.head) else { return false };
        if self.head == self.fork_choice.finalized().hash && state.tip.height == 0 {
            return false;
        }
        let vote = Vote {
            epoch: self.chain.params.epoch_of(state.tip.slot),
            source: state.meta.justified,
            target: Checkpoint { height: state.tip.height, hash: state.tip.hash },
        };
        // The cheap test first: `tick` calls this ten times a slot, and deriving our public key
        // costs a scalar multiplication.
        if let Some(last) = &self.last_vote
            && (last.target.height >= vote.target.height || last.conflicts_with(&vote))
        {
            return false;
        }
        if state.meta.current.index_of(&validator.key.public_key()).is_none() {
            return false;
        }
        // Durable before signed: a vote the store did not record is not signed at all.
        if let Err(e) = self.store.set_last_vote(&vote) {
            tracing::error!("cannot record our vote, not voting: {e}");
            return false;
        }
        self.last_vote = Some(vote);
        let signed = vote.sign(&self.chain.id, &validator.key);
        let _ = self.on_vote(signed);
        self.duties.votes = self.duties.votes.saturating_add(1);
        true
    }

    pub fn account_proof(
        &self,
        address: &Address,
        head: bool,
    ) -> Option<(SignedHeader, AccountProof)> {
        let view = self.account_view(head)?;
        let proof =
            light::prove_account_at(&*self.store, view.accounts_root, view.meta_hash, address);
        Some((view.header, proof.ok()?))
    }

    /// What an account proof at the head (or the finalized block) is read against: its header
    /// and its state's two roots. The proof itself is read from the store by whoever asks
    /// ([`light::prove_account_at`] over a [`crate::store::StoreReader`]), off the node's lock.
    pub fn account_view(&self, head: bool) -> Option<AccountView> {
        let hash = if head { self.head } else { self.fork_choice.finalized().hash };
        let state = self.states.get(&hash)?;
        let header = self.header(&hash)?;
        Some(AccountView {
            header,
            accounts_root: state.accounts_root,
            meta_hash: state.meta.hash(),
        })
    }

    /// The finalized state's chain meta with what proves it against the finalized block's state
    /// root (`get_meta`): a bounded object (the registry and the validator sets, each at most
    /// `max_validators`), encoded once a finalized block and shared. `None` while the finalized
    /// block is genesis, whose state a client builds itself.
    pub fn finalized_meta(&mut self) -> Option<Arc<FinalizedMeta>> {
        let finalized = self.fork_choice.finalized();
        if finalized.height == 0 {
            return None;
        }
        if let Some(made) = &self.finalized_meta
            && made.finalized == finalized
        {
            return Some(made.clone());
        }
        let state = self.states.get(&finalized.hash)?;
        let made = Arc::new(FinalizedMeta {
            finalized,
            accounts_root: state.accounts_root,
            meta_hex: hex::encode(state.meta.to_bytes()),
        });
        self.finalized_meta = Some(made.clone());
        Some(made)
    }

    pub fn tx_status(&self, id: &Hash) -> TxStatus {
        if self.mempool.contains(id) {
            return TxStatus::Pending;
        }
        match self.store.tx_location(id).ok().flatten() {
            Some((block, index)) => {
                let Some(header) = self.header(&block) else { return TxStatus::Unknown };
                let height = header.header.height;
                // Included on the head chain (or finalized); a block on a dead branch is not.
                if self.hash_at(height) != Some(block) {
                    return TxStatus::Unknown;
                }
                let finalized = height <= self.fork_choice.finalized().height;
                TxStatus::Included { block, height, index, finalized }
            }
            None => TxStatus::Unknown,
        }
    }

    /// Finality proofs for a light client at finalized height `since`: the newest per epoch
    /// after it, with the target epoch's validator set where the epoch changes. Older than
    /// memory holds, they come from the store, at most 256 a request.
    pub fn finality_proofs(&self, since: u64) -> Vec<Arc<FinalityProof>> {
        let in_memory = self.finality_proofs.front().is_none_or(|p| p.source.height <= since);
        if !in_memory
            && let Ok(stored) = self.store.finality_proofs(since, MAX_STORED_PROOFS_SERVED)
            && !stored.is_empty()
        {
            return stored.into_iter().map(Arc::new).collect();
        }
        self.finality_proofs.iter().filter(|p| p.source.height > since).cloned().collect()
    }

    /// Epochs of finality proofs the store keeps: at least the weak-subjectivity window (a
    /// client may skip from a position of that age, PROTOCOL.md §13.2) and memory's count.
    fn proofs_kept(&self) -> u64 {
        let window = self.chain.params.unbonding_epochs.saturating_add(2);
        window.max(MAX_FINALITY_PROOFS as u64)
    }

    /// The newest finality proof, if it is above `since`: what a light client far behind tries
    /// first, since it may skip every epoch between (PROTOCOL.md §13.4).
    pub fn latest_finality_proof(&self, since: u64) -> Option<Arc<FinalityProof>> {
        self.finality_proofs.back().filter(|p| p.source.height > since).cloned()
    }
}

/// This validator's hash chains: generation `generation`, which it reveals from, and the next,
/// which it renews to (PROTOCOL.md §9.3), both indexed.
#[derive(Debug)]
struct OwnChains {
    generation: u64,
    /// The generation before `current`, while a reorg could bring back a state registered to it.
    previous: Option<pos::Reveals>,
    current: pos::Reveals,
    next: pos::Reveals,
}

impl OwnChains {
    fn new(chain: &HashChain, generation: u64) -> Self {
        OwnChains {
            generation,
            previous: generation.checked_sub(1).map(|g| pos::Reveals::new(&chain.renewal(g))),
            current: pos::Reveals::new(&chain.renewal(generation)),
            next: pos::Reveals::new(&chain.renewal(generation.saturating_add(1))),
        }
    }

    /// The next generation becomes current, and the one after it is indexed.
    fn advance(&mut self, chain: &HashChain) {
        self.generation = self.generation.saturating_add(1);
        let after = pos::Reveals::new(&chain.renewal(self.generation.saturating_add(1)));
        let current = std::mem::replace(&mut self.next, after);
        self.previous = Some(std::mem::replace(&mut self.current, current));
    }

    fn remaining(&self, commitment: &Hash) -> Option<u64> {
        self.current
            .remaining(commitment)
            .or_else(|| self.next.remaining(commitment))
            .or_else(|| self.previous.as_ref()?.remaining(commitment))
    }

    fn length(&self) -> u64 {
        self.current.length()
    }
}

/// Blocks whose parent is unknown, kept until it is imported: by (parent, block id), with their
/// encoded sizes, oldest first in `order`. Bounded by [`MAX_ORPHANS`] blocks and
/// [`MAX_ORPHAN_BYTES`] (oldest out first); the per-proposer bound is the caller's.
#[derive(Debug, Default)]
struct Orphans {
    blocks: BTreeMap<(Hash, Hash), (Block, usize)>,
    order: VecDeque<(Hash, Hash)>,
    bytes: usize,
}

impl Orphans {
    fn key(block: &Block) -> (Hash, Hash) {
        (block.header.header.parent, block.hash())
    }

    fn contains(&self, block: &Block) -> bool {
        self.blocks.contains_key(&Self::key(block))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.blocks.len()
    }

    fn count_of(&self, proposer: &PublicKey) -> usize {
        self.blocks.values().filter(|(b, _)| b.header.header.proposer == *proposer).count()
    }

    fn headers(&self) -> impl Iterator<Item = &SignedHeader> {
        self.blocks.values().map(|(b, _)| &b.header)
    }

    fn insert(&mut self, block: Block) {
        let key = Self::key(&block);
        let size = block.to_bytes().len();
        if let Some((_, old)) = self.blocks.insert(key, (block, size)) {
            self.bytes = self.bytes.saturating_sub(old);
            self.order.retain(|k| *k != key);
        }
        self.bytes = self.bytes.saturating_add(size);
        self.order.push_back(key);
        while self.blocks.len() > MAX_ORPHANS || self.bytes > MAX_ORPHAN_BYTES {
            let Some(oldest) = self.order.pop_front() else { break };
            self.remove(&oldest);
        }
    }

    fn remove(&mut self, key: &(Hash, Hash)) -> Option<Block> {
        let (block, size) = self.blocks.remove(key)?;
        self.bytes = self.bytes.saturating_sub(size);
        self.order.retain(|k| k != key);
        Some(block)
    }

    /// Removes and returns the kept children of `parent`.
    fn take_children(&mut self, parent: &Hash) -> Vec<Block> {
        let keys: Vec<(Hash, Hash)> = self
            .blocks
            .range((*parent, Hash::ZERO)..=(*parent, Hash([0xff; 32])))
            .map(|(k, _)| *k)
            .collect();
        keys.iter().filter_map(|k| self.remove(k)).collect()
    }

    /// Drops the blocks at or below `height` (finalized: they can never be imported).
    fn prune(&mut self, height: u64) {
        let stale: Vec<(Hash, Hash)> = self
            .blocks
            .iter()
            .filter(|(_, (b, _))| b.header.header.height <= height)
            .map(|(k, _)| *k)
            .collect();
        for k in &stale {
            self.remove(k);
        }
    }
}

/// The finalized block, its state's accounts root and its chain meta as hex: a `get_meta` reply
/// ([`Node::finalized_meta`]).
#[derive(Debug)]
pub struct FinalizedMeta {
    pub finalized: Checkpoint,
    pub accounts_root: Hash,
    pub meta_hex: String,
}

/// Why the node could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum NodeError {
    Genesis(String),
    Store(String),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Genesis(e) => write!(f, "genesis: {e}"),
            // The text starts with `store: ` already (`StoreError`'s display).
            Self::Store(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for NodeError {}

impl From<StoreError> for NodeError {
    fn from(e: StoreError) -> Self {
        NodeError::Store(e.to_string())
    }
}

/// Whether a block built on `state` may carry a certificate targeting `target`: the target must
/// be `state`'s tip or one of the ancestors the state remembers (PROTOCOL.md §8.5), at its height.
fn certifiable_target(state: &ChainState, target: &Checkpoint) -> bool {
    if target.hash == state.tip.hash {
        return target.height == state.tip.height;
    }
    let back = state.tip.height.saturating_sub(target.height);
    let len = state.meta.recent.len() as u64;
    back >= 1
        && back <= len
        && state.meta.recent.get((len - back) as usize).is_some_and(|r| r.hash == target.hash)
}

/// The target heights of the votes kept at head height `head`: `RECENT_BLOCKS` below it to
/// `MAX_VOTE_AHEAD` above, `VOTES_PER_VALIDATOR` heights.
fn vote_window(head: u64) -> std::ops::RangeInclusive<u64> {
    head.saturating_sub(RECENT_BLOCKS as u64)..=head.saturating_add(MAX_VOTE_AHEAD)
}

/// A block whose header signature verified and whose body is the one its header commits to;
/// only [`check_block`] makes one. The network checks blocks before it takes the node's lock
/// and hands them over as this, so the node need not check them again to keep them as orphans.
#[derive(Debug, Clone)]
pub struct Checked(Block);

impl Checked {
    pub fn block(&self) -> &Block {
        &self.0
    }
}

/// Whether a block reaching [`Node::import_one`] was [`Checked`] already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checks {
    Done,
    ToDo,
}

/// Checks what of `block` needs no state (the expensive part is one signature check, so the
/// network does it without the node): the proposer's signature (`BadProposerSignature`), then
/// the body against the header ([`Block::check_body`]), with `apply_block`'s errors.
pub fn check_block(block: Block, chain: &Chain) -> Result<Checked, BlockError> {
    block.header.verify_signature(&chain.id).map_err(|_| BlockError::BadProposerSignature)?;
    block.check_body(chain.params.max_block_txs)?;
    Ok(Checked(block))
}

/// Epochs in a row a validator holds back while behind the network before it signs on its own
/// head anyway ([`Node::tick`]).
pub const SYNC_GRACE_EPOCHS: u64 = 2;

/// What a validator does with its duties ([`Node::signing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// Proposing and voting.
    Signing,
    /// In the doppelganger watch after start: signing nothing yet.
    Watching,
    /// Behind the network: signing nothing until synced.
    Syncing,
    /// Another node signs with this key: signing nothing until restarted.
    Doppelganger,
}

/// A transaction whose signature verified; only [`verify_tx`] makes one.
#[derive(Debug, Clone)]
pub struct Verified(SignedTx);

/// Verifies `tx`'s signature (the expensive part of admission), without the node.
pub fn verify_tx(tx: SignedTx) -> Result<Verified, Rejection> {
    match tx.verify_signature() {
        Ok(()) => Ok(Verified(tx)),
        Err(_) => Err(Rejection::Invalid(state::TxError::BadSignature)),
    }
}

/// How far this process's clock is set off the system's, in ms ([`set_clock_offset_ms`]).
static CLOCK_OFFSET_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Runs this process's clock `offset` ms off the system's (negative: behind). The relay's
/// hidden `--clock-offset-ms`, for a testnet host whose clock is wrong (`cargo xtask testnet`):
/// every reading of the time by the node and the relay goes through [`now_ms`].
pub fn set_clock_offset_ms(offset: i64) {
    CLOCK_OFFSET_MS.store(offset, std::sync::atomic::Ordering::Relaxed);
}

/// Unix time in ms, by this process's clock (the system's, shifted by [`set_clock_offset_ms`]).
pub fn now_ms() -> u64 {
    let system = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    system.saturating_add_signed(CLOCK_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    fn node(dir: &Path) -> (Node, ValidatorKey) {
        // Started a minute ago: slots up to ~60 have begun.
        let genesis = keys::devnet_genesis(1, now_ms() - 60_000).unwrap();
        let v = keys::devnet_validator(0).unwrap();
        (Node::open(genesis, dir, Some(v.clone())).unwrap(), v)
    }

    fn block_at(n: &Node, v: &ValidatorKey, slot: u64) -> Block {
        let state = n.head_state().unwrap();
        let commitment = state.meta.registry[0].commitment;
        let reveal = v.chain.preimage_of(&commitment).unwrap();
        state::build_block(
            n.store(),
            n.chain(),
            state,
            &v.key,
            slot,
            &reveal,
            &[],
            None,
            state::Signatures::Verify,
        )
        .unwrap()
        .block
    }

    /// A validator whose hash chain holds 32 reveals (`keygen --chain-length 32`)
    /// stopped at height 32 for good. It must renew its chain on its own and keep proposing.
    #[test]
    fn a_short_hash_chain_is_renewed_before_it_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let start = 1_700_000_000_000;
        let key = keys::devnet_validator(0).unwrap().key;
        let v = ValidatorKey { key, chain: HashChain::new(Hash([5; 32]), 32) };
        let mut genesis = keys::devnet_genesis(1, start).unwrap();
        genesis.validators[0].commitment = v.chain.commitment();
        let slot_ms = genesis.params.slot_ms;
        let mut n = Node::open_at(genesis.clone(), dir.path(), Some(v.clone()), start).unwrap();
        for slot in 1..=150 {
            n.tick(start + slot * slot_ms + 10);
            if slot == 100 {
                // A restart in the middle finds the chain generation it renewed to, even when
                // the store's record of it is lost (a new data dir, a wallet's key file).
                assert!(n.chains.as_ref().unwrap().generation > 2);
                n.store().set_chain_generation(0).unwrap();
                drop(n);
                let now = start + slot * slot_ms + 20;
                n = Node::open_at(genesis.clone(), dir.path(), Some(v.clone()), now).unwrap();
                assert_eq!(n.head_state().unwrap().tip.height, 100);
            }
        }
        assert_eq!(n.head_state().unwrap().tip.height, 150, "one block a slot, all 150 slots");
        assert!(n.reveals_left().unwrap() > 0);
    }

    /// A transfer of 5 from the devnet's dev key with `nonce`, at the minimum fee.
    fn dev_transfer(chain: &Chain, nonce: u64) -> SignedTx {
        let dev = keys::devnet_dev_key().unwrap();
        Tx {
            chain_id: chain.id,
            sender: dev.public_key(),
            nonce,
            fee: chain.params.min_fee,
            kind: TxKind::Transfer { to: Address([1; 20]), amount: 5 },
        }
        .sign(&dev)
    }

    /// The transactions `n` gossiped since its events were last taken.
    fn gossiped(n: &mut Node) -> Vec<SignedTx> {
        n.take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Tx(tx) => Some(tx),
                _ => None,
            })
            .collect()
    }

    /// `x` ticks at `now`, and `y` hears the blocks and votes it sent.
    fn step(x: &mut Node, y: &mut Node, now: u64) {
        x.tick(now);
        for e in x.take_events() {
            match e {
                Event::Block(block) => drop(y.import_block_at(block, now)),
                Event::Vote(vote) => drop(y.on_vote(vote)),
                _ => {}
            }
        }
    }

    /// `n`'s head chain from its store, oldest first (what a peer's sync brings).
    fn head_chain(n: &Node) -> Vec<Block> {
        let mut hash = n.head_header().unwrap().hash();
        let mut chain = Vec::new();
        while let Some(block) = n.block(&hash) {
            hash = block.header.header.parent;
            chain.push(block);
        }
        chain.reverse();
        chain
    }

    /// Of two equal validators, one is down for longer than the
    /// inactivity bound. The other goes on alone, finality comes back once the snapshot leaves
    /// the absent one out, and when it returns its node shows it is alive on its own (a renewal
    /// through its mempool) and is back in the set two epochs later, voting again.
    #[test]
    fn a_validator_left_out_as_inactive_comes_back_on_its_own() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let start = 1_700_000_000_000;
        let genesis = keys::devnet_genesis(2, start).unwrap();
        let (spe, slot_ms) = (genesis.params.slots_per_epoch, genesis.params.slot_ms);
        let (va, vb) = (keys::devnet_validator(0).unwrap(), keys::devnet_validator(1).unwrap());
        let mut a = Node::open_at(genesis.clone(), a_dir.path(), Some(va), start).unwrap();
        let mut b = Node::open_at(genesis.clone(), b_dir.path(), Some(vb.clone()), start).unwrap();
        let at = |slot: u64| start + slot * slot_ms + 10;
        // Two epochs together (B earns the fees it will need), then B is down.
        for s in 1..=2 * spe {
            step(&mut a, &mut b, at(s));
            step(&mut b, &mut a, at(s));
        }
        let stalled = a.finalized().height;
        assert!(stalled > 0);
        drop(b);
        // A proposes in its slots only, and nothing more is certified, until B is left out.
        let bound = (2 + state::INACTIVITY_EPOCHS + 2) * spe + 2;
        let mut slot = 2 * spe;
        while a.finalized().height <= stalled + 1 {
            slot += 1;
            assert!(slot <= bound, "no finality by slot {bound}");
            a.tick(at(slot));
            a.take_events();
        }
        let b_key = vb.key.public_key();
        assert!(a.head_state().unwrap().meta.current.index_of(&b_key).is_none());
        // B restarts, syncs A's chain, and sends the transaction that shows it is alive.
        let mut b = Node::open_at(genesis, b_dir.path(), Some(vb), at(slot)).unwrap();
        for block in head_chain(&a) {
            match b.import_block_at(block, at(slot)) {
                Ok(()) | Err(ImportError::AlreadyKnown) | Err(ImportError::Conflicts(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        // What a sync brings is history: imported, not relayed (a syncing relay would send
        // every block back out to its peers faster than their connections drain).
        let relayed = b.take_events().iter().filter(|e| matches!(e, Event::Block(_))).count();
        assert!(relayed as u64 <= spe + 1, "{relayed} synced blocks relayed");
        b.tick(at(slot));
        let alive = gossiped(&mut b);
        assert_eq!(alive.len(), 1, "one renewal from B");
        // That gossip is lost (a connection that fell behind): B announces it again an epoch
        // later, while its mempool holds it, and not before.
        for s in slot + 1..slot + spe {
            b.tick(at(s));
            assert!(gossiped(&mut b).is_empty(), "announced again at slot {s}");
        }
        slot += spe;
        b.tick(at(slot));
        assert_eq!(gossiped(&mut b), alive, "the renewal announced again");
        a.submit_tx_at(alive[0].clone(), at(slot)).unwrap();
        // From here both run, exchanging blocks and votes.
        let back_by = slot + 3 * spe;
        let mut back_at = None;
        for s in slot + 1..=back_by + spe {
            step(&mut a, &mut b, at(s));
            step(&mut b, &mut a, at(s));
            let head = a.head_state().unwrap();
            if back_at.is_none() && head.meta.current.index_of(&b_key).is_some() {
                back_at = Some(head.tip.height);
            }
        }
        let back_at = back_at.expect("B is back in the set");
        assert_eq!(b.head_header().unwrap().hash(), a.head_header().unwrap().hash());
        // B holds half the stake again: finality past its return needs its votes.
        assert!(a.finalized().height > back_at + 2, "finalized {}", a.finalized().height);
    }

    /// `hashes_from` (what a peer's `get_blocks` reads) is `hash_at` height by height, below
    /// the anchor, across it and above it, in one walk.
    #[test]
    fn hashes_from_is_hash_at_per_height() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, v) = node(dir.path());
        for slot in 1..=40 {
            let b = block_at(&n, &v, slot);
            n.import_block(b).unwrap();
        }
        let top = n.head_state().unwrap().tip.height;
        for (from, count) in [(0, 5), (1, 40), (3, 10), (top - 2, 10), (top + 1, 4), (5, 0)] {
            let want: Vec<Hash> = (from..from + count).map_while(|h| n.hash_at(h)).collect();
            assert_eq!(n.hashes_from(from, count), want, "from {from} count {count}");
        }
    }

    #[test]
    fn blocks_from_future_slots_are_refused_and_present_ones_imported() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, v) = node(dir.path());
        let future = block_at(&n, &v, 1_000);
        assert!(matches!(n.import_block(future), Err(ImportError::FutureSlot { slot: 1_000, .. })));
        let now = block_at(&n, &v, 1);
        let hash = now.hash();
        n.import_block(now.clone()).unwrap();
        assert_eq!(n.import_block(now), Err(ImportError::AlreadyKnown));
        assert_eq!(n.head_header().unwrap().hash(), hash);
    }

    /// A block changes the accounts core wrote, not only its transactions' senders
    /// and recipients: its proposer's (the reward) is reported too, so a validator's wallet
    /// hears of every reward.
    #[test]
    fn the_proposer_of_an_empty_block_is_an_account_changed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, v) = node(dir.path());
        n.take_events();
        n.import_block(block_at(&n, &v, 1)).unwrap();
        let changed: Vec<Address> = n
            .take_events()
            .into_iter()
            .flat_map(|e| match e {
                Event::AccountsChanged(list) => list,
                _ => vec![],
            })
            .collect();
        assert_eq!(changed, vec![Address::from_public_key(&v.key.public_key())]);
    }

    /// `get_meta`'s reply is made once a finalized block and shared after that; it proves the
    /// finalized state's chain meta against the finalized header's state root.
    #[test]
    fn the_finalized_meta_is_made_once_a_finalized_block_and_proves_itself() {
        let dir = tempfile::tempdir().unwrap();
        let start = 1_700_000_000_000;
        let genesis = keys::devnet_genesis(1, start).unwrap();
        let slot_ms = genesis.params.slot_ms;
        let v = keys::devnet_validator(0).unwrap();
        let mut n = Node::open_at(genesis, dir.path(), Some(v), start).unwrap();
        assert!(n.finalized_meta().is_none(), "genesis has no header to prove against");
        let mut slot = 0;
        while n.finalized().height == 0 {
            slot += 1;
            n.tick(start + slot * slot_ms + 10);
        }
        let first = n.finalized_meta().unwrap();
        assert!(Arc::ptr_eq(&first, &n.finalized_meta().unwrap()), "made once, then shared");
        let header = n.header(&first.finalized.hash).unwrap();
        let meta = hex::decode(&first.meta_hex).unwrap();
        light::verify_meta(&header.header.state_root, &first.accounts_root, &meta).unwrap();
        let before = n.finalized();
        while n.finalized() == before {
            slot += 1;
            n.tick(start + slot * slot_ms + 10);
        }
        let next = n.finalized_meta().unwrap();
        assert_eq!(next.finalized, n.finalized(), "made again once finality moved");
    }

    /// An account's history is what the head chain holds, newest first; a block of a branch
    /// that lost is left out. (It is now read in one walk from the head, not one
    /// per entry; this checks the answer did not change.)
    #[test]
    fn account_history_is_the_head_chains() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, v) = node(dir.path());
        let dev = keys::devnet_dev_key().unwrap();
        let transfer = |n: &Node, nonce, amount| {
            Tx {
                chain_id: n.chain().id,
                sender: dev.public_key(),
                nonce,
                fee: n.chain().params.min_fee,
                kind: TxKind::Transfer { to: Address([1; 20]), amount },
            }
            .sign(&dev)
        };
        let build = |n: &Node, state: &ChainState, slot, txs: &[SignedTx]| {
            let reveal = v.chain.preimage_of(&state.meta.registry[0].commitment).unwrap();
            state::build_block(
                n.store(),
                n.chain(),
                state,
                &v.key,
                slot,
                &reveal,
                txs,
                None,
                state::Signatures::Verify,
            )
            .unwrap()
            .block
        };
        let genesis_state = n.head_state().unwrap().clone();
        let (t1, lost, t2) = (transfer(&n, 0, 5), transfer(&n, 0, 6), transfer(&n, 1, 7));
        let a = build(&n, &genesis_state, 1, std::slice::from_ref(&t1));
        let b = build(&n, &genesis_state, 2, std::slice::from_ref(&lost));
        n.import_block(a.clone()).unwrap();
        n.import_block(b).unwrap();
        let c = build(&n, &n.head_state().unwrap().clone(), 3, std::slice::from_ref(&t2));
        n.import_block(c.clone()).unwrap();
        assert_eq!(n.head_header().unwrap().hash(), c.hash());
        let want = vec![(2, c.hash(), 0, t2), (1, a.hash(), 0, t1)];
        for addr in [Address::from_public_key(&dev.public_key()), Address([1; 20])] {
            assert_eq!(n.account_history(&addr, 50).unwrap(), want);
        }
        assert_eq!(n.account_history(&Address([1; 20]), 1).unwrap(), want[..1]);
    }

    #[test]
    fn a_reorg_returns_the_losing_branch_transactions_to_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, v) = node(dir.path());
        let genesis_state = n.head_state().unwrap().clone();
        let reveal = v.chain.preimage_of(&genesis_state.meta.registry[0].commitment).unwrap();
        let tx = dev_transfer(n.chain(), 0);
        let build = |n: &Node, state: &ChainState, slot, reveal: &Hash, txs: &[SignedTx]| {
            state::build_block(
                n.store(),
                n.chain(),
                state,
                &v.key,
                slot,
                reveal,
                txs,
                None,
                state::Signatures::Verify,
            )
            .unwrap()
        };
        // Two blocks at height 1: `a` carries the transfer, `b` does not.
        let a = build(&n, &genesis_state, 1, &reveal, std::slice::from_ref(&tx));
        let b = build(&n, &genesis_state, 2, &reveal, &[]);
        n.import_block(a.block.clone()).unwrap();
        n.import_block(b.block.clone()).unwrap();
        // `b` grows: its branch becomes the head, and the transfer is pending again.
        let reveal2 = v.chain.preimage_of(&b.applied.state.meta.registry[0].commitment).unwrap();
        let c = build(&n, &b.applied.state, 3, &reveal2, &[]);
        n.import_block(c.block.clone()).unwrap();
        assert_eq!(n.head_header().unwrap().hash(), c.block.hash());
        assert_eq!(n.tx_status(&tx.id()), TxStatus::Pending);
    }

    /// A relay gossips only what could go in its next block. A transaction behind
    /// a nonce gap is held, not gossiped; it is gossiped once the gap is filled.
    #[test]
    fn a_held_transaction_is_gossiped_only_once_it_is_ready() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, _) = node(dir.path());
        let (first, second) = (dev_transfer(n.chain(), 0), dev_transfer(n.chain(), 1));
        n.take_events();
        n.submit_tx(second.clone()).unwrap();
        assert_eq!(gossiped(&mut n), [], "held behind the gap at nonce 0");
        n.submit_tx(first.clone()).unwrap();
        assert_eq!(gossiped(&mut n), [first, second]);
        // A throw-away key that was never funded holds nothing, at any fee.
        let nobody = memecoin_core::crypto::SecretKey::from_bytes(&[7; 32]).unwrap();
        let kind = TxKind::Transfer { to: Address([1; 20]), amount: 1 };
        let tx = Tx {
            chain_id: n.chain().id,
            sender: nobody.public_key(),
            nonce: 3,
            fee: u64::MAX,
            kind,
        };
        assert_eq!(
            n.submit_tx(tx.sign(&nobody)),
            Err(Rejection::CannotPay { needed: u64::MAX, available: 0 })
        );
        assert_eq!((n.mempool_len(), gossiped(&mut n)), (2, vec![]));
    }

    #[test]
    fn import_trusts_only_cached_signatures_of_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, v) = node(dir.path());
        let state = n.head_state().unwrap().clone();
        let reveal = v.chain.preimage_of(&state.meta.registry[0].commitment).unwrap();
        let (first, second) = (dev_transfer(n.chain(), 0), dev_transfer(n.chain(), 1));
        // Admitted to the mempool: both signatures are now cached.
        n.submit_tx(first.clone()).unwrap();
        n.submit_tx(second.clone()).unwrap();
        assert!(n.sigcache.contains(&first) && n.sigcache.contains(&second));
        let good = state::build_block(
            n.store(),
            n.chain(),
            &state,
            &v.key,
            1,
            &reveal,
            &[first, second],
            None,
            state::Signatures::Verify,
        )
        .unwrap()
        .block;
        // The same block with the two signatures swapped (same ids, same tx root), re-signed
        // by the proposer: neither signature is in the cache under these bytes, and both fail.
        let mut swapped = good.clone();
        let (a, b) = (swapped.txs[0].signature, swapped.txs[1].signature);
        swapped.txs[0].signature = b;
        swapped.txs[1].signature = a;
        swapped.header = swapped.header.header.clone().sign(&n.chain().id, &v.key);
        assert_eq!(
            n.import_block(swapped),
            Err(ImportError::Invalid(BlockError::Tx {
                index: 0,
                error: state::TxError::BadSignature
            }))
        );
        n.import_block(good.clone()).unwrap();
        assert_eq!(n.head_header().unwrap().hash(), good.hash());
    }

    #[test]
    fn a_validator_turns_double_votes_into_evidence_and_includes_it() {
        let dir = tempfile::tempdir().unwrap();
        let genesis_time = now_ms() - 60_000;
        let genesis = keys::devnet_genesis(2, genesis_time).unwrap();
        let me = keys::devnet_validator(0).unwrap();
        let offender = keys::devnet_validator(1).unwrap();
        let mut n = Node::open(genesis, dir.path(), Some(me.clone())).unwrap();
        let id = n.chain().id;
        let source = n.head_state().unwrap().meta.justified;
        let vote = |b: u8| Vote {
            epoch: 0,
            source,
            target: Checkpoint { height: 1, hash: Hash([b; 32]) },
        };
        n.on_vote(vote(1).sign(&id, &offender.key)).unwrap();
        assert_eq!(n.on_vote(vote(2).sign(&id, &offender.key)), Err(VoteError::Equivocation));
        assert_eq!(n.evidence.len(), 1);
        // A surround vote by the other validator is caught as well (source 1 -> target 5
        // surrounds source 2 -> target 4); evidence is kept per offence.
        let cp = |h: u64, b: u8| Checkpoint { height: h, hash: Hash([b; 32]) };
        let other = keys::devnet_validator(0).unwrap();
        let wide = Vote { epoch: 0, source: cp(1, 3), target: cp(5, 4) };
        let inner = Vote { epoch: 0, source: cp(2, 5), target: cp(4, 6) };
        n.on_vote(wide.sign(&id, &other.key)).unwrap();
        assert_eq!(n.on_vote(inner.sign(&id, &other.key)), Err(VoteError::Equivocation));
        assert_eq!(n.evidence.len(), 2);
        n.evidence.pop_back();
        // Our slots: the first block earns the fee money, a later one carries the evidence.
        let offender_address = Address::from_public_key(&offender.key.public_key());
        for slot in 1..60 {
            let head = n.head_state().unwrap();
            if head.account(n.store(), &offender_address).unwrap().slashed {
                break;
            }
            if state::proposer_for(n.chain(), head, slot) == Some(me.key.public_key()) {
                n.propose(&me, slot, now_ms());
            }
        }
        let state = n.head_state().unwrap();
        assert!(state.account(n.store(), &offender_address).unwrap().slashed);
        // The evidence stays queued until finality settles it, but no later block carries it
        // again (it would be refused as `AlreadySlashed`).
        assert_eq!(n.evidence.len(), 1);
        let height = n.head_state().unwrap().tip.height;
        // Slots up to 120 s after genesis, each proposed at its own start (at the wall clock's
        // time, slots past the next one would be refused as from the future).
        for slot in 60..120 {
            n.propose(&me, slot, genesis_time + slot * 1_000);
        }
        let head = n.head_state().unwrap();
        assert!(head.tip.height > height);
        for h in height + 1..=head.tip.height {
            let block = n.block(&n.hash_at(h).unwrap()).unwrap();
            assert!(!block.txs.iter().any(|t| matches!(t.tx.kind, TxKind::Evidence(_))));
        }
    }

    /// Evidence against a key with nothing to slash (here: not a validator) is dropped, not
    /// queued or gossiped: throw-away keys must not push real evidence out of the queue.
    #[test]
    fn evidence_against_a_key_without_stake_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, _) = node(dir.path());
        let id = n.chain().id;
        let source = n.head_state().unwrap().meta.justified;
        let vote = |b: u8| Vote {
            epoch: 0,
            source,
            target: Checkpoint { height: 1, hash: Hash([b; 32]) },
        };
        let nobody = SecretKey::from_bytes(&[42; 32]).unwrap();
        let e = Evidence::double_vote(vote(1).sign(&id, &nobody), vote(2).sign(&id, &nobody));
        n.take_events();
        n.add_evidence(e.unwrap());
        assert!(n.evidence.is_empty());
        assert!(n.take_events().is_empty(), "nothing to gossip");
        let validator = keys::devnet_validator(0).unwrap();
        let e = Evidence::double_vote(
            vote(1).sign(&id, &validator.key),
            vote(2).sign(&id, &validator.key),
        );
        n.add_evidence(e.unwrap());
        assert_eq!(n.evidence.len(), 1, "a staked validator's double vote is kept");
    }

    /// Found by the simulation (seed 38): evidence against an offender already slashed (by
    /// another proposer's block) sat at the front of the queue forever, refused by every
    /// block, and the evidence behind it against another offender was never included.
    #[test]
    fn evidence_against_a_slashed_offender_does_not_block_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = keys::devnet_genesis(3, now_ms() - 120_000).unwrap();
        let me = keys::devnet_validator(0).unwrap();
        let (x, y) = (keys::devnet_validator(1).unwrap(), keys::devnet_validator(2).unwrap());
        let mut n = Node::open(genesis, dir.path(), Some(me.clone())).unwrap();
        let id = n.chain().id;
        let source = n.head_state().unwrap().meta.justified;
        let double = |v: &ValidatorKey, h: u64| {
            let vote = |b: u8| Vote {
                epoch: 0,
                source,
                target: Checkpoint { height: h, hash: Hash([b; 32]) },
            };
            Evidence::double_vote(vote(1).sign(&id, &v.key), vote(2).sign(&id, &v.key)).unwrap()
        };
        // Two pieces against `x` (one kept: one per offender), then one against `y`. Before,
        // all three were queued: the first slashed `x`, the second was refused from then on
        // and, at the front, kept the piece against `y` out of every block.
        n.add_evidence(double(&x, 1));
        n.add_evidence(double(&x, 2));
        n.add_evidence(double(&y, 1));
        assert_eq!(n.evidence.len(), 2);
        let address = |v: &ValidatorKey| Address::from_public_key(&v.key.public_key());
        for slot in 1..120 {
            let head = n.head_state().unwrap();
            if head.account(n.store(), &address(&y)).unwrap().slashed {
                break;
            }
            if state::proposer_for(n.chain(), head, slot) == Some(me.key.public_key()) {
                n.propose(&me, slot, now_ms());
            }
        }
        let head = n.head_state().unwrap();
        assert!(head.account(n.store(), &address(&x)).unwrap().slashed);
        assert!(head.account(n.store(), &address(&y)).unwrap().slashed);
    }

    #[test]
    fn certificates_only_target_this_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, v) = node(dir.path());
        for slot in 1..=3 {
            let b = block_at(&n, &v, slot);
            n.import_block(b).unwrap();
        }
        let state = n.head_state().unwrap().clone();
        let tip = Checkpoint { height: state.tip.height, hash: state.tip.hash };
        let parent_hash = n.head_header().unwrap().header.parent;
        assert!(certifiable_target(&state, &tip));
        assert!(certifiable_target(
            &state,
            &Checkpoint { height: tip.height - 1, hash: parent_hash }
        ));
        assert!(!certifiable_target(
            &state,
            &Checkpoint { height: tip.height - 1, hash: Hash([9; 32]) }
        ));
        assert!(!certifiable_target(
            &state,
            &Checkpoint { height: tip.height + 1, hash: Hash([9; 32]) }
        ));
        assert!(!certifiable_target(&state, &Checkpoint { height: tip.height, hash: parent_hash }));
    }

    /// Found by the simulation (seed 16): a validator voted for block `x` at height 1, then
    /// switched its head to `y` at the same height (a lower hash, then the tie-break) without
    /// voting, crashed, and after the restart voted for `y`: a double vote, slashable. What it
    /// signed now survives a restart. (Ties now go to the block seen first; a restart that
    /// re-imports `y` first would make it the head, and the stored vote still holds.)
    #[test]
    fn a_restarted_validator_does_not_sign_a_conflicting_vote() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, v) = node(dir.path());
        let genesis_state = n.head_state().unwrap().clone();
        let reveal = v.chain.preimage_of(&genesis_state.meta.registry[0].commitment).unwrap();
        let build = |slot| {
            state::build_block(
                n.store(),
                n.chain(),
                &genesis_state,
                &v.key,
                slot,
                &reveal,
                &[],
                None,
                state::Signatures::Verify,
            )
            .unwrap()
            .block
        };
        let (a, b) = (build(1), build(2));
        let (x, y) = if a.hash() > b.hash() { (a, b) } else { (b, a) };
        n.import_block(x.clone()).unwrap();
        assert!(n.vote(&v));
        n.import_block(y.clone()).unwrap();
        assert_eq!(n.head_header().unwrap().hash(), x.hash(), "the block seen first keeps the tie");
        // The head moves to `y` without a vote (as a restart re-importing `y` first would).
        n.head = y.hash();
        assert!(!n.vote(&v), "one vote per target height");
        assert!(n.propose(&v, 3, now_ms()));
        let genesis = n.genesis().clone();
        drop(n);
        let mut n = Node::open(genesis, dir.path(), Some(v.clone())).unwrap();
        assert_eq!(n.last_vote.map(|l| l.target.hash), Some(x.hash()));
        assert_eq!(n.last_proposed_slot, Some(3));
        // The head is now the block of slot 3 (height 2): a new vote is fine, and it is not
        // for height 1.
        assert!(n.vote(&v));
        assert_eq!(n.last_vote.map(|l| l.target.height), Some(2));
    }

    /// Two nodes of one devnet chain (validator 0 alone): one to build blocks on any branch,
    /// the node under test, and the validator's key.
    fn builder_and_node(dirs: &[tempfile::TempDir; 2]) -> (Node, Node, ValidatorKey) {
        let genesis = keys::devnet_genesis(1, now_ms() - 60_000).unwrap();
        let v = keys::devnet_validator(0).unwrap();
        let builder = Node::open(genesis.clone(), dirs[0].path(), None).unwrap();
        let n = Node::open(genesis, dirs[1].path(), Some(v.clone())).unwrap();
        (builder, n, v)
    }

    /// A block of `v` for `slot` on `parent` (a block `b` knows, or genesis), imported by `b`.
    fn build_on(b: &mut Node, v: &ValidatorKey, parent: Hash, slot: u64) -> Block {
        build_on_as(b, v, parent, slot)
    }

    /// A validator whose head is old while it holds a signed block above it does not sign
    /// (behind the network) — but only for `SYNC_GRACE_EPOCHS`: a block that never connects
    /// (one a validator signed on a made-up parent) would otherwise silence it for good.
    #[test]
    fn a_validator_behind_holds_back_for_the_grace_only() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (mut b, mut n, v) = builder_and_node(&dirs);
        let a = build_on(&mut b, &v, n.chain().id, 1);
        let child = build_on(&mut b, &v, a.hash(), 2);
        // Only the child arrives: its parent never does.
        assert!(matches!(n.import_block(child), Err(ImportError::UnknownParent { .. })));
        let now = now_ms();
        assert!(!n.tick(now), "signed while behind");
        assert_eq!(n.signing(), Some(Signing::Syncing));
        let params = n.chain().params.clone();
        let grace_ms = SYNC_GRACE_EPOCHS * params.slots_per_epoch * params.slot_ms;
        assert!(!n.tick(now + grace_ms / 2), "signed within the grace");
        assert!(n.tick(now + grace_ms + params.slot_ms), "still silent after the grace");
        // Once it has the parent, it is not behind any more.
        n.import_block(a).unwrap();
        n.tick(now + grace_ms + 2 * params.slot_ms);
        assert_eq!(n.signing(), Some(Signing::Signing));
    }

    #[test]
    fn a_block_that_arrives_before_its_parent_is_imported_with_it() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (mut b, mut n, v) = builder_and_node(&dirs);
        let genesis = n.chain().id;
        let x = build_on(&mut b, &v, genesis, 1);
        let y = build_on(&mut b, &v, x.hash(), 2);
        let z = build_on(&mut b, &v, y.hash(), 3);
        // z, then y, arrive first (reordered, or sent across a partition as it heals): each
        // tells the caller to sync, and is kept. Before, both were dropped; gossip is not
        // repeated and a sync brings only the peer's head chain, so a side branch was lost.
        for early in [&z, &y] {
            assert!(matches!(
                n.import_block(early.clone()),
                Err(ImportError::UnknownParent { height, .. }) if height == early.header.header.height
            ));
        }
        assert_eq!(n.head_state().unwrap().tip.height, 0);
        n.import_block(x).unwrap();
        assert_eq!(n.head_header().unwrap().hash(), z.hash());
        assert!(n.orphans.len() == 0 && n.orphans.order.is_empty() && n.orphans.bytes == 0);
        assert_eq!(n.import_block(y), Err(ImportError::AlreadyKnown));
    }

    /// Orphans are kept by header, so a copy of a waiting block with the same
    /// header and another body, sent first, made the genuine block be dropped as already kept,
    /// and it was lost when its parent arrived.
    #[test]
    fn a_tampered_copy_does_not_displace_a_block_that_waits_for_its_parent() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (mut b, mut n, v) = builder_and_node(&dirs);
        let x = build_on(&mut b, &v, n.chain().id, 1);
        let y = build_on(&mut b, &v, x.hash(), 2);
        let tx = dev_transfer(n.chain(), 0);
        let mut txs = y.clone();
        txs.txs.push(tx);
        let mut cert = y.clone();
        let vote = Vote { epoch: 0, source: Checkpoint::default(), target: Checkpoint::default() };
        cert.certificate = Some(Certificate { vote, signatures: vec![] });
        for tampered in [txs, cert] {
            assert_eq!(tampered.hash(), y.hash(), "same header");
            assert!(matches!(n.import_block(tampered), Err(ImportError::UnknownParent { .. })));
        }
        assert!(matches!(n.import_block(y.clone()), Err(ImportError::UnknownParent { .. })));
        n.import_block(x).unwrap();
        assert_eq!(n.head_header().unwrap().hash(), y.hash(), "the genuine block was kept");
        assert_eq!(n.block(&y.hash()), Some(y));
    }

    #[test]
    fn a_double_proposal_is_caught_when_one_half_has_an_unknown_parent() {
        // Simulation seed 3260: an equivocating proposer sent one block to one honest node
        // and the other, on a parent that node did not have, to the other; the second node's
        // sync brought the first block, and no node ever held both.
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (mut b, mut n, v) = builder_and_node(&dirs);
        let genesis = n.chain().id;
        let a = build_on(&mut b, &v, genesis, 1);
        let z = build_on(&mut b, &v, genesis, 2);
        let x = build_on(&mut b, &v, a.hash(), 3);
        let y = build_on(&mut b, &v, z.hash(), 3);
        n.import_block(a).unwrap();
        n.import_block(x.clone()).unwrap();
        n.take_events();
        // `y`'s parent `z` never arrives: its header alone proves the double proposal.
        assert!(matches!(n.import_block(y.clone()), Err(ImportError::UnknownParent { .. })));
        let expected = Evidence::double_proposal(x.header, y.header).unwrap();
        assert_eq!(n.evidence.iter().collect::<Vec<_>>(), [&expected]);
        assert!(n.take_events().iter().any(|e| matches!(e, Event::Evidence(e) if *e == expected)));
    }

    #[test]
    fn kept_orphans_are_bounded_per_proposer_and_need_a_validator_signature() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (mut b, mut n, v) = builder_and_node(&dirs);
        let a = build_on(&mut b, &v, n.chain().id, 1);
        // Children of `a` (which `n` lacks), one per slot: MAX_ORPHANS_PER_PROPOSER are kept.
        for slot in 2..10 {
            let child = build_on(&mut b, &v, a.hash(), slot);
            let _ = n.import_block(child);
        }
        assert_eq!(n.orphans.len(), MAX_ORPHANS_PER_PROPOSER);
        // A block whose signature does not verify is not kept, even with room.
        let first = *n.orphans.blocks.keys().next().unwrap();
        n.orphans.remove(&first);
        let mut forged = build_on(&mut b, &v, a.hash(), 11);
        forged.header.header.slot = 12;
        let _ = n.import_block(forged);
        assert_eq!(n.orphans.len(), MAX_ORPHANS_PER_PROPOSER - 1);
        // The kept ones are imported with their parent.
        n.import_block(a).unwrap();
        assert_eq!((n.orphans.len(), n.orphans.bytes), (0, 0));
        assert_eq!(n.fork_choice.len(), MAX_ORPHANS_PER_PROPOSER);
    }

    #[test]
    fn a_proposal_takes_the_link_that_finalizes_over_a_higher_one() {
        // Simulation seed 5069: with every other block from a proposer that carries no
        // certificate, the honest proposer in between always held votes for both J -> J+1 and
        // J -> J+2, took the higher link, and finality stayed where it was.
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (mut b, mut n, v) = builder_and_node(&dirs);
        let genesis = Checkpoint { height: 0, hash: n.chain().id };
        let x = build_on(&mut b, &v, genesis.hash, 1);
        let y = build_on(&mut b, &v, x.hash(), 2);
        n.import_block(x.clone()).unwrap();
        n.import_block(y.clone()).unwrap();
        let id = n.chain().id;
        for target in [&x, &y] {
            let target = Checkpoint { height: target.header.header.height, hash: target.hash() };
            n.on_vote(Vote { epoch: 0, source: genesis, target }.sign(&id, &v.key)).unwrap();
        }
        let state = n.head_state().unwrap().clone();
        assert_eq!(state.meta.justified, genesis);
        let cert = n.best_certificate(&state).unwrap();
        assert_eq!(cert.vote.target, Checkpoint { height: 1, hash: x.hash() });
        // With no link to the child, the newest one.
        n.votes.retain(|k, _| k.target.height != 1);
        let cert = n.best_certificate(&state).unwrap();
        assert_eq!(cert.vote.target, Checkpoint { height: 2, hash: y.hash() });
    }

    #[test]
    fn kept_orphans_are_bounded_in_bytes_oldest_out_first() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (mut b, _, v) = builder_and_node(&dirs);
        let genesis = b.chain().id;
        let a = build_on(&mut b, &v, genesis, 1);
        let blocks: Vec<Block> = (2..6).map(|slot| build_on(&mut b, &v, a.hash(), slot)).collect();
        let size = blocks[0].to_bytes().len();
        let mut o = Orphans::default();
        for block in &blocks {
            o.insert(block.clone());
        }
        assert_eq!((o.len(), o.bytes), (4, 4 * size));
        // A block that takes the total over the byte bound pushes the oldest out.
        let mut big = blocks[0].clone();
        big.header.header.slot = 99;
        let filler = MAX_ORPHAN_BYTES - 4 * size + 1;
        o.blocks.insert(Orphans::key(&big), (big.clone(), filler));
        o.order.push_back(Orphans::key(&big));
        o.bytes += filler;
        o.insert(blocks[1].clone()); // already kept: replaced, not counted twice
        assert!(!o.contains(&blocks[0]) && o.contains(&blocks[3]) && o.contains(&big));
        assert!(o.bytes <= MAX_ORPHAN_BYTES);
        o.prune(1); // they are at height 2
        assert_eq!(o.len(), 4);
        assert_eq!(o.take_children(&a.hash()).len(), 4);
        assert_eq!((o.len(), o.bytes, o.order.len()), (0, 0, 0));
        o.insert(blocks[0].clone());
        o.prune(2);
        assert_eq!((o.len(), o.bytes, o.order.len()), (0, 0, 0));
    }

    /// Found by the simulation (seed 8 and others): a proposer that signed two blocks for one
    /// slot was never reported, because no node turned the pair into evidence.
    #[test]
    fn two_blocks_of_one_proposer_for_one_slot_become_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, v) = node(dir.path());
        let genesis_state = n.head_state().unwrap().clone();
        let reveal = v.chain.preimage_of(&genesis_state.meta.registry[0].commitment).unwrap();
        let tx = dev_transfer(n.chain(), 0);
        let build = |txs: &[SignedTx]| {
            state::build_block(
                n.store(),
                n.chain(),
                &genesis_state,
                &v.key,
                1,
                &reveal,
                txs,
                None,
                state::Signatures::Verify,
            )
            .unwrap()
            .block
        };
        let (a, b) = (build(&[]), build(&[tx]));
        n.import_block(a.clone()).unwrap();
        n.take_events();
        assert!(n.evidence.is_empty());
        n.import_block(b.clone()).unwrap();
        let expected = Evidence::double_proposal(a.header, b.header).unwrap();
        assert_eq!(n.evidence.iter().collect::<Vec<_>>(), [&expected]);
        assert!(n.take_events().iter().any(|e| matches!(e, Event::Evidence(x) if *x == expected)));
    }

    /// Relays kept finality proofs in memory only, so a wallet whose position is
    /// older than a restart could not catch up through them. Stored, bounded.
    #[test]
    fn finality_proofs_outlive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let start = now_ms() - 40_000;
        let genesis = keys::devnet_genesis(1, start).unwrap();
        let v = keys::devnet_validator(0).unwrap();
        let mut n = Node::open_at(genesis.clone(), dir.path(), Some(v.clone()), start).unwrap();
        // One validator: every block justifies its parent and finalizes the one before.
        let at = |slot: u64| start + slot * 1_000 + 1;
        for slot in 1..=30 {
            n.tick(at(slot));
        }
        let before: Vec<FinalityProof> =
            n.finality_proofs(0).iter().map(|p| FinalityProof::clone(p)).collect();
        assert!(before.len() >= 3, "a proof per epoch: {}", before.len());
        drop(n);
        let again = Node::open_at(genesis.clone(), dir.path(), None, at(30)).unwrap();
        let after: Vec<FinalityProof> =
            again.finality_proofs(0).iter().map(|p| FinalityProof::clone(p)).collect();
        assert_eq!(after, before);
        // A light client at genesis catches up through them after the restart.
        let mut client = light::LightClient::from_genesis(&genesis).unwrap();
        for p in &after {
            let links: Vec<_> = (client.finalized().height + 1..p.source.height)
                .map(|h| again.header(&again.hash_at(h).unwrap()).unwrap())
                .collect();
            client.accept_finality(p, &links).unwrap();
        }
        assert_eq!(client.finalized().height, after.last().unwrap().source.height);
        // Bounded: the store keeps the newest `keep` only.
        let store = again.store();
        let newest = after.last().unwrap().clone();
        store.put_finality_proof(&newest, 2).unwrap();
        assert_eq!(store.finality_proofs(0, 100).unwrap().len(), 2);
    }

    #[test]
    fn reopening_restores_the_chain_and_refuses_another_genesis() {
        let dir = tempfile::tempdir().unwrap();
        let (mut n, v) = node(dir.path());
        let b = block_at(&n, &v, 1);
        let hash = b.hash();
        n.import_block(b).unwrap();
        let genesis = n.genesis().clone();
        drop(n);
        let again = Node::open(genesis.clone(), dir.path(), None).unwrap();
        assert_eq!(again.head_header().map(|h| h.hash()), Some(hash));
        drop(again);
        let mut other = genesis;
        other.chain_name = "another chain".into();
        let err = Node::open(other, dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("belongs to chain"), "{err}");
    }

    /// A devnet chain of validators 0 (60% of the stake) and 1 (40%): with validator 1's votes
    /// lost, nothing can be justified (60 < 2/3), and the chain runs on without finality.
    fn stalled_genesis(genesis_time_ms: u64) -> Genesis {
        let mut genesis = keys::devnet_genesis(2, genesis_time_ms).unwrap();
        let v0 = keys::devnet_validator(0).unwrap().key.public_key();
        for v in &mut genesis.validators {
            v.stake = if v.key == v0 { 3 * keys::DEVNET_STAKE } else { 2 * keys::DEVNET_STAKE };
        }
        genesis
    }

    /// Sizes of the node's in-memory tables that grow with the chain.
    fn table_sizes(n: &Node) -> [usize; 6] {
        [
            n.fork_choice.len(),
            n.states.len(),
            n.headers.len(),
            n.proposals.len(),
            n.seen_votes.len(),
            n.votes.values().map(BTreeMap::len).sum(),
        ]
    }

    /// With finality stalled, the node used to refuse every block once fork choice held
    /// MAX_UNFINALIZED (4,096) of them, its own proposals and the best chain's included, and a
    /// restart reloaded at most that many: the chain halted for good. Here validator 0 alone
    /// (60%) proposes past that bound with the production limits; the chain goes on, the
    /// node's tables stay bounded, a restart resumes at the same head, and when validator 1
    /// votes again finality resumes and a light client from genesis accepts the proof.
    #[test]
    fn a_finality_stall_longer_than_the_unfinalized_bound_does_not_halt_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let genesis_time = now_ms() - 100_000_000;
        let genesis = stalled_genesis(genesis_time);
        let (v0, v1) = (keys::devnet_validator(0).unwrap(), keys::devnet_validator(1).unwrap());
        let at = |slot: u64| genesis_time + slot * 1_000;
        let mut n = Node::open_at(genesis.clone(), dir.path(), Some(v0.clone()), at(0)).unwrap();
        let bound = MAX_UNFINALIZED + 2 * WINDOW as usize;
        let mut slot = 0;
        let mut largest = [0; 6];
        let target = MAX_UNFINALIZED as u64 + 200;
        // Validator 1 proposes in its slots (so it is not left out as inactive, §9.5) but its
        // votes never arrive: a stall of finality, not of the chain.
        let v1_reveals = pos::Reveals::new(&v1.chain);
        let v1_proposes = |n: &mut Node, slot: u64| {
            let state = n.head_state().unwrap().clone();
            if state::proposer_for(n.chain(), &state, slot) != Some(v1.key.public_key()) {
                return;
            }
            let me = v1.key.public_key();
            let commitment = state::commitment_to_open(n.chain(), &state, &me, slot).unwrap();
            let reveal = v1_reveals.preimage_of(&commitment).unwrap();
            let built = state::build_block(
                n.store(),
                n.chain(),
                &state,
                &v1.key,
                slot,
                &reveal,
                &[],
                None,
                state::Signatures::Verify,
            )
            .unwrap();
            n.import_block_at(built.block, at(slot)).unwrap();
        };
        while n.head_state().unwrap().tip.height < target {
            slot += 1;
            let before = n.head_state().unwrap().tip.height;
            v1_proposes(&mut n, slot);
            n.tick(at(slot));
            let after = n.head_state().unwrap().tip.height;
            assert_eq!(after, before + 1, "slot {slot}: the chain goes on");
            let sizes = table_sizes(&n);
            for (l, s) in largest.iter_mut().zip(sizes) {
                *l = (*l).max(s);
            }
            assert!(sizes.iter().all(|s| *s <= bound), "slot {slot}: tables {sizes:?}");
            n.take_events();
        }
        assert_eq!(n.finalized().height, 0);
        eprintln!("{target} blocks in {slot} slots; largest tables {largest:?}");
        // A restart resumes at the same head and proposes on.
        let head = n.head_header().unwrap().hash();
        drop(n);
        let mut n = Node::open_at(genesis.clone(), dir.path(), Some(v0.clone()), at(slot)).unwrap();
        assert_eq!(n.head_header().map(SignedHeader::hash), Some(head));
        assert!(table_sizes(&n).iter().all(|s| *s <= bound), "{:?}", table_sizes(&n));
        let height = n.head_state().unwrap().tip.height;
        // Validator 1 is back: it votes for every head, and finality resumes.
        let id = n.chain().id;
        for _ in 0..40 {
            slot += 1;
            n.tick(at(slot));
            let state = n.head_state().unwrap();
            let vote = Vote {
                epoch: n.chain().params.epoch_of(state.tip.slot),
                source: state.meta.justified,
                target: Checkpoint { height: state.tip.height, hash: state.tip.hash },
            };
            let _ = n.on_vote(vote.sign(&id, &v1.key));
        }
        assert!(n.head_state().unwrap().tip.height > height);
        let finalized = n.finalized();
        assert!(finalized.height > height, "finality resumed: {finalized:?}");
        assert_eq!(n.hash_at(finalized.height), Some(finalized.hash));
        assert_eq!(n.store().hash_at(finalized.height).unwrap(), Some(finalized.hash));
        assert_eq!(n.finalized_state().unwrap().tip.hash, finalized.hash);
        let proof = n.latest_finality_proof(0).unwrap();
        let mut client = light::LightClient::from_genesis(&genesis).unwrap();
        let links: Vec<_> =
            (1..proof.source.height).map(|h| n.header(&n.hash_at(h).unwrap()).unwrap()).collect();
        assert!(client.accept_finality(&proof, &links).unwrap().height > height);
        // Heights below the new finality, once only in the store, still read as the head chain.
        for h in [1, target / 2, height] {
            let hash = n.hash_at(h).unwrap();
            assert_eq!(n.header(&hash).unwrap().header.height, h);
        }
    }

    /// Votes were held until a block finalized, at most 4,096, and new ones refused
    /// when full: one validator signing thousands of non-conflicting votes for future heights
    /// (nothing slashable) shut out every honest vote, and no certificate could form again.
    #[test]
    fn far_future_votes_of_one_validator_do_not_shut_out_honest_votes() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let genesis = keys::devnet_genesis(3, now_ms() - 60_000).unwrap();
        let v: Vec<ValidatorKey> = (0..3).map(|i| keys::devnet_validator(i).unwrap()).collect();
        let mut b = Node::open(genesis.clone(), dirs[0].path(), None).unwrap();
        let mut n = Node::open(genesis, dirs[1].path(), Some(v[0].clone())).unwrap();
        let id = n.chain().id;
        let source = n.head_state().unwrap().meta.justified;
        // Validator 2 signs one vote per height far above the head: valid, never conflicting.
        for height in 100..5_100 {
            let target = Checkpoint { height, hash: Hash([7; 32]) };
            let _ = n.on_vote(Vote { epoch: 0, source, target }.sign(&id, &v[2].key));
        }
        // Blocks arrive; validators 0 and 1 vote for the first (2 of 3 is not enough, so 2 too).
        let mut parent = n.chain().id;
        for slot in 1..=2 {
            let proposer = state::proposer_for(b.chain(), b.states.get(&parent).unwrap(), slot)
                .and_then(|k| v.iter().find(|v| v.key.public_key() == k).cloned())
                .unwrap();
            let block = build_on_as(&mut b, &proposer, parent, slot);
            parent = block.hash();
            n.import_block(block).unwrap();
        }
        let x = n.hash_at(1).unwrap();
        let target = Checkpoint { height: 1, hash: x };
        for voter in &v {
            n.on_vote(Vote { epoch: 0, source, target }.sign(&id, &voter.key)).unwrap();
        }
        let cert = n.best_certificate(&n.head_state().unwrap().clone()).unwrap();
        assert_eq!(cert.vote.target, target);
        assert!(n.seen_votes.len() <= 3 * VOTES_PER_VALIDATOR, "{}", n.seen_votes.len());
    }

    /// A block of `v` for `slot` on `parent`, opening the commitment core says it must.
    fn build_on_as(b: &mut Node, v: &ValidatorKey, parent: Hash, slot: u64) -> Block {
        let state = b.states.get(&parent).unwrap().clone();
        let me = v.key.public_key();
        let commitment = state::commitment_to_open(b.chain(), &state, &me, slot).unwrap();
        let reveal = v.chain.preimage_of(&commitment).unwrap();
        let block = state::build_block(
            b.store(),
            b.chain(),
            &state,
            &v.key,
            slot,
            &reveal,
            &[],
            None,
            state::Signatures::Verify,
        )
        .unwrap()
        .block;
        b.import_block(block.clone()).unwrap();
        block
    }

    /// Ties at equal justified height and height went to the lowest hash, so the next
    /// proposer could replace the head for free: a sibling on the grandparent, ground until its
    /// hash is lower. The block seen first keeps the head.
    #[test]
    fn a_late_sibling_with_a_lower_hash_does_not_take_the_head() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (mut b, mut n, v) = builder_and_node(&dirs);
        let genesis = n.chain().id;
        // Siblings on genesis, one a slot: the one with the lowest hash arrives last. (Taking
        // the slot-1 block as the first and searching for a lower one failed whenever it was
        // itself the lowest, one run in 39.)
        let siblings: Vec<Block> =
            (1..40).map(|slot| build_on(&mut b, &v, genesis, slot)).collect();
        let late = siblings.iter().min_by_key(|x| x.hash()).unwrap().clone();
        let first = siblings.iter().find(|x| x.hash() != late.hash()).unwrap().clone();
        n.import_block(first.clone()).unwrap();
        n.import_block(late).unwrap();
        assert_eq!(n.head_header().unwrap().hash(), first.hash());
    }

    /// Two sides of a partition that each grew more than fork choice's window without
    /// finality (neither holds 2/3) refused each other's branch after the heal, because it forks
    /// below their anchors (`BelowAnchor`, then `UnknownParent` above it): each stayed on its
    /// own side, and the inactivity bound would have let each finalize its own. The side that
    /// synced a better branch (fork choice's order) must take it, and finality come back.
    #[test]
    fn a_partition_longer_than_the_window_heals_onto_one_chain() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let start = 1_700_000_000_000;
        let genesis = stalled_genesis(start);
        let (spe, slot_ms) = (genesis.params.slots_per_epoch, genesis.params.slot_ms);
        let at = |slot: u64| start + slot * slot_ms + 10;
        let (v0, v1) = (keys::devnet_validator(0).unwrap(), keys::devnet_validator(1).unwrap());
        let mut a =
            Node::open_at(genesis.clone(), dirs[0].path(), Some(v0.clone()), start).unwrap();
        let mut b =
            Node::open_at(genesis.clone(), dirs[1].path(), Some(v1.clone()), start).unwrap();
        a.window = 32;
        b.window = 32;
        let height = |n: &Node| n.head_state().unwrap().tip.height;
        // Together for two epochs: finality moves, and the fork will be above it.
        let mut slot = 0;
        while slot < 2 * spe {
            slot += 1;
            step(&mut a, &mut b, at(slot));
            step(&mut b, &mut a, at(slot));
        }
        let fork = a.head_state().unwrap().tip.height;
        assert!(a.finalized().height > 0 && fork > a.finalized().height);
        let finalized = a.finalized();
        // Apart: each proposes in the slots its own chain gives it and votes alone (60 % and
        // 40 %: nothing is justified), until both have left the fork below their anchors.
        while height(&a).min(height(&b)) <= fork + 4 * a.window {
            slot += 1;
            for n in [&mut a, &mut b] {
                n.tick(at(slot));
                n.take_events();
            }
        }
        for n in [&a, &b] {
            assert!(n.anchor().height > fork, "the fork is below the anchor");
            // A certificate made together may land apart; nothing more is justified alone.
            assert!((finalized.height..fork).contains(&n.finalized().height));
        }
        assert_ne!(height(&a), height(&b), "a tie would keep each on its own");
        // The heal: each syncs the other's chain from the fork up.
        let (chain_a, chain_b) = (head_chain(&a), head_chain(&b));
        for (n, chain) in [(&mut a, chain_b), (&mut b, chain_a)] {
            let above = n.finalized().height;
            for block in chain.into_iter().filter(|b| b.header.header.height > above) {
                match n.import_block_at(block, at(slot)) {
                    Ok(()) | Err(ImportError::AlreadyKnown) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }
        let taller = height(&a).max(height(&b));
        let head = a.head_header().unwrap().hash();
        assert_eq!(b.head_header().unwrap().hash(), head);
        assert_eq!(height(&a), taller);
        assert_eq!(a.hashes_from(1, taller), b.hashes_from(1, taller), "one chain, every height");
        for n in [&a, &b] {
            assert!(n.fork_choice.len() <= 2 * n.window as usize && n.deep.len() == 1);
        }
        // The losing branch again (a second peer, a resync): stored already, not validated
        // again, and no second tip for it.
        for n in [&mut a, &mut b] {
            let losing = n.deep.keys().copied().collect::<Vec<_>>();
            let mut hash = losing[0];
            let mut blocks = Vec::new();
            while let Some(block) = n.block(&hash).filter(|b| b.header.header.height > fork) {
                hash = block.header.header.parent;
                blocks.push(block);
            }
            for block in blocks.into_iter().rev() {
                assert_eq!(n.import_block_at(block, at(slot)), Err(ImportError::AlreadyKnown));
            }
            assert_eq!(n.deep.keys().copied().collect::<Vec<_>>(), losing);
        }
        // Both restart on it (the store's anchor, canonical index and head moved with it).
        drop((a, b));
        let open = |dir: &Path, v: ValidatorKey| {
            let mut n = Node::open_at(genesis.clone(), dir, Some(v), at(slot)).unwrap();
            n.window = 32;
            n
        };
        let mut a = open(dirs[0].path(), v0);
        let mut b = open(dirs[1].path(), v1);
        for n in [&a, &b] {
            assert_eq!(n.head_header().unwrap().hash(), head);
            assert_eq!(n.hashes_from(1, taller).len() as u64, taller);
        }
        // Together again: every vote counts on one chain, and finality comes back on it.
        for s in slot + 1..=slot + 3 * spe {
            step(&mut a, &mut b, at(s));
            step(&mut b, &mut a, at(s));
        }
        assert_eq!(a.finalized(), b.finalized());
        assert!(a.finalized().height > taller, "finalized {:?}", a.finalized());
        for n in [&a, &b] {
            let f = n.finalized();
            assert_eq!(n.store().hash_at(f.height).unwrap(), Some(f.hash));
            assert_eq!(n.hash_at(taller), a.hash_at(taller));
        }
    }

    /// A sync that does not join backs off below the anchor, doubling, down to finality.
    #[test]
    fn sync_backs_off_below_the_anchor_down_to_finality() {
        let dir = tempfile::tempdir().unwrap();
        let start = 1_700_000_000_000;
        let genesis = stalled_genesis(start);
        let slot_ms = genesis.params.slot_ms;
        let v0 = keys::devnet_validator(0).unwrap();
        let mut n = Node::open_at(genesis, dir.path(), Some(v0), start).unwrap();
        n.window = 8;
        // Validator 0 alone (60 %): blocks, no finality.
        for slot in 1..=100 {
            n.tick(start + slot * slot_ms + 10);
        }
        let (anchor, finalized) = (n.anchor().height, n.finalized().height);
        assert!(anchor > finalized + 20, "anchor {anchor}, finalized {finalized}");
        let mut from = n.sync_start();
        assert_eq!(from, anchor + 1);
        let mut tried = vec![from];
        while let Some(next) = n.sync_below(from, 4) {
            assert!(next < from && next > finalized);
            from = next;
            tried.push(from);
        }
        assert_eq!(from, finalized + 1, "{tried:?}");
        assert_eq!(tried[1], anchor + 1 - 4);
        assert_eq!(tried[2], anchor + 1 - 8);
        assert_eq!(tried[3], anchor + 1 - 16);
    }
}
