//! `icn swarm`: many native peers in one process, for tests and measurement.
//!
//! This is icn's emulation component (after BOPlish's): the same peer code
//! as everywhere (the `icn-core` node over WebRTC DataChannels, here through
//! str0m), N times in one tokio runtime, one UDP socket per peer. It joins
//! them through a gateway, optionally publishes objects, performs gets from
//! random peers while peers leave and join, checks at the end that every
//! published object is still readable, and prints one JSON line of figures
//! on stdout (progress goes to stderr).

pub mod respond;

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use icn_core::node::{Config, Stats, Undeliverable};
use icn_core::{ContentObject, Name, Payload, PublisherId, RingId, SignedObject};
use serde_json::json;

use crate::peer::{Peer, Transport};

/// A request without an answer after this long is counted as failed (the
/// node's own retries, 3 + 6 + 9 + 12 s at worst, end before).
const REQUEST_LIMIT: Duration = Duration::from_secs(40);

/// Marks a get whose own peer left while it ran (not counted as tried).
const CUT_BY_LEAVE: &str = "the peer left";

/// Most peers one swarm runs.
pub const MAX_PEERS: usize = 1000;

/// What `icn swarm` does.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// The gateways' WebSocket URLs (`ws://host:port/ws`), of one ring: peer
    /// i joins through gateway i mod their number, or the next one that
    /// answers.
    pub ws_urls: Vec<String>,
    /// Peers to run.
    pub peers: usize,
    /// Objects to publish after joining.
    pub publish: usize,
    /// Gets to perform over the run.
    pub gets: usize,
    /// Seconds the measured phase lasts.
    pub duration: u64,
    /// Peers per second that leave (gracefully) and are replaced.
    pub churn: f64,
    /// Seed of every random choice (keys, names, who gets what).
    pub seed: u64,
    /// Names (published elsewhere) to read once from a random peer.
    pub read: Vec<String>,
    /// Seconds to wait after every peer joined, before measuring.
    pub settle: u64,
    /// Peers answer application messages for throughput measurement
    /// ([`respond`]).
    pub respond: bool,
    /// STUN servers to use instead of the ones the gateway offers.
    pub ice: Option<Vec<icn_core::ice::IceServer>>,
}

/// Why the swarm could not run.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// A parameter is out of range.
    #[error("{0}")]
    Config(String),
    /// A peer connected but was no ring member 30 s later.
    #[error("peer {index} is not a ring member after 30 s")]
    NotMember {
        /// Which peer.
        index: usize,
    },
    /// A peer could not join.
    #[error("peer {index} could not join: {source}")]
    Join {
        /// Which peer.
        index: usize,
        /// Why.
        source: crate::peer::PeerError,
    },
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn key(&mut self) -> SigningKey {
        let mut seed = [0u8; 32];
        for c in seed.chunks_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        SigningKey::from_bytes(&seed)
    }
}

/// Resident memory of process `pid` (`"self"` for this one) in KiB, from
/// `/proc` (0 where that is unavailable).
pub fn rss_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) this process used so far.
fn cpu_seconds() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    ticks as f64 / 100.0
}

fn pct(xs: &mut [f64], p: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() as f64 * p) as usize).min(xs.len() - 1)]
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

async fn join_one(
    cfg: &SwarmConfig,
    rng: &mut Rng,
    index: usize,
) -> Result<(Peer, f64), SwarmError> {
    let t0 = Instant::now();
    let node_cfg = Config {
        seed: rng.next(),
        secret: crate::peer::random_secret().map_err(|e| SwarmError::Config(e.to_string()))?,
        ..Config::default()
    };
    let key = rng.key();
    // Through gateway index mod k, or the next one if that one stopped
    // (`run` checked that there is at least one); a peer left stranded
    // later joins again through the next one.
    let k = cfg.ws_urls.len();
    let urls: Vec<String> = (0..k)
        .map(|i| cfg.ws_urls[(index + i) % k].clone())
        .collect();
    let joined = Peer::join_with_ice(&urls, key, node_cfg, cfg.ice.clone()).await;
    let peer = joined.map_err(|source| SwarmError::Join { index, source })?;
    // Joined means a member of the ring: it has a successor.
    while !peer.status().await.is_some_and(|v| v.joined) && t0.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    if t0.elapsed() >= Duration::from_secs(30) {
        peer.leave().await;
        return Err(SwarmError::NotMember { index });
    }
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    if ms > 2000.0 {
        eprintln!("slow join: {} took {ms:.0} ms", peer.id());
    }
    Ok((peer, ms))
}

