//! SHA-256 digests as a newtype.
//!
//! Blocks are addressed by the SHA-256 of their bytes and objects are identified
//! (for ETags and for breaking version ties) by the SHA-256 of their encoding.
//! A dedicated type keeps those digests from being confused with ring ids or
//! keys, and gives them one textual form: 64 lowercase hex digits.

use core::fmt;
use core::str::FromStr;

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(align(8))]
pub struct Hash(pub [u8; 32]);

/// Errors from parsing a [`Hash`](struct@Hash) from its hex form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The text is not exactly 64 characters long.
    #[error("a hash is 64 hex digits, got {0} characters")]
    Length(usize),
    /// The text contains a character other than `0-9a-f`.
    #[error("a hash is lowercase hex (0-9, a-f)")]
    Digit,
}

impl Hash {
    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }

    /// The SHA-256 of the concatenation of `parts`, without building it.
    pub fn of_parts(parts: &[&[u8]]) -> Hash {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        Hash(h.finalize().into())
    }

    /// The digest as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Lowercase hex of arbitrary bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Parses exactly 64 lowercase hex digits into 32 bytes.
pub(crate) fn parse_hex32(s: &str) -> Result<[u8; 32], HashError> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return Err(HashError::Length(b.len()));
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(out)
}

fn nibble(c: u8) -> Result<u8, HashError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(HashError::Digit),
    }
}

impl FromStr for Hash {
    type Err = HashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex32(s).map(Hash)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_of_empty_input() {
        assert_eq!(
            Hash::of(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let h = Hash::of(b"abc");
        assert_eq!(h.to_hex().parse::<Hash>(), Ok(h));
        assert_eq!("ab".parse::<Hash>(), Err(HashError::Length(2)));
        let upper = h.to_hex().to_uppercase();
        assert_eq!(upper.parse::<Hash>(), Err(HashError::Digit));
        assert_eq!(Hash::of_parts(&[b"a", b"bc"]), h);
    }
}
