//! The ICE servers a gateway hands out, and its own STUN service
//! (spec/bootstrap.md, "ICE servers").
//!
//! A browser behind a NAT learns its public address from a STUN server; the
//! gateway is the one server every peer already reaches, so it answers STUN
//! Binding requests itself (a few hundred bytes of work per request, on the
//! UDP port of its HTTP listener by default). TURN is coturn's job: the
//! gateway only derives per-peer credentials from the secret it shares with
//! coturn, in the scheme coturn calls `use-auth-secret`, so coturn needs no
//! list of users and a credential lapses with the node certificate.
//!
//! STUN messages are coded by `stun-types` (a maintained RFC 8489 codec);
//! HMAC-SHA1 comes from RustCrypto.

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, Mac};
use icn_core::ice::IceServer;
use icn_core::RingId;
use stun_types::attribute::XorMappedAddress;
use stun_types::message::{
    Message, MessageClass, MessageWrite, MessageWriteExt, MessageWriteVec, BINDING,
};
use tokio::net::UdpSocket;

use super::metrics::Metrics;

/// Largest datagram the STUN service reads; a Binding request is 20 bytes
/// plus a few attributes, and anything longer is not one.
const MAX_STUN_DATAGRAM: usize = 548;

/// What the gateway tells admitted peers about ICE.
#[derive(Debug, Clone, Default)]
pub struct IceConfig {
    /// Port of the gateway's own STUN service, if it runs.
    pub stun_port: Option<u16>,
    /// Host name or address peers reach the gateway at, for the STUN URL;
    /// `None`: the `Host` the peer used for `/ws`.
    pub public_host: Option<String>,
    /// Further servers (`--ice-server`), handed out as they are.
    pub extra: Vec<IceServer>,
    /// TURN URLs (`--turn`), with credentials derived from `turn_secret`.
    pub turn: Vec<String>,
    /// The secret shared with coturn (`static-auth-secret`).
    pub turn_secret: Option<Vec<u8>>,
}

impl IceConfig {
    /// The list for the peer at ring position `node`, whose certificate
    /// expires at `expires_ms`, that asked for `/ws` with this `Host` header.
    pub fn servers_for(&self, host_header: &str, node: RingId, expires_ms: u64) -> Vec<IceServer> {
        let mut out = Vec::new();
        if let Some(port) = self.stun_port {
            let host = self
                .public_host
                .clone()
                .or_else(|| host_of(host_header).map(str::to_string));
            if let Some(host) = host {
                let url = format!("stun:{host}:{port}");
                if IceServer::check_url(&url).is_ok() {
                    out.push(IceServer::stun(url));
                }
            }
        }
        out.extend(self.extra.iter().cloned());
        if let (false, Some(secret)) = (self.turn.is_empty(), &self.turn_secret) {
            let username = format!("{}:{node}", expires_ms / 1000);
            out.push(IceServer {
                urls: self.turn.clone(),
                credential: turn_credential(secret, &username),
                username,
            });
        }
        out
    }
}

/// The host part of a `Host` header (`name`, `name:port`, `[v6]:port`), if
/// it is a plausible host.
fn host_of(header: &str) -> Option<&str> {
    let host = if let Some(rest) = header.strip_prefix('[') {
        &header[..rest.find(']')? + 2]
    } else {
        header.split(':').next()?
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    ok.then_some(host)
}

/// coturn's `use-auth-secret` password for `username`: base64 of
/// HMAC-SHA1(secret, username).
pub fn turn_credential(secret: &[u8], username: &str) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The answer to one datagram, if it is a STUN Binding request: a success
/// response telling the sender the address it came from.
pub fn answer(datagram: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    let request = Message::from_bytes(datagram).ok()?;
    if !request.has_class(MessageClass::Request) || !request.has_method(BINDING) {
        return None;
    }
    let mut reply = Message::builder_success(&request, MessageWriteVec::new());
    reply
        .add_attribute(&XorMappedAddress::new(from, request.transaction_id()))
        .ok()?;
    Some(reply.finish())
}

/// Answers STUN Binding requests on `socket` until the process ends.
pub async fn serve_stun(socket: UdpSocket, metrics: Arc<Metrics>) {
    let mut buf = [0u8; MAX_STUN_DATAGRAM];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = answer(&buf[..n], from) {
            if socket.send_to(&reply, from).await.is_ok() {
                metrics.stun_answers.inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_credentials_follow_coturns_scheme() {
        // From `printf %s 1700000000:ab | openssl dgst -sha1 -hmac s3cret -binary | base64`.
        assert_eq!(
            turn_credential(b"s3cret", "1700000000:ab"),
            "tZGaATN13OEz2X8Mx0RAvpSRvDg="
        );
        let cfg = IceConfig {
            stun_port: Some(3478),
            turn: vec!["turn:203.0.113.9:3478".into()],
            turn_secret: Some(b"s3cret".to_vec()),
            extra: vec![IceServer::stun("stun:stun.example:3478")],
            public_host: None,
        };
        let node = RingId([0xab; 32]);
        let list = cfg.servers_for("gw.example:8080", node, 1_700_000_000_999);
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].urls, ["stun:gw.example:3478"]);
        assert_eq!(list[1].urls, ["stun:stun.example:3478"]);
        assert_eq!(list[2].username, format!("1700000000:{node}"));
        assert_eq!(
            list[2].credential,
            turn_credential(b"s3cret", &list[2].username)
        );
        // No secret, no TURN; a bogus Host header, no STUN URL.
        let plain = IceConfig {
            turn_secret: None,
            ..cfg
        };
        assert!(plain.servers_for("a b", node, 0).len() == 1);
        assert_eq!(host_of("[2001:db8::1]:80"), Some("[2001:db8::1]"));
        assert_eq!(host_of("203.0.113.1"), Some("203.0.113.1"));
        assert_eq!(host_of(""), None);
    }

    #[test]
    fn binding_requests_are_answered_with_the_source_address() {
        let from: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let request = Message::builder_request(BINDING, MessageWriteVec::new()).finish();
        let reply = answer(&request, from).unwrap();
        let m = Message::from_bytes(&reply).unwrap();
        assert!(m.has_class(MessageClass::Success));
        let tid = Message::from_bytes(&request).unwrap().transaction_id();
        assert_eq!(m.transaction_id(), tid);
        assert_eq!(m.attribute::<XorMappedAddress>().unwrap().addr(tid), from);
        // Not a request, not STUN, or empty: no answer.
        assert!(answer(&reply, from).is_none());
        assert!(answer(b"hello", from).is_none());
        assert!(answer(&[], from).is_none());
    }
}
