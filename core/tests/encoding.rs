//! Decoding rejects what it must: oversize input, trailing bytes, lengths the input cannot hold,
//! unknown tags and non-canonical forms. Genesis specs parse and fail with clear reasons.

use memecoin_core::test_utils;

use memecoin_core::account::Account;
use memecoin_core::block::Block;
use memecoin_core::encode::{Decode, DecodeError, Encode};
use memecoin_core::finality::Certificate;
use memecoin_core::genesis::{Genesis, GenesisError};
use memecoin_core::pos::{self, ValidatorSet};
use memecoin_core::state::{ChainMeta, ReleaseQueue, Releases};
use memecoin_core::tx::{MAX_TX_SIZE, SignedTx};
use test_utils::Net;

fn a_block() -> Block {
    let mut net = Net::new(3, 2);
    net.produce(vec![]);
    let tx = net.transfer(0, net.user_address(1), 5, 0);
    net.produce(vec![tx])
}

#[test]
fn trailing_bytes_and_truncation_are_rejected() {
    let block = a_block();
    let mut bytes = block.to_bytes();
    bytes.push(0);
    assert_eq!(Block::from_bytes(&bytes), Err(DecodeError::TrailingBytes { left: 1 }));
    bytes.truncate(bytes.len() - 2);
    assert!(matches!(Block::from_bytes(&bytes), Err(DecodeError::UnexpectedEnd { .. })));
    let tx = &block.txs[0];
    let mut t = tx.to_bytes();
    t.extend_from_slice(&[1, 2]);
    assert_eq!(SignedTx::from_bytes(&t), Err(DecodeError::TrailingBytes { left: 2 }));
}

#[test]
fn size_caps_come_before_parsing() {
    let big = vec![0u8; MAX_TX_SIZE + 1];
    assert_eq!(
        SignedTx::from_bytes(&big),
        Err(DecodeError::TooLarge {
            what: "signed transaction",
            size: MAX_TX_SIZE + 1,
            max: MAX_TX_SIZE
        })
    );
    let huge = vec![0u8; Block::MAX_SIZE + 1];
    assert!(matches!(Block::from_bytes(&huge), Err(DecodeError::TooLarge { .. })));
}

#[test]
fn a_count_larger_than_the_input_allocates_nothing() {
    // A block header followed by a claim of 10,000 transactions and nothing else.
    let block = a_block();
    let mut bytes = block.header.to_bytes();
    bytes.extend_from_slice(&10_000u32.to_be_bytes());
    assert!(matches!(Block::from_bytes(&bytes), Err(DecodeError::UnexpectedEnd { .. })));
    // Above the cap is refused by the cap, whatever the input holds.
    let mut bytes = block.header.to_bytes();
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Block::from_bytes(&bytes),
        Err(DecodeError::TooMany { what: "transactions", .. })
    ));
}

#[test]
fn non_canonical_forms_are_rejected() {
    // Unsorted certificate signers.
    let block = a_block();
    let mut cert = block.certificate.clone().unwrap();
    cert.signatures.reverse();
    assert_eq!(
        Certificate::from_bytes(&cert.to_bytes()),
        Err(DecodeError::NonCanonical { what: "certificate signer order" })
    );
    // Unbonding entries out of order.
    let acc = Account {
        unbonding: vec![
            memecoin_core::account::Unbonding { amount: 1, release_epoch: 5 },
            memecoin_core::account::Unbonding { amount: 1, release_epoch: 4 },
        ],
        ..Account::default()
    };
    assert_eq!(
        Account::from_bytes(&acc.to_bytes()),
        Err(DecodeError::NonCanonical { what: "unbonding order" })
    );
    // A bool that is not 0 or 1.
    let mut bytes = Account::default().to_bytes();
    *bytes.last_mut().unwrap() = 2;
    assert_eq!(
        Account::from_bytes(&bytes),
        Err(DecodeError::InvalidTag { what: "slashed flag", tag: 2 })
    );
    // An unknown transaction kind.
    let mut tx = block.txs[0].to_bytes();
    let kind_at = 32 + 33 + 8 + 8;
    tx[kind_at] = 9;
    assert_eq!(
        SignedTx::from_bytes(&tx),
        Err(DecodeError::InvalidTag { what: "transaction kind", tag: 9 })
    );
    // A validator set with members out of order.
    let set = Net::new(3, 0).state.meta.current.clone();
    let mut bytes = set.to_bytes();
    let first = 32 + 4;
    let (a, b) = (first, first + 41);
    let (x, y) = (bytes[a..a + 41].to_vec(), bytes[b..b + 41].to_vec());
    bytes[a..a + 41].copy_from_slice(&y);
    bytes[b..b + 41].copy_from_slice(&x);
    assert_eq!(
        ValidatorSet::from_bytes(&bytes),
        Err(DecodeError::NonCanonical { what: "validator order" })
    );
    // Release queues: an epoch on an empty queue, a negative length, a root for nothing
    // pending, no root for something pending.
    let meta = Net::new(3, 0).state.meta.clone();
    let queue = |first, end, first_epoch| ReleaseQueue { first, end, first_epoch };
    let root = memecoin_core::hash::Hash([7; 32]);
    let zero = memecoin_core::hash::Hash::ZERO;
    for (root, unstaked) in [
        (zero, queue(3, 3, 9)),
        (root, queue(4, 3, 9)),
        (root, queue(3, 3, 0)),
        (zero, queue(3, 4, 9)),
    ] {
        let mut bad = meta.clone();
        bad.releases = Releases { root, unstaked, deferred: ReleaseQueue::default() };
        assert_eq!(
            ChainMeta::from_bytes(&bad.to_bytes()),
            Err(DecodeError::NonCanonical { what: "release queue" }),
            "{unstaked:?}"
        );
    }
    let mut good = meta.clone();
    good.releases = Releases { root, unstaked: queue(3, 4, 9), deferred: queue(0, 0, 0) };
    assert_eq!(ChainMeta::from_bytes(&good.to_bytes()), Ok(good));
}

