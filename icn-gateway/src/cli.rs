//! The `icn` command line.
//!
//! Every subcommand returns `Result<(), CliError>`; [`main`] prints an error as
//! one line, `error: <file>: <problem>`, on stderr and exits with status 1
//! (argument errors from clap exit with 2). Nothing here panics on bad input:
//! files are read with limits and decoded by the strict `icn-core` decoders.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use icn_core::block::{
    Block, BlockError, Manifest, DEFAULT_BLOCK_SIZE, MAX_BLOCKS, MAX_BLOCK_SIZE,
};
use icn_core::object::{ObjectError, MAX_INLINE_SIZE};
use icn_core::{ContentObject, Name, NameError, Payload, PublisherId, SignedObject};

use crate::gateway::limits::Limits;
use crate::keyfile::{self, KeyFileError};
use crate::objfile::{self, ObjFileError};

/// icn: signed, named content on a ring of web browsers.
#[derive(Debug, Parser)]
#[command(name = "icn", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate an ed25519 publisher key (PKCS#8 PEM, mode 0600) and print its publisher id.
    Keygen(KeygenArgs),
    /// Print the publisher id of a key.
    Id(IdArgs),
    /// Sign a file as a content object under /PUBLISHER-ID/PATH.
    Sign(SignArgs),
    /// Check an object's signature and blocks; print its name.
    Verify(VerifyArgs),
    /// Print an object's fields as JSON (works on objects with bad signatures too).
    Inspect(InspectArgs),
    /// Write an object's verified content to stdout or a file.
    Cat(CatArgs),
    /// Run the HTTP gateway and ring node (logs: RUST_LOG=info|debug).
    Gateway(Box<GatewayArgs>),
    /// Run many native peers (WebRTC) in one process and print figures as one JSON line.
    Swarm(SwarmArgs),
    /// Sign a file locally and upload it (blocks first) to a gateway.
    Publish(PublishArgs),
    /// Fetch a name from a gateway, verify it locally, and write its content.
    Get(GetArgs),
}

/// `icn keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the key.
    #[arg(long, value_name = "KEY.pem")]
    pub out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// `icn id`.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// PKCS#8 PEM ed25519 key (ours, or from `openssl genpkey -algorithm ed25519`).
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
}

/// What to sign: shared by `icn sign` and `icn publish`.
#[derive(Debug, Args)]
pub struct ContentArgs {
    /// PKCS#8 PEM ed25519 key of the publisher.
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
    /// Name under the publisher, e.g. /blog/2026/hello (a leading publisher id of this key is kept as is).
    #[arg(long, value_name = "/PATH")]
    pub name: String,
    /// File to sign ("-" for standard input).
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,
    /// MIME type; guessed from the file name when omitted.
    #[arg(long, value_name = "TYPE")]
    pub content_type: Option<String>,
    /// Version number; defaults to the current time in milliseconds.
    #[arg(long, value_name = "N")]
    pub version: Option<u64>,
    /// Seconds caches may serve this version without checking for a newer one.
    #[arg(long, value_name = "SECONDS")]
    pub freshness: Option<u64>,
    /// Block size in bytes for large files (content up to this size, and at most 256 KiB, is stored inline).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_BLOCK_SIZE as u32,
          value_parser = clap::value_parser!(u32).range(1..=MAX_BLOCK_SIZE as i64))]
    pub block_size: u32,
}

/// `icn sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// What to sign.
    #[command(flatten)]
    pub content: ContentArgs,
    /// Where to write the signed object.
    #[arg(long, value_name = "OBJ")]
    pub out: PathBuf,
    /// Where to write the blocks of large files [default: OBJ.blocks].
    #[arg(long, value_name = "DIR")]
    pub blocks: Option<PathBuf>,
}

/// The gateway `icn publish` and `icn get` talk to.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The gateway (default: a gateway run here with its defaults).
    #[arg(
        long,
        value_name = "URL",
        env = "ICN_GATEWAY",
        default_value = "http://127.0.0.1:8080"
    )]
    pub gateway: String,
    /// Trust the certificates this CA file (PEM) signed for an https
    /// gateway, instead of the usual public CAs (a private CA, a test
    /// certificate).
    #[arg(long, value_name = "FILE", env = "ICN_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

impl RemoteArgs {
    fn client(&self) -> Result<crate::client::Client, crate::client::ClientError> {
        crate::client::Client::new(&self.gateway, self.ca_cert.as_deref())
    }
}

