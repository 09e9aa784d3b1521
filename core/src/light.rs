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
use crate::block::{Header, SignedHeader};
use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::finality::{Certificate, CertificateError, Checkpoint};
use crate::genesis::{Genesis, GenesisError};
use crate::hash::Hash;
use crate::merkle::{self, InclusionError, InclusionProof};
use crate::params::Params;
use crate::pos::ValidatorSet;
use crate::state::{ChainState, state_root};
use crate::tree::{self, NodeStore, Proof, ProofError, TreeError};
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

/// A light client: verified finalized block, verified head, and the validator sets to check more.
#[derive(Debug, Clone)]
pub struct LightClient {
    chain_id: Hash,
    params: Params,
    finalized: Anchor,
    head: Anchor,
    epoch: u64,
    set: ValidatorSet,
    next_hash: Hash,
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
            head: anchor,
            epoch: 0,
            next_hash: state.meta.next.hash(),
            set: state.meta.current,
        })
    }

    /// Starts at a finalized header trusted out of band (a checkpoint), with its epoch's set.
    pub fn from_checkpoint(
        chain_id: Hash,
        params: Params,
        header: &Header,
        set: ValidatorSet,
    ) -> Result<Self, LightError> {
        if set.hash() != header.validators {
            return Err(LightError::WrongValidatorSet);
        }
        let anchor = Anchor::of(header);
        Ok(LightClient {
            chain_id,
            epoch: params.epoch_of(header.slot),
            params,
            finalized: anchor,
            head: anchor,
            set,
            next_hash: header.next_validators,
        })
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
            head: trusted.finalized,
            epoch: trusted.epoch,
            set: trusted.set.clone(),
            next_hash: trusted.next_set_hash,
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

    /// The newest header with a verified proposer signature (at least the finalized one).
    pub fn head(&self) -> &Anchor {
        &self.head
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

    /// Verifies a header of the current epoch: right set, elected proposer, valid signature.
    /// On success it becomes the head if it is higher. A header is *not* final: show its state
    /// as "head", and the finalized anchor's as settled.
    pub fn accept_header(&mut self, sh: &SignedHeader) -> Result<Anchor, LightError> {
        let h = &sh.header;
        if h.height <= self.finalized.height {
            return Err(LightError::NotNewer {
                height: h.height,
                finalized: self.finalized.height,
            });
        }
        let (set, _) = self.set_for(self.params.epoch_of(h.slot), None)?;
        self.check_signed(sh, set)?;
        let anchor = Anchor::of(h);
        if anchor.height > self.head.height {
            self.head = anchor;
        }
        Ok(anchor)
    }

    /// Verifies a finality proof and moves the finalized anchor to its source. Checks, in order:
    /// newer than the current anchor, child link, validator set of the target's epoch, target's
    /// proposer and signature, certificate link, then — only for a set not linked by hash, i.e. a
    /// skip over epochs — signers holding more than 1/3 of the trusted set's stake, and last the
    /// certificate's signatures and stake (PROTOCOL.md §13.4).
    pub fn accept_finality(&mut self, p: &FinalityProof) -> Result<Anchor, LightError> {
        let (s, t) = (&p.source, &p.target.header);
        if s.height <= self.finalized.height {
            return Err(LightError::NotNewer {
                height: s.height,
                finalized: self.finalized.height,
            });
        }
        if t.parent != s.hash() || t.height != s.height.saturating_add(1) {
            return Err(LightError::NotChild);
        }
        let epoch = self.params.epoch_of(t.slot);
        let (set, skips) = self.set_for(epoch, p.target_set.as_ref())?;
        let set = set.clone();
        self.check_signed(&p.target, &set)?;
        let v = &p.certificate.vote;
        let link_ok = v.epoch == epoch
            && v.source == Checkpoint { height: s.height, hash: s.hash() }
            && v.target == Checkpoint { height: t.height, hash: t.hash() };
        if !link_ok {
            return Err(LightError::CertificateMismatch);
        }
        // Before the signatures: a skip that cannot be trusted costs no signature check.
        if skips {
            self.check_trust(&p.certificate, &set)?;
        }
        p.certificate.verify(&self.chain_id, &set).map_err(LightError::Certificate)?;
        let anchor = Anchor::of(s);
        self.finalized = anchor;
        if self.head.height < t.height {
            self.head = Anchor::of(t);
        }
        self.epoch = epoch;
        self.set = set;
        self.next_hash = t.next_validators;
        Ok(anchor)
    }
}

/// Verifies `proof` for `address` under `state_root`: the account, or `None` if it does not
/// exist.
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
