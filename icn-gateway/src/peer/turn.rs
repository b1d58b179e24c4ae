//! A native peer's relayed address, allocated on a TURN server (RFC 8656).
//!
//! Behind a symmetric NAT nobody can reach a peer at its server-reflexive
//! address (the NAT maps every destination to another port), so two such
//! peers link only through a relay. Browsers get that from their
//! `RTCPeerConnection`; str0m takes relayed candidates but speaks no TURN,
//! so this is the client half: allocate, keep the allocation and its
//! permissions alive, wrap what str0m sends from the relayed address in
//! `Send` indications and unwrap `Data` indications for it.
//!
//! Why written here: the TURN client crates that exist (librice's
//! `turn-client-proto`) bring their own ICE agent's types and a second STUN
//! stack version; the part str0m needs is the few messages below, coded with
//! the `stun-types` crate the gateway's STUN service already uses. Only UDP
//! to the server, `Send`/`Data` indications (no channels: each datagram
//! costs 36 bytes more, which a DataChannel's traffic does not notice), and
//! the long-term credentials of coturn's REST scheme that gateways hand out.
//!
//! Sans-IO, as [`super::stun`]: the driver sends what [`Relay::poll`]
//! returns to [`Relay::server`] and shows it every datagram from there.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use stun_types::attribute::{
    AttributeStaticType, AttributeType, ErrorCode, Nonce, RawAttribute, Realm, Username,
    XorMappedAddress,
};
use stun_types::message::{
    IntegrityAlgorithm, LongTermKeyCredentials, Message, MessageClass, MessageWrite,
    MessageWriteExt, MessageWriteVec, Method, TransactionId,
};

const ALLOCATE: Method = Method::new(0x003);
const REFRESH: Method = Method::new(0x004);
const SEND: Method = Method::new(0x006);
const DATA: Method = Method::new(0x007);
const CREATE_PERMISSION: Method = Method::new(0x008);
const LIFETIME: u16 = 0x000D;
const XOR_PEER_ADDRESS: u16 = 0x0012;
const DATA_ATTR: u16 = 0x0013;
const XOR_RELAYED_ADDRESS: u16 = 0x0016;
const REQUESTED_TRANSPORT: u16 = 0x0019;
/// UDP, as REQUESTED-TRANSPORT names it.
const UDP: u8 = 17;

/// Time between Allocate requests while no answer came.
const RETRY: Duration = Duration::from_millis(500);
/// Allocate requests sent before giving up on a server.
const MAX_TRIES: u32 = 10;
/// A permission lasts 300 s on the server; it is asked again after this.
const PERMISSION_FOR: Duration = Duration::from_secs(240);
/// Peers with a permission at once (a peer has at most 64 links).
const MAX_PERMISSIONS: usize = 256;
/// How long an address the server refused a permission for (403: the
/// operator denies it, as many deny private ranges) is not asked again;
/// datagrams for it are dropped meanwhile, not each turned into a request.
const REFUSED_FOR: Duration = Duration::from_secs(60);

/// One allocation on one TURN server.
pub struct Relay {
    server: SocketAddr,
    username: String,
    password: String,
    /// Realm and nonce from the server's 401, for authenticated requests.
    auth: Option<(String, String)>,
    /// The Allocate under way: its transaction, tries, and when to resend.
    allocating: Option<(TransactionId, u32, Instant)>,
    relayed: Option<SocketAddr>,
    refresh_at: Option<Instant>,
    /// Addresses with a permission, and when to renew it.
    permissions: HashMap<IpAddr, Instant>,
    /// Addresses refused a permission, and until when.
    refused: HashMap<IpAddr, Instant>,
    /// CreatePermission requests under way, to ask again if refused.
    asked: HashMap<TransactionId, IpAddr>,
    out: VecDeque<Vec<u8>>,
}

impl Relay {
    /// Starts allocating on `server` with the TURN account `username` and
    /// `password`.
    pub fn new(server: SocketAddr, username: &str, password: &str, now: Instant) -> Relay {
        Relay {
            server,
            username: username.into(),
            password: password.into(),
            auth: None,
            allocating: Some((TransactionId::generate(), 0, now)),
            relayed: None,
            refresh_at: None,
            permissions: HashMap::new(),
            refused: HashMap::new(),
            asked: HashMap::new(),
            out: VecDeque::new(),
        }
    }

    /// The TURN server's address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The relayed address, once allocated.
    pub fn relayed(&self) -> Option<SocketAddr> {
        self.relayed
    }

