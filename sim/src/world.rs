//! One seed's run: the nodes, the simulated network and clock, the byzantine validators, and the
//! checks after every step.
//!
//! Time is a number of simulated milliseconds (Unix time from [`GENESIS_MS`]); the run is a
//! queue of items ordered by (time, sequence number), popped one at a time. Nothing reads the
//! wall clock, every random choice comes from [`Rng`] streams seeded by the seed, and every map
//! iterated is ordered, so a seed replays the same run, byte for byte (`trace` hashes it).

use crate::check::{self, Checker, SupplyView, Violation, ViolationKind};
use crate::rng::Rng;
use crate::scenario::*;
use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::crypto::{PublicKey, SecretKey};
use memecoin_core::encode::Encode;
use memecoin_core::finality::{Checkpoint, SignedVote, Vote};
use memecoin_core::genesis::{Genesis, GenesisAccount, GenesisValidator};
use memecoin_core::hash::{Domain, Hash, tagged_hash};
use memecoin_core::params::Params;
use memecoin_core::pos::{self, HashChain};
use memecoin_core::slashing::Evidence;
use memecoin_core::state::{self, Chain, ChainState};
use memecoin_core::tx::{SignedTx, Tx, TxKind};
use memecoin_core::wire::MAX_RANGE;
use memecoin_relay::node::{Event, ImportError, Node, ValidatorKey};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use tempfile::TempDir;

/// Length of each validator's commit-reveal hash chain: more than the slots of any run.
const HASH_CHAIN_LENGTH: u64 = 256;
/// Coins each validator, user and the faucet-like users start with (base units).
const START_BALANCE: u64 = 1_000_000_000_000;
/// Users sending transfers, and the addresses they pay.
const USERS: usize = 3;
const RECIPIENTS: usize = 4;
/// Entries of a node's seen-cache (the relay's `first_sight`): gossip seen lately is dropped.
const SEEN_CACHE: usize = 8_192;

/// What a seed's run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    pub summary: String,
    pub violation: Option<Violation>,
    /// Distinct blocks produced (all branches).
    pub blocks: u64,
    /// Highest height finalized by any honest node.
    pub finalized: u64,
    /// Simulated time covered, ms.
    pub sim_ms: u64,
    /// Messages delivered.
    pub messages: u64,
    /// Equivocations the byzantine validators committed, and offenders slashed at the end.
    pub offences: u64,
    pub slashed: u64,
    /// At the liveness deadline: the least (finalized height − needed height) over honest nodes.
    pub liveness_margin: Option<i64>,
    /// SHA-256 over every step (time, what happened, each touched node's head and finality).
    pub trace: [u8; 32],
}

#[derive(Debug, Clone)]
enum Msg {
    Block(Box<Block>),
    Vote(SignedVote),
    Evidence(Box<Evidence>),
    Tx(SignedTx),
    /// The `hello` of a (re)connected peer: its head height.
    Hello {
        head: u64,
    },
    /// `get_blocks { from, count: MAX_RANGE }` (PROTOCOL.md §16.6) and its reply.
    GetBlocks {
        from: u64,
    },
    Blocks(Vec<Block>),
}

impl Msg {
    /// The gossip id the seen-cache keys on (none for requests and replies, which it skips).
    fn gossip_id(&self) -> Option<Hash> {
        match self {
            Msg::Block(b) => Some(b.hash()),
            Msg::Vote(v) => Some(tagged_hash(Domain::Vote, &[&v.to_bytes()])),
            Msg::Evidence(e) => Some(tagged_hash(Domain::Vote, &[&e.to_bytes()])),
            Msg::Tx(t) => Some(tagged_hash(Domain::Tx, &[&t.to_bytes()])),
            _ => None,
        }
    }

    fn tag(&self) -> u8 {
        match self {
            Msg::Block(_) => 0,
            Msg::Vote(_) => 1,
            Msg::Evidence(_) => 2,
            Msg::Tx(_) => 3,
            Msg::Hello { .. } => 4,
            Msg::GetBlocks { .. } => 5,
            Msg::Blocks(_) => 6,
        }
    }
}

#[derive(Debug)]
enum Item {
    Tick(usize),
    Deliver {
        from: usize,
        to: usize,
        msg: Box<Msg>,
    },
    Crash(usize),
    Restart(usize),
    /// Every pair of reachable nodes exchanges `hello` (a partition healed).
    HelloAll,
    /// A byzantine withholder releases a block late.
    Release {
        from: usize,
        block: Box<Block>,
        to: Vec<usize>,
    },
    UserTx,
    Calm,
    Deadline,
}

#[derive(Debug, Default)]
struct Seen {
    set: BTreeSet<Hash>,
    order: VecDeque<Hash>,
}

