//! Secrets in the data directory: the log's Ed25519 signing key (which also fixes the log's origin) and the
//! hashing of API tokens.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};
use warrant_log::note::NoteSigner;

use crate::{StoreConfig, StoreError};

/// The signing key file, in the golang.org/x/mod/sumdb/note signer-key format (`PRIVATE+KEY+<name>+...`).
pub const SIGNING_KEY_FILE: &str = "log.key";

/// The log's identity: its origin line and the key that signs its checkpoints.
pub(crate) struct LogIdentity {
    pub origin: String,
    pub signer: NoteSigner,
    pub verifier_key: String,
    /// Seals the tree head in every write transaction (head.rs).
    pub seal: crate::head::HeadSeal,
}

/// Load the signing key, or create it (and with it the log's origin) on first open.
pub(crate) fn load_or_create(dir: &Path, config: &StoreConfig) -> Result<LogIdentity, StoreError> {
    let path = dir.join(SIGNING_KEY_FILE);
    let io_error = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    let signer = match std::fs::read_to_string(&path) {
        Ok(text) => NoteSigner::parse_skey(text.trim())
            .map_err(|error| StoreError::Damaged(format!("{}: {error}", path.display())))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // The random part keeps two deployments' logs apart even under one organisation's name.
            let suffix = hex::encode(random_bytes::<4>()?);
            let log_id = match &config.log {
                Some(log) => format!("{log}-{suffix}"),
                None => suffix,
            };
            let origin = format!("warrant/{}/{log_id}", origin_safe(&config.org));
            let signer = NoteSigner::from_secret_bytes(origin, &random_bytes::<32>()?)
                .map_err(|error| StoreError::Damaged(format!("cannot create signing key: {error}")))?;
            write_private(&path, signer.skey().as_bytes()).map_err(io_error)?;
            signer
        }
        Err(error) => return Err(io_error(error)),
    };
    Ok(LogIdentity {
        origin: signer.name().to_owned(),
        verifier_key: signer.vkey(),
        seal: crate::head::HeadSeal::new(&signer),
        signer,
    })
}

/// SHA-256 of a token. Tokens are 256-bit random, so a plain hash is as good as a slow one.
pub(crate) fn token_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh token secret: a recognisable prefix and 256 random bits in hex.
pub(crate) fn new_token_secret() -> Result<String, StoreError> {
    Ok(format!("wrt_{}", hex::encode(random_bytes::<32>()?)))
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes)
        .map_err(|error| StoreError::Damaged(format!("no system randomness: {error}")))?;
    Ok(bytes)
}

/// Organisation names end up in a signed-note key name, which may not hold spaces or `+`.
fn origin_safe(org: &str) -> String {
    let cleaned: String = org
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "default".into()
    } else {
        cleaned
    }
}

/// Write a file only its owner can read, durably.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.write_all(b"\n")?;
    file.sync_all()
}
