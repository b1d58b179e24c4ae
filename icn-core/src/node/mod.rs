//! The Chord node as a sans-IO state machine.
//!
//! A [`Node`] never touches a socket, a clock or an RNG. Its driver (the
//! browser, the gateway's tokio loop, or the simulator in `tests/`) feeds it
//! [`Input`]s stamped with the current time and then drains [`Output`]s until
//! it gets [`Output::Timeout`], the next instant the node wants to be woken:
//!
//! ```
//! use icn_core::node::{Config, Input, Node, Output};
//! use icn_core::RingId;
//!
//! let mut node = Node::new(RingId([7; 32]), Config::default());
//! node.bootstrap(0); // the first node of a new ring
//! let wake_at = loop {
//!     match node.poll_output() {
//!         Output::Transmit(t) => { /* send t.bytes to t.to */ }
//!         Output::Event(e) => { /* dial, hang up, deliver results */ }
//!         Output::Timeout(at) => break at,
//!     }
//! };
//! node.handle_input(Input::Timeout(wake_at)).unwrap();
//! ```
//!
//! The ring follows Chord with Pamela Zave's corrections ("Reasoning about
//! identifier spaces: how to make Chord correct"): stabilize asks the first
//! live successor for its predecessor and successor list, notify replaces the
//! predecessor only if it is dead or the notifier lies between, and a joiner is
//! a member only once it has a successor list. Messages are routed hop by hop
//! to the closest preceding live link (BOPlish, Figure 1). Data lives on the
//! successor of its key and the next `replication - 1` successors.
//!
//! The work is split by concern: [`ring`](self) code (membership, stabilize,
//! fingers, routing) lives in `ring.rs`, data (publish, get, replication,
//! hand-off) in `data.rs`, links in `links.rs` and storage in `store.rs`.

mod data;
mod limits;
mod links;
mod merge;
mod reqid;
mod ring;
mod rtt;
pub mod store;

use std::collections::VecDeque;

use crate::vecmap::VecMap;

use crate::block::Block;
use crate::id::RingId;
use crate::name::Name;
use crate::object::SignedObject;
use crate::wire::{Message, WireError};

pub use limits::{Limits, Refusal, Refused, ARC_SLACK};
use links::{Links, SendOutcome};
pub use store::{DefaultStore, Item, MemoryStore, SmallStore, Store};

/// Milliseconds on the driver's clock (any fixed origin).
pub type Time = u64;

/// Identifies a request made through the node's API.
pub type ReqId = u64;

/// The top bit of a `Ping` nonce marks a link probe, which every node answers;
/// a member answers any other `Ping` only while it is one (spec/ring.md).
const LINK_PROBE: u64 = 1 << 63;

