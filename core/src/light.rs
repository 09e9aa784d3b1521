//! Light-client verification: follow the chain from a trusted checkpoint with headers,
//! certificates and proofs only — never full blocks, never the full state.
//!
//! The client holds a finalized [`Anchor`] and the validator set of one epoch, plus the hash of
//! the set that governs the next epoch with blocks (from the last certified header). It moves
//! forward with [`FinalityProof`]s: a header `S`, its child `T` signed by its proposer, and a
//! certificate for the link `S -> T`, which finalizes `S`. Crossing into the next epoch with
//! blocks needs that epoch's set, checked against the committed hash. A proof further ahead, whose
//! set the client cannot link by hash, may still be accepted by *skipping* (as Tendermint light
//! clients do): its set is the one the target header commits to, and the certificate's signers
//! hold more than 1/3 of the stake of the set the client already trusts — so at least one honest
//! validator the client knows vouched for it. So catching up costs work in proportion to changes
//! of the validator set, not to the number of blocks or epochs.
//!
//! Trust assumption: more than 2/3 of each epoch's stake is honest, and — for a skip — fewer than
//! 1/3 of the trusted set's stake signs anything false while the client catches up (PROTOCOL.md
//! §13.2, with its long-range caveat). An honest validator only votes from a justified source, so
//! a supermajority link `S -> T` with `T` the child of `S` means `S` is final (as in Casper FFG;
//! Ethereum light clients rest on the same assumption).

use crate::account::{Account, state_key};
use crate::address::Address;
use crate::block::Block;
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::finality::{Certificate, CertificateError, Checkpoint, SignedVote};
use crate::genesis::{Genesis, GenesisError};
use crate::hash::{Domain, Hash, tagged_hash};
use crate::header::{Header, SignedHeader};
use crate::merkle::{self, InclusionError, InclusionProof};
use crate::params::Params;
use crate::pos::ValidatorSet;
use crate::slashing::Evidence;
use crate::state::{ChainState, state_root};
use crate::tree::{self, NodeStore, Proof, ProofError, TreeError};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

/// A verified block the client can read state from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub hash: Hash,
    pub height: u64,
    pub slot: u64,
    pub state_root: Hash,
    pub tx_root: Hash,
}

impl Anchor {
    pub fn of(header: &Header) -> Self {
        Anchor {
            hash: header.hash(),
            height: header.height,
            slot: header.slot,
            state_root: header.state_root,
            tx_root: header.tx_root,
        }
    }
}

/// Why something a relay sent was not accepted as fact.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LightError {
    /// The header's epoch is not the one whose validator set the client holds.
    EpochNotKnown {
        epoch: u64,
        known: u64,
    },
    /// A validator set that does not hash to the committed value.
    WrongValidatorSet,
    WrongProposer,
    BadProposerSignature,
    /// Nothing newer than what the client already has.
    NotNewer {
        height: u64,
        finalized: u64,
    },
    /// The target header is not the child of the source header.
    NotChild,
    /// The certificate's link is not `source -> target`.
    CertificateMismatch,
    Certificate(CertificateError),
    /// The proof is for a different state root than the verified one.
    StateRootMismatch,
    AccountProof(ProofError),
    Inclusion(InclusionError),
    Genesis(GenesisError),
    /// A saved [`Trusted`] position of another chain than the genesis given.
    WrongChain,
    /// Headers that do not link by parent hash, in height order, to the verified block.
    NotLinked,
    /// A proof that skips epochs whose signers hold `signed` of the client's trusted set's
    /// `total` stake, not more than 1/3: not enough to be sure of one honest signer. The client
    /// can still get there epoch by epoch.
    InsufficientTrust {
        signed: u64,
        total: u64,
    },
    /// A header from a slot after `now`, the slot the caller's clock is in (one slot of skew
    /// allowed): no honest proposer signs one.
    FromTheFuture {
        slot: u64,
        now: u64,
    },
    /// A header higher than its slot: every block's slot is above its parent's, so a real
    /// block's height is at most its slot.
    Implausible {
        height: u64,
        slot: u64,
    },
    /// The client cannot yet tell whether the header descends from its finalized block: it
    /// needs the headers `from..=to` (by parent hash) to link it. Not a lie.
    UnknownParent {
        from: u64,
        to: u64,
    },
    /// A head more than [`MAX_LINKS`] blocks above the finalized block with no link to it:
    /// followed only once finality gets nearer. Not a lie.
    TooFarAhead {
        height: u64,
        finalized: u64,
    },
    /// A header whose chain does not contain the finalized block: another branch, never the
    /// chain this client follows.
    OffFinalized,
    /// A valid certificate finalizes a block that conflicts with the client's finalized block:
    /// more than 1/3 of a validator set signed conflicting history. The client stops
    /// ([`LightClient::conflict`]).
    ConflictingFinality {
        height: u64,
    },
    /// The client has seen conflicting finality and accepts nothing more.
    Halted,
    /// A checkpoint's block or state is not the trusted block's ([`verify_checkpoint`]):
    /// `what` says which part.
    WrongCheckpoint {
        what: &'static str,
    },
}

