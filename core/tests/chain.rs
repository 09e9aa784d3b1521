//! A whole chain run in memory: blocks, epochs, votes, finality, staking, slashing, with supply
//! conservation checked after every block, and a light client following it.

use memecoin_core::test_utils;

use memecoin_core::account::Unbonding;
use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::encode::{Decode, Encode};
use memecoin_core::finality::{Certificate, Checkpoint, Vote};
use memecoin_core::hash::Hash;
use memecoin_core::header::Header;
use memecoin_core::light::{self, FinalityProof, LightClient, LightError};
use memecoin_core::merkle;
use memecoin_core::params::Params;
use memecoin_core::pos::{HashChain, Member, ValidatorSet};
use memecoin_core::slashing::Evidence;
use memecoin_core::state::{self, BlockError, Signatures, TxError};
use memecoin_core::tx::TxKind;
use test_utils::{Net, key, secret};

#[test]
fn finality_advances_across_epochs_and_blocks_round_trip() {
    let mut net = Net::new(4, 3);
    for i in 0..40u64 {
        let to = net.user_address(((i + 1) % 3) as usize);
        let from = (i % 3) as usize;
        let nonce = net.nonce(&net.users[from].clone());
        let tx = net.transfer(from, to, 1_000 + i, nonce);
        let block = net.produce(vec![tx]);
        assert_eq!(Block::from_bytes(&block.to_bytes()), Ok(block.clone()));
    }
    let s = &net.state;
    assert!(s.meta.epoch >= 4, "crossed epochs: {}", s.meta.epoch);
    assert_eq!(s.meta.justified.height, s.tip.height - 1, "each block justifies its parent");
    assert_eq!(s.meta.finalized.height, s.tip.height - 2, "finality lags two blocks");
    assert_eq!(s.meta.supply.issued, 40 * net.chain.params.block_reward);
}

#[test]
fn missed_slots_do_not_stop_the_chain() {
    let mut net = Net::new(4, 1);
    let offline = net.validators[0].public_key();
    net.offline.insert(*offline.as_bytes());
    // 3 of 4 validators (75% of stake) still justify and finalize.
    net.voters = vec![1, 2, 3];
    for _ in 0..30 {
        net.produce(vec![]);
    }
    assert!(net.blocks.iter().all(|b| b.header.header.proposer != offline));
    assert!(net.state.tip.slot > net.state.tip.height, "some slots were skipped");
    assert_eq!(net.state.meta.finalized.height, net.state.tip.height - 2);
}

#[test]
fn finality_stops_below_two_thirds_and_resumes() {
    let mut net = Net::new(3, 1);
    net.voters = vec![0, 1]; // exactly 2/3 is not more than 2/3
    for _ in 0..5 {
        net.produce(vec![]);
    }
    assert_eq!(net.state.meta.finalized.height, 0);
    net.voters = vec![0, 1, 2];
    for _ in 0..3 {
        net.produce(vec![]);
    }
    assert_eq!(net.state.meta.finalized.height, net.state.tip.height - 2);
}

#[test]
fn stake_joins_the_set_after_a_delay_and_unstake_pays_out_later() {
    let mut net = Net::new(3, 2);
    let staker = net.users[0].clone();
    let address = net.user_address(0);
    let commitment = HashChain::new(secret(&staker), test_utils::CHAIN_LENGTH).commitment();
    let amount = 50_000_000_000;
    let stake = net.tx(&staker, 0, TxKind::Stake { amount, commitment });
    net.produce(vec![stake]);
    let staked_epoch = net.state.meta.epoch;
    assert_eq!(net.account(&address).stake, amount);
    // Not in the next set yet: stake takes effect at the boundary after the next one.
    assert!(net.state.meta.next.index_of(&staker.public_key()).is_none());
    while net.state.meta.epoch < staked_epoch + 2 {
        net.produce(vec![]);
    }
    assert!(net.state.meta.current.index_of(&staker.public_key()).is_some());

    let unstake = net.tx(&staker, 1, TxKind::Unstake { amount });
    net.produce(vec![unstake]);
    let epoch = net.state.meta.epoch;
    let release_epoch = epoch + net.chain.params.unbonding_epochs;
    assert_eq!(net.account(&address).unbonding, vec![Unbonding { amount, release_epoch }]);
    let before = net.account(&address).balance;
    let start = net.blocks.len();
    // Paid at the first block of an epoch ≥ release_epoch where no set that may still sign
    // (previous, current, next) counts the stake.
    while !net.account(&address).unbonding.is_empty() {
        assert!(net.state.meta.epoch <= release_epoch + 2, "payout is late");
        net.produce(vec![]);
    }
    assert!(net.state.meta.epoch >= release_epoch);
    assert!(!counted_anywhere(&net, &staker.public_key()));
    let acc = net.account(&address);
    // The staker may still have proposed (and earned rewards) while it stayed in the sets.
    let proposed = net.blocks[start..]
        .iter()
        .filter(|b| b.header.header.proposer == staker.public_key())
        .count();
    assert_eq!(acc.balance, before + amount + proposed as u64 * net.chain.params.block_reward);
}

/// Whether a stake carries a first commitment follows the registry (core's
/// `check_registration`, which the wallet asks with its registration proven), not the stake an
/// account shows: right after a full unstake the key is still registered — a ZERO commitment
/// tops up, where the page's old rule (`stake === 0n` → a first commitment) renewed the hash
/// chain — and once the registration is pruned a ZERO commitment is refused.
#[test]
fn a_stake_after_a_full_unstake_follows_the_registry() {
    let mut net = Net::new(3, 2);
    let staker = net.users[0].clone();
    let key = staker.public_key();
    let address = net.user_address(0);
    let min = net.chain.params.min_stake;
    let commitment = HashChain::new(secret(&staker), test_utils::CHAIN_LENGTH).commitment();
    net.produce(vec![net.tx(&staker, 0, TxKind::Stake { amount: min, commitment })]);
    net.produce(vec![net.tx(&staker, 1, TxKind::Unstake { amount: min })]);
    assert_eq!(net.account(&address).stake, 0);
    let registered = net.state.meta.registration(&key).is_some();
    assert!(registered, "still registered right after a full unstake");
    assert_eq!(state::check_registration(min, registered, min, &Hash::ZERO), Ok(()));
    net.produce(vec![net.tx(&staker, 2, TxKind::Stake { amount: min, commitment: Hash::ZERO })]);
    let registration = net.state.meta.registration(&key).unwrap();
    assert_eq!(registration.renewal, Hash::ZERO, "a top-up, not a renewal");
    assert_eq!(net.account(&address).stake, min);

    net.produce(vec![net.tx(&staker, 3, TxKind::Unstake { amount: min })]);
    let mut blocks = 0;
    while net.state.meta.registration(&key).is_some() {
        net.produce(vec![]);
        blocks += 1;
        assert!(blocks < 200, "the registration of an unstaked key is never pruned");
    }
    assert_eq!(
        state::check_registration(min, false, min, &Hash::ZERO),
        Err(TxError::MissingCommitment)
    );
    assert_eq!(
        state::check_registration(min, false, min - 1, &commitment),
        Err(TxError::StakeBelowMinimum { min, found: min - 1 })
    );
    assert_eq!(state::check_registration(min, false, min, &commitment), Ok(()));
    // Block application says the same.
    let zero = net.tx(&staker, 4, TxKind::Stake { amount: min, commitment: Hash::ZERO });
    let (slot, k, reveal) = net.next_slot();
    let built = state::build_block(
        &net.store,
        &net.chain,
        &net.state,
        &k,
        slot,
        &reveal,
        &[zero],
        None,
        state::Signatures::Verify,
    )
    .unwrap();
    let refused: Vec<_> = built.rejected.into_iter().map(|(_, e)| e).collect();
    assert_eq!(refused, vec![TxError::MissingCommitment]);
}

fn evidence_net() -> (Net, Evidence) {
    let mut net = Net::new(4, 1);
    net.produce(vec![]);
    // The next proposer signs two different blocks for its slot.
    let (slot, k, reveal) = net.next_slot();
    let a = state::build_block(
        &net.store,
        &net.chain,
        &net.state,
        &k,
        slot,
        &reveal,
        &[],
        None,
        state::Signatures::Verify,
    )
    .unwrap();
    let tx = net.transfer(0, net.user_address(0), 5, 0);
    let b = state::build_block(
        &net.store,
        &net.chain,
        &net.state,
        &k,
        slot,
        &reveal,
        &[tx],
        None,
        state::Signatures::Verify,
    )
    .unwrap();
    let evidence =
        Evidence::double_proposal(a.block.header.clone(), b.block.header.clone()).unwrap();
    net.import(a.block).unwrap();
    (net, evidence)
}

/// A block's application names every account it wrote — the reporter, the offender
/// it slashed, the proposer it paid — so a node need not work them out again from the kinds.
#[test]
fn an_applied_block_names_every_account_it_wrote() {
    let (net, evidence) = evidence_net();
    let offender = Address::from_public_key(evidence.offender());
    let reporter = net.users[0].clone();
    let tx = net.tx(&reporter, 0, TxKind::Evidence(Box::new(evidence)));
    let (slot, k, reveal) = net.next_slot();
    let built = state::build_block(
        &net.store,
        &net.chain,
        &net.state,
        &k,
        slot,
        &reveal,
        &[tx],
        net.certificate(),
        state::Signatures::Verify,
    )
    .unwrap();
    assert!(built.rejected.is_empty());
    let applied = state::apply_block(
        &net.store,
        &net.chain,
        &net.state,
        &built.block,
        state::Signatures::Verify,
    )
    .unwrap();
    let mut wrote = vec![
        Address::from_public_key(&reporter.public_key()),
        offender,
        Address::from_public_key(&k.public_key()),
    ];
    wrote.sort();
    wrote.dedup();
    assert_eq!(applied.touched, wrote);
    assert_eq!(built.applied.touched, wrote);
}

