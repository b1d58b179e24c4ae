//! Large content as content-addressed blocks.
//!
//! Content above the inline limit is split into blocks (default
//! [`DEFAULT_BLOCK_SIZE`]). Each block is stored and fetched by the SHA-256 of
//! its bytes, and the signed object carries a [`Manifest`] listing every
//! block's hash and size. One signature therefore covers the whole content,
//! every block can be checked on its own as it arrives from an untrusted peer,
//! and a byte range needs only the blocks it touches.

use crate::hash::Hash;

/// Default block size: 256 KiB.
pub const DEFAULT_BLOCK_SIZE: usize = 256 * 1024;
/// Largest block accepted from anyone.
pub const MAX_BLOCK_SIZE: usize = 1024 * 1024;
/// Most blocks in one manifest (4 GiB of content at the default block size).
pub const MAX_BLOCKS: usize = 16 * 1024;

/// Why a block or manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// A manifest lists no blocks.
    #[error("a manifest lists at least one block")]
    Empty,
    /// More than [`MAX_BLOCKS`] blocks.
    #[error("manifest lists {0} blocks, more than the limit of {MAX_BLOCKS}")]
    TooMany(usize),
    /// A block is empty or larger than [`MAX_BLOCK_SIZE`].
    #[error("block {index} has size {size}, outside 1..={MAX_BLOCK_SIZE}")]
    BadSize {
        /// Position in the manifest.
        index: usize,
        /// Its size.
        size: u64,
    },
    /// The manifest's total size is not the sum of its block sizes.
    #[error("manifest size {stated} is not the sum of its block sizes ({sum})")]
    SizeMismatch {
        /// Stated total.
        stated: u64,
        /// Sum of the blocks.
        sum: u64,
    },
    /// A block's bytes do not hash to the hash it was fetched by.
    #[error("block {hash} is corrupt (its bytes hash to {actual})")]
    Corrupt {
        /// Expected hash.
        hash: Hash,
        /// Hash of the bytes received.
        actual: Hash,
    },
    /// A block's length differs from the manifest.
    #[error("block {hash} has {actual} bytes, the manifest says {expected}")]
    WrongLength {
        /// The block.
        hash: Hash,
        /// Size in the manifest.
        expected: u32,
        /// Size received.
        actual: usize,
    },
    /// A block is not available.
    #[error("block {0} is missing")]
    Missing(Hash),
    /// The requested block size is outside 1..=MAX_BLOCK_SIZE.
    #[error("block size {0} is outside 1..={MAX_BLOCK_SIZE}")]
    BlockSize(usize),
}

/// A reference to one block: its hash and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    /// SHA-256 of the block's bytes.
    pub hash: Hash,
    /// Length of the block in bytes.
    pub size: u32,
}

/// A block whose bytes have been checked against its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    hash: Hash,
    bytes: Vec<u8>,
}

impl Block {
    /// Wraps bytes as a block, computing its hash.
    pub fn new(bytes: Vec<u8>) -> Result<Block, BlockError> {
        if bytes.is_empty() || bytes.len() > MAX_BLOCK_SIZE {
            return Err(BlockError::BadSize {
                index: 0,
                size: bytes.len() as u64,
            });
        }
        Ok(Block {
            hash: Hash::of(&bytes),
            bytes,
        })
    }

    /// Accepts bytes claimed to be block `hash` only if they hash to it.
    pub fn verified(hash: Hash, bytes: Vec<u8>) -> Result<Block, BlockError> {
        let block = Block::new(bytes)?;
        if block.hash != hash {
            return Err(BlockError::Corrupt {
                hash,
                actual: block.hash,
            });
        }
        Ok(block)
    }

    /// The block's hash.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The block's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The block's bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The reference a manifest holds for this block.
    pub fn block_ref(&self) -> BlockRef {
        BlockRef {
            hash: self.hash,
            size: self.bytes.len() as u32,
        }
    }
}

/// The list of blocks that make up one piece of large content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    size: u64,
    blocks: Vec<BlockRef>,
}

impl Manifest {
    /// Builds a manifest from block references, checking every limit.
    pub fn new(size: u64, blocks: Vec<BlockRef>) -> Result<Manifest, BlockError> {
        if blocks.is_empty() {
            return Err(BlockError::Empty);
        }
        if blocks.len() > MAX_BLOCKS {
            return Err(BlockError::TooMany(blocks.len()));
        }
        let mut sum = 0u64;
        for (index, b) in blocks.iter().enumerate() {
            if b.size == 0 || b.size as usize > MAX_BLOCK_SIZE {
                return Err(BlockError::BadSize {
                    index,
                    size: u64::from(b.size),
                });
            }
            sum += u64::from(b.size);
        }
        if sum != size {
            return Err(BlockError::SizeMismatch { stated: size, sum });
        }
        Ok(Manifest { size, blocks })
    }

    /// Total content length.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The blocks in order.
    pub fn blocks(&self) -> &[BlockRef] {
        &self.blocks
    }

