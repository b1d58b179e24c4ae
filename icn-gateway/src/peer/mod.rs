//! A native peer: the `icn-core` node driven by tokio, joined to a gateway
//! over its `/ws` bootstrap connection (spec/bootstrap.md).
//!
//! The driver is the same shape as the gateway's and the browser's: one task
//! owns the node, feeds it what arrives (frames from the gateway, datagrams
//! of its WebRTC links, commands from the application, its own deadlines)
//! and performs what it outputs. Links to other peers are WebRTC
//! DataChannels ([`rtc`], the protocol of spec/link.md, the same as the
//! browser's); while the gateway is there, its relay carries a link until the
//! DataChannel is up, and the peer keeps working when the gateway is gone.

pub mod rtc;

use std::collections::HashSet;
use std::net::SocketAddr;
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
    Get(
        Name,
        oneshot::Sender<(Result<SignedObject, RequestError>, u8)>,
    ),
    Status(oneshot::Sender<RingView>),
    Links(oneshot::Sender<Vec<(RingId, Transport)>>),
    Leave(oneshot::Sender<()>),
}

/// What carries a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// An authenticated WebRTC DataChannel.
    WebRtc,
    /// The WebSocket to the gateway (its own node).
    WebSocket,
    /// The gateway's relay.
    Relay,
}

impl Transport {
    /// `"webrtc"`, `"websocket"` or `"relay"`, as in the browser's `links()`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::WebRtc => "webrtc",
            Transport::WebSocket => "websocket",
            Transport::Relay => "relay",
        }
    }
}

