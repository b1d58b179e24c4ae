//! Counters for `/metrics` (Prometheus text format), lock-free.

use std::sync::atomic::{AtomicU64, Ordering};

/// One counter or gauge.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Sets the value (for gauges).
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The gateway's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// HTTP requests served.
    pub requests: Counter,
    /// HTTP responses with status 4xx or 5xx.
    pub errors: Counter,
    /// Objects accepted by PUT.
    pub objects_put: Counter,
    /// Blocks accepted by PUT.
    pub blocks_put: Counter,
    /// Ring lookups started.
    pub lookups: Counter,
    /// Hops of answered ring lookups, summed.
    pub hops: Counter,
    /// Peers that joined over WebSocket.
    pub joins: Counter,
    /// Open ring links.
    pub links: Counter,
    /// Messages relayed between peers.
    pub relayed: Counter,
    /// Bytes relayed between peers.
    pub relayed_bytes: Counter,
    /// Relay messages dropped for exceeding a peer's budget.
    pub relay_dropped: Counter,
    /// STUN Binding requests answered.
    pub stun_answers: Counter,
    /// Ring messages from clients dropped for exceeding their budget.
    pub ring_dropped: Counter,
    /// Connections or joins refused (per address, per key, join rate).
    pub joins_refused: Counter,
    /// Clients disconnected for misbehaving (a full send queue, a bad frame).
    pub disconnected: Counter,
    /// Bytes in the ring node's store.
    pub node_store_bytes: Counter,
    /// Items in the ring node's store.
    pub node_store_items: Counter,
    /// Items the ring node refused to store (out of its range, or full).
    pub node_refused: Counter,
}

impl Metrics {
    /// Prometheus text exposition; `stored` is the pinned object count,
    /// `pinned_bytes` the bytes of the pinned store.
    pub fn render(&self, stored: usize, pinned_bytes: u64) -> String {
        let mut s = String::new();
        let mut put = |name: &str, kind: &str, help: &str, v: u64| {
            s.push_str(&format!(
                "# HELP icn_{name} {help}\n# TYPE icn_{name} {kind}\nicn_{name} {v}\n"
            ));
        };
        put(
            "http_requests_total",
            "counter",
            "HTTP requests served.",
            self.requests.get(),
        );
        put(
            "http_errors_total",
            "counter",
            "HTTP responses with an error status.",
            self.errors.get(),
        );
        put(
            "objects_put_total",
            "counter",
            "Objects accepted over HTTP.",
            self.objects_put.get(),
        );
        put(
            "blocks_put_total",
            "counter",
            "Blocks accepted over HTTP.",
            self.blocks_put.get(),
        );
        put(
            "lookups_total",
            "counter",
            "Ring lookups started.",
            self.lookups.get(),
        );
        put(
            "lookup_hops_total",
            "counter",
            "Hops of answered ring lookups.",
            self.hops.get(),
        );
        put(
            "joins_total",
            "counter",
            "Peers that joined through this gateway.",
            self.joins.get(),
        );
        put("links", "gauge", "Open ring links.", self.links.get());
        put(
            "relayed_total",
            "counter",
            "Messages relayed between peers.",
            self.relayed.get(),
        );
        put(
            "relayed_bytes_total",
            "counter",
            "Bytes relayed between peers.",
            self.relayed_bytes.get(),
        );
        put(
            "relay_dropped_total",
            "counter",
            "Relay messages over a peer's budget.",
            self.relay_dropped.get(),
        );
        put(
            "stun_answers_total",
            "counter",
            "STUN Binding requests answered.",
            self.stun_answers.get(),
        );
        put(
            "ring_dropped_total",
            "counter",
            "Ring messages from clients over their budget.",
            self.ring_dropped.get(),
        );
        put(
            "joins_refused_total",
            "counter",
            "Connections and joins refused by a limit.",
            self.joins_refused.get(),
        );
        put(
            "disconnected_total",
            "counter",
            "Clients disconnected for misbehaving.",
            self.disconnected.get(),
        );
        put(
            "node_store_bytes",
            "gauge",
            "Bytes in the ring node's store.",
            self.node_store_bytes.get(),
        );
        put(
            "node_store_items",
            "gauge",
            "Items in the ring node's store.",
            self.node_store_items.get(),
        );
        put(
            "node_refused_total",
            "counter",
            "Items the ring node refused to store.",
            self.node_refused.get(),
        );
        put(
            "pinned_bytes",
            "gauge",
            "Bytes of objects and blocks in the pinned store.",
            pinned_bytes,
        );
        put(
            "stored_objects",
            "gauge",
            "Objects pinned in the store.",
            stored as u64,
        );
        s
    }
}
