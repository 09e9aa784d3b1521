//! The peer protocol of `/ws` (PROTOCOL.md §16) without I/O: what one connection does with
//! each message, given the node, and what it sends back. Handlers take what arrived, decoded
//! (and what needs no node, such as a block's signature, already checked by the caller), and the
//! node's answer where one is needed; they return what to send and why a message is struck.
//! Time is an argument (`now_ms`), as in core.
//!
//! `net` drives them with sockets, queues, rates, the seen cache and the node's lock (reading
//! and verifying off the lock in between); the simulation drives the same handlers over its
//! simulated network, so what it tests is the relay's hello, gossip and sync.

use crate::mempool::Rejection;
use crate::node::{Event, ImportError, Node, TxStatus, VoteError};
use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::hash::Hash;
use memecoin_core::header::SignedHeader;
use memecoin_core::light::FinalityProof;
use memecoin_core::merkle::{self, InclusionProof};
use memecoin_core::pos;
use memecoin_core::slashing::Evidence;
use memecoin_core::state::{BlockError, Chain, TxError};
use memecoin_core::wire::{MAX_ACCOUNT_SUBSCRIPTIONS, MAX_RANGE, PROTOCOL_VERSION, Role};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// Invalid messages tolerated from one connection: the next closes it (and bans the address).
pub const MAX_STRIKES: u32 = 5;
/// Blocks with an unknown parent one connection may have the node look at in a slot, outside
/// the replies to its own sync requests: beyond, the connection's `block` gossip and unasked
/// `blocks` are dropped unread until the next slot. An honest peer sends about one block a
/// slot; a peer sending blocks on made-up parents (which need no stake when signed by a key of
/// its own) would otherwise have each looked at under the node lock.
pub const MAX_UNKNOWN_PARENTS: u32 = 4;
/// How long a sync waits for a peer's `blocks` reply before a gossiped block with an unknown
/// parent may start another (the reply was lost, or the peer is slow), in ms.
pub const SYNC_REPLY_WAIT_MS: u64 = 10_000;

/// Why the relay closes a connection: the close frame's reason is the `Display` text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Close {
    /// The first message was not `hello`.
    ExpectedHello,
    /// `hello` named another protocol version.
    WrongVersion { theirs: u32 },
    /// `hello` named another chain.
    WrongChain { theirs: String, ours: String },
    /// [`MAX_STRIKES`] invalid messages; the address is refused for the relay's `shared::BAN`.
    TooManyStrikes,
    /// The outgoing queue is full (the relay's `net::OUTGOING_QUEUE` frames or
    /// `net::MAX_QUEUED_BYTES`).
    TooSlow,
    /// A relay peer fell the relay's `shared::EVENT_BUFFER` events behind.
    FellBehind,
    /// The relay is stopping.
    ShuttingDown,
}

impl Close {
    /// The metrics label (`memecoin_rejects_total{reason}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Close::ExpectedHello => "ExpectedHello",
            Close::WrongVersion { .. } => "WrongVersion",
            Close::WrongChain { .. } => "WrongChain",
            Close::TooManyStrikes => "TooManyStrikes",
            Close::TooSlow => "TooSlow",
            Close::FellBehind => "FellBehind",
            Close::ShuttingDown => "ShuttingDown",
        }
    }
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Close::ExpectedHello => f.write_str("expected hello first"),
            Close::WrongVersion { theirs } => {
                write!(f, "protocol version {theirs}, this relay speaks {PROTOCOL_VERSION}")
            }
            Close::WrongChain { theirs, ours } => {
                write!(f, "wrong chain: you are on {theirs}, this relay is on {ours}")
            }
            Close::TooManyStrikes => f.write_str("too many invalid messages"),
            Close::TooSlow => f.write_str("too slow: outgoing queue full"),
            Close::FellBehind => f.write_str("too slow: fell behind the event stream"),
            Close::ShuttingDown => f.write_str("relay shutting down"),
        }
    }
}

/// What a signature that did not verify was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    Block,
    Vote,
    Transaction,
}

