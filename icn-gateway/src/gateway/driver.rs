//! The tokio driver of the gateway's ring node.
//!
//! One task owns the `icn-core` node, in a [`Host`] like a native peer's.
//! Everything else talks to it through a channel of [`Command`]s: HTTP
//! handlers ask it to look names up, WebSocket connections hand it the bytes
//! they receive and give it a sender for the bytes it wants to transmit. The
//! node reaches nodes that are not its clients over WebRTC DataChannels (a
//! ring with several gateways, or a peer of another gateway next to this
//! one on the ring), and, with `--join`, over its connection to another
//! gateway. The loop feeds the node, drains its outputs, and sleeps until
//! the next deadline, datagram, frame or command, as the sans-IO design
//! prescribes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use icn_core::block::Block;
use icn_core::bootstrap::Frame;
use icn_core::node::{Event, Input, RequestError, RingView, Store};
use icn_core::{Hash, Name, RingId, SignedObject};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::metrics::Metrics;
use super::trust::TrustList;
use crate::peer::host::Host;
use crate::peer::Ws;

/// A request to the node's task.
// Commands are moved once through a channel; boxing the object would add an
// allocation per publish for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Look an object up in the ring.
    Get {
        /// The name.
        name: Name,
        /// Where the result goes.
        reply: oneshot::Sender<Result<SignedObject, RequestError>>,
    },
    /// Look a block up in the ring.
    GetBlock {
        /// The block's hash.
        hash: Hash,
        /// Where the result goes.
        reply: oneshot::Sender<Result<Block, RequestError>>,
    },
    /// Publish an object into the ring (best effort; it is pinned already).
    Publish(SignedObject),
    /// Store a block in the ring (best effort).
    PutBlock(Block),
    /// Report the ring state.
    Status(oneshot::Sender<(RingView, usize)>),
    /// A link to a peer opened; encoded frames for it go to `tx`.
    LinkUp {
        /// The peer.
        peer: RingId,
        /// Its outgoing queue.
        tx: crate::peer::outbox::OutboxTx,
    },
    /// Bytes from a peer.
    Receive {
        /// The peer.
        peer: RingId,
        /// One message.
        bytes: Vec<u8>,
    },
    /// A link to a peer closed.
    LinkDown(RingId),
}

enum Waiter {
    Object(oneshot::Sender<Result<SignedObject, RequestError>>),
    Block(oneshot::Sender<Result<Block, RequestError>>),
}

/// The gateway this one joined through (`icn gateway --join`).
pub struct Upstream {
    /// The bootstrap connection, after its handshake.
    pub ws: Ws,
    /// That gateway's node.
    pub gateway_id: RingId,
    /// That gateway's key (which certified this one's node).
    pub gateway_key: [u8; 32],
}

/// Starts the node's task; returns the command channel.
pub fn spawn(
    host: Host,
    udp: UdpSocket,
    upstream: Option<Upstream>,
    trust: Arc<TrustList>,
    metrics: Arc<Metrics>,
    data: std::path::PathBuf,
) -> mpsc::Sender<Command> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(run(host, udp, upstream, trust, rx, metrics, data));
    tx
}

/// How long a gateway that joined another one stays outside the ring, its
/// upstream gone, before it starts the ring anew.
const ALONE_AFTER: Duration = Duration::from_secs(15);
/// How often that is checked.
const ALONE_CHECK: Duration = Duration::from_secs(1);

