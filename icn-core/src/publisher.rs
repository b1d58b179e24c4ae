//! Self-certifying publisher ids.
//!
//! The first component of every name is the id of the key that may publish
//! under it: `k` followed by the lowercase unpadded base32 of the 32-byte
//! ed25519 public key (53 characters, so it fits a DNS label). Anyone can check
//! that an object was signed by the owner of its name without a registry, a
//! certificate authority or a blockchain: the name itself carries the key.

use core::fmt;
use core::str::FromStr;

use crate::sig::VerifyingKey;

use crate::base32;

/// Length of a publisher id in characters.
pub const PUBLISHER_ID_LEN: usize = 53;

/// The id of a publisher: an ed25519 public key that is a valid curve point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublisherId(VerifyingKey);

/// Errors from parsing a publisher id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublisherIdError {
    /// Not 53 characters long.
    #[error("a publisher id is 53 characters ('k' + 52 base32), got {0}")]
    Length(usize),
    /// Does not start with `k`.
    #[error("a publisher id starts with 'k'")]
    Prefix,
    /// The base32 part is malformed.
    #[error("publisher id: {0}")]
    Base32(#[from] base32::Base32Error),
    /// The 32 bytes are not a valid ed25519 public key.
    #[error("publisher id is not a valid ed25519 public key")]
    Key,
}

impl PublisherId {
    /// The publisher id of a public key.
    pub fn from_key(key: VerifyingKey) -> PublisherId {
        PublisherId(key)
    }

    /// The publisher id of raw public key bytes, if they are a valid key.
    pub fn from_key_bytes(bytes: &[u8; 32]) -> Result<PublisherId, PublisherIdError> {
        VerifyingKey::from_bytes(bytes)
            .map(PublisherId)
            .map_err(|_| PublisherIdError::Key)
    }

    /// The public key.
    pub fn key(&self) -> &VerifyingKey {
        &self.0
    }

    /// The textual form, `k` + base32.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(PUBLISHER_ID_LEN);
        s.push('k');
        s.push_str(&base32::encode(self.0.as_bytes()));
        s
    }
}

impl FromStr for PublisherId {
    type Err = PublisherIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != PUBLISHER_ID_LEN {
            return Err(PublisherIdError::Length(s.len()));
        }
        let rest = s.strip_prefix('k').ok_or(PublisherIdError::Prefix)?;
        let bytes = base32::decode(rest)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| PublisherIdError::Key)?;
        PublisherId::from_key_bytes(&arr)
    }
}

impl fmt::Display for PublisherId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for PublisherId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublisherId({})", self.to_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn round_trip_and_shape() {
        let key = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        let id = PublisherId::from_key(key);
        let text = id.to_text();
        assert_eq!(text.len(), PUBLISHER_ID_LEN);
        assert!(text.starts_with('k'));
        assert_eq!(text.parse::<PublisherId>(), Ok(id));
    }

    #[test]
    fn rejects_malformed() {
        let good =
            PublisherId::from_key(SigningKey::from_bytes(&[1u8; 32]).verifying_key()).to_text();
        assert_eq!(
            "kabc".parse::<PublisherId>(),
            Err(PublisherIdError::Length(4))
        );
        let wrong_prefix = format!("x{}", &good[1..]);
        assert_eq!(
            wrong_prefix.parse::<PublisherId>(),
            Err(PublisherIdError::Prefix)
        );
        let upper = good.to_uppercase();
        assert!(upper.parse::<PublisherId>().is_err());
    }
}
