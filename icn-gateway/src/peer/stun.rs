//! A native peer's server-reflexive address, asked of a STUN server.
//!
//! A peer behind a NAT is reachable from other networks only at the public
//! address its NAT maps its UDP socket to; it offers that address as a
//! server-reflexive candidate beside its host one. The request goes out of
//! the same socket its WebRTC links use (that is the mapping that counts),
//! so the answer arrives among the links' datagrams: the driver shows every
//! datagram to [`Reflexive::handle_datagram`] first.
//!
//! Sans-IO: the driver resolves the server, sends what [`Reflexive::poll`]
//! returns and feeds back the time and the datagrams.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stun_types::attribute::XorMappedAddress;
use stun_types::message::{
    Message, MessageClass, MessageWrite, MessageWriteExt, MessageWriteVec, TransactionId, BINDING,
};

/// Time between requests while no answer came.
const RETRY: Duration = Duration::from_millis(500);
/// Requests sent before giving up on a server.
const MAX_TRIES: u32 = 10;

/// The state of one STUN server's question.
#[derive(Debug, Default)]
pub struct Reflexive {
    server: Option<SocketAddr>,
    transaction: Option<TransactionId>,
    tries: u32,
    next: Option<Instant>,
    mapped: Option<SocketAddr>,
}

impl Reflexive {
    /// Asks `server` from now on (a new server starts over).
    pub fn set_server(&mut self, server: SocketAddr, now: Instant) {
        if self.server == Some(server) {
            return;
        }
        *self = Reflexive {
            server: Some(server),
            next: Some(now),
            ..Reflexive::default()
        };
    }

    /// The address learnt, once.
    pub fn mapped(&self) -> Option<SocketAddr> {
        self.mapped
    }

    /// A request to send now, if one is due.
    pub fn poll(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        let server = self.server?;
        if self.mapped.is_some() || self.tries >= MAX_TRIES || self.next.is_none_or(|t| now < t) {
            return None;
        }
        self.tries += 1;
        self.next = Some(now + RETRY);
        let request = Message::builder_request(BINDING, MessageWriteVec::new());
        self.transaction = Some(request.transaction_id());
        Some((server, request.finish()))
    }

    /// When [`Reflexive::poll`] next has something to send.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.mapped, self.tries < MAX_TRIES) {
            (None, true) => self.next,
            _ => None,
        }
    }

    /// Takes the datagram if it answers our request; returns the mapped
    /// address when it is news.
    pub fn handle_datagram(&mut self, from: SocketAddr, bytes: &[u8]) -> Option<SocketAddr> {
        if Some(from) != self.server || self.mapped.is_some() {
            return None;
        }
        let m = Message::from_bytes(bytes).ok()?;
        let tid = self.transaction?;
        if !m.has_class(MessageClass::Success)
            || !m.has_method(BINDING)
            || m.transaction_id() != tid
        {
            return None;
        }
        let addr = m.attribute::<XorMappedAddress>().ok()?.addr(tid);
        self.mapped = Some(addr);
        Some(addr)
    }
}

/// The first `stun:host:port` URL of a list as a `host:port` to resolve
/// (port 3478 when the URL has none; an IPv6 host keeps its brackets).
/// `stuns:` is not used by native peers.
pub fn first_stun_target(urls: &[String]) -> Option<String> {
    urls.iter().find_map(|u| {
        let rest = u.strip_prefix("stun:")?;
        let rest = rest.split('?').next()?;
        let port_given = |h: &str, p: &str| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (h.ends_with(']') || !h.contains(':'))
        };
        let (host, port): (&str, u16) = match rest.rsplit_once(':') {
            Some((h, p)) if port_given(h, p) => (h, p.parse().ok()?),
            _ => (rest, 3478),
        };
        Some(format!("{host}:{port}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_until_answered_and_takes_only_its_answer() {
        let server: SocketAddr = "203.0.113.1:3478".parse().unwrap();
        let me: SocketAddr = "198.51.100.2:5000".parse().unwrap();
        let t = Instant::now();
        let mut r = Reflexive::default();
        assert!(r.poll(t).is_none(), "no server, no request");
        r.set_server(server, t);
        let (to, req) = r.poll(t).unwrap();
        assert_eq!(to, server);
        assert!(r.poll(t).is_none(), "one request per retry period");
        let (_, req2) = r.poll(t + RETRY).unwrap();
        // The gateway's STUN service answers the second request.
        let answer = crate::gateway::ice::answer(&req2, me).unwrap();
        let stale = crate::gateway::ice::answer(&req, me).unwrap();
        assert_eq!(
            r.handle_datagram(server, &stale),
            None,
            "an old transaction"
        );
        let other: SocketAddr = "203.0.113.9:3478".parse().unwrap();
        assert_eq!(r.handle_datagram(other, &answer), None, "another sender");
        assert_eq!(r.handle_datagram(server, &answer), Some(me));
        assert_eq!(r.mapped(), Some(me));
        assert!(r.poll(t + RETRY * 2).is_none() && r.deadline().is_none());
    }

    #[test]
    fn gives_up_after_its_tries() {
        let mut r = Reflexive::default();
        let t = Instant::now();
        r.set_server("203.0.113.1:3478".parse().unwrap(), t);
        let sent = (0..50).filter(|i| r.poll(t + RETRY * *i).is_some()).count();
        assert_eq!(sent, MAX_TRIES as usize);
        assert!(r.deadline().is_none());
    }

    #[test]
    fn stun_urls_are_parsed() {
        let urls = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            first_stun_target(&urls(&["turn:x:1", "stun:203.0.113.1:8080"])),
            Some("203.0.113.1:8080".into())
        );
        assert_eq!(
            first_stun_target(&urls(&["stun:gw.example"])),
            Some("gw.example:3478".into())
        );
        assert_eq!(
            first_stun_target(&urls(&["stun:[2001:db8::1]:9"])),
            Some("[2001:db8::1]:9".into())
        );
        assert_eq!(first_stun_target(&urls(&["turn:x:1"])), None);
    }
}
