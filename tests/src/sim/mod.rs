//! A deterministic network simulator for `icn-core` nodes in virtual time.
//!
//! Every node is the real [`Node`] state machine; only the network is
//! simulated. Events (message deliveries, link changes, node wake-ups) sit in a
//! priority queue ordered by virtual time and a sequence number, and the
//! simulator jumps straight to the next one, so an hour of ring life takes
//! seconds. All randomness (latency jitter, loss, ids, choices made by
//! scenarios) comes from one seed: the same seed replays the same run.
//!
//! Each node's links go through icn-core's [`Carriers`], as in the browser
//! and native drivers: the node's dials become DataChannel offers, which
//! reach the peer after one latency and, if it answers (glare, its limit),
//! open at both ends after another latency plus `dial_ms`; messages for a
//! channel being set up wait in the carriers; set-up and ICE deadlines are
//! the carriers' own. A joiner's first link is a WebSocket (a client link at
//! both ends; the simulator has no relay). Messages on a link arrive in
//! order after the link's latency (plus jitter). A crash is noticed by the
//! crashed node's peers `detect_ms` later as their channel closing, and an
//! offer to a node that is gone or unreachable fails after a round trip
//! plus `detect_ms` (stand-ins for ICE that issue 26 replaces). Loss drops
//! single messages (a misbehaving or overloaded peer); partitions drop
//! everything between groups.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use icn_core::link::carriers::{Carriers, Via};
use icn_core::node::{Config, Event, Input, Node, Output, Time};
use icn_core::RingId;

use crate::rng::Rng;

mod links;
use links::gone;

/// Network parameters.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// One-way latency of every link, in ms.
    pub latency_ms: u64,
    /// Extra random latency, uniform in `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Probability that a message is dropped.
    pub loss: f64,
    /// Time for a crash to be seen as a link-down by the crashed node's peers.
    pub detect_ms: u64,
    /// Time a dial takes beyond one round trip (a DataChannel's set-up).
    pub dial_ms: u64,
    /// Configuration of every node (its seed is derived per node).
    pub node: Config,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency_ms: 20,
            jitter_ms: 10,
            loss: 0.0,
            detect_ms: 1500,
            dial_ms: 0,
            node: Config::default(),
        }
    }
}

/// How long the id of a node that went stays out of new assignments (the
/// gateway's `RELEASED_FOR`).
const RELEASED_MS: Time = 60_000;

enum Ev {
    Deliver {
        to: usize,
        from: RingId,
        bytes: Vec<u8>,
    },
    /// A DataChannel offer from `from` reaches `to`.
    Offer {
        to: usize,
        from: usize,
    },
    /// The DataChannel between `offerer` and `answerer` opens.
    Open {
        offerer: usize,
        answerer: usize,
    },
    /// Node `at`'s link to `peer` lost its carrier: a DataChannel (`ws`
    /// false) or a WebSocket closed. `lost`: the peer lives on (its relay
    /// died), told to the node as `LinkLost` rather than `LinkDown`.
    Gone {
        at: usize,
        peer: RingId,
        ws: bool,
        lost: bool,
    },
    Wake {
        at: usize,
    },
}

struct Slot {
    node: Option<Node>,
    carriers: Carriers,
    id: RingId,
    wake: Time,
    /// Wake-ups in a row asked for a time already here: a node that keeps
    /// doing so would spin its driver's event loop.
    spins: u32,
    group: u8,
}

/// An event a node reported to its application, with the node's index.
#[derive(Debug, Clone)]
pub struct Reported {
    /// Index of the node.
    pub node: usize,
    /// Virtual time of the report.
    pub at: Time,
    /// The event.
    pub event: Event,
}

