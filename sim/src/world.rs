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
use memecoin_core::wire::{PROTOCOL_VERSION, Role};
use memecoin_node::node::{
    Event, ImportError, Node, SYNC_GRACE_EPOCHS, Signing, ValidatorKey, VoteError,
};
use memecoin_node::peer::{self, Peer, Send, Strike};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use tempfile::TempDir;

/// Length of each validator's commit-reveal hash chain: more than the slots of any ordinary
/// run (a long run's chains are as long as the run, but for `SHORT_CHAIN_LENGTH`).
const HASH_CHAIN_LENGTH: u64 = 256;
/// A byzantine `FutureVoter` signs this many far-future votes per head until it has signed
/// `FUTURE_VOTES` (more than a node's vote table holds), then one per head; its targets start
/// `FUTURE_GAP` heights above the head.
const FUTURE_VOTES_PER_HEAD: u64 = 16;
const FUTURE_VOTES: u64 = 4_500;
const FUTURE_GAP: u64 = 10_000;
/// A byzantine `OrphanSpammer` signs a block on a made-up parent once in this many slots.
const ORPHAN_EVERY_SLOTS: u64 = 256;
/// Coins each validator, user and the faucet-like users start with (base units).
const START_BALANCE: u64 = 1_000_000_000_000;
/// Users sending transfers, and the addresses they pay.
const USERS: usize = 3;
const RECIPIENTS: usize = 4;
/// In long mode, a user transfer every 4–16 s (ms).
const USER_GAP_LONG_MS: (u64, u64) = (4_000, 16_000);
/// Entries of a node's seen-cache (the relay's `first_sight`): gossip seen lately is dropped.
const SEEN_CACHE: usize = 8_192;

/// What a seed's run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    pub summary: String,
    /// The first violation (an ordinary run stops there).
    pub violation: Option<Violation>,
    /// Long mode: the first violation of each kind (the run goes on after one).
    pub violations: Vec<Violation>,
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
    /// The worst recovery of each kind seen, in slots: from the end of a fault phase or stall
    /// to the next finalization, from a restart (in a calm network) to the finalized height.
    pub recovery: BTreeMap<&'static str, u64>,
    /// Long mode: stake, unstake and re-registration transactions the joiners submitted.
    pub churn: u64,
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
    /// `get_blocks { id, from, count: MAX_RANGE }` (PROTOCOL.md §16.6) and its reply.
    GetBlocks {
        id: u64,
        from: u64,
    },
    Blocks {
        id: u64,
        blocks: Vec<Block>,
    },
}

impl From<Send> for Msg {
    fn from(send: Send) -> Msg {
        match send {
            Send::GetBlocks { id, from } => Msg::GetBlocks { id, from },
            Send::Block(block) => Msg::Block(block),
        }
    }
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
            Msg::Blocks { .. } => 6,
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
    /// Long mode: a joiner's stake/unstake step.
    Churn(usize),
    /// Long mode: the head-growth check.
    Growth,
    /// Long mode: a recovery's clock starts (its base is read now), or its deadline passes.
    RecoveryStart(usize),
    RecoveryDeadline(usize),
}

/// What a recovery measures: see [`Outcome::recovery`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecoveryKind {
    FaultPhase,
    Restart,
    Stall(StallKind),
}

impl RecoveryKind {
    fn name(self) -> &'static str {
        match self {
            RecoveryKind::FaultPhase => "fault phase",
            RecoveryKind::Restart => "restart catch-up",
            RecoveryKind::Stall(StallKind::Short) => "short stall",
            RecoveryKind::Stall(StallKind::Long) => "long stall",
            RecoveryKind::Stall(StallKind::Forever) => ">1/3 offline for good",
            RecoveryKind::Stall(StallKind::Partition) => "long partition",
        }
    }
}

/// A recovery under way: from `from_ms`, `node` (a restarted one) must reach `base`, or (no
/// node) some honest node must finalize above `base`, by `deadline_ms`.
#[derive(Debug, Clone)]
struct Recovery {
    kind: RecoveryKind,
    node: Option<usize>,
    from_ms: u64,
    deadline_ms: u64,
    /// Read at `from_ms`.
    base: Option<u64>,
    done: bool,
}

/// A joiner's churn: staked or not, and the hash chain generation it registers with.
#[derive(Debug, Default)]
struct Joiner {
    generation: u64,
    /// Whether the finalized state showed this generation's registration: the next stake
    /// after it is pruned registers again, with the next generation.
    was_registered: bool,
    want_staked: bool,
    /// When the finalized state first showed what it wants, and for how long to keep it.
    reached_ms: Option<u64>,
    hold_ms: u64,
    last_submit_ms: u64,
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
        if self.order.len() > SEEN_CACHE
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
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
    /// Its hash chain, indexed (a long run's chains are 10^5 long).
    reveals: pos::Reveals,
    /// `FutureVoter`: far-future votes signed, and the next one's target height.
    future_votes: u64,
    next_future: u64,
    /// `OrphanSpammer`: the slot of its last made-up block.
    last_orphan: u64,
}

