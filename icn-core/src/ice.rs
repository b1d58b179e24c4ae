//! ICE servers a gateway hands to the peers it admits.
//!
//! A visitor's browser offers only mDNS `.local` host candidates, which no
//! one outside its own network can resolve, so a link between two homes
//! needs a server-reflexive candidate (STUN) or a relayed one (TURN). The
//! gateway knows which servers its deployment has; a page should need no
//! configuration, so the gateway sends the list in an `IceServers` frame
//! right after admitting a peer (spec/bootstrap.md, "ICE servers"). TURN
//! entries carry short-lived credentials the gateway derived for that peer.
//!
//! Every field is bounded: a browser throws on a malformed URL when it
//! builds an `RTCPeerConnection`, which would break every link the peer
//! makes, so a list with one bad URL is refused as a whole.

use crate::cbor::{CborError, Enc, Seq};

/// Most ICE servers in one list.
pub const MAX_ICE_SERVERS: usize = 8;
/// Most URLs of one ICE server.
pub const MAX_ICE_URLS: usize = 4;
/// Longest URL, username or credential, in bytes.
pub const MAX_ICE_TEXT: usize = 256;

/// The URL schemes of RFC 7064 and RFC 7065.
const SCHEMES: [&str; 4] = ["stun:", "stuns:", "turn:", "turns:"];

/// One STUN or TURN server, as `RTCIceServer` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:`, `stuns:`, `turn:` or `turns:` URLs, at least one.
    pub urls: Vec<String>,
    /// TURN username; empty for STUN.
    pub username: String,
    /// TURN password; empty for STUN.
    pub credential: String,
}

/// Why an ICE server list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IceError {
    /// Not strict CBOR of the list's shape, or over a limit.
    #[error("{0}")]
    Cbor(#[from] CborError),
    /// A URL with no STUN or TURN scheme, or with spaces or controls in it.
    #[error("not a STUN or TURN URL: {0:?}")]
    BadUrl(String),
    /// A server with no URL.
    #[error("an ICE server has no URL")]
    NoUrl,
    /// More than [`MAX_ICE_SERVERS`] servers.
    #[error("more than {MAX_ICE_SERVERS} servers")]
    TooManyServers,
    /// More than [`MAX_ICE_URLS`] URLs in one server.
    #[error("more than {MAX_ICE_URLS} urls in a server")]
    TooManyUrls,
    /// A username or credential over [`MAX_ICE_TEXT`] bytes.
    #[error("a username or credential over {MAX_ICE_TEXT} bytes")]
    TooLong,
}

/// Checks a list a user gave (`Peer.join`'s `iceServers`) against the
/// rules the bootstrap frame's decoder enforces: the same limits, the same
/// URLs, so a list accepted here is one a gateway could have sent.
pub fn check_list(servers: &[IceServer]) -> Result<(), IceError> {
    if servers.len() > MAX_ICE_SERVERS {
        return Err(IceError::TooManyServers);
    }
    for s in servers {
        if s.urls.is_empty() {
            return Err(IceError::NoUrl);
        }
        if s.urls.len() > MAX_ICE_URLS {
            return Err(IceError::TooManyUrls);
        }
        if s.username.len() > MAX_ICE_TEXT || s.credential.len() > MAX_ICE_TEXT {
            return Err(IceError::TooLong);
        }
        for u in &s.urls {
            IceServer::check_url(u)?;
        }
    }
    Ok(())
}

impl IceServer {
    /// A STUN server at `url` (no credentials).
    pub fn stun(url: impl Into<String>) -> IceServer {
        IceServer {
            urls: vec![url.into()],
            username: String::new(),
            credential: String::new(),
        }
    }

    /// Whether any URL of this server is a TURN one.
    pub fn is_turn(&self) -> bool {
        self.urls.iter().any(|u| u.starts_with("turn"))
    }

