use super::*;

/// A get of an object, as its origin sends it.
const OBJECT_GET: crate::wire::Body = crate::wire::Body::Get {
    block: false,
    forwarded: 0,
};

#[test]
fn lone_node_is_responsible_for_everything() {
    let mut n = Node::new(RingId([1; 32]), Config::default());
    assert!(!n.is_responsible(RingId([9; 32])));
    n.bootstrap(0);
    assert!(n.is_responsible(RingId([9; 32])));
    assert_eq!(n.poll_output(), Output::Event(Event::Joined));
    assert!(matches!(n.poll_output(), Output::Timeout(_)));
}

/// Drains `n`'s outputs up to its next timeout: the messages it sent, and
/// that timeout.
fn drain(n: &mut Node) -> (Vec<(RingId, Message)>, Time) {
    let mut out = Vec::new();
    loop {
        match n.poll_output() {
            Output::Timeout(at) => return (out, at),
            Output::Transmit(t) => out.push((t.to, Message::decode(&t.bytes).unwrap())),
            Output::Event(_) => {}
        }
    }
}

/// Drains `n`'s outputs up to its next timeout: the messages it sent.
fn sent(n: &mut Node) -> Vec<(RingId, Message)> {
    drain(n).0
}

/// Runs `n` from `now` to `until`, its timeouts included: every message it
/// sends, with the time it was sent at.
fn sent_until(n: &mut Node, mut now: Time, until: Time) -> Vec<(Time, RingId, Message)> {
    let mut out = Vec::new();
    while now <= until {
        let (msgs, at) = drain(n);
        out.extend(msgs.into_iter().map(|(to, m)| (now, to, m)));
        now = at.max(now + 1);
        n.handle_input(Input::Timeout(now)).unwrap();
    }
    out
}

/// Peers a node sends `JoinRequest` to, in order, until `until`.
fn join_requests(n: &mut Node, until: Time) -> Vec<RingId> {
    sent_until(n, 0, until)
        .into_iter()
        .filter(|(_, _, m)| *m == Message::JoinRequest)
        .map(|(_, to, _)| to)
        .collect()
}

#[test]
fn joining_asks_each_linked_node_in_turn_while_the_bootstrap_is_down() {
    // The bootstrap node (a gateway) is gone; the node is linked to two
    // others, one of them no member (it ignores join requests). Asking the
    // lowest id every time would ask that one for good.
    let (gw, x, y) = (RingId([0x80; 32]), RingId([0x20; 32]), RingId([0x30; 32]));
    let mut n = Node::new(RingId([0x10; 32]), Config::default());
    n.handle_input(Input::LinkUp(0, gw)).unwrap();
    n.join(0, gw);
    n.handle_input(Input::LinkUp(0, x)).unwrap();
    n.handle_input(Input::LinkUp(0, y)).unwrap();
    n.handle_input(Input::LinkLost(0, gw)).unwrap();
    let asked = join_requests(&mut n, 20_000);
    assert_eq!(asked.first(), Some(&gw), "{asked:?}");
    assert!(asked.contains(&x) && asked.contains(&y), "{asked:?}");
    assert!(!asked[1..].contains(&gw), "{asked:?}");
}

#[test]
fn joining_again_through_another_gateway_ends_the_earlier_attempt() {
    // A stranded peer connects to a second gateway and joins through it:
    // only that gateway is asked from then on, once per attempt.
    let (a, b) = (RingId([0x80; 32]), RingId([0x90; 32]));
    let mut n = Node::new(RingId([0x10; 32]), Config::default());
    n.handle_input(Input::LinkUp(0, a)).unwrap();
    n.join(0, a);
    n.handle_input(Input::LinkDown(0, a)).unwrap();
    n.handle_input(Input::LinkUp(0, b)).unwrap();
    n.join(0, b);
    let asked = join_requests(&mut n, 10_000);
    assert_eq!(asked.first(), Some(&a), "{asked:?}");
    assert!(asked[1..].iter().all(|p| *p == b), "{asked:?}");
    let attempts = 1 + 10_000 / Config::default().request_timeout_ms as usize;
    assert!(asked.len() - 1 <= attempts, "{asked:?}");
}

