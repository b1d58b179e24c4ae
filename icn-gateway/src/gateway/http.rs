//! The gateway's HTTP API (spec: `spec/gateway.md`).
//!
//! Handlers never trust what they serve: objects come from the pinned store
//! (verified at load) or from the ring (verified by the node on arrival), and
//! blocks are hash-checked on every read. Served content is marked
//! `nosniff` and `Content-Security-Policy: sandbox` so that published HTML
//! cannot script the gateway's origin. Every error is JSON with a stable code.
//!
//! Helpers return `Result<_, Resp>` so that an error response can be returned
//! as is; the response is moved once, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use icn_core::block::{Block, BlockError, MAX_BLOCK_SIZE};
use icn_core::node::RequestError;
use icn_core::object::MAX_OBJECT_SIZE;
use icn_core::{Hash, Name, Payload, SignedObject};
use tokio::sync::{mpsc, oneshot};
use warp::http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use warp::path::Tail;
use warp::{Filter, Rejection, Reply};

use super::driver::Command;
use super::metrics::Metrics;
use super::range::{parse_range, RangeError};
use super::store::{PinnedStore, StoreError, Stored};
use super::stream::{piece, Fetch, Pieces, Streamed};

/// Media type of a signed object.
pub const OBJECT_TYPE: &str = "application/vnd.icn.object+cbor";
const EXPOSED: &str =
    "Content-Range, Content-Length, ETag, X-Icn-Name, X-Icn-Publisher, X-Icn-Version";

/// What the handlers share.
pub struct State {
    /// Pinned objects and blocks.
    pub store: PinnedStore,
    /// The ring node's task.
    pub driver: mpsc::Sender<Command>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// How long a ring lookup may take before the answer is 504.
    pub lookup_timeout: Duration,
    /// Peers connected over WebSocket.
    pub peers: super::ws::Peers,
    /// Response headers prepared once per object (by object hash).
    pub prepared: std::sync::RwLock<std::collections::HashMap<Hash, Arc<Prepared>>>,
    /// The ICE servers admitted peers are given.
    pub ice: super::ice::IceConfig,
}

/// The headers of an object's content responses, built once.
pub struct Prepared {
    etag: String,
    headers: HeaderMap,
}

/// Most objects whose headers are kept prepared.
const MAX_PREPARED: usize = 16_384;

fn prepared(s: &State, o: &SignedObject) -> Arc<Prepared> {
    if let Some(p) = s
        .prepared
        .read()
        .ok()
        .and_then(|m| m.get(&o.hash()).cloned())
    {
        return p;
    }
    let etag = format!("\"{}\"", o.hash());
    let mut r = Response::new(Vec::new());
    object_headers(&mut r, o, &etag);
    set(&mut r, "access-control-allow-origin", "*");
    set(&mut r, "content-type", &o.object().content_type);
    let p = Arc::new(Prepared {
        etag,
        headers: r.headers().clone(),
    });
    if let Ok(mut m) = s.prepared.write() {
        if m.len() >= MAX_PREPARED {
            m.clear();
        }
        m.insert(o.hash(), p.clone());
    }
    p
}

type Resp = Response<Vec<u8>>;

