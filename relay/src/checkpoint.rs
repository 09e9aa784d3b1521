//! Checkpoint sync over `/ws` (PROTOCOL.md §16.11): before the node opens, a relay with an
//! empty data dir takes a finalized block it can trust, downloads the state after it from its
//! checkpoint relays, checks it against the block, and then starts from there, following the
//! chain block by block like any relay. The checks are core's and the node crate's
//! ([`memecoin_node::checkpoint::StateSync`]); this module only moves the bytes.
//!
//! Which block to trust: the operator's `--checkpoint HASH`, or else the newest finality proof
//! of the checkpoint relays, under the weak-subjectivity rule (§13.2): verified from genesis
//! when genesis is still within its bound and the proof's signers hold enough of the genesis
//! set (a skip, §13.4); otherwise only if at least two relays (every one, if one is given)
//! serve valid proofs of the same block.

use crate::wire::{self, Message, PROTOCOL_VERSION, Role};
use futures_util::{SinkExt, StreamExt};
use memecoin_core::encode::Decode;
use memecoin_core::genesis::Genesis;
use memecoin_core::hash::Hash;
use memecoin_core::header::SignedHeader;
use memecoin_core::light::{FinalityProof, LightClient, Resync, Verdict};
use memecoin_core::pos;
use memecoin_node::checkpoint::StateSync;
use memecoin_node::store::Store;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as T;

/// Where a relay starts from when its data dir is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointSync {
    /// Relays (`ws://…/ws`) to download from; also dialed as peers afterwards.
    pub urls: Vec<String>,
    /// The block to start from, trusted as given; `None`: from the relays' finality proofs.
    pub trusted: Option<Hash>,
}

/// How long one request may wait for its reply.
const REPLY_WAIT: Duration = Duration::from_secs(10);
/// Hashes asked for per `get_nodes` (the protocol's cap).
const ASK: usize = wire::MAX_NODE_HASHES;
/// Replies that bring nothing before a relay is dropped from the download.
const USELESS_REPLIES: u32 = 3;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One checkpoint relay, spoken to as a client: one request at a time.
struct Conn {
    url: String,
    socket: Socket,
    next_id: u64,
    useless: u32,
}

impl Conn {
    async fn open(url: &str, chain_id: &Hash) -> anyhow::Result<Conn> {
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(wire::MAX_FRAME))
            .max_frame_size(Some(wire::MAX_FRAME));
        let (socket, _) = tokio::time::timeout(
            REPLY_WAIT,
            tokio_tungstenite::connect_async_with_config(url, Some(config), false),
        )
        .await
        .map_err(|_| anyhow::anyhow!("{url}: no answer within 10 s"))?
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        let mut conn = Conn { url: url.to_owned(), socket, next_id: 0, useless: 0 };
        // A browser's hello: the relay sends a client nothing it did not ask for.
        let hello = Message::Hello {
            version: PROTOCOL_VERSION,
            chain_id: chain_id.to_hex(),
            role: Role::Browser,
            listen: None,
            head_height: 0,
        };
        conn.socket.send(T::text(hello.to_json())).await?;
        Ok(conn)
    }

    /// Sends the request `make(id)` and waits for the reply with that id.
    async fn ask(&mut self, make: impl FnOnce(u64) -> Message) -> anyhow::Result<Message> {
        self.next_id = self.next_id.saturating_add(1);
        let id = self.next_id;
        self.socket.send(T::text(make(id).to_json())).await?;
        let deadline = Instant::now() + REPLY_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.socket.next())
                .await
                .map_err(|_| anyhow::anyhow!("{}: no reply within 10 s", self.url))?
                .ok_or_else(|| anyhow::anyhow!("{}: closed the connection", self.url))??;
            let T::Text(text) = frame else { continue };
            let Ok(message) = Message::from_json(&text) else { continue };
            match &message {
                Message::Checkpoint { id: got, .. }
                | Message::Nodes { id: got, .. }
                | Message::Finality { id: got, .. }
                | Message::Headers { id: got, .. }
                    if *got == id =>
                {
                    return Ok(message);
                }
                Message::Error { id: Some(got), reason } if *got == id => {
                    anyhow::bail!("{}: {reason}", self.url)
                }
                _ => {}
            }
        }
    }

    /// The hash of the relay's head-chain block at `height`, if it has one.
    async fn hash_at(&mut self, height: u64) -> anyhow::Result<Option<Hash>> {
        let reply = self.ask(|id| Message::GetHeaders { id, from: height, count: 1 }).await?;
        let Message::Headers { headers, .. } = reply else { return Ok(None) };
        let Some(hex) = headers.first() else { return Ok(None) };
        let header =
            SignedHeader::from_bytes(&hex::decode(hex)?).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok((header.header.height == height).then(|| header.header.hash()))
    }

    /// The relay's newest finality proof.
    async fn latest_proof(&mut self) -> anyhow::Result<Option<FinalityProof>> {
        let reply = self.ask(|id| Message::GetFinality { id, since: 0, latest: true }).await?;
        let Message::Finality { proofs, .. } = reply else { return Ok(None) };
        let Some(hex) = proofs.last() else { return Ok(None) };
        let bytes = hex::decode(hex)?;
        Ok(Some(FinalityProof::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?))
    }
}

