//! Data on the ring: publish and get (objects and blocks), request tracking
//! with timeouts and retries, replication to successors, and key hand-off.

use crate::block::Block;
use crate::hash::Hash;
use crate::id::RingId;
use crate::name::Name;
use crate::object::SignedObject;
use crate::wire::{Body, Dest, ItemBytes, Message, Routed, MAX_DIGEST, MAX_ITEMS};

use super::{rtt, Event, Item, Node, RequestError, Store, Time};

/// Bytes of items per store message (well under the message limit).
const STORE_BATCH_BYTES: usize = 512 * 1024;

/// What a get asks for.
#[derive(Debug, Clone)]
pub(super) enum Wanted {
    Object(Name),
    Block(Hash),
}

/// What a pending request is for.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    Join,
    JoinLookup(RingId),
    Finger(u32),
    Get(Wanted),
    Put(ItemBytes, RingId),
    Send(RingId, Body),
}

#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub(super) kind: Kind,
    /// When the current attempt is presumed lost.
    pub(super) deadline: Time,
    /// When the request fails if still unanswered: the time `n` attempts
    /// of the fixed schedule take (1 + 2 + ... + `n` request timeouts).
    pub(super) give_up: Time,
    /// When the current attempt was sent (for measuring round trips).
    pub(super) sent: Time,
    pub(super) attempts: u32,
    /// First hop of the last attempt, avoided by the next one.
    pub(super) first_hop: Option<RingId>,
    pub(super) avoid: Option<RingId>,
    /// The ring answered `Unreachable`: the message was not delivered and
    /// goes again at the deadline (the only resend of an unanswered `Send`).
    pub(super) bounced: bool,
    /// `Unreachable` answers so far.
    pub(super) bounces: u32,
}

impl Kind {
    /// Which round-trip estimator times this kind of request (see `rtt.rs`);
    /// `None` for the kinds that keep the configured timeout: a join has
    /// its own retry rules, and nothing answers a routed `Send`.
    pub(super) fn timer(&self) -> Option<usize> {
        match self {
            Kind::Finger(_) | Kind::JoinLookup(_) => Some(0),
            Kind::Get(Wanted::Object(_)) | Kind::Put(ItemBytes::Object(_), _) => Some(1),
            Kind::Get(Wanted::Block(_)) | Kind::Put(ItemBytes::Block(_), _) => Some(2),
            Kind::Join | Kind::Send(..) => None,
        }
    }

    /// How long attempt `n` of this request waits for its answer, by the
    /// node's estimators `rtt` (indexed by [`Kind::timer`]).
    fn wait(&self, rtt: &[rtt::Rtt; 3], timeout: Time, n: u32) -> Time {
        rtt::attempt_wait(self.timer().map(|i| &rtt[i]), timeout, n)
    }
}

impl Pending {
    fn new(kind: Kind, now: Time, deadline: Time, give_up: Time) -> Pending {
        Pending {
            kind,
            deadline,
            give_up,
            sent: now,
            attempts: 1,
            first_hop: None,
            avoid: None,
            bounced: false,
            bounces: 0,
        }
    }
}

impl<S: Store> Node<S> {
    /// A new pending request of `kind`, sent now: its first wait is the
    /// measured one, and it may be tried until the fixed schedule's time is
    /// spent.
    pub(super) fn pending(&self, kind: Kind) -> Pending {
        // Plain arithmetic on clamped values: no overflow, and no 128-bit
        // multiplication in the wasm for a saturating one.
        let t = self.cfg.request_timeout_ms.min(1 << 40);
        let n = u64::from(self.cfg.request_attempts.min(64));
        let give_up = self.now + t * n * (n + 1) / 2;
        let deadline = self.now + kind.wait(&self.rtt, self.cfg.request_timeout_ms, 1);
        Pending::new(kind, self.now, deadline, give_up)
    }

    pub(super) fn start_get(&mut self, wanted: Wanted) -> super::ReqId {
        self.start(Kind::Get(wanted))
    }

    pub(super) fn start_put(&mut self, item: Item) -> super::ReqId {
        self.start(Kind::Put(item.to_bytes(), item.key()))
    }