/// All routes, with CORS and JSON errors.
pub fn routes(
    state: Arc<State>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let with = {
        let s = state.clone();
        warp::any().map(move || s.clone())
    };
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let get_name = warp::path("icn")
        .and(warp::path::tail())
        .and(warp::get().or(warp::head()).unify())
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(query)
        .and(with.clone())
        .then(get_name);
    let put_name = warp::path("icn")
        .and(warp::path::tail())
        .and(warp::put())
        .and(warp::body::content_length_limit(MAX_OBJECT_SIZE as u64))
        .and(warp::body::bytes())
        .and(with.clone())
        .then(put_name);
    let get_block = warp::path!("block" / String)
        .and(warp::get().or(warp::head()).unify())
        .and(warp::header::headers_cloned())
        .and(with.clone())
        .then(get_block);
    let put_block = warp::path!("block" / String)
        .and(warp::put())
        .and(warp::body::content_length_limit(MAX_BLOCK_SIZE as u64))
        .and(warp::body::bytes())
        .and(with.clone())
        .then(put_block);
    let ws = warp::path!("ws")
        .and(warp::get())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<warp::hyper::upgrade::OnUpgrade>())
        .and(
            warp::ext::optional::<super::listen::ClientAddr>()
                .map(|a: Option<super::listen::ClientAddr>| a.map(|a| a.0)),
        )
        .and(with.clone())
        .map(super::ws::upgrade);
    let ring = warp::path!("api" / "ring")
        .and(warp::get())
        .and(with.clone())
        .then(ring);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with.clone())
        .then(|s: Arc<State>| async move {
            text(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                s.metrics.render(s.store.object_count(), s.store.bytes()),
            )
        });
    let health = warp::path!("healthz")
        .and(warp::get())
        .map(|| text(StatusCode::OK, "text/plain", "ok\n".into()));
    let get_or_head = || warp::get().or(warp::head()).unify();
    // Headers are read from the map, not with `warp::header`, which refuses
    // the whole request when a value is not ASCII: an unreadable
    // `If-None-Match` or `Accept-Encoding` is ignored instead.
    let page = warp::path::end()
        .and(get_or_head())
        .and(warp::header::headers_cloned())
        .map(|h: HeaderMap| asset(&super::bundle::PAGE, &h));
    // Browsers ask for it on every page; an empty answer keeps logs quiet.
    let favicon = warp::path!("favicon.ico").map(|| {
        let mut r = Response::new(Vec::new());
        *r.status_mut() = StatusCode::NO_CONTENT;
        r
    });
    let pkg = warp::path!("pkg" / String)
        .and(get_or_head())
        .and(warp::header::headers_cloned())
        .map(
            |name: String, h: HeaderMap| match super::bundle::pkg(&name) {
                Some(a) => asset(a, &h),
                None => error(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "no such file in the bundle",
                ),
            },
        );
    let cors = warp::cors()
        .allow_any_origin()
        .allow_methods(vec!["GET", "HEAD", "PUT", "OPTIONS"])
        .allow_headers(vec!["range", "content-type", "if-none-match", "accept"])
        .expose_headers(EXPOSED.split(", ").collect::<Vec<_>>());
    let counted = state.clone();
    let api = get_name
        .or(put_name)
        .unify()
        .or(get_block)
        .unify()
        .or(put_block)
        .unify()
        .or(ring)
        .unify()
        .or(metrics)
        .unify()
        .or(health)
        .unify()
        .or(page)
        .unify()
        .or(pkg)
        .unify()
        .or(favicon)
        .unify()
        .recover(recover)
        .unify()
        .map(move |r: Resp| {
            counted.metrics.requests.inc();
            if r.status().is_client_error() || r.status().is_server_error() {
                counted.metrics.errors.inc();
            }
            r
        });
    ws.or(api).with(cors).recover(|_r: Rejection| async {
        Ok::<_, Infallible>(error(StatusCode::FORBIDDEN, "cors", "CORS request refused"))
    })
}

/// An embedded file, gzip-encoded when the client accepts that, or 304
/// when the client holds this version.
fn asset(a: &super::bundle::Asset, headers: &HeaderMap) -> Resp {
    let accept_encoding: Vec<&str> = headers
        .get_all("accept-encoding")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let gzip = super::bundle::accepts_gzip(&accept_encoding.join(","));
    let etag = a.etag(gzip);
    let mut r = if etag_matches(headers, etag) {
        let mut r = Response::new(Vec::new());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(a.body(gzip).to_vec());
        set(&mut r, "content-type", a.content_type);
        r
    };
    if gzip {
        set(&mut r, "content-encoding", "gzip");
    }
    set(&mut r, "vary", "accept-encoding");
    set(&mut r, "etag", etag);
    set(&mut r, "cache-control", "no-cache");
    set(&mut r, "access-control-allow-origin", "*");
    r
}

fn text(status: StatusCode, ctype: &str, body: String) -> Resp {
    let mut r = Response::new(body.into_bytes());
    *r.status_mut() = status;
    set(&mut r, "content-type", ctype);
    set(&mut r, "access-control-allow-origin", "*");
    r
}

