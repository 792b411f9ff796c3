//! C2SP tlog-cosignature/v1 with Ed25519: a witness's timestamped statement that a checkpoint is the largest
//! consistent tree it has seen for the log. A cosignature is a signed-note signature line whose key ID uses
//! type byte 0x04 and whose blob is `key ID ‖ u64 timestamp ‖ Ed25519 signature`, the signature covering
//! `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint body.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::note::{
    NoteError, SIGNATURE_PREFIX, SKEY_PREFIX, check_name, check_text, decode_typed_key, key_string,
    parse_signature_line, split_key_string, split_note, typed_key_id,
};

/// Signature type byte of Ed25519 cosignatures (cosignature/v1) in key IDs and key strings.
pub const COSIGNATURE_TYPE: u8 = 0x04;
const HEADER: &str = "cosignature/v1\n";
/// Timestamps above this are refused, as the specification requires.
const MAX_TIMESTAMP: u64 = (1 << 63) - 1;

/// A witness key: signs cosignatures under the witness's name.
#[derive(Clone)]
pub struct Cosigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

/// A trusted witness public key with its name and key ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

/// A cosignature that verified: who made it and when (POSIX seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    pub witness: String,
    pub timestamp: u64,
    /// The signature line as it appeared, with its final newline.
    pub line: String,
}

/// The message a cosignature signs: the header line, the timestamp line and the whole checkpoint body.
pub fn signed_message(checkpoint_body: &str, timestamp: u64) -> String {
    format!("{HEADER}time {timestamp}\n{checkpoint_body}")
}

impl Cosigner {
    pub fn new(name: impl Into<String>, key: SigningKey) -> Result<Self, NoteError> {
        let name = check_name(name.into())?;
        let key_id = typed_key_id(&name, COSIGNATURE_TYPE, &key.verifying_key());
        Ok(Self { name, key_id, key })
    }

    /// A witness key from a 32-byte Ed25519 secret (seed).
    pub fn from_secret_bytes(name: impl Into<String>, secret: &[u8; 32]) -> Result<Self, NoteError> {
        Self::new(name, SigningKey::from_bytes(secret))
    }

    /// Parses `PRIVATE+KEY+<name>+<key id hex>+<base64(0x04 ‖ seed)>`.
    pub fn parse_skey(skey: &str) -> Result<Self, NoteError> {
        let rest = skey.strip_prefix(SKEY_PREFIX).ok_or(NoteError::BadSignerKey)?;
        let (name, id, key) = split_key_string(rest).ok_or(NoteError::BadSignerKey)?;
        let seed = decode_typed_key(key, COSIGNATURE_TYPE).ok_or(NoteError::BadSignerKey)?;
        let cosigner = Self::new(name, SigningKey::from_bytes(&seed))?;
        if cosigner.key_id != id {
            return Err(NoteError::BadSignerKey);
        }
        Ok(cosigner)
    }

    /// The secret key string accepted by [`Cosigner::parse_skey`].
    pub fn skey(&self) -> String {
        format!(
            "{SKEY_PREFIX}{}",
            key_string(&self.name, self.key_id, COSIGNATURE_TYPE, self.key.as_bytes())
        )
    }

    /// The public key string, `<name>+<key id hex>+<base64(0x04 ‖ public key)>`.
    pub fn vkey(&self) -> String {
        self.verifier().vkey()
    }

    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signature line (with its final newline) cosigning `checkpoint_body` at `timestamp`.
    pub fn cosign(&self, checkpoint_body: &str, timestamp: u64) -> Result<String, NoteError> {
        check_text(checkpoint_body)?;
        let signature = self
            .key
            .sign(signed_message(checkpoint_body, timestamp).as_bytes());
        let mut blob = Vec::with_capacity(4 + 8 + 64);
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        ))
    }
}

// Hand-written so the secret key never reaches a log line.
impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl CosignatureVerifier {
    /// Parses a witness vkey, checking its type byte (0x04) and that its key ID matches.
    pub fn parse_vkey(vkey: &str) -> Result<Self, NoteError> {
        let (name, id, key) = split_key_string(vkey).ok_or(NoteError::BadVerifierKey)?;
        let bytes = decode_typed_key(key, COSIGNATURE_TYPE).ok_or(NoteError::BadVerifierKey)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| NoteError::BadVerifierKey)?;
        let name = check_name(name.to_owned())?;
        let key_id = typed_key_id(&name, COSIGNATURE_TYPE, &key);
        if key_id != id {
            return Err(NoteError::BadVerifierKey);
        }
        Ok(Self { name, key_id, key })
    }

    pub fn vkey(&self) -> String {
        key_string(&self.name, self.key_id, COSIGNATURE_TYPE, self.key.as_bytes())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Check one signature line against this key and `checkpoint_body`. `None`: the line is not this
    /// key's (another name or key ID); `Some(Err)`: it claims to be and does not verify.
    fn check(&self, checkpoint_body: &str, line: &str) -> Option<Result<u64, NoteError>> {
        let (name, key_id, blob) = match parse_signature_line(line) {
            Ok(parsed) => parsed,
            Err(error) => return Some(Err(error)),
        };
        if name != self.name || key_id != self.key_id {
            return None;
        }
        let invalid = || NoteError::InvalidSignature(self.name.clone());
        let Some((timestamp, signature)) = blob.split_first_chunk::<8>() else {
            return Some(Err(invalid()));
        };
        let timestamp = u64::from_be_bytes(*timestamp);
        let valid = timestamp <= MAX_TIMESTAMP
            && Signature::from_slice(signature).is_ok_and(|signature| {
                self.key
                    .verify_strict(signed_message(checkpoint_body, timestamp).as_bytes(), &signature)
                    .is_ok()
            });
        Some(if valid { Ok(timestamp) } else { Err(invalid()) })
    }
}

