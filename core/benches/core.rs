//! Core benchmarks: signatures, transaction checks, block validation, state-tree updates and
//! block encoding. Everything is deterministic: keys come from tagged hashes of fixed labels (the
//! test harness's `key`), trees from tagged-hash keys; no randomness anywhere.
//!
//! Run: `cargo bench -p memecoin-core --bench core -- --quick` (or `cargo xtask bench --quick`).
//! Results and how to read them: BENCHMARKS.md at the workspace root.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use memecoin_core::account::Account;
use memecoin_core::address::Address;
use memecoin_core::block::Block;
use memecoin_core::crypto::PublicKey;
use memecoin_core::encode::{Decode, Encode};
use memecoin_core::hash::{Domain, Hash, tagged_hash};
use memecoin_core::light;
use memecoin_core::state::{self, Signatures};
use memecoin_core::tree::{self, MemStore};
use memecoin_core::tx::{SignedTx, TxKind};
use std::hint::black_box;

use memecoin_core::test_utils;

use test_utils::{Net, key};

/// Users funded at genesis: one transfer each, so every sender's nonce is 0.
const USERS: usize = 1_000;
/// Validators at genesis (the proposer of the benchmarked blocks is one of them).
const VALIDATORS: usize = 4;

/// A devnet with `USERS` funded users and `VALIDATORS` validators (~1,000 accounts).
fn net() -> Net {
    Net::new(VALIDATORS, USERS)
}

/// `n` transfers, user `i` → user `i + 1` (mod USERS), each at nonce 0.
fn transfers(net: &Net, n: usize) -> Vec<SignedTx> {
    (0..n)
        .map(|i| net.transfer(i, net.user_address((i + 1) % USERS), 1_000 + i as u64, 0))
        .collect()
}

/// The next block on top of `net`'s genesis state carrying `n` transfers (none rejected).
fn block_with(net: &Net, n: usize) -> Block {
    let (slot, proposer, reveal) = net.next_slot();
    let txs = transfers(net, n);
    let built = state::build_block(
        &net.store,
        &net.chain,
        &net.state,
        &proposer,
        slot,
        &reveal,
        &txs,
        None,
        state::Signatures::Verify,
    )
    .expect("block builds");
    assert!(built.rejected.is_empty(), "rejected: {:?}", built.rejected);
    assert_eq!(built.block.txs.len(), n);
    built.block
}

fn crypto(c: &mut Criterion) {
    let sk = key("bench", 0);
    let pk = sk.public_key();
    let digest = tagged_hash(Domain::SignTx, &[b"bench digest"]);
    let sig = sk.sign(&digest);
    assert!(pk.verify(&digest, &sig).is_ok());
    let pk_bytes = *pk.as_bytes();

    let mut g = c.benchmark_group("crypto");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign", |b| b.iter(|| black_box(&sk).sign(black_box(&digest))));
    g.bench_function("verify", |b| {
        b.iter(|| black_box(&pk).verify(black_box(&digest), black_box(&sig)))
    });
    g.bench_function("decode_pubkey", |b| b.iter(|| PublicKey::from_sec1(black_box(&pk_bytes))));
    g.finish();

    // The anchor: libsecp256k1 (C, Bitcoin Core's) on the same key, digest and signature.
    // `cargo xtask bench` reports k256 as a ratio of it.
    let secp = secp256k1::Secp256k1::new();
    let c_sk = secp256k1::SecretKey::from_byte_array(sk.to_bytes()).unwrap();
    let c_pk = secp256k1::PublicKey::from_secret_key(&secp, &c_sk);
    assert_eq!(c_pk.serialize(), pk_bytes);
    let c_msg = secp256k1::Message::from_digest(*digest.as_bytes());
    let c_sig = secp256k1::ecdsa::Signature::from_compact(&sig.to_bytes()).unwrap();
    assert!(secp.verify_ecdsa(c_msg, &c_sig, &c_pk).is_ok());
    assert_eq!(secp.sign_ecdsa(c_msg, &c_sk).serialize_compact()[..], sig.to_bytes()[..]);
    let mut g = c.benchmark_group("libsecp256k1");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign", |b| b.iter(|| secp.sign_ecdsa(black_box(c_msg), black_box(&c_sk))));
    g.bench_function("verify", |b| {
        b.iter(|| secp.verify_ecdsa(black_box(c_msg), black_box(&c_sig), black_box(&c_pk)))
    });
    g.finish();
}

