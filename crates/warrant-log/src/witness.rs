//! The C2SP tlog-witness protocol's bodies and the witness's decision, with no I/O: the `add-checkpoint`
//! request (old size, consistency proof, signed checkpoint), the `text/x.tlog.size` answer of a 409, and the
//! checks a witness makes before it cosigns, each mapped to the HTTP status the specification gives.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::checkpoint::Checkpoint;
use crate::hash::{Hash, empty_root};
use crate::note::{NoteError, NoteVerifier, open_note, unverified_body};
use crate::proof::verify_consistency;

/// The content type of a 409 answer's body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// A client must not send more consistency proof lines than this.
pub const MAX_PROOF_LINES: usize = 63;

/// An `add-checkpoint` request: the size the client believes the witness holds, a consistency proof from it,
/// and the signed checkpoint to cosign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old: u64,
    pub proof: Vec<Hash>,
    /// The signed note, with its signature lines.
    pub checkpoint: String,
}

/// Why a witness refused to cosign, with the HTTP status the specification assigns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the request is malformed, or its old size exceeds the checkpoint's.
    BadRequest(String),
    /// 403: no valid signature by a key the witness trusts for the origin.
    Forbidden(String),
    /// 404: the witness does not know the log.
    UnknownLog(String),
    /// 409: the old size is not the size the witness last cosigned, which is given.
    Conflict { size: u64 },
    /// 422: the checkpoint is not consistent with what the witness cosigned before.
    Inconsistent(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Forbidden(_) => 403,
            Self::UnknownLog(_) => 404,
            Self::Conflict { .. } => 409,
            Self::Inconsistent(_) => 422,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRequest(why) => write!(f, "bad request: {why}"),
            Self::Forbidden(why) => write!(f, "not signed by a trusted log key: {why}"),
            Self::UnknownLog(origin) => write!(f, "unknown log {origin:?}"),
            Self::Conflict { size } => write!(f, "the witness last cosigned size {size}"),
            Self::Inconsistent(why) => write!(f, "inconsistent: {why}"),
        }
    }
}

