use super::*;
use crate::link::retry::RETRY_FIRST_MS;

fn id(b: u8) -> RingId {
    RingId([b; 32])
}

const GW: u8 = 100;

fn drain(c: &mut Carriers) -> Vec<Action> {
    std::iter::from_fn(|| c.poll_action()).collect()
}

fn joined() -> Carriers {
    let mut c = Carriers::new();
    c.handle_upstream_up(id(GW));
    c
}

#[test]
fn with_the_gateway_a_dial_is_up_at_once_on_the_relay_and_offers_beside_it() {
    let mut c = joined();
    c.handle_dial(0, id(1));
    assert_eq!(drain(&mut c), vec![Action::Up(id(1)), Action::Offer(id(1))]);
    assert_eq!(c.via(&id(1)), Some(Via::Relay));
    assert_eq!(c.carry(id(1), vec![1]), Some((Via::Relay, vec![1])));
    c.handle_channel_opened(id(1));
    assert!(drain(&mut c).is_empty(), "already up: no second Up");
    assert_eq!(c.carry(id(1), vec![2]), Some((Via::Channel, vec![2])));
    // The gateway goes: the DataChannel carries on.
    c.handle_upstream_gone();
    assert_eq!(drain(&mut c), vec![Action::Down(id(GW))]);
    assert_eq!(c.via(&id(1)), Some(Via::Channel));
}

#[test]
fn without_the_gateway_a_dial_is_up_when_its_channel_opens_and_held_messages_go_first() {
    let mut c = Carriers::new();
    c.handle_dial(0, id(1));
    assert_eq!(drain(&mut c), vec![Action::Offer(id(1))]);
    assert_eq!(c.carry(id(1), vec![1]), None, "held");
    assert_eq!(c.carry(id(1), vec![2]), None, "held");
    assert_eq!(c.carry(id(2), vec![3]), None, "no carrier at all");
    c.handle_channel_opened(id(1));
    assert_eq!(
        drain(&mut c),
        vec![
            Action::Send(id(1), vec![1]),
            Action::Send(id(1), vec![2]),
            Action::Up(id(1))
        ]
    );
    // A failed set-up without a relay takes the link down, held ones with it.
    c.handle_dial(10, id(2));
    assert_eq!(c.carry(id(2), vec![4]), None);
    c.handle_channel_closed(20, id(2));
    assert_eq!(
        drain(&mut c),
        vec![Action::Offer(id(2)), Action::Down(id(2))]
    );
    c.handle_dial(30, id(2));
    c.handle_channel_opened(id(2));
    assert_eq!(
        drain(&mut c),
        vec![Action::Offer(id(2)), Action::Up(id(2))],
        "nothing held from the failed set-up"
    );
}