impl Seen {
    fn first_sight(&mut self, id: Hash) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > SEEN_CACHE {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// A byzantine validator's own bookkeeping (its chain view is an ordinary `Node` without a key).
#[derive(Debug)]
struct Byz {
    behaviour: Behaviour,
    last_slot: u64,
    last_head: Hash,
    votes: Vec<Vote>,
}

struct Actor {
    dir: TempDir,
    /// `None` while crashed.
    node: Option<Node>,
    key: ValidatorKey,
    byz: Option<Byz>,
    seen: Seen,
}

struct World {
    sc: Scenario,
    genesis: Genesis,
    chain: Chain,
    actors: Vec<Actor>,
    keys: Vec<PublicKey>,
    addresses: Vec<Address>,
    genesis_stake: Vec<u64>,
    users: Vec<SecretKey>,
    recipients: Vec<Address>,
    queue: BTreeMap<(u64, u64), Item>,
    seq: u64,
    now: u64,
    net: Rng,
    byz_rng: Rng,
    user_rng: Rng,
    checker: Checker,
    trace: Sha256,
    messages: u64,
    blocks: BTreeSet<Hash>,
    /// Equivocations committed: (offender, time, made while the network was calm).
    offences: Vec<(usize, u64)>,
    /// The first time an honest node held evidence against each offender.
    evidence_known: BTreeMap<usize, u64>,
    calm_base: Option<u64>,
    liveness_margin: Option<i64>,
    violation: Option<Violation>,
    /// Print every block, vote and import to stderr (`--log`): for reading one seed's run.
    log: bool,
}

/// The first 4 bytes of a hash, in hex: enough to tell a run's blocks apart in a log.
fn short(h: &Hash) -> String {
    h.0.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn cp(c: &Checkpoint) -> String {
    format!("{}:{}", c.height, short(&c.hash))
}

fn secret(label: &[u8], i: u64) -> SecretKey {
    let h = tagged_hash(Domain::Genesis, &[b"memecoin-sim", label, &i.to_be_bytes()]);
    SecretKey::from_bytes(&h.0)
        .expect("a hash is a valid secp256k1 scalar but with negligible odds")
}

/// A temporary data dir, in memory (`/dev/shm`) where there is one: redb fsyncs every
/// commit, and the simulation is about the node's logic, not the disk's speed.
fn data_dir() -> TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("memecoin-sim-").to_owned();
    if shm.is_dir() {
        if let Ok(d) = builder.tempdir_in(shm) {
            return d;
        }
    }
    builder.tempdir().expect("a temporary directory for a node's data")
}

/// Runs seed `seed` (with `validators` validators, else the seed's choice) to its end or to its
/// first violation.
pub fn run(seed: u64, validators: Option<usize>) -> Outcome {
    run_with(seed, validators, false)
}

/// As [`run`]; with `log`, every block, vote and import is printed to stderr (the run is the
/// same: logging draws nothing).
pub fn run_with(seed: u64, validators: Option<usize>, log: bool) -> Outcome {
    let mut w = World::new(seed, validators);
    w.log = log;
    while let Some(((t, _), item)) = w.queue.pop_first() {
        if t > w.sc.end_ms {
            break;
        }
        w.now = t;
        w.step(item);
        if w.violation.is_some() {
            break;
        }
    }
    if w.violation.is_none() {
        w.now = w.sc.end_ms;
        w.final_checks();
    }
    w.outcome()
}

impl World {
    fn new(seed: u64, validators: Option<usize>) -> World {
        let params = Params::devnet();
        debug_assert_eq!((params.slot_ms, params.slots_per_epoch), (SLOT_MS, SLOTS_PER_EPOCH));
        let sc = Scenario::new(seed, validators, params.min_stake);
        let mut rng = Rng::new(seed ^ 0x005E_ED0F_5EED);
        let n = sc.validators();
        let vkeys: Vec<ValidatorKey> = (0..n as u64)
            .map(|i| ValidatorKey {
                key: secret(b"validator", i),
                chain: HashChain::new(
                    tagged_hash(Domain::Reveal, &[b"memecoin-sim chain", &i.to_be_bytes()]),
                    HASH_CHAIN_LENGTH,
                ),
            })
            .collect();
        let keys: Vec<PublicKey> = vkeys.iter().map(|v| v.key.public_key()).collect();
        let users: Vec<SecretKey> = (0..USERS as u64).map(|i| secret(b"user", i)).collect();
        let recipients: Vec<Address> =
            (0..RECIPIENTS as u8).map(|i| Address([0xA0 | i; 20])).collect();
        let mut accounts: Vec<GenesisAccount> = keys
            .iter()
            .chain(users.iter().map(|u| u.public_key()).collect::<Vec<_>>().iter())
            .map(|k| GenesisAccount {
                address: Address::from_public_key(k),
                balance: START_BALANCE,
            })
            .collect();
        accounts.sort_by_key(|a| a.address);
        let mut genesis = Genesis {
            chain_name: format!("memecoin-sim-{seed}"),
            genesis_time_ms: GENESIS_MS,
            params,
            accounts,
            validators: vkeys
                .iter()
                .zip(&sc.stakes)
                .map(|(v, &stake)| GenesisValidator {
                    key: v.key.public_key(),
                    stake,
                    commitment: v.chain.commitment(),
                })
                .collect(),
        };
        genesis.canonicalize();
        let mut addresses: Vec<Address> = keys.iter().map(Address::from_public_key).collect();
        addresses.extend(users.iter().map(|u| Address::from_public_key(&u.public_key())));
        addresses.extend(recipients.iter().copied());

        let mut actors = Vec::with_capacity(n);
        for (i, key) in vkeys.into_iter().enumerate() {
            let dir = data_dir();
            let byz = sc.byzantine[i].map(|behaviour| Byz {
                behaviour,
                last_slot: 0,
                last_head: Hash::ZERO,
                votes: Vec::new(),
            });
            // A byzantine validator's chain view is an ordinary node without a key: it follows
            // the chain, and the misbehaviour is signed here, with core's functions.
            let own_key = byz.is_none().then(|| key.clone());
            let node = Node::open_at(genesis.clone(), dir.path(), own_key, GENESIS_MS)
                .expect("a fresh node opens");
            actors.push(Actor { dir, node: Some(node), key, byz, seen: Seen::default() });
        }
        let chain = actors[0].node.as_ref().map(|n| n.chain().clone()).expect("node 0 is up");
        let mut w = World {
            genesis_stake: sc.stakes.clone(),
            genesis,
            chain,
            actors,
            keys,
            addresses,
            users,
            recipients,
            queue: BTreeMap::new(),
            seq: 0,
            now: GENESIS_MS,
            net: rng.fork(),
            byz_rng: rng.fork(),
            user_rng: rng.fork(),
            checker: Checker::default(),
            trace: Sha256::new(),
            messages: 0,
            blocks: BTreeSet::new(),
            offences: Vec::new(),
            evidence_known: BTreeMap::new(),
            calm_base: None,
            liveness_margin: None,
            violation: None,
            log: false,
            sc,
        };
        for i in 0..n {
            let first = GENESIS_MS + w.sc.tick_phase_ms[i];
            w.schedule(first, Item::Tick(i));
        }
        for c in w.sc.crashes.clone() {
            w.schedule(c.at_ms, Item::Crash(c.node));
            w.schedule(c.restart_ms, Item::Restart(c.node));
        }
        for t in w.sc.reconnections() {
            w.schedule(t, Item::HelloAll);
        }
        w.schedule(GENESIS_MS + SLOT_MS, Item::UserTx);
        w.schedule(w.sc.faults_until_ms, Item::Calm);
        w.schedule(w.sc.faults_until_ms + LIVENESS_SLOTS * SLOT_MS, Item::Deadline);
        w
    }

    fn schedule(&mut self, at: u64, item: Item) {
        self.seq += 1;
        self.queue.insert((at, self.seq), item);
    }

    fn violate(&mut self, kind: ViolationKind) {
        if self.violation.is_none() {
            self.violation = Some(Violation { at_ms: self.now, kind });
        }
    }

    /// Node `i`'s clock.
    fn local(&self, i: usize) -> u64 {
        self.now.saturating_add_signed(self.sc.skew_ms[i])
    }

    fn calm(&self) -> bool {
        self.now >= self.sc.faults_until_ms
    }

    fn step(&mut self, item: Item) {
        self.trace.update(self.now.to_be_bytes());
        match item {
            Item::Tick(i) => {
                self.trace.update([0, i as u8]);
                let next = self.now + TICK_MS;
                if next <= self.sc.end_ms {
                    self.schedule(next, Item::Tick(i));
                }
                if self.actors[i].node.is_none() {
                    return;
                }
                if self.actors[i].byz.is_some() {
                    self.byz_tick(i);
                } else {
                    let local = self.local(i);
                    if let Some(node) = self.actors[i].node.as_mut() {
                        node.tick(local);
                    }
                }
                self.after(i);
            }
            Item::Deliver { from, to, msg } => {
                self.trace.update([1, from as u8, to as u8, msg.tag()]);
                self.deliver(from, to, *msg);
            }
            Item::Crash(i) => {
                self.trace.update([2, i as u8]);
                self.actors[i].node = None;
                self.actors[i].seen = Seen::default();
            }
            Item::Restart(i) => {
                self.trace.update([3, i as u8]);
                let local = self.local(i);
                let a = &mut self.actors[i];
                match Node::open_at(self.genesis.clone(), a.dir.path(), Some(a.key.clone()), local)
                {
                    Ok(node) => a.node = Some(node),
                    Err(e) => {
                        return self.violate(ViolationKind::NodeFailure {
                            node: i,
                            what: format!("restart: {e}"),
                        });
                    }
                }
                self.after(i);
                // The restarted relay reconnects: it and each peer exchange `hello`.
                for j in 0..self.actors.len() {
                    if j != i {
                        self.hello(i, j);
                        self.hello(j, i);
                    }
                }
            }
            Item::HelloAll => {
                self.trace.update([4]);
                for i in 0..self.actors.len() {
                    for j in 0..self.actors.len() {
                        if i != j {
                            self.hello(i, j);
                        }
                    }
                }
            }
            Item::Release { from, block, to } => {
                self.trace.update([5, from as u8]);
                for j in to {
                    self.send(from, j, Msg::Block(block.clone()));
                }
            }
            Item::UserTx => {
                self.trace.update([6]);
                self.user_tx();
                let next = self.now + self.user_rng.range(300, 2_000);
                self.schedule(next, Item::UserTx);
            }
            Item::Calm => {
                self.trace.update([7]);
                self.calm_base = Some(self.checker.max_finalized());
            }
            Item::Deadline => {
                self.trace.update([8]);
                self.liveness_deadline();
            }
        }
    }

    fn hello(&mut self, from: usize, to: usize) {
        let Some(node) = self.actors[from].node.as_ref() else { return };
        let head = node.head_state().map_or(0, |s| s.tip.height);
        self.send(from, to, Msg::Hello { head });
    }

    /// Sends through the simulated network: dropped across a partition, and during the fault
    /// phase lost, duplicated or delayed (reordered) at the scenario's rates.
    fn send(&mut self, from: usize, to: usize, msg: Msg) {
        if from == to || !self.sc.connected(self.now, from, to) {
            return;
        }
        let calm = self.calm();
        if !calm && self.net.chance(self.sc.loss) {
            return;
        }
        let copies = if !calm && self.net.chance(self.sc.duplication) { 2 } else { 1 };
        for _ in 0..copies {
            let (lo, hi) = self.sc.delay_ms;
            let delay = if calm {
                self.net.range(lo, hi.min(CALM_MAX_DELAY_MS))
            } else if self.net.chance(self.sc.slow) {
                self.net.range(hi, self.sc.slow_ms)
            } else {
                self.net.range(lo, hi)
            };
            let msg = Box::new(msg.clone());
            self.schedule(self.now + delay, Item::Deliver { from, to, msg });
        }
    }

    fn broadcast(&mut self, from: usize, msg: &Msg) {
        for j in 0..self.actors.len() {
            self.send(from, j, msg.clone());
        }
    }

    fn deliver(&mut self, from: usize, to: usize, msg: Msg) {
        // A partition that started while the message was in flight cuts the connection.
        if !self.sc.connected(self.now, from, to) || self.actors[to].node.is_none() {
            return;
        }
        self.messages += 1;
        if let Some(id) = msg.gossip_id() {
            self.trace.update(id.0);
            if !self.actors[to].seen.first_sight(id) {
                return;
            }
        }
        let local = self.local(to);
        let chain_id = self.chain.id;
        let Some(node) = self.actors[to].node.as_mut() else { return };
        let mut replies = Vec::new();
        let log = self.log;
        let t = self.now.saturating_sub(GENESIS_MS);
        match msg {
            Msg::Block(b) => {
                let (hash, height) = (b.hash(), b.header.header.height);
                let r = node.import_block_at(*b, local);
                if log {
                    eprintln!("{t:>6} {from}->{to} block {height}:{} {r:?}", short(&hash));
                }
                if let Err(ImportError::UnknownParent { .. }) = r {
                    replies.push(Msg::GetBlocks { from: node.finalized().height + 1 });
                }
            }
            Msg::Blocks(blocks) => {
                let mut last = None;
                for b in blocks {
                    let height = b.header.header.height;
                    let hash = b.hash();
                    let r = node.import_block_at(b, local);
                    if log {
                        eprintln!("{t:>6} {from}->{to} synced {height}:{} {r:?}", short(&hash));
                    }
                    if let Err(ImportError::UnknownParent { .. }) = r {
                        // The rest of the range hangs on this block: ask again from finality
                        // (the relay asks once per such block; once is enough here).
                        replies.push(Msg::GetBlocks { from: node.finalized().height + 1 });
                        last = None;
                        break;
                    }
                    last = Some(height);
                }
                if let Some(h) = last {
                    replies.push(Msg::GetBlocks { from: h + 1 });
                }
            }
            Msg::GetBlocks { from: start } => {
                let blocks: Vec<Block> = (start.max(1)..start.saturating_add(MAX_RANGE))
                    .map_while(|h| node.hash_at(h).and_then(|hash| node.block(&hash)))
                    .collect();
                replies.push(Msg::Blocks(blocks));
            }
            Msg::Hello { head } => {
                if head > node.head_state().map_or(0, |s| s.tip.height) {
                    replies.push(Msg::GetBlocks { from: node.finalized().height + 1 });
                }
                // As the relay does: its head to the peer, which syncs if it is new to it.
                if let Some(b) = node.head_block() {
                    replies.push(Msg::Block(b.into()));
                }
            }
            Msg::Vote(v) => {
                let vote = v.vote;
                let r = node.on_vote(v);
                if log {
                    eprintln!(
                        "{t:>6} {from}->{to} vote {}->{} {r:?}",
                        cp(&vote.source),
                        cp(&vote.target)
                    );
                }
            }
            Msg::Evidence(e) => {
                if e.verify(&chain_id).is_ok() {
                    node.add_evidence(*e);
                }
            }
            Msg::Tx(tx) => {
                let _ = node.submit_tx_at(tx, local);
            }
        }
        for r in replies {
            self.send(to, from, r);
        }
        self.after(to);
    }

    /// After node `i` was called: route its events as the relay's `net` does (gossip to every
    /// peer), record what an honest validator signed, and check the invariants that can break.
    fn after(&mut self, i: usize) {
        let honest = self.actors[i].byz.is_none();
        let Some(node) = self.actors[i].node.as_mut() else { return };
        let events = node.take_events();
        if let Some(state) = node.head_state() {
            self.trace.update(state.tip.hash.0);
        }
        self.trace.update(node.finalized().height.to_be_bytes());
        if !honest {
            // A byzantine node forwards nothing; what it sends is decided in `byz_tick`.
            return;
        }
        let mut new_head = false;
        let t = self.now.saturating_sub(GENESIS_MS);
        for event in events {
            let msg = match event {
                Event::Block(b) => {
                    let h = &b.header.header;
                    self.blocks.insert(b.hash());
                    if self.log && h.proposer == self.keys[i] {
                        let cert = b.certificate.as_ref().map_or(String::new(), |c| {
                            format!(" cert {}->{}", cp(&c.vote.source), cp(&c.vote.target))
                        });
                        eprintln!(
                            "{t:>6} node {i} proposes {}:{} slot {} on {} J {} F {}{cert} txs {}",
                            h.height,
                            short(&b.hash()),
                            h.slot,
                            short(&h.parent),
                            cp(&h.justified),
                            cp(&h.finalized),
                            b.txs.len()
                        );
                    }
                    if h.proposer == self.keys[i] {
                        if let Err(v) = self.checker.honest_proposal(i, h.slot, b.hash()) {
                            return self.violate(v);
                        }
                    }
                    Msg::Block(b.into())
                }
                Event::Vote(v) => {
                    if self.log && v.validator == self.keys[i] {
                        eprintln!(
                            "{t:>6} node {i} votes {}->{}",
                            cp(&v.vote.source),
                            cp(&v.vote.target)
                        );
                    }
                    if v.validator == self.keys[i] {
                        if let Err(e) = self.checker.honest_vote(i, v.vote) {
                            return self.violate(e);
                        }
                    }
                    Msg::Vote(v)
                }
                Event::Evidence(e) => {
                    let offender = check::index_of(&self.keys, e.offender());
                    match offender {
                        Some(o) if self.sc.is_honest(o) => {
                            return self.violate(ViolationKind::HonestEquivocation {
                                node: o,
                                what: format!("evidence made by node {i}"),
                            });
                        }
                        Some(o) => {
                            self.evidence_known.entry(o).or_insert(self.now);
                        }
                        None => {}
                    }
                    Msg::Evidence(e.into())
                }
                Event::Tx(tx) => Msg::Tx(tx),
                Event::NewHead(h) => {
                    if self.log {
                        let h = &h.header;
                        eprintln!(
                            "{t:>6} node {i} head {}:{} J {} F {}",
                            h.height,
                            short(&h.hash()),
                            cp(&h.justified),
                            cp(&h.finalized)
                        );
                    }
                    new_head = true;
                    continue;
                }
                Event::Finalized(_) | Event::AccountsChanged(_) => continue,
            };
            self.broadcast(i, &msg);
        }
        self.check_finality(i);
        if new_head && self.violation.is_none() {
            self.check_supply(i, false);
        }
    }

    /// Safety, after every step: every newly finalized height of node `i` against every other
    /// honest node's.
    fn check_finality(&mut self, i: usize) {
        let Some(node) = self.actors[i].node.as_ref() else { return };
        let fin = node.finalized();
        let from = self.checker.checked_height(i);
        let mut found = Vec::new();
        for h in from + 1..=fin.height {
            match node.hash_at(h) {
                Some(hash) => found.push((h, hash)),
                None => return self.violate(ViolationKind::FinalizedHole { node: i, height: h }),
            }
        }
        if fin.height > 0 && node.hash_at(fin.height) != Some(fin.hash) {
            return self.violate(ViolationKind::FinalizedHole { node: i, height: fin.height });
        }
        for (h, hash) in found {
            if let Err(v) = self.checker.finalized_at(i, h, hash) {
                return self.violate(v);
            }
        }
        if let Err(v) = self.checker.advance(i, fin.height) {
            self.violate(v);
        }
    }

    /// Supply, at node `i`'s head (or its finalized state): see [`check::check_supply`].
    fn check_supply(&mut self, i: usize, finalized: bool) {
        let Some(node) = self.actors[i].node.as_ref() else { return };
        let state = if finalized { node.finalized_state() } else { node.head_state() };
        let Some(state) = state else { return };
        let mut view = SupplyView {
            genesis: state.meta.supply.genesis,
            issued: state.meta.supply.issued,
            burned: state.meta.supply.burned,
            height: state.tip.height,
            ..SupplyView::default()
        };
        for (k, address) in self.addresses.iter().enumerate() {
            let account = match state.account(node.store(), address) {
                Ok(a) => a,
                Err(e) => {
                    return self.violate(ViolationKind::NodeFailure {
                        node: i,
                        what: format!("reading an account: {e:?}"),
                    });
                }
            };
            let unbonding: u64 = account.unbonding.iter().map(|u| u.amount).sum();
            view.held += account.balance + account.stake + unbonding;
            view.unbonding |= !account.unbonding.is_empty();
            if k < self.keys.len() && account.slashed {
                if self.sc.is_honest(k) {
                    return self.violate(ViolationKind::HonestEquivocation {
                        node: k,
                        what: format!("slashed in node {i}'s state"),
                    });
                }
                view.slashed.push((self.genesis_stake[k], account.stake));
            }
        }
        let params = &self.chain.params;
        if let Err(what) = check::check_supply(&view, params.block_reward, params.slash_percent) {
            self.violate(ViolationKind::Supply { node: i, what });
        }
    }

    fn liveness_deadline(&mut self) {
        let Some(base) = self.calm_base else { return };
        let needed = base + LIVENESS_BLOCKS;
        for i in 0..self.actors.len() {
            if !self.sc.is_honest(i) {
                continue;
            }
            let Some(node) = self.actors[i].node.as_ref() else { continue };
            let finalized = node.finalized().height;
            let margin = finalized as i64 - needed as i64;
            self.liveness_margin = Some(self.liveness_margin.map_or(margin, |m| m.min(margin)));
            if finalized < needed {
                let state = self.standing();
                return self.violate(ViolationKind::NoLiveness {
                    node: i,
                    finalized,
                    needed,
                    state,
                });
            }
        }
    }

    /// Each honest node's head height and slot, head's justified height and finalized height, for a
    /// liveness report.
    fn standing(&self) -> String {
        let mut out = Vec::new();
        for (i, a) in self.actors.iter().enumerate() {
            let Some(n) = a.node.as_ref().filter(|_| a.byz.is_none()) else { continue };
            let (h, j, sl) = n
                .head_state()
                .map_or((0, 0, 0), |s| (s.tip.height, s.meta.justified.height, s.tip.slot));
            out.push(format!(
                "node {i}: head {h} (slot {sl}), justified {j}, finalized {}",
                n.finalized().height
            ));
        }
        out.join("; ")
    }

    /// Slashing, at the end: every equivocation made while the network was calm was turned
    /// into evidence by an honest node, and every offender honest nodes held evidence against
    /// in time is slashed (by the protocol's penalty, checked with the supply) in every honest
    /// node's finalized state.
    fn final_checks(&mut self) {
        let cutoff = self.sc.end_ms - SLASHING_SLOTS * SLOT_MS;
        for &(offender, at) in &self.offences.clone() {
            if at >= self.sc.faults_until_ms
                && at <= cutoff
                && !self.evidence_known.contains_key(&offender)
            {
                return self.violate(ViolationKind::Unpunished {
                    node: 0,
                    offender,
                    what: "equivocated while the network was calm, and no honest node made evidence",
                });
            }
        }
        for (&offender, &at) in &self.evidence_known.clone() {
            if at > cutoff {
                continue;
            }
            let address = Address::from_public_key(&self.keys[offender]);
            for i in 0..self.actors.len() {
                if !self.sc.is_honest(i) {
                    continue;
                }
                let Some(node) = self.actors[i].node.as_ref() else { continue };
                let slashed = node
                    .finalized_state()
                    .and_then(|s| s.account(node.store(), &address).ok())
                    .is_some_and(|a| a.slashed);
                if !slashed {
                    return self.violate(ViolationKind::Unpunished {
                        node: i,
                        offender,
                        what: "had evidence against it held by honest nodes, but is not slashed in the finalized state",
                    });
                }
            }
        }
        for i in 0..self.actors.len() {
            if self.sc.is_honest(i) {
                self.check_supply(i, true);
                self.check_finality(i);
            }
        }
    }

    fn user_tx(&mut self) {
        let honest: Vec<usize> = (0..self.actors.len())
            .filter(|&i| self.sc.is_honest(i) && self.actors[i].node.is_some())
            .collect();
        if honest.is_empty() {
            return;
        }
        let i = honest[self.user_rng.below(honest.len() as u64) as usize];
        let u = self.user_rng.below(USERS as u64) as usize;
        let to = self.recipients[self.user_rng.below(RECIPIENTS as u64) as usize];
        let amount = self.user_rng.range(1, 1_000_000);
        let local = self.local(i);
        let key = self.users[u].clone();
        let chain_id = self.chain.id;
        let fee = self.chain.params.min_fee;
        let Some(node) = self.actors[i].node.as_mut() else { return };
        let Some(nonce) = node.next_nonce(&Address::from_public_key(&key.public_key())) else {
            return;
        };
        let tx = Tx {
            chain_id,
            sender: key.public_key(),
            nonce,
            fee,
            kind: TxKind::Transfer { to, amount },
        }
        .sign(&key);
        let _ = node.submit_tx_at(tx, local);
        self.after(i);
    }

    /// A byzantine validator's slot and vote duties, misbehaving as its [`Behaviour`] says.
    fn byz_tick(&mut self, i: usize) {
        let local = self.local(i);
        let Some(slot) = pos::slot_at(GENESIS_MS, SLOT_MS, local) else { return };
        let Some(node) = self.actors[i].node.as_ref() else { return };
        let Some(head) = node.head_state().cloned() else { return };
        let me = self.keys[i].clone();
        let Some(byz) = self.actors[i].byz.as_ref() else { return };
        let behaviour = byz.behaviour;
        if slot > byz.last_slot
            && slot > head.tip.slot
            && state::proposer_for(&self.chain, &head, slot).as_ref() == Some(&me)
        {
            if let Some(b) = self.actors[i].byz.as_mut() {
                b.last_slot = slot;
            }
            self.byz_propose(i, behaviour, &head, slot);
        }
        let Some(node) = self.actors[i].node.as_ref() else { return };
        let Some(head) = node.head_state().cloned() else { return };
        let last_head = self.actors[i].byz.as_ref().map(|b| b.last_head);
        if head.tip.height == 0 || last_head == Some(head.tip.hash) {
            return;
        }
        if let Some(b) = self.actors[i].byz.as_mut() {
            b.last_head = head.tip.hash;
        }
        let epoch = self.chain.params.epoch_of(head.tip.slot);
        if head.meta.current.index_of(&me).is_none() {
            return;
        }
        let honest_vote = Vote {
            epoch,
            source: head.meta.justified,
            target: Checkpoint { height: head.tip.height, hash: head.tip.hash },
        };
        match behaviour {
            Behaviour::EquivocatingVoter => self.byz_equivocate_vote(i, &head, honest_vote),
            Behaviour::ForkVoter => self.byz_fork_vote(i, &head),
            _ => {
                self.byz_vote(i, honest_vote, None);
            }
        }
    }

    /// Signs and sends `vote` unless it would be slashable with one of this validator's own
    /// earlier votes (the Node's rule), to `to` (default: everyone).
    fn byz_vote(&mut self, i: usize, vote: Vote, to: Option<Vec<usize>>) -> bool {
        let Some(byz) = self.actors[i].byz.as_mut() else { return false };
        let last = byz.votes.iter().map(|v| v.target.height).max().unwrap_or(0);
        if vote.target.height <= last || byz.votes.iter().any(|v| v.conflicts_with(&vote)) {
            return false;
        }
        byz.votes.push(vote);
        let signed = vote.sign(&self.chain.id, &self.actors[i].key.key);
        let msg = Msg::Vote(signed);
        match to {
            Some(to) => to.into_iter().for_each(|j| self.send(i, j, msg.clone())),
            None => self.broadcast(i, &msg),
        }
        true
    }

    /// Whether `peers` holds an honest node: byzantine nodes forward nothing, so an
    /// equivocation one of whose halves reaches no honest node is not observable (the
    /// calm-phase detection check counts only observable ones).
    fn reaches_honest(&self, peers: &[usize]) -> bool {
        peers.iter().any(|&j| self.sc.is_honest(j))
    }

    /// Two halves of the peers, at random.
    fn halves(&mut self, i: usize) -> (Vec<usize>, Vec<usize>) {
        let mut peers: Vec<usize> = (0..self.actors.len()).filter(|&j| j != i).collect();
        self.byz_rng.shuffle(&mut peers);
        let b = peers.split_off(peers.len() / 2);
        (peers, b)
    }

    fn byz_equivocate_vote(&mut self, i: usize, head: &ChainState, vote: Vote) {
        let Some(byz) = self.actors[i].byz.as_ref() else { return };
        // Now and then a surround vote: from the genesis anchor to the head, around an earlier
        // vote of ours whose source is above genesis.
        let surround = Vote { source: Checkpoint { height: 0, hash: self.chain.id }, ..vote };
        if self.byz_rng.chance(250) && byz.votes.iter().any(|v| surround.conflicts_with(v)) {
            let signed = surround.sign(&self.chain.id, &self.actors[i].key.key);
            self.broadcast(i, &Msg::Vote(signed));
            self.offences.push((i, self.now));
            return;
        }
        // A double vote: the head to one half, another block at its height (a real fork block
        // if this node knows one, else a made-up hash) to the other.
        let other = self.actors[i].node.as_ref().and_then(|n| {
            n.store()
                .blocks_above(head.tip.height.saturating_sub(1), 64)
                .ok()?
                .into_iter()
                .map(|b| b.hash())
                .find(|h| {
                    *h != head.tip.hash
                        && n.header(h).is_some_and(|x| x.header.height == head.tip.height)
                })
        });
        let other = other.unwrap_or_else(|| {
            Hash(self.byz_rng.next_u64().to_be_bytes().repeat(4).try_into().unwrap_or([7; 32]))
        });
        let twin = Vote { target: Checkpoint { height: vote.target.height, hash: other }, ..vote };
        let (a, b) = self.halves(i);
        let observable = self.reaches_honest(&a) && self.reaches_honest(&b);
        if self.byz_vote(i, vote, Some(a)) {
            let signed = twin.sign(&self.chain.id, &self.actors[i].key.key);
            for j in b {
                self.send(i, j, Msg::Vote(signed.clone()));
            }
            if observable {
                self.offences.push((i, self.now));
            }
        }
    }

    /// A vote for a block off the head chain (the highest such block it knows above its last
    /// vote), else for the head's parent; never slashable.
    fn byz_fork_vote(&mut self, i: usize, head: &ChainState) {
        let Some(node) = self.actors[i].node.as_ref() else { return };
        let last = self.actors[i]
            .byz
            .as_ref()
            .and_then(|b| b.votes.iter().map(|v| v.target.height).max())
            .unwrap_or(0);
        let fin = node.finalized().height;
        let blocks = node.store().blocks_above(fin.max(last), 256).unwrap_or_default();
        let off_chain = blocks
            .iter()
            .rev()
            .find(|b| node.hash_at(b.header.header.height) != Some(b.hash()))
            .map(Block::hash);
        let target = off_chain.or_else(|| {
            let parent = node.header(&head.tip.hash)?.header.parent;
            (parent != self.chain.id).then_some(parent)
        });
        let Some(target) = target else { return };
        let Ok(Some(state)) = node.store().state(&target) else { return };
        let vote = Vote {
            epoch: self.chain.params.epoch_of(state.tip.slot),
            source: state.meta.justified,
            target: Checkpoint { height: state.tip.height, hash: target },
        };
        self.byz_vote(i, vote, None);
    }

    /// Builds a block for `slot` on `state` (no certificate: a byzantine proposer does not
    /// gather votes), with `txs`.
    fn byz_build(
        &self,
        i: usize,
        state: &ChainState,
        slot: u64,
        txs: &[SignedTx],
    ) -> Option<Block> {
        let node = self.actors[i].node.as_ref()?;
        let key = &self.actors[i].key;
        let me = key.key.public_key();
        if state::proposer_for(&self.chain, state, slot).as_ref() != Some(&me) {
            return None;
        }
        let commitment = state::commitment_to_open(&self.chain, state, &me, slot)?;
        let reveal = key.chain.preimage_of(&commitment)?;
        state::build_block(node.store(), &self.chain, state, &key.key, slot, &reveal, txs, None)
            .ok()
            .map(|b| b.block)
    }

    fn byz_propose(&mut self, i: usize, behaviour: Behaviour, head: &ChainState, slot: u64) {
        let local = self.local(i);
        match behaviour {
            Behaviour::Withholder { late: false } => {}
            Behaviour::Withholder { late: true } => {
                let Some(block) = self.byz_build(i, head, slot, &[]) else { return };
                if let Some(node) = self.actors[i].node.as_mut() {
                    let _ = node.import_block_at(block.clone(), local);
                    node.take_events();
                }
                let (to, _) = self.halves(i);
                let at = self.now + self.byz_rng.range(SLOT_MS, 3 * SLOT_MS);
                self.schedule(at, Item::Release { from: i, block: block.into(), to });
            }
            Behaviour::EquivocatingProposer => {
                let Some(a) = self.byz_build(i, head, slot, &[]) else { return };
                // The twin: on the head's parent (a fork) where possible, else the same parent
                // with a transfer in it.
                let parent_state = self.actors[i].node.as_ref().and_then(|n| {
                    let parent = n.header(&head.tip.hash)?.header.parent;
                    n.store().state(&parent).ok().flatten()
                });
                let fork = parent_state
                    .filter(|_| self.byz_rng.chance(500))
                    .and_then(|p| self.byz_build(i, &p, slot, &[]));
                let b = fork.or_else(|| {
                    let node = self.actors[i].node.as_ref()?;
                    let me = &self.actors[i].key.key;
                    let nonce = head
                        .account(node.store(), &Address::from_public_key(&me.public_key()))
                        .ok()?
                        .nonce;
                    let tx = Tx {
                        chain_id: self.chain.id,
                        sender: me.public_key(),
                        nonce,
                        fee: self.chain.params.min_fee,
                        kind: TxKind::Transfer { to: self.recipients[0], amount: 1 },
                    }
                    .sign(me);
                    self.byz_build(i, head, slot, &[tx])
                });
                let Some(b) = b else { return };
                if let Some(node) = self.actors[i].node.as_mut() {
                    let _ = node.import_block_at(a.clone(), local);
                    let _ = node.import_block_at(b.clone(), local);
                    node.take_events();
                }
                let (x, y) = self.halves(i);
                let observable = self.reaches_honest(&x) && self.reaches_honest(&y);
                let (a, b) = (Msg::Block(a.into()), Msg::Block(b.into()));
                x.into_iter().for_each(|j| self.send(i, j, a.clone()));
                y.into_iter().for_each(|j| self.send(i, j, b.clone()));
                if observable {
                    self.offences.push((i, self.now));
                }
            }
            _ => {
                let Some(block) = self.byz_build(i, head, slot, &[]) else { return };
                if let Some(node) = self.actors[i].node.as_mut() {
                    let _ = node.import_block_at(block.clone(), local);
                    node.take_events();
                }
                self.broadcast(i, &Msg::Block(block.into()));
            }
        }
    }

    fn outcome(mut self) -> Outcome {
        let finalized = self.checker.max_finalized();
        let slashed = self
            .evidence_known
            .keys()
            .filter(|&&o| {
                let address = Address::from_public_key(&self.keys[o]);
                self.actors.iter().any(|a| {
                    a.byz.is_none()
                        && a.node.as_ref().is_some_and(|n| {
                            n.finalized_state()
                                .and_then(|s| s.account(n.store(), &address).ok())
                                .is_some_and(|acc| acc.slashed)
                        })
                })
            })
            .count() as u64;
        for a in &self.actors {
            if let Some(n) = &a.node {
                self.trace.update(n.finalized().hash.0);
            }
        }
        Outcome {
            seed: self.sc.seed,
            summary: self.sc.summary(),
            violation: self.violation.take(),
            blocks: self.blocks.len() as u64,
            finalized,
            sim_ms: self.now - GENESIS_MS,
            messages: self.messages,
            offences: self.offences.len() as u64,
            slashed,
            liveness_margin: self.liveness_margin,
            trace: self.trace.finalize().into(),
        }
    }
}
