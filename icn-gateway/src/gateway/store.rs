//! The gateway's pinned store: everything accepted over HTTP, in redb.
//!
//! redb commits are durable (fsync) before `commit` returns, so a `PUT` is
//! acknowledged only once its object or block would survive `kill -9` or a
//! power cut. Objects are also kept decoded in memory, verified once when they
//! are loaded at start-up: a record that no longer verifies (a corrupt or
//! truncated file) is reported and skipped, never served. Blocks stay on disk
//! and are hash-checked each time they are read.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use icn_core::block::Block;
use icn_core::{Hash, RingId, SignedObject};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
const BLOCKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blocks");

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("store: {0}")]
    Db(String),
    /// A newer (or equally new, different) object is already stored.
    #[error("a newer version (version {0}) is already stored")]
    Stale(u64),
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

/// Pinned objects and blocks.
pub struct PinnedStore {
    db: Database,
    objects: RwLock<HashMap<RingId, Arc<SignedObject>>>,
}

impl PinnedStore {
    /// Opens (or creates) the store in `dir`, loading and verifying every object.
    pub fn open(dir: &Path) -> Result<PinnedStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(dberr)?;
        let db = Database::create(dir.join("store.redb")).map_err(dberr)?;
        {
            let tx = db.begin_write().map_err(dberr)?;
            tx.open_table(OBJECTS).map_err(dberr)?;
            tx.open_table(BLOCKS).map_err(dberr)?;
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
        tracing::info!(objects = objects.len(), "pinned store loaded");
        Ok(PinnedStore {
            db,
            objects: RwLock::new(objects),
        })
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
        if let Some(old) = map.get(&key) {
            if old.hash() == obj.hash() {
                return Ok(Stored::Unchanged);
            }
            if !obj.supersedes(old) {
                return Err(StoreError::Stale(old.version()));
            }
        }
        let tx = self.db.begin_write().map_err(dberr)?;
        {
            let mut t = tx.open_table(OBJECTS).map_err(dberr)?;
            t.insert(&key.0[..], obj.encoded()).map_err(dberr)?;
        }
        tx.commit().map_err(dberr)?;
        map.insert(key, Arc::new(obj.clone()));
        Ok(Stored::New)
    }

    /// Stores a block durably.
    pub fn put_block(&self, block: &Block) -> Result<Stored, StoreError> {
        if self.has_block(&block.hash())? {
            return Ok(Stored::Unchanged);
        }
        let tx = self.db.begin_write().map_err(dberr)?;
        {
            let mut t = tx.open_table(BLOCKS).map_err(dberr)?;
            t.insert(&block.hash().0[..], block.bytes())
                .map_err(dberr)?;
        }
        tx.commit().map_err(dberr)?;
        Ok(Stored::New)
    }

    /// Whether block `hash` is stored.
    pub fn has_block(&self, hash: &Hash) -> Result<bool, StoreError> {
        let tx = self.db.begin_read().map_err(dberr)?;
        let t = tx.open_table(BLOCKS).map_err(dberr)?;
        Ok(t.get(&hash.0[..]).map_err(dberr)?.is_some())
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
