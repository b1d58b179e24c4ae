//! Hierarchical names.
//!
//! A name is a sequence of non-empty byte-string components,
//! `/<publisher>/<component>/...`. Components are bytes, not text, so any
//! content (including binary ids) can be named, but each name has exactly one
//! canonical URI form: every byte outside the RFC 3986 unreserved set
//! (`A-Z a-z 0-9 - . _ ~`) is percent-encoded with upper-case hex. Parsing is a
//! little more lenient than printing (lower-case escapes, raw UTF-8), and always
//! lands on the same components, so two spellings of one name hash to one ring
//! key.
//!
//! Limits keep every name cheap to store, route and hash, whoever sent it:
//! at most [`MAX_COMPONENTS`] components of at most [`MAX_COMPONENT_LEN`] bytes
//! and [`MAX_NAME_LEN`] bytes in all. `.` and `..` are refused as components so
//! that URI forms survive path normalisation by browsers and proxies.

use core::fmt;
use core::str::FromStr;

use crate::cbor::write_head;
use crate::hash::Hash;
use crate::id::RingId;
use crate::publisher::{PublisherId, PublisherIdError};

/// Most components in a name.
pub const MAX_COMPONENTS: usize = 32;
/// Longest component, in bytes.
pub const MAX_COMPONENT_LEN: usize = 255;
/// Most bytes of all components together.
pub const MAX_NAME_LEN: usize = 1024;
/// Longest URI form accepted by the parser (every byte escaped, plus slashes).
pub const MAX_URI_LEN: usize = 3 * MAX_NAME_LEN + MAX_COMPONENTS;
/// Domain-separation tag hashed in front of a name's canonical bytes.
pub const RING_KEY_TAG: &[u8] = b"icn/v1/name\0";

/// A validated hierarchical name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name {
    components: Vec<Vec<u8>>,
}

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A name has at least one component.
    #[error("a name needs at least one component")]
    Empty,
    /// The URI form does not begin with `/`.
    #[error("a name starts with '/'")]
    NoLeadingSlash,
    /// Two slashes in a row, or a trailing slash.
    #[error("empty component (double or trailing '/')")]
    EmptyComponent,
    /// `.` or `..`.
    #[error("'.' and '..' are not allowed as components")]
    DotComponent,
    /// A `%` not followed by two hex digits.
    #[error("bad percent-escape at byte {0}")]
    BadEscape(usize),
    /// A character that must be percent-encoded.
    #[error("character '{}' must be percent-encoded", .0.escape_default())]
    BadCharacter(char),
    /// Too many components.
    #[error("too many components (limit {MAX_COMPONENTS})")]
    TooManyComponents,
    /// A component is too long.
    #[error("component longer than {MAX_COMPONENT_LEN} bytes")]
    ComponentTooLong,
    /// The whole name is too long.
    #[error("name longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    /// The first component is not a publisher id.
    #[error("first component is not a publisher id: {0}")]
    Publisher(#[from] PublisherIdError),
}

impl NameError {
    /// A short stable code for this error, as used in `spec/vectors/`.
    pub fn code(&self) -> &'static str {
        match self {
            NameError::Empty => "empty",
            NameError::NoLeadingSlash => "no-leading-slash",
            NameError::EmptyComponent => "empty-component",
            NameError::DotComponent => "dot-component",
            NameError::BadEscape(_) => "bad-escape",
            NameError::BadCharacter(_) => "bad-character",
            NameError::TooManyComponents => "too-many-components",
            NameError::ComponentTooLong => "component-too-long",
            NameError::TooLong => "name-too-long",
            NameError::Publisher(_) => "bad-publisher",
        }
    }
}

impl Name {
    /// Builds a name from components, enforcing every limit.
    pub fn from_components(components: Vec<Vec<u8>>) -> Result<Name, NameError> {
        if components.is_empty() {
            return Err(NameError::Empty);
        }
        if components.len() > MAX_COMPONENTS {
            return Err(NameError::TooManyComponents);
        }
        let mut total = 0usize;
        for c in &components {
            check_component(c)?;
            total += c.len();
        }
        if total > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        Ok(Name { components })
    }

