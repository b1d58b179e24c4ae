//! Direct links between peers: signaling, link authentication and framing.
//!
//! A peer reaches its first neighbours through the gateway; every further
//! link is a WebRTC DataChannel. Setting one up needs an SDP offer and answer
//! carried by someone else, first the gateway and then the ring itself (as
//! `Signal` bodies routed by node id). Nobody on that path is trusted, so:
//!
//! * every [`Signal`] is signed by its sender's node key and carries the
//!   sender's gateway-issued [`NodeCert`]; the receiver checks that the
//!   certificate comes from a trusted gateway, names the routed origin, and that
//!   the signal is addressed to itself;
//! * when the channel opens, both ends send a [`LinkAuth`]: a signature over a
//!   transcript holding both DTLS fingerprints and both node ids. A relay that
//!   rewrote the SDPs to sit in the middle has different fingerprints, so its
//!   transcript does not verify.
//!
//! DataChannel messages are kept at or below [`MAX_CHUNK`] bytes, the size
//! every browser carries reliably; longer ring messages are cut into chunks
//! and joined by a bounded [`Reassembler`]. `spec/link.md` is the
//! specification. Everything here is sans-IO and shared by the browser and
//! native drivers.

use crate::sig::{Signature, Signer, SigningKey, VerifyingKey};

pub mod carriers;
pub mod policy;
pub mod reconnect;
pub mod retry;

use crate::bootstrap::{BootstrapError, NodeCert, CERT_FIELDS};
use crate::cbor::{self, CborError, Enc, Seq};
use crate::id::RingId;
use crate::wire::MAX_MESSAGE_SIZE;

/// Domain-separation prefix of signaling signatures.
pub const SIGNAL_TAG: &[u8] = b"icn/v1/signal\0";
/// Domain-separation prefix of link-authentication signatures.
pub const LINK_TAG: &[u8] = b"icn/v1/link\0";
/// Longest SDP accepted in a signal.
pub const MAX_SDP: usize = 16 * 1024;
/// Largest DataChannel message, header byte included.
pub const MAX_CHUNK: usize = 16 * 1024;

/// Chunk header: the last (or only) chunk of a ring message.
const CHUNK_LAST: u8 = 0;
/// Chunk header: more chunks of this ring message follow.
const CHUNK_MORE: u8 = 1;
/// Chunk header: a [`LinkAuth`], the first message on every channel.
const CHUNK_AUTH: u8 = 2;
/// A signal's fields: kind, session, recipient, SDP, certificate, signature.
const SIGNAL_FIELDS: usize = 4 + CERT_FIELDS + 1;
/// A link authentication's fields: certificate, signature.
const AUTH_FIELDS: usize = CERT_FIELDS + 1;

/// Why a signal, an authentication or a chunk was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not strict CBOR of the expected shape.
    #[error("{0}")]
    Cbor(#[from] CborError),
    /// The certificate does not verify or has expired.
    #[error("certificate: {0}")]
    Cert(#[from] BootstrapError),
    /// The certificate is signed by a gateway this peer does not trust.
    #[error("certificate from an untrusted gateway")]
    UntrustedGateway,
    /// The certificate is for another node than the one that sent this.
    #[error("certificate is for another node")]
    WrongNode,
    /// The signal is addressed to another node.
    #[error("signal addressed to another node")]
    WrongRecipient,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Unknown signal kind or chunk header.
    #[error("unknown kind {0}")]
    UnknownKind(u64),
    /// A reassembled message would exceed the limit.
    #[error("message too large")]
    TooLarge,
    /// An empty DataChannel message.
    #[error("empty chunk")]
    Empty,
}

/// Whether a signal offers a new link or answers an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// An SDP offer (complete: ICE candidates included, no trickling).
    Offer,
    /// The SDP answer to an offer of the same session.
    Answer,
}

/// A signed signaling message, carried as a `Signal` body (or relayed by a gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// Offer or answer.
    pub kind: SignalKind,
    /// Chosen by the offerer; the answer repeats it.
    pub session: u64,
    /// The recipient.
    pub to: RingId,
    /// The SDP.
    pub sdp: String,
    /// The sender's certificate.
    pub cert: NodeCert,
    /// The sender's signature over the kind, session, recipient and SDP
    /// (checked by [`Signal::verify`]).
    pub signature: [u8; 64],
}

fn kind_code(k: SignalKind) -> u64 {
    match k {
        SignalKind::Offer => 0,
        SignalKind::Answer => 1,
    }
}

/// Checks `cert` for a message that claims to come from `from`.
fn check_cert(
    cert: &NodeCert,
    from: RingId,
    trusted: &[[u8; 32]],
    now_ms: u64,
) -> Result<VerifyingKey, LinkError> {
    if !trusted.contains(&cert.gateway_key) {
        return Err(LinkError::UntrustedGateway);
    }
    cert.verify(now_ms)?;
    if cert.node_id != from {
        return Err(LinkError::WrongNode);
    }
    VerifyingKey::from_bytes(&cert.node_key).map_err(|_| LinkError::BadSignature)
}