/// Why a message was struck (PROTOCOL.md §16.4): each is something no honest peer sends. The
/// `error` reply's `reason` is the `Display` text, whose first word is [`Strike::label`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strike {
    /// Not a message of the protocol (bad JSON, unknown type or field).
    BadMessage(String),
    /// A second `hello`.
    HelloTwice,
    BadTx(String),
    /// A gossiped transaction core refuses as invalid.
    InvalidTx(TxError),
    BadBlock(String),
    BadSignature(Signed),
    /// A block core refuses as invalid (its body, or its state transition).
    InvalidBlock(BlockError),
    BadVote(String),
    BadEvidence(String),
    InvalidEvidence(String),
    TooManySubscriptions,
    BadAddress(String),
    BadHash(String),
    RangeTooLarge(u64),
    /// A `get_nodes` naming more than `wire::MAX_NODE_HASHES` hashes.
    TooManyHashes(usize),
}

impl Strike {
    /// The metrics label (`reason` of `memecoin_rejected_total`), the reason's first word.
    pub fn label(&self) -> &'static str {
        match self {
            Strike::BadMessage(_) => "BadMessage",
            Strike::HelloTwice => "Protocol",
            Strike::BadTx(_) => "BadTx",
            Strike::InvalidTx(_) => "InvalidTx",
            Strike::BadBlock(_) => "BadBlock",
            Strike::BadSignature(_) => "BadSignature",
            Strike::InvalidBlock(_) => "InvalidBlock",
            Strike::BadVote(_) => "BadVote",
            Strike::BadEvidence(_) => "BadEvidence",
            Strike::InvalidEvidence(_) => "InvalidEvidence",
            Strike::TooManySubscriptions => "TooManySubscriptions",
            Strike::BadAddress(_) => "BadAddress",
            Strike::BadHash(_) => "BadHash",
            Strike::RangeTooLarge(_) | Strike::TooManyHashes(_) => "RangeTooLarge",
        }
    }
}

impl fmt::Display for Strike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = self.label();
        match self {
            Strike::HelloTwice => f.write_str("Protocol: hello sent twice"),
            Strike::TooManySubscriptions => f.write_str(label),
            Strike::BadSignature(Signed::Block) => f.write_str("BadSignature: block"),
            Strike::BadSignature(Signed::Vote) => f.write_str("BadSignature: vote"),
            Strike::BadSignature(Signed::Transaction) => f.write_str("BadSignature: transaction"),
            Strike::InvalidTx(e) => write!(f, "{label}: {e}"),
            Strike::InvalidBlock(e) => write!(f, "{label}: {e}"),
            Strike::RangeTooLarge(count) => write!(f, "{label}: {count} > {MAX_RANGE}"),
            Strike::TooManyHashes(count) => {
                write!(f, "{label}: {count} > {} hashes", memecoin_core::wire::MAX_NODE_HASHES)
            }
            Strike::BadMessage(why)
            | Strike::BadTx(why)
            | Strike::BadBlock(why)
            | Strike::BadVote(why)
            | Strike::BadEvidence(why)
            | Strike::InvalidEvidence(why)
            | Strike::BadAddress(why)
            | Strike::BadHash(why) => write!(f, "{label}: {why}"),
        }
    }
}

/// What the protocol sends a peer on its own (beyond replies to requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Send {
    /// `get_blocks { id, from, count: MAX_RANGE }`, a sync's request (§16.6).
    GetBlocks { id: u64, from: u64 },
    /// A block gossiped to the peer: our head, after its `hello` (§16.2).
    Block(Box<Block>),
}

/// The last `get_blocks` of a sync under way: its id, the height it asked from, when (ms).
#[derive(Debug, Clone, Copy)]
struct Sync {
    id: u64,
    from: u64,
    sent_ms: u64,
}

/// One connection's protocol state: the peer's role once its `hello` was accepted, its sync,
/// its budget of blocks with unknown parents, its strikes and its subscriptions.
#[derive(Debug, Clone)]
pub struct Peer {
    chain: Chain,
    role: Option<Role>,
    /// The head height the peer announced in its `hello`.
    head: u64,
    next_request: u64,
    /// The last `get_blocks` of a sync still under way: while one is, a gossiped block with an
    /// unknown parent starts no other (each would walk the same range again), and only the reply
    /// to it continues the sync.
    syncing: Option<Sync>,
    /// The slot and how many blocks with an unknown parent this peer sent in it, against
    /// [`MAX_UNKNOWN_PARENTS`].
    unknown_parents: (u64, u32),
    strikes: u32,
    heads: bool,
    finality: bool,
    accounts: BTreeSet<Address>,
}

