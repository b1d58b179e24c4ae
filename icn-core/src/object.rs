//! Signed content objects.
//!
//! Every piece of content in icn travels as a [`SignedObject`]: a CBOR map
//! holding the *exact bytes* of the object body and an ed25519 signature over
//! them (with a domain-separation prefix). Verifiers check the signature over
//! the bytes they received and only then interpret them; nothing is ever
//! re-encoded to be verified, so encoder differences between peers can never
//! turn a valid object invalid or the other way round.
//!
//! The body ([`ContentObject`]) names the content, carries a version number
//! (newer replaces older everywhere; equal versions are ordered by the hash of
//! the encoded object, so every replica picks the same winner), a content type,
//! a creation time, an optional freshness, the publisher's key, and the payload:
//! inline bytes for small content or a [`Manifest`] of blocks for large content.
//! The wire format is specified in `spec/objects.md` and `spec/icn.cddl`.

use crate::sig::{Signature, Signer, SigningKey, VerifyingKey};

use crate::block::{BlockError, BlockRef, Manifest, MAX_BLOCKS};
use crate::cbor::{self, as_array, as_bytes, as_text, as_u64, CborError, Enc, Fields, Item, Seq};
use crate::hash::Hash;
use crate::name::{Name, NameError};
use crate::publisher::PublisherId;

/// The object format this code writes and reads.
pub const FORMAT_VERSION: u64 = 1;
/// Largest encoded object accepted (the manifest of a 4 GiB file fits).
pub const MAX_OBJECT_SIZE: usize = 1024 * 1024;
/// Largest inline payload; larger content is split into blocks.
pub const MAX_INLINE_SIZE: usize = 256 * 1024;
/// Longest content type, in bytes.
pub const MAX_CONTENT_TYPE_LEN: usize = 255;
/// Domain-separation prefix of the signed message.
pub const SIGNATURE_TAG: &[u8] = b"icn/v1/object\0";

/// Why an object was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// The bytes are not strict CBOR of the right shape.
    #[error("{0}")]
    Cbor(#[from] CborError),
    /// A format version this code does not know.
    #[error("unsupported object format {0}")]
    UnsupportedFormat(u64),
    /// The signature is not 64 bytes.
    #[error("signature must be 64 bytes, got {0}")]
    SignatureLength(usize),
    /// The name is invalid.
    #[error("invalid name: {0}")]
    Name(#[from] NameError),
    /// The content type is empty, too long or not printable ASCII.
    #[error("content type must be 1..={MAX_CONTENT_TYPE_LEN} printable ASCII characters")]
    ContentType,
    /// Inline content above [`MAX_INLINE_SIZE`].
    #[error("inline payload of {0} bytes exceeds {MAX_INLINE_SIZE}; use blocks")]
    InlineTooLarge(usize),
    /// The manifest is invalid.
    #[error("invalid manifest: {0}")]
    Manifest(#[from] BlockError),
    /// The publisher key is not a valid ed25519 public key.
    #[error("publisher key is not a valid ed25519 public key")]
    PublisherKey,
    /// The name's first component is not the signer's publisher id.
    #[error("name {name} is not under the signer's publisher id {signer}")]
    PublisherMismatch {
        /// The object's name.
        name: String,
        /// The id of the key that signed it.
        signer: String,
    },
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The encoded object would exceed [`MAX_OBJECT_SIZE`].
    #[error("encoded object of {0} bytes exceeds {MAX_OBJECT_SIZE}")]
    TooLarge(usize),
}

impl ObjectError {
    /// A short stable code for this error, as used in `spec/vectors/`.
    pub fn code(&self) -> &'static str {
        match self {
            ObjectError::Cbor(e) => e.code(),
            ObjectError::UnsupportedFormat(_) => "unsupported-format",
            ObjectError::SignatureLength(_) => "bad-signature-length",
            ObjectError::Name(_) => "bad-name",
            ObjectError::ContentType => "bad-content-type",
            ObjectError::InlineTooLarge(_) => "inline-too-large",
            ObjectError::Manifest(_) => "bad-manifest",
            ObjectError::PublisherKey => "bad-publisher-key",
            ObjectError::PublisherMismatch { .. } => "publisher-mismatch",
            ObjectError::BadSignature => "bad-signature",
            ObjectError::TooLarge(_) => "too-large",
        }
    }
}

/// Where the content of an object is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The content itself, at most [`MAX_INLINE_SIZE`] bytes.
    Inline(Vec<u8>),
    /// The list of blocks holding the content.
    Manifest(Manifest),
}

