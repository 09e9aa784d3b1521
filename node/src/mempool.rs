//! The mempool: transactions waiting for a block, bounded, ordered by fee.
//!
//! Pure logic: no I/O, no clock (time comes in as `now_ms`), no logging. Validity is core's:
//! the pool never decides a rule itself, it only decides which state a rule is checked against.
//!
//! # Ready and held
//!
//! A sender's transactions with consecutive nonces from its account's next nonce are **ready**:
//! each was checked by core ([`state::Pending`]) on top of the head state with the ones before
//! it applied, so a second pending transaction is not refused with `NonceMismatch` and cannot
//! spend what the first one spends. Only ready transactions are selected for a block, and only
//! they are announced for gossip ([`Mempool::take_newly_ready`]): a relay passes on only what
//! could go in its next block. Other senders' pending transactions are not applied: a pending
//! transfer *to* the sender does not raise what it may spend before it is in a block.
//!
//! A transaction whose nonce leaves a gap (nonce > the sender's next nonce) is **held**: it can
//! only be checked statelessly (core's [`state::check_stateless`]: chain, minimum fee,
//! signature). When the gap fills (a later transaction or a block), held transactions are
//! checked in nonce order like ready ones; the first that fails is dropped and the ones after it
//! stay held.
//!
//! # Paying for what is pending
//!
//! Held transactions cost nothing to make and never reach a block, so throw-away
//! keys could fill the pool with them at any fee and lock every honest transaction out. Every
//! transaction, held or ready, enters only if the sender's balance at the head pays for it
//! together with all its other pending ones (core's [`state::check_can_pay`]); after a block,
//! the sender's highest nonces are dropped until it does again. Held transactions have their own
//! bound, `max_held`, apart from the `max_txs` ready ones: a held transaction only ever evicts a
//! held one, a ready one a ready one.
//!
//! # Bounds
//!
//! At most `max_txs` ready and `max_held` held transactions, and `max_per_sender` per sender; a
//! nonce at most `max_nonce_gap` beyond the sender's next nonce. Every loop runs over the pool's
//! own bounded contents, never over a length taken from a peer. Checking a sender's transaction
//! applies its ready ones before it (at most `max_per_sender`). [`Mempool::on_new_state`]
//! re-checks a sender's transactions only when its account changed (or it has pending stake or
//! evidence, whose validity depends on more than its account), so its cost follows the block,
//! not the pool.

use memecoin_core::account::Account;
use memecoin_core::address::Address;
use memecoin_core::hash::Hash;
use memecoin_core::state::{self, Chain, ChainState, Pending, Signatures, TxError};
use memecoin_core::tree::NodeStore;
use memecoin_core::tx::{SignedTx, Tx, TxKind};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;

/// The pool's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Most ready transactions.
    pub max_txs: usize,
    /// Most held transactions (behind a nonce gap), apart from the ready ones.
    pub max_held: usize,
    /// Most transactions of one sender (ready and held).
    pub max_per_sender: usize,
    /// How far beyond the sender's next nonce a held transaction's nonce may be: with 0 no
    /// transaction is held, with 1 a nonce may skip exactly one.
    pub max_nonce_gap: u64,
    /// A transaction older than this (since it entered the pool) is dropped at the next state.
    pub expiry_ms: u64,
}

/// Why the pool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Core's rules reject it (against the state with the sender's pending transactions).
    Invalid(TxError),
    /// The same transaction is already in the pool.
    AlreadyKnown,
    /// The nonce was already used on chain.
    NonceTooLow { expected: u64, found: u64 },
    /// The nonce is too far beyond the sender's next nonce to be held.
    NonceGapTooLarge { next: u64, found: u64, max_gap: u64 },
    /// A pending transaction has the same sender and nonce and pays at least as much.
    FeeTooLowToReplace { old: u64, new: u64 },
    /// The sender already has `max` transactions in the pool.
    SenderFull { max: usize },
    /// The sender's balance at the head does not pay for this transaction and its other pending
    /// ones together (amount + fee each): `available` is 0 for an unknown or unfunded sender.
    CannotPay { needed: u64, available: u64 },
    /// The pool is full and the transaction pays no more than the cheapest one it could evict.
    PoolFullFeeTooLow { lowest: u64 },
    /// The room for held transactions is full and this one (held) pays no more than the
    /// cheapest held one it could evict.
    HeldFullFeeTooLow { lowest: u64 },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(e) => write!(f, "invalid transaction: {e}"),
            Self::AlreadyKnown => f.write_str("transaction is already in the mempool"),
            Self::NonceTooLow { expected, found } => {
                write!(f, "nonce {found} is already used, the account's next nonce is {expected}")
            }
            Self::NonceGapTooLarge { next, found, max_gap } => write!(
                f,
                "nonce {found} is more than {max_gap} beyond the sender's next nonce {next}"
            ),
            Self::FeeTooLowToReplace { old, new } => {
                write!(f, "fee {new} does not exceed the pending transaction's fee {old}")
            }
            Self::SenderFull { max } => {
                write!(f, "the sender already has {max} pending transactions")
            }
            Self::CannotPay { needed, available } => write!(
                f,
                "the sender's balance {available} does not pay {needed} for this and its other \
                 pending transactions"
            ),
            Self::PoolFullFeeTooLow { lowest } => {
                write!(f, "the mempool is full and the fee does not exceed the lowest fee {lowest}")
            }
            Self::HeldFullFeeTooLow { lowest } => write!(
                f,
                "the mempool holds all it can behind nonce gaps and the fee does not exceed the \
                 lowest such fee {lowest}"
            ),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    tx: SignedTx,
    sender: Address,
    added_ms: u64,
    /// Counted with the ready transactions (in `ready_fees`), else with the held ones.
    ready: bool,
    /// Returned by `take_newly_ready` (or queued for it) once: never gossiped twice.
    announced: bool,
}

/// One sender's transactions. Those with nonces `base.nonce .. base.nonce + ready` are
/// *ready*: present, consecutive, and each checked by core on top of the ones before it. Any
/// others are *held* (beyond a gap).
#[derive(Debug, Clone)]
struct Sender {
    txs: BTreeMap<u64, Hash>,
    /// The sender's account the ready transactions were checked against.
    base: Account,
    ready: u64,
}

impl Sender {
    /// The nonce the sender's next ready transaction must carry.
    fn next(&self) -> u64 {
        self.base.nonce.saturating_add(self.ready)
    }

    fn is_ready(&self, nonce: u64) -> bool {
        nonce >= self.base.nonce && nonce < self.next()
    }
}

/// Pending transactions, bounded; see the module docs for how they are checked.
#[derive(Debug, Clone)]
pub struct Mempool {
    config: MempoolConfig,
    txs: BTreeMap<Hash, Entry>,
    senders: BTreeMap<Address, Sender>,
    /// Ready transactions by (fee, id): the first is the one to evict.
    ready_fees: BTreeSet<(u64, Hash)>,
    /// Held transactions by (fee, id).
    held_fees: BTreeSet<(u64, Hash)>,
    /// Transactions that became ready and were not yet taken by `take_newly_ready`.
    newly_ready: Vec<Hash>,
}

