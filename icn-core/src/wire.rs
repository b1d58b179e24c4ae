//! Ring wire messages.
//!
//! Everything nodes say to each other is one [`Message`], a CBOR array whose
//! first element is a small integer tag (see `spec/ring.md` and
//! `spec/icn.cddl`). Messages come in two kinds: *neighbour* messages, which
//! only make sense between two linked nodes (stabilisation, notification,
//! liveness, replication), and [`Routed`] messages, which carry a destination
//! (a ring key or a node id) and are forwarded hop by hop until they reach the
//! node responsible for it, as in BOPlish's Figure 1.
//!
//! Decoding is strict (deterministic CBOR only) and bounded: a message is at
//! most [`MAX_MESSAGE_SIZE`] bytes and every list has a limit, so a hostile
//! peer can cost a node at most one bounded allocation per message.

use crate::cbor::{self, as_array, as_u64, CborError, Enc, Item, Seq};
use crate::hash::Hash;
use crate::id::RingId;
use crate::object::MAX_OBJECT_SIZE;

/// Largest encoded message: an object or block plus framing.
pub const MAX_MESSAGE_SIZE: usize = MAX_OBJECT_SIZE + 64 * 1024;
/// Most node ids in a successor list on the wire.
pub const MAX_SUCCESSORS: usize = 32;
/// Most entries in a digest or a want list.
pub const MAX_DIGEST: usize = 4096;
/// Most items in one store message.
pub const MAX_ITEMS: usize = 64;
/// Largest opaque application or signaling payload.
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not strict CBOR of a message shape.
    #[error("{0}")]
    Cbor(#[from] CborError),
    /// An unknown message or body tag.
    #[error("unknown message tag {0}")]
    UnknownTag(u64),
    /// The array has the wrong number of elements for its tag.
    #[error("message tag {0} has the wrong number of fields")]
    Arity(u64),
}

/// A stored item: a signed object (by its name's ring key) or a block (by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemBytes {
    /// An encoded signed object.
    Object(Vec<u8>),
    /// A block's bytes.
    Block(Vec<u8>),
}

/// Where a routed message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// The node responsible for this key (its successor).
    Key(RingId),
    /// The node with exactly this id.
    Node(RingId),
}

/// What a routed message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Who is responsible for the destination key?
    FindSuccessor,
    /// Answer to [`Body::FindSuccessor`]: the responsible node and its successors.
    Successor {
        /// The responsible node.
        node: RingId,
        /// Its successor list.
        successors: Vec<RingId>,
    },
    /// Fetch the item at the destination key; `forwarded` counts hand-overs
    /// to replicas when the responsible node lacks it.
    Get {
        /// Whether a block (by hash) rather than an object is wanted.
        block: bool,
        /// Replica hand-overs so far.
        forwarded: u8,
    },
    /// Answer to [`Body::Get`].
    GetReply {
        /// The item, if found.
        item: Option<ItemBytes>,
        /// Hops the request took.
        hops: u8,
    },
    /// Store an item at the destination key.
    Put {
        /// The item.
        item: ItemBytes,
    },
    /// Answer to [`Body::Put`]: empty on success, else an error code.
    PutReply {
        /// Error code, if refused.
        error: Option<String>,
        /// Hops the request took.
        hops: u8,
    },
    /// Opaque application payload for the destination node.
    App(Vec<u8>),
    /// Opaque signaling payload (SDP, ICE) for the destination node's driver.
    Signal(Vec<u8>),
    /// A node-addressed message could not be delivered.
    Unreachable,
}

/// A message forwarded hop by hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// Destination.
    pub dest: Dest,
    /// The node that sent it first.
    pub origin: RingId,
    /// Request id chosen by the origin; replies carry the same id.
    pub id: u64,
    /// Forwards so far.
    pub hops: u8,
    /// Payload.
    pub body: Body,
}