    /// Parses the URI form, `/a/b%2Fc/...`.
    pub fn parse(uri: &str) -> Result<Name, NameError> {
        if uri.len() > MAX_URI_LEN {
            return Err(NameError::TooLong);
        }
        let rest = uri.strip_prefix('/').ok_or(NameError::NoLeadingSlash)?;
        if rest.is_empty() {
            return Err(NameError::Empty);
        }
        let mut components = Vec::new();
        let mut offset = 1;
        for segment in rest.split('/') {
            if components.len() == MAX_COMPONENTS {
                return Err(NameError::TooManyComponents);
            }
            components.push(percent_decode(segment, offset)?);
            offset += segment.len() + 1;
        }
        Name::from_components(components)
    }

    /// Parses the URI form of a content object's name: as [`Name::parse`],
    /// and the first component must be a publisher id. No object can be
    /// published under any other name (it must be signed by the key its
    /// publisher id encodes), so a get of one is refused at once rather
    /// than looked up in the ring and answered "not found".
    pub fn parse_content(uri: &str) -> Result<Name, NameError> {
        let name = Name::parse(uri)?;
        name.publisher()?;
        Ok(name)
    }

    /// This name with `prefix` in front, e.g. a publisher id before a path.
    pub fn prefixed(&self, prefix: &[u8]) -> Result<Name, NameError> {
        let mut components = Vec::with_capacity(self.components.len() + 1);
        components.push(prefix.to_vec());
        components.extend(self.components.iter().cloned());
        Name::from_components(components)
    }

    /// This name under `publisher` (a `k…` id): unchanged if it already
    /// starts with it, otherwise prefixed with it. Lets users write
    /// `/blog/hello` for their own `/k…/blog/hello`.
    pub fn under_publisher(self, publisher: &str) -> Result<Name, NameError> {
        if self.components.first().map(Vec::as_slice) == Some(publisher.as_bytes()) {
            return Ok(self);
        }
        self.prefixed(publisher.as_bytes())
    }

    /// The components.
    pub fn components(&self) -> &[Vec<u8>] {
        &self.components
    }

    /// The publisher id in the first component, if it is one.
    pub fn publisher(&self) -> Result<PublisherId, NameError> {
        let first = core::str::from_utf8(&self.components[0])
            .map_err(|_| NameError::Publisher(PublisherIdError::Prefix))?;
        Ok(first.parse()?)
    }

    /// The canonical encoding: a CBOR array of byte strings (RFC 8949
    /// deterministic encoding). The same bytes appear inside signed objects.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let len: usize = self.components.iter().map(|c| c.len() + 3).sum();
        let mut out = Vec::with_capacity(len + 2);
        write_head(&mut out, 4, self.components.len() as u64);
        for c in &self.components {
            write_head(&mut out, 2, c.len() as u64);
            out.extend_from_slice(c);
        }
        out
    }

    /// Where this name lives on the ring: SHA-256 of [`RING_KEY_TAG`] and the
    /// canonical bytes.
    pub fn ring_key(&self) -> RingId {
        RingId::from_hash(Hash::of_parts(&[RING_KEY_TAG, &self.canonical_bytes()]))
    }

    /// The canonical URI form.
    pub fn to_uri(&self) -> String {
        let mut s = String::new();
        for c in &self.components {
            s.push('/');
            for &b in c {
                if is_unreserved(b) {
                    s.push(b as char);
                } else {
                    s.push('%');
                    s.push(HEX_UPPER[usize::from(b >> 4)] as char);
                    s.push(HEX_UPPER[usize::from(b & 15)] as char);
                }
            }
        }
        s
    }

    /// Whether `self` is `other` or one of its ancestors.
    pub fn is_prefix_of(&self, other: &Name) -> bool {
        other.components.starts_with(&self.components)
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn check_component(c: &[u8]) -> Result<(), NameError> {
    if c.is_empty() {
        return Err(NameError::EmptyComponent);
    }
    if c == b"." || c == b".." {
        return Err(NameError::DotComponent);
    }
    if c.len() > MAX_COMPONENT_LEN {
        return Err(NameError::ComponentTooLong);
    }
    Ok(())
}

fn percent_decode(segment: &str, offset: usize) -> Result<Vec<u8>, NameError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(NameError::BadEscape(offset + i)),
            }
            i += 3;
        } else {
            if b.is_ascii_control() || b == b'?' || b == b'#' {
                return Err(NameError::BadCharacter(b as char));
            }
            out.push(b);
            i += 1;
        }
        if out.len() > MAX_COMPONENT_LEN {
            return Err(NameError::ComponentTooLong);
        }
    }
    Ok(out)
}