impl LightError {
    /// Whether the relay that sent the refused item sent something false — a proof, header or
    /// certificate that cannot be true — rather than something the client cannot check yet (an
    /// epoch it has not crossed, headers it must fetch, a proof not newer, a skip without
    /// enough trust) or anything after it stopped. A wallet reports the first kind with the
    /// relay's name and never shows it; the second it retries later.
    pub fn is_lie(&self) -> bool {
        !matches!(
            self,
            Self::EpochNotKnown { .. }
                | Self::NotNewer { .. }
                | Self::InsufficientTrust { .. }
                | Self::UnknownParent { .. }
                | Self::TooFarAhead { .. }
                | Self::Halted
                | Self::ConflictingFinality { .. }
        )
    }
}

impl fmt::Display for LightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EpochNotKnown { epoch, known } => {
                write!(
                    f,
                    "header is in epoch {epoch}; the verified validator set is for epoch {known}"
                )
            }
            Self::WrongValidatorSet => {
                f.write_str("validator set does not match the committed hash")
            }
            Self::WrongProposer => f.write_str("header is not signed by the elected proposer"),
            Self::BadProposerSignature => f.write_str("proposer signature is invalid"),
            Self::NotNewer { height, finalized } => {
                write!(f, "height {height} is not above the finalized height {finalized}")
            }
            Self::NotChild => f.write_str("target header is not the child of the source header"),
            Self::CertificateMismatch => f.write_str("certificate is for another link"),
            Self::Certificate(e) => write!(f, "certificate: {e}"),
            Self::StateRootMismatch => f.write_str("proof is for another state root"),
            Self::AccountProof(e) => write!(f, "account proof: {e}"),
            Self::Inclusion(e) => write!(f, "inclusion proof: {e}"),
            Self::Genesis(e) => write!(f, "genesis: {e}"),
            Self::WrongChain => f.write_str("saved checkpoint is for another chain"),
            Self::NotLinked => f.write_str("headers do not link to the verified finalized block"),
            Self::InsufficientTrust { signed, total } => write!(
                f,
                "signers hold {signed} of the trusted set's {total} stake, not more than 1/3: \
                 follow the epochs in between"
            ),
            Self::FromTheFuture { slot, now } => {
                write!(f, "header is from slot {slot}, after the current slot {now}")
            }
            Self::Implausible { height, slot } => {
                write!(f, "header height {height} is above its slot {slot}")
            }
            Self::UnknownParent { from, to } => {
                write!(f, "headers {from}..={to} are needed to link the header to finality")
            }
            Self::TooFarAhead { height, finalized } => write!(
                f,
                "header {height} is too far above the finalized height {finalized} to link"
            ),
            Self::OffFinalized => f.write_str("header is on a branch without the finalized block"),
            Self::WrongCheckpoint { what } => {
                write!(f, "checkpoint {what} does not match the trusted block")
            }
            Self::ConflictingFinality { height } => write!(
                f,
                "conflicting finality: a valid certificate finalizes a block at height {height} \
                 that conflicts with the verified finalized block"
            ),
            Self::Halted => f.write_str("stopped after conflicting finality"),
        }
    }
}

impl core::error::Error for LightError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Certificate(e) => Some(e),
            Self::AccountProof(e) => Some(e),
            Self::Inclusion(e) => Some(e),
            Self::Genesis(e) => Some(e),
            _ => None,
        }
    }
}

/// Finality of `source`, proven by a certificate for the link `source -> target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalityProof {
    pub source: Header,
    pub target: SignedHeader,
    pub certificate: Certificate,
    /// The validator set of the target's epoch, when it is not the client's current epoch.
    pub target_set: Option<ValidatorSet>,
}

/// An account's value (or absence) under a state root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    pub accounts_root: Hash,
    pub meta_hash: Hash,
    pub account: Option<Account>,
    pub proof: Proof,
}

/// A light client's verified position, kept between sessions: a wallet saves it and resumes
/// from it instead of replaying finality from genesis. It is as trusted as the storage it
/// comes from (the wallet's own), never taken from a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trusted {
    pub chain_id: Hash,
    pub finalized: Anchor,
    pub epoch: u64,
    pub set: ValidatorSet,
    pub next_set_hash: Hash,
}

/// Most verified headers above the finalized block a client keeps (its view of the chain it
/// follows, linked by parent hash to the finalized block); the lowest go first.
pub const MAX_ABOVE: usize = 1024;

/// Most headers a client asks a relay for to link a header or a finality proof to its finalized
/// block (PROTOCOL.md §13.4). A finality proof further ahead is taken on the trust rules alone.
pub const MAX_LINKS: u64 = 1024;

/// The first slot at which a position trusting the set of `epoch` is past the weak-subjectivity
/// bound (PROTOCOL.md §13.2): the set's members may have unstaked just after it was
/// snapshotted, and be paid out from epoch `epoch + max(unbonding_epochs − 1, 2)` on.
pub fn trust_deadline_slot(epoch: u64, params: &Params) -> u64 {
    let wait = params.unbonding_epochs.saturating_sub(1).max(2);
    epoch.saturating_add(wait).saturating_mul(params.slots_per_epoch)
}

/// The fewest blocks behind finality a relay may keep (PROTOCOL.md §16.6, *What a relay keeps*):
/// the weak-subjectivity window in blocks (a light client may start from a checkpoint that old)
/// and the headers a light client links a finality proof to its finalized block with
/// ([`MAX_LINKS`]).
pub fn min_kept_blocks(params: &Params) -> u64 {
    trust_deadline_slot(1, params).max(MAX_LINKS)
}