/// A `blocks` message being handled, block by block ([`Peer::blocks`]).
#[derive(Debug)]
pub struct Reply {
    /// The height the sync asked from, if this is the reply to the sync's last request.
    asked: Option<u64>,
    /// The height of the last block taken (imported or known), if the reply goes on from it.
    last: Option<u64>,
    /// Blocks seen so far.
    seen: usize,
    stopped: bool,
}

impl Reply {
    /// Whether the rest of the reply is skipped (a block was not imported).
    pub fn stopped(&self) -> bool {
        self.stopped
    }
}

impl Peer {
    pub fn new(chain: Chain) -> Peer {
        Peer {
            chain,
            role: None,
            head: 0,
            next_request: 0,
            syncing: None,
            unknown_parents: (0, 0),
            strikes: 0,
            heads: false,
            finality: false,
            accounts: BTreeSet::new(),
        }
    }

    /// The role its `hello` announced; `None` until then.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Counts a strike; at [`MAX_STRIKES`] the connection is closed.
    pub fn strike(&mut self) -> Result<(), Close> {
        self.strikes = self.strikes.saturating_add(1);
        if self.strikes >= MAX_STRIKES {
            return Err(Close::TooManyStrikes);
        }
        Ok(())
    }

    /// Strikes counted so far: at [`MAX_STRIKES`] the address is also banned.
    pub fn strikes(&self) -> u32 {
        self.strikes
    }

    /// The peer's `hello` (§16.2): the first message, of our version and chain.
    pub fn hello(
        &mut self,
        version: u32,
        chain_id: &str,
        role: Role,
        head_height: u64,
    ) -> Result<(), Close> {
        if version != PROTOCOL_VERSION {
            return Err(Close::WrongVersion { theirs: version });
        }
        let ours = self.chain.id.to_hex();
        if chain_id != ours {
            return Err(Close::WrongChain { theirs: chain_id.to_string(), ours });
        }
        self.role = Some(role);
        self.head = head_height;
        Ok(())
    }

    /// What a relay sends a relay peer whose `hello` it accepted (after the peer list): a sync
    /// request if the peer's head is higher, then our head block, whatever its height: the
    /// peer's head may be higher but lose to ours in fork choice (ours has a higher justified
    /// checkpoint), and height alone would never make it ask for our branch (§16.6). If the
    /// block is new to it, its unknown parent makes it sync from us. Nothing for a browser.
    pub fn greet(&mut self, node: &Node, now_ms: u64) -> Vec<Send> {
        let mut out = Vec::new();
        if self.role != Some(Role::Relay) {
            return out;
        }
        let ours = node.head_state().map_or(0, |s| s.tip.height);
        if self.head > ours {
            out.push(self.request_blocks(node.sync_start(), now_ms));
        }
        if let Some(block) = node.head_block() {
            out.push(Send::Block(Box::new(block)));
        }
        out
    }

    fn request_blocks(&mut self, from: u64, now_ms: u64) -> Send {
        self.next_request = self.next_request.saturating_add(1);
        let id = self.next_request;
        self.syncing = Some(Sync { id, from, sent_ms: now_ms });
        tracing::info!(from, peer_head = self.head, "syncing: requesting blocks");
        Send::GetBlocks { id, from }
    }

    fn slot(&self, now_ms: u64) -> u64 {
        let c = &self.chain;
        pos::slot_at(c.genesis_time_ms, c.params.slot_ms, now_ms).unwrap_or(0)
    }

    /// Whether the peer may still send blocks the node has to look at this slot: once it sent
    /// [`MAX_UNKNOWN_PARENTS`] with an unknown parent, its gossiped blocks and unasked `blocks`
    /// are dropped unread (before the seen cache: another peer may send the same block).
    pub fn takes_gossip_blocks(&self, now_ms: u64) -> bool {
        let (slot, count) = self.unknown_parents;
        slot != self.slot(now_ms) || count < MAX_UNKNOWN_PARENTS
    }

