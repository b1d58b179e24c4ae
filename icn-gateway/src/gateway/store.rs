//! The gateway's pinned store: everything accepted over HTTP, in redb.
//!
//! redb commits are durable (fsync) before `commit` returns, so a `PUT` is
//! acknowledged only once its object or block would survive `kill -9` or a
//! power cut. Objects are also kept decoded in memory, verified once when they
//! are loaded at start-up: a record that no longer verifies (a corrupt or
//! truncated file) is reported and skipped, never served. Blocks stay on disk
//! and are hash-checked each time they are read.
//!
//! Anyone may publish, so what the store takes is bounded ([`Quota`]): all
//! of it by `--max-store`, and each publisher's objects, with the blocks
//! their manifests name, by `--quota` (some publishers may be allowed
//! more). The totals are counted as records are written and kept in the
//! `meta` table in the same transactions, so that opening the store does not
//! read every block to learn its size.
//!
//! Blocks are uploaded before the manifest that names them, so a block no
//! object names may be about to be named: it is kept for
//! [`Quota::unnamed_grace_ms`] after its upload, then collected
//! ([`PinnedStore::collect`]) — at start-up, every [`COLLECT_EVERY`] and
//! when a block does not fit. An object is stored only while every block
//! its manifest names is there, checked under the same lock the collector
//! holds, so that no object is left naming a collected block.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use icn_core::block::Block;
use icn_core::{Hash, Payload, PublisherId, RingId, SignedObject};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
const BLOCKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blocks");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// When each block was stored, ms since the UNIX epoch.
const BLOCK_ADDED: TableDefinition<&[u8], u64> = TableDefinition::new("block_added");
/// How often the gateway collects blocks no object names.
pub const COLLECT_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
/// Bytes of all blocks, in `META`.
const BLOCK_BYTES: &str = "block_bytes";

/// What the store takes at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// Bytes of objects and blocks in all.
    pub max_bytes: u64,
    /// Bytes one publisher's objects may take, counting each object's
    /// encoding and the content its manifest names.
    pub per_publisher: u64,
    /// Publishers allowed another amount.
    pub overrides: HashMap<PublisherId, u64>,
    /// Memory the database caches pages in (redb's default is 1 GiB).
    pub cache_bytes: usize,
    /// How long a block no object names is kept after its upload, ms.
    pub unnamed_grace_ms: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            max_bytes: 64 << 30,
            per_publisher: 1 << 30,
            overrides: HashMap::new(),
            cache_bytes: 64 << 20,
            unnamed_grace_ms: 3_600_000,
        }
    }
}

impl Quota {
    fn of(&self, p: &PublisherId) -> u64 {
        self.overrides.get(p).copied().unwrap_or(self.per_publisher)
    }
}

/// What an object counts against its publisher's quota.
fn charge(o: &SignedObject) -> u64 {
    let content = match &o.object().payload {
        Payload::Inline(_) => 0,
        Payload::Manifest(m) => m.size(),
    };
    o.encoded().len() as u64 + content
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("store: {0}")]
    Db(String),
    /// A newer (or equally new, different) object is already stored.
    #[error("a newer version (version {0}) is already stored")]
    Stale(u64),
    /// The store holds as much as it may.
    #[error("the store is full: {used} of {max} bytes used, {need} more needed")]
    Full {
        /// Bytes stored.
        used: u64,
        /// The bound.
        max: u64,
        /// Bytes this write needs.
        need: u64,
    },
    /// The object's manifest names a block the store does not hold.
    #[error("block {0} is missing: upload it first (PUT /block/<hash>)")]
    MissingBlock(Hash),
    /// The publisher's objects take as much as they may.
    #[error(
        "publisher {publisher} is over its quota: {used} of {quota} bytes used, {need} more needed"
    )]
    Quota {
        /// The publisher.
        publisher: String,
        /// Bytes its objects take.
        used: u64,
        /// Its quota.
        quota: u64,
        /// Bytes this object needs (after the one it replaces).
        need: u64,
    },
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn dberr<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

