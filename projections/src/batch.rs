//! Load, change in memory, write back: how a projector applies a batch of events in a few
//! statements whatever the batch's size.
//!
//! Before the batch, a projector loads every row its events name (one `SELECT … = ANY` per
//! table); it then applies the events in order to those rows in memory, exactly as the
//! statements of one event at a time would have; after the batch it writes the rows back (one
//! `INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE` per table, one `DELETE` for the
//! rows the batch removed). All of it runs in the batch's transaction, with the checkpoint.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

/// The rows of one table that a batch touches, by key. A key maps to `None` when its row does
/// not exist (it never did, or an event of the batch deleted it).
pub(crate) struct Rows<K, R> {
    rows: HashMap<K, Option<R>>,
    /// The keys whose row existed before the batch (deleting any other is a no-op).
    existed: HashSet<K>,
}

impl<K: Eq + Hash + Clone, R> Rows<K, R> {
    /// The rows found for `keys`; keys without a row map to `None`.
    pub fn loaded(keys: impl IntoIterator<Item = K>, found: Vec<(K, R)>) -> Self {
        let mut rows: HashMap<K, Option<R>> = keys.into_iter().map(|k| (k, None)).collect();
        let existed = found.iter().map(|(k, _)| k.clone()).collect();
        for (key, row) in found {
            rows.insert(key, Some(row));
        }
        Self { rows, existed }
    }

    /// The row of `key`, if it exists: an update of a missing row is a no-op, as in SQL.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut R> {
        self.rows.get_mut(key).and_then(Option::as_mut)
    }

    /// Inserts or replaces the row of `key`.
    pub fn put(&mut self, key: K, row: R) {
        self.rows.insert(key, Some(row));
    }

    pub fn remove(&mut self, key: &K) {
        if let Some(row) = self.rows.get_mut(key) {
            *row = None;
        }
    }

    /// Every existing row (for a change that applies to rows matched by something other than
    /// their key).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut R> {
        self.rows.values_mut().flatten()
    }

    /// What to write back: the rows that exist now (to upsert) and the keys of the rows the
    /// batch deleted.
    pub fn into_changes(self) -> (Vec<(K, R)>, Vec<K>) {
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for (key, row) in self.rows {
            match row {
                Some(row) => upserts.push((key, row)),
                None if self.existed.contains(&key) => deletes.push(key),
                None => {}
            }
        }
        (upserts, deletes)
    }
}

/// Distinct values in first-seen order (the keys a batch names).
pub(crate) fn distinct<T: Eq + Hash + Clone>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    values
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Rows;

    #[test]
    fn only_rows_that_existed_are_deleted_and_missing_rows_are_not_updated() {
        let mut rows = Rows::loaded([1, 2, 3], vec![(1, "a"), (2, "b")]);
        assert!(rows.get_mut(&3).is_none());
        rows.remove(&2);
        rows.remove(&3);
        rows.put(4, "d");
        *rows.get_mut(&1).unwrap() = "A";
        let (mut upserts, deletes) = rows.into_changes();
        upserts.sort();
        assert_eq!(upserts, [(1, "A"), (4, "d")]);
        assert_eq!(deletes, [2]);
    }
}