/// The simulator.
pub struct Sim {
    /// Current virtual time, ms.
    pub now: Time,
    /// The seed this run started from.
    pub seed: u64,
    net: NetConfig,
    rng: Rng,
    /// The scenario's choices (who publishes, gets, crashes), apart from
    /// the network's jitter and loss.
    plan: Rng,
    slots: Vec<Slot>,
    index: HashMap<RingId, usize>,
    ids: BTreeSet<RingId>,
    /// Ids of nodes that crashed or left, and when.
    released: Vec<(RingId, Time)>,
    queue: BinaryHeap<Reverse<(Time, u64)>>,
    events: HashMap<u64, Ev>,
    seq: u64,
    /// Open DataChannels.
    links: HashSet<(usize, usize)>,
    /// Open WebSockets (a joiner and the node it joined through).
    ws: HashSet<(usize, usize)>,
    fifo: HashMap<(usize, usize), Time>,
    /// Application events reported by nodes, in order.
    pub reported: Vec<Reported>,
    /// Messages transmitted so far.
    pub messages: u64,
    /// Get messages counted by nodes that have since stopped.
    pub retired_get_messages: u64,
}

impl Sim {
    /// A new, empty network.
    pub fn new(seed: u64, net: NetConfig) -> Sim {
        Sim {
            now: 0,
            seed,
            net,
            rng: Rng::new(seed),
            plan: Rng::new(seed ^ 0x706c_616e_0000_0000),
            slots: Vec::new(),
            index: HashMap::default(),
            ids: BTreeSet::new(),
            released: Vec::new(),
            queue: BinaryHeap::new(),
            events: HashMap::default(),
            seq: 0,
            links: HashSet::default(),
            ws: HashSet::default(),
            fifo: HashMap::default(),
            reported: Vec::new(),
            messages: 0,
            retired_get_messages: 0,
        }
    }

    /// The simulator's random number generator, for scenarios.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The generator for a scenario's choices: which node publishes, gets,
    /// crashes. It draws nothing for the network, so a change to the
    /// protocol (more or fewer messages) meets the same schedule, and two
    /// versions can be compared on it.
    pub fn plan(&mut self) -> &mut Rng {
        &mut self.plan
    }

    /// Picks an id the way the gateway does: the middle of the largest gap
    /// between ids already assigned (a random id for the first node).
    pub fn assign_id(&mut self) -> RingId {
        let mut best: Option<(RingId, RingId)> = None;
        // Like the gateway, keep the ids of nodes gone in the last 60 s out of
        // new assignments: their neighbours still presume them dead.
        let now = self.now;
        self.released
            .retain(|(_, at)| now.saturating_sub(*at) < RELEASED_MS);
        let mut ids: Vec<RingId> = self.ids.iter().copied().collect();
        ids.extend(self.released.iter().map(|(id, _)| *id));
        ids.sort_unstable();
        ids.dedup();
        for (i, a) in ids.iter().enumerate() {
            let b = ids[(i + 1) % ids.len()];
            let gap = a.distance_to(b);
            let gap = if gap == RingId::ZERO {
                RingId::MAX
            } else {
                gap
            };
            if best.is_none_or(|(_, g)| gap > g) {
                best = Some((*a, gap));
            }
        }
        match best {
            None => RingId(self.rng.bytes32()),
            Some((a, gap)) => a.wrapping_add(gap.half()),
        }
    }

    /// Adds a node that starts a new ring; returns its index.
    pub fn add_first(&mut self, id: RingId) -> usize {
        let i = self.add_slot(id);
        let now = self.now;
        self.with_node(i, |n| n.bootstrap(now));
        i
    }

    /// Adds a node and makes it join through node `via` (over a link that
    /// exists from the start, like a joiner's WebSocket to the gateway).
    pub fn add_joining(&mut self, id: RingId, via: usize) -> usize {
        let i = self.add_linked(id, via);
        let via_id = self.slots[via].id;
        if self.is_alive(via) {
            let now = self.now;
            self.with_node(i, |n| n.join(now, via_id));
        }
        i
    }

    /// Adds a node linked to node `via` that has not asked to join yet (a
    /// browser between its WebSocket opening and its join request).
    pub fn add_linked(&mut self, id: RingId, via: usize) -> usize {
        let i = self.add_slot(id);
        let via_id = self.slots[via].id;
        if self.is_alive(via) {
            self.ws.insert(pair(i, via));
            self.slots[via].carriers.handle_client_up(id);
            self.act(via, None);
            self.drain(via);
            self.slots[i].carriers.handle_client_up(via_id);
            self.act(i, None);
            self.drain(i);
        }
        i
    }

