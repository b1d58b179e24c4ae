use super::*;
use crate::node::{Config, Input, Node, Output};

fn id(b: u8) -> RingId {
    RingId([b; 32])
}

/// Messages `n` sent since the last call, decoded, with their receivers.
fn sent(n: &mut Node) -> Vec<(RingId, Message)> {
    outputs(n).0
}

/// Messages sent and peers dialled since the last call.
fn outputs(n: &mut Node) -> (Vec<(RingId, Message)>, Vec<RingId>) {
    let (mut out, mut dials) = (Vec::new(), Vec::new());
    loop {
        match n.poll_output() {
            Output::Transmit(t) => out.push((t.to, Message::decode(&t.bytes).unwrap())),
            Output::Event(crate::node::Event::Dial(p)) => dials.push(p),
            Output::Event(_) => {}
            Output::Timeout(_) => return (out, dials),
        }
    }
}

/// A member whose successor is `succ`, linked to it.
fn member(me: u8, succ: u8) -> Node {
    let mut n = Node::new(id(me), Config::default());
    n.bootstrap(0);
    n.handle_input(Input::LinkUp(0, id(succ))).unwrap();
    n.on_merge(id(succ));
    sent(&mut n);
    assert_eq!(n.successors(), &[id(succ)]);
    n
}

#[test]
fn a_candidate_between_becomes_the_successor_and_hears_of_the_old_one() {
    let mut n = member(0x10, 0x50);
    n.handle_input(Input::LinkUp(0, id(0x30))).unwrap();
    sent(&mut n);
    n.on_merge(id(0x30));
    assert_eq!(n.successors()[0], id(0x30));
    let out = sent(&mut n);
    assert!(
        out.iter().any(|(to, m)| *to == id(0x30)
            && *m
                == Message::Merge {
                    candidate: id(0x50)
                }),
        "{out:?}"
    );
}

#[test]
fn a_candidate_farther_on_is_passed_to_the_successor_and_the_end_is_quiet() {
    let mut n = member(0x10, 0x50);
    n.on_merge(id(0x70));
    assert_eq!(n.successors(), &[id(0x50)]);
    let out = sent(&mut n);
    assert!(out.contains(&(
        id(0x50),
        Message::Merge {
            candidate: id(0x70)
        }
    )));
    // The candidate is the successor already: the zipper ends here.
    n.on_merge(id(0x50));
    assert!(!sent(&mut n)
        .iter()
        .any(|(_, m)| matches!(m, Message::Merge { .. })));
}

#[test]
fn lost_nodes_are_tried_with_growing_waits_and_a_reply_starts_the_zipper() {
    let mut n = member(0x10, 0x50);
    n.remember(0, &[id(0x90)]);
    assert!(is_lost(&n, &id(0x90)));
    let tries = |n: &mut Node, until: u64| {
        let mut at = Vec::new();
        let mut t = 0;
        while t < until {
            t += 500;
            n.handle_input(Input::Timeout(t)).unwrap();
            // A probe to a node without a link dials it.
            if outputs(n).1.contains(&id(0x90)) {
                at.push(t);
                // The dial fails: the link goes down without a word.
                n.handle_input(Input::LinkDown(t, id(0x90))).unwrap();
                sent(n);
            }
        }
        at
    };
    let at = tries(&mut n, 60_000);
    assert_eq!(at, vec![5_000, 15_000, 35_000], "tries at {at:?}");
    // The successor, which never answers here, died once; the failed
    // tries are no new deaths.
    assert_eq!(n.stats().presumed_dead, 1);
    // A link comes up, carried by a relay that answers for the peer: no
    // sign of life yet, so it stays lost and gets the probe.
    n.handle_input(Input::Timeout(75_000)).unwrap();
    assert!(outputs(&mut n).1.contains(&id(0x90)));
    n.handle_input(Input::LinkUp(75_100, id(0x90))).unwrap();
    assert!(is_lost(&n, &id(0x90)));
    let out = sent(&mut n);
    let nonce = out
        .iter()
        .find_map(|(to, m)| match m {
            Message::Ping { nonce } if *to == id(0x90) => Some(*nonce),
            _ => None,
        })
        .expect("a probe");
    // It answers: it is no longer lost and hears where this node is.
    let pong = Message::Pong { nonce }.encode();
    n.handle_input(Input::Receive(75_200, id(0x90), &pong))
        .unwrap();
    assert!(!is_lost(&n, &id(0x90)));
    let out = sent(&mut n);
    assert!(out.contains(&(
        id(0x90),
        Message::Merge {
            candidate: id(0x10)
        }
    )));
}

