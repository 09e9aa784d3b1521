//! Transaction signatures this relay has already checked, and checking the rest on every core.
//!
//! A transaction's signature is verified when it enters the mempool; when the same transaction
//! arrives again inside a block, checking it a second time is wasted work (Bitcoin Core keeps a
//! signature cache for the same reason). Block import runs core through
//! [`SigCache::apply_overlapped`]: the cached signatures count as valid, the others are verified
//! on every core *while* core validates the block (`state::apply_block` with
//! `Signatures::Lookup`); core asks for each result in block order when it reaches that
//! transaction, waiting if it is not ready, so a block is refused with the same error as when
//! core verifies everything itself, and the state work (tree reads, about a tenth of the time)
//! no longer waits for the last signature.
//!
//! The key is SHA-256 of the transaction id and the signature bytes: the id alone does not cover
//! the signature, and a transaction with a forged signature must not ride on a valid one's entry.
//! The cache is bounded (oldest entries go first) and only ever holds signatures that verified.

use memecoin_core::encode::Encode;
use memecoin_core::state::Signatures;
use memecoin_core::tx::SignedTx;
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Entries kept: about a mempool's worth of transactions plus the blocks in flight.
pub const CAPACITY: usize = 65_536;
/// Below this many unchecked signatures, threads cost more than they save.
const PARALLEL_FROM: usize = 16;

/// Shared by the node (mempool admissions, block import under its lock) and the connections
/// (a block's signatures, verified before the lock): a lock of its own, held only to look up or
/// record keys, never while verifying.
#[derive(Debug, Default)]
pub struct SigCache {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    keys: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

fn key(tx: &SignedTx) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(tx.id().as_bytes());
    h.update(tx.signature.to_bytes());
    h.finalize().into()
}

impl SigCache {
    /// Records that `tx`'s signature verified.
    pub fn insert(&self, tx: &SignedTx) {
        let key = key(tx);
        let Ok(mut e) = self.entries.lock() else { return };
        if e.keys.insert(key) {
            e.order.push_back(key);
            while e.order.len() > CAPACITY {
                if let Some(old) = e.order.pop_front() {
                    e.keys.remove(&old);
                }
            }
        }
    }

    pub fn contains(&self, tx: &SignedTx) -> bool {
        let key = key(tx);
        self.entries.lock().is_ok_and(|e| e.keys.contains(&key))
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.keys.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Verifies the signatures of `txs` not cached yet, on every core, and records those that
    /// verified: what a connection does with a block before it takes the node's lock, so the
    /// import under the lock finds them here ([`SigCache::apply_overlapped`]) and does only the
    /// state work. A forged one is not recorded; core refuses the block under the lock.
    pub fn remember_valid(&self, txs: &[SignedTx]) {
        let unchecked: Vec<&SignedTx> = txs.iter().filter(|tx| !self.contains(tx)).collect();
        let results = verify_all(unchecked.clone());
        for (tx, ok) in unchecked.into_iter().zip(results) {
            if ok {
                self.insert(tx);
            }
        }
    }

    /// Whether each transaction's signature is valid: from the cache, or verified on all cores.
    pub fn check_block(&self, txs: &[SignedTx]) -> Vec<bool> {
        let mut valid: Vec<Option<bool>> =
            txs.iter().map(|tx| self.contains(tx).then_some(true)).collect();
        let unchecked: Vec<usize> = (0..txs.len()).filter(|&i| valid[i].is_none()).collect();
        let results = verify_all(unchecked.iter().map(|&i| &txs[i]).collect());
        for (i, ok) in unchecked.into_iter().zip(results) {
            valid[i] = Some(ok);
        }
        valid.into_iter().map(|v| v.unwrap_or(false)).collect()
    }

    /// Runs `apply` (core's validation of the block holding `txs`) with their signatures as
    /// `Signatures::Lookup`: the cached ones are valid; the others are claimed one at a time, in
    /// block order, by `cores - 1` worker threads and by core's own thread whenever it asks for
    /// a result that is not ready (it verifies the next unclaimed one instead of waiting), so
    /// there are never more busy threads than cores. Few unchecked signatures (or one core):
    /// no threads, core verifies them itself. Once `apply` returns, the workers stop at their
    /// next claim.
    pub fn apply_overlapped<R>(
        &self,
        txs: &[SignedTx],
        apply: impl FnOnce(Signatures<'_>) -> R,
    ) -> R {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cached: Vec<bool> = txs.iter().map(|tx| self.contains(tx)).collect();
        let unchecked: Vec<usize> = (0..txs.len()).filter(|&i| !cached[i]).collect();
        if cores < 2 || unchecked.len() < PARALLEL_FROM {
            // Cached ones are valid; core verifies the others itself (`None`), in block order.
            return apply(Signatures::Lookup(&|i| cached.get(i).copied().filter(|c| *c)));
        }
        let work = Work { txs, unchecked: &unchecked, results: Results::new(txs.len()) };
        std::thread::scope(|scope| {
            for _ in 1..cores {
                let work = &work;
                scope.spawn(move || while work.claim() {});
            }
            let lookup = |i: usize| {
                if cached.get(i).copied().unwrap_or(false) {
                    return Some(true);
                }
                loop {
                    match work.results.get(i) {
                        Ready::Yes(valid) => return Some(valid),
                        Ready::Beyond => return None,
                        // Not ready: verify the next unclaimed one; when none is left, the one
                        // we need is being verified by a worker: wait for it.
                        Ready::No if work.claim() => {}
                        Ready::No => return work.results.wait(i),
                    }
                }
            };
            let applied = apply(Signatures::Lookup(&lookup));
            work.results.stop.store(true, Ordering::Relaxed);
            applied
        })
    }
}

/// The unchecked signatures of a block, claimed one at a time in block order.
struct Work<'a> {
    txs: &'a [SignedTx],
    unchecked: &'a [usize],
    results: Results,
}

impl Work<'_> {
    /// Claims the next unchecked signature and verifies it; `false` once none is left (or the
    /// caller is done).
    fn claim(&self) -> bool {
        if self.results.stop.load(Ordering::Relaxed) {
            return false;
        }
        let k = self.results.next.fetch_add(1, Ordering::Relaxed);
        let Some(&i) = self.unchecked.get(k) else { return false };
        // Set even if verification were to panic (it returns a Result; it does not), so that
        // nobody waits for it forever.
        let mut unanswered = Unanswered { results: &self.results, index: Some(i) };
        let valid = self.txs.get(i).is_some_and(|tx| tx.verify_signature().is_ok());
        unanswered.index = None;
        self.results.set(i, valid);
        true
    }
}

