//! Strict CBOR: the one codec behind every icn encoder and decoder.
//!
//! icn signs exact bytes, and every peer must agree on what a given byte string
//! means, so decoders accept only the RFC 8949 core deterministic encoding
//! (shortest heads, definite lengths, map keys in ascending order, no
//! duplicates) and only the types the spec uses (no floats, no tags, no simple
//! values but `true`, `false` and `null`).
//!
//! The codec is our own rather than ciborium + serde, and it builds no tree:
//! the strict reader checks the whole input in one pass without allocating
//! (but for the keys of maps, whose canonical bytes it compares), and
//! decoders then walk the checked bytes through borrowed [`Item`]s, copying
//! out only what they keep. Encoders write heads and bytes straight into one
//! buffer ([`Enc`]). In the browser bundle this is a third of the code a
//! `Value` tree took, and a message costs no allocation it does not keep.
//! The reader is lenient about encoding forms so that it can tell *why*
//! input is refused, in the precedence of the spec's error codes: not
//! well-formed (`malformed`), then trailing bytes, then the first forbidden
//! item, duplicate or unordered key in document order, then a well-formed
//! but long or indefinite-length encoding (`non-canonical`).

mod read;

use crate::id::RingId;
#[cfg(test)]
pub(crate) mod value;

/// One item of checked input, borrowed from it. Containers are [`Seq`]s over
/// their elements (a map's keys and values alternate).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item<'a> {
    /// Major type 0: an unsigned integer.
    Uint(u64),
    /// Major type 1: the integer `-1 - n`. No icn field is negative; only
    /// the tests read `n`.
    #[cfg_attr(not(test), allow(dead_code))]
    Nint(u64),
    Bytes(&'a [u8]),
    Text(&'a str),
    Array(Seq<'a>),
    /// `2 * n` elements: key, value, key, value...
    Map(Seq<'a>),
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
    Malformed(&'static str),
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

/// A deterministic CBOR writer: every encoder states its items in order.
/// Maps must be given their keys in ascending order.
#[derive(Debug, Default)]
pub(crate) struct Enc(Vec<u8>);

impl Enc {
    /// A writer whose output starts with an array head of `n` items.
    pub(crate) fn array(n: usize) -> Enc {
        let mut e = Enc(Vec::new());
        e.list(n);
        e
    }

    /// The encoded bytes.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.0
    }

    /// An array head: `n` items follow.
    pub(crate) fn list(&mut self, n: usize) -> &mut Enc {
        write_head(&mut self.0, 4, n as u64);
        self
    }

    /// A map head: `n` key-value pairs follow.
    pub(crate) fn map(&mut self, n: usize) -> &mut Enc {
        write_head(&mut self.0, 5, n as u64);
        self
    }

    /// An unsigned integer.
    pub(crate) fn uint(&mut self, v: u64) -> &mut Enc {
        write_head(&mut self.0, 0, v);
        self
    }

    /// The negative integer `-1 - n`; no icn field has one, the tests do.
    #[cfg(test)]
    pub(crate) fn nint(&mut self, n: u64) -> &mut Enc {
        write_head(&mut self.0, 1, n);
        self
    }

    /// A byte string.
    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Enc {
        write_head(&mut self.0, 2, b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    /// A text string.
    pub(crate) fn text(&mut self, t: &str) -> &mut Enc {
        write_head(&mut self.0, 3, t.len() as u64);
        self.0.extend_from_slice(t.as_bytes());
        self
    }

    /// `true` or `false`.
    pub(crate) fn bool(&mut self, b: bool) -> &mut Enc {
        self.0.push(if b { 0xf5 } else { 0xf4 });
        self
    }

    /// `null`.
    pub(crate) fn null(&mut self) -> &mut Enc {
        self.0.push(0xf6);
        self
    }
}

pub(crate) use read::decode_strict;

/// The fields of a map with small unsigned integer keys, taken one by one.
pub(crate) struct Fields<'a> {
    entries: Vec<(u64, Item<'a>)>,
}

impl<'a> Fields<'a> {
    /// Splits `value` (which must be a map) into fields; `known` lists the
    /// keys the schema defines and their names, and any other key is refused.
    pub(crate) fn new(
        value: Item<'a>,
        what: &'static str,
        known: &[(u64, &'static str)],
    ) -> Result<Fields<'a>, CborError> {
        let Item::Map(mut map) = value else {
            return Err(CborError::WrongType {
                field: what,
                expected: "a map",
            });
        };
        let mut entries = Vec::with_capacity(map.left / 2);
        while map.left > 0 {
            let key = map.next(what)?;
            let value = map.next(what)?;
            match key {
                Item::Uint(key) if known.iter().any(|(n, _)| *n == key) => {
                    entries.push((key, value))
                }
                Item::Uint(key) => return Err(CborError::UnknownField(format!("{key} in {what}"))),
                _ => {
                    return Err(CborError::UnknownField(format!(
                        "non-integer key in {what}"
                    )))
                }
            }
        }
        Ok(Fields { entries })
    }

    /// Removes and returns field `key`, if present.
    pub(crate) fn take(&mut self, key: u64) -> Option<Item<'a>> {
        let pos = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.swap_remove(pos).1)
    }

    /// Removes field `key`, which must be present.
    #[inline(never)]
    pub(crate) fn required(&mut self, key: u64, name: &'static str) -> Result<Item<'a>, CborError> {
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
    ) -> Result<Seq<'a>, CborError> {
        Seq::new(self.required(key, name)?, name, max)
    }
}

/// The elements of an array (or the keys and values of a map) in checked
/// input, taken in order: the shape every icn message and frame has. The
/// methods are out of line on purpose: each decoder calls them at many
/// sites, and a call is far smaller than the match it hides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seq<'a> {
    bytes: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Seq<'a> {
    /// The elements of `v`, which must be an array of at most `max` items.
    #[inline(never)]
    pub(crate) fn new(v: Item<'a>, what: &'static str, max: usize) -> Result<Seq<'a>, CborError> {
        match v {
            Item::Array(s) if s.left <= max => Ok(s),
            _ => Err(CborError::WrongType {
                field: what,
                expected: "an array within its size limit",
            }),
        }
    }

    /// How many elements are left.
    pub(crate) fn left(&self) -> usize {
        self.left
    }

    /// The next element, `field`.
    #[inline(never)]
    pub(crate) fn next(&mut self, field: &'static str) -> Result<Item<'a>, CborError> {
        if self.left == 0 {
            return Err(CborError::Missing(field));
        }
        let (item, end) = read::item_at(self.bytes, self.pos)?;
        self.left -= 1;
        self.pos = end;
        Ok(item)
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

    /// The next element as a 32-byte string, aligned: a ring position (or
    /// the bytes of a hash). [`Seq::b32`]'s result sits at an odd offset
    /// in its `Result`, which costs every caller byte-by-byte copies.
    #[inline(never)]
    pub(crate) fn id(&mut self, field: &'static str) -> Result<RingId, CborError> {
        self.b32(field).map(RingId)
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

/// The item as an unsigned 64-bit integer.
pub(crate) fn as_u64(v: Item, field: &'static str) -> Result<u64, CborError> {
    match v {
        Item::Uint(n) => Ok(n),
        _ => Err(CborError::WrongType {
            field,
            expected: "an unsigned integer",
        }),
    }
}

/// The item as a byte string of at most `max` bytes.
pub(crate) fn as_bytes(v: Item, field: &'static str, max: usize) -> Result<Vec<u8>, CborError> {
    match v {
        Item::Bytes(b) if b.len() <= max => Ok(b.to_vec()),
        _ => Err(CborError::WrongType {
            field,
            expected: "a byte string within its size limit",
        }),
    }
}

/// The item as a fixed-size byte array.
pub(crate) fn as_array<const N: usize>(v: Item, field: &'static str) -> Result<[u8; N], CborError> {
    match v {
        Item::Bytes(b) => b.try_into().ok(),
        _ => None,
    }
    .ok_or(CborError::WrongType {
        field,
        expected: "a byte string of the exact length",
    })
}

/// The item as a text string of at most `max` bytes.
pub(crate) fn as_text(v: Item, field: &'static str, max: usize) -> Result<String, CborError> {
    match v {
        Item::Text(t) if t.len() <= max => Ok(t.to_string()),
        _ => Err(CborError::WrongType {
            field,
            expected: "a text string within its size limit",
        }),
    }
}

#[cfg(test)]
mod tests;