    pub(super) fn route_to_node(&mut self, to: RingId, body: Body) -> super::ReqId {
        self.start(Kind::Send(to, body))
    }

    /// Registers a request and sends it. A node that is joining (for the
    /// first time, or again after losing its place) holds it until it is a
    /// member, within the request's usual timeouts; one that never joined
    /// or has left fails it at once.
    fn start(&mut self, kind: Kind) -> super::ReqId {
        let req = self.new_request_id();
        if !self.joined && !self.is_joining() {
            self.fail(req, kind, RequestError::NotJoined);
            return req;
        }
        let pending = self.pending(kind);
        self.requests.insert(req, pending);
        self.send_request(req);
        req
    }

    fn is_joining(&self) -> bool {
        !self.left && self.requests.values().any(|p| matches!(p.kind, Kind::Join))
    }

    /// Sends the requests held while this node was joining.
    pub(super) fn send_held(&mut self) {
        let held: Vec<super::ReqId> = self
            .requests
            .iter()
            .filter(|(_, p)| !matches!(p.kind, Kind::Join))
            .map(|(id, _)| *id)
            .collect();
        for req in held {
            self.send_request(req);
        }
    }

    /// (Re)sends the routed message of a pending request (held while this
    /// node is not a member).
    fn send_request(&mut self, req: super::ReqId) {
        let Some(p) = self.requests.get(&req) else {
            return;
        };
        if !self.joined && !matches!(p.kind, Kind::Join) {
            return;
        }
        let (dest, body) = match &p.kind {
            Kind::Get(Wanted::Object(name)) => (
                Dest::Key(name.ring_key()),
                Body::Get {
                    block: false,
                    forwarded: 0,
                },
            ),
            Kind::Get(Wanted::Block(h)) => (
                Dest::Key(RingId::from_hash(*h)),
                Body::Get {
                    block: true,
                    forwarded: 0,
                },
            ),
            Kind::Put(item, key) => (Dest::Key(*key), Body::Put { item: item.clone() }),
            Kind::Send(to, body) => (Dest::Node(*to), body.clone()),
            Kind::Finger(k) => (Dest::Key(self.id.finger_start(*k)), Body::FindSuccessor),
            Kind::JoinLookup(joiner) => (Dest::Key(*joiner), Body::FindSuccessor),
            Kind::Join => {
                if let Some(via) = self.rejoin_via(p.attempts) {
                    self.send(via, &Message::JoinRequest);
                }
                return;
            }
        };
        let now = self.now;
        if let Some(p) = self.requests.get_mut(&req) {
            p.sent = now;
        }
        if matches!(body, Body::Get { .. }) {
            self.stats.get_messages +=
                u64::from(!matches!(dest, Dest::Key(k) if self.is_responsible(k)));
        }
        self.route(Routed {
            dest,
            origin: self.id,
            id: req,
            hops: 0,
            body,
        });
    }

    pub(super) fn request_timers(&mut self) {
        let now = self.now;
        let due: Vec<super::ReqId> = self
            .requests
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for req in due {
            let Some(p) = self.requests.get_mut(&req) else {
                continue;
            };
            if matches!(p.kind, Kind::Send(..)) && self.joined && !std::mem::take(&mut p.bounced) {
                // Nothing acknowledges a routed message (only `Unreachable`
                // comes back): silence means delivered or lost on the way,
                // and sending it again would deliver it twice.
                self.requests.remove(&req);
                continue;
            }
            let join = matches!(p.kind, Kind::Join);
            if join || now < p.give_up {
                p.attempts += 1;
                p.avoid = p.first_hop;
                let wait = p
                    .kind
                    .wait(&self.rtt, self.cfg.request_timeout_ms, p.attempts);
                // A join keeps asking for good; anything else stops at its
                // time budget.
                let until = if join { Time::MAX } else { p.give_up };
                p.deadline = now.saturating_add(wait).min(until);
                self.send_request(req);
            } else if let Some(p) = self.requests.remove(&req) {
                self.fail(req, p.kind, RequestError::Timeout);
            }
        }
    }