/// The slashable pairs in two finality proofs' certificates (each against its `target_set`):
/// what a client that saw both, from sources that disagree, sends to relays. Both certificates
/// must have been verified (`from_finality_proof`, `accept_finality`): the pairs are not checked
/// again.
pub fn conflict_evidence(a: &FinalityProof, b: &FinalityProof) -> Vec<Evidence> {
    match (&a.target_set, &b.target_set) {
        (Some(a_set), Some(b_set)) => {
            double_votes((&a.certificate, a_set), (&b.certificate, b_set))
        }
        _ => Vec::new(),
    }
}

/// Starting again from a checkpoint that several sources agree on (§13.5), sans I/O: what a
/// client whose position is past the weak-subjectivity bound ([`LightClient::is_expired`])
/// does instead of following proofs. The caller asks each configured source for its newest
/// finality proof, gives each one that holds on its own
/// ([`LightClient::from_finality_proof`]) to [`Resync::proof`], fetches the headers
/// [`Resync::ask`] names, and acts on [`Resync::decide`].
#[derive(Debug, Clone)]
pub struct Resync {
    /// Sources that must agree: two, or every configured one if fewer.
    needed: usize,
    /// The newest proof of each source that sent one (by the caller's index of the source).
    answers: Vec<(usize, FinalityProof)>,
}

/// What a [`Resync`] concludes from the sources' headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not enough sources agree yet (some are gone or behind): ask again later.
    Wait,
    /// Start from `proof` (`from_finality_proof`): `agreed` have its source block at its height.
    Start { proof: Box<FinalityProof>, agreed: Vec<usize> },
    /// `source` has another block at `height`, with a valid proof of its own: conflicting
    /// finality. `evidence` holds the double votes of the two certificates when both proofs are
    /// at that height.
    Conflict { source: usize, height: u64, evidence: Vec<Evidence> },
}

impl Resync {
    /// A resync among `sources` configured sources.
    pub fn new(sources: usize) -> Self {
        Resync { needed: sources.min(2), answers: Vec::new() }
    }

    /// `source`'s newest proof, checked on its own; it replaces that source's earlier one.
    pub fn proof(&mut self, source: usize, proof: FinalityProof) {
        self.answers.retain(|(s, _)| *s != source);
        self.answers.push((source, proof));
    }

    /// Once enough sources sent a proof: the height of the lowest proof's source block, and the
    /// sources whose header at that height the caller must fetch. `None` while waiting.
    pub fn ask(&self) -> Option<(u64, Vec<usize>)> {
        if self.answers.len() < self.needed {
            return None;
        }
        let lowest = self.lowest()?;
        Some((lowest.source.height, self.answers.iter().map(|(s, _)| *s).collect()))
    }

    /// The verdict on the headers fetched for [`Resync::ask`]: each source's block hash at that
    /// height, or `None` for a source that had none (gone or behind: it does not count). Every
    /// source that answered must have the lowest proof's block; one that has another block is
    /// conflicting finality.
    pub fn decide(&self, headers: &[(usize, Option<Hash>)]) -> Verdict {
        let Some(lowest) = self.lowest() else { return Verdict::Wait };
        let (height, hash) = (lowest.source.height, lowest.source.hash());
        let mut agreed = Vec::new();
        for (source, theirs) in headers {
            match theirs {
                Some(theirs) if *theirs == hash => agreed.push(*source),
                Some(_) => {
                    let evidence = self
                        .answers
                        .iter()
                        .find(|(s, p)| s == source && p.source.height == height)
                        .map(|(_, p)| conflict_evidence(lowest, p))
                        .unwrap_or_default();
                    return Verdict::Conflict { source: *source, height, evidence };
                }
                None => {}
            }
        }
        if agreed.len() < self.needed {
            return Verdict::Wait;
        }
        Verdict::Start { proof: Box::new(lowest.clone()), agreed }
    }

    fn lowest(&self) -> Option<&FinalityProof> {
        self.answers.iter().map(|(_, p)| p).min_by_key(|p| p.source.height)
    }
}

/// Most headers a client fetches to show that a block below its finalized one is final
/// ([`verify_ancestry`] from it up to the finalized block).
pub const MAX_ANCESTRY: u64 = 4_096;

/// Where a relay's block stands for a client ([`LightClient::locate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Located {
    /// The finalized block itself: final.
    Finalized(Anchor),
    /// A verified header above it: not final.
    Head(Anchor),
    /// Above the finalized block and not yet verified: check it as a head (`accept_header`,
    /// with the links it asks for), after catching up finality if the caller wants it final.
    AboveFinalized,
    /// At or below the finalized height: final if `count` headers from `from` link by hash to
    /// the finalized block ([`verify_ancestry`]).
    Below { from: u64, count: u64 },
    /// Further below than [`MAX_ANCESTRY`] headers: not checked.
    TooDeep { count: u64 },
}

/// Epochs without new finality after which a client says finality has stalled
/// ([`LightClient::is_stalled`]); honest finality trails the head by two blocks.
pub const STALLED_AFTER_EPOCHS: u64 = 3;

/// Two finalized blocks that conflict: the client's and one a valid certificate finalizes on
/// another branch. Only more than 1/3 of a set signing conflicting votes makes this possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The client's finalized block.
    pub ours: Anchor,
    /// The conflicting block.
    pub theirs: Anchor,
    /// Slashable vote pairs read off the two certificates (keys that signed both, with votes
    /// that conflict, §11): what the wallet sends to relays. Empty when the offending votes are
    /// further down the justification chains than the two certificates.
    pub evidence: Vec<Evidence>,
}

/// A verified header above the finalized block, with its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Above {
    anchor: Anchor,
    parent: Hash,
}