    fn spend_unknown_parent(&mut self, now_ms: u64) {
        let now = self.slot(now_ms);
        let (slot, count) = self.unknown_parents;
        self.unknown_parents = (now, if slot == now { count.saturating_add(1) } else { 1 });
    }

    /// A gossiped `block` (its signature and body checked, [`crate::node::check_block`]), after
    /// the node's import answered `imported`: with an unknown parent it costs the peer's budget
    /// and starts a sync from the peer, unless one is under way.
    pub fn block(
        &mut self,
        node: &Node,
        height: u64,
        imported: &Result<(), ImportError>,
        now_ms: u64,
    ) -> Result<Vec<Send>, Strike> {
        match imported {
            Err(ImportError::UnknownParent { .. }) => {}
            Err(ImportError::Invalid(e)) => return Err(Strike::InvalidBlock(e.clone())),
            Ok(()) | Err(ImportError::AlreadyKnown) => return Ok(Vec::new()),
            Err(e) => {
                tracing::debug!("block not imported: {e}");
                return Ok(Vec::new());
            }
        }
        self.spend_unknown_parent(now_ms);
        let waited = |s: Sync| now_ms.saturating_sub(s.sent_ms) > SYNC_REPLY_WAIT_MS;
        if self.syncing.is_none_or(waited) {
            // From below the block itself when it is at or below our anchor (a shorter branch
            // with a higher justified checkpoint): the range above would be empty.
            return Ok(vec![self.request_blocks(node.sync_start().min(height), now_ms)]);
        }
        Ok(Vec::new())
    }

    /// A `blocks` message with `id` begins: the reply to the sync's last request continues it;
    /// any other (late, or not asked for) is handled like gossip (§16.3), within the same
    /// budget, and goes no further. `None`: over that budget, dropped unread.
    pub fn blocks(&mut self, id: u64, now_ms: u64) -> Option<Reply> {
        let asked = self.syncing.filter(|s| s.id == id).map(|s| s.from);
        if asked.is_some() {
            self.syncing = None; // until the next request, if any
        } else if !self.takes_gossip_blocks(now_ms) {
            return None;
        }
        Some(Reply { asked, last: None, seen: 0, stopped: false })
    }

    /// The next block of `reply`, at `height`, after the node's import answered `imported`.
    /// A block whose parent is unknown stops the reply: if it is the first, the peer's branch
    /// forks below where we asked, and we ask lower (§16.6).
    pub fn synced(
        &mut self,
        node: &Node,
        reply: &mut Reply,
        height: u64,
        imported: &Result<(), ImportError>,
        now_ms: u64,
    ) -> Result<Vec<Send>, Strike> {
        let first = reply.seen == 0;
        reply.seen = reply.seen.saturating_add(1);
        match imported {
            Err(ImportError::UnknownParent { .. }) => {}
            Err(ImportError::Invalid(e)) => {
                reply.stopped = true;
                return Err(Strike::InvalidBlock(e.clone()));
            }
            _ => {
                reply.last = Some(height);
                return Ok(Vec::new());
            }
        }
        reply.stopped = true;
        reply.last = None;
        if reply.asked.is_none() {
            self.spend_unknown_parent(now_ms);
        }
        if !first {
            tracing::info!(height, "sync stopped: the block before was not imported");
        }
        match (first, reply.asked) {
            (true, Some(from)) => Ok(node
                .sync_below(from, MAX_RANGE)
                .map(|from| self.request_blocks(from, now_ms))
                .into_iter()
                .collect()),
            _ => Ok(Vec::new()),
        }
    }

    /// An `error` reply the peer sent to request `id`: if it refuses our sync's blocks as pruned
    /// (§16.3), says so (a warning each time, at most one per 10 s wait). The sync is left outstanding, so it is asked again only
    /// after the usual wait (10 s), not on every gossiped block: a peer that pruned what we lack
    /// cannot help us, and asking it costs us both. `true` if it was our sync's.
    pub fn sync_refused(&mut self, id: u64, reason: &str) -> bool {
        let Some(sync) = self.syncing.filter(|s| s.id == id) else { return false };
        if reason.starts_with("NotAvailable: pruned") {
            tracing::warn!(
                from = sync.from,
                "the peer keeps no blocks this old ({reason}): this relay cannot sync from it \
                 block by block"
            );
        }
        true
    }