/// Node `me`, joined through `succ`, which answered that it is the
/// successor (at time 1).
fn joined_through(me: RingId, succ: RingId) -> Node {
    let mut n = Node::new(me, Config::default());
    n.handle_input(Input::LinkUp(0, succ)).unwrap();
    n.join(0, succ);
    let reply = Message::JoinReply {
        successors: vec![succ],
    };
    n.handle_input(Input::Receive(1, succ, &reply.encode()))
        .unwrap();
    n
}

/// Node `me`, joined with successor `s`, and linked to predecessor `p`
/// (at time 3), its outputs so far drained.
fn between(p: RingId, me: RingId, s: RingId) -> Node {
    let mut n = joined_through(me, s);
    n.handle_input(Input::LinkUp(2, p)).unwrap();
    n.handle_input(Input::Receive(3, p, &Message::Notify.encode()))
        .unwrap();
    assert_eq!(n.predecessor(), Some(p));
    while !matches!(n.poll_output(), Output::Timeout(_)) {}
    n
}

/// `n` after newcomer `x` linked to it (at time 4) and said `msg` (at 5).
fn newcomer_says(mut n: Node, x: RingId, msg: &Message) -> Node {
    n.handle_input(Input::LinkUp(4, x)).unwrap();
    n.handle_input(Input::Receive(5, x, &msg.encode())).unwrap();
    n
}

/// Drains `n`'s outputs up to its next timeout: the routed messages it
/// sent, with their next hops.
fn routed_sent(n: &mut Node) -> Vec<(RingId, crate::wire::Routed)> {
    sent(n)
        .into_iter()
        .filter_map(|(to, m)| match m {
            Message::Routed(r) => Some((to, r)),
            _ => None,
        })
        .collect()
}

#[test]
fn looking_up_its_own_successor_repairs_a_list_that_skips_nodes() {
    use crate::wire::{Body, Dest, Routed};
    // A wrong join answer gave the node a successor far ahead; the lookup of
    // key self + 1 that every finger round makes finds the node between.
    let (me, x, far) = (RingId([0x10; 32]), RingId([0x18; 32]), RingId([0x80; 32]));
    let mut n = joined_through(me, far);
    n.handle_input(Input::Timeout(2)).unwrap();
    let id = routed_sent(&mut n)
        .into_iter()
        .rev()
        .find_map(|(_, r)| (r.dest == Dest::Key(me.finger_start(0))).then_some(r.id))
        .expect("the node looks its successor up");
    let answer = Message::Routed(Routed {
        dest: Dest::Node(me),
        origin: x,
        id,
        hops: 2,
        body: Body::Successor {
            node: x,
            successors: vec![far],
        },
    });
    n.handle_input(Input::Receive(3, far, &answer.encode()))
        .unwrap();
    assert_eq!(n.successors().first(), Some(&x));
    assert!(n.successors().contains(&far));
}

#[test]
fn a_key_handed_back_by_the_successor_goes_on_to_the_predecessor() {
    use crate::wire::{Body, Dest, Routed};
    // `s` is this node's successor; the key lies behind this node's
    // predecessor `p`. `s` sends it here only when a hop before took `s` for
    // the key's owner (rule 5). Routed by fingers from here, it would go to
    // `s` again, and round until its hop limit.
    let (p, s) = (RingId([0x30; 32]), RingId([0x50; 32]));
    let mut n = between(p, RingId([0x40; 32]), s);
    let lookup = Message::Routed(Routed {
        dest: Dest::Key(RingId([0x20; 32])),
        origin: RingId([0x90; 32]),
        id: 9,
        hops: 3,
        body: Body::FindSuccessor,
    });
    n.handle_input(Input::Receive(4, s, &lookup.encode()))
        .unwrap();
    let sent = routed_sent(&mut n)
        .into_iter()
        .rev()
        .find_map(|(to, r)| (r.id == 9).then_some(to));
    assert_eq!(sent, Some(p));
}