impl Signal {
    fn message(kind: SignalKind, session: u64, to: &RingId, sdp: &str) -> Vec<u8> {
        let mut m = SIGNAL_TAG.to_vec();
        m.push(kind_code(kind) as u8);
        m.extend_from_slice(&session.to_be_bytes());
        m.extend_from_slice(&to.0);
        m.extend_from_slice(sdp.as_bytes());
        m
    }

    /// A signal signed with `key`, whose certificate is `cert`.
    pub fn sign(
        kind: SignalKind,
        session: u64,
        to: RingId,
        sdp: String,
        cert: NodeCert,
        key: &SigningKey,
    ) -> Signal {
        let signature = key
            .sign(&Self::message(kind, session, &to, &sdp))
            .to_bytes();
        Signal {
            kind,
            session,
            to,
            sdp,
            cert,
            signature,
        }
    }

    /// Checks that this signal was sent by node `from` (certified by a gateway
    /// in `trusted`, valid at `now_ms`) to node `me`.
    pub fn verify(
        &self,
        from: RingId,
        me: RingId,
        trusted: &[[u8; 32]],
        now_ms: u64,
    ) -> Result<(), LinkError> {
        if self.to != me {
            return Err(LinkError::WrongRecipient);
        }
        let key = check_cert(&self.cert, from, trusted, now_ms)?;
        key.verify_strict(
            &Self::message(self.kind, self.session, &self.to, &self.sdp),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| LinkError::BadSignature)
    }

    /// Deterministic CBOR encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::array(SIGNAL_FIELDS);
        e.uint(kind_code(self.kind))
            .uint(self.session)
            .bytes(&self.to.0)
            .text(&self.sdp);
        self.cert.write(&mut e);
        e.bytes(&self.signature);
        e.finish()
    }

    /// Strict, bounded decoding (the signature is not checked here).
    pub fn decode(bytes: &[u8]) -> Result<Signal, LinkError> {
        let v = cbor::decode_strict(bytes, MAX_SDP + 1024)?;
        let mut s = Seq::new(v, "signal", SIGNAL_FIELDS)?;
        if s.left() != SIGNAL_FIELDS {
            return Err(CborError::Missing("signal field").into());
        }
        let kind = match s.uint("kind")? {
            0 => SignalKind::Offer,
            1 => SignalKind::Answer,
            k => return Err(LinkError::UnknownKind(k)),
        };
        let session = s.uint("session")?;
        let to = s.id("to")?;
        let sdp = s.text("sdp", MAX_SDP)?;
        let cert = NodeCert::read(&mut s)?;
        let signature = s.b64("signature")?;
        Ok(Signal {
            kind,
            session,
            to,
            sdp,
            cert,
            signature,
        })
    }
}

/// The first message each end sends on a new DataChannel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAuth {
    /// The sender's certificate.
    pub cert: NodeCert,
    /// Signature over the link's [`Transcript`].
    pub signature: [u8; 64],
}

/// What both ends of a DataChannel sign: who offered, who answered, and the
/// DTLS fingerprint each announced in its SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// The offering node.
    pub offerer: RingId,
    /// The answering node.
    pub answerer: RingId,
    /// The offer's `a=fingerprint` value.
    pub offer_fingerprint: String,
    /// The answer's `a=fingerprint` value.
    pub answer_fingerprint: String,
}

impl Transcript {
    /// The transcript of a link between `me` and `peer`, seen from `me`:
    /// whether `me` offered, and the SDP each side sent. `None` if an SDP
    /// has no fingerprint (such a link cannot be authenticated).
    pub fn of_link(
        me: RingId,
        peer: RingId,
        me_offered: bool,
        local_sdp: &str,
        remote_sdp: &str,
    ) -> Option<Transcript> {
        let local = sdp_fingerprint(local_sdp)?;
        let remote = sdp_fingerprint(remote_sdp)?;
        let (offerer, answerer, offer_fingerprint, answer_fingerprint) = if me_offered {
            (me, peer, local, remote)
        } else {
            (peer, me, remote, local)
        };
        Some(Transcript {
            offerer,
            answerer,
            offer_fingerprint,
            answer_fingerprint,
        })
    }

    fn bytes(&self) -> Vec<u8> {
        let mut m = LINK_TAG.to_vec();
        m.extend_from_slice(&self.offerer.0);
        m.extend_from_slice(&self.answerer.0);
        for fp in [&self.offer_fingerprint, &self.answer_fingerprint] {
            m.extend_from_slice(&(fp.len() as u16).to_be_bytes());
            m.extend_from_slice(fp.as_bytes());
        }
        m
    }
}

impl LinkAuth {
    /// Signs `t` with `key`.
    pub fn sign(t: &Transcript, cert: NodeCert, key: &SigningKey) -> LinkAuth {
        LinkAuth {
            signature: key.sign(&t.bytes()).to_bytes(),
            cert,
        }
    }