/// What a successful object put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Newly stored (or replaced an older version).
    New,
    /// The identical object was already there.
    Unchanged,
}

/// What [`PinnedStore::collect`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Blocks removed.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Pinned objects and blocks.
pub struct PinnedStore {
    db: Database,
    objects: RwLock<HashMap<RingId, Arc<SignedObject>>>,
    quota: Quota,
    /// Bytes stored and bytes per publisher.
    usage: std::sync::Mutex<Usage>,
}

#[derive(Debug, Default)]
struct Usage {
    object_bytes: u64,
    block_bytes: u64,
    per_publisher: HashMap<PublisherId, u64>,
}

impl Usage {
    fn total(&self) -> u64 {
        self.object_bytes + self.block_bytes
    }
}

impl PinnedStore {
    /// Opens (or creates) the store in `dir`, loading and verifying every
    /// object, with the bounds of `quota`.
    pub fn open(dir: &Path, quota: Quota) -> Result<PinnedStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(dberr)?;
        let db = Database::builder()
            .set_cache_size(quota.cache_bytes)
            .create(dir.join("store.redb"))
            .map_err(dberr)?;
        let mut usage = Usage::default();
        {
            let tx = db.begin_write().map_err(dberr)?;
            tx.open_table(OBJECTS).map_err(dberr)?;
            let mut added = tx.open_table(BLOCK_ADDED).map_err(dberr)?;
            let blocks = tx.open_table(BLOCKS).map_err(dberr)?;
            if added.len().map_err(dberr)? == 0 {
                // A store written before upload times were kept: its blocks
                // count as old, once, so that collecting reads only this
                // small table.
                for row in blocks.iter().map_err(dberr)? {
                    added
                        .insert(row.map_err(dberr)?.0.value(), 0)
                        .map_err(dberr)?;
                }
            }
            drop(added);
            let mut meta = tx.open_table(META).map_err(dberr)?;
            let counted = meta.get(BLOCK_BYTES).map_err(dberr)?.map(|v| v.value());
            usage.block_bytes = match counted {
                Some(n) => n,
                None => {
                    // A store written before blocks were counted: count once.
                    let mut n = 0u64;
                    for row in blocks.iter().map_err(dberr)? {
                        n += row.map_err(dberr)?.1.value().len() as u64;
                    }
                    meta.insert(BLOCK_BYTES, n).map_err(dberr)?;
                    n
                }
            };
            drop((blocks, meta));
            tx.commit().map_err(dberr)?;
        }
        let mut objects = HashMap::new();
        {
            let tx = db.begin_read().map_err(dberr)?;
            let table = tx.open_table(OBJECTS).map_err(dberr)?;
            for row in table.iter().map_err(dberr)? {
                let (k, v) = row.map_err(dberr)?;
                match SignedObject::decode(v.value()) {
                    Ok(o) if o.name().ring_key().0[..] == *k.value() => {
                        objects.insert(o.name().ring_key(), Arc::new(o));
                    }
                    Ok(_) => tracing::error!("stored object under the wrong key; skipped"),
                    Err(e) => tracing::error!("stored object does not verify ({e}); skipped"),
                }
            }
        }
        for o in objects.values() {
            usage.object_bytes += o.encoded().len() as u64;
            *usage.per_publisher.entry(o.publisher()).or_insert(0) += charge(o);
        }
        tracing::info!(
            objects = objects.len(),
            bytes = usage.total(),
            "pinned store loaded"
        );
        let store = PinnedStore {
            db,
            objects: RwLock::new(objects),
            quota,
            usage: std::sync::Mutex::new(usage),
        };
        store.collect(now_ms())?;
        Ok(store)
    }

    /// Bytes stored (objects and blocks).
    pub fn bytes(&self) -> u64 {
        self.usage.lock().map(|u| u.total()).unwrap_or(0)
    }

    /// Bytes `publisher`'s objects take.
    pub fn publisher_bytes(&self, publisher: &PublisherId) -> u64 {
        self.usage
            .lock()
            .ok()
            .and_then(|u| u.per_publisher.get(publisher).copied())
            .unwrap_or(0)
    }

    /// Refuses a write of `need` more bytes if the store would pass its bound.
    fn room_for(&self, u: &Usage, need: u64) -> Result<(), StoreError> {
        if u.total().saturating_add(need) > self.quota.max_bytes {
            return Err(StoreError::Full {
                used: u.total(),
                max: self.quota.max_bytes,
                need,
            });
        }
        Ok(())
    }

    /// The object stored under `key`.
    pub fn object(&self, key: &RingId) -> Option<Arc<SignedObject>> {
        self.objects.read().ok()?.get(key).cloned()
    }

    /// Number of pinned objects.
    pub fn object_count(&self) -> usize {
        self.objects.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Stores a verified object durably unless a newer one is stored.
    pub fn put_object(&self, obj: &SignedObject) -> Result<Stored, StoreError> {
        let key = obj.name().ring_key();
        let mut map = self.objects.write().map_err(dberr)?;
        // Under the lock the collector holds: a block checked here stays.
        if let Payload::Manifest(m) = &obj.object().payload {
            if let Some(h) = self.missing_block(m.blocks().iter().map(|r| r.hash))? {
                return Err(StoreError::MissingBlock(h));
            }
        }
        if let Some(old) = map.get(&key) {
            if old.hash() == obj.hash() {
                return Ok(Stored::Unchanged);
            }
            if !obj.supersedes(old) {
                return Err(StoreError::Stale(old.version()));
            }
        }
        let mut usage = self.usage.lock().map_err(dberr)?;
        let publisher = obj.publisher();
        let old = map.get(&key);
        let freed = old.map_or(0, |o| charge(o));
        let used = usage.per_publisher.get(&publisher).copied().unwrap_or(0);
        let quota = self.quota.of(&publisher);
        let need = charge(obj).saturating_sub(freed);
        if used.saturating_sub(freed).saturating_add(charge(obj)) > quota {
            return Err(StoreError::Quota {
                publisher: publisher.to_text(),
                used,
                quota,
                need,
            });
        }
        let old_len = old.map_or(0, |o| o.encoded().len() as u64);
        self.room_for(&usage, (obj.encoded().len() as u64).saturating_sub(old_len))?;
        let tx = self.db.begin_write().map_err(dberr)?;
        {
            let mut t = tx.open_table(OBJECTS).map_err(dberr)?;
            t.insert(&key.0[..], obj.encoded()).map_err(dberr)?;
        }
        tx.commit().map_err(dberr)?;
        usage.object_bytes = usage.object_bytes - old_len + obj.encoded().len() as u64;
        let mine = usage.per_publisher.entry(publisher).or_insert(0);
        *mine = mine.saturating_sub(freed) + charge(obj);
        map.insert(key, Arc::new(obj.clone()));
        Ok(Stored::New)
    }

    /// Stores a block durably.
    pub fn put_block(&self, block: &Block) -> Result<Stored, StoreError> {
        self.put_block_at(block, now_ms())
    }

    /// Stores a block durably, at `now` (ms since the UNIX epoch). When it
    /// does not fit, blocks no object names are collected first.
    pub fn put_block_at(&self, block: &Block, now: u64) -> Result<Stored, StoreError> {
        let len = block.bytes().len() as u64;
        {
            let usage = self.usage.lock().map_err(dberr)?;
            if self.room_for(&usage, len).is_err() && !self.has_block(&block.hash())? {
                drop(usage);
                self.collect(now)?;
            }
        }
        // Under the lock: two writers of one block count it once.
        let mut usage = self.usage.lock().map_err(dberr)?;
        if self.has_block(&block.hash())? {
            return Ok(Stored::Unchanged);
        }
        self.room_for(&usage, len)?;
        let total = usage.block_bytes + len;
        let tx = self.db.begin_write().map_err(dberr)?;
        {
            let key = &block.hash().0[..];
            let mut t = tx.open_table(BLOCKS).map_err(dberr)?;
            t.insert(key, block.bytes()).map_err(dberr)?;
            let mut added = tx.open_table(BLOCK_ADDED).map_err(dberr)?;
            added.insert(key, now).map_err(dberr)?;
            let mut meta = tx.open_table(META).map_err(dberr)?;
            meta.insert(BLOCK_BYTES, total).map_err(dberr)?;
        }
        tx.commit().map_err(dberr)?;
        usage.block_bytes = total;
        Ok(Stored::New)
    }

    /// Removes the blocks that no stored object names and that were stored
    /// more than [`Quota::unnamed_grace_ms`] before `now` (a block stored
    /// before upload times were kept counts as old). It reads the table of
    /// upload times, not the blocks.
    pub fn collect(&self, now: u64) -> Result<Collected, StoreError> {
        // Held throughout: no object is stored meanwhile (`put_object`
        // checks its blocks under the write side of this lock).
        let objects = self.objects.read().map_err(dberr)?;
        let named: std::collections::HashSet<Hash> = objects
            .values()
            .filter_map(|o| match &o.object().payload {
                Payload::Manifest(m) => Some(m.blocks().iter().map(|r| r.hash)),
                Payload::Inline(_) => None,
            })
            .flatten()
            .collect();
        let mut usage = self.usage.lock().map_err(dberr)?;
        let before = now.saturating_sub(self.quota.unnamed_grace_ms);
        let mut done = Collected::default();
        let tx = self.db.begin_write().map_err(dberr)?;
        {
            let mut blocks = tx.open_table(BLOCKS).map_err(dberr)?;
            let mut added = tx.open_table(BLOCK_ADDED).map_err(dberr)?;
            let mut doomed = Vec::new();
            for row in added.iter().map_err(dberr)? {
                let (k, at) = row.map_err(dberr)?;
                let Ok(hash) = <[u8; 32]>::try_from(k.value()) else {
                    continue;
                };
                if at.value() <= before && !named.contains(&Hash(hash)) {
                    doomed.push(hash);
                }
            }
            for hash in doomed {
                added.remove(&hash[..]).map_err(dberr)?;
                if let Some(v) = blocks.remove(&hash[..]).map_err(dberr)? {
                    done.blocks += 1;
                    done.bytes += v.value().len() as u64;
                }
            }
            let mut meta = tx.open_table(META).map_err(dberr)?;
            let left = usage.block_bytes.saturating_sub(done.bytes);
            meta.insert(BLOCK_BYTES, left).map_err(dberr)?;
        }
        if done.blocks == 0 {
            tx.abort().map_err(dberr)?;
            return Ok(done);
        }
        tx.commit().map_err(dberr)?;
        usage.block_bytes = usage.block_bytes.saturating_sub(done.bytes);
        tracing::info!(
            blocks = done.blocks,
            bytes = done.bytes,
            "collected blocks no object names"
        );
        Ok(done)
    }

    /// Whether block `hash` is stored.
    pub fn has_block(&self, hash: &Hash) -> Result<bool, StoreError> {
        Ok(self.missing_block(std::iter::once(*hash))?.is_none())
    }

    /// The first of `hashes` whose block is not stored, in one read.
    fn missing_block(
        &self,
        hashes: impl Iterator<Item = Hash>,
    ) -> Result<Option<Hash>, StoreError> {
        let tx = self.db.begin_read().map_err(dberr)?;
        let t = tx.open_table(BLOCKS).map_err(dberr)?;
        for h in hashes {
            if t.get(&h.0[..]).map_err(dberr)?.is_none() {
                return Ok(Some(h));
            }
        }
        Ok(None)
    }

    /// Block `hash`, checked against its hash (a corrupt record reads as missing).
    pub fn block(&self, hash: &Hash) -> Result<Option<Block>, StoreError> {
        let tx = self.db.begin_read().map_err(dberr)?;
        let t = tx.open_table(BLOCKS).map_err(dberr)?;
        let Some(v) = t.get(&hash.0[..]).map_err(dberr)? else {
            return Ok(None);
        };
        match Block::verified(*hash, v.value().to_vec()) {
            Ok(b) => Ok(Some(b)),
            Err(e) => {
                tracing::error!("stored block {hash} is corrupt ({e}); not served");
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ed25519_dalek::SigningKey;
    use icn_core::{ContentObject, Name};

    fn object(key: &SigningKey, path: &str, version: u64, len: usize) -> SignedObject {
        let publisher = PublisherId::from_key(key.verifying_key()).to_text();
        SignedObject::sign(
            ContentObject {
                name: Name::parse(&format!("/{publisher}{path}")).unwrap(),
                version,
                content_type: "text/plain".into(),
                created: 0,
                freshness: None,
                payload: Payload::Inline(vec![b'x'; len]),
            },
            key,
        )
        .unwrap()
    }

    fn quota(max_bytes: u64, per_publisher: u64) -> Quota {
        Quota {
            max_bytes,
            per_publisher,
            ..Quota::default()
        }
    }

    #[test]
    fn a_publisher_over_its_quota_is_refused_and_a_new_version_reuses_its_room() {
        let dir = tempfile::TempDir::new().unwrap();
        let k = SigningKey::from_bytes(&[1; 32]);
        let one = object(&k, "/a", 1, 1000);
        let s = PinnedStore::open(dir.path(), quota(1 << 20, 2 * charge(&one) + 50)).unwrap();
        s.put_object(&one).unwrap();
        s.put_object(&object(&k, "/b", 1, 1000)).unwrap();
        let third = s.put_object(&object(&k, "/c", 1, 1000));
        assert!(matches!(third, Err(StoreError::Quota { .. })), "{third:?}");
        // Replacing an object frees what the old version took.
        s.put_object(&object(&k, "/a", 2, 1000)).unwrap();
        // Another publisher has its own quota.
        let other = SigningKey::from_bytes(&[2; 32]);
        s.put_object(&object(&other, "/a", 1, 1000)).unwrap();
        let p = PublisherId::from_key(k.verifying_key());
        assert!(s.publisher_bytes(&p) <= 2 * charge(&one) + 50);
    }

    #[test]
    fn a_full_store_refuses_and_counts_survive_a_restart() {
        let dir = tempfile::TempDir::new().unwrap();
        let s = PinnedStore::open(dir.path(), quota(3000, 1 << 20)).unwrap();
        let b1 = Block::new(vec![1; 1500]).unwrap();
        let b2 = Block::new(vec![2; 1500]).unwrap();
        s.put_block(&b1).unwrap();
        s.put_block(&b1).unwrap();
        s.put_block(&b2).unwrap();
        assert_eq!(s.bytes(), 3000);
        let b3 = Block::new(vec![3; 10]).unwrap();
        assert!(matches!(s.put_block(&b3), Err(StoreError::Full { .. })));
        drop(s);
        let s = PinnedStore::open(dir.path(), quota(3000, 1 << 20)).unwrap();
        assert_eq!(s.bytes(), 3000);
        assert!(matches!(s.put_block(&b3), Err(StoreError::Full { .. })));
        assert!(s.block(&b1.hash()).unwrap().is_some());
    }

    /// An object of `blocks`, under `path`.
    fn manifest_object(key: &SigningKey, path: &str, blocks: &[&Block]) -> SignedObject {
        let refs: Vec<icn_core::block::BlockRef> = blocks
            .iter()
            .map(|b| icn_core::block::BlockRef {
                hash: b.hash(),
                size: b.bytes().len() as u32,
            })
            .collect();
        let size = refs.iter().map(|r| u64::from(r.size)).sum();
        let publisher = PublisherId::from_key(key.verifying_key()).to_text();
        SignedObject::sign(
            ContentObject {
                name: Name::parse(&format!("/{publisher}{path}")).unwrap(),
                version: 1,
                content_type: "application/octet-stream".into(),
                created: 0,
                freshness: None,
                payload: Payload::Manifest(icn_core::block::Manifest::new(size, refs).unwrap()),
            },
            key,
        )
        .unwrap()
    }

    #[test]
    fn blocks_no_object_names_are_collected_once_their_grace_is_over() {
        let dir = tempfile::TempDir::new().unwrap();
        let q = Quota {
            unnamed_grace_ms: 1_000,
            ..quota(1 << 20, 1 << 20)
        };
        let s = PinnedStore::open(dir.path(), q.clone()).unwrap();
        let named = Block::new(vec![1; 100]).unwrap();
        let loose = Block::new(vec![2; 100]).unwrap();
        let fresh = Block::new(vec![3; 100]).unwrap();
        s.put_block_at(&named, 0).unwrap();
        s.put_block_at(&loose, 0).unwrap();
        s.put_block_at(&fresh, 5_000).unwrap();
        let k = SigningKey::from_bytes(&[4; 32]);
        let o = manifest_object(&k, "/m", &[&named]);
        s.put_object(&o).unwrap();
        let done = s.collect(5_500).unwrap();
        assert_eq!(
            done,
            Collected {
                blocks: 1,
                bytes: 100
            }
        );
        assert!(s.block(&named.hash()).unwrap().is_some());
        assert!(s.block(&loose.hash()).unwrap().is_none());
        assert!(
            s.block(&fresh.hash()).unwrap().is_some(),
            "collected within its grace"
        );
        let total = 200 + o.encoded().len() as u64;
        assert_eq!(s.bytes(), total);
        drop(s);
        // Start-up collects by the clock: `fresh` was stored in 1970.
        let s = PinnedStore::open(dir.path(), q).unwrap();
        assert_eq!(s.bytes(), total - 100);
        assert!(s.block(&named.hash()).unwrap().is_some());
    }

    #[test]
    fn an_object_naming_a_missing_block_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let s = PinnedStore::open(dir.path(), Quota::default()).unwrap();
        let b = Block::new(vec![5; 10]).unwrap();
        let k = SigningKey::from_bytes(&[5; 32]);
        let r = s.put_object(&manifest_object(&k, "/m", &[&b]));
        assert!(
            matches!(r, Err(StoreError::MissingBlock(h)) if h == b.hash()),
            "{r:?}"
        );
        assert_eq!(s.object_count(), 0);
    }

    #[test]
    fn a_block_that_does_not_fit_makes_room_by_collecting_loose_ones() {
        let dir = tempfile::TempDir::new().unwrap();
        let q = Quota {
            unnamed_grace_ms: 1_000,
            ..quota(300, 1 << 20)
        };
        let s = PinnedStore::open(dir.path(), q).unwrap();
        let loose = Block::new(vec![6; 200]).unwrap();
        s.put_block_at(&loose, 10_000).unwrap();
        let next = Block::new(vec![7; 200]).unwrap();
        // Within the loose block's grace: full.
        let r = s.put_block_at(&next, 10_500);
        assert!(matches!(r, Err(StoreError::Full { .. })), "{r:?}");
        // After it: the loose block goes, the new one fits.
        s.put_block_at(&next, 12_000).unwrap();
        assert!(s.block(&loose.hash()).unwrap().is_none());
        assert_eq!(s.bytes(), 200);
    }

    #[test]
    fn blocks_stored_before_upload_times_were_kept_count_as_old() {
        let dir = tempfile::TempDir::new().unwrap();
        let s = PinnedStore::open(dir.path(), Quota::default()).unwrap();
        let b = Block::new(vec![8; 50]).unwrap();
        s.put_block(&b).unwrap();
        // As a store of before: no upload times.
        let tx = s.db.begin_write().unwrap();
        tx.delete_table(BLOCK_ADDED).unwrap();
        tx.commit().unwrap();
        drop(s);
        let s = PinnedStore::open(dir.path(), Quota::default()).unwrap();
        assert!(
            s.block(&b.hash()).unwrap().is_none(),
            "an old unnamed block stayed"
        );
        assert_eq!(s.bytes(), 0);
    }
}
