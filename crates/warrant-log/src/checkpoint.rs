//! C2SP tlog-checkpoint bodies: the origin line, the decimal tree size and
//! the base64 root hash that a log signs to commit to its state.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

use crate::hash::Hash;

/// A log's commitment to the tree of its first `size` entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// Why a checkpoint body did not parse.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("checkpoint body does not end with a newline")]
    MissingFinalNewline,
    #[error("checkpoint body has fewer than three lines")]
    TooFewLines,
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    #[error("checkpoint size {0:?} is not a canonical decimal number")]
    BadSize(String),
    #[error("checkpoint root hash is not valid base64")]
    BadRootEncoding,
    #[error("checkpoint root hash is {0} bytes, not 32")]
    BadRootLength(usize),
    #[error("checkpoint has an empty extension line")]
    EmptyExtensionLine,
}

impl Checkpoint {
    /// The note body: origin, size and root, each on its own line, no extension lines.
    pub fn to_body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root))
    }

    /// Parses a checkpoint body, ignoring any extension lines after the root.
    pub fn parse(body: &str) -> Result<Self, CheckpointError> {
        let text = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(CheckpointError::TooFewLines);
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        // Extension lines carry no meaning here, but an empty one would have
        // ended the note text, so it cannot be part of a well-formed body.
        if lines.any(str::is_empty) {
            return Err(CheckpointError::EmptyExtensionLine);
        }
        let root_bytes = STANDARD
            .decode(root)
            .map_err(|_| CheckpointError::BadRootEncoding)?;
        let root = Hash::try_from(root_bytes.as_slice())
            .map_err(|_| CheckpointError::BadRootLength(root_bytes.len()))?;
        Ok(Self {
            origin: origin.to_owned(),
            size: parse_size(size)?,
            root,
        })
    }
}

/// A decimal u64 with no sign, no leading zeros (except "0" itself) and no
/// other characters, so that each size has exactly one spelling.
fn parse_size(text: &str) -> Result<u64, CheckpointError> {
    let bad = || CheckpointError::BadSize(text.to_owned());
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::{Checkpoint, CheckpointError};

    #[test]
    fn round_trips() {
        let cp = Checkpoint {
            origin: "example.com/log".to_owned(),
            size: 42,
            root: [7; 32],
        };
        let body = cp.to_body();
        assert_eq!(
            body,
            "example.com/log\n42\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n"
        );
        assert_eq!(Checkpoint::parse(&body), Ok(cp.clone()));
        let zero = Checkpoint { size: 0, ..cp };
        assert_eq!(Checkpoint::parse(&zero.to_body()), Ok(zero));
    }

    #[test]
    fn ignores_extension_lines() {
        let body = "o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\nextension one\nextension two\n";
        assert_eq!(Checkpoint::parse(body).unwrap().size, 1);
    }

    #[test]
    fn rejects_malformed_bodies() {
        let root = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        let parse = |s: String| Checkpoint::parse(&s);
        assert_eq!(
            parse(format!("o\n1\n{root}")),
            Err(CheckpointError::MissingFinalNewline)
        );
        assert_eq!(parse("o\n1\n".to_owned()), Err(CheckpointError::TooFewLines));
        assert_eq!(parse(format!("\n1\n{root}\n")), Err(CheckpointError::EmptyOrigin));
        for size in ["01", "-1", "+1", "1.0", "", " 1", "0x1", "18446744073709551616"] {
            assert_eq!(
                parse(format!("o\n{size}\n{root}\n")),
                Err(CheckpointError::BadSize(size.to_owned()))
            );
        }
        assert_eq!(
            parse("o\n1\nnot base64!\n".to_owned()),
            Err(CheckpointError::BadRootEncoding)
        );
        assert_eq!(
            parse("o\n1\nBwcH\n".to_owned()),
            Err(CheckpointError::BadRootLength(3))
        );
        assert_eq!(
            parse(format!("o\n1\n{root}\n\nx\n")),
            Err(CheckpointError::EmptyExtensionLine)
        );
    }
}
