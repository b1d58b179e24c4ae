//! A native peer: the `icn-core` node driven by tokio, joined to a gateway
//! over its `/ws` bootstrap connection (spec/bootstrap.md).
//!
//! The driver is the same shape as the gateway's and the browser's: one task
//! owns the node, feeds it what arrives (frames from the gateway, commands
//! from the application, its own deadlines) and performs what it outputs.
//! Until direct links exist (WebRTC, in a later issue), every link to another
//! peer is *relayed* by the gateway: a dial succeeds at once, and the gateway
//! answers `NoRoute` for peers it does not know, which closes the link.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use icn_core::bootstrap::{join_message, Frame, NodeCert};
use icn_core::node::{Config, Event, Input, Node, Output, RequestError, RingView};
use icn_core::{Name, RingId, SignedObject};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Why a peer could not join.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The WebSocket could not be opened or broke during the handshake.
    #[error("{url}: {reason}")]
    Connect {
        /// The gateway URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The gateway sent something unexpected or an invalid certificate.
    #[error("{url}: bootstrap failed: {reason}")]
    Handshake {
        /// The gateway URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

enum Cmd {
    Publish(Box<SignedObject>, oneshot::Sender<Result<(), RequestError>>),
    Get(Name, oneshot::Sender<Result<SignedObject, RequestError>>),
    Status(oneshot::Sender<RingView>),
    Leave(oneshot::Sender<()>),
}

/// A running native peer.
pub struct Peer {
    id: RingId,
    cert: NodeCert,
    tx: mpsc::Sender<Cmd>,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_frame(ws: &mut Ws) -> Result<Frame, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => return Frame::decode(&b).map_err(|e| e.to_string()),
            Some(Ok(Message::Close(_))) | None => return Err("connection closed".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
        }
    }
}

impl Peer {
    /// Connects to `url` (e.g. `ws://127.0.0.1:8080/ws`), proves `key`,
    /// receives a certified ring position and starts joining the ring.
    pub async fn join(url: &str, key: SigningKey, cfg: Config) -> Result<Peer, PeerError> {
        let hs = |reason: String| PeerError::Handshake {
            url: url.to_string(),
            reason,
        };
        let (mut ws, _) =
            tokio_tungstenite::connect_async(url)
                .await
                .map_err(|e| PeerError::Connect {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
        let Frame::Challenge {
            nonce,
            gateway_key,
            gateway_id,
        } = next_frame(&mut ws).await.map_err(hs)?
        else {
            return Err(hs("expected a challenge".into()));
        };
        let my_key = key.verifying_key().to_bytes();
        let signature = key.sign(&join_message(&nonce, &my_key)).to_bytes();
        ws.send(Message::binary(
            Frame::Hello {
                key: my_key,
                signature,
            }
            .encode(),
        ))
        .await
        .map_err(|e| hs(e.to_string()))?;
        let cert = match next_frame(&mut ws).await.map_err(hs)? {
            Frame::Welcome(c) => c,
            Frame::Error { code } => return Err(hs(format!("refused: {code}"))),
            _ => return Err(hs("expected a welcome".into())),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        cert.verify(now)
            .map_err(|e| hs(format!("certificate: {e}")))?;
        if cert.gateway_key != gateway_key || cert.node_key != my_key {
            return Err(hs("certificate is not for this gateway and key".into()));
        }
        let id = cert.node_id;
        let (tx, rx) = mpsc::channel(256);
        let node = Node::new(id, cfg);
        tokio::spawn(run(node, gateway_id, ws, rx));
        Ok(Peer { id, cert, tx })
    }

    /// This peer's ring position.
    pub fn id(&self) -> RingId {
        self.id
    }

    /// The gateway's certificate for this peer.
    pub fn certificate(&self) -> &NodeCert {
        &self.cert
    }

    /// Publishes an object into the ring.
    pub async fn publish(&self, obj: SignedObject) -> Result<(), RequestError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Publish(Box::new(obj), tx))
            .await
            .map_err(|_| RequestError::NotJoined)?;
        rx.await.map_err(|_| RequestError::NotJoined)?
    }

    /// Fetches and verifies the newest object under `name`.
    pub async fn get(&self, name: &Name) -> Result<SignedObject, RequestError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Get(name.clone(), tx))
            .await
            .map_err(|_| RequestError::NotJoined)?;
        rx.await.map_err(|_| RequestError::NotJoined)?
    }

    /// The node's ring state.
    pub async fn status(&self) -> Option<RingView> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Cmd::Status(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Leaves gracefully (hands keys over) and closes the connection.
    pub async fn leave(self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Leave(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

enum Waiter {
    Put(oneshot::Sender<Result<(), RequestError>>),
    Get(oneshot::Sender<Result<SignedObject, RequestError>>),
}

async fn run(mut node: Node, gw: RingId, ws: Ws, mut rx: mpsc::Receiver<Cmd>) {
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    let (mut sink, mut stream) = ws.split();
    let mut relayed: HashSet<RingId> = HashSet::new();
    let mut waiters: std::collections::HashMap<u64, Waiter> = Default::default();
    let mut leaving: Option<oneshot::Sender<()>> = None;
    let _ = node.handle_input(Input::LinkUp(now(), gw));
    node.join(now(), gw);
    loop {
        let mut out: Vec<Frame> = Vec::new();
        let deadline = loop {
            match node.poll_output() {
                Output::Transmit(t) if t.to == gw => out.push(Frame::Ring(t.bytes)),
                Output::Transmit(t) => out.push(Frame::Relay {
                    peer: t.to,
                    bytes: t.bytes,
                }),
                // Relayed links need no set-up: a dial succeeds at once, and
                // the gateway's NoRoute answer closes it if the peer is unknown.
                Output::Event(Event::Dial(p)) => {
                    if p != gw {
                        relayed.insert(p);
                    }
                    let _ = node.handle_input(Input::LinkUp(now(), p));
                }
                Output::Event(Event::Hangup(p)) => {
                    relayed.remove(&p);
                }
                Output::Event(Event::GetDone { req, result, .. }) => {
                    if let Some(Waiter::Get(tx)) = waiters.remove(&req) {
                        let _ = tx.send(result);
                    }
                }
                Output::Event(Event::PublishDone { req, result, .. }) => {
                    if let Some(Waiter::Put(tx)) = waiters.remove(&req) {
                        let _ = tx.send(result);
                    }
                }
                Output::Event(_) => {}
                Output::Timeout(at) => break at,
            }
        };
        for f in out {
            if sink.send(Message::binary(f.encode())).await.is_err() {
                return;
            }
        }
        if let Some(done) = leaving.take() {
            let _ = sink.close().await;
            let _ = done.send(());
            return;
        }
        let sleep = Duration::from_millis(deadline.saturating_sub(now()).min(3_600_000));
        tokio::select! {
            msg = stream.next() => {
                let t = now();
                match msg {
                    Some(Ok(Message::Binary(b))) => match Frame::decode(&b) {
                        Ok(Frame::Ring(bytes)) => { let _ = node.handle_input(Input::Receive(t, gw, &bytes)); }
                        Ok(Frame::Relay { peer, bytes }) => {
                            if relayed.insert(peer) {
                                let _ = node.handle_input(Input::LinkUp(t, peer));
                            }
                            let _ = node.handle_input(Input::Receive(t, peer, &bytes));
                        }
                        Ok(Frame::NoRoute { peer }) => {
                            relayed.remove(&peer);
                            let _ = node.handle_input(Input::LinkDown(t, peer));
                        }
                        Ok(Frame::Error { code }) => {
                            tracing::warn!("gateway closed the connection: {code}");
                            return;
                        }
                        _ => {}
                    },
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                }
            }
            cmd = rx.recv() => {
                let t = now();
                match cmd {
                    Some(Cmd::Publish(o, tx)) => { let req = node.publish(t, *o); waiters.insert(req, Waiter::Put(tx)); }
                    Some(Cmd::Get(n, tx)) => { let req = node.get(t, &n); waiters.insert(req, Waiter::Get(tx)); }
                    Some(Cmd::Status(tx)) => { let _ = tx.send(node.ring_view()); }
                    Some(Cmd::Leave(tx)) => { node.leave(t); leaving = Some(tx); }
                    None => return,
                }
            }
            _ = tokio::time::sleep(sleep) => {
                let _ = node.handle_input(Input::Timeout(now()));
            }
        }
    }
}
