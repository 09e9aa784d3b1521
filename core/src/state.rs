//! The chain state and the state transition: transactions, blocks, epochs, rewards, slashing.
//!
//! State = accounts (in the authenticated [`tree`]) + [`ChainMeta`] (epochs,
//! validator sets, randomness, finality, supply). Its commitment is
//! `state_root = tagged_hash("memecoin/state-root", accounts_root || meta_hash)`.
//!
//! [`apply_block`] is deterministic and does no I/O: it reads tree nodes through a
//! [`NodeStore`], keeps every change in an overlay, and returns the new state with the new tree
//! nodes for the caller to persist. A rejected block returns an error and no nodes, so nothing
//! changes. Its work grows with the block (touched accounts × tree depth), never with the state.

use crate::account::{Account, MAX_UNBONDING, Unbonding, state_key};
use crate::address::Address;
use crate::block::{Block, BodyError};
use crate::crypto::{PublicKey, SecretKey};
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::finality::{Certificate, CertificateError, Checkpoint};
use crate::hash::{Domain, Hash, hash_encoded, tagged_hash};
use crate::header::{Header, SignedHeader};
use crate::merkle;
use crate::params::Params;
use crate::pos::{self, Member, ValidatorSet};
use crate::slashing::EvidenceError;
use crate::tree::{self, NodeBatch, NodeStore, TreeError};
use crate::tx::{SignedTx, Tx, TxKind};
use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

/// How many ancestors' ids the state remembers, so a certificate can target any of them.
pub const RECENT_BLOCKS: usize = 64;
/// Most matured unbonds paid out per block; the rest wait for the next block, so a block's work
/// stays bounded however many unbonds mature at once.
pub const MAX_RELEASES_PER_BLOCK: usize = 256;

/// A chain's identity and rules: everything a validation needs besides state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The genesis hash. Every signature is bound to it.
    pub id: Hash,
    pub params: Params,
    pub genesis_time_ms: u64,
}

/// A registered staker: its key, the current head of its commit-reveal chain, the head of the
/// chain it renews to (`Hash::ZERO`: none announced) and the epoch from which that renewal takes
/// effect, and the last epoch it showed it is alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub key: PublicKey,
    pub commitment: Hash,
    pub renewal: Hash,
    /// The renewal takes effect at the first epoch transition into an epoch at or after this
    /// one: two epochs after it was announced (PROTOCOL.md §9.3). 0 when `renewal` is ZERO.
    pub renewal_epoch: u64,
    /// The last epoch in which it proposed a block, signed a certificate a block carried, or,
    /// outside the current set, sent a `Stake` (PROTOCOL.md §9.5, inactivity).
    pub last_active: u64,
}

/// Epochs a validator may go without proposing or signing a carried certificate before a
/// snapshot leaves it out (PROTOCOL.md §9.5): more than 1/3 of the stake offline for good would
/// otherwise stop finality for good. Finality comes back at most `INACTIVITY_EPOCHS + 2` epochs
/// with blocks after the offline stake's last activity (two transitions: the snapshot that leaves
/// it out, then the rotation that makes that set current), if the rest is online. Long on
/// purpose (4,096 slots of the devnet's 8-slot epochs, 68 minutes at 1 s): on each side of a
/// partition that lasts longer, the other side's stake is left out too and each side can
/// finalize its own branch (§10.4).
pub const INACTIVITY_EPOCHS: u64 = 512;

/// Epochs from a renewal's announcement to the epoch it takes effect in (PROTOCOL.md §9.3): as
/// long as a new registration waits before its first reveal.
pub const RENEWAL_DELAY_EPOCHS: u64 = 2;

impl Registration {
    /// Whether a snapshot at the start of `epoch` leaves this validator out as inactive.
    pub fn is_inactive_at(&self, epoch: u64) -> bool {
        epoch.saturating_sub(self.last_active) > INACTIVITY_EPOCHS
    }
}

/// A payout of matured unbonds due at `epoch` to `address`: at the first block of `epoch` or
/// later, every unbonding entry of the account that has matured is paid (PROTOCOL.md §8.5
/// step 5). Stored in the releases tree ([`Releases::root`]), under [`release_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub epoch: u64,
    pub address: Address,
}

/// One queue of pending payouts, kept in the releases tree: entries `first..end` by sequence number
/// (entry `i` under `release_key(queue, i)`), oldest first and in order of epoch. `first_epoch`
/// is entry `first`'s epoch (0 when the queue is empty), so a block knows whether anything is
/// due without reading the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReleaseQueue {
    pub first: u64,
    pub end: u64,
    pub first_epoch: u64,
}

impl ReleaseQueue {
    /// Entries pending.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.first)
    }

    pub fn is_empty(&self) -> bool {
        self.first >= self.end
    }

    /// Whether its oldest entry is due in `epoch`.
    fn is_due(&self, epoch: u64) -> bool {
        !self.is_empty() && self.first_epoch <= epoch
    }
}

/// The pending unbond payouts: two queues in a tree of their own, so what a block, a check or an
/// account proof costs does not grow with them (the chain meta holds only the tree's root and
/// the queues' bounds; the accounts tree holds only accounts). Each queue stays in
/// order of epoch by appending only: an unstake always matures at `epoch + unbonding_epochs`,
/// a deferred payout at `epoch + 1`, and the epoch never decreases along a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Releases {
    /// Root of the releases tree: every pending entry, under [`release_key`].
    pub root: Hash,
    /// Queued by unstakes (queue 0 of [`release_key`]).
    pub unstaked: ReleaseQueue,
    /// Matured, but a set still counted the stake: retried at the next epoch (queue 1).
    pub deferred: ReleaseQueue,
}

impl Releases {
    /// Nothing pending: an empty tree.
    pub const NONE: Releases = Releases {
        root: Hash::ZERO,
        unstaked: ReleaseQueue { first: 0, end: 0, first_epoch: 0 },
        deferred: ReleaseQueue { first: 0, end: 0, first_epoch: 0 },
    };

    /// Payouts pending in both queues.
    pub fn len(&self) -> usize {
        let n = self.unstaked.len().saturating_add(self.deferred.len());
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.unstaked.is_empty() && self.deferred.is_empty()
    }
}

/// Queue numbers in [`release_key`].
const UNSTAKED: u8 = 0;
const DEFERRED: u8 = 1;

/// Releases-tree key of entry `seq` of release queue `queue` (0 unstaked, 1 deferred):
/// `tagged_hash("memecoin/release-key", queue (1 byte) || seq (u64 BE))`.
pub fn release_key(queue: u8, seq: u64) -> Hash {
    tagged_hash(Domain::ReleaseKey, &[&[queue], &seq.to_be_bytes()])
}

/// Coins created and destroyed since genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Supply {
    pub genesis: u64,
    pub issued: u64,
    pub burned: u64,
}

impl Supply {
    /// What all balances, stakes and unbonds must add up to.
    pub fn expected(&self) -> Option<u64> {
        self.genesis.checked_add(self.issued)?.checked_sub(self.burned)
    }
}

/// An ancestor a certificate may target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentBlock {
    pub hash: Hash,
    pub slot: u64,
}

/// The chain-wide part of the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainMeta {
    /// Epoch of the last applied block.
    pub epoch: u64,
    /// The set of the epoch before `epoch` that had blocks, and that epoch (for late votes).
    pub previous: Option<(u64, ValidatorSet)>,
    /// The set of `epoch`.
    pub current: ValidatorSet,
    /// The set of the next epoch that has blocks, fixed at the start of `epoch`.
    pub next: ValidatorSet,
    /// The running commit-reveal mix.
    pub mix: Hash,
    /// Stakers with at least the minimum stake (not slashed), or in the current or next set;
    /// sorted by key.
    pub registry: Vec<Registration>,
    pub justified: Checkpoint,
    pub finalized: Checkpoint,
    /// Ancestors of the next block, oldest first; the last is the parent of the next block.
    pub recent: Vec<RecentBlock>,
    /// Pending unbond payouts (the entries live in the state tree).
    pub releases: Releases,
    pub supply: Supply,
}

impl ChainMeta {
    pub fn hash(&self) -> Hash {
        hash_encoded(Domain::ChainMeta, self)
    }

    /// `key`'s registration, if it has one.
    pub fn registration(&self, key: &PublicKey) -> Option<&Registration> {
        let i = self.registry.binary_search_by(|r| r.key.cmp(key)).ok()?;
        self.registry.get(i)
    }
}

/// The tip a state belongs to: not part of the state commitment (the block hash covers the
/// state root, so the state cannot contain it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    pub hash: Hash,
    pub height: u64,
    pub slot: u64,
}