struct Actor {
    dir: TempDir,
    /// `None` while crashed.
    node: Option<Node>,
    key: ValidatorKey,
    byz: Option<Byz>,
    seen: Seen,
    /// The peer protocol's state of this node's connection from each other node: what the
    /// relay keeps per connection (its sync, budgets, strikes), made new by each `hello`.
    peers: BTreeMap<usize, Peer>,
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
    /// Long mode: a run of this many slots.
    long: Option<u64>,
    /// A long run's violations, the first of each kind (see [`World::violate`]).
    violations: Vec<Violation>,
    violation_kinds: BTreeSet<String>,
    /// Each node's hash chain, indexed, when a missed proposal asks whether it is used up.
    reveals: BTreeMap<(usize, u64), pos::Reveals>,
    /// The slot since which each honest node has been holding back as behind the network: it
    /// is excused from its proposals for `SYNC_GRACE_EPOCHS` from there, no longer.
    held_since: BTreeMap<usize, u64>,
    recoveries: Vec<Recovery>,
    recovery: BTreeMap<&'static str, u64>,
    joiners: Vec<Joiner>,
    churn_rng: Rng,
    churn: u64,
    /// Each node's head height at the last growth check (`None`: down since).
    growth: Vec<Option<u64>>,
    /// The highest finalized height at the last growth check, and whether a node crashed or
    /// restarted since.
    window_base: u64,
    window_disrupted: bool,
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

/// Node `i`'s hash chain of generation `generation` (a joiner registers again with the next
/// one): `HASH_CHAIN_LENGTH` long, as long as a long run, or `SHORT_CHAIN_LENGTH` for the
/// short-chain validator.
fn sc_chain(sc: &Scenario, i: usize, generation: u64) -> HashChain {
    let length = match &sc.long {
        Some(l) if l.short_chain == Some(i) => SHORT_CHAIN_LENGTH,
        Some(l) => l.slots + 1,
        None => HASH_CHAIN_LENGTH,
    };
    let i = i as u64;
    // Generation 0 hashes as the chains always did, so an ordinary seed replays as before.
    let secret = if generation == 0 {
        tagged_hash(Domain::Reveal, &[b"memecoin-sim chain", &i.to_be_bytes()])
    } else {
        tagged_hash(
            Domain::Reveal,
            &[b"memecoin-sim chain", &i.to_be_bytes(), &generation.to_be_bytes()],
        )
    };
    HashChain::new(secret, length)
}

/// A temporary data dir, in memory (`/dev/shm`) where there is one: redb fsyncs every
/// commit, and the simulation is about the node's logic, not the disk's speed.
fn data_dir() -> TempDir {
    let shm = Path::new("/dev/shm");
    let builder = tempfile::Builder::new().prefix("memecoin-sim-").to_owned();
    if shm.is_dir()
        && let Ok(d) = builder.tempdir_in(shm)
    {
        return d;
    }
    builder.tempdir().expect("a temporary directory for a node's data")
}

/// What to run a seed with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The validator count (else the seed's choice).
    pub validators: Option<usize>,
    /// Long mode (`--long`): a run of this many slots, with churn, stalls, a short hash chain
    /// and costly byzantine messages (RELIABILITY.md).
    pub long: Option<u64>,
    /// Print every block, vote and import to stderr (the run is the same: logging draws
    /// nothing).
    pub log: bool,
}

/// Runs seed `seed` (with `validators` validators, else the seed's choice) to its end or to its
/// first violation.
pub fn run(seed: u64, validators: Option<usize>) -> Outcome {
    run_with(seed, validators, false)
}

/// As [`run`]; with `log`, every block, vote and import is printed to stderr.
pub fn run_with(seed: u64, validators: Option<usize>, log: bool) -> Outcome {
    run_opts(seed, Options { validators, long: None, log })
}

