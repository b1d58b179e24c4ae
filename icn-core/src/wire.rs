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

use crate::cbor::Value;

use crate::cbor::{self, as_array, as_bytes, as_list, as_u64, uint, CborError};
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
    /// Answer to [`Message::GetState`].
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
}

fn ids(list: &[RingId]) -> Value {
    Value::Array(list.iter().map(|i| Value::Bytes(i.0.to_vec())).collect())
}

fn opt_id(i: &Option<RingId>) -> Value {
    i.map_or(Value::Null, |i| Value::Bytes(i.0.to_vec()))
}

fn item_value(i: &ItemBytes) -> Value {
    match i {
        ItemBytes::Object(b) => Value::Array(vec![uint(0), Value::Bytes(b.clone())]),
        ItemBytes::Block(b) => Value::Array(vec![uint(1), Value::Bytes(b.clone())]),
    }
}

impl Message {
    /// Deterministic CBOR encoding.
    pub fn encode(&self) -> Vec<u8> {
        let t = |n: u64, mut rest: Vec<Value>| {
            rest.insert(0, uint(n));
            Value::Array(rest)
        };
        let v = match self {
            Message::JoinRequest => t(0, vec![]),
            Message::JoinReply { successors } => t(1, vec![ids(successors)]),
            Message::GetState => t(2, vec![]),
            Message::State {
                predecessor,
                successors,
            } => t(3, vec![opt_id(predecessor), ids(successors)]),
            Message::Notify => t(4, vec![]),
            Message::Ping { nonce } => t(5, vec![uint(*nonce)]),
            Message::Pong { nonce } => t(6, vec![uint(*nonce)]),
            Message::Digest {
                start,
                end,
                entries,
            } => t(
                7,
                vec![
                    Value::Bytes(start.0.to_vec()),
                    Value::Bytes(end.0.to_vec()),
                    Value::Array(
                        entries
                            .iter()
                            .map(|(k, h)| {
                                Value::Array(vec![
                                    Value::Bytes(k.0.to_vec()),
                                    Value::Bytes(h.0.to_vec()),
                                ])
                            })
                            .collect(),
                    ),
                ],
            ),
            Message::Want { keys } => t(8, vec![ids(keys)]),
            Message::Store { items } => t(
                9,
                vec![Value::Array(items.iter().map(item_value).collect())],
            ),
            Message::Leaving {
                predecessor,
                successors,
            } => t(10, vec![opt_id(predecessor), ids(successors)]),
            Message::Bye => t(11, vec![]),
            Message::Routed(r) => t(12, routed_fields(r)),
        };
        cbor::encode(&v)
    }

    /// Strict, bounded decoding.
    pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
        let v = cbor::decode_strict(bytes, MAX_MESSAGE_SIZE)?;
        let mut items = as_list(v, "message", 8)?.into_iter();
        let tag = as_u64(items.next().ok_or(CborError::Missing("tag"))?, "tag")?;
        let mut rest: Vec<Value> = items.collect();
        let arity = |n: usize, rest: &Vec<Value>| {
            if rest.len() == n {
                Ok(())
            } else {
                Err(WireError::Arity(tag))
            }
        };
        let msg = match tag {
            0 | 2 | 4 | 11 => {
                arity(0, &rest)?;
                match tag {
                    0 => Message::JoinRequest,
                    2 => Message::GetState,
                    4 => Message::Notify,
                    _ => Message::Bye,
                }
            }
            1 | 8 => {
                arity(1, &rest)?;
                let max = if tag == 1 { MAX_SUCCESSORS } else { MAX_DIGEST };
                let list = id_list(rest.remove(0), max)?;
                if tag == 1 {
                    Message::JoinReply { successors: list }
                } else {
                    Message::Want { keys: list }
                }
            }
            3 | 10 => {
                arity(2, &rest)?;
                let successors = id_list(rest.remove(1), MAX_SUCCESSORS)?;
                let predecessor = match rest.remove(0) {
                    Value::Null => None,
                    v => Some(RingId(as_array(v, "predecessor")?)),
                };
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
            5 | 6 => {
                arity(1, &rest)?;
                let nonce = as_u64(rest.remove(0), "nonce")?;
                if tag == 5 {
                    Message::Ping { nonce }
                } else {
                    Message::Pong { nonce }
                }
            }
            7 => {
                arity(3, &rest)?;
                let list = rest.remove(2);
                let end = RingId(as_array(rest.remove(1), "end")?);
                let start = RingId(as_array(rest.remove(0), "start")?);
                let mut entries = Vec::new();
                for e in as_list(list, "digest", MAX_DIGEST)? {
                    let mut pair = as_list(e, "digest entry", 2)?.into_iter();
                    match (pair.next(), pair.next()) {
                        (Some(k), Some(h)) => {
                            entries.push((RingId(as_array(k, "key")?), Hash(as_array(h, "hash")?)))
                        }
                        _ => return Err(WireError::Arity(tag)),
                    }
                }
                Message::Digest {
                    start,
                    end,
                    entries,
                }
            }
            9 => {
                arity(1, &rest)?;
                let items = as_list(rest.remove(0), "items", MAX_ITEMS)?
                    .into_iter()
                    .map(decode_item)
                    .collect::<Result<_, _>>()?;
                Message::Store { items }
            }
            12 => Message::Routed(decode_routed(rest)?),
            other => return Err(WireError::UnknownTag(other)),
        };
        Ok(msg)
    }
}