/// A light client: verified finalized block, verified head, and the validator sets to check more.
#[derive(Debug, Clone)]
pub struct LightClient {
    chain_id: Hash,
    params: Params,
    finalized: Anchor,
    /// The certificate that finalized `finalized` (signed by `set`), kept for evidence.
    certificate: Option<Certificate>,
    head: Anchor,
    /// Verified headers that descend from `finalized`, sorted by height then hash (at most
    /// [`MAX_ABOVE`], so the lowest go first and pruning walks parents before children). A
    /// vector, not a B-tree: small, and the wallet's `.wasm` has a size budget.
    above: Vec<Above>,
    epoch: u64,
    set: ValidatorSet,
    next_hash: Hash,
    conflict: Option<Conflict>,
}

impl LightClient {
    /// Starts at genesis, which the client trusts because it was built into it.
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, LightError> {
        let (chain, state, _) = genesis.build().map_err(LightError::Genesis)?;
        let anchor = Anchor {
            hash: chain.id,
            height: 0,
            slot: 0,
            state_root: state.state_root(),
            tx_root: Hash::ZERO,
        };
        Ok(LightClient {
            chain_id: chain.id,
            params: chain.params,
            finalized: anchor,
            certificate: None,
            head: anchor,
            above: Vec::new(),
            epoch: 0,
            next_hash: state.meta.next.hash(),
            set: state.meta.current,
            conflict: None,
        })
    }

    /// Starts from a finality proof taken on the word of the sources that served it (a recent
    /// checkpoint when the client's own position is past the weak-subjectivity bound, §13.2):
    /// nothing the client held vouches for it, so callers require several independent sources
    /// to agree on it first. The proof must hold together: `target` the child of `source`, its
    /// `target_set` the one the target header commits to, the elected proposer's signature, and
    /// a certificate for the link by more than 2/3 of that set. The client is then final at
    /// `source`, trusting `target_set`.
    pub fn from_finality_proof(
        chain_id: Hash,
        params: Params,
        p: &FinalityProof,
    ) -> Result<Self, LightError> {
        params.validate().map_err(|e| LightError::Genesis(GenesisError::Params(e)))?;
        let t = &p.target.header;
        check_child(p)?;
        let Some(set) = p.target_set.clone() else {
            return Err(LightError::WrongValidatorSet);
        };
        let epoch = params.epoch_of(t.slot);
        let mut client = LightClient {
            chain_id,
            params,
            finalized: Anchor::of(&p.source),
            certificate: None,
            head: Anchor::of(&p.source),
            above: Vec::new(),
            epoch,
            set,
            next_hash: t.next_validators,
            conflict: None,
        };
        let set = client.set.clone();
        client.check_signed(&p.target, &set)?;
        check_certified_link(p, epoch)?;
        p.certificate.verify(&client.chain_id, &set).map_err(LightError::Certificate)?;
        client.certificate = Some(p.certificate.clone());
        client.remember(core::iter::once(t));
        Ok(client)
    }

    /// Resumes from a position saved with [`LightClient::trusted`]; `genesis` supplies the
    /// chain's parameters and must be the chain the position belongs to.
    pub fn resume(genesis: &Genesis, trusted: &Trusted) -> Result<Self, LightError> {
        genesis.params.validate().map_err(|e| LightError::Genesis(GenesisError::Params(e)))?;
        let chain = genesis.chain();
        if chain.id != trusted.chain_id {
            return Err(LightError::WrongChain);
        }
        Ok(LightClient {
            chain_id: chain.id,
            params: chain.params,
            finalized: trusted.finalized,
            certificate: None,
            head: trusted.finalized,
            above: Vec::new(),
            epoch: trusted.epoch,
            set: trusted.set.clone(),
            next_hash: trusted.next_set_hash,
            conflict: None,
        })
    }

    /// The verified position to save for [`LightClient::resume`]: the finalized anchor and the
    /// sets needed to go on from it.
    pub fn trusted(&self) -> Trusted {
        Trusted {
            chain_id: self.chain_id,
            finalized: self.finalized,
            epoch: self.epoch,
            set: self.set.clone(),
            next_set_hash: self.next_hash,
        }
    }

