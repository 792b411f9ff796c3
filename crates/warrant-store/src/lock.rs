//! The server's claim on a data directory. A running server holds an exclusive lock on `server.lock` and
//! writes its URL into it, so a local CLI write can be refused with a pointer to `--server` instead of racing
//! the server's sequencer.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = "server.lock";

/// Held for as long as the server runs; the OS releases it if the process dies.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("a warrant server is already using {dir} ({url}); use --server {url}")]
    HeldByServer { dir: PathBuf, url: String },
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl DataDirLock {
    /// Claim `dir` for a server reachable at `url`.
    pub fn acquire(dir: &Path, url: &str) -> Result<DataDirLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::HeldByServer {
                    dir: dir.to_owned(),
                    url: read_url(&mut file),
                });
            }
            Err(TryLockError::Error(error)) => return Err(io(error)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(url.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(DataDirLock { _file: file })
    }

    /// If a server holds `dir`, the URL it serves on.
    pub fn holder(dir: &Path) -> Option<String> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .ok()?;
        match file.try_lock() {
            // Nobody holds it; dropping the file releases our probe lock.
            Ok(()) => None,
            Err(TryLockError::WouldBlock) => Some(read_url(&mut file)),
            Err(TryLockError::Error(_)) => None,
        }
    }
}

fn read_url(file: &mut File) -> String {
    let mut url = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut url));
    let url = url.trim();
    if url.is_empty() {
        "the server's URL".into()
    } else {
        url.to_owned()
    }
}
