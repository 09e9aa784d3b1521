//! The transactions root: a binary Merkle tree over a block's transaction ids, with inclusion
//! proofs.
//!
//! - `leaf(i) = tagged_hash("memecoin/tx-leaf", tx_id(i))`
//! - a level is paired left to right: `node = tagged_hash("memecoin/tx-node", left || right)`;
//!   an odd last node is carried up unchanged (never duplicated, so two different lists can
//!   never share a root, unlike Bitcoin's duplicate-last rule);
//! - the root of zero transactions is `Hash::ZERO`.
//!
//! A proof is the sibling hashes bottom-up for the leaf's `index` in a list of `count` leaves;
//! levels where the node was carried up have no sibling.

use crate::encode::{Decode, DecodeError, Encode, Reader, Writer};
use crate::hash::{Domain, Hash, tagged_hash};
use crate::params::Params;
use alloc::vec::Vec;

fn leaf(id: &Hash) -> Hash {
    tagged_hash(Domain::TxLeaf, &[id.as_bytes()])
}

fn node(left: &Hash, right: &Hash) -> Hash {
    tagged_hash(Domain::TxNode, &[left.as_bytes(), right.as_bytes()])
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node(l, r),
            [single] => *single,
            _ => Hash::ZERO, // chunks(2) yields one or two items
        })
        .collect()
}

/// The root over transaction ids in block order.
pub fn root(ids: &[Hash]) -> Hash {
    let mut level: Vec<Hash> = ids.iter().map(leaf).collect();
    if level.is_empty() {
        return Hash::ZERO;
    }
    while level.len() > 1 {
        level = next_level(&level);
    }
    level.first().copied().unwrap_or(Hash::ZERO)
}

/// Proof that the transaction at `index` is in a block with `count` transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub index: u32,
    pub count: u32,
    pub siblings: Vec<Hash>,
}

/// Why an inclusion proof failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InclusionError {
    IndexOutOfRange {
        index: u32,
        count: u32,
    },
    /// The number of siblings does not fit the shape of a `count`-leaf tree.
    WrongSiblingCount {
        expected: usize,
        found: usize,
    },
    RootMismatch {
        expected: Hash,
        computed: Hash,
    },
}

impl core::fmt::Display for InclusionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::IndexOutOfRange { index, count } => {
                write!(f, "index {index} is outside a tree of {count} transactions")
            }
            Self::WrongSiblingCount { expected, found } => {
                write!(f, "proof has {found} siblings, the tree shape needs {expected}")
            }
            Self::RootMismatch { expected, computed } => {
                write!(f, "proof leads to root {computed}, not {expected}")
            }
        }
    }
}

impl core::error::Error for InclusionError {}

/// Builds the proof for `index`, or `None` if out of range.
pub fn prove(ids: &[Hash], index: usize) -> Option<InclusionProof> {
    if index >= ids.len() {
        return None;
    }
    let mut level: Vec<Hash> = ids.iter().map(leaf).collect();
    let mut i = index;
    let mut siblings = Vec::new();
    while level.len() > 1 {
        let sibling = if i.is_multiple_of(2) {
            level.get(i.wrapping_add(1))
        } else {
            level.get(i.wrapping_sub(1))
        };
        if let Some(s) = sibling {
            siblings.push(*s);
        }
        level = next_level(&level);
        i /= 2;
    }
    Some(InclusionProof {
        index: u32::try_from(index).ok()?,
        count: u32::try_from(ids.len()).ok()?,
        siblings,
    })
}

/// Levels, bottom-up, at which the leaf at `index` of `count` has a sibling (`true`) or is
/// carried up unchanged (`false`).
fn sibling_levels(index: u32, count: u32) -> impl Iterator<Item = (bool, bool)> {
    let (mut i, mut width) = (u64::from(index), u64::from(count));
    core::iter::from_fn(move || {
        if width <= 1 {
            return None;
        }
        let is_right = i % 2 == 1;
        let has_sibling = is_right || i.saturating_add(1) < width;
        i /= 2;
        width = width.div_ceil(2);
        Some((has_sibling, is_right))
    })
}