/// The state after some block (or genesis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    pub tip: Tip,
    pub accounts_root: Hash,
    pub meta: ChainMeta,
}

impl ChainState {
    pub fn state_root(&self) -> Hash {
        state_root(&self.accounts_root, &self.meta.hash())
    }

    /// The roots of the trees this state reads (§6.3, §6.5): the accounts tree and the releases
    /// tree. A node store keeps every node these reach while it keeps the state; a node no kept
    /// state reaches may be deleted (pruning).
    pub fn tree_roots(&self) -> [Hash; 2] {
        [self.accounts_root, self.meta.releases.root]
    }

    /// Reads one account (default if absent).
    pub fn account<S: NodeStore + ?Sized>(
        &self,
        store: &S,
        address: &Address,
    ) -> Result<Account, TreeError> {
        read_account(store, &self.accounts_root, address)
    }
}

pub fn state_root(accounts_root: &Hash, meta_hash: &Hash) -> Hash {
    tagged_hash(Domain::StateRoot, &[accounts_root.as_bytes(), meta_hash.as_bytes()])
}

fn read_account<S: NodeStore + ?Sized>(
    store: &S,
    root: &Hash,
    address: &Address,
) -> Result<Account, TreeError> {
    let key = state_key(address);
    match tree::get(store, root, &key)? {
        None => Ok(Account::default()),
        Some(bytes) => Account::from_bytes(&bytes)
            .map_err(|_| TreeError::Corrupt { hash: key, reason: "account does not decode" }),
    }
}

/// Why a transaction is invalid against a state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxError {
    WrongChain {
        expected: Hash,
        found: Hash,
    },
    FeeTooLow {
        min: u64,
        found: u64,
    },
    NonceMismatch {
        expected: u64,
        found: u64,
    },
    ZeroAmount,
    InsufficientBalance {
        needed: u64,
        available: u64,
    },
    InsufficientStake {
        requested: u64,
        bonded: u64,
    },
    TooManyUnbondings {
        max: u32,
    },
    /// The registry is full and the sender is not in it.
    ValidatorSetFull {
        max: u32,
    },
    /// The sender was slashed and may not stake again.
    SenderSlashed,
    /// A first stake must commit to a hash chain (a non-ZERO commitment).
    MissingCommitment,
    /// A first stake must bring the sender's stake to at least the minimum.
    StakeBelowMinimum {
        min: u64,
        found: u64,
    },
    /// The chain-wide queue of pending unbond payouts is full.
    UnbondingQueueFull {
        max: u32,
    },
    Evidence(EvidenceError),
    /// The offender has no stake left to slash.
    NothingToSlash,
    AlreadySlashed,
    /// A sum or product that does not fit in a u64.
    Overflow,
    BadSignature,
    /// The state could not be read.
    State(TreeError),
}

impl TxError {
    /// Whether the transaction is invalid whatever the state: its chain, fee or signature
    /// (§7.2 rules 1, 2 and 5), a zero amount, or evidence that proves nothing. Every other
    /// refusal is against one state (a nonce, a balance, a stake, an offender already slashed),
    /// and a node at another head may hold the transaction valid in good faith.
    pub fn is_stateless(&self) -> bool {
        matches!(
            self,
            Self::WrongChain { .. }
                | Self::FeeTooLow { .. }
                | Self::ZeroAmount
                | Self::Evidence(_)
                | Self::BadSignature
        )
    }
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongChain { expected, found } => {
                write!(f, "transaction is for chain {found}, this is chain {expected}")
            }
            Self::FeeTooLow { min, found } => write!(f, "fee {found} is below the minimum {min}"),
            Self::NonceMismatch { expected, found } => {
                write!(f, "nonce {found} does not match the account's next nonce {expected}")
            }
            Self::ZeroAmount => f.write_str("amount must not be zero"),
            Self::InsufficientBalance { needed, available } => {
                write!(f, "needs {needed}, balance is {available}")
            }
            Self::InsufficientStake { requested, bonded } => {
                write!(f, "unstakes {requested}, bonded stake is {bonded}")
            }
            Self::TooManyUnbondings { max } => write!(f, "more than {max} pending unbonds"),
            Self::ValidatorSetFull { max } => write!(f, "the validator registry is full ({max})"),
            Self::SenderSlashed => f.write_str("a slashed account may not stake"),
            Self::MissingCommitment => f.write_str("a first stake needs a non-zero commitment"),
            Self::StakeBelowMinimum { min, found } => {
                write!(f, "stake {found} is below the minimum {min} for a new validator")
            }
            Self::UnbondingQueueFull { max } => write!(f, "more than {max} pending unbond payouts"),
            Self::Evidence(e) => write!(f, "invalid evidence: {e}"),
            Self::NothingToSlash => f.write_str("the offender has no stake to slash"),
            Self::AlreadySlashed => f.write_str("the offender was already slashed"),
            Self::Overflow => f.write_str("amount overflows"),
            Self::BadSignature => f.write_str("signature is invalid"),
            Self::State(e) => write!(f, "state unavailable: {e}"),
        }
    }
}

/// Why a block is invalid on top of a state. See [`apply_block`] for the order of the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockError {
    WrongHeight {
        expected: u64,
        found: u64,
    },
    WrongParent {
        expected: Hash,
        found: Hash,
    },
    SlotNotAfterParent {
        parent: u64,
        found: u64,
    },
    WrongValidators,
    WrongProposer {
        expected: Address,
        found: Address,
    },
    BadProposerSignature,
    /// The proposer has no registered commitment.
    ProposerNotRegistered,
    BadReveal,
    TooManyTxs {
        count: usize,
        max: u32,
    },
    WrongTxRoot {
        header: Hash,
        computed: Hash,
    },
    WrongCertificateHash {
        header: Hash,
        computed: Hash,
    },
    CertificateEpochUnknown {
        epoch: u64,
    },
    CertificateSource {
        expected: Checkpoint,
        found: Checkpoint,
    },
    CertificateTarget {
        target: Checkpoint,
    },
    CertificateEpochMismatch {
        vote: u64,
        target: u64,
    },
    Certificate(CertificateError),
    Tx {
        index: usize,
        error: TxError,
    },
    WrongNextValidators,
    WrongJustified {
        header: Checkpoint,
        computed: Checkpoint,
    },
    WrongFinalized {
        header: Checkpoint,
        computed: Checkpoint,
    },
    WrongStateRoot {
        header: Hash,
        computed: Hash,
    },
    Overflow,
    State(TreeError),
}

/// Each refusal starts with the variant's name (PROTOCOL.md §15, what a peer's strike reason
/// carries after `InvalidBlock: `), then says what went wrong.
impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongHeight { expected, found } => {
                write!(f, "WrongHeight: height {found}, expected {expected} (parent + 1)")
            }
            Self::WrongParent { expected, found } => {
                write!(f, "WrongParent: parent {found}, expected {expected}")
            }
            Self::SlotNotAfterParent { parent, found } => {
                write!(
                    f,
                    "SlotNotAfterParent: slot {found} is not after the parent's slot {parent}"
                )
            }
            Self::WrongValidators => {
                f.write_str("WrongValidators: the validator-set hash is not the epoch's set")
            }
            Self::WrongProposer { expected, found } => {
                write!(f, "WrongProposer: proposed by {found}, the elected proposer is {expected}")
            }
            Self::BadProposerSignature => {
                f.write_str("BadProposerSignature: the proposer's signature does not verify")
            }
            Self::ProposerNotRegistered => {
                f.write_str("ProposerNotRegistered: the proposer has no registered commitment")
            }
            Self::BadReveal => f.write_str("BadReveal: the reveal does not open the commitment"),
            Self::TooManyTxs { count, max } => {
                write!(f, "TooManyTxs: {count} transactions, at most {max}")
            }
            Self::WrongTxRoot { header, computed } => write!(
                f,
                "WrongTxRoot: the header's transaction root {header} is not the body's {computed}"
            ),
            Self::WrongCertificateHash { header, computed } => write!(
                f,
                "WrongCertificateHash: the header's certificate hash {header} is not the body's \
                 {computed}"
            ),
            Self::CertificateEpochUnknown { epoch } => {
                write!(f, "CertificateEpochUnknown: no validator set known for epoch {epoch}")
            }
            Self::CertificateSource { expected, found } => write!(
                f,
                "CertificateSource: the certificate's source is height {} ({}), expected height \
                 {} ({})",
                found.height, found.hash, expected.height, expected.hash
            ),
            Self::CertificateTarget { target } => write!(
                f,
                "CertificateTarget: the certificate's target, height {} ({}), is not an \
                 ancestor of this block",
                target.height, target.hash
            ),
            Self::CertificateEpochMismatch { vote, target } => write!(
                f,
                "CertificateEpochMismatch: the vote is for epoch {vote}, its target is in epoch \
                 {target}"
            ),
            Self::Certificate(e) => write!(f, "Certificate: {e}"),
            Self::Tx { index, error } => write!(f, "Tx: transaction {index}: {error}"),
            Self::WrongNextValidators => {
                f.write_str("WrongNextValidators: the next-set hash is not the computed next set")
            }
            Self::WrongJustified { header, computed } => write!(
                f,
                "WrongJustified: the header says height {} is justified, the state says {}",
                header.height, computed.height
            ),
            Self::WrongFinalized { header, computed } => write!(
                f,
                "WrongFinalized: the header says height {} is finalized, the state says {}",
                header.height, computed.height
            ),
            Self::WrongStateRoot { header, computed } => write!(
                f,
                "WrongStateRoot: the header's state root {header} is not the computed {computed}"
            ),
            Self::Overflow => f.write_str("Overflow: a height, slot or amount overflows"),
            Self::State(e) => write!(f, "State: state unavailable: {e}"),
        }
    }
}