    /// `reply` is done: after a non-empty reply to the sync, the next range from the same peer
    /// (a reply may be cut short by its byte bound, so only an empty one means we caught up).
    /// The height is the peer's to choose: at `u64::MAX` there is nothing above to ask for.
    pub fn blocks_done(&mut self, reply: Reply, now_ms: u64) -> Vec<Send> {
        match (reply.stopped, reply.asked, reply.last.and_then(|h| h.checked_add(1))) {
            (false, Some(_), Some(from)) => vec![self.request_blocks(from, now_ms)],
            _ => Vec::new(),
        }
    }

    /// A `vote`, after the node's answer: only a bad signature is the peer's fault (a vote the
    /// node cannot use yet, or already holds, honest peers send too).
    pub fn vote(&self, recorded: &Result<(), VoteError>) -> Result<(), Strike> {
        match recorded {
            Err(VoteError::BadSignature) => Err(Strike::BadSignature(Signed::Vote)),
            _ => Ok(()),
        }
    }

    /// A gossiped `evidence` (§11.2), checked before the node keeps it: one that does not
    /// verify is struck.
    pub fn evidence(&self, evidence: Evidence) -> Result<Evidence, Strike> {
        match evidence.verify(&self.chain.id) {
            Ok(_) => Ok(evidence),
            Err(e) => Err(Strike::InvalidEvidence(e.to_string())),
        }
    }

    /// A gossiped `tx`, after the mempool's answer: only what core refuses whatever the state
    /// ([`TxError::is_stateless`]) is the peer's fault. A refusal against our head (a nonce,
    /// a balance, an offender already slashed), or a known, stale or crowded-out transaction,
    /// honest peers at another head send too.
    pub fn tx(&self, admitted: &Result<Hash, Rejection>) -> Result<(), Strike> {
        match admitted {
            Err(Rejection::Invalid(e)) if e.is_stateless() => Err(Strike::InvalidTx(e.clone())),
            _ => Ok(()),
        }
    }

    /// A `submit_tx`, after the mempool's answer, which the peer gets as a `tx_result` whatever
    /// it is (§16.3). One refusal also counts as a strike, with no `error` besides: a bad
    /// signature, the one that costs a signature check and that no race causes (a wallet signs
    /// with the key the transaction names; one that signs for another chain is refused
    /// `WrongChain`, its signature valid). Nonce, balance or fee refusals are not punished.
    pub fn submit_tx(&self, admitted: &Result<Hash, Rejection>) -> Result<(), Strike> {
        match admitted {
            Err(Rejection::Invalid(TxError::BadSignature)) => {
                Err(Strike::BadSignature(Signed::Transaction))
            }
            _ => Ok(()),
        }
    }

    /// A `subscribe` (§16.3): adds to what the peer receives; `true` if it now follows heads,
    /// and is sent the current head.
    pub fn subscribe(
        &mut self,
        heads: bool,
        finality: bool,
        accounts: &[String],
    ) -> Result<bool, Strike> {
        self.heads |= heads;
        self.finality |= finality;
        for a in accounts {
            if self.accounts.len() >= MAX_ACCOUNT_SUBSCRIPTIONS {
                return Err(Strike::TooManySubscriptions);
            }
            let address = Address::parse(a).map_err(|e| Strike::BadAddress(e.to_string()))?;
            self.accounts.insert(address);
        }
        Ok(self.heads)
    }

    pub fn follows_heads(&self) -> bool {
        self.heads
    }

    /// Whether `event` goes to this peer (§16.8): gossip to relays, heads and finality to their
    /// subscribers; for `AccountsChanged`, see [`Peer::accounts_changed`].
    pub fn wants(&self, event: &Event) -> bool {
        match event {
            Event::Block(_) | Event::Tx(_) | Event::Vote(_) | Event::Evidence(_) => {
                self.role == Some(Role::Relay)
            }
            Event::NewHead(_) => self.heads,
            Event::Finalized(_) => self.finality,
            Event::AccountsChanged(_) => false,
        }
    }