/// Runs a checkpoint sync into `data_dir` if it holds no chain yet; returns whether it did.
pub async fn sync(genesis: &Genesis, data_dir: &Path, cs: &CheckpointSync) -> anyhow::Result<bool> {
    let chain = genesis.chain();
    let store = Store::open(data_dir, chain.id)?;
    if let Some(finalized) = store.finalized()? {
        tracing::info!(
            finalized = finalized.height,
            "the data dir has a chain: no checkpoint sync, resuming from it"
        );
        return Ok(false);
    }
    anyhow::ensure!(!cs.urls.is_empty(), "checkpoint sync needs at least one relay to ask");
    let started = Instant::now();
    let mut conns = Vec::new();
    for url in &cs.urls {
        match Conn::open(url, &chain.id).await {
            Ok(c) => conns.push(c),
            Err(e) => tracing::warn!("checkpoint sync: {e}"),
        }
    }
    anyhow::ensure!(!conns.is_empty(), "checkpoint sync: no checkpoint relay answered");
    let (trusted, proof) = match cs.trusted {
        Some(hash) => (hash, None),
        None => {
            let proof = trusted_proof(genesis, &mut conns).await?;
            (proof.source.hash(), Some(proof))
        }
    };
    // The block and its state, from the first relay that keeps them and tells the truth.
    let mut state_sync = None;
    let mut liars = Vec::new();
    for (i, conn) in conns.iter_mut().enumerate() {
        let reply = conn.ask(|id| Message::GetCheckpoint { id, hash: trusted.to_hex() }).await;
        let (block, state) = match reply {
            Ok(Message::Checkpoint { block, state, .. }) => (block, state),
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!("checkpoint sync: {e}");
                continue;
            }
        };
        let bytes = hex::decode(block).ok().zip(hex::decode(state).ok());
        let checked = match bytes {
            Some((block, state)) => StateSync::new(&store, &trusted, &block, &state),
            None => Err(memecoin_node::checkpoint::SyncError::Decode { what: "checkpoint" }),
        };
        match checked {
            Ok(s) => {
                state_sync = Some(s);
                break;
            }
            Err(memecoin_node::checkpoint::SyncError::Store(e)) => return Err(e.into()),
            Err(e) => {
                // A relay that sends another block or state for the trusted hash is asked no more.
                tracing::warn!(url = %conn.url, "checkpoint sync: {e}");
                liars.push(i);
            }
        }
    }
    for i in liars.into_iter().rev() {
        conns.remove(i);
    }
    let mut state_sync = state_sync.ok_or_else(|| {
        anyhow::anyhow!("checkpoint sync: no checkpoint relay serves block {trusted} and its state")
    })?;
    let checkpoint = state_sync.checkpoint();
    tracing::info!(height = checkpoint.height, hash = %checkpoint.hash, "checkpoint sync: downloading the state");
    // The trees, relay after relay: one that brings nothing three times is dropped.
    let mut turn = 0usize;
    while !state_sync.is_done() {
        anyhow::ensure!(!conns.is_empty(), "checkpoint sync: every checkpoint relay failed");
        turn %= conns.len();
        let this = turn;
        turn += 1;
        let conn = &mut conns[this];
        let wanted: Vec<String> = state_sync.wanted(ASK).iter().map(Hash::to_hex).collect();
        let kept = match conn.ask(|id| Message::GetNodes { id, hashes: wanted }).await {
            Ok(Message::Nodes { nodes, .. }) => {
                let bytes: Vec<Vec<u8>> =
                    nodes.iter().filter_map(|n| hex::decode(n).ok()).collect();
                state_sync.receive(&store, &bytes).unwrap_or_else(|e| {
                    tracing::warn!(url = %conn.url, "checkpoint sync: {e}");
                    0
                })
            }
            Ok(_) => 0,
            Err(e) => {
                tracing::warn!("checkpoint sync: {e}");
                conn.useless = USELESS_REPLIES;
                0
            }
        };
        if kept == 0 {
            conn.useless += 1;
            if conn.useless >= USELESS_REPLIES {
                tracing::warn!(url = %conn.url, "checkpoint sync: dropping a relay that sends nothing useful");
                conns.remove(this);
                turn = this;
            }
        }
    }
    let nodes = state_sync.stored();
    state_sync.finish(&store, proof.as_ref())?;
    tracing::info!(
        height = checkpoint.height,
        hash = %checkpoint.hash,
        nodes,
        ms = started.elapsed().as_millis() as u64,
        "checkpoint sync: done; following the chain from the checkpoint"
    );
    Ok(true)
}

