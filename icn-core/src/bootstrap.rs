//! The bootstrap protocol between a peer and a gateway (over WebSocket).
//!
//! A joining peer proves it holds its node key, the gateway assigns its ring
//! position and certifies it, and from then on the connection carries ring
//! messages for the gateway's own node and, as a bounded fallback, relayed
//! ring messages for other peers of the same gateway. `spec/bootstrap.md`
//! is the specification; every frame is one CBOR array, decoded strictly.

use crate::sig::{Signature, Signer, SigningKey, VerifyingKey};

use crate::cbor::{self, CborError, Enc, Seq};
use crate::ice::{self, IceError, IceServer};
use crate::id::RingId;
use crate::wire::MAX_MESSAGE_SIZE;

/// Largest bootstrap frame: a ring message plus framing.
pub const MAX_FRAME_SIZE: usize = MAX_MESSAGE_SIZE + 256;
/// Domain-separation prefix of the join proof.
pub const JOIN_TAG: &[u8] = b"icn/v1/join\0";
/// Domain-separation prefix of node certificates.
pub const CERT_TAG: &[u8] = b"icn/v1/node-cert\0";

/// Why a frame or certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapError {
    /// Not strict CBOR of a frame shape.
    #[error("{0}")]
    Cbor(#[from] CborError),
    /// Unknown frame tag.
    #[error("unknown frame tag {0}")]
    UnknownTag(u64),
    /// Wrong number of fields.
    #[error("frame tag {0} has the wrong number of fields")]
    Arity(u64),
    /// A signature or key does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The certificate has expired.
    #[error("certificate expired")]
    Expired,
    /// An ICE server list that breaks its rules.
    #[error("{0}")]
    Ice(#[from] IceError),
}

/// A gateway's signature on a node's ring position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCert {
    /// The ring position.
    pub node_id: RingId,
    /// The node's ed25519 key.
    pub node_key: [u8; 32],
    /// Expiry, ms since the UNIX epoch.
    pub expires: u64,
    /// The signing gateway's key.
    pub gateway_key: [u8; 32],
    /// Signature by the gateway key over [`CERT_TAG`] and the fields above.
    pub signature: [u8; 64],
}

/// How many CBOR fields a certificate takes in frames, signals and link
/// authentication ([`NodeCert::write`], [`NodeCert::read`]).
pub(crate) const CERT_FIELDS: usize = 5;

impl NodeCert {
    fn message(
        node_id: &RingId,
        node_key: &[u8; 32],
        expires: u64,
        gateway_key: &[u8; 32],
    ) -> Vec<u8> {
        let mut m = CERT_TAG.to_vec();
        m.extend_from_slice(&node_id.0);
        m.extend_from_slice(node_key);
        m.extend_from_slice(&expires.to_be_bytes());
        m.extend_from_slice(gateway_key);
        m
    }

    /// Issues a certificate with `gateway`'s key.
    pub fn issue(
        gateway: &SigningKey,
        node_id: RingId,
        node_key: [u8; 32],
        expires: u64,
    ) -> NodeCert {
        let gateway_key = gateway.verifying_key().to_bytes();
        let signature = gateway
            .sign(&Self::message(&node_id, &node_key, expires, &gateway_key))
            .to_bytes();
        NodeCert {
            node_id,
            node_key,
            expires,
            gateway_key,
            signature,
        }
    }

    /// Writes the [`CERT_FIELDS`] CBOR fields of a certificate, as they
    /// appear in frames and signals.
    pub(crate) fn write(&self, e: &mut Enc) {
        e.bytes(&self.node_id.0)
            .bytes(&self.node_key)
            .uint(self.expires)
            .bytes(&self.gateway_key)
            .bytes(&self.signature);
    }

    /// The certificate from its five fields, the next ones of `s` (the
    /// signature is not checked).
    pub(crate) fn read(s: &mut Seq) -> Result<NodeCert, CborError> {
        Ok(NodeCert {
            node_id: s.id("node id")?,
            node_key: s.b32("node key")?,
            expires: s.uint("expires")?,
            gateway_key: s.b32("gateway key")?,
            signature: s.b64("signature")?,
        })
    }

    /// Checks the signature, and the expiry against `now_ms`.
    pub fn verify(&self, now_ms: u64) -> Result<(), BootstrapError> {
        let key = VerifyingKey::from_bytes(&self.gateway_key)
            .map_err(|_| BootstrapError::BadSignature)?;
        key.verify_strict(
            &Self::message(
                &self.node_id,
                &self.node_key,
                self.expires,
                &self.gateway_key,
            ),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| BootstrapError::BadSignature)?;
        if now_ms >= self.expires {
            return Err(BootstrapError::Expired);
        }
        Ok(())
    }
}