/// A JSON error `{"error": ..., "code": ...}`.
pub fn error(status: StatusCode, code: &str, msg: impl std::fmt::Display) -> Resp {
    let body = serde_json::json!({ "error": msg.to_string(), "code": code }).to_string();
    text(status, "application/json", body)
}

fn set(r: &mut Resp, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

async fn recover(r: Rejection) -> Result<Resp, Infallible> {
    Ok(if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "request body over the limit",
        )
    } else if r.find::<warp::reject::LengthRequired>().is_some() {
        error(
            StatusCode::LENGTH_REQUIRED,
            "length-required",
            "Content-Length is required",
        )
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "method not allowed here",
        )
    } else {
        error(StatusCode::NOT_FOUND, "not-found", "no such endpoint")
    })
}

async fn status(s: &State) -> Option<(icn_core::node::RingView, usize)> {
    let (tx, rx) = oneshot::channel();
    s.driver.send(Command::Status(tx)).await.ok()?;
    rx.await.ok()
}

async fn ring(s: Arc<State>) -> Resp {
    let Some((v, replicas)) = status(&s).await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "node-down",
            "the ring node is not running",
        );
    };
    let hex = |ids: &[icn_core::RingId]| ids.iter().map(|i| i.to_hex()).collect::<Vec<_>>();
    let body = serde_json::json!({
        "node": v.id.to_hex(),
        "joined": v.joined,
        "predecessor": v.predecessor.map(|p| p.to_hex()),
        "successors": hex(&v.successors),
        "fingers": hex(&v.fingers),
        "links": hex(&v.links),
        "stored_objects": s.store.object_count(),
        "ws_peers": s.peers.count(),
        "trusted_gateways": s.peers.trusted().iter().map(|k| {
            icn_core::PublisherId::from_key_bytes(k).map(|p| p.to_text()).unwrap_or_default()
        }).collect::<Vec<_>>(),
        "relayed": s.metrics.relayed.get(),
        "relayed_bytes": s.metrics.relayed_bytes.get(),
        "relay_dropped": s.metrics.relay_dropped.get(),
        "replica_items": replicas,
    });
    text(StatusCode::OK, "application/json", body.to_string())
}

/// The name in a `/icn/...` path: a content name, so its first component
/// must be a publisher id (400 `bad-publisher` otherwise, not a lookup).
fn parse_name(tail: &str) -> Result<Name, Resp> {
    Name::parse_content(&format!("/{tail}"))
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.code(), e))
}

/// Finds an object: pinned first, then the ring.
async fn find(s: &State, name: &Name) -> Result<Arc<SignedObject>, Resp> {
    if let Some(o) = s.store.object(&name.ring_key()) {
        return Ok(o);
    }
    let (tx, rx) = oneshot::channel();
    let cmd = Command::Get {
        name: name.clone(),
        reply: tx,
    };
    if s.driver.send(cmd).await.is_err() {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "node-down",
            "the ring node is not running",
        ));
    }
    match tokio::time::timeout(s.lookup_timeout, rx).await {
        Ok(Ok(Ok(o))) => Ok(Arc::new(o)),
        Ok(Ok(Err(RequestError::NotFound))) => Err(error(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{name} is not published"),
        )),
        Ok(Ok(Err(RequestError::Timeout))) | Err(_) => Err(ring_timeout()),
        Ok(Ok(Err(e))) => Err(error(StatusCode::BAD_GATEWAY, "ring-error", e)),
        Ok(Err(_)) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "node-down",
            "the ring node stopped",
        )),
    }
}

/// 504 with `Retry-After`: the ring did not answer within the lookup timeout.
fn ring_timeout() -> Resp {
    let mut r = error(
        StatusCode::GATEWAY_TIMEOUT,
        "ring-timeout",
        "the ring did not answer in time",
    );
    set(&mut r, "retry-after", "5");
    r
}

