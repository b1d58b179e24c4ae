//! An owned CBOR tree, for tests only: they compare what the reader makes of
//! input with a reference decoder, and build odd inputs by hand.

use super::{CborError, Enc, Item};

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

/// Encodes a value through [`Enc`], the writer every encoder uses (so the
/// round-trip tests cover it); maps keep the order they are given in.
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut e = Enc::default();
    encode_into(&mut e, value);
    e.finish()
}

fn encode_into(e: &mut Enc, value: &Value) {
    match value {
        Value::Uint(n) => {
            e.uint(*n);
        }
        Value::Nint(n) => {
            e.nint(*n);
        }
        Value::Bytes(b) => {
            e.bytes(b);
        }
        Value::Text(t) => {
            e.text(t);
        }
        Value::Array(items) => {
            e.list(items.len());
            items.iter().for_each(|v| encode_into(e, v));
        }
        Value::Map(entries) => {
            e.map(entries.len());
            for (k, v) in entries {
                encode_into(e, k);
                encode_into(e, v);
            }
        }
        Value::Bool(b) => {
            e.bool(*b);
        }
        Value::Null => {
            e.null();
        }
    }
}