impl Mempool {
    pub fn new(config: MempoolConfig) -> Self {
        Mempool {
            config,
            txs: BTreeMap::new(),
            senders: BTreeMap::new(),
            ready_fees: BTreeSet::new(),
            held_fees: BTreeSet::new(),
            newly_ready: Vec::new(),
        }
    }

    /// Checks `tx` against `state` *including pending transactions of the same sender* and
    /// adds it. In order: already known; nonce used on chain; replace-by-fee (a transaction with
    /// the same sender and nonce is replaced only by a higher fee); nonce gap; sender limit;
    /// payment (the head balance pays for it and the sender's other pending ones); validity
    /// (core's rules on top of the sender's ready transactions, or stateless checks for a held
    /// one); room (when its kind, ready or held, is full, the cheapest transaction of that kind
    /// of another sender is evicted if `tx` pays more). Returns the transaction id.
    ///
    /// The signature is checked as `signatures` says: `Verified` when the caller did it (a
    /// connection task, outside the node's lock, so admissions verify on every core).
    pub fn insert<S: NodeStore + ?Sized>(
        &mut self,
        store: &S,
        chain: &Chain,
        state: &ChainState,
        tx: SignedTx,
        now_ms: u64,
        signatures: Signatures<'_>,
    ) -> Result<Hash, Rejection> {
        let id = tx.id();
        if self.txs.contains_key(&id) {
            return Err(Rejection::AlreadyKnown);
        }
        let address = tx.tx.sender_address();
        let nonce = tx.tx.nonce;
        let account =
            state.account(store, &address).map_err(|e| Rejection::Invalid(TxError::State(e)))?;
        if nonce < account.nonce {
            return Err(Rejection::NonceTooLow { expected: account.nonce, found: nonce });
        }
        // The caller should have called `on_new_state`; if it did not, catch up this sender.
        if self.senders.get(&address).is_some_and(|s| s.base != account) {
            self.resync(store, chain, state, &address, &account, now_ms);
        }
        let existing = self.check_before_signature(&tx, &address, &account)?;

        let ready = nonce <= self.senders.get(&address).map_or(account.nonce, |s| s.next());
        let view = if ready {
            let mut view = self.view_before(store, chain, state, &address, nonce);
            view.apply(&tx, signatures).map_err(Rejection::Invalid)?;
            Some(view)
        } else {
            state::check_stateless(chain, &tx, signatures).map_err(Rejection::Invalid)?;
            None
        };

        if existing.is_none() {
            self.make_room(&address, tx.tx.fee, ready)?;
        }
        if let Some(old) = existing {
            self.take(&old);
        }
        self.put(id, tx, address, &account, now_ms);
        if let Some(mut view) = view {
            if let Some(s) = self.senders.get_mut(&address) {
                // `nonce` is checked on top of everything before it: ready up to and including it.
                s.ready = nonce.saturating_sub(s.base.nonce).saturating_add(1);
            }
            // Later transactions were checked on top of the old one (replacement) or were held
            // behind the gap `tx` fills: check them again.
            self.walk(&mut view, &address);
        }
        self.sort(&address);
        self.trim();
        // Transactions it unblocked may have outbid it for the room it took.
        if !self.txs.contains_key(&id) {
            let lowest = self.ready_fees.first().map_or(0, |(f, _)| *f);
            return Err(Rejection::PoolFullFeeTooLow { lowest });
        }
        Ok(id)
    }

    /// The admission checks that come before the signature, in order: same nonce pending
    /// (replaced only by a higher fee), nonce gap, the sender's limit, and payment (an unfunded
    /// sender costs no verification). Returns the pending transaction `tx` would replace.
    fn check_before_signature(
        &self,
        tx: &SignedTx,
        address: &Address,
        account: &Account,
    ) -> Result<Option<Hash>, Rejection> {
        let nonce = tx.tx.nonce;
        let (next, count, existing) = match self.senders.get(address) {
            Some(s) => (s.next(), s.txs.len(), s.txs.get(&nonce).copied()),
            None => (account.nonce, 0, None),
        };
        match existing.and_then(|old| self.txs.get(&old)) {
            Some(old) => {
                if tx.tx.fee <= old.tx.tx.fee {
                    return Err(Rejection::FeeTooLowToReplace {
                        old: old.tx.tx.fee,
                        new: tx.tx.fee,
                    });
                }
            }
            None => {
                let gap = nonce.saturating_sub(next);
                if gap > self.config.max_nonce_gap {
                    return Err(Rejection::NonceGapTooLarge {
                        next,
                        found: nonce,
                        max_gap: self.config.max_nonce_gap,
                    });
                }
                if count >= self.config.max_per_sender {
                    return Err(Rejection::SenderFull { max: self.config.max_per_sender });
                }
            }
        }
        let others = self.sender_txs(address).filter(|t| t.nonce != nonce);
        state::check_can_pay(account, others.chain([&tx.tx])).map_err(cannot_pay)?;
        Ok(existing)
    }

    /// The checks of [`Mempool::insert`] that need no signature (already known, nonce,
    /// replacement, gap, the sender's limit, payment), changing nothing: what a relay asks
    /// before it spends a signature check on a transaction, so an unfunded sender's costs none.
    /// `Ok` does not promise admission (the signature and core's rules come after).
    pub fn precheck<S: NodeStore + ?Sized>(
        &self,
        store: &S,
        state: &ChainState,
        tx: &SignedTx,
    ) -> Result<(), Rejection> {
        if self.txs.contains_key(&tx.id()) {
            return Err(Rejection::AlreadyKnown);
        }
        let address = tx.tx.sender_address();
        let account =
            state.account(store, &address).map_err(|e| Rejection::Invalid(TxError::State(e)))?;
        if tx.tx.nonce < account.nonce {
            return Err(Rejection::NonceTooLow { expected: account.nonce, found: tx.tx.nonce });
        }
        // A sender the pool has not caught up with yet: its full admission will.
        if self.senders.get(&address).is_some_and(|s| s.base != account) {
            return Ok(());
        }
        self.check_before_signature(tx, &address, &account).map(|_| ())
    }

    /// Transactions for the next block: ready ones only (consecutive nonces from
    /// `state_nonce(sender)`), highest fee first, then lowest nonce, never a sender's nonce
    /// `n + 1` before `n`; at most `max`.
    pub fn select(&self, state_nonce: impl Fn(&Address) -> u64, max: usize) -> Vec<SignedTx> {
        // One head per sender; taking a head makes the sender's next nonce its new head.
        let mut heads = BinaryHeap::new();
        for (address, sender) in &self.senders {
            if let Some(e) = self.ready_entry(sender, state_nonce(address)) {
                heads.push((e.tx.tx.fee, Reverse(e.tx.tx.nonce), Reverse(e.tx.id()), *address));
            }
        }
        let mut out = Vec::new();
        while out.len() < max {
            let Some((_, Reverse(nonce), Reverse(id), address)) = heads.pop() else { break };
            let Some(entry) = self.txs.get(&id) else { break };
            out.push(entry.tx.clone());
            let next = self
                .senders
                .get(&address)
                .zip(nonce.checked_add(1))
                .and_then(|(s, n)| self.ready_entry(s, n));
            if let Some(e) = next {
                heads.push((e.tx.tx.fee, Reverse(e.tx.tx.nonce), Reverse(e.tx.id()), address));
            }
        }
        out
    }

