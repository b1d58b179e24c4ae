use super::*;

#[test]
fn lone_node_is_responsible_for_everything() {
    let mut n = Node::new(RingId([1; 32]), Config::default());
    assert!(!n.is_responsible(RingId([9; 32])));
    n.bootstrap(0);
    assert!(n.is_responsible(RingId([9; 32])));
    assert_eq!(n.poll_output(), Output::Event(Event::Joined));
    assert!(matches!(n.poll_output(), Output::Timeout(_)));
}
