//! `Event::from_json` on any JSON value: never panics, and an accepted event
//! survives the wire round trip `to_json` -> `from_json` unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warrant_core::event::Event;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(event) = Event::from_json(0, value) else {
        return;
    };
    let wire = event.to_json();
    let again = Event::from_json(0, wire.clone());
    assert_eq!(
        again.as_ref(),
        Ok(&event),
        "round trip changed the event; wire form: {wire}"
    );
});