/// Tunables. Defaults suit browsers on the public internet; the simulator
/// uses the same defaults. Its `Debug` leaves the secret out, so that a
/// logged configuration does not give away the node's request ids.
#[derive(Clone)]
pub struct Config {
    /// Length of the successor list (r).
    pub successors: usize,
    /// Copies of each item: the key's successor and the next ones.
    ///
    /// The default is 4. An item is lost when all its holders crash before
    /// the ring has copied it on, which takes about as long as noticing a
    /// crash. Browser peers come and go within minutes. With 1,000 peers and
    /// 2 joins and 2 crashes a second (a mean session of about 8 minutes),
    /// 3 copies lost a key range in 2 of 30 half-hour runs of the simulator
    /// (three neighbours crashing within 2 s); 4 copies lost nothing in
    /// the same 30 runs (BENCHMARKS.md).
    pub replication: usize,
    /// Period of stabilize.
    pub stabilize_ms: u64,
    /// Period of refreshing one finger.
    pub fix_fingers_ms: u64,
    /// Period of checking the predecessor.
    pub check_predecessor_ms: u64,
    /// Period of the replication digest exchange.
    pub sync_ms: u64,
    /// How long a neighbour may take to answer before it is presumed dead.
    pub ping_timeout_ms: u64,
    /// The longest wait for an answer before a routed request is sent
    /// again; also the first wait until this node has measured round trips
    /// (shorter waits come from those: see `spec/ring.md`).
    pub request_timeout_ms: u64,
    /// Attempts of the fixed schedule (waits of 1, 2, 3... request
    /// timeouts): a request fails when that schedule's time has passed
    /// unanswered (`n (n + 1) / 2` timeouts, 30 s by default), however many
    /// measured attempts it made meanwhile. Also the most `Unreachable`
    /// answers a request takes.
    pub request_attempts: u32,
    /// How long a dial may take before the peer is presumed unreachable.
    pub dial_timeout_ms: u64,
    /// Links above which idle links that are not needed are closed.
    pub max_links: usize,
    /// Seed of the node's timer jitter and probe nonces.
    pub seed: u64,
    /// Secret bytes the driver draws from the system's random generator:
    /// request ids are derived from them, so that no other node can guess
    /// one and forge its reply (see `reqid`). Fixed bytes replay a run.
    pub secret: [u8; 32],
    /// Bounds on what the node keeps and answers for its peers.
    pub limits: Limits,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("successors", &self.successors)
            .field("replication", &self.replication)
            .field("stabilize_ms", &self.stabilize_ms)
            .field("fix_fingers_ms", &self.fix_fingers_ms)
            .field("check_predecessor_ms", &self.check_predecessor_ms)
            .field("sync_ms", &self.sync_ms)
            .field("ping_timeout_ms", &self.ping_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("request_attempts", &self.request_attempts)
            .field("dial_timeout_ms", &self.dial_timeout_ms)
            .field("max_links", &self.max_links)
            .field("seed", &self.seed)
            .field("secret", &"<secret>")
            .field("limits", &self.limits)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            successors: 8,
            replication: 4,
            stabilize_ms: 1000,
            fix_fingers_ms: 4000,
            check_predecessor_ms: 2000,
            sync_ms: 15_000,
            ping_timeout_ms: 2000,
            request_timeout_ms: 3000,
            request_attempts: 4,
            dial_timeout_ms: 5000,
            max_links: 64,
            seed: 0,
            secret: [0; 32],
            limits: Limits::default(),
        }
    }
}

/// Something that happened to the node.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// The time given by the last [`Output::Timeout`] has come (or any later time).
    Timeout(Time),
    /// Bytes arrived from a linked peer.
    Receive(Time, RingId, &'a [u8]),
    /// A link to a peer opened (after a dial, or because the peer dialled).
    LinkUp(Time, RingId),
    /// A link closed or a dial failed: the peer is presumed dead, unless
    /// it said `Bye` first.
    LinkDown(Time, RingId),
    /// A link's carrier went away (the gateway relaying it), not the peer:
    /// the link is forgotten, the peer is not presumed dead, and a link the
    /// ring needs is dialled again at once.
    LinkLost(Time, RingId),
}

/// Bytes for the driver to send on the link to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The peer.
    pub to: RingId,
    /// One encoded message.
    pub bytes: Vec<u8>,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No answer after every attempt.
    #[error("timed out")]
    Timeout,
    /// The responsible nodes answered that they hold nothing under that key.
    #[error("not found")]
    NotFound,
    /// The responsible node refused to store the item.
    #[error("refused: {0}")]
    Refused(String),
    /// What came back did not verify or was not what was asked for.
    #[error("verification failed")]
    Invalid,
    /// The node is not a member of a ring yet (or any more).
    #[error("not joined")]
    NotJoined,
    /// The destination node is not in the ring.
    #[error("destination unreachable")]
    Unreachable,
}

