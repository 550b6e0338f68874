//! The Merkle tree of RFC 9162 §2.1 (RFC 6962's): hashing, the incremental frontier the sealer
//! grows, the subtree ranges that make up inclusion and consistency proofs, and the RFC's
//! verification algorithms (§2.1.3.2, §2.1.4.2). Pure: no IO.
//!
//! Leaves hash as `SHA-256(0x00 ‖ leaf)`, nodes as `SHA-256(0x01 ‖ left ‖ right)`; the left
//! subtree of `n` leaves holds the largest power of two below `n`, so no leaf is ever
//! duplicated. A tree is stored as its perfect subtrees ([`NodeId`]): every subtree a proof
//! needs is a fold of at most 2·log₂ n of them.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(leaf);
    hasher.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// A perfect subtree: leaves `[index · 2^level, (index + 1) · 2^level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

/// The largest power of two below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The perfect subtrees that make up the RFC subtree of leaves `[start, end)`, left to right.
/// `start` is aligned as in every subtree of the RFC's recursion.
pub fn parts(start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let mut level = if at == 0 { 63 } else { at.trailing_zeros() };
        while (1u64 << level.min(63)) > end - at {
            level -= 1;
        }
        out.push(NodeId {
            level: level as u8,
            index: at >> level,
        });
        at += 1 << level;
    }
    out
}

/// The hash of a subtree from the hashes of its [`parts`], left to right.
pub fn fold_parts(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(
        rest.iter()
            .rev()
            .fold(*last, |acc, left| node_hash(left, &acc)),
    )
}

/// The subtrees whose hashes are the inclusion proof (audit path) of leaf `index` in the tree
/// of `size` leaves, in proof order (RFC 9162 §2.1.3.1). `index < size`.
pub fn inclusion_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let (mut start, mut end) = (0, size);
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            out.push((start + k, end));
            end = start + k;
        } else {
            out.push((start, start + k));
            start += k;
        }
    }
    out.reverse();
    out
}

/// The subtrees whose hashes are the consistency proof between the trees of `first` and
/// `second` leaves, in proof order (RFC 9162 §2.1.4.1). `0 < first ≤ second`.
pub fn consistency_ranges(first: u64, second: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    subproof(first, 0, second, true, &mut out);
    out
}

fn subproof(m: u64, start: u64, end: u64, complete: bool, out: &mut Vec<(u64, u64)>) {
    let n = end - start;
    if m == n {
        if !complete {
            out.push((start, end));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, start, start + k, complete, out);
        out.push((start + k, end));
    } else {
        subproof(m - k, start + k, end, false, out);
        out.push((start, start + k));
    }
}

/// The complete perfect subtrees of a tree of `size` leaves, largest (leftmost) first.
pub fn frontier_ids(size: u64) -> Vec<NodeId> {
    parts(0, size)
}

