//! `icn publish` and `icn get`: the CLI as an HTTP client of a gateway.
//!
//! The client trusts the gateway with nothing: `publish` signs locally and
//! uploads only signed objects and content-addressed blocks, and `get` fetches
//! the signed object (`?format=object`) and the blocks by hash and verifies
//! every one of them itself before writing a byte.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use icn_core::block::{Block, BlockError, BlockRef};
use icn_core::object::{ObjectError, MAX_OBJECT_SIZE};
use icn_core::{Name, Payload, SignedObject};

/// Why talking to the gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request did not complete (connection refused, timeout, ...).
    #[error("{url}: {source}{}", crate::tls::hint(&source.to_string()))]
    Http {
        /// The URL.
        url: String,
        /// The cause.
        source: ureq::Error,
    },
    /// The gateway answered with an error.
    #[error("{url}: HTTP {status}: {message}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The gateway's error message.
        message: String,
    },
    /// The gateway served an object that does not verify.
    #[error("{url}: the gateway served an invalid object: {source}")]
    Object {
        /// The URL.
        url: String,
        /// The cause.
        source: ObjectError,
    },
    /// The gateway served a different name than asked for.
    #[error("{url}: the gateway served {got} instead")]
    WrongName {
        /// The URL.
        url: String,
        /// The name served.
        got: String,
    },
    /// A block did not verify.
    #[error("{url}: {source}")]
    Block {
        /// The URL.
        url: String,
        /// The cause.
        source: BlockError,
    },
    /// The CA file given for https cannot be used.
    #[error(transparent)]
    CaCert(#[from] crate::tls::CaError),
    /// Writing the output failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A gateway client.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    progress: bool,
}

impl Client {
    /// A client for the gateway at `base` (e.g. `http://127.0.0.1:8080`,
    /// `https://gw.example`); an https gateway's certificate must chain to
    /// the public CAs, or to `ca_cert`'s when given.
    pub fn new(base: &str, ca_cert: Option<&Path>) -> Result<Client, ClientError> {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let roots = match ca_cert {
            None => RootCerts::WebPki,
            Some(path) => {
                let certs: Vec<Certificate<'static>> = crate::tls::read_ca(path)?
                    .iter()
                    .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                    .collect();
                RootCerts::new_with_certs(&certs)
            }
        };
        let tls = TlsConfig::builder()
            .root_certs(roots)
            .unversioned_rustls_crypto_provider(crate::tls::provider())
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .tls_config(tls)
            .build()
            .into();
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            agent,
            progress: std::io::stderr().is_terminal(),
        })
    }

    /// The URL of a name on this gateway.
    pub fn name_url(&self, name: &Name) -> String {
        format!("{}/icn{}", self.base, name.to_uri())
    }

    fn put(&self, url: &str, body: &[u8]) -> Result<u16, ClientError> {
        let http = |source| ClientError::Http {
            url: url.to_string(),
            source,
        };
        let mut resp = self
            .agent
            .put(url)
            .header("content-type", "application/octet-stream")
            .send(body)
            .map_err(http)?;
        let status = resp.status().as_u16();
        if status >= 300 {
            return Err(status_error(url, status, &mut resp));
        }
        Ok(status)
    }

    fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, ClientError> {
        let http = |source| ClientError::Http {
            url: url.to_string(),
            source,
        };
        let mut resp = self.agent.get(url).call().map_err(http)?;
        let status = resp.status().as_u16();
        if status >= 300 {
            return Err(status_error(url, status, &mut resp));
        }
        resp.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(http)
    }

    /// Uploads a block (idempotent).
    pub fn put_block(&self, block: &Block) -> Result<(), ClientError> {
        self.put(
            &format!("{}/block/{}", self.base, block.hash()),
            block.bytes(),
        )
        .map(drop)
    }

    /// Uploads a signed object (its blocks must be uploaded first).
    pub fn put_object(&self, obj: &SignedObject) -> Result<String, ClientError> {
        let url = self.name_url(obj.name());
        self.put(&url, obj.encoded())?;
        Ok(url)
    }

    /// Fetches and verifies the object named `name`.
    pub fn get_object(&self, name: &Name) -> Result<SignedObject, ClientError> {
        let url = format!("{}?format=object", self.name_url(name));
        let bytes = self.get(&url, MAX_OBJECT_SIZE as u64)?;
        let obj = SignedObject::decode(&bytes).map_err(|source| ClientError::Object {
            url: url.clone(),
            source,
        })?;
        if obj.name() != name {
            return Err(ClientError::WrongName {
                url,
                got: obj.name().to_uri(),
            });
        }
        Ok(obj)
    }

    /// Fetches block `r` and checks it against its hash and size.
    pub fn get_block(&self, r: &BlockRef) -> Result<Block, ClientError> {
        let url = format!("{}/block/{}", self.base, r.hash);
        let bytes = self.get(&url, u64::from(r.size))?;
        if bytes.len() != r.size as usize {
            let source = BlockError::WrongLength {
                hash: r.hash,
                expected: r.size,
                actual: bytes.len(),
            };
            return Err(ClientError::Block { url, source });
        }
        Block::verified(r.hash, bytes).map_err(|source| ClientError::Block { url, source })
    }

    /// Writes the verified content of `obj` to `out`, fetching blocks as needed.
    pub fn write_content(
        &self,
        obj: &SignedObject,
        out: &mut dyn Write,
        path: &Path,
    ) -> Result<(), ClientError> {
        let io = |source| ClientError::Io {
            path: path.to_path_buf(),
            source,
        };
        match &obj.object().payload {
            Payload::Inline(b) => out.write_all(b).map_err(io)?,
            Payload::Manifest(m) => {
                let total = m.blocks().len();
                for (i, r) in m.blocks().iter().enumerate() {
                    let block = self.get_block(r)?;
                    out.write_all(block.bytes()).map_err(io)?;
                    self.show(i + 1, total, "fetched");
                }
            }
        }
        out.flush().map_err(io)
    }

    /// Progress on stderr when it is a terminal.
    pub fn show(&self, done: usize, total: usize, what: &str) {
        if self.progress && total > 1 {
            eprint!("\r{what} {done}/{total} blocks");
            if done == total {
                eprintln!();
            }
        }
    }
}

fn status_error(
    url: &str,
    status: u16,
    resp: &mut ureq::http::Response<ureq::Body>,
) -> ClientError {
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or(body);
    ClientError::Status {
        url: url.to_string(),
        status,
        message,
    }
}
