//! Property tests: encoding round trips and canonicality, mutation of signed objects, proposer
//! frequency, fork choice and finality, supply conservation over random transactions.

use memecoin_core::test_utils;

use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::crypto::PublicKey;
use memecoin_core::encode::{Decode, Encode};
use memecoin_core::finality::{Checkpoint, SignedVote, Vote};
use memecoin_core::forkchoice::{BlockInfo, ForkChoice};
use memecoin_core::hash::{Domain, Hash, tagged_hash};
use memecoin_core::header::SignedHeader;
use memecoin_core::pos::{Member, ValidatorSet};
use memecoin_core::tx::{SignedTx, Tx, TxKind};
use proptest::prelude::*;
use test_utils::{Net, key};

fn arb_kind() -> impl Strategy<Value = TxKind> {
    prop_oneof![
        (any::<[u8; 20]>(), any::<u64>())
            .prop_map(|(a, amount)| TxKind::Transfer { to: Address(a), amount }),
        (any::<u64>(), any::<[u8; 32]>())
            .prop_map(|(amount, c)| TxKind::Stake { amount, commitment: Hash(c) }),
        any::<u64>().prop_map(|amount| TxKind::Unstake { amount }),
    ]
}

fn arb_tx() -> impl Strategy<Value = SignedTx> {
    (0u64..4, any::<[u8; 32]>(), any::<u64>(), any::<u64>(), arb_kind()).prop_map(
        |(k, chain, nonce, fee, kind)| {
            let key = key("prop", k);
            Tx { chain_id: Hash(chain), sender: key.public_key(), nonce, fee, kind }.sign(&key)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn tx_round_trips(tx in arb_tx()) {
        let bytes = tx.to_bytes();
        let back = SignedTx::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &tx);
        prop_assert_eq!(back.to_bytes(), bytes);
        prop_assert!(tx.verify_signature().is_ok());
    }

    /// Any accepted byte string re-encodes to itself: there is one form per value.
    #[test]
    fn decoding_random_bytes_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(tx) = SignedTx::from_bytes(&bytes) { prop_assert_eq!(tx.to_bytes(), bytes.clone()); }
        if let Ok(v) = SignedVote::from_bytes(&bytes) { prop_assert_eq!(v.to_bytes(), bytes.clone()); }
        if let Ok(h) = SignedHeader::from_bytes(&bytes) { prop_assert_eq!(h.to_bytes(), bytes.clone()); }
        if let Ok(b) = Block::from_bytes(&bytes) { prop_assert_eq!(b.to_bytes(), bytes.clone()); }
    }

    /// Flipping any bit of a signed transaction or vote either breaks decoding or breaks the
    /// signature: a mutated object is never accepted.
    #[test]
    fn mutated_signed_objects_are_rejected(tx in arb_tx(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = tx.to_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(m) = SignedTx::from_bytes(&bytes) {
            prop_assert!(m.verify_signature().is_err());
        }
        let k = key("prop", 0);
        let vote = Vote { epoch: 1, source: Checkpoint { height: 1, hash: Hash([1; 32]) }, target: Checkpoint { height: 2, hash: Hash([2; 32]) } };
        let chain = Hash([5; 32]);
        let mut bytes = vote.sign(&chain, &k).to_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(m) = SignedVote::from_bytes(&bytes) {
            prop_assert!(m.verify_signature(&chain).is_err());
        }
    }

    /// Fork choice: whatever blocks arrive, the head descends from the finalized block, finality
    /// never moves back, and a block conflicting with finality is refused.
    #[test]
    fn fork_choice_never_crosses_finality(ops in proptest::collection::vec((any::<prop::sample::Index>(), 0u64..3, any::<bool>()), 1..80)) {
        let genesis = Checkpoint { height: 0, hash: Hash([0; 32]) };
        let mut fc = ForkChoice::new(genesis);
        let mut all: Vec<BlockInfo> = Vec::new();
        let mut last_final = genesis;
        for (n, (parent_pick, jump, finalize)) in ops.into_iter().enumerate() {
            let parent = if all.is_empty() { None } else { Some(all[parent_pick.index(all.len())]) };
            let (parent_hash, parent_height, pj) = match parent {
                Some(p) => (p.hash, p.height, p.justified),
                None => (genesis.hash, 0, genesis),
            };
            let hash = tagged_hash(Domain::Header, &[&(n as u64).to_be_bytes()]);
            // Finalize the parent's parent now and then (as a certificate would).
            let finalized = match (finalize, parent) {
                (true, Some(p)) => Checkpoint { height: p.height, hash: p.hash },
                _ => fc.finalized(),
            };
            let info = BlockInfo {
                hash, parent: parent_hash, height: parent_height + 1,
                justified: Checkpoint { height: pj.height + jump.min(parent_height + 1 - pj.height), hash: Hash::ZERO },
                finalized,
            };
            let conflicts = parent.is_some() && !fc.contains(&parent_hash);
            let r = fc.insert(info);
            if conflicts { prop_assert!(r.is_err()); }
            if r.is_ok() { all.push(info); }
            let f = fc.finalized();
            prop_assert!(f.height >= last_final.height);
            if f.height == last_final.height { prop_assert_eq!(f, last_final); }
            last_final = f;
            let head = fc.head();
            prop_assert!(fc.is_ancestor(&f.hash, &head) || head == f.hash);
        }
    }
}

/// Each member proposes in proportion to its stake: over 200,000 slots, every count is within
/// 5 standard deviations of the binomial expectation, for several seeds.
#[test]
fn proposer_frequency_follows_stake() {
    let stakes = [1u64, 2, 3, 10, 84];
    let members: Vec<Member> = stakes
        .iter()
        .enumerate()
        .map(|(i, s)| Member { key: key("freq", i as u64).public_key(), stake: s * 1_000_000 })
        .collect();
    for seed in 0..3u8 {
        let set = ValidatorSet::new(Hash([seed; 32]), members.clone()).unwrap();
        let total: u64 = set.total_stake();
        let n = 200_000u64;
        let mut counts = std::collections::BTreeMap::<PublicKey, u64>::new();
        for slot in 0..n {
            *counts.entry(set.proposer(slot).unwrap().key.clone()).or_default() += 1;
        }
        for m in set.members() {
            let p = m.stake as f64 / total as f64;
            let expected = n as f64 * p;
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            let got = counts.get(&m.key).copied().unwrap_or(0) as f64;
            assert!(
                (got - expected).abs() < 5.0 * sd,
                "seed {seed}: stake {} got {got}, expected {expected:.0} ± {sd:.0}",
                m.stake
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random transfers, stakes and unstakes (valid or not) over several blocks: the supply
    /// check in `Net::import` runs after every block.
    #[test]
    fn supply_is_conserved_over_random_transactions(
        ops in proptest::collection::vec((0usize..3, 0usize..4, 0u8..4, 1u64..3_000_000_000_000), 1..40)
    ) {
        let mut net = Net::new(3, 3);
        let mut nonces = [0u64; 3];
        for chunk in ops.chunks(6) {
            let mut txs = Vec::new();
            for (from, to, kind, amount) in chunk {
                let user = net.users[*from].clone();
                let to = if *to < 3 { net.user_address(*to) } else { Address([9; 20]) };
                let kind = match kind {
                    0 | 1 => TxKind::Transfer { to, amount: *amount },
                    2 => TxKind::Stake { amount: *amount, commitment: Hash([1; 32]) },
                    _ => TxKind::Unstake { amount: *amount / 2 },
                };
                txs.push(net.tx(&user, nonces[*from], kind));
                nonces[*from] += 1;
            }
            let (slot, k, reveal) = net.next_slot();
            let built = memecoin_core::state::build_block(&net.store, &net.chain, &net.state, &k, slot, &reveal, &txs, net.certificate(), memecoin_core::state::Signatures::Verify).unwrap();
            // Left-out transactions must not have consumed their nonce.
            for (id, _) in &built.rejected {
                let tx = txs.iter().find(|t| &t.id() == id).unwrap();
                let i = net.users.iter().position(|u| u.public_key() == tx.tx.sender).unwrap();
                nonces[i] = nonces[i].min(tx.tx.nonce);
            }
            net.import(built.block).unwrap();
            for (i, u) in net.users.clone().iter().enumerate() { nonces[i] = net.nonce(u); }
        }
    }
}
