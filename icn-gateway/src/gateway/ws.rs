//! `GET /ws`: peers join the ring through the gateway (spec/bootstrap.md).
//!
//! Each connection proves its node key, receives a certified ring position
//! (the middle of the largest gap between the gateway and the peers connected
//! to it, which keeps the ring balanced and stops peers choosing their own
//! position), and then carries ring messages between the peer and the
//! gateway's node. Until two peers have a direct link, the gateway relays
//! ring messages between its peers, within a byte and message budget per peer.
//! Every bound on a client (connections per address and per key, join
//! rates, relay and ring budgets, the bytes queued for it) comes from the
//! gateway's [`Limits`].

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use icn_core::bootstrap::{verify_join, Frame, NodeCert, MAX_FRAME_SIZE};
use icn_core::RingId;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use warp::http::{HeaderMap, Response, StatusCode};
use warp::hyper::upgrade::OnUpgrade;

type WebSocket = WebSocketStream<TokioIo<warp::hyper::upgrade::Upgraded>>;

/// Per-connection buffers: small, since an idle peer should cost little.
/// Larger messages still work; the buffers grow while they are in flight.
fn ws_config() -> WebSocketConfig {
    let mut c = WebSocketConfig::default();
    c.read_buffer_size = 1024;
    c.write_buffer_size = 0;
    c.max_write_buffer_size = 4 * MAX_FRAME_SIZE;
    c.max_message_size = Some(MAX_FRAME_SIZE);
    c.max_frame_size = Some(MAX_FRAME_SIZE);
    c
}

/// Answers the WebSocket upgrade of `GET /ws` and serves the connection.
pub fn upgrade(
    headers: HeaderMap,
    on_upgrade: Option<OnUpgrade>,
    addr: Option<std::net::SocketAddr>,
    s: Arc<State>,
) -> Response<Vec<u8>> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let key = header("sec-websocket-key");
    let is_ws = header("upgrade").eq_ignore_ascii_case("websocket")
        && header("connection")
            .to_ascii_lowercase()
            .contains("upgrade")
        && header("sec-websocket-version") == "13"
        && !key.is_empty();
    let Some(on_upgrade) = on_upgrade.filter(|_| is_ws) else {
        return super::http::error(
            StatusCode::UPGRADE_REQUIRED,
            "websocket-required",
            "GET /ws is a WebSocket endpoint",
        );
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    // The host the peer reached us at: its STUN URL names the same host.
    let host = header("host").to_string();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(ws_config()),
                )
                .await;
                serve(ws, addr.map(|a| a.ip()), host, s).await;
            }
            Err(e) => tracing::debug!("websocket upgrade failed: {e}"),
        }
    });
    let mut r = Response::new(Vec::new());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        "connection",
        warp::http::HeaderValue::from_static("upgrade"),
    );
    h.insert("upgrade", warp::http::HeaderValue::from_static("websocket"));
    if let Ok(v) = warp::http::HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", v);
    }
    r
}

use super::driver::Command;
use super::http::State;
use super::limits::Limits;
use super::trust::TrustList;
use crate::peer::outbox::{outbox, Outbox, OutboxTx};
/// Node certificates are valid this long.
const CERT_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How long the id of a peer that left stays out of new assignments
/// (longer than the ring presumes a departed node dead).
const RELEASED_FOR: Duration = Duration::from_secs(60);
/// Departed ids remembered at most.
const MAX_RELEASED: usize = 4096;
/// Time a client has to answer the challenge.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Time the last words to a disconnected client (its refusal, the close)
/// may take: a client that does not read gets no more.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(1);
/// Addresses whose join rate is tracked at once; past that the window
/// starts afresh for all.
const MAX_JOIN_ADDRS: usize = 65_536;

/// Use of a per-second budget: since when, bytes, messages.
#[derive(Debug, Clone, Copy)]
struct Window {
    since: Instant,
    bytes: u64,
    msgs: u64,
}

impl Window {
    fn new() -> Window {
        Window {
            since: Instant::now(),
            bytes: 0,
            msgs: 0,
        }
    }

