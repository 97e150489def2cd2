//! Finding a key in a hash in O(1): an index from key hashes to positions in the ordered
//! pair list that [`Value::Hash`] is.
//!
//! A hash stays a plain `Vec` of pairs (Ruby hashes are ordered, and DSL handlers receive
//! them as they are); an index is built beside it when many keys are stored: for every hash
//! literal, `to_h` and `merge`, and, kept from one store to the next, for the hash in a
//! variable that in-place stores (`h[k] = v`, `h.store`, `merge!`, `h[k] ||= v`) build one
//! key at a time (see `Run::hash_indexes`). Storing a key is then amortised O(1),
//! like appending to an array (issue #17).
//!
//! The index keeps, per key hash, the position of the first key with that hash; a hit is
//! confirmed with `==` (the equality hash stores have always used). Two different keys with the
//! same 64-bit hash (or a key not equal to itself, a NaN float) make that one lookup fall back
//! to a scan of the pairs, which is counted in the comparisons returned, so the caller can
//! charge the real work to the sandbox's budget.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use super::super::value::Value;

/// Positions of the keys of one hash, by key hash.
#[derive(Debug, Clone)]
pub(super) struct HashIndex {
    positions: HashMap<u64, usize>,
    state: RandomState,
    /// How many pairs the index covers (the hash's length when it was last updated).
    covered: usize,
}

impl HashIndex {
    /// An index of `pairs`; also returns the key comparisons building it took (none: it
    /// hashes each key once).
    pub(super) fn new(pairs: &[(Value, Value)]) -> Self {
        let mut index = Self {
            positions: HashMap::with_capacity(pairs.len()),
            state: RandomState::new(),
            covered: 0,
        };
        for (i, (k, _)) in pairs.iter().enumerate() {
            let h = index.hash(k);
            index.positions.entry(h).or_insert(i);
        }
        index.covered = pairs.len();
        index
    }

    /// Whether this index was last updated for a hash of `len` pairs.
    pub(super) fn covers(&self, len: usize) -> bool {
        self.covered == len
    }

    fn hash(&self, key: &Value) -> u64 {
        let mut h = self.state.build_hasher();
        hash_value(key, &mut h);
        h.finish()
    }

    /// Sets `k` to `v` in `pairs` (which this index covers): in place if the key is there,
    /// else at the end. Returns how many keys were compared (1 for most stores; the whole
    /// hash only after a hash collision).
    pub(super) fn insert(&mut self, pairs: &mut Vec<(Value, Value)>, k: Value, v: Value) -> usize {
        debug_assert!(self.covers(pairs.len()));
        let h = self.hash(&k);
        let mut compared = 0;
        let found = match self.positions.get(&h) {
            None => None,
            Some(&i) => {
                compared += 1;
                if pairs.get(i).is_some_and(|(kk, _)| *kk == k) {
                    Some(i)
                } else {
                    // Another key with this hash (or a key unequal to itself): scan.
                    compared += pairs.len();
                    pairs.iter().position(|(kk, _)| *kk == k)
                }
            }
        };
        match found {
            Some(i) => pairs[i].1 = v,
            None => {
                self.positions.entry(h).or_insert(pairs.len());
                pairs.push((k, v));
            }
        }
        self.covered = pairs.len();
        compared
    }

    /// The value of `k`, if `pairs` (covered by this index) has it, and the keys compared.
    pub(super) fn get<'p>(
        &self,
        pairs: &'p [(Value, Value)],
        k: &Value,
    ) -> (Option<&'p Value>, usize) {
        debug_assert!(self.covers(pairs.len()));
        let Some(&i) = self.positions.get(&self.hash(k)) else {
            return (None, 0);
        };
        if let Some((_, v)) = pairs.get(i).filter(|(kk, _)| kk == k) {
            return (Some(v), 1);
        }
        let found = pairs.iter().find(|(kk, _)| kk == k).map(|(_, v)| v);
        (found, 1 + pairs.len())
    }
}

/// Hashes a value consistently with `==` on values: equal values hash alike (`0.0` and
/// `-0.0` are equal floats, so every zero float hashes as `0.0`).
fn hash_value<H: Hasher>(v: &Value, h: &mut H) {
    std::mem::discriminant(v).hash(h);
    match v {
        Value::Nil => {}
        Value::Bool(b) => b.hash(h),
        Value::Int(i) => i.hash(h),
        Value::Float(f) => {
            let f = if *f == 0.0 { 0.0 } else { *f };
            f.to_bits().hash(h);
        }
        Value::Str(s) | Value::Sym(s) => s.hash(h),
        Value::Array(items) => {
            items.len().hash(h);
            for item in items {
                hash_value(item, h);
            }
        }
        Value::Hash(pairs) => {
            pairs.len().hash(h);
            for (k, val) in pairs {
                hash_value(k, h);
                hash_value(val, h);
            }
        }
        Value::Opaque(name) => name.hash(h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storing_n_keys_compares_o_n_keys_not_o_n_squared() {
        let mut pairs = Vec::new();
        let mut index = HashIndex::new(&pairs);
        let n = 100_000;
        let mut compared = 0;
        for i in 0..n {
            compared += index.insert(&mut pairs, Value::Int(i), Value::Int(i));
        }
        // Overwrites of existing keys: one comparison each.
        for i in 0..n {
            compared += index.insert(&mut pairs, Value::Int(i), Value::Int(-i));
        }
        assert_eq!(pairs.len(), n as usize);
        assert_eq!(pairs[7], (Value::Int(7), Value::Int(-7)));
        // A linear search per store would compare ~n²/2 = 5e9 keys.
        assert!(compared <= 2 * n as usize, "{compared} key comparisons");
    }

    #[test]
    fn equal_keys_are_one_key_and_order_is_insertion_order() {
        let mut pairs = vec![(Value::Str("a".into()), Value::Int(1))];
        let mut index = HashIndex::new(&pairs);
        index.insert(&mut pairs, Value::Float(-0.0), Value::Int(2));
        index.insert(&mut pairs, Value::Float(0.0), Value::Int(3));
        index.insert(&mut pairs, Value::Sym("a".into()), Value::Int(4));
        index.insert(&mut pairs, Value::Str("a".into()), Value::Int(5));
        assert_eq!(
            pairs,
            vec![
                (Value::Str("a".into()), Value::Int(5)),
                (Value::Float(-0.0), Value::Int(3)),
                (Value::Sym("a".into()), Value::Int(4)),
            ]
        );
        assert_eq!(
            index.get(&pairs, &Value::Sym("a".into())).0,
            Some(&Value::Int(4))
        );
        assert_eq!(index.get(&pairs, &Value::Int(0)).0, None);
    }

    #[test]
    fn keys_unequal_to_themselves_are_found_by_scanning_and_charged_as_such() {
        let mut pairs = Vec::new();
        let mut index = HashIndex::new(&pairs);
        assert_eq!(
            index.insert(&mut pairs, Value::Float(f64::NAN), Value::Nil),
            0
        );
        // NaN != NaN, as with the linear search: a second pair, after a full scan.
        assert_eq!(
            index.insert(&mut pairs, Value::Float(f64::NAN), Value::Nil),
            2
        );
        assert_eq!(pairs.len(), 2);
    }
}