    /// After a block: drops included and stale transactions (nonce below the account's new
    /// nonce) and expired ones (in the pool for more than `expiry_ms`), drops each affected
    /// sender's highest nonces until its new balance pays for the rest, re-checks the rest
    /// against the new state (dropping the first that fails; the ones after it are held), and
    /// promotes held transactions whose gap the block filled.
    ///
    /// A sender whose account cannot be read (a store failure) is left as it is: block building
    /// re-checks every transaction anyway.
    pub fn on_new_state<S: NodeStore + ?Sized>(
        &mut self,
        store: &S,
        chain: &Chain,
        state: &ChainState,
        now_ms: u64,
    ) {
        let addresses: Vec<Address> = self.senders.keys().copied().collect();
        for address in addresses {
            if let Ok(account) = state.account(store, &address) {
                self.resync(store, chain, state, &address, &account, now_ms);
            }
        }
        self.trim();
    }

    /// Transactions that became ready since the last call, each returned once in its life in
    /// the pool: what a relay gossips. A held transaction is not among them until its gap fills.
    pub fn take_newly_ready(&mut self) -> Vec<SignedTx> {
        let ids = std::mem::take(&mut self.newly_ready);
        ids.iter()
            .filter_map(|id| self.txs.get(id).filter(|e| e.ready))
            .map(|e| e.tx.clone())
            .collect()
    }

    /// The nonce a new transaction of `address` should carry to follow its ready pending ones:
    /// `account_nonce` (the head state's) when it has none, or when the pool's view of the
    /// sender is older than that state.
    pub fn next_nonce(&self, address: &Address, account_nonce: u64) -> u64 {
        self.senders.get(address).map_or(account_nonce, |s| s.next().max(account_nonce))
    }

    pub fn contains(&self, id: &Hash) -> bool {
        self.txs.contains_key(id)
    }

    pub fn get(&self, id: &Hash) -> Option<&SignedTx> {
        self.txs.get(id).map(|e| &e.tx)
    }

    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// The most transactions the pool holds, ready and held together.
    pub fn capacity(&self) -> usize {
        self.config.max_txs.saturating_add(self.config.max_held)
    }

    /// How many of the transactions are held (behind a nonce gap).
    pub fn held(&self) -> usize {
        self.held_fees.len()
    }

    /// The ready transaction of `sender` at `nonce`, if any.
    fn ready_entry(&self, sender: &Sender, nonce: u64) -> Option<&Entry> {
        if !sender.is_ready(nonce) {
            return None;
        }
        sender.txs.get(&nonce).and_then(|id| self.txs.get(id))
    }

    /// The pending transactions of `address`, in nonce order.
    fn sender_txs(&self, address: &Address) -> impl Iterator<Item = &Tx> {
        self.senders
            .get(address)
            .into_iter()
            .flat_map(|s| s.txs.values())
            .filter_map(|id| self.txs.get(id))
            .map(|e| &e.tx.tx)
    }

    /// Brings one sender up to `account`: drops stale and expired transactions and the highest
    /// nonces its balance no longer pays for, and re-checks the ready ones if anything they
    /// depend on may have changed.
    fn resync<S: NodeStore + ?Sized>(
        &mut self,
        store: &S,
        chain: &Chain,
        state: &ChainState,
        address: &Address,
        account: &Account,
        now_ms: u64,
    ) {
        let Some(sender) = self.senders.get(address) else { return };
        let expiry = self.config.expiry_ms;
        let gone: Vec<Hash> = sender
            .txs
            .iter()
            .filter(|(nonce, id)| {
                **nonce < account.nonce
                    || self.txs.get(id).is_none_or(|e| now_ms.saturating_sub(e.added_ms) > expiry)
            })
            .map(|(_, id)| *id)
            .collect();
        // Stake and evidence depend on more than the sender's account (registry, offender).
        let depends_on_meta = sender.txs.iter().any(|(nonce, id)| {
            sender.is_ready(*nonce)
                && self.txs.get(id).is_some_and(|e| {
                    matches!(e.tx.tx.kind, TxKind::Stake { .. } | TxKind::Evidence(_))
                })
        });
        let recheck = sender.base != *account || !gone.is_empty() || depends_on_meta;
        for id in &gone {
            self.take(id);
        }
        // At most `max_per_sender` rounds, each over at most as many transactions.
        while state::check_can_pay(account, self.sender_txs(address)).is_err() {
            let last = self.senders.get(address).and_then(|s| s.txs.values().next_back());
            let Some(id) = last.copied() else { break };
            self.take(&id);
        }
        if recheck && let Some(s) = self.senders.get_mut(address) {
            s.base = account.clone();
            s.ready = 0;
        }
        // Only a transaction at the next nonce needs the view: most senders have none.
        let next = self.senders.get(address).map(Sender::next);
        if let Some(next) =
            next.filter(|n| self.senders.get(address).is_some_and(|s| s.txs.contains_key(n)))
        {
            let mut view = self.view_before(store, chain, state, address, next);
            self.walk(&mut view, address);
        }
        self.sort(address);
    }