/// What the node reports to its driver and application.
#[derive(Debug, Clone, PartialEq, Eq)]
// Events are moved once, from the node to the driver: boxing would cost an
// allocation per event and make matching on them clumsier.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// Open a link to this peer; answer with `LinkUp` or `LinkDown`.
    Dial(RingId),
    /// Close the link to this peer.
    Hangup(RingId),
    /// The node became a member of the ring.
    Joined,
    /// A `get` finished.
    GetDone {
        /// The request.
        req: ReqId,
        /// The newest valid object found, verified and under the asked name.
        result: Result<SignedObject, RequestError>,
        /// Hops of the request that answered.
        hops: u8,
    },
    /// A `get_block` finished.
    BlockDone {
        /// The request.
        req: ReqId,
        /// The block, checked against its hash.
        result: Result<Block, RequestError>,
        /// Hops of the request that answered.
        hops: u8,
    },
    /// A `publish` or `put_block` finished.
    PublishDone {
        /// The request.
        req: ReqId,
        /// Whether the responsible node stored it.
        result: Result<(), RequestError>,
        /// Hops of the request that answered.
        hops: u8,
    },
    /// The ring answered a `send` (or `signal`) with `Unreachable`. These
    /// are sent once and not acknowledged: no event means delivered or lost.
    SendFailed {
        /// The request.
        req: ReqId,
        /// Why.
        error: RequestError,
    },
    /// An application message routed to this node.
    Message {
        /// The sender's node id.
        from: RingId,
        /// The payload.
        bytes: Vec<u8>,
    },
    /// A signaling payload routed to this node (for the driver).
    Signal {
        /// The sender's node id.
        from: RingId,
        /// The payload.
        bytes: Vec<u8>,
    },
}

/// What the driver must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Output {
    /// Send bytes.
    Transmit(Transmit),
    /// Handle an event.
    Event(Event),
    /// Nothing more now; call `handle_input(Input::Timeout(..))` at this time.
    Timeout(Time),
}

/// Why an input was refused. The node's state is unchanged by a refused input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// A peer sent bytes that are not a valid message.
    #[error("malformed message from {peer}: {source}")]
    Malformed {
        /// The peer.
        peer: RingId,
        /// The cause.
        source: WireError,
    },
}

/// Counters for measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Messages handed to the driver.
    pub sent: u64,
    /// Routed get requests and replies sent or forwarded.
    pub get_messages: u64,
    /// Routed messages forwarded for others.
    pub forwarded: u64,
    /// Peers presumed dead (a link went down without `Bye`, or probes went
    /// unanswered).
    pub presumed_dead: u64,
    /// Routed messages this node could not pass on, by reason (answered
    /// `Unreachable`, or dropped if they were replies).
    pub undeliverable: Undeliverable,
    /// Items this node did not store, by reason.
    pub refused: Refused,
}

/// Why routed messages stopped at a node: counters for tracing failures
/// under churn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Undeliverable {
    /// The message had taken the most hops a message may take (a loop).
    pub hop_limit: u64,
    /// This node is no member of the ring (it routes nothing).
    pub not_member: u64,
    /// No link leads closer to the key.
    pub no_hop: u64,
    /// For a node id this node owns: no link to that node.
    pub unlinked_node: u64,
}

/// Public view of the node's ring state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingView {
    /// This node.
    pub id: RingId,
    /// Whether it is a member.
    pub joined: bool,
    /// Its predecessor.
    pub predecessor: Option<RingId>,
    /// Its successor list.
    pub successors: Vec<RingId>,
    /// Distinct finger nodes.
    pub fingers: Vec<RingId>,
    /// Peers with an open link.
    pub links: Vec<RingId>,
    /// Nodes presumed dead that this node still tries now and then (the
    /// lost list of spec/ring.md, "Merging rings").
    pub lost: Vec<RingId>,
}

/// A question to a neighbour whose answer proves it alive. One lost answer
/// is forgiven (the question is asked again); two in a row mean dead.
#[derive(Debug, Clone, Copy)]
struct Probe {
    peer: RingId,
    nonce: u64,
    deadline: Time,
    retried: bool,
}

