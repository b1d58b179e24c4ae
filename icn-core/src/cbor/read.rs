//! The strict reader: one pass over the input that works out which error
//! code, if any, it earns (see the module above for the precedence), then
//! [`item_at`] for reading the checked bytes.

use super::{write_head, CborError, Item, Seq, RECURSION_LIMIT};

/// Checks that `bytes` hold exactly one item in deterministic encoding, and
/// returns it.
pub(crate) fn decode_strict(bytes: &[u8], max: usize) -> Result<Item<'_>, CborError> {
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
    r.item(0, None)?;
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
    item_at(bytes, 0).map(|(item, _)| item)
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

fn malformed(what: &'static str) -> CborError {
    CborError::Malformed(what)
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

    /// Reads one item. When `canon` is given, the item's canonical encoding
    /// is appended to it (what the old tree would have re-encoded to), for
    /// comparing map keys: unsupported items count as `null` there.
    fn item(&mut self, depth: usize, canon: Option<&mut Vec<u8>>) -> Result<(), CborError> {
        if depth > RECURSION_LIMIT {
            return Err(malformed("nesting too deep"));
        }
        let (major, info, arg) = self.head()?;
        let mut simple = 0xf6;
        match (major, arg) {
            (0 | 1, Arg::Value(v)) => {
                if let Some(c) = canon {
                    write_head(c, major, v);
                }
                return Ok(());
            }
            (2 | 3, Arg::Value(n)) => {
                let s = self.take(n)?;
                return string(major, s, canon);
            }
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
                return string(major, &all, canon);
            }
            (4 | 5, arg) => {
                let mut left = self.count(arg, u64::from(major - 3))?;
                let mut inner = canon.as_ref().map(|_| Vec::new());
                let mut prev: Option<Vec<u8>> = None;
                let mut n = 0u64;
                while self.more(&mut left)? {
                    n += 1;
                    if major == 4 {
                        self.item(depth + 1, inner.as_mut())?;
                        continue;
                    }
                    let mut key = Vec::new();
                    self.item(depth + 1, Some(&mut key))?;
                    if let Some(i) = inner.as_mut() {
                        i.extend_from_slice(&key);
                    }
                    self.item(depth + 1, inner.as_mut())?;
                    // Deterministic order: by the keys' encoded bytes.
                    match prev.as_deref().map(|p| p.cmp(key.as_slice())) {
                        Some(core::cmp::Ordering::Equal) => self.note(CborError::DuplicateKey),
                        Some(core::cmp::Ordering::Greater) => {
                            self.note(CborError::NonCanonical("map keys out of order"))
                        }
                        _ => {}
                    }
                    prev = Some(key);
                }
                if let (Some(c), Some(i)) = (canon, inner) {
                    write_head(c, major, n);
                    c.extend_from_slice(&i);
                }
                return Ok(());
            }
            (6, _) => {
                // Read for well-formedness only; the tag is refused before
                // anything inside it.
                self.note(CborError::Unsupported("tag"));
                self.item(depth + 1, None)?;
            }
            (7, _) => match info {
                20..=22 => simple = 0xe0 | info,
                25..=27 => self.note(CborError::Unsupported("floating-point number")),
                _ => self.note(CborError::Unsupported("simple value")),
            },
            _ => return Err(malformed("bad head")),
        }
        if let Some(c) = canon {
            c.push(simple);
        }
        Ok(())
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

/// Checks a byte (major 2) or text (major 3) string, and writes it to `canon`.
fn string(major: u8, s: &[u8], canon: Option<&mut Vec<u8>>) -> Result<(), CborError> {
    if major == 3 && core::str::from_utf8(s).is_err() {
        return Err(malformed("text that is not UTF-8"));
    }
    if let Some(c) = canon {
        write_head(c, major, s.len() as u64);
        c.extend_from_slice(s);
    }
    Ok(())
}

/// The item that starts at `pos` of input [`decode_strict`] accepted, and
/// where it ends. Such input has only short, definite heads; the checks here
/// keep a caller's mistake from panicking, they cannot fail on checked input.
pub(crate) fn item_at(bytes: &[u8], pos: usize) -> Result<(Item<'_>, usize), CborError> {
    let broken = || malformed("unchecked input");
    let b = *bytes.get(pos).ok_or_else(broken)?;
    let (major, info) = (b >> 5, b & 0x1f);
    let mut end = pos + 1;
    let arg = match info {
        0..=23 => u64::from(info),
        24..=27 => {
            let len = 1usize << (info - 24);
            let head = bytes.get(end..end + len).ok_or_else(broken)?;
            end += len;
            head.iter().fold(0u64, |v, &x| v << 8 | u64::from(x))
        }
        _ => return Err(broken()),
    };
    let item = match major {
        0 => Item::Uint(arg),
        1 => Item::Nint(arg),
        2 | 3 => {
            let start = end;
            end = usize::try_from(arg)
                .ok()
                .and_then(|n| start.checked_add(n))
                .ok_or_else(broken)?;
            let s = bytes.get(start..end).ok_or_else(broken)?;
            match major {
                2 => Item::Bytes(s),
                _ => Item::Text(core::str::from_utf8(s).map_err(|_| broken())?),
            }
        }
        4 | 5 => {
            let left = usize::try_from(arg)
                .ok()
                .and_then(|n| n.checked_mul(usize::from(major - 3)))
                .ok_or_else(broken)?;
            let seq = Seq {
                bytes,
                pos: end,
                left,
            };
            for _ in 0..left {
                end = item_at(bytes, end)?.1;
            }
            match major {
                4 => Item::Array(seq),
                _ => Item::Map(seq),
            }
        }
        7 if info == 20 || info == 21 => Item::Bool(info == 21),
        7 if info == 22 => Item::Null,
        _ => return Err(broken()),
    };
    Ok((item, end))
}
