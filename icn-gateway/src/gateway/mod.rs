//! `icn gateway`: the warp HTTP gateway and ring node.
//!
//! The gateway is a member of the ring like any peer (it drives the same
//! `icn-core` node, see [`driver`]), pins what is published through it in an
//! embedded redb store ([`store`]), and serves names over HTTP ([`http`]).
//! The protocol it speaks is in `spec/gateway.md`.

pub mod bundle;
pub mod driver;
pub mod http;
pub mod ice;
pub mod limits;
pub mod listen;
pub mod memory;
pub mod metrics;
pub mod range;
pub mod store;
pub mod stream;
pub mod trust;
pub mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use icn_core::bootstrap::NodeCert;
use icn_core::node::{Config, Node};
use icn_core::{Hash, RingId};

use crate::keyfile::{self, KeyFileError};

/// How the gateway is started.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory (store and generated key).
    pub data: PathBuf,
    /// Key file; generated in the data directory when absent.
    pub key: Option<PathBuf>,
    /// How long a ring lookup may take before HTTP answers 504.
    pub lookup_timeout: Duration,
    /// Bounds on clients, the ring node and the store.
    pub limits: limits::Limits,
    /// Another gateway's `/ws` URL: join its ring instead of starting one.
    pub join: Option<String>,
    /// Keys of gateways allowed to join through this one (and trusted).
    pub trust: Vec<[u8; 32]>,
    /// Where the STUN service listens: `None` for none; port 0 for the
    /// HTTP listener's port.
    pub stun: Option<SocketAddr>,
    /// What admitted peers are told about ICE servers (its `stun_port` is
    /// filled in once the STUN socket is bound).
    pub ice: ice::IceConfig,
    /// HTTPS and WSS with these certificates; plain HTTP without.
    pub tls: Option<Arc<listen::Certificates>>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The key could not be read or created.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The store could not be opened.
    #[error("{}: {source}", path.display())]
    Store {
        /// The data directory.
        path: PathBuf,
        /// The cause.
        source: store::StoreError,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Joining the other gateway's ring failed.
    #[error("cannot join through {url}: {reason}")]
    Join {
        /// The other gateway.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] listen::TlsError),
}

/// The gateway's ring position: derived from its key, so it is stable across restarts.
pub fn node_id(key: &SigningKey) -> RingId {
    node_id_of(key.verifying_key().as_bytes())
}

/// The ring position of the gateway with public key `key`.
pub fn node_id_of(key: &[u8; 32]) -> RingId {
    RingId::from_hash(Hash::of_parts(&[b"icn/v1/node\0", key]))
}

fn load_or_create_key(cfg: &GatewayConfig) -> Result<SigningKey, KeyFileError> {
    if let Some(path) = &cfg.key {
        return keyfile::read_key(path);
    }
    let path = cfg.data.join("gateway.pem");
    if path.exists() {
        return keyfile::read_key(&path);
    }
    std::fs::create_dir_all(&cfg.data).map_err(|source| KeyFileError::Io {
        path: cfg.data.clone(),
        source,
    })?;
    let key = keyfile::generate()?;
    keyfile::write_key(&path, &key, false)?;
    tracing::info!("generated gateway key {}", path.display());
    Ok(key)
}

/// Collects the pinned blocks no object names, every
/// [`store::COLLECT_EVERY`] (blocking work, off the runtime's threads).
async fn collect_blocks(state: Arc<http::State>) {
    loop {
        tokio::time::sleep(store::COLLECT_EVERY).await;
        let s = state.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.store.collect(now)).await {
            tracing::warn!("collecting blocks: {e}");
        }
    }
}

