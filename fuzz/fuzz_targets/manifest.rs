//! `Registry::plan_apply` on any UTF-8 manifest text: never panics, and for an
//! accepted plan, applying it and planning the same text again is a no-op.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warrant_core::registry::Registry;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let empty = Registry::default();
    let Ok(plan) = empty.plan_apply(text) else {
        return;
    };
    let mut registry = empty.clone();
    registry.apply(&plan.changes);
    match registry.plan_apply(text) {
        Ok(again) => assert!(
            again.changes.is_empty(),
            "re-applying the same manifest planned {} change(s): {:?}",
            again.changes.len(),
            again.changes
        ),
        Err(errors) => panic!("manifest accepted once but refused after applying it: {errors:?}"),
    }
});