    /// A datagram for the server, if one is due.
    pub fn poll(&mut self, now: Instant) -> Option<Vec<u8>> {
        if let Some((tid, tries, at)) = self.allocating {
            if now >= at && tries < MAX_TRIES {
                self.allocating = Some((tid, tries + 1, now + RETRY));
                return Some(self.allocate(tid));
            }
        }
        if self.refresh_at.is_some_and(|t| now >= t) {
            self.refresh_at = None;
            let mut m = Message::builder_request(REFRESH, MessageWriteVec::new());
            let _ = m.add_attribute(&RawAttribute::new(
                AttributeType::new(LIFETIME),
                &600u32.to_be_bytes(),
            ));
            return Some(self.sign(m));
        }
        self.out.pop_front()
    }

    /// When [`Relay::poll`] next has something to send.
    pub fn deadline(&self) -> Option<Instant> {
        let retry = self
            .allocating
            .filter(|(_, tries, _)| *tries < MAX_TRIES)
            .map(|(_, _, at)| at);
        match (retry, self.refresh_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn allocate(&self, tid: TransactionId) -> Vec<u8> {
        let mut m = Message::builder(
            stun_types::message::MessageType::from_class_method(MessageClass::Request, ALLOCATE),
            tid,
            MessageWriteVec::new(),
        );
        let _ = m.add_attribute(&RawAttribute::new(
            AttributeType::new(REQUESTED_TRANSPORT),
            &[UDP, 0, 0, 0],
        ));
        match self.auth {
            Some(_) => self.sign(m),
            None => m.finish(),
        }
    }

    /// Adds the long-term credentials (when the server asked for them).
    fn sign(&self, mut m: MessageWriteVec) -> Vec<u8> {
        if let Some((realm, nonce)) = &self.auth {
            if let (Ok(u), Ok(r), Ok(n)) = (
                Username::new(&self.username),
                Realm::new(realm),
                Nonce::new(nonce),
            ) {
                let _ = m.add_attribute(&u);
                let _ = m.add_attribute(&r);
                let _ = m.add_attribute(&n);
                let key = LongTermKeyCredentials::new(
                    self.username.clone(),
                    self.password.clone(),
                    realm.clone(),
                );
                let _ = m.add_message_integrity(&key.into(), IntegrityAlgorithm::Sha1);
            }
        }
        m.finish()
    }

    /// Queues `data` for `peer` through the relay, asking the server for a
    /// permission first when `peer`'s is missing or due again.
    pub fn send(&mut self, now: Instant, peer: SocketAddr, data: &[u8]) {
        if self.relayed.is_none() {
            return;
        }
        let ip = peer.ip();
        if self.refused.get(&ip).is_some_and(|t| now < *t) {
            return;
        }
        if self.permissions.get(&ip).is_none_or(|t| now >= *t) {
            if self.permissions.len() >= MAX_PERMISSIONS {
                // Those not renewed for a minute past their time have
                // lapsed on the server too.
                let lapsed = PERMISSION_FOR / 4;
                self.permissions.retain(|_, t| now < *t + lapsed);
                if self.permissions.len() >= MAX_PERMISSIONS && !self.permissions.contains_key(&ip)
                {
                    return;
                }
            }
            self.permissions.insert(ip, now + PERMISSION_FOR);
            let mut m = Message::builder_request(CREATE_PERMISSION, MessageWriteVec::new());
            let tid = m.transaction_id();
            let _ = m.add_attribute(&xor_attr(XOR_PEER_ADDRESS, peer, tid));
            if self.asked.len() >= MAX_PERMISSIONS {
                self.asked.clear();
            }
            self.asked.insert(tid, ip);
            let permission = self.sign(m);
            self.out.push_back(permission);
        }
        self.out.push_back(indication(peer, data));
    }

    /// A datagram from the server: a `Data` indication's peer and payload,
    /// or nothing (answers to our requests are taken here).
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) -> Option<(SocketAddr, Vec<u8>)> {
        let m = match Message::from_bytes(bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("undecodable datagram from the TURN server: {e}");
                return None;
            }
        };
        let tid = m.transaction_id();
        if m.has_class(MessageClass::Indication) && m.has_method(DATA) {
            let peer = read_xor(&m, XOR_PEER_ADDRESS)?;
            let data = m.raw_attribute(AttributeType::new(DATA_ATTR))?;
            return Some((peer, data.value.to_vec()));
        }
        let error = m.has_class(MessageClass::Error);
        if error {
            let e = m.attribute::<ErrorCode>().ok();
            let code = e.as_ref().map_or(0, |e| e.code());
            let reason = e.as_ref().map_or("", |e| e.reason());
            tracing::debug!(code, reason, method = %m.method(), "TURN error");
            let stale = code == 401 || code == 438;
            if let Some(ip) = self.asked.remove(&tid) {
                // Asked again with the next datagram (with the new nonce),
                // or, if refused, not for a while.
                self.permissions.remove(&ip);
                if !stale {
                    self.refuse(now, ip);
                }
            }
            // 401: credentials wanted; 438: the nonce went stale.
            if code == 401 || code == 438 {
                // (coturn ends some strings with a NUL, not part of them.)
                let clean = |s: &str| s.trim_end_matches('\0').to_owned();
                let realm = m.attribute::<Realm>().ok().map(|r| clean(r.realm()));
                let nonce = m.attribute::<Nonce>().ok().map(|n| clean(n.nonce()));
                let first = self.auth.is_none();
                if let (Some(r), Some(n)) = (realm.or(self.auth.clone().map(|a| a.0)), nonce) {
                    self.auth = Some((r, n));
                }
                let ours = self.allocating.is_some_and(|(t, _, _)| t == tid);
                if ours && (first || code == 438) {
                    // Again, authenticated, at once.
                    self.allocating = Some((TransactionId::generate(), 0, now));
                } else if m.has_method(REFRESH) {
                    self.refresh_at = Some(now);
                }
            } else if m.has_method(REFRESH) {
                // The allocation is gone (437: the server forgot it, as
                // after a restart): allocate anew.
                self.reallocate(now);
            }
            return None;
        }
        self.asked.remove(&tid);
        if m.has_class(MessageClass::Success) && m.has_method(ALLOCATE) {
            if self.allocating.is_some_and(|(t, _, _)| t == tid) {
                self.allocating = None;
                self.relayed = read_xor(&m, XOR_RELAYED_ADDRESS);
                self.refresh_at = Some(now + lifetime(&m) / 2);
            }
        } else if m.has_class(MessageClass::Success) && m.has_method(REFRESH) {
            self.refresh_at = Some(now + lifetime(&m) / 2);
        }
        None
    }