#[test]
fn the_lost_list_is_bounded_and_forgets() {
    let mut n = member(0x10, 0x50);
    let many: Vec<RingId> = (0..40).map(|i| id(0x60 + i)).collect();
    for (i, p) in many.iter().enumerate() {
        n.remember(i as u64, std::slice::from_ref(p));
    }
    let kept = many.iter().filter(|p| is_lost(&n, p)).count();
    assert_eq!(kept, MAX_LOST);
    assert!(is_lost(&n, &id(0x60 + 39)), "the newest stays");
    n.handle_input(Input::Timeout(FORGET_MS + 100)).unwrap();
    assert!(many.iter().all(|p| !is_lost(&n, p)));
}

#[test]
fn a_member_that_lost_its_successors_rejoins_through_the_gateway_it_reconnected_to() {
    // Joined through gateway 0x80, which died; connected again to gateway
    // 0x90 while it still had a successor (0x50): it stays a member, but
    // once 0x50 is gone too it asks 0x90, not the dead 0x80.
    let (old, new) = (id(0x80), id(0x90));
    let mut n = Node::new(id(0x10), Config::default());
    n.handle_input(Input::LinkUp(0, old)).unwrap();
    n.join(0, old);
    n.handle_input(Input::LinkUp(1, id(0x50))).unwrap();
    let reply = Message::JoinReply {
        successors: vec![id(0x50)],
    };
    n.handle_input(Input::Receive(1, old, &reply.encode()))
        .unwrap();
    assert!(n.is_joined());
    n.handle_input(Input::LinkDown(2, old)).unwrap();
    n.handle_input(Input::LinkUp(3, new)).unwrap();
    n.handle_gateway_up(3, new);
    assert!(n.is_joined(), "a member with a successor stays one");
    sent(&mut n);
    n.handle_input(Input::LinkDown(4, id(0x50))).unwrap();
    let mut asked = Vec::new();
    // The gateway answers no state question (it is no member yet) and
    // takes dials; nothing else is there.
    for t in (5..20_000).step_by(250) {
        n.handle_input(Input::Timeout(t)).unwrap();
        let (out, dials) = outputs(&mut n);
        if dials.contains(&new) {
            n.handle_input(Input::LinkUp(t, new)).unwrap();
        }
        asked.extend(
            out.into_iter()
                .filter(|(_, m)| *m == Message::JoinRequest)
                .map(|(to, _)| to),
        );
    }
    assert!(!n.is_joined());
    assert!(
        !asked.is_empty() && asked.iter().all(|p| *p == new),
        "{asked:?}"
    );
}

#[test]
fn a_join_reply_from_a_node_presumed_dead_is_believed() {
    // The gateway was between rings (no member, answering no state
    // questions) and taken for dead; now a member, it lets this node in.
    let gw = id(0x90);
    let mut n = Node::new(id(0x10), Config::default());
    n.handle_input(Input::LinkUp(0, gw)).unwrap();
    n.join(0, gw);
    n.peer_died(gw);
    n.handle_input(Input::LinkUp(1, gw)).unwrap();
    let reply = Message::JoinReply {
        successors: vec![gw],
    };
    n.handle_input(Input::Receive(2, gw, &reply.encode()))
        .unwrap();
    assert!(n.is_joined());
    assert_eq!(n.successors(), &[gw]);
}