/// `icn publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The gateway.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// What to sign and publish.
    #[command(flatten)]
    pub content: ContentArgs,
}

/// `icn get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The gateway.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Full name, /PUBLISHER-ID/... (the publisher id is k followed by 52 base32 characters).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Write the content here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `icn gateway`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Data directory: the embedded store and the generated gateway key.
    #[arg(long, value_name = "DIR", default_value = "./icn-data")]
    pub data: PathBuf,
    /// Gateway key (PKCS#8 PEM); generated in the data directory when omitted.
    #[arg(long, value_name = "KEY.pem")]
    pub key: Option<PathBuf>,
    /// Seconds a ring lookup may take before HTTP answers 504.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub lookup_timeout: u64,
    /// WebSocket connections allowed from one IP address.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_per_addr)]
    pub max_per_addr: usize,
    /// Joins admitted per second from one IP address (its share of the
    /// gateway's budget of 500 joins per second).
    #[arg(long, value_name = "N", default_value_t = Limits::default().joins_per_addr_per_s)]
    pub joins_per_addr: u32,
    /// Bytes of items the gateway's ring node keeps in memory (as one of the
    /// ring's replicas; what is published over HTTP is pinned apart from
    /// this). Sizes take K, M, G or T.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = crate::size::parse_size)]
    pub ring_store: u64,
    /// Bytes the pinned store (objects and blocks published over HTTP) may
    /// take in all; a PUT past it is answered 507.
    #[arg(long, value_name = "SIZE", default_value = "64G", value_parser = crate::size::parse_size)]
    pub max_store: u64,
    /// Bytes one publisher's pinned objects (with the content their
    /// manifests name) may take; a PUT past it is answered 429.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = crate::size::parse_size)]
    pub quota: u64,
    /// Another quota for one publisher: `PUBLISHER_ID=SIZE` (repeatable).
    #[arg(long, value_name = "ID=SIZE", value_parser = crate::size::parse_quota_for)]
    pub quota_for: Vec<(icn_core::PublisherId, u64)>,
    /// Join the ring of another gateway (`http://host:port` or `ws://host:port/ws`)
    /// instead of starting one; that gateway must trust this one's key.
    #[arg(long, value_name = "URL")]
    pub join: Option<String>,
    /// Publisher id (`icn id --key`) of a gateway allowed to join through this
    /// one; its node certificates are trusted (repeatable).
    #[arg(long, value_name = "ID")]
    pub trust_gateway: Vec<icn_core::PublisherId>,
    /// UDP address of the gateway's STUN service [default: the HTTP
    /// listener's address and port].
    #[arg(long, value_name = "ADDR", conflicts_with = "no_stun")]
    pub stun: Option<std::net::SocketAddr>,
    /// Run no STUN service (peers then get only the --ice-server and --turn servers).
    #[arg(long)]
    pub no_stun: bool,
    /// Host name or address peers reach this gateway's STUN service at
    /// [default: the host they opened /ws with].
    #[arg(long, value_name = "HOST")]
    pub public_host: Option<String>,
    /// A STUN or TURN server to hand to every peer, as `stun:host:port` or
    /// `turn:user:password@host:port` (repeatable).
    #[arg(long, value_name = "URL", value_parser = parse_ice_server)]
    pub ice_server: Vec<icn_core::ice::IceServer>,
    /// A TURN server (`turn:host:port`, `turns:host:port`) given to every peer
    /// with credentials made from --turn-secret-file (repeatable).
    #[arg(long, value_name = "URL", requires = "turn_secret_file", value_parser = parse_ice_url)]
    pub turn: Vec<String>,
    /// File holding the secret shared with coturn (its static-auth-secret,
    /// with use-auth-secret); the first line, trimmed, is used.
    #[arg(long, value_name = "FILE", requires = "turn")]
    pub turn_secret_file: Option<PathBuf>,
    /// Serve HTTPS and WSS with this certificate chain (PEM, leaf first);
    /// reloaded on SIGHUP and when the file changes.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A reverse proxy in front of the gateway (IP address, repeatable): from
    /// it, the client address of a request is read from X-Forwarded-For (for
    /// the per-address limits); from anyone else that header is ignored.
    #[arg(long, value_name = "IP")]
    pub trusted_proxy: Vec<std::net::IpAddr>,
    /// Trust the certificates this CA file (PEM) signed for the wss://
    /// gateway of --join, instead of the usual public CAs.
    #[arg(long, value_name = "FILE", env = "ICN_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// A `stun:`/`turn:` URL as the command line gives it.
