//! A deterministic network simulator for `icn-core` nodes in virtual time.
//!
//! Every node is the real [`Node`] state machine; only the network is
//! simulated. Events (message deliveries, link changes, node wake-ups) sit in a
//! priority queue ordered by virtual time and a sequence number, and the
//! simulator jumps straight to the next one, so an hour of ring life takes
//! seconds. All randomness (latency jitter, loss, ids, choices made by
//! scenarios) comes from one seed: the same seed replays the same run.
//!
//! Links behave like reliable, ordered DataChannels: a dial succeeds after one
//! round trip if the peer is alive and reachable, messages on a link arrive in
//! order after the link's latency (plus jitter), and a crash is noticed by the
//! crashed node's peers `detect_ms` later as a link-down. Loss drops single
//! messages (a misbehaving or overloaded peer); partitions drop everything
//! between groups.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use icn_core::node::{Config, Event, Input, Node, Output, Time};
use icn_core::RingId;

use crate::rng::Rng;

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
    LinkUp {
        at: usize,
        peer: RingId,
    },
    LinkDown {
        at: usize,
        peer: RingId,
    },
    LinkLost {
        at: usize,
        peer: RingId,
    },
    Wake {
        at: usize,
    },
}

struct Slot {
    node: Option<Node>,
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
    links: HashSet<(usize, usize)>,
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
            self.links.insert(pair(i, via));
            let now = self.now;
            self.with_node(via, |n| {
                let _ = n.handle_input(Input::LinkUp(now, id));
            });
            self.with_node(i, |n| {
                let _ = n.handle_input(Input::LinkUp(now, via_id));
            });
        }
        i
    }

    fn add_slot(&mut self, id: RingId) -> usize {
        let mut cfg = self.net.node.clone();
        cfg.seed = self.rng.next_u64();
        let i = self.slots.len();
        self.slots.push(Slot {
            node: Some(Node::new(id, cfg)),
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
        let peers: Vec<usize> = self.links_of(i);
        for p in peers {
            self.links.remove(&pair(i, p));
            let at = self.now + self.net.detect_ms;
            self.schedule(at, Ev::LinkDown { at: p, peer: id });
        }
    }

    /// Node `i` leaves gracefully, then stops.
    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        self.with_node(i, |n| n.leave(now));
        if let Some(node) = self.slots[i].node.take() {
            self.retired_get_messages += node.stats().get_messages;
        }
        let id = self.slots[i].id;
        self.ids.remove(&id);
        self.released.push((id, self.now));
        for p in self.links_of(i) {
            self.links.remove(&pair(i, p));
            self.schedule_on_link(i, p, Ev::LinkDown { at: p, peer: id });
        }
    }

    /// Sets the time dials take from now on beyond one round trip.
    pub fn set_dial_ms(&mut self, ms: u64) {
        self.net.dial_ms = ms;
    }

    /// Every link of node `i` loses its carrier (the gateway relaying them
    /// died): both ends see `LinkLost` after one latency; the node itself
    /// runs on and can be dialled again.
    pub fn lose_carrier(&mut self, i: usize) {
        let id = self.slots[i].id;
        for p in self.links_of(i) {
            self.links.remove(&pair(i, p));
            let peer = self.slots[p].id;
            let at = self.now + self.latency();
            self.schedule(at, Ev::LinkLost { at: p, peer: id });
            self.schedule(at, Ev::LinkLost { at: i, peer });
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

    fn links_of(&self, i: usize) -> Vec<usize> {
        self.links
            .iter()
            .filter_map(|&(a, b)| {
                if a == i {
                    Some(b)
                } else if b == i {
                    Some(a)
                } else {
                    None
                }
            })
            .collect()
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
                    let Some(to) = self.index_of(&t.to) else {
                        continue;
                    };
                    let ok = self.links.contains(&pair(i, to))
                        && self.slots[to].node.is_some()
                        && self.slots[i].group == self.slots[to].group;
                    let lost = self.net.loss > 0.0 && self.rng.chance(self.net.loss);
                    if ok && !lost {
                        let from = self.slots[i].id;
                        self.schedule_on_link(
                            i,
                            to,
                            Ev::Deliver {
                                to,
                                from,
                                bytes: t.bytes,
                            },
                        );
                    }
                }
                Output::Event(e) => self.on_event(i, e),
                Output::Timeout(at) => {
                    let slot = &mut self.slots[i];
                    slot.spins = if at <= self.now { slot.spins + 1 } else { 0 };
                    assert!(
                        slot.spins < 10_000,
                        "seed {}: node {i} asks to be woken at {at} again and again (now {})",
                        self.seed,
                        self.now
                    );
                    if at < self.slots[i].wake || self.slots[i].wake <= self.now {
                        self.slots[i].wake = at;
                        if at != Time::MAX {
                            self.schedule(at.max(self.now), Ev::Wake { at: i });
                        }
                    }
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, i: usize, e: Event) {
        let me = self.slots[i].id;
        match e {
            Event::Dial(peer) => {
                let target = self.index_of(&peer);
                let reachable = target.is_some_and(|t| {
                    self.slots[t].node.is_some() && self.slots[t].group == self.slots[i].group
                });
                let rtt = 2 * self.latency() + self.net.dial_ms;
                match target {
                    Some(t) if reachable => {
                        self.links.insert(pair(i, t));
                        self.schedule(self.now + rtt, Ev::LinkUp { at: i, peer });
                        self.schedule(self.now + rtt, Ev::LinkUp { at: t, peer: me });
                    }
                    _ => {
                        let at = self.now + rtt + self.net.detect_ms;
                        self.schedule(at, Ev::LinkDown { at: i, peer });
                    }
                }
            }
            Event::Hangup(peer) => {
                if let Some(t) = self.index_of(&peer) {
                    if self.links.remove(&pair(i, t)) {
                        self.schedule_on_link(i, t, Ev::LinkDown { at: t, peer: me });
                    }
                }
            }
            event => self.reported.push(Reported {
                node: i,
                at: self.now,
                event,
            }),
        }
    }

    /// Whether node `at` is linked to `peer` now.
    fn linked(&self, at: usize, peer: &RingId) -> bool {
        self.index_of(peer)
            .is_some_and(|p| self.links.contains(&pair(at, p)))
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
            Ev::LinkUp { at, peer } => {
                if self.linked(at, &peer) {
                    self.with_node(at, |n| n.handle_input(Input::LinkUp(now, peer)));
                } else {
                    self.with_node(at, |n| n.handle_input(Input::LinkDown(now, peer)));
                }
            }
            // Not when the two were linked again meanwhile.
            Ev::LinkDown { at, peer } => {
                if !self.linked(at, &peer) {
                    self.with_node(at, |n| n.handle_input(Input::LinkDown(now, peer)));
                }
            }
            Ev::LinkLost { at, peer } => {
                if !self.linked(at, &peer) {
                    self.with_node(at, |n| n.handle_input(Input::LinkLost(now, peer)));
                }
            }
            Ev::Wake { at: i } => {
                if self.slots[i].wake == at {
                    self.slots[i].wake = Time::MAX;
                    self.with_node(i, |n| n.handle_input(Input::Timeout(now)));
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
