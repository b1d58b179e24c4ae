//! An owned CBOR tree, for tests only: they compare what the reader makes of
//! input with a reference decoder, and build odd inputs by hand.

use super::{write_head, CborError, Item};

/// A decoded CBOR item of the kinds icn uses, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Uint(u64),
    Nint(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Value>),
    /// Entries in the order they were given (encoding keeps it).
    Map(Vec<(Value, Value)>),
    Bool(bool),
    Null,
}

impl Value {
    /// The owned copy of a checked item.
    pub(crate) fn of(item: Item) -> Value {
        match item {
            Item::Uint(n) => Value::Uint(n),
            Item::Nint(n) => Value::Nint(n),
            Item::Bytes(b) => Value::Bytes(b.to_vec()),
            Item::Text(t) => Value::Text(t.to_string()),
            Item::Array(mut s) => {
                let mut v = Vec::new();
                while s.left() > 0 {
                    v.push(Value::of(s.next("test").expect("checked input")));
                }
                Value::Array(v)
            }
            Item::Map(mut s) => {
                let mut v = Vec::new();
                while s.left() > 0 {
                    let k = Value::of(s.next("test").expect("checked input"));
                    v.push((k, Value::of(s.next("test").expect("checked input"))));
                }
                Value::Map(v)
            }
            Item::Bool(b) => Value::Bool(b),
            Item::Null => Value::Null,
        }
    }
}

/// [`super::decode_strict`], into an owned tree.
pub(crate) fn decode(bytes: &[u8], max: usize) -> Result<Value, CborError> {
    super::decode_strict(bytes, max).map(Value::of)
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