    pub fn chain_id(&self) -> Hash {
        self.chain_id
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn finalized(&self) -> &Anchor {
        &self.finalized
    }

    /// The highest verified header that descends from the finalized block (at least the
    /// finalized one). Not final: its state is shown as "in block N, not final yet".
    pub fn head(&self) -> &Anchor {
        &self.head
    }

    /// Where a block a relay names (by its header: `height`, `hash`) stands for this client, so
    /// the caller knows what to fetch before a proof against it can be checked (the sans-I/O
    /// half of reading an account or an inclusion at a relay's block).
    pub fn locate(&self, height: u64, hash: &Hash) -> Located {
        let finalized = &self.finalized;
        if *hash == finalized.hash {
            return Located::Finalized(*finalized);
        }
        if height > finalized.height {
            return match self.find(height, hash) {
                Some(a) => Located::Head(a.anchor),
                None => Located::AboveFinalized,
            };
        }
        let count = finalized.height.saturating_sub(height).saturating_add(1);
        if count > MAX_ANCESTRY {
            Located::TooDeep { count }
        } else {
            Located::Below { from: height, count }
        }
    }

    /// The conflicting finality that stopped the client, if it has seen one.
    pub fn conflict(&self) -> Option<&Conflict> {
        self.conflict.as_ref()
    }

    /// Whether the client's trusted position is past the weak-subjectivity bound at `now_slot`
    /// ([`trust_deadline_slot`] of its epoch): the stake of the set it trusts may have been paid
    /// out, and its keys may sign a false history at no cost. A client past it must not follow
    /// proofs from there; it starts again from a recent checkpoint that several independent
    /// sources agree on ([`LightClient::from_finality_proof`]).
    pub fn is_expired(&self, now_slot: u64) -> bool {
        now_slot >= trust_deadline_slot(self.epoch, &self.params)
    }

    /// Whether the finalized block is more than [`STALLED_AFTER_EPOCHS`] epochs behind
    /// `now_slot` (the caller's clock): what a wallet shows as settled may be out of date, and a
    /// new payment will not be final until finality resumes (or the client catches up).
    pub fn is_stalled(&self, now_slot: u64) -> bool {
        let window = self.params.slots_per_epoch.saturating_mul(STALLED_AFTER_EPOCHS);
        now_slot.saturating_sub(self.finalized.slot) > window
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn validator_set(&self) -> &ValidatorSet {
        &self.set
    }

    /// Hash of the set expected for the next epoch with blocks.
    pub fn next_set_hash(&self) -> Hash {
        self.next_hash
    }

    /// The set that governs `epoch`, given an optional set supplied by a relay, and whether
    /// taking it skips epochs (its hash is not linked to the client's; PROTOCOL.md §13.4 step 3).
    fn set_for<'a>(
        &'a self,
        epoch: u64,
        supplied: Option<&'a ValidatorSet>,
    ) -> Result<(&'a ValidatorSet, bool), LightError> {
        if epoch == self.epoch {
            return Ok((&self.set, false));
        }
        match supplied {
            Some(set) if epoch > self.epoch => {
                if set.hash() == self.next_hash {
                    Ok((set, false))
                } else if epoch > self.epoch.saturating_add(1) {
                    // Further ahead than the next epoch, the set may have changed in between:
                    // it cannot be linked by hash, only trusted by who signed (step 6).
                    Ok((set, true))
                } else {
                    Err(LightError::WrongValidatorSet)
                }
            }
            _ => Err(LightError::EpochNotKnown { epoch, known: self.epoch }),
        }
    }

    /// The stake of the client's trusted set held by the keys that signed `certificate` (named
    /// by index into `set`), which must be more than 1/3 of the trusted set's total. Counted by
    /// key, with the trusted set's stakes; an index outside `set` counts nothing here and is
    /// refused by the certificate check after.
    fn check_trust(&self, certificate: &Certificate, set: &ValidatorSet) -> Result<(), LightError> {
        let trusted = &self.set;
        let signed = certificate
            .signatures
            .iter()
            .filter_map(|(index, _)| set.members().get(usize::from(*index)))
            .filter_map(|m| trusted.index_of(&m.key).and_then(|i| trusted.members().get(i)))
            .fold(0u128, |acc, m| acc.saturating_add(u128::from(m.stake)));
        let total = trusted.total_stake();
        // In 128 bits: at most 1000 signers (indices are not yet known to be distinct), and
        // 3 times a u64 sum cannot overflow.
        if signed.saturating_mul(3) > u128::from(total) {
            Ok(())
        } else {
            let signed = u64::try_from(signed).unwrap_or(u64::MAX);
            Err(LightError::InsufficientTrust { signed, total })
        }
    }

    fn check_signed(&self, sh: &SignedHeader, set: &ValidatorSet) -> Result<(), LightError> {
        let h = &sh.header;
        if h.validators != set.hash() {
            return Err(LightError::WrongValidatorSet);
        }
        match set.proposer(h.slot) {
            Some(m) if m.key == h.proposer => {}
            _ => return Err(LightError::WrongProposer),
        }
        sh.verify_signature(&self.chain_id).map_err(|_| LightError::BadProposerSignature)
    }

    /// The slot of the block `hash` at `height` if it is the finalized block or a verified
    /// header above it.
    fn known(&self, height: u64, hash: &Hash) -> Option<u64> {
        if *hash == self.finalized.hash && height == self.finalized.height {
            return Some(self.finalized.slot);
        }
        self.find(height, hash).map(|a| a.anchor.slot)
    }

    /// The verified header `hash` at `height` above the finalized block (`above` is sorted by
    /// height then hash: a binary search).
    fn find(&self, height: u64, hash: &Hash) -> Option<&Above> {
        let key = |a: &Above| (a.anchor.height, a.anchor.hash);
        let i = self.above.binary_search_by_key(&(height, *hash), key).ok()?;
        self.above.get(i)
    }

    /// Links `top` down through `links` (the headers just below it, lowest first) by parent
    /// hash, height and slot to a block the client knows is, or descends from, its finalized
    /// block (PROTOCOL.md §13.4, "linking").
    fn link(&self, links: &[SignedHeader], top: &Header) -> Result<Linked, LightError> {
        let mut lowest = top;
        for parent in links.iter().rev().map(|l| &l.header) {
            if self.known(lowest.height.wrapping_sub(1), &lowest.parent).is_some() {
                break; // the rest is below a known block (finality moved while they were fetched)
            }
            let linked = lowest.parent == parent.hash()
                && lowest.height == parent.height.saturating_add(1)
                && lowest.slot > parent.slot;
            if !linked {
                return Err(LightError::NotLinked);
            }
            lowest = parent;
        }
        if let Some(slot) = self.known(lowest.height.wrapping_sub(1), &lowest.parent) {
            return if slot < lowest.slot { Ok(Linked::Known) } else { Err(LightError::NotLinked) };
        }
        let finalized = self.finalized.height;
        if lowest.height == finalized.saturating_add(1) {
            // Its parent is at the finalized height and is not the finalized block.
            return Ok(Linked::Conflicts);
        }
        if !links.is_empty() || lowest.height <= finalized {
            return Err(LightError::NotLinked);
        }
        if top.height.saturating_sub(finalized) > MAX_LINKS {
            return Ok(Linked::TooFar);
        }
        Err(LightError::UnknownParent {
            from: finalized.saturating_add(1),
            to: top.height.saturating_sub(1),
        })
    }

    /// The links above the finalized height: those below it were asked for before finality
    /// moved, and are not needed (nor checkable, in an epoch the client has left).
    fn above_finalized<'a>(&self, links: &'a [SignedHeader]) -> &'a [SignedHeader] {
        let start = links.iter().position(|l| l.header.height > self.finalized.height);
        links.get(start.unwrap_or(links.len())..).unwrap_or_default()
    }

    /// Adds verified headers that descend from the finalized block, then drops the lowest past
    /// [`MAX_ABOVE`].
    fn remember<'a>(&mut self, headers: impl Iterator<Item = &'a Header>) {
        for h in headers {
            let anchor = Anchor::of(h);
            let key = |a: &Above| (a.anchor.height, a.anchor.hash);
            if let Err(i) = self.above.binary_search_by_key(&(anchor.height, anchor.hash), key) {
                self.above.insert(i, Above { anchor, parent: h.parent });
            }
            if anchor.height > self.head.height {
                self.head = anchor;
            }
        }
        let excess = self.above.len().saturating_sub(MAX_ABOVE);
        self.above.drain(..excess);
    }

    /// Verifies a header that may become the head: not from a slot after `now_slot` (the slot
    /// the caller's clock is in, one slot of skew allowed), its height at most its slot, the
    /// right set, the elected proposer, a valid signature — and, with `links` (the headers just
    /// below it, lowest first, each verified the same way), linked by parent hash to the
    /// finalized block. A header is *not* final: show its state as "in block N, not final yet",
    /// never in place of the finalized anchor's. It becomes the head if it is the highest.
    pub fn accept_header(
        &mut self,
        sh: &SignedHeader,
        links: &[SignedHeader],
        now_slot: u64,
    ) -> Result<Anchor, LightError> {
        if self.conflict.is_some() {
            return Err(LightError::Halted);
        }
        let h = &sh.header;
        if h.height <= self.finalized.height {
            return Err(LightError::NotNewer {
                height: h.height,
                finalized: self.finalized.height,
            });
        }
        let now = now_slot.saturating_add(1);
        if h.slot > now {
            return Err(LightError::FromTheFuture { slot: h.slot, now: now_slot });
        }
        if h.height > h.slot {
            return Err(LightError::Implausible { height: h.height, slot: h.slot });
        }
        if links.len() as u64 > MAX_LINKS {
            return Err(LightError::NotLinked);
        }
        let links = self.above_finalized(links);
        for signed in links.iter().chain(core::iter::once(sh)) {
            let (set, _) = self.set_for(self.params.epoch_of(signed.header.slot), None)?;
            self.check_signed(signed, set)?;
        }
        match self.link(links, h)? {
            Linked::Known => {}
            Linked::Conflicts => return Err(LightError::OffFinalized),
            Linked::TooFar => {
                return Err(LightError::TooFarAhead {
                    height: h.height,
                    finalized: self.finalized.height,
                });
            }
        }
        self.remember(links.iter().map(|l| &l.header).chain(core::iter::once(h)));
        Ok(Anchor::of(h))
    }

    /// Verifies a finality proof and moves the finalized anchor to its source. Checks, in order:
    /// newer than the current anchor (or at its height: a conflict candidate), child link,
    /// validator set of the target's epoch, target's proposer and signature, certificate link,
    /// the source's descent from the finalized block (by `links`, the headers just below the
    /// source, lowest first, when its parent is not known), then — only for a set not linked by
    /// hash, i.e. a skip over epochs — signers holding more than 1/3 of the trusted set's stake,
    /// and last the certificate's signatures and stake (PROTOCOL.md §13.4). A valid proof that
    /// conflicts with the finalized block stops the client: [`LightError::ConflictingFinality`],
    /// then [`LightError::Halted`] for everything after.
    pub fn accept_finality(
        &mut self,
        p: &FinalityProof,
        links: &[SignedHeader],
    ) -> Result<Anchor, LightError> {
        if self.conflict.is_some() {
            return Err(LightError::Halted);
        }
        let (s, t) = (&p.source, &p.target.header);
        let sibling = s.height == self.finalized.height && s.hash() != self.finalized.hash;
        if s.height <= self.finalized.height && !sibling {
            return Err(LightError::NotNewer {
                height: s.height,
                finalized: self.finalized.height,
            });
        }
        check_child(p)?;
        let epoch = self.params.epoch_of(t.slot);
        let (set, skips) = self.set_for(epoch, p.target_set.as_ref())?;
        let set = set.clone();
        self.check_signed(&p.target, &set)?;
        check_certified_link(p, epoch)?;
        // Before any signature: a skip that cannot be trusted, or a proof that cannot be linked
        // yet, costs none.
        if skips {
            self.check_trust(&p.certificate, &set)?;
        }
        let links = self.above_finalized(links);
        let linked = if sibling { Linked::Conflicts } else { self.link(links, s)? };
        p.certificate.verify(&self.chain_id, &set).map_err(LightError::Certificate)?;
        if linked == Linked::Conflicts {
            let evidence = self.certificate.as_ref().map_or_else(Vec::new, |ours| {
                double_votes((ours, &self.set), (&p.certificate, &set))
            });
            self.conflict =
                Some(Conflict { ours: self.finalized, theirs: Anchor::of(s), evidence });
            return Err(LightError::ConflictingFinality { height: s.height });
        }
        let anchor = Anchor::of(s);
        self.finalized = anchor;
        self.certificate = Some(p.certificate.clone());
        self.epoch = epoch;
        self.set = set;
        self.next_hash = t.next_validators;
        // Keep what descends from the new finalized block; its child `t` is verified too.
        // By height, so each parent is decided before its children.
        let order = core::mem::take(&mut self.above);
        self.head = anchor;
        for a in order {
            let parent_height = a.anchor.height.wrapping_sub(1);
            if a.anchor.height > anchor.height && self.known(parent_height, &a.parent).is_some() {
                self.above.push(a);
                if a.anchor.height > self.head.height {
                    self.head = a.anchor;
                }
            }
        }
        self.remember(core::iter::once(t));
        Ok(anchor)
    }
}

