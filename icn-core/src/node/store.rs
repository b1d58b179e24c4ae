//! What a node stores: signed objects by ring key of their name, blocks by hash.
//!
//! The node talks to storage through the [`Store`] trait so that browsers can
//! keep items in memory (or IndexedDB later) and the gateway in its embedded
//! database, while the ring logic stays the same. Items enter a store only
//! after they verified: objects through [`SignedObject::decode`], blocks by
//! hashing their bytes.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::block::Block;
use crate::hash::Hash;
use crate::id::RingId;
use crate::object::SignedObject;
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
    /// Number of items.
    fn len(&self) -> usize;
    /// Whether the store is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A store in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    items: BTreeMap<RingId, Item>,
}

impl Store for MemoryStore {
    fn get(&self, key: &RingId) -> Option<&Item> {
        self.items.get(key)
    }

    fn put(&mut self, item: Item) -> bool {
        let key = item.key();
        match self.items.get(&key) {
            Some(old) if !item.replaces(old) => false,
            _ => {
                self.items.insert(key, item);
                true
            }
        }
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
}
