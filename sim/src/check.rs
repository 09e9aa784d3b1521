//! The invariants, as a checker the simulation feeds after every step. Each check is a method
//! that takes plain values (hashes, votes, amounts), so a test can feed it a broken history and
//! see it fail.

use memecoin_core::crypto::PublicKey;
use memecoin_core::finality::Vote;
use memecoin_core::hash::Hash;
use std::collections::BTreeMap;
use std::fmt;

/// A broken invariant, with the simulated time it was seen at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub at_ms: u64,
    pub kind: ViolationKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViolationKind {
    /// Two honest nodes finalized different blocks at one height.
    ConflictingFinality {
        height: u64,
        a: (usize, Hash),
        b: (usize, Hash),
    },
    /// A node's finalized height went down (across a restart too), or its finalized chain has
    /// no block at a height below its finalized one.
    FinalityRegressed {
        node: usize,
        from: u64,
        to: u64,
    },
    FinalizedHole {
        node: usize,
        height: u64,
    },
    /// An honest validator signed a slashable pair.
    HonestEquivocation {
        node: usize,
        what: String,
    },
    /// After the faults stopped, a node did not finalize enough in time.
    NoLiveness {
        node: usize,
        finalized: u64,
        needed: u64,
        state: String,
    },
    /// An offence known to honest nodes in time is not slashed in a node's finalized state, or
    /// an equivocation made while the network was calm was never turned into evidence.
    Unpunished {
        node: usize,
        offender: usize,
        what: &'static str,
    },
    /// The state's coins do not add up, or issuance or burning differs from the rules.
    Supply {
        node: usize,
        what: String,
    },
    /// A node failed where it must not (its store, or opening its data dir).
    NodeFailure {
        node: usize,
        what: String,
    },
    /// An honest validator, up and elected for `slot` on its head, proposed nothing.
    MissedProposal {
        node: usize,
        slot: u64,
        head: String,
        why: String,
    },
    /// An honest node refused an honest message that extends what it holds (a block on its
    /// head, an honest validator's vote) for lack of room.
    Refused {
        node: usize,
        what: String,
        state: String,
    },
    /// The chain stopped growing at a node that was up: its head gained fewer than
    /// `GROWTH_BLOCKS` in `slots` slots.
    HeadStalled {
        node: usize,
        from: u64,
        to: u64,
        slots: u64,
        state: String,
    },
    /// After a stall or fault phase ended (no `node`), nothing was finalized above `base` in
    /// time; or a restarted `node` did not reach the finalized height `base` in time.
    NoRecovery {
        what: &'static str,
        node: Option<usize>,
        base: u64,
        finalized: u64,
        slots: u64,
        state: String,
    },
}

impl ViolationKind {
    /// The check that failed, in a word: how a long run's report groups violations.
    pub fn check(&self) -> &'static str {
        match self {
            Self::ConflictingFinality { .. } => "safety",
            Self::FinalityRegressed { .. } | Self::FinalizedHole { .. } => "finality",
            Self::HonestEquivocation { .. } => "honest equivocation",
            Self::NoLiveness { .. } => "liveness",
            Self::Unpunished { .. } => "slashing",
            Self::Supply { .. } => "supply",
            Self::NodeFailure { .. } => "node failure",
            Self::MissedProposal { .. } => "missed proposal",
            Self::Refused { .. } => "refused",
            Self::HeadStalled { .. } => "chain growth",
            Self::NoRecovery { .. } => "recovery",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.at_ms.saturating_sub(crate::scenario::GENESIS_MS);
        write!(f, "at t={t} ms: ")?;
        match &self.kind {
            ViolationKind::ConflictingFinality { height, a, b } => write!(
                f,
                "safety: node {} finalized {} and node {} finalized {} at height {height}",
                a.0, a.1, b.0, b.1
            ),
            ViolationKind::FinalityRegressed { node, from, to } => {
                write!(f, "node {node}'s finalized height went from {from} to {to}")
            }
            ViolationKind::FinalizedHole { node, height } => {
                write!(f, "node {node} has no finalized block at height {height}")
            }
            ViolationKind::HonestEquivocation { node, what } => {
                write!(f, "honest validator {node} equivocated: {what}")
            }
            ViolationKind::NoLiveness { node, finalized, needed, state } => write!(
                f,
                "liveness: node {node} finalized height {finalized}, needed {needed} by the \
                 deadline ({state})"
            ),
            ViolationKind::Unpunished { node, offender, what } => {
                write!(f, "slashing: validator {offender} {what} (seen from node {node})")
            }
            ViolationKind::Supply { node, what } => write!(f, "supply at node {node}: {what}"),
            ViolationKind::NodeFailure { node, what } => write!(f, "node {node} failed: {what}"),
            ViolationKind::MissedProposal { node, slot, head, why } => write!(
                f,
                "missed proposal: honest validator {node}, up and elected for slot {slot} on \
                 its head {head}, proposed nothing ({why})"
            ),
            ViolationKind::Refused { node, what, state } => {
                write!(f, "refused: node {node} {what} ({state})")
            }
            ViolationKind::HeadStalled { node, from, to, slots, state } => write!(
                f,
                "chain growth: node {node}'s head went from {from} to {to} in {slots} slots \
                 ({state})"
            ),
            ViolationKind::NoRecovery { what, node, base, finalized, slots, state } => match node {
                Some(n) => write!(
                    f,
                    "recovery ({what}): node {n} finalized height {finalized}, needed {base} \
                     within {slots} slots of its restart in a calm network ({state})"
                ),
                None => write!(
                    f,
                    "recovery ({what}): nothing finalized above {base} within {slots} slots \
                     (finalized {finalized}) ({state})"
                ),
            },
        }
    }
}