#[test]
fn an_answer_to_a_node_nobody_links_to_retraces_its_request() {
    use crate::wire::{Body, Dest, Routed};
    // `o` lies in this node's range, but its successor list skips this node
    // (it joined through a node far away): its get came through `a`. Routed
    // by id, the answer would stop here, where `o` has no link.
    let (me, a, o) = (RingId([0x40; 32]), RingId([0x90; 32]), RingId([0x20; 32]));
    let mut n = Node::new(me, Config::default());
    n.bootstrap(0);
    n.handle_input(Input::LinkUp(1, a)).unwrap();
    while !matches!(n.poll_output(), Output::Timeout(_)) {}
    let get = Message::Routed(Routed {
        dest: Dest::Key(RingId([0x30; 32])),
        origin: o,
        id: 7,
        hops: 1,
        body: OBJECT_GET,
    });
    n.handle_input(Input::Receive(2, a, &get.encode())).unwrap();
    let (to, r) = routed_sent(&mut n)
        .into_iter()
        .rfind(|(_, r)| r.id == 7)
        .expect("the answer is sent, not dropped");
    assert_eq!(to, a);
    assert_eq!(r.dest, Dest::Node(o));
    assert!(matches!(r.body, Body::GetReply { .. }), "{r:?}");
    assert_eq!(n.stats().undeliverable.unlinked_node, 0);
}

#[test]
fn a_get_made_while_joining_waits_for_membership() {
    use crate::wire::{Body, Dest};
    let (me, via) = (RingId([0x10; 32]), RingId([0x80; 32]));
    let name = crate::Name::parse("/alice/held").unwrap();
    // Never joined: refused at once.
    let mut idle = Node::new(me, Config::default());
    let req = idle.get(0, &name);
    assert_eq!(
        idle.poll_output(),
        Output::Event(Event::GetDone {
            req,
            result: Err(RequestError::NotJoined),
            hops: 0
        })
    );
    // Joining: held, then sent once the node is a member.
    let mut n = Node::new(me, Config::default());
    n.handle_input(Input::LinkUp(0, via)).unwrap();
    n.join(0, via);
    let req = n.get(1, &name);
    let routed_get = |n: &mut Node| {
        let mut sent = false;
        loop {
            match n.poll_output() {
                Output::Timeout(_) => return sent,
                Output::Event(Event::GetDone { req: r, .. }) if r == req => panic!("failed"),
                Output::Transmit(t) => {
                    if let Ok(Message::Routed(r)) = Message::decode(&t.bytes) {
                        sent |= r.id == req
                            && matches!(r.body, Body::Get { .. })
                            && r.dest == Dest::Key(name.ring_key());
                    }
                }
                Output::Event(_) => {}
            }
        }
    };
    assert!(!routed_get(&mut n), "sent before the node is a member");
    let reply = Message::JoinReply {
        successors: vec![via],
    };
    n.handle_input(Input::Receive(2, via, &reply.encode()))
        .unwrap();
    assert!(routed_get(&mut n), "not sent once the node is a member");
}

