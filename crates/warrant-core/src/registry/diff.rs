//! Field-level diffs between two stored manifests, in a form a reviewer reads: `tools[crm-lookup].access`
//! changed from `read` to `write`, rather than "list element 3 changed".

use serde_json::{Map, Value};

/// One changed field. `old` is absent for an added field or element, `new` for a removed one.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl FieldChange {
    /// The JSON form kept in the change event.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("path".into(), Value::String(self.path.clone()));
        if let Some(old) = &self.old {
            object.insert("old".into(), old.clone());
        }
        if let Some(new) = &self.new {
            object.insert("new".into(), new.clone());
        }
        Value::Object(object)
    }
}

/// The changes that turn `old` into `new`, in a stable order (object keys sorted, list elements by key).
/// `Null` stands for "no object": a create lists every field as added, a delete every field as removed.
pub fn diff(old: &Value, new: &Value) -> Vec<FieldChange> {
    let empty = Value::Object(Map::new());
    let absent_as_empty = |value: &Value, other: &Value| value.is_null() && other.is_object();
    let old = if absent_as_empty(old, new) { &empty } else { old };
    let new = if absent_as_empty(new, old) { &empty } else { new };
    let mut changes = Vec::new();
    diff_into(String::new(), old, new, &mut changes);
    changes
}

fn diff_into(path: String, old: &Value, new: &Value, changes: &mut Vec<FieldChange>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = join(&path, key);
                match (old.get(key), new.get(key)) {
                    (Some(old), Some(new)) => diff_into(child, old, new, changes),
                    (old, new) => changes.push(FieldChange {
                        path: child,
                        old: old.cloned(),
                        new: new.cloned(),
                    }),
                }
            }
        }
        (Value::Array(old_items), Value::Array(new_items)) => match (keyed(old_items), keyed(new_items)) {
            (Some(old_keyed), Some(new_keyed)) => {
                let mut keys: Vec<&String> = old_keyed
                    .iter()
                    .chain(new_keyed.iter())
                    .map(|(key, _)| key)
                    .collect();
                keys.sort();
                keys.dedup();
                for key in keys {
                    let child = format!("{path}[{key}]");
                    let old = old_keyed.iter().find(|(k, _)| k == key).map(|(_, value)| *value);
                    let new = new_keyed.iter().find(|(k, _)| k == key).map(|(_, value)| *value);
                    match (old, new) {
                        (Some(old), Some(new)) => diff_into(child, old, new, changes),
                        (old, new) => changes.push(FieldChange {
                            path: child,
                            old: old.cloned(),
                            new: new.cloned(),
                        }),
                    }
                }
            }
            _ => changes.push(FieldChange {
                path,
                old: Some(Value::Array(old_items.clone())),
                new: Some(Value::Array(new_items.clone())),
            }),
        },
        _ => changes.push(FieldChange {
            path,
            old: Some(old.clone()),
            new: Some(new.clone()),
        }),
    }
}

/// A list whose elements can be told apart by a key: strings by themselves, objects by `tool` or `id`.
/// Diffing such lists by key keeps a reordering from reading as a change.
fn keyed(items: &[Value]) -> Option<Vec<(String, &Value)>> {
    let mut keyed = Vec::with_capacity(items.len());
    for item in items {
        let key = match item {
            Value::String(text) => text.clone(),
            Value::Object(object) => object
                .get("tool")
                .or_else(|| object.get("id"))?
                .as_str()?
                .to_owned(),
            _ => return None,
        };
        if keyed.iter().any(|(existing, _)| *existing == key) {
            return None;
        }
        keyed.push((key, item));
    }
    Some(keyed)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use serde_json::json;

    use super::diff;

    fn check(old: serde_json::Value, new: serde_json::Value, expected: Expect) {
        let rendered: Vec<String> = diff(&old, &new)
            .iter()
            .map(|change| change.to_json().to_string())
            .collect();
        expected.assert_eq(&rendered.join("\n"));
    }

    #[test]
    fn keyed_lists_diff_by_key_not_position() {
        check(
            json!({"tools": [{"tool": "a", "access": "read"}, {"tool": "b", "access": "read"}]}),
            json!({"tools": [{"tool": "b", "access": "write"}, {"tool": "a", "access": "read"}, {"tool": "c", "access": "read"}]}),
            expect![[r#"
                {"path":"tools[b].access","old":"read","new":"write"}
                {"path":"tools[c]","new":{"tool":"c","access":"read"}}"#]],
        );
    }

    #[test]
    fn scalar_fields_added_removed_changed() {
        check(
            json!({"owner": "ann", "model": "m1", "data_sources": ["x", "y"]}),
            json!({"owner": "bob", "prompt_version": "v2", "data_sources": ["y"]}),
            expect![[r#"
                {"path":"data_sources[x]","old":"x"}
                {"path":"model","old":"m1"}
                {"path":"owner","old":"ann","new":"bob"}
                {"path":"prompt_version","new":"v2"}"#]],
        );
    }

    #[test]
    fn a_create_lists_every_field_as_added() {
        check(
            serde_json::Value::Null,
            json!({"id": "a", "tools": []}),
            expect![[r#"
                {"path":"id","new":"a"}
                {"path":"tools","new":[]}"#]],
        );
    }

    #[test]
    fn equal_values_have_no_diff() {
        check(json!({"a": [1, 2]}), json!({"a": [1, 2]}), expect![[""]]);
    }
}