/// Step 2 of `accept_finality` (PROTOCOL.md §13.4): the target is the source's child.
fn check_child(p: &FinalityProof) -> Result<(), LightError> {
    let (s, t) = (&p.source, &p.target.header);
    if t.parent != s.hash() || t.height != s.height.saturating_add(1) {
        return Err(LightError::NotChild);
    }
    Ok(())
}

/// Step 5: the certificate is for the link `source -> target`, voted in the target's `epoch`.
fn check_certified_link(p: &FinalityProof, epoch: u64) -> Result<(), LightError> {
    let (s, t) = (&p.source, &p.target.header);
    let v = &p.certificate.vote;
    let link_ok = v.epoch == epoch
        && v.source == Checkpoint { height: s.height, hash: s.hash() }
        && v.target == Checkpoint { height: t.height, hash: t.hash() };
    if link_ok { Ok(()) } else { Err(LightError::CertificateMismatch) }
}

/// How a header links to the client's finalized block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Linked {
    /// Through blocks the client knows: it descends from the finalized block.
    Known,
    /// Its chain has another block at the finalized height.
    Conflicts,
    /// More than [`MAX_LINKS`] above the finalized block, with no links given.
    TooFar,
}

/// The slashable pairs in two verified certificates: keys that signed both, for votes that
/// conflict.
fn double_votes(
    (a, a_set): (&Certificate, &ValidatorSet),
    (b, b_set): (&Certificate, &ValidatorSet),
) -> Vec<Evidence> {
    if !a.vote.conflicts_with(&b.vote) {
        return Vec::new();
    }
    let mut evidence = Vec::new();
    for (i, a_sig) in &a.signatures {
        let Some(key) = a_set.members().get(usize::from(*i)).map(|m| m.key.clone()) else {
            continue;
        };
        let found = b
            .signatures
            .iter()
            .find(|(j, _)| b_set.members().get(usize::from(*j)).is_some_and(|m| m.key == key));
        let Some((_, b_sig)) = found else { continue };
        // Both certificates were verified against their sets: each signature is the key's.
        let x = SignedVote { vote: a.vote, validator: key.clone(), signature: *a_sig };
        let y = SignedVote { vote: b.vote, validator: key, signature: *b_sig };
        evidence.extend(Evidence::double_vote(x, y));
    }
    evidence
}