    /// Stops asking for `ip` for [`REFUSED_FOR`].
    fn refuse(&mut self, now: Instant, ip: IpAddr) {
        if self.refused.len() >= MAX_PERMISSIONS {
            self.refused.retain(|_, t| now < *t);
            if self.refused.len() >= MAX_PERMISSIONS {
                self.refused.clear();
            }
        }
        self.refused.insert(ip, now + REFUSED_FOR);
    }

    /// Forgets the allocation and its permissions and asks for a new one
    /// (with the credentials the server last asked for).
    fn reallocate(&mut self, now: Instant) {
        self.relayed = None;
        self.refresh_at = None;
        self.permissions.clear();
        self.asked.clear();
        self.allocating = Some((TransactionId::generate(), 0, now));
    }
}

/// A `Send` indication carrying `data` to `peer`.
fn indication(peer: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut m = Message::builder_indication(SEND, MessageWriteVec::new());
    let tid = m.transaction_id();
    let _ = m.add_attribute(&xor_attr(XOR_PEER_ADDRESS, peer, tid));
    let _ = m.add_attribute(&RawAttribute::new(AttributeType::new(DATA_ATTR), data));
    m.finish()
}

/// The server's LIFETIME, or the default 600 s.
fn lifetime(m: &Message<'_>) -> Duration {
    let secs = m
        .raw_attribute(AttributeType::new(LIFETIME))
        .and_then(|a| <[u8; 4]>::try_from(&a.value[..]).ok())
        .map_or(600, u32::from_be_bytes);
    Duration::from_secs(u64::from(secs.clamp(60, 3600)))
}

/// An XOR address attribute of type `atype` (coded as XOR-MAPPED-ADDRESS is).
fn xor_attr(atype: u16, addr: SocketAddr, tid: TransactionId) -> RawAttribute<'static> {
    let mapped = XorMappedAddress::new(addr, tid);
    let raw = RawAttribute::from(&mapped);
    RawAttribute::new_owned(AttributeType::new(atype), raw.value.to_vec().into())
}

/// Reads an XOR address attribute of type `atype`.
fn read_xor(m: &Message<'_>, atype: u16) -> Option<SocketAddr> {
    let raw = m.raw_attribute(AttributeType::new(atype))?;
    let as_mapped = RawAttribute::new(XorMappedAddress::TYPE, &raw.value);
    let mapped = XorMappedAddress::try_from(&as_mapped).ok()?;
    Some(mapped.addr(m.transaction_id()))
}

/// The first `turn:host:port` URL (UDP) of a list as a `host:port` to
/// resolve (port 3478 when it has none). `turns:` and TCP are not used.
pub fn first_turn_target(urls: &[String]) -> Option<String> {
    urls.iter().find_map(|u| {
        let rest = u.strip_prefix("turn:")?;
        let (addr, query) = rest.split_once('?').unwrap_or((rest, ""));
        if query.contains("transport=tcp") {
            return None;
        }
        let port_given = |h: &str, p: &str| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (h.ends_with(']') || !h.contains(':'))
        };
        Some(match addr.rsplit_once(':') {
            Some((h, p)) if port_given(h, p) => format!("{h}:{p}"),
            _ => format!("{addr}:3478"),
        })
    })
}

#[cfg(test)]
#[path = "turn_tests.rs"]
mod tests;