/// Reads block `hash`: pinned first, then the ring.
async fn fetch_block(s: &State, hash: Hash) -> Result<Block, Resp> {
    match s.store.block(&hash) {
        Ok(Some(b)) => return Ok(b),
        Ok(None) => {}
        Err(e) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "store", e)),
    }
    let (tx, rx) = oneshot::channel();
    if s.driver
        .send(Command::GetBlock { hash, reply: tx })
        .await
        .is_err()
    {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "node-down",
            "the ring node is not running",
        ));
    }
    match tokio::time::timeout(s.lookup_timeout, rx).await {
        Ok(Ok(Ok(b))) => Ok(b),
        Ok(Ok(Err(RequestError::NotFound))) => Err(error(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("block {hash} not found"),
        )),
        _ => Err(ring_timeout()),
    }
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all("if-none-match")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t == etag || t.strip_prefix("W/") == Some(etag)
        })
}

fn object_headers(r: &mut Resp, o: &SignedObject, etag: &str) {
    set(r, "etag", etag);
    set(r, "x-icn-name", &o.name().to_uri());
    set(r, "x-icn-publisher", &o.publisher().to_text());
    set(r, "x-icn-version", &o.version().to_string());
    let created = UNIX_EPOCH + Duration::from_millis(o.object().created);
    set(r, "last-modified", &httpdate::fmt_http_date(created));
    let cache = match o.object().freshness {
        Some(s) => format!("public, max-age={s}"),
        None => "public, no-cache".into(),
    };
    set(r, "cache-control", &cache);
    set(r, "accept-ranges", "bytes");
    set(r, "x-content-type-options", "nosniff");
    set(r, "content-security-policy", "sandbox");
    set(r, "access-control-expose-headers", EXPOSED);
}

async fn get_name(
    tail: Tail,
    method: Method,
    headers: HeaderMap,
    query: String,
    s: Arc<State>,
) -> Resp {
    let name = match parse_name(tail.as_str()) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let o = match find(&s, &name).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let p = prepared(&s, &o);
    let mut r = Response::new(Vec::new());
    *r.headers_mut() = p.headers.clone();
    if etag_matches(&headers, &p.etag) {
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        return r;
    }
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let raw = query.split('&').any(|p| p == "format=object") || accept.contains(OBJECT_TYPE);
    if raw {
        set(&mut r, "content-type", OBJECT_TYPE);
        *r.body_mut() = o.encoded().to_vec();
        return r;
    }
    let size = o.object().payload.len();
    let range = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, size));
    let (start, end, partial) = match range {
        None | Some(Err(RangeError::Ignored)) => (0, size, false),
        Some(Err(RangeError::Unsatisfiable)) => {
            let mut e = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range",
                format!("range not satisfiable for {size} bytes"),
            );
            set(&mut e, "content-range", &format!("bytes */{size}"));
            return e;
        }
        Some(Ok((a, b))) => (a, b, true),
    };
    if method == Method::HEAD && !partial {
        set(&mut r, "content-length", &size.to_string());
        return r;
    }
    let body = match content(&s, &o, start, end).await {
        Ok(Content::Whole(b)) => b,
        Ok(Content::Streamed(pieces)) => {
            set(&mut r, "content-length", &(end - start).to_string());
            r.extensions_mut().insert(Streamed::new(pieces));
            Vec::new()
        }
        Err(e) => return e,
    };
    if partial {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        set(
            &mut r,
            "content-range",
            &format!("bytes {start}-{}/{size}", end - 1),
        );
    }
    *r.body_mut() = body;
    r
}

/// An answer's content: whole, or its first piece and the rest to stream.
enum Content {
    Whole(Vec<u8>),
    Streamed(Pieces),
}

/// Bytes `start..end` of an object's content. Of a manifest, only the first
/// block needed is fetched here (its failure is still an HTTP error); the
/// rest streams one block at a time (`super::stream`).
async fn content(
    s: &Arc<State>,
    o: &Arc<SignedObject>,
    start: u64,
    end: u64,
) -> Result<Content, Resp> {
    let m = match &o.object().payload {
        Payload::Inline(b) => return Ok(Content::Whole(b[start as usize..end as usize].to_vec())),
        Payload::Manifest(m) => m,
    };
    let (range, offset) = m.blocks_for_range(start, end);
    let Some(r) = m
        .blocks()
        .get(range.start)
        .copied()
        .filter(|_| !range.is_empty())
    else {
        return Ok(Content::Whole(Vec::new()));
    };
    let block = fetch_block(s, r.hash).await?;
    let first = piece(&block, &r, offset, start, end)
        .map_err(|e| error(StatusCode::BAD_GATEWAY, "bad-block", e))?;
    if range.len() == 1 {
        return Ok(Content::Whole(first));
    }
    let rest = super::stream::rest(
        s.clone(),
        o.clone(),
        range.start + 1,
        offset + u64::from(r.size),
        (start, end),
    );
    let head = futures_util::stream::once(async move { Ok(Bytes::from(first)) });
    Ok(Content::Streamed(Box::pin(head.chain(rest))))
}

