use super::*;
use stun_types::message::MessageType;

const SERVER: &str = "203.0.113.2:3478";

fn server() -> SocketAddr {
    SERVER.parse().unwrap()
}

/// An answer of `class` to `request`, with `attrs` written by `add`.
fn answer(request: &[u8], class: MessageClass, add: impl FnOnce(&mut MessageWriteVec)) -> Vec<u8> {
    let req = Message::from_bytes(request).unwrap();
    let mut m = Message::builder(
        MessageType::from_class_method(class, req.method()),
        req.transaction_id(),
        MessageWriteVec::new(),
    );
    add(&mut m);
    m.finish()
}

/// A relay allocated on a server that asked for credentials first; returns
/// it and the credentials the server checks.
fn allocated(now: Instant) -> (Relay, LongTermKeyCredentials) {
    let mut r = Relay::new(server(), "1700000000:abcd", "secret", now);
    let first = r.poll(now).expect("an Allocate at once");
    let m = Message::from_bytes(&first).unwrap();
    assert!(m.has_method(ALLOCATE) && m.has_class(MessageClass::Request));
    assert!(m
        .raw_attribute(AttributeType::new(REQUESTED_TRANSPORT))
        .is_some());
    let challenge = answer(&first, MessageClass::Error, |m| {
        m.add_attribute(&ErrorCode::new(401, "Unauthorized").unwrap())
            .unwrap();
        m.add_attribute(&Realm::new("icn").unwrap()).unwrap();
        m.add_attribute(&Nonce::new("n1").unwrap()).unwrap();
    });
    assert_eq!(r.handle_datagram(now, &challenge), None);
    let second = r.poll(now).expect("the authenticated Allocate at once");
    let creds =
        LongTermKeyCredentials::new("1700000000:abcd".into(), "secret".into(), "icn".into());
    let m = Message::from_bytes(&second).unwrap();
    assert!(m.has_method(ALLOCATE));
    assert!(
        m.validate_integrity(&creds.clone().into()).is_ok(),
        "signed with the account"
    );
    let relayed: SocketAddr = "203.0.113.2:50000".parse().unwrap();
    let ok = answer(&second, MessageClass::Success, |m| {
        let tid = Message::from_bytes(&second).unwrap().transaction_id();
        m.add_attribute(&xor_attr(XOR_RELAYED_ADDRESS, relayed, tid))
            .unwrap();
        m.add_attribute(&RawAttribute::new(
            AttributeType::new(LIFETIME),
            &600u32.to_be_bytes(),
        ))
        .unwrap();
    });
    assert_eq!(r.handle_datagram(now, &ok), None);
    assert_eq!(r.relayed(), Some(relayed));
    (r, creds)
}

#[test]
fn allocates_with_the_long_term_credentials_the_server_asks_for() {
    let now = Instant::now();
    let (mut r, _) = allocated(now);
    assert_eq!(r.poll(now), None, "nothing more to send");
    assert_eq!(
        r.deadline(),
        Some(now + Duration::from_secs(300)),
        "refresh at half the lifetime"
    );
    let refresh = r.poll(now + Duration::from_secs(300)).expect("a refresh");
    assert!(Message::from_bytes(&refresh).unwrap().has_method(REFRESH));
}

#[test]
fn sends_through_a_permission_and_unwraps_data() {
    let now = Instant::now();
    let (mut r, creds) = allocated(now);
    let peer: SocketAddr = "198.51.100.70:40000".parse().unwrap();
    r.send(now, peer, b"hello");
    let permission = r.poll(now).unwrap();
    let m = Message::from_bytes(&permission).unwrap();
    assert!(m.has_method(CREATE_PERMISSION));
    assert!(m.validate_integrity(&creds.into()).is_ok());
    assert_eq!(read_xor(&m, XOR_PEER_ADDRESS), Some(peer));
    let send = r.poll(now).unwrap();
    let m = Message::from_bytes(&send).unwrap();
    assert!(m.has_method(SEND) && m.has_class(MessageClass::Indication));
    assert_eq!(read_xor(&m, XOR_PEER_ADDRESS), Some(peer));
    assert_eq!(
        &m.raw_attribute(AttributeType::new(DATA_ATTR))
            .unwrap()
            .value[..],
        b"hello"
    );
    // The permission stands: the next datagram goes at once.
    r.send(now + Duration::from_secs(1), peer, b"again");
    let m = r.poll(now).unwrap();
    assert!(Message::from_bytes(&m).unwrap().has_method(SEND));
    assert_eq!(r.poll(now), None);
    // A Data indication from the peer comes out as its payload.
    let mut d = Message::builder_indication(DATA, MessageWriteVec::new());
    let tid = d.transaction_id();
    d.add_attribute(&xor_attr(XOR_PEER_ADDRESS, peer, tid))
        .unwrap();
    d.add_attribute(&RawAttribute::new(AttributeType::new(DATA_ATTR), b"back"))
        .unwrap();
    assert_eq!(
        r.handle_datagram(now, &d.finish()),
        Some((peer, b"back".to_vec()))
    );
    assert_eq!(r.handle_datagram(now, b"not stun"), None);
}

#[test]
fn nothing_is_relayed_before_the_allocation_and_tries_are_bounded() {
    let now = Instant::now();
    let mut r = Relay::new(server(), "u", "p", now);
    r.send(now, "198.51.100.70:1".parse().unwrap(), b"x");
    let mut sent = 0;
    let mut t = now;
    while let Some(m) = r.poll(t) {
        assert!(Message::from_bytes(&m).unwrap().has_method(ALLOCATE));
        sent += 1;
        t += RETRY;
    }
    assert_eq!(sent, MAX_TRIES);
    assert_eq!(r.deadline(), None);
}