fn parse_ice_url(s: &str) -> Result<String, String> {
    icn_core::ice::IceServer::check_url(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// `--ice-server`: a URL, with `user:password@` before the host for TURN.
fn parse_ice_server(s: &str) -> Result<icn_core::ice::IceServer, String> {
    let (scheme, rest) = s
        .split_once(':')
        .ok_or_else(|| format!("not a STUN or TURN URL: {s:?}"))?;
    let (user, pass, host) = match rest.rsplit_once('@') {
        Some((cred, host)) => {
            let (u, p) = cred
                .split_once(':')
                .ok_or_else(|| "credentials are written user:password@".to_string())?;
            (u, p, host)
        }
        None => ("", "", rest),
    };
    let url = parse_ice_url(&format!("{scheme}:{host}"))?;
    if url.starts_with("turn") && user.is_empty() {
        return Err(format!(
            "{url}: a TURN server needs user:password@ (or use --turn)"
        ));
    }
    Ok(icn_core::ice::IceServer {
        urls: vec![url],
        username: user.to_string(),
        credential: pass.to_string(),
    })
}

/// `icn swarm`.
#[derive(Debug, Args)]
pub struct SwarmArgs {
    /// The gateway to join through (`http://host:port` or `ws://host:port/ws`);
    /// repeat for several gateways of one ring (peers are spread over them,
    /// and join through the next one when one has stopped).
    #[arg(long, value_name = "URL", required = true)]
    pub gateway: Vec<String>,
    /// Native peers to run (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub peers: usize,
    /// Objects to publish once all peers joined.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub publish: usize,
    /// Gets of published objects, from random peers, spread over the duration.
    #[arg(long, value_name = "L", default_value_t = 0)]
    pub gets: usize,
    /// Seconds of the measured phase (gets and churn).
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub duration: u64,
    /// Peers per second that leave and are replaced by new ones.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub churn: f64,
    /// Seed of every random choice (keys, names, who gets what).
    #[arg(long, value_name = "X", default_value_t = 1)]
    pub seed: u64,
    /// A name published elsewhere to read once (repeatable); reported under "read".
    #[arg(long, value_name = "NAME")]
    pub read: Vec<String>,
    /// Seconds to wait after every peer joined, before measuring (0 to 600).
    #[arg(long, value_name = "S", default_value_t = 3)]
    pub settle: u64,
    /// Peers answer application messages for throughput measurement: `pull N`
    /// with N bytes, anything else with the count of bytes received so far.
    #[arg(long)]
    pub respond: bool,
    /// An ICE server for the peers instead of those the gateway offers:
    /// `stun:host:port` to learn their public address from,
    /// `turn:user:password@host:port` to relay through (repeatable; native
    /// peers use the first STUN URL and the first UDP TURN URL).
    #[arg(long, value_name = "URL", value_parser = parse_ice_server)]
    pub ice_server: Vec<icn_core::ice::IceServer>,
    /// Trust the certificates this CA file (PEM) signed for wss:// gateways,
    /// instead of the usual public CAs.
    #[arg(long, value_name = "FILE", env = "ICN_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

/// `icn verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The object file.
    #[arg(value_name = "OBJ")]
    pub obj: PathBuf,
    /// Directory holding the blocks [default: OBJ.blocks].
    #[arg(long, value_name = "DIR")]
    pub blocks: Option<PathBuf>,
}

/// `icn inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The object file.
    #[arg(value_name = "OBJ")]
    pub obj: PathBuf,
}

/// `icn cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// The object file.
    #[arg(value_name = "OBJ")]
    pub obj: PathBuf,
    /// Write the content here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Directory holding the blocks [default: OBJ.blocks].
    #[arg(long, value_name = "DIR")]
    pub blocks: Option<PathBuf>,
}

