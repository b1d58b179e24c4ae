//! The gateway's listener: HTTP, or HTTPS and WSS with `--tls-cert` and
//! `--tls-key`, on one socket, and the client address every route sees.
//!
//! Why not `warp::serve`: warp 0.4 accepts only plain TCP (its TLS is not
//! implemented in that version, and its acceptor trait is private), so the
//! gateway runs its own accept loop around `warp::service`, as warp does
//! inside: hyper-util's connection builder with upgrades (for `/ws`),
//! behind tokio-rustls when TLS is on. That loop is also where two things
//! belong that warp could not do:
//! - certificates are replaced in place. A renewal (certbot, acme.sh) writes
//!   new files; the gateway reads them again on SIGHUP and when their
//!   modification times change (checked every [`RELOAD_CHECK`]), and keeps
//!   the certificate it has if the new files do not load. Connections
//!   already open keep theirs.
//! - behind a reverse proxy every connection comes from the proxy, and the
//!   per-address limits would count all visitors as one. The client address
//!   is read from `X-Forwarded-For` only when the connection comes from an
//!   address given with `--trusted-proxy`: from the right, the first entry
//!   that is not itself a trusted proxy (the one the outermost trusted proxy
//!   saw). From anyone else the header is ignored, since a client can write
//!   whatever it likes there.
//! - a response body that streams: warp 0.4 makes bodies only from bytes in
//!   hand, so a handler leaves its stream in the response's extensions and
//!   this service swaps it in (`super::stream`).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use warp::Filter;

/// How often the certificate files' modification times are checked.
pub const RELOAD_CHECK: Duration = Duration::from_secs(5);
/// Time a client has for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Entries of an `X-Forwarded-For` header looked at, from the right.
const MAX_FORWARDED: usize = 16;

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no PEM item of the kind wanted.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key does not suit the certificate, or rustls refused them.
    #[error("{}: {source}", path.display())]
    Rustls {
        /// The certificate file.
        path: PathBuf,
        /// The cause.
        source: rustls::Error,
    },
}

/// The client's address, as the routes see it (`warp::ext`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The certificate and key files and what was last loaded from them.
pub struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// Modification times of the files when last loaded.
    stamp: RwLock<(Option<SystemTime>, Option<SystemTime>)>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish()
    }
}