    /// Checks a URL a gateway operator or a peer gave: a STUN or TURN
    /// scheme, at most [`MAX_ICE_TEXT`] bytes, printable ASCII.
    pub fn check_url(url: &str) -> Result<(), IceError> {
        let printable = url.bytes().all(|b| b.is_ascii_graphic());
        let scheme = SCHEMES
            .iter()
            .any(|s| url.starts_with(s) && url.len() > s.len());
        if printable && scheme && url.len() <= MAX_ICE_TEXT {
            Ok(())
        } else {
            Err(IceError::BadUrl(url.chars().take(64).collect()))
        }
    }

    fn write(&self, e: &mut Enc) {
        e.list(3).list(self.urls.len());
        for u in &self.urls {
            e.text(u);
        }
        e.text(&self.username).text(&self.credential);
    }

    fn read(s: &mut Seq) -> Result<IceServer, IceError> {
        let mut fields = Seq::new(s.next("ice server")?, "ice server", 3)?;
        let mut list = Seq::new(fields.next("urls")?, "urls", MAX_ICE_URLS)?;
        let mut urls = Vec::with_capacity(list.left());
        while list.left() > 0 {
            let u = list.text("url", MAX_ICE_TEXT)?;
            Self::check_url(&u)?;
            urls.push(u);
        }
        if urls.is_empty() {
            return Err(IceError::NoUrl);
        }
        Ok(IceServer {
            urls,
            username: fields.text("username", MAX_ICE_TEXT)?,
            credential: fields.text("credential", MAX_ICE_TEXT)?,
        })
    }
}

/// Writes a list of at most [`MAX_ICE_SERVERS`] servers (more are cut).
pub(crate) fn write_list(e: &mut Enc, servers: &[IceServer]) {
    let servers = &servers[..servers.len().min(MAX_ICE_SERVERS)];
    e.list(servers.len());
    for s in servers {
        s.write(e);
    }
}

/// Reads a list written by [`write_list`], strictly.
pub(crate) fn read_list(s: &mut Seq) -> Result<Vec<IceServer>, IceError> {
    let mut list = Seq::new(s.next("ice servers")?, "ice servers", MAX_ICE_SERVERS)?;
    let mut out = Vec::with_capacity(list.left());
    while list.left() > 0 {
        out.push(IceServer::read(&mut list)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_list_meets_the_decoders_limits() {
        let ok = IceServer::stun("stun:203.0.113.1:3478");
        assert_eq!(check_list(std::slice::from_ref(&ok)), Ok(()));
        let many = vec![ok.clone(); MAX_ICE_SERVERS + 1];
        assert_eq!(check_list(&many), Err(IceError::TooManyServers));
        let mut urls = ok.clone();
        urls.urls = vec!["stun:x".into(); MAX_ICE_URLS + 1];
        assert_eq!(check_list(&[urls]), Err(IceError::TooManyUrls));
        let mut none = ok.clone();
        none.urls.clear();
        assert_eq!(check_list(&[none]), Err(IceError::NoUrl));
        let mut long = ok.clone();
        long.credential = "x".repeat(MAX_ICE_TEXT + 1);
        assert_eq!(check_list(&[long]), Err(IceError::TooLong));
        let mut bad = ok;
        bad.urls = vec!["http://x".into()];
        assert!(matches!(check_list(&[bad]), Err(IceError::BadUrl(_))));
    }

    #[test]
    fn urls_are_checked() {
        for ok in [
            "stun:203.0.113.1:8080",
            "turn:turn.example.org?transport=tcp",
            "turns:[2001:db8::1]:5349",
        ] {
            assert_eq!(IceServer::check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "stun:",
            "http://x",
            "stun:a b",
            "turn:\u{7f}",
            &"stun:".repeat(60),
        ] {
            assert!(IceServer::check_url(bad).is_err(), "{bad:?}");
        }
        assert!(
            IceServer::stun("stun:x").urls == ["stun:x"] && !IceServer::stun("stun:x").is_turn()
        );
    }
}