impl core::error::Error for BlockError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Certificate(e) => Some(e),
            Self::Tx { error, .. } => Some(error),
            Self::State(e) => Some(e),
            _ => None,
        }
    }
}

/// A body error says the same words as the [`BlockError`] of the same name.
impl core::fmt::Display for BodyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        BlockError::from(self.clone()).fmt(f)
    }
}

impl From<BodyError> for BlockError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::WrongCertificateHash { header, computed } => {
                BlockError::WrongCertificateHash { header, computed }
            }
            BodyError::TooManyTxs { count, max } => BlockError::TooManyTxs { count, max },
            BodyError::WrongTxRoot { header, computed } => {
                BlockError::WrongTxRoot { header, computed }
            }
        }
    }
}

impl core::error::Error for TxError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Evidence(e) => Some(e),
            Self::State(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TreeError> for BlockError {
    fn from(e: TreeError) -> Self {
        BlockError::State(e)
    }
}

/// Reads and writes for one block or one check, on top of the accounts tree and the releases
/// tree: accounts, and release-queue entries (`None`: deleted).
struct Overlay<'a, S: ?Sized> {
    store: &'a S,
    accounts_root: Hash,
    releases_root: Hash,
    accounts: BTreeMap<Address, Account>,
    releases: BTreeMap<Hash, Option<Release>>,
}

impl<'a, S: NodeStore + ?Sized> Overlay<'a, S> {
    fn new(store: &'a S, state: &ChainState) -> Self {
        Overlay {
            store,
            accounts_root: state.accounts_root,
            releases_root: state.meta.releases.root,
            accounts: BTreeMap::new(),
            releases: BTreeMap::new(),
        }
    }

    /// The release-queue entry under `key`; a missing one means the tree is not the state the
    /// meta describes.
    fn release(&self, key: &Hash) -> Result<Release, TreeError> {
        let missing = TreeError::Corrupt { hash: *key, reason: "release entry missing" };
        if let Some(entry) = self.releases.get(key) {
            return entry.ok_or(missing);
        }
        let bytes = tree::get(self.store, &self.releases_root, key)?.ok_or(missing)?;
        Release::from_bytes(&bytes)
            .map_err(|_| TreeError::Corrupt { hash: *key, reason: "release does not decode" })
    }

    /// Appends `release` to queue `id`.
    fn push(&mut self, id: u8, queue: &mut ReleaseQueue, release: Release) -> Option<()> {
        let end = queue.end.checked_add(1)?;
        self.releases.insert(release_key(id, queue.end), Some(release));
        if queue.is_empty() {
            queue.first_epoch = release.epoch;
        }
        queue.end = end;
        Some(())
    }

    /// Takes the oldest entry of queue `id` (which must not be empty).
    fn pop(&mut self, id: u8, queue: &mut ReleaseQueue) -> Result<Release, TreeError> {
        let key = release_key(id, queue.first);
        let release = self.release(&key)?;
        self.releases.insert(key, None);
        queue.first = queue.first.saturating_add(1);
        queue.first_epoch =
            if queue.is_empty() { 0 } else { self.release(&release_key(id, queue.first))?.epoch };
        Ok(release)
    }

    fn get(&self, address: &Address) -> Result<Account, TreeError> {
        match self.accounts.get(address) {
            Some(a) => Ok(a.clone()),
            None => read_account(self.store, &self.accounts_root, address),
        }
    }

    fn put(&mut self, address: Address, account: Account) {
        self.accounts.insert(address, account);
    }

    /// The new accounts root and releases root, and the nodes of both trees to persist.
    fn commit(self) -> Result<(Hash, Hash, NodeBatch), TreeError> {
        let accounts: Vec<(Hash, Option<Vec<u8>>)> = self
            .accounts
            .iter()
            .map(|(a, acc)| {
                (state_key(a), if acc.is_empty() { None } else { Some(acc.to_bytes()) })
            })
            .collect();
        let (accounts_root, mut nodes) = tree::update(self.store, &self.accounts_root, &accounts)?;
        if self.releases.is_empty() {
            return Ok((accounts_root, self.releases_root, nodes));
        }
        let releases: Vec<(Hash, Option<Vec<u8>>)> =
            self.releases.iter().map(|(key, r)| (*key, r.as_ref().map(Encode::to_bytes))).collect();
        let (releases_root, release_nodes) =
            tree::update(self.store, &self.releases_root, &releases)?;
        nodes.extend(release_nodes);
        Ok((accounts_root, releases_root, nodes))
    }
}

/// What `kind` moves out of its sender's balance besides the fee: a transfer's or a stake's
/// amount; an unstake or evidence moves nothing.
pub fn outflow(kind: &TxKind) -> u64 {
    match kind {
        TxKind::Transfer { amount, .. } | TxKind::Stake { amount, .. } => *amount,
        TxKind::Unstake { .. } | TxKind::Evidence(_) => 0,
    }
}

/// Whether an account with `balance` to spend and `stake` bonded can pay for `kind` with `fee`
/// by the balance and stake rules of §7.3 (its [`outflow`] plus the fee from the balance; an
/// unstake from the bonded stake): what a wallet checks before it signs, with the balance it
/// has left after its own pending transactions.
pub fn check_affordable(balance: u64, stake: u64, kind: &TxKind, fee: u64) -> Result<(), TxError> {
    // A sum past u64::MAX is more than any balance.
    match outflow(kind).checked_add(fee) {
        Some(needed) if needed <= balance => {}
        needed => {
            let needed = needed.unwrap_or(u64::MAX);
            return Err(TxError::InsufficientBalance { needed, available: balance });
        }
    }
    if let TxKind::Unstake { amount } = kind
        && *amount > stake
    {
        return Err(TxError::InsufficientStake { requested: *amount, bonded: stake });
    }
    Ok(())
}

/// The registry rule of a stake (§7.3): a key without a registration registers with it, which
/// needs a commitment (the end of the hash chain it will reveal from, not ZERO) and a bonded
/// stake of at least `min_stake` once this stake is added (`bonded_after`); a registered key's
/// stake needs neither (a non-ZERO commitment there renews its chain). What a wallet asks
/// before it signs a stake, with its registration read from a proven chain meta
/// ([`crate::light::verify_meta`]), and what block application applies.
pub fn check_registration(
    min_stake: u64,
    registered: bool,
    bonded_after: u64,
    commitment: &Hash,
) -> Result<(), TxError> {
    if registered {
        return Ok(());
    }
    if *commitment == Hash::ZERO {
        return Err(TxError::MissingCommitment);
    }
    // A registry slot costs at least the minimum stake, so nobody can fill the registry with
    // dust and lock new validators out.
    if bonded_after < min_stake {
        return Err(TxError::StakeBelowMinimum { min: min_stake, found: bonded_after });
    }
    Ok(())
}

