//! Block import as the relay does it: transaction signatures from the signature cache or
//! verified on all cores (`sigcache`), then core's `apply_block`. `cargo xtask bench`
//! reports these against the single-core verify bound measured by core's benches in the same run.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use memecoin_core::block::Block;
use memecoin_core::state::{self, Signatures};
use memecoin_node::sigcache::SigCache;
use std::hint::black_box;

use memecoin_core::test_utils;

use test_utils::Net;

const USERS: usize = 1_000;

/// A block on top of genesis with `n` transfers from distinct funded users.
fn block_with(net: &Net, n: usize) -> Block {
    let txs: Vec<_> = (0..n)
        .map(|i| net.transfer(i, net.user_address((i + 1) % USERS), 1_000 + i as u64, 0))
        .collect();
    let (slot, proposer, reveal) = net.next_slot();
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
    assert_eq!(built.block.txs.len(), n);
    built.block
}

fn import(c: &mut Criterion) {
    let net = Net::new(4, USERS);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("block/import: {cores} cores");
    let mut g = c.benchmark_group("block/import");
    g.sample_size(10);
    let n = 1_000;
    let block = block_with(&net, n);
    // What the node does: signatures verified on all cores while core applies the block.
    let import = |cache: &SigCache, block: &Block| {
        cache.apply_overlapped(&block.txs, |signatures| {
            state::apply_block(&net.store, &net.chain, &net.state, block, signatures)
        })
    };
    // Before: every signature verified on all cores first, then core (the before/after pair).
    let phased = |cache: &SigCache, block: &Block| {
        let valid = cache.check_block(&block.txs);
        state::apply_block(&net.store, &net.chain, &net.state, block, Signatures::Checked(&valid))
    };
    let cold = SigCache::default();
    let warm = SigCache::default();
    for tx in &block.txs {
        warm.insert(tx);
    }
    assert!(import(&cold, &block).is_ok() && import(&warm, &block).is_ok());
    assert_eq!(import(&cold, &block).unwrap().state, phased(&cold, &block).unwrap().state);
    g.throughput(Throughput::Elements(n as u64));
    // Nothing cached: every signature verified, split over all cores.
    g.bench_with_input(BenchmarkId::new("parallel", n), &block, |b, block| {
        b.iter(|| import(&cold, black_box(block)))
    });
    g.bench_with_input(BenchmarkId::new("phased", n), &block, |b, block| {
        b.iter(|| phased(&cold, black_box(block)))
    });
    // Every transaction seen in the mempool first: no signature verified again.
    g.bench_with_input(BenchmarkId::new("cached", n), &block, |b, block| {
        b.iter(|| import(&warm, black_box(block)))
    });
    g.finish();

    // A proposer building from its mempool: before, core verified every candidate again; now
    // the mempool's verification stands (`Signatures::Checked`).
    let mut g = c.benchmark_group("block/build");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    let (slot, proposer, reveal) = net.next_slot();
    let verified = vec![true; n];
    let build = |signatures| {
        state::build_block(
            &net.store, &net.chain, &net.state, &proposer, slot, &reveal, &block.txs, None,
            signatures,
        )
    };
    g.bench_function(BenchmarkId::new("verify", n), |b| b.iter(|| build(Signatures::Verify)));
    g.bench_function(BenchmarkId::new("mempool_verified", n), |b| {
        b.iter(|| build(Signatures::Checked(&verified)))
    });
    g.finish();
}

criterion_group!(benches, import);
criterion_main!(benches);