fn id_list(v: Value, max: usize) -> Result<Vec<RingId>, WireError> {
    as_list(v, "id list", max)?
        .into_iter()
        .map(|i| Ok(RingId(as_array(i, "id")?)))
        .collect()
}

fn decode_item(v: Value) -> Result<ItemBytes, WireError> {
    let mut pair = as_list(v, "item", 2)?.into_iter();
    let (Some(kind), Some(bytes), None) = (pair.next(), pair.next(), pair.next()) else {
        return Err(WireError::Arity(9));
    };
    let bytes = as_bytes(bytes, "item", MAX_OBJECT_SIZE)?;
    match as_u64(kind, "item kind")? {
        0 => Ok(ItemBytes::Object(bytes)),
        1 => Ok(ItemBytes::Block(bytes)),
        k => Err(WireError::UnknownTag(k)),
    }
}

fn routed_fields(r: &Routed) -> Vec<Value> {
    let (dkind, did) = match r.dest {
        Dest::Key(k) => (0, k),
        Dest::Node(n) => (1, n),
    };
    let body = match &r.body {
        Body::FindSuccessor => vec![uint(0)],
        Body::Successor { node, successors } => {
            vec![uint(1), Value::Bytes(node.0.to_vec()), ids(successors)]
        }
        Body::Get { block, forwarded } => {
            vec![uint(2), Value::Bool(*block), uint(u64::from(*forwarded))]
        }
        Body::GetReply { item, hops } => vec![
            uint(3),
            item.as_ref().map_or(Value::Null, item_value),
            uint(u64::from(*hops)),
        ],
        Body::Put { item } => vec![uint(4), item_value(item)],
        Body::PutReply { error, hops } => vec![
            uint(5),
            error.clone().map_or(Value::Null, Value::Text),
            uint(u64::from(*hops)),
        ],
        Body::App(b) => vec![uint(6), Value::Bytes(b.clone())],
        Body::Signal(b) => vec![uint(7), Value::Bytes(b.clone())],
        Body::Unreachable => vec![uint(8)],
    };
    vec![
        uint(dkind),
        Value::Bytes(did.0.to_vec()),
        Value::Bytes(r.origin.0.to_vec()),
        uint(r.id),
        uint(u64::from(r.hops)),
        Value::Array(body),
    ]
}

fn small(v: Value, field: &'static str) -> Result<u8, WireError> {
    u8::try_from(as_u64(v, field)?).map_err(|_| {
        WireError::Cbor(CborError::WrongType {
            field,
            expected: "an integer 0..=255",
        })
    })
}

fn decode_routed(rest: Vec<Value>) -> Result<Routed, WireError> {
    let [dkind, did, origin, id, hops, body]: [Value; 6] =
        rest.try_into().map_err(|_| WireError::Arity(12))?;
    let did = RingId(as_array(did, "destination")?);
    let dest = match as_u64(dkind, "destination kind")? {
        0 => Dest::Key(did),
        1 => Dest::Node(did),
        k => return Err(WireError::UnknownTag(k)),
    };
    let mut b = as_list(body, "body", 3)?.into_iter();
    let btag = as_u64(b.next().ok_or(CborError::Missing("body tag"))?, "body tag")?;
    let f: Vec<Value> = b.collect();
    let want = match btag {
        0 | 8 => 0,
        2 | 3 | 5 | 1 => 2,
        4 | 6 | 7 => 1,
        t => return Err(WireError::UnknownTag(t)),
    };
    if f.len() != want {
        return Err(WireError::Arity(btag));
    }
    let mut f = f.into_iter();
    let mut next = || f.next().ok_or(WireError::Arity(btag));
    let body = match btag {
        0 => Body::FindSuccessor,
        1 => Body::Successor {
            node: RingId(as_array(next()?, "node")?),
            successors: id_list(next()?, MAX_SUCCESSORS)?,
        },
        2 => Body::Get {
            block: match next()? {
                Value::Bool(b) => b,
                _ => {
                    return Err(CborError::WrongType {
                        field: "block",
                        expected: "a boolean",
                    }
                    .into())
                }
            },
            forwarded: small(next()?, "forwarded")?,
        },
        3 => Body::GetReply {
            item: match next()? {
                Value::Null => None,
                v => Some(decode_item(v)?),
            },
            hops: small(next()?, "hops")?,
        },
        4 => Body::Put {
            item: decode_item(next()?)?,
        },
        5 => Body::PutReply {
            error: match next()? {
                Value::Null => None,
                v => Some(cbor::as_text(v, "error", 64)?),
            },
            hops: small(next()?, "hops")?,
        },
        6 => Body::App(as_bytes(next()?, "payload", MAX_PAYLOAD)?),
        7 => Body::Signal(as_bytes(next()?, "payload", MAX_PAYLOAD)?),
        _ => Body::Unreachable,
    };
    Ok(Routed {
        dest,
        origin: RingId(as_array(origin, "origin")?),
        id: as_u64(id, "id")?,
        hops: small(hops, "hops")?,
        body,
    })
}

#[cfg(test)]
mod tests;