    /// Of `changed`, the accounts this peer subscribed to: one `account_changed` each.
    pub fn accounts_changed<'a>(
        &'a self,
        changed: &'a [Address],
    ) -> impl Iterator<Item = &'a Address> + 'a {
        changed.iter().filter(|a| self.accounts.contains(a))
    }

    /// The range a `get_headers` or `get_blocks { from, count }` reads, as (first height,
    /// count); blocks begin at height 1, so `get_blocks` from 0 reads 1 to `count − 1`
    /// (§16.3). `Err` for a range over [`MAX_RANGE`].
    pub fn range(from: u64, count: u64, blocks: bool) -> Result<(u64, u64), Strike> {
        if count > MAX_RANGE {
            return Err(Strike::RangeTooLarge(count));
        }
        if !blocks {
            return Ok((from, count));
        }
        let start = from.max(1);
        Ok((start, from.saturating_add(count).saturating_sub(start)))
    }
}

/// The refusal of a `get_headers` or `get_blocks` range (after [`Peer::range`]) that starts
/// below `pruned_below`, the lowest height a pruned relay still holds (§16.3): `NotAvailable`, not
/// a strike — the asker learns where to start, or to sync from a checkpoint.
pub fn pruned_range(from: u64, count: u64, pruned_below: u64) -> Option<String> {
    (count > 0 && from < pruned_below)
        .then(|| format!("NotAvailable: pruned below height {pruned_below}"))
}

/// The proofs a `get_finality { since, latest }` answers with (§16.3): those whose source is
/// above `since`, oldest first, or only the newest of them. Shared, to be encoded off the lock.
pub fn finality(node: &Node, since: u64, latest: bool) -> Vec<Arc<FinalityProof>> {
    match latest {
        true => node.latest_finality_proof(since).into_iter().collect(),
        false => node.finality_proofs(since),
    }
}

/// What a `get_inclusion { tx_id }` answers (§16.3): the including block's header and the
/// transaction's proof against its `tx_root` once it is in a block of the head chain, and its
/// status: `finalized`, `included`, `pending` (in the mempool) or `unknown`.
pub fn inclusion(
    node: &Node,
    tx_id: &Hash,
) -> (Option<SignedHeader>, Option<InclusionProof>, &'static str) {
    match node.tx_status(tx_id) {
        TxStatus::Included { block, index, finalized, .. } => {
            let proved = node.block(&block).and_then(|b| {
                let proof = merkle::prove(&b.tx_ids(), usize::try_from(index).ok()?)?;
                Some((b.header, proof))
            });
            match proved {
                Some((header, proof)) => {
                    (Some(header), Some(proof), if finalized { "finalized" } else { "included" })
                }
                None => (None, None, "unknown"),
            }
        }
        TxStatus::Pending => (None, None, "pending"),
        TxStatus::Unknown => (None, None, "unknown"),
    }
}