    fn fail(&mut self, req: super::ReqId, kind: Kind, error: RequestError) {
        let event = match kind {
            Kind::Get(Wanted::Object(_)) => Event::GetDone {
                req,
                result: Err(error),
                hops: 0,
            },
            Kind::Get(Wanted::Block(_)) => Event::BlockDone {
                req,
                result: Err(error),
                hops: 0,
            },
            Kind::Put(..) => Event::PublishDone {
                req,
                result: Err(error),
                hops: 0,
            },
            Kind::Send(..) => Event::SendFailed { req, error },
            Kind::Join | Kind::JoinLookup(_) | Kind::Finger(_) => return,
        };
        self.emit(event);
    }

    /// A routed message reached the node it was meant for.
    pub(super) fn deliver(&mut self, r: Routed) {
        match &r.body {
            Body::FindSuccessor => {
                let body = Body::Successor {
                    node: self.id,
                    successors: self.successors.clone(),
                };
                self.reply(&r, body);
            }
            Body::Get { block, forwarded } => self.on_get(&r, *block, *forwarded),
            Body::Put { item } => {
                let error = self.on_put(&r, item).err();
                self.reply(
                    &r,
                    Body::PutReply {
                        error,
                        hops: r.hops,
                    },
                );
            }
            Body::App(b) => self.emit(Event::Message {
                from: r.origin,
                bytes: b.clone(),
            }),
            Body::Signal(b) => self.emit(Event::Signal {
                from: r.origin,
                bytes: b.clone(),
            }),
            Body::Successor { .. }
            | Body::GetReply { .. }
            | Body::PutReply { .. }
            | Body::Unreachable => self.on_reply(r),
        }
    }

    fn on_get(&mut self, r: &Routed, block: bool, forwarded: u8) {
        let Dest::Key(key) = r.dest else {
            return;
        };
        if let Some(item) = self.held(&key, block) {
            let item = item.to_bytes();
            self.stats.get_messages += u64::from(r.origin != self.id);
            return self.reply(
                r,
                Body::GetReply {
                    item: Some(item),
                    hops: r.hops,
                },
            );
        }
        // The responsible node may be new and not have received its keys yet:
        // ask the next replicas before answering "not found".
        let limit = self.cfg.replication.saturating_sub(1);
        if usize::from(forwarded) < limit {
            if let Some(s) = self.successors.first().copied() {
                let mut next = r.clone();
                next.body = Body::Get {
                    block,
                    forwarded: forwarded + 1,
                };
                return self.forward_to(s, next);
            }
        }
        self.stats.get_messages += u64::from(r.origin != self.id);
        self.reply(
            r,
            Body::GetReply {
                item: None,
                hops: r.hops,
            },
        );
    }

    /// The object (or, with `block`, the block) this node holds at `key`.
    pub(super) fn held(&self, key: &RingId, block: bool) -> Option<&Item> {
        self.store
            .get(key)
            .filter(|i| matches!(i, Item::Block(_)) == block)
    }

    fn on_put(&mut self, r: &Routed, bytes: &ItemBytes) -> Result<(), String> {
        let item = Item::from_bytes(bytes).ok_or("invalid")?;
        if Dest::Key(item.key()) != r.dest {
            return Err("wrong-key".into());
        }
        let same = self.store.get(&item.key()).map(Item::hash) == Some(item.hash());
        self.admit(item).map_err(|e| e.to_string())?;
        if same {
            return Ok(());
        }
        let replicas = self.replica_successors();
        for s in replicas {
            self.send(
                s,
                &Message::Store {
                    items: vec![bytes.clone()],
                },
            );
        }
        Ok(())
    }

    /// The successors that hold copies of what this node owns.
    fn replica_successors(&self) -> Vec<RingId> {
        let n = self.cfg.replication.saturating_sub(1);
        self.successors.iter().take(n).copied().collect()
    }

    /// The object in a reply. A reply from this node itself carries an object
    /// its store checked on the way in: it is taken from there instead of
    /// being verified again (which, with WebCrypto's signatures, would need
    /// an answer the driver did not know to ask for).
    fn reply_object(&self, from: RingId, name: &Name, bytes: &[u8]) -> Option<SignedObject> {
        if from == self.id {
            if let Some(Item::Object(o)) = self.held(&name.ring_key(), false) {
                if o.encoded() == bytes {
                    return Some(o.clone());
                }
            }
        }
        SignedObject::decode(bytes).ok()
    }