/// What the checker remembers between steps.
#[derive(Debug, Default)]
pub struct Checker {
    /// The finalized block at each height, and which node first reported it.
    finalized: BTreeMap<u64, (Hash, usize)>,
    /// Per node: the finalized height checked so far.
    checked: BTreeMap<usize, u64>,
    /// Per honest validator: every vote it signed, by target height, and the block it signed
    /// per slot.
    votes: BTreeMap<usize, BTreeMap<u64, Vote>>,
    proposals: BTreeMap<(usize, u64), Hash>,
}

impl Checker {
    /// Safety: `node` reports `hash` finalized at `height`; every node must agree at every height.
    pub fn finalized_at(
        &mut self,
        node: usize,
        height: u64,
        hash: Hash,
    ) -> Result<(), ViolationKind> {
        match self.finalized.get(&height) {
            Some(&(known, by)) if known != hash => {
                Err(ViolationKind::ConflictingFinality { height, a: (by, known), b: (node, hash) })
            }
            Some(_) => Ok(()),
            None => {
                self.finalized.insert(height, (hash, node));
                Ok(())
            }
        }
    }

    /// The finalized height checked so far for `node`.
    pub fn checked_height(&self, node: usize) -> u64 {
        self.checked.get(&node).copied().unwrap_or(0)
    }

    /// `node`'s finalized height is now `height`, every block up to it having been passed to
    /// [`Checker::finalized_at`]. Finality never goes back.
    pub fn advance(&mut self, node: usize, height: u64) -> Result<(), ViolationKind> {
        let from = self.checked_height(node);
        if height < from {
            return Err(ViolationKind::FinalityRegressed { node, from, to: height });
        }
        self.checked.insert(node, height);
        Ok(())
    }

    /// The highest finalized height known.
    pub fn max_finalized(&self) -> u64 {
        self.finalized.keys().next_back().copied().unwrap_or(0)
    }

    /// An honest validator signed `vote`: it must not conflict with any vote it signed before
    /// (PROTOCOL.md §10.4), restarts included.
    pub fn honest_vote(&mut self, node: usize, vote: Vote) -> Result<(), ViolationKind> {
        let votes = self.votes.entry(node).or_default();
        // Only a vote with the same target, a higher one (it may surround this one) or one
        // between this one's source and target (this one may surround it) can conflict: a
        // long run holds 10^5 votes per validator, and each is checked against these.
        let (s, t) = (vote.source.height, vote.target.height);
        let earlier = votes
            .range(t..)
            .chain(votes.range(s.saturating_add(1)..t))
            .map(|(_, v)| v)
            .find(|v| v.conflicts_with(&vote));
        if let Some(earlier) = earlier {
            return Err(ViolationKind::HonestEquivocation {
                node,
                what: format!("vote {earlier:?} and vote {vote:?}"),
            });
        }
        votes.insert(t, vote);
        Ok(())
    }

    /// Whether honest validator `node` signed a block for `slot`.
    pub fn proposed(&self, node: usize, slot: u64) -> bool {
        self.proposals.contains_key(&(node, slot))
    }

    /// An honest validator signed block `hash` for `slot`: never two for one slot.
    pub fn honest_proposal(
        &mut self,
        node: usize,
        slot: u64,
        hash: Hash,
    ) -> Result<(), ViolationKind> {
        match self.proposals.insert((node, slot), hash) {
            Some(earlier) if earlier != hash => Err(ViolationKind::HonestEquivocation {
                node,
                what: format!("blocks {earlier} and {hash} for slot {slot}"),
            }),
            _ => Ok(()),
        }
    }
}

/// The coins of one state, as the supply check reads them.
#[derive(Debug, Clone, Default)]
pub struct SupplyView {
    /// Σ balance + stake + unbonding over every address that can hold coins.
    pub held: u64,
    pub genesis: u64,
    pub issued: u64,
    pub burned: u64,
    pub height: u64,
    /// For each slashed validator: its genesis stake and its stake now.
    pub slashed: Vec<(u64, u64)>,
    /// Whether an unbonding entry exists where none must: only long runs' joiners unstake.
    pub unbonding: bool,
}