    /// `state` with the sender's ready transactions before `nonce` applied (checked again by
    /// core: they were checked against this state before, so they pass, and any that does not
    /// stops the replay there; the transaction checked on top of it then finds the nonce
    /// unused).
    fn view_before<'a, S: NodeStore + ?Sized>(
        &self,
        store: &'a S,
        chain: &'a Chain,
        state: &'a ChainState,
        address: &Address,
        nonce: u64,
    ) -> Pending<'a, S> {
        let mut view = Pending::new(store, chain, state);
        if let Some(sender) = self.senders.get(address) {
            for (_, id) in sender.txs.range(sender.base.nonce..nonce) {
                let Some(entry) = self.txs.get(id) else { break };
                if view.apply(&entry.tx, Signatures::Verified).is_err() {
                    break;
                }
            }
        }
        view
    }

    /// Promotes the sender's transactions at its next nonce, one by one, each applied to `view`
    /// (the sender's ready transactions applied); the first that fails is dropped and the walk
    /// stops. Runs at most once per transaction of the sender.
    fn walk<S: NodeStore + ?Sized>(&mut self, view: &mut Pending<'_, S>, address: &Address) {
        let mut failed = None;
        if let Some(sender) = self.senders.get(address) {
            let mut ready = sender.ready;
            for (nonce, id) in sender.txs.range(sender.next()..) {
                let Some(entry) = self.txs.get(id) else { break };
                if *nonce != sender.base.nonce.saturating_add(ready) {
                    break;
                }
                // Admitted before: its signature was verified then.
                if view.apply(&entry.tx, Signatures::Verified).is_err() {
                    failed = Some(*id);
                    break;
                }
                ready = ready.saturating_add(1);
            }
            if let Some(s) = self.senders.get_mut(address) {
                s.ready = ready;
            }
        }
        if let Some(id) = failed {
            self.take(&id);
        }
    }

    /// Files each of the sender's transactions as ready or held by its nonce, and queues those
    /// that became ready for the first time for gossip.
    fn sort(&mut self, address: &Address) {
        let Some(sender) = self.senders.get(address) else { return };
        let status: Vec<(Hash, bool)> =
            sender.txs.iter().map(|(nonce, id)| (*id, sender.is_ready(*nonce))).collect();
        for (id, ready) in status {
            let Some(entry) = self.txs.get_mut(&id) else { continue };
            if entry.ready != ready {
                let key = (entry.tx.tx.fee, id);
                let (from, to) = if ready {
                    (&mut self.held_fees, &mut self.ready_fees)
                } else {
                    (&mut self.ready_fees, &mut self.held_fees)
                };
                from.remove(&key);
                to.insert(key);
                entry.ready = ready;
            }
            if ready && !entry.announced {
                entry.announced = true;
                self.newly_ready.push(id);
            }
        }
        // Bounded even if nobody takes them: past the pool's size, only those still ready stay.
        if self.newly_ready.len() > self.config.max_txs.saturating_add(self.config.max_held) {
            let txs = &self.txs;
            self.newly_ready.retain(|id| txs.get(id).is_some_and(|e| e.ready));
        }
    }

    /// Evicts the cheapest transaction of another sender of the same kind (ready or held) if
    /// its kind is full and `fee` is higher: a held transaction never pushes out a ready one.
    fn make_room(&mut self, address: &Address, fee: u64, ready: bool) -> Result<(), Rejection> {
        let (fees, max) = if ready {
            (&self.ready_fees, self.config.max_txs)
        } else {
            (&self.held_fees, self.config.max_held)
        };
        if fees.len() < max {
            return Ok(());
        }
        let full = |lowest| {
            if ready {
                Rejection::PoolFullFeeTooLow { lowest }
            } else {
                Rejection::HeldFullFeeTooLow { lowest }
            }
        };
        let lowest = fees.first().map_or(0, |(f, _)| *f);
        // Skips at most the sender's own transactions (at most `max_per_sender`).
        let victim = fees
            .iter()
            .find(|(_, id)| self.txs.get(id).is_some_and(|e| e.sender != *address))
            .copied();
        match victim {
            Some((victim_fee, id)) if fee > victim_fee => {
                self.take(&id);
                Ok(())
            }
            Some((victim_fee, _)) => Err(full(victim_fee)),
            None => Err(full(lowest)),
        }
    }

    /// Evicts the cheapest beyond the bounds: ready transactions that promotions pushed over
    /// `max_txs` (whose later ones then become held), then held ones over `max_held`.
    fn trim(&mut self) {
        while self.ready_fees.len() > self.config.max_txs {
            let Some((_, id)) = self.ready_fees.first().copied() else { break };
            self.take(&id);
        }
        while self.held_fees.len() > self.config.max_held {
            let Some((_, id)) = self.held_fees.first().copied() else { break };
            self.take(&id);
        }
    }

    /// Adds `tx` as held; the caller sorts the sender after it marked what is ready.
    fn put(&mut self, id: Hash, tx: SignedTx, sender: Address, account: &Account, now_ms: u64) {
        let nonce = tx.tx.nonce;
        self.held_fees.insert((tx.tx.fee, id));
        self.senders
            .entry(sender)
            .or_insert_with(|| Sender { txs: BTreeMap::new(), base: account.clone(), ready: 0 })
            .txs
            .insert(nonce, id);
        let entry = Entry { tx, sender, added_ms: now_ms, ready: false, announced: false };
        self.txs.insert(id, entry);
    }

    /// Removes one transaction; the sender's later ones become held.
    fn take(&mut self, id: &Hash) {
        let Some(entry) = self.txs.remove(id) else { return };
        let key = (entry.tx.tx.fee, *id);
        if entry.ready {
            self.ready_fees.remove(&key);
        } else {
            self.held_fees.remove(&key);
        }
        let nonce = entry.tx.tx.nonce;
        if let Some(s) = self.senders.get_mut(&entry.sender) {
            s.txs.remove(&nonce);
            if s.is_ready(nonce) {
                s.ready = nonce.saturating_sub(s.base.nonce);
            }
            if s.txs.is_empty() {
                self.senders.remove(&entry.sender);
            }
        }
        self.sort(&entry.sender);
    }
}