impl Certificates {
    /// Loads `cert` (a PEM chain, leaf first) and `key` (PEM, PKCS#8, SEC1
    /// or PKCS#1).
    pub fn load(cert: &Path, key: &Path) -> Result<Certificates, TlsError> {
        let loaded = load_pair(cert, key)?;
        Ok(Certificates {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(loaded)),
            stamp: RwLock::new((modified(cert), modified(key))),
        })
    }

    /// Reads the files again; on failure the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let stamp = (modified(&self.cert), modified(&self.key));
        *self.stamp.write().unwrap_or_else(|e| e.into_inner()) = stamp;
        let loaded = load_pair(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
        Ok(())
    }

    /// Whether the files changed since they were last read.
    fn changed(&self) -> bool {
        let now = (modified(&self.cert), modified(&self.key));
        *self.stamp.read().unwrap_or_else(|e| e.into_inner()) != now
    }

    /// A TLS acceptor that always presents the certificate in use now.
    pub fn acceptor(self: &Arc<Self>) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                path: self.cert.clone(),
                source,
            })?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        // HTTP/1.1 only: WebSocket upgrades need it, and a page's few
        // requests gain little from HTTP/2 here.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }

    /// Reloads on SIGHUP and when the files change, for as long as the
    /// gateway runs.
    pub async fn watch(self: Arc<Self>) {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(RELOAD_CHECK);
        loop {
            #[cfg(unix)]
            let signalled = async {
                match hup.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let signalled = std::future::pending::<Option<()>>();
            let why = tokio::select! {
                _ = signalled => "SIGHUP",
                _ = tick.tick() => {
                    if !self.changed() {
                        continue;
                    }
                    "the files changed"
                }
            };
            match self.reload() {
                Ok(()) => tracing::info!("TLS certificate reloaded ({why})"),
                Err(e) => tracing::error!("TLS certificate not reloaded ({why}): {e}"),
            }
        }
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let file = |path: &Path, reason: String| TlsError::File {
        path: path.to_path_buf(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(file(cert, "no PEM certificate in it".into()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => file(key, "no PEM private key in it".into()),
        e => file(key, e.to_string()),
    })?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    CertifiedKey::from_der(chain, der, &provider).map_err(|source| TlsError::Rustls {
        path: cert.to_path_buf(),
        source,
    })
}

/// The address a request comes from: the connection's, or, from a trusted
/// proxy, the one its `X-Forwarded-For` names.
pub fn client_addr(peer: SocketAddr, forwarded: Option<&[u8]>, proxies: &[IpAddr]) -> SocketAddr {
    let canonical = |ip: IpAddr| ip.to_canonical();
    if !proxies.contains(&canonical(peer.ip())) {
        return peer;
    }
    let Some(list) = forwarded.and_then(|h| std::str::from_utf8(h).ok()) else {
        return peer;
    };
    for entry in list.rsplit(',').take(MAX_FORWARDED) {
        match entry.trim().parse::<IpAddr>().map(canonical) {
            Ok(ip) if proxies.contains(&ip) => continue,
            Ok(ip) => return SocketAddr::new(ip, 0),
            Err(_) => return peer,
        }
    }
    peer
}

/// Serves `routes` on `listener` until `shutdown` resolves: plain HTTP, or
/// TLS with `tls`.
pub async fn serve<F>(
    listener: TcpListener,
    routes: F,
    tls: Option<tokio_rustls::TlsAcceptor>,
    proxies: Arc<Vec<IpAddr>>,
    shutdown: impl Future<Output = ()>,
) where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, most likely: wait, do not spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let routes = routes.clone();
        let tls = tls.clone();
        let proxies = proxies.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(tcp, peer, routes, &proxies).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => serve_connection(s, peer, routes, &proxies).await,
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => {}
                    }
                }
            }
        });
    }
}

/// Serves one connection, plain or TLS (generic, not boxed: one indirection
/// less per read and write on every connection, WebSockets included).
async fn serve_connection<I, F>(io: I, peer: SocketAddr, routes: F, proxies: &Arc<Vec<IpAddr>>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let proxies = proxies.clone();
    let svc = warp::service(routes);
    let svc = tower_fn(
        move |mut req: warp::http::Request<warp::hyper::body::Incoming>| {
            let fwd = req.headers().get("x-forwarded-for").map(|v| v.as_bytes());
            let addr = client_addr(peer, fwd, &proxies);
            req.extensions_mut().insert(ClientAddr(addr));
            req
        },
        svc,
    );
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn =
        builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(svc));
    if let Err(e) = conn.await {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

/// A service that changes each request with `f`, then calls `inner`, and
/// gives each response the body it streams, if any.
fn tower_fn<S, F, B>(f: F, inner: S) -> MapRequest<S, F>
where
    F: Fn(warp::http::Request<B>) -> warp::http::Request<B>,
{
    MapRequest { f, inner }
}

#[derive(Clone)]
struct MapRequest<S, F> {
    f: F,
    inner: S,
}

impl<S, F, B, RB> tower_service::Service<warp::http::Request<B>> for MapRequest<S, F>
where
    S: tower_service::Service<warp::http::Request<B>, Response = warp::http::Response<RB>>,
    F: Fn(warp::http::Request<B>) -> warp::http::Request<B>,
    RB: warp::hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
    RB::Error: Into<super::stream::BoxError>,
{
    type Response = warp::http::Response<super::stream::Body>;
    type Error = S::Error;
    #[allow(clippy::type_complexity)]
    type Future = futures_util::future::Map<
        S::Future,
        fn(Result<S::Response, S::Error>) -> Result<Self::Response, S::Error>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    /// Also swaps in the body a handler asked to stream
    /// ([`super::stream::with_stream`]).
    fn call(&mut self, req: warp::http::Request<B>) -> Self::Future {
        futures_util::FutureExt::map(self.inner.call((self.f)(req)), |r| {
            r.map(super::stream::with_stream)
        })
    }
}

#[cfg(test)]
#[path = "listen_tests.rs"]
mod tests;
