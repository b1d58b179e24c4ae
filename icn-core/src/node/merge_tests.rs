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
    // It answers: it is no longer lost, gets the probe and hears where
    // this node is.
    n.handle_input(Input::Timeout(75_000)).unwrap();
    assert!(outputs(&mut n).1.contains(&id(0x90)));
    n.handle_input(Input::LinkUp(75_100, id(0x90))).unwrap();
    assert!(!is_lost(&n, &id(0x90)));
    let out = sent(&mut n);
    assert!(out
        .iter()
        .any(|(to, m)| *to == id(0x90) && matches!(m, Message::Ping { .. })));
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