#[test]
fn double_proposal_is_slashed_once() {
    let (mut net, evidence) = evidence_net();
    let offender = match &evidence {
        Evidence::DoubleProposal { a, .. } => a.header.proposer.clone(),
        _ => unreachable!(),
    };
    let offender_address = Address::from_public_key(&offender);
    let stake_before = net.account(&offender_address).stake;
    let reporter = net.users[0].clone();
    let tx = net.tx(&reporter, 0, TxKind::Evidence(Box::new(evidence.clone())));
    assert_eq!(Evidence::from_bytes(&evidence.to_bytes()), Ok(evidence.clone()));
    net.produce(vec![tx]);
    let acc = net.account(&offender_address);
    assert!(acc.slashed);
    let burned = stake_before * u64::from(net.chain.params.slash_percent) / 100;
    assert_eq!(acc.stake, stake_before - burned);
    assert_eq!(net.state.meta.supply.burned, burned);
    // Twice is refused.
    let again = net.tx(&reporter, 1, TxKind::Evidence(Box::new(evidence)));
    assert_eq!(
        state::check_tx(&net.store, &net.chain, &net.state, &again, state::Signatures::Verify),
        Err(TxError::AlreadySlashed)
    );
    // Building leaves no trace of it: the evidence wrote the reporter's fee and nonce before it
    // failed, and the reporter's next transaction (same nonce) still goes in.
    let next = net.transfer(0, net.user_address(0), 1, 1);
    let (slot, k, reveal) = net.next_slot();
    let built = state::build_block(
        &net.store,
        &net.chain,
        &net.state,
        &k,
        slot,
        &reveal,
        &[again.clone(), next.clone()],
        None,
        state::Signatures::Verify,
    )
    .unwrap();
    assert_eq!(built.rejected, vec![(again.id(), TxError::AlreadySlashed)]);
    assert_eq!(built.block.txs, vec![next]);
    // Out of every set snapshotted after the evidence.
    let epoch = net.state.meta.epoch;
    net.offline.insert(*offender.as_bytes());
    while net.state.meta.epoch < epoch + 2 {
        net.produce(vec![]);
    }
    assert!(net.state.meta.current.index_of(&offender).is_none());
    assert!(net.state.meta.next.index_of(&offender).is_none());
}

#[test]
fn double_and_surround_votes_are_slashable_and_honest_pairs_are_not() {
    let mut net = Net::new(4, 1);
    net.produce(vec![]);
    let k = net.validators[1].clone();
    let cp = |h: u64, b: u8| Checkpoint { height: h, hash: Hash([b; 32]) };
    let v = |s: Checkpoint, t: Checkpoint| Vote { epoch: 0, source: s, target: t };
    let id = net.chain.id;
    let double = Evidence::double_vote(
        v(cp(0, 0), cp(3, 1)).sign(&id, &k),
        v(cp(0, 0), cp(3, 2)).sign(&id, &k),
    )
    .unwrap();
    let surround = Evidence::double_vote(
        v(cp(1, 0), cp(5, 1)).sign(&id, &k),
        v(cp(2, 0), cp(4, 2)).sign(&id, &k),
    )
    .unwrap();
    let honest = Evidence::double_vote(
        v(cp(0, 0), cp(1, 1)).sign(&id, &k),
        v(cp(1, 1), cp(2, 2)).sign(&id, &k),
    )
    .unwrap();
    assert_eq!(honest.verify(&id), Err(memecoin_core::slashing::EvidenceError::NoConflict));
    assert_eq!(double.verify(&id), Ok(&k.public_key()));
    assert_eq!(surround.verify(&id), Ok(&k.public_key()));
    let reporter = net.users[0].clone();
    let tx = net.tx(&reporter, 0, TxKind::Evidence(Box::new(double)));
    net.produce(vec![tx]);
    assert!(net.account(&Address::from_public_key(&k.public_key())).slashed);
}

#[test]
fn transaction_rules_fire_in_order() {
    let mut params = Params::devnet();
    params.max_validators = 3;
    let net = Net::with_params(3, 2, params);
    let check =
        |tx| state::check_tx(&net.store, &net.chain, &net.state, &tx, state::Signatures::Verify);
    let user = net.users[0].clone();
    let to = net.user_address(1);
    let base = |nonce, fee, kind| memecoin_core::tx::Tx {
        chain_id: net.chain.id,
        sender: user.public_key(),
        nonce,
        fee,
        kind,
    };
    let transfer = |amount| TxKind::Transfer { to, amount };
    let min = net.chain.params.min_fee;

    let mut wrong_chain = base(0, min, transfer(1));
    wrong_chain.chain_id = Hash([9; 32]);
    assert_eq!(
        check(wrong_chain.sign(&user)),
        Err(TxError::WrongChain { expected: net.chain.id, found: Hash([9; 32]) })
    );
    assert_eq!(
        check(base(0, min - 1, transfer(1)).sign(&user)),
        Err(TxError::FeeTooLow { min, found: min - 1 })
    );
    assert_eq!(
        check(base(1, min, transfer(1)).sign(&user)),
        Err(TxError::NonceMismatch { expected: 0, found: 1 })
    );
    assert_eq!(check(base(0, min, transfer(0)).sign(&user)), Err(TxError::ZeroAmount));
    let all = test_utils::USER_BALANCE;
    assert_eq!(
        check(base(0, min, transfer(all)).sign(&user)),
        Err(TxError::InsufficientBalance { needed: all + min, available: all })
    );
    assert_eq!(check(base(0, min, transfer(u64::MAX)).sign(&user)), Err(TxError::Overflow));
    assert_eq!(check(base(0, min, transfer(1)).sign(&net.users[1])), Err(TxError::BadSignature));
    assert_eq!(
        check(base(0, min, TxKind::Unstake { amount: 1 }).sign(&user)),
        Err(TxError::InsufficientStake { requested: 1, bonded: 0 })
    );
    assert_eq!(
        check(base(0, min, TxKind::Stake { amount: 1, commitment: Hash::ZERO }).sign(&user)),
        Err(TxError::MissingCommitment)
    );
    assert_eq!(
        check(base(0, min, TxKind::Stake { amount: 1, commitment: Hash([1; 32]) }).sign(&user)),
        Err(TxError::StakeBelowMinimum { min: net.chain.params.min_stake, found: 1 })
    );
    let enough = net.chain.params.min_stake;
    assert_eq!(
        check(
            base(0, min, TxKind::Stake { amount: enough, commitment: Hash([1; 32]) }).sign(&user)
        ),
        Err(TxError::ValidatorSetFull { max: 3 })
    );
    let v = net.validators[0].clone();
    let restake = |commitment| {
        let kind = TxKind::Stake { amount: 1, commitment };
        memecoin_core::tx::Tx {
            chain_id: net.chain.id,
            sender: v.public_key(),
            nonce: 0,
            fee: min,
            kind,
        }
        .sign(&v)
    };
    // A registered validator tops up with ZERO, or renews its chain with a new commitment.
    assert_eq!(check(restake(Hash([1; 32]))), Ok(()));
    assert_eq!(check(restake(Hash::ZERO)), Ok(()));
    assert_eq!(check(base(0, min, transfer(1)).sign(&user)), Ok(()));
}

/// A validator's hash chain has a fixed length, and a registered validator could not
/// re-commit, so a chain of 32 reveals stopped proposing after 32 blocks. It renews with a stake
/// of 0 carrying the next chain's commitment (PROTOCOL.md §9.3): the announced chain takes effect
/// at the first epoch transition `RENEWAL_DELAY_EPOCHS` (2) epochs after the announcement, not
/// before — until then the old chain must be revealed from, and from then on only the new one
/// opens.
#[test]
fn a_renewed_hash_chain_takes_effect_two_epochs_later() {
    let mut net = Net::with_chain_length(1, 0, Params::devnet(), 32);
    let v = net.validators[0].clone();
    let me = v.public_key();
    let epoch_slots = net.chain.params.slots_per_epoch;
    // Block 1 (slot 1, epoch 0) carries the renewal.
    let renewal = net.hash_chain(&v, 1).commitment();
    let renew = net.tx(&v, 0, TxKind::Stake { amount: 0, commitment: renewal });
    net.produce(vec![renew]);
    let reg = net.state.meta.registration(&me).unwrap().clone();
    assert_eq!((reg.renewal, reg.renewal_epoch), (renewal, state::RENEWAL_DELAY_EPOCHS));
    assert_ne!(reg.commitment, renewal, "not in effect in its own epoch");
    // The rest of epoch 0 and all of epoch 1 still reveal from the old chain.
    while net.state.tip.slot + 1 < 2 * epoch_slots {
        net.produce(vec![]);
    }
    assert_eq!(net.generations[me.as_bytes()], 0);
    assert_eq!(net.state.meta.registration(&me).unwrap().renewal, renewal, "still announced");
    // The first block of epoch 2 must reveal from the new chain: the old one no longer opens.
    let old =
        net.hash_chain(&v, 0).preimage_of(&net.state.meta.registration(&me).unwrap().commitment);
    let slot = 2 * epoch_slots;
    let built = state::build_block(
        &net.store,
        &net.chain,
        &net.state,
        &v,
        slot,
        &old.unwrap(),
        &[],
        None,
        state::Signatures::Verify,
    );
    assert!(matches!(built, Err(BlockError::BadReveal)), "{built:?}");
    net.produce(vec![]);
    assert_eq!(net.generations[me.as_bytes()], 1);
    let reg = net.state.meta.registration(&me).unwrap();
    assert_eq!((reg.renewal, reg.renewal_epoch), (Hash::ZERO, 0));
    // Renewing again and again, one validator goes far past its 32 reveals.
    for generation in 2..=5 {
        let commitment = net.hash_chain(&v, generation).commitment();
        let nonce = net.nonce(&v);
        net.produce(vec![net.tx(&v, nonce, TxKind::Stake { amount: 0, commitment })]);
        while net.state.meta.registration(&me).unwrap().renewal != Hash::ZERO {
            net.produce(vec![]);
        }
    }
    assert!(net.state.tip.height > 60, "height {}", net.state.tip.height);
    // A stake of nothing must commit to something.
    let nothing = net.tx(&v, net.nonce(&v), TxKind::Stake { amount: 0, commitment: Hash::ZERO });
    assert_eq!(
        state::check_tx(&net.store, &net.chain, &net.state, &nothing, state::Signatures::Verify),
        Err(TxError::ZeroAmount)
    );
}