/// Whether `account`'s balance alone pays for all of `txs` together (each its [`outflow`] plus
/// its fee), in any order and whatever else happens on chain: what a relay asks before it holds
/// a sender's transactions, some of which it cannot yet check in order (behind a nonce gap).
/// `InsufficientBalance { needed, available }` with the sum (saturated) and the balance.
pub fn check_can_pay<'t>(
    account: &Account,
    txs: impl IntoIterator<Item = &'t Tx>,
) -> Result<(), TxError> {
    // In u128: a sum of at most 2^64 pairs of u64s cannot overflow it.
    let needed = txs.into_iter().fold(0u128, |sum, t| {
        sum.saturating_add(u128::from(outflow(&t.kind))).saturating_add(u128::from(t.fee))
    });
    if needed > u128::from(account.balance) {
        let needed = u64::try_from(needed).unwrap_or(u64::MAX);
        return Err(TxError::InsufficientBalance { needed, available: account.balance });
    }
    Ok(())
}

/// The checks of a transaction that need no state, in core's order: chain, minimum fee, and
/// the signature (as `signatures` says of transaction 0). All a relay can check of a
/// transaction it holds behind a nonce gap, besides [`check_can_pay`].
pub fn check_stateless(
    chain: &Chain,
    tx: &SignedTx,
    signatures: Signatures<'_>,
) -> Result<(), TxError> {
    check_envelope(chain, &tx.tx)?;
    let valid = signatures.of(0).unwrap_or_else(|| tx.verify_signature().is_ok());
    if !valid {
        return Err(TxError::BadSignature);
    }
    Ok(())
}

/// Rules 1 and 2 of PROTOCOL.md §7.2: the chain and the minimum fee.
fn check_envelope(chain: &Chain, t: &Tx) -> Result<(), TxError> {
    if t.chain_id != chain.id {
        return Err(TxError::WrongChain { expected: chain.id, found: t.chain_id });
    }
    if t.fee < chain.params.min_fee {
        return Err(TxError::FeeTooLow { min: chain.params.min_fee, found: t.fee });
    }
    Ok(())
}

/// The account of `t`'s sender (`sender`, holding `account`) after `t`, by the rules a block
/// applies to it: chain, fee, nonce, the kind's own rules (§7.2, §7.3), and what it costs; a
/// transfer to oneself pays only the fee. Neither the signature nor a stake's registration
/// ([`check_registration`]) is checked here. What a wallet shows at review, before it signs:
/// the balance and stake after, or the reason the chain would refuse it.
pub fn sender_after(
    chain: &Chain,
    t: &Tx,
    sender: &Address,
    account: &Account,
) -> Result<Account, TxError> {
    let mut after = check_sender(chain, t, account)?;
    if let TxKind::Transfer { to, amount } = &t.kind
        && to == sender
    {
        after.balance = after.balance.checked_add(*amount).ok_or(TxError::Overflow)?;
    }
    Ok(after)
}

/// Checks `t` against `account` (its sender) and returns the sender's account after the
/// transaction, before a transfer to itself is credited ([`sender_after`]). Rules in order:
/// chain, fee, nonce, the kind's own rules. The signature is checked by the caller, after
/// these cheap checks.
fn check_sender(chain: &Chain, t: &Tx, account: &Account) -> Result<Account, TxError> {
    check_envelope(chain, t)?;
    if t.nonce != account.nonce {
        return Err(TxError::NonceMismatch { expected: account.nonce, found: t.nonce });
    }
    let mut after = account.clone();
    after.nonce = account.nonce.checked_add(1).ok_or(TxError::Overflow)?;
    let spend = || -> Result<u64, TxError> {
        let needed = outflow(&t.kind).checked_add(t.fee).ok_or(TxError::Overflow)?;
        account
            .balance
            .checked_sub(needed)
            .ok_or(TxError::InsufficientBalance { needed, available: account.balance })
    };
    match &t.kind {
        TxKind::Transfer { amount, .. } => {
            if *amount == 0 {
                return Err(TxError::ZeroAmount);
            }
            after.balance = spend()?;
        }
        TxKind::Stake { amount, commitment } => {
            // A stake of nothing is only a commitment: a renewal, or a registration of stake
            // already bonded.
            if *amount == 0 && *commitment == Hash::ZERO {
                return Err(TxError::ZeroAmount);
            }
            if account.slashed {
                return Err(TxError::SenderSlashed);
            }
            after.balance = spend()?;
            after.stake = account.stake.checked_add(*amount).ok_or(TxError::Overflow)?;
        }
        TxKind::Unstake { amount } => {
            if *amount == 0 {
                return Err(TxError::ZeroAmount);
            }
            after.balance = spend()?;
            after.stake = account
                .stake
                .checked_sub(*amount)
                .ok_or(TxError::InsufficientStake { requested: *amount, bonded: account.stake })?;
            if account.unbonding.len() >= MAX_UNBONDING as usize {
                return Err(TxError::TooManyUnbondings { max: MAX_UNBONDING });
            }
        }
        TxKind::Evidence(_) => {
            after.balance = spend()?;
        }
    }
    Ok(after)
}

/// Applies one transaction to the overlay and meta. Returns the fee paid. A rejected transaction
/// may leave partial writes in `overlay` and `meta` (evidence writes the reporter's fee before it
/// reads the offender): callers discard both on error — validation rejects the whole block, and
/// building restores its copies.
fn apply_tx<S: NodeStore + ?Sized>(
    chain: &Chain,
    overlay: &mut Overlay<'_, S>,
    meta: &mut Cow<'_, ChainMeta>,
    tx: &SignedTx,
    signature_checked: impl FnOnce() -> Option<bool>,
) -> Result<u64, TxError> {
    let sender = tx.tx.sender_address();
    let account = overlay.get(&sender).map_err(TxError::State)?;
    let mut after = sender_after(chain, &tx.tx, &sender, &account)?;
    // Asked only now, after the state reads: a caller verifying concurrently gets that long.
    let valid = match signature_checked() {
        Some(valid) => valid,
        None => tx.verify_signature().is_ok(),
    };
    if !valid {
        return Err(TxError::BadSignature);
    }
    let params = &chain.params;
    match &tx.tx.kind {
        TxKind::Transfer { to, amount } => {
            if *to == sender {
                // A transfer to oneself only pays the fee (`sender_after` credited it back).
                overlay.put(sender, after);
            } else {
                let mut recipient = overlay.get(to).map_err(TxError::State)?;
                recipient.balance =
                    recipient.balance.checked_add(*amount).ok_or(TxError::Overflow)?;
                overlay.put(sender, after);
                overlay.put(*to, recipient);
            }
        }
        TxKind::Stake { commitment, .. } => {
            // A registered validator's non-ZERO commitment renews its hash chain, but only from
            // `RENEWAL_DELAY_EPOCHS` epochs on (step 1 of `execute`): a chain that took effect at
            // once could be chosen, among many, for the reveal its owner is about to make, and so
            // grind the seed. Like a new registration, a renewed chain is first revealed from two
            // epochs later, when the mix it would have to predict has moved on.
            let key = &tx.tx.sender;
            let epoch = meta.epoch;
            let renewal_epoch = epoch.checked_add(RENEWAL_DELAY_EPOCHS).ok_or(TxError::Overflow)?;
            // A member of the current set shows it is alive by proposing and signing; a stake
            // brings back one that was left out as inactive (at the next snapshot).
            let in_current = meta.current.index_of(key).is_some();
            match meta.registry.binary_search_by(|r| r.key.cmp(key)) {
                Ok(i) => {
                    if let Some(reg) = meta.to_mut().registry.get_mut(i) {
                        if !in_current {
                            reg.last_active = epoch;
                        }
                        if *commitment != Hash::ZERO {
                            reg.renewal = *commitment;
                            reg.renewal_epoch = renewal_epoch;
                        }
                    }
                }
                Err(i) => {
                    check_registration(params.min_stake, false, after.stake, commitment)?;
                    if meta.registry.len() >= params.max_validators as usize {
                        return Err(TxError::ValidatorSetFull { max: params.max_validators });
                    }
                    let registration = Registration {
                        key: key.clone(),
                        commitment: *commitment,
                        renewal: Hash::ZERO,
                        renewal_epoch: 0,
                        last_active: epoch,
                    };
                    meta.to_mut().registry.insert(i, registration);
                }
            }
            overlay.put(sender, after);
        }
        TxKind::Unstake { amount } => {
            if meta.releases.len() >= MAX_RELEASES as usize {
                return Err(TxError::UnbondingQueueFull { max: MAX_RELEASES });
            }
            let release_epoch =
                meta.epoch.checked_add(params.unbonding_epochs).ok_or(TxError::Overflow)?;
            // A payout pays every matured entry of the account, so unstakes maturing in the same
            // epoch share one: an account queues at most one payout per epoch.
            let queued = after.unbonding.iter().any(|u| u.release_epoch == release_epoch);
            after.unbonding.push(Unbonding { amount: *amount, release_epoch });
            // The registration stays until the key has left every set ([`prune_registry`]):
            // it may still be elected this epoch and the next, and must be able to reveal.
            overlay.put(sender, after);
            if !queued {
                let release = Release { epoch: release_epoch, address: sender };
                overlay
                    .push(UNSTAKED, &mut meta.to_mut().releases.unstaked, release)
                    .ok_or(TxError::Overflow)?;
            }
        }
        TxKind::Evidence(evidence) => {
            let offender_key = evidence.verify(&chain.id).map_err(TxError::Evidence)?;
            let offender = Address::from_public_key(offender_key);
            // The reporter may be the offender itself; read after writing the fee.
            overlay.put(sender, after);
            let mut acc = overlay.get(&offender).map_err(TxError::State)?;
            if acc.slashed {
                return Err(TxError::AlreadySlashed);
            }
            if !acc.is_slashable() {
                return Err(TxError::NothingToSlash);
            }
            let pct = u128::from(params.slash_percent);
            // Rounded up, so any offender with stake left loses at least one unit.
            let cut = |x: u64| -> u64 {
                u64::try_from(u128::from(x).saturating_mul(pct).div_ceil(100)).unwrap_or(x)
            };
            let mut burned = cut(acc.stake);
            acc.stake = acc.stake.saturating_sub(burned);
            for u in &mut acc.unbonding {
                let c = cut(u.amount);
                u.amount = u.amount.saturating_sub(c);
                burned = burned.checked_add(c).ok_or(TxError::Overflow)?;
            }
            acc.unbonding.retain(|u| u.amount > 0);
            acc.slashed = true;
            meta.to_mut().supply.burned =
                meta.supply.burned.checked_add(burned).ok_or(TxError::Overflow)?;
            overlay.put(offender, acc);
        }
    }
    Ok(tx.tx.fee)
}