/// One message between two linked nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A joiner asks its bootstrap node to find its successor.
    JoinRequest,
    /// The joiner's successor list, found by the bootstrap node.
    JoinReply {
        /// Successor list for the joiner, first entry its successor.
        successors: Vec<RingId>,
    },
    /// Stabilize: "what are your predecessor and successor list?"
    GetState,
    /// Answer to [`Message::GetState`]; also sent unasked to the
    /// predecessor a node replaces, naming the newcomer.
    State {
        /// The sender's predecessor.
        predecessor: Option<RingId>,
        /// The sender's successor list.
        successors: Vec<RingId>,
    },
    /// "I believe I am your predecessor."
    Notify,
    /// Liveness probe.
    Ping {
        /// Echoed in the pong.
        nonce: u64,
    },
    /// Answer to [`Message::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// Anti-entropy between a key range's owner and its replicas: every item
    /// the sender holds with a key in `(start, end]`. The receiver asks for
    /// what it lacks ([`Message::Want`]) and sends what the sender lacks.
    Digest {
        /// Start of the range (exclusive).
        start: RingId,
        /// End of the range (inclusive).
        end: RingId,
        /// `(key, hash of item)` pairs.
        entries: Vec<(RingId, Hash)>,
    },
    /// Replication: keys from a digest that the receiver lacks or holds older.
    Want {
        /// The keys.
        keys: Vec<RingId>,
    },
    /// Replication and hand-off: items to store.
    Store {
        /// The items.
        items: Vec<ItemBytes>,
    },
    /// Graceful leave: the sender is going; here is its neighbourhood.
    Leaving {
        /// The leaver's predecessor.
        predecessor: Option<RingId>,
        /// The leaver's successor list.
        successors: Vec<RingId>,
    },
    /// The sender is closing this link on purpose; it is not dead.
    Bye,
    /// A message for some key or node, forwarded hop by hop.
    Routed(Routed),
    /// Rings that were apart become one (spec/ring.md, "Merging rings"):
    /// `candidate` is a live node that may lie between the receiver and its
    /// successor.
    Merge {
        /// The node to place.
        candidate: RingId,
    },
}

impl Message {
    /// The items this message carries (a put, a get's answer, a batch of
    /// copies): what a receiver checks before it takes them.
    pub fn items(&self) -> Vec<&ItemBytes> {
        match self {
            Message::Store { items } => items.iter().collect(),
            Message::Routed(Routed {
                body:
                    Body::Put { item }
                    | Body::GetReply {
                        item: Some(item), ..
                    },
                ..
            }) => vec![item],
            _ => Vec::new(),
        }
    }
}

fn ids(e: &mut Enc, list: &[RingId]) {
    e.list(list.len());
    for i in list {
        e.bytes(&i.0);
    }
}

fn opt_id(e: &mut Enc, i: &Option<RingId>) {
    match i {
        Some(i) => e.bytes(&i.0),
        None => e.null(),
    };
}

fn item(e: &mut Enc, i: &ItemBytes) {
    let (kind, b) = match i {
        ItemBytes::Object(b) => (0, b),
        ItemBytes::Block(b) => (1, b),
    };
    e.list(2).uint(kind).bytes(b);
}

impl Message {
    /// Deterministic CBOR encoding.
    pub fn encode(&self) -> Vec<u8> {
        let tag = match self {
            Message::JoinRequest => 0,
            Message::JoinReply { .. } => 1,
            Message::GetState => 2,
            Message::State { .. } => 3,
            Message::Notify => 4,
            Message::Ping { .. } => 5,
            Message::Pong { .. } => 6,
            Message::Digest { .. } => 7,
            Message::Want { .. } => 8,
            Message::Store { .. } => 9,
            Message::Leaving { .. } => 10,
            Message::Bye => 11,
            Message::Routed(_) => 12,
            Message::Merge { .. } => 13,
        };
        let mut e = Enc::array(1 + message_arity(tag).unwrap_or_default());
        e.uint(tag);
        match self {
            Message::JoinRequest | Message::GetState | Message::Notify | Message::Bye => {}
            Message::JoinReply { successors } => ids(&mut e, successors),
            Message::State {
                predecessor,
                successors,
            }
            | Message::Leaving {
                predecessor,
                successors,
            } => {
                opt_id(&mut e, predecessor);
                ids(&mut e, successors);
            }
            Message::Ping { nonce } | Message::Pong { nonce } => {
                e.uint(*nonce);
            }
            Message::Digest {
                start,
                end,
                entries,
            } => {
                e.bytes(&start.0).bytes(&end.0).list(entries.len());
                for (k, h) in entries {
                    e.list(2).bytes(&k.0).bytes(&h.0);
                }
            }
            Message::Want { keys } => ids(&mut e, keys),
            Message::Store { items } => {
                e.list(items.len());
                for i in items {
                    item(&mut e, i);
                }
            }
            Message::Routed(r) => routed_fields(&mut e, r),
            Message::Merge { candidate } => {
                e.bytes(&candidate.0);
            }
        }
        e.finish()
    }