/// With more than 1/3 of the stake offline for good, no certificate could ever form
/// again, so finality stopped for good. A member of the set that neither proposes nor signs a
/// carried certificate for `INACTIVITY_EPOCHS` epochs is left out of the next snapshot
/// (PROTOCOL.md §9.5), and finality resumes with the validators that remain, within the bound
/// PROTOCOL.md states: `INACTIVITY_EPOCHS + 2` epochs after the last activity, plus the two
/// blocks a finalizing link needs.
#[test]
fn finality_resumes_when_more_than_a_third_of_the_stake_stays_offline() {
    let mut net = Net::new(2, 0);
    let spe = net.chain.params.slots_per_epoch;
    // Both validators finalize, then the second (half the stake) goes offline for good.
    for _ in 0..4 {
        net.produce(vec![]);
    }
    assert!(net.state.meta.finalized.height >= 2);
    let gone = net.validators[1].public_key();
    net.offline.insert(*gone.as_bytes());
    net.voters = vec![0];
    // The votes both cast for the tip still count in the next block; then nothing certifies.
    net.produce(vec![]);
    net.produce(vec![]);
    let stalled_at = net.state.meta.finalized.height;
    let last_active = net.state.tip.slot / spe;
    let bound = (last_active + state::INACTIVITY_EPOCHS + 2) * spe + 2;
    while net.state.tip.slot < bound + spe {
        net.produce(vec![]);
        if net.state.meta.finalized.height > stalled_at {
            break;
        }
    }
    assert!(net.state.meta.finalized.height > stalled_at, "finality came back");
    assert!(net.state.tip.slot <= bound, "within the bound: slot {} > {bound}", net.state.tip.slot);
    assert!(net.state.meta.current.index_of(&gone).is_none(), "the offline validator was left out");
    // It keeps its stake and registration, and a Stake (a renewal) brings it back.
    let r = net.state.meta.registration(&gone).unwrap().clone();
    assert!(r.is_inactive_at(net.state.meta.epoch));
    let back = net.validators[1].clone();
    let commitment = net.hash_chain(&back, 1).commitment();
    let nonce = net.nonce(&back);
    net.produce(vec![net.tx(&back, nonce, TxKind::Stake { amount: 0, commitment })]);
    assert!(!net.state.meta.registration(&gone).unwrap().is_inactive_at(net.state.meta.epoch));
    net.offline.clear();
    net.voters = vec![0, 1];
    let epoch = net.state.meta.epoch;
    while net.state.meta.epoch < epoch + 2 {
        net.produce(vec![]);
    }
    assert!(net.state.meta.current.index_of(&gone).is_some(), "back in the set");
}

#[test]
fn too_many_unbondings_is_refused() {
    let mut net = Net::new(3, 1);
    let v = net.validators[0].clone();
    let txs: Vec<_> = (0..16).map(|n| net.tx(&v, n, TxKind::Unstake { amount: 1 })).collect();
    net.produce(txs);
    let tx = net.tx(&v, 16, TxKind::Unstake { amount: 1 });
    assert_eq!(
        state::check_tx(&net.store, &net.chain, &net.state, &tx, state::Signatures::Verify),
        Err(TxError::TooManyUnbondings { max: 16 })
    );
}

/// Each way of breaking a valid block is rejected with its own reason, and nothing changes.
#[test]
fn block_rules_fire_and_leave_state_untouched() {
    let mut net = Net::new(4, 2);
    net.produce(vec![]);
    net.produce(vec![]);
    let (slot, k, reveal) = net.next_slot();
    let tx = net.transfer(0, net.user_address(1), 10, 0);
    let good = state::build_block(
        &net.store,
        &net.chain,
        &net.state,
        &k,
        slot,
        &reveal,
        std::slice::from_ref(&tx),
        net.certificate(),
        state::Signatures::Verify,
    )
    .unwrap()
    .block;
    let nodes_before = net.store.len();
    let state_before = net.state.clone();
    let resign = |mut b: Block, f: &dyn Fn(&mut memecoin_core::header::Header)| {
        f(&mut b.header.header);
        b.header = b.header.header.clone().sign(&net.chain.id, &k);
        b
    };
    let apply = |b: &Block| {
        state::apply_block(&net.store, &net.chain, &net.state, b, state::Signatures::Verify)
            .map(|_| ())
    };
    let h = good.header.header.clone();

    assert_eq!(
        apply(&resign(good.clone(), &|h| h.height += 1)),
        Err(BlockError::WrongHeight { expected: h.height, found: h.height + 1 })
    );
    assert!(matches!(
        apply(&resign(good.clone(), &|h| h.parent = Hash([1; 32]))),
        Err(BlockError::WrongParent { .. })
    ));
    assert!(matches!(
        apply(&resign(good.clone(), &|h| h.slot = 0)),
        Err(BlockError::SlotNotAfterParent { .. })
    ));
    assert_eq!(
        apply(&resign(good.clone(), &|h| h.validators = Hash::ZERO)),
        Err(BlockError::WrongValidators)
    );
    let mut forged = good.clone();
    forged.header = h.clone().sign(
        &net.chain.id,
        &net.validators.iter().find(|v| v.public_key() != k.public_key()).unwrap().clone(),
    );
    assert_eq!(apply(&forged), Err(BlockError::BadProposerSignature));
    assert_eq!(
        apply(&resign(good.clone(), &|h| h.reveal = Hash::ZERO)),
        Err(BlockError::BadReveal)
    );
    assert!(matches!(
        apply(&resign(good.clone(), &|h| h.tx_root = Hash::ZERO)),
        Err(BlockError::WrongTxRoot { .. })
    ));
    assert!(matches!(
        apply(&resign(good.clone(), &|h| h.certificate = Hash::ZERO)),
        Err(BlockError::WrongCertificateHash { .. })
    ));
    assert!(matches!(
        apply(&resign(good.clone(), &|h| h.state_root = Hash::ZERO)),
        Err(BlockError::WrongStateRoot { .. })
    ));
    assert!(matches!(
        apply(&resign(good.clone(), &|h| h.justified.height += 1)),
        Err(BlockError::WrongJustified { .. })
    ));
    assert!(matches!(
        apply(&resign(good.clone(), &|h| h.finalized.height += 1)),
        Err(BlockError::WrongFinalized { .. })
    ));
    assert_eq!(
        apply(&resign(good.clone(), &|h| h.next_validators = Hash::ZERO)),
        Err(BlockError::WrongNextValidators)
    );
    // An invalid transaction inside (nonce reused) rejects the block, naming it.
    let mut bad_tx = good.clone();
    bad_tx.txs.push(tx);
    let ids = bad_tx.tx_ids();
    let bad_tx = resign(bad_tx, &|h| h.tx_root = merkle::root(&ids));
    assert!(matches!(
        apply(&bad_tx),
        Err(BlockError::Tx { index: 1, error: TxError::NonceMismatch { .. } })
    ));
    // A certificate under 2/3.
    let mut weak = good.clone();
    let cert = weak.certificate.as_mut().unwrap();
    cert.signatures.truncate(2);
    let weak = resign(weak.clone(), &|h| h.certificate = weak.certificate.as_ref().unwrap().hash());
    assert!(matches!(
        apply(&weak),
        Err(BlockError::Certificate(
            memecoin_core::finality::CertificateError::InsufficientStake { .. }
        ))
    ));

    assert_eq!(net.store.len(), nodes_before);
    assert_eq!(net.state, state_before);
    net.import(good).unwrap();
}

