//! `Range: bytes=...` parsing (RFC 9110, section 14): single ranges only.

/// Why a Range header does not give one satisfiable range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeError {
    /// Not a single byte range we serve partially (multiple ranges, another
    /// unit, bad syntax): the whole content is sent, as RFC 9110 allows.
    Ignored,
    /// A syntactically valid range that lies outside the content: 416.
    Unsatisfiable,
}

/// Parses a Range header for content of `size` bytes into `start..end`.
pub fn parse_range(header: &str, size: u64) -> Result<(u64, u64), RangeError> {
    let spec = header
        .trim()
        .strip_prefix("bytes=")
        .ok_or(RangeError::Ignored)?;
    if spec.contains(',') {
        return Err(RangeError::Ignored);
    }
    let (a, b) = spec.trim().split_once('-').ok_or(RangeError::Ignored)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| RangeError::Ignored);
    match (a.trim().is_empty(), b.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => {
            let n = num(b)?;
            if n == 0 || size == 0 {
                return Err(RangeError::Unsatisfiable);
            }
            Ok((size.saturating_sub(n), size))
        }
        // bytes=A-: from A to the end.
        (false, true) => {
            let a = num(a)?;
            if a >= size {
                return Err(RangeError::Unsatisfiable);
            }
            Ok((a, size))
        }
        // bytes=A-B, inclusive.
        (false, false) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(RangeError::Ignored);
            }
            if a >= size {
                return Err(RangeError::Unsatisfiable);
            }
            Ok((a, (b + 1).min(size)))
        }
        (true, true) => Err(RangeError::Ignored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Ok((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Ok((90, 100)));
        assert_eq!(parse_range("bytes=-500", 100), Ok((0, 100)));
        assert_eq!(parse_range("bytes=50-5000", 100), Ok((50, 100)));
        assert_eq!(
            parse_range("bytes=100-", 100),
            Err(RangeError::Unsatisfiable)
        );
        assert_eq!(
            parse_range("bytes=200-300", 100),
            Err(RangeError::Unsatisfiable)
        );
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Err(RangeError::Ignored));
        assert_eq!(parse_range("items=0-1", 100), Err(RangeError::Ignored));
        assert_eq!(parse_range("bytes=9-2", 100), Err(RangeError::Ignored));
        assert_eq!(parse_range("bytes=x-2", 100), Err(RangeError::Ignored));
        assert_eq!(parse_range("bytes=-0", 100), Err(RangeError::Unsatisfiable));
    }
}