impl Payload {
    /// Length of the content in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Payload::Inline(b) => b.len() as u64,
            Payload::Manifest(m) => m.size(),
        }
    }

    /// Whether the content is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The unsigned body of an object: what the publisher says about the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentObject {
    /// Full name, starting with the publisher id.
    pub name: Name,
    /// Version; a higher version replaces a lower one.
    pub version: u64,
    /// MIME type of the content.
    pub content_type: String,
    /// Creation time in milliseconds since the UNIX epoch.
    pub created: u64,
    /// How long, in seconds, caches may serve this version without checking.
    pub freshness: Option<u64>,
    /// The content or its manifest.
    pub payload: Payload,
}

impl ContentObject {
    /// The deterministic CBOR encoding of this body with `publisher` as its
    /// key: exactly the bytes a signature covers (after [`SIGNATURE_TAG`]).
    pub fn encode_body(&self, publisher: &VerifyingKey) -> Vec<u8> {
        let mut e = Enc::default();
        // Every field of the body, but freshness only when set.
        e.map(BODY_FIELDS.len() - usize::from(self.freshness.is_none()))
            .uint(K_FORMAT)
            .uint(FORMAT_VERSION)
            .uint(K_NAME)
            .list(self.name.components().len());
        for c in self.name.components() {
            e.bytes(c);
        }
        e.uint(K_VERSION)
            .uint(self.version)
            .uint(K_TYPE)
            .text(&self.content_type)
            .uint(K_CREATED)
            .uint(self.created);
        if let Some(f) = self.freshness {
            e.uint(K_FRESHNESS).uint(f);
        }
        e.uint(K_PAYLOAD);
        match &self.payload {
            Payload::Inline(b) => {
                e.bytes(b);
            }
            Payload::Manifest(m) => {
                e.map(2)
                    .uint(0)
                    .uint(m.size())
                    .uint(1)
                    .list(m.blocks().len());
                for r in m.blocks() {
                    e.list(2).bytes(&r.hash.0).uint(u64::from(r.size));
                }
            }
        }
        e.uint(K_PUBLISHER).bytes(publisher.as_bytes());
        e.finish()
    }
}

/// An encoded object with its signature; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedObject {
    object: ContentObject,
    publisher: VerifyingKey,
    body: Vec<u8>,
    signature: [u8; 64],
    encoded: Vec<u8>,
    hash: Hash,
}

// Body field keys, as in spec/icn.cddl.
const K_FORMAT: u64 = 0;
const K_NAME: u64 = 1;
const K_VERSION: u64 = 2;
const K_TYPE: u64 = 3;
const K_CREATED: u64 = 4;
const K_FRESHNESS: u64 = 5;
const K_PAYLOAD: u64 = 6;
const K_PUBLISHER: u64 = 7;
const BODY_FIELDS: &[(u64, &str)] = &[
    (K_FORMAT, "format"),
    (K_NAME, "name"),
    (K_VERSION, "version"),
    (K_TYPE, "content-type"),
    (K_CREATED, "created"),
    (K_FRESHNESS, "freshness"),
    (K_PAYLOAD, "payload"),
    (K_PUBLISHER, "publisher-key"),
];
const ENVELOPE_FIELDS: &[(u64, &str)] = &[(1, "body"), (2, "signature")];
const MANIFEST_FIELDS: &[(u64, &str)] = &[(0, "size"), (1, "blocks")];