/// As [`apply_tx`], and a rejected transaction leaves no trace: what it may touch (one or two
/// accounts; the chain meta only for kinds that write it) is kept and put back.
fn apply_or_undo<'m, S: NodeStore + ?Sized>(
    chain: &Chain,
    overlay: &mut Overlay<'_, S>,
    meta: &mut Cow<'m, ChainMeta>,
    tx: &SignedTx,
    signature_checked: impl FnOnce() -> Option<bool>,
) -> Result<u64, TxError> {
    let saved: Vec<(Address, Option<Account>)> =
        touched(tx).map(|a| (a, overlay.accounts.get(&a).cloned())).collect();
    // A borrowed meta is kept as the borrow: nothing is copied until a kind writes it.
    let saved_meta = (!matches!(tx.tx.kind, TxKind::Transfer { .. })).then(|| meta.clone());
    // The one release-queue entry a transaction may write: an unstake's, at the queue's end.
    let slot = release_key(UNSTAKED, meta.releases.unstaked.end);
    let saved_slot = overlay.releases.get(&slot).copied();
    let r = apply_tx(chain, overlay, meta, tx, signature_checked);
    if r.is_err() {
        match saved_slot {
            Some(entry) => overlay.releases.insert(slot, entry),
            None => overlay.releases.remove(&slot),
        };
        for (address, previous) in saved {
            match previous {
                Some(account) => overlay.accounts.insert(address, account),
                None => overlay.accounts.remove(&address),
            };
        }
        if let Some(m) = saved_meta {
            *meta = m;
        }
    }
    r
}

/// The accounts a transaction may write: its sender, and the recipient or the offender.
fn touched(tx: &SignedTx) -> impl Iterator<Item = Address> {
    let other = match &tx.tx.kind {
        TxKind::Transfer { to, .. } => Some(*to),
        TxKind::Evidence(e) => Some(Address::from_public_key(e.offender())),
        TxKind::Stake { .. } | TxKind::Unstake { .. } => None,
    };
    core::iter::once(tx.tx.sender_address()).chain(other)
}

/// The validator set for the epoch after next, snapshotted at the start of `epoch`: registered,
/// unslashed stakers with at least `min_stake` that are not inactive. Never empty: if nobody
/// qualifies, the current members stay.
fn snapshot<S: NodeStore + ?Sized>(
    chain: &Chain,
    overlay: &Overlay<'_, S>,
    meta: &ChainMeta,
    epoch: u64,
) -> Result<ValidatorSet, TreeError> {
    let mut members = Vec::new();
    for r in &meta.registry {
        if r.is_inactive_at(epoch) {
            continue;
        }
        let acc = overlay.get(&Address::from_public_key(&r.key))?;
        if !acc.slashed && acc.stake >= chain.params.min_stake {
            members.push(Member { key: r.key.clone(), stake: acc.stake });
        }
    }
    if let Ok(set) = ValidatorSet::new(meta.mix, members) {
        return Ok(set);
    }
    // Nobody qualifies: keep the current members that were not slashed, so the chain goes on.
    let mut keep = Vec::new();
    for m in meta.current.members() {
        if !overlay.get(&Address::from_public_key(&m.key))?.slashed {
            keep.push(m.clone());
        }
    }
    Ok(ValidatorSet::new(meta.mix, keep).unwrap_or_else(|_| meta.current.with_seed(meta.mix)))
}

/// Drops registrations that can no longer be elected: below the minimum stake (or slashed) and in
/// neither the current nor the next set. Bounded by the registry size.
fn prune_registry<S: NodeStore + ?Sized>(
    overlay: &Overlay<'_, S>,
    meta: &mut ChainMeta,
    min_stake: u64,
) -> Result<(), TreeError> {
    let mut keep = Vec::with_capacity(meta.registry.len());
    for r in core::mem::take(&mut meta.registry) {
        let acc = overlay.get(&Address::from_public_key(&r.key))?;
        let in_sets =
            meta.current.index_of(&r.key).is_some() || meta.next.index_of(&r.key).is_some();
        if in_sets || (acc.stake >= min_stake && !acc.slashed) {
            keep.push(r);
        }
    }
    meta.registry = keep;
    Ok(())
}

/// Renewed hash chains take effect: every registration whose renewal is due by `epoch` commits to
/// it from now on. Bounded by the registry size.
fn renew_chains(meta: &mut ChainMeta, epoch: u64) {
    for r in &mut meta.registry {
        if r.renewal != Hash::ZERO && epoch >= r.renewal_epoch {
            r.commitment = core::mem::replace(&mut r.renewal, Hash::ZERO);
            r.renewal_epoch = 0;
        }
    }
}

/// The part of a block that [`execute`] takes: everything but the results.
struct Proposal<'a> {
    height: u64,
    slot: u64,
    parent: Hash,
    proposer: &'a PublicKey,
    reveal: &'a Hash,
    certificate: Option<&'a Certificate>,
}

struct Executed {
    meta: ChainMeta,
    accounts_root: Hash,
    nodes: NodeBatch,
    touched: Vec<Address>,
    included: Vec<SignedTx>,
    rejected: Vec<(Hash, TxError)>,
}

/// Whether invalid transactions reject the block (validation) or are left out (building).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Validate,
    Build,
}

