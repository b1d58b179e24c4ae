//! The Chord ring on the deterministic simulator. Every failure message
//! carries the seed, so a failing case replays with the same seed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use icn_core::node::{Config, Event, RequestError};
use icn_core::{RingId, SignedObject};
use icn_tests::invariants;
use icn_tests::scenario::{self, Params};
use icn_tests::sim::{NetConfig, Sim};

/// Runs a scenario; a failure names its seed.
fn run(p: Params) -> scenario::Report {
    let seed = p.seed;
    scenario::run(&p).unwrap_or_else(|e| panic!("seed {seed}: {e}"))
}

fn ring(seed: u64, n: usize) -> (Sim, usize) {
    let mut sim = Sim::new(seed, NetConfig::default());
    let gw = scenario::build_ring(&mut sim, n, 1000).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    (sim, gw)
}

#[test]
fn stable_ring_answers_every_lookup() {
    for seed in [1, 2] {
        let r = run(Params {
            nodes: 128,
            objects: 100,
            lookups: 500,
            seed,
            ..Params::default()
        });
        assert_eq!(r.success_rate, 1.0, "seed {seed}: {r:?}");
        assert!(r.mean_hops <= 0.5 * 7.0 + 0.5, "seed {seed}: {r:?}");
        assert_eq!(r.lost_objects, 0);
    }
}

#[test]
fn crash_of_a_third_keeps_every_object_with_a_live_replica_reachable() {
    let seed = 5;
    let r = run(Params {
        nodes: 150,
        objects: 300,
        lookups: 600,
        crash: 0.3,
        seed,
        ..Params::default()
    });
    assert_eq!(r.unreachable_with_live_replica, 0, "seed {seed}: {r:?}");
    assert_eq!(r.under_replicated, 0, "seed {seed}: {r:?}");
    // Losses are what independent failures predict: within 4 standard
    // deviations of the expectation (a binomial count).
    let bound = r.lost_expected + 4.0 * r.lost_expected.sqrt();
    assert!((r.lost_objects as f64) <= bound, "seed {seed}: {r:?}");
}

/// The churn benchmark's shape, smaller: crashes without goodbye at a steady
/// rate, a replacement joining for each. 120 crashes in a ring of 200 take
/// out nearly half of the original members, so objects survive only if the
/// ring copies them on after each crash (a loss needs all the holders of a
/// key to crash within about 2 s: with 4 copies, about one run in a
/// thousand).
#[test]
fn steady_crashes_lose_no_object_and_fail_no_get() {
    for seed in [1, 2] {
        let r = run(Params {
            nodes: 200,
            objects: 500,
            lookups: 2_000,
            churn: 1.0,
            duration_s: 120,
            seed,
            ..Params::default()
        });
        assert_eq!(r.lost_objects, 0, "seed {seed}: {r:?}");
        assert_eq!(r.under_replicated, 0, "seed {seed}: {r:?}");
        assert_eq!(r.success_rate, 1.0, "seed {seed}: {r:?}");
    }
}

#[test]
fn graceful_leaves_lose_nothing() {
    let seed = 7;
    let (mut sim, gw) = ring(seed, 40);
    let objects = scenario::make_objects(200, seed);
    assert_eq!(scenario::publish_all(&mut sim, &objects), 200);
    sim.run_for(5_000);
    // Ten nodes leave one after another, each with a goodbye.
    for _ in 0..10 {
        let mut members = scenario::joined(&sim);
        members.retain(|i| *i != gw);
        let k = sim.rng().index(members.len());
        sim.leave(members[k]);
        sim.run_for(3_000);
    }
    scenario::wait_stable(&mut sim, 120).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    sim.run_for(30_000);
    // Every object is back at full replication (leavers hand their keys off).
    let want = Config::default().replication;
    let copies = scenario::copies(&sim);
    for o in &objects {
        let c = copies.get(&o.name().ring_key()).copied().unwrap_or(0);
        assert!(c >= want, "seed {seed}: {} has {c} copies", o.name());
    }
    let res = scenario::lookups(&mut sim, &objects, 300, 1000, |_, _| {});
    assert_eq!(
        res.hops.len(),
        300,
        "seed {seed}: failures {:?}",
        res.failed
    );
}