#[test]
fn a_replica_on_the_way_answers_a_get_itself() {
    use crate::object::{ContentObject, Payload, SignedObject};
    use crate::publisher::PublisherId;
    use crate::wire::{Body, Dest, ItemBytes, Routed};
    use ed25519_dalek::SigningKey;
    // This node holds a replica of an object whose key its predecessor `p`
    // owns. A get handed back here (rule 5) is answered here, not passed on
    // to `p`: `p` may have crashed without this node knowing yet.
    let key = SigningKey::from_bytes(&[7; 32]);
    let publisher = PublisherId::from_key(key.verifying_key()).to_text();
    let name = (0..10_000)
        .map(|i| Name::parse(&format!("/{publisher}/r/{i}")).unwrap())
        .find(|n| n.ring_key().0[0] == 0x25)
        .expect("one name in 256 has a key starting 0x25");
    let object = ContentObject {
        name: name.clone(),
        version: 1,
        content_type: "text/plain".into(),
        created: 1,
        freshness: None,
        payload: Payload::Inline(b"replica".to_vec()),
    };
    let signed = SignedObject::sign(object, &key).unwrap();
    let (p, s) = (RingId([0x30; 32]), RingId([0x50; 32]));
    let mut n = between(p, RingId([0x40; 32]), s);
    let get = |id| {
        Message::Routed(Routed {
            dest: Dest::Key(name.ring_key()),
            origin: RingId([0x90; 32]),
            id,
            hops: 3,
            body: OBJECT_GET,
        })
    };
    // What `n` sends on for the get with request id `id`, handed to it by
    // `s` at time `at`.
    let ask = |n: &mut Node, at, id| -> Vec<(RingId, Routed)> {
        n.handle_input(Input::Receive(at, s, &get(id).encode()))
            .unwrap();
        routed_sent(n)
            .into_iter()
            .filter(|(_, r)| r.id == id)
            .collect()
    };
    // Without the replica the get goes on to the predecessor...
    let sent = ask(&mut n, 4, 8);
    assert!(
        matches!(sent[..], [(to, Routed { body: Body::Get { .. }, .. })] if to == p),
        "{sent:?}"
    );
    // ...with it, this node answers.
    n.store_mut()
        .put(crate::node::store::Item::Object(signed.clone()));
    let sent = ask(&mut n, 5, 9);
    let [(
        _,
        Routed {
            dest,
            body: Body::GetReply {
                item: Some(item), ..
            },
            ..
        },
    )] = &sent[..]
    else {
        panic!("no answer from the replica: {sent:?}");
    };
    assert_eq!(*dest, Dest::Node(RingId([0x90; 32])));
    assert_eq!(*item, ItemBytes::Object(signed.encoded().to_vec()));
}

#[test]
fn a_node_tells_the_predecessor_it_replaces_of_the_newcomer() {
    // `me` has predecessor `old`; newcomer `x` lies between and notifies.
    let (old, x, me, s) = (
        RingId([0x10; 32]),
        RingId([0x18; 32]),
        RingId([0x20; 32]),
        RingId([0x40; 32]),
    );
    let mut n = newcomer_says(between(old, me, s), x, &Message::Notify);
    assert_eq!(n.predecessor(), Some(x));
    let told: Vec<_> = sent(&mut n)
        .into_iter()
        .filter(|(to, m)| *to == old && matches!(m, Message::State { .. }))
        .collect();
    let want = Message::State {
        predecessor: Some(x),
        successors: vec![s],
    };
    assert_eq!(told, vec![(old, want)]);
    // A notify that changes nothing tells nobody.
    n.handle_input(Input::Receive(6, x, &Message::Notify.encode()))
        .unwrap();
    assert!(!sent(&mut n)
        .iter()
        .any(|(_, m)| matches!(m, Message::State { .. })));
}

#[test]
fn an_unasked_state_is_taken_only_from_the_first_successor_naming_a_newcomer() {
    let (me, x, s, other) = (
        RingId([0x10; 32]),
        RingId([0x18; 32]),
        RingId([0x20; 32]),
        RingId([0x60; 32]),
    );
    let mut n = joined_through(me, s);
    n.handle_input(Input::LinkUp(2, other)).unwrap();
    n.handle_input(Input::LinkUp(2, x)).unwrap();
    sent(&mut n);
    let state = Message::State {
        predecessor: Some(x),
        successors: vec![other],
    };
    // From a node that is not its successor: ignored.
    n.handle_input(Input::Receive(3, other, &state.encode()))
        .unwrap();
    assert_eq!(n.successors(), &[s]);
    // From its successor, but naming no node in between: ignored.
    let stale = Message::State {
        predecessor: Some(me),
        successors: vec![other],
    };
    n.handle_input(Input::Receive(3, s, &stale.encode()))
        .unwrap();
    assert_eq!(n.successors(), &[s]);
    // From its successor: the newcomer is its successor now, and notified.
    n.handle_input(Input::Receive(4, s, &state.encode()))
        .unwrap();
    assert_eq!(n.successors(), &[x, s, other]);
    assert!(sent(&mut n)
        .iter()
        .any(|(to, m)| *to == x && *m == Message::Notify));
}

