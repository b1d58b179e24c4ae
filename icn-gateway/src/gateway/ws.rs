//! `GET /ws`: peers join the ring through the gateway (spec/bootstrap.md).
//!
//! Each connection proves its node key, receives a certified ring position
//! (the middle of the largest gap between the gateway and the peers connected
//! to it, which keeps the ring balanced and stops peers choosing their own
//! position), and then carries ring messages between the peer and the
//! gateway's node. Until two peers have a direct link, the gateway relays
//! ring messages between its peers, within a byte and message budget per peer.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use futures_util::{SinkExt, StreamExt};
use icn_core::bootstrap::{verify_join, Frame, NodeCert};
use icn_core::RingId;
use tokio::sync::mpsc;
use warp::ws::{Message, WebSocket};

use super::driver::Command;
use super::http::State;

/// Connections allowed from one IP address.
pub const MAX_PER_ADDR: usize = 256;
/// Relay budget per peer and second: bytes.
pub const RELAY_BYTES_PER_S: u64 = 4 * 1024 * 1024;
/// Relay budget per peer and second: messages.
pub const RELAY_MSGS_PER_S: u64 = 2000;
/// Node certificates are valid this long.
const CERT_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Time a client has to answer the challenge.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

struct Conn {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    window: Instant,
    bytes: u64,
    msgs: u64,
}

/// The peers connected to this gateway.
pub struct Peers {
    gateway_id: RingId,
    key: SigningKey,
    conns: Mutex<HashMap<RingId, Conn>>,
    per_addr: Mutex<HashMap<IpAddr, usize>>,
}

impl Peers {
    /// An empty registry for the gateway with this id and key.
    pub fn new(gateway_id: RingId, key: SigningKey) -> Peers {
        Peers {
            gateway_id,
            key,
            conns: Mutex::new(HashMap::new()),
            per_addr: Mutex::new(HashMap::new()),
        }
    }

    /// Number of connected peers.
    pub fn count(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// The middle of the largest gap between the gateway and its peers.
    fn assign(&self, conns: &HashMap<RingId, Conn>) -> RingId {
        let ids: BTreeSet<RingId> = conns.keys().copied().chain([self.gateway_id]).collect();
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

/// Serves one WebSocket connection from `addr`.
pub async fn serve(mut ws: WebSocket, addr: Option<IpAddr>, s: Arc<State>) {
    let peers = &s.peers;
    let ip = addr.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let admitted = match peers.per_addr.lock() {
        Ok(mut per) => {
            let n = per.entry(ip).or_insert(0);
            *n += 1;
            *n <= MAX_PER_ADDR
        }
        Err(_) => false,
    };
    if !admitted {
        let _ = send_frame(
            &mut ws,
            &Frame::Error {
                code: "too-many-connections".into(),
            },
        )
        .await;
        let _ = ws.close().await;
    } else if let Some((id, rx)) = handshake(&mut ws, &s).await {
        run_peer(ws, id, rx, &s).await;
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
/// and the receiving end of its outgoing frame queue.
async fn handshake(
    ws: &mut WebSocket,
    s: &Arc<State>,
) -> Option<(RingId, mpsc::UnboundedReceiver<Vec<u8>>)> {
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
        Ok(Some(Ok(m))) if m.is_binary() => Frame::decode(m.as_bytes()).ok(),
        _ => None,
    };
    let Some(Frame::Hello { key, signature }) = hello else {
        let _ = send_frame(
            ws,
            &Frame::Error {
                code: "expected-hello".into(),
            },
        )
        .await;
        return None;
    };
    if verify_join(&nonce, &key, &signature).is_err() {
        let _ = send_frame(
            ws,
            &Frame::Error {
                code: "bad-proof".into(),
            },
        )
        .await;
        return None;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let id = {
        let mut conns = peers.conns.lock().ok()?;
        let id = peers.assign(&conns);
        conns.insert(
            id,
            Conn {
                tx: tx.clone(),
                window: Instant::now(),
                bytes: 0,
                msgs: 0,
            },
        );
        id
    };
    let cert = NodeCert::issue(
        &peers.key,
        id,
        key,
        now_ms() + CERT_LIFETIME.as_millis() as u64,
    );
    if !send_frame(ws, &Frame::Welcome(cert)).await {
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

/// Whether `from` may relay `len` more bytes now; counts them if so.
fn relay_budget(conn: &mut Conn, len: usize) -> bool {
    if conn.window.elapsed() >= Duration::from_secs(1) {
        conn.window = Instant::now();
        conn.bytes = 0;
        conn.msgs = 0;
    }
    if conn.bytes + len as u64 > RELAY_BYTES_PER_S || conn.msgs + 1 > RELAY_MSGS_PER_S {
        return false;
    }
    conn.bytes += len as u64;
    conn.msgs += 1;
    true
}

fn relay(s: &State, from: RingId, to: RingId, bytes: Vec<u8>) {
    let Ok(mut conns) = s.peers.conns.lock() else {
        return;
    };
    let allowed = conns
        .get_mut(&from)
        .is_some_and(|c| relay_budget(c, bytes.len()));
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

async fn run_peer(
    ws: WebSocket,
    id: RingId,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    s: &Arc<State>,
) {
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink.send(Message::binary(frame)).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut reason = None;
    while let Some(msg) = stream.next().await {
        let Ok(msg) = msg else { break };
        if msg.is_close() {
            break;
        }
        if !msg.is_binary() {
            continue;
        }
        match Frame::decode(msg.as_bytes()) {
            Ok(Frame::Ring(bytes)) => {
                if s.driver
                    .send(Command::Receive { peer: id, bytes })
                    .await
                    .is_err()
                {
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
    let tx = s
        .peers
        .conns
        .lock()
        .ok()
        .and_then(|mut c| c.remove(&id))
        .map(|c| c.tx);
    if let (Some(code), Some(tx)) = (reason, &tx) {
        tracing::info!(peer = %id, "disconnecting peer: {code}");
        let _ = tx.send(Frame::Error { code: code.into() }.encode());
    }
    drop(tx);
    let _ = s.driver.send(Command::LinkDown(id)).await;
    let _ = writer.await;
}
