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
    /// The scenario of `seed`; `validators` fixes the validator count (else 4 to 20).
    pub fn new(seed: u64, validators: Option<usize>, min_stake: u64) -> Scenario {
        let mut rng = Rng::new(seed);
        let n = validators.unwrap_or_else(|| pick_validators(&mut rng)).max(1);
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
                byzantine[i] = Some(match rng.below(5) {
                    0 => Behaviour::EquivocatingProposer,
                    1 => Behaviour::EquivocatingVoter,
                    2 => Behaviour::Withholder { late: false },
                    3 => Behaviour::Withholder { late: true },
                    _ => Behaviour::ForkVoter,
                });
            }
        }

        let skew_ms = (0..n).map(|_| rng.range(0, 600) as i64 - 300).collect();
        let tick_phase_ms = (0..n).map(|_| rng.below(TICK_MS)).collect();
        let start = GENESIS_MS + SLOT_MS;
        let fault_slots = rng.range(FAULT_SLOTS.0, FAULT_SLOTS.1);
        let faults_until_ms = start + fault_slots * SLOT_MS;
        let end_ms = faults_until_ms + CALM_SLOTS * SLOT_MS;

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
        Scenario {
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
        }
    }

    pub fn validators(&self) -> usize {
        self.stakes.len()
    }

    pub fn is_honest(&self, i: usize) -> bool {
        self.byzantine[i].is_none()
    }

    /// Whether `a` and `b` can reach each other at `t`.
    pub fn connected(&self, t: u64, a: usize, b: usize) -> bool {
        self.partitions.iter().all(|p| t < p.from_ms || t >= p.until_ms || p.group[a] == p.group[b])
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
        format!(
            "{} validators, byzantine [{}], {} partitions, {} crashes, faults until slot {}, \
             loss {}‰, dup {}‰, delay {}..{} ms (+{}‰ up to {} ms)",
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