/// The join proof a peer signs: [`JOIN_TAG`], the gateway's nonce, the peer's key.
pub fn join_message(nonce: &[u8; 32], key: &[u8; 32]) -> Vec<u8> {
    let mut m = JOIN_TAG.to_vec();
    m.extend_from_slice(nonce);
    m.extend_from_slice(key);
    m
}

/// Verifies a peer's join proof.
pub fn verify_join(
    nonce: &[u8; 32],
    key: &[u8; 32],
    signature: &[u8; 64],
) -> Result<(), BootstrapError> {
    let k = VerifyingKey::from_bytes(key).map_err(|_| BootstrapError::BadSignature)?;
    k.verify_strict(&join_message(nonce, key), &Signature::from_bytes(signature))
        .map_err(|_| BootstrapError::BadSignature)
}

/// One frame on a peer's connection to a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Gateway to peer, first: prove you hold your key.
    Challenge {
        /// Fresh random bytes.
        nonce: [u8; 32],
        /// The gateway's key.
        gateway_key: [u8; 32],
        /// The gateway's own ring position.
        gateway_id: RingId,
    },
    /// Peer to gateway: my key and the proof.
    Hello {
        /// The peer's node key.
        key: [u8; 32],
        /// Signature over [`join_message`].
        signature: [u8; 64],
        /// A peer already in the ring whose gateway went away: the
        /// certificate another gateway gave it, so that this one keeps its
        /// ring position (spec/bootstrap.md, "Joining again elsewhere").
        cert: Option<NodeCert>,
    },
    /// Gateway to peer: your certified ring position.
    Welcome(NodeCert),
    /// A ring message for the gateway's node (peer to gateway) or from it.
    Ring(Vec<u8>),
    /// Relayed ring message: to `peer` (sent by a peer) or from `peer`
    /// (delivered by the gateway).
    Relay {
        /// The other peer.
        peer: RingId,
        /// One ring message.
        bytes: Vec<u8>,
    },
    /// The gateway cannot relay to this peer (not connected to it).
    NoRoute {
        /// The peer.
        peer: RingId,
    },
    /// The gateway closes the connection for this reason.
    Error {
        /// A short code.
        code: String,
    },
    /// Gateway to peer: the keys of every gateway of the ring, whose node
    /// certificates the peer accepts from now on (its own gateway's
    /// included). Sent after `Welcome` and again whenever the list changes.
    Trust {
        /// Gateway keys, at most [`MAX_TRUSTED`].
        keys: Vec<[u8; 32]>,
    },
    /// Gateway to peer, after `Welcome`: the STUN and TURN servers to
    /// gather candidates with (at most [`ice::MAX_ICE_SERVERS`]).
    IceServers {
        /// The servers, TURN ones with credentials for this peer.
        servers: Vec<IceServer>,
    },
}

/// Most gateway keys a `Trust` frame may carry.
pub const MAX_TRUSTED: usize = 64;

/// The keys a peer trusts after its gateway announced `announced`: its own
/// gateway's key always (a `Trust` frame cannot take that away), then the
/// announced ones, without duplicates, at most [`MAX_TRUSTED`] in all.
pub fn trusted_keys(own_gateway: [u8; 32], announced: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut out = vec![own_gateway];
    for k in announced {
        if out.len() < MAX_TRUSTED && !out.contains(k) {
            out.push(*k);
        }
    }
    out
}

/// How many fields follow the tag of frame `tag` (a hello's optional
/// certificate not counted); `None` for an unknown tag. The encoder and the
/// decoder both read it.
fn frame_arity(tag: u64) -> Option<usize> {
    match tag {
        0 => Some(3),
        1 | 4 => Some(2),
        2 => Some(CERT_FIELDS),
        3 | 5 | 6 | 7 | 8 => Some(1),
        _ => None,
    }
}