fn execute<S: NodeStore + ?Sized>(
    store: &S,
    chain: &Chain,
    state: &ChainState,
    p: &Proposal<'_>,
    txs: &[SignedTx],
    mode: Mode,
    signatures: Signatures<'_>,
) -> Result<Executed, BlockError> {
    let params = &chain.params;
    let mut meta = state.meta.clone();
    let mut overlay = Overlay::new(store, state);

    // 1. Epoch transition.
    let epoch = params.epoch_of(p.slot);
    if epoch > meta.epoch {
        let next_set = snapshot(chain, &overlay, &meta, epoch)?;
        let old_current = core::mem::replace(&mut meta.current, meta.next.clone());
        meta.previous = Some((meta.epoch, old_current));
        meta.next = next_set;
        meta.epoch = epoch;
        prune_registry(&overlay, &mut meta, params.min_stake)?;
        renew_chains(&mut meta, epoch);
    }

    // 2. Proposer election and reveal.
    let elected = meta.current.proposer(p.slot).ok_or(BlockError::WrongValidators)?;
    if &elected.key != p.proposer {
        return Err(BlockError::WrongProposer {
            expected: Address::from_public_key(&elected.key),
            found: Address::from_public_key(p.proposer),
        });
    }
    let reg_index = meta
        .registry
        .binary_search_by(|r| r.key.cmp(p.proposer))
        .map_err(|_| BlockError::ProposerNotRegistered)?;
    let reg = meta.registry.get_mut(reg_index).ok_or(BlockError::ProposerNotRegistered)?;
    if !pos::opens(&reg.commitment, p.reveal) {
        return Err(BlockError::BadReveal);
    }
    reg.commitment = *p.reveal;
    reg.last_active = epoch;
    meta.mix = pos::mix(&meta.mix, p.reveal);

    // 3. Ancestors: the parent joins the window certificates may target.
    meta.recent.push(RecentBlock { hash: p.parent, slot: state.tip.slot });
    if meta.recent.len() > RECENT_BLOCKS {
        meta.recent.remove(0);
    }

    // 4. Certificate: FFG source and target, then signatures and stake.
    if let Some(cert) = p.certificate {
        let v = &cert.vote;
        if v.source != meta.justified {
            return Err(BlockError::CertificateSource {
                expected: meta.justified,
                found: v.source,
            });
        }
        let back = p.height.checked_sub(v.target.height).filter(|b| *b >= 1);
        let target = back
            .and_then(|b| meta.recent.len().checked_sub(usize::try_from(b).ok()?))
            .and_then(|i| meta.recent.get(i))
            .filter(|r| r.hash == v.target.hash)
            .ok_or(BlockError::CertificateTarget { target: v.target })?;
        let target_epoch = params.epoch_of(target.slot);
        if v.epoch != target_epoch {
            return Err(BlockError::CertificateEpochMismatch {
                vote: v.epoch,
                target: target_epoch,
            });
        }
        let set = if v.epoch == meta.epoch {
            &meta.current
        } else {
            match &meta.previous {
                Some((e, set)) if *e == v.epoch => set,
                _ => return Err(BlockError::CertificateEpochUnknown { epoch: v.epoch }),
            }
        };
        if v.target.height <= meta.justified.height {
            return Err(BlockError::CertificateTarget { target: v.target });
        }
        cert.verify(&chain.id, set).map_err(BlockError::Certificate)?;
        // Its signers are alive: at most one registry search per signature.
        let signers: Vec<PublicKey> = cert
            .signatures
            .iter()
            .filter_map(|(i, _)| set.members().get(usize::from(*i)).map(|m| m.key.clone()))
            .collect();
        for key in &signers {
            if let Ok(i) = meta.registry.binary_search_by(|r| r.key.cmp(key))
                && let Some(r) = meta.registry.get_mut(i)
            {
                r.last_active = epoch;
            }
        }
        if v.target.height == v.source.height.saturating_add(1) {
            meta.finalized = v.source;
        }
        meta.justified = v.target;
    }

    // 5. Matured unbonds are paid out, unless the previous, current or next set still counts them (epochs
    // without blocks do not rotate sets, so a release epoch can come before the sets that counted
    // the coins are gone): such a payout waits one more epoch, so stake that can still sign stays
    // slashable.
    let mut counted: Option<BTreeMap<Address, u64>> = None;
    for _ in 0..MAX_RELEASES_PER_BLOCK {
        let releases = &mut meta.releases;
        // The older front first; on a tie the unstaked queue's, queued earlier.
        let id = match (releases.unstaked.is_due(epoch), releases.deferred.is_due(epoch)) {
            (false, false) => break,
            (true, false) => UNSTAKED,
            (false, true) => DEFERRED,
            (true, true) if releases.unstaked.first_epoch <= releases.deferred.first_epoch => {
                UNSTAKED
            }
            (true, true) => DEFERRED,
        };
        let queue = if id == UNSTAKED { &mut releases.unstaked } else { &mut releases.deferred };
        let release = overlay.pop(id, queue)?;
        // Stake each address still has counted in a set whose votes a block may carry: the
        // previous (late votes), current and next sets. Worked out once, if anything is due.
        let counted = counted.get_or_insert_with(|| {
            let previous = meta.previous.as_ref().map(|(_, set)| set.members()).unwrap_or(&[]);
            let mut counted: BTreeMap<Address, u64> = BTreeMap::new();
            for m in previous.iter().chain(meta.current.members()).chain(meta.next.members()) {
                let c = counted.entry(Address::from_public_key(&m.key)).or_default();
                *c = (*c).max(m.stake);
            }
            counted
        });
        let mut acc = overlay.get(&release.address)?;
        // The sets still count more than what is bonded: part of the unbonding coins.
        if counted.get(&release.address).is_some_and(|c| *c > acc.stake) {
            let next_epoch = epoch.checked_add(1).ok_or(BlockError::Overflow)?;
            for u in acc.unbonding.iter_mut().filter(|u| u.release_epoch <= epoch) {
                u.release_epoch = next_epoch;
            }
            let deferred = Release { epoch: next_epoch, address: release.address };
            overlay
                .push(DEFERRED, &mut meta.releases.deferred, deferred)
                .ok_or(BlockError::Overflow)?;
        } else {
            let (matured, pending): (Vec<Unbonding>, Vec<Unbonding>) =
                acc.unbonding.iter().partition(|u| u.release_epoch <= epoch);
            for u in matured {
                acc.balance = acc.balance.checked_add(u.amount).ok_or(BlockError::Overflow)?;
            }
            acc.unbonding = pending;
        }
        overlay.put(release.address, acc);
    }

    // 6. Transactions, in order.
    let max = params.max_block_txs;
    if mode == Mode::Validate && txs.len() > max as usize {
        return Err(BlockError::TooManyTxs { count: txs.len(), max });
    }
    let mut fees: u64 = 0;
    let mut included = Vec::new();
    let mut rejected = Vec::new();
    let mut tx_meta: Cow<'_, ChainMeta> = Cow::Owned(meta);
    for (index, tx) in txs.iter().enumerate() {
        if included.len() >= max as usize {
            break;
        }
        let checked = || signatures.of(index);
        let result = match mode {
            Mode::Validate => apply_tx(chain, &mut overlay, &mut tx_meta, tx, checked),
            // Building must leave no trace of a rejected tx.
            Mode::Build => apply_or_undo(chain, &mut overlay, &mut tx_meta, tx, checked),
        };
        match result {
            Ok(fee) => {
                fees = fees.checked_add(fee).ok_or(BlockError::Overflow)?;
                included.push(tx.clone());
            }
            Err(error) if mode == Mode::Build => rejected.push((tx.id(), error)),
            Err(error) => return Err(BlockError::Tx { index, error }),
        }
    }
    let mut meta = tx_meta.into_owned();

    // 7. Reward and fees to the proposer.
    let proposer_address = Address::from_public_key(p.proposer);
    let mut acc = overlay.get(&proposer_address)?;
    let income = fees.checked_add(params.block_reward).ok_or(BlockError::Overflow)?;
    acc.balance = acc.balance.checked_add(income).ok_or(BlockError::Overflow)?;
    overlay.put(proposer_address, acc);
    meta.supply.issued =
        meta.supply.issued.checked_add(params.block_reward).ok_or(BlockError::Overflow)?;

    let touched = overlay.accounts.keys().copied().collect();
    let (accounts_root, releases_root, nodes) = overlay.commit()?;
    meta.releases.root = releases_root;
    Ok(Executed { meta, accounts_root, nodes, touched, included, rejected })
}

/// A block applied to a state: the new state and the tree nodes to persist with it.
#[derive(Debug, Clone)]
pub struct Applied {
    pub state: ChainState,
    pub nodes: NodeBatch,
    /// Every account the block wrote, in address order: senders, recipients, offenders, the
    /// proposer (its reward), unbonds paid out. What a node tells the accounts' watchers.
    pub touched: Vec<Address>,
}

/// Who checks transaction signatures: the one way every function of core that applies or checks
/// transactions is told (a block's, a built block's candidates, one transaction's).
#[derive(Clone, Copy)]
pub enum Signatures<'a> {
    /// Core, one by one in order.
    Verify,
    /// The caller verified every one, and all are valid (a mempool re-checking what it admitted).
    Verified,
    /// The caller already did — on several cores, or earlier in its mempool (a signature
    /// cache) — and `valid[i]` is transaction `i`'s result. It is used at the point where core
    /// would verify, so a block is refused with exactly the error [`Signatures::Verify`] gives.
    /// A transaction beyond the slice is verified by core.
    Checked(&'a [bool]),
    /// As `Checked`, with `lookup(i)` giving transaction `i`'s result (`None`: core verifies
    /// it). Core asks once per transaction, in block order, when it reaches that transaction's
    /// signature check, after reading its sender's state; the caller may still be verifying
    /// (on other cores) and make the call wait, so state work and verification overlap.
    Lookup(&'a dyn Fn(usize) -> Option<bool>),
}

impl Signatures<'_> {
    /// Transaction `i`'s signature as the caller knows it: valid or not, or `None` when core
    /// must verify it.
    pub fn of(&self, i: usize) -> Option<bool> {
        match self {
            Self::Verify => None,
            Self::Verified => Some(true),
            Self::Checked(valid) => valid.get(i).copied(),
            Self::Lookup(lookup) => lookup(i),
        }
    }
}