    /// Takes `len` bytes and one message of a budget of `max_bytes` and
    /// `max_msgs` per second; false (nothing taken) when it is spent.
    fn take(&mut self, len: usize, max_bytes: u64, max_msgs: u64) -> bool {
        if self.since.elapsed() >= Duration::from_secs(1) {
            *self = Window::new();
        }
        if self.bytes + len as u64 > max_bytes || self.msgs + 1 > max_msgs {
            return false;
        }
        self.bytes += len as u64;
        self.msgs += 1;
        true
    }
}

struct Conn {
    tx: OutboxTx,
    /// A trusted gateway that joined through this one: no relay or ring
    /// budget.
    gateway: bool,
    relay: Window,
    ring: Window,
}

/// The peers connected to this gateway.
pub struct Peers {
    gateway_id: RingId,
    key: SigningKey,
    conns: Mutex<HashMap<RingId, Conn>>,
    per_addr: Mutex<HashMap<IpAddr, usize>>,
    per_key: Mutex<HashMap<[u8; 32], usize>>,
    limits: Limits,
    /// Joins admitted in the current one-second window: in all, and per
    /// address.
    joins: Mutex<(Instant, u32, HashMap<IpAddr, u32>)>,
    trust: Arc<TrustList>,
    /// Ids of peers that disconnected recently, and when.
    released: Mutex<std::collections::VecDeque<(RingId, Instant)>>,
}

impl Peers {
    /// An empty registry for the gateway with this id and key.
    pub fn new(
        gateway_id: RingId,
        key: SigningKey,
        limits: Limits,
        trust: Arc<TrustList>,
    ) -> Peers {
        Peers {
            gateway_id,
            key,
            conns: Mutex::new(HashMap::new()),
            per_addr: Mutex::new(HashMap::new()),
            per_key: Mutex::new(HashMap::new()),
            limits,
            joins: Mutex::new((Instant::now(), 0, HashMap::new())),
            trust,
            released: Mutex::new(Default::default()),
        }
    }

    /// The gateways this one trusts (own key first).
    pub fn trusted(&self) -> Vec<[u8; 32]> {
        self.trust.keys()
    }

    /// The gateway's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether one more join from `ip` fits in this second's budget, and
    /// in the address's share of it.
    fn admit_join(&self, ip: IpAddr) -> bool {
        let Ok(mut j) = self.joins.lock() else {
            return false;
        };
        if j.0.elapsed() >= Duration::from_secs(1) || j.2.len() >= MAX_JOIN_ADDRS {
            *j = (Instant::now(), 0, HashMap::new());
        }
        let mine = j.2.entry(ip).or_insert(0);
        if *mine >= self.limits.joins_per_addr_per_s {
            return false;
        }
        *mine += 1;
        if j.1 >= self.limits.joins_per_s {
            return false;
        }
        j.1 += 1;
        true
    }

    /// Counts one more connection of `key`; false (not counted) if it
    /// already has as many as it may.
    fn hold_key(&self, key: [u8; 32]) -> bool {
        let Ok(mut per) = self.per_key.lock() else {
            return false;
        };
        let n = per.entry(key).or_insert(0);
        if *n >= self.limits.max_per_key {
            return false;
        }
        *n += 1;
        true
    }

