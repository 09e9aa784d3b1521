//! WebSocket connections: browsers and relays speak the same [`wire`] protocol on
//! one endpoint. One task per connection reads frames, asks the node, and forwards events.
//!
//! Bounds: every connection has a bounded outgoing queue, in frames and in bytes (a peer that
//! does not read is dropped, never buffered without limit), a write deadline per frame, a
//! frame-size cap, a message-rate cap, a budget of blocks with unknown parents a slot
//! (`MAX_UNKNOWN_PARENTS`), and a strike count for invalid input (at `MAX_STRIKES` the peer is
//! disconnected). A block's signature and body are checked before the node's lock is taken.
//! Nothing invalid is forwarded: objects are gossiped only as events of the node, after it
//! accepted them.

use crate::limits::{
    INCOMING_QUEUE, MAX_QUEUED_BYTES, MAX_RATE, MAX_SERVED, OUTGOING_QUEUE, WRITE_TIMEOUT,
};
use crate::shared::{Metrics, MyReads, Published, Shared};
use crate::wire::{self, At, MAX_RANGE, Message, PROTOCOL_VERSION, Role, decode_hex, encode_hex};
use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::finality::SignedVote;
use memecoin_core::hash::Hash;
use memecoin_core::light;
use memecoin_core::slashing::Evidence;
use memecoin_core::state::BlockError;
use memecoin_core::tx::SignedTx;
use memecoin_node::node::{self, Checked, Event, ImportError, Node};
use memecoin_node::peer::{self, Peer, Send, Signed, Strike};
pub use memecoin_node::peer::{Close, MAX_STRIKES, MAX_UNKNOWN_PARENTS};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};

/// What a connection task asks its writer to do.
#[derive(Debug)]
pub enum Outgoing {
    Text(String),
    Close(String),
}

/// The sending side of a connection's outgoing queue, bounded in frames
/// ([`OUTGOING_QUEUE`]) and in bytes ([`MAX_QUEUED_BYTES`]); the writer calls [`Outbox::sent`]
/// for each text it wrote.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    bytes: Arc<AtomicUsize>,
}

impl Outbox {
    /// A queue and its receiving end, for the socket's writer.
    pub fn new() -> (Self, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(OUTGOING_QUEUE);
        (Outbox { tx, bytes: Arc::default() }, rx)
    }

    /// Queues `text`, or says the peer is too slow (the queue is full in frames or bytes).
    fn push(&self, text: String) -> Result<(), End> {
        let len = text.len();
        if self.bytes.load(Ordering::Relaxed).saturating_add(len) > MAX_QUEUED_BYTES {
            return Err(End::Refused(Close::TooSlow));
        }
        self.bytes.fetch_add(len, Ordering::Relaxed);
        self.tx.try_send(Outgoing::Text(text)).map_err(|_| {
            self.bytes.fetch_sub(len, Ordering::Relaxed);
            End::Refused(Close::TooSlow)
        })
    }

    /// The writer took a text of `len` bytes off the queue.
    pub fn sent(&self, len: usize) {
        self.bytes.fetch_sub(len, Ordering::Relaxed);
    }

    /// Queues a close frame if there is room; never waits (a full queue means the peer does
    /// not read, and its socket is dropped instead).
    fn close(&self, reason: String) {
        let _ = self.tx.try_send(Outgoing::Close(reason));
    }
}

struct Conn {
    shared: Arc<Shared>,
    /// The peer protocol's state for this connection (hello, sync, budgets, strikes and
    /// subscriptions): what the connection does with each message is [`Peer`]'s to say.
    peer: Peer,
    out: Outbox,
    window: Instant,
    in_window: u32,
    served_in_window: u32,
    /// This connection's part of the relay's read budget.
    reads: MyReads,
    /// The peer's IP address: the source of the relay addresses it tells us of.
    peer_ip: Option<std::net::IpAddr>,
    /// Who the relay peer is, once its hello said so ([`Metrics::relay_peer_up`]).
    peer_key: Option<String>,
}

/// Why a connection ends.
#[derive(Debug)]
pub enum End {
    /// The peer closed it (or its socket failed).
    Closed,
    /// The relay closed it.
    Refused(Close),
}

impl Conn {
    fn send(&self, m: &Message) -> Result<(), End> {
        self.send_text(m.to_json())
    }

    fn send_text(&self, text: String) -> Result<(), End> {
        Metrics::inc(&self.shared.metrics.messages_out);
        self.out.push(text)
    }

    /// Sends what the peer protocol asked for.
    fn send_all(&self, sends: Vec<Send>) -> Result<(), End> {
        for s in sends {
            match s {
                Send::GetBlocks { id, from } => {
                    self.send(&Message::GetBlocks { id, from, count: MAX_RANGE })?
                }
                Send::Block(block) => self.send(&Message::Block { block: encode_hex(&*block) })?,
            }
        }
        Ok(())
    }