#[test]
fn a_failed_channel_of_a_relayed_link_is_offered_again_until_the_gateway_goes() {
    let mut c = joined();
    c.handle_dial(0, id(1));
    drain(&mut c);
    c.handle_channel_closed(1_000, id(1));
    assert!(drain(&mut c).is_empty(), "the relay still carries it");
    assert_eq!(c.poll_timeout(), Some(1_000 + RETRY_FIRST_MS));
    c.handle_timeout(1_000 + RETRY_FIRST_MS - 1);
    assert!(drain(&mut c).is_empty());
    c.handle_timeout(1_000 + RETRY_FIRST_MS);
    assert_eq!(drain(&mut c), vec![Action::Offer(id(1))]);
    c.handle_channel_closed(5_000, id(1));
    c.handle_upstream_gone();
    assert_eq!(
        drain(&mut c),
        vec![Action::Down(id(GW)), Action::Lost(id(1))]
    );
    c.handle_timeout(1_000_000);
    assert!(drain(&mut c).is_empty(), "no retry once the relay is gone");
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn no_route_loses_a_relayed_link_and_later_dials_wait_for_the_channel() {
    let mut c = joined();
    c.handle_dial(0, id(1));
    drain(&mut c);
    c.handle_no_route(id(1));
    assert_eq!(drain(&mut c), vec![Action::Lost(id(1))]);
    c.handle_channel_closed(10, id(1));
    assert_eq!(drain(&mut c), vec![Action::Down(id(1))]);
    c.handle_dial(20, id(1));
    assert_eq!(
        drain(&mut c),
        vec![Action::Offer(id(1))],
        "not relayed again"
    );
    // A new upstream forgets the gateway's answer.
    c.handle_upstream_up(id(GW + 1));
    c.handle_channel_closed(30, id(1));
    drain(&mut c);
    c.handle_dial(40, id(1));
    assert_eq!(drain(&mut c), vec![Action::Up(id(1)), Action::Offer(id(1))]);
}

#[test]
fn relay_frames_bring_links_up_and_clients_are_carried_by_their_websocket() {
    let mut c = joined();
    c.handle_relayed(id(1));
    c.handle_relayed(id(1));
    assert_eq!(drain(&mut c), vec![Action::Up(id(1))], "once");
    c.handle_client_up(id(2));
    c.handle_dial(0, id(2));
    assert_eq!(drain(&mut c), vec![Action::Up(id(2)), Action::Up(id(2))]);
    assert_eq!(c.carry(id(2), vec![1]), Some((Via::Client, vec![1])));
    assert_eq!(c.carry(id(GW), vec![1]), Some((Via::Upstream, vec![1])));
    c.handle_client_down(id(2));
    assert_eq!(drain(&mut c), vec![Action::Down(id(2))]);
}

#[test]
fn set_ups_are_bounded_in_number_and_time() {
    let mut c = Carriers::new();
    for p in 0..MAX_CHANNELS as u8 {
        c.handle_dial(0, id(p));
    }
    c.handle_dial(0, id(200));
    let acts = drain(&mut c);
    assert_eq!(acts.len(), MAX_CHANNELS + 1);
    assert_eq!(acts.last(), Some(&Action::Down(id(200))), "over the limit");
    assert!(
        !c.handle_offer(0, id(250), id(201)),
        "no room to answer either"
    );
    assert_eq!(c.poll_timeout(), Some(SETUP_MS + 1));
    c.handle_channel_opened(id(0));
    drain(&mut c);
    c.handle_timeout(SETUP_MS + 1);
    let acts = drain(&mut c);
    assert_eq!(acts.len(), 2 * (MAX_CHANNELS - 1), "{acts:?}");
    assert!(acts.contains(&Action::Close(id(1))) && acts.contains(&Action::Down(id(1))));
    assert_eq!(c.via(&id(0)), Some(Via::Channel), "the open one stays");
}

#[test]
fn ice_death_closes_and_glare_keeps_the_larger_ids_offer() {
    let mut c = Carriers::new();
    c.handle_dial(0, id(1));
    c.handle_channel_opened(id(1));
    drain(&mut c);
    assert!(!c.handle_offer(10, id(50), id(1)), "an open channel stands");
    c.handle_ice_state(100, id(1), IceState::Disconnected);
    assert!(drain(&mut c).is_empty(), "within the grace");
    assert_eq!(
        c.poll_timeout(),
        Some(100 + super::super::policy::DISCONNECTED_GRACE_MS)
    );
    c.handle_timeout(100 + super::super::policy::DISCONNECTED_GRACE_MS);
    assert_eq!(
        drain(&mut c),
        vec![Action::Close(id(1)), Action::Down(id(1))]
    );
    // Glare: both offered; the larger id keeps its own.
    c.handle_dial(200, id(1));
    drain(&mut c);
    assert!(!c.handle_offer(210, id(50), id(1)), "50 > 1: ours stands");
    c.handle_dial(220, id(90));
    drain(&mut c);
    assert!(c.handle_offer(230, id(50), id(90)), "90 > 50: we answer");
    c.handle_channel_opened(id(90));
    assert_eq!(drain(&mut c), vec![Action::Up(id(90))]);
}

#[test]
fn hangups_close_channels_except_while_leaving() {
    let mut c = Carriers::new();
    c.handle_dial(0, id(1));
    c.handle_dial(0, id(2));
    c.handle_channel_opened(id(1));
    c.handle_channel_opened(id(2));
    drain(&mut c);
    c.handle_hangup(id(1));
    assert_eq!(drain(&mut c), vec![Action::Close(id(1))]);
    c.handle_channel_closed(5, id(1));
    assert!(
        drain(&mut c).is_empty(),
        "forgotten: its late close is nothing"
    );
    c.handle_leave();
    c.handle_hangup(id(2));
    assert!(drain(&mut c).is_empty());
    assert_eq!(c.via(&id(2)), Some(Via::Channel));
}
