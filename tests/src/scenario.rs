//! Scenarios on the simulator: build a ring, publish, crash, churn, look up,
//! and measure. Used by the `icn-sim` binary and the integration tests.

use std::collections::HashMap;

use ed25519_dalek::SigningKey;
use icn_core::node::{Config, Event, RequestError, Store, Time};
use icn_core::{ContentObject, Name, Payload, PublisherId, RingId, SignedObject};

use crate::invariants;
use crate::losslog::LossLog;
use crate::sim::{NetConfig, Sim};

/// What to run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Nodes in the initial ring.
    pub nodes: usize,
    /// Objects to publish.
    pub objects: usize,
    /// Gets to perform.
    pub lookups: usize,
    /// Fraction of nodes crashed at once after publishing.
    pub crash: f64,
    /// Joins and crashes per simulated second during the churn phase.
    pub churn: f64,
    /// Length of the churn phase, simulated seconds.
    pub duration_s: u64,
    /// Replication factor.
    pub replication: usize,
    /// Seed of everything random.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            nodes: 64,
            objects: 100,
            lookups: 200,
            crash: 0.0,
            churn: 0.0,
            duration_s: 0,
            replication: Config::default().replication,
            seed: 1,
        }
    }
}

/// What was measured; printed by `icn-sim` as one JSON line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Running nodes at the end.
    pub nodes: usize,
    /// Objects published.
    pub objects: usize,
    /// Gets performed.
    pub lookups: usize,
    /// Fraction of gets that returned the published object.
    pub success_rate: f64,
    /// Mean hops of successful gets.
    pub mean_hops: f64,
    /// 99th percentile of hops of successful gets.
    pub p99_hops: u32,
    /// Median time of successful gets, simulated ms.
    pub get_ms_p50: u64,
    /// 99th percentile of the time of successful gets, simulated ms.
    pub get_ms_p99: u64,
    /// Median time from a churn joiner's start to its becoming a member,
    /// simulated ms (joiners that crashed first are left out).
    pub join_ms_p50: u64,
    /// 99th percentile of the same.
    pub join_ms_p99: u64,
    /// Objects with no live replica left.
    pub lost_objects: usize,
    /// Objects expected to lose every replica when the crashed nodes are
    /// chosen independently of where objects live (hypergeometric).
    pub lost_expected: f64,
    /// Failed gets of objects that still had a live replica.
    pub unreachable_with_live_replica: usize,
    /// Surviving objects with fewer live copies than the replication factor.
    pub under_replicated: usize,
    /// Get requests and replies sent, per lookup.
    pub messages_per_lookup: f64,
    /// Simulated seconds.
    pub sim_seconds: f64,
    /// Wall-clock seconds (filled in by the caller).
    pub wall_seconds: f64,
    /// Failed gets by reason.
    pub failures: std::collections::BTreeMap<String, usize>,
}

/// Builds a stable ring of `n` nodes joining through node 0, then lets
/// fingers settle. Joins are admitted as a gateway does: at most `rate` per
/// simulated second, and at most a third of the current ring per second, so
/// that each wave of joiners finds a ring that has absorbed the last one.
pub fn build_ring(sim: &mut Sim, n: usize, rate: usize) -> Result<usize, String> {
    let first = sim.assign_id();
    let gw = sim.add_first(first);
    let mut added = 1;
    while added < n {
        let per_tick = (rate / 10).min(added / 30).max(1);
        for _ in 0..per_tick.min(n - added) {
            let id = sim.assign_id();
            sim.add_joining(id, gw);
            added += 1;
        }
        sim.run_for(100);
    }
    wait_stable(sim, 600)?;
    // Let every node look its fingers up again against the final ring.
    for i in sim.alive() {
        let now = sim.now;
        sim.with_node(i, |n| n.refresh_fingers(now));
    }
    sim.run_for(10_000);
    wait_stable(sim, 60)?;
    Ok(gw)
}

/// How long each of `joiners` (node, start) took to become a member,
/// sorted; nodes that never did are left out.
fn join_times(sim: &Sim, joiners: &[(usize, Time)]) -> Vec<u64> {
    let mut started: HashMap<usize, Time> = joiners.iter().copied().collect();
    // The first `Joined` of each: a node may join again later.
    let mut ms: Vec<u64> = sim
        .reported
        .iter()
        .filter(|r| matches!(r.event, Event::Joined))
        .filter_map(|r| started.remove(&r.node).map(|t| r.at - t))
        .collect();
    ms.sort_unstable();
    ms
}