/// Whether a result is there.
enum Ready {
    Yes(bool),
    No,
    /// Past the end of the block: core verifies it.
    Beyond,
}

/// Signature results as they are produced, for a reader that may wait for one.
struct Results {
    slots: Mutex<Vec<Option<bool>>>,
    ready: Condvar,
    next: AtomicUsize,
    stop: AtomicBool,
}

impl Results {
    fn new(len: usize) -> Self {
        Results {
            slots: Mutex::new(vec![None; len]),
            ready: Condvar::new(),
            next: AtomicUsize::new(0),
            stop: false.into(),
        }
    }

    fn set(&self, i: usize, valid: bool) {
        if let Ok(mut slots) = self.slots.lock()
            && let Some(slot) = slots.get_mut(i)
        {
            *slot = Some(valid);
        }
        self.ready.notify_all();
    }

    fn get(&self, i: usize) -> Ready {
        match self.slots.lock().map(|slots| slots.get(i).copied()) {
            Ok(Some(Some(valid))) => Ready::Yes(valid),
            Ok(Some(None)) => Ready::No,
            Ok(None) => Ready::Beyond,
            // A thread panicked holding the lock: count it as not verified.
            Err(_) => Ready::Yes(false),
        }
    }

    /// Transaction `i`'s result, once it is set; `None` past the end (core verifies).
    fn wait(&self, i: usize) -> Option<bool> {
        let Ok(mut slots) = self.slots.lock() else { return Some(false) };
        loop {
            match slots.get(i) {
                None => return None,
                Some(Some(valid)) => return Some(*valid),
                Some(None) => match self.ready.wait(slots) {
                    Ok(guard) => slots = guard,
                    Err(_) => return Some(false),
                },
            }
        }
    }
}

/// A claimed signature whose result is not set yet: set to `false` if the claimant unwinds.
struct Unanswered<'a> {
    results: &'a Results,
    index: Option<usize>,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.index {
            self.results.set(i, false);
        }
    }
}