impl FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::parse(s)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({})", self.to_uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_canonically() {
        let n = Name::parse("/alice/blog/h%c3%a9llo%2Fworld").unwrap();
        assert_eq!(n.components().len(), 3);
        assert_eq!(n.components()[2], "héllo/world".as_bytes());
        assert_eq!(n.to_uri(), "/alice/blog/h%C3%A9llo%2Fworld");
        assert_eq!(Name::parse("/alice/blog/héllo%2fworld").unwrap(), n);
        assert_eq!(Name::parse(&n.to_uri()).unwrap().ring_key(), n.ring_key());
    }

    #[test]
    fn names_are_put_under_their_publisher_once() {
        let n = Name::parse("/blog/x").unwrap();
        let full = n.under_publisher("kab").unwrap();
        assert_eq!(full.to_uri(), "/kab/blog/x");
        assert_eq!(full.clone().under_publisher("kab").unwrap(), full);
    }

    #[test]
    fn content_names_start_with_a_publisher_id() {
        let ok = "/kmbxybdmypftzktd44gf4mdu3n3thrjfsnxd4si2ers4dq5el37cq/blog/x";
        assert_eq!(Name::parse_content(ok), Name::parse(ok));
        assert!(matches!(
            Name::parse_content("/alice/blog/x"),
            Err(NameError::Publisher(_))
        ));
        assert!(matches!(
            Name::parse_content("/k%FF/x"),
            Err(NameError::Publisher(_))
        ));
        assert_eq!(Name::parse_content("/a//b"), Err(NameError::EmptyComponent));
    }

    #[test]
    fn refuses_bad_names() {
        let cases = [
            ("", NameError::NoLeadingSlash),
            ("/", NameError::Empty),
            ("a/b", NameError::NoLeadingSlash),
            ("/a//b", NameError::EmptyComponent),
            ("/a/", NameError::EmptyComponent),
            ("/a/..", NameError::DotComponent),
            ("/a/%2e", NameError::DotComponent),
            ("/a/%zz", NameError::BadEscape(3)),
            ("/a/%4", NameError::BadEscape(3)),
            ("/a?b", NameError::BadCharacter('?')),
            ("/a\nb", NameError::BadCharacter('\n')),
        ];
        for (uri, err) in cases {
            assert_eq!(Name::parse(uri), Err(err), "{uri:?}");
        }
        let long = format!("/{}", "a".repeat(256));
        assert_eq!(Name::parse(&long), Err(NameError::ComponentTooLong));
        let many = "/a".repeat(33);
        assert_eq!(Name::parse(&many), Err(NameError::TooManyComponents));
        let big = format!("/{}", vec!["b".repeat(200); 6].join("/"));
        assert_eq!(Name::parse(&big), Err(NameError::TooLong));
    }

    #[test]
    fn canonical_bytes_are_cbor() {
        let n = Name::parse("/a/bc").unwrap();
        assert_eq!(
            n.canonical_bytes(),
            vec![0x82, 0x41, b'a', 0x42, b'b', b'c']
        );
        assert!(Name::parse("/a").unwrap().is_prefix_of(&n));
        assert!(!n.is_prefix_of(&Name::parse("/a").unwrap()));
    }

    fn component() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 1..20)
            .prop_filter("dot components", |c| c != b"." && c != b"..")
    }

    proptest! {
        #[test]
        fn uri_round_trip(components in proptest::collection::vec(component(), 1..8)) {
            let n = Name::from_components(components).unwrap();
            prop_assert_eq!(Name::parse(&n.to_uri()).unwrap(), n);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,64}") {
            let _ = Name::parse(&s);
        }
    }
}
