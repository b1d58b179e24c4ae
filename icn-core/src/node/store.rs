//! What a node stores: signed objects by ring key of their name, blocks by hash.
//!
//! The node talks to storage through the [`Store`] trait so that browsers can
//! keep items in memory (or IndexedDB later) and the gateway in its embedded
//! database, while the ring logic stays the same. Items enter a store only
//! after they verified: objects through [`SignedObject::decode`], blocks by
//! hashing their bytes.
//!
//! Two stores in memory: [`MemoryStore`], a B-tree, for native peers and
//! gateways that may hold millions of items, and [`SmallStore`], one sorted
//! `Vec`, for the browser, where a peer holds hundreds or thousands and the
//! B-tree's code alone would be 2.5 KB of the gzipped bundle.
//! [`DefaultStore`] picks one by target; both pass the same tests.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::block::Block;
use crate::hash::Hash;
use crate::id::RingId;
use crate::object::SignedObject;
use crate::vecmap::VecMap;
use crate::wire::ItemBytes;

/// A verified item.
#[derive(Debug, Clone, PartialEq, Eq)]
// Items are stored and moved whole; boxing the object would add an allocation
// per item for no saving.
#[allow(clippy::large_enum_variant)]
pub enum Item {
    /// A signed object, stored at the ring key of its name.
    Object(SignedObject),
    /// A block, stored at its hash.
    Block(Block),
}

impl Item {
    /// The ring key the item lives at.
    pub fn key(&self) -> RingId {
        match self {
            Item::Object(o) => o.name().ring_key(),
            Item::Block(b) => RingId::from_hash(b.hash()),
        }
    }

    /// Identifies this exact item (object hash or block hash).
    pub fn hash(&self) -> Hash {
        match self {
            Item::Object(o) => o.hash(),
            Item::Block(b) => b.hash(),
        }
    }

    /// The wire form.
    pub fn to_bytes(&self) -> ItemBytes {
        match self {
            Item::Object(o) => ItemBytes::Object(o.encoded().to_vec()),
            Item::Block(b) => ItemBytes::Block(b.bytes().to_vec()),
        }
    }

    /// Decodes and verifies an item received from a peer.
    pub fn from_bytes(bytes: &ItemBytes) -> Option<Item> {
        match bytes {
            ItemBytes::Object(b) => SignedObject::decode(b).ok().map(Item::Object),
            ItemBytes::Block(b) => Block::new(b.clone()).ok().map(Item::Block),
        }
    }

    /// Approximate size in bytes.
    pub fn size(&self) -> usize {
        match self {
            Item::Object(o) => o.encoded().len(),
            Item::Block(b) => b.bytes().len(),
        }
    }

    /// Whether this item should replace `old` at the same key.
    pub fn replaces(&self, old: &Item) -> bool {
        match (self, old) {
            (Item::Object(new), Item::Object(old)) => new.supersedes(old),
            _ => false,
        }
    }
}

/// Storage used by a node.
pub trait Store {
    /// The item at `key`.
    fn get(&self, key: &RingId) -> Option<&Item>;
    /// Stores `item` at `key` if there is none there or it replaces the one
    /// there; returns whether it was stored.
    fn put(&mut self, item: Item) -> bool;
    /// Keys in the clockwise interval `(from, to]`, with their item hashes.
    fn range(&self, from: RingId, to: RingId) -> Vec<(RingId, Hash)>;
    /// Removes the item at `key`, returning it.
    fn remove(&mut self, key: &RingId) -> Option<Item>;
    /// Number of items.
    fn len(&self) -> usize;
    /// Bytes of the items held (their [`Item::size`]s).
    fn bytes(&self) -> usize;
    /// Whether the store is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether `item` goes in at its key, where `old` is: if there is none, or
/// if it replaces it. Every store's rule.
fn admits(old: Option<&Item>, item: &Item) -> bool {
    old.is_none_or(|old| item.replaces(old))
}

/// The store [`crate::node::Node::new`] uses: [`SmallStore`] in the
/// browser (wasm32), [`MemoryStore`] elsewhere.
#[cfg(target_arch = "wasm32")]
pub type DefaultStore = SmallStore;
/// The store [`crate::node::Node::new`] uses: [`SmallStore`] in the
/// browser (wasm32), [`MemoryStore`] elsewhere.
#[cfg(not(target_arch = "wasm32"))]
pub type DefaultStore = MemoryStore;

/// A store in memory, in a B-tree: for any number of items.
#[derive(Debug, Default)]
pub struct MemoryStore {
    items: BTreeMap<RingId, Item>,
    bytes: usize,
}

impl Store for MemoryStore {
    fn get(&self, key: &RingId) -> Option<&Item> {
        self.items.get(key)
    }