/// Runs the gateway until Ctrl-C or SIGTERM.
pub async fn run(cfg: GatewayConfig) -> Result<(), GatewayError> {
    let key = load_or_create_key(&cfg)?;
    let store =
        store::PinnedStore::open(&cfg.data, cfg.limits.store.clone()).map_err(|source| {
            GatewayError::Store {
                path: cfg.data.clone(),
                source,
            }
        })?;
    let metrics = Arc::new(metrics::Metrics::default());
    let id = node_id(&key);
    let own = key.verifying_key().to_bytes();
    let trust = Arc::new(trust::TrustList::new(own, cfg.trust.clone()));
    let upstream = match &cfg.join {
        Some(url) => Some(join_upstream(url, &key, id).await?),
        None => None,
    };
    // The joined gateway is trusted from the start, not from its first
    // `Trust` frame: `/api/ring` shows both keys as soon as this one serves.
    if let Some(u) = &upstream {
        trust.merge(&[u.gateway_key]);
    }
    // WebRTC for nodes that are not this gateway's clients: host candidates
    // on the listening address, or when listening on all addresses, on the
    // one its routes reach other networks from.
    crate::peer::install_crypto();
    let rtc_ip = match cfg.listen.ip() {
        ip if ip.is_unspecified() => outward_ip(ip.is_ipv6()),
        ip => ip,
    };
    let udp_addr = SocketAddr::new(rtc_ip, 0);
    let udp = tokio::net::UdpSocket::bind(udp_addr)
        .await
        .map_err(|source| GatewayError::Bind {
            addr: udp_addr,
            source,
        })?;
    let local = udp.local_addr().map_err(|source| GatewayError::Bind {
        addr: udp_addr,
        source,
    })?;
    // The gateway certifies its own node; peers trust its key.
    let cert = NodeCert::issue(&key, id, own, u64::MAX);
    let mut links = crate::peer::rtc::RtcLinks::new(key.clone(), cert, local);
    links.set_trusted(&trust.keys());
    let node = Node::new(
        id,
        Config {
            // Not the id: `Node` mixes the id in, and the two would cancel.
            seed: getrandom::u64().map_err(|e| KeyFileError::Random(e.to_string()))?,
            secret: crate::peer::random_secret()?,
            limits: cfg.limits.node_limits(),
            ..Config::default()
        },
    );
    let host = crate::peer::host::Host::new(node, links, upstream.as_ref().map(|u| u.gateway_id));
    let driver = driver::spawn(
        host,
        udp,
        upstream,
        trust.clone(),
        metrics.clone(),
        cfg.data.clone(),
    );
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| GatewayError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| GatewayError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let mut ice = cfg.ice.clone();
    if let Some(stun) = cfg.stun {
        ice.stun_port = start_stun(stun, addr, metrics.clone()).await?;
    }
    let peers = ws::Peers::new(id, key.clone(), cfg.limits.clone(), trust);
    let state = Arc::new(http::State {
        store,
        driver,
        metrics,
        lookup_timeout: cfg.lookup_timeout,
        peers,
        prepared: Default::default(),
        ice,
    });
    tokio::spawn(collect_blocks(state.clone()));
    let scheme = match cfg.tls.is_some() {
        true => "https",
        false => "http",
    };
    let tls = cfg.tls.as_ref().map(|c| c.acceptor()).transpose()?;
    if let Some(c) = &cfg.tls {
        tokio::spawn(c.clone().watch());
    }
    tracing::info!(node = %id, "gateway listening on {scheme}://{addr}");
    println!("icn gateway listening on {scheme}://{addr}");
    let proxies = Arc::new(cfg.trusted_proxies.clone());
    listen::serve(listener, http::routes(state), tls, proxies, shutdown()).await;
    tracing::info!("gateway stopped");
    Ok(())
}

/// Starts the STUN service on `stun` (port 0: the HTTP listener's port, as
/// `addr` has it) and returns its port. An address given by the operator
/// must be free; the default one may be taken by another program, and then
/// the gateway runs without STUN and says so.
async fn start_stun(
    stun: SocketAddr,
    addr: SocketAddr,
    metrics: Arc<metrics::Metrics>,
) -> Result<Option<u16>, GatewayError> {
    let default = stun.port() == 0;
    let stun = match default {
        true => SocketAddr::new(stun.ip(), addr.port()),
        false => stun,
    };
    let socket = match tokio::net::UdpSocket::bind(stun).await {
        Ok(s) => s,
        Err(e) if default => {
            tracing::warn!("no STUN service: cannot bind udp {stun}: {e} (see --stun)");
            return Ok(None);
        }
        Err(source) => return Err(GatewayError::Bind { addr: stun, source }),
    };
    let port = socket.local_addr().map(|a| a.port()).unwrap_or(stun.port());
    tracing::info!("STUN on udp {}:{port}", stun.ip());
    tokio::spawn(ice::serve_stun(socket, metrics));
    Ok(Some(port))
}

/// Joins the ring of the gateway at `url`: it must know this gateway's key
/// (its `--trust-gateway`), which it shows by certifying this gateway's own
/// ring position rather than assigning one.
async fn join_upstream(
    url: &str,
    key: &SigningKey,
    id: RingId,
) -> Result<driver::Upstream, GatewayError> {
    let err = |reason: String| GatewayError::Join {
        url: url.to_string(),
        reason,
    };
    let (ws, cert, gateway_id) = crate::peer::handshake(url, key)
        .await
        .map_err(|e| err(e.to_string()))?;
    if cert.node_id != id {
        let me = icn_core::PublisherId::from_key(key.verifying_key()).to_text();
        return Err(err(format!(
            "that gateway does not trust this one; start it with --trust-gateway {me}"
        )));
    }
    tracing::info!(%gateway_id, "joined the ring through {url}");
    Ok(driver::Upstream {
        ws,
        gateway_id,
        gateway_key: cert.gateway_key,
    })
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// The local address this host's routes use towards other networks (a
/// connected UDP socket sends nothing; the kernel only picks the source),
/// or loopback on a host without such a route.
fn outward_ip(v6: bool) -> std::net::IpAddr {
    // Documentation addresses: outside any network of the host's own, so
    // the route taken is the one towards everyone else.
    let (any, far): (SocketAddr, SocketAddr) = match v6 {
        false => (([0, 0, 0, 0], 0).into(), ([203, 0, 113, 1], 9).into()),
        true => (
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
            (std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9).into(),
        ),
    };
    let found = std::net::UdpSocket::bind(any)
        .and_then(|s| s.connect(far).and_then(|_| s.local_addr()))
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified());
    found.unwrap_or(match v6 {
        false => std::net::IpAddr::from([127, 0, 0, 1]),
        true => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    })
}

#[cfg(test)]
mod outward_tests {
    #[test]
    fn the_outward_address_is_one_of_this_hosts_own() {
        let ip = super::outward_ip(false);
        // Bindable means it is an address of this host, not a guess.
        assert!(std::net::UdpSocket::bind((ip, 0)).is_ok(), "{ip}");
        assert!(!ip.is_unspecified());
    }
}