#[test]
fn a_join_lookup_that_comes_back_is_asked_again_after_a_round_trip() {
    use crate::wire::{Body, Dest, Routed};
    // This node (a gateway) looks up the successor of joiner `j` for it;
    // the lookup comes back `Unreachable` at once (a newcomer's
    // neighbourhood still forming). Other requests wait two stabilize rounds
    // before their next try; a join lookup fails nothing by trying sooner:
    // after the measured time of a lookup, at most one round (nothing is
    // measured here).
    let (p, me, s, x, j) = (
        RingId([0x30; 32]),
        RingId([0x40; 32]),
        RingId([0x50; 32]),
        RingId([0x70; 32]),
        RingId([0x90; 32]),
    );
    // Successors `s` and `x`: the next try avoids the first hop of the last.
    let mut n = Node::new(me, Config::default());
    for peer in [s, x, p] {
        n.handle_input(Input::LinkUp(0, peer)).unwrap();
    }
    n.join(0, s);
    let reply = Message::JoinReply {
        successors: vec![s, x],
    };
    n.handle_input(Input::Receive(1, s, &reply.encode()))
        .unwrap();
    n.handle_input(Input::Receive(3, p, &Message::Notify.encode()))
        .unwrap();
    while !matches!(n.poll_output(), Output::Timeout(_)) {}
    n.handle_input(Input::LinkUp(4, j)).unwrap();
    n.handle_input(Input::Receive(5, j, &Message::JoinRequest.encode()))
        .unwrap();
    let lookup = routed_sent(&mut n)
        .into_iter()
        .find(|(_, r)| r.dest == Dest::Key(j) && r.body == Body::FindSuccessor)
        .map(|(_, r)| r.id)
        .expect("a lookup for the joiner");
    let back = Message::Routed(Routed {
        dest: Dest::Node(me),
        origin: s,
        id: lookup,
        hops: 1,
        body: Body::Unreachable,
    });
    // Every bounce is asked again within a round, up to the attempts allowed
    // (the joiner's own retry starts a new lookup after that).
    let round = Config::default().stabilize_ms;
    let mut now = 6;
    for bounce in 1..Config::default().request_attempts {
        n.handle_input(Input::Receive(now, s, &back.encode()))
            .unwrap();
        let again = sent_until(&mut n, now, now + round)
            .into_iter()
            .find(|(_, _, m)| {
                matches!(m, Message::Routed(r) if r.id == lookup && r.body == Body::FindSuccessor)
            });
        assert!(again.is_some(), "bounce {bounce} not asked again");
        // `sent_until` ran the node's clock past the round.
        now = n.now + 1;
    }
}

#[test]
fn a_reply_into_a_link_silent_at_the_far_end_is_probed() {
    use crate::wire::{Dest, Routed};
    // `o` asked through `a`; the answer goes straight to `o`, which is no
    // neighbour and has said nothing since its link came up. A crashed `o`
    // is noticed within the ping timeout, not when ICE gives up.
    let (me, a, o) = (RingId([0x40; 32]), RingId([0x90; 32]), RingId([0xc0; 32]));
    let run = |o_speaks: bool| {
        let mut n = Node::new(me, Config::default());
        n.bootstrap(0);
        n.handle_input(Input::LinkUp(1, a)).unwrap();
        n.handle_input(Input::LinkUp(1, o)).unwrap();
        let get = Message::Routed(Routed {
            dest: Dest::Key(RingId([0x30; 32])),
            origin: o,
            id: 7,
            hops: 1,
            body: OBJECT_GET,
        });
        n.handle_input(Input::Receive(1500, a, &get.encode()))
            .unwrap();
        let mut to_o: Vec<Message> = sent(&mut n)
            .into_iter()
            .filter(|(to, _)| *to == o)
            .map(|(_, m)| m)
            .collect();
        if o_speaks {
            n.handle_input(Input::Receive(
                2500,
                o,
                &Message::Pong { nonce: 1 }.encode(),
            ))
            .unwrap();
        }
        to_o.extend(
            sent_until(&mut n, 2500, 6000)
                .into_iter()
                .filter(|(_, to, _)| *to == o)
                .map(|(_, _, m)| m),
        );
        to_o
    };
    let to_o = run(false);
    assert!(
        matches!(&to_o[0], Message::Routed(r) if r.id == 7),
        "{to_o:?}"
    );
    assert!(
        matches!(to_o[1], Message::Ping { nonce } if nonce & LINK_PROBE != 0),
        "a link probe follows: {to_o:?}"
    );
    // Presumed dead: told `Bye` (in case it lives) and hung up on.
    assert_eq!(to_o.last(), Some(&Message::Bye), "{to_o:?}");
    let to_o = run(true);
    assert!(!to_o.contains(&Message::Bye), "{to_o:?}");
}

