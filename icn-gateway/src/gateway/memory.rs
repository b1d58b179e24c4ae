//! The ring nodes a gateway knew, kept in its data directory across
//! restarts.
//!
//! A gateway that restarts has no link to the ring its peers still form,
//! and founds a ring of its own. Its peers connect to it again
//! (`icn_core::link::reconnect`); the nodes it remembers are handed to its
//! node as lost ones (`Node::remember`), so that the first of them it hears
//! from makes the two rings one (spec/ring.md, "Merging rings"). The file,
//! `ring-nodes`, holds one node id in hex per line; it is written every
//! [`SAVE_EVERY`] when it changed, through a temporary file and a rename, so
//! a crash leaves the old list or the new one. Lines that do not parse are
//! skipped: the list is a hint, and a damaged one only costs the merge.

use std::path::Path;
use std::time::Duration;

use icn_core::RingId;

/// The file in the data directory.
pub const FILE: &str = "ring-nodes";
/// Node ids kept (and read back).
pub const MAX: usize = 32;
/// How often the list is written when it changed.
pub const SAVE_EVERY: Duration = Duration::from_secs(10);
/// Bytes read of the file at most (a line is 65).
const MAX_BYTES: u64 = 64 * 1024;

/// The ids the file in `dir` holds (none if there is none).
pub fn load(dir: &Path) -> Vec<RingId> {
    use std::io::Read;
    let mut text = String::new();
    let read = std::fs::File::open(dir.join(FILE))
        .and_then(|f| f.take(MAX_BYTES).read_to_string(&mut text));
    if read.is_err() {
        return Vec::new();
    }
    text.lines()
        .filter_map(|l| {
            let bytes: [u8; 32] = hex::decode(l.trim()).ok()?.try_into().ok()?;
            Some(RingId(bytes))
        })
        .take(MAX)
        .collect()
}

/// Writes `ids` to the file in `dir`.
pub fn save(dir: &Path, ids: &[RingId]) -> std::io::Result<()> {
    let text: String = ids
        .iter()
        .take(MAX)
        .map(|id| format!("{}\n", id.to_hex()))
        .collect();
    let tmp = dir.join(format!("{FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join(FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_damage_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).is_empty(), "no file: nothing");
        let ids: Vec<RingId> = (0..40u8).map(|i| RingId([i; 32])).collect();
        save(dir.path(), &ids).unwrap();
        assert_eq!(load(dir.path()), ids[..MAX].to_vec());
        let mut text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        text.insert_str(0, "not hex\nabcd\n");
        std::fs::write(dir.path().join(FILE), text).unwrap();
        assert_eq!(load(dir.path()), ids[..MAX].to_vec());
    }
}
