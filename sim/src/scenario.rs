//! What one seed simulates: the validators, their stakes and behaviours, the clocks, and the
//! faults, all drawn from the seed before the run starts (so a scenario can be printed, and the
//! run's own draws do not change it).

use crate::rng::Rng;

/// Slot length (ms) and epoch length (slots): the devnet's (`Params::devnet`), so the simulated
/// chain runs the parameters people run.
pub const SLOT_MS: u64 = 1_000;
pub const SLOTS_PER_EPOCH: u64 = 8;
/// Unix time of slot 0. Any value works; simulated time starts here.
pub const GENESIS_MS: u64 = 1_700_000_000_000;
/// Validators' nodes tick every 100 ms, as the relay's background task does (`relay::start`).
pub const TICK_MS: u64 = 100;

/// The calm phase: after `faults_until_ms` no partition, crash, loss or duplication happens and
/// messages take at most `CALM_MAX_DELAY_MS`. Byzantine validators keep misbehaving.
pub const CALM_MAX_DELAY_MS: u64 = 300;
/// Liveness: within `LIVENESS_SLOTS` slots of the calm phase's start, every honest node's
/// finalized height must be at least `LIVENESS_BLOCKS` above the highest finalized height any
/// honest node had when it started (see RELIABILITY.md for why these bounds).
pub const LIVENESS_SLOTS: u64 = 2 * SLOTS_PER_EPOCH;
pub const LIVENESS_BLOCKS: u64 = 4;
/// Slashing: an offence detected this many slots before the end must be slashed, in every honest
/// node's finalized state, by the end.
pub const SLASHING_SLOTS: u64 = 2 * SLOTS_PER_EPOCH;
/// The run ends this many slots after the faults stop: the liveness deadline, and the time an
/// offence has to be slashed by, plus a few slots.
pub const CALM_SLOTS: u64 = SLASHING_SLOTS + 4;
/// The fault phase lasts this many slots (from slot 1), drawn per seed. Short: a run's cost
/// is about N² signature checks per block, and many seeds find more than long runs.
pub const FAULT_SLOTS: (u64, u64) = (4, 16);
/// Validator counts a seed draws from, with probability ∝ 1/N²: the cost of a run grows with
/// N² (every node verifies every vote and every certificate), so each size gets about the same
/// share of the machine, and small networks, where one fault matters most, get the most seeds.
pub const VALIDATORS: (u64, u64) = (4, 20);

// ---- Long mode (`--long`): one run covers the horizons a real network meets. ----

/// Slots of a long run unless `--slots` says otherwise: more than every bound the node keeps
/// (4,096 unfinalized blocks, 4,096 pending votes) many times over.
pub const LONG_SLOTS: u64 = 100_000;
/// Validator counts of a long run (uniform): small networks, since a run costs about N²
/// signature checks per block, and one fault matters most in a small one.
pub const LONG_VALIDATORS: (u64, u64) = (3, 4);
/// Accounts funded at genesis that are not validators: each stakes, unstakes and, once its
/// registration was pruned, stakes again with a fresh hash chain (its node restarted with it).
pub const JOINERS: usize = 1;
/// How long a joiner stays in a state (staked or not) once the finalized state shows it, in
/// epochs.
pub const CHURN_EPOCHS: (u64, u64) = (8, 64);
/// The length of the short hash chain one honest validator gets in about half the long seeds:
/// it runs out after that many proposals unless the node renews it.
pub const SHORT_CHAIN_LENGTH: u64 = 32;
/// A long stall: more than 1/3 of the stake offline for longer than every bound above.
pub const LONG_STALL_SLOTS: (u64, u64) = (4_200, 5_000);
/// A long partition: honest validators holding more than 1/3 of the stake cut off from the
/// rest, both sides live, for longer than fork choice's window (1,024 blocks) on the side with
/// more than 1/3, and shorter than the inactivity bound (4,096 slots; longer, each side would
/// leave the other out and finalize alone, PROTOCOL.md §9.5).
pub const LONG_PARTITION_SLOTS: (u64, u64) = (3_200, 3_800);
/// Short stalls: more than 1/3 of the stake offline for a while, within every bound.
/// (500 slots: even 8 voters fill no more than 4,000 of a node's 4,096 vote slots.)
pub const SHORT_STALL_SLOTS: (u64, u64) = (16, 500);
/// Single crashes of one honest node (restarted after this many slots).
pub const CRASH_SLOTS: (u64, u64) = (2, 500);
/// After a stall ends, the network must finalize a new block within this many slots; a
/// restarted node must reach the finalized height it restarted into within this many slots of
/// the network being calm (both: recovery, below).
pub const RECOVERY_SLOTS: u64 = 8 * SLOTS_PER_EPOCH;
/// With more than 1/3 of the stake offline for good, finality must come back within this many
/// slots of the stall's start: core's inactivity bound (PROTOCOL.md §9.5), `INACTIVITY_EPOCHS +
/// 2` epochs after the offline stake's last activity (at most the stall's start) plus the two
/// blocks of a finalizing link, with one epoch of slack for the slots of offline proposers.
pub const INACTIVITY_SLOTS: u64 = (memecoin_core::state::INACTIVITY_EPOCHS + 3) * SLOTS_PER_EPOCH;
/// The head must gain at least `GROWTH_BLOCKS` blocks every `GROWTH_SLOTS` slots at every honest
/// node that was up throughout, once the fault phase is over, stalls included: more than 1/3
/// offline stops finality, never the chain.
pub const GROWTH_SLOTS: u64 = 256;
pub const GROWTH_BLOCKS: u64 = 4;

