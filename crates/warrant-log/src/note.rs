//! C2SP signed-note with Ed25519 keys: signing a note text, opening a signed
//! note against trusted keys, key IDs, and the `vkey`/`skey` key strings used
//! by Go's golang.org/x/mod/sumdb/note and other tlog tools.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Signature type byte for Ed25519 in key IDs and key strings.
pub(crate) const ED25519_TYPE: u8 = 0x01;
/// Notes with more signatures are rejected; the spec requires accepting at least 16.
const MAX_SIGNATURES: usize = 100;
pub(crate) const SIGNATURE_PREFIX: &str = "\u{2014} ";
pub(crate) const SKEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a note could not be signed or opened, or a key not parsed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NoteError {
    #[error("key name {0:?} is empty or contains whitespace or '+'")]
    BadKeyName(String),
    #[error("malformed verifier key")]
    BadVerifierKey,
    #[error("malformed signer key")]
    BadSignerKey,
    #[error("note text does not end with a newline")]
    MissingFinalNewline,
    #[error("note contains a control character other than newline")]
    ControlCharacter,
    #[error("note has no blank line before its signatures")]
    MissingSignatures,
    #[error("malformed signature line {0:?}")]
    MalformedSignature(String),
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("invalid signature from known key {0}")]
    InvalidSignature(String),
    #[error("note has no valid signature from a known key")]
    NoKnownSignature,
}

/// An Ed25519 key that signs notes under a name.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

/// A trusted Ed25519 public key with its name and key ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

/// A signed note whose signatures have been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedNote {
    /// The note text, including its final newline.
    pub body: String,
    /// Names of the known keys whose signatures verified, in note order, without repeats.
    pub verified_by: Vec<String>,
}

/// Signs `body` (which must end with a newline) and returns the signed note text.
pub fn sign_note(body: &str, signer: &NoteSigner) -> Result<String, NoteError> {
    check_text(body)?;
    let signature = signer.key.sign(body.as_bytes());
    let mut blob = Vec::with_capacity(4 + 64);
    blob.extend_from_slice(&signer.key_id.to_be_bytes());
    blob.extend_from_slice(&signature.to_bytes());
    Ok(format!(
        "{body}\n{SIGNATURE_PREFIX}{} {}\n",
        signer.name,
        STANDARD.encode(blob)
    ))
}

/// Opens a signed note: every signature by a known key (same name and key ID)
/// must verify and at least one must exist; signatures by unknown keys are ignored.
pub fn open_note(text: &str, verifiers: &[NoteVerifier]) -> Result<OpenedNote, NoteError> {
    check_text(text)?;
    let (body, signatures) = split_note(text).ok_or(NoteError::MissingSignatures)?;
    if signatures.is_empty() {
        return Err(NoteError::MissingSignatures);
    }
    let mut verified_by: Vec<String> = Vec::new();
    for (count, line) in signatures.split_terminator('\n').enumerate() {
        if count >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let (name, key_id, signature) = parse_signature_line(line)?;
        let Some(verifier) = verifiers.iter().find(|v| v.name == name && v.key_id == key_id) else {
            continue;
        };
        let valid = Signature::from_slice(&signature)
            .is_ok_and(|sig| verifier.key.verify_strict(body.as_bytes(), &sig).is_ok());
        if !valid {
            return Err(NoteError::InvalidSignature(name.to_owned()));
        }
        if !verified_by.iter().any(|n| n == name) {
            verified_by.push(name.to_owned());
        }
    }
    if verified_by.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(OpenedNote {
        body: body.to_owned(),
        verified_by,
    })
}

/// The text of a signed note before its signatures are checked, for
/// diagnostics only: nothing in it may be trusted.
pub fn unverified_body(text: &str) -> Option<&str> {
    split_note(text).map(|(body, _)| body)
}

/// The C2SP key ID: the first four bytes, big-endian, of
/// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
pub fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    typed_key_id(name, ED25519_TYPE, key)
}

/// SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], big-endian: the key ID of any signature type.
pub(crate) fn typed_key_id(name: &str, kind: u8, key: &VerifyingKey) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', kind])
        .chain_update(key.as_bytes())
        .finalize();
    let (id, _) = digest.split_first_chunk::<4>().unwrap_or((&[0; 4], &[]));
    u32::from_be_bytes(*id)
}

impl NoteSigner {
    /// A signer for `name` with the given key.
    pub fn new(name: impl Into<String>, key: SigningKey) -> Result<Self, NoteError> {
        let name = check_name(name.into())?;
        let key_id = key_id(&name, &key.verifying_key());
        Ok(Self { name, key_id, key })
    }

    /// A signer from a 32-byte Ed25519 secret key (seed).
    pub fn from_secret_bytes(name: impl Into<String>, secret: &[u8; 32]) -> Result<Self, NoteError> {
        Self::new(name, SigningKey::from_bytes(secret))
    }