/// A Chord node; see the module documentation.
pub struct Node<S: Store = DefaultStore> {
    id: RingId,
    cfg: Config,
    rng: u64,
    req_ids: reqid::ReqIds,
    now: Time,
    joined: bool,
    left: bool,
    bootstrap: Option<RingId>,
    predecessor: Option<RingId>,
    successors: Vec<RingId>,
    /// Finger index k -> node responsible for id + 2^k.
    fingers: VecMap<u32, RingId>,
    next_finger: u32,
    links: Links,
    store: S,
    /// Bytes of `Digest`/`Want` answers sent to each peer lately.
    answered: limits::Answered,
    requests: VecMap<ReqId, data::Pending>,
    /// Round trips of this node's requests: ring lookups, objects, blocks.
    rtt: [rtt::Rtt; 3],
    /// Peers presumed dead, and until when to ignore them.
    dead: VecMap<RingId, Time>,
    /// Peers presumed dead that are contacted again now and then (`merge.rs`).
    lost: merge::Lost,
    /// Reverse paths: the neighbour a routed message from a node last came
    /// through, and when, so messages for that node can retrace it (see
    /// `ring.rs`).
    paths: VecMap<RingId, (RingId, Time)>,
    /// Outstanding GetState to the first successor.
    awaiting_state: Option<Probe>,
    /// Outstanding ping to the predecessor.
    awaiting_pong: Option<Probe>,
    next_stabilize: Time,
    next_fix_fingers: Time,
    next_check_predecessor: Time,
    next_sync: Time,
    sync_soon: bool,
    out: VecDeque<Output>,
    stats: Stats,
}

impl Node<DefaultStore> {
    /// A node with id `id` and an in-memory store.
    pub fn new(id: RingId, cfg: Config) -> Self {
        Node::with_store(id, cfg, DefaultStore::default())
    }
}