#[test]
fn a_neighbour_is_asked_whether_it_is_a_member() {
    let (p, me, s) = (RingId([0x20; 32]), RingId([0x40; 32]), RingId([0x60; 32]));
    let mut n = between(p, me, s);
    let ping = sent_until(&mut n, 3, 2500)
        .into_iter()
        .find_map(|(_, to, m)| match m {
            Message::Ping { nonce } if to == s => Some(nonce),
            _ => None,
        })
        .expect("the silent successor is probed");
    assert_eq!(ping & LINK_PROBE, 0);
}

#[test]
fn a_node_that_is_no_member_answers_only_link_probes() {
    let (me, gw) = (RingId([0x10; 32]), RingId([0x80; 32]));
    let mut n = Node::new(me, Config::default());
    n.handle_input(Input::LinkUp(0, gw)).unwrap();
    n.join(0, gw);
    sent(&mut n);
    for nonce in [5, 5 | LINK_PROBE] {
        let ping = Message::Ping { nonce };
        n.handle_input(Input::Receive(1, gw, &ping.encode()))
            .unwrap();
    }
    let pongs: Vec<Message> = sent(&mut n)
        .into_iter()
        .filter_map(|(_, m)| matches!(m, Message::Pong { .. }).then_some(m))
        .collect();
    assert_eq!(
        pongs,
        [Message::Pong {
            nonce: 5 | LINK_PROBE
        }]
    );
}

#[test]
fn a_retry_whose_only_way_is_the_hop_it_took_goes_that_way_again() {
    use crate::wire::{Body, Dest};
    // One successor: the retry of a get that went through it has no other
    // hop. It used to come back `Unreachable` at once (and wait four more
    // periods); now it goes through the same successor again.
    let (me, s) = (RingId([0x40; 32]), RingId([0x50; 32]));
    let mut n = joined_through(me, s);
    let name = crate::Name::parse("/alice/far").unwrap();
    let key = name.ring_key();
    assert!(
        !key.in_half_open(me, s),
        "the key must lie beyond the successor"
    );
    n.get(2, &name);
    let gets = sent_until(&mut n, 2, 8000)
        .into_iter()
        .filter(|(_, to, m)| {
            *to == s
                && matches!(m, Message::Routed(r)
                    if r.dest == Dest::Key(key) && matches!(r.body, Body::Get { .. }))
        })
        .count();
    assert!(gets >= 2, "asked {gets} times");
    assert_eq!(n.stats().undeliverable.no_hop, 0);
}

#[test]
fn a_node_that_lets_a_joiner_in_itself_takes_it_for_its_successor() {
    // `j` lies between this node and its successor `s`: the node answers
    // the join itself, and asks `j` for its state right after, so that `j`
    // gets its predecessor within a round trip.
    let (p, me, j, s) = (
        RingId([0x20; 32]),
        RingId([0x40; 32]),
        RingId([0x48; 32]),
        RingId([0x60; 32]),
    );
    let mut n = newcomer_says(between(p, me, s), j, &Message::JoinRequest);
    let to_j: Vec<Message> = sent_until(&mut n, 5, 6)
        .into_iter()
        .filter(|(_, to, _)| *to == j)
        .map(|(_, _, m)| m)
        .collect();
    assert!(matches!(to_j[0], Message::JoinReply { .. }), "{to_j:?}");
    assert!(to_j[1..].contains(&Message::GetState), "{to_j:?}");
    assert_eq!(n.successors().first(), Some(&j));
}

