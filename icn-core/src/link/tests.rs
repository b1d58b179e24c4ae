use super::*;
use proptest::prelude::*;

const SDP_A: &str = "v=0\r\na=ice-ufrag:x\r\na=fingerprint:sha-256 AB:cd:01\r\n";
const SDP_B: &str = "v=0\r\na=fingerprint:sha-256 11:22:33\r\n";

fn setup() -> (SigningKey, SigningKey, NodeCert, NodeCert) {
    let gw = SigningKey::from_bytes(&[1; 32]);
    let a = SigningKey::from_bytes(&[2; 32]);
    let b = SigningKey::from_bytes(&[3; 32]);
    let ca = NodeCert::issue(&gw, RingId([0xa; 32]), a.verifying_key().to_bytes(), 10_000);
    let cb = NodeCert::issue(&gw, RingId([0xb; 32]), b.verifying_key().to_bytes(), 10_000);
    (a, b, ca, cb)
}

fn trusted() -> [[u8; 32]; 1] {
    [SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes()]
}

#[test]
fn signals_round_trip_and_verify_only_for_their_sender_and_recipient() {
    let (a, _b, ca, cb) = setup();
    let s = Signal::sign(
        SignalKind::Offer,
        7,
        cb.node_id,
        SDP_A.into(),
        ca.clone(),
        &a,
    );
    let back = Signal::decode(&s.encode()).unwrap();
    assert_eq!(back, s);
    let t = trusted();
    assert_eq!(back.verify(ca.node_id, cb.node_id, &t, 0), Ok(()));
    assert_eq!(
        back.verify(cb.node_id, cb.node_id, &t, 0),
        Err(LinkError::WrongNode)
    );
    assert_eq!(
        back.verify(ca.node_id, ca.node_id, &t, 0),
        Err(LinkError::WrongRecipient)
    );
    assert_eq!(
        back.verify(ca.node_id, cb.node_id, &[[9; 32]], 0),
        Err(LinkError::UntrustedGateway)
    );
    assert!(matches!(
        back.verify(ca.node_id, cb.node_id, &t, 10_000),
        Err(LinkError::Cert(_))
    ));
    let mut forged = back.clone();
    forged.sdp = SDP_B.into();
    assert_eq!(
        forged.verify(ca.node_id, cb.node_id, &t, 0),
        Err(LinkError::BadSignature)
    );
    let mut other = back;
    other.session = 8;
    assert_eq!(
        other.verify(ca.node_id, cb.node_id, &t, 0),
        Err(LinkError::BadSignature)
    );
}

#[test]
fn link_auth_binds_both_fingerprints() {
    let (a, b, ca, cb) = setup();
    let t = Transcript {
        offerer: ca.node_id,
        answerer: cb.node_id,
        offer_fingerprint: sdp_fingerprint(SDP_A).unwrap(),
        answer_fingerprint: sdp_fingerprint(SDP_B).unwrap(),
    };
    assert_eq!(t.offer_fingerprint, "SHA-256 AB:CD:01");
    let auth = LinkAuth::sign(&t, cb.clone(), &b);
    let mut r = Reassembler::default();
    let Ok(Incoming::Auth(got)) = r.push(&auth.to_chunk()) else {
        panic!("not an auth chunk");
    };
    assert_eq!(got.verify(&t, cb.node_id, &trusted(), 0), Ok(()));
    assert_eq!(
        got.verify(&t, ca.node_id, &trusted(), 0),
        Err(LinkError::WrongNode)
    );
    // A man in the middle presents its own DTLS certificate to one side.
    let mut mitm = t.clone();
    mitm.answer_fingerprint = "SHA-256 EE:EE".into();
    assert_eq!(
        got.verify(&mitm, cb.node_id, &trusted(), 0),
        Err(LinkError::BadSignature)
    );
    let by_a = LinkAuth::sign(&t, cb, &a);
    assert_eq!(
        by_a.verify(&t, cb_id(), &trusted(), 0),
        Err(LinkError::BadSignature)
    );
}

fn cb_id() -> RingId {
    RingId([0xb; 32])
}

#[test]
fn glare_has_exactly_one_winner() {
    let (x, y) = (RingId([1; 32]), RingId([2; 32]));
    assert!(wins_glare(y, x) && !wins_glare(x, y));
}

#[test]
fn chunks_respect_the_limit_and_reassemble() {
    for len in [
        0,
        1,
        MAX_CHUNK - 1,
        MAX_CHUNK,
        5 * MAX_CHUNK + 3,
        300 * 1024,
    ] {
        let msg: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let cs = chunks(&msg);
        assert!(cs.iter().all(|c| c.len() <= MAX_CHUNK));
        let mut r = Reassembler::default();
        let mut out = None;
        for (i, c) in cs.iter().enumerate() {
            match r.push(c).unwrap() {
                Incoming::Message(m) => {
                    assert_eq!(i + 1, cs.len());
                    out = Some(m);
                }
                Incoming::Partial => assert!(i + 1 < cs.len()),
                Incoming::Auth(_) => panic!("auth"),
            }
        }
        assert_eq!(out, Some(msg));
    }
}

#[test]
fn reassembly_is_bounded_and_refuses_garbage() {
    let mut r = Reassembler::default();
    let more = {
        let mut c = vec![1u8];
        c.extend(vec![0; MAX_CHUNK - 1]);
        c
    };
    let mut refused = false;
    for _ in 0..(MAX_MESSAGE_SIZE / (MAX_CHUNK - 1) + 2) {
        if r.push(&more) == Err(LinkError::TooLarge) {
            refused = true;
            break;
        }
    }
    assert!(refused);
    assert_eq!(r.push(&[]), Err(LinkError::Empty));
    assert_eq!(r.push(&[9, 1]), Err(LinkError::UnknownKind(9)));
    assert!(r.push(&[2, 0xff]).is_err());
    assert_eq!(r.push(&vec![0; MAX_CHUNK + 1]), Err(LinkError::TooLarge));
}

proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Signal::decode(&bytes);
        let _ = Reassembler::default().push(&bytes);
    }
}

#[test]
fn the_outbox_keeps_order_puts_auth_first_and_is_bounded() {
    let mut o = Outbox::default();
    assert!(o.push_message(&vec![1; 2 * MAX_CHUNK]));
    o.push_first(vec![2, 0]);
    assert_eq!(o.front(), Some(&[2u8, 0][..]));
    o.pop();
    assert_eq!(o.front().map(|c| (c[0], c.len())), Some((1, MAX_CHUNK)));
    o.pop();
    assert_eq!(o.front().map(|c| (c[0], c.len())), Some((1, MAX_CHUNK)));
    o.pop();
    assert_eq!(
        o.front().map(|c| (c[0], c.len())),
        Some((0, 3)),
        "the last chunk"
    );
    o.pop();
    assert_eq!(o.front(), None);
    let big = vec![0; MAX_OUTBOX / 2 + 1];
    assert!(o.push_message(&big));
    assert!(!o.push_message(&big), "over the limit: dropped");
}