/// The light client follows 200 blocks with one finality proof per epoch, then believes
/// account and inclusion proofs only for verified roots.
#[test]
fn light_client_follows_with_proofs_and_rejects_forgeries() {
    let mut net = Net::new(4, 2);
    for i in 0..60u64 {
        let tx = net.transfer(0, net.user_address(1), 7, i);
        net.produce(vec![tx]);
    }
    let mut lc = LightClient::from_genesis(&net.genesis).unwrap();
    let params = net.chain.params.clone();
    // Last block of each epoch whose child (certified by the grandchild) exists.
    let mut proofs = 0;
    for i in 0..net.blocks.len() - 2 {
        let s = &net.blocks[i].header.header;
        let t = &net.blocks[i + 1];
        let last_of_epoch = params.epoch_of(net.blocks[i + 1].header.header.slot)
            != params.epoch_of(net.blocks[i + 2].header.header.slot);
        if !last_of_epoch {
            continue;
        }
        let cert = net.blocks[i + 2].certificate.clone().unwrap();
        let epoch = params.epoch_of(t.header.header.slot);
        let target_set = (epoch != lc.epoch()).then(|| net.states[i + 2].meta.current.clone());
        let proof = FinalityProof {
            source: s.clone(),
            target: t.header.clone(),
            certificate: cert,
            target_set,
        };
        assert_eq!(FinalityProof::from_bytes(&proof.to_bytes()), Ok(proof.clone()));
        lc.accept_finality(&proof, &net.links(&lc.finalized().hash, &proof.source)).unwrap();
        proofs += 1;
    }
    assert!((6..10).contains(&proofs), "one proof per epoch, {proofs}");
    let fin = *lc.finalized();
    let fin_index = net.blocks.iter().position(|b| b.hash() == fin.hash).unwrap();
    let fin_state = &net.states[fin_index + 1];
    assert_eq!(fin_state.state_root(), fin.state_root);

    // Account proofs, present and absent.
    let who = net.user_address(1);
    let proof = light::prove_account(&net.store, fin_state, &who).unwrap();
    let acc = light::verify_account(&fin.state_root, &who, &proof).unwrap().unwrap();
    assert_eq!(acc, fin_state.account(&net.store, &who).unwrap());
    let nobody = Address([7; 20]);
    let absent = light::prove_account(&net.store, fin_state, &nobody).unwrap();
    assert_eq!(light::verify_account(&fin.state_root, &nobody, &absent), Ok(None));
    // A proof for another root, or a lie about the balance, is refused.
    let old = light::prove_account(&net.store, &net.states[1], &who).unwrap();
    assert_eq!(
        light::verify_account(&fin.state_root, &who, &old),
        Err(LightError::StateRootMismatch)
    );
    let mut lie = proof.clone();
    lie.account.as_mut().unwrap().balance += 1;
    assert!(matches!(
        light::verify_account(&fin.state_root, &who, &lie),
        Err(LightError::AccountProof(_))
    ));
    let mut claim_absent = proof.clone();
    claim_absent.account = None;
    assert!(light::verify_account(&fin.state_root, &who, &claim_absent).is_err());

    // The chain meta of the finalized state (what a wallet reads the registry from), and a
    // meta with a registration left out or another state's meta: refused.
    let meta = fin_state.meta.to_bytes();
    assert_eq!(light::verify_meta(&fin.state_root, &fin_state.accounts_root, &meta), Ok(()));
    assert!(!fin_state.meta.registry.is_empty());
    assert_eq!(state::registry_of(&meta), Ok(fin_state.meta.registry.clone()));
    let mut forged = fin_state.meta.clone();
    forged.registry.pop();
    assert_eq!(
        light::verify_meta(&fin.state_root, &fin_state.accounts_root, &forged.to_bytes()),
        Err(LightError::StateRootMismatch)
    );
    assert_eq!(
        light::verify_meta(&fin.state_root, &net.states[1].accounts_root, &meta),
        Err(LightError::StateRootMismatch)
    );
    // What the registry reader refuses: a meta cut inside its validator sets, a registry out of
    // order.
    assert!(state::registry_of(&meta[..20]).is_err());
    let mut unordered = fin_state.meta.clone();
    unordered.registry.reverse();
    assert!(unordered.registry.len() > 1);
    assert!(state::registry_of(&unordered.to_bytes()).is_err());

    // Inclusion of the finalized block's transaction.
    let block = &net.blocks[fin_index];
    let inc = merkle::prove(&block.tx_ids(), 0).unwrap();
    assert_eq!(light::verify_inclusion(&fin, &block.txs[0].id(), &inc), Ok(()));
    assert!(light::verify_inclusion(&fin, &Hash([3; 32]), &inc).is_err());

    // A transaction below the finalized block is final when its block's header links by
    // parent hashes up to the finalized one; any gap or foreign header breaks the link.
    let early = 3;
    let links: Vec<_> =
        net.blocks[early..=fin_index].iter().map(|b| b.header.header.clone()).collect();
    assert_eq!(light::verify_ancestry(&links, &fin).unwrap().hash, net.blocks[early].hash());
    assert_eq!(light::verify_ancestry(&links[links.len() - 1..], &fin).unwrap(), fin);
    let mut gap = links.clone();
    gap.remove(1);
    assert_eq!(light::verify_ancestry(&gap, &fin), Err(LightError::NotLinked));
    assert_eq!(light::verify_ancestry(&links[..links.len() - 1], &fin), Err(LightError::NotLinked));
    let mut forged_link = links.clone();
    forged_link[0].state_root = Hash([9; 32]);
    assert_eq!(light::verify_ancestry(&forged_link, &fin), Err(LightError::NotLinked));
    assert_eq!(light::verify_ancestry(&[], &fin), Err(LightError::NotLinked));

    // The verified position survives a save and a resume, and only for its own chain.
    let trusted = lc.trusted();
    let saved = light::Trusted::from_bytes(&trusted.to_bytes()).unwrap();
    assert_eq!(saved, trusted);
    let resumed = LightClient::resume(&net.genesis, &saved).unwrap();
    assert_eq!((resumed.finalized(), resumed.epoch()), (&fin, lc.epoch()));
    assert_eq!(resumed.validator_set(), lc.validator_set());
    let mut other = net.genesis.clone();
    other.chain_name = "other".into();
    assert_eq!(LightClient::resume(&other, &saved).err(), Some(LightError::WrongChain));

    // Headers of the client's epoch: accepted from the elected proposer only.
    let newest = net
        .blocks
        .iter()
        .rev()
        .find(|b| params.epoch_of(b.header.header.slot) == lc.epoch())
        .unwrap();
    assert!(newest.header.header.height > lc.finalized().height);
    let mut forged = newest.header.clone();
    forged.header.state_root = Hash([1; 32]);
    assert_eq!(lc.accept_header(&forged, &[], u64::MAX - 1), Err(LightError::BadProposerSignature));
    lc.accept_header(&newest.header, &[], u64::MAX - 1).unwrap();
    assert_eq!(lc.head().hash, newest.hash());
    // A header of a later epoch needs that epoch's set first.
    if let Some(later) =
        net.blocks.iter().find(|b| params.epoch_of(b.header.header.slot) > lc.epoch())
    {
        assert!(matches!(
            lc.accept_header(&later.header, &[], u64::MAX - 1),
            Err(LightError::EpochNotKnown { .. })
        ));
    }
}

#[test]
fn light_client_rejects_each_forged_finality_proof() {
    let mut net = Net::new(4, 1);
    for _ in 0..4 {
        net.produce(vec![]);
    }
    let good = FinalityProof {
        source: net.blocks[1].header.header.clone(),
        target: net.blocks[2].header.clone(),
        certificate: net.blocks[3].certificate.clone().unwrap(),
        target_set: None,
    };
    let fresh = || LightClient::from_genesis(&net.genesis).unwrap();
    let id = net.chain.id;

    // Bad proposer signature on the target.
    let mut p = good.clone();
    p.target.signature = p.target.header.clone().sign(&id, &key("stranger", 0)).signature;
    assert_eq!(
        fresh().accept_finality(&p, &net.links(&fresh().finalized().hash, &p.source)),
        Err(LightError::BadProposerSignature)
    );
    // Certificate under 2/3 of stake.
    let mut p = good.clone();
    p.certificate.signatures.truncate(2);
    assert!(matches!(
        fresh().accept_finality(&p, &net.links(&fresh().finalized().hash, &p.source)),
        Err(LightError::Certificate(
            memecoin_core::finality::CertificateError::InsufficientStake { .. }
        ))
    ));
    // Certificate signed by a non-validator (in a validator's slot).
    let mut p = good.clone();
    let stranger_vote = p.certificate.vote.sign(&id, &key("stranger", 1));
    p.certificate.signatures[0].1 = stranger_vote.signature;
    assert!(matches!(
        fresh().accept_finality(&p, &net.links(&fresh().finalized().hash, &p.source)),
        Err(LightError::Certificate(memecoin_core::finality::CertificateError::BadSignature {
            index: 0
        }))
    ));
    // A header that does not link.
    let mut p = good.clone();
    p.source = net.blocks[0].header.header.clone();
    assert_eq!(
        fresh().accept_finality(&p, &net.links(&fresh().finalized().hash, &p.source)),
        Err(LightError::NotChild)
    );
    // The real proof is accepted; replaying it is not newer.
    let mut lc = fresh();
    assert_eq!(
        lc.accept_finality(&good, &net.links(&lc.finalized().hash, &good.source)).unwrap().hash,
        net.blocks[1].hash()
    );
    assert!(matches!(
        lc.accept_finality(&good, &net.links(&lc.finalized().hash, &good.source)),
        Err(LightError::NotNewer { .. })
    ));
}

/// Applying a block reads a number of tree nodes that grows with the block and the tree's depth,
/// not with the number of accounts.
#[test]
fn block_work_does_not_grow_with_state_size() {
    use memecoin_core::tree::{Node, NodeStore, StoreError};
    use std::cell::Cell;
    struct Counting<'a>(&'a memecoin_core::tree::MemStore, Cell<usize>);
    impl NodeStore for Counting<'_> {
        fn get_node(&self, hash: &Hash) -> Result<Option<Node>, StoreError> {
            self.1.set(self.1.get() + 1);
            self.0.get_node(hash)
        }
    }
    let reads = |users: usize| {
        let mut net = Net::new(3, users);
        net.produce(vec![]);
        let (slot, k, reveal) = net.next_slot();
        let tx = net.transfer(0, net.user_address(1), 5, 0);
        let block = state::build_block(
            &net.store,
            &net.chain,
            &net.state,
            &k,
            slot,
            &reveal,
            &[tx],
            net.certificate(),
            state::Signatures::Verify,
        )
        .unwrap()
        .block;
        let counting = Counting(&net.store, Cell::new(0));
        state::apply_block(&counting, &net.chain, &net.state, &block, state::Signatures::Verify)
            .unwrap();
        counting.1.get()
    };
    let (small, large) = (reads(10), reads(20_000));
    // 2,000x the accounts: reads grow with the tree's depth (log2: ~4 -> ~14), a few touched
    // accounts times two walks (read, then update), never with the account count.
    assert!(
        large <= 4 * small && large < 200,
        "node reads: {small} with 10 accounts, {large} with 20,000"
    );
}

/// Epochs without blocks do not rotate validator sets. An unbond whose release epoch comes while
/// the current set still counts the coins waits: stake that can still sign stays slashable.
#[test]
fn payout_waits_while_a_set_still_counts_the_stake() {
    let mut net = Net::new(4, 1);
    net.produce(vec![]);
    let v = net.validators[0].clone();
    let address = Address::from_public_key(&v.public_key());
    let stake = net.account(&address).stake;
    let unstake = net.tx(&v, 0, TxKind::Unstake { amount: stake });
    net.produce(vec![unstake]);
    let e = net.state.meta.epoch;
    let spe = net.chain.params.slots_per_epoch;
    // Nobody proposes in epoch e + 1; the next block is in e + 2, the release epoch.
    net.produce_at((e + 2) * spe, vec![]);
    assert_eq!(net.state.meta.epoch, e + 2);
    assert!(net.state.meta.current.index_of(&v.public_key()).is_some(), "one rotation only");
    assert_eq!(
        net.account(&address).unbonding,
        vec![Unbonding { amount: stake, release_epoch: e + 3 }]
    );
    // Paid once no set that may still sign counts it, and not before.
    while !net.account(&address).unbonding.is_empty() {
        assert!(counted_anywhere(&net, &v.public_key()), "paid only when no set counts it");
        assert!(net.state.meta.epoch <= e + 5, "payout is late");
        net.produce(vec![]);
    }
    assert!(!counted_anywhere(&net, &v.public_key()));
}

/// Whether the previous, current or next set of the tip state holds `key`.
fn counted_anywhere(net: &Net, key: &memecoin_core::crypto::PublicKey) -> bool {
    let m = &net.state.meta;
    m.previous.as_ref().is_some_and(|(_, s)| s.index_of(key).is_some())
        || m.current.index_of(key).is_some()
        || m.next.index_of(key).is_some()
}