/// Checks that `headers`, consecutive in height and each the parent of the next, end at the
/// verified block `descendant`, and returns the anchor of the first. With a finalized anchor the
/// client verified (finality never moves back, so an earlier one still holds), the first block is
/// final too: that is how a transaction included below the finalized height is shown to be final,
/// with no signature to check — the hashes carry the proof.
pub fn verify_ancestry(headers: &[Header], descendant: &Anchor) -> Result<Anchor, LightError> {
    let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
        return Err(LightError::NotLinked);
    };
    if last.hash() != descendant.hash {
        return Err(LightError::NotLinked);
    }
    for pair in headers.windows(2) {
        let [parent, child] = pair else { return Err(LightError::NotLinked) };
        if child.parent != parent.hash() || child.height != parent.height.saturating_add(1) {
            return Err(LightError::NotLinked);
        }
    }
    Ok(Anchor::of(first))
}

/// Verifies `proof` for `address` under `state_root_`: the account, or `None` if it does not
/// exist.
pub fn verify_account(
    state_root_: &Hash,
    address: &Address,
    proof: &AccountProof,
) -> Result<Option<Account>, LightError> {
    if state_root(&proof.accounts_root, &proof.meta_hash) != *state_root_ {
        return Err(LightError::StateRootMismatch);
    }
    let bytes = proof.account.as_ref().map(Encode::to_bytes);
    tree::verify(&proof.accounts_root, &state_key(address), bytes.as_deref(), &proof.proof)
        .map_err(LightError::AccountProof)?;
    Ok(proof.account.clone())
}