    fn put(&mut self, item: Item) -> bool {
        let key = item.key();
        let admit = admits(self.items.get(&key), &item);
        if admit {
            self.bytes += item.size();
            if let Some(old) = self.items.insert(key, item) {
                self.bytes -= old.size();
            }
        }
        admit
    }

    fn remove(&mut self, key: &RingId) -> Option<Item> {
        let old = self.items.remove(key)?;
        self.bytes -= old.size();
        Some(old)
    }

    fn range(&self, from: RingId, to: RingId) -> Vec<(RingId, Hash)> {
        let pick = |(k, v): (&RingId, &Item)| (*k, v.hash());
        if from < to {
            self.items
                .range((Bound::Excluded(from), Bound::Included(to)))
                .map(pick)
                .collect()
        } else {
            // Wraps past zero (or the whole ring when from == to).
            self.items
                .range((Bound::Excluded(from), Bound::Unbounded))
                .chain(self.items.range(..=to))
                .map(pick)
                .collect()
        }
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn bytes(&self) -> usize {
        self.bytes
    }
}

/// A store in memory, in one sorted `Vec`: small code, and inserts that move
/// the entries after the new one, so for stores of thousands of items.
#[derive(Debug, Default)]
pub struct SmallStore {
    items: VecMap<RingId, Item>,
    bytes: usize,
}

impl Store for SmallStore {
    fn get(&self, key: &RingId) -> Option<&Item> {
        self.items.get(key)
    }

    fn put(&mut self, item: Item) -> bool {
        let key = item.key();
        let admit = admits(self.items.get(&key), &item);
        if admit {
            self.bytes += item.size();
            if let Some(old) = self.items.insert(key, item) {
                self.bytes -= old.size();
            }
        }
        admit
    }

    fn remove(&mut self, key: &RingId) -> Option<Item> {
        let old = self.items.remove(key)?;
        self.bytes -= old.size();
        Some(old)
    }

    fn range(&self, from: RingId, to: RingId) -> Vec<(RingId, Hash)> {
        let items = self.items.as_slice();
        // First entries with a key above `from`, and above `to`.
        let after = items.partition_point(|(k, _)| *k <= from);
        let upto = items.partition_point(|(k, _)| *k <= to);
        let pick = |(k, v): &(RingId, Item)| (*k, v.hash());
        if from < to {
            items
                .get(after..upto)
                .unwrap_or_default()
                .iter()
                .map(pick)
                .collect()
        } else {
            // Wraps past zero (or the whole ring when from == to).
            let tail = items.get(after..).unwrap_or_default();
            let head = items.get(..upto).unwrap_or_default();
            tail.iter().chain(head).map(pick).collect()
        }
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Block;
    use proptest::prelude::*;

    fn block(n: u16) -> Item {
        Item::Block(Block::new(n.to_be_bytes().to_vec()).expect("a small block"))
    }

    proptest! {
        /// Both stores hold the same items and give the same ranges, whatever
        /// the order of puts (with repeats) and the interval.
        #[test]
        fn small_store_agrees_with_memory_store(
            puts in proptest::collection::vec(0u16..200, 0..120),
            from in any::<[u8; 32]>(),
            to in any::<[u8; 32]>(),
            probe in 0u16..200,
        ) {
            let (mut big, mut small) = (MemoryStore::default(), SmallStore::default());
            for n in puts {
                prop_assert_eq!(big.put(block(n)), small.put(block(n)));
            }
            prop_assert_eq!(big.len(), small.len());
            let (from, to) = (RingId(from), RingId(to));
            prop_assert_eq!(big.range(from, to), small.range(from, to));
            prop_assert_eq!(big.range(from, from), small.range(from, from));
            let k = block(probe).key();
            prop_assert_eq!(big.range(k, to), small.range(k, to));
            prop_assert_eq!(big.get(&k), small.get(&k));
        }
    }
}