/// The blocks a `get_blocks { from, count }` answers with, read from `node` (the simulation's
/// way; the relay reads the same hashes' stored bytes off the node's lock).
pub fn head_chain(node: &Node, from: u64, count: u64) -> Vec<Block> {
    let Ok((start, count)) = Peer::range(from, count, true) else { return Vec::new() };
    node.hashes_from(start, count).iter().map_while(|hash| node.block(hash)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, node, produce};

    fn relay_peer(n: &Node, head: u64) -> Peer {
        let mut p = Peer::new(n.chain().clone());
        p.hello(PROTOCOL_VERSION, &n.chain().id.to_hex(), Role::Relay, head).unwrap();
        p
    }

    #[test]
    fn hello_must_be_of_our_version_and_chain() {
        let dir = tempfile::tempdir().unwrap();
        let n = node(dir.path(), false);
        let chain = n.chain().id.to_hex();
        let mut p = Peer::new(n.chain().clone());
        assert_eq!(
            p.hello(PROTOCOL_VERSION + 1, &chain, Role::Relay, 0),
            Err(Close::WrongVersion { theirs: PROTOCOL_VERSION + 1 })
        );
        let other = Hash([7; 32]).to_hex();
        assert!(matches!(
            p.hello(PROTOCOL_VERSION, &other, Role::Relay, 0),
            Err(Close::WrongChain { .. })
        ));
        assert_eq!(p.role(), None);
        p.hello(PROTOCOL_VERSION, &chain, Role::Browser, 9).unwrap();
        assert_eq!(p.role(), Some(Role::Browser));
        // A browser is sent nothing on its own, whatever its head.
        assert!(p.greet(&n, at(&n, 1)).is_empty());
    }

    /// §16.6: a block with an unknown parent starts a sync, one request at a time per peer
    /// (others wait for its reply, or for `SYNC_REPLY_WAIT_MS`); the reply to the last request
    /// continues it from its last block, and an empty reply ends it.
    #[test]
    fn a_sync_is_one_request_at_a_time_and_goes_on_until_an_empty_reply() {
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut a = node(da.path(), true);
        let mut b = node(db.path(), false);
        let chain = produce(&mut a, 1..=5);
        assert_eq!(chain.len(), 5);
        let now = at(&a, 5);
        let mut p = relay_peer(&b, 0);
        let gossip = |b: &mut Node, p: &mut Peer, block: &Block, now| {
            let r = b.import_block_at(block.clone(), now);
            p.block(b, block.header.header.height, &r, now).unwrap()
        };
        assert_eq!(
            gossip(&mut b, &mut p, &chain[4], now),
            vec![Send::GetBlocks { id: 1, from: 1 }]
        );
        assert_eq!(gossip(&mut b, &mut p, &chain[3], now), vec![], "a sync is under way");
        // A peer that pruned what we ask for: the sync stays outstanding (asked again only
        // after the wait); an error to another request is not the sync's.
        assert!(!p.sync_refused(9, "NotAvailable: pruned below height 3"));
        assert!(p.sync_refused(1, "NotAvailable: pruned below height 3"));
        assert_eq!(gossip(&mut b, &mut p, &chain[3], now), vec![], "not asked again at once");
        let later = now + SYNC_REPLY_WAIT_MS + 1;
        assert_eq!(
            gossip(&mut b, &mut p, &chain[2], later),
            vec![Send::GetBlocks { id: 2, from: 1 }]
        );
        // A late reply to the first request is handled like gossip and goes no further.
        let mut late = p.blocks(1, later).unwrap();
        let r = b.import_block_at(chain[0].clone(), later);
        assert_eq!(p.synced(&b, &mut late, 1, &r, later), Ok(vec![]));
        assert_eq!(p.blocks_done(late, later), vec![]);
        // The reply to the last one continues from its last block.
        let mut reply = p.blocks(2, later).unwrap();
        for block in &chain[1..3] {
            let r = b.import_block_at(block.clone(), later);
            assert_eq!(p.synced(&b, &mut reply, block.header.header.height, &r, later), Ok(vec![]));
        }
        assert_eq!(p.blocks_done(reply, later), vec![Send::GetBlocks { id: 3, from: 4 }]);
        // (Blocks 4 and 5 were kept waiting for their parent, and were imported with it.)
        assert_eq!(b.head_state().unwrap().tip.height, 5);
        let reply = p.blocks(3, later).unwrap();
        assert_eq!(p.blocks_done(reply, later), vec![], "an empty reply ends the sync");
    }

    /// §16.3: `MAX_UNKNOWN_PARENTS` blocks with an unknown parent a slot from one peer, then its
    /// blocks are dropped unread until the next slot; replies to its own sync do not count.
    #[test]
    fn unknown_parents_are_budgeted_per_peer_and_slot() {
        let dir = tempfile::tempdir().unwrap();
        let b = node(dir.path(), false);
        let now = at(&b, 8);
        let mut p = relay_peer(&b, 0);
        let unknown = Err(ImportError::UnknownParent { parent: Hash([1; 32]), height: 8 });
        for _ in 0..MAX_UNKNOWN_PARENTS {
            assert!(p.takes_gossip_blocks(now));
            p.block(&b, 8, &unknown, now).unwrap();
        }
        assert!(!p.takes_gossip_blocks(now));
        assert!(p.blocks(99, now).is_none(), "an unasked reply counts like gossip");
        assert!(p.blocks(1, now).is_some(), "the reply to our own request does not");
        assert!(p.takes_gossip_blocks(now + b.chain().params.slot_ms), "a new slot, a new budget");
    }

    /// §16.3 `tx`: only what is invalid whatever the state is struck. A relay at another head
    /// passes on, in good faith, what this one's head refuses (simulation seed 31: evidence
    /// whose offender this head had slashed already).
    #[test]
    fn a_transaction_refused_only_at_our_head_is_not_struck() {
        let dir = tempfile::tempdir().unwrap();
        let p = relay_peer(&node(dir.path(), false), 0);
        let refused = |e: TxError| p.tx(&Err(Rejection::Invalid(e)));
        assert_eq!(refused(TxError::AlreadySlashed), Ok(()));
        assert_eq!(refused(TxError::NothingToSlash), Ok(()));
        assert_eq!(refused(TxError::NonceMismatch { expected: 1, found: 0 }), Ok(()));
        assert_eq!(refused(TxError::InsufficientStake { requested: 2, bonded: 1 }), Ok(()));
        assert!(refused(TxError::BadSignature).is_err());
        assert!(refused(TxError::FeeTooLow { min: 2, found: 1 }).is_err());
        assert!(refused(TxError::ZeroAmount).is_err());
        assert_eq!(p.tx(&Err(Rejection::AlreadyKnown)), Ok(()));
    }

    /// Strikes close the connection at `MAX_STRIKES`; each reason's text starts with its
    /// metrics label, as PROTOCOL.md §16.3 lists them.
    #[test]
    fn strikes_close_at_the_limit_and_say_their_label() {
        let dir = tempfile::tempdir().unwrap();
        let n = node(dir.path(), false);
        let mut p = relay_peer(&n, 0);
        for _ in 1..MAX_STRIKES {
            p.strike().unwrap();
        }
        assert_eq!(p.strike(), Err(Close::TooManyStrikes));
        let all = [
            Strike::BadMessage("bad message: x".into()),
            Strike::HelloTwice,
            Strike::BadTx("tx: odd".into()),
            Strike::InvalidTx(TxError::BadSignature),
            Strike::BadBlock("block: odd".into()),
            Strike::BadSignature(Signed::Block),
            Strike::BadSignature(Signed::Vote),
            Strike::InvalidBlock(BlockError::BadProposerSignature),
            Strike::BadVote("vote: odd".into()),
            Strike::BadEvidence("evidence: odd".into()),
            Strike::InvalidEvidence("x".into()),
            Strike::TooManySubscriptions,
            Strike::BadAddress("x".into()),
            Strike::BadHash("x".into()),
            Strike::RangeTooLarge(257),
            Strike::TooManyHashes(65),
        ];
        for s in all {
            assert!(s.to_string().starts_with(s.label()), "{s}");
        }
        assert_eq!(Strike::RangeTooLarge(257).to_string(), "RangeTooLarge: 257 > 256");
        assert_eq!(Strike::TooManyHashes(65).to_string(), "RangeTooLarge: 65 > 64 hashes");
        assert_eq!(Strike::HelloTwice.to_string(), "Protocol: hello sent twice");
        assert_eq!(Peer::range(0, 256, true), Ok((1, 255)), "blocks begin at height 1");
        assert_eq!(Peer::range(0, 256, false), Ok((0, 256)));
        assert_eq!(Peer::range(u64::MAX, 256, true), Ok((u64::MAX, 0)));
    }

    #[test]
    fn a_range_below_what_is_kept_is_refused() {
        let refusal = Some("NotAvailable: pruned below height 100".to_owned());
        assert_eq!(pruned_range(1, 256, 100), refusal);
        assert_eq!(pruned_range(99, 1, 100), refusal);
        assert_eq!(pruned_range(100, 256, 100), None);
        assert_eq!(pruned_range(5, 256, 0), None, "nothing pruned");
        assert_eq!(pruned_range(5, 0, 100), None, "an empty range asks for nothing");
    }
}
