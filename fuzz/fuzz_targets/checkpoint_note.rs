//! Checkpoint bodies, signed notes and key strings: every parser of text a log
//! or an auditor receives. None may panic; what parses must round-trip.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warrant_log::checkpoint::Checkpoint;
use warrant_log::note::{NoteSigner, NoteVerifier, open_note, sign_note};

fn signer() -> &'static NoteSigner {
    static SIGNER: OnceLock<NoteSigner> = OnceLock::new();
    SIGNER.get_or_init(|| match NoteSigner::from_secret_bytes("fuzz", &[7u8; 32]) {
        Ok(signer) => signer,
        Err(error) => panic!("fixed fuzz signer: {error}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let signer = signer();
    let verifier = signer.verifier();

    if let Ok(cp) = Checkpoint::parse(text) {
        assert_eq!(Checkpoint::parse(&cp.to_body()), Ok(cp));
    }

    if let Ok(opened) = open_note(text, std::slice::from_ref(&verifier)) {
        // Only the fixed key can have signed it, so it must be named.
        assert_eq!(opened.verified_by, vec!["fuzz".to_owned()]);
        assert!(text.starts_with(&opened.body));
    }

    // Whatever the fixed key signs must open again with the same body.
    if let Ok(note) = sign_note(text, signer) {
        let opened = open_note(&note, std::slice::from_ref(&verifier));
        assert_eq!(
            opened.as_ref().map(|o| o.body.as_str()),
            Ok(text),
            "signed note did not open: {note:?}"
        );
    }

    if let Ok(parsed) = NoteVerifier::parse_vkey(text) {
        assert_eq!(NoteVerifier::parse_vkey(&parsed.vkey()), Ok(parsed));
    }

    if let Ok(parsed) = NoteSigner::parse_skey(text) {
        let again = NoteSigner::parse_skey(&parsed.skey());
        assert_eq!(again.map(|s| s.vkey()).ok(), Some(parsed.vkey()));
    }
});