    /// Counts one connection of `key` less.
    fn release_key(&self, key: [u8; 32]) {
        if let Ok(mut per) = self.per_key.lock() {
            if let Some(n) = per.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    per.remove(&key);
                }
            }
        }
    }

    /// Number of connected peers.
    pub fn count(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Notes that the peer at `id` disconnected.
    fn release(&self, id: RingId) {
        if let Ok(mut r) = self.released.lock() {
            r.retain(|(_, at)| at.elapsed() < RELEASED_FOR);
            if r.len() >= MAX_RELEASED {
                r.pop_front();
            }
            r.push_back((id, Instant::now()));
        }
    }

    /// The middle of the largest gap between the gateway, its peers and the
    /// peers that left in the last minute: a newcomer must not take the id
    /// of a peer that just left, which the ring still holds for dead.
    fn assign(&self, conns: &HashMap<RingId, Conn>) -> RingId {
        let released: Vec<RingId> = self
            .released
            .lock()
            .map(|r| {
                r.iter()
                    .filter(|(_, at)| at.elapsed() < RELEASED_FOR)
                    .map(|(id, _)| *id)
                    .collect()
            })
            .unwrap_or_default();
        let ids: BTreeSet<RingId> = conns
            .keys()
            .copied()
            .chain(released)
            .chain([self.gateway_id])
            .collect();
        let ids: Vec<RingId> = ids.into_iter().collect();
        let mut best = (ids[0], RingId::ZERO);
        for (i, a) in ids.iter().enumerate() {
            let b = ids[(i + 1) % ids.len()];
            let gap = if ids.len() == 1 {
                RingId::MAX
            } else {
                a.distance_to(b)
            };
            if gap > best.1 {
                best = (*a, gap);
            }
        }
        best.0.wrapping_add(best.1.half())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn send_frame(ws: &mut WebSocket, f: &Frame) -> bool {
    ws.send(Message::binary(f.encode())).await.is_ok()
}

/// Tells the client why it is refused; the caller then drops the connection.
/// A client that does not read gets a moment, not more.
async fn refuse(ws: &mut WebSocket, code: &str) {
    let f = Frame::Error { code: code.into() };
    let _ = tokio::time::timeout(FAREWELL_TIMEOUT, send_frame(ws, &f)).await;
}

/// Closes the connection, waiting a moment at most.
async fn close(ws: &mut WebSocket) {
    let _ = tokio::time::timeout(FAREWELL_TIMEOUT, ws.close(None)).await;
}

fn binary(m: &Message) -> Option<&[u8]> {
    match m {
        Message::Binary(b) => Some(b),
        _ => None,
    }
}

/// Serves one WebSocket connection from `addr`, which asked for `host`.
pub async fn serve(mut ws: WebSocket, addr: Option<IpAddr>, host: String, s: Arc<State>) {
    let peers = &s.peers;
    let ip = addr.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let admitted = match peers.per_addr.lock() {
        Ok(mut per) => {
            let n = per.entry(ip).or_insert(0);
            *n += 1;
            *n <= peers.limits.max_per_addr
        }
        Err(_) => false,
    };
    if !admitted {
        s.metrics.joins_refused.inc();
        tracing::info!(%ip, "refusing a connection: too-many-connections");
        refuse(&mut ws, "too-many-connections").await;
        close(&mut ws).await;
    } else if let Some((id, key, rx)) = handshake(&mut ws, ip, &host, &s).await {
        run_peer(ws, id, rx, &s).await;
        peers.release_key(key);
    }
    if let Ok(mut per) = peers.per_addr.lock() {
        if let Some(n) = per.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                per.remove(&ip);
            }
        }
    }
}

/// Challenge, proof, certified position. Returns the peer's id, registered,
/// its key (counted in `per_key` until the caller releases it) and the
/// receiving end of its outgoing frame queue.
async fn handshake(
    ws: &mut WebSocket,
    ip: IpAddr,
    host: &str,
    s: &Arc<State>,
) -> Option<(RingId, [u8; 32], Outbox)> {
    let peers = &s.peers;
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).ok()?;
    let challenge = Frame::Challenge {
        nonce,
        gateway_key: peers.key.verifying_key().to_bytes(),
        gateway_id: peers.gateway_id,
    };
    if !send_frame(ws, &challenge).await {
        return None;
    }
    let first = tokio::time::timeout(HELLO_TIMEOUT, ws.next()).await;
    let hello = match first {
        Ok(Some(Ok(m))) => binary(&m).and_then(|b| Frame::decode(b).ok()),
        _ => None,
    };
    let Some(Frame::Hello {
        key,
        signature,
        cert: earlier,
    }) = hello
    else {
        refuse(ws, "expected-hello").await;
        return None;
    };
    if verify_join(&nonce, &key, &signature).is_err() {
        refuse(ws, "bad-proof").await;
        return None;
    }
    if !peers.admit_join(ip) {
        s.metrics.joins_refused.inc();
        tracing::info!(%ip, "refusing a join: join-rate");
        refuse(ws, "join-rate").await;
        return None;
    }
    if !peers.hold_key(key) {
        s.metrics.joins_refused.inc();
        tracing::info!(%ip, "refusing a join: too-many-connections-of-key");
        refuse(ws, "too-many-connections-of-key").await;
        return None;
    }
    match admitted_handshake(ws, key, earlier, host, s).await {
        Some((id, rx)) => Some((id, key, rx)),
        None => {
            peers.release_key(key);
            None
        }
    }
}