    /// A reply to one of this node's requests arrived.
    pub(super) fn on_reply(&mut self, r: Routed) {
        let Some(mut p) = self.requests.remove(&r.id) else {
            return;
        };
        let answered = matches!(
            r.body,
            Body::Successor { .. } | Body::GetReply { .. } | Body::PutReply { .. }
        );
        if let (true, 1, false, Some(i)) = (answered, p.attempts, p.bounced, p.kind.timer()) {
            self.rtt[i].handle_sample(self.now.saturating_sub(p.sent));
        }
        let kind = std::mem::replace(&mut p.kind, Kind::Join);
        match (kind, r.body) {
            (Kind::Finger(k), Body::Successor { node, .. }) => self.set_finger(k, node),
            (Kind::JoinLookup(joiner), Body::Successor { node, successors }) => {
                let mut list = vec![node];
                list.extend(successors);
                self.send(joiner, &Message::JoinReply { successors: list });
            }
            (Kind::Get(Wanted::Object(name)), Body::GetReply { item, hops }) => {
                let result = match item {
                    None => Err(RequestError::NotFound),
                    Some(ItemBytes::Object(b)) => self
                        .reply_object(r.origin, &name, &b)
                        .filter(|o| o.name() == &name)
                        .ok_or(RequestError::Invalid),
                    Some(ItemBytes::Block(_)) => Err(RequestError::Invalid),
                };
                self.emit(Event::GetDone {
                    req: r.id,
                    result,
                    hops,
                });
            }
            (Kind::Get(Wanted::Block(hash)), Body::GetReply { item, hops }) => {
                let result = match item {
                    None => Err(RequestError::NotFound),
                    Some(ItemBytes::Block(b)) => {
                        Block::verified(hash, b).map_err(|_| RequestError::Invalid)
                    }
                    Some(ItemBytes::Object(_)) => Err(RequestError::Invalid),
                };
                self.emit(Event::BlockDone {
                    req: r.id,
                    result,
                    hops,
                });
            }
            (Kind::Put(..), Body::PutReply { error, hops }) => {
                let result = match error {
                    None => Ok(()),
                    Some(e) => Err(RequestError::Refused(e)),
                };
                self.emit(Event::PublishDone {
                    req: r.id,
                    result,
                    hops,
                });
            }
            (kind, Body::Unreachable) => {
                // Usually transient (a node on the way lost its neighbours, or
                // the destination's neighbourhood is repairing): try again
                // after a stabilization round, over another first hop.
                p.bounces += 1;
                if p.bounces < self.cfg.request_attempts && self.now < p.give_up {
                    p.kind = kind;
                    p.bounced = true;
                    // Later attempts wait twice as long (2, 4, 8 rounds):
                    // repairing a neighbourhood takes a few rounds, and
                    // retries that give up before it is done fail the get.
                    // A joiner's lookup is the exception: it fails nothing
                    // by coming back early (the joiner asks until it is let
                    // in), and the bounce is mostly a newcomer's
                    // neighbourhood still forming, which is done within a
                    // round. It waits the measured time a lookup takes,
                    // doubled at each bounce, at most one round.
                    let wait = match &p.kind {
                        k @ Kind::JoinLookup(_) => k
                            .wait(&self.rtt, self.cfg.stabilize_ms, p.bounces)
                            .min(self.cfg.stabilize_ms),
                        _ => self.cfg.stabilize_ms << p.bounces.min(4),
                    };
                    p.deadline = self.now.saturating_add(wait).min(p.give_up);
                    self.requests.insert(r.id, p);
                } else {
                    self.fail(r.id, kind, RequestError::Unreachable);
                }
            }
            (kind, _) => {
                // A reply of the wrong shape: keep waiting for a proper one.
                p.kind = kind;
                self.requests.insert(r.id, p);
            }
        }
    }