#[test]
fn publish_refuses_older_versions_and_get_returns_the_newest() {
    use ed25519_dalek::SigningKey;
    use icn_core::{ContentObject, Name, Payload, PublisherId, SignedObject};
    let seed = 11;
    let (mut sim, _) = ring(seed, 20);
    let key = SigningKey::from_bytes(&[3; 32]);
    let publisher = PublisherId::from_key(key.verifying_key()).to_text();
    let name = Name::parse("/v")
        .unwrap()
        .prefixed(publisher.as_bytes())
        .unwrap();
    let make = |version| {
        SignedObject::sign(
            ContentObject {
                name: name.clone(),
                version,
                content_type: "text/plain".into(),
                created: 0,
                freshness: None,
                payload: Payload::Inline(format!("v{version}").into_bytes()),
            },
            &key,
        )
        .unwrap()
    };
    let members = scenario::joined(&sim);
    let (a, b) = (members[1], members[7]);
    let now = sim.now;
    sim.with_node(a, |n| n.publish(now, make(2)));
    sim.run_for(5_000);
    let now = sim.now;
    sim.with_node(b, |n| n.publish(now, make(1)));
    sim.run_for(5_000);
    let refused = sim.reported.iter().any(|r| {
        r.node == b
            && matches!(&r.event, Event::PublishDone { result: Err(RequestError::Refused(c)), .. } if c == "stale")
    });
    assert!(refused, "seed {seed}: the older version was not refused");
    let now = sim.now;
    let req = sim.with_node(members[3], |n| n.get(now, &name)).unwrap();
    sim.run_for(5_000);
    let got = sim.reported.iter().find_map(|r| match &r.event {
        Event::GetDone { req: q, result, .. } if *q == req => Some(result.clone()),
        _ => None,
    });
    assert_eq!(got.unwrap().unwrap().version(), 2, "seed {seed}");
    // A name nobody published: not found.
    let other = Name::parse("/nobody")
        .unwrap()
        .prefixed(publisher.as_bytes())
        .unwrap();
    let now = sim.now;
    let req = sim.with_node(members[5], |n| n.get(now, &other)).unwrap();
    sim.run_for(10_000);
    let got = sim.reported.iter().find_map(|r| match &r.event {
        Event::GetDone { req: q, result, .. } if *q == req => Some(result.clone()),
        _ => None,
    });
    assert_eq!(got, Some(Err(RequestError::NotFound)), "seed {seed}");
}

#[test]
fn messages_and_signals_are_routed_to_node_ids() {
    let seed = 13;
    let (mut sim, _) = ring(seed, 30);
    let members = scenario::joined(&sim);
    let (a, b) = (members[2], members[20]);
    let to = sim.node(b).unwrap().id();
    let now = sim.now;
    sim.with_node(a, |n| n.send_message(now, to, b"hello".to_vec()));
    sim.with_node(a, |n| n.signal(now, to, b"offer".to_vec()));
    sim.run_for(5_000);
    let from = sim.node(a).unwrap().id();
    let got: Vec<&Event> = sim
        .reported
        .iter()
        .filter(|r| r.node == b)
        .map(|r| &r.event)
        .collect();
    assert!(
        got.contains(&&Event::Message {
            from,
            bytes: b"hello".to_vec()
        }),
        "seed {seed}"
    );
    assert!(
        got.contains(&&Event::Signal {
            from,
            bytes: b"offer".to_vec()
        }),
        "seed {seed}"
    );
    // Delivered once: nothing acknowledges a routed message, so the sender
    // must not take silence for loss and send it again (an offer arriving
    // again half a minute later would start a stale link set-up).
    sim.run_for(60_000);
    let times = |e: &Event| {
        sim.reported
            .iter()
            .filter(|r| r.node == b && &r.event == e)
            .count()
    };
    let hello = Event::Message {
        from,
        bytes: b"hello".to_vec(),
    };
    let offer = Event::Signal {
        from,
        bytes: b"offer".to_vec(),
    };
    assert_eq!(times(&hello), 1, "seed {seed}: message delivered again");
    assert_eq!(times(&offer), 1, "seed {seed}: signal delivered again");
    assert!(
        !sim.reported
            .iter()
            .any(|r| r.node == a && matches!(r.event, Event::SendFailed { .. })),
        "seed {seed}: a delivered message was reported as failed"
    );
    // A node id that is not in the ring: unreachable.
    let now = sim.now;
    let req = sim
        .with_node(a, |n| n.send_message(now, RingId([0x42; 32]), vec![1]))
        .unwrap();
    sim.run_for(20_000);
    let failed = sim
        .reported
        .iter()
        .any(|r| matches!(&r.event, Event::SendFailed { req: q, .. } if *q == req));
    assert!(failed, "seed {seed}: send to a missing node did not fail");
}