    /// Checks that node `from` signed `t`.
    pub fn verify(
        &self,
        t: &Transcript,
        from: RingId,
        trusted: &[[u8; 32]],
        now_ms: u64,
    ) -> Result<(), LinkError> {
        let key = check_cert(&self.cert, from, trusted, now_ms)?;
        key.verify_strict(&t.bytes(), &Signature::from_bytes(&self.signature))
            .map_err(|_| LinkError::BadSignature)
    }

    /// The DataChannel message carrying this authentication.
    pub fn to_chunk(&self) -> Vec<u8> {
        let mut e = Enc::array(AUTH_FIELDS);
        self.cert.write(&mut e);
        e.bytes(&self.signature);
        let mut out = vec![CHUNK_AUTH];
        out.extend(e.finish());
        out
    }

    fn decode(bytes: &[u8]) -> Result<LinkAuth, LinkError> {
        let mut s = Seq::new(cbor::decode_strict(bytes, 512)?, "link auth", AUTH_FIELDS)?;
        if s.left() != AUTH_FIELDS {
            return Err(CborError::Missing("link auth field").into());
        }
        let cert = NodeCert::read(&mut s)?;
        let signature = s.b64("signature")?;
        Ok(LinkAuth { cert, signature })
    }
}

/// The value of the first `a=fingerprint:` line of an SDP, upper-cased
/// (`"SHA-256 AB:CD:…"`), or `None` if it has none.
pub fn sdp_fingerprint(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=fingerprint:"))
        .map(|v| v.trim().to_ascii_uppercase())
}

/// Which of two peers keeps its offer when both offered at once (glare): the
/// one with the larger node id; the other drops its own and answers.
pub fn wins_glare(me: RingId, peer: RingId) -> bool {
    me > peer
}

/// Cuts one ring message into DataChannel messages of at most [`MAX_CHUNK`] bytes.
pub fn chunks(message: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<&[u8]> = message.chunks(MAX_CHUNK - 1).collect();
    if parts.is_empty() {
        parts.push(&[]);
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut c = Vec::with_capacity(part.len() + 1);
            c.push(if i + 1 == n { CHUNK_LAST } else { CHUNK_MORE });
            c.extend_from_slice(part);
            c
        })
        .collect()
}

/// Most bytes an [`Outbox`] holds; beyond it messages are dropped (the
/// ring's timeouts and retries take over, as for a lost message).
pub const MAX_OUTBOX: usize = 32 * 1024 * 1024;

/// Chunks waiting for a DataChannel that has no room for them yet.
#[derive(Debug, Default)]
pub struct Outbox {
    chunks: std::collections::VecDeque<Vec<u8>>,
    bytes: usize,
}

impl Outbox {
    /// Queues the chunks of one ring message; `false` if it was dropped
    /// because the outbox is full.
    pub fn push_message(&mut self, message: &[u8]) -> bool {
        if self.bytes + message.len() > MAX_OUTBOX {
            return false;
        }
        for c in chunks(message) {
            self.bytes += c.len();
            self.chunks.push_back(c);
        }
        true
    }

    /// Puts a chunk first (the link authentication).
    pub fn push_first(&mut self, chunk: Vec<u8>) {
        self.bytes += chunk.len();
        self.chunks.push_front(chunk);
    }

    /// The next chunk to write.
    pub fn front(&self) -> Option<&[u8]> {
        self.chunks.front().map(Vec::as_slice)
    }

    /// Removes the next chunk (it was written).
    pub fn pop(&mut self) {
        if let Some(c) = self.chunks.pop_front() {
            self.bytes -= c.len();
        }
    }
}

/// One decoded DataChannel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// The peer's authentication.
    Auth(Box<LinkAuth>),
    /// A whole ring message.
    Message(Vec<u8>),
    /// Part of a ring message; nothing to do yet.
    Partial,
}

/// Joins chunks back into ring messages, refusing anything above
/// [`MAX_MESSAGE_SIZE`] (the link should then be closed).
#[derive(Debug, Default)]
pub struct Reassembler {
    buf: Vec<u8>,
}

impl Reassembler {
    /// Takes the next DataChannel message.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Incoming, LinkError> {
        let (&head, body) = chunk.split_first().ok_or(LinkError::Empty)?;
        if chunk.len() > MAX_CHUNK || self.buf.len() + body.len() > MAX_MESSAGE_SIZE {
            self.buf = Vec::new();
            return Err(LinkError::TooLarge);
        }
        match head {
            CHUNK_AUTH => Ok(Incoming::Auth(Box::new(LinkAuth::decode(body)?))),
            CHUNK_MORE => {
                self.buf.extend_from_slice(body);
                Ok(Incoming::Partial)
            }
            CHUNK_LAST => {
                self.buf.extend_from_slice(body);
                Ok(Incoming::Message(std::mem::take(&mut self.buf)))
            }
            k => Err(LinkError::UnknownKind(k.into())),
        }
    }
}

#[cfg(test)]
mod tests;