impl<S: Store> Node<S> {
    /// A node with the given store.
    pub fn with_store(id: RingId, cfg: Config, store: S) -> Self {
        let seed = cfg.seed ^ id.prefix_u64() ^ 0x9e37_79b9_7f4a_7c15;
        Node {
            id,
            rng: seed | 1,
            req_ids: reqid::ReqIds::new(cfg.secret, id),
            cfg,
            now: 0,
            joined: false,
            left: false,
            bootstrap: None,
            predecessor: None,
            successors: Vec::new(),
            fingers: VecMap::default(),
            next_finger: 255,
            links: Links::default(),
            store,
            answered: limits::Answered::default(),
            requests: VecMap::default(),
            rtt: Default::default(),
            dead: VecMap::default(),
            lost: merge::Lost::default(),
            paths: VecMap::default(),
            awaiting_state: None,
            awaiting_pong: None,
            next_stabilize: Time::MAX,
            next_fix_fingers: Time::MAX,
            next_check_predecessor: Time::MAX,
            next_sync: Time::MAX,
            sync_soon: false,
            out: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// This node's id.
    pub fn id(&self) -> RingId {
        self.id
    }

    /// Whether the node is a member of a ring.
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// The successor list.
    pub fn successors(&self) -> &[RingId] {
        &self.successors
    }

    /// The predecessor.
    pub fn predecessor(&self) -> Option<RingId> {
        self.predecessor
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, for drivers that load items kept from an earlier run (or,
    /// in tests, plant what a misbehaving peer would serve).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of links open or being dialled.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// Whether the node is neither a ring member nor linked to anyone: from
    /// here only a gateway can bring it back. A driver that has also lost
    /// its gateway calls its peer *stranded* and joins again through
    /// another one; both drivers use this one definition.
    pub fn is_cut_off(&self) -> bool {
        !self.joined && !self.links.any_up()
    }

    /// A snapshot of the ring state, for status pages and tests.
    pub fn ring_view(&self) -> RingView {
        let mut fingers: Vec<RingId> = self.fingers.values().copied().collect();
        self.id.sort_clockwise(&mut fingers);
        fingers.dedup();
        let links = self.links.up_peers();
        RingView {
            id: self.id,
            joined: self.joined,
            predecessor: self.predecessor,
            successors: self.successors.clone(),
            fingers,
            links,
            lost: self.lost.peers().collect(),
        }
    }

    /// Feeds one input. Refused input (a malformed message) leaves the node
    /// as it was; the driver may log it and close the link.
    pub fn handle_input(&mut self, input: Input<'_>) -> Result<(), NodeError> {
        match input {
            Input::Timeout(now) => {
                self.advance(now);
                self.on_timeout();
            }
            Input::Receive(now, from, bytes) => {
                let msg = Message::decode(bytes)
                    .map_err(|source| NodeError::Malformed { peer: from, source })?;
                self.advance(now);
                self.links.heard(now, &from);
                if !self.left {
                    self.heard_from(from);
                    self.on_message(from, msg);
                }
            }
            Input::LinkUp(now, peer) => {
                self.advance(now);
                // A link that comes up is no sign of life: a relay (the
                // gateway) opens one to a peer that is frozen or gone. Only
                // a message from the peer takes it off the lost list.
                for bytes in self.links.up(now, peer) {
                    self.transmit(peer, bytes);
                }
            }
            Input::LinkDown(now, peer) => {
                self.advance(now);
                if let Some(bye) = self.links.down(&peer) {
                    if !bye {
                        self.peer_died(peer);
                    }
                }
            }
            Input::LinkLost(now, peer) => {
                self.advance(now);
                if self.links.down(&peer).is_some()
                    && !self.left
                    && self.needs_link(&peer)
                    && !self.is_dead(&peer)
                {
                    let nonce = self.random();
                    self.send(peer, &Message::Ping { nonce });
                }
            }
        }
        Ok(())
    }

    /// The next output. Call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        Output::Timeout(self.next_deadline())
    }

    fn advance(&mut self, now: Time) {
        self.now = self.now.max(now);
    }

    fn next_deadline(&self) -> Time {
        // The ring timers run only while joined (`ring_timers`): counted
        // otherwise, they would stay due and spin the driver's loop.
        let mut t = self.next_sync;
        if self.joined {
            t = t
                .min(self.next_stabilize)
                .min(self.next_fix_fingers)
                .min(self.next_check_predecessor);
            if let Some(l) = self.lost.next_deadline() {
                t = t.min(l);
            }
        }
        for p in self.awaiting_state.iter().chain(self.awaiting_pong.iter()) {
            t = t.min(p.deadline);
        }
        for p in self.requests.values() {
            t = t.min(p.deadline);
        }
        if let Some(l) = self.links.next_deadline(self.cfg.dial_timeout_ms) {
            t = t.min(l);
        }
        t
    }

    fn on_timeout(&mut self) {
        if self.left {
            return;
        }
        let now = self.now;
        for peer in self
            .links
            .stale_dials(now.saturating_sub(self.cfg.dial_timeout_ms))
        {
            self.links.down(&peer);
            self.emit(Event::Hangup(peer));
            self.peer_died(peer);
        }
        for peer in self.links.unanswered_probes(now) {
            // `peer_died` says `Bye` (in case it lives) and hangs up.
            self.peer_died(peer);
        }
        self.dead.retain(|_, until| *until > now);
        self.ring_timers();
        self.lost_timers();
        self.request_timers();
        if now >= self.next_sync || self.sync_soon {
            self.sync_soon = false;
            self.next_sync = now + self.jitter(self.cfg.sync_ms);
            self.sync_replicas();
        }
    }

    fn on_message(&mut self, from: RingId, msg: Message) {
        // A node that is not (or no longer) a member answers no liveness
        // questions, so that its neighbours drop it instead of routing to it.
        // A link probe (see `send`) asks only whether the peer receives on
        // the link, so every node answers it.
        let member_question = match msg {
            Message::GetState => true,
            Message::Ping { nonce } => nonce & LINK_PROBE == 0,
            _ => false,
        };
        if !self.joined && member_question {
            return;
        }
        match msg {
            Message::JoinRequest => self.on_join_request(from),
            Message::JoinReply { successors } => self.on_join_reply(from, successors),
            Message::GetState => self.send(
                from,
                &Message::State {
                    predecessor: self.predecessor,
                    successors: self.successors.clone(),
                },
            ),
            Message::State {
                predecessor,
                successors,
            } => self.on_state(from, predecessor, successors),
            Message::Notify => self.on_notify(from),
            Message::Ping { nonce } => self.send(from, &Message::Pong { nonce }),
            Message::Pong { nonce } => {
                if matches!(self.awaiting_pong, Some(p) if p.peer == from && p.nonce == nonce) {
                    self.awaiting_pong = None;
                }
            }
            Message::Leaving {
                predecessor,
                successors,
            } => self.on_leaving(from, predecessor, successors),
            Message::Bye => self.links.bye_received(&from),
            Message::Digest {
                start,
                end,
                entries,
            } => self.on_digest(from, start, end, entries),
            Message::Want { keys } => self.on_want(from, keys),
            Message::Store { items } => self.on_store(items),
            Message::Routed(r) => self.on_routed(from, r),
            Message::Merge { candidate } => self.on_merge(candidate),
        }
    }

    /// Encodes and sends a message to a peer, dialling it if needed.
    fn send(&mut self, to: RingId, msg: &Message) {
        if to == self.id {
            return;
        }
        let max_queue = self.cfg.limits.dial_queue_bytes;
        match self.links.send(self.now, to, msg.encode(), max_queue) {
            SendOutcome::Transmit(bytes) => {
                // Every link in use is probed, not only the ring's: a reply
                // going straight to its origin, or a hop to a gateway, went
                // into links dead at the far end for some 25 s. The silence
                // check is cheap and comes first: it runs at every send.
                self.transmit(to, bytes);
                let closing = matches!(msg, Message::Bye | Message::Leaving { .. });
                if !closing && !self.left && self.links.wants_probe(self.now, &to) {
                    let deadline = self.now + self.cfg.ping_timeout_ms;
                    self.links.probe_out(&to, deadline);
                    // A ring neighbour is also asked whether it is still a
                    // member; any other peer only whether it is there.
                    let nonce = if self.is_ring_neighbour(&to) {
                        self.member_nonce()
                    } else {
                        self.random() | LINK_PROBE
                    };
                    self.transmit(to, Message::Ping { nonce }.encode());
                }
            }
            SendOutcome::Dial => self.emit(Event::Dial(to)),
            SendOutcome::Queued | SendOutcome::Dropped => {}
        }
    }

    fn transmit(&mut self, to: RingId, bytes: Vec<u8>) {
        self.stats.sent += 1;
        self.out.push_back(Output::Transmit(Transmit { to, bytes }));
    }

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    /// Next pseudo-random number (xorshift64*): deterministic per seed and id.
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A nonce for a `Ping` that only a member answers.
    pub(super) fn member_nonce(&mut self) -> u64 {
        self.random() & !LINK_PROBE
    }

    /// `period` ± 10 %, so that nodes started together do not stay in step.
    fn jitter(&mut self, period: u64) -> u64 {
        let spread = period / 5 + 1;
        period - period / 10 + self.random() % spread
    }

    fn new_request_id(&mut self) -> ReqId {
        self.req_ids.next_id()
    }

    fn is_dead(&self, peer: &RingId) -> bool {
        self.dead.contains_key(peer)
    }

    /// Publishes a signed object: routes it to its name's successor, which
    /// stores it and replicates it. Completes with [`Event::PublishDone`].
    pub fn publish(&mut self, now: Time, object: SignedObject) -> ReqId {
        self.advance(now);
        self.start_put(Item::Object(object))
    }

    /// Stores a block at its hash. Completes with [`Event::PublishDone`].
    pub fn put_block(&mut self, now: Time, block: Block) -> ReqId {
        self.advance(now);
        self.start_put(Item::Block(block))
    }

    /// Fetches the newest valid object under `name`. Completes with
    /// [`Event::GetDone`].
    pub fn get(&mut self, now: Time, name: &Name) -> ReqId {
        self.advance(now);
        self.start_get(data::Wanted::Object(name.clone()))
    }

    /// Fetches a block by hash. Completes with [`Event::BlockDone`].
    pub fn get_block(&mut self, now: Time, hash: crate::hash::Hash) -> ReqId {
        self.advance(now);
        self.start_get(data::Wanted::Block(hash))
    }

    /// Routes an application message to node `to` (delivered there as
    /// [`Event::Message`]), once: a node that the ring finds missing comes
    /// back as [`Event::SendFailed`]; nothing acknowledges a delivery.
    pub fn send_message(&mut self, now: Time, to: RingId, bytes: Vec<u8>) -> ReqId {
        self.advance(now);
        self.route_to_node(to, crate::wire::Body::App(bytes))
    }

    /// Routes an opaque signaling payload to node `to` (delivered there as
    /// [`Event::Signal`]), for setting up direct links through the ring.
    pub fn signal(&mut self, now: Time, to: RingId, bytes: Vec<u8>) -> ReqId {
        self.advance(now);
        self.route_to_node(to, crate::wire::Body::Signal(bytes))
    }
}

#[cfg(test)]
mod input_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod tests;