#[test]
fn short_partition_heals_without_loss() {
    let seed = 17;
    let (mut sim, _) = ring(seed, 24);
    let objects = scenario::make_objects(50, seed);
    assert_eq!(scenario::publish_all(&mut sim, &objects), 50);
    // Shorter than the failure-detection timeouts: nobody is declared dead.
    sim.partition(|i| (i % 2) as u8);
    sim.run_for(1_000);
    sim.heal();
    scenario::wait_stable(&mut sim, 120).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let res = scenario::lookups(&mut sim, &objects, 100, 1000, |_, _| {});
    assert_eq!(res.hops.len(), 100, "seed {seed}: {:?}", res.failed);
}

/// A partition far longer than failure detection: each half presumes the
/// other dead and forms a ring of its own. Once healed, the lost lists find
/// the other side within a minute and the zipper makes one ring of the two
/// (spec/ring.md, "Merging rings"), with every object still there.
#[test]
fn long_partition_ends_in_one_ring_with_nothing_lost() {
    for seed in [23, 24] {
        let (mut sim, _) = ring(seed, 24);
        let objects = scenario::make_objects(50, seed);
        assert_eq!(scenario::publish_all(&mut sim, &objects), 50, "seed {seed}");
        // Interleaved halves: every node's neighbours are on the other side.
        sim.partition(|i| (i % 2) as u8);
        sim.run_for(60_000);
        let apart = invariants::check(&sim);
        assert!(
            apart.as_ref().is_err_and(|e| e.contains("2 rings")),
            "seed {seed}: two rings while apart, not {apart:?}"
        );
        sim.heal();
        let healed = sim.now;
        scenario::wait_stable(&mut sim, 180).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        println!(
            "seed {seed}: one ring {} s after healing",
            (sim.now - healed) / 1000
        );
        let res = scenario::lookups(&mut sim, &objects, 100, 1000, |_, _| {});
        assert_eq!(res.hops.len(), 100, "seed {seed}: {:?}", res.failed);
    }
}

#[test]
fn lossy_links_still_converge() {
    let seed = 19;
    let net = NetConfig {
        loss: 0.01,
        ..NetConfig::default()
    };
    let mut sim = Sim::new(seed, net);
    scenario::build_ring(&mut sim, 48, 1000).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let objects = scenario::make_objects(50, seed);
    scenario::publish_all(&mut sim, &objects);
    let res = scenario::lookups(&mut sim, &objects, 200, 1000, |_, _| {});
    // Retries over alternative routes absorb 1 % message loss.
    assert!(res.hops.len() >= 198, "seed {seed}: {:?}", res.failed);
}