/// How a byzantine validator misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Signs two different blocks for each slot it is elected in, and sends one to each half
    /// of its peers (the second on the head's parent where it can: a fork).
    EquivocatingProposer,
    /// Signs two different votes for each head (same target height), or now and then a vote
    /// surrounding its previous one, and sends them to different halves.
    EquivocatingVoter,
    /// Never reveals: skips every slot it is elected in (`late: false`), or builds the block and
    /// releases it one to three slots late to a few peers (`late: true`). Votes honestly.
    Withholder { late: bool },
    /// Votes for a block off the head chain when it knows one (else for the head's parent),
    /// without ever signing a slashable pair; proposes honestly.
    ForkVoter,
    /// Long mode: for each head, signs votes for heights far above it (never a slashable pair:
    /// one source, ever higher targets) until honest nodes hold thousands; then one per head.
    /// Proposes honestly.
    FutureVoter,
    /// Long mode: now and then signs a block on a made-up parent for a slot it does not
    /// propose in (no double proposal), which honest nodes keep as an orphan and sync for.
    /// Otherwise honest.
    OrphanSpammer,
}

/// Why more than 1/3 of the stake is offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallKind {
    /// Within every bound (`SHORT_STALL_SLOTS`).
    Short,
    /// Longer than every bound (`LONG_STALL_SLOTS`).
    Long,
    /// For good: finality must come back within `INACTIVITY_SLOTS` all the same.
    Forever,
    /// Not offline: cut off from the rest, both sides live (`LONG_PARTITION_SLOTS`).
    Partition,
}

/// Honest validators holding more than 1/3 of the stake, offline together (or, for
/// `StallKind::Partition`, cut off together from the others).
#[derive(Debug, Clone)]
pub struct Stall {
    pub kind: StallKind,
    pub nodes: Vec<usize>,
    pub from_ms: u64,
    /// `None`: never back.
    pub until_ms: Option<u64>,
}

/// What a long run adds (`--long`).
#[derive(Debug, Clone, Default)]
pub struct Long {
    pub slots: u64,
    /// Joiners: nodes `validators()..nodes()`.
    pub joiners: usize,
    /// An honest validator whose hash chain is `SHORT_CHAIN_LENGTH` long.
    pub short_chain: Option<usize>,
    pub stalls: Vec<Stall>,
}

/// A partition: while it lasts, nodes in different groups cannot reach each other.
#[derive(Debug, Clone)]
pub struct Partition {
    pub from_ms: u64,
    pub until_ms: u64,
    /// Group of each node.
    pub group: Vec<u8>,
}

/// An honest node's crash (its `Node` dropped) and restart (`Node::open` on the same data dir).
#[derive(Debug, Clone)]
pub struct Crash {
    pub node: usize,
    pub at_ms: u64,
    pub restart_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub stakes: Vec<u64>,
    /// `None` for an honest validator.
    pub byzantine: Vec<Option<Behaviour>>,
    /// Each node's clock is off by this much (ms), within the one slot the relay tolerates.
    pub skew_ms: Vec<i64>,
    /// Each node's first tick, so nodes do not tick in lockstep.
    pub tick_phase_ms: Vec<u64>,
    /// End of the fault phase (absolute ms).
    pub faults_until_ms: u64,
    pub end_ms: u64,
    pub partitions: Vec<Partition>,
    pub crashes: Vec<Crash>,
    /// During the fault phase: per-mille loss and duplication, the usual delay range and the
    /// per-mille of messages that take up to `slow_ms` instead (reordering across slots).
    pub loss: u64,
    pub duplication: u64,
    pub delay_ms: (u64, u64),
    pub slow: u64,
    pub slow_ms: u64,
    /// `Some` in long mode.
    pub long: Option<Long>,
}