    /// Parses `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 ‖ seed)>`, the
    /// signer key format of golang.org/x/mod/sumdb/note.
    pub fn parse_skey(skey: &str) -> Result<Self, NoteError> {
        let rest = skey.strip_prefix(SKEY_PREFIX).ok_or(NoteError::BadSignerKey)?;
        let (name, id, key) = split_key_string(rest).ok_or(NoteError::BadSignerKey)?;
        let seed = decode_typed_key(key, ED25519_TYPE).ok_or(NoteError::BadSignerKey)?;
        let signer = Self::from_secret_bytes(name, &seed)?;
        if signer.key_id != id {
            return Err(NoteError::BadSignerKey);
        }
        Ok(signer)
    }

    /// The signer key string accepted by [`NoteSigner::parse_skey`]. It holds the secret key.
    pub fn skey(&self) -> String {
        format!(
            "{SKEY_PREFIX}{}",
            key_string(&self.name, self.key_id, ED25519_TYPE, self.key.as_bytes())
        )
    }

    /// The matching verifier key string, `<name>+<key id hex>+<base64(0x01 ‖ public key)>`.
    pub fn vkey(&self) -> String {
        self.verifier().vkey()
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }
}

// Hand-written so the secret key never reaches a log line.
impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteVerifier {
    /// A verifier for `name` with the given public key.
    pub fn new(name: impl Into<String>, key: VerifyingKey) -> Result<Self, NoteError> {
        let name = check_name(name.into())?;
        let key_id = key_id(&name, &key);
        Ok(Self { name, key_id, key })
    }

    /// Parses `<name>+<key id as 8 hex digits>+<base64(0x01 ‖ public key)>`,
    /// checking that the key ID matches the name and key.
    pub fn parse_vkey(vkey: &str) -> Result<Self, NoteError> {
        let (name, id, key) = split_key_string(vkey).ok_or(NoteError::BadVerifierKey)?;
        let bytes = decode_typed_key(key, ED25519_TYPE).ok_or(NoteError::BadVerifierKey)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| NoteError::BadVerifierKey)?;
        let verifier = Self::new(name, key)?;
        if verifier.key_id != id {
            return Err(NoteError::BadVerifierKey);
        }
        Ok(verifier)
    }

    /// The verifier key string accepted by [`NoteVerifier::parse_vkey`].
    pub fn vkey(&self) -> String {
        key_string(&self.name, self.key_id, ED25519_TYPE, self.key.as_bytes())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// Key names must be non-empty and free of Unicode whitespace and '+', so
/// that both signature lines and key strings split unambiguously.
pub(crate) fn check_name(name: String) -> Result<String, NoteError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(NoteError::BadKeyName(name));
    }
    Ok(name)
}

/// Rules shared by note texts and whole signed notes.
pub(crate) fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline);
    }
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

/// Splits at the last blank line: the text keeps its final newline, the
/// signature block follows the blank line.
pub(crate) fn split_note(text: &str) -> Option<(&str, &str)> {
    let at = text.rfind("\n\n")?;
    Some((text.get(..=at)?, text.get(at + 2..)?))
}

/// `— <name> <base64(key id ‖ signature)>` into name, key ID and signature bytes.
pub(crate) fn parse_signature_line(line: &str) -> Result<(&str, u32, Vec<u8>), NoteError> {
    let malformed = || NoteError::MalformedSignature(line.to_owned());
    let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or_else(malformed)?;
    let (name, encoded) = rest.split_once(' ').ok_or_else(malformed)?;
    check_name(name.to_owned()).map_err(|_| malformed())?;
    let mut blob = STANDARD.decode(encoded).map_err(|_| malformed())?;
    let (id, signature) = blob.split_first_chunk::<4>().ok_or_else(malformed)?;
    if signature.is_empty() {
        return Err(malformed());
    }
    let id = u32::from_be_bytes(*id);
    blob.drain(..4);
    Ok((name, id, blob))
}

/// `<name>+<8 hex digits>+<base64>` into its three parts. Only the first two
/// '+' separate: base64 key material may itself contain '+'.
pub(crate) fn split_key_string(text: &str) -> Option<(&str, u32, &str)> {
    let mut parts = text.splitn(3, '+');
    let (name, id, key) = (parts.next()?, parts.next()?, parts.next()?);
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some((name, u32::from_str_radix(id, 16).ok()?, key))
}

/// Decodes base64(type ‖ 32 key bytes), refusing another type.
pub(crate) fn decode_typed_key(encoded: &str, expected: u8) -> Option<[u8; 32]> {
    let bytes = STANDARD.decode(encoded).ok()?;
    let (&kind, key) = bytes.split_first()?;
    if kind != expected {
        return None;
    }
    key.try_into().ok()
}

pub(crate) fn key_string(name: &str, key_id: u32, kind: u8, key: &[u8; 32]) -> String {
    let mut typed = Vec::with_capacity(33);
    typed.push(kind);
    typed.extend_from_slice(key);
    format!("{name}+{key_id:08x}+{}", STANDARD.encode(typed))
}

#[cfg(test)]
mod tests {
    use super::{NoteError, NoteSigner, NoteVerifier, open_note, sign_note, unverified_body};

    // The example key pair and signed note of golang.org/x/mod/sumdb/note (package docs and note_test.go).
    const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn peter() -> NoteSigner {
        NoteSigner::parse_skey(PETER_SKEY).unwrap()
    }