impl Frame {
    /// Deterministic CBOR encoding.
    pub fn encode(&self) -> Vec<u8> {
        let tag = match self {
            Frame::Challenge { .. } => 0,
            Frame::Hello { .. } => 1,
            Frame::Welcome(_) => 2,
            Frame::Ring(_) => 3,
            Frame::Relay { .. } => 4,
            Frame::NoRoute { .. } => 5,
            Frame::Error { .. } => 6,
            Frame::Trust { .. } => 7,
            Frame::IceServers { .. } => 8,
        };
        // A hello's optional certificate comes on top of its fields.
        let cert_fields = match self {
            Frame::Hello { cert: Some(_), .. } => CERT_FIELDS,
            _ => 0,
        };
        let mut e = Enc::array(1 + frame_arity(tag).unwrap_or_default() + cert_fields);
        e.uint(tag);
        match self {
            Frame::Challenge {
                nonce,
                gateway_key,
                gateway_id,
            } => {
                e.bytes(nonce).bytes(gateway_key).bytes(&gateway_id.0);
            }
            Frame::Hello {
                key,
                signature,
                cert,
            } => {
                e.bytes(key).bytes(signature);
                if let Some(c) = cert {
                    c.write(&mut e);
                }
            }
            Frame::Welcome(c) => c.write(&mut e),
            Frame::Ring(b) => {
                e.bytes(b);
            }
            Frame::Relay { peer, bytes } => {
                e.bytes(&peer.0).bytes(bytes);
            }
            Frame::NoRoute { peer } => {
                e.bytes(&peer.0);
            }
            Frame::Error { code } => {
                e.text(code);
            }
            Frame::Trust { keys } => {
                e.list(keys.len());
                for k in keys {
                    e.bytes(k);
                }
            }
            Frame::IceServers { servers } => ice::write_list(&mut e, servers),
        }
        e.finish()
    }

