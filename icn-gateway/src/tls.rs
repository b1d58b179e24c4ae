//! The client side of TLS, for everything here that reaches a gateway over
//! https or wss: `icn publish/get` (ureq) and native peers (tungstenite).
//! A gateway's certificate must chain to Mozilla's public CAs (compiled in,
//! so the CLI does not depend on the host's store), or, given `--ca-cert`
//! (or `ICN_CA_CERT`), to that file's CAs only: a private CA, or a test's.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Why a CA file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct CaError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

/// The certificates of a PEM file (at least one).
pub fn read_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaError> {
    let bad = |reason: String| CaError {
        path: path.to_path_buf(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The crypto provider of every TLS connection here (aws-lc-rs, which
/// str0m's DTLS already uses).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A rustls client configuration trusting `ca` (or the public CAs).
pub fn client_config(
    ca: Option<&[CertificateDer<'static>]>,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(certs) => {
            for c in certs {
                roots.add(c.clone()).map_err(|e| e.to_string())?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The client configuration of this process's WebSocket connections,
/// chosen once from `--ca-cert` before any peer connects.
static PROCESS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// Makes native peers and gateway joins of this process trust the CAs in
/// `ca` (or the public CAs, without one). The first call wins.
pub fn trust_for_process(ca: Option<&Path>) -> Result<(), CaError> {
    let certs = ca.map(read_ca).transpose()?;
    let config = client_config(certs.as_deref()).map_err(|reason| CaError {
        path: ca.map(Path::to_path_buf).unwrap_or_default(),
        reason,
    })?;
    let _ = PROCESS.set(Arc::new(config));
    Ok(())
}

/// The client configuration for wss connections: what
/// [`trust_for_process`] chose, or the public CAs.
pub fn process_config() -> Result<Arc<rustls::ClientConfig>, String> {
    if let Some(c) = PROCESS.get() {
        return Ok(c.clone());
    }
    let config = Arc::new(client_config(None)?);
    Ok(PROCESS.get_or_init(|| config).clone())
}

/// What to add to a connection error that is a refused certificate: how to
/// trust a private CA. Empty for any other error.
pub fn hint(error: &str) -> &'static str {
    if error.contains("invalid peer certificate") {
        " (the gateway's certificate does not chain to a CA this command trusts: \
         give that CA with --ca-cert FILE or ICN_CA_CERT)"
    } else {
        ""
    }
}