    /// Strikes the message: an `error` with `reason` (and the request's `id`), and one more
    /// strike against the connection.
    fn strike(&mut self, id: Option<u64>, reason: Strike) -> Result<(), End> {
        self.shared.metrics.reject(reason.label());
        tracing::debug!(strikes = self.peer.strikes() + 1, "rejected: {reason}");
        self.send(&Message::Error { id, reason: reason.to_string() })?;
        self.peer.strike().map_err(End::Refused)
    }

    /// Checks what of `block` needs no state, outside the node lock: a header signature that
    /// does not verify, or a body that is not the one its header commits to, is never an
    /// honest peer's (and either would cost a signature check each, for free).
    /// The check runs on a blocking thread: an async worker stays free for every connection's
    /// small requests, where a flood of validly signed blocks on made-up parents (one signature
    /// check each) would otherwise take the workers.
    async fn check_block(&mut self, block: Block) -> Result<Option<Checked>, End> {
        let chain = self.peer.chain().clone();
        let checked = tokio::task::spawn_blocking(move || node::check_block(block, &chain));
        let Ok(checked) = checked.await else { return Ok(None) }; // the runtime is stopping
        match checked {
            Ok(checked) => Ok(Some(checked)),
            Err(BlockError::BadProposerSignature) => {
                self.strike(None, Strike::BadSignature(Signed::Block)).map(|()| None)
            }
            Err(e) => self.strike(None, Strike::InvalidBlock(e)).map(|()| None),
        }
    }

    /// This connection's task fell more than `EVENT_BUFFER` events behind. A relay is dropped
    /// (it will resync when it reconnects). A browser keeps its connection: what it missed is
    /// mostly gossip it never receives, and for the rest it gets the current head now (if
    /// subscribed); finality and accounts it re-reads on the next `finalized`.
    async fn lagged(&mut self) -> Result<(), End> {
        if self.peer.role() != Some(Role::Browser) {
            return Err(End::Refused(Close::FellBehind));
        }
        Metrics::inc(&self.shared.metrics.lagged);
        if self.peer.follows_heads() {
            self.send_head().await?;
        }
        Ok(())
    }

    /// Sends the current head header (none while the head is genesis).
    async fn send_head(&mut self) -> Result<(), End> {
        match self.shared.with_node(|n| n.head_header().map(encode_hex)).await {
            Some(header) => self.send(&Message::Head { header }),
            None => Ok(()),
        }
    }

    /// Starts a new one-second window for the message and read caps.
    fn new_window(&mut self) {
        self.window = Instant::now();
        self.in_window = 0;
        self.served_in_window = 0;
    }