    #[test]
    fn reproduces_the_go_example() {
        let signer = peter();
        assert_eq!(signer.key_id(), 0xc74f20a3);
        assert_eq!(signer.vkey(), PETER_VKEY);
        assert_eq!(signer.skey(), PETER_SKEY);
        let verifier = NoteVerifier::parse_vkey(PETER_VKEY).unwrap();
        assert_eq!(verifier, signer.verifier());
        assert_eq!(verifier.vkey(), PETER_VKEY);

        let signed = sign_note(TEXT, &signer).unwrap();
        assert_eq!(signed, format!("{TEXT}\n{PETER_SIG}"));
        let opened = open_note(&signed, &[verifier]).unwrap();
        assert_eq!(opened.body, TEXT);
        assert_eq!(opened.verified_by, vec!["PeterNeumann".to_owned()]);
    }

    #[test]
    fn round_trips_with_fresh_keys() {
        let signer = NoteSigner::from_secret_bytes("example.com/log", &[9; 32]).unwrap();
        let verifier = NoteVerifier::parse_vkey(&signer.vkey()).unwrap();
        let body = "example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let signed = sign_note(body, &signer).unwrap();
        assert_eq!(open_note(&signed, &[verifier]).unwrap().body, body);
        assert_eq!(unverified_body(&signed), Some(body));
    }

    #[test]
    fn rejects_unknown_and_bad_signatures() {
        let peter = NoteVerifier::parse_vkey(PETER_VKEY).unwrap();
        let enoch = NoteVerifier::parse_vkey(ENOCH_VKEY).unwrap();
        let signed = format!("{TEXT}\n{PETER_SIG}");

        // Signed only by a key we do not trust.
        assert_eq!(
            open_note(&signed, std::slice::from_ref(&enoch)),
            Err(NoteError::NoKnownSignature)
        );
        // Same name but a different key: unknown, so ignored, so nothing verifies.
        let impostor = NoteSigner::from_secret_bytes("PeterNeumann", &[1; 32]).unwrap();
        let forged = sign_note(TEXT, &impostor).unwrap();
        assert_eq!(
            open_note(&forged, std::slice::from_ref(&peter)),
            Err(NoteError::NoKnownSignature)
        );
        // Unknown signatures are skipped when a known one verifies.
        let both = format!("{forged}{PETER_SIG}");
        assert_eq!(open_note(&both, std::slice::from_ref(&peter)).unwrap().body, TEXT);
        // A mutated body fails the known key's signature.
        let mutated = signed.replace("cryptography", "cryptographY");
        assert_eq!(
            open_note(&mutated, std::slice::from_ref(&peter)),
            Err(NoteError::InvalidSignature("PeterNeumann".to_owned()))
        );
    }

    #[test]
    fn rejects_malformed_notes() {
        let peter = [NoteVerifier::parse_vkey(PETER_VKEY).unwrap()];
        let open = |text: &str| open_note(text, &peter);
        assert_eq!(open(TEXT), Err(NoteError::MissingSignatures));
        assert_eq!(open(&format!("{TEXT}\n")), Err(NoteError::MissingSignatures));
        assert_eq!(
            open(&format!("{TEXT}\n{}", PETER_SIG.trim_end())),
            Err(NoteError::MissingFinalNewline)
        );
        assert_eq!(
            open(&format!("{TEXT}\n{PETER_SIG}\t\n")),
            Err(NoteError::ControlCharacter)
        );
        for line in [
            "- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
            "\u{2014} PeterNeumann",
            "\u{2014} PeterNeumann not-base64",
            "\u{2014} PeterNeumann x08g",
            "\u{2014}  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        ] {
            assert_eq!(
                open(&format!("{TEXT}\n{PETER_SIG}{line}\n")),
                Err(NoteError::MalformedSignature(line.to_owned())),
                "{line}"
            );
        }
        let many = PETER_SIG.repeat(101);
        assert_eq!(
            open(&format!("{TEXT}\n{many}")),
            Err(NoteError::TooManySignatures)
        );
    }

    #[test]
    fn validates_names_bodies_and_keys() {
        for name in ["", "a b", "a+b", "a\u{2003}b"] {
            assert!(matches!(
                NoteSigner::from_secret_bytes(name, &[1; 32]),
                Err(NoteError::BadKeyName(_))
            ));
        }
        let signer = peter();
        assert_eq!(
            sign_note("no newline", &signer),
            Err(NoteError::MissingFinalNewline)
        );
        assert_eq!(
            sign_note("tab\there\n", &signer),
            Err(NoteError::ControlCharacter)
        );
        for vkey in [
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
            "PeterNeumann+c74f20a3",
            "PeterNeumanN+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        ] {
            assert_eq!(
                NoteVerifier::parse_vkey(vkey),
                Err(NoteError::BadVerifierKey),
                "{vkey}"
            );
        }
        assert_eq!(
            NoteSigner::parse_skey(PETER_VKEY).unwrap_err(),
            NoteError::BadSignerKey
        );
        assert!(!format!("{signer:?}").contains("AYEK"));
    }
}
