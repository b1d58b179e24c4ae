//! Object and block files on disk.
//!
//! A signed object is one file; the blocks of a large object live in a
//! directory beside it (`OBJ.blocks/` by default), one file per block, named by
//! the block's hash in hex. Every read here is bounded: an object file larger
//! than [`MAX_OBJECT_SIZE`] or a block file longer than its manifest entry is
//! refused before it is read into memory.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use icn_core::block::{Block, BlockError, BlockRef, Manifest, MAX_BLOCK_SIZE};
use icn_core::object::{ObjectError, MAX_OBJECT_SIZE};
use icn_core::{Payload, SignedObject};

/// Why an object or block file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ObjFileError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is larger than any valid object.
    #[error("{}: oversized ({len} bytes; an object is at most {MAX_OBJECT_SIZE})", path.display())]
    Oversized {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The object is invalid.
    #[error("{}: {source}", path.display())]
    Object {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: ObjectError,
    },
    /// A block is missing or corrupt.
    #[error("{}: {source}", path.display())]
    Block {
        /// The block file.
        path: PathBuf,
        /// The cause.
        source: BlockError,
    },
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> ObjFileError + '_ {
    move |source| ObjFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The default blocks directory of an object file: `OBJ.blocks`.
pub fn default_blocks_dir(obj: &Path) -> PathBuf {
    let mut s = obj.as_os_str().to_os_string();
    s.push(".blocks");
    PathBuf::from(s)
}

/// Reads at most `max` bytes of `path`, failing if the file is longer.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ObjFileError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut buf = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    if buf.len() as u64 > max {
        return Err(ObjFileError::Oversized {
            path: path.to_path_buf(),
            len: fs::metadata(path)
                .map(|m| m.len())
                .unwrap_or(buf.len() as u64),
        });
    }
    Ok(buf)
}

/// Reads an object file; `verify` decides whether the signature is checked.
pub fn read_object(path: &Path, verify: bool) -> Result<SignedObject, ObjFileError> {
    let bytes = read_bounded(path, MAX_OBJECT_SIZE as u64)?;
    let decoded = if verify {
        SignedObject::decode(&bytes)
    } else {
        SignedObject::decode_unverified(&bytes)
    };
    decoded.map_err(|source| ObjFileError::Object {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads block `r` from `dir` and checks its length and hash.
pub fn read_block(dir: &Path, r: &BlockRef) -> Result<Vec<u8>, ObjFileError> {
    let path = dir.join(r.hash.to_hex());
    let bytes = match read_bounded(&path, u64::from(r.size)) {
        Ok(b) => b,
        Err(ObjFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Err(ObjFileError::Block {
                path,
                source: BlockError::Missing(r.hash),
            })
        }
        Err(ObjFileError::Oversized { len, .. }) => {
            return Err(ObjFileError::Block {
                path,
                source: BlockError::WrongLength {
                    hash: r.hash,
                    expected: r.size,
                    actual: usize::try_from(len).unwrap_or(usize::MAX),
                },
            })
        }
        Err(e) => return Err(e),
    };
    let block_err = |source| ObjFileError::Block {
        path: path.clone(),
        source,
    };
    if bytes.len() != r.size as usize {
        return Err(block_err(BlockError::WrongLength {
            hash: r.hash,
            expected: r.size,
            actual: bytes.len(),
        }));
    }
    Block::verified(r.hash, bytes)
        .map(Block::into_bytes)
        .map_err(block_err)
}

/// Checks every block of `manifest` in `dir`.
pub fn check_blocks(dir: &Path, manifest: &Manifest) -> Result<(), ObjFileError> {
    manifest
        .blocks()
        .iter()
        .try_for_each(|r| read_block(dir, r).map(drop))
}

/// Writes the verified content of `obj` to `out`, checking each block before
/// any of its bytes are written.
pub fn write_content(
    obj: &SignedObject,
    blocks_dir: &Path,
    out: &mut dyn Write,
    out_path: &Path,
) -> Result<(), ObjFileError> {
    match &obj.object().payload {
        Payload::Inline(b) => out.write_all(b).map_err(io_err(out_path)),
        Payload::Manifest(m) => m.blocks().iter().try_for_each(|r| {
            let bytes = read_block(blocks_dir, r)?;
            out.write_all(&bytes).map_err(io_err(out_path))
        }),
    }
}

/// Reads up to `block_size` bytes, stopping early only at end of file.
pub fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes a block into `dir` as `<hash>` (write to a temporary file, then
/// rename, so a crash never leaves a truncated block under a valid name).
pub fn write_block(dir: &Path, block: &Block) -> Result<(), ObjFileError> {
    debug_assert!(block.bytes().len() <= MAX_BLOCK_SIZE);
    let path = dir.join(block.hash().to_hex());
    write_atomic(&path, block.bytes())
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ObjFileError> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}
