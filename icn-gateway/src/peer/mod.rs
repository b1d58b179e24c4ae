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

pub mod host;
mod ice;
pub mod outbox;
pub mod rtc;
pub mod stun;
pub mod turn;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use icn_core::bootstrap::{join_message, Frame, NodeCert, MAX_FRAME_SIZE};
use icn_core::ice::IceServer;
use icn_core::node::{Config, Event, Input, Node, RequestError, RingView, Stats};
use icn_core::{Name, RingId, SignedObject};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use host::Host;
use ice::Ice;

/// Why a peer could not join.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The WebSocket could not be opened or broke during the handshake.
    #[error("{url}: {reason}{}", crate::tls::hint(reason))]
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
    Stats(oneshot::Sender<Stats>),
    Links(oneshot::Sender<Vec<(RingId, Transport)>>),
    Send(RingId, Vec<u8>),
    Inbox(mpsc::Sender<(RingId, Vec<u8>)>),
    Leave(oneshot::Sender<()>),
}

/// Application messages held for [`Peer::messages`] before the oldest are
/// dropped (the reader is too slow).
pub const INBOX_LEN: usize = 1024;

/// What carries a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// An authenticated WebRTC DataChannel.
    WebRtc,
    /// The WebSocket to the gateway (its own node).
    WebSocket,
    /// The gateway's relay.
    Relay,
    /// An authenticated WebRTC DataChannel through a TURN relay.
    Turn,
}