/// Signs object `i` of the run under `/<publisher>/swarm/<seed>/<i>` and
/// publishes it through `p`.
async fn publish_one(
    p: &Peer,
    publisher: &SigningKey,
    seed: u64,
    i: usize,
) -> Result<SignedObject, String> {
    let pid = PublisherId::from_key(publisher.verifying_key()).to_text();
    let name = Name::parse(&format!("/swarm/{seed}/{i}"))
        .and_then(|n| n.under_publisher(&pid))
        .map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let obj = ContentObject {
        name,
        version: now,
        content_type: "text/plain".into(),
        created: now,
        freshness: None,
        payload: Payload::Inline(format!("swarm object {i}").into_bytes()),
    };
    let signed = SignedObject::sign(obj, publisher).map_err(|e| e.to_string())?;
    tokio::time::timeout(REQUEST_LIMIT, p.publish(signed.clone()))
        .await
        .map_err(|_| "no answer within 40 s".to_string())?
        .map_err(|e| e.to_string())?;
    // For scripts that read them while the swarm runs.
    eprintln!("published-name {}", signed.name());
    Ok(signed)
}

/// Node counters summed over peers (those that left included): why routed
/// messages stopped, and how often a peer was presumed dead.
#[derive(Default)]
struct Tally {
    undeliverable: Undeliverable,
    presumed_dead: u64,
}

impl Tally {
    fn add(&mut self, s: &Stats) {
        let (sum, u) = (&mut self.undeliverable, s.undeliverable);
        sum.hop_limit += u.hop_limit;
        sum.not_member += u.not_member;
        sum.no_hop += u.no_hop;
        sum.unlinked_node += u.unlinked_node;
        self.presumed_dead += s.presumed_dead;
    }
}

/// One line on a failed get, for tracing why: the asking peer's state and
/// that of the peers around the key (by the ids of the swarm's peers; the
/// gateways' own nodes are not among them).
async fn diagnose(peers: &[Peer], error: &str, ms: f64, asker: RingId, key: RingId) -> String {
    let short = |id: &RingId| id.to_hex()[..8].to_string();
    let view = |v: Option<icn_core::node::RingView>| match v {
        None => "gone".to_string(),
        Some(v) => format!(
            "{}{} pred {} succ [{}] links {}",
            short(&v.id),
            if v.joined { "" } else { " (no member)" },
            v.predecessor
                .as_ref()
                .map(short)
                .unwrap_or_else(|| "-".into()),
            v.successors
                .iter()
                .take(3)
                .map(short)
                .collect::<Vec<_>>()
                .join(" "),
            v.links.len()
        ),
    };
    let mut ids: Vec<(RingId, &Peer)> = peers.iter().map(|p| (p.id(), p)).collect();
    ids.sort_by_key(|(id, _)| *id);
    let owner = ids.iter().position(|(id, _)| *id >= key).unwrap_or(0);
    let mut around = Vec::new();
    for d in [ids.len() - 1, 0, 1] {
        if let Some((_, p)) = ids.get((owner + d) % ids.len().max(1)) {
            around.push(view(p.status().await));
        }
    }
    let asking = match peers.iter().find(|p| p.id() == asker) {
        Some(p) => view(p.status().await),
        None => format!("{} (left)", short(&asker)),
    };
    format!(
        "get failed after {ms:.0} ms: {error}; key {}; asked by {asking}; around the key: {}",
        short(&key),
        around.join(" | ")
    )
}

