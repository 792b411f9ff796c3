//! The OTLP receiver's decode and mapping on any bytes, as protobuf or as OTLP/JSON: never panics, every
//! event it makes passes the same validation as an event sent to `POST /v1/events`, carries the OTLP
//! idempotency key, and no span is both mapped and rejected.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warrant_core::event::Event;
use warrant_core::registry::Registry;
use warrant_otlp::decode::{Encoding, decode_request};
use warrant_otlp::map::map_request;

fuzz_target!(|data: &[u8]| {
    let registry = Registry::default();
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        let Ok(request) = decode_request(data, encoding, None, 1 << 20) else {
            continue;
        };
        let mapping = map_request(&request, &registry);
        assert!(mapping.skipped + mapping.rejected.len() <= mapping.spans);
        for event in &mapping.events {
            let wire = event.to_json();
            let again = Event::from_json(0, wire.clone());
            assert_eq!(again.as_ref(), Ok(event), "an OTLP event fails validation: {wire}");
            assert!(event.id.as_deref().is_some_and(|id| id.starts_with("otlp:")), "{wire}");
        }
    }
});
