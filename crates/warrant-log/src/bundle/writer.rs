//! Writing a bundle: the files go into one directory, each hashed (SHA-256, size) as it is written, and the
//! writer finishes with the manifest that lists them, ready for the log key to sign. What goes into the files
//! is the caller's (the log's store reads the events, the checkpoints and the proofs); the files, their
//! entries and the manifest are the writer's. Nothing is touched outside the bundle's directory.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::format::{FileEntry, MANIFEST_FILE, Manifest, SIGNATURE_FILE, hex, path_problem, signature_body};
use crate::note::{NoteSigner, sign_note, unverified_body};

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleWriteError {
    #[error("writing {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The caller broke the format (a path outside the bundle, a file twice, a manifest the verifier would
    /// refuse, a signature over something else).
    #[error("{0}")]
    Format(String),
}

/// Writes a bundle's files into its directory and, at the end, its manifest.
#[derive(Debug)]
pub struct BundleWriter {
    dir: PathBuf,
    files: Vec<FileEntry>,
    /// Every path started, closed or not.
    paths: BTreeSet<String>,
    /// Paths started and not yet closed.
    open: BTreeSet<String>,
}

/// One file being written, hashed as it goes; [`BundleWriter::close`] lists it.
#[derive(Debug)]
pub struct FileWriter {
    path: String,
    full: PathBuf,
    out: BufWriter<File>,
    hasher: Sha256,
    size: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleWriteError + '_ {
    move |source| BundleWriteError::Io {
        path: path.to_owned(),
        source,
    }
}

impl BundleWriter {
    /// A bundle in `dir`, which is created; it must not exist or be empty.
    pub fn create(dir: impl Into<PathBuf>) -> Result<BundleWriter, BundleWriteError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        if std::fs::read_dir(&dir).map_err(io(&dir))?.next().is_some() {
            return Err(BundleWriteError::Format(format!(
                "{} exists and is not empty",
                dir.display()
            )));
        }
        Ok(BundleWriter {
            dir,
            files: Vec::new(),
            paths: BTreeSet::new(),
            open: BTreeSet::new(),
        })
    }

    /// The bundle's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files written so far, in order.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// Start the file at `path` (relative, `/`-separated), to write in pieces; several may be open at once.
    pub fn start(&mut self, path: &str) -> Result<FileWriter, BundleWriteError> {
        if let Some(problem) = path_problem(path) {
            return Err(BundleWriteError::Format(problem));
        }
        if path == MANIFEST_FILE || path == SIGNATURE_FILE || !self.paths.insert(path.to_owned()) {
            return Err(BundleWriteError::Format(format!(
                "{path} is already in the bundle"
            )));
        }
        let full = path
            .split('/')
            .fold(self.dir.clone(), |full, part| full.join(part));
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let out = BufWriter::new(File::create(&full).map_err(io(&full))?);
        self.open.insert(path.to_owned());
        Ok(FileWriter {
            path: path.to_owned(),
            full,
            out,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Finish a file started here: flushed, and listed with its hash and size.
    pub fn close(&mut self, file: FileWriter) -> Result<FileEntry, BundleWriteError> {
        if !self.open.remove(&file.path) {
            return Err(BundleWriteError::Format(format!(
                "{} was not started in this bundle",
                file.path
            )));
        }
        let FileWriter {
            path,
            full,
            mut out,
            hasher,
            size,
        } = file;
        out.flush().map_err(io(&full))?;
        let entry = FileEntry {
            path,
            sha256: hex(&hasher.finalize()),
            size,
        };
        self.files.push(entry.clone());
        Ok(entry)
    }

    /// Write a whole file.
    pub fn write(&mut self, path: &str, bytes: &[u8]) -> Result<FileEntry, BundleWriteError> {
        let mut file = self.start(path)?;
        file.write(bytes)?;
        self.close(file)
    }

    /// Write a whole file of pretty JSON and a newline.
    pub fn write_json<T: Serialize + ?Sized>(
        &mut self,
        path: &str,
        value: &T,
    ) -> Result<FileEntry, BundleWriteError> {
        let mut bytes = serde_json::to_vec_pretty(value)
            .map_err(|error| BundleWriteError::Format(format!("{path}: {error}")))?;
        bytes.push(b'\n');
        self.write(path, &bytes)
    }

    /// Finish the bundle: `manifest` lists the files written (in order; any it held are replaced), follows the
    /// format's rules ([`Manifest::check`]) and is written to `manifest.json`. Sign the result to seal it.
    pub fn finish(self, mut manifest: Manifest) -> Result<UnsignedBundle, BundleWriteError> {
        if let Some(path) = self.open.first() {
            return Err(BundleWriteError::Format(format!(
                "{path} was started but not closed"
            )));
        }
        manifest.files = self.files;
        manifest.check().map_err(BundleWriteError::Format)?;
        let bytes = manifest.to_bytes();
        let path = self.dir.join(MANIFEST_FILE);
        std::fs::write(&path, &bytes).map_err(io(&path))?;
        Ok(UnsignedBundle {
            dir: self.dir,
            manifest,
            bytes,
        })
    }
}

impl FileWriter {
    /// The file's path in the bundle.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), BundleWriteError> {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        self.out.write_all(bytes).map_err(io(&self.full))
    }

    /// One line of compact JSON (an [`super::EventLine`], an event body).
    pub fn write_line<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), BundleWriteError> {
        let mut bytes = serde_json::to_vec(value)
            .map_err(|error| BundleWriteError::Format(format!("{}: {error}", self.path)))?;
        bytes.push(b'\n');
        self.write(&bytes)
    }
}

/// A bundle whose manifest is written and not yet signed.
#[derive(Debug)]
pub struct UnsignedBundle {
    dir: PathBuf,
    manifest: Manifest,
    bytes: Vec<u8>,
}

impl UnsignedBundle {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// `manifest.json` as written.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// What the log key must sign ([`signature_body`] of the manifest).
    pub fn signature_body(&self) -> String {
        signature_body(&self.bytes)
    }

    /// Write `manifest.sig`: a signed note over [`Self::signature_body`] (made wherever the key is). Its
    /// signature is the verifier's to check; that it signs this manifest is checked here.
    pub fn seal(self, signature: &str) -> Result<Manifest, BundleWriteError> {
        if unverified_body(signature) != Some(self.signature_body().as_str()) {
            return Err(BundleWriteError::Format(
                "the signature is not a signed note over this manifest".into(),
            ));
        }
        let path = self.dir.join(SIGNATURE_FILE);
        std::fs::write(&path, signature).map_err(io(&path))?;
        Ok(self.manifest)
    }

    /// Sign with the log key at hand and [`Self::seal`].
    pub fn sign(self, signer: &NoteSigner) -> Result<Manifest, BundleWriteError> {
        let signature = sign_note(&self.signature_body(), signer)
            .map_err(|error| BundleWriteError::Format(format!("signing the manifest: {error}")))?;
        self.seal(&signature)
    }
}
