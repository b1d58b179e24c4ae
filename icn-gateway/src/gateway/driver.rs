//! The tokio driver of the gateway's ring node.
//!
//! One task owns the `icn-core` node. Everything else talks to it through a
//! channel of [`Command`]s: HTTP handlers ask it to look names up, WebSocket
//! connections hand it the bytes they receive and give it a sender for the
//! bytes it wants to transmit. The loop feeds the node, drains its outputs,
//! and sleeps until the node's next deadline or the next command, exactly as
//! the sans-IO design prescribes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use icn_core::block::Block;
use icn_core::bootstrap::Frame;
use icn_core::node::{Config, Event, Input, Node, Output, RequestError, RingView, Store};
use icn_core::{Hash, Name, RingId, SignedObject};
use tokio::sync::{mpsc, oneshot};

use super::metrics::Metrics;

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
        tx: mpsc::UnboundedSender<Vec<u8>>,
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

/// Starts the node's task; returns the command channel.
pub fn spawn(id: RingId, cfg: Config, metrics: std::sync::Arc<Metrics>) -> mpsc::Sender<Command> {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(run(Node::new(id, cfg), rx, metrics));
    tx
}

async fn run(mut node: Node, mut rx: mpsc::Receiver<Command>, metrics: std::sync::Arc<Metrics>) {
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    node.bootstrap(now());
    let mut links: HashMap<RingId, mpsc::UnboundedSender<Vec<u8>>> = HashMap::new();
    let mut waiters: HashMap<u64, Waiter> = HashMap::new();
    let mut dials: Vec<RingId> = Vec::new();
    loop {
        let deadline = loop {
            if let Some(peer) = dials.pop() {
                let t = now();
                let input = if links.contains_key(&peer) {
                    Input::LinkUp(t, peer)
                } else {
                    Input::LinkDown(t, peer)
                };
                let _ = node.handle_input(input);
                continue;
            }
            match node.poll_output() {
                Output::Transmit(t) => {
                    if let Some(link) = links.get(&t.to) {
                        let _ = link.send(Frame::Ring(t.bytes).encode());
                    }
                }
                // The gateway only has links to its WebSocket peers: a dial
                // succeeds at once if the peer is connected, else fails.
                Output::Event(Event::Dial(peer)) => dials.push(peer),
                Output::Event(Event::Hangup(_)) => {}
                Output::Event(e) => on_event(e, &mut waiters, &metrics),
                Output::Timeout(at) => break at,
            }
        };
        let sleep = Duration::from_millis(deadline.saturating_sub(now()).min(3_600_000));
        tokio::select! {
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { return };
                let t = now();
                match cmd {
                    Command::Get { name, reply } => {
                        metrics.lookups.inc();
                        let req = node.get(t, &name);
                        waiters.insert(req, Waiter::Object(reply));
                    }
                    Command::GetBlock { hash, reply } => {
                        metrics.lookups.inc();
                        let req = node.get_block(t, hash);
                        waiters.insert(req, Waiter::Block(reply));
                    }
                    Command::Publish(o) => { node.publish(t, o); }
                    Command::PutBlock(b) => { node.put_block(t, b); }
                    Command::Status(reply) => {
                        let _ = reply.send((node.ring_view(), node.store().len()));
                    }
                    Command::LinkUp { peer, tx } => {
                        links.insert(peer, tx);
                        metrics.links.set(links.len() as u64);
                        let _ = node.handle_input(Input::LinkUp(t, peer));
                    }
                    Command::Receive { peer, bytes } => {
                        if let Err(e) = node.handle_input(Input::Receive(t, peer, &bytes)) {
                            tracing::debug!("{e}");
                        }
                    }
                    Command::LinkDown(peer) => {
                        links.remove(&peer);
                        metrics.links.set(links.len() as u64);
                        let _ = node.handle_input(Input::LinkDown(t, peer));
                    }
                }
            }
            _ = tokio::time::sleep(sleep) => {
                let _ = node.handle_input(Input::Timeout(now()));
            }
        }
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