async fn run(
    mut h: Host,
    udp: UdpSocket,
    upstream: Option<Upstream>,
    trust: Arc<TrustList>,
    mut rx: mpsc::Receiver<Command>,
    metrics: Arc<Metrics>,
    data: std::path::PathBuf,
) {
    let (wtx, mut stream) = match upstream {
        Some(u) => {
            let (wtx, stream) = crate::peer::split_upstream(u.ws);
            let t = h.now();
            h.input(Input::LinkUp(t, u.gateway_id));
            h.node.join(t, u.gateway_id);
            (Some(wtx), Some(stream))
        }
        None => {
            let t = h.now();
            h.node.bootstrap(t);
            (None, None)
        }
    };
    // The nodes of the ring this gateway was in before it restarted: the
    // first of them it hears from again brings it back into that ring.
    let mut known = super::memory::load(&data);
    let t = h.now();
    h.node.remember(t, &known);
    let mut next_save = Instant::now() + super::memory::SAVE_EVERY;
    let mut waiters: HashMap<u64, Waiter> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let mut outside_since: Option<Instant> = None;
    let mut next_check = Instant::now() + ALONE_CHECK;
    loop {
        let wake = h.pump(&mut |e| on_event(e, &mut waiters, &metrics));
        let now = Instant::now();
        if now >= next_save {
            next_save = now + super::memory::SAVE_EVERY;
            let nodes = h.node.known_nodes_list(super::memory::MAX);
            if nodes != known && !nodes.is_empty() {
                if let Err(e) = super::memory::save(&data, &nodes) {
                    tracing::warn!("cannot keep the ring's nodes in {}: {e}", data.display());
                }
                known = nodes;
            }
        }
        if now >= next_check {
            next_check = now + ALONE_CHECK;
            // Joined through a gateway that is gone, and no linked node has
            // let this one in again for a while: every member is gone too
            // (the nodes still linked are newcomers waiting to be let in, as
            // this node waits for them). Start the ring anew, as a gateway
            // without `--join` does, so that they can join.
            if h.has_upstream() || h.node.is_joined() || wtx.is_none() {
                outside_since = None;
            } else if now - *outside_since.get_or_insert(now) >= ALONE_AFTER {
                tracing::warn!("no member of the ring answers: starting it anew");
                let t = h.now();
                h.node.bootstrap(t);
                outside_since = None;
                continue;
            }
        }
        let wake = wake.min(next_check);
        for (to, bytes) in h.datagrams.drain(..) {
            let _ = udp.send_to(&bytes, to).await;
        }
        for f in h.take_upstream() {
            if wtx
                .as_ref()
                .is_none_or(|w| w.send(Message::binary(f.encode())).is_err())
            {
                h.upstream_gone();
                break;
            }
        }
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(wake));
        tokio::select! {
            msg = async { stream.as_mut()?.recv().await }, if h.has_upstream() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    if let Ok(f) = Frame::decode(&b) {
                        if let Some(keys) = h.handle_upstream_frame(f) {
                            if trust.merge(&keys) {
                                let keys = trust.keys();
                                h.links.set_trusted(&keys);
                                h.broadcast(&Frame::Trust { keys });
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    tracing::warn!("the gateway this one joined through is gone");
                    h.upstream_gone();
                }
                Some(Ok(_)) => {}
            },
            r = udp.recv_from(&mut buf) => {
                if let Ok((n, from)) = r {
                    h.links.handle_datagram(Instant::now(), from, &buf[..n]);
                }
            }
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return };
                let t = h.now();
                match cmd {
                    Command::Get { name, reply } => {
                        metrics.lookups.inc();
                        let req = h.node.get(t, &name);
                        waiters.insert(req, Waiter::Object(reply));
                    }
                    Command::GetBlock { hash, reply } => {
                        metrics.lookups.inc();
                        let req = h.node.get_block(t, hash);
                        waiters.insert(req, Waiter::Block(reply));
                    }
                    Command::Publish(o) => { h.node.publish(t, o); }
                    Command::PutBlock(b) => { h.node.put_block(t, b); }
                    Command::Status(reply) => {
                        let _ = reply.send((h.node.ring_view(), h.node.store().len()));
                    }
                    Command::LinkUp { peer, tx } => {
                        h.client_up(peer, tx);
                        metrics.links.set(h.client_count() as u64);
                    }
                    Command::Receive { peer, bytes } => h.client_receive(peer, &bytes),
                    Command::LinkDown(peer) => {
                        h.client_down(peer);
                        metrics.links.set(h.client_count() as u64);
                    }
                }
            }
            _ = sleep => {
                let t = h.now();
                h.input(Input::Timeout(t));
            }
        }
        let store = h.node.store();
        metrics.node_store_bytes.set(store.bytes() as u64);
        metrics.node_store_items.set(store.len() as u64);
        let refused = h.node.stats().refused;
        metrics
            .node_refused
            .set(refused.out_of_range + refused.full);
        // Waiters whose HTTP request gave up are dropped.
        waiters.retain(|_, w| match w {
            Waiter::Object(s) => !s.is_closed(),
            Waiter::Block(s) => !s.is_closed(),
        });
    }
}

fn on_event(e: Event, waiters: &mut HashMap<u64, Waiter>, metrics: &Metrics) {
    match e {
        Event::GetDone { req, result, hops } => {
            metrics.hops.add(u64::from(hops));
            if let Some(Waiter::Object(tx)) = waiters.remove(&req) {
                let _ = tx.send(result);
            }
        }
        Event::BlockDone { req, result, hops } => {
            metrics.hops.add(u64::from(hops));
            if let Some(Waiter::Block(tx)) = waiters.remove(&req) {
                let _ = tx.send(result);
            }
        }
        Event::PublishDone { result: Err(e), .. } => tracing::warn!("ring publish failed: {e}"),
        other => tracing::trace!("node event {other:?}"),
    }
}