/// Everything that can make a subcommand fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A key file problem.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// An object or block file problem.
    #[error(transparent)]
    File(#[from] ObjFileError),
    /// The name given (`--name`, or `get`'s argument) is invalid.
    #[error("{arg} {name:?}: {source}")]
    Name {
        /// Which argument: `--name`, or `name` for a positional one.
        arg: &'static str,
        /// The argument.
        name: String,
        /// The cause.
        source: NameError,
    },
    /// The object could not be built.
    #[error("{}: {source}", path.display())]
    Sign {
        /// The input file.
        path: PathBuf,
        /// The cause.
        source: ObjectError,
    },
    /// The input is too large to sign.
    #[error("{}: {source}", path.display())]
    Blocks {
        /// The input file.
        path: PathBuf,
        /// The cause.
        source: BlockError,
    },
    /// Talking to a gateway failed.
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    /// The gateway failed.
    #[error(transparent)]
    Gateway(#[from] crate::gateway::GatewayError),
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::gateway::listen::TlsError),
    /// The CA file of --ca-cert cannot be used.
    #[error("--ca-cert {0}")]
    CaCert(#[from] crate::tls::CaError),
    /// `icn swarm` failed.
    #[error("swarm: {0}")]
    Swarm(String),
    /// The TURN secret file is empty.
    #[error("{}: no secret in the file (its first line is the secret)", .0.display())]
    EmptySecret(PathBuf),
    /// Reading input or writing output failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = io::stdout().lock();
    match run(cli.command, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = stdout.flush();
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one subcommand, writing its normal output to `out`.
pub fn run(command: Command, out: &mut dyn Write) -> Result<(), CliError> {
    let stdout = Path::new("<stdout>");
    let say = |out: &mut dyn Write, line: String| {
        writeln!(out, "{line}").map_err(|source| CliError::Io {
            path: stdout.to_path_buf(),
            source,
        })
    };
    match command {
        Command::Keygen(a) => {
            let key = keyfile::generate()?;
            keyfile::write_key(&a.out, &key, a.force)?;
            say(out, PublisherId::from_key(key.verifying_key()).to_text())
        }
        Command::Id(a) => {
            let key = keyfile::read_key(&a.key)?;
            say(out, PublisherId::from_key(key.verifying_key()).to_text())
        }
        Command::Sign(a) => say(out, sign(&a)?.to_uri()),
        Command::Publish(a) => {
            let (name, url) = publish(&a)?;
            say(out, name.to_uri())?;
            say(out, url)
        }
        Command::Get(a) => get(&a, out),
        Command::Gateway(a) => gateway(*a),
        Command::Swarm(a) => swarm(a, out),
        Command::Verify(a) => {
            let obj = objfile::read_object(&a.obj, true)?;
            if let Payload::Manifest(m) = &obj.object().payload {
                let dir = a
                    .blocks
                    .unwrap_or_else(|| objfile::default_blocks_dir(&a.obj));
                objfile::check_blocks(&dir, m)?;
            }
            say(out, obj.name().to_uri())
        }
        Command::Inspect(a) => {
            let obj = objfile::read_object(&a.obj, false)?;
            say(out, inspect_json(&obj).to_string())
        }
        Command::Cat(a) => cat(&a, out),
    }
}

fn inspect_json(obj: &SignedObject) -> serde_json::Value {
    let o = obj.object();
    let verdict = obj.verify();
    serde_json::json!({
        "name": o.name.to_uri(),
        "publisher": obj.publisher().to_text(),
        "version": o.version,
        "content_type": o.content_type,
        "size": o.payload.len(),
        "created": o.created,
        "freshness": o.freshness,
        "blocks": match &o.payload { Payload::Inline(_) => 0, Payload::Manifest(m) => m.blocks().len() },
        "hash": obj.hash().to_hex(),
        "signature_valid": verdict.is_ok(),
        "signature_error": verdict.err().map(|e| e.to_string()),
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn full_name(arg: &str, publisher: &str) -> Result<Name, CliError> {
    let err = |source| CliError::Name {
        arg: "--name",
        name: arg.to_string(),
        source,
    };
    Name::parse(arg)
        .and_then(|n| n.under_publisher(publisher))
        .map_err(err)
}

/// Builds and signs the object for `c`, passing each block of large content
/// to `sink` before the object is signed.
fn build(
    c: &ContentArgs,
    sink: &mut dyn FnMut(Block) -> Result<(), CliError>,
) -> Result<SignedObject, CliError> {
    let key = keyfile::read_key(&c.key)?;
    let publisher = PublisherId::from_key(key.verifying_key()).to_text();
    let name = full_name(&c.name, &publisher)?;
    let content_type = c.content_type.clone().unwrap_or_else(|| {
        mime_guess::from_path(&c.input)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_string()
    });
    let payload = read_payload(c, sink)?;
    let object = ContentObject {
        name,
        version: c.version.unwrap_or_else(now_ms),
        content_type,
        created: now_ms(),
        freshness: c.freshness,
        payload,
    };
    SignedObject::sign(object, &key).map_err(|source| CliError::Sign {
        path: c.input.clone(),
        source,
    })
}

fn sign(a: &SignArgs) -> Result<Name, CliError> {
    let dir = a
        .blocks
        .clone()
        .unwrap_or_else(|| objfile::default_blocks_dir(&a.out));
    let mut created = false;
    let signed = build(&a.content, &mut |block| {
        if !created {
            fs::create_dir_all(&dir).map_err(|source| CliError::Io {
                path: dir.clone(),
                source,
            })?;
            created = true;
        }
        Ok(objfile::write_block(&dir, &block)?)
    })?;
    objfile::write_atomic(&a.out, signed.encoded())?;
    Ok(signed.name().clone())
}

fn publish(a: &PublishArgs) -> Result<(Name, String), CliError> {
    let client = a.remote.client()?;
    let mut sent = 0;
    let signed = build(&a.content, &mut |block| {
        client.put_block(&block)?;
        sent += 1;
        client.show(sent, sent + 1, "uploaded");
        Ok(())
    })?;
    let url = client.put_object(&signed)?;
    if sent > 0 && client_progress() {
        eprintln!();
    }
    Ok((signed.name().clone(), url))
}

fn client_progress() -> bool {
    use std::io::IsTerminal;
    io::stderr().is_terminal()
}

fn get(a: &GetArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let name = Name::parse_content(&a.name).map_err(|source| CliError::Name {
        arg: "name",
        name: a.name.clone(),
        source,
    })?;
    let client = a.remote.client()?;
    let obj = client.get_object(&name)?;
    match &a.out {
        None => Ok(client.write_content(&obj, out, Path::new("<stdout>"))?),
        Some(path) => {
            let mut buf = Vec::with_capacity(obj.object().payload.len() as usize);
            client.write_content(&obj, &mut buf, path)?;
            objfile::write_atomic(path, &buf)?;
            Ok(())
        }
    }
}

/// The WebSocket URL of a gateway given as `http(s)://host:port[/]` or `ws(s)://…`.
fn ws_url(gateway: &str) -> String {
    let g = gateway.trim_end_matches('/');
    if let Some(rest) = g.strip_prefix("http://") {
        format!("ws://{rest}/ws")
    } else if let Some(rest) = g.strip_prefix("https://") {
        format!("wss://{rest}/ws")
    } else {
        g.to_string()
    }
}

fn swarm(a: SwarmArgs, out: &mut dyn Write) -> Result<(), CliError> {
    init_logging("warn");
    crate::tls::trust_for_process(a.ca_cert.as_deref())?;
    let cfg = crate::swarm::SwarmConfig {
        ws_urls: a.gateway.iter().map(|g| ws_url(g)).collect(),
        peers: a.peers,
        publish: a.publish,
        gets: a.gets,
        duration: a.duration,
        churn: a.churn,
        seed: a.seed,
        read: a.read,
        settle: a.settle,
        respond: a.respond,
        ice: (!a.ice_server.is_empty()).then_some(a.ice_server),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Swarm(e.to_string()))?;
    let line = runtime
        .block_on(crate::swarm::run(cfg))
        .map_err(|e| CliError::Swarm(e.to_string()))?;
    writeln!(out, "{line}").map_err(|e| CliError::Swarm(e.to_string()))?;
    // Peers' tasks end with the runtime; nothing is left running.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}

/// The TURN secret: the first line of `path`, trimmed.
fn read_turn_secret(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let secret = text.lines().next().unwrap_or("").trim();
    if secret.is_empty() {
        return Err(CliError::EmptySecret(path.to_path_buf()));
    }
    Ok(secret.as_bytes().to_vec())
}

/// Logs to stderr at `default` level unless `RUST_LOG` says otherwise.
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}

fn gateway(a: GatewayArgs) -> Result<(), CliError> {
    init_logging("info");
    crate::tls::trust_for_process(a.ca_cert.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            path: "<tokio runtime>".into(),
            source,
        })?;
    let cfg = crate::gateway::GatewayConfig {
        listen: a.listen,
        data: a.data,
        key: a.key,
        lookup_timeout: std::time::Duration::from_secs(a.lookup_timeout.max(1)),
        limits: {
            let d = Limits::default();
            Limits {
                max_per_addr: a.max_per_addr,
                joins_per_addr_per_s: a.joins_per_addr,
                node: icn_core::node::Limits {
                    store_bytes: usize::try_from(a.ring_store).unwrap_or(usize::MAX),
                    ..d.node.clone()
                },
                store: crate::gateway::store::Quota {
                    max_bytes: a.max_store,
                    per_publisher: a.quota,
                    overrides: a.quota_for.iter().copied().collect(),
                    ..d.store.clone()
                },
                ..d
            }
        },
        join: a.join.as_deref().map(ws_url),
        trust: a.trust_gateway.iter().map(|p| p.key().to_bytes()).collect(),
        stun: match a.no_stun {
            true => None,
            false => Some(
                a.stun
                    .unwrap_or(std::net::SocketAddr::new(a.listen.ip(), 0)),
            ),
        },
        ice: crate::gateway::ice::IceConfig {
            stun_port: None,
            public_host: a.public_host,
            extra: a.ice_server,
            turn: a.turn,
            turn_secret: match &a.turn_secret_file {
                Some(path) => Some(read_turn_secret(path)?),
                None => None,
            },
        },
        tls: match (&a.tls_cert, &a.tls_key) {
            (Some(c), Some(k)) => Some(std::sync::Arc::new(
                crate::gateway::listen::Certificates::load(c, k)?,
            )),
            _ => None,
        },
        trusted_proxies: a.trusted_proxy.iter().map(|ip| ip.to_canonical()).collect(),
    };
    Ok(runtime.block_on(crate::gateway::run(cfg))?)
}

/// Reads the input: inline if it fits, otherwise split into blocks, each
/// handed to `sink`.
fn read_payload(
    c: &ContentArgs,
    sink: &mut dyn FnMut(Block) -> Result<(), CliError>,
) -> Result<Payload, CliError> {
    let io = |source| CliError::Io {
        path: c.input.clone(),
        source,
    };
    let mut reader: Box<dyn Read> = if c.input.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(&c.input).map_err(io)?)
    };
    let bs = c.block_size as usize;
    let mut first = vec![0u8; bs];
    let n = objfile::read_full(&mut reader, &mut first).map_err(io)?;
    first.truncate(n);
    let mut next = vec![0u8; bs];
    let m = objfile::read_full(&mut reader, &mut next).map_err(io)?;
    if m == 0 && n <= MAX_INLINE_SIZE {
        return Ok(Payload::Inline(first));
    }
    let blocks_err = |source| CliError::Blocks {
        path: c.input.clone(),
        source,
    };
    let mut refs = Vec::new();
    let mut size = 0u64;
    let mut store = |bytes: Vec<u8>, refs: &mut Vec<_>| -> Result<(), CliError> {
        if refs.len() == MAX_BLOCKS {
            return Err(blocks_err(BlockError::TooMany(MAX_BLOCKS + 1)));
        }
        let block = Block::new(bytes).map_err(blocks_err)?;
        refs.push(block.block_ref());
        sink(block)
    };
    size += n as u64;
    store(first, &mut refs)?;
    let mut len = m;
    while len > 0 {
        next.truncate(len);
        size += len as u64;
        store(std::mem::take(&mut next), &mut refs)?;
        next = vec![0u8; bs];
        len = objfile::read_full(&mut reader, &mut next).map_err(io)?;
    }
    Manifest::new(size, refs)
        .map(Payload::Manifest)
        .map_err(blocks_err)
}

fn cat(a: &CatArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let obj = objfile::read_object(&a.obj, true)?;
    let dir = a
        .blocks
        .clone()
        .unwrap_or_else(|| objfile::default_blocks_dir(&a.obj));
    match &a.out {
        None => {
            objfile::write_content(&obj, &dir, out, Path::new("<stdout>"))?;
            out.flush().map_err(|source| CliError::Io {
                path: "<stdout>".into(),
                source,
            })
        }
        Some(path) => {
            // Check every block before creating the output, so a corrupt
            // object never leaves a partial file behind.
            if let Payload::Manifest(m) = &obj.object().payload {
                objfile::check_blocks(&dir, m)?;
            }
            let mut buf = Vec::with_capacity(obj.object().payload.len() as usize);
            objfile::write_content(&obj, &dir, &mut buf, path)?;
            objfile::write_atomic(path, &buf)?;
            Ok(())
        }
    }
}
