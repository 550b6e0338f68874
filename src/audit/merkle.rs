//! A Merkle root over a checkpoint's stream heads, built in one pass in O(log n) memory.
//!
//! The tree is RFC 6962's: leaves hash as `SHA-256(0x00 ‖ leaf)`, nodes as
//! `SHA-256(0x01 ‖ left ‖ right)`, the left subtree of `n` leaves holding the largest power of
//! two below `n` (no leaf is ever duplicated, so two leaf lists cannot share a root). A head's
//! leaf is its stream id, version and event hash, each length-prefixed; heads are ordered by
//! stream id, bytewise.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf(stream_id: &str, version: i64, hash: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    for part in [stream_id.as_bytes(), &version.to_be_bytes(), hash] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// Feed leaves in order, then take the root.
#[derive(Default)]
pub struct RootBuilder {
    /// Complete subtrees, largest first: (number of leaves, root).
    stack: Vec<(u64, Hash)>,
    leaves: u64,
}

impl RootBuilder {
    pub fn push(&mut self, leaf: Hash) {
        self.leaves += 1;
        self.stack.push((1, leaf));
        while self.stack.len() >= 2 {
            let (n_right, right) = self.stack[self.stack.len() - 1];
            let (n_left, left) = self.stack[self.stack.len() - 2];
            if n_left != n_right {
                break;
            }
            self.stack.truncate(self.stack.len() - 2);
            self.stack.push((n_left + n_right, node(&left, &right)));
        }
    }

    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// The root; the hash of nothing for no leaves.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.stack.iter().rev();
        let Some((_, mut root)) = subtrees.next().copied() else {
            return Sha256::digest([]).into();
        };
        for (_, left) in subtrees {
            root = node(left, &root);
        }
        root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962's recursive definition, to check the one-pass builder against.
    fn recursive(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
                node(&recursive(&leaves[..k]), &recursive(&leaves[k..]))
            }
        }
    }

    #[test]
    fn one_pass_root_equals_the_recursive_definition() {
        for n in 0..40 {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf("s", i, &[i as u8])).collect();
            let mut builder = RootBuilder::default();
            leaves.iter().for_each(|l| builder.push(*l));
            assert_eq!(builder.root(), recursive(&leaves), "{n} leaves");
        }
    }

    #[test]
    fn any_change_of_a_head_changes_the_root() {
        let root = |heads: &[(&str, i64, u8)]| {
            let mut b = RootBuilder::default();
            heads
                .iter()
                .for_each(|(s, v, h)| b.push(leaf(s, *v, &[*h])));
            b.root()
        };
        let base = root(&[("a", 3, 1), ("b", 2, 2), ("c", 1, 3)]);
        assert_ne!(base, root(&[("a", 2, 1), ("b", 2, 2), ("c", 1, 3)]));
        assert_ne!(base, root(&[("a", 3, 1), ("b", 2, 9), ("c", 1, 3)]));
        assert_ne!(base, root(&[("a", 3, 1), ("c", 1, 3)]));
        assert_ne!(
            base,
            root(&[("a", 3, 1), ("b", 2, 2), ("c", 1, 3), ("c", 1, 3)])
        );
    }
}
