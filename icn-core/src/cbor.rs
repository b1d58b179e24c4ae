//! Strict CBOR: the one codec behind every icn encoder and decoder.
//!
//! icn signs exact bytes, and every peer must agree on what a given byte string
//! means, so decoders accept only the RFC 8949 core deterministic encoding
//! (shortest heads, definite lengths, map keys in ascending order, no
//! duplicates) and only the types the spec uses (no floats, no tags, no simple
//! values but `true`, `false` and `null`).
//!
//! The codec is our own rather than ciborium + serde: icn needs only a small
//! `Value` tree, and the generic serde machinery (with the float formatting
//! its error messages pull in) weighed more in the browser bundle than this
//! whole module. The reader is lenient about encoding forms so that it can
//! tell *why* input is refused, in the precedence of the spec's error codes:
//! not well-formed (`malformed`), then trailing bytes, then the first
//! forbidden item, duplicate or unordered key in document order, then a
//! well-formed but long or indefinite-length encoding (`non-canonical`).

mod read;

/// A decoded CBOR item of the kinds icn uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// Major type 0: an unsigned integer.
    Uint(u64),
    /// Major type 1: the integer `-1 - n`. (Two variants rather than one
    /// `i128`: the value stays 16 bytes and no 128-bit arithmetic reaches the
    /// browser bundle.)
    Nint(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Value>),
    /// Entries in the order they were given (encoding keeps it).
    Map(Vec<(Value, Value)>),
    Bool(bool),
    Null,
}

/// Deepest nesting any icn structure needs, with room to spare.
pub(crate) const RECURSION_LIMIT: usize = 16;

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
    encode_into(&mut out, value);
    out
}

fn encode_into(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Uint(n) => write_head(out, 0, *n),
        Value::Nint(n) => write_head(out, 1, *n),
        Value::Bytes(b) => {
            write_head(out, 2, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::Text(t) => {
            write_head(out, 3, t.len() as u64);
            out.extend_from_slice(t.as_bytes());
        }
        Value::Array(items) => {
            write_head(out, 4, items.len() as u64);
            items.iter().for_each(|v| encode_into(out, v));
        }
        Value::Map(entries) => {
            write_head(out, 5, entries.len() as u64);
            for (k, v) in entries {
                encode_into(out, k);
                encode_into(out, v);
            }
        }
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Null => out.push(0xf6),
    }
}

pub(crate) use read::decode_strict;

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
                Value::Uint(n) => Some(n),
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
    #[inline(never)]
    pub(crate) fn required(&mut self, key: u64, name: &'static str) -> Result<Value, CborError> {
        self.take(key).ok_or(CborError::Missing(name))
    }

    /// Field `key`, which must be an unsigned integer.
    #[inline(never)]
    pub(crate) fn uint(&mut self, key: u64, name: &'static str) -> Result<u64, CborError> {
        as_u64(self.required(key, name)?, name)
    }

    /// Field `key`, which must be an array of at most `max` items.
    #[inline(never)]
    pub(crate) fn seq(
        &mut self,
        key: u64,
        name: &'static str,
        max: usize,
    ) -> Result<Seq, CborError> {
        Seq::new(self.required(key, name)?, name, max)
    }
}

/// The elements of an array, taken in order: the shape every icn message
/// and frame has. The methods are out of line on purpose: each decoder calls
/// them at many sites, and a call is far smaller than the match it hides.
pub(crate) struct Seq {
    items: std::vec::IntoIter<Value>,
}

impl Seq {
    /// The elements of `v`, which must be an array of at most `max` items.
    pub(crate) fn new(v: Value, what: &'static str, max: usize) -> Result<Seq, CborError> {
        Ok(Seq {
            items: as_list(v, what, max)?.into_iter(),
        })
    }

    /// How many elements are left.
    pub(crate) fn left(&self) -> usize {
        self.items.len()
    }

    /// The next element, `field`.
    #[inline(never)]
    pub(crate) fn next(&mut self, field: &'static str) -> Result<Value, CborError> {
        self.items.next().ok_or(CborError::Missing(field))
    }

    /// The next element as an unsigned integer.
    #[inline(never)]
    pub(crate) fn uint(&mut self, field: &'static str) -> Result<u64, CborError> {
        as_u64(self.next(field)?, field)
    }

    /// The next element as a 32-byte string.
    #[inline(never)]
    pub(crate) fn b32(&mut self, field: &'static str) -> Result<[u8; 32], CborError> {
        as_array(self.next(field)?, field)
    }

    /// The next element as a 64-byte string (a signature).
    #[inline(never)]
    pub(crate) fn b64(&mut self, field: &'static str) -> Result<[u8; 64], CborError> {
        as_array(self.next(field)?, field)
    }

    /// The next element as a text string of at most `max` bytes.
    #[inline(never)]
    pub(crate) fn text(&mut self, field: &'static str, max: usize) -> Result<String, CborError> {
        as_text(self.next(field)?, field, max)
    }

    /// The next element as a byte string of at most `max` bytes.
    #[inline(never)]
    pub(crate) fn bytes(&mut self, field: &'static str, max: usize) -> Result<Vec<u8>, CborError> {
        as_bytes(self.next(field)?, field, max)
    }
}

/// The value as an unsigned 64-bit integer.
pub(crate) fn as_u64(v: Value, field: &'static str) -> Result<u64, CborError> {
    match v {
        Value::Uint(n) => Some(n),
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
    Value::Uint(v)
}

#[cfg(test)]
mod tests;