/// The rest of the handshake once the client proved `key` and its join
/// was admitted.
async fn admitted_handshake(
    ws: &mut WebSocket,
    key: [u8; 32],
    earlier: Option<NodeCert>,
    host: &str,
    s: &Arc<State>,
) -> Option<(RingId, Outbox)> {
    let peers = &s.peers;
    let (tx, rx) = outbox(peers.limits.client_queue_bytes);
    // A trusted gateway keeps its own position (derived from its key).
    let gateway = peers.trust.may_join(&key);
    let kept = match &earlier {
        Some(c) => match peers.keeps_position(c, &key) {
            Ok(id) => Some(id),
            Err(why) => {
                refuse(ws, why).await;
                return None;
            }
        },
        None => None,
    };
    let registered = {
        let mut conns = peers.conns.lock().ok()?;
        let id = if gateway {
            super::node_id_of(&key)
        } else if let Some(id) = kept {
            id
        } else {
            peers.assign(&conns)
        };
        match conns.entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => None,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Conn {
                    tx: tx.clone(),
                    gateway,
                    relay: Window::new(),
                    ring: Window::new(),
                });
                Some(id)
            }
        }
    };
    let Some(id) = registered else {
        refuse(ws, "already-connected").await;
        return None;
    };
    let expires = now_ms() + CERT_LIFETIME.as_millis() as u64;
    let cert = NodeCert::issue(&peers.key, id, key, expires);
    let trust = Frame::Trust {
        keys: peers.trusted(),
    };
    let ice = Frame::IceServers {
        servers: s.ice.servers_for(host, id, expires),
    };
    if !send_frame(ws, &Frame::Welcome(cert)).await
        || !send_frame(ws, &trust).await
        || !send_frame(ws, &ice).await
    {
        if let Ok(mut c) = peers.conns.lock() {
            c.remove(&id);
        }
        return None;
    }
    s.metrics.joins.inc();
    // The gateway's node gets a link to the newcomer over this socket.
    let _ = s.driver.send(Command::LinkUp { peer: id, tx }).await;
    Some((id, rx))
}

impl Peers {
    /// The ring position a peer that joined through another gateway of
    /// the ring keeps when it comes here (its gateway went away): the one
    /// its certificate names, if a trusted gateway issued that certificate
    /// for this very key and it has not expired. Else the code to refuse
    /// the connection with.
    fn keeps_position(&self, cert: &NodeCert, key: &[u8; 32]) -> Result<RingId, &'static str> {
        if cert.node_key != *key {
            return Err("certificate-not-yours");
        }
        let trusted = self.trusted();
        if !trusted.contains(&cert.gateway_key) {
            return Err("certificate-untrusted");
        }
        // Gateways' own positions are derived from their keys.
        let a_gateways = cert.node_id == self.gateway_id
            || trusted.iter().any(|k| super::node_id_of(k) == cert.node_id);
        if cert.verify(now_ms()).is_err() || a_gateways {
            return Err("certificate-invalid");
        }
        Ok(cert.node_id)
    }
}

/// Whether `from` may relay `len` more bytes now; counts them if so.
fn relay_budget(conn: &mut Conn, limits: &Limits, len: usize) -> bool {
    conn.gateway
        || conn
            .relay
            .take(len, limits.relay_bytes_per_s, limits.relay_msgs_per_s)
}