/// Runs until the ring is stable, checking every simulated second.
pub fn wait_stable(sim: &mut Sim, max_s: u64) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..max_s {
        sim.run_for(1000);
        match invariants::check_stable(sim) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(format!("ring not stable after {max_s}s: {last}"))
}

/// Signed test objects: `count` small objects from a few publishers.
pub fn make_objects(count: usize, seed: u64) -> Vec<SignedObject> {
    let keys: Vec<SigningKey> = (0..8u64)
        .map(|i| {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&(seed ^ i.wrapping_mul(0x9e37_79b9)).to_le_bytes());
            b[8] = i as u8;
            SigningKey::from_bytes(&b)
        })
        .collect();
    (0..count)
        .map(|i| {
            let key = &keys[i % keys.len()];
            let publisher = PublisherId::from_key(key.verifying_key()).to_text();
            let name = Name::parse(&format!("/sim/object/{i}"))
                .unwrap()
                .prefixed(publisher.as_bytes())
                .unwrap();
            let obj = ContentObject {
                name,
                version: 1,
                content_type: "text/plain".into(),
                created: 0,
                freshness: None,
                payload: Payload::Inline(format!("object {i}").into_bytes()),
            };
            SignedObject::sign(obj, key).unwrap()
        })
        .collect()
}

/// Publishes every object from random live members; returns how many were acknowledged.
pub fn publish_all(sim: &mut Sim, objects: &[SignedObject]) -> usize {
    let start = sim.reported.len();
    let mut pending = 0;
    for (i, o) in objects.iter().enumerate() {
        let members = joined(sim);
        let at = members[sim.plan().index(members.len())];
        let now = sim.now;
        sim.with_node(at, |n| n.publish(now, o.clone()));
        pending += 1;
        if i % 500 == 499 {
            sim.run_for(100);
        }
    }
    let done = |sim: &Sim| {
        sim.reported[start..]
            .iter()
            .filter(|r| matches!(r.event, Event::PublishDone { .. }))
            .count()
    };
    for _ in 0..300 {
        if done(sim) == pending {
            break;
        }
        sim.run_for(100);
    }
    let acked = sim.reported[start..]
        .iter()
        .filter(|r| matches!(r.event, Event::PublishDone { result: Ok(()), .. }))
        .count();
    debug_assert!(acked <= pending);
    acked
}

/// Running members of the ring.
pub fn joined(sim: &Sim) -> Vec<usize> {
    sim.alive()
        .into_iter()
        .filter(|i| sim.node(*i).is_some_and(|n| n.is_joined()))
        .collect()
}

/// Live copies of each key across running nodes.
pub fn copies(sim: &Sim) -> HashMap<RingId, usize> {
    let mut c = HashMap::new();
    for i in sim.alive() {
        if let Some(n) = sim.node(i) {
            for (k, _) in n.store().range(RingId::ZERO, RingId::ZERO) {
                *c.entry(k).or_insert(0) += 1;
            }
        }
    }
    c
}

/// Outcome of the gets issued by [`lookups`].
#[derive(Debug, Default)]
pub struct Lookups {
    /// Successful gets' hop counts.
    pub hops: Vec<u32>,
    /// Successful gets' times from issue to answer, ms.
    pub ms: Vec<u64>,
    /// Object index of each failed get, with the error.
    pub failed: Vec<(usize, RequestError)>,
    /// Gets issued.
    pub issued: usize,
}