/// A validator count in `VALIDATORS`, with probability ∝ 1/N².
fn pick_validators(rng: &mut Rng) -> usize {
    let weight = |n: u64| 1_000_000 / (n * n);
    let total: u64 = (VALIDATORS.0..=VALIDATORS.1).map(weight).sum();
    let mut x = rng.below(total);
    for n in VALIDATORS.0..=VALIDATORS.1 {
        if x < weight(n) {
            return n as usize;
        }
        x -= weight(n);
    }
    VALIDATORS.1 as usize
}

impl Scenario {
    /// The scenario of `seed`; `validators` fixes the validator count (else 4 to 20, or
    /// `LONG_VALIDATORS` in long mode); `long`: a long run of that many slots.
    pub fn new(
        seed: u64,
        validators: Option<usize>,
        min_stake: u64,
        long: Option<u64>,
    ) -> Scenario {
        let mut rng = Rng::new(seed);
        let n = match (validators, long) {
            (Some(v), _) => v,
            (None, None) => pick_validators(&mut rng),
            (None, Some(_)) => rng.range(LONG_VALIDATORS.0, LONG_VALIDATORS.1) as usize,
        }
        .max(1);
        let stakes: Vec<u64> = (0..n).map(|_| min_stake * rng.range(1, 4)).collect();
        let total: u64 = stakes.iter().sum();

        // Byzantine validators: a random subset holding strictly less than 1/3 of the stake.
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        let want = if rng.chance(100) { 0 } else { rng.range(1, n as u64) as usize };
        let mut byzantine = vec![None; n];
        let mut byz_stake = 0;
        let mut count = 0;
        for &i in &order {
            if count == want {
                break;
            }
            if 3 * (byz_stake + stakes[i]) < total {
                byz_stake += stakes[i];
                count += 1;
                byzantine[i] = Some(match rng.below(if long.is_some() { 7 } else { 5 }) {
                    0 => Behaviour::EquivocatingProposer,
                    1 => Behaviour::EquivocatingVoter,
                    2 => Behaviour::Withholder { late: false },
                    3 => Behaviour::Withholder { late: true },
                    4 => Behaviour::ForkVoter,
                    5 => Behaviour::FutureVoter,
                    _ => Behaviour::OrphanSpammer,
                });
            }
        }

        let skew_ms = (0..n).map(|_| rng.range(0, 600) as i64 - 300).collect();
        let tick_phase_ms = (0..n).map(|_| rng.below(TICK_MS)).collect();
        let start = GENESIS_MS + SLOT_MS;
        let fault_slots = rng.range(FAULT_SLOTS.0, FAULT_SLOTS.1);
        let faults_until_ms = start + fault_slots * SLOT_MS;
        let end_ms = match long {
            Some(slots) => GENESIS_MS + slots.max(fault_slots + CALM_SLOTS + 1) * SLOT_MS,
            None => faults_until_ms + CALM_SLOTS * SLOT_MS,
        };

        let honest: Vec<usize> = (0..n).filter(|&i| byzantine[i].is_none()).collect();
        let mut partitions = Vec::new();
        for _ in 0..rng.below(3) {
            let from_ms = rng.range(start, faults_until_ms - SLOT_MS);
            let until_ms = rng.range(from_ms + SLOT_MS, faults_until_ms);
            let groups = rng.range(2, 3) as u8;
            let group = (0..n).map(|_| rng.below(u64::from(groups)) as u8).collect();
            partitions.push(Partition { from_ms, until_ms, group });
        }
        let mut crashes = Vec::new();
        for _ in 0..rng.below(3) {
            if honest.is_empty() {
                break;
            }
            let node = honest[rng.below(honest.len() as u64) as usize];
            let at_ms = rng.range(start, faults_until_ms - SLOT_MS);
            let restart_ms = rng.range(at_ms + 1, faults_until_ms);
            // One crash at a time per node: a second one overlapping the first is dropped.
            if crashes
                .iter()
                .any(|c: &Crash| c.node == node && at_ms <= c.restart_ms && c.at_ms <= restart_ms)
            {
                continue;
            }
            crashes.push(Crash { node, at_ms, restart_ms });
        }
        let loss = rng.range(0, 100);
        let duplication = rng.range(0, 50);
        let max_delay = rng.range(20, 600);
        let delay_ms = (rng.range(1, 20), max_delay);
        let slow = rng.range(0, 50);
        let slow_ms = rng.range(max_delay, 3 * SLOT_MS);
        let mut sc = Scenario {
            seed,
            stakes,
            byzantine,
            skew_ms,
            tick_phase_ms,
            faults_until_ms,
            end_ms,
            partitions,
            crashes,
            loss,
            duplication,
            delay_ms,
            slow,
            slow_ms,
            long: None,
        };
        // Drawn last, so a seed's ordinary scenario is the same with and without `--long`'s
        // code.
        if long.is_some() {
            sc.long = Some(sc.draw_long(&mut rng, &honest));
        }
        sc
    }

