//! Lowercase, unpadded RFC 4648 base32.
//!
//! Publisher ids are `k` followed by the base32 of a 32-byte key. Base32 was
//! chosen over hex (shorter: 52 instead of 64 characters, so a publisher id fits
//! in a 63-byte DNS label) and over base64 (case-insensitive, no `/` or `+`, so
//! it is safe in URL paths and host names). Decoding is strict: upper case,
//! padding and non-zero trailing bits are refused, so every value has exactly
//! one textual form.

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Errors from [`decode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base32Error {
    /// A character outside `a-z2-7`.
    #[error("invalid base32 character '{}'", .0.escape_default())]
    Character(char),
    /// A length no byte string encodes to.
    #[error("invalid base32 length {0}")]
    Length(usize),
    /// The unused low bits of the last character are not zero.
    #[error("non-canonical base32 (trailing bits set)")]
    TrailingBits,
}

/// Encodes `bytes` as lowercase base32 without padding.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes lowercase unpadded base32, refusing every non-canonical form.
pub fn decode(text: &str) -> Result<Vec<u8>, Base32Error> {
    // Lengths mod 8 that no whole number of bytes produces.
    if matches!(text.len() % 8, 1 | 3 | 6) {
        return Err(Base32Error::Length(text.len()));
    }
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in text.chars() {
        let v = match c {
            'a'..='z' => c as u32 - 'a' as u32,
            '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => return Err(Base32Error::Character(c)),
        };
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        return Err(Base32Error::TrailingBits);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc4648_vectors_lowercased() {
        for (plain, enc) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn rejects_non_canonical() {
        assert_eq!(decode("MY"), Err(Base32Error::Character('M')));
        assert_eq!(decode("my=="), Err(Base32Error::Character('=')));
        assert_eq!(decode("mz"), Err(Base32Error::TrailingBits));
        assert_eq!(decode("m"), Err(Base32Error::Length(1)));
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        }
    }
}