/// A caller that checked the signatures itself (in parallel, or from a signature cache) gets
/// exactly core's verdict: same accepted state, same first error, in block order.
#[test]
fn signatures_checked_by_the_caller_give_cores_verdict() {
    let mut net = Net::new(4, 2);
    net.produce(vec![]);
    let (slot, k, reveal) = net.next_slot();
    let txs: Vec<_> = (0..3).map(|n| net.transfer(0, net.user_address(1), 10, n)).collect();
    let good = state::build_block(
        &net.store,
        &net.chain,
        &net.state,
        &k,
        slot,
        &reveal,
        &txs,
        net.certificate(),
        state::Signatures::Verify,
    )
    .unwrap()
    .block;
    assert_eq!(good.txs.len(), 3);
    let with = |b: &Block, s: Signatures<'_>| {
        state::apply_block(&net.store, &net.chain, &net.state, b, s).map(|a| a.state)
    };
    let verified = with(&good, Signatures::Verify).unwrap();
    assert_eq!(with(&good, Signatures::Checked(&[true, true, true])).unwrap(), verified);
    // A shorter slice: core verifies the rest itself.
    assert_eq!(with(&good, Signatures::Checked(&[true])).unwrap(), verified);

    // Transaction 1 carries transaction 2's signature: the block is re-rooted and re-signed, so
    // only that signature is wrong.
    let mut bad = good.clone();
    bad.txs[1].signature = bad.txs[2].signature;
    bad.header.header.tx_root = merkle::root(&bad.tx_ids());
    bad.header = bad.header.header.clone().sign(&net.chain.id, &k);
    let expected = Err(BlockError::Tx { index: 1, error: TxError::BadSignature });
    assert_eq!(with(&bad, Signatures::Verify), expected);
    let checked: Vec<bool> = bad.txs.iter().map(|t| t.verify_signature().is_ok()).collect();
    assert_eq!(checked, [true, false, true]);
    assert_eq!(with(&bad, Signatures::Checked(&checked)), expected);
    // A caller that vouches for a signature is believed: that is the contract.
    assert!(with(&bad, Signatures::Checked(&[true, true, true])).is_ok());

    // `Lookup`: the same answers, asked once per transaction in block order; `None` means core
    // verifies that one itself.
    let asked = std::cell::RefCell::new(Vec::new());
    let answers = |results: &'static [bool]| {
        let asked = &asked;
        move |i: usize| {
            asked.borrow_mut().push(i);
            results.get(i).copied()
        }
    };
    assert_eq!(with(&good, Signatures::Lookup(&answers(&[true, true, true]))).unwrap(), verified);
    assert_eq!(asked.take(), [0, 1, 2]);
    assert_eq!(with(&bad, Signatures::Lookup(&answers(&[true, false, true]))), expected);
    assert_eq!(asked.take(), [0, 1], "nothing is asked after the failing transaction");
    assert_eq!(with(&bad, Signatures::Lookup(&|_| None)), expected);
    assert!(with(&bad, Signatures::Lookup(&|_| Some(true))).is_ok());
}

/// A light client crosses epochs in which the validator set changes (a new staker joins):
/// one finality proof per epoch, each carrying its target epoch's set; a proof further ahead is
/// taken by skipping.
#[test]
fn light_client_follows_a_changing_validator_set() {
    let mut net = Net::new(3, 2);
    let staker = net.users[0].clone();
    let commitment = HashChain::new(secret(&staker), test_utils::CHAIN_LENGTH).commitment();
    let stake = net.tx(&staker, 0, TxKind::Stake { amount: 2_000_000_000, commitment });
    net.produce(vec![stake]);
    while net.state.meta.epoch < 6 {
        net.produce(vec![]);
    }
    assert!(net.state.meta.current.index_of(&staker.public_key()).is_some());
    let mut lc = LightClient::from_genesis(&net.genesis).unwrap();
    let params = net.chain.params.clone();
    // The last block of each epoch whose child carries its certificate: one proof per epoch,
    // each with its target epoch's set (as a relay serves them).
    let mut proofs = Vec::new();
    for i in 0..net.blocks.len() - 2 {
        let t = &net.blocks[i + 1];
        let last_of_epoch = params.epoch_of(t.header.header.slot)
            != params.epoch_of(net.blocks[i + 2].header.header.slot);
        let Some(cert) = net.blocks[i + 2].certificate.clone() else { continue };
        if last_of_epoch {
            proofs.push(FinalityProof {
                source: net.blocks[i].header.header.clone(),
                target: t.header.clone(),
                certificate: cert,
                target_set: Some(net.states[i + 2].meta.current.clone()),
            });
        }
    }
    assert!(proofs.len() >= 4, "{}", proofs.len());
    let mut skips = 0;
    for (k, proof) in proofs.iter().enumerate() {
        // A proof two or more epochs ahead, across a set change, cannot be linked by hash; it
        // is accepted by skipping, since the stake the client trusts (all of it) signed it.
        if let Some(ahead) = proofs.get(k + 1) {
            let mut probe = lc.clone();
            let ahead_epoch = params.epoch_of(ahead.target.header.slot);
            if ahead_epoch > probe.epoch() + 1 {
                assert_eq!(
                    probe
                        .accept_finality(ahead, &net.links(&probe.finalized().hash, &ahead.source)),
                    Ok(light::Anchor::of(&ahead.source))
                );
                assert_eq!(probe.epoch(), ahead_epoch);
                skips += 1;
            }
        }
        let epoch = params.epoch_of(proof.target.header.slot);
        lc.accept_finality(proof, &net.links(&lc.finalized().hash, &proof.source))
            .unwrap_or_else(|e| panic!("proof {k} (epoch {epoch}): {e}"));
    }
    assert!(skips >= 1, "some proof ahead was taken by skipping");
    // Forged: the next epoch's proof with another set is wrong, not merely early.
    let mut early = LightClient::from_genesis(&net.genesis).unwrap();
    early
        .accept_finality(&proofs[0], &net.links(&early.finalized().hash, &proofs[0].source))
        .unwrap();
    let mut forged = proofs[1].clone();
    assert_eq!(params.epoch_of(forged.target.header.slot), early.epoch() + 1);
    let mut other = forged.target_set.clone().unwrap();
    other.seed = Hash([3; 32]);
    forged.target_set = Some(other);
    assert_eq!(
        early.accept_finality(&forged, &net.links(&early.finalized().hash, &forged.source)),
        Err(LightError::WrongValidatorSet)
    );
}

/// The finality proof a relay records for block `i`: its header, the child's signed header, the
/// certificate of that link (carried by the grandchild) and the child's epoch's set.
fn proof_for(net: &Net, i: usize) -> FinalityProof {
    let certificate = net.blocks[i + 2].certificate.clone().unwrap();
    assert_eq!(certificate.vote.source.hash, net.blocks[i].hash(), "a direct link from block {i}");
    FinalityProof {
        source: net.blocks[i].header.header.clone(),
        target: net.blocks[i + 1].header.clone(),
        certificate,
        target_set: Some(net.states[i + 2].meta.current.clone()),
    }
}

/// Skipping (PROTOCOL.md §13.4): a client at genesis accepts the newest proof of a chain many
/// epochs on, with the same members (but a new seed, so a new set hash, every epoch), alone.
#[test]
fn light_client_skips_many_epochs_with_unchanged_membership() {
    let mut net = Net::new(4, 0);
    while net.state.meta.epoch < 12 {
        net.produce(vec![]);
    }
    for _ in 0..3 {
        net.produce(vec![]);
    }
    let n = net.blocks.len();
    let proof = proof_for(&net, n - 3);
    let params = net.chain.params.clone();
    let epoch = params.epoch_of(proof.target.header.slot);
    let set = proof.target_set.clone().unwrap();
    let mut lc = LightClient::from_genesis(&net.genesis).unwrap();
    assert!(epoch > lc.epoch() + 1, "far ahead");
    assert_ne!(set.hash(), lc.next_set_hash(), "not linked by hash");
    assert_eq!(
        set.members().iter().map(|m| &m.key).collect::<Vec<_>>(),
        lc.validator_set().members().iter().map(|m| &m.key).collect::<Vec<_>>()
    );
    // Without the set, the proof is not checkable (not wrong).
    let mut bare = proof.clone();
    bare.target_set = None;
    assert_eq!(
        lc.clone().accept_finality(&bare, &net.links(&lc.clone().finalized().hash, &bare.source)),
        Err(LightError::EpochNotKnown { epoch, known: 0 })
    );
    assert_eq!(
        lc.accept_finality(&proof, &net.links(&lc.finalized().hash, &proof.source)),
        Ok(light::Anchor::of(&proof.source))
    );
    assert_eq!(lc.epoch(), epoch);
    assert_eq!(lc.validator_set(), &set);
    assert_eq!(lc.next_set_hash(), proof.target.header.next_validators);
    assert_eq!(lc.head().hash, net.blocks[n - 2].hash());
    // From there on, the normal path: the tip's header is of the client's epoch.
    assert_eq!(params.epoch_of(net.blocks[n - 1].header.header.slot), epoch);
    assert_eq!(
        lc.accept_header(&net.blocks[n - 1].header, &[], u64::MAX - 1).unwrap().hash,
        net.blocks[n - 1].hash()
    );
}