/// Random join / crash / leave schedules over 200 seeds: once the ring is
/// quiet, every invariant holds and the ring is exactly the live members.
/// `ICN_SEED=N` replays seed N alone.
#[test]
fn invariants_hold_after_random_schedules() {
    let seeds: Vec<u64> = match std::env::var("ICN_SEED") {
        Ok(v) => vec![v.parse().expect("ICN_SEED is a number")],
        Err(_) => (0..200).collect(),
    };
    for seed in seeds {
        let mut sim = Sim::new(seed, NetConfig::default());
        let first = sim_id(&mut sim);
        let gw = sim.add_first(first);
        for _ in 0..6 {
            let id = sim_id(&mut sim);
            sim.add_joining(id, gw);
        }
        sim.run_for(5_000);
        for _ in 0..25 {
            let members = scenario::joined(&sim);
            let others: Vec<usize> = members.iter().copied().filter(|i| *i != gw).collect();
            match sim.rng().below(4) {
                0 | 1 => {
                    let id = sim_id(&mut sim);
                    sim.add_joining(id, gw);
                }
                2 if others.len() > 3 => {
                    let v = others[sim.rng().index(others.len())];
                    sim.crash(v);
                }
                3 if others.len() > 3 => {
                    let v = others[sim.rng().index(others.len())];
                    sim.leave(v);
                }
                _ => {}
            }
            let wait = sim.rng().below(3000);
            sim.run_for(wait);
        }
        if let Err(e) = scenario::wait_stable(&mut sim, 300) {
            for i in sim.alive() {
                let v = sim.node(i).unwrap().ring_view();
                if !v.joined {
                    eprintln!("not a member: node {i} {:?}, links {:?}", v.id, v.links);
                }
            }
            panic!("seed {seed}: {e}");
        }
        invariants::check(&sim).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

fn sim_id(sim: &mut Sim) -> icn_core::RingId {
    icn_core::RingId(sim.rng().bytes32())
}

#[test]
fn a_lone_first_node_stays_a_member_for_the_next_joiner() {
    // The gateway's node started the ring; its last peer left. A newcomer
    // linked to it (WebSocket open, join request not sent yet) is no member:
    // the first node must not try to join the ring through it, or each
    // waits for the other for good.
    let seed = 23;
    let mut sim = Sim::new(seed, NetConfig::default());
    let gw = sim.add_first(RingId([0x80; 32]));
    let a = sim.add_joining(RingId([0x10; 32]), gw);
    sim.run_for(5_000);
    assert!(sim.node(a).unwrap().ring_view().joined, "seed {seed}");
    sim.leave(a);
    sim.run_for(3_000);
    let b = sim.add_linked(RingId([0x20; 32]), gw);
    sim.run_for(5_000);
    assert!(
        sim.node(gw).unwrap().ring_view().joined,
        "seed {seed}: the first node left the ring for a non-member"
    );
    let (now, gw_id) = (sim.now, sim.node(gw).unwrap().id());
    sim.with_node(b, |n| n.join(now, gw_id));
    sim.run_for(5_000);
    assert!(
        sim.node(b).unwrap().ring_view().joined,
        "seed {seed}: no join"
    );
}

#[test]
fn a_lost_carrier_is_not_a_dead_peer() {
    // A gateway relaying some links dies: the peers at both ends are alive.
    // Nobody may drop them from the ring for that, and lookups of the keys
    // they own, issued while their links are dialled again, wait for those
    // dials instead of going round the ring until their hop limit.
    let seed = 31;
    let (mut sim, gw) = ring(seed, 24);
    let objects = scenario::make_objects(120, seed);
    assert_eq!(scenario::publish_all(&mut sim, &objects), 120);
    sim.run_for(5_000);
    // DataChannels take a while: signalled through the ring, then ICE and
    // DTLS.
    sim.set_dial_ms(1_000);
    let mut members = scenario::joined(&sim);
    members.retain(|i| *i != gw);
    let lost: Vec<usize> = (0..4).map(|k| members[k * members.len() / 4]).collect();
    for &i in &lost {
        sim.lose_carrier(i);
    }
    let r = scenario::lookups(&mut sim, &objects, 300, 500, |_, _| {});
    assert!(r.failed.is_empty(), "seed {seed}: {:?}", r.failed);
    let max = r.hops.iter().max().copied().unwrap_or(0);
    assert!(max <= 12, "seed {seed}: a lookup took {max} hops");
    invariants::check_stable(&sim).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    for &i in &lost {
        assert!(
            sim.node(i).unwrap().is_joined(),
            "seed {seed}: {i} left the ring"
        );
    }
}

/// A ring of 40 with 150 objects; after `before`, every eighth node by id
/// but the gateway crashes (so no object loses all its replicas).
fn crash_every_eighth(
    seed: u64,
    net: NetConfig,
    before: impl FnOnce(&mut Sim, &[SignedObject]),
) -> (Sim, Vec<SignedObject>) {
    let mut sim = Sim::new(seed, net);
    let gw =
        scenario::build_ring(&mut sim, 40, 1000).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let objects = scenario::make_objects(150, seed);
    assert_eq!(scenario::publish_all(&mut sim, &objects), 150);
    before(&mut sim, &objects);
    let mut members = scenario::joined(&sim);
    members.retain(|i| *i != gw);
    members.sort_by_key(|i| sim.node(*i).unwrap().id());
    for k in (0..members.len()).step_by(8) {
        sim.crash(members[k]);
    }
    (sim, objects)
}

#[test]
fn crashes_the_transport_misses_are_found_by_probing_links_in_use() {
    // ICE notices a crashed browser only after some 25 s of silence. Links
    // that carry lookups are probed when silent, so lookups stop being
    // sent into the void within seconds, not when the transport gives up.
    let seed = 37;
    let net = NetConfig {
        detect_ms: 30_000,
        ..NetConfig::default()
    };
    let (mut sim, objects) = crash_every_eighth(seed, net, |sim, _| sim.run_for(5_000));
    let r = scenario::lookups(&mut sim, &objects, 400, 4_000, |_, _| {});
    assert!(r.failed.is_empty(), "seed {seed}: {:?}", r.failed);
    // A lookup that meets a crashed node on its way is lost there and
    // retried after the measured wait, doubled each time: few need more
    // than 4 s, none 10 s. Without probes, 16 % took over 4 s and some 18 s.
    let slow = r.ms.iter().filter(|ms| **ms > 4_000).count();
    let max = r.ms.iter().max().copied().unwrap_or(0);
    assert!(
        slow * 20 <= r.ms.len() && max <= 10_000,
        "seed {seed}: {slow} of {} lookups took over 4 s, the slowest {max} ms",
        r.ms.len()
    );
}

/// Requests are retried after a wait measured from their own round trips,
/// not after the configured timeout (3 s): on a fast network a lookup that
/// met a node that just crashed is answered within a fraction of it. With
/// the fixed timeout, up to 7 of these 400 lookups took 3 s.
#[test]
fn a_lookup_lost_to_a_crash_is_retried_after_the_measured_wait() {
    for seed in [37, 38, 39] {
        let mut net = NetConfig::default();
        (net.latency_ms, net.jitter_ms, net.detect_ms) = (2, 3, 200);
        let timeout = net.node.request_timeout_ms;
        // Gets first, so that every node has measured its round trips.
        let (mut sim, objects) = crash_every_eighth(seed, net, |sim, objects| {
            let warm = scenario::lookups(sim, objects, 200, 2_000, |_, _| {});
            assert!(warm.failed.is_empty(), "seed {seed}: {:?}", warm.failed);
        });
        let r = scenario::lookups(&mut sim, &objects, 400, 4_000, |_, _| {});
        assert!(r.failed.is_empty(), "seed {seed}: {:?}", r.failed);
        let max = r.ms.iter().max().copied().unwrap_or(0);
        assert!(
            max < timeout / 3,
            "seed {seed}: the slowest lookup took {max} ms (request timeout {timeout} ms)"
        );
    }
}

/// The churn benchmark's shape (scripts/bench-churn.sh): peers join through
/// two gateways, one gateway crashes right after, then one peer a second
/// leaves gracefully and a new one joins through the other gateway while
/// gets go on. With ids of departed nodes assigned again at once, this
/// failed gets (the new node was ignored as presumed dead); the gateway, and
/// now the simulator, keep such ids out of assignments for 60 s.
#[test]
fn leaves_and_joins_after_a_gateway_crash_keep_gets_answered() {
    for seed in [1, 2] {
        let mut net = NetConfig::default();
        (net.latency_ms, net.jitter_ms, net.detect_ms, net.dial_ms) = (2, 3, 200, 300);
        let mut sim = Sim::new(seed, net);
        let a_id = sim.assign_id();
        let a = sim.add_first(a_id);
        let b_id = sim.assign_id();
        let b = sim.add_joining(b_id, a);
        sim.run_for(2_000);
        for i in 0..100 {
            let id = sim.assign_id();
            sim.add_joining(id, if i % 2 == 0 { a } else { b });
            sim.run_for(30);
        }
        sim.crash(a);
        sim.run_for(15_000);
        let objects = scenario::make_objects(100, seed);
        assert_eq!(
            scenario::publish_all(&mut sim, &objects),
            100,
            "seed {seed}"
        );
        // One leave and one join per simulated second.
        let r = scenario::lookups(&mut sim, &objects, 2_000, 120_000, |sim, tick| {
            if tick % 10 != 0 {
                return;
            }
            let mut members = scenario::joined(sim);
            members.retain(|i| *i != b);
            let k = sim.rng().index(members.len());
            sim.leave(members[k]);
            let id = sim.assign_id();
            sim.add_joining(id, b);
        });
        // Gets whose own node left meanwhile never finish (up to 25 of
        // 2,000 with seeds 1 to 6); every other one succeeds.
        assert!(
            r.hops.len() >= 1_950,
            "seed {seed}: {} answered",
            r.hops.len()
        );
        assert!(r.failed.is_empty(), "seed {seed}: failed {:?}", r.failed);
    }
}

/// A get nobody answers is sent again after the measured wait, doubled
/// each time, and fails when the fixed schedule's time has passed (1 + 2 +
/// 3 + 4 request timeouts), not after four quick attempts.
#[test]
fn an_unanswered_get_is_retried_early_and_fails_after_the_fixed_time() {
    let seed = 41;
    let mut net = NetConfig::default();
    (net.latency_ms, net.jitter_ms) = (2, 3);
    let t = net.node.request_timeout_ms;
    let mut sim = Sim::new(seed, net);
    let gw =
        scenario::build_ring(&mut sim, 16, 1000).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let mut objects = scenario::make_objects(21, seed);
    let unpublished = objects.pop().unwrap();
    assert_eq!(scenario::publish_all(&mut sim, &objects), 20);
    let warm = scenario::lookups(&mut sim, &objects, 100, 2_000, |_, _| {});
    assert!(warm.failed.is_empty(), "seed {seed}: {:?}", warm.failed);
    // A node that is not responsible for the unpublished name's key (it
    // would answer "not found" itself).
    let key = unpublished.name().ring_key();
    let mut members = scenario::joined(&sim);
    members.sort_by_key(|i| sim.node(*i).unwrap().id());
    let owner = members
        .iter()
        .copied()
        .find(|i| sim.node(*i).unwrap().id() >= key)
        .unwrap_or(members[0]);
    let a = *members.iter().find(|i| **i != gw && **i != owner).unwrap();
    // Cut `a` off: its messages are dropped, nothing tells it so.
    sim.partition(|i| u8::from(i == a));
    let sent_before = sim.node(a).unwrap().stats().get_messages;
    let start = sim.now;
    let req = sim
        .with_node(a, |n| n.get(start, unpublished.name()))
        .unwrap();
    sim.run_for(t - 100);
    let sent = sim.node(a).unwrap().stats().get_messages - sent_before;
    // The fixed timeout would have sent it once by now.
    assert!(
        sent >= 3,
        "seed {seed}: sent {sent} times in {} ms",
        t - 100
    );
    sim.run_for(10 * t);
    let done: Vec<(u64, &Event)> = sim
        .reported
        .iter()
        .filter(|r| r.node == a && matches!(&r.event, Event::GetDone { req: q, .. } if *q == req))
        .map(|r| (r.at - start, &r.event))
        .collect();
    let [(at, Event::GetDone { result, .. })] = done.as_slice() else {
        panic!("seed {seed}: not one answer: {done:?}");
    };
    assert_eq!(result, &Err(RequestError::Timeout), "seed {seed}");
    assert!(
        (10 * t..10 * t + 1_000).contains(at),
        "seed {seed}: failed after {at} ms, not after 1 + 2 + 3 + 4 timeouts"
    );
}

/// A simulator whose links take a millisecond, and DataChannels 40 ms to
/// set up: newcomers arrive far faster than the ring stabilizes.
fn fast_lan(seed: u64) -> Sim {
    let net = NetConfig {
        latency_ms: 1,
        jitter_ms: 1,
        dial_ms: 40,
        ..NetConfig::default()
    };
    Sim::new(seed, net)
}

#[test]
fn joiners_arriving_faster_than_stabilization_become_members_at_once() {
    // A gateway admits a newcomer every few milliseconds, far faster than
    // the ring stabilizes (once a second). Unless a node that gains a
    // predecessor tells the one it replaces, successor lists stay stale for
    // a period: a join lookup routed along them circled until its hop limit,
    // and the joiner waited 2 s for its retry (one join in ten).
    for seed in 1..=5u64 {
        let mut sim = fast_lan(seed);
        let first = sim.assign_id();
        let gw = sim.add_first(first);
        for k in 0..30 {
            let id = sim.assign_id();
            let i = sim.add_joining(id, gw);
            let t0 = sim.now;
            while !sim.node(i).unwrap().is_joined() && sim.now - t0 < 30_000 {
                sim.run_for(1);
            }
            let took = sim.now - t0;
            assert!(
                took < 500,
                "seed {seed}: joiner {k} took {took} ms to become a member"
            );
            sim.run_for(10);
        }
        scenario::wait_stable(&mut sim, 60).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        invariants::check(&sim).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}

/// The id a gateway assigns: the middle of the largest gap between itself
/// and the peers it let in (it knows of no other gateway's).
fn gap_middle(known: &[RingId]) -> RingId {
    let mut ids = known.to_vec();
    ids.sort_unstable();
    let (a, gap) = (0..ids.len())
        .map(|i| (ids[i], ids[i].distance_to(ids[(i + 1) % ids.len()])))
        .map(|(a, gap)| {
            (
                a,
                if gap == RingId::ZERO {
                    RingId::MAX
                } else {
                    gap
                },
            )
        })
        .max_by_key(|(_, gap)| *gap)
        .expect("the gateway itself");
    a.wrapping_add(gap.half())
}

#[test]
fn joiners_through_two_gateways_become_members_at_once() {
    // Two gateways let newcomers in by turns, every 5 ms, each assigning
    // ids in the gaps between its own peers, so newcomers land next to
    // each other. A newcomer's predecessor learns of it only at its next
    // round; until then the newcomer had none and claimed no keys, lookups
    // for the keys behind it went round until their hop limit, and the
    // join waited for a retry (380-410 ms in 3 of these 10 seeds here; 2-3 s
    // for one join in 25 between native peers, scripts/bench-churn.sh).
    for seed in 1..=10u64 {
        let mut sim = fast_lan(seed);
        let first = sim.assign_id();
        let a = sim.add_first(first);
        // Gateway B has an id of its own; A knows it (B is its client), B
        // knows none but its own.
        let second = RingId(sim.rng().bytes32());
        let b = sim.add_joining(second, a);
        sim.run_for(2_000);
        let mut known = [vec![first, second], vec![second]];
        let (start, mut k, mut joining, mut slowest) = (sim.now, 0, Vec::new(), 0);
        while (k < 60 || !joining.is_empty()) && sim.now < start + 60_000 {
            if k < 60 && sim.now >= start + 5 * k as u64 {
                let id = gap_middle(&known[k % 2]);
                known[k % 2].push(id);
                joining.push((sim.add_joining(id, [a, b][k % 2]), sim.now));
                k += 1;
            }
            sim.run_for(1);
            joining.retain(|(i, t0)| {
                let joined = sim.node(*i).unwrap().is_joined();
                if joined {
                    slowest = slowest.max(sim.now - t0);
                }
                !joined
            });
        }
        assert!(
            joining.is_empty(),
            "seed {seed}: {} never joined",
            joining.len()
        );
        assert!(slowest < 200, "seed {seed}: a join took {slowest} ms");
        scenario::wait_stable(&mut sim, 60).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        invariants::check(&sim).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
}