    /// Strict, bounded decoding.
    pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
        let v = cbor::decode_strict(bytes, MAX_MESSAGE_SIZE)?;
        let mut s = Seq::new(v, "message", 8)?;
        let tag = s.uint("tag")?;
        let arity = message_arity(tag).ok_or(WireError::UnknownTag(tag))?;
        if s.left() != arity {
            return Err(WireError::Arity(tag));
        }
        Ok(match tag {
            0 => Message::JoinRequest,
            2 => Message::GetState,
            4 => Message::Notify,
            11 => Message::Bye,
            1 => Message::JoinReply {
                successors: id_list(s.next("successors")?, MAX_SUCCESSORS)?,
            },
            13 => Message::Merge {
                candidate: s.id("candidate")?,
            },
            8 => Message::Want {
                keys: id_list(s.next("keys")?, MAX_DIGEST)?,
            },
            3 | 10 => {
                let predecessor = match s.next("predecessor")? {
                    Item::Null => None,
                    v => Some(RingId(as_array(v, "predecessor")?)),
                };
                let successors = id_list(s.next("successors")?, MAX_SUCCESSORS)?;
                if tag == 3 {
                    Message::State {
                        predecessor,
                        successors,
                    }
                } else {
                    Message::Leaving {
                        predecessor,
                        successors,
                    }
                }
            }
            5 => Message::Ping {
                nonce: s.uint("nonce")?,
            },
            6 => Message::Pong {
                nonce: s.uint("nonce")?,
            },
            7 => {
                let start = s.id("start")?;
                let end = s.id("end")?;
                let mut list = Seq::new(s.next("digest")?, "digest", MAX_DIGEST)?;
                let mut entries = Vec::with_capacity(list.left());
                while list.left() > 0 {
                    let mut pair = Seq::new(list.next("digest entry")?, "digest entry", 2)?;
                    if pair.left() != 2 {
                        return Err(WireError::Arity(tag));
                    }
                    entries.push((pair.id("key")?, Hash(pair.id("hash")?.0)));
                }
                Message::Digest {
                    start,
                    end,
                    entries,
                }
            }
            9 => {
                let mut list = Seq::new(s.next("items")?, "items", MAX_ITEMS)?;
                let mut items = Vec::with_capacity(list.left());
                while list.left() > 0 {
                    items.push(decode_item(list.next("item")?)?);
                }
                Message::Store { items }
            }
            _ => Message::Routed(decode_routed(s)?),
        })
    }
}

/// How many fields follow the tag of message `tag`; `None` for an unknown
/// tag. The encoder and the decoder both read it.
fn message_arity(tag: u64) -> Option<usize> {
    match tag {
        0 | 2 | 4 | 11 => Some(0),
        1 | 5 | 6 | 8 | 9 | 13 => Some(1),
        3 | 10 => Some(2),
        7 => Some(3),
        12 => Some(6),
        _ => None,
    }
}

/// How many fields follow the tag of routed body `tag`; `None` for an
/// unknown tag.
fn body_arity(tag: u64) -> Option<usize> {
    match tag {
        0 | 8 => Some(0),
        4 | 6 | 7 => Some(1),
        1 | 2 | 3 | 5 => Some(2),
        _ => None,
    }
}

fn id_list(v: Item, max: usize) -> Result<Vec<RingId>, WireError> {
    let mut s = Seq::new(v, "id list", max)?;
    let mut ids = Vec::with_capacity(s.left());
    while s.left() > 0 {
        ids.push(s.id("id")?);
    }
    Ok(ids)
}

fn decode_item(v: Item) -> Result<ItemBytes, WireError> {
    let mut pair = Seq::new(v, "item", 2)?;
    if pair.left() != 2 {
        return Err(WireError::Arity(9));
    }
    let kind = pair.next("item kind")?;
    let bytes = pair.bytes("item", MAX_OBJECT_SIZE)?;
    match as_u64(kind, "item kind")? {
        0 => Ok(ItemBytes::Object(bytes)),
        1 => Ok(ItemBytes::Block(bytes)),
        k => Err(WireError::UnknownTag(k)),
    }
}