/// The newest finality proof the relays serve that this relay may trust (see the module's
/// doc). Tries for 30 s: relays a moment apart may be an epoch apart.
async fn trusted_proof(genesis: &Genesis, conns: &mut [Conn]) -> anyhow::Result<FinalityProof> {
    let chain = genesis.chain();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now_slot = pos::slot_at(
            chain.genesis_time_ms,
            chain.params.slot_ms,
            memecoin_node::node::now_ms(),
        )
        .unwrap_or(0);
        // Past genesis's bound: core's resync rule (§13.5, as the wallet's), two relays or every
        // one given if fewer must have the lowest valid proof's block on their chain.
        let mut resync = Resync::new(conns.len());
        for (i, conn) in conns.iter_mut().enumerate() {
            let proof = match conn.latest_proof().await {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("checkpoint sync: {e}");
                    continue;
                }
            };
            // From genesis, while genesis may still be trusted: one relay is enough.
            let mut client =
                LightClient::from_genesis(genesis).map_err(|e| anyhow::anyhow!("{e}"))?;
            if !client.is_expired(now_slot) && client.accept_finality(&proof, &[]).is_ok() {
                return Ok(proof);
            }
            match LightClient::from_finality_proof(chain.id, chain.params.clone(), &proof) {
                Ok(_) => resync.proof(i, proof),
                Err(e) => {
                    tracing::warn!(url = %conn.url, "checkpoint sync: a false finality proof: {e}")
                }
            }
        }
        if let Some((height, sources)) = resync.ask() {
            let mut headers = Vec::new();
            for i in sources {
                let Some(conn) = conns.get_mut(i) else { continue };
                match conn.hash_at(height).await {
                    Ok(hash) => headers.push((i, hash)),
                    Err(e) => tracing::warn!("checkpoint sync: {e}"),
                }
            }
            match resync.decide(&headers) {
                Verdict::Start { proof, .. } => return Ok(*proof),
                Verdict::Conflict { source, height, .. } => anyhow::bail!(
                    "checkpoint sync: the checkpoint relays disagree on the finalized block at \
                     height {height} ({} differs): conflicting finality, not starting",
                    conns.get(source).map_or("?", |c| c.url.as_str())
                ),
                Verdict::Wait => {}
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "checkpoint sync: past the chain's weak-subjectivity bound, two checkpoint relays (or \
             every one given, if fewer) must have the same finalized block, and they did not \
             within 30 s; give --checkpoint HASH (a block you know to be finalized) or more relays"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