/// A skip is refused when the signers hold 1/3 or less of the set the client trusts: here new
/// stakers hold most of the stake and the genesis validators sign little of the certificate.
/// The boundary is strict (exactly 1/3 is refused), refusal changes nothing, and the client
/// still gets there epoch by epoch.
#[test]
fn light_client_refuses_a_skip_without_enough_trusted_stake() {
    let mut net = Net::new(3, 2);
    for u in 0..2 {
        let staker = net.users[u].clone();
        let commitment = HashChain::new(secret(&staker), test_utils::CHAIN_LENGTH).commitment();
        let stake = net.tx(&staker, 0, TxKind::Stake { amount: 40_000_000_000, commitment });
        net.produce(vec![stake]);
        // The new stakers vote too, or the genesis validators alone would fall under 2/3.
        net.validators.push(staker);
        net.voters.push(net.validators.len() - 1);
    }
    while net.state.meta.epoch < 8 {
        net.produce(vec![]);
    }
    let n = net.blocks.len();
    let real = proof_for(&net, n - 3);
    let set = real.target_set.clone().unwrap();
    assert_eq!(set.members().len(), 5, "genesis validators and the two stakers");
    let genesis = LightClient::from_genesis(&net.genesis).unwrap();
    let trusted_total = genesis.validator_set().total_stake();
    assert_eq!(trusted_total, 3 * test_utils::VALIDATOR_STAKE);
    // The certificate of the same link, signed by the stakers and `old` genesis validators.
    let signed_by = |old: usize| {
        let signers: Vec<_> =
            net.validators[3..].iter().chain(net.validators[..old].iter()).collect();
        let votes: Vec<_> =
            signers.iter().map(|k| real.certificate.vote.sign(&net.chain.id, k)).collect();
        let mut p = real.clone();
        p.certificate = Certificate::from_votes(real.certificate.vote, &set, &votes);
        assert!(p.certificate.verify(&net.chain.id, &set).is_ok(), "over 2/3 of the new set");
        p
    };
    for old in 0..=1 {
        let mut lc = genesis.clone();
        let signed = old as u64 * test_utils::VALIDATOR_STAKE;
        assert_eq!(
            lc.accept_finality(
                &signed_by(old),
                &net.links(&lc.finalized().hash, &signed_by(old).source)
            ),
            Err(LightError::InsufficientTrust { signed, total: trusted_total }),
            "{old} of 3 genesis validators signed"
        );
        assert_eq!(lc.finalized(), genesis.finalized());
        assert_eq!(lc.epoch(), 0);
    }
    // 2 of 3: more than 1/3 of the trusted stake vouches for it.
    let mut lc = genesis.clone();
    assert_eq!(
        lc.accept_finality(&signed_by(2), &net.links(&lc.finalized().hash, &real.source)),
        Ok(light::Anchor::of(&real.source))
    );
    // Refused for trust, the client walks: one proof per epoch (the newest of each), then the
    // refused proof goes through on the normal path.
    let mut lc = genesis.clone();
    let params = net.chain.params.clone();
    let mut walked = 0;
    for i in 0..n - 3 {
        let next_epoch = params.epoch_of(net.blocks[i + 2].header.header.slot);
        if params.epoch_of(net.blocks[i + 1].header.header.slot) == next_epoch {
            continue;
        }
        lc.accept_finality(
            &proof_for(&net, i),
            &net.links(&lc.finalized().hash, &proof_for(&net, i).source),
        )
        .unwrap();
        walked += 1;
    }
    assert!(walked >= 7, "{walked}");
    assert_eq!(
        lc.accept_finality(&signed_by(0), &net.links(&lc.finalized().hash, &real.source)),
        Ok(light::Anchor::of(&real.source))
    );
}

/// A skip rests on the target header's commitment to its set and on the signatures of keys the
/// client trusts: a set the header does not commit to, a forged header committing to strangers,
/// and trusted signers whose signatures are copied from another vote are all refused.
#[test]
fn light_client_refuses_a_forged_skip() {
    let mut net = Net::new(4, 0);
    while net.state.meta.epoch < 5 {
        net.produce(vec![]);
    }
    let n = net.blocks.len();
    let real = proof_for(&net, n - 3);
    let id = net.chain.id;
    let fresh = || LightClient::from_genesis(&net.genesis).unwrap();
    let trusted_total = fresh().validator_set().total_stake();
    let epoch = net.chain.params.epoch_of(real.target.header.slot);
    // The real header with a set it does not commit to (same members, another seed).
    let mut p = real.clone();
    let mut other = p.target_set.clone().unwrap();
    other.seed = Hash([3; 32]);
    p.target_set = Some(other);
    assert_eq!(
        fresh().accept_finality(&p, &net.links(&fresh().finalized().hash, &p.source)),
        Err(LightError::WrongValidatorSet)
    );
    // A forged target: strangers hold the set the header commits to, the genesis validators
    // are in it too, and the strangers sign.
    let strangers: Vec<_> = (0..4).map(|i| key("stranger", i)).collect();
    let mut members: Vec<Member> = strangers
        .iter()
        .map(|k| Member { key: k.public_key(), stake: 100 * test_utils::VALIDATOR_STAKE })
        .collect();
    members.extend(net.validators.iter().map(|k| Member { key: k.public_key(), stake: 1 }));
    let forged_set = ValidatorSet::new(Hash([7; 32]), members).unwrap();
    let mut header = real.target.header.clone();
    header.validators = forged_set.hash();
    header.proposer = forged_set.proposer(header.slot).unwrap().key.clone();
    let proposer = strangers.iter().chain(net.validators.iter());
    let proposer = proposer.into_iter().find(|k| k.public_key() == header.proposer).unwrap();
    let target = header.sign(&id, proposer);
    let vote = Vote {
        epoch,
        source: real.certificate.vote.source,
        target: Checkpoint { height: target.header.height, hash: target.hash() },
    };
    let votes: Vec<_> = strangers.iter().map(|k| vote.sign(&id, k)).collect();
    let forged = FinalityProof {
        source: real.source.clone(),
        target,
        certificate: Certificate::from_votes(vote, &forged_set, &votes),
        target_set: Some(forged_set.clone()),
    };
    assert!(forged.certificate.verify(&id, &forged_set).is_ok());
    assert_eq!(
        fresh().accept_finality(&forged, &net.links(&fresh().finalized().hash, &forged.source)),
        Err(LightError::InsufficientTrust { signed: 0, total: trusted_total })
    );
    // The same, naming the genesis validators as signers with their signatures of the real
    // vote: enough trusted stake is claimed, but the signatures are of another vote.
    let mut copied = forged.clone();
    for (k, (_, sig)) in net.validators.iter().zip(&real.certificate.signatures) {
        let index = u16::try_from(forged_set.index_of(&k.public_key()).unwrap()).unwrap();
        copied.certificate.signatures.push((index, *sig));
    }
    copied.certificate.signatures.sort_by_key(|(i, _)| *i);
    assert!(matches!(
        fresh().accept_finality(&copied, &net.links(&fresh().finalized().hash, &copied.source)),
        Err(LightError::Certificate(
            memecoin_core::finality::CertificateError::BadSignature { .. }
        ))
    ));
    // The real proof goes through.
    assert_eq!(
        fresh().accept_finality(&real, &net.links(&fresh().finalized().hash, &real.source)),
        Ok(light::Anchor::of(&real.source))
    );
}

/// The mempool's questions, answered by core: a view of pending transactions over
/// a state, what a sender's balance pays for, and the stateless checks of a held transaction.
#[test]
fn pending_view_and_payment_rules() {
    let net = Net::new(1, 2);
    let (user, other) = (net.users[0].clone(), net.users[1].clone());
    let (from, to) = (net.user_address(0), net.user_address(1));
    let balance = net.account(&from).balance;
    let min = net.chain.params.min_fee;
    let mut view = state::Pending::new(&net.store, &net.chain, &net.state);
    // The second transaction is checked after the first: its nonce and the balance it left.
    view.apply(&net.transfer(0, to, 10, 0), Signatures::Verify).unwrap();
    assert_eq!(view.account(&from).unwrap().balance, balance - 10 - min);
    assert_eq!(view.account(&to).unwrap().balance, net.account(&to).balance + 10);
    let all = balance - 10 - min;
    assert_eq!(
        view.apply(&net.transfer(0, to, all, 1), Signatures::Verified),
        Err(TxError::InsufficientBalance { needed: all + min, available: all })
    );
    // A refused transaction leaves no trace, a forged one is refused unless vouched for.
    assert_eq!(view.account(&from).unwrap().nonce, 1);
    let forged = |nonce| {
        let kind = TxKind::Transfer { to, amount: 1 };
        let tx = memecoin_core::tx::Tx {
            chain_id: net.chain.id,
            sender: user.public_key(),
            nonce,
            fee: min,
            kind,
        };
        tx.sign(&other)
    };
    assert_eq!(view.apply(&forged(1), Signatures::Verify), Err(TxError::BadSignature));
    view.apply(&net.transfer(0, to, all - min, 1), Signatures::Verify).unwrap();
    assert_eq!(view.account(&from).unwrap().balance, 0);
    // The state itself did not change.
    assert_eq!(net.account(&from).balance, balance);

    // Paying for several transactions together, held ones included.
    let (a, b) = (net.transfer(0, to, balance / 2, 0), net.transfer(0, to, balance / 2, 5));
    state::check_can_pay(&net.account(&from), [&a.tx]).unwrap();
    assert_eq!(
        state::check_can_pay(&net.account(&from), [&a.tx, &b.tx]),
        Err(TxError::InsufficientBalance { needed: balance + 2 * min, available: balance })
    );
    let nobody = memecoin_core::account::Account::default();
    let mut huge = net.transfer(0, to, u64::MAX, 0).tx;
    huge.fee = u64::MAX;
    assert_eq!(
        state::check_can_pay(&nobody, [&huge]),
        Err(TxError::InsufficientBalance { needed: u64::MAX, available: 0 })
    );
    state::check_can_pay(&nobody, []).unwrap();

    // Stateless: chain, fee, signature; the nonce is not looked at.
    state::check_stateless(&net.chain, &net.transfer(0, to, 1, 9), Signatures::Verify).unwrap();
    assert_eq!(
        state::check_stateless(&net.chain, &forged(9), Signatures::Verify),
        Err(TxError::BadSignature)
    );
    state::check_stateless(&net.chain, &forged(9), Signatures::Verified).unwrap();
    let cheap = memecoin_core::tx::Tx { fee: min - 1, ..net.transfer(0, to, 1, 9).tx }.sign(&user);
    assert_eq!(
        state::check_stateless(&net.chain, &cheap, Signatures::Verify),
        Err(TxError::FeeTooLow { min, found: min - 1 })
    );
}

/// The unbonding queue lives in the state tree: the chain meta (copied for every block and every
/// staking check, hashed for every account proof, stored with every block) does not grow with
/// the payouts pending.
#[test]
fn the_chain_meta_does_not_grow_with_the_unbonding_queue() {
    let mut queued = Net::new(8, 0);
    let mut idle = Net::new(8, 0);
    let unstakes: Vec<_> = (0..8)
        .map(|i| {
            let v = queued.validators[i].clone();
            queued.tx(&v, 0, TxKind::Unstake { amount: 1 })
        })
        .collect();
    queued.produce(unstakes);
    idle.produce(vec![]);
    assert_eq!(queued.state.meta.releases.len(), 8);
    assert_eq!(idle.state.meta.releases.len(), 0);
    assert_eq!(queued.state.meta.to_bytes().len(), idle.state.meta.to_bytes().len());
}