/// Checks that `id` sits at `proof.index` under `root`: index in range, sibling count fits the
/// tree's shape, then the recomputed root.
pub fn verify(root: &Hash, id: &Hash, proof: &InclusionProof) -> Result<(), InclusionError> {
    let (index, count) = (proof.index, proof.count);
    if index >= count {
        return Err(InclusionError::IndexOutOfRange { index, count });
    }
    let expected = sibling_levels(index, count).filter(|(has, _)| *has).count();
    if expected != proof.siblings.len() {
        return Err(InclusionError::WrongSiblingCount { expected, found: proof.siblings.len() });
    }
    let mut siblings = proof.siblings.iter();
    let mut acc = leaf(id);
    for (has_sibling, is_right) in sibling_levels(index, count) {
        if !has_sibling {
            continue;
        }
        let Some(s) = siblings.next() else {
            return Err(InclusionError::WrongSiblingCount {
                expected,
                found: proof.siblings.len(),
            });
        };
        acc = if is_right { node(s, &acc) } else { node(&acc, s) };
    }
    if acc != *root {
        return Err(InclusionError::RootMismatch { expected: *root, computed: acc });
    }
    Ok(())
}

impl Encode for InclusionProof {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.put_u32(self.index);
        out.put_u32(self.count);
        out.put_list(&self.siblings);
    }
}

impl Decode for InclusionProof {
    // log2(MAX_BLOCK_TXS) < 14 levels.
    const MAX_SIZE: usize = 4 + 4 + 4 + 32 * 14;
    const NAME: &'static str = "inclusion proof";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let index = r.u32()?;
        let count = r.u32()?;
        if count > Params::MAX_BLOCK_TXS {
            return Err(DecodeError::TooMany {
                what: "transactions",
                count,
                max: Params::MAX_BLOCK_TXS,
            });
        }
        let siblings = r.list("proof siblings", 14, 32, Hash::decode_from)?;
        Ok(InclusionProof { index, count, siblings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Hash> {
        (0..n).map(|i| tagged_hash(Domain::Tx, &[&(i as u64).to_be_bytes()])).collect()
    }

    #[test]
    fn every_leaf_proves_for_every_size() {
        for n in 1..=17 {
            let ids = ids(n);
            let r = root(&ids);
            for (i, id) in ids.iter().enumerate() {
                let p = prove(&ids, i).unwrap();
                assert_eq!(verify(&r, id, &p), Ok(()), "n={n} i={i}");
                assert_eq!(InclusionProof::from_bytes(&p.to_bytes()), Ok(p.clone()));
                // Another id at the same place fails.
                let other = tagged_hash(Domain::Tx, &[b"other"]);
                assert!(matches!(verify(&r, &other, &p), Err(InclusionError::RootMismatch { .. })));
            }
        }
        assert_eq!(root(&[]), Hash::ZERO);
    }

    #[test]
    fn odd_carry_does_not_collide_with_duplication() {
        let a = ids(3);
        let mut b = a.clone();
        b.push(a[2]);
        assert_ne!(root(&a), root(&b));
    }

    #[test]
    fn bad_shapes_are_rejected() {
        let ids = ids(5);
        let r = root(&ids);
        let mut p = prove(&ids, 4).unwrap();
        p.index = 5;
        assert_eq!(
            verify(&r, &ids[4], &p),
            Err(InclusionError::IndexOutOfRange { index: 5, count: 5 })
        );
        let mut p = prove(&ids, 1).unwrap();
        p.siblings.push(Hash::ZERO);
        assert_eq!(
            verify(&r, &ids[1], &p),
            Err(InclusionError::WrongSiblingCount { expected: 3, found: 4 })
        );
    }
}