/// A tree grown one leaf at a time in O(log n) memory: its frontier of perfect subtrees.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    size: u64,
    /// Largest first, as [`frontier_ids`] lists them.
    stack: Vec<(NodeId, Hash)>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves from the hashes of [`frontier_ids`]`(size)`.
    pub fn from_parts(size: u64, hashes: &[Hash]) -> Option<Self> {
        let ids = frontier_ids(size);
        (ids.len() == hashes.len()).then(|| Self {
            size,
            stack: ids.into_iter().zip(hashes.iter().copied()).collect(),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; every perfect subtree it completes (the leaf itself included) is
    /// pushed to `created`, in the order they came to exist.
    pub fn push(&mut self, leaf: Hash, created: &mut Vec<(NodeId, Hash)>) {
        let mut id = NodeId {
            level: 0,
            index: self.size,
        };
        let mut hash = leaf;
        created.push((id, hash));
        while let Some(&(left_id, left)) = self.stack.last() {
            if left_id.level != id.level {
                break;
            }
            self.stack.pop();
            hash = node_hash(&left, &hash);
            id = NodeId {
                level: id.level + 1,
                index: left_id.index / 2,
            };
            created.push((id, hash));
        }
        self.stack.push((id, hash));
        self.size += 1;
    }

    /// The root of the tree so far (the empty root for no leaves).
    pub fn root(&self) -> Hash {
        let hashes: Vec<Hash> = self.stack.iter().map(|(_, h)| *h).collect();
        fold_parts(&hashes).unwrap_or_else(empty_root)
    }
}

/// RFC 9162 §2.1.3.2: whether `proof` shows `leaf` to be leaf `index` of the tree of `size`
/// leaves whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: whether `proof` shows the tree of `first` leaves with root `first_root`
/// to be a prefix of the tree of `second` leaves with root `second_root`.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((head, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *first_root && sr == *second_root && s == 0
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// RFC 6962's recursive definitions, computed from scratch from the leaves.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        if leaves.len() <= 1 {
            return vec![];
        }
        let k = split(leaves.len() as u64) as usize;
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    fn sub(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if complete { vec![] } else { vec![mth(leaves)] };
        }
        let k = split(n as u64) as usize;
        if m <= k {
            let mut p = sub(m, &leaves[..k], complete);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = sub(m - k, &leaves[k..], false);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    /// Proofs from the stored perfect subtrees, as the database serves them.
    fn from_store(store: &HashMap<NodeId, Hash>, ranges: &[(u64, u64)]) -> Vec<Hash> {
        ranges
            .iter()
            .map(|&(s, e)| {
                let hashes: Vec<Hash> = parts(s, e).iter().map(|id| store[id]).collect();
                fold_parts(&hashes).unwrap()
            })
            .collect()
    }

    fn leaves(n: usize, seed: u64) -> Vec<Hash> {
        (0..n as u64)
            .map(|i| leaf_hash(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed).to_be_bytes()))
            .collect()
    }

    const CT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn ct() -> (Vec<Hash>, HashMap<NodeId, Hash>) {
        let hashes: Vec<Hash> = CT_LEAVES
            .iter()
            .map(|l| leaf_hash(&hex::decode(l).unwrap()))
            .collect();
        let mut frontier = Frontier::default();
        let mut created = Vec::new();
        hashes.iter().for_each(|h| frontier.push(*h, &mut created));
        (hashes, created.into_iter().collect())
    }

    fn hexes(hashes: &[Hash]) -> Vec<String> {
        hashes.iter().map(hex::encode).collect()
    }

    /// The certificate-transparency test vectors of RFC 6962 (roots, audit paths and
    /// consistency proofs over its eight test leaves).
    #[test]
    fn rfc_6962_test_vectors() {
        let (hashes, store) = ct();
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut frontier = Frontier::default();
        for (n, want) in CT_ROOTS.iter().enumerate() {
            frontier.push(hashes[n], &mut Vec::new());
            assert_eq!(hex::encode(frontier.root()), *want, "size {}", n + 1);
        }
        let inclusion = [
            (0, 1, vec![]),
            (
                0,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                vec![
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                vec!["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                vec![
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, want) in inclusion {
            let proof = from_store(&store, &inclusion_ranges(index, size));
            assert_eq!(hexes(&proof), want, "inclusion {index} in {size}");
            let root = mth(&hashes[..size as usize]);
            assert!(verify_inclusion(
                index,
                size,
                &hashes[index as usize],
                &proof,
                &root
            ));
        }
        let consistency = [
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                vec![
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                vec![
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (first, second, want) in consistency {
            let proof = from_store(&store, &consistency_ranges(first, second));
            assert_eq!(hexes(&proof), want, "consistency {first} → {second}");
            assert!(verify_consistency(
                first,
                second,
                &mth(&hashes[..first as usize]),
                &mth(&hashes[..second as usize]),
                &proof
            ));
        }
    }

    /// The property: for every size up to N, every leaf and every pair of sizes, the proofs
    /// built from the incrementally stored subtrees equal the from-scratch recursion, and
    /// verify; a changed proof, index or root does not.
    #[test]
    fn incremental_proofs_equal_the_from_scratch_recursion_for_every_size() {
        const N: usize = 130;
        for seed in [1u64, 0xdead_beef] {
            let hashes = leaves(N, seed);
            let mut frontier = Frontier::default();
            let mut store = HashMap::new();
            for n in 1..=N {
                let mut created = Vec::new();
                frontier.push(hashes[n - 1], &mut created);
                for (id, hash) in created {
                    assert!(store.insert(id, hash).is_none(), "{id:?} written twice");
                }
                let root = mth(&hashes[..n]);
                assert_eq!(frontier.root(), root, "root of {n}");
                let ids = frontier_ids(n as u64);
                let again = Frontier::from_parts(
                    n as u64,
                    &ids.iter().map(|id| store[id]).collect::<Vec<_>>(),
                )
                .unwrap();
                assert_eq!(again.root(), root);
                for m in 0..n {
                    let proof = from_store(&store, &inclusion_ranges(m as u64, n as u64));
                    assert_eq!(proof, path(m, &hashes[..n]), "path {m} in {n}");
                    assert!(verify_inclusion(
                        m as u64, n as u64, &hashes[m], &proof, &root
                    ));
                    if n > 1 {
                        let other = (m + 1) % n;
                        assert!(!verify_inclusion(
                            other as u64,
                            n as u64,
                            &hashes[m],
                            &proof,
                            &root
                        ));
                    }
                }
                for first in 1..=n {
                    let proof = from_store(&store, &consistency_ranges(first as u64, n as u64));
                    assert_eq!(proof, sub(first, &hashes[..n], true), "{first} → {n}");
                    let first_root = mth(&hashes[..first]);
                    assert!(verify_consistency(
                        first as u64,
                        n as u64,
                        &first_root,
                        &root,
                        &proof
                    ));
                    if first < n {
                        assert!(!verify_consistency(
                            first as u64,
                            n as u64,
                            &root,
                            &root,
                            &proof
                        ));
                        let mut bad = proof.clone();
                        bad[0][0] ^= 1;
                        assert!(!verify_consistency(
                            first as u64,
                            n as u64,
                            &first_root,
                            &root,
                            &bad
                        ));
                    }
                }
            }
        }
    }

    #[test]
    fn a_larger_tree_is_not_consistent_with_a_smaller_one() {
        let hashes = leaves(8, 3);
        let root = mth(&hashes);
        let root6 = mth(&hashes[..6]);
        assert!(!verify_consistency(8, 6, &root, &root6, &[]));
        assert!(verify_consistency(0, 8, &empty_root(), &root, &[]));
        assert!(!verify_inclusion(8, 8, &hashes[0], &[], &root));
    }
}