    /// Strict, bounded decoding.
    pub fn decode(bytes: &[u8]) -> Result<Frame, BootstrapError> {
        let v = cbor::decode_strict(bytes, MAX_FRAME_SIZE)?;
        let mut s = Seq::new(v, "frame", 8)?;
        let tag = s.uint("tag")?;
        let want = frame_arity(tag).ok_or(BootstrapError::UnknownTag(tag))?;
        // A hello may carry a certificate.
        if s.left() != want && !(tag == 1 && s.left() == want + CERT_FIELDS) {
            return Err(BootstrapError::Arity(tag));
        }
        Ok(match tag {
            0 => Frame::Challenge {
                nonce: s.b32("nonce")?,
                gateway_key: s.b32("gateway key")?,
                gateway_id: s.id("gateway id")?,
            },
            1 => {
                let key = s.b32("key")?;
                let signature = s.b64("signature")?;
                let cert = match s.left() {
                    0 => None,
                    _ => Some(NodeCert::read(&mut s)?),
                };
                Frame::Hello {
                    key,
                    signature,
                    cert,
                }
            }
            2 => Frame::Welcome(NodeCert::read(&mut s)?),
            3 => Frame::Ring(s.bytes("ring", MAX_MESSAGE_SIZE)?),
            4 => Frame::Relay {
                peer: s.id("peer")?,
                bytes: s.bytes("relay", MAX_MESSAGE_SIZE)?,
            },
            5 => Frame::NoRoute {
                peer: s.id("peer")?,
            },
            6 => Frame::Error {
                code: s.text("code", 64)?,
            },
            8 => Frame::IceServers {
                servers: ice::read_list(&mut s)?,
            },
            _ => {
                let mut list = Seq::new(s.next("trusted keys")?, "trusted keys", MAX_TRUSTED)?;
                let mut keys = Vec::with_capacity(list.left());
                while list.left() > 0 {
                    keys.push(list.b32("trusted key")?);
                }
                Frame::Trust { keys }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_round_trip_and_certificates_verify() {
        let gw = SigningKey::from_bytes(&[1; 32]);
        let peer = SigningKey::from_bytes(&[2; 32]);
        let cert = NodeCert::issue(&gw, RingId([5; 32]), peer.verifying_key().to_bytes(), 1000);
        assert_eq!(cert.verify(999), Ok(()));
        assert_eq!(cert.verify(1000), Err(BootstrapError::Expired));
        let mut forged = cert.clone();
        forged.node_id = RingId([6; 32]);
        assert_eq!(forged.verify(0), Err(BootstrapError::BadSignature));
        let nonce = [9; 32];
        let key = peer.verifying_key().to_bytes();
        let sig = peer.sign(&join_message(&nonce, &key)).to_bytes();
        assert_eq!(verify_join(&nonce, &key, &sig), Ok(()));
        assert!(verify_join(&[8; 32], &key, &sig).is_err());
        for f in [
            Frame::Challenge {
                nonce,
                gateway_key: [3; 32],
                gateway_id: RingId([4; 32]),
            },
            Frame::Hello {
                key,
                signature: sig,
                cert: None,
            },
            Frame::Hello {
                key,
                signature: sig,
                cert: Some(cert.clone()),
            },
            Frame::Welcome(cert),
            Frame::Ring(vec![1, 2, 3]),
            Frame::Relay {
                peer: RingId([7; 32]),
                bytes: vec![4],
            },
            Frame::NoRoute {
                peer: RingId([7; 32]),
            },
            Frame::Error {
                code: "rate".into(),
            },
            Frame::Trust { keys: vec![] },
            Frame::Trust {
                keys: vec![[1; 32], [2; 32]],
            },
            Frame::IceServers { servers: vec![] },
            Frame::IceServers {
                servers: vec![
                    IceServer::stun("stun:203.0.113.1:8080"),
                    IceServer {
                        urls: vec![
                            "turn:203.0.113.2:3478".into(),
                            "turns:t.example:5349".into(),
                        ],
                        username: "1700000000:ab".into(),
                        credential: "c2VjcmV0".into(),
                    },
                ],
            },
        ] {
            assert_eq!(Frame::decode(&f.encode()), Ok(f));
        }
        let too_many = Frame::Trust {
            keys: vec![[1; 32]; MAX_TRUSTED + 1],
        };
        assert!(Frame::decode(&too_many.encode()).is_err());
        let mut e = Enc::array(2);
        e.uint(7).list(1).bytes(&[1; 31]);
        let short_key = e.finish();
        assert!(Frame::decode(&short_key).is_err());
        assert_eq!(
            trusted_keys([1; 32], &[[2; 32], [1; 32], [2; 32]]),
            vec![[1; 32], [2; 32]]
        );
        assert_eq!(trusted_keys([1; 32], &[]), vec![[1; 32]]);
        assert_eq!(
            Frame::decode(&[0x81, 0x09]),
            Err(BootstrapError::UnknownTag(9))
        );
        // An ICE list over its limit, with a bad URL or a server without
        // URLs is refused whole.
        let many = Frame::IceServers {
            servers: vec![IceServer::stun("stun:x"); crate::ice::MAX_ICE_SERVERS + 1],
        };
        let mut e = Enc::array(2);
        e.uint(8).list(crate::ice::MAX_ICE_SERVERS + 1);
        for _ in 0..=crate::ice::MAX_ICE_SERVERS {
            e.list(3).list(1).text("stun:x").text("").text("");
        }
        assert!(Frame::decode(&e.finish()).is_err());
        assert_eq!(
            Frame::decode(&many.encode()).map(|f| matches!(f, Frame::IceServers { servers } if servers.len() == crate::ice::MAX_ICE_SERVERS)),
            Ok(true),
            "the encoder cuts the list to its limit"
        );
        let mut e = Enc::array(2);
        e.uint(8)
            .list(1)
            .list(3)
            .list(1)
            .text("http://x")
            .text("")
            .text("");
        assert!(matches!(
            Frame::decode(&e.finish()),
            Err(BootstrapError::Ice(IceError::BadUrl(_)))
        ));
        let mut e = Enc::array(2);
        e.uint(8).list(1).list(3).list(0).text("").text("");
        assert_eq!(
            Frame::decode(&e.finish()),
            Err(BootstrapError::Ice(IceError::NoUrl))
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Frame::decode(&bytes);
        }

        /// Any ICE server list of well-formed shape: it round-trips when
        /// every URL is acceptable and within the limits, and is refused
        /// whole otherwise.
        #[test]
        fn ice_lists_round_trip_or_are_refused(
            servers in proptest::collection::vec(
                (proptest::collection::vec("(stun|turn|http):[ -~]{0,12}", 0..6), "[ -~]{0,8}", "[ -~]{0,8}"),
                0..11,
            )
        ) {
            let servers: Vec<IceServer> = servers
                .into_iter()
                .map(|(urls, username, credential)| IceServer { urls, username, credential })
                .collect();
            let mut e = Enc::array(2);
            e.uint(8).list(servers.len());
            for s in &servers {
                e.list(3).list(s.urls.len());
                for u in &s.urls {
                    e.text(u);
                }
                e.text(&s.username).text(&s.credential);
            }
            let acceptable = servers.len() <= crate::ice::MAX_ICE_SERVERS
                && servers.iter().all(|s| {
                    (1..=crate::ice::MAX_ICE_URLS).contains(&s.urls.len())
                        && s.urls.iter().all(|u| IceServer::check_url(u).is_ok())
                });
            // A user's list is held to the decoder's rules.
            prop_assert_eq!(crate::ice::check_list(&servers).is_ok(), acceptable);
            match Frame::decode(&e.finish()) {
                Ok(f) => {
                    prop_assert!(acceptable);
                    prop_assert_eq!(f, Frame::IceServers { servers });
                }
                Err(_) => prop_assert!(!acceptable),
            }
        }
    }
}