    /// The long run's joiners, short chain, stalls and crashes.
    fn draw_long(&mut self, rng: &mut Rng, honest: &[usize]) -> Long {
        let slots = (self.end_ms - GENESIS_MS) / SLOT_MS;
        let mut long = Long { slots, joiners: JOINERS, ..Long::default() };
        for _ in 0..JOINERS {
            self.byzantine.push(None);
            self.skew_ms.push(rng.range(0, 600) as i64 - 300);
            self.tick_phase_ms.push(rng.below(TICK_MS));
        }
        if !honest.is_empty() && rng.chance(500) {
            long.short_chain = Some(honest[rng.below(honest.len() as u64) as usize]);
        }
        let total: u64 = self.stakes.iter().sum();
        // Honest validators holding more than 1/3 of the stake, at random (all the honest ones
        // if they are needed: byzantine ones stay up).
        let offline_set = |rng: &mut Rng| {
            let mut order = honest.to_vec();
            rng.shuffle(&mut order);
            let mut nodes = Vec::new();
            let mut stake = 0;
            for i in order {
                if 3 * stake > total {
                    break;
                }
                stake += self.stakes[i];
                nodes.push(i);
            }
            nodes.sort_unstable();
            // An honest validator must stay up, or no honest one proposes during the stall.
            if nodes.len() == honest.len() { Vec::new() } else { nodes }
        };
        // Every stall and crash (slots), none overlapping another or its recovery: a recovery
        // is measured (and bounded) with everybody else up.
        let mut down: Vec<(u64, u64)> = Vec::new();
        let first = (self.faults_until_ms - GENESIS_MS) / SLOT_MS + 2 * SLOTS_PER_EPOCH;
        // At most one stall longer than every bound, or one for good, per run (none if it
        // would take every honest validator down: then no honest one proposes).
        let kind = rng.below(3);
        if kind < 2 && slots > first + LONG_STALL_SLOTS.1 + 4 * RECOVERY_SLOTS {
            let len = rng.range(LONG_STALL_SLOTS.0, LONG_STALL_SLOTS.1);
            let from = rng.range(first, slots - len - 4 * RECOVERY_SLOTS);
            let nodes = offline_set(rng);
            let (kind, until) = match kind {
                0 => (StallKind::Long, Some(from + len)),
                _ => (StallKind::Forever, None),
            };
            if !nodes.is_empty() {
                down.push((from, until.unwrap_or(u64::MAX / 2)));
                long.stalls.push(Stall {
                    kind,
                    nodes,
                    from_ms: GENESIS_MS + from * SLOT_MS,
                    until_ms: until.map(|u| GENESIS_MS + u * SLOT_MS),
                });
            }
        }
        // Short stalls and single crashes, about one of each per 5,000 and 2,000 slots.
        let shorts = slots / 5_000;
        let crashes = slots / 2_000;
        let fits = |down: &[(u64, u64)], from: u64, until: u64| {
            down.iter().all(|&(a, b)| {
                until + RECOVERY_SLOTS < a || b.saturating_add(RECOVERY_SLOTS) < from
            })
        };
        for _ in 0..shorts {
            let len = rng.range(SHORT_STALL_SLOTS.0, SHORT_STALL_SLOTS.1);
            if slots < first + len + 4 * RECOVERY_SLOTS {
                continue;
            }
            let from = rng.range(first, slots - len - 4 * RECOVERY_SLOTS);
            let nodes = offline_set(rng);
            if nodes.is_empty() || !fits(&down, from, from + len) {
                continue;
            }
            down.push((from, from + len));
            long.stalls.push(Stall {
                kind: StallKind::Short,
                nodes,
                from_ms: GENESIS_MS + from * SLOT_MS,
                until_ms: Some(GENESIS_MS + (from + len) * SLOT_MS),
            });
        }
        for _ in 0..crashes {
            if honest.is_empty() {
                break;
            }
            let node = honest[rng.below(honest.len() as u64) as usize];
            let len = rng.range(CRASH_SLOTS.0, CRASH_SLOTS.1);
            if slots < first + len + 4 * RECOVERY_SLOTS {
                continue;
            }
            let from = rng.range(first, slots - len - 4 * RECOVERY_SLOTS);
            if !fits(&down, from, from + len) {
                continue;
            }
            down.push((from, from + len));
            let at_ms = GENESIS_MS + from * SLOT_MS + rng.below(SLOT_MS);
            self.crashes.push(Crash { node, at_ms, restart_ms: at_ms + len * SLOT_MS });
        }
        // Drawn after the rest, so a seed's other items are as before this kind existed.
        {
            let len = rng.range(LONG_PARTITION_SLOTS.0, LONG_PARTITION_SLOTS.1);
            let nodes = offline_set(rng);
            // A few tries at a place that overlaps no stall or crash.
            let place = (0..8).find_map(|_| {
                if slots < first + len + 4 * RECOVERY_SLOTS {
                    return None;
                }
                let from = rng.range(first, slots - len - 4 * RECOVERY_SLOTS);
                fits(&down, from, from + len).then_some(from)
            });
            if let Some(from) = place.filter(|_| !nodes.is_empty()) {
                {
                    let (from_ms, until_ms) =
                        (GENESIS_MS + from * SLOT_MS, GENESIS_MS + (from + len) * SLOT_MS);
                    let group = (0..self.nodes()).map(|i| u8::from(nodes.contains(&i))).collect();
                    self.partitions.push(Partition { from_ms, until_ms, group });
                    long.stalls.push(Stall {
                        kind: StallKind::Partition,
                        nodes,
                        from_ms,
                        until_ms: Some(until_ms),
                    });
                }
            }
        }
        long.stalls.sort_by_key(|s| s.from_ms);
        long
    }