#[test]
fn genesis_json_round_trips_and_errors_are_clear() {
    let net = Net::new(3, 2);
    let json = net.genesis.to_json();
    let back = Genesis::from_json(&json).unwrap();
    assert_eq!(back, net.genesis);
    assert_eq!(back.chain_id(), net.chain.id);
    assert_eq!(Genesis::from_bytes(&net.genesis.to_bytes()), Ok(net.genesis.clone()));

    let mut g = net.genesis.clone();
    g.validators.clear();
    assert_eq!(g.build().err(), Some(GenesisError::NoValidators));
    let mut g = net.genesis.clone();
    g.validators.reverse();
    assert_eq!(g.build().err(), Some(GenesisError::Unsorted { what: "validators" }));
    let mut g = net.genesis.clone();
    g.validators[0].stake = 1;
    assert!(matches!(g.build().err(), Some(GenesisError::StakeBelowMinimum { .. })));
    let mut g = net.genesis.clone();
    g.validators[1].commitment = memecoin_core::hash::Hash::ZERO;
    assert_eq!(g.build().err(), Some(GenesisError::MissingCommitment));
    let mut g = net.genesis.clone();
    g.chain_name = "x".repeat(65);
    assert_eq!(g.build().err(), Some(GenesisError::NameTooLong { bytes: 65, max: 64 }));
    let mut g = net.genesis.clone();
    g.params.unbonding_epochs = 1;
    assert!(matches!(g.build().err(), Some(GenesisError::Params(_))));
    let mut g = net.genesis.clone();
    g.params.slots_per_epoch = 0;
    assert!(matches!(g.build().err(), Some(GenesisError::Params(_))));
    let typo = json.replacen("meme1", "meme2", 1);
    assert!(matches!(Genesis::from_json(&typo), Err(GenesisError::Json(_))));
    let unknown = json.replacen("\"chain_name\"", "\"extra\": 1, \"chain_name\"", 1);
    assert!(matches!(Genesis::from_json(&unknown), Err(GenesisError::Json(_))));
}

#[test]
fn slot_clock_takes_time_as_an_argument() {
    let genesis = 1_000_000;
    assert_eq!(pos::slot_at(genesis, 1_000, genesis - 1), None, "before genesis");
    assert_eq!(pos::slot_at(genesis, 1_000, genesis), Some(0));
    assert_eq!(pos::slot_at(genesis, 1_000, genesis + 2_999), Some(2));
    assert_eq!(pos::slot_start(genesis, 1_000, 3), Some(genesis + 3_000));
    assert_eq!(pos::slot_start(genesis, 1_000, u64::MAX), None, "overflow is None, not a panic");
}

#[test]
fn chain_state_round_trips() {
    let mut net = Net::new(3, 2);
    for _ in 0..10 {
        net.produce(vec![]);
    }
    let state = net.state.clone();
    let back = memecoin_core::state::ChainState::from_bytes(&state.to_bytes()).unwrap();
    assert_eq!(back, state);
    assert_eq!(back.state_root(), state.state_root());
}

/// A registration with a renewal epoch but no renewal has no place in a state reached by valid
/// blocks (PROTOCOL.md §6.4): it is refused, so a registration has one encoding.
#[test]
fn a_renewal_epoch_without_a_renewal_is_refused() {
    let net = Net::new(2, 0);
    let mut state = net.state.clone();
    state.meta.registry[0].renewal_epoch = 5;
    assert_eq!(
        memecoin_core::state::ChainState::from_bytes(&state.to_bytes()),
        Err(DecodeError::NonCanonical { what: "renewal epoch" })
    );
    state.meta.registry[0].renewal = memecoin_core::hash::Hash([1; 32]);
    let back = memecoin_core::state::ChainState::from_bytes(&state.to_bytes()).unwrap();
    assert_eq!(back, state, "with a renewal it round-trips");
}