/// Whether `from` may send the gateway's node `len` more bytes now.
fn ring_budget(s: &State, from: RingId, len: usize) -> bool {
    let limits = &s.peers.limits;
    let Ok(mut conns) = s.peers.conns.lock() else {
        return false;
    };
    conns.get_mut(&from).is_some_and(|c| {
        c.gateway
            || c.ring
                .take(len, limits.ring_bytes_per_s, limits.ring_msgs_per_s)
    })
}

fn relay(s: &State, from: RingId, to: RingId, bytes: Vec<u8>) {
    let Ok(mut conns) = s.peers.conns.lock() else {
        return;
    };
    let limits = &s.peers.limits;
    let allowed = conns
        .get_mut(&from)
        .is_some_and(|c| relay_budget(c, limits, bytes.len()));
    if !allowed {
        s.metrics.relay_dropped.inc();
        return;
    }
    let len = bytes.len() as u64;
    match conns.get(&to) {
        Some(dest) => {
            let _ = dest.tx.send(Frame::Relay { peer: from, bytes }.encode());
            s.metrics.relayed.inc();
            s.metrics.relayed_bytes.add(len);
        }
        None => {
            if let Some(src) = conns.get(&from) {
                let _ = src.tx.send(Frame::NoRoute { peer: to }.encode());
            }
        }
    }
}

async fn run_peer(mut ws: WebSocket, id: RingId, mut rx: Outbox, s: &Arc<State>) {
    // One task per connection, reading and writing: an idle peer costs one
    // small future, one small read buffer and its queue. While a write
    // waits for a client that does not read, nothing is read from it
    // either; its queue fills, and the overflow ends the write.
    let mut reason = None;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Ok(Some(frame)) => {
                    let sent = tokio::select! {
                        r = ws.send(Message::binary(frame)) => r.is_ok(),
                        _ = rx.overflowed() => {
                            reason = Some("send-queue-full");
                            false
                        }
                    };
                    if !sent {
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    reason = Some("send-queue-full");
                    break;
                }
            },
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else { break };
                if msg.is_close() {
                    break;
                }
                let Some(bytes) = binary(&msg) else { continue };
                match Frame::decode(bytes) {
                    Ok(Frame::Ring(bytes)) if !ring_budget(s, id, bytes.len()) => {
                        s.metrics.ring_dropped.inc();
                    }
                    Ok(Frame::Ring(bytes)) => {
                        if s.driver.send(Command::Receive { peer: id, bytes }).await.is_err() {
                            break;
                        }
                    }
                    Ok(Frame::Relay { peer, bytes }) => relay(s, id, peer, bytes),
                    Ok(_) => {
                        reason = Some("unexpected-frame");
                        break;
                    }
                    Err(_) => {
                        reason = Some("malformed-frame");
                        break;
                    }
                }
            }
        }
    }
    if let Ok(mut c) = s.peers.conns.lock() {
        c.remove(&id);
    }
    s.peers.release(id);
    if let Some(code) = reason {
        s.metrics.disconnected.inc();
        tracing::info!(peer = %id, "disconnecting peer: {code}");
        refuse(&mut ws, code).await;
    }
    let _ = s.driver.send(Command::LinkDown(id)).await;
    close(&mut ws).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Conn {
        Conn {
            tx: outbox(1).0,
            gateway: false,
            relay: Window::new(),
            ring: Window::new(),
        }
    }

    #[test]
    fn a_newcomer_never_takes_the_id_of_a_peer_that_just_left() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let trust = Arc::new(TrustList::new([1; 32], Vec::new()));
        let peers = Peers::new(RingId::ZERO, key, Limits::default(), trust);
        let mut conns = HashMap::new();
        let first = peers.assign(&conns);
        conns.insert(first, conn());
        let second = peers.assign(&conns);
        conns.insert(second, conn());
        let third = peers.assign(&conns);
        conns.insert(third, conn());
        assert_eq!(conns.len(), 3);
        // The first (between the other two, evenly spaced) leaves: the
        // largest gap is now centred on its old id.
        conns.remove(&first);
        let unreleased = peers.assign(&conns);
        assert_eq!(unreleased, first, "the layout this test relies on");
        peers.release(first);
        let next = peers.assign(&conns);
        assert!(![first, second, third].contains(&next));
    }
}