/// Verifies that `meta` is the chain meta of the state whose root is `state_root_`, given that
/// state's `accounts_root`: the state root commits to both (§6). What a wallet reads the
/// registry (whether its key is registered, `state::check_registration`), the validator sets or
/// the supply from.
///
/// `meta` is the encoding as sent, hashed as it is (`ChainMeta::hash` of the decoded value is
/// the same hash: the encoding is canonical); read its registry with `state::registry_of`.
pub fn verify_meta(
    state_root_: &Hash,
    accounts_root: &Hash,
    meta: &[u8],
) -> Result<(), LightError> {
    if state_root(accounts_root, &tagged_hash(Domain::ChainMeta, &[meta])) != *state_root_ {
        return Err(LightError::StateRootMismatch);
    }
    Ok(())
}

/// Verifies a checkpoint a node starts from (PROTOCOL.md §16.11): `block` is the trusted block
/// `hash`, and `state` is the state its header commits to — its tip that block, its accounts
/// root and meta making the header's state root. The trees under the state's roots are then
/// downloaded node by node, each checked against the hash that names it.
pub fn verify_checkpoint(hash: &Hash, block: &Block, state: &ChainState) -> Result<(), LightError> {
    let header = &block.header.header;
    if block.hash() != *hash {
        return Err(LightError::WrongCheckpoint { what: "block" });
    }
    let tip = &state.tip;
    if (tip.hash, tip.height, tip.slot) != (*hash, header.height, header.slot) {
        return Err(LightError::WrongCheckpoint { what: "state's tip" });
    }
    if state.state_root() != header.state_root {
        return Err(LightError::WrongCheckpoint { what: "state root" });
    }
    Ok(())
}

/// Verifies that the transaction `tx_id` is in the block whose header is `anchor`.
pub fn verify_inclusion(
    anchor: &Anchor,
    tx_id: &Hash,
    proof: &InclusionProof,
) -> Result<(), LightError> {
    merkle::verify(&anchor.tx_root, tx_id, proof).map_err(LightError::Inclusion)
}

/// Full-node side: the proof of `address` in `state`.
pub fn prove_account<S: NodeStore + ?Sized>(
    store: &S,
    state: &ChainState,
    address: &Address,
) -> Result<AccountProof, TreeError> {
    prove_account_at(store, state.accounts_root, state.meta.hash(), address)
}

/// As [`prove_account`], from the state's two roots alone (`accounts_root` and the meta's
/// hash): what a relay reads off its node's lock once it knows them.
pub fn prove_account_at<S: NodeStore + ?Sized>(
    store: &S,
    accounts_root: Hash,
    meta_hash: Hash,
    address: &Address,
) -> Result<AccountProof, TreeError> {
    let (value, proof) = tree::prove(store, &accounts_root, &state_key(address))?;
    let account = match value {
        None => None,
        Some(bytes) => Some(Account::from_bytes(&bytes).map_err(|_| TreeError::Corrupt {
            hash: state_key(address),
            reason: "account does not decode",
        })?),
    };
    Ok(AccountProof { accounts_root, meta_hash, account, proof })
}

impl Encode for AccountProof {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.accounts_root.encode_to(out);
        self.meta_hash.encode_to(out);
        out.put_option(&self.account);
        self.proof.encode_to(out);
    }
}

impl Decode for AccountProof {
    const MAX_SIZE: usize = 64 + 1 + Account::MAX_SIZE + Proof::MAX_SIZE;
    const NAME: &'static str = "account proof";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AccountProof {
            accounts_root: Hash::decode_from(r)?,
            meta_hash: Hash::decode_from(r)?,
            account: r.option("account", Account::decode_from)?,
            proof: Proof::decode_from(r)?,
        })
    }
}

impl Encode for Anchor {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.hash.encode_to(out);
        out.put_u64(self.height);
        out.put_u64(self.slot);
        self.state_root.encode_to(out);
        self.tx_root.encode_to(out);
    }
}

impl Decode for Anchor {
    const MAX_SIZE: usize = 32 + 8 + 8 + 32 + 32;
    const NAME: &'static str = "anchor";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Anchor {
            hash: Hash::decode_from(r)?,
            height: r.u64()?,
            slot: r.u64()?,
            state_root: Hash::decode_from(r)?,
            tx_root: Hash::decode_from(r)?,
        })
    }
}

impl Encode for Trusted {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.chain_id.encode_to(out);
        self.finalized.encode_to(out);
        out.put_u64(self.epoch);
        self.set.encode_to(out);
        self.next_set_hash.encode_to(out);
    }
}

impl Decode for Trusted {
    const MAX_SIZE: usize = 32 + Anchor::MAX_SIZE + 8 + ValidatorSet::MAX_SIZE + 32;
    const NAME: &'static str = "trusted position";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Trusted {
            chain_id: Hash::decode_from(r)?,
            finalized: Anchor::decode_from(r)?,
            epoch: r.u64()?,
            set: ValidatorSet::decode_from(r)?,
            next_set_hash: Hash::decode_from(r)?,
        })
    }
}

impl Encode for FinalityProof {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.source.encode_to(out);
        self.target.encode_to(out);
        self.certificate.encode_to(out);
        out.put_option(&self.target_set);
    }
}

impl Decode for FinalityProof {
    const MAX_SIZE: usize = Header::MAX_SIZE
        + SignedHeader::MAX_SIZE
        + Certificate::MAX_SIZE
        + 1
        + ValidatorSet::MAX_SIZE;
    const NAME: &'static str = "finality proof";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FinalityProof {
            source: Header::decode_from(r)?,
            target: SignedHeader::decode_from(r)?,
            certificate: Certificate::decode_from(r)?,
            target_set: r.option("validator set", ValidatorSet::decode_from)?,
        })
    }
}
