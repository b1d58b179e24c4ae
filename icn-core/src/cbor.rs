//! Strict CBOR decoding shared by every icn decoder.
//!
//! icn signs exact bytes, and every peer must agree on what a given byte string
//! means, so decoders accept only the RFC 8949 core deterministic encoding
//! (shortest heads, definite lengths, map keys in ascending order, no
//! duplicates) and only the types the spec uses (no floats, no tags). The
//! strategy is: bound the input size, let ciborium parse it into a `Value` with
//! a recursion limit, walk the value for duplicate or unordered keys and
//! forbidden types, then re-encode it and require the result to equal the input
//! byte for byte. Anything a lenient parser would have "fixed up" fails that
//! last check, so there is only ever one accepted encoding per value.

use ciborium::value::{Integer, Value};

/// Deepest nesting any icn structure needs, with room to spare.
const RECURSION_LIMIT: usize = 16;

/// Why bytes were refused by the strict decoder or a schema check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    /// The input is longer than the limit for this structure.
    #[error("input of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not well-formed CBOR (truncated input, bad head, nesting too deep...).
    #[error("malformed CBOR: {0}")]
    Malformed(String),
    /// Bytes after the single top-level item.
    #[error("trailing bytes after the CBOR item")]
    TrailingBytes,
    /// A map has the same key twice.
    #[error("duplicate map key")]
    DuplicateKey,
    /// Well-formed but not in deterministic encoding.
    #[error("non-canonical CBOR: {0}")]
    NonCanonical(&'static str),
    /// A CBOR feature the spec does not use (floats, tags, simple values).
    #[error("unsupported CBOR item: {0}")]
    Unsupported(&'static str),
    /// A field has the wrong type or an out-of-range value.
    #[error("field '{field}': expected {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A required field is absent.
    #[error("missing field '{0}'")]
    Missing(&'static str),
    /// A map key the schema does not define.
    #[error("unknown field {0}")]
    UnknownField(String),
}

impl CborError {
    /// A short stable code, as used in `spec/vectors/`.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            CborError::TooLarge { .. } => "too-large",
            CborError::Malformed(_) => "malformed",
            CborError::TrailingBytes => "trailing-bytes",
            CborError::DuplicateKey => "duplicate-key",
            CborError::NonCanonical(_) => "non-canonical",
            CborError::Unsupported(_) => "unsupported",
            CborError::WrongType { .. } => "wrong-type",
            CborError::Missing(_) => "missing-field",
            CborError::UnknownField(_) => "unknown-field",
        }
    }
}