fn routed_fields(e: &mut Enc, r: &Routed) {
    let (dkind, did) = match r.dest {
        Dest::Key(k) => (0, k),
        Dest::Node(n) => (1, n),
    };
    e.uint(dkind)
        .bytes(&did.0)
        .bytes(&r.origin.0)
        .uint(r.id)
        .uint(u64::from(r.hops));
    let btag = match &r.body {
        Body::FindSuccessor => 0,
        Body::Successor { .. } => 1,
        Body::Get { .. } => 2,
        Body::GetReply { .. } => 3,
        Body::Put { .. } => 4,
        Body::PutReply { .. } => 5,
        Body::App(_) => 6,
        Body::Signal(_) => 7,
        Body::Unreachable => 8,
    };
    e.list(1 + body_arity(btag).unwrap_or_default()).uint(btag);
    match &r.body {
        Body::FindSuccessor | Body::Unreachable => {}
        Body::Successor { node, successors } => {
            e.bytes(&node.0);
            ids(e, successors);
        }
        Body::Get { block, forwarded } => {
            e.bool(*block).uint(u64::from(*forwarded));
        }
        Body::GetReply { item: i, hops } => {
            match i {
                Some(i) => item(e, i),
                None => {
                    e.null();
                }
            }
            e.uint(u64::from(*hops));
        }
        Body::Put { item: i } => item(e, i),
        Body::PutReply { error, hops } => {
            match error {
                Some(t) => e.text(t),
                None => e.null(),
            };
            e.uint(u64::from(*hops));
        }
        Body::App(b) | Body::Signal(b) => {
            e.bytes(b);
        }
    }
}

fn small(v: Item, field: &'static str) -> Result<u8, WireError> {
    u8::try_from(as_u64(v, field)?).map_err(|_| {
        WireError::Cbor(CborError::WrongType {
            field,
            expected: "an integer 0..=255",
        })
    })
}

fn decode_routed(mut s: Seq) -> Result<Routed, WireError> {
    let dkind = s.uint("destination kind")?;
    let did = s.id("destination")?;
    let dest = match dkind {
        0 => Dest::Key(did),
        1 => Dest::Node(did),
        k => return Err(WireError::UnknownTag(k)),
    };
    let origin = s.id("origin")?;
    let id = s.uint("id")?;
    let hops = small(s.next("hops")?, "hops")?;
    let mut b = Seq::new(s.next("body")?, "body", 3)?;
    let btag = b.uint("body tag")?;
    let want = body_arity(btag).ok_or(WireError::UnknownTag(btag))?;
    if b.left() != want {
        return Err(WireError::Arity(btag));
    }
    let body = match btag {
        0 => Body::FindSuccessor,
        1 => Body::Successor {
            node: b.id("node")?,
            successors: id_list(b.next("successors")?, MAX_SUCCESSORS)?,
        },
        2 => Body::Get {
            block: match b.next("block")? {
                Item::Bool(x) => x,
                _ => {
                    return Err(CborError::WrongType {
                        field: "block",
                        expected: "a boolean",
                    }
                    .into())
                }
            },
            forwarded: small(b.next("forwarded")?, "forwarded")?,
        },
        3 => Body::GetReply {
            item: match b.next("item")? {
                Item::Null => None,
                v => Some(decode_item(v)?),
            },
            hops: small(b.next("hops")?, "hops")?,
        },
        4 => Body::Put {
            item: decode_item(b.next("item")?)?,
        },
        5 => Body::PutReply {
            error: match b.next("error")? {
                Item::Null => None,
                v => Some(cbor::as_text(v, "error", 64)?),
            },
            hops: small(b.next("hops")?, "hops")?,
        },
        6 => Body::App(b.bytes("payload", MAX_PAYLOAD)?),
        7 => Body::Signal(b.bytes("payload", MAX_PAYLOAD)?),
        _ => Body::Unreachable,
    };
    Ok(Routed {
        dest,
        origin,
        id,
        hops,
        body,
    })
}

#[cfg(test)]
mod tests;