impl Fetch for State {
    async fn fetch(&self, hash: Hash) -> Result<Block, String> {
        fetch_block(self, hash)
            .await
            .map_err(|r| format!("HTTP {} from the fetch", r.status()))
    }
}

async fn put_name(tail: Tail, body: Bytes, s: Arc<State>) -> Resp {
    let name = match parse_name(tail.as_str()) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let obj = match SignedObject::decode(&body) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e),
    };
    if obj.name() != &name {
        return error(
            StatusCode::BAD_REQUEST,
            "name-mismatch",
            format!("the object is named {}, not {name}", obj.name()),
        );
    }
    let status = match s.store.put_object(&obj) {
        Ok(Stored::New) => StatusCode::CREATED,
        Ok(Stored::Unchanged) => StatusCode::OK,
        Err(StoreError::Stale(v)) => {
            return error(
                StatusCode::CONFLICT,
                "stale",
                format!("version {v} is stored; {} is not newer", obj.version()),
            )
        }
        Err(e) => return store_error(e),
    };
    s.metrics.objects_put.inc();
    let _ = s.driver.try_send(Command::Publish(obj.clone()));
    let body = serde_json::json!({
        "name": obj.name().to_uri(),
        "url": format!("/icn{}", obj.name().to_uri()),
        "hash": obj.hash().to_hex(),
        "version": obj.version(),
    });
    text(status, "application/json", body.to_string())
}

/// The answer to a write the pinned store refused: 507 when it is full,
/// 429 when the publisher is over its quota.
fn store_error(e: StoreError) -> Resp {
    match e {
        StoreError::Full { .. } => error(StatusCode::INSUFFICIENT_STORAGE, "store-full", e),
        StoreError::Quota { .. } => error(StatusCode::TOO_MANY_REQUESTS, "quota", e),
        StoreError::MissingBlock(_) => error(StatusCode::UNPROCESSABLE_ENTITY, "missing-blocks", e),
        e => error(StatusCode::INTERNAL_SERVER_ERROR, "store", e),
    }
}

fn parse_hash(h: &str) -> Result<Hash, Resp> {
    h.parse::<Hash>()
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad-hash", e))
}

async fn get_block(hash: String, headers: HeaderMap, s: Arc<State>) -> Resp {
    let hash = match parse_hash(&hash) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let etag = format!("\"{hash}\"");
    let mut r = Response::new(Vec::new());
    set(&mut r, "etag", &etag);
    set(
        &mut r,
        "cache-control",
        "public, max-age=31536000, immutable",
    );
    set(&mut r, "content-type", "application/octet-stream");
    set(&mut r, "x-content-type-options", "nosniff");
    set(&mut r, "access-control-allow-origin", "*");
    if etag_matches(&headers, &etag) {
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        return r;
    }
    match fetch_block(&s, hash).await {
        Ok(b) => *r.body_mut() = b.into_bytes(),
        Err(e) => return e,
    }
    r
}

async fn put_block(hash: String, body: Bytes, s: Arc<State>) -> Resp {
    let hash = match parse_hash(&hash) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let block = match Block::verified(hash, body.to_vec()) {
        Ok(b) => b,
        Err(e @ BlockError::Corrupt { .. }) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "hash-mismatch", e)
        }
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, "bad-block", e),
    };
    let status = match s.store.put_block(&block) {
        Ok(Stored::New) => StatusCode::CREATED,
        Ok(Stored::Unchanged) => StatusCode::OK,
        Err(e) => return store_error(e),
    };
    s.metrics.blocks_put.inc();
    let _ = s.driver.try_send(Command::PutBlock(block));
    text(
        status,
        "application/json",
        serde_json::json!({ "hash": hash.to_hex() }).to_string(),
    )
}