/// Appends a CBOR head (major type and argument) in its shortest form.
pub(crate) fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= 0xff {
        out.extend_from_slice(&[m | 24, arg as u8]);
    } else if arg <= 0xffff {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= 0xffff_ffff {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// Encodes a value; maps keep the order they are given in.
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail and every Value is serialisable.
    if ciborium::ser::into_writer(value, &mut out).is_err() {
        unreachable!("serialising a ciborium Value into a Vec failed");
    }
    out
}

/// Decodes exactly one item in deterministic encoding from `bytes`.
pub(crate) fn decode_strict(bytes: &[u8], max: usize) -> Result<Value, CborError> {
    if bytes.len() > max {
        return Err(CborError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let mut reader = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, RECURSION_LIMIT)
        .map_err(|e| CborError::Malformed(short_error(&e)))?;
    if !reader.is_empty() {
        return Err(CborError::TrailingBytes);
    }
    check_value(&value)?;
    if encode(&value) != bytes {
        return Err(CborError::NonCanonical(
            "not the shortest, definite-length encoding",
        ));
    }
    Ok(value)
}

fn short_error<E: core::fmt::Debug>(e: &ciborium::de::Error<E>) -> String {
    match e {
        ciborium::de::Error::Io(_) => "unexpected end of input".into(),
        ciborium::de::Error::Syntax(at) => format!("syntax error at byte {at}"),
        ciborium::de::Error::Semantic(_, msg) => msg.chars().take(80).collect(),
        ciborium::de::Error::RecursionLimitExceeded => "nesting too deep".into(),
    }
}

fn check_value(v: &Value) -> Result<(), CborError> {
    match v {
        Value::Integer(_) | Value::Bytes(_) | Value::Text(_) | Value::Bool(_) | Value::Null => {
            Ok(())
        }
        Value::Float(_) => Err(CborError::Unsupported("floating-point number")),
        Value::Tag(..) => Err(CborError::Unsupported("tag")),
        Value::Array(items) => items.iter().try_for_each(check_value),
        Value::Map(entries) => {
            let mut prev: Option<Vec<u8>> = None;
            for (k, val) in entries {
                check_value(k)?;
                check_value(val)?;
                let key = encode(k);
                if let Some(p) = &prev {
                    match p.as_slice().cmp(key.as_slice()) {
                        core::cmp::Ordering::Equal => return Err(CborError::DuplicateKey),
                        core::cmp::Ordering::Greater => {
                            return Err(CborError::NonCanonical("map keys out of order"))
                        }
                        core::cmp::Ordering::Less => {}
                    }
                }
                prev = Some(key);
            }
            Ok(())
        }
        _ => Err(CborError::Unsupported("simple value")),
    }
}

/// The fields of a map with small unsigned integer keys, taken one by one.
pub(crate) struct Fields {
    entries: Vec<(u64, Value)>,
}

impl Fields {
    /// Splits `value` (which must be a map) into fields; `known` lists the
    /// keys the schema defines and their names, and any other key is refused.
    pub(crate) fn new(
        value: Value,
        what: &'static str,
        known: &[(u64, &'static str)],
    ) -> Result<Fields, CborError> {
        let Value::Map(map) = value else {
            return Err(CborError::WrongType {
                field: what,
                expected: "a map",
            });
        };
        let mut entries = Vec::with_capacity(map.len());
        for (k, v) in map {
            let key = match k {
                Value::Integer(i) => u64::try_from(i).ok(),
                _ => None,
            };
            match key {
                Some(key) if known.iter().any(|(n, _)| *n == key) => entries.push((key, v)),
                Some(key) => return Err(CborError::UnknownField(format!("{key} in {what}"))),
                None => {
                    return Err(CborError::UnknownField(format!(
                        "non-integer key in {what}"
                    )))
                }
            }
        }
        Ok(Fields { entries })
    }

    /// Removes and returns field `key`, if present.
    pub(crate) fn take(&mut self, key: u64) -> Option<Value> {
        let pos = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.swap_remove(pos).1)
    }

    /// Removes field `key`, which must be present.
    pub(crate) fn required(&mut self, key: u64, name: &'static str) -> Result<Value, CborError> {
        self.take(key).ok_or(CborError::Missing(name))
    }
}

/// The value as an unsigned 64-bit integer.
pub(crate) fn as_u64(v: Value, field: &'static str) -> Result<u64, CborError> {
    match v {
        Value::Integer(i) => u64::try_from(i).ok(),
        _ => None,
    }
    .ok_or(CborError::WrongType {
        field,
        expected: "an unsigned integer",
    })
}

/// The value as a byte string of at most `max` bytes.
pub(crate) fn as_bytes(v: Value, field: &'static str, max: usize) -> Result<Vec<u8>, CborError> {
    match v {
        Value::Bytes(b) if b.len() <= max => Ok(b),
        _ => Err(CborError::WrongType {
            field,
            expected: "a byte string within its size limit",
        }),
    }
}

/// The value as a fixed-size byte array.
pub(crate) fn as_array<const N: usize>(
    v: Value,
    field: &'static str,
) -> Result<[u8; N], CborError> {
    match v {
        Value::Bytes(b) => b.try_into().ok(),
        _ => None,
    }
    .ok_or(CborError::WrongType {
        field,
        expected: "a byte string of the exact length",
    })
}

/// The value as a text string of at most `max` bytes.
pub(crate) fn as_text(v: Value, field: &'static str, max: usize) -> Result<String, CborError> {
    match v {
        Value::Text(t) if t.len() <= max => Ok(t),
        _ => Err(CborError::WrongType {
            field,
            expected: "a text string within its size limit",
        }),
    }
}

/// The value as an array of at most `max` items.
pub(crate) fn as_list(v: Value, field: &'static str, max: usize) -> Result<Vec<Value>, CborError> {
    match v {
        Value::Array(a) if a.len() <= max => Ok(a),
        _ => Err(CborError::WrongType {
            field,
            expected: "an array within its size limit",
        }),
    }
}

/// A CBOR unsigned integer value.
pub(crate) fn uint(v: u64) -> Value {
    Value::Integer(Integer::from(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_shortest() {
        for (arg, len) in [
            (0u64, 1),
            (23, 1),
            (24, 2),
            (255, 2),
            (256, 3),
            (65536, 5),
            (1 << 32, 9),
        ] {
            let mut out = Vec::new();
            write_head(&mut out, 0, arg);
            assert_eq!(out.len(), len);
            assert_eq!(decode_strict(&out, 16), Ok(uint(arg)));
        }
    }

    #[test]
    fn refuses_non_deterministic_forms() {
        let err = |b: &[u8]| decode_strict(b, 64).unwrap_err();
        assert_eq!(err(&[0x18, 0x05]).code(), "non-canonical");
        assert_eq!(err(&[0x5f, 0x41, 0x00, 0xff]).code(), "non-canonical");
        assert_eq!(
            err(&[0xa2, 0x01, 0x00, 0x01, 0x00]),
            CborError::DuplicateKey
        );
        assert_eq!(err(&[0xa2, 0x02, 0x00, 0x01, 0x00]).code(), "non-canonical");
        assert_eq!(err(&[0x01, 0x01]), CborError::TrailingBytes);
        assert_eq!(err(&[0xf9, 0x3c, 0x00]).code(), "unsupported");
        assert_eq!(err(&[0xc1, 0x01]).code(), "unsupported");
        assert_eq!(
            err(&[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).code(),
            "malformed"
        );
        assert_eq!(
            err(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).code(),
            "malformed"
        );
        assert_eq!(err(&[0x81; 40]).code(), "malformed");
        assert_eq!(decode_strict(&[0; 65], 64).unwrap_err().code(), "too-large");
    }
}