/// A running native peer (a handle: clones talk to the same peer).
#[derive(Clone)]
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
        install_crypto();
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| hs(format!("cannot bind a UDP socket: {e}")))?;
        let local = udp.local_addr().map_err(|e| hs(e.to_string()))?;
        let links = rtc::RtcLinks::new(key, cert.clone(), local);
        let (tx, rx) = mpsc::channel(256);
        let node = Node::new(id, cfg);
        tokio::spawn(run(node, gateway_id, ws, udp, links, rx));
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
        self.get_with_hops(name).await.0
    }

    /// Like [`Peer::get`], with the hops the answering request took.
    pub async fn get_with_hops(&self, name: &Name) -> (Result<SignedObject, RequestError>, u8) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Get(name.clone(), tx)).await.is_err() {
            return (Err(RequestError::NotJoined), 0);
        }
        rx.await.unwrap_or((Err(RequestError::NotJoined), 0))
    }

    /// The node's ring state.
    pub async fn status(&self) -> Option<RingView> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Cmd::Status(tx)).await.ok()?;
        rx.await.ok()
    }

    /// The open links and what carries each.
    pub async fn links(&self) -> Vec<(RingId, Transport)> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Links(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Leaves gracefully (hands keys over) and closes the connection.
    pub async fn leave(self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Leave(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// str0m needs a process-wide crypto provider (aws-lc-rs here), once.
fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
}

enum Waiter {
    Put(oneshot::Sender<Result<(), RequestError>>),
    Get(oneshot::Sender<(Result<SignedObject, RequestError>, u8)>),
}

/// The peer's task: the node, its gateway connection and its WebRTC links.
struct Driver {
    node: Node,
    gw: RingId,
    start: Instant,
    /// Frames for the gateway, `None` once it is gone.
    to_gw: Option<Vec<Frame>>,
    relayed: HashSet<RingId>,
    links: rtc::RtcLinks,
    datagrams: Vec<(SocketAddr, Vec<u8>)>,
    waiters: std::collections::HashMap<u64, Waiter>,
}

impl Driver {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn input(&mut self, i: Input<'_>) {
        // A refused input leaves the node unchanged.
        let _ = self.node.handle_input(i);
    }

    fn carried(&self, p: &RingId) -> bool {
        *p == self.gw && self.to_gw.is_some() || self.relayed.contains(p) || self.links.is_open(p)
    }

    fn transmit(&mut self, to: RingId, bytes: Vec<u8>) {
        if self.links.is_open(&to) {
            self.links.send(&to, &bytes);
            return;
        }
        let frame = if to == self.gw {
            Frame::Ring(bytes)
        } else if self.relayed.contains(&to) {
            Frame::Relay { peer: to, bytes }
        } else {
            return; // no carrier: the node notices by its timeouts
        };
        if let Some(q) = &mut self.to_gw {
            q.push(frame);
        }
    }

    /// Drains the node and the links until both are quiet; returns the
    /// earliest deadline of either.
    fn pump(&mut self) -> Instant {
        loop {
            let node_at = loop {
                match self.node.poll_output() {
                    Output::Transmit(t) => self.transmit(t.to, t.bytes),
                    Output::Event(e) => self.on_event(e),
                    Output::Timeout(at) => break at,
                }
            };
            let mut events = Vec::new();
            let now = Instant::now();
            let rtc_at = self.links.poll(now, &mut self.datagrams, &mut events);
            let quiet = events.is_empty();
            for e in events {
                self.on_link(e);
            }
            if quiet {
                let node_at =
                    self.start + Duration::from_millis(node_at.min(self.now() + 3_600_000));
                return rtc_at.map_or(node_at, |r| r.min(node_at));
            }
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::Dial(p) => self.dial(p),
            Event::Hangup(p) => {
                self.relayed.remove(&p);
                self.links.close(&p);
            }
            Event::Signal { from, bytes } => {
                if let Some(answer) = self.links.handle_signal(from, &bytes, Instant::now()) {
                    let t = self.now();
                    self.node.signal(t, from, answer);
                }
            }
            Event::GetDone { req, result, hops } => {
                if let Some(Waiter::Get(tx)) = self.waiters.remove(&req) {
                    let _ = tx.send((result, hops));
                }
            }
            Event::PublishDone { req, result, .. } => {
                if let Some(Waiter::Put(tx)) = self.waiters.remove(&req) {
                    let _ = tx.send(result);
                }
            }
            _ => {}
        }
    }

    /// As in the browser: the gateway's relay carries the link at once while
    /// a DataChannel is set up beside it; without the gateway, the link is up
    /// when the DataChannel is.
    fn dial(&mut self, p: RingId) {
        let t = self.now();
        if self.carried(&p) {
            return self.input(Input::LinkUp(t, p));
        }
        let relay = self.to_gw.is_some() && p != self.gw;
        if relay {
            self.relayed.insert(p);
            self.input(Input::LinkUp(t, p));
        }
        let offered = self.links.has(&p)
            || match self.links.start_offer(p, Instant::now()) {
                Some(signal) => {
                    self.node.signal(t, p, signal);
                    true
                }
                None => false,
            };
        if !offered && !relay {
            self.input(Input::LinkDown(t, p));
        }
    }

    fn on_link(&mut self, e: rtc::LinkEvent) {
        let t = self.now();
        match e {
            rtc::LinkEvent::Opened(p) => {
                if !self.relayed.remove(&p) {
                    self.input(Input::LinkUp(t, p));
                }
            }
            rtc::LinkEvent::Closed(p, was_open) => {
                if was_open && !self.carried(&p) {
                    self.input(Input::LinkDown(t, p));
                }
            }
            rtc::LinkEvent::Message(p, m) => self.input(Input::Receive(t, p, &m)),
        }
    }

    fn on_frame(&mut self, f: Frame) {
        let (t, gw) = (self.now(), self.gw);
        match f {
            Frame::Ring(bytes) => self.input(Input::Receive(t, gw, &bytes)),
            Frame::Relay { peer, bytes } => {
                if !self.carried(&peer) {
                    self.relayed.insert(peer);
                    self.input(Input::LinkUp(t, peer));
                }
                self.input(Input::Receive(t, peer, &bytes));
            }
            Frame::NoRoute { peer } => {
                let was = self.relayed.remove(&peer);
                if was && !self.carried(&peer) {
                    self.input(Input::LinkDown(t, peer));
                }
            }
            Frame::Error { code } => {
                tracing::warn!("gateway closed the connection: {code}");
                self.gateway_gone();
            }
            _ => {}
        }
    }

    /// The gateway is gone: its node and the relayed links are down;
    /// DataChannels carry on.
    fn gateway_gone(&mut self) {
        if self.to_gw.take().is_none() {
            return;
        }
        let t = self.now();
        let gw = self.gw;
        self.input(Input::LinkDown(t, gw));
        for p in std::mem::take(&mut self.relayed) {
            self.input(Input::LinkDown(t, p));
        }
    }

    fn links_view(&self) -> Vec<(RingId, Transport)> {
        self.node
            .ring_view()
            .links
            .into_iter()
            .filter_map(|p| {
                let tr = if p == self.gw && self.to_gw.is_some() {
                    Transport::WebSocket
                } else if self.links.is_open(&p) {
                    Transport::WebRtc
                } else if self.relayed.contains(&p) {
                    Transport::Relay
                } else {
                    return None;
                };
                Some((p, tr))
            })
            .collect()
    }
}

async fn run(
    node: Node,
    gw: RingId,
    ws: Ws,
    udp: tokio::net::UdpSocket,
    links: rtc::RtcLinks,
    mut rx: mpsc::Receiver<Cmd>,
) {
    let (mut sink, mut stream) = ws.split();
    // Writing to the gateway happens in its own task: a loop that awaited
    // its writes while the gateway awaited its own writes to us would
    // deadlock once both buffers filled.
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Message>();
    tokio::spawn(async move {
        while let Some(m) = wrx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut d = Driver {
        node,
        gw,
        start: Instant::now(),
        to_gw: Some(Vec::new()),
        relayed: HashSet::new(),
        links,
        datagrams: Vec::new(),
        waiters: Default::default(),
    };
    let mut leaving: Option<oneshot::Sender<()>> = None;
    let t = d.now();
    d.input(Input::LinkUp(t, gw));
    d.node.join(t, gw);
    let mut buf = vec![0u8; 2048];
    loop {
        let wake = d.pump();
        for (to, bytes) in d.datagrams.drain(..) {
            let _ = udp.send_to(&bytes, to).await;
        }
        let frames = d.to_gw.as_mut().map(std::mem::take).unwrap_or_default();
        for f in frames {
            if wtx.send(Message::binary(f.encode())).is_err() {
                d.gateway_gone();
                break;
            }
        }
        if let Some(done) = leaving.take() {
            // Let the hand-off leave over the DataChannels, then stop.
            let until = Instant::now() + Duration::from_millis(300);
            while Instant::now() < until {
                d.pump();
                for (to, bytes) in d.datagrams.drain(..) {
                    let _ = udp.send_to(&bytes, to).await;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            drop(wtx); // the writer sends what is queued, then closes
            let _ = done.send(());
            return;
        }
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(wake));
        tokio::select! {
            msg = stream.next(), if d.to_gw.is_some() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    if let Ok(f) = Frame::decode(&b) {
                        d.on_frame(f);
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => d.gateway_gone(),
                Some(Ok(_)) => {}
            },
            r = udp.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    d.links.handle_datagram(Instant::now(), from, &buf[..n]);
                }
            }
            cmd = rx.recv() => {
                let t = d.now();
                match cmd {
                    Some(Cmd::Publish(o, tx)) => { let req = d.node.publish(t, *o); d.waiters.insert(req, Waiter::Put(tx)); }
                    Some(Cmd::Get(n, tx)) => { let req = d.node.get(t, &n); d.waiters.insert(req, Waiter::Get(tx)); }
                    Some(Cmd::Status(tx)) => { let _ = tx.send(d.node.ring_view()); }
                    Some(Cmd::Links(tx)) => { let _ = tx.send(d.links_view()); }
                    Some(Cmd::Leave(tx)) => { d.node.leave(t); leaving = Some(tx); }
                    None => return,
                }
            }
            _ = sleep => {
                let t = d.now();
                d.input(Input::Timeout(t));
            }
        }
    }
}
