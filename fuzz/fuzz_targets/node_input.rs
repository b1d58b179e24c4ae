//! Fuzzes a ring node with raw peer input: a sequence of records, each a
//! link event, the passing of time, or bytes from one of five peers (most
//! refused by the decoder, the rest driving the state machine in any
//! order). No input may panic; the node must come to rest after each record,
//! keep its successor list well-formed and keep its store within its limits
//! (small here, so that `Store`, `Put` and `GetReply` items reach them).
#![no_main]

use icn_core::node::{Config, Input, Limits, Node, Output, Store};
use icn_core::RingId;
use libfuzzer_sys::fuzz_target;

const POOL: [u8; 6] = [0x10, 0x30, 0x50, 0x70, 0x90, 0xd0];
const ME: RingId = RingId([0x50; 32]);

fn peer(b: u8) -> RingId {
    let i = usize::from(b) % 5;
    RingId([POOL[if i >= 2 { i + 1 } else { i }]; 32])
}

fn settle(n: &mut Node) {
    for _ in 0..10_000 {
        if let Output::Timeout(_) = n.poll_output() {
            return;
        }
    }
    panic!("no rest after 10,000 outputs");
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        store_bytes: 4096,
        store_items: 8,
        answer_bytes: 4096,
        ..Limits::default()
    };
    let cfg = Config {
        limits: limits.clone(),
        ..Config::default()
    };
    let mut n = Node::new(ME, cfg);
    let mut now = 0u64;
    if first & 1 == 0 {
        n.bootstrap(now);
    } else {
        let _ = n.handle_input(Input::LinkUp(now, peer(0)));
        n.join(now, peer(0));
    }
    settle(&mut n);
    // Records: op, peer, length, then `length` bytes for a `Receive`.
    while let [op, who, len, tail @ ..] = rest {
        now += 1;
        let from = peer(*who);
        let len = usize::from(*len).min(tail.len());
        let _ = match op % 5 {
            0 => n.handle_input(Input::Receive(now, from, &tail[..len])),
            1 => n.handle_input(Input::LinkUp(now, from)),
            2 => n.handle_input(Input::LinkDown(now, from)),
            3 => n.handle_input(Input::LinkLost(now, from)),
            _ => {
                now += len as u64 * 40;
                n.handle_input(Input::Timeout(now))
            }
        };
        rest = if op % 5 == 0 { &tail[len..] } else { tail };
        settle(&mut n);
        let s = n.successors();
        assert!(!s.contains(&ME));
        assert!(s
            .windows(2)
            .all(|w| ME.distance_to(w[0]) < ME.distance_to(w[1])));
        assert_ne!(n.predecessor(), Some(ME));
        assert!(n.store().len() <= limits.store_items);
        assert!(n.store().bytes() <= limits.store_bytes);
    }
});