impl AddCheckpoint {
    /// The request body: `old <size>`, one base64 hash per line, an empty line, the signed checkpoint.
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old);
        for hash in &self.proof {
            body.push_str(&STANDARD.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.checkpoint);
        body
    }

    /// Parse a request body, refusing anything the specification does not allow (400).
    pub fn parse(body: &str) -> Result<Self, Refusal> {
        let bad = |why: &str| Refusal::BadRequest(why.to_owned());
        let (head, checkpoint) = body
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|line| line.strip_prefix("old "))
            .and_then(parse_decimal)
            .ok_or_else(|| bad("the first line is not `old <size>` in canonical decimal"))?;
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let hash = STANDARD
                .decode(line)
                .ok()
                .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok())
                .ok_or_else(|| bad("a consistency proof line is not a base64 32-byte hash"))?;
            proof.push(hash);
        }
        Ok(Self {
            old,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

/// The witness's checks, in the specification's order. `trusted` gives the keys trusted for an origin (none:
/// an unknown log); `latest` is the size and root the witness last cosigned for it (none: never). On success
/// returns the checkpoint to record and cosign; the caller records it atomically with reading `latest`.
pub fn check_add_checkpoint<'k>(
    request: &AddCheckpoint,
    trusted: impl Fn(&str) -> Option<&'k [NoteVerifier]>,
    latest: Option<(u64, Hash)>,
) -> Result<Checkpoint, Refusal> {
    // The origin, before any signature is checked, only chooses which keys to check with.
    let claimed = unverified_body(&request.checkpoint)
        .and_then(|body| Checkpoint::parse(body).ok())
        .ok_or_else(|| Refusal::BadRequest("the checkpoint is not a signed checkpoint note".into()))?;
    let keys = trusted(&claimed.origin).ok_or_else(|| Refusal::UnknownLog(claimed.origin.clone()))?;
    let opened = open_note(&request.checkpoint, keys).map_err(|error| match error {
        NoteError::InvalidSignature(_) | NoteError::NoKnownSignature => Refusal::Forbidden(error.to_string()),
        other => Refusal::BadRequest(other.to_string()),
    })?;
    let checkpoint =
        Checkpoint::parse(&opened.body).map_err(|error| Refusal::BadRequest(error.to_string()))?;
    if request.old > checkpoint.size {
        return Err(Refusal::BadRequest(format!(
            "old size {} is larger than the checkpoint's size {}",
            request.old, checkpoint.size
        )));
    }
    let (latest_size, latest_root) = latest.unwrap_or((0, empty_root()));
    if request.old != latest_size {
        return Err(Refusal::Conflict { size: latest_size });
    }
    if checkpoint.size == 0 && checkpoint.root != empty_root() {
        return Err(Refusal::Inconsistent(
            "a checkpoint of size 0 must have the empty tree's root".into(),
        ));
    }
    if request.old == 0 {
        if !request.proof.is_empty() {
            return Err(Refusal::Inconsistent(
                "a consistency proof from size 0 must be empty".into(),
            ));
        }
        return Ok(checkpoint);
    }
    if request.old == checkpoint.size {
        return if checkpoint.root == latest_root && request.proof.is_empty() {
            Ok(checkpoint)
        } else {
            Err(Refusal::Inconsistent(format!(
                "a different root for size {} than the one cosigned: the log forked",
                checkpoint.size
            )))
        };
    }
    verify_consistency(
        request.old,
        checkpoint.size,
        &latest_root,
        &checkpoint.root,
        &request.proof,
    )
    .map_err(|error| {
        Refusal::Inconsistent(format!(
            "size {} is not consistent with the cosigned size {}: {error}",
            checkpoint.size, request.old
        ))
    })?;
    Ok(checkpoint)
}

/// The body of a 409 answer: the size in decimal and a newline.
pub fn size_body(size: u64) -> String {
    format!("{size}\n")
}

/// Parse the body of a 409 answer.
pub fn parse_size_body(body: &str) -> Option<u64> {
    body.strip_suffix('\n').and_then(parse_decimal)
}

/// ASCII decimal with no sign and no leading zeros ("0" itself excepted).
fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|byte| byte.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::{AddCheckpoint, Refusal, check_add_checkpoint, parse_size_body};
    use crate::checkpoint::Checkpoint;
    use crate::frontier::Frontier;
    use crate::hash::{Hash, leaf_hash};
    use crate::note::{NoteSigner, NoteVerifier, sign_note};
    use crate::proof::consistency_proof;

    /// The example request body of the specification.
    const EXAMPLE: &str = "old 20852014\n\
        PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
        jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
        5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
        /6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
        \n\
        example.com/behind-the-sofa\n\
        20852163\n\
        CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
        \n\
        \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
        \u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";

    #[test]
    fn the_specifications_example_request_parses_and_round_trips() {
        let request = AddCheckpoint::parse(EXAMPLE).unwrap();
        assert_eq!(request.old, 20_852_014);
        assert_eq!(request.proof.len(), 4);
        assert!(
            request
                .checkpoint
                .starts_with("example.com/behind-the-sofa\n20852163\n")
        );
        assert_eq!(request.to_body(), EXAMPLE);
    }

    #[test]
    fn malformed_requests_are_400() {
        for body in [
            "old 01\n\nx\n",
            "old -1\n\nx\n",
            "old 1\nnot base64\n\nx\n",
            "old 1\n",
            "new 1\n\nx\n",
        ] {
            assert!(
                matches!(AddCheckpoint::parse(body), Err(Refusal::BadRequest(_))),
                "{body:?}"
            );
        }
        let long = format!(
            "old 1\n{}\nx\n",
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n".repeat(64)
        );
        assert!(matches!(AddCheckpoint::parse(&long), Err(Refusal::BadRequest(_))));
        assert_eq!(parse_size_body("42\n"), Some(42));
        assert_eq!(parse_size_body("042\n"), None);
    }

    struct Log {
        signer: NoteSigner,
        leaves: Vec<Hash>,
    }

    impl crate::proof::SubtreeSource for Log {
        type Error = std::convert::Infallible;
        fn subtree_root(&mut self, start: u64, end: u64) -> Result<Hash, Self::Error> {
            Ok(crate::hash::root_from_leaf_hashes(
                &self.leaves[start as usize..end as usize],
            ))
        }
    }

    impl Log {
        fn new(size: u64) -> Log {
            Log {
                signer: NoteSigner::from_secret_bytes("example.com/log", &[3; 32]).unwrap(),
                leaves: (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect(),
            }
        }
        fn root(&self, size: u64) -> Hash {
            let mut frontier = Frontier::new();
            for leaf in &self.leaves[..size as usize] {
                frontier.push(*leaf);
            }
            frontier.root()
        }
        fn request(&mut self, old: u64, size: u64) -> AddCheckpoint {
            let body = Checkpoint {
                origin: "example.com/log".into(),
                size,
                root: self.root(size),
            }
            .to_body();
            AddCheckpoint {
                old,
                proof: consistency_proof(self, old, size).unwrap_or_default(),
                checkpoint: sign_note(&body, &self.signer).unwrap(),
            }
        }
    }

    #[test]
    fn the_witness_cosigns_consistent_growth_and_refuses_the_rest() {
        let mut log = Log::new(20);
        let keys = vec![log.signer.verifier()];
        let trusted = |origin: &str| (origin == "example.com/log").then_some(keys.as_slice());
        // First contact with a stale old size: 409 with the witness's size, which is 0.
        assert_eq!(
            check_add_checkpoint(&log.request(5, 10), trusted, None),
            Err(Refusal::Conflict { size: 0 })
        );
        let first = check_add_checkpoint(&log.request(0, 10), trusted, None).unwrap();
        assert_eq!(first.size, 10);
        let latest = Some((10, log.root(10)));
        assert_eq!(
            check_add_checkpoint(&log.request(10, 17), trusted, latest)
                .unwrap()
                .size,
            17
        );
        assert_eq!(
            check_add_checkpoint(&log.request(10, 10), trusted, latest)
                .unwrap()
                .size,
            10
        );
        assert_eq!(
            check_add_checkpoint(&log.request(12, 17), trusted, latest),
            Err(Refusal::Conflict { size: 10 })
        );
        assert!(matches!(
            check_add_checkpoint(&log.request(17, 10), trusted, latest),
            Err(Refusal::BadRequest(_))
        ));
        // A rewritten event 3: re-signed with the log's key, it is still not consistent with size 10.
        log.leaves[3] = leaf_hash(b"forged");
        let rewritten = log.request(10, 17);
        assert_eq!(
            check_add_checkpoint(&rewritten, trusted, latest)
                .unwrap_err()
                .status(),
            422
        );
        // The same size with another root: a fork.
        assert_eq!(
            check_add_checkpoint(&log.request(10, 10), trusted, latest)
                .unwrap_err()
                .status(),
            422
        );
        // Signed by another key, or for another log.
        let other = NoteSigner::from_secret_bytes("example.com/log", &[4; 32]).unwrap();
        let mut forged = log.request(10, 17);
        forged.checkpoint =
            sign_note(crate::note::unverified_body(&forged.checkpoint).unwrap(), &other).unwrap();
        assert_eq!(
            check_add_checkpoint(&forged, trusted, latest)
                .unwrap_err()
                .status(),
            403
        );
        let none = |_: &str| -> Option<&[NoteVerifier]> { None };
        assert_eq!(
            check_add_checkpoint(&log.request(0, 3), none, None)
                .unwrap_err()
                .status(),
            404
        );
    }
}