/// Runs seed `seed` as `opts` says.
pub fn run_opts(seed: u64, opts: Options) -> Outcome {
    let mut w = World::new(seed, opts.validators, opts.long);
    w.log = opts.log;
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
    fn new(seed: u64, validators: Option<usize>, long: Option<u64>) -> World {
        let params = Params::devnet();
        debug_assert_eq!((params.slot_ms, params.slots_per_epoch), (SLOT_MS, SLOTS_PER_EPOCH));
        let sc = Scenario::new(seed, validators, params.min_stake, long);
        let mut rng = Rng::new(seed ^ 0x005E_ED0F_5EED);
        let n = sc.validators();
        let nodes = sc.nodes();
        let vkeys: Vec<ValidatorKey> = (0..nodes)
            .map(|i| ValidatorKey {
                key: secret(b"validator", i as u64),
                chain: sc_chain(&sc, i, 0),
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
                .take(n)
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

        let mut actors = Vec::with_capacity(nodes);
        for (i, key) in vkeys.into_iter().enumerate() {
            let dir = data_dir();
            let byz = sc.byzantine[i].map(|behaviour| Byz {
                behaviour,
                last_slot: 0,
                last_head: Hash::ZERO,
                votes: Vec::new(),
                reveals: pos::Reveals::new(&key.chain),
                future_votes: 0,
                next_future: 0,
                last_orphan: 0,
            });
            // A byzantine validator's chain view is an ordinary node without a key: it follows
            // the chain, and the misbehaviour is signed here, with core's functions.
            let own_key = byz.is_none().then(|| key.clone());
            let node = Node::open_at(genesis.clone(), dir.path(), own_key, GENESIS_MS)
                .expect("a fresh node opens");
            actors.push(Actor {
                dir,
                node: Some(node),
                key,
                byz,
                seen: Seen::default(),
                peers: BTreeMap::new(),
            });
        }
        let chain = actors[0].node.as_ref().map(|n| n.chain().clone()).expect("node 0 is up");
        let mut genesis_stake = sc.stakes.clone();
        genesis_stake.resize(nodes, 0);
        let mut w = World {
            genesis_stake,
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
            long,
            violations: Vec::new(),
            violation_kinds: BTreeSet::new(),
            reveals: BTreeMap::new(),
            held_since: BTreeMap::new(),
            recoveries: Vec::new(),
            recovery: BTreeMap::new(),
            joiners: (0..nodes - n)
                .map(|_| Joiner { want_staked: true, ..Joiner::default() })
                .collect(),
            churn_rng: rng.fork(),
            churn: 0,
            growth: vec![None; nodes],
            window_base: 0,
            window_disrupted: true,
            sc,
        };
        for i in 0..nodes {
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
        if w.long.is_some() {
            w.schedule_long();
        }
        w
    }

    /// Long mode's items: stalls (their nodes crash and restart), recoveries, churn, growth.
    fn schedule_long(&mut self) {
        let Some(long) = self.sc.long.clone() else { return };
        let calm = self.sc.faults_until_ms;
        for s in &long.stalls {
            // A partition's nodes stay up (`Scenario::connected` cuts them off).
            let down = if s.kind == StallKind::Partition { &[][..] } else { &s.nodes[..] };
            for &i in down {
                self.schedule(s.from_ms, Item::Crash(i));
                if let Some(u) = s.until_ms {
                    self.schedule(u, Item::Restart(i));
                }
            }
            // For good: measured from two epochs in, when what was in flight at the start
            // (votes, a certificate) has landed, so it cannot count as finality returning.
            let settle = 2 * SLOTS_PER_EPOCH;
            let (from_ms, bound) = match s.until_ms {
                // After a partition, validators of the side whose branch lost may vote again
                // only above the heights they voted for on it (a second vote at a height is a
                // double vote): finality returns once the chosen branch passes them, within
                // the difference in height of the two branches, at most the partition's slots.
                Some(u) if s.kind == StallKind::Partition => {
                    (u, RECOVERY_SLOTS + (u - s.from_ms) / SLOT_MS)
                }
                Some(u) => (u, RECOVERY_SLOTS),
                None => (s.from_ms + settle * SLOT_MS, INACTIVITY_SLOTS - settle),
            };
            // For good, the bound holds only if the honest validators that stay hold more than
            // 2/3 of the stake that stays (PROTOCOL.md §9.5): a byzantine third of what remains
            // may withhold its votes for ever (simulation seed 105, a fork voter).
            let stake = |honest: bool| -> u128 {
                let stakes = self.sc.stakes.iter().enumerate();
                stakes
                    .filter(|(i, _)| !s.nodes.contains(i) && (!honest || self.sc.is_honest(*i)))
                    .map(|(_, stake)| u128::from(*stake))
                    .sum()
            };
            if s.until_ms.is_none() && 3 * stake(true) <= 2 * stake(false) {
                continue;
            }
            self.recoveries.push(Recovery {
                kind: RecoveryKind::Stall(s.kind),
                node: None,
                from_ms,
                deadline_ms: from_ms + bound * SLOT_MS,
                base: None,
                done: false,
            });
        }
        // Every restart (a crash's or a stall's): the node catches up once the network is calm.
        let mut restarts: Vec<(usize, u64)> =
            self.sc.crashes.iter().map(|c| (c.node, c.restart_ms)).collect();
        for s in long.stalls.iter().filter(|s| s.kind != StallKind::Partition) {
            if let Some(u) = s.until_ms {
                restarts.extend(s.nodes.iter().map(|&i| (i, u)));
            }
        }
        for (node, at) in restarts {
            let from_ms = at.max(calm);
            self.recoveries.push(Recovery {
                kind: RecoveryKind::Restart,
                node: Some(node),
                from_ms,
                deadline_ms: from_ms + RECOVERY_SLOTS * SLOT_MS,
                base: None,
                done: false,
            });
        }
        for k in 0..self.recoveries.len() {
            let (from, deadline) = (self.recoveries[k].from_ms, self.recoveries[k].deadline_ms);
            self.schedule(from, Item::RecoveryStart(k));
            self.schedule(deadline, Item::RecoveryDeadline(k));
        }
        for j in 0..long.joiners {
            let at =
                calm + (j as u64 + 1) * SLOT_MS + self.sc.tick_phase_ms[self.sc.validators() + j];
            self.schedule(at, Item::Churn(self.sc.validators() + j));
        }
        self.schedule(calm + GROWTH_SLOTS * SLOT_MS, Item::Growth);
    }

    fn schedule(&mut self, at: u64, item: Item) {
        self.seq += 1;
        self.queue.insert((at, self.seq), item);
    }

    /// Records a violation. An ordinary run stops at its first; a long run goes on and keeps
    /// the first of each kind (a check, and for a missed proposal or a refusal, its cause), so
    /// one long seed reports every bound it runs into, not only the earliest.
    fn violate(&mut self, kind: ViolationKind) {
        let v = Violation { at_ms: self.now, kind };
        if self.long.is_none() {
            if self.violation.is_none() {
                self.violation = Some(v);
            }
            return;
        }
        let key = match &v.kind {
            // The cause without its figures ("4,012 blocks above finality").
            ViolationKind::MissedProposal { why, .. } => {
                let cause: String = why.chars().filter(|c| !c.is_ascii_digit()).collect();
                format!("missed proposal: {cause}")
            }
            ViolationKind::Refused { what, .. } => {
                format!("refused {}", what.split_whitespace().nth(1).unwrap_or(""))
            }
            ViolationKind::NoRecovery { what, .. } => format!("recovery: {what}"),
            other => other.check().to_owned(),
        };
        if self.violation_kinds.insert(key) {
            if self.log {
                eprintln!("VIOLATION ({}) {v}", v.kind.check());
            }
            self.violations.push(v);
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
                    self.after(i);
                } else {
                    let local = self.local(i);
                    let due = self.proposal_due(i, local);
                    if let Some(node) = self.actors[i].node.as_mut() {
                        node.tick(local);
                    }
                    // A validator behind the network holds back on purpose, for at most
                    // `SYNC_GRACE_EPOCHS` in a row (the node's rule): a slot it was elected
                    // for on its old head within that grace is not a missed duty (one back
                    // from a long stall: seeds 19 and 20 of the long smoke run); past it, it
                    // is.
                    let holding_back = self.actors[i].node.as_ref().and_then(|n| n.signing())
                        == Some(Signing::Syncing);
                    let excused = self.excused(i, holding_back, local);
                    let proposed = self.after(i);
                    if let Some(slot) = due
                        && !proposed.contains(&slot)
                        && !excused
                    {
                        self.missed_proposal(i, slot);
                    }
                }
            }
            Item::Deliver { from, to, msg } => {
                self.trace.update([1, from as u8, to as u8, msg.tag()]);
                self.deliver(from, to, *msg);
            }
            Item::Crash(i) => {
                self.trace.update([2, i as u8]);
                self.crash(i);
            }
            Item::Restart(i) => {
                self.trace.update([3, i as u8]);
                self.restart(i);
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
                // A long run's users are slower: each transfer costs every node a signature
                // check or two, and the long horizon, not the load, is the subject there.
                let (lo, hi) = if self.long.is_some() { USER_GAP_LONG_MS } else { (300, 2_000) };
                let next = self.now + self.user_rng.range(lo, hi);
                self.schedule(next, Item::UserTx);
            }
            Item::Calm => {
                self.trace.update([7]);
                let base = self.checker.max_finalized();
                self.calm_base = Some(base);
                // Measured only: the liveness deadline is the check.
                self.recoveries.push(Recovery {
                    kind: RecoveryKind::FaultPhase,
                    node: None,
                    from_ms: self.now,
                    deadline_ms: self.now + LIVENESS_SLOTS * SLOT_MS,
                    base: Some(base),
                    done: false,
                });
            }
            Item::Deadline => {
                self.trace.update([8]);
                self.liveness_deadline();
            }
            Item::Churn(i) => {
                self.trace.update([9, i as u8]);
                self.churn_step(i);
                self.schedule(self.now + SLOTS_PER_EPOCH * SLOT_MS, Item::Churn(i));
            }
            Item::Growth => {
                self.trace.update([10]);
                self.growth_check();
                self.schedule(self.now + GROWTH_SLOTS * SLOT_MS, Item::Growth);
            }
            Item::RecoveryStart(k) => {
                self.trace.update([11]);
                self.recoveries[k].base = Some(self.checker.max_finalized());
                self.recovered();
            }
            Item::RecoveryDeadline(k) => {
                self.trace.update([12]);
                self.recovery_deadline(k);
            }
        }
    }

    fn crash(&mut self, i: usize) {
        self.window_disrupted = true;
        self.actors[i].node = None;
        self.actors[i].seen = Seen::default();
        // Its connections end, on both sides.
        self.actors[i].peers.clear();
        for a in &mut self.actors {
            a.peers.remove(&i);
        }
        self.growth[i] = None;
    }

    /// Opens node `i` again on its data dir (with its key as it is now), and says `hello` to
    /// every peer, as a restarted relay does.
    fn restart(&mut self, i: usize) {
        self.window_disrupted = true;
        let local = self.local(i);
        let a = &mut self.actors[i];
        match Node::open_at(self.genesis.clone(), a.dir.path(), Some(a.key.clone()), local) {
            Ok(node) => a.node = Some(node),
            Err(e) => {
                return self.violate(ViolationKind::NodeFailure {
                    node: i,
                    what: format!("restart: {e}"),
                });
            }
        }
        self.after(i);
        for j in 0..self.actors.len() {
            if j != i {
                self.hello(i, j);
                self.hello(j, i);
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

    /// Delivers `msg` from node `from` to node `to`, through the relay's peer protocol
    /// ([`Peer`]) on `to`'s connection from `from`, as `net` drives it: the same budgets, sync
    /// and requests; what it answers goes back to `from`.
    fn deliver(&mut self, from: usize, to: usize, msg: Msg) {
        // A partition that started while the message was in flight cuts the connection.
        if !self.sc.connected(self.now, from, to) || self.actors[to].node.is_none() {
            return;
        }
        self.messages += 1;
        let local = self.local(to);
        let chain = self.chain.clone();
        let actor = &mut self.actors[to];
        if let Msg::Hello { head } = &msg {
            // A new connection: its protocol state starts over.
            let mut p = Peer::new(chain.clone());
            let hello = p.hello(PROTOCOL_VERSION, &chain.id.to_hex(), Role::Relay, *head);
            debug_assert!(hello.is_ok());
            actor.peers.insert(from, p);
        }
        // Messages before any `hello` (the run starts connected): a relay peer of height 0.
        let peer = actor.peers.entry(from).or_insert_with(|| {
            let mut p = Peer::new(chain.clone());
            let _ = p.hello(PROTOCOL_VERSION, &chain.id.to_hex(), Role::Relay, 0);
            p
        });
        // As the relay: a peer over its budget of unknown parents has its blocks dropped
        // unread, before the seen cache.
        if matches!(msg, Msg::Block(_)) && !peer.takes_gossip_blocks(local) {
            return;
        }
        if let Some(id) = msg.gossip_id() {
            self.trace.update(id.0);
            if !actor.seen.first_sight(id) {
                return;
            }
        }
        let Some(node) = actor.node.as_mut() else { return };
        let mut replies: Vec<Msg> = Vec::new();
        let mut struck: Option<Strike> = None;
        let mut refused = None;
        let log = self.log;
        let t = self.now.saturating_sub(GENESIS_MS);
        match msg {
            Msg::Block(b) => {
                let (hash, height) = (b.hash(), b.header.header.height);
                let extends_head =
                    node.head_state().is_some_and(|s| s.tip.hash == b.header.header.parent);
                let r = node.import_block_at(*b, local);
                if extends_head && r == Err(ImportError::Full) && self.sc.is_honest(to) {
                    refused = Some(format!(
                        "refused block {height}:{} on its head: {}",
                        short(&hash),
                        ImportError::Full
                    ));
                }
                if log {
                    eprintln!("{t:>6} {from}->{to} block {height}:{} {r:?}", short(&hash));
                }
                match peer.block(node, height, &r, local) {
                    Ok(sends) => replies.extend(sends.into_iter().map(Msg::from)),
                    Err(s) => struck = Some(s),
                }
            }
            Msg::Blocks { id, blocks } => {
                if let Some(mut reply) = peer.blocks(id, local) {
                    for b in blocks.into_iter().take(MAX_RANGE as usize) {
                        let height = b.header.header.height;
                        let hash = b.hash();
                        let extends_head =
                            node.head_state().is_some_and(|s| s.tip.hash == b.header.header.parent);
                        let r = node.import_block_at(b, local);
                        if extends_head && r == Err(ImportError::Full) && self.sc.is_honest(to) {
                            refused = Some(format!(
                                "refused synced block {height}:{} on its head: {}",
                                short(&hash),
                                ImportError::Full
                            ));
                        }
                        if log {
                            eprintln!("{t:>6} {from}->{to} synced {height}:{} {r:?}", short(&hash));
                        }
                        match peer.synced(node, &mut reply, height, &r, local) {
                            Ok(sends) => replies.extend(sends.into_iter().map(Msg::from)),
                            Err(s) => struck = Some(s),
                        }
                        if reply.stopped() {
                            break;
                        }
                    }
                    replies.extend(peer.blocks_done(reply, local).into_iter().map(Msg::from));
                }
            }
            Msg::GetBlocks { id, from: start } => {
                let blocks = peer::head_chain(node, start, MAX_RANGE);
                replies.push(Msg::Blocks { id, blocks });
            }
            Msg::Hello { .. } => {
                replies.extend(peer.greet(node, local).into_iter().map(Msg::from));
            }
            Msg::Vote(v) => {
                let vote = v.vote;
                let voter = check::index_of(&self.keys, &v.validator);
                let r = node.on_vote(v);
                // A vote the node cannot use (outside its window of the head, a set it does not
                // know yet, one it holds) may be dropped; an honest one is never refused as bad.
                // (Before the vote window, a full vote table refused honest votes here.)
                if let Err(e @ (VoteError::BadSignature | VoteError::Equivocation)) = &r
                    && self.sc.is_honest(to)
                    && voter.is_some_and(|k| self.sc.is_honest(k))
                {
                    refused = Some(format!(
                        "refused honest validator {}'s vote {}->{}: {e}",
                        voter.unwrap_or(0),
                        cp(&vote.source),
                        cp(&vote.target),
                    ));
                }
                if log {
                    eprintln!(
                        "{t:>6} {from}->{to} vote {}->{} {r:?}",
                        cp(&vote.source),
                        cp(&vote.target)
                    );
                }
                struck = peer.vote(&r).err();
            }
            Msg::Evidence(e) => match peer.evidence(*e) {
                Ok(e) => node.add_evidence(e),
                Err(s) => struck = Some(s),
            },
            Msg::Tx(tx) => {
                let r = node.submit_tx_at(tx, local);
                struck = peer.tx(&r).err();
            }
        }
        if let (Some(s), true) = (&struck, self.sc.is_honest(from) && self.sc.is_honest(to)) {
            // An honest relay never sends what another strikes.
            refused = Some(format!("node {to} struck honest node {from}: {s}"));
        }
        if let Some(what) = refused {
            // An honest message that extends what the node holds, refused for lack of room:
            // a bound that an honest network can fill (RELIABILITY.md).
            let state = self.standing();
            self.violate(ViolationKind::Refused { node: to, what, state });
        }
        for r in replies {
            self.send(to, from, r);
        }
        self.after(to);
    }

    /// After node `i` was called: route its events as the relay's `net` does (gossip to every
    /// peer), record what an honest validator signed, and check the invariants that can break.
    /// Returns the slots of the blocks node `i` proposed in this step.
    fn after(&mut self, i: usize) -> Vec<u64> {
        let mut proposed = Vec::new();
        let honest = self.actors[i].byz.is_none();
        let Some(node) = self.actors[i].node.as_mut() else { return proposed };
        let events = node.take_events();
        if let Some(state) = node.head_state() {
            self.trace.update(state.tip.hash.0);
        }
        self.trace.update(node.finalized().height.to_be_bytes());
        if !honest {
            // A byzantine node forwards nothing; what it sends is decided in `byz_tick`.
            return proposed;
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
                        proposed.push(h.slot);
                        if let Err(v) = self.checker.honest_proposal(i, h.slot, b.hash()) {
                            self.violate(v);
                            return proposed;
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
                    if v.validator == self.keys[i]
                        && let Err(e) = self.checker.honest_vote(i, v.vote)
                    {
                        self.violate(e);
                        return proposed;
                    }
                    Msg::Vote(v)
                }
                Event::Evidence(e) => {
                    let offender = check::index_of(&self.keys, e.offender());
                    match offender {
                        Some(o) if self.sc.is_honest(o) => {
                            self.violate(ViolationKind::HonestEquivocation {
                                node: o,
                                what: format!("evidence made by node {i}"),
                            });
                            return proposed;
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
        self.recovered();
        proposed
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
            view.unbonding |= self.joiners.is_empty() && !account.unbonding.is_empty();
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

    /// The slot honest node `i` must propose in at its next tick (at its clock `local`), if any:
    /// elected for it on its head, above the head's slot, and not proposed in yet (restarts
    /// included: the checker saw every block it signed).
    fn proposal_due(&self, i: usize, local: u64) -> Option<u64> {
        let node = self.actors[i].node.as_ref()?;
        let slot = pos::slot_at(GENESIS_MS, SLOT_MS, local)?;
        let head = node.head_state()?;
        (slot > head.tip.slot
            && !self.checker.proposed(i, slot)
            && state::proposer_for(&self.chain, head, slot).as_ref() == Some(&self.keys[i]))
        .then_some(slot)
    }

    /// Whether node `i`, holding back as behind the network (`holding_back`) at its clock
    /// `local`, is still within the node's grace (`SYNC_GRACE_EPOCHS` from when it began).
    fn excused(&mut self, i: usize, holding_back: bool, local: u64) -> bool {
        let Some(slot) = pos::slot_at(GENESIS_MS, SLOT_MS, local) else { return false };
        if !holding_back {
            self.held_since.remove(&i);
            return false;
        }
        let since = *self.held_since.entry(i).or_insert(slot);
        let grace = self.chain.params.slots_per_epoch.saturating_mul(SYNC_GRACE_EPOCHS);
        slot < since.saturating_add(grace)
    }

    /// Honest node `i` was elected for `slot` on its head and did not propose: say why, as far
    /// as the simulation can tell from outside.
    fn missed_proposal(&mut self, i: usize, slot: u64) {
        let Some(node) = self.actors[i].node.as_ref() else { return };
        let Some(head) = node.head_state() else { return };
        let mut why = Vec::new();
        let commitment =
            head.meta.registry.iter().find(|r| r.key == self.keys[i]).map(|r| r.commitment);
        match commitment {
            None => why.push("it is not registered".to_owned()),
            Some(c) => {
                let generation = self.joiners.get(i.wrapping_sub(self.sc.validators()));
                let generation = generation.map_or(0, |j| j.generation);
                let chain = &self.actors[i].key.chain;
                let reveals =
                    self.reveals.entry((i, generation)).or_insert_with(|| pos::Reveals::new(chain));
                if reveals.preimage_of(&c).is_none() {
                    why.push(format!(
                        "its hash chain ({:?}) does not open its registered commitment: \
                         used up",
                        self.actors[i].key.chain
                    ));
                }
            }
        }
        let unfinalized = head.tip.height.saturating_sub(node.finalized().height);
        if unfinalized >= 4_000 {
            why.push(format!("{unfinalized} blocks above finality (the node holds at most 4,096)"));
        }
        let (height, hash) = (head.tip.height, head.tip.hash);
        self.violate(ViolationKind::MissedProposal {
            node: i,
            slot,
            head: format!("{height}:{}", short(&hash)),
            why: if why.is_empty() { "unknown".into() } else { why.join("; ") },
        });
    }

    /// Long mode, every `GROWTH_SLOTS`: every honest node up since the last check has a head
    /// at least `GROWTH_BLOCKS` higher. More than 1/3 of the stake offline stops finality, not
    /// the chain.
    fn growth_check(&mut self) {
        let window_ms = GROWTH_SLOTS * SLOT_MS;
        // A heal in the window may move a node to a shorter branch with a higher justified
        // checkpoint (fork choice's first rule): not a stall.
        let healed = self
            .sc
            .partitions
            .iter()
            .any(|p| self.now.saturating_sub(window_ms) < p.until_ms && p.until_ms <= self.now);
        for i in 0..self.actors.len() {
            if healed {
                let node = self.actors[i].node.as_ref();
                self.growth[i] = node.and_then(|n| n.head_state()).map(|s| s.tip.height);
                continue;
            }
            if !self.sc.is_honest(i) {
                continue;
            }
            let Some(node) = self.actors[i].node.as_ref() else { continue };
            let head = node.head_state().map_or(0, |s| s.tip.height);
            if let Some(before) = self.growth[i]
                && head < before + GROWTH_BLOCKS
            {
                let state = self.standing();
                self.violate(ViolationKind::HeadStalled {
                    node: i,
                    from: before,
                    to: head,
                    slots: GROWTH_SLOTS,
                    state,
                });
            }
            self.growth[i] = Some(head);
        }
        // And with every validator up for a whole window, finality moves.
        let max = self.checker.max_finalized();
        let all_up = (0..self.sc.validators()).all(|i| self.actors[i].node.is_some());
        // A partition during the window (a long one splits more than 1/3 off) disrupts it, and
        // so does the time after it while finality waits for the heights voted for apart (the
        // partition's own recovery bound, above).
        let cut = self.sc.partitions.iter().any(|p| {
            let after = p.until_ms.saturating_add(p.until_ms.saturating_sub(p.from_ms));
            self.now.saturating_sub(window_ms) < after && p.from_ms <= self.now
        });
        if all_up && !cut && !self.window_disrupted && max <= self.window_base {
            let state = self.standing();
            self.violate(ViolationKind::NoRecovery {
                what: "every validator up",
                node: None,
                base: self.window_base,
                finalized: max,
                slots: GROWTH_SLOTS,
                state,
            });
        }
        self.window_base = max;
        self.window_disrupted = false;
    }

    /// Marks the recoveries under way that are over, recording how long each took.
    fn recovered(&mut self) {
        if self.recoveries.iter().all(|r| r.done) {
            return;
        }
        let max = self.checker.max_finalized();
        for k in 0..self.recoveries.len() {
            let r = &self.recoveries[k];
            let Some(base) = r.base.filter(|_| !r.done && self.now >= r.from_ms) else {
                continue;
            };
            let done = match r.node {
                None => max > base,
                Some(i) => {
                    self.actors[i].node.as_ref().is_some_and(|n| n.finalized().height >= base)
                }
            };
            if done {
                let slots = (self.now - r.from_ms).div_ceil(SLOT_MS);
                let worst = self.recovery.entry(r.kind.name()).or_insert(0);
                *worst = (*worst).max(slots);
                self.recoveries[k].done = true;
            }
        }
    }

    /// A recovery's deadline: it must be over (a restarted node that is down again has a
    /// recovery of its own for its next restart).
    fn recovery_deadline(&mut self, k: usize) {
        self.recovered();
        let r = self.recoveries[k].clone();
        if r.done {
            return;
        }
        if let Some(i) = r.node
            && (self.actors[i].node.is_none() || self.sc.stalled(self.now, i))
        {
            return;
        }
        let finalized = match r.node {
            Some(i) => self.actors[i].node.as_ref().map_or(0, |n| n.finalized().height),
            None => self.checker.max_finalized(),
        };
        let state = self.standing();
        self.violate(ViolationKind::NoRecovery {
            what: r.kind.name(),
            node: r.node,
            base: r.base.unwrap_or(0),
            finalized,
            slots: (r.deadline_ms - r.from_ms) / SLOT_MS,
            state,
        });
    }

    /// Long mode, once an epoch per joiner: stake, unstake, or stake again with a fresh hash
    /// chain once the old registration is pruned, going by the joiner's own finalized state.
    fn churn_step(&mut self, i: usize) {
        let j = i - self.sc.validators();
        let Some(node) = self.actors[i].node.as_ref() else { return };
        let Some(fin) = node.finalized_state() else { return };
        let me = self.keys[i].clone();
        let address = Address::from_public_key(&me);
        let Ok(account) = fin.account(node.store(), &address) else { return };
        let registered = fin.meta.registry.iter().any(|r| r.key == me);
        let (staked, settled) = (account.stake > 0, account.unbonding.is_empty() && !registered);
        let now = self.now;
        let jo = &mut self.joiners[j];
        jo.was_registered |= registered;
        let reached = if jo.want_staked { staked } else { !staked && settled };
        if reached {
            let hold = self.churn_rng.range(CHURN_EPOCHS.0, CHURN_EPOCHS.1);
            let since = *jo.reached_ms.get_or_insert(now);
            if since == now {
                jo.hold_ms = hold * SLOTS_PER_EPOCH * SLOT_MS;
            }
            if now >= since + jo.hold_ms {
                jo.want_staked = !jo.want_staked;
                jo.reached_ms = None;
            }
            return;
        }
        // Resend after 8 epochs without effect (a transaction can be lost with a crash).
        if jo.last_submit_ms != 0 && now < jo.last_submit_ms + 8 * SLOTS_PER_EPOCH * SLOT_MS {
            return;
        }
        let kind = if jo.want_staked {
            if !settled {
                return; // the old registration is not pruned yet, or coins still unbonding
            }
            if jo.was_registered {
                // Registering again: a fresh hash chain, and the node restarted with it.
                jo.was_registered = false;
                jo.generation += 1;
                let generation = jo.generation;
                self.actors[i].key.chain = sc_chain(&self.sc, i, generation);
                self.crash(i);
                self.restart(i);
                if self.actors[i].node.is_none() {
                    return;
                }
            }
            let amount = self.chain.params.min_stake * self.churn_rng.range(1, 3);
            TxKind::Stake { amount, commitment: self.actors[i].key.chain.commitment() }
        } else {
            TxKind::Unstake { amount: account.stake }
        };
        self.joiners[j].last_submit_ms = now;
        let local = self.local(i);
        let chain_id = self.chain.id;
        let fee = self.chain.params.min_fee;
        let key = self.actors[i].key.key.clone();
        let Some(node) = self.actors[i].node.as_mut() else { return };
        let Some(nonce) = node.next_nonce(&address) else { return };
        let tx = Tx { chain_id, sender: me, nonce, fee, kind }.sign(&key);
        let what = format!("{:?}", tx.tx.kind);
        let r = node.submit_tx_at(tx, local);
        if self.log {
            let t = now.saturating_sub(GENESIS_MS);
            let generation = self.joiners[j].generation;
            eprintln!("{t:>6} joiner {i} (chain generation {generation}) sends {what}: {r:?}");
        }
        if r.is_ok() {
            self.churn += 1;
        }
        self.after(i);
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
        let elected = state::proposer_for(&self.chain, &head, slot).as_ref() == Some(&me);
        if behaviour == Behaviour::OrphanSpammer
            && !elected
            && slot > byz.last_slot
            && slot >= byz.last_orphan + ORPHAN_EVERY_SLOTS
        {
            if let Some(b) = self.actors[i].byz.as_mut() {
                // No block of its own for this slot, ever: no double proposal.
                b.last_slot = slot;
                b.last_orphan = slot;
            }
            self.byz_orphan(i, &head, slot);
        }
        let Some(byz) = self.actors[i].byz.as_ref() else { return };
        if slot > byz.last_slot && slot > head.tip.slot && elected {
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
            Behaviour::FutureVoter => self.byz_future_votes(i, honest_vote),
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

    /// Far-future votes: one source, ever higher targets far above the head, each with a
    /// made-up hash; never a slashable pair (none surrounds another, no two share a target).
    fn byz_future_votes(&mut self, i: usize, honest: Vote) {
        let Some(byz) = self.actors[i].byz.as_mut() else { return };
        let count = if byz.future_votes < FUTURE_VOTES { FUTURE_VOTES_PER_HEAD } else { 1 };
        let source = byz.votes.last().map_or(honest.source, |v| v.source);
        for _ in 0..count {
            let Some(byz) = self.actors[i].byz.as_mut() else { return };
            let height = byz.next_future.max(honest.target.height + FUTURE_GAP);
            byz.next_future = height + 1;
            byz.future_votes += 1;
            let hash = Hash(tagged_hash(Domain::Vote, &[b"far future", &height.to_be_bytes()]).0);
            let vote = Vote { epoch: honest.epoch, source, target: Checkpoint { height, hash } };
            self.byz_vote(i, vote, None);
        }
    }

    /// A block on a made-up parent, signed by this (elected, registered) validator for `slot`,
    /// which it never proposes in: honest nodes check its signature and body, keep it as an
    /// orphan and ask the sender for the chain (the relay's `get_blocks`). Its header commits
    /// to its empty body, or it would not be kept.
    fn byz_orphan(&mut self, i: usize, head: &ChainState, slot: u64) {
        let Some(node) = self.actors[i].node.as_ref() else { return };
        let Some(mut header) = node.head_header().map(|h| h.header.clone()) else { return };
        let made_up = |x: u64| tagged_hash(Domain::Genesis, &[b"made-up parent", &x.to_be_bytes()]);
        header.height = head.tip.height + 2;
        header.slot = slot;
        header.parent = made_up(self.byz_rng.next_u64());
        header.state_root = made_up(self.byz_rng.next_u64());
        header.proposer = self.keys[i].clone();
        header.tx_root = memecoin_core::merkle::root(&[]);
        header.certificate = Hash::ZERO;
        let header = header.sign(&self.chain.id, &self.actors[i].key.key);
        let block = Block { header, txs: Vec::new(), certificate: None };
        self.broadcast(i, &Msg::Block(block.into()));
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
        // Indexed once (generation 0); a renewed chain (the node renews on its own) is walked.
        let reveal = self.actors[i]
            .byz
            .as_ref()?
            .reveals
            .preimage_of(&commitment)
            .or_else(|| (1..4).find_map(|g| key.chain.renewal(g).preimage_of(&commitment)))?;
        state::build_block(
            node.store(),
            &self.chain,
            state,
            &key.key,
            slot,
            &reveal,
            txs,
            None,
            state::Signatures::Verify,
        )
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
            violation: self.violation.take().or_else(|| self.violations.first().cloned()),
            violations: std::mem::take(&mut self.violations),
            blocks: self.blocks.len() as u64,
            finalized,
            sim_ms: self.now - GENESIS_MS,
            messages: self.messages,
            offences: self.offences.len() as u64,
            slashed,
            liveness_margin: self.liveness_margin,
            recovery: self.recovery,
            churn: self.churn,
            trace: self.trace.finalize().into(),
        }
    }
}