/// The cosignatures in a signed note (a checkpoint with its signature lines) by the trusted witness keys, one
/// per witness, in `verifiers` order. Lines by other keys (the log's own among them) are ignored; a line that
/// names a trusted key but does not verify is an error, as in a signed note.
pub fn verify_cosignatures(
    note: &str,
    verifiers: &[CosignatureVerifier],
) -> Result<Vec<Cosignature>, NoteError> {
    check_text(note)?;
    let (body, signatures) = split_note(note).ok_or(NoteError::MissingSignatures)?;
    let mut found: Vec<Cosignature> = Vec::new();
    for verifier in verifiers {
        for line in signatures.split_terminator('\n') {
            match verifier.check(body, line) {
                None => {}
                Some(Err(error)) => return Err(error),
                Some(Ok(timestamp))
                    if !found
                        .iter()
                        .any(|cosignature| cosignature.witness == verifier.name) =>
                {
                    found.push(Cosignature {
                        witness: verifier.name.clone(),
                        timestamp,
                        line: format!("{line}\n"),
                    });
                }
                Some(Ok(_)) => {}
            }
        }
    }
    Ok(found)
}

/// `note` with `lines` (signature lines, each ending in a newline) added after its own, skipping any line
/// the note already carries.
pub fn with_signature_lines(note: &str, lines: &str) -> String {
    let mut out = note.to_owned();
    let present: Vec<&str> = split_note(note)
        .map(|(_, signatures)| signatures.split_terminator('\n').collect())
        .unwrap_or_default();
    for line in lines.split_terminator('\n') {
        if !line.is_empty() && !present.contains(&line) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The signature lines of a note, each with its final newline (empty when it has none).
pub fn signature_lines(note: &str) -> &str {
    split_note(note).map_or("", |(_, signatures)| signatures)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::{CosignatureVerifier, Cosigner, signed_message, verify_cosignatures, with_signature_lines};
    use crate::note::{NoteError, NoteSigner, open_note, sign_note};

    const BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn witness(name: &str, seed: u8) -> Cosigner {
        Cosigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    #[test]
    fn the_signed_message_is_the_specifications_example() {
        assert_eq!(
            signed_message(BODY, 1_679_315_147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn a_cosigned_checkpoint_still_opens_as_the_logs_note_and_carries_the_cosignature() {
        let log = NoteSigner::from_secret_bytes("example.com/behind-the-sofa", &[9; 32]).unwrap();
        let note = sign_note(BODY, &log).unwrap();
        let w1 = witness("witness.example.com/w1", 1);
        let cosigned = with_signature_lines(&note, &w1.cosign(BODY, 1_679_315_147).unwrap());
        assert_eq!(open_note(&cosigned, &[log.verifier()]).unwrap().body, BODY);
        let found = verify_cosignatures(&cosigned, &[w1.verifier()]).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].timestamp, 1_679_315_147);
        // Another witness's key finds nothing; the log's own key is not a cosigner (other type byte).
        assert!(
            verify_cosignatures(&cosigned, &[witness("witness.example.com/w2", 2).verifier()])
                .unwrap()
                .is_empty()
        );
        // Adding the same line twice keeps one.
        assert_eq!(
            with_signature_lines(&cosigned, &w1.cosign(BODY, 1_679_315_147).unwrap()),
            cosigned
        );
    }

    #[test]
    fn a_cosignature_over_another_body_or_time_fails() {
        let log = NoteSigner::from_secret_bytes("example.com/behind-the-sofa", &[9; 32]).unwrap();
        let w1 = witness("witness.example.com/w1", 1);
        let other = BODY.replace("20852163", "20852164");
        let note = with_signature_lines(&sign_note(BODY, &log).unwrap(), &w1.cosign(&other, 5).unwrap());
        assert_eq!(
            verify_cosignatures(&note, &[w1.verifier()]),
            Err(NoteError::InvalidSignature("witness.example.com/w1".into()))
        );
    }

    #[test]
    fn keys_round_trip_and_refuse_the_log_key_type() {
        let w1 = witness("witness.example.com/w1", 1);
        let again = Cosigner::parse_skey(&w1.skey()).unwrap();
        assert_eq!(again.vkey(), w1.vkey());
        assert_eq!(
            CosignatureVerifier::parse_vkey(&w1.vkey()).unwrap(),
            w1.verifier()
        );
        let log = NoteSigner::from_secret_bytes("log", &[9; 32]).unwrap();
        assert_eq!(
            CosignatureVerifier::parse_vkey(&log.vkey()),
            Err(NoteError::BadVerifierKey)
        );
        assert!(Cosigner::parse_skey(&log.skey()).is_err());
    }
}