/// Issues `count` gets of random objects from random members, spread evenly
/// over `duration_ms` of simulated time, while `each_tick` runs after every
/// 100 ms of it (for churn) with the number of that tick, from 1; then waits
/// for all to finish.
pub fn lookups(
    sim: &mut Sim,
    objects: &[SignedObject],
    count: usize,
    duration_ms: u64,
    mut each_tick: impl FnMut(&mut Sim, u64),
) -> Lookups {
    let start = sim.reported.len();
    let mut asked: HashMap<(usize, u64), (usize, Time)> = HashMap::new();
    let ticks = (duration_ms / 100).max(1);
    let mut issued = 0;
    for tick in 0..ticks {
        let due = ((tick + 1) * count as u64 / ticks) as usize;
        let members = joined(sim);
        while issued < due {
            let at = members[sim.plan().index(members.len())];
            let which = sim.plan().index(objects.len());
            let now = sim.now;
            if let Some(req) = sim.with_node(at, |n| n.get(now, objects[which].name())) {
                asked.insert((at, req), (which, now));
            }
            issued += 1;
        }
        sim.run_for(100);
        each_tick(sim, tick + 1);
    }
    // Requests time out after at most ~40 s of retries.
    let mut seen = start;
    let mut finished = 0;
    for _ in 0..450 {
        finished += sim.reported[seen..]
            .iter()
            .filter(|r| matches!(r.event, Event::GetDone { .. }))
            .count();
        seen = sim.reported.len();
        if finished >= issued {
            break;
        }
        sim.run_for(100);
    }
    let mut out = Lookups {
        issued,
        ..Lookups::default()
    };
    for r in &sim.reported[start..] {
        if let Event::GetDone { req, result, hops } = &r.event {
            let Some((which, issued_at)) = asked.remove(&(r.node, *req)) else {
                continue;
            };
            match result {
                Ok(o) if o.hash() == objects[which].hash() => {
                    out.hops.push(u32::from(*hops));
                    out.ms.push(r.at - issued_at);
                }
                Ok(_) => out.failed.push((which, RequestError::Invalid)),
                Err(e) => out.failed.push((which, e.clone())),
            }
        }
    }
    // Gets whose node crashed before answering never finish: not counted.
    out
}