impl SignedObject {
    /// Encodes and signs `object` with `key`. The name must start with the
    /// key's publisher id.
    pub fn sign(object: ContentObject, key: &SigningKey) -> Result<SignedObject, ObjectError> {
        let publisher = key.verifying_key();
        check_publisher(&object.name, &publisher)?;
        check_content_type(&object.content_type)?;
        if let Payload::Inline(b) = &object.payload {
            if b.len() > MAX_INLINE_SIZE {
                return Err(ObjectError::InlineTooLarge(b.len()));
            }
        }
        let body = object.encode_body(&publisher);
        let signature = key.sign(&signed_message(&body)).to_bytes();
        let mut e = Enc::default();
        e.map(2).uint(1).bytes(&body).uint(2).bytes(&signature);
        let encoded = e.finish();
        if encoded.len() > MAX_OBJECT_SIZE {
            return Err(ObjectError::TooLarge(encoded.len()));
        }
        Ok(SignedObject {
            hash: Hash::of(&encoded),
            object,
            publisher,
            body,
            signature,
            encoded,
        })
    }

    /// Decodes strictly and verifies: the only way peer input becomes an object.
    pub fn decode(bytes: &[u8]) -> Result<SignedObject, ObjectError> {
        let obj = SignedObject::decode_unverified(bytes)?;
        obj.verify()?;
        Ok(obj)
    }

    /// Decodes strictly **without** checking the signature or the publisher.
    /// For inspection tools only; anything stored or served must come from
    /// [`SignedObject::decode`].
    pub fn decode_unverified(bytes: &[u8]) -> Result<SignedObject, ObjectError> {
        let mut env = Fields::new(
            cbor::decode_strict(bytes, MAX_OBJECT_SIZE)?,
            "object",
            ENVELOPE_FIELDS,
        )?;
        let body = as_bytes(env.required(1, "body")?, "body", MAX_OBJECT_SIZE)?;
        let signature = match env.required(2, "signature")? {
            Item::Bytes(b) => {
                <[u8; 64]>::try_from(b).map_err(|_| ObjectError::SignatureLength(b.len()))?
            }
            _ => {
                return Err(CborError::WrongType {
                    field: "signature",
                    expected: "a byte string",
                }
                .into())
            }
        };
        let (object, publisher) = decode_body(&body)?;
        Ok(SignedObject {
            object,
            publisher,
            body,
            signature,
            hash: Hash::of(bytes),
            encoded: bytes.to_vec(),
        })
    }

    /// Checks that the name is under the signer's publisher id and that the
    /// signature over the received body bytes is valid (strict verification).
    pub fn verify(&self) -> Result<(), ObjectError> {
        check_publisher(&self.object.name, &self.publisher)?;
        let sig = Signature::from_bytes(&self.signature);
        self.publisher
            .verify_strict(&signed_message(&self.body), &sig)
            .map_err(|_| ObjectError::BadSignature)
    }

    /// The body.
    pub fn object(&self) -> &ContentObject {
        &self.object
    }

    /// The name.
    pub fn name(&self) -> &Name {
        &self.object.name
    }

    /// The version.
    pub fn version(&self) -> u64 {
        self.object.version
    }

    /// The signer's publisher id.
    pub fn publisher(&self) -> PublisherId {
        PublisherId::from_key(self.publisher)
    }

    /// The whole encoded object, as signed and as it travels.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// SHA-256 of [`SignedObject::encoded`]: identifies this exact object.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The exact body bytes the signature covers.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// Whether `self` should replace `other` (an object under the same name):
    /// a higher version wins; at equal versions the higher object hash wins.
    pub fn supersedes(&self, other: &SignedObject) -> bool {
        (self.object.version, self.hash) > (other.object.version, other.hash)
    }
}

fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNATURE_TAG.len() + body.len());
    m.extend_from_slice(SIGNATURE_TAG);
    m.extend_from_slice(body);
    m
}