impl core::fmt::Debug for Signatures<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Verify => f.write_str("Verify"),
            Self::Verified => f.write_str("Verified"),
            Self::Checked(valid) => f.debug_tuple("Checked").field(valid).finish(),
            Self::Lookup(_) => f.write_str("Lookup(..)"),
        }
    }
}

/// Validates `block` on top of `state` and returns the resulting state. Checks, in order: height,
/// parent, slot, validator-set hash, elected proposer, proposer signature, certificate hash,
/// transaction count, transaction root; then, while executing: epoch transition, reveal,
/// certificate (source, target, epoch, signatures and stake), each transaction (its signature
/// as `signatures` says); then the next validator set, the justified and finalized checkpoints,
/// and the state root. Proposer and certificate signatures are always checked here.
pub fn apply_block<S: NodeStore + ?Sized>(
    store: &S,
    chain: &Chain,
    state: &ChainState,
    block: &Block,
    signatures: Signatures<'_>,
) -> Result<Applied, BlockError> {
    let h = &block.header.header;
    let expected_height = state.tip.height.checked_add(1).ok_or(BlockError::Overflow)?;
    if h.height != expected_height {
        return Err(BlockError::WrongHeight { expected: expected_height, found: h.height });
    }
    if h.parent != state.tip.hash {
        return Err(BlockError::WrongParent { expected: state.tip.hash, found: h.parent });
    }
    if h.slot <= state.tip.slot {
        return Err(BlockError::SlotNotAfterParent { parent: state.tip.slot, found: h.slot });
    }
    // The set this block's epoch will use, known before executing anything.
    let set = proposing_set(chain, state, h.slot);
    if h.validators != set.hash() {
        return Err(BlockError::WrongValidators);
    }
    let elected = set.proposer(h.slot).ok_or(BlockError::WrongValidators)?;
    if elected.key != h.proposer {
        return Err(BlockError::WrongProposer {
            expected: Address::from_public_key(&elected.key),
            found: Address::from_public_key(&h.proposer),
        });
    }
    block.header.verify_signature(&chain.id).map_err(|_| BlockError::BadProposerSignature)?;
    // The body against the header (§8.5 checks 7 to 9): the one rule the relay also asks
    // before it imports, off its lock.
    block.check_body(chain.params.max_block_txs)?;
    let proposal = Proposal {
        height: h.height,
        slot: h.slot,
        parent: h.parent,
        proposer: &h.proposer,
        reveal: &h.reveal,
        certificate: block.certificate.as_ref(),
    };
    let ex = execute(store, chain, state, &proposal, &block.txs, Mode::Validate, signatures)?;
    if h.next_validators != ex.meta.next.hash() {
        return Err(BlockError::WrongNextValidators);
    }
    if h.justified != ex.meta.justified {
        return Err(BlockError::WrongJustified {
            header: h.justified,
            computed: ex.meta.justified,
        });
    }
    if h.finalized != ex.meta.finalized {
        return Err(BlockError::WrongFinalized {
            header: h.finalized,
            computed: ex.meta.finalized,
        });
    }
    let computed = state_root(&ex.accounts_root, &ex.meta.hash());
    if computed != h.state_root {
        return Err(BlockError::WrongStateRoot { header: h.state_root, computed });
    }
    Ok(Applied {
        state: ChainState {
            tip: Tip { hash: h.hash(), height: h.height, slot: h.slot },
            accounts_root: ex.accounts_root,
            meta: ex.meta,
        },
        nodes: ex.nodes,
        touched: ex.touched,
    })
}

/// A block built by a proposer, with its resulting state and the candidates left out.
#[derive(Debug, Clone)]
pub struct Built {
    pub block: Block,
    pub applied: Applied,
    pub rejected: Vec<(Hash, TxError)>,
}

/// Builds and signs the block for `slot` on top of `state`: includes the valid `candidates` in
/// order (up to the cap), leaves out the invalid ones with their reasons; their signatures
/// checked as `signatures` says (a relay's mempool holds only transactions whose signatures it
/// verified on admission).
#[allow(clippy::too_many_arguments)]
pub fn build_block<S: NodeStore + ?Sized>(
    store: &S,
    chain: &Chain,
    state: &ChainState,
    key: &SecretKey,
    slot: u64,
    reveal: &Hash,
    candidates: &[SignedTx],
    certificate: Option<Certificate>,
    signatures: Signatures<'_>,
) -> Result<Built, BlockError> {
    let proposer = key.public_key();
    let height = state.tip.height.checked_add(1).ok_or(BlockError::Overflow)?;
    if slot <= state.tip.slot {
        return Err(BlockError::SlotNotAfterParent { parent: state.tip.slot, found: slot });
    }
    let proposal = Proposal {
        height,
        slot,
        parent: state.tip.hash,
        proposer: &proposer,
        reveal,
        certificate: certificate.as_ref(),
    };
    let ex = execute(store, chain, state, &proposal, candidates, Mode::Build, signatures)?;
    let header = Header {
        height,
        slot,
        parent: state.tip.hash,
        proposer,
        tx_root: merkle::root(&ex.included.iter().map(SignedTx::id).collect::<Vec<_>>()),
        state_root: state_root(&ex.accounts_root, &ex.meta.hash()),
        reveal: *reveal,
        validators: ex.meta.current.hash(),
        next_validators: ex.meta.next.hash(),
        justified: ex.meta.justified,
        finalized: ex.meta.finalized,
        certificate: certificate.as_ref().map_or(Hash::ZERO, Certificate::hash),
    };
    let signed: SignedHeader = header.sign(&chain.id, key);
    let tip = Tip { hash: signed.hash(), height, slot };
    Ok(Built {
        block: Block { header: signed, txs: ex.included, certificate },
        applied: Applied {
            state: ChainState { tip, accounts_root: ex.accounts_root, meta: ex.meta },
            nodes: ex.nodes,
            touched: ex.touched,
        },
        rejected: ex.rejected,
    })
}

/// Checks one transaction against a state, as a mempool does before accepting it: the same rules
/// as inside a block, signature included. Changes nothing.
pub fn check_tx<S: NodeStore + ?Sized>(
    store: &S,
    chain: &Chain,
    state: &ChainState,
    tx: &SignedTx,
    signatures: Signatures<'_>,
) -> Result<(), TxError> {
    Pending::new(store, chain, state).apply(tx, signatures)
}

/// A state with pending transactions applied on top of it, in memory: what a mempool checks a
/// sender's next transaction against, so that every rule it applies, and every effect of the
/// transactions before it (on the sender, its registration, a recipient), is core's. It writes
/// nothing; dropping it discards what was applied. Its work grows with what is applied
/// (touched accounts × tree depth), never with the state.
pub struct Pending<'a, S: ?Sized> {
    chain: &'a Chain,
    overlay: Overlay<'a, S>,
    /// Borrowed until a transaction writes it: transfers (the common case) never copy it.
    meta: Cow<'a, ChainMeta>,
}

impl<'a, S: NodeStore + ?Sized> Pending<'a, S> {
    /// Nothing pending yet: `state` as it is.
    pub fn new(store: &'a S, chain: &'a Chain, state: &'a ChainState) -> Self {
        Pending { chain, overlay: Overlay::new(store, state), meta: Cow::Borrowed(&state.meta) }
    }

    /// The account of `address` after what was applied (default if absent).
    pub fn account(&self, address: &Address) -> Result<Account, TreeError> {
        self.overlay.get(address)
    }

    /// Checks `tx` by the rules of a block on top of what was applied so far (§7.2, its
    /// signature as `signatures` says of transaction 0) and applies it. A refused transaction
    /// leaves no trace.
    pub fn apply(&mut self, tx: &SignedTx, signatures: Signatures<'_>) -> Result<(), TxError> {
        let checked = || signatures.of(0);
        apply_or_undo(self.chain, &mut self.overlay, &mut self.meta, tx, checked).map(|_| ())
    }
}

impl<S: ?Sized> fmt::Debug for Pending<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("accounts", &self.overlay.accounts.len())
            .finish_non_exhaustive()
    }
}

