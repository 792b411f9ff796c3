//! Facts the registry adds to an incoming event, whichever door it came in by (JSON API or OTLP): the cost of an
//! LLM call from the model's price, and the sensitivity of the data a `data_access` read. They are written
//! into the event when it is logged, so the evidence shows the price and classification in force at the time,
//! and each filled-in value says where it came from (`cost_source`, `sensitivity_source`).

use serde_json::{Number, Value};

use crate::event::{Event, EventKind};
use crate::registry::Registry;

/// Fill in what the registry knows and the event lacks. A value the sender gave is never replaced.
pub fn enrich(event: &mut Event, registry: &Registry) {
    match event.kind {
        EventKind::LlmCall => fill_cost(event, registry),
        EventKind::DataAccess => fill_sensitivity(event, registry),
        _ => {}
    }
}

fn fill_cost(event: &mut Event, registry: &Registry) {
    if event.attrs.contains_key("cost_usd") {
        return;
    }
    // The reported model first, then the requested one (providers answer with dated snapshot names).
    let Some(model) = ["model", "request_model"]
        .iter()
        .filter_map(|field| event.attrs.get(*field).and_then(Value::as_str))
        .find_map(|name| registry.model(name))
    else {
        return;
    };
    let tokens = |name: &str| event.attrs.get(name).and_then(Value::as_u64);
    let (input, output) = (tokens("input_tokens"), tokens("output_tokens"));
    if input.is_none() && output.is_none() {
        return;
    }
    let cost = model.cost_usd(input.unwrap_or(0), output.unwrap_or(0));
    if let Some(cost) = Number::from_f64(round_micro(cost)) {
        event.attrs.insert("cost_usd".into(), Value::Number(cost));
        event.attrs.insert(
            "cost_source".into(),
            Value::String(format!("price_table:{}", model.id)),
        );
    }
}

fn fill_sensitivity(event: &mut Event, registry: &Registry) {
    if event.attrs.contains_key("sensitivity") {
        return;
    }
    let Some(source) = event
        .attrs
        .get("source")
        .and_then(Value::as_str)
        .and_then(|id| registry.data_source(id))
    else {
        return;
    };
    let sensitivity = serde_json::to_value(source.sensitivity).unwrap_or(Value::Null);
    event.attrs.insert("sensitivity".into(), sensitivity);
    event
        .attrs
        .insert("sensitivity_source".into(), Value::String("registry".into()));
}

/// Dollars to the micro-dollar: enough for per-call token prices, without float noise in the log.
fn round_micro(value: f64) -> f64 {
    (value * 1_000_000.0).round() / 1_000_000.0
}

#[cfg(test)]
mod tests {

    use serde_json::json;

    use super::enrich;
    use crate::event::Event;
    use crate::registry::Registry;

    fn registry() -> Registry {
        let mut registry = Registry::default();
        let plan = registry
            .plan_apply(
                "kind: Model\nid: gpt-4.1\ninput_usd_per_million: 2\noutput_usd_per_million: 8\n---\n\
                 kind: DataSource\nid: crm\nsensitivity: confidential\n",
            )
            .unwrap();
        registry.apply(&plan.changes);
        registry
    }

    fn enriched(value: serde_json::Value) -> serde_json::Value {
        let mut event = Event::from_json(0, value).unwrap();
        enrich(&mut event, &registry());
        serde_json::Value::Object(event.attrs)
    }

    #[test]
    fn llm_cost_comes_from_the_price_table() {
        let attrs = enriched(json!({"time": "2026-11-26T09:30:00Z", "kind": "llm_call",
            "attrs": {"model": "gpt-4.1", "input_tokens": 1200, "output_tokens": 300}}));
        assert_eq!(attrs["cost_usd"], json!(0.0048));
        assert_eq!(attrs["cost_source"], json!("price_table:gpt-4.1"));
    }

    #[test]
    fn a_given_cost_or_an_unknown_model_is_left_alone() {
        let given = enriched(json!({"time": "2026-11-26T09:30:00Z", "kind": "llm_call",
            "attrs": {"model": "gpt-4.1", "input_tokens": 10, "cost_usd": 1.5}}));
        assert_eq!(given["cost_usd"], json!(1.5));
        assert!(given.get("cost_source").is_none());
        let unknown = enriched(json!({"time": "2026-11-26T09:30:00Z", "kind": "llm_call",
            "attrs": {"model": "other", "input_tokens": 10}}));
        assert!(unknown.get("cost_usd").is_none());
    }

    #[test]
    fn data_access_gets_the_sources_sensitivity() {
        let attrs = enriched(json!({"time": "2026-11-26T09:30:00Z", "kind": "data_access",
            "attrs": {"source": "crm", "records": 1}}));
        assert_eq!(attrs["sensitivity"], json!("confidential"));
        assert_eq!(attrs["sensitivity_source"], json!("registry"));
    }
}