/// An account's unstakes that mature in the same epoch share one queued payout, so an account
/// queues at most one per epoch and at most `MAX_UNBONDING` in all; the payout pays them all.
#[test]
fn unstakes_maturing_together_queue_one_payout() {
    let mut net = Net::new(3, 1);
    let v = net.validators[0].clone();
    let address = Address::from_public_key(&v.public_key());
    let txs: Vec<_> = (0..16).map(|n| net.tx(&v, n, TxKind::Unstake { amount: 1 })).collect();
    net.produce(txs);
    assert_eq!(net.account(&address).unbonding.len(), 16);
    assert_eq!(net.state.meta.releases.len(), 1);
    let stake = net.account(&address).stake;
    // All of the stake goes too, in a later epoch: a second payout.
    while net.state.meta.epoch == net.states[1].meta.epoch {
        net.produce(vec![]);
    }
    net.produce(vec![]);
    let all = net.tx(&v, 16, TxKind::Unstake { amount: stake });
    assert_eq!(
        state::check_tx(&net.store, &net.chain, &net.state, &all, state::Signatures::Verify),
        Err(TxError::TooManyUnbondings { max: 16 })
    );
    while !net.account(&address).unbonding.is_empty() {
        assert!(net.state.meta.epoch <= net.states[1].meta.epoch + 6, "payout is late");
        net.produce(vec![]);
    }
    assert_eq!(net.state.meta.releases.len(), 0);
    assert_eq!(net.account(&address).stake, stake);
}

/// At most `MAX_RELEASES_PER_BLOCK` payouts per block; the rest are paid by the next blocks, in
/// the order they were queued.
#[test]
fn payouts_beyond_the_per_block_cap_wait_for_the_next_block() {
    let params = Params { max_validators: 1_000, ..Params::devnet() };
    let stakers = state::MAX_RELEASES_PER_BLOCK + 40;
    let mut net = Net::with_params(4, stakers, params);
    let min = net.chain.params.min_stake;
    let stakes: Vec<_> = (0..stakers)
        .map(|i| {
            let u = net.users[i].clone();
            let commitment = HashChain::new(secret(&u), test_utils::CHAIN_LENGTH).commitment();
            net.tx(&u, 0, TxKind::Stake { amount: min, commitment })
        })
        .collect();
    net.produce(stakes);
    let unstakes: Vec<_> = (0..stakers)
        .map(|i| {
            let u = net.users[i].clone();
            net.tx(&u, 1, TxKind::Unstake { amount: 1 })
        })
        .collect();
    net.produce(unstakes);
    assert_eq!(net.state.meta.releases.len(), stakers);
    let release_epoch = net.state.meta.epoch + net.chain.params.unbonding_epochs;
    let unpaid = |net: &Net| {
        (0..stakers).filter(|i| !net.account(&net.user_address(*i)).unbonding.is_empty()).count()
    };
    while net.state.meta.epoch < release_epoch {
        assert_eq!(unpaid(&net), stakers);
        net.produce(vec![]);
    }
    assert_eq!(unpaid(&net), 40, "the first block of the release epoch pays the cap");
    // The first 256 queued (block order: users 0..256) were paid first.
    assert!(
        (0..state::MAX_RELEASES_PER_BLOCK)
            .all(|i| net.account(&net.user_address(i)).unbonding.is_empty())
    );
    net.produce(vec![]);
    assert_eq!(unpaid(&net), 0);
    assert_eq!(net.state.meta.releases.len(), 0);
}

/// The secret key of the validator `public` (the test net holds them all: it can forge what a
/// colluding proposer or a corrupt supermajority would sign).
fn signer<'a>(
    net: &'a Net,
    public: &memecoin_core::crypto::PublicKey,
) -> &'a memecoin_core::crypto::SecretKey {
    net.validators.iter().find(|k| k.public_key() == *public).unwrap()
}

/// A proof that `source` is final, signed by every validator: `target` is a child of `source`
/// in `slot`, signed by its elected proposer.
fn forge_proof(net: &Net, source: Header, slot: u64) -> FinalityProof {
    let set = net.state.meta.current.clone();
    let id = net.chain.id;
    let mut target = net.blocks.last().unwrap().header.header.clone();
    target.height = source.height + 1;
    target.slot = slot;
    target.parent = source.hash();
    target.proposer = set.proposer(slot).unwrap().key.clone();
    target.validators = set.hash();
    let target = target.clone().sign(&id, signer(net, &target.proposer));
    let vote = Vote {
        epoch: net.chain.params.epoch_of(slot),
        source: Checkpoint { height: source.height, hash: source.hash() },
        target: Checkpoint { height: target.header.height, hash: target.hash() },
    };
    let votes: Vec<_> = net.validators.iter().map(|k| vote.sign(&id, k)).collect();
    let certificate = Certificate::from_votes(vote, &set, &votes);
    FinalityProof { source, target, certificate, target_set: None }
}

#[test]
fn light_client_refuses_implausible_heads_and_links_the_rest_to_finality() {
    let mut net = Net::new(4, 1);
    for _ in 0..6 {
        net.produce(vec![]);
    }
    let id = net.chain.id;
    let mut lc = LightClient::from_genesis(&net.genesis).unwrap();
    let newest = net.blocks.last().unwrap().header.clone();
    let now = newest.header.slot;
    let propose = |mut h: Header| {
        h.proposer = net.state.meta.current.proposer(h.slot).unwrap().key.clone();
        h.clone().sign(&id, signer(&net, &h.proposer))
    };

    // From the future: a slot after the clock's (one slot of skew allowed).
    let mut future = newest.header.clone();
    future.slot = now + 2;
    future.height = 3;
    assert_eq!(
        lc.accept_header(&propose(future), &[], now),
        Err(LightError::FromTheFuture { slot: now + 2, now })
    );
    // Higher than its slot: a forged height, signed by the elected proposer of the slot.
    let mut tall = newest.header.clone();
    tall.height = 1_000_000_000_000_000;
    assert_eq!(
        lc.accept_header(&propose(tall), &[], now),
        Err(LightError::Implausible { height: 1_000_000_000_000_000, slot: newest.header.slot })
    );
    // A real head whose parent the client does not know: the headers to link it are asked for
    // (after its signature checked), and links that do not chain are refused.
    assert_eq!(
        lc.accept_header(&newest, &[], now),
        Err(LightError::UnknownParent { from: 1, to: newest.header.height - 1 })
    );
    let links = net.links(&id, &newest.header);
    assert_eq!(links.len() as u64, newest.header.height - 1);
    let mut broken = links.clone();
    broken.remove(1);
    assert_eq!(lc.accept_header(&newest, &broken, now), Err(LightError::NotLinked));
    let mut forged = links.clone();
    forged[0].header.state_root = Hash([9; 32]);
    assert_eq!(lc.accept_header(&newest, &forged, now), Err(LightError::BadProposerSignature));
    assert_eq!(lc.head().height, 0, "nothing refused moved the head");
    assert_eq!(lc.accept_header(&newest, &links, now), Ok(light::Anchor::of(&newest.header)));
    assert_eq!(lc.head().hash, newest.hash());
    assert_eq!(lc.finalized().height, 0, "a head is never final");

    // Once the client is final at block 1, a head whose chain has another block at height 1
    // is on another branch: refused, even signed by its elected proposer.
    let good = proof_for(&net, 1);
    let mut lc = LightClient::from_genesis(&net.genesis).unwrap();
    lc.accept_finality(&good, &net.links(&id, &good.source)).unwrap();
    let mut other = net.blocks[1].header.header.clone();
    other.state_root = Hash([7; 32]);
    let mut child = net.blocks[2].header.header.clone();
    child.parent = other.hash();
    assert_eq!(lc.accept_header(&propose(child), &[], now), Err(LightError::OffFinalized));
    // The proof's target is a verified head already: the next block links to it without links.
    let next = &net.blocks[3].header;
    assert_eq!(lc.accept_header(next, &[], now), Ok(light::Anchor::of(&next.header)));
}

#[test]
fn light_client_halts_on_conflicting_finality_with_evidence() {
    let mut net = Net::new(4, 1);
    for _ in 0..6 {
        net.produce(vec![]);
    }
    let id = net.chain.id;
    let good = proof_for(&net, 1);
    let fresh = || {
        let mut lc = LightClient::from_genesis(&net.genesis).unwrap();
        lc.accept_finality(&good, &net.links(&id, &good.source)).unwrap();
        lc
    };
    let finalized = good.source.clone();

    // A sibling of the finalized block, finalized by a certificate of the whole set: the same
    // target height, so every validator that signed both signed a double vote.
    let mut sibling = finalized.clone();
    sibling.state_root = Hash([5; 32]);
    let conflicting = forge_proof(&net, sibling.clone(), good.target.header.slot);
    let mut lc = fresh();
    assert_eq!(
        lc.accept_finality(&conflicting, &[]),
        Err(LightError::ConflictingFinality { height: sibling.height })
    );
    let conflict = lc.conflict().cloned().unwrap();
    assert_eq!(conflict.ours, light::Anchor::of(&finalized));
    assert_eq!(conflict.theirs, light::Anchor::of(&sibling));
    assert!(!conflict.evidence.is_empty());
    for e in &conflict.evidence {
        e.verify(&id).unwrap();
    }
    // Stopped: nothing more is accepted, not even the real chain.
    let next = proof_for(&net, 2);
    assert_eq!(lc.accept_finality(&next, &[]), Err(LightError::Halted));
    assert_eq!(lc.accept_header(&net.blocks[4].header, &[], u64::MAX - 1), Err(LightError::Halted));
    assert_eq!(lc.finalized(), &light::Anchor::of(&finalized), "the finalized block stays");

    // Higher up on another branch: a block whose parent at the finalized height is not the
    // finalized block.
    let mut above = net.blocks[2].header.header.clone();
    above.parent = sibling.hash();
    let mut lc = fresh();
    let proof = forge_proof(&net, above.clone(), net.blocks[3].header.header.slot);
    assert_eq!(
        lc.accept_finality(&proof, &[]),
        Err(LightError::ConflictingFinality { height: above.height })
    );
    assert!(lc.conflict().is_some());

    // The same conflict with a certificate that does not verify is a relay's lie, not a
    // conflict: refused, and the client goes on.
    let mut lc = fresh();
    let mut lie = forge_proof(&net, sibling, good.target.header.slot);
    lie.certificate.signatures.truncate(2);
    assert!(matches!(lc.accept_finality(&lie, &[]), Err(LightError::Certificate(_))));
    assert!(lc.conflict().is_none());
    let links = net.links(&lc.finalized().hash, &next.source);
    assert_eq!(lc.accept_finality(&next, &links), Ok(light::Anchor::of(&next.source)));
}