impl Transport {
    /// `"webrtc"`, `"websocket"` or `"relay"`, as in the browser's `links()`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::WebRtc => "webrtc",
            Transport::WebSocket => "websocket",
            Transport::Relay => "relay",
            Transport::Turn => "turn",
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

/// A client WebSocket to a gateway.
pub type Ws =
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

/// The bootstrap handshake (spec/bootstrap.md) over a new WebSocket to
/// `url`: returns the connection, the checked certificate and the gateway's
/// ring position.
pub async fn handshake(url: &str, key: &SigningKey) -> Result<(Ws, NodeCert, RingId), PeerError> {
    handshake_keeping(url, key, None).await
}

/// [`handshake`] for a peer that is in the ring already: `earlier` is its
/// certificate from another gateway of the ring, which keeps its position
/// (spec/bootstrap.md, "Joining again elsewhere").
pub async fn handshake_keeping(
    url: &str,
    key: &SigningKey,
    earlier: Option<NodeCert>,
) -> Result<(Ws, NodeCert, RingId), PeerError> {
    let keep = earlier.as_ref().map(|c| c.node_id);
    let hs = |reason: String| PeerError::Handshake {
        url: url.to_string(),
        reason,
    };
    // tungstenite zeroes its whole read buffer (128 KiB by default) before
    // every read attempt: a small one keeps an idle peer cheap.
    let mut config = WebSocketConfig::default();
    config.read_buffer_size = 16 * 1024;
    config.max_message_size = Some(MAX_FRAME_SIZE);
    config.max_frame_size = Some(MAX_FRAME_SIZE);
    let tls = crate::tls::process_config().map_err(|reason| PeerError::Connect {
        url: url.to_string(),
        reason,
    })?;
    let tls = tokio_tungstenite::Connector::Rustls(tls);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(url, Some(config), false, Some(tls))
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
            cert: earlier,
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
    cert.verify(now_ms())
        .map_err(|e| hs(format!("certificate: {e}")))?;
    if cert.gateway_key != gateway_key || cert.node_key != my_key {
        return Err(hs("certificate is not for this gateway and key".into()));
    }
    if keep.is_some_and(|id| id != cert.node_id) {
        return Err(hs(
            "the gateway did not keep this node's ring position".into()
        ));
    }
    Ok((ws, cert, gateway_id))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Peer {
    /// Connects to `url` (e.g. `ws://127.0.0.1:8080/ws`), proves `key`,
    /// receives a certified ring position and starts joining the ring.
    pub async fn join(url: &str, key: SigningKey, cfg: Config) -> Result<Peer, PeerError> {
        Peer::join_any(&[url.to_string()], key, cfg).await
    }

    /// Like [`Peer::join`], through the first of `urls` (gateways of one
    /// ring) that answers. Should its gateway connection end, it connects
    /// to the next of them that answers, on the schedule of
    /// `icn_core::link::reconnect` (soon when it is stranded: no link left,
    /// no member), keeping its ring position, its store and its handle.
    pub async fn join_any(
        urls: &[String],
        key: SigningKey,
        cfg: Config,
    ) -> Result<Peer, PeerError> {
        Peer::join_with_ice(urls, key, cfg, None).await
    }

    /// Like [`Peer::join_any`]; with `ice`, the STUN servers to learn this
    /// peer's public address from instead of the ones its gateway offers.
    pub async fn join_with_ice(
        urls: &[String],
        key: SigningKey,
        cfg: Config,
        given: Option<Vec<IceServer>>,
    ) -> Result<Peer, PeerError> {
        let Some(first_url) = urls.first() else {
            return Err(PeerError::Connect {
                url: String::new(),
                reason: "no gateway URL".into(),
            });
        };
        let mut joined = Err(PeerError::Connect {
            url: first_url.clone(),
            reason: "not tried".into(),
        });
        let mut at = 0;
        // A gateway that says `join-rate` has let in as many peers as it
        // takes this second (from this address, or from everyone): ask
        // again a little later, as spec/bootstrap.md says to.
        for attempt in 0..JOIN_RATE_RETRIES {
            for (i, url) in urls.iter().enumerate() {
                joined = handshake(url, &key).await;
                if joined.is_ok() {
                    at = i;
                    break;
                }
            }
            let busy = matches!(&joined, Err(PeerError::Handshake { reason, .. })
                if reason.ends_with("join-rate"));
            if !busy {
                break;
            }
            let wait = 500 + 250 * u64::from(attempt) + getrandom::u64().unwrap_or(0) % 500;
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        let (ws, cert, gateway_id) = joined?;
        let url = &urls[at];
        let hs = |reason: String| PeerError::Handshake {
            url: url.to_string(),
            reason,
        };
        let id = cert.node_id;
        install_crypto();
        // The interface that reaches the gateway is the one other peers are
        // likeliest to reach too (loopback only when the gateway is there).
        let ip = local_ip(&ws).unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        let udp = tokio::net::UdpSocket::bind((ip, 0))
            .await
            .map_err(|e| hs(format!("cannot bind a UDP socket on {ip}: {e}")))?;
        let local = udp.local_addr().map_err(|e| hs(e.to_string()))?;
        let links = rtc::RtcLinks::new(key.clone(), cert.clone(), local);
        let (tx, rx) = mpsc::channel(256);
        let node = Node::new(id, cfg);
        let span = tracing::debug_span!("peer", me = %id);
        let gateways = Gateways {
            urls: urls.to_vec(),
            next: at + 1,
            key,
            cert: cert.clone(),
        };
        let mut ice = Ice::new(given.is_some(), ip.is_ipv4());
        if let Some(servers) = &given {
            ice.learn(servers).await;
        }
        tokio::spawn(tracing::Instrument::instrument(
            run(node, gateway_id, ws, udp, links, rx, gateways, ice),
            span,
        ));
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

    /// The node's counters.
    pub async fn stats(&self) -> Option<Stats> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Cmd::Stats(tx)).await.ok()?;
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

    /// Routes `bytes` to the node `to` through the ring (the JS API's
    /// `send`): sent once, not acknowledged.
    pub async fn send(&self, to: RingId, bytes: Vec<u8>) -> Result<(), RequestError> {
        self.tx
            .send(Cmd::Send(to, bytes))
            .await
            .map_err(|_| RequestError::NotJoined)
    }

    /// From now on, application messages routed to this peer arrive here as
    /// `(from, bytes)` (the JS API's `onmessage`; a later call takes them
    /// over). At most [`INBOX_LEN`] wait; more are dropped.
    pub async fn messages(&self) -> mpsc::Receiver<(RingId, Vec<u8>)> {
        let (tx, rx) = mpsc::channel(INBOX_LEN);
        let _ = self.tx.send(Cmd::Inbox(tx)).await;
        rx
    }

    /// Leaves gracefully (hands keys over) and closes the connection.
    pub async fn leave(self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Leave(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// The local address of the connection to the gateway.
fn local_ip(ws: &Ws) -> Option<std::net::IpAddr> {
    match ws.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => s.local_addr().ok().map(|a| a.ip()),
        tokio_tungstenite::MaybeTlsStream::Rustls(s) => {
            s.get_ref().0.local_addr().ok().map(|a| a.ip())
        }
        _ => None,
    }
}

/// str0m needs a process-wide crypto provider (aws-lc-rs here), once.
pub(crate) fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
}

/// 32 bytes from the OS's generator: the secret a node's request ids are
/// derived from (`icn_core::node::Config::secret`).
pub(crate) fn random_secret() -> Result<[u8; 32], crate::keyfile::KeyFileError> {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).map_err(|e| crate::keyfile::KeyFileError::Random(e.to_string()))?;
    Ok(s)
}

enum Waiter {
    Put(oneshot::Sender<Result<(), RequestError>>),
    Get(oneshot::Sender<(Result<SignedObject, RequestError>, u8)>),
}

#[derive(Default)]
struct Waiters {
    requests: HashMap<u64, Waiter>,
    inbox: Option<mpsc::Sender<(RingId, Vec<u8>)>>,
}

fn on_event(w: &mut Waiters, e: Event) {
    let waiters = &mut w.requests;
    match e {
        Event::GetDone { req, result, hops } => {
            if let Some(Waiter::Get(tx)) = waiters.remove(&req) {
                let _ = tx.send((result, hops));
            }
        }
        Event::PublishDone { req, result, .. } => {
            if let Some(Waiter::Put(tx)) = waiters.remove(&req) {
                let _ = tx.send(result);
            }
        }
        Event::Message { from, bytes } => {
            if let Some(inbox) = &w.inbox {
                let _ = inbox.try_send((from, bytes));
            }
        }
        _ => {}
    }
}

/// What the reader of a connection to a gateway passes on.
pub(crate) type Incoming = Result<Message, tokio_tungstenite::tungstenite::Error>;

/// Splits a connection to a gateway: what is sent to the returned channel
/// is written by a task of its own (a loop that awaited its writes while the
/// gateway awaited its own writes to us would deadlock once both buffers
/// filled); it closes the connection when the channel is dropped. What
/// arrives is read by another task, which the socket wakes only when there is
/// something to read (polled in the peer's loop, the WebSocket was read at
/// every wake-up of the peer).
pub(crate) fn split_upstream(ws: Ws) -> (mpsc::UnboundedSender<Message>, mpsc::Receiver<Incoming>) {
    let (mut sink, mut stream) = ws.split();
    let (itx, irx) = mpsc::channel::<Incoming>(64);
    tokio::spawn(async move {
        while let Some(m) = stream.next().await {
            let end = m.is_err();
            if itx.send(m).await.is_err() || end {
                break;
            }
        }
    });
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Message>();
    tokio::spawn(async move {
        while let Some(m) = wrx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    (wtx, irx)
}

/// Times a join refused with `join-rate` is asked again, a second or so
/// apart, before the refusal stands.
const JOIN_RATE_RETRIES: u32 = 10;

/// How often the driver checks its gateway connection.
const STRANDED_CHECK: Duration = Duration::from_millis(500);

/// The gateways a peer may join (again) through.
struct Gateways {
    urls: Vec<String>,
    /// The one to try next.
    next: usize,
    key: SigningKey,
    /// The peer's current certificate (it keeps its position with it).
    cert: NodeCert,
}

type Rejoined = Result<(Ws, NodeCert, RingId), PeerError>;

impl Gateways {
    /// Connects to the next gateway in the background, keeping the peer's
    /// ring position.
    fn connect_next(&mut self) -> oneshot::Receiver<Rejoined> {
        let url = self.urls[self.next % self.urls.len()].clone();
        self.next += 1;
        let (key, cert) = (self.key.clone(), self.cert.clone());
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let _ = tx.send(handshake_keeping(&url, &key, Some(cert)).await);
        });
        rx
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    node: Node,
    gw: RingId,
    ws: Ws,
    udp: tokio::net::UdpSocket,
    links: rtc::RtcLinks,
    mut rx: mpsc::Receiver<Cmd>,
    mut gateways: Gateways,
    mut ice: Ice,
) {
    let (mut wtx, mut stream) = split_upstream(ws);
    let mut h = Host::new(node, links, Some(gw));
    let mut waiters = Waiters::default();
    let mut leaving: Option<oneshot::Sender<()>> = None;
    let t = h.now();
    h.input(Input::LinkUp(t, gw));
    h.node.join(t, gw);
    let mut buf = vec![0u8; 2048];
    let mut next_check = Instant::now() + STRANDED_CHECK;
    let mut reconnect = icn_core::link::reconnect::Reconnect::new();
    let mut connected = true;
    // Whether the peer was stranded when the try under way began.
    let mut try_stranded = false;
    let mut rejoining: Option<oneshot::Receiver<Rejoined>> = None;
    loop {
        let wake = h.pump(&mut |e| on_event(&mut waiters, e));
        for (to, bytes) in h.datagrams.drain(..) {
            let _ = udp.send_to(&bytes, to).await;
        }
        let wake = ice.flush(&mut h, &udp).await.map_or(wake, |d| d.min(wake));
        for f in h.take_upstream() {
            if wtx.send(Message::binary(f.encode())).is_err() {
                h.upstream_gone();
                break;
            }
        }
        if let Some(done) = leaving.take() {
            // Let the hand-off leave over the DataChannels, then stop.
            let until = Instant::now() + Duration::from_millis(300);
            while Instant::now() < until {
                h.pump(&mut |_| {});
                for (to, bytes) in h.datagrams.drain(..) {
                    let _ = udp.send_to(&bytes, to).await;
                }
                ice.flush(&mut h, &udp).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            drop(wtx); // the writer sends what is queued, then closes
            let _ = done.send(());
            return;
        }
        let now = Instant::now();
        if now >= next_check {
            next_check = now + STRANDED_CHECK;
            // The gateway connection is gone: connect again, to the next
            // gateway in turn (icn_core::link::reconnect has the schedule).
            let t = h.now();
            if connected && !h.has_upstream() {
                connected = false;
                reconnect.handle_lost(t);
            }
            let stranded = h.node.is_cut_off();
            if !connected && rejoining.is_none() && reconnect.poll_try(t, stranded) {
                tracing::info!(stranded, "connecting to a gateway again");
                try_stranded = stranded;
                rejoining = Some(gateways.connect_next());
            }
        }
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(wake.min(next_check)));
        tokio::select! {
            msg = stream.recv(), if h.has_upstream() => match msg {
                Some(Ok(Message::Binary(b))) => match Frame::decode(&b) {
                    Ok(Frame::IceServers { servers }) if !ice.fixed => ice.learn(&servers).await,
                    Ok(f) => {
                        if let Some(keys) = h.handle_upstream_frame(f) {
                            h.links.set_trusted(&keys);
                        }
                    }
                    Err(_) => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => h.upstream_gone(),
                Some(Ok(_)) => {}
            },
            r = async { match rejoining.as_mut() { Some(r) => r.await, None => std::future::pending().await } }, if rejoining.is_some() => {
                rejoining = None;
                match r {
                    Ok(Ok((ws, cert, gw))) => {
                        (wtx, stream) = split_upstream(ws);
                        h.links.set_cert(cert.clone());
                        gateways.cert = cert;
                        h.set_upstream(gw);
                        let t = h.now();
                        h.input(Input::LinkUp(t, gw));
                        h.node.handle_gateway_up(t, gw);
                        connected = true;
                        reconnect.handle_connected();
                        tracing::info!(gateway = %gw, "connected again, same ring position");
                    }
                    Ok(Err(e)) => {
                        tracing::debug!("connecting again failed: {e}");
                        reconnect.handle_failed(h.now(), try_stranded);
                    }
                    Err(_) => reconnect.handle_failed(h.now(), try_stranded),
                }
            }
            r = udp.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    if !ice.handle_datagram(&mut h, from, &buf[..n]) {
                        h.links.handle_datagram(Instant::now(), from, &buf[..n]);
                    }
                }
            }
            cmd = rx.recv() => {
                let t = h.now();
                match cmd {
                    Some(Cmd::Publish(o, tx)) => { let req = h.node.publish(t, *o); waiters.requests.insert(req, Waiter::Put(tx)); }
                    Some(Cmd::Get(n, tx)) => { let req = h.node.get(t, &n); waiters.requests.insert(req, Waiter::Get(tx)); }
                    Some(Cmd::Send(to, b)) => { h.node.send_message(t, to, b); }
                    Some(Cmd::Inbox(tx)) => waiters.inbox = Some(tx),
                    Some(Cmd::Status(tx)) => { let _ = tx.send(h.node.ring_view()); }
                    Some(Cmd::Stats(tx)) => { let _ = tx.send(h.node.stats()); }
                    Some(Cmd::Links(tx)) => { let _ = tx.send(h.links_view()); }
                    Some(Cmd::Leave(tx)) => { h.leave(); leaving = Some(tx); }
                    None => return,
                }
            }
            _ = sleep => {
                let t = h.now();
                h.input(Input::Timeout(t));
            }
        }
    }
}
