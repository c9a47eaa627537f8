//! `kubectl explain` documents every field: each kind and each property in its CRD schema has a
//! description (from the Rust doc comments).

use serde_json::Value;

/// Collects the path of every property under `schema` that has no non-empty description.
fn undescribed(schema: &Value, path: &str, missing: &mut Vec<String>) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let path = format!("{path}.{name}");
            if !has_description(property) {
                missing.push(path.clone());
            }
            undescribed(property, &path, missing);
        }
    }
    if let Some(items) = schema.get("items") {
        undescribed(items, &format!("{path}[]"), missing);
    }
    if let Some(values) = schema.get("additionalProperties") {
        undescribed(values, &format!("{path}{{}}"), missing);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for (i, branch) in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            undescribed(branch, &format!("{path}({key}[{i}])"), missing);
        }
    }
}

fn has_description(schema: &Value) -> bool {
    schema
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| !d.trim().is_empty())
}

#[test]
fn every_kind_and_property_has_a_description() {
    let mut missing = Vec::new();
    for crd in aws_service_operator::crds() {
        let kind = &crd.spec.names.kind;
        for version in &crd.spec.versions {
            let schema = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .unwrap_or_else(|| panic!("{kind} {} has no openAPIV3Schema", version.name));
            let schema = serde_json::to_value(schema).expect("a schema always serialises");
            match schema.get("description").and_then(Value::as_str) {
                Some(d) if !d.trim().is_empty() && !d.starts_with("Auto-generated") => {}
                other => missing.push(format!("{kind} (top level: {other:?})")),
            }
            undescribed(&schema, kind, &mut missing);
        }
    }
    assert!(
        missing.is_empty(),
        "{} without a description:\n{}",
        missing.len(),
        missing.join("\n")
    );
}
