//! Small ordered maps and sets kept in one sorted `Vec`.
//!
//! Every table a node keeps is small (links and fingers: tens of entries;
//! pending requests and remembered paths: at most a few thousand, bounded by
//! the node), so a sorted vector with binary search is as fast as a hash
//! table in practice, and far smaller in code: each `HashMap<K, V>` type
//! costs the browser bundle about 2.5 KB of wasm (probing, rehashing, the
//! hasher), each `VecMap<K, V>` a few hundred bytes. Iteration is in key
//! order, which also keeps every run of the simulator independent of hash
//! seeds.
//!
//! Only the operations icn needs are here; they follow the names of
//! `std::collections::HashMap` and `HashSet`.

/// A map from `K` to `V`, sorted by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecMap<K, V> {
    items: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap { items: Vec::new() }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, key: &K) -> Result<usize, usize> {
        self.items.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// The value for `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.items[i].1)
    }

    /// The value for `key`, to change it.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.find(key) {
            Ok(i) => Some(&mut self.items[i].1),
            Err(_) => None,
        }
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// Sets the value of `key`, returning the one it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.items[i].1, value)),
            Err(i) => {
                self.items.insert(i, (key, value));
                None
            }
        }
    }

    /// The value of `key`, inserted from `make` if absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.items.insert(i, (key, make()));
                i
            }
        };
        &mut self.items[i].1
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.find(key).ok().map(|i| self.items.remove(i).1)
    }

    /// Keeps only the entries for which `keep` says yes.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.items.retain_mut(|(k, v)| keep(k, v));
    }

    /// Removes every entry and returns them, in key order.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> {
        std::mem::take(&mut self.items).into_iter()
    }
}

impl<K, V> VecMap<K, V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// The entries, in key order, as a slice (for binary searches by key).
    pub fn as_slice(&self) -> &[(K, V)] {
        &self.items
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.items.iter().map(|(k, v)| (k, v))
    }

    /// The entries, in key order, with their values to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.items.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.items.iter().map(|(k, _)| k)
    }

    /// The values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.items.iter().map(|(_, v)| v)
    }

    /// The values, in key order, to change them.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.items.iter_mut().map(|(_, v)| v)
    }
}

/// A set of `K`, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecSet<K> {
    map: VecMap<K, ()>,
}

impl<K> Default for VecSet<K> {
    fn default() -> Self {
        VecSet {
            map: VecMap::default(),
        }
    }
}

impl<K: Ord> VecSet<K> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key`; false if it was there already.
    pub fn insert(&mut self, key: K) -> bool {
        self.map.insert(key, ()).is_none()
    }

    /// Removes `key`; false if it was not there.
    pub fn remove(&mut self, key: &K) -> bool {
        self.map.remove(key).is_some()
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Removes every member and returns them, in order.
    pub fn drain(&mut self) -> impl Iterator<Item = K> {
        self.map.drain().map(|(k, ())| k)
    }
}

impl<K> VecSet<K> {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The members, in order.
    pub fn iter(&self) -> impl Iterator<Item = &K> {
        self.map.keys()
    }
}

impl<K: Ord> FromIterator<K> for VecSet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(iter: I) -> Self {
        let mut items: Vec<(K, ())> = iter.into_iter().map(|k| (k, ())).collect();
        items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        items.dedup_by(|a, b| a.0 == b.0);
        VecSet {
            map: VecMap { items },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        Remove(u8),
        Retain(u8),
        GetOrInsert(u8, u32),
        Bump(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            any::<u8>().prop_map(Op::Remove),
            (1u8..8).prop_map(Op::Retain),
            (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
            any::<u8>().prop_map(Op::Bump),
        ]
    }

    proptest! {
        /// Any sequence of operations leaves the same entries, in the same
        /// order, as a `BTreeMap` given the same sequence, with the same
        /// answers on the way.
        #[test]
        fn behaves_like_a_btreemap(ops in proptest::collection::vec(op(), 0..200)) {
            let mut ours = VecMap::new();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(ours.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(ours.remove(&k), model.remove(&k)),
                    Op::Retain(m) => {
                        ours.retain(|k, _| k % m != 0);
                        model.retain(|k, _| k % m != 0);
                    }
                    Op::GetOrInsert(k, v) => {
                        prop_assert_eq!(*ours.get_or_insert_with(k, || v), *model.entry(k).or_insert(v));
                    }
                    Op::Bump(k) => {
                        if let Some(v) = ours.get_mut(&k) { *v = v.wrapping_add(1) }
                        if let Some(v) = model.get_mut(&k) { *v = v.wrapping_add(1) }
                    }
                }
                prop_assert_eq!(ours.len(), model.len());
            }
            let ours: Vec<_> = ours.iter().map(|(k, v)| (*k, *v)).collect();
            let model: Vec<_> = model.into_iter().collect();
            prop_assert_eq!(ours, model);
        }
    }

    #[test]
    fn a_set_from_an_iterator_is_sorted_without_duplicates() {
        let s: VecSet<u32> = [5, 1, 5, 3, 1].into_iter().collect();
        assert_eq!(s.iter().copied().collect::<Vec<_>>(), vec![1, 3, 5]);
        let mut s = s;
        assert!(!s.insert(3));
        assert!(s.insert(4));
        assert!(s.remove(&1));
        assert!(!s.contains(&1));
        assert_eq!(s.drain().collect::<Vec<_>>(), vec![3, 4, 5]);
        assert!(s.is_empty());
    }
}