/// A position older than the weak-subjectivity bound is expired, and a client starts
/// again from a recent finality proof that holds together (its sources are the caller's to
/// check); two valid proofs that conflict give the double votes.
#[test]
fn an_expired_position_starts_again_from_a_checkpoint() {
    let mut net = Net::new(4, 1);
    for _ in 0..30 {
        net.produce(vec![]);
    }
    let params = net.chain.params.clone();
    // Devnet: 2 epochs of unbonding, so a position of epoch 0 lasts to the start of epoch 2.
    assert_eq!(light::trust_deadline_slot(0, &params), 2 * params.slots_per_epoch);
    let lc = LightClient::from_genesis(&net.genesis).unwrap();
    assert!(!lc.is_expired(2 * params.slots_per_epoch - 1));
    assert!(lc.is_expired(2 * params.slots_per_epoch));

    let proof = proof_for(&net, 25);
    let fresh = LightClient::from_finality_proof(net.chain.id, params.clone(), &proof).unwrap();
    assert_eq!(fresh.finalized(), &light::Anchor::of(&proof.source));
    assert_eq!(fresh.head(), &light::Anchor::of(&proof.target.header));
    assert!(!fresh.is_expired(net.state.tip.slot));
    // It goes on like any client: the next block's header links to the proof's target.
    let mut fresh = fresh;
    let next = &net.blocks[27].header;
    assert_eq!(
        fresh.accept_header(next, &[], next.header.slot),
        Ok(light::Anchor::of(&next.header))
    );

    // A proof that does not hold together is refused.
    let mut thin = proof.clone();
    thin.certificate.signatures.truncate(2);
    assert!(matches!(
        LightClient::from_finality_proof(net.chain.id, params.clone(), &thin),
        Err(LightError::Certificate(_))
    ));
    let mut other = proof.clone();
    other.target_set.as_mut().unwrap().seed = Hash([3; 32]);
    assert_eq!(
        LightClient::from_finality_proof(net.chain.id, params.clone(), &other).err(),
        Some(LightError::WrongValidatorSet)
    );
    let mut bare = proof.clone();
    bare.target_set = None;
    assert_eq!(
        LightClient::from_finality_proof(net.chain.id, params.clone(), &bare).err(),
        Some(LightError::WrongValidatorSet)
    );

    // Two valid proofs for different blocks at one height: every signer of both double voted.
    let mut sibling = proof.source.clone();
    sibling.state_root = Hash([4; 32]);
    let mut forged = forge_proof(&net, sibling, proof.target.header.slot);
    forged.target_set = proof.target_set.clone();
    LightClient::from_finality_proof(net.chain.id, params.clone(), &forged).unwrap();
    let evidence = light::conflict_evidence(&proof, &forged);
    assert!(!evidence.is_empty());
    for e in &evidence {
        e.verify(&net.chain.id).unwrap();
    }

    // Which checkpoint several sources agree on (`Resync`, the wallet's policy): the lowest
    // proof, once two sources (or every one, if fewer) have its block at its height.
    let higher = proof_for(&net, 26);
    let (low, high) = (proof.source.hash(), higher.source.hash());
    let mut resync = light::Resync::new(3);
    resync.proof(0, higher.clone());
    assert_eq!(resync.ask(), None, "one source of three is not enough");
    resync.proof(2, proof.clone());
    assert_eq!(resync.ask(), Some((proof.source.height, vec![0, 2])));
    let start = light::Verdict::Start { proof: Box::new(proof.clone()), agreed: vec![0, 2] };
    assert_eq!(resync.decide(&[(0, Some(low)), (2, Some(low))]), start);
    // A source gone or behind does not count: wait for more.
    assert_eq!(resync.decide(&[(0, None), (2, Some(low))]), light::Verdict::Wait);
    // A source with another block there: conflicting finality; evidence only when its own
    // proof is at that height.
    let conflict = resync.decide(&[(0, Some(high)), (2, Some(low))]);
    assert_eq!(
        conflict,
        light::Verdict::Conflict { source: 0, height: proof.source.height, evidence: vec![] }
    );
    resync.proof(0, forged.clone());
    let light::Verdict::Conflict { source: 0, evidence, .. } =
        resync.decide(&[(2, Some(low)), (0, Some(forged.source.hash()))])
    else {
        panic!("a conflict");
    };
    assert!(!evidence.is_empty());
    // One configured source: its word alone (the wallet says it could not be confirmed).
    let mut alone = light::Resync::new(1);
    alone.proof(0, proof.clone());
    assert_eq!(alone.ask(), Some((proof.source.height, vec![0])));
    let start = light::Verdict::Start { proof: Box::new(proof.clone()), agreed: vec![0] };
    assert_eq!(alone.decide(&[(0, Some(low))]), start);
}

/// What a wallet asks core instead of deciding in JavaScript — where a relay's block
/// stands (`locate`), whether a refusal means a lie (`is_lie`), and whether a payment is
/// affordable (`check_affordable`).
#[test]
fn a_client_locates_a_relays_block_and_tells_lies_from_not_yet() {
    use memecoin_core::light::Located;
    let mut net = Net::new(4, 1);
    for _ in 0..8 {
        net.produce(vec![]);
    }
    let id = net.chain.id;
    let good = proof_for(&net, 3);
    let mut lc = LightClient::from_genesis(&net.genesis).unwrap();
    lc.accept_finality(&good, &net.links(&id, &good.source)).unwrap();
    let fin = *lc.finalized();
    assert_eq!(lc.locate(fin.height, &fin.hash), Located::Finalized(fin));
    let t = &good.target.header;
    assert_eq!(lc.locate(t.height, &t.hash()), Located::Head(light::Anchor::of(t)));
    let later = &net.blocks[6].header.header;
    assert_eq!(lc.locate(later.height, &later.hash()), Located::AboveFinalized);
    let below = &net.blocks[1].header.header;
    let count = fin.height - below.height + 1;
    assert_eq!(
        lc.locate(below.height, &below.hash()),
        Located::Below { from: below.height, count }
    );

    assert!(LightError::BadProposerSignature.is_lie());
    assert!(LightError::Implausible { height: 9, slot: 1 }.is_lie());
    assert!(LightError::NotLinked.is_lie());
    assert!(!LightError::UnknownParent { from: 1, to: 2 }.is_lie());
    assert!(!LightError::EpochNotKnown { epoch: 3, known: 1 }.is_lie());
    assert!(!LightError::Halted.is_lie());

    let to = net.user_address(0);
    let transfer = TxKind::Transfer { to, amount: 10 };
    assert_eq!(state::check_affordable(11, 0, &transfer, 1), Ok(()));
    assert_eq!(
        state::check_affordable(10, 0, &transfer, 1),
        Err(TxError::InsufficientBalance { needed: 11, available: 10 })
    );
    let unstake = TxKind::Unstake { amount: 5 };
    assert_eq!(state::check_affordable(1, 5, &unstake, 1), Ok(()));
    assert_eq!(
        state::check_affordable(1, 4, &unstake, 1),
        Err(TxError::InsufficientStake { requested: 5, bonded: 4 })
    );
    assert!(
        state::check_affordable(u64::MAX, 0, &TxKind::Transfer { to, amount: u64::MAX }, 1)
            .is_err()
    );
}

/// §16.11: a checkpoint is a block and the state its header commits to; anything else is named.
#[test]
fn a_checkpoint_is_the_trusted_block_and_its_own_state() {
    let mut net = Net::new(4, 2);
    let tx = net.transfer(0, net.user_address(1), 5, 0);
    net.produce(vec![tx]);
    net.produce(vec![]);
    // `states[0]` is genesis: the state after `blocks[i]` is `states[i + 1]`.
    let (block, state) = (net.blocks[1].clone(), net.states[2].clone());
    let hash = block.hash();
    assert_eq!(light::verify_checkpoint(&hash, &block, &state), Ok(()));
    let other = &net.blocks[0];
    assert_eq!(
        light::verify_checkpoint(&other.hash(), &block, &state),
        Err(LightError::WrongCheckpoint { what: "block" })
    );
    assert_eq!(
        light::verify_checkpoint(&hash, &block, &net.states[1]),
        Err(LightError::WrongCheckpoint { what: "state's tip" })
    );
    let mut forged = state.clone();
    forged.accounts_root = Hash([7; 32]);
    assert_eq!(
        light::verify_checkpoint(&hash, &block, &forged),
        Err(LightError::WrongCheckpoint { what: "state root" })
    );
    assert_eq!(
        LightError::WrongCheckpoint { what: "state root" }.to_string(),
        "checkpoint state root does not match the trusted block"
    );
}

/// What a wallet shows at review, before it signs (`sender_after`): the sender's account after
/// the transaction is exactly what the chain makes of it, for every kind (a transfer to
/// oneself pays only the fee), and a transaction the chain would refuse is refused with the
/// chain's reason.
#[test]
fn a_wallet_previews_the_senders_account_as_the_chain_applies_it() {
    let mut net = Net::new(4, 2);
    let key = net.users[0].clone();
    let me = net.user_address(0);
    let other = net.user_address(1);
    let kinds = [
        TxKind::Transfer { to: other, amount: 7 },
        TxKind::Transfer { to: me, amount: 5 },
        // Its first stake registers the key: a commitment and the minimum stake.
        TxKind::Stake { amount: net.chain.params.min_stake, commitment: Hash([7; 32]) },
        TxKind::Unstake { amount: 2 },
    ];
    for kind in kinds {
        let before = net.account(&me);
        let tx = net.tx(&key, before.nonce, kind);
        let preview = state::sender_after(&net.chain, &tx.tx, &me, &before).unwrap();
        net.produce(vec![tx]);
        let after = net.account(&me);
        assert_eq!(
            (preview.balance, preview.stake, preview.nonce),
            (after.balance, after.stake, after.nonce)
        );
    }
    let now = net.account(&me);
    let too_much = net.tx(&key, now.nonce, TxKind::Transfer { to: other, amount: now.balance });
    assert!(matches!(
        state::sender_after(&net.chain, &too_much.tx, &me, &now),
        Err(TxError::InsufficientBalance { .. })
    ));
    let stale = net.tx(&key, now.nonce - 1, TxKind::Transfer { to: other, amount: 1 });
    assert!(matches!(
        state::sender_after(&net.chain, &stale.tx, &me, &now),
        Err(TxError::NonceMismatch { .. })
    ));
    let unstake = net.tx(&key, now.nonce, TxKind::Unstake { amount: now.stake + 1 });
    assert!(matches!(
        state::sender_after(&net.chain, &unstake.tx, &me, &now),
        Err(TxError::InsufficientStake { .. })
    ));
}
