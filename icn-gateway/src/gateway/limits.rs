//! Every bound the gateway enforces on its clients, in one place.
//!
//! spec/security.md lists these with their defaults; the threat they answer
//! is a client that completes the bootstrap handshake (which proves only
//! that it holds some key) and then sends or withholds whatever it likes.

/// The gateway's limits; [`Limits::default`] is what `icn gateway` runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// WebSocket connections from one IP address at once.
    pub max_per_addr: usize,
    /// Connections of one node key at once.
    pub max_per_key: usize,
    /// Joins admitted per second, from everyone.
    pub joins_per_s: u32,
    /// Joins admitted per second from one IP address: its share of
    /// `joins_per_s`, so that one address cannot use up the budget.
    pub joins_per_addr_per_s: u32,
    /// Relayed bytes per client and second.
    pub relay_bytes_per_s: u64,
    /// Relayed messages per client and second.
    pub relay_msgs_per_s: u64,
    /// Ring message bytes per client and second to the gateway's node.
    pub ring_bytes_per_s: u64,
    /// Ring messages per client and second to the gateway's node.
    pub ring_msgs_per_s: u64,
    /// Bytes queued for one client; a client that lets more pile up is
    /// disconnected (`peer::outbox`).
    pub client_queue_bytes: usize,
    /// The gateway's own ring node: its store and its answers.
    pub node: icn_core::node::Limits,
    /// What the pinned store (everything published over HTTP) takes.
    pub store: super::store::Quota,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_per_addr: 256,
            max_per_key: 4,
            joins_per_s: 500,
            joins_per_addr_per_s: 50,
            relay_bytes_per_s: 4 * 1024 * 1024,
            relay_msgs_per_s: 2000,
            ring_bytes_per_s: 8 * 1024 * 1024,
            ring_msgs_per_s: 4000,
            client_queue_bytes: 8 * 1024 * 1024,
            node: icn_core::node::Limits {
                store_bytes: 512 * 1024 * 1024,
                store_items: 1_000_000,
                ..icn_core::node::Limits::default()
            },
            store: super::store::Quota::default(),
        }
    }
}

impl Limits {
    /// The ring node's limits as the gateway runs them: what it answers one
    /// peer per period is at most half a client's queue, since a client's
    /// digest is answered in one burst, and a burst larger than the queue
    /// would disconnect an honest client that reads as fast as it can.
    pub fn node_limits(&self) -> icn_core::node::Limits {
        icn_core::node::Limits {
            answer_bytes: self.node.answer_bytes.min(self.client_queue_bytes / 2),
            ..self.node.clone()
        }
    }
}
