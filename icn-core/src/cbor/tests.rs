use super::value::{decode, Value};
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
        assert_eq!(decode(&out, 16), Ok(Value::Uint(arg)));
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

/// Our codec against ciborium's: on canonical encodings of random values,
/// and on those bytes mutated, both accept exactly the same inputs (ciborium
/// with the check this module made before it had its own reader: parse,
/// refuse floats, tags, simple values, duplicate and unordered keys, and
/// require the re-encoding to equal the input) and decode them alike.
mod differential {
    use super::super::value::{decode, encode, Value};
    use ciborium::value::Value as CValue;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<u64>().prop_map(Value::Uint),
            (0u64..1000).prop_map(Value::Nint),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
            ".{0,12}".prop_map(Value::Text),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(0u64..30, inner, 0..6).prop_map(|m| {
                    Value::Map(m.into_iter().map(|(k, v)| (Value::Uint(k), v)).collect())
                }),
            ]
        })
    }

    fn convert(v: CValue) -> Option<Value> {
        Some(match v {
            CValue::Integer(i) => {
                let i = i128::from(i);
                if i >= 0 {
                    Value::Uint(u64::try_from(i).ok()?)
                } else {
                    Value::Nint(u64::try_from(-1 - i).ok()?)
                }
            }
            CValue::Bytes(b) => Value::Bytes(b),
            CValue::Text(t) => Value::Text(t),
            CValue::Bool(b) => Value::Bool(b),
            CValue::Null => Value::Null,
            CValue::Array(a) => Value::Array(a.into_iter().map(convert).collect::<Option<_>>()?),
            CValue::Map(m) => Value::Map(
                m.into_iter()
                    .map(|(k, v)| Some((convert(k)?, convert(v)?)))
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        })
    }

    /// What ciborium makes of `bytes` under the strict rules, if it accepts.
    fn reference(bytes: &[u8]) -> Option<Value> {
        let mut r = bytes;
        let v: CValue = ciborium::de::from_reader_with_recursion_limit(&mut r, 16).ok()?;
        if !r.is_empty() {
            return None;
        }
        let ours = convert(v)?;
        // Keys in order, no duplicates, no long forms: the canonical
        // re-encoding is the input.
        (encode(&ours) == bytes && keys_ordered(&ours)).then_some(ours)
    }

    fn keys_ordered(v: &Value) -> bool {
        match v {
            Value::Array(a) => a.iter().all(keys_ordered),
            Value::Map(m) => {
                m.windows(2).all(|w| encode(&w[0].0) < encode(&w[1].0))
                    && m.iter().all(|(k, v)| keys_ordered(k) && keys_ordered(v))
            }
            _ => true,
        }
    }

    proptest! {
        #[test]
        fn round_trips(v in value()) {
            prop_assert_eq!(decode(&encode(&v), usize::MAX), Ok(v));
        }

        #[test]
        fn accepts_what_the_reference_accepts(
            v in value(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
        ) {
            let mut bytes = encode(&v);
            for (at, byte, kind) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match kind {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => bytes.truncate(i),
                }
            }
            prop_assert_eq!(decode(&bytes, usize::MAX).ok(), reference(&bytes));
        }
    }
}
