//! Bodies sent block by block: `GET /icn/...` of an object whose content
//! spans several blocks holds at most one block of it at a time, whatever
//! size its manifest declares (up to 16 GiB) and however slowly the client
//! reads.
//!
//! warp 0.4 builds response bodies only from bytes in hand (its streaming
//! constructors are private), so a handler that streams puts a [`Streamed`]
//! in its response's extensions, with an empty body; the connection's
//! service ([`super::listen`]) swaps the stream in ([`with_stream`]). Each
//! block is fetched when hyper asks for more, which is when the client has
//! read what went before: the client's pace bounds what is held.
//!
//! The first block is fetched before the headers are sent, so that a
//! missing or wrong first block is still an HTTP error; one that fails
//! later cuts the connection (the declared `Content-Length` tells the
//! client the body is short).

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, StreamBody};
use icn_core::block::{Block, BlockRef, Manifest};
use icn_core::SignedObject;
use icn_core::{Hash, Payload};
use warp::http::Response;
use warp::hyper::body::Frame;

/// Any error of a response body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body every response of the gateway has on the wire.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// Pieces of content, one block's worth each.
pub type Pieces = Pin<Box<dyn Stream<Item = Result<Bytes, StreamError>> + Send>>;

/// Why a body was cut after its headers went out.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A block could not be fetched or is not what the manifest names.
    #[error("block {hash}: {reason}")]
    Block {
        /// The block.
        hash: Hash,
        /// What went wrong.
        reason: String,
    },
}

/// The stream a response's body is to be, carried in its extensions
/// (which must be `Clone`; the stream is taken once).
#[derive(Clone)]
pub struct Streamed(Arc<Mutex<Option<Pieces>>>);

impl Streamed {
    /// Wraps `pieces`.
    pub fn new(pieces: Pieces) -> Streamed {
        Streamed(Arc::new(Mutex::new(Some(pieces))))
    }

    fn take(&self) -> Option<Pieces> {
        self.0.lock().ok()?.take()
    }
}

/// `r` with its body replaced by the stream its extensions carry, if any.
pub fn with_stream<B>(r: Response<B>) -> Response<Body>
where
    B: warp::hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = r.into_parts();
    let pieces = parts.extensions.remove::<Streamed>().and_then(|s| s.take());
    let body = match pieces {
        Some(p) => {
            let frames = p.map(|r| r.map(Frame::data).map_err(BoxError::from));
            BodyExt::boxed_unsync(StreamBody::new(frames))
        }
        None => BodyExt::boxed_unsync(body.map_err(Into::into)),
    };
    Response::from_parts(parts, body)
}

/// Fetches a block by hash (pinned store first, then the ring); `Err` is
/// the reason it could not.
pub trait Fetch: Send + Sync + 'static {
    /// Block `hash`, checked against its hash.
    fn fetch(&self, hash: Hash) -> impl std::future::Future<Output = Result<Block, String>> + Send;
}

/// Bytes `start..end` of a manifest's content after its first piece
/// `first` (already fetched: the block at index `next - 1`, ending at
/// content offset `offset`), fetched one block at a time.
pub fn rest<F: Fetch>(
    fetch: Arc<F>,
    o: Arc<SignedObject>,
    next: usize,
    offset: u64,
    (start, end): (u64, u64),
) -> Pieces {
    struct At {
        next: usize,
        offset: u64,
    }
    let pieces = stream::unfold(At { next, offset }, move |mut at| {
        let (fetch, o) = (fetch.clone(), o.clone());
        async move {
            let m = manifest(&o)?;
            let r = *m.blocks().get(at.next)?;
            if at.offset >= end {
                return None;
            }
            let piece = match fetch.fetch(r.hash).await {
                Ok(b) => piece(&b, &r, at.offset, start, end).map(Bytes::from),
                Err(reason) => Err(StreamError::Block {
                    hash: r.hash,
                    reason,
                }),
            };
            at.next += 1;
            at.offset += u64::from(r.size);
            // After an error the stream ends: hyper cuts the connection.
            if piece.is_err() {
                at.next = usize::MAX;
            }
            Some((piece, at))
        }
    });
    Box::pin(pieces)
}

fn manifest(o: &SignedObject) -> Option<&Manifest> {
    match &o.object().payload {
        Payload::Manifest(m) => Some(m),
        Payload::Inline(_) => None,
    }
}

/// The part of block `b` (named by `r`, at content offset `offset`) that
/// falls within `start..end`, once `b` is the block `r` names.
pub fn piece(
    b: &Block,
    r: &BlockRef,
    offset: u64,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, StreamError> {
    let bytes = b.bytes();
    let wrong = if b.hash() != r.hash {
        Some(format!("a block with hash {} came", b.hash()))
    } else if bytes.len() != r.size as usize {
        Some(format!(
            "{} bytes, the manifest says {}",
            bytes.len(),
            r.size
        ))
    } else {
        None
    };
    if let Some(reason) = wrong {
        return Err(StreamError::Block {
            hash: r.hash,
            reason,
        });
    }
    let from = start.saturating_sub(offset).min(bytes.len() as u64) as usize;
    let to = end.saturating_sub(offset).min(bytes.len() as u64) as usize;
    Ok(bytes[from..to.max(from)].to_vec())
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