/// The `pct`th percentile of sorted values (0 for none).
fn percentile<T: Copy + Default>(sorted: &[T], pct: usize) -> T {
    sorted
        .get((sorted.len() * pct / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// Runs a whole scenario and measures it.
pub fn run(p: &Params) -> Result<Report, String> {
    let mut net = NetConfig::default();
    net.node.replication = p.replication;
    let mut sim = Sim::new(p.seed, net);
    let wall = std::time::Instant::now();
    let progress = |what: &str, sim: &Sim| {
        eprintln!(
            "[{:7.1}s wall, {:7.1}s sim] {what}",
            wall.elapsed().as_secs_f64(),
            sim.now as f64 / 1000.0
        )
    };
    let gw = build_ring(&mut sim, p.nodes, 1000)?;
    progress("ring built and stable", &sim);
    let objects = make_objects(p.objects, p.seed);
    let acked = publish_all(&mut sim, &objects);
    progress("objects published", &sim);
    if acked != objects.len() {
        return Err(format!(
            "only {acked} of {} publishes acknowledged",
            objects.len()
        ));
    }
    let mut lost_expected = 0.0;
    if p.crash > 0.0 {
        let mut victims = joined(&sim);
        victims.retain(|i| *i != gw);
        let count = ((sim.alive().len() as f64) * p.crash).round() as usize;
        let (n, c) = (victims.len() as f64, count.min(victims.len()) as f64);
        lost_expected = objects.len() as f64
            * (0..p.replication)
                .map(|i| (c - i as f64).max(0.0) / (n - i as f64))
                .product::<f64>();
        for _ in 0..count.min(victims.len()) {
            let k = sim.plan().index(victims.len());
            let v = victims.swap_remove(k);
            sim.crash(v);
        }
        wait_stable(&mut sim, 600)?;
        // Let replication catch up (several digest rounds).
        sim.run_for(60_000);
    }
    let messages_before = sim.get_messages();
    // Nodes that joined during churn, with the time each was started.
    let mut joiners: Vec<(usize, Time)> = Vec::new();
    let result = if p.churn > 0.0 && p.duration_s > 0 {
        let mut budget = 0.0;
        let rate = p.churn;
        let keys = objects.iter().map(|o| o.name().ring_key()).collect();
        let mut loss_log = LossLog::from_env(keys);
        let r = lookups(
            &mut sim,
            &objects,
            p.lookups,
            p.duration_s * 1000,
            |sim, tick| {
                if let Some(l) = loss_log.as_mut().filter(|_| tick % 10 == 0) {
                    l.observe(sim);
                }
                // One join and one crash every 1/rate s (spread over the
                // second, not two at the same instant). The victim is a uniformly
                // random running node other than the gateway's: chosen among the
                // nodes the schedule started, not among the members, so a node
                // that finishes its join a moment later in one version of the
                // protocol shifts no pick, and two versions meet the same crashes.
                // (Picking the member at or after a random ring point, as before,
                // favours nodes behind a gap, so each crash made its successor
                // the likelier next victim, and crashes clustered on the ring.)
                budget += rate / 10.0;
                while budget >= 1.0 {
                    budget -= 1.0;
                    let id = sim.assign_id();
                    let j = sim.add_joining(id, gw);
                    joiners.push((j, sim.now));
                    if let Some(l) = &mut loss_log {
                        l.churn(sim.now, "join", id);
                    }
                    let mut running = sim.alive();
                    running.retain(|i| *i != gw);
                    if !running.is_empty() {
                        let v = running[sim.plan().index(running.len())];
                        if let (Some(l), Some(n)) = (&mut loss_log, sim.node(v)) {
                            l.churn(sim.now, "crash", n.id());
                        }
                        sim.crash(v);
                    }
                }
            },
        );
        if let Err(e) = wait_stable(&mut sim, 600) {
            if std::env::var("ICN_SIM_DEBUG").is_ok() {
                dump(&sim);
            }
            return Err(e);
        }
        sim.run_for(60_000);
        if let Some(l) = &loss_log {
            l.print(&sim);
        }
        r
    } else {
        // 5,000 lookups per simulated second.
        let ms = (p.lookups as u64).div_ceil(5).max(100);
        lookups(&mut sim, &objects, p.lookups, ms, |_, _| {})
    };
    progress("lookups done", &sim);
    let messages = sim.get_messages() - messages_before;
    invariants::check(&sim)?;

    let copies = copies(&sim);
    let live = |o: &SignedObject| copies.get(&o.name().ring_key()).copied().unwrap_or(0);
    let lost_objects = objects.iter().filter(|o| live(o) == 0).count();
    let under_replicated = objects
        .iter()
        .filter(|o| (1..p.replication).contains(&live(o)))
        .count();
    let unreachable_with_live_replica = result
        .failed
        .iter()
        .filter(|(i, _)| live(&objects[*i]) > 0)
        .count();
    let done = result.hops.len() + result.failed.len();
    let mut hops = result.hops.clone();
    hops.sort_unstable();
    let mean_hops = if hops.is_empty() {
        0.0
    } else {
        hops.iter().map(|h| f64::from(*h)).sum::<f64>() / hops.len() as f64
    };
    let p99_hops = percentile(&hops, 99);
    let mut ms = result.ms.clone();
    ms.sort_unstable();
    let join_ms = join_times(&sim, &joiners);
    Ok(Report {
        nodes: sim.alive().len(),
        objects: objects.len(),
        lookups: done,
        success_rate: if done == 0 {
            0.0
        } else {
            result.hops.len() as f64 / done as f64
        },
        mean_hops,
        p99_hops,
        get_ms_p50: percentile(&ms, 50),
        get_ms_p99: percentile(&ms, 99),
        join_ms_p50: percentile(&join_ms, 50),
        join_ms_p99: percentile(&join_ms, 99),
        lost_objects,
        lost_expected: (lost_expected * 10.0).round() / 10.0,
        unreachable_with_live_replica,
        under_replicated,
        messages_per_lookup: if done == 0 {
            0.0
        } else {
            messages as f64 / done as f64
        },
        sim_seconds: sim.now as f64 / 1000.0,
        wall_seconds: 0.0,
        failures: result
            .failed
            .iter()
            .fold(Default::default(), |mut m, (_, e)| {
                *m.entry(e.to_string()).or_insert(0) += 1;
                m
            }),
    })
}

/// Prints the state of members whose successor list holds no live member.
pub fn dump(sim: &Sim) {
    let live: std::collections::HashSet<RingId> = joined(sim)
        .into_iter()
        .map(|i| sim.node(i).unwrap().id())
        .collect();
    for i in sim.alive() {
        let n = sim.node(i).unwrap();
        let v = n.ring_view();
        if v.joined && !v.successors.iter().any(|s| live.contains(s)) {
            eprintln!(
                "stuck {:?} pred={:?} links={:?}",
                v.id,
                v.predecessor,
                v.links.len()
            );
            for s in &v.successors {
                let st = sim
                    .index_of(s)
                    .map(|j| (sim.is_alive(j), sim.node(j).map(|n| n.is_joined())));
                eprintln!("  succ {s:?} alive/joined={st:?}");
            }
        }
    }
}
