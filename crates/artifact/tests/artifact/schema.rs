//! The shipped `schemas/artifact.schema.json` must equal the generated schema.

use std::path::Path;

use serde_json::Value;

/// The value with every object's keys sorted, so the written file does not depend on whether
/// serde_json keeps insertion order in this build.
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

#[test]
fn the_shipped_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/artifact.schema.json");
    let generated = canonical(flowcompile_artifact::json_schema());
    if std::env::var_os("FLOWCOMPILE_BLESS").is_some_and(|v| v == "1") {
        let mut text = serde_json::to_string_pretty(&generated).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
    }
    let shipped: Option<Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    assert!(
        shipped.as_ref() == Some(&generated),
        "{} differs from the schema the types generate; rerun with FLOWCOMPILE_BLESS=1 to rewrite it",
        path.display()
    );
}

#[test]
fn the_schema_pins_the_format_and_requires_the_points() {
    let schema = flowcompile_artifact::json_schema();
    assert_eq!(schema["title"], "flowcompile artifact v2");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        ["format", "workflow", "provenance", "proxy", "points"]
    );
    assert_eq!(schema["additionalProperties"], false);
    let text = schema.to_string();
    for format in ["flowcompile.artifact.v1", "flowcompile.artifact.v2"] {
        assert!(text.contains(&format!("\"const\":\"{format}\"")), "{text}");
    }
    assert!(text.contains("\"accuracy_interval\""), "{text}");
}