/// The validator set of a block of `slot` on top of `state`: the next set when the block starts
/// a new epoch, else the current one. The one place this is worked out (block validation, the
/// proposer's election).
pub fn proposing_set<'s>(chain: &Chain, state: &'s ChainState, slot: u64) -> &'s ValidatorSet {
    let epoch = chain.params.epoch_of(slot);
    if epoch > state.meta.epoch { &state.meta.next } else { &state.meta.current }
}

/// Who must propose `slot` on top of `state`.
pub fn proposer_for(chain: &Chain, state: &ChainState, slot: u64) -> Option<PublicKey> {
    proposing_set(chain, state, slot).proposer(slot).map(|m| m.key.clone())
}

/// The commitment `key`'s reveal must open in a block of `slot` on top of `state`: its
/// registration's commitment, or the renewal it announced if the block starts an epoch the
/// renewal is due by (it takes effect at that transition, before the reveal is checked;
/// PROTOCOL.md §9.3).
/// `None` if `key` is not registered. A proposer asks this; it does not re-derive the rule.
pub fn commitment_to_open(
    chain: &Chain,
    state: &ChainState,
    key: &PublicKey,
    slot: u64,
) -> Option<Hash> {
    let r = state.meta.registration(key)?;
    let epoch = chain.params.epoch_of(slot);
    let due = epoch > state.meta.epoch && r.renewal != Hash::ZERO && epoch >= r.renewal_epoch;
    Some(if due { r.renewal } else { r.commitment })
}

/// The validator set whose votes for a block of `epoch` a block on top of `state` accepts.
pub fn voting_set(state: &ChainState, epoch: u64) -> Option<&ValidatorSet> {
    if epoch == state.meta.epoch {
        Some(&state.meta.current)
    } else {
        match &state.meta.previous {
            Some((e, set)) if *e == epoch => Some(set),
            _ => None,
        }
    }
}

// ---- Encoding of the chain meta (hashed into the state root). ----

impl Encode for Registration {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.key.encode_to(out);
        self.commitment.encode_to(out);
        self.renewal.encode_to(out);
        out.put_u64(self.renewal_epoch);
        out.put_u64(self.last_active);
    }
}

impl Encode for Release {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u64(self.epoch);
        self.address.encode_to(out);
    }
}

impl Decode for Release {
    const MAX_SIZE: usize = 28;
    const NAME: &'static str = "release";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Release { epoch: r.u64()?, address: Address::decode_from(r)? })
    }
}

impl Encode for Releases {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.root.encode_to(out);
        self.unstaked.encode_to(out);
        self.deferred.encode_to(out);
    }
}

impl Encode for ReleaseQueue {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u64(self.first);
        out.put_u64(self.end);
        out.put_u64(self.first_epoch);
    }
}

impl Decode for ReleaseQueue {
    const MAX_SIZE: usize = 24;
    const NAME: &'static str = "release queue";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let queue = ReleaseQueue { first: r.u64()?, end: r.u64()?, first_epoch: r.u64()? };
        // One encoding for one queue: an empty queue has no epoch, and none has a negative length.
        if queue.first > queue.end || (queue.is_empty() && queue.first_epoch != 0) {
            return Err(DecodeError::NonCanonical { what: "release queue" });
        }
        Ok(queue)
    }
}

impl Encode for RecentBlock {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.hash.encode_to(out);
        out.put_u64(self.slot);
    }
}

struct PreviousSet<'a>(&'a (u64, ValidatorSet));

impl Encode for PreviousSet<'_> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u64(self.0.0);
        self.0.1.encode_to(out);
    }
}

impl Encode for ChainMeta {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u64(self.epoch);
        out.put_option(&self.previous.as_ref().map(PreviousSet));
        self.current.encode_to(out);
        self.next.encode_to(out);
        self.mix.encode_to(out);
        out.put_list(&self.registry);
        self.justified.encode_to(out);
        self.finalized.encode_to(out);
        out.put_list(&self.recent);
        self.releases.encode_to(out);
        out.put_u64(self.supply.genesis);
        out.put_u64(self.supply.issued);
        out.put_u64(self.supply.burned);
    }
}

/// Most unbond payouts pending chain-wide: bounds how long a payout can wait behind the others
/// (`MAX_RELEASES / MAX_RELEASES_PER_BLOCK` = 4,096 blocks), not what the queue costs.
pub const MAX_RELEASES: u32 = 1 << 20;

/// The fields of an encoded [`ChainMeta`] up to its registry, in order: what the full decoder
/// reads first, and all that [`registry_of`] reads.
struct MetaHead {
    epoch: u64,
    previous: Option<(u64, ValidatorSet)>,
    current: ValidatorSet,
    next: ValidatorSet,
    mix: Hash,
    registry: Vec<Registration>,
}

impl MetaHead {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let epoch = r.u64()?;
        let previous =
            r.option("previous set", |r| Ok((r.u64()?, ValidatorSet::decode_from(r)?)))?;
        let current = ValidatorSet::decode_from(r)?;
        let next = ValidatorSet::decode_from(r)?;
        let mix = Hash::decode_from(r)?;
        let registry = r.list("registrations", Params::MAX_VALIDATORS, 113, |r| {
            let registration = Registration {
                key: PublicKey::decode_from(r)?,
                commitment: Hash::decode_from(r)?,
                renewal: Hash::decode_from(r)?,
                renewal_epoch: r.u64()?,
                last_active: r.u64()?,
            };
            // No renewal, no epoch: one encoding for one registration.
            if registration.renewal == Hash::ZERO && registration.renewal_epoch != 0 {
                return Err(DecodeError::NonCanonical { what: "renewal epoch" });
            }
            Ok(registration)
        })?;
        if registry.windows(2).any(|w| matches!(w, [a, b] if a.key >= b.key)) {
            return Err(DecodeError::NonCanonical { what: "registry order" });
        }
        Ok(MetaHead { epoch, previous, current, next, mix, registry })
    }
}

/// The registry of an encoded [`ChainMeta`] (as `get_meta` sends it), reading nothing after
/// it: what a wallet needs of a meta it checked by its hash
/// ([`crate::light::verify_meta`]), without the code to decode or encode the rest.
pub fn registry_of(meta: &[u8]) -> Result<Vec<Registration>, DecodeError> {
    if meta.len() > ChainMeta::MAX_SIZE {
        return Err(DecodeError::TooLarge {
            what: ChainMeta::NAME,
            size: meta.len(),
            max: ChainMeta::MAX_SIZE,
        });
    }
    Ok(MetaHead::decode_from(&mut Reader::new(meta))?.registry)
}

impl Decode for ChainMeta {
    const MAX_SIZE: usize = 64 * 1024 * 1024;
    const NAME: &'static str = "chain meta";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let MetaHead { epoch, previous, current, next, mix, registry } = MetaHead::decode_from(r)?;
        let justified = Checkpoint::decode_from(r)?;
        let finalized = Checkpoint::decode_from(r)?;
        let recent = r.list("recent blocks", RECENT_BLOCKS as u32, 40, |r| {
            Ok(RecentBlock { hash: Hash::decode_from(r)?, slot: r.u64()? })
        })?;
        let releases = Releases {
            root: Hash::decode_from(r)?,
            unstaked: ReleaseQueue::decode_from(r)?,
            deferred: ReleaseQueue::decode_from(r)?,
        };
        // Popped entries are deleted: the tree is empty exactly when both queues are.
        if releases.is_empty() != (releases.root == Hash::ZERO) {
            return Err(DecodeError::NonCanonical { what: "release queue" });
        }
        let supply = Supply { genesis: r.u64()?, issued: r.u64()?, burned: r.u64()? };
        Ok(ChainMeta {
            epoch,
            previous,
            current,
            next,
            mix,
            registry,
            justified,
            finalized,
            recent,
            releases,
            supply,
        })
    }
}

impl Encode for Tip {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.hash.encode_to(out);
        out.put_u64(self.height);
        out.put_u64(self.slot);
    }
}

impl Decode for Tip {
    const MAX_SIZE: usize = 48;
    const NAME: &'static str = "tip";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Tip { hash: Hash::decode_from(r)?, height: r.u64()?, slot: r.u64()? })
    }
}

/// A node stores the state after each block in this form (the accounts themselves live in the
/// tree's node store).
impl Encode for ChainState {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.tip.encode_to(out);
        self.accounts_root.encode_to(out);
        self.meta.encode_to(out);
    }
}

impl Decode for ChainState {
    const MAX_SIZE: usize = ChainMeta::MAX_SIZE + 80;
    const NAME: &'static str = "chain state";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ChainState {
            tip: Tip::decode_from(r)?,
            accounts_root: Hash::decode_from(r)?,
            meta: ChainMeta::decode_from(r)?,
        })
    }
}