    /// Waits out the rest of the current window, then starts the next one.
    async fn wait_for_next_window(&mut self) {
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(self.window.elapsed())).await;
        self.new_window();
    }

    /// Counts `reads` of stored objects done for this connection; over [`MAX_SERVED`] this
    /// second, or over its share of the relay's ([`crate::shared::ReadBudget`]), the rest of
    /// the second is waited out before the reply goes (like the message cap: slowed, not
    /// struck; meanwhile TCP pushes back on the sender).
    /// The refusal of a range that starts below what this relay still holds
    /// ([`peer::pruned_range`]), charged as one read.
    async fn pruned(&mut self, from: u64, count: u64) -> Option<String> {
        let pruned_below = self.shared.reader.pruned_below().unwrap_or(0);
        let refusal = peer::pruned_range(from, count, pruned_below)?;
        self.charge(1).await;
        Some(refusal)
    }

    async fn charge(&mut self, reads: u64) {
        let over_share = self.shared.reads.charge(&mut self.reads, reads.max(1), Instant::now());
        let reads = u32::try_from(reads).unwrap_or(u32::MAX).max(1);
        self.served_in_window = self.served_in_window.saturating_add(reads);
        if self.served_in_window > MAX_SERVED || over_share {
            self.shared.metrics.reject(if over_share { "ServeShared" } else { "ServeLimited" });
            self.wait_for_next_window().await;
            // The message being answered, and its reads, count in the new window.
            self.in_window = 1;
            self.served_in_window = reads;
        }
    }

    async fn handle(&mut self, text: &str) -> Result<(), End> {
        Metrics::inc(&self.shared.metrics.messages_in);
        if self.window.elapsed() >= Duration::from_secs(1) {
            self.new_window();
        }
        self.in_window += 1;
        if self.in_window > MAX_RATE {
            // Slowed down, not struck: messages are counted as we handle them, not as the peer
            // sent them, and after a stall of ours (a long block import under load) an honest
            // client's backlog arrives all at once. So the rest of this window is waited out;
            // meanwhile the incoming queue fills and TCP pushes back on the sender. A flood
            // gets `MAX_RATE` messages a second handled, and its invalid ones are struck.
            let reason = format!("RateLimited: over {MAX_RATE} messages a second, slowed down");
            self.shared.metrics.reject(&reason);
            self.send(&Message::Error { id: None, reason })?;
            self.wait_for_next_window().await;
            self.in_window = 1;
        }
        let msg = match Message::from_json(text) {
            Ok(m) => m,
            // A request that names its `id` gets it back, so its sender is not left waiting.
            Err(e) => return self.strike(wire::request_id(text), Strike::BadMessage(e)),
        };
        if self.peer.role().is_none() {
            let Message::Hello { version, chain_id, role, listen, head_height } = msg else {
                return Err(End::Refused(Close::ExpectedHello));
            };
            self.peer.hello(version, &chain_id, role, head_height).map_err(End::Refused)?;
            if role == Role::Browser {
                Metrics::inc(&self.shared.metrics.browsers);
            }
            if role == Role::Relay {
                Metrics::inc(&self.shared.metrics.relay_peers);
                // Who it is: the address it says it listens on, at the IP its socket comes
                // from (accepted or dialed alike), so the two connections of relays that dialed
                // each other are one peer, and a claimed address counts once per IP.
                let ip = self.peer_ip.map_or_else(|| "?".into(), |ip| ip.to_string());
                let key = format!("{} {ip}", listen.as_deref().unwrap_or("-"));
                self.shared.metrics.relay_peer_up(&key);
                self.peer_key = Some(key);
                self.shared.metrics.best_peer_head.fetch_max(head_height, Ordering::Relaxed);
                tracing::info!(
                    peer = %self.peer_ip.map_or("?".into(), |ip| ip.to_string()),
                    listen = listen.as_deref().unwrap_or("-"),
                    head_height,
                    "relay peer connected"
                );
                if self.shared.peer_exchange {
                    if let (Some(addr), Some(from)) = (listen, self.peer_ip) {
                        self.shared.learn_peer_from(&addr, from);
                    }
                    let peers: Vec<String> = self
                        .shared
                        .peer_list()
                        .into_iter()
                        .take(wire::MAX_PEERS_PER_MESSAGE)
                        .collect();
                    if !peers.is_empty() {
                        self.send(&Message::Peers { peers })?;
                    }
                }
                let (peer, now) = (&mut self.peer, node::now_ms());
                let sends = self.shared.with_node(|n| peer.greet(n, now)).await;
                self.send_all(sends)?;
            }
            return Ok(());
        }
        match msg {
            Message::Hello { .. } => self.strike(None, Strike::HelloTwice),
            Message::SubmitTx { id, tx } => {
                let tx: SignedTx = match decode_hex("tx", &tx) {
                    Ok(t) => t,
                    Err(reason) => return self.strike(Some(id), Strike::BadTx(reason)),
                };
                let result = self.admit(tx).await;
                let struck = self.peer.submit_tx(&result);
                let reply = match result {
                    Ok(tx_id) => Message::TxResult {
                        id,
                        tx_id: Some(tx_id.to_hex()),
                        accepted: true,
                        reason: None,
                    },
                    Err(reason) => {
                        self.shared.metrics.reject(&format!("{reason:?}"));
                        Message::TxResult {
                            id,
                            tx_id: None,
                            accepted: false,
                            reason: Some(reason.to_string()),
                        }
                    }
                };
                // Every refusal is answered; a struck one gets no `error` besides.
                self.send(&reply)?;
                match struck {
                    Ok(()) => Ok(()),
                    Err(_) => self.peer.strike().map_err(End::Refused),
                }
            }
            Message::Tx { tx } => {
                if !self.shared.first_sight(&tx) {
                    return Ok(());
                }
                let tx: SignedTx = match decode_hex("tx", &tx) {
                    Ok(t) => t,
                    Err(reason) => return self.strike(None, Strike::BadTx(reason)),
                };
                let result = self.admit(tx).await;
                match self.peer.tx(&result) {
                    Ok(()) => Ok(()),
                    Err(s) => self.strike(None, s),
                }
            }
            Message::Block { block } => {
                let now = node::now_ms();
                // Before the seen cache: a block dropped here may come again from another peer.
                if !self.peer.takes_gossip_blocks(now) {
                    self.shared.metrics.reject("UnknownParentLimited");
                    return Ok(());
                }
                if !self.shared.first_sight(&block) {
                    return Ok(());
                }
                let block: Block = match decode_hex("block", &block) {
                    Ok(b) => b,
                    Err(reason) => return self.strike(None, Strike::BadBlock(reason)),
                };
                let height = block.header.header.height;
                let Some(block) = self.check_block(block).await? else { return Ok(()) };
                // Signed by a validator: a height worth syncing towards.
                self.shared.metrics.best_peer_head.fetch_max(height, Ordering::Relaxed);
                let peer = &mut self.peer;
                let then = |n: &mut Node, r| peer.block(n, height, &r, now);
                match import(&self.shared, block, then).await {
                    Some(Ok(sends)) => self.send_all(sends),
                    Some(Err(s)) => self.strike(None, s),
                    None => Ok(()),
                }
            }
            Message::Blocks { id, blocks } => {
                let now = node::now_ms();
                let Some(mut reply) = self.peer.blocks(id, now) else {
                    self.shared.metrics.reject("UnknownParentLimited");
                    return Ok(());
                };
                for b in blocks.iter().take(MAX_RANGE as usize) {
                    let block: Block = match decode_hex("block", b) {
                        Ok(b) => b,
                        Err(reason) => return self.strike(None, Strike::BadBlock(reason)),
                    };
                    let height = block.header.header.height;
                    let Some(block) = self.check_block(block).await? else { return Ok(()) };
                    let (peer, r) = (&mut self.peer, &mut reply);
                    let then = |n: &mut Node, i| peer.synced(n, r, height, &i, now);
                    match import(&self.shared, block, then).await {
                        Some(Ok(sends)) => self.send_all(sends)?,
                        Some(Err(s)) => self.strike(None, s)?,
                        None => return Ok(()),
                    }
                    if reply.stopped() {
                        break;
                    }
                }
                let sends = self.peer.blocks_done(reply, now);
                self.send_all(sends)
            }
            Message::Vote { vote } => {
                if !self.shared.first_sight(&vote) {
                    return Ok(());
                }
                let vote: SignedVote = match decode_hex("vote", &vote) {
                    Ok(v) => v,
                    Err(reason) => return self.strike(None, Strike::BadVote(reason)),
                };
                let recorded = self.shared.with_node(|n| n.on_vote(vote)).await;
                match self.peer.vote(&recorded) {
                    Ok(()) => Ok(()),
                    Err(s) => self.strike(None, s),
                }
            }
            Message::Evidence { evidence } => {
                if !self.shared.first_sight(&evidence) {
                    return Ok(());
                }
                let e: Evidence = match decode_hex("evidence", &evidence) {
                    Ok(e) => e,
                    Err(reason) => return self.strike(None, Strike::BadEvidence(reason)),
                };
                match self.peer.evidence(e) {
                    Ok(e) => {
                        self.shared.with_node(|n| n.add_evidence(e)).await;
                        Ok(())
                    }
                    Err(s) => self.strike(None, s),
                }
            }
            Message::Peers { peers } => {
                // Without peer exchange, the addresses are dropped (the message is still valid).
                if let (true, Some(from)) = (self.shared.peer_exchange, self.peer_ip) {
                    for p in peers.iter().take(wire::MAX_PEERS_PER_MESSAGE) {
                        self.shared.learn_peer_from(p, from);
                    }
                }
                Ok(())
            }
            Message::Subscribe { heads, finality, accounts } => {
                match self.peer.subscribe(heads, finality, &accounts) {
                    Ok(true) => self.send_head().await,
                    Ok(false) => Ok(()),
                    Err(s) => self.strike(None, s),
                }
            }
            Message::GetHeaders { id, from, count } => {
                let (from, count) = match Peer::range(from, count, false) {
                    Ok(range) => range,
                    Err(s) => return self.strike(Some(id), s),
                };
                if let Some(reason) = self.pruned(from, count).await {
                    return self.send(&Message::Error { id: Some(id), reason });
                }
                let turn = self.shared.big_replies.acquire().await;
                // Under the lock only which blocks; read and encoded after it.
                let hashes = self.shared.with_node(|n| n.hashes_from(from, count)).await;
                let headers: Vec<String> = hashes
                    .iter()
                    .map_while(|hash| self.stored_block(hash))
                    .map(|b| encode_hex(&b.header))
                    .collect();
                // What was read: the headers, and the height that ended the range.
                let reads = headers.len() as u64 + 1;
                let text = Message::Headers { id, headers }.to_json();
                drop(turn);
                self.charge(reads).await;
                self.send_text(text)
            }
            Message::GetBlocks { id, from, count } => {
                let (from, count) = match Peer::range(from, count, true) {
                    Ok(range) => range,
                    Err(s) => return self.strike(Some(id), s),
                };
                if let Some(reason) = self.pruned(from, count).await {
                    return self.send(&Message::Error { id: Some(id), reason });
                }
                let turn = self.shared.big_replies.acquire().await;
                // Under the lock only which blocks; read (as stored) and encoded after it.
                let hashes = self.shared.with_node(|n| n.hashes_from(from, count)).await;
                // Bounded in bytes too, so the reply fits the receiver's frame cap.
                let mut size = 0usize;
                let blocks = hashes
                    .iter()
                    .map_while(|hash| match self.shared.reader.block_bytes(hash) {
                        Ok(bytes) => bytes,
                        Err(e) => {
                            tracing::warn!(%hash, "serving blocks: {e}");
                            None
                        }
                    })
                    .map(hex::encode)
                    .take_while(|hex| {
                        size += hex.len();
                        size <= wire::MAX_FRAME / 2
                    })
                    .collect::<Vec<_>>();
                let reads = blocks.len() as u64 + 1;
                let text = Message::Blocks { id, blocks }.to_json();
                drop(turn);
                self.charge(reads).await;
                self.send_text(text)
            }
            Message::GetCheckpoint { id, hash } => {
                let hash = match Hash::from_hex(&hash) {
                    Ok(h) => h,
                    Err(e) => return self.strike(Some(id), Strike::BadHash(e.to_string())),
                };
                let turn = self.shared.big_replies.acquire().await;
                let found = self.shared.reader.checkpoint_bytes(&hash).unwrap_or_else(|e| {
                    tracing::warn!(%hash, "serving a checkpoint: {e}");
                    None
                });
                drop(turn);
                self.charge(2).await;
                match found {
                    Some(found) => self.send(&Message::Checkpoint {
                        id,
                        block: hex::encode(found.block),
                        state: hex::encode(found.state),
                    }),
                    None => self.send(&Message::Error {
                        id: Some(id),
                        reason: "NotAvailable: no such block and state".into(),
                    }),
                }
            }
            Message::GetNodes { id, hashes } => {
                if hashes.len() > wire::MAX_NODE_HASHES {
                    return self.strike(Some(id), Strike::TooManyHashes(hashes.len()));
                }
                let mut wanted = Vec::with_capacity(hashes.len());
                for text in &hashes {
                    match Hash::from_hex(text) {
                        Ok(h) => wanted.push(h),
                        Err(e) => return self.strike(Some(id), Strike::BadHash(e.to_string())),
                    }
                }
                let turn = self.shared.big_replies.acquire().await;
                let nodes = self
                    .shared
                    .reader
                    .subtrees(&wanted, wire::MAX_NODES_REPLY, wire::MAX_FRAME / 4)
                    .unwrap_or_default();
                // A node is about a tenth of a block: charged as one read per 16 sent, and per
                // 16 hashes looked up (a request for hashes we lack costs lookups too).
                let reads = 1 + (nodes.len() + wanted.len()) as u64 / 16;
                let text =
                    Message::Nodes { id, nodes: nodes.iter().map(hex::encode).collect() }.to_json();
                drop(turn);
                self.charge(reads).await;
                self.send_text(text)
            }
            Message::GetFinality { id, since, latest } => {
                let turn = self.shared.big_replies.acquire().await;
                let proofs = self.shared.with_node(|n| peer::finality(n, since, latest)).await;
                let reads = proofs.len() as u64;
                let mut size = 0usize;
                // Encoded here, off the node's lock (the node hands out shared proofs).
                let proofs = proofs
                    .iter()
                    .map(|p| encode_hex(&**p))
                    .take_while(|hex| {
                        size += hex.len();
                        size <= wire::MAX_FRAME / 2
                    })
                    .collect();
                let text = Message::Finality { id, proofs }.to_json();
                drop(turn);
                self.charge(reads).await;
                self.send_text(text)
            }
            Message::GetAccount { id, address, at } => {
                let addr = match Address::parse(&address) {
                    Ok(a) => a,
                    Err(e) => return self.strike(Some(id), Strike::BadAddress(e.to_string())),
                };
                // Under the lock only which state; its proof is read off it.
                let view = self.shared.with_node(|n| n.account_view(at == At::Head)).await;
                let proved = view.and_then(|v| {
                    let proof = light::prove_account_at(
                        &self.shared.reader,
                        v.accounts_root,
                        v.meta_hash,
                        &addr,
                    );
                    Some((v.header, proof.ok()?))
                });
                self.charge(1).await;
                match proved {
                    Some((header, proof)) => self.send(&Message::Account {
                        id,
                        header: encode_hex(&header),
                        proof: encode_hex(&proof),
                    }),
                    None => self.send(&Message::Error {
                        id: Some(id),
                        reason: "NotAvailable: no state yet".into(),
                    }),
                }
            }
            Message::GetMeta { id } => {
                let turn = self.shared.big_replies.acquire().await;
                let meta = self.shared.with_node(|n| n.finalized_meta()).await;
                let Some(made) = meta else {
                    drop(turn);
                    self.charge(1).await;
                    return self.send(&Message::Error {
                        id: Some(id),
                        reason: "NotAvailable: no state yet".into(),
                    });
                };
                // Charged by size, like reads: a meta of a full registry is ~100 KB.
                let reads = 1 + (made.meta_hex.len() / 32_768) as u64;
                let text = Message::Meta {
                    id,
                    height: made.finalized.height,
                    hash: made.finalized.hash.to_hex(),
                    accounts_root: made.accounts_root.to_hex(),
                    meta: made.meta_hex.clone(),
                }
                .to_json();
                drop(turn);
                self.charge(reads).await;
                self.send_text(text)
            }
            Message::GetInclusion { id, tx_id } => {
                let tx_id: Hash = match Hash::from_hex(&tx_id) {
                    Ok(h) => h,
                    Err(e) => return self.strike(Some(id), Strike::BadHash(e.to_string())),
                };
                self.charge(1).await;
                let (header, proof, status) =
                    self.shared.with_node(|n| peer::inclusion(n, &tx_id)).await;
                self.send(&Message::Inclusion {
                    id,
                    header: header.map(|h| encode_hex(&h)),
                    proof: proof.map(|p| encode_hex(&p)),
                    status: status.into(),
                })
            }
            // Replies and notifications we did not ask for are ignored, not punished: a relay
            // may send them to a browser-like peer by design.
            Message::TxResult { .. }
            | Message::Headers { .. }
            | Message::Finality { .. }
            | Message::Account { .. }
            | Message::Meta { .. }
            | Message::Inclusion { .. }
            | Message::Checkpoint { .. }
            | Message::Nodes { .. }
            | Message::Head { .. }
            | Message::Finalized { .. }
            | Message::AccountChanged { .. } => Ok(()),
            Message::Error { id, reason } => {
                if let Some(id) = id {
                    self.peer.sync_refused(id, &reason);
                }
                Ok(())
            }
        }
    }

    /// Block `hash` from the store, read without the node's lock.
    fn stored_block(&self, hash: &Hash) -> Option<Block> {
        let bytes = self.shared.reader.block_bytes(hash).ok().flatten()?;
        memecoin_core::encode::Decode::from_bytes(&bytes).ok()
    }

    /// Offers `tx` to the mempool: first the checks that need no signature (so an unfunded
    /// sender's transaction costs no verification), then the signature off the node's lock,
    /// then admission.
    async fn admit(&self, tx: SignedTx) -> Result<Hash, memecoin_node::mempool::Rejection> {
        self.shared.with_node(|n| n.precheck_tx(&tx)).await?;
        let tx = memecoin_node::node::verify_tx(tx)?;
        self.shared.with_node(|n| n.submit_verified_tx(tx)).await
    }

    fn forward(&mut self, published: &Published) -> Result<(), End> {
        if let Event::AccountsChanged(list) = &published.event {
            for a in self.peer.accounts_changed(list) {
                self.send(&Message::AccountChanged { address: a.to_text() })?;
            }
            return Ok(());
        }
        match published.text() {
            Some(text) if self.peer.wants(&published.event) => self.send_text(text.to_owned()),
            _ => Ok(()),
        }
    }
}

