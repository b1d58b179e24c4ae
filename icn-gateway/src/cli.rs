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
    /// Sign a file as a content object under /<publisher-id>/PATH.
    Sign(SignArgs),
    /// Check an object's signature and blocks; print its name.
    Verify(VerifyArgs),
    /// Print an object's fields as JSON (works on objects with bad signatures too).
    Inspect(InspectArgs),
    /// Write an object's verified content to stdout or a file.
    Cat(CatArgs),
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

/// `icn sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
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
    /// Where to write the signed object.
    #[arg(long, value_name = "OBJ")]
    pub out: PathBuf,
    /// Where to write the blocks of large files [default: OBJ.blocks].
    #[arg(long, value_name = "DIR")]
    pub blocks: Option<PathBuf>,
    /// Block size in bytes for large files (content up to this size, and at most 256 KiB, is stored inline).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_BLOCK_SIZE as u32,
          value_parser = clap::value_parser!(u32).range(1..=MAX_BLOCK_SIZE as i64))]
    pub block_size: u32,
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
    /// The `--name` argument is invalid.
    #[error("--name {name:?}: {source}")]
    Name {
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
        name: arg.to_string(),
        source,
    };
    let rel = Name::parse(arg).map_err(err)?;
    if rel.components()[0] == publisher.as_bytes() {
        return Ok(rel);
    }
    rel.prefixed(publisher.as_bytes()).map_err(err)
}

fn sign(a: &SignArgs) -> Result<Name, CliError> {
    let key = keyfile::read_key(&a.key)?;
    let publisher = PublisherId::from_key(key.verifying_key()).to_text();
    let name = full_name(&a.name, &publisher)?;
    let content_type = a.content_type.clone().unwrap_or_else(|| {
        mime_guess::from_path(&a.input)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_string()
    });
    let payload = read_payload(a)?;
    let object = ContentObject {
        name,
        version: a.version.unwrap_or_else(now_ms),
        content_type,
        created: now_ms(),
        freshness: a.freshness,
        payload,
    };
    let signed = SignedObject::sign(object, &key).map_err(|source| CliError::Sign {
        path: a.input.clone(),
        source,
    })?;
    objfile::write_atomic(&a.out, signed.encoded())?;
    Ok(signed.name().clone())
}

/// Reads the input: inline if it fits, otherwise written out as blocks.
fn read_payload(a: &SignArgs) -> Result<Payload, CliError> {
    let io = |source| CliError::Io {
        path: a.input.clone(),
        source,
    };
    let mut reader: Box<dyn Read> = if a.input.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(&a.input).map_err(io)?)
    };
    let mut first = vec![0u8; a.block_size as usize];
    let n = objfile::read_full(&mut reader, &mut first).map_err(io)?;
    first.truncate(n);
    let mut next = vec![0u8; a.block_size as usize];
    let m = objfile::read_full(&mut reader, &mut next).map_err(io)?;
    if m == 0 && n <= MAX_INLINE_SIZE.min(a.block_size as usize) {
        return Ok(Payload::Inline(first));
    }
    let dir = a
        .blocks
        .clone()
        .unwrap_or_else(|| objfile::default_blocks_dir(&a.out));
    fs::create_dir_all(&dir).map_err(|source| CliError::Io {
        path: dir.clone(),
        source,
    })?;
    let blocks_err = |source| CliError::Blocks {
        path: a.input.clone(),
        source,
    };
    let mut refs = Vec::new();
    let mut size = 0u64;
    let store = |bytes: Vec<u8>, refs: &mut Vec<_>| -> Result<(), CliError> {
        if refs.len() == MAX_BLOCKS {
            return Err(blocks_err(BlockError::TooMany(MAX_BLOCKS + 1)));
        }
        let block = Block::new(bytes).map_err(blocks_err)?;
        objfile::write_block(&dir, &block)?;
        refs.push(block.block_ref());
        Ok(())
    };
    size += n as u64;
    store(first, &mut refs)?;
    let mut len = m;
    while len > 0 {
        next.truncate(len);
        size += len as u64;
        store(std::mem::take(&mut next), &mut refs)?;
        next = vec![0u8; a.block_size as usize];
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