fn check_publisher(name: &Name, key: &VerifyingKey) -> Result<(), ObjectError> {
    let signer = PublisherId::from_key(*key);
    match name.publisher() {
        Ok(p) if p == signer => Ok(()),
        _ => Err(ObjectError::PublisherMismatch {
            name: name.to_uri(),
            signer: signer.to_text(),
        }),
    }
}

fn check_content_type(t: &str) -> Result<(), ObjectError> {
    let ok = !t.is_empty()
        && t.len() <= MAX_CONTENT_TYPE_LEN
        && t.bytes().all(|b| (0x20..0x7f).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ObjectError::ContentType)
    }
}

fn decode_body(body: &[u8]) -> Result<(ContentObject, VerifyingKey), ObjectError> {
    let mut f = Fields::new(
        cbor::decode_strict(body, MAX_OBJECT_SIZE)?,
        "body",
        BODY_FIELDS,
    )?;
    let format = f.uint(K_FORMAT, "format")?;
    if format != FORMAT_VERSION {
        return Err(ObjectError::UnsupportedFormat(format));
    }
    // Lengths are bounded by the object size; Name::from_components applies
    // the name limits so that over-long names report a name error.
    let mut list = f.seq(K_NAME, "name", MAX_OBJECT_SIZE)?;
    let mut components = Vec::with_capacity(list.left());
    while list.left() > 0 {
        components.push(list.bytes("name", MAX_OBJECT_SIZE)?);
    }
    let name = Name::from_components(components)?;
    let version = f.uint(K_VERSION, "version")?;
    let content_type = as_text(
        f.required(K_TYPE, "content-type")?,
        "content-type",
        MAX_CONTENT_TYPE_LEN,
    )
    .map_err(|_| ObjectError::ContentType)?;
    check_content_type(&content_type)?;
    let created = f.uint(K_CREATED, "created")?;
    let freshness = f
        .take(K_FRESHNESS)
        .map(|v| as_u64(v, "freshness"))
        .transpose()?;
    let payload = decode_payload(f.required(K_PAYLOAD, "payload")?)?;
    let key = as_array::<32>(f.required(K_PUBLISHER, "publisher-key")?, "publisher-key")?;
    let publisher = VerifyingKey::from_bytes(&key).map_err(|_| ObjectError::PublisherKey)?;
    let object = ContentObject {
        name,
        version,
        content_type,
        created,
        freshness,
        payload,
    };
    Ok((object, publisher))
}

fn decode_payload(v: Item) -> Result<Payload, ObjectError> {
    match v {
        Item::Bytes(b) if b.len() > MAX_INLINE_SIZE => Err(ObjectError::InlineTooLarge(b.len())),
        Item::Bytes(b) => Ok(Payload::Inline(b.to_vec())),
        v @ Item::Map(_) => {
            let mut f = Fields::new(v, "manifest", MANIFEST_FIELDS)?;
            let size = f.uint(0, "size")?;
            let mut list = f.seq(1, "blocks", MAX_BLOCKS)?;
            let mut blocks = Vec::with_capacity(list.left());
            while list.left() > 0 {
                let mut pair = Seq::new(list.next("block")?, "block", 2)?;
                if pair.left() != 2 {
                    return Err(CborError::WrongType {
                        field: "block",
                        expected: "[hash, size]",
                    }
                    .into());
                }
                let hash = Hash(pair.id("block hash")?.0);
                let size = u32::try_from(pair.uint("block size")?).map_err(|_| {
                    ObjectError::Manifest(BlockError::BadSize {
                        index: blocks.len(),
                        size: u64::MAX,
                    })
                })?;
                blocks.push(BlockRef { hash, size });
            }
            Ok(Payload::Manifest(Manifest::new(size, blocks)?))
        }
        _ => Err(CborError::WrongType {
            field: "payload",
            expected: "a byte string or a manifest map",
        }
        .into()),
    }
}

#[cfg(test)]
mod tests;