#[test]
fn turn_urls_become_targets() {
    let t = |u: &str| first_turn_target(&[u.to_string()]);
    assert_eq!(
        t("turn:203.0.113.2:3478?transport=udp").as_deref(),
        Some("203.0.113.2:3478")
    );
    assert_eq!(
        t("turn:relay.example").as_deref(),
        Some("relay.example:3478")
    );
    assert_eq!(
        t("turn:[2001:db8::1]:5349").as_deref(),
        Some("[2001:db8::1]:5349")
    );
    assert_eq!(t("turn:203.0.113.2?transport=tcp"), None);
    assert_eq!(t("turns:203.0.113.2:5349"), None);
    assert_eq!(t("stun:203.0.113.2"), None);
}

/// An error answer with `code` (and a new nonce, as 438 carries).
fn refusal(request: &[u8], code: u16) -> Vec<u8> {
    answer(request, MessageClass::Error, |m| {
        m.add_attribute(&ErrorCode::new(code, "no").unwrap())
            .unwrap();
        if code == 438 {
            m.add_attribute(&Realm::new("icn").unwrap()).unwrap();
            m.add_attribute(&Nonce::new("n2").unwrap()).unwrap();
        }
    })
}

#[test]
fn a_refused_address_is_not_asked_again_for_a_while() {
    let now = Instant::now();
    let (mut r, _) = allocated(now);
    let peer: SocketAddr = "10.0.0.7:40000".parse().unwrap();
    r.send(now, peer, b"x");
    let ask = r.poll(now).unwrap();
    assert!(r.poll(now).is_some(), "the datagram follows the request");
    assert_eq!(r.handle_datagram(now, &refusal(&ask, 403)), None);
    // Datagrams for it are dropped, without a request each.
    for i in 0..100 {
        r.send(now + Duration::from_millis(i * 10), peer, b"x");
    }
    assert_eq!(r.poll(now + Duration::from_secs(1)), None);
    // Other peers are not held up.
    r.send(now, "203.0.113.9:1".parse().unwrap(), b"y");
    assert!(r.poll(now).is_some());
    while r.poll(now).is_some() {}
    // Later the address is asked again.
    let later = now + REFUSED_FOR;
    r.send(later, peer, b"x");
    let m = Message::from_bytes(&r.poll(later).unwrap())
        .unwrap()
        .has_method(CREATE_PERMISSION);
    assert!(m, "asked again after {REFUSED_FOR:?}");
}

#[test]
fn a_stale_nonce_is_replaced_and_the_permission_asked_again() {
    let now = Instant::now();
    let (mut r, creds) = allocated(now);
    let peer: SocketAddr = "203.0.113.9:1".parse().unwrap();
    r.send(now, peer, b"x");
    let ask = r.poll(now).unwrap();
    while r.poll(now).is_some() {}
    assert_eq!(r.handle_datagram(now, &refusal(&ask, 438)), None);
    r.send(now, peer, b"x");
    let again = r.poll(now).expect("asked again at once");
    let m = Message::from_bytes(&again).unwrap();
    assert!(m.has_method(CREATE_PERMISSION));
    assert_eq!(m.attribute::<Nonce>().unwrap().nonce(), "n2");
    assert!(m.validate_integrity(&creds.into()).is_ok());
}

#[test]
fn a_lost_allocation_is_made_anew() {
    let now = Instant::now();
    let (mut r, _) = allocated(now);
    let at = now + Duration::from_secs(300);
    let refresh = r.poll(at).expect("a refresh");
    assert_eq!(r.handle_datagram(at, &refusal(&refresh, 437)), None);
    assert_eq!(r.relayed(), None);
    r.send(at, "203.0.113.9:1".parse().unwrap(), b"x");
    let m = r.poll(at).expect("an Allocate");
    assert!(Message::from_bytes(&m).unwrap().has_method(ALLOCATE));
    assert_eq!(r.poll(at), None, "nothing relayed without an allocation");
}

proptest::proptest! {
    /// Whatever comes from the server's address (answers with any
    /// attributes, or bytes that are no STUN at all) leaves the relay
    /// working and its state bounded.
    #[test]
    fn any_datagram_from_the_server_is_taken(
        datagrams in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..200), 0..40),
        kind in proptest::sample::select(vec![0x0103u16, 0x0104, 0x0108, 0x0113, 0x0114, 0x0118, 0x0017]),
    ) {
        let now = Instant::now();
        let (mut r, _) = allocated(now);
        r.send(now, "203.0.113.9:1".parse().unwrap(), b"x");
        let ask = r.poll(now).unwrap();
        for d in &datagrams {
            // A STUN header of an answer to the request, or of a Data
            // indication, before the bytes: the decoder reads them as
            // attributes.
            let mut m = kind.to_be_bytes().to_vec();
            m.extend_from_slice(&(d.len() as u16).to_be_bytes());
            m.extend_from_slice(&ask[4..20]);
            m.extend_from_slice(d);
            let _ = r.handle_datagram(now, &m);
            let _ = r.handle_datagram(now, d);
            while r.poll(now).is_some() {}
        }
        proptest::prop_assert!(r.permissions.len() <= MAX_PERMISSIONS);
        proptest::prop_assert!(r.asked.len() <= MAX_PERMISSIONS);
        proptest::prop_assert!(r.refused.len() <= MAX_PERMISSIONS);
    }
}
