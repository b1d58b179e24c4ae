//! The strict reader: one pass over the input that builds a [`Value`] and
//! works out which error code, if any, the input earns (see the module
//! above for the precedence).

use super::{encode, CborError, Value, RECURSION_LIMIT};

/// Decodes exactly one item in deterministic encoding from `bytes`.
pub(crate) fn decode_strict(bytes: &[u8], max: usize) -> Result<Value, CborError> {
    if bytes.len() > max {
        return Err(CborError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let mut r = Reader {
        bytes,
        pos: 0,
        problem: None,
        long_form: false,
    };
    let value = r.item(0)?;
    if r.pos != bytes.len() {
        return Err(CborError::TrailingBytes);
    }
    if let Some(e) = r.problem {
        return Err(e);
    }
    if r.long_form {
        return Err(CborError::NonCanonical(
            "not the shortest, definite-length encoding",
        ));
    }
    Ok(value)
}

/// What a head announces: a number (or length), or an indefinite length.
enum Arg {
    Value(u64),
    Indefinite,
}

/// A lenient reader that notes, rather than refuses, what strict decoding
/// forbids, so that the error reported follows the spec's precedence.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The first forbidden item, duplicate or unordered key.
    problem: Option<CborError>,
    /// A head longer than needed, or an indefinite length.
    long_form: bool,
}

fn malformed(what: &str) -> CborError {
    CborError::Malformed(what.into())
}

impl Reader<'_> {
    fn note(&mut self, e: CborError) {
        self.problem.get_or_insert(e);
    }

    fn left(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| malformed("unexpected end of input"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&[u8], CborError> {
        if n > self.left() {
            return Err(malformed("a length past the end of input"));
        }
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    /// Reads a head: major type, additional information, argument.
    fn head(&mut self) -> Result<(u8, u8, Arg), CborError> {
        let b = self.byte()?;
        let (major, info) = (b >> 5, b & 0x1f);
        let arg = match info {
            0..=23 => Arg::Value(u64::from(info)),
            24..=27 => {
                let mut v = 0u64;
                for &x in self.take(1 << (info - 24))? {
                    v = v << 8 | u64::from(x);
                }
                let shortest = match info {
                    24 => v >= 24,
                    25 => v > 0xff,
                    26 => v > 0xffff,
                    _ => v > 0xffff_ffff,
                };
                // Floats (major 7) have fixed widths: no shortest rule.
                if !shortest && major != 7 {
                    self.long_form = true;
                }
                Arg::Value(v)
            }
            31 if matches!(major, 2..=5) => Arg::Indefinite,
            31 if major == 7 => return Err(malformed("unexpected break")),
            _ => return Err(malformed("reserved additional information")),
        };
        Ok((major, info, arg))
    }

    fn item(&mut self, depth: usize) -> Result<Value, CborError> {
        if depth > RECURSION_LIMIT {
            return Err(malformed("nesting too deep"));
        }
        let (major, info, arg) = self.head()?;
        match (major, arg) {
            (0, Arg::Value(v)) => Ok(Value::Uint(v)),
            (1, Arg::Value(v)) => Ok(Value::Nint(v)),
            (2, Arg::Value(n)) => Ok(Value::Bytes(self.take(n)?.to_vec())),
            (3, Arg::Value(n)) => text(self.take(n)?.to_vec()),
            (2 | 3, Arg::Indefinite) => {
                self.long_form = true;
                let mut all = Vec::new();
                while self.bytes.get(self.pos) != Some(&0xff) {
                    match self.head()? {
                        (m, _, Arg::Value(n)) if m == major => all.extend_from_slice(self.take(n)?),
                        _ => return Err(malformed("bad chunk in an indefinite string")),
                    }
                }
                self.pos += 1;
                match major {
                    2 => Ok(Value::Bytes(all)),
                    _ => text(all),
                }
            }
            (4, arg) => {
                let mut items = Vec::new();
                let mut left = self.count(arg, 1)?;
                while self.more(&mut left)? {
                    items.push(self.item(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            (5, arg) => {
                let mut entries: Vec<(Value, Value)> = Vec::new();
                let mut prev: Option<Vec<u8>> = None;
                let mut left = self.count(arg, 2)?;
                while self.more(&mut left)? {
                    let k = self.item(depth + 1)?;
                    let v = self.item(depth + 1)?;
                    // Deterministic order: by the keys' encoded bytes.
                    let key = encode(&k);
                    match prev.as_deref().map(|p| p.cmp(key.as_slice())) {
                        Some(core::cmp::Ordering::Equal) => self.note(CborError::DuplicateKey),
                        Some(core::cmp::Ordering::Greater) => {
                            self.note(CborError::NonCanonical("map keys out of order"))
                        }
                        _ => {}
                    }
                    prev = Some(key);
                    entries.push((k, v));
                }
                Ok(Value::Map(entries))
            }
            (6, _) => {
                // Read for well-formedness only; the tag is refused before
                // anything inside it.
                self.note(CborError::Unsupported("tag"));
                self.item(depth + 1)?;
                Ok(Value::Null)
            }
            (7, _) => {
                match info {
                    20 => return Ok(Value::Bool(false)),
                    21 => return Ok(Value::Bool(true)),
                    22 => return Ok(Value::Null),
                    25..=27 => self.note(CborError::Unsupported("floating-point number")),
                    _ => self.note(CborError::Unsupported("simple value")),
                }
                Ok(Value::Null)
            }
            _ => Err(malformed("bad head")),
        }
    }

    /// Items (`per` = 1) or entries (`per` = 2) a container holds, `None`
    /// for an indefinite length. A count the rest of the input cannot hold
    /// (every item takes a byte) is refused before anything is allocated.
    fn count(&mut self, arg: Arg, per: u64) -> Result<Option<u64>, CborError> {
        match arg {
            Arg::Value(n) if n > self.left() / per => {
                Err(malformed("a length past the end of input"))
            }
            Arg::Value(n) => Ok(Some(n)),
            Arg::Indefinite => {
                self.long_form = true;
                Ok(None)
            }
        }
    }

    /// Whether a container has another item; consumes the break that ends
    /// an indefinite one.
    fn more(&mut self, left: &mut Option<u64>) -> Result<bool, CborError> {
        match left {
            Some(0) => Ok(false),
            Some(n) => {
                *n -= 1;
                Ok(true)
            }
            None => match self.bytes.get(self.pos) {
                Some(0xff) => {
                    self.pos += 1;
                    Ok(false)
                }
                Some(_) => Ok(true),
                None => Err(malformed("unexpected end of input")),
            },
        }
    }
}

fn text(bytes: Vec<u8>) -> Result<Value, CborError> {
    String::from_utf8(bytes)
        .map(Value::Text)
        .map_err(|_| malformed("text that is not UTF-8"))
}