/// Runs the swarm and returns the JSON line to print.
pub async fn run(cfg: SwarmConfig) -> Result<serde_json::Value, SwarmError> {
    if cfg.ws_urls.is_empty() || cfg.ws_urls.len() > 16 {
        return Err(SwarmError::Config(
            "--gateway must be given 1 to 16 times".into(),
        ));
    }
    if cfg.peers == 0 || cfg.peers > MAX_PEERS {
        return Err(SwarmError::Config(format!(
            "--peers must be 1..={MAX_PEERS}"
        )));
    }
    if cfg.settle > 600 || cfg.duration > 24 * 3600 {
        return Err(SwarmError::Config(
            "--settle must be 0..=600 and --duration 0..=86400 seconds".into(),
        ));
    }
    if !(0.0..=100.0).contains(&cfg.churn) {
        return Err(SwarmError::Config(
            "--churn must be 0..=100 peers per second".into(),
        ));
    }
    let mut rng = Rng(cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (rss0, cpu0) = (rss_kb("self"), cpu_seconds());
    let mut peers = Vec::with_capacity(cfg.peers);
    let mut join_ms = Vec::new();
    for i in 0..cfg.peers {
        let (p, ms) = join_one(&cfg, &mut rng, i).await?;
        eprintln!("peer-id {}", p.id().to_hex());
        if cfg.respond {
            tokio::spawn(respond::run(p.clone(), p.messages().await));
        }
        peers.push(p);
        join_ms.push(ms);
        if (i + 1) % 10 == 0 || i + 1 == cfg.peers {
            eprintln!("joined {}/{}", i + 1, cfg.peers);
        }
    }
    // Let links settle into DataChannels (and the ring repair whatever
    // happened meanwhile) before measuring.
    tokio::time::sleep(Duration::from_secs(cfg.settle)).await;
    eprintln!("measuring");
    let rss_joined = rss_kb("self");

    let publisher = rng.key();
    let mut published: Vec<SignedObject> = Vec::new();
    let mut read_ok = Vec::new();
    for n in &cfg.read {
        let name = Name::parse(n).map_err(|e| SwarmError::Config(format!("--read {n:?}: {e}")))?;
        let p = &peers[rng.below(peers.len())];
        let ok = p.get(&name).await.is_ok();
        read_ok.push(json!({ "name": n, "ok": ok }));
    }

    // The measured phase: gets spread over the duration, churn beside them.
    let start = Instant::now();
    let duration = Duration::from_secs(cfg.duration);
    let (mut lat, mut hops, mut ok, mut tried) = (Vec::new(), 0u64, 0u64, 0u64);
    let mut next_churn = if cfg.churn > 0.0 {
        Some(start + Duration::from_secs_f64(1.0 / cfg.churn))
    } else {
        None
    };
    let (mut left, mut joined_again) = (0, 0);
    let mut rejoin_ms = Vec::new();
    let (joined_tx, mut joined_rx) = tokio::sync::mpsc::unbounded_channel();
    let get_every = duration
        .checked_div(cfg.gets.max(1) as u32)
        .unwrap_or_default();
    // Objects are published over the first half of the run, gets read
    // whatever is published so far.
    let publish_every = (duration / 2)
        .checked_div(cfg.publish.max(1) as u32)
        .unwrap_or_default();
    let (mut next_get, mut next_publish) = (start, start);
    let (mut done_gets, mut started_gets, mut attempts) = (0, 0, 0);
    let (got_tx, mut got_rx) =
        tokio::sync::mpsc::unbounded_channel::<(Option<String>, u8, f64, RingId, RingId)>();
    let mut get_errors: std::collections::BTreeMap<String, u64> = Default::default();
    let mut cut_by_leave = 0u64;
    let mut tally = Tally::default();
    let (pub_tx, mut pub_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut publishes_done = 0;
    let mut join_failures = 0;
    // Members that stopped being members (lost every successor and joined
    // again): each spell counted once.
    let (mut next_watch, mut outside, mut memberships_lost) =
        (start, std::collections::HashSet::new(), 0u64);
    while start.elapsed() < duration
        || publishes_done < cfg.publish
        || (done_gets < cfg.gets && !published.is_empty())
    {
        if attempts < cfg.publish && Instant::now() >= next_publish {
            // In its own task, like gets: a slow publish delays nothing.
            let p = peers[rng.below(peers.len())].clone();
            let (tx, publisher, seed, i) = (pub_tx.clone(), publisher.clone(), cfg.seed, attempts);
            tokio::spawn(async move {
                let r = publish_one(&p, &publisher, seed, i).await;
                let _ = tx.send((i, r));
            });
            attempts += 1;
            next_publish += publish_every;
        }
        while let Ok((i, r)) = pub_rx.try_recv() {
            publishes_done += 1;
            match r {
                Ok(o) => published.push(o),
                Err(e) => eprintln!("publish {i} failed: {e}"),
            }
        }
        while let Ok(r) = joined_rx.try_recv() {
            match r {
                Ok((p, ms)) => {
                    peers.push(p);
                    rejoin_ms.push(ms);
                    joined_again += 1;
                }
                Err(e) => {
                    join_failures += 1;
                    eprintln!("{e}");
                }
            }
        }
        if peers.len() < 2 {
            eprintln!("fewer than 2 peers left; stopping");
            break;
        }
        if Instant::now() >= next_watch {
            next_watch += Duration::from_millis(500);
            for p in &peers {
                match p.status().await {
                    Some(v) if !v.joined => {
                        if outside.insert(v.id) {
                            memberships_lost += 1;
                            eprintln!(
                                "not a member any more: {} ({} links, {} fingers, predecessor {})",
                                v.id,
                                v.links.len(),
                                v.fingers.len(),
                                v.predecessor.is_some()
                            );
                        }
                    }
                    _ => {
                        outside.remove(&p.id());
                    }
                }
            }
        }
        if next_churn.is_some_and(|at| Instant::now() >= at) {
            let victim = rng.below(peers.len());
            let leaver = peers.swap_remove(victim);
            if let Some(s) = leaver.stats().await {
                tally.add(&s);
            }
            if tokio::time::timeout(Duration::from_secs(5), leaver.leave())
                .await
                .is_err()
            {
                eprintln!("a peer took over 5 s to leave");
            }
            left += 1;
            // The replacement joins in the background, so gets go on, through
            // whichever gateway still answers; without any, nobody can join
            // and the swarm shrinks instead.
            let (cfg2, tx, seed) = (cfg.clone(), joined_tx.clone(), rng.next());
            let index = cfg.peers + left;
            tokio::spawn(async move {
                let r = join_one(&cfg2, &mut Rng(seed | 1), index).await;
                let _ = tx.send(r);
            });
            // From now: a slow leave must not cause a burst of leaves.
            next_churn = Some(Instant::now() + Duration::from_secs_f64(1.0 / cfg.churn));
        }
        while let Ok((err, h, ms, asker, key)) = got_rx.try_recv() {
            if let Some(e) = err.as_deref().filter(|e| *e != CUT_BY_LEAVE) {
                eprintln!("{}", diagnose(&peers, e, ms, asker, key).await);
            }
            match err {
                None => {
                    ok += 1;
                    hops += u64::from(h);
                    lat.push(ms);
                }
                Some(e) if e == CUT_BY_LEAVE => {
                    cut_by_leave += 1;
                    tried -= 1;
                }
                Some(e) => *get_errors.entry(e).or_default() += 1,
            }
            done_gets += 1;
            if done_gets % 100 == 0 {
                eprintln!("gets {done_gets}/{} ok {ok}", cfg.gets);
            }
        }
        if started_gets < cfg.gets && !published.is_empty() && Instant::now() >= next_get {
            // Each get runs in its own task, so a slow one delays nothing.
            let o = published[rng.below(published.len())].clone();
            let p = peers[rng.below(peers.len())].clone();
            let tx = got_tx.clone();
            let key = o.name().ring_key();
            tokio::spawn(async move {
                let t0 = Instant::now();
                let (r, h) = tokio::time::timeout(REQUEST_LIMIT, p.get_with_hops(o.name()))
                    .await
                    .unwrap_or((Err(icn_core::node::RequestError::Timeout), 0));
                let err = match r {
                    Ok(got) if got.hash() == o.hash() => None,
                    Ok(_) => Some("older version".to_string()),
                    // The churn made this very peer leave meanwhile: its
                    // application went away, not a failure of the ring.
                    Err(_) if p.status().await.is_none() => Some(CUT_BY_LEAVE.to_string()),
                    Err(e) => Some(e.to_string()),
                };
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                let _ = tx.send((err, h, ms, p.id(), key));
            });
            tried += 1;
            started_gets += 1;
            next_get += get_every;
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if start.elapsed() > duration + Duration::from_secs(600) {
            break;
        }
    }
    eprintln!("published {}/{}", published.len(), cfg.publish);
    let cpu = cpu_seconds() - cpu0;
    let wall = start.elapsed().as_secs_f64().max(0.001);

    // Every published object must still be readable.
    let mut lost = 0;
    for o in &published {
        let p = &peers[rng.below(peers.len())];
        if !p
            .get(o.name())
            .await
            .is_ok_and(|got| got.hash() == o.hash())
        {
            lost += 1;
        }
    }
    for p in &peers {
        if let Some(s) = p.stats().await {
            tally.add(&s);
        }
    }
    // Each peer's ring pointers, for tests that check the whole ring.
    let mut ring = Vec::new();
    for p in &peers {
        if let Some(v) = p.status().await {
            ring.push(json!({
                "id": v.id.to_hex(),
                "joined": v.joined,
                "successor": v.successors.first().map(|s| s.to_hex()),
                "predecessor": v.predecessor.map(|s| s.to_hex()),
            }));
        }
    }
    let relay_settle_ms = settle_relays(&peers).await;
    let (mut webrtc, mut turn, mut relayed) = (0, 0, 0);
    let mut webrtc_peers = std::collections::BTreeSet::new();
    for p in &peers {
        for (id, t) in p.links().await {
            match t {
                Transport::WebRtc | Transport::Turn => {
                    match t {
                        Transport::Turn => turn += 1,
                        _ => webrtc += 1,
                    }
                    webrtc_peers.insert(id.to_hex());
                }
                Transport::Relay => relayed += 1,
                Transport::WebSocket => {}
            }
        }
    }
    let n = peers.len();
    Ok(json!({
        "peers": n,
        "links_webrtc": webrtc,
        "links_turn": turn,
        "links_relayed": relayed,
        "relay_settle_ms": relay_settle_ms,
        "join_ms_p50": round2(pct(&mut join_ms.clone(), 0.5)),
        "join_ms_p99": round2(pct(&mut join_ms, 0.99)),
        "get_ms_p50": round2(pct(&mut lat.clone(), 0.5)),
        "get_ms_p99": round2(pct(&mut lat, 0.99)),
        "success_rate": if tried == 0 { 1.0 } else { (ok as f64 / tried as f64 * 1e4).round() / 1e4 },
        "lost_objects": lost,
        "mean_hops": if ok == 0 { 0.0 } else { round2(hops as f64 / ok as f64) },
        "published": published.len(),
        "gets": tried,
        "left": left,
        "joined_again": joined_again,
        "joins_failed": join_failures,
        "get_errors": get_errors,
        "gets_cut_by_leave": cut_by_leave,
        "memberships_lost": memberships_lost,
        "presumed_dead": tally.presumed_dead,
        "undeliverable": {
            "hop_limit": tally.undeliverable.hop_limit,
            "not_member": tally.undeliverable.not_member,
            "no_hop": tally.undeliverable.no_hop,
            "unlinked_node": tally.undeliverable.unlinked_node,
        },
        "rejoin_ms_p50": round2(pct(&mut rejoin_ms, 0.5)),
        "rss_kb_per_peer": round2(rss_joined.saturating_sub(rss0) as f64 / cfg.peers as f64),
        "cpu_ms_per_peer_second": round2(cpu * 1000.0 / wall / n as f64),
        "read": read_ok,
        "webrtc_peers": webrtc_peers,
        "ring": ring,
    }))
}

/// Longest wait for links to leave the gateway's relay before the report:
/// a link dialled late (the ring changed as other peers left) is relayed at
/// once and moves to its DataChannel when that opens, within the set-up
/// limit and a first retry.
const RELAY_SETTLE: Duration = Duration::from_millis(icn_core::link::carriers::SETUP_MS + 5_000);

/// Waits until no peer's link is relayed, at most [`RELAY_SETTLE`]; returns
/// how long that took, ms. Links still relayed then are named on stderr.
async fn settle_relays(peers: &[Peer]) -> u64 {
    let start = Instant::now();
    loop {
        let mut relayed = Vec::new();
        for p in peers {
            for (id, t) in p.links().await {
                if t == Transport::Relay {
                    relayed.push(format!("{}->{}", p.id().to_hex(), id.to_hex()));
                }
            }
        }
        if relayed.is_empty() || start.elapsed() >= RELAY_SETTLE {
            if !relayed.is_empty() {
                eprintln!("still relayed: {}", relayed.join(" "));
            }
            return start.elapsed().as_millis() as u64;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
