//! Naming a JSON value's kind in error messages, shared by every reader of JSON input.

use serde_json::Value;

/// A JSON value's kind with its article ("a number", "an object", "null"), for messages such as
/// "expected a string, found a number".
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_named_with_its_article() {
        let v: Value = serde_json::from_str(r#"[null, true, 1, "s", [], {}]"#).unwrap();
        let kinds: Vec<_> = v.as_array().unwrap().iter().map(kind_of).collect();
        assert_eq!(
            kinds,
            [
                "null",
                "a boolean",
                "a number",
                "a string",
                "an array",
                "an object"
            ]
        );
    }
}