    fn add_slot(&mut self, id: RingId) -> usize {
        let mut cfg = self.net.node.clone();
        cfg.seed = self.rng.next_u64();
        let i = self.slots.len();
        self.slots.push(Slot {
            node: Some(Node::new(id, cfg)),
            carriers: Carriers::new(),
            id,
            wake: Time::MAX,
            spins: 0,
            group: 0,
        });
        self.index.insert(id, i);
        self.ids.insert(id);
        i
    }

    /// Number of node slots ever created (dead ones included).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no node was ever added.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether node `i` is running.
    pub fn is_alive(&self, i: usize) -> bool {
        self.slots[i].node.is_some()
    }

    /// Indices of running nodes.
    pub fn alive(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|i| self.is_alive(*i))
            .collect()
    }

    /// Node `i`, if running.
    pub fn node(&self, i: usize) -> Option<&Node> {
        self.slots[i].node.as_ref()
    }

    /// The index of the node with id `id`.
    pub fn index_of(&self, id: &RingId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Runs `f` on node `i` (if alive), then processes everything it output.
    pub fn with_node<R>(&mut self, i: usize, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let r = f(self.slots[i].node.as_mut()?);
        self.drain(i);
        Some(r)
    }

    /// Get messages counted by all nodes, running or stopped.
    pub fn get_messages(&self) -> u64 {
        self.retired_get_messages
            + self
                .slots
                .iter()
                .filter_map(|s| s.node.as_ref())
                .map(|n| n.stats().get_messages)
                .sum::<u64>()
    }

    /// Crashes node `i`: no goodbye; its peers notice after `detect_ms`.
    pub fn crash(&mut self, i: usize) {
        let Some(node) = self.slots[i].node.take() else {
            return;
        };
        self.retired_get_messages += node.stats().get_messages;
        let id = self.slots[i].id;
        self.ids.remove(&id);
        self.released.push((id, self.now));
        let at = self.now + self.net.detect_ms;
        for (p, ws) in self.cut(i) {
            self.schedule(at, gone(p, id, ws, false));
        }
    }

    /// Node `i` leaves gracefully, then stops.
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        self.slots[i].carriers.handle_leave();
        self.with_node(i, |n| n.leave(now));
        if let Some(node) = self.slots[i].node.take() {
            self.retired_get_messages += node.stats().get_messages;
        }
        let id = self.slots[i].id;
        self.ids.remove(&id);
        self.released.push((id, self.now));
        for (p, ws) in self.cut(i) {
            self.schedule_on_link(i, p, gone(p, id, ws, false));
        }
    }

    /// Sets the time dials take from now on beyond one round trip.
    pub fn set_dial_ms(&mut self, ms: u64) {
        self.net.dial_ms = ms;
    }

    /// Every link of node `i` loses its carrier (the gateway relaying them
    /// died): both ends see `LinkLost` after one latency; the node itself
    /// runs on and can be dialled again. (The simulator has no relay: its
    /// links' carriers close, and the nodes are told they were lost.)
    pub fn lose_carrier(&mut self, i: usize) {
        let id = self.slots[i].id;
        for (p, ws) in self.cut(i) {
            let peer = self.slots[p].id;
            let at = self.now + self.latency();
            self.schedule(at, gone(p, id, ws, true));
            self.schedule(at, gone(i, peer, ws, true));
        }
    }

    /// Splits the network: node `i` goes to partition `group(i)`.
    pub fn partition(&mut self, group: impl Fn(usize) -> u8) {
        for (i, s) in self.slots.iter_mut().enumerate() {
            s.group = group(i);
        }
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        for s in &mut self.slots {
            s.group = 0;
        }
    }

    fn schedule(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.events.insert(self.seq, ev);
        self.queue.push(Reverse((at, self.seq)));
    }

    fn latency(&mut self) -> Time {
        self.net.latency_ms + self.rng.below(self.net.jitter_ms + 1)
    }

    /// Schedules `ev` on the link from `a` to `b`, after everything already on it.
    fn schedule_on_link(&mut self, a: usize, b: usize, ev: Ev) {
        let lat = self.latency();
        let last = self.fifo.entry((a, b)).or_insert(0);
        let at = (self.now + lat).max(*last);
        *last = at;
        self.schedule(at, ev);
    }

    fn drain(&mut self, i: usize) {
        loop {
            let Some(node) = self.slots[i].node.as_mut() else {
                return;
            };
            match node.poll_output() {
                Output::Transmit(t) => {
                    self.messages += 1;
                    // The simulator has no upstream or relay; a message
                    // may also wait for a channel, or have no carrier.
                    let carried = self.slots[i].carriers.carry(t.to, t.bytes);
                    if let Some((Via::Channel | Via::Client, bytes)) = carried {
                        self.send(i, t.to, bytes);
                    }
                }
                Output::Event(e) => self.on_event(i, e),
                Output::Timeout(at) => {
                    let carriers_at = self.slots[i].carriers.poll_timeout();
                    let at = carriers_at.map_or(at, |c| c.min(at));
                    let slot = &mut self.slots[i];
                    slot.spins = if at <= self.now { slot.spins + 1 } else { 0 };
                    assert!(
                        slot.spins < 10_000,
                        "seed {}: node {i} asks to be woken at {at} again and again (now {})",
                        self.seed,
                        self.now
                    );
                    // A deadline already past wakes the node now; the
                    // wake-up is matched by its time, so that is the one kept.
                    let at = at.max(self.now);
                    if at < self.slots[i].wake || self.slots[i].wake <= self.now {
                        self.slots[i].wake = at;
                        if at != Time::MAX {
                            self.schedule(at, Ev::Wake { at: i });
                        }
                    }
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, i: usize, e: Event) {
        match e {
            Event::Dial(peer) => {
                self.slots[i].carriers.handle_dial(self.now, peer);
                self.act(i, None);
            }
            Event::Hangup(peer) => {
                self.slots[i].carriers.handle_hangup(peer);
                self.act(i, None);
            }
            event => self.reported.push(Reported {
                node: i,
                at: self.now,
                event,
            }),
        }
    }

    /// Processes the next event; false when there is none.
    pub fn step(&mut self) -> bool {
        let Some(Reverse((at, seq))) = self.queue.pop() else {
            return false;
        };
        let Some(ev) = self.events.remove(&seq) else {
            return true;
        };
        self.now = self.now.max(at);
        let now = self.now;
        match ev {
            Ev::Deliver { to, from, bytes } => {
                self.with_node(to, |n| {
                    // A malformed message is the sender's fault; the node is unchanged.
                    let _ = n.handle_input(Input::Receive(now, from, &bytes));
                });
            }
            Ev::Offer { to, from } => self.on_offer(to, from),
            Ev::Open { offerer, answerer } => self.on_open(offerer, answerer),
            Ev::Gone { at, peer, ws, lost } => self.on_gone(at, peer, ws, lost),
            Ev::Wake { at: i } => {
                if self.slots[i].wake == at {
                    self.slots[i].wake = Time::MAX;
                    if let Some(n) = self.slots[i].node.as_mut() {
                        let _ = n.handle_input(Input::Timeout(now));
                        self.slots[i].carriers.handle_timeout(now);
                        self.act(i, None);
                        self.drain(i);
                    }
                }
            }
        }
        true
    }

    /// Runs until virtual time `t` (events at `t` included).
    pub fn run_until(&mut self, t: Time) {
        while let Some(Reverse((at, _))) = self.queue.peek() {
            if *at > t {
                break;
            }
            self.step();
        }
        self.now = self.now.max(t);
    }

    /// Runs for `ms` more milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        let t = self.now + ms;
        self.run_until(t);
    }
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}