/// Verifies `txs`' signatures, split over the machine's cores when there are enough of them.
pub fn verify_all(txs: Vec<&SignedTx>) -> Vec<bool> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || txs.len() < PARALLEL_FROM {
        return txs.iter().map(|tx| tx.verify_signature().is_ok()).collect();
    }
    let chunk = txs.len().div_ceil(cores);
    std::thread::scope(|scope| {
        let workers: Vec<_> = txs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter().map(|tx| tx.verify_signature().is_ok()).collect::<Vec<_>>()
                })
            })
            .collect();
        // A worker cannot panic (verification returns a Result); if one did, its
        // transactions count as unverified and the block is refused, never accepted.
        workers
            .into_iter()
            .zip(txs.chunks(chunk))
            .flat_map(|(w, part)| w.join().unwrap_or_else(|_| vec![false; part.len()]))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use memecoin_core::address::Address;
    use memecoin_core::crypto::SecretKey;
    use memecoin_core::hash::Hash;
    use memecoin_core::tx::{Tx, TxKind};

    fn txs(n: u64) -> Vec<SignedTx> {
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        (0..n)
            .map(|nonce| {
                Tx {
                    chain_id: Hash([1; 32]),
                    sender: key.public_key(),
                    nonce,
                    fee: 1_000,
                    kind: TxKind::Transfer { to: Address([2; 20]), amount: 5 },
                }
                .sign(&key)
            })
            .collect()
    }

    #[test]
    fn parallel_results_match_one_by_one_and_forgeries_fail() {
        let mut all = txs(40);
        // Swap two signatures: both ids keep their place, both signatures are now wrong.
        let (a, b) = (all[3].signature, all[30].signature);
        all[3].signature = b;
        all[30].signature = a;
        let one_by_one: Vec<bool> = all.iter().map(|t| t.verify_signature().is_ok()).collect();
        assert_eq!(verify_all(all.iter().collect()), one_by_one);
        assert_eq!(one_by_one.iter().filter(|ok| !**ok).count(), 2);
        let cache = SigCache::default();
        assert_eq!(cache.check_block(&all), one_by_one);
    }

    /// What core sees through `apply_overlapped`: every transaction's result, asked in block
    /// order, equal to verifying one by one (cached ones as valid); and an `apply` that stops
    /// early does not hang on workers still verifying.
    #[test]
    fn overlapped_results_match_one_by_one() {
        let mut all = txs(64);
        let (a, b) = (all[5].signature, all[50].signature);
        all[5].signature = b;
        all[50].signature = a;
        let one_by_one: Vec<bool> = all.iter().map(|t| t.verify_signature().is_ok()).collect();
        let cache = SigCache::default();
        for tx in &all[..10] {
            if tx.verify_signature().is_ok() {
                cache.insert(tx);
            }
        }
        // What core ends up using for transaction i: the answer, or its own check on `None`.
        let ask = |txs: &[SignedTx], signatures: Signatures<'_>| -> Vec<Option<bool>> {
            let Signatures::Lookup(lookup) = signatures else { return vec![] };
            (0..txs.len()).map(lookup).collect()
        };
        let used = |txs: &[SignedTx], answers: Vec<Option<bool>>| -> Vec<bool> {
            answers
                .iter()
                .zip(txs)
                .map(|(a, tx)| a.unwrap_or(tx.verify_signature().is_ok()))
                .collect()
        };
        let answers = cache.apply_overlapped(&all, |s| ask(&all, s));
        assert_eq!(used(&all, answers), one_by_one);
        // Stops after the first bad one, as core does.
        let first_bad = cache.apply_overlapped(&all, |signatures| match signatures {
            Signatures::Lookup(lookup) => (0..all.len()).find(|&i| lookup(i) == Some(false)),
            _ => None,
        });
        assert!(first_bad == Some(5) || first_bad.is_none(), "{first_bad:?} (none: one core)");
        // Few unchecked: no threads; the cached ones are vouched for, core checks the rest.
        let few = &all[..20];
        let answers = cache.apply_overlapped(few, |s| ask(few, s));
        let cached: Vec<Option<bool>> =
            few.iter().map(|t| cache.contains(t).then_some(true)).collect();
        assert_eq!(answers, cached);
        assert_eq!(used(few, answers), one_by_one[..20]);
    }

    #[test]
    fn a_cached_signature_does_not_vouch_for_another() {
        let good = txs(2);
        let cache = SigCache::default();
        cache.insert(&good[0]);
        assert!(cache.contains(&good[0]));
        let mut forged = good[0].clone();
        forged.signature = good[1].signature;
        assert!(!cache.contains(&forged));
        assert_eq!(cache.check_block(&[good[0].clone(), forged]), [true, false]);
    }

    /// A block's signatures verified before the node's lock: the valid ones are then cached (so
    /// the import under the lock verifies none of them), a forged one is not.
    #[test]
    fn a_blocks_valid_signatures_are_remembered_and_forgeries_not() {
        let mut all = txs(40);
        let (a, b) = (all[3].signature, all[30].signature);
        all[3].signature = b;
        all[30].signature = a;
        let cache = SigCache::default();
        cache.remember_valid(&all);
        let cached: Vec<bool> = all.iter().map(|t| cache.contains(t)).collect();
        let valid: Vec<bool> = all.iter().map(|t| t.verify_signature().is_ok()).collect();
        assert_eq!(cached, valid);
        assert_eq!(cache.len(), 38);
        // Under the lock, core is then told every valid one, and checks only the forged two.
        let asked = cache.apply_overlapped(&all, |signatures| match signatures {
            Signatures::Lookup(lookup) => (0..all.len()).filter(|&i| lookup(i).is_none()).count(),
            _ => usize::MAX,
        });
        assert!(asked <= 2, "{asked} left to core");
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = SigCache::default();
        let all = txs(3);
        for tx in &all {
            cache.insert(tx);
            cache.insert(tx);
        }
        assert_eq!(cache.len(), 3);
        // Filling past capacity drops the oldest first.
        let mut filler = all[0].clone();
        for nonce in 0..CAPACITY as u64 {
            filler.tx.nonce = 1_000 + nonce;
            cache.insert(&filler);
        }
        assert_eq!(cache.len(), CAPACITY);
        assert!(!cache.contains(&all[0]) && !cache.contains(&all[2]));
    }
}