/// Core's refusal of a sender that cannot pay, as the pool's own kind of refusal.
fn cannot_pay(e: TxError) -> Rejection {
    match e {
        TxError::InsufficientBalance { needed, available } => {
            Rejection::CannotPay { needed, available }
        }
        other => Rejection::Invalid(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memecoin_core::crypto::SecretKey;
    use memecoin_core::genesis::{Genesis, GenesisAccount, GenesisValidator};
    use memecoin_core::hash::{Domain, tagged_hash};
    use memecoin_core::params::Params;
    use memecoin_core::pos::HashChain;
    use memecoin_core::tree::MemStore;

    const BALANCE: u64 = 1_000_000;
    /// The devnet's minimum fee.
    const FEE: u64 = 1_000;
    const CHAIN_LENGTH: u64 = 32;
    const T0: u64 = 1_700_000_000_000;

    fn key(label: &str, i: u64) -> SecretKey {
        let h = tagged_hash(Domain::Reveal, &[label.as_bytes(), &i.to_be_bytes()]);
        SecretKey::from_bytes(&h.0).unwrap()
    }

    /// A real chain in memory: one validator, three users with `BALANCE` each.
    struct Net {
        chain: Chain,
        store: MemStore,
        state: ChainState,
        validator: SecretKey,
        revealed: u64,
        users: Vec<SecretKey>,
    }

    impl Net {
        fn new() -> Self {
            let validator = key("validator", 0);
            let users: Vec<SecretKey> = (0..3).map(|i| key("user", i)).collect();
            let mut genesis = Genesis {
                chain_name: "mempool-test".into(),
                genesis_time_ms: T0,
                // Small enough that users' test balances can register as validators.
                params: Params { min_stake: 1_000, ..Params::devnet() },
                accounts: users
                    .iter()
                    .map(|k| GenesisAccount {
                        address: Address::from_public_key(&k.public_key()),
                        balance: BALANCE,
                    })
                    .collect(),
                validators: vec![GenesisValidator {
                    key: validator.public_key(),
                    stake: 10_000_000_000,
                    commitment: Self::hash_chain(&validator).commitment(),
                }],
            };
            genesis.canonicalize();
            let (chain, state, nodes) = genesis.build().unwrap();
            let mut store = MemStore::new();
            store.extend(nodes);
            Net { chain, store, state, validator, revealed: 0, users }
        }

        fn hash_chain(k: &SecretKey) -> HashChain {
            HashChain::new(tagged_hash(Domain::Reveal, &[b"secret", &k.to_bytes()]), CHAIN_LENGTH)
        }

        fn address(&self, user: usize) -> Address {
            Address::from_public_key(&self.users[user].public_key())
        }

        fn nonce(&self, address: &Address) -> u64 {
            self.state.account(&self.store, address).unwrap().nonce
        }

        fn tx(&self, user: usize, nonce: u64, fee: u64, kind: TxKind) -> SignedTx {
            let key = &self.users[user];
            Tx { chain_id: self.chain.id, sender: key.public_key(), nonce, fee, kind }.sign(key)
        }

        /// A transfer of `amount` to an address outside the test's users.
        fn pay(&self, user: usize, nonce: u64, fee: u64, amount: u64) -> SignedTx {
            let to = Address::from_public_key(&key("sink", 0).public_key());
            self.tx(user, nonce, fee, TxKind::Transfer { to, amount })
        }

        /// Builds the next block with `txs` (all must be valid), validates it as a peer would
        /// and applies it.
        fn produce(&mut self, txs: &[SignedTx]) {
            self.revealed += 1;
            let reveal = Self::hash_chain(&self.validator).reveal(self.revealed).unwrap();
            let slot = self.state.tip.slot + 1;
            let (store, chain, state) = (&self.store, &self.chain, &self.state);
            let built = state::build_block(
                store,
                chain,
                state,
                &self.validator,
                slot,
                &reveal,
                txs,
                None,
                state::Signatures::Verify,
            )
            .unwrap();
            assert!(built.rejected.is_empty(), "rejected: {:?}", built.rejected);
            let applied =
                state::apply_block(store, chain, state, &built.block, state::Signatures::Verify)
                    .unwrap();
            assert_eq!(built.block.txs.len(), txs.len());
            self.store.extend(applied.nodes);
            self.state = applied.state;
        }

        fn insert(&self, pool: &mut Mempool, tx: SignedTx) -> Result<Hash, Rejection> {
            self.insert_at(pool, tx, T0)
        }

        fn insert_at(&self, pool: &mut Mempool, tx: SignedTx, now: u64) -> Result<Hash, Rejection> {
            pool.insert(&self.store, &self.chain, &self.state, tx, now, Signatures::Verify)
        }

        fn select(&self, pool: &Mempool, max: usize) -> Vec<SignedTx> {
            pool.select(|a| self.nonce(a), max)
        }

        fn new_state(&self, pool: &mut Mempool, now: u64) {
            pool.on_new_state(&self.store, &self.chain, &self.state, now);
        }
    }

    fn config() -> MempoolConfig {
        MempoolConfig {
            max_txs: 100,
            max_held: 10,
            max_per_sender: 8,
            max_nonce_gap: 4,
            expiry_ms: 60_000,
        }
    }

    fn pool() -> Mempool {
        Mempool::new(config())
    }

    /// (user, nonce) of each transaction, to compare orders.
    fn order(net: &Net, txs: &[SignedTx]) -> Vec<(usize, u64)> {
        txs.iter()
            .map(|t| {
                let user = (0..net.users.len())
                    .find(|i| net.address(*i) == t.tx.sender_address())
                    .unwrap();
                (user, t.tx.nonce)
            })
            .collect()
    }

    #[test]
    fn accepts_a_valid_transfer() {
        let net = Net::new();
        let mut pool = pool();
        assert!(pool.is_empty());
        let tx = net.pay(0, 0, FEE, 10);
        let id = net.insert(&mut pool, tx.clone()).unwrap();
        assert_eq!(id, tx.id());
        assert!(pool.contains(&id));
        assert_eq!(pool.get(&id), Some(&tx));
        assert_eq!(pool.len(), 1);
        assert_eq!(net.select(&pool, 10), vec![tx]);
    }

    #[test]
    fn rejects_invalid_with_cores_reason() {
        let net = Net::new();
        let wrong_chain = {
            let k = &net.users[0];
            let kind = TxKind::Transfer { to: net.address(1), amount: 1 };
            Tx { chain_id: Hash::ZERO, sender: k.public_key(), nonce: 0, fee: FEE, kind }.sign(k)
        };
        let forged = |nonce| {
            let kind = TxKind::Transfer { to: net.address(1), amount: 1 };
            let sender = net.users[0].public_key();
            Tx { chain_id: net.chain.id, sender, nonce, fee: FEE, kind }.sign(&net.users[1])
        };
        let cases = [
            (wrong_chain, TxError::WrongChain { expected: net.chain.id, found: Hash::ZERO }),
            (net.pay(0, 0, FEE - 1, 1), TxError::FeeTooLow { min: FEE, found: FEE - 1 }),
            (net.pay(0, 0, FEE, 0), TxError::ZeroAmount),
            (
                net.tx(0, 0, FEE, TxKind::Unstake { amount: 5 }),
                TxError::InsufficientStake { requested: 5, bonded: 0 },
            ),
            (forged(0), TxError::BadSignature),
            // Held (nonce gap): the stateless checks still apply.
            (forged(2), TxError::BadSignature),
            (net.pay(0, 2, FEE - 1, 1), TxError::FeeTooLow { min: FEE, found: FEE - 1 }),
        ];
        let mut pool = pool();
        for (tx, error) in cases {
            assert_eq!(net.insert(&mut pool, tx), Err(Rejection::Invalid(error)));
        }
        // What the balance cannot pay is refused before the signature is looked at.
        assert_eq!(
            net.insert(&mut pool, net.pay(0, 0, FEE, BALANCE)),
            Err(Rejection::CannotPay { needed: BALANCE + FEE, available: BALANCE })
        );
        assert!(pool.is_empty());
    }

    #[test]
    fn duplicate_is_already_known() {
        let net = Net::new();
        let mut pool = pool();
        let tx = net.pay(0, 0, FEE, 10);
        net.insert(&mut pool, tx.clone()).unwrap();
        assert_eq!(net.insert(&mut pool, tx), Err(Rejection::AlreadyKnown));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn used_nonce_is_too_low() {
        let mut net = Net::new();
        net.produce(&[net.pay(0, 0, FEE, 10)]);
        let mut pool = pool();
        assert_eq!(
            net.insert(&mut pool, net.pay(0, 0, FEE, 20)),
            Err(Rejection::NonceTooLow { expected: 1, found: 0 })
        );
        assert!(net.insert(&mut pool, net.pay(0, 1, FEE, 20)).is_ok());
    }

    #[test]
    fn gap_is_held_then_promoted_when_filled() {
        let net = Net::new();
        let mut pool = pool();
        net.insert(&mut pool, net.pay(0, 2, FEE, 10)).unwrap();
        net.insert(&mut pool, net.pay(0, 1, FEE, 10)).unwrap();
        assert_eq!(pool.len(), 2);
        assert!(net.select(&pool, 10).is_empty(), "held transactions are not ready");
        net.insert(&mut pool, net.pay(0, 0, FEE, 10)).unwrap();
        assert_eq!(order(&net, &net.select(&pool, 10)), [(0, 0), (0, 1), (0, 2)]);
    }

    #[test]
    fn promotion_drops_a_held_tx_core_refuses() {
        let net = Net::new();
        let mut pool = pool();
        net.insert(&mut pool, net.pay(0, 2, FEE, 10)).unwrap();
        // Held, the stake it unbonds cannot be checked: the sender has none.
        let invalid =
            net.insert(&mut pool, net.tx(0, 1, FEE, TxKind::Unstake { amount: 5 })).unwrap();
        net.insert(&mut pool, net.pay(0, 0, FEE, 600_000)).unwrap();
        assert!(!pool.contains(&invalid));
        // Nonce 2 stays held behind the new gap at nonce 1.
        assert_eq!(pool.len(), 2);
        assert_eq!(order(&net, &net.select(&pool, 10)), [(0, 0)]);
    }

    #[test]
    fn gap_beyond_max_is_refused() {
        let net = Net::new();
        let mut pool = pool();
        assert_eq!(
            net.insert(&mut pool, net.pay(0, 5, FEE, 10)),
            Err(Rejection::NonceGapTooLarge { next: 0, found: 5, max_gap: 4 })
        );
        net.insert(&mut pool, net.pay(0, 4, FEE, 10)).unwrap();
        net.insert(&mut pool, net.pay(0, 0, FEE, 10)).unwrap();
        // The gap is measured from the sender's next nonce after its ready transactions.
        net.insert(&mut pool, net.pay(0, 5, FEE, 10)).unwrap();
        assert_eq!(
            net.insert(&mut pool, net.pay(0, 6, FEE, 10)),
            Err(Rejection::NonceGapTooLarge { next: 1, found: 6, max_gap: 4 })
        );
    }

    #[test]
    fn replace_by_fee() {
        let net = Net::new();
        let mut pool = pool();
        let old = net.insert(&mut pool, net.pay(0, 0, 2 * FEE, 10)).unwrap();
        let new = net.insert(&mut pool, net.pay(0, 0, 3 * FEE, 20)).unwrap();
        assert!(!pool.contains(&old));
        assert!(pool.contains(&new));
        assert_eq!(pool.len(), 1);
        for fee in [3 * FEE, 2 * FEE] {
            assert_eq!(
                net.insert(&mut pool, net.pay(0, 0, fee, 30)),
                Err(Rejection::FeeTooLowToReplace { old: 3 * FEE, new: fee })
            );
        }
        // A held transaction is replaced the same way.
        net.insert(&mut pool, net.pay(0, 3, FEE, 10)).unwrap();
        assert_eq!(
            net.insert(&mut pool, net.pay(0, 3, FEE, 11)),
            Err(Rejection::FeeTooLowToReplace { old: FEE, new: FEE })
        );
        net.insert(&mut pool, net.pay(0, 3, FEE + 1, 11)).unwrap();
        assert_eq!(pool.len(), 2);
        // The replacement itself is checked: it must be valid, and paid for with the rest.
        assert_eq!(
            net.insert(&mut pool, net.pay(0, 0, 4 * FEE, 0)),
            Err(Rejection::Invalid(TxError::ZeroAmount))
        );
        // The held transaction at nonce 3 (fee FEE + 1, amount 11) counts; the replaced one not.
        assert_eq!(
            net.insert(&mut pool, net.pay(0, 0, 4 * FEE, BALANCE)),
            Err(Rejection::CannotPay { needed: BALANCE + 4 * FEE + FEE + 12, available: BALANCE })
        );
    }

    #[test]
    fn replacement_rechecks_the_later_transactions() {
        let net = Net::new();
        let mut pool = pool();
        let commitment = Net::hash_chain(&net.users[0]).commitment();
        net.insert(&mut pool, net.tx(0, 0, FEE, TxKind::Stake { amount: 5_000, commitment }))
            .unwrap();
        let later = net.insert(&mut pool, net.tx(0, 1, FEE, TxKind::Unstake { amount: 5_000 }));
        let later = later.unwrap();
        net.insert(&mut pool, net.pay(0, 0, 2 * FEE, 1)).unwrap();
        assert!(!pool.contains(&later), "nothing to unstake after the replacement");
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn pending_spend_counts_against_the_balance() {
        let net = Net::new();
        let mut pool = pool();
        net.insert(&mut pool, net.pay(0, 0, FEE, 600_000)).unwrap();
        assert_eq!(
            net.insert(&mut pool, net.pay(0, 1, FEE, 600_000)),
            Err(Rejection::CannotPay { needed: 1_202_000, available: BALANCE })
        );
        // Exactly what is left is fine, and then nothing is, held or not.
        net.insert(&mut pool, net.pay(0, 1, FEE, BALANCE - 601_000 - FEE)).unwrap();
        for nonce in [2, 4] {
            assert_eq!(
                net.insert(&mut pool, net.pay(0, nonce, FEE, 1)),
                Err(Rejection::CannotPay { needed: BALANCE + FEE + 1, available: BALANCE })
            );
        }
        // A pending stake counts too, and a nonce after a pending unstake sees its stake.
        net.insert(&mut pool, net.pay(1, 0, FEE, 1)).unwrap();
        let commitment = Net::hash_chain(&net.users[1]).commitment();
        net.insert(&mut pool, net.tx(1, 1, FEE, TxKind::Stake { amount: 500_000, commitment }))
            .unwrap();
        assert_eq!(
            net.insert(&mut pool, net.tx(1, 2, FEE, TxKind::Unstake { amount: 500_001 })),
            Err(Rejection::Invalid(TxError::InsufficientStake {
                requested: 500_001,
                bonded: 500_000
            }))
        );
        net.insert(&mut pool, net.tx(1, 2, FEE, TxKind::Unstake { amount: 500_000 })).unwrap();
    }

    #[test]
    fn pending_first_stake_registers_the_sender() {
        let net = Net::new();
        let mut pool = pool();
        let commitment = Net::hash_chain(&net.users[0]).commitment();
        let stake = |commitment| TxKind::Stake { amount: 1_000, commitment };
        net.insert(&mut pool, net.tx(0, 0, FEE, stake(commitment))).unwrap();
        // A registered validator adds stake with a ZERO commitment, or renews its chain with
        // a new one (PROTOCOL.md §9.3), also with no stake at all; a stake of nothing that
        // commits to nothing is refused.
        net.insert(&mut pool, net.tx(0, 1, FEE, stake(Hash::ZERO))).unwrap();
        net.insert(&mut pool, net.tx(0, 2, FEE, stake(Hash([9; 32])))).unwrap();
        let renew = TxKind::Stake { amount: 0, commitment: Hash([8; 32]) };
        net.insert(&mut pool, net.tx(0, 3, FEE, renew)).unwrap();
        let nothing = TxKind::Stake { amount: 0, commitment: Hash::ZERO };
        assert_eq!(
            net.insert(&mut pool, net.tx(0, 4, FEE, nothing)),
            Err(Rejection::Invalid(TxError::ZeroAmount))
        );
    }

    #[test]
    fn select_orders_by_fee_then_nonce_within_sender_order() {
        let net = Net::new();
        let mut pool = pool();
        net.insert(&mut pool, net.pay(0, 0, FEE, 1)).unwrap();
        net.insert(&mut pool, net.pay(0, 1, 5 * FEE, 1)).unwrap();
        net.insert(&mut pool, net.pay(1, 0, 3 * FEE, 1)).unwrap();
        net.insert(&mut pool, net.pay(2, 0, 2 * FEE, 1)).unwrap();
        net.insert(&mut pool, net.pay(2, 1, 2 * FEE, 1)).unwrap();
        net.insert(&mut pool, net.pay(2, 3, 9 * FEE, 1)).unwrap(); // held
        let all = net.select(&pool, 100);
        assert_eq!(order(&net, &all), [(1, 0), (2, 0), (2, 1), (0, 0), (0, 1)]);
        assert_eq!(order(&net, &net.select(&pool, 2)), [(1, 0), (2, 0)]);
        assert!(net.select(&pool, 0).is_empty());
        // The selection is a valid block, in this order.
        let mut net = net;
        net.produce(&all);
    }

    #[test]
    fn full_pool_evicts_the_lowest_fee_or_refuses() {
        let net = Net::new();
        let mut pool = Mempool::new(MempoolConfig { max_txs: 2, ..config() });
        let cheap = net.insert(&mut pool, net.pay(0, 0, 2 * FEE, 1)).unwrap();
        let mid = net.insert(&mut pool, net.pay(1, 0, 3 * FEE, 1)).unwrap();
        let rich = net.insert(&mut pool, net.pay(2, 0, 4 * FEE, 1)).unwrap();
        assert!(!pool.contains(&cheap));
        assert!(pool.contains(&mid) && pool.contains(&rich));
        assert_eq!(pool.len(), 2);
        for fee in [3 * FEE, FEE] {
            assert_eq!(
                net.insert(&mut pool, net.pay(0, 0, fee, 1)),
                Err(Rejection::PoolFullFeeTooLow { lowest: 3 * FEE })
            );
        }
        // A sender never evicts its own transactions: user 2's next one must beat user 1's.
        assert_eq!(
            net.insert(&mut pool, net.pay(2, 1, 3 * FEE, 1)),
            Err(Rejection::PoolFullFeeTooLow { lowest: 3 * FEE })
        );
        net.insert(&mut pool, net.pay(2, 1, 3 * FEE + 1, 1)).unwrap();
        assert!(!pool.contains(&mid));
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn sender_limit() {
        let net = Net::new();
        let mut pool = Mempool::new(MempoolConfig { max_per_sender: 2, ..config() });
        net.insert(&mut pool, net.pay(0, 0, FEE, 1)).unwrap();
        net.insert(&mut pool, net.pay(0, 1, FEE, 1)).unwrap();
        assert_eq!(
            net.insert(&mut pool, net.pay(0, 2, FEE, 1)),
            Err(Rejection::SenderFull { max: 2 })
        );
        // Replacing does not add a transaction.
        net.insert(&mut pool, net.pay(0, 1, 2 * FEE, 1)).unwrap();
        net.insert(&mut pool, net.pay(1, 0, FEE, 1)).unwrap();
    }

    #[test]
    fn expired_transactions_are_dropped() {
        let net = Net::new();
        let mut pool = pool();
        let old = net.insert_at(&mut pool, net.pay(0, 0, FEE, 1), T0).unwrap();
        let young = net.insert_at(&mut pool, net.pay(1, 0, FEE, 1), T0 + 50_000).unwrap();
        let after_old = net.insert_at(&mut pool, net.pay(0, 1, FEE, 1), T0 + 50_000).unwrap();
        net.new_state(&mut pool, T0 + 60_000);
        assert_eq!(pool.len(), 3, "exactly expiry_ms old is not expired yet");
        net.new_state(&mut pool, T0 + 60_001);
        assert!(!pool.contains(&old));
        assert!(pool.contains(&young) && pool.contains(&after_old));
        // The expired transaction leaves a gap: its successor is held until it is sent again.
        assert_eq!(order(&net, &net.select(&pool, 10)), [(1, 0)]);
        net.insert_at(&mut pool, net.pay(0, 0, 2 * FEE, 1), T0 + 60_001).unwrap();
        // Equal fees: the lower nonce first.
        assert_eq!(order(&net, &net.select(&pool, 10)), [(0, 0), (1, 0), (0, 1)]);
    }

    #[test]
    fn new_block_drops_included_and_invalidated_transactions() {
        let mut net = Net::new();
        let mut pool = pool();
        let included = net.insert(&mut pool, net.pay(0, 0, 5 * FEE, 1)).unwrap();
        let waiting = net.insert(&mut pool, net.pay(2, 0, FEE, 1)).unwrap();
        // User 1's nonce 0 reaches the block from elsewhere; the pool holds nonces 1 and 2.
        let promoted = net.insert(&mut pool, net.pay(1, 1, 2 * FEE, 50_000)).unwrap();
        let invalidated = net.insert(&mut pool, net.pay(1, 2, FEE, 500_000)).unwrap();
        let mut block = net.select(&pool, 1);
        assert_eq!(order(&net, &block), [(0, 0)]);
        block.push(net.pay(1, 0, FEE, 800_000));
        net.produce(&block);

        net.new_state(&mut pool, T0 + 1_000);
        assert!(!pool.contains(&included), "included");
        assert!(!pool.contains(&invalidated), "the block spent the balance it needed");
        assert!(pool.contains(&waiting) && pool.contains(&promoted));
        assert_eq!(pool.len(), 2);
        let next = net.select(&pool, 10);
        assert_eq!(order(&net, &next), [(1, 1), (2, 0)]);
        net.produce(&next);
        net.new_state(&mut pool, T0 + 2_000);
        assert!(pool.is_empty());
    }

    /// Throw-away keys that were never funded fill the pool with transactions
    /// behind a nonce gap at the highest fee. Honest transactions must still get in, and the
    /// honest pending one must stay.
    #[test]
    fn unfunded_held_transactions_cannot_crowd_out_honest_ones() {
        let net = Net::new();
        let mut pool = Mempool::new(MempoolConfig { max_txs: 8, ..config() });
        let pending = net.insert(&mut pool, net.pay(0, 0, FEE, 10)).unwrap();
        for i in 0..4 {
            let k = key("attacker", i);
            for nonce in 0..=4 {
                let kind = TxKind::Transfer { to: net.address(1), amount: 1 };
                let tx = Tx {
                    chain_id: net.chain.id,
                    sender: k.public_key(),
                    nonce,
                    fee: u64::MAX,
                    kind,
                };
                assert_eq!(
                    net.insert(&mut pool, tx.sign(&k)),
                    Err(Rejection::CannotPay { needed: u64::MAX, available: 0 })
                );
            }
        }
        assert!(pool.contains(&pending), "the honest pending transaction was evicted");
        net.insert(&mut pool, net.pay(1, 0, FEE, 10)).unwrap();
        assert_eq!(order(&net, &net.select(&pool, 10)), [(0, 0), (1, 0)]);
    }

    /// The checks before the signature, asked on their own (a connection asks them before it
    /// verifies): an unfunded sender is refused whatever its signature, nothing changes, and a
    /// transaction they pass is then admitted or refused by the full admission.
    #[test]
    fn precheck_refuses_what_admission_would_before_the_signature_and_changes_nothing() {
        let net = Net::new();
        let mut pool = Mempool::new(config());
        let k = key("attacker", 0);
        let kind = TxKind::Transfer { to: net.address(1), amount: 1 };
        let unfunded =
            Tx { chain_id: net.chain.id, sender: k.public_key(), nonce: 0, fee: FEE, kind };
        // Signed by another key: a bad signature, never looked at.
        let forged = unfunded.sign(&key("someone else", 0));
        assert_eq!(
            pool.precheck(&net.store, &net.state, &forged),
            Err(Rejection::CannotPay { needed: FEE + 1, available: 0 })
        );
        let good = net.pay(0, 0, FEE, 10);
        assert_eq!(pool.precheck(&net.store, &net.state, &good), Ok(()));
        assert_eq!(pool.len(), 0, "a precheck admits nothing");
        net.insert(&mut pool, good.clone()).unwrap();
        assert_eq!(pool.precheck(&net.store, &net.state, &good), Err(Rejection::AlreadyKnown));
        assert_eq!(
            pool.precheck(&net.store, &net.state, &net.pay(0, 0, FEE, 11)),
            Err(Rejection::FeeTooLowToReplace { old: FEE, new: FEE })
        );
        assert!(matches!(
            pool.precheck(&net.store, &net.state, &net.pay(0, 40, FEE, 1)),
            Err(Rejection::NonceGapTooLarge { .. })
        ));
    }

    /// Held transactions, even paid for and at a high fee, have a room of
    /// their own and never push out a ready one.
    #[test]
    fn held_transactions_have_their_own_room() {
        let net = Net::new();
        let mut pool = Mempool::new(MempoolConfig { max_txs: 2, max_held: 2, ..config() });
        let ready = net.insert(&mut pool, net.pay(0, 0, FEE, 1)).unwrap();
        let cheap = net.insert(&mut pool, net.pay(1, 1, 5 * FEE, 1)).unwrap();
        net.insert(&mut pool, net.pay(1, 2, 6 * FEE, 1)).unwrap();
        assert_eq!((pool.len(), pool.held()), (3, 2));
        assert_eq!(
            net.insert(&mut pool, net.pay(2, 1, 5 * FEE, 1)),
            Err(Rejection::HeldFullFeeTooLow { lowest: 5 * FEE })
        );
        // A better held transaction evicts the cheapest held one, never the ready one.
        let better = net.insert(&mut pool, net.pay(2, 1, 5 * FEE + 1, 1)).unwrap();
        assert!(!pool.contains(&cheap) && pool.contains(&ready) && pool.contains(&better));
        assert_eq!((pool.len(), pool.held()), (3, 2));
        // The ready room takes another ready one; when full, only a better ready one gets in.
        net.insert(&mut pool, net.pay(0, 1, FEE, 1)).unwrap();
        assert_eq!(
            net.insert(&mut pool, net.pay(2, 5, 9 * FEE, 1)),
            Err(Rejection::NonceGapTooLarge { next: 0, found: 5, max_gap: 4 })
        );
        assert_eq!(
            net.insert(&mut pool, net.pay(1, 0, FEE, 1)),
            Err(Rejection::PoolFullFeeTooLow { lowest: FEE })
        );
        assert_eq!(order(&net, &net.select(&pool, 10)), [(0, 0), (0, 1)]);
    }

    /// Only ready transactions are announced for gossip, each once: a held one
    /// when its gap fills, by a transaction or by a block.
    #[test]
    fn only_ready_transactions_are_announced_once() {
        let mut net = Net::new();
        let mut pool = pool();
        let held = net.pay(0, 1, FEE, 1);
        net.insert(&mut pool, held.clone()).unwrap();
        assert_eq!(pool.take_newly_ready(), []);
        let (first, second) = (net.pay(1, 0, FEE, 1), net.pay(1, 1, FEE, 1));
        net.insert(&mut pool, second.clone()).unwrap();
        net.insert(&mut pool, first.clone()).unwrap();
        assert_eq!(pool.take_newly_ready(), [first.clone(), second]);
        // A block fills user 0's gap (its nonce 0 came from elsewhere).
        net.produce(&[net.pay(0, 0, FEE, 1), first]);
        net.new_state(&mut pool, T0 + 1_000);
        assert_eq!(pool.take_newly_ready(), [held]);
        net.new_state(&mut pool, T0 + 2_000);
        assert_eq!(pool.take_newly_ready(), []);
    }

    /// After a block, a sender's pending transactions are again all paid for by its new
    /// balance: the highest nonces go first.
    #[test]
    fn a_block_that_spends_the_balance_drops_the_held_transactions_it_paid_for() {
        let mut net = Net::new();
        let mut pool = pool();
        let kept = net.insert(&mut pool, net.pay(0, 2, FEE, 300_000)).unwrap();
        let dropped = net.insert(&mut pool, net.pay(0, 3, FEE, 200_000)).unwrap();
        net.produce(&[net.pay(0, 0, FEE, 600_000)]);
        net.new_state(&mut pool, T0 + 1_000);
        // Balance 399,000: pays for nonce 2 (301,000), not for nonces 2 and 3 (502,000).
        assert!(pool.contains(&kept) && !pool.contains(&dropped));
        assert_eq!((pool.len(), pool.held()), (1, 1));
    }

    /// The pool's bookkeeping after any sequence of admissions and blocks: every transaction
    /// filed once as ready or held as its nonce says, both rooms within bounds, every sender's
    /// pending transactions paid for by its head balance, and the selection a valid block.
    #[test]
    fn bounds_and_payment_hold_through_random_admissions_and_blocks() {
        let mut net = Net::new();
        let config = MempoolConfig { max_txs: 6, max_held: 3, ..config() };
        let mut pool = Mempool::new(config.clone());
        let mut seed = 7u64;
        let mut draw = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let (mut included, mut most_held, mut unpaid) = (0, 0, 0);
        // 25 blocks: the validator's hash chain holds 32 reveals.
        for step in 0..300 {
            let user = draw(3) as usize;
            let nonce = net.nonce(&net.address(user)) + draw(6);
            let amount = if draw(4) == 0 { 200_000 } else { 1 + draw(30_000) };
            let tx = net.pay(user, nonce, FEE * (1 + draw(4)), amount);
            let r = net.insert_at(&mut pool, tx, T0 + step);
            unpaid += usize::from(matches!(r, Err(Rejection::CannotPay { .. })));
            if step % 12 == 11 {
                let block = net.select(&pool, 3);
                included += block.len();
                net.produce(&block);
                net.new_state(&mut pool, T0 + step);
            }
            let ready = pool.txs.values().filter(|e| e.ready).count();
            assert_eq!((ready, pool.txs.len() - ready), (pool.ready_fees.len(), pool.held()));
            assert!(ready <= config.max_txs && pool.held() <= config.max_held);
            most_held = most_held.max(pool.held());
            for (address, sender) in &pool.senders {
                for (nonce, id) in &sender.txs {
                    let entry = &pool.txs[id];
                    assert_eq!(entry.ready, sender.is_ready(*nonce), "step {step}");
                    let fees = if entry.ready { &pool.ready_fees } else { &pool.held_fees };
                    assert!(fees.contains(&(entry.tx.tx.fee, *id)));
                }
                let account = net.state.account(&net.store, address).unwrap();
                state::check_can_pay(&account, pool.sender_txs(address)).unwrap();
            }
        }
        let seen = (included > 25, most_held == config.max_held, unpaid > 0);
        assert_eq!(seen, (true, true, true), "{included} {most_held} {unpaid}");
    }

    #[test]
    fn rejections_display_their_reason() {
        let cases = [
            (Rejection::AlreadyKnown, "transaction is already in the mempool"),
            (
                Rejection::NonceGapTooLarge { next: 1, found: 9, max_gap: 4 },
                "nonce 9 is more than 4 beyond the sender's next nonce 1",
            ),
            (
                Rejection::Invalid(TxError::ZeroAmount),
                "invalid transaction: amount must not be zero",
            ),
        ];
        for (rejection, text) in cases {
            assert_eq!(rejection.to_string(), text);
        }
    }
}
