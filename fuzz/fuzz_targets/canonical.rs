//! RFC 8785 canonicalization of any JSON value: the output is JSON, and
//! canonicalizing it again gives the very same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warrant_log::canonical::canonicalize;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let canonical = canonicalize(&value);
    let reparsed: serde_json::Value = match serde_json::from_slice(&canonical) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!(
            "canonical form is not JSON ({error}): {}",
            String::from_utf8_lossy(&canonical)
        ),
    };
    let again = canonicalize(&reparsed);
    assert!(
        canonical == again,
        "not idempotent:\n first: {}\nsecond: {}",
        String::from_utf8_lossy(&canonical),
        String::from_utf8_lossy(&again)
    );
});