/// Imports a block and hands the node's answer to `then`, under the same lock. A block already
/// known costs nothing more; otherwise its transactions' signatures are checked on every core,
/// on a blocking thread and off the node's lock: the import under the lock finds them in the
/// signature cache and does only the state work, so a validator's duties wait for that, not for
/// up to 2,000 verifications. `None` if the runtime is stopping.
async fn import<T>(
    shared: &Shared,
    block: Checked,
    then: impl FnOnce(&mut Node, Result<(), ImportError>) -> T,
) -> Option<T> {
    let hash = block.block().hash();
    let mut then = Some(then);
    let known = shared
        .with_node(|n| match n.is_known(&hash) {
            true => then.take().map(|f| f(n, Err(ImportError::AlreadyKnown))),
            false => None,
        })
        .await;
    if known.is_some() {
        return known;
    }
    let cache = shared.sigcache.clone();
    let verified = tokio::task::spawn_blocking(move || {
        cache.remember_valid(&block.block().txs);
        block
    });
    let block = verified.await.ok()?;
    let then = then?;
    Some(
        shared
            .with_node(|n| {
                let imported = n.import_checked(block);
                then(n, imported)
            })
            .await,
    )
}

/// Runs one connection until either side closes. `incoming` yields text frames; `out` takes
/// what to write. Both sides send their hello first. A peer at `remote` disconnected for invalid
/// input is refused for a while ([`Shared::ban`]), recorded before it hears the close. `peer_ip`
/// is the source of the relay addresses the peer tells us of. Returns why it ended, and whether
/// the peer's `hello` was accepted (a relay of our chain).
pub async fn serve_connection(
    shared: Arc<Shared>,
    mut incoming: mpsc::Receiver<String>,
    out: Outbox,
    remote: Option<std::net::SocketAddr>,
    peer_ip: Option<std::net::IpAddr>,
) -> (End, bool) {
    Metrics::inc(&shared.metrics.connections);
    let mut events = shared.events.subscribe();
    let mut stopping = shared.stopping.clone();
    let (chain, head_height) =
        shared.with_node(|n| (n.chain().clone(), n.head_state().map_or(0, |s| s.tip.height))).await;
    let chain_id = chain.id;
    let mut conn = Conn {
        shared: shared.clone(),
        peer: Peer::new(chain),
        out: out.clone(),
        window: Instant::now(),
        in_window: 0,
        served_in_window: 0,
        reads: MyReads::default(),
        peer_ip,
        peer_key: None,
    };
    let hello = Message::Hello {
        version: PROTOCOL_VERSION,
        chain_id: chain_id.to_hex(),
        role: Role::Relay,
        listen: shared.public_addr.clone().filter(|_| shared.peer_exchange),
        head_height,
    };
    let end: Result<(), End> = async {
        conn.send(&hello)?;
        loop {
            tokio::select! {
                frame = incoming.recv() => match frame {
                    Some(text) => conn.handle(&text).await?,
                    None => return Err(End::Closed),
                },
                _ = stopping.changed() => return Err(End::Refused(Close::ShuttingDown)),
                event = events.recv() => match event {
                    Ok(event) => if conn.peer.role().is_some() { conn.forward(&event)? },
                    Err(broadcast::error::RecvError::Lagged(_)) => conn.lagged().await?,
                    Err(broadcast::error::RecvError::Closed) => return Err(End::Closed),
                },
            }
        }
    }
    .await;
    shared.metrics.connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    if conn.peer.role() == Some(Role::Browser) {
        shared.metrics.browsers.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
    if let Some(key) = &conn.peer_key {
        shared.metrics.relay_peer_down(key);
    }
    if conn.peer.role() == Some(Role::Relay) {
        shared.metrics.relay_peers.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let why = match &end {
            Ok(()) | Err(End::Closed) => "closed by the peer".to_string(),
            Err(End::Refused(close)) => close.to_string(),
        };
        tracing::info!(
            peer = %peer_ip.map_or("?".into(), |ip| ip.to_string()),
            "relay peer disconnected: {why}"
        );
    }
    if let (true, Some(addr)) = (conn.peer.strikes() >= MAX_STRIKES, remote) {
        shared.ban(addr.ip());
    }
    let end = end.err().unwrap_or(End::Closed);
    if let End::Refused(close) = &end {
        tracing::info!("closing connection: {close}");
        shared.metrics.reject(close.kind());
        out.close(close.to_string());
    }
    (end, conn.peer.role().is_some())
}

/// Writes `out` to a socket's sink until a close, an error, or a frame the peer does not take
/// within [`WRITE_TIMEOUT`].
async fn write_all<S, M>(
    mut sink: S,
    mut out: mpsc::Receiver<Outgoing>,
    outbox: Outbox,
    text: impl Fn(String) -> M,
    close: impl Fn(String) -> Option<M>,
) where
    S: futures_util::Sink<M> + Unpin,
{
    use futures_util::SinkExt;
    while let Some(o) = out.recv().await {
        let frame = match o {
            Outgoing::Text(t) => {
                outbox.sent(t.len());
                text(t)
            }
            Outgoing::Close(reason) => {
                if let Some(frame) = close(reason) {
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(frame)).await;
                }
                break;
            }
        };
        match tokio::time::timeout(WRITE_TIMEOUT, sink.send(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                tracing::info!("dropping a peer that does not read");
                break;
            }
        }
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
}

/// After a connection ended: a peer that was refused for not reading is not written to any
/// more (its socket closes now); otherwise the writer gets [`WRITE_TIMEOUT`] to send the close
/// (a peer dropped for `FellBehind` may read well: it was this connection's task that lagged).
async fn finish_writer(end: &End, mut writer: tokio::task::JoinHandle<()>) {
    let too_slow = matches!(end, End::Refused(Close::TooSlow));
    if too_slow || tokio::time::timeout(WRITE_TIMEOUT, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// Accepts a warp WebSocket.
pub async fn accept_warp(
    shared: Arc<Shared>,
    socket: warp::ws::WebSocket,
    remote: Option<std::net::SocketAddr>,
) {
    use futures_util::StreamExt;
    let (sink, mut stream) = socket.split();
    let (in_tx, in_rx) = mpsc::channel::<String>(INCOMING_QUEUE);
    let (outbox, out_rx) = Outbox::new();
    // The reader reports whether the peer broke the frame-size cap, so it can be refused too.
    let reader = tokio::spawn(async move {
        loop {
            let msg = match stream.next().await {
                Some(Ok(msg)) => msg,
                Some(Err(e)) => return is_oversize(&e.to_string()),
                None => return false,
            };
            if msg.is_close() {
                return false;
            }
            if let Ok(text) = msg.to_str()
                && in_tx.send(text.to_string()).await.is_err()
            {
                return false;
            }
        }
    });
    let writer =
        tokio::spawn(write_all(sink, out_rx, outbox.clone(), warp::ws::Message::text, |reason| {
            Some(warp::ws::Message::close_with(1008u16, truncate(reason)))
        }));
    let (end, _) =
        serve_connection(shared.clone(), in_rx, outbox, remote, remote.map(|r| r.ip())).await;
    // If the connection ended because the reader did, learn why (briefly: it is done or nearly).
    let mut reader = reader;
    match tokio::time::timeout(Duration::from_millis(200), &mut reader).await {
        Ok(Ok(true)) => {
            shared.metrics.reject("FrameTooLarge");
            if let Some(addr) = remote {
                shared.ban(addr.ip());
            }
        }
        Ok(_) => {}
        // Still reading: the connection ended on our side; stop the reader.
        Err(_) => reader.abort(),
    }
    finish_writer(&end, writer).await;
}

/// Whether a WebSocket read error is the frame or message size cap (tungstenite's capacity
/// error, "Space limit exceeded: Message too long").
fn is_oversize(error: &str) -> bool {
    error.contains("too long") || error.contains("Space limit")
}

/// Dials a relay and runs the connection; returns when it ends, with whether the peer's
/// `hello` was accepted (a relay of our chain).
///
/// `ws://` and `wss://` URLs both work. A `wss://` peer must present a certificate that chains
/// to the bundled Mozilla roots (webpki-roots) for the URL's host: self-signed or private-CA
/// peers are out of scope and fail the handshake (with an error naming the URL, then retried
/// with backoff like any failed dial).
pub async fn dial(shared: Arc<Shared>, url: &str) -> Result<bool, String> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message as T;
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(wire::MAX_FRAME))
        .max_frame_size(Some(wire::MAX_FRAME));
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), false)
        .await
        .map_err(|e| format!("dial {url}: {e}"))?;
    let peer_ip = match socket.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => s.peer_addr().ok().map(|a| a.ip()),
        tokio_tungstenite::MaybeTlsStream::Rustls(s) => {
            s.get_ref().0.peer_addr().ok().map(|a| a.ip())
        }
        _ => None,
    };
    let (sink, mut stream) = socket.split();
    let (in_tx, in_rx) = mpsc::channel::<String>(INCOMING_QUEUE);
    let (outbox, out_rx) = Outbox::new();
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let text = match msg {
                T::Text(t) => t.to_string(),
                T::Close(_) => break,
                _ => continue,
            };
            if in_tx.send(text).await.is_err() {
                break;
            }
        }
    });
    // A dialed peer that refuses us gets no close frame, only the closed socket.
    let writer = tokio::spawn(write_all(sink, out_rx, outbox.clone(), T::text, |_| None));
    let (end, greeted) = serve_connection(shared, in_rx, outbox, None, peer_ip).await;
    reader.abort();
    finish_writer(&end, writer).await;
    Ok(greeted)
}

