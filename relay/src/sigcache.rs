//! Transaction signatures this relay has already checked, and checking the rest on every core.
//!
//! A transaction's signature is verified when it enters the mempool; when the same transaction
//! arrives again inside a block, checking it a second time is wasted work (Bitcoin Core keeps a
//! signature cache for the same reason). Block import asks [`SigCache::check_block`], which takes
//! the cached ones as valid and verifies the others in parallel, then hands the results to core
//! (`state::apply_block_with` with `Signatures::Checked`), which uses them in block order, so a
//! block is refused with the same error as when core verifies everything itself.
//!
//! The key is SHA-256 of the transaction id and the signature bytes: the id alone does not cover
//! the signature, and a transaction with a forged signature must not ride on a valid one's entry.
//! The cache is bounded (oldest entries go first) and only ever holds signatures that verified.

use memecoin_core::encode::Encode;
use memecoin_core::tx::SignedTx;
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};

/// Entries kept: about a mempool's worth of transactions plus the blocks in flight.
pub const CAPACITY: usize = 65_536;
/// Below this many unchecked signatures, threads cost more than they save.
const PARALLEL_FROM: usize = 16;

#[derive(Debug, Default)]
pub struct SigCache {
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
    pub fn insert(&mut self, tx: &SignedTx) {
        let key = key(tx);
        if self.keys.insert(key) {
            self.order.push_back(key);
            while self.order.len() > CAPACITY {
                if let Some(old) = self.order.pop_front() {
                    self.keys.remove(&old);
                }
            }
        }
    }

    pub fn contains(&self, tx: &SignedTx) -> bool {
        self.keys.contains(&key(tx))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
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

    #[test]
    fn a_cached_signature_does_not_vouch_for_another() {
        let good = txs(2);
        let mut cache = SigCache::default();
        cache.insert(&good[0]);
        assert!(cache.contains(&good[0]));
        let mut forged = good[0].clone();
        forged.signature = good[1].signature;
        assert!(!cache.contains(&forged));
        assert_eq!(cache.check_block(&[good[0].clone(), forged]), [true, false]);
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = SigCache::default();
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