/// Supply conservation (PROTOCOL.md §6.2, §8.5 step 7, §11.3): the coins held equal genesis +
/// issued − burned; exactly one block reward per block was issued; exactly `cut(stake)` of each
/// slashed validator's stake was burned, and its stake is what remains.
pub fn check_supply(v: &SupplyView, block_reward: u64, slash_percent: u8) -> Result<(), String> {
    let expected = v.genesis.checked_add(v.issued).and_then(|x| x.checked_sub(v.burned));
    if expected != Some(v.held) {
        return Err(format!(
            "coins held {} ≠ genesis {} + issued {} − burned {}",
            v.held, v.genesis, v.issued, v.burned
        ));
    }
    if Some(v.issued) != v.height.checked_mul(block_reward) {
        return Err(format!("issued {} after {} blocks of {block_reward}", v.issued, v.height));
    }
    let cut = |x: u64| ((u128::from(x) * u128::from(slash_percent)).div_ceil(100)) as u64;
    let mut burned = 0u64;
    for &(genesis_stake, stake) in &v.slashed {
        if stake != genesis_stake - cut(genesis_stake) {
            return Err(format!(
                "a slashed validator of stake {genesis_stake} has {stake} left, not {}",
                genesis_stake - cut(genesis_stake)
            ));
        }
        burned += cut(genesis_stake);
    }
    if burned != v.burned {
        return Err(format!("burned {} but the slashed validators lost {burned}", v.burned));
    }
    if v.unbonding {
        return Err("an unbonding entry appeared, and nobody unstaked".into());
    }
    Ok(())
}

/// Whether `key` is in `keys`, by position (for naming offenders by validator index).
pub fn index_of(keys: &[PublicKey], key: &PublicKey) -> Option<usize> {
    keys.iter().position(|k| k == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use memecoin_core::finality::Checkpoint;

    fn cp(height: u64, b: u8) -> Checkpoint {
        Checkpoint { height, hash: Hash([b; 32]) }
    }

    #[test]
    fn conflicting_finalized_blocks_are_caught() {
        let mut c = Checker::default();
        c.finalized_at(0, 1, Hash([1; 32])).unwrap();
        c.finalized_at(1, 1, Hash([1; 32])).unwrap();
        c.finalized_at(1, 2, Hash([2; 32])).unwrap();
        assert_eq!(
            c.finalized_at(2, 2, Hash([3; 32])),
            Err(ViolationKind::ConflictingFinality {
                height: 2,
                a: (1, Hash([2; 32])),
                b: (2, Hash([3; 32]))
            })
        );
        c.advance(0, 5).unwrap();
        assert_eq!(
            c.advance(0, 4),
            Err(ViolationKind::FinalityRegressed { node: 0, from: 5, to: 4 })
        );
    }

    #[test]
    fn honest_double_and_surround_votes_are_caught() {
        let mut c = Checker::default();
        let v = |s: Checkpoint, t: Checkpoint| Vote { epoch: 0, source: s, target: t };
        c.honest_vote(0, v(cp(1, 1), cp(4, 4))).unwrap();
        c.honest_vote(0, v(cp(1, 1), cp(4, 4))).unwrap(); // the same vote again is fine
        c.honest_vote(0, v(cp(4, 4), cp(5, 5))).unwrap();
        assert!(c.honest_vote(0, v(cp(1, 1), cp(5, 6))).is_err()); // double
        assert!(c.honest_vote(0, v(cp(0, 0), cp(6, 6))).is_err()); // surrounds 1 -> 4
        // Surrounded by an earlier vote (indexed by target: the earlier one's is higher).
        c.honest_vote(2, v(cp(1, 1), cp(9, 9))).unwrap();
        c.honest_vote(2, v(cp(9, 9), cp(10, 10))).unwrap();
        assert!(c.honest_vote(2, v(cp(2, 2), cp(5, 5))).is_err());
        c.honest_proposal(1, 3, Hash([1; 32])).unwrap();
        assert!(c.honest_proposal(1, 3, Hash([2; 32])).is_err());
    }

    #[test]
    fn supply_must_add_up() {
        let ok = SupplyView {
            held: 1_000 + 30 - 50,
            genesis: 1_000,
            issued: 30,
            burned: 50,
            height: 3,
            slashed: vec![(100, 50)],
            unbonding: false,
        };
        check_supply(&ok, 10, 50).unwrap();
        assert!(check_supply(&SupplyView { held: ok.held + 1, ..ok.clone() }, 10, 50).is_err());
        assert!(check_supply(&SupplyView { height: 4, ..ok.clone() }, 10, 50).is_err());
        assert!(check_supply(&SupplyView { slashed: vec![(100, 51)], ..ok }, 10, 50).is_err());
    }
}