    /// Sends the items with keys in `(from, to]` to `peer`, in batches.
    pub(super) fn hand_off(&mut self, peer: RingId, from: RingId, to: RingId) {
        let keys: Vec<RingId> = self
            .store
            .range(from, to)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        self.send_items(peer, &keys, usize::MAX);
    }

    /// Sends the items at `keys` to `peer`, in batches, up to `budget`
    /// bytes; returns the bytes sent.
    fn send_items(&mut self, peer: RingId, keys: &[RingId], budget: usize) -> usize {
        let mut batch = Vec::new();
        let mut bytes = 0;
        let mut total = 0usize;
        for k in keys {
            let Some(item) = self.store.get(k) else {
                continue;
            };
            let size = item.size();
            if total.saturating_add(size) > budget {
                break;
            }
            total += size;
            let b = item.to_bytes();
            if !batch.is_empty() && (batch.len() == MAX_ITEMS || bytes + size > STORE_BATCH_BYTES) {
                self.send(
                    peer,
                    &Message::Store {
                        items: std::mem::take(&mut batch),
                    },
                );
                bytes = 0;
            }
            bytes += size;
            batch.push(b);
        }
        if !batch.is_empty() {
            self.send(peer, &Message::Store { items: batch });
        }
        total
    }

    /// Sends `peer` the items at `keys` it asked for, within its answer
    /// budget (`limits.rs`).
    fn answer_items(&mut self, peer: RingId, keys: &[RingId]) {
        let budget = self.answer_budget(peer);
        let sent = self.send_items(peer, keys, budget);
        self.answer_spent(peer, sent);
    }

    /// Items pushed by a peer (replication, hand-off, repair): each is kept
    /// if it verifies and `admit` takes it.
    pub(super) fn on_store(&mut self, items: Vec<ItemBytes>) {
        for b in &items {
            if let Some(item) = Item::from_bytes(b) {
                let _ = self.admit(item);
            }
        }
    }

    /// Anti-entropy: tell each replica successor what this node holds of
    /// the range it owns; each answers with what it lacks and sends what
    /// this node lacks (see [`Message::Digest`]).
    pub(super) fn sync_replicas(&mut self) {
        let Some(pred) = self.predecessor else {
            return;
        };
        if !self.joined || self.successors.is_empty() {
            return;
        }
        let owned = self.store.range(pred, self.id);
        let mut digests = Vec::new();
        let mut start = pred;
        for chunk in owned.chunks(MAX_DIGEST) {
            let end = if digests.len() + 1 == owned.len().div_ceil(MAX_DIGEST) {
                self.id
            } else {
                chunk[chunk.len() - 1].0
            };
            digests.push(Message::Digest {
                start,
                end,
                entries: chunk.to_vec(),
            });
            start = end;
        }
        if digests.is_empty() {
            digests.push(Message::Digest {
                start: pred,
                end: self.id,
                entries: Vec::new(),
            });
        }
        let replicas = self.replica_successors();
        for s in replicas {
            for d in &digests {
                self.send(s, d);
            }
        }
    }

    pub(super) fn on_digest(
        &mut self,
        from: RingId,
        start: RingId,
        end: RingId,
        entries: Vec<(RingId, Hash)>,
    ) {
        let theirs: crate::vecmap::VecSet<RingId> = entries.iter().map(|(k, _)| *k).collect();
        let want: Vec<RingId> = entries
            .into_iter()
            .filter(|(k, h)| {
                k.in_half_open(start, end)
                    && self.store.get(k).map(Item::hash) != Some(*h)
                    && self.may_hold(*k)
            })
            .map(|(k, _)| k)
            .collect();
        if !want.is_empty() {
            self.send(from, &Message::Want { keys: want });
        }
        if start != end {
            let missing: Vec<RingId> = self
                .store
                .range(start, end)
                .into_iter()
                .filter(|(k, _)| !theirs.contains(k))
                .map(|(k, _)| k)
                .collect();
            self.answer_items(from, &missing);
        }
    }

    pub(super) fn on_want(&mut self, from: RingId, keys: Vec<RingId>) {
        self.answer_items(from, &keys);
    }
}
