//! Ed25519 keys as PKCS#8 PEM files.
//!
//! PKCS#8 PEM is what `openssl genpkey -algorithm ed25519` writes and what
//! most tools read, so publishers can create, back up and inspect keys with
//! tools they already trust. Keys are written as PKCS#8 v1 (secret key only),
//! the form every OpenSSL version reads; both v1 and v2 are accepted.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, KeypairBytes};
use ed25519_dalek::SigningKey;

/// Largest key file read (a PEM ed25519 key is about 120 bytes).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists and `--force` was not given.
    #[error("{}: already exists (use --force to overwrite)", .0.display())]
    Exists(PathBuf),
    /// The file is not a PKCS#8 PEM ed25519 private key.
    #[error("{}: not a PKCS#8 PEM ed25519 private key ({reason})", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The system random number generator failed.
    #[error("cannot get randomness from the operating system: {0}")]
    Random(String),
}

/// Reads a PKCS#8 PEM ed25519 private key.
pub fn read_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    fs::File::open(path)
        .map_err(io)?
        .take(MAX_KEY_FILE)
        .read_to_string(&mut text)
        .map_err(io)?;
    SigningKey::from_pkcs8_pem(text.trim()).map_err(|e| KeyFileError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Generates a new key from the operating system's RNG.
pub fn generate() -> Result<SigningKey, KeyFileError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyFileError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The PKCS#8 v1 PEM text of a key.
pub fn to_pem(key: &SigningKey) -> Result<String, KeyFileError> {
    let pair = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    pair.to_pkcs8_pem(Default::default())
        .map(|z| z.to_string())
        .map_err(|e| KeyFileError::Format {
            path: PathBuf::new(),
            reason: e.to_string(),
        })
}

/// Writes `key` to `path` readable by its owner only (mode 0600).
pub fn write_key(path: &Path, key: &SigningKey, force: bool) -> Result<(), KeyFileError> {
    let pem = to_pem(key)?;
    let io = |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists(path.to_path_buf())
        } else {
            io(e)
        }
    })?;
    #[cfg(unix)]
    {
        // An existing file overwritten with --force keeps its old mode otherwise.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    file.write_all(pem.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}