fn tx(c: &mut Criterion) {
    let net = net();
    let tx = net.transfer(0, net.user_address(1), 1_000, 0);
    assert_eq!(
        state::check_tx(&net.store, &net.chain, &net.state, &tx, state::Signatures::Verify),
        Ok(())
    );

    let mut g = c.benchmark_group("tx");
    g.throughput(Throughput::Elements(1));
    // Account reads (two tree walks), the rules, and the signature (id, digest, verify).
    g.bench_function("check", |b| {
        b.iter(|| {
            state::check_tx(
                &net.store,
                &net.chain,
                &net.state,
                black_box(&tx),
                state::Signatures::Verify,
            )
        })
    });
    // The signature part of `check` on its own: tx id + signing digest + ECDSA verify.
    g.bench_function("verify_signature", |b| b.iter(|| black_box(&tx).verify_signature()));
    // The tx id alone (encode + tagged hash).
    g.bench_function("id", |b| b.iter(|| black_box(&tx).id()));
    g.finish();
}

fn block_apply(c: &mut Criterion) {
    let net = net();
    let mut g = c.benchmark_group("block/apply");
    g.sample_size(10);
    for n in [100usize, 1_000] {
        let block = block_with(&net, n);
        // The signatures as a signature cache would vouch for them.
        let valid = vec![true; n];
        // Both paths accept the block before we time them.
        assert!(
            state::apply_block(
                &net.store,
                &net.chain,
                &net.state,
                &block,
                state::Signatures::Verify
            )
            .is_ok()
        );
        assert!(
            state::apply_block(
                &net.store,
                &net.chain,
                &net.state,
                &block,
                Signatures::Checked(&valid)
            )
            .is_ok()
        );
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("verified", n), &block, |b, block| {
            b.iter(|| {
                state::apply_block(
                    &net.store,
                    &net.chain,
                    &net.state,
                    black_box(block),
                    state::Signatures::Verify,
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("trusted", n), &block, |b, block| {
            b.iter(|| {
                state::apply_block(
                    &net.store,
                    &net.chain,
                    &net.state,
                    black_box(block),
                    Signatures::Checked(&valid),
                )
            })
        });
    }
    g.finish();
}

/// State-tree key of synthetic account `i` (as `state_key` does, a tagged hash: evenly spread).
fn tree_key(i: u64) -> Hash {
    tagged_hash(Domain::StateKey, &[b"bench account", &i.to_be_bytes()])
}

/// An encoded account with `balance`.
fn account_bytes(balance: u64) -> Vec<u8> {
    Account { balance, nonce: 1, ..Account::default() }.to_bytes()
}

/// A tree of `size` accounts in a fresh store, built with one update.
fn tree_of(size: u64) -> (MemStore, Hash) {
    let changes: Vec<(Hash, Option<Vec<u8>>)> =
        (0..size).map(|i| (tree_key(i), Some(account_bytes(1_000_000 + i)))).collect();
    let (root, nodes) = tree::update(&MemStore::new(), &Hash::ZERO, &changes).expect("tree builds");
    let mut store = MemStore::new();
    store.extend(nodes);
    (store, root)
}

fn tree_bench(c: &mut Criterion) {
    // 1M accounts takes a while to build: full runs only (`cargo xtask bench` without --quick).
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[u64] = if quick { &[10_000, 100_000] } else { &[10_000, 100_000, 1_000_000] };
    let trees: Vec<(u64, MemStore, Hash)> = sizes
        .iter()
        .copied()
        .map(|size| {
            let (store, root) = tree_of(size);
            (size, store, root)
        })
        .collect();

    let mut g = c.benchmark_group("tree/update");
    for (size, store, root) in &trees {
        for touched in [1u64, 100] {
            // Existing accounts spread over the tree, each given a new balance.
            let step = size / touched;
            let changes: Vec<(Hash, Option<Vec<u8>>)> =
                (0..touched).map(|j| (tree_key(j * step), Some(account_bytes(7 + j)))).collect();
            g.throughput(Throughput::Elements(touched));
            g.bench_with_input(
                BenchmarkId::new(format!("{touched}_of"), size),
                &changes,
                |b, changes| b.iter(|| tree::update(store, black_box(root), black_box(changes))),
            );
        }
    }
    g.finish();

    // One read, for comparison: one node load (clone + hash check) per level.
    let mut g = c.benchmark_group("tree/get");
    g.throughput(Throughput::Elements(1));
    for (size, store, root) in &trees {
        let probe = tree_key(size / 2);
        assert!(matches!(tree::get(store, root, &probe), Ok(Some(_))));
        g.bench_with_input(BenchmarkId::from_parameter(size), &probe, |b, probe| {
            b.iter(|| tree::get(store, black_box(root), black_box(probe)))
        });
    }
    g.finish();
}

fn encoding(c: &mut Criterion) {
    let net = net();
    let block = block_with(&net, 1_000);
    let bytes = block.to_bytes();
    assert_eq!(Block::from_bytes(&bytes).as_ref(), Ok(&block));

    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("block", |b| b.iter(|| black_box(&block).to_bytes()));
    g.finish();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    // Includes one point decompression per transaction (the sender key).
    g.bench_function("block", |b| b.iter(|| Block::from_bytes(black_box(&bytes))));
    g.finish();
}

/// Finding the reveal for a proposal on a validator's hash chain of 10^6 (the relay's default
/// `keygen` length), 1,000 blocks into it: the walk from the secret (what every proposal did
/// before 2026-11-24) against the indexed chain the relay now keeps.
fn reveal(c: &mut Criterion) {
    use memecoin_core::pos::{HashChain, Reveals};
    let chain = HashChain::new(tagged_hash(Domain::Reveal, &[b"bench chain"]), 1_000_000);
    let commitment = chain.reveal(1_000).expect("a reveal");
    let reveals = Reveals::new(&chain);
    assert_eq!(reveals.preimage_of(&commitment), chain.reveal(1_001));

    let mut g = c.benchmark_group("reveal");
    g.sample_size(10);
    g.bench_function("walk", |b| b.iter(|| black_box(&chain).preimage_of(black_box(&commitment))));
    // Each iteration finds the next reveal down the chain, as successive proposals do.
    let mut next = commitment;
    g.bench_function("indexed", |b| {
        b.iter(|| {
            next = reveals.preimage_of(black_box(&next)).unwrap_or(commitment);
        })
    });
    g.finish();
}

/// `net`'s state with `n` payouts pending in the unbonding queue (for an account that has none:
/// they mature long after the benchmarked block and pay nothing), and the nodes that hold them.
fn with_queue(net: &Net, n: u64) -> (MemStore, state::ChainState) {
    let mut store = net.store.clone();
    let mut s = net.state.clone();
    let address = net.user_address(net.users.len() - 1);
    queue_releases(&mut store, &mut s, address, n);
    (store, s)
}

/// Appends `n` entries to the state's queue of unstakes, in the tree and in the meta.
fn queue_releases(store: &mut MemStore, s: &mut state::ChainState, address: Address, n: u64) {
    let queue = &mut s.meta.releases.unstaked;
    let release = state::Release { epoch: 1 << 40, address }.to_bytes();
    let entries: Vec<(Hash, Option<Vec<u8>>)> = (queue.end..queue.end + n)
        .map(|i| (state::release_key(0, i), Some(release.clone())))
        .collect();
    let (root, nodes) = tree::update(&*store, &s.meta.releases.root, &entries).expect("updates");
    store.extend(nodes);
    s.meta.releases.root = root;
    if queue.is_empty() && n > 0 {
        queue.first_epoch = 1 << 40;
    }
    queue.end += n;
}

/// How the cost of the unbonding queue grows with its length (PROTOCOL.md §7.5): building and
/// validating a block that carries one unstake, checking an unstake as a mempool does, and an
/// account proof as the relay serves it. Each must stay flat as the queue grows (the anchor is
/// the same figure with an empty queue, in the same run).
fn unbonding_queue(c: &mut Criterion) {
    let net = Net::new(VALIDATORS, 16);
    let v = net.validators[0].clone();
    let unstake = net.tx(&v, 0, TxKind::Unstake { amount: 1 });
    let user = net.user_address(0);
    let mut g = c.benchmark_group("unbonding_queue");
    g.sample_size(10);
    for n in [0u64, 10_000, 1_000_000] {
        let (store, s) = with_queue(&net, n);
        let (slot, proposer, reveal) = net.next_slot();
        let build = || {
            state::build_block(
                &store,
                &net.chain,
                &s,
                &proposer,
                slot,
                &reveal,
                std::slice::from_ref(&unstake),
                None,
                state::Signatures::Verify,
            )
        };
        let built = build().expect("block builds");
        assert_eq!(built.block.txs.len(), 1);
        assert!(
            state::apply_block(&store, &net.chain, &s, &built.block, state::Signatures::Verify)
                .is_ok()
        );
        assert_eq!(
            state::check_tx(&store, &net.chain, &s, &unstake, state::Signatures::Verify),
            Ok(())
        );
        g.bench_function(BenchmarkId::new("build_block", n), |b| b.iter(build));
        g.bench_function(BenchmarkId::new("apply_block", n), |b| {
            b.iter(|| {
                state::apply_block(
                    &store,
                    &net.chain,
                    &s,
                    black_box(&built.block),
                    state::Signatures::Verify,
                )
            })
        });
        g.bench_function(BenchmarkId::new("check_tx", n), |b| {
            b.iter(|| {
                state::check_tx(
                    &store,
                    &net.chain,
                    &s,
                    black_box(&unstake),
                    state::Signatures::Verify,
                )
            })
        });
        g.bench_function(BenchmarkId::new("account_proof", n), |b| {
            b.iter(|| light::prove_account(&store, &s, black_box(&user)))
        });
    }
    g.finish();
}

criterion_group!(benches, crypto, tx, block_apply, tree_bench, encoding, reveal, unbonding_queue);
criterion_main!(benches);