#[test]
fn a_newcomer_without_a_predecessor_takes_a_key_handed_back_nearer() {
    use crate::wire::{Body, Dest, Routed};
    // `me` joined, but the node before it has not found it yet: it has no
    // predecessor. Its successor hands back a lookup for `k`, which lies
    // behind `me`. Routed on by fingers it came back round until its hop
    // limit. Now it goes to the linked node nearest after `k`, or, with
    // none, `me` answers it: it is the closest successor of `k` it knows.
    // A get is never answered so: it waits for the owner's claim.
    let (o, k, m, me, s) = (
        RingId([0x10; 32]),
        RingId([0x30; 32]),
        RingId([0x38; 32]),
        RingId([0x40; 32]),
        RingId([0x60; 32]),
    );
    let ask = |body: Body, also_linked: Option<RingId>| {
        let mut n = joined_through(me, s);
        if let Some(m) = also_linked {
            n.handle_input(Input::LinkUp(2, m)).unwrap();
        }
        assert_eq!(n.predecessor(), None);
        sent(&mut n);
        let msg = Message::Routed(Routed {
            dest: Dest::Key(k),
            origin: o,
            id: 9,
            hops: 3,
            body,
        });
        n.handle_input(Input::Receive(3, s, &msg.encode())).unwrap();
        routed_sent(&mut n)
            .into_iter()
            .find(|(_, r)| r.id == 9)
            .map(|(to, r)| (to, r.body))
    };
    let answer = ask(Body::FindSuccessor, None);
    assert!(
        matches!(&answer, Some((_, Body::Successor { node, .. })) if *node == me),
        "{answer:?}"
    );
    assert_eq!(
        ask(Body::FindSuccessor, Some(m)),
        Some((m, Body::FindSuccessor))
    );
    assert!(matches!(ask(OBJECT_GET, None), Some((_, Body::Get { .. }))));
    assert_eq!(ask(OBJECT_GET, Some(m)), Some((m, OBJECT_GET)));
}

#[test]
fn a_lone_node_takes_no_mute_link_for_its_successor() {
    // A gateway's clients are linked from their handshake on. One that
    // never says a word is no member: the lone node keeps to itself instead
    // of making it its successor (and losing its ring to it until probes
    // find it mute). A client that speaks may be taken.
    let (mute, talker) = (RingId([0x20; 32]), RingId([0x60; 32]));
    let mut n = Node::new(RingId([0x40; 32]), Config::default());
    n.bootstrap(0);
    n.handle_input(Input::LinkUp(1, mute)).unwrap();
    let mut now = 1;
    while now <= 5_000 {
        let (_, at) = drain(&mut n);
        assert!(n.successors().is_empty(), "at {now}: {:?}", n.successors());
        now = at.max(now + 1);
        n.handle_input(Input::Timeout(now)).unwrap();
    }
    n.handle_input(Input::LinkUp(5_001, talker)).unwrap();
    let ping = Message::Ping {
        nonce: LINK_PROBE | 1,
    };
    n.handle_input(Input::Receive(5_002, talker, &ping.encode()))
        .unwrap();
    sent_until(&mut n, 5_002, 8_000);
    assert_eq!(n.successors(), [talker]);
}

#[test]
fn a_logged_config_does_not_show_the_secret() {
    let cfg = Config {
        secret: [0xab; 32],
        ..Config::default()
    };
    let shown = format!("{cfg:?}");
    assert!(shown.contains("<secret>"), "{shown}");
    assert!(
        !shown.contains("171"),
        "the secret's bytes are shown: {shown}"
    );
}