    /// Genesis validators (the joiners come after them).
    pub fn validators(&self) -> usize {
        self.stakes.len()
    }

    /// Every node: the validators, then the joiners.
    pub fn nodes(&self) -> usize {
        self.byzantine.len()
    }

    /// Whether node `i` is down at `t` for a stall.
    pub fn stalled(&self, t: u64, i: usize) -> bool {
        self.long.as_ref().is_some_and(|l| {
            l.stalls.iter().any(|s| {
                s.kind != StallKind::Partition
                    && s.nodes.contains(&i)
                    && t >= s.from_ms
                    && s.until_ms.is_none_or(|u| t < u)
            })
        })
    }

    pub fn is_honest(&self, i: usize) -> bool {
        self.byzantine[i].is_none()
    }

    /// Whether `a` and `b` can reach each other at `t`.
    pub fn connected(&self, t: u64, a: usize, b: usize) -> bool {
        // Joiners (drawn after the partitions) are in group 0.
        let group = |p: &Partition, i: usize| p.group.get(i).copied().unwrap_or(0);
        self.partitions
            .iter()
            .all(|p| t < p.from_ms || t >= p.until_ms || group(p, a) == group(p, b))
    }

    /// The times at which a partition heals or a node restarts: nodes say `hello` then, as
    /// relays do when a connection comes (back) up.
    pub fn reconnections(&self) -> Vec<u64> {
        let mut times: Vec<u64> = self.partitions.iter().map(|p| p.until_ms).collect();
        times.sort_unstable();
        times.dedup();
        times
    }

    /// One line: what this seed runs.
    pub fn summary(&self) -> String {
        let byz: Vec<String> = self
            .byzantine
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.map(|b| format!("{i}:{b:?}")))
            .collect();
        let long = self.long.as_ref().map_or(String::new(), |l| {
            let stalls: Vec<String> = l
                .stalls
                .iter()
                .map(|s| {
                    let slot = |ms: u64| (ms - GENESIS_MS) / SLOT_MS;
                    format!(
                        "{:?} {:?} from slot {}{}",
                        s.kind,
                        s.nodes,
                        slot(s.from_ms),
                        s.until_ms.map_or(String::new(), |u| format!(" to {}", slot(u)))
                    )
                })
                .collect();
            format!(
                "; long: {} slots, {} joiners, short hash chain {}, stalls [{}]",
                l.slots,
                l.joiners,
                l.short_chain.map_or("none".into(), |i| format!("at {i}")),
                stalls.join(", ")
            )
        });
        format!(
            "{} validators, byzantine [{}], {} partitions, {} crashes, faults until slot {}, \
             loss {}‰, dup {}‰, delay {}..{} ms (+{}‰ up to {} ms){long}",
            self.validators(),
            byz.join(", "),
            self.partitions.len(),
            self.crashes.len(),
            (self.faults_until_ms - GENESIS_MS) / SLOT_MS,
            self.loss,
            self.duplication,
            self.delay_ms.0,
            self.delay_ms.1,
            self.slow,
            self.slow_ms
        )
    }
}