/// Whether `url`'s host resolves only to public addresses (the check for an address learned
/// from a public peer whose host is a name, not an IP literal).
async fn resolves_public(url: &str) -> bool {
    let Some(host) = crate::peers::host_of(url) else { return false };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return !crate::peers::host_is_local(host);
    }
    let port = if url.starts_with("wss://") { 443 } else { 80 };
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| !crate::peers::is_local(a.ip()))
        }
        Err(_) => false,
    }
}

/// The longest wait between two dials of one address. A partition that heals is noticed only
/// at the next dial: with 30 s, a 40 s partition of 7 validators took 29 s to finalize again
/// (`cargo xtask testnet testnet/partition-4-3.toml`); a dial a few seconds apart costs a
/// failed TCP connect.
const MAX_REDIAL: Duration = Duration::from_secs(8);

/// Keeps a connection to `url` up: redial with exponential backoff (1 s, doubling, to `MAX_REDIAL`).
pub async fn keep_dialing(shared: Arc<Shared>, url: String) {
    let mut backoff = Duration::from_secs(1);
    let mut stopping = shared.stopping.clone();
    while !*stopping.borrow() && shared.knows_peer(&url) {
        let started = Instant::now();
        // Learned from a public peer: its name must not lead into our own network.
        let ok = if shared.peer_public_only(&url) && !resolves_public(&url).await {
            tracing::debug!("not dialing {url}: its host is not public");
            false
        } else {
            match dial(shared.clone(), &url).await {
                Ok(greeted) => greeted,
                Err(e) => {
                    tracing::debug!("{e}");
                    false
                }
            }
        };
        // Forgotten after failing too often: the dial slot goes to another address.
        if !shared.peer_dialed(&url, ok) {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_secs(1);
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopping.changed() => break,
        }
        backoff = (backoff * 2).min(MAX_REDIAL);
    }
}

fn truncate(mut s: String) -> String {
    // A close reason must fit in a control frame (123 bytes).
    while s.len() > 120 {
        s.pop();
    }
    s
}