    /// Checks that `bytes` are block `index` of this manifest.
    pub fn check_block(&self, index: usize, bytes: &[u8]) -> Result<(), BlockError> {
        let r = self
            .blocks
            .get(index)
            .ok_or(BlockError::TooMany(index + 1))?;
        if bytes.len() != r.size as usize {
            return Err(BlockError::WrongLength {
                hash: r.hash,
                expected: r.size,
                actual: bytes.len(),
            });
        }
        let actual = Hash::of(bytes);
        if actual != r.hash {
            return Err(BlockError::Corrupt {
                hash: r.hash,
                actual,
            });
        }
        Ok(())
    }

    /// The indices of the blocks covering bytes `start..end` of the content,
    /// and the offset of the first of them in the content; none for an
    /// empty range.
    pub fn blocks_for_range(&self, start: u64, end: u64) -> (core::ops::Range<usize>, u64) {
        if start >= end {
            return (0..0, 0);
        }
        let mut offset = 0u64;
        let mut first = None;
        let mut first_offset = 0;
        let mut last = 0;
        for (i, b) in self.blocks.iter().enumerate() {
            let next = offset + u64::from(b.size);
            if next > start && offset < end {
                if first.is_none() {
                    first = Some(i);
                    first_offset = offset;
                }
                last = i + 1;
            }
            offset = next;
        }
        match first {
            Some(f) => (f..last, first_offset),
            None => (0..0, 0),
        }
    }

    /// Reassembles the content, fetching each block through `fetch` and
    /// checking it against the manifest.
    pub fn assemble<F>(&self, mut fetch: F) -> Result<Vec<u8>, BlockError>
    where
        F: FnMut(&BlockRef) -> Option<Vec<u8>>,
    {
        let mut out = Vec::with_capacity(usize::try_from(self.size).unwrap_or(0));
        for (i, r) in self.blocks.iter().enumerate() {
            let bytes = fetch(r).ok_or(BlockError::Missing(r.hash))?;
            self.check_block(i, &bytes)?;
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }
}

/// Splits `content` into blocks of `block_size` bytes (the last may be shorter).
pub fn chunk(content: &[u8], block_size: usize) -> Result<(Manifest, Vec<Block>), BlockError> {
    if block_size == 0 || block_size > MAX_BLOCK_SIZE {
        return Err(BlockError::BlockSize(block_size));
    }
    let mut blocks = Vec::with_capacity(content.len().div_ceil(block_size));
    for piece in content.chunks(block_size) {
        blocks.push(Block::new(piece.to_vec())?);
    }
    let refs = blocks.iter().map(Block::block_ref).collect();
    Ok((Manifest::new(content.len() as u64, refs)?, blocks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn chunk_and_assemble() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let (m, blocks) = chunk(&data, 4096).unwrap();
        assert_eq!(m.blocks().len(), 3);
        assert_eq!(m.blocks()[2].size, 10_000 - 8192);
        let store: HashMap<Hash, Vec<u8>> = blocks
            .into_iter()
            .map(|b| (b.hash(), b.into_bytes()))
            .collect();
        assert_eq!(m.assemble(|r| store.get(&r.hash).cloned()).unwrap(), data);
        // A missing block and a corrupt block are both reported.
        let missing = m.blocks()[1].hash;
        assert_eq!(
            m.assemble(|r| (r.hash != missing).then(|| store[&r.hash].clone())),
            Err(BlockError::Missing(missing))
        );
        let bad = m.assemble(|r| {
            let mut b = store[&r.hash].clone();
            b[0] ^= 1;
            Some(b)
        });
        assert!(matches!(bad, Err(BlockError::Corrupt { .. })));
    }

    #[test]
    fn manifest_limits() {
        let r = BlockRef {
            hash: Hash::of(b"x"),
            size: 1,
        };
        assert_eq!(Manifest::new(0, vec![]), Err(BlockError::Empty));
        assert!(matches!(
            Manifest::new(2, vec![r]),
            Err(BlockError::SizeMismatch { .. })
        ));
        let zero = BlockRef { size: 0, ..r };
        assert!(matches!(
            Manifest::new(0, vec![zero]),
            Err(BlockError::BadSize { .. })
        ));
        assert!(matches!(chunk(b"abc", 0), Err(BlockError::BlockSize(0))));
        assert!(matches!(
            Block::verified(Hash::of(b"y"), b"x".to_vec()),
            Err(BlockError::Corrupt { .. })
        ));
    }

    proptest! {
        #[test]
        fn range_blocks_cover_the_range(len in 1usize..5000, bs in 1usize..700, a in 0u64..6000, b in 0u64..6000) {
            let data = vec![1u8; len];
            let (m, _) = chunk(&data, bs).unwrap();
            let (start, end) = (a.min(b).min(len as u64), a.max(b).min(len as u64));
            let (range, off) = m.blocks_for_range(start, end);
            if start < end {
                prop_assert!(off <= start);
                let covered: u64 = m.blocks()[range.clone()].iter().map(|r| u64::from(r.size)).sum();
                prop_assert!(off + covered >= end);
                prop_assert_eq!(range.start, (start / bs as u64) as usize);
            } else {
                prop_assert!(range.is_empty());
            }
        }
    }
}
