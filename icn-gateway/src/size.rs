//! Sizes on the command line: `--max-store 20G`, `--quota-for ID=5G`.

use icn_core::PublisherId;

/// Bytes from `N`, `NK`, `NM`, `NG` or `NT` (powers of 1,024; a trailing
/// `B` or `iB` is allowed: `512MiB`, `4GB`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 30),
        Some('T' | 't') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("not a size: {s:?} (bytes, or a number with K, M, G or T)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("too large: {s:?}"))
}

/// `ID=SIZE`: a publisher and the bytes it may store.
pub fn parse_quota_for(s: &str) -> Result<(PublisherId, u64), String> {
    let (id, size) = s
        .split_once('=')
        .ok_or_else(|| format!("expected PUBLISHER_ID=SIZE, got {s:?}"))?;
    let id: PublisherId = id
        .parse()
        .map_err(|e| format!("{id:?} is no publisher id: {e}"))?;
    Ok((id, parse_size(size)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_bytes_and_binary_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("20G"), Ok(20 << 30));
        assert_eq!(parse_size("2TB"), Ok(2 << 40));
        assert!(parse_size("").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1.5G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn a_quota_names_a_publisher_and_a_size() {
        let id =
            PublisherId::from_key(ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key());
        let (p, n) = parse_quota_for(&format!("{}=5G", id.to_text())).unwrap();
        assert_eq!((p, n), (id, 5 << 30));
        assert!(parse_quota_for("kabc=5G").is_err());
        assert!(parse_quota_for(&id.to_text()).is_err());
    }
}
