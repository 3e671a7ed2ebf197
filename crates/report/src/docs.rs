//! Serde types of the documents a report reads besides the artifact: the held-out validation
//! (`flowcompile.validation.v1`, written by `flowcompile test`) and the ground truth
//! (`flowcompile.truth.v1`, written by `flowcompile truth`). Both are read tolerantly: unknown fields
//! are ignored and every field the report does not need is optional, so newer writers stay readable.

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ReportError;

/// Format marker of a validation document.
pub const VALIDATION_FORMAT: &str = "flowcompile.validation.v1";

/// Format marker of a ground-truth document.
pub const TRUTH_FORMAT: &str = "flowcompile.truth.v1";

/// Held-out measurements of some artifact points (`flowcompile.validation.v1`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Validation {
    /// Always `flowcompile.validation.v1`.
    pub format: String,
    /// The workflow the artifact compiled.
    pub workflow: String,
    /// Hex SHA-256 of the artifact file the points came from.
    #[serde(default)]
    pub artifact_sha256: Option<String>,
    /// The held-out data file.
    #[serde(default)]
    pub data: Option<String>,
    /// Items in the held-out data.
    #[serde(default)]
    pub n_items: Option<u64>,
    /// Label of the models measured (e.g. `zoo (synthetic)`); absent or null for real models.
    #[serde(default)]
    pub models_label: Option<String>,
    /// How measured latency was obtained: `modelled` (the server's) or `wall` (clock seconds).
    #[serde(default)]
    pub latency_source: Option<String>,
    /// The validated points.
    pub points: Vec<ValidatedPoint>,
    /// Agreement statistics between predictions and measurements.
    #[serde(default)]
    pub fidelity: Option<Fidelity>,
}

/// One artifact point as predicted and as measured on held-out data.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ValidatedPoint {
    /// The artifact point id (`p3`).
    pub id: String,
    /// The point's structure index.
    #[serde(default)]
    pub structure: Option<u32>,
    /// What the artifact predicted.
    pub predicted: Metrics,
    /// What was measured; null when the point could not be measured.
    #[serde(default)]
    pub measured: Option<Measured>,
}

/// An accuracy and a latency.
#[derive(Copy, Clone, Debug, PartialEq, Deserialize)]
pub struct Metrics {
    /// Accuracy in [0, 1].
    pub accuracy: f64,
    /// Seconds per query.
    pub latency_s: f64,
}

/// Measured metrics of a point over held-out items.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Measured {
    /// Fraction of items answered correctly.
    pub accuracy: f64,
    /// Mean seconds per item.
    pub latency_s: f64,
    /// Median seconds per item.
    #[serde(default)]
    pub latency_p50_s: Option<f64>,
    /// 95th percentile seconds per item.
    #[serde(default)]
    pub latency_p95_s: Option<f64>,
    /// Items run.
    #[serde(default)]
    pub n: Option<u64>,
    /// Items that failed (counted as wrong).
    #[serde(default)]
    pub n_failed: Option<u64>,
    /// Mean tokens per item.
    #[serde(default)]
    pub tokens_mean: Option<f64>,
    /// Total cost in US dollars, when prices are known.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// How this latency was obtained, when given per point.
    #[serde(default)]
    pub latency_source: Option<String>,
}

/// Fidelity statistics for accuracy and latency.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Fidelity {
    /// Predicted vs measured accuracy.
    #[serde(default)]
    pub accuracy: Option<FidelityStats>,
    /// Predicted vs measured latency.
    #[serde(default)]
    pub latency: Option<FidelityStats>,
}

/// How well predictions of one metric agree with measurements.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct FidelityStats {
    /// Spearman rank correlation.
    #[serde(default)]
    pub spearman: Option<f64>,
    /// Fraction of point pairs ordered the same way by prediction and measurement.
    #[serde(default)]
    pub pairwise_agreement: Option<f64>,
    /// Mean absolute error.
    #[serde(default)]
    pub mae: Option<f64>,
    /// Mean absolute error after the affine calibration.
    #[serde(default)]
    pub mae_calibrated: Option<f64>,
    /// Least-squares affine map from predicted to measured.
    #[serde(default)]
    pub affine: Option<Affine>,
}

/// `measured ~ slope * predicted + intercept`.
#[derive(Copy, Clone, Debug, PartialEq, Deserialize)]
pub struct Affine {
    /// Slope.
    pub slope: f64,
    /// Intercept.
    pub intercept: f64,
}

/// The measured ground truth of a workflow's space (`flowcompile.truth.v1`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Truth {
    /// Always `flowcompile.truth.v1`.
    pub format: String,
    /// The workflow measured.
    pub workflow: String,
    /// Configurations measured (a number or a spelled count).
    #[serde(default)]
    pub n_configs: Option<Value>,
    /// Items each configuration was measured on.
    #[serde(default)]
    pub n_items: Option<u64>,
    /// The measured Pareto frontier.
    pub frontier: Vec<TruthPoint>,
    /// The best configuration with every agent on one setting.
    #[serde(default)]
    pub best_uniform: Option<TruthPoint>,
    /// How a compiled artifact compares with the truth (free-form numbers by name).
    #[serde(default)]
    pub comparison: Option<IndexMap<String, Value>>,
}

/// A measured configuration.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TruthPoint {
    /// Structure index.
    #[serde(default)]
    pub structure: Option<u32>,
    /// Setting of each slot.
    #[serde(default)]
    pub settings: IndexMap<String, TruthSetting>,
    /// Measured accuracy.
    pub accuracy: f64,
    /// Measured seconds per query.
    pub latency_s: f64,
}

/// A (model, budget) setting as the truth document spells it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TruthSetting {
    /// Model name.
    pub model: String,
    /// Thinking-token budget (key `budget_tokens`, or `budget`).
    #[serde(alias = "budget")]
    pub budget_tokens: u32,
}

impl Validation {
    /// Parses a validation document; `source` names it in errors, which give the JSON path.
    pub fn from_json(text: &str, source: &str) -> Result<Validation, ReportError> {
        let doc: Validation = parse(text, source, VALIDATION_FORMAT)?;
        for (i, p) in doc.points.iter().enumerate() {
            check_metric(
                source,
                &format!("points[{i}].predicted"),
                p.predicted.accuracy,
                p.predicted.latency_s,
            )?;
            if let Some(m) = &p.measured {
                check_metric(
                    source,
                    &format!("points[{i}].measured"),
                    m.accuracy,
                    m.latency_s,
                )?;
            }
        }
        Ok(doc)
    }
}

impl Truth {
    /// Parses a ground-truth document; `source` names it in errors, which give the JSON path.
    pub fn from_json(text: &str, source: &str) -> Result<Truth, ReportError> {
        let doc: Truth = parse(text, source, TRUTH_FORMAT)?;
        for (i, p) in doc.frontier.iter().enumerate() {
            check_metric(source, &format!("frontier[{i}]"), p.accuracy, p.latency_s)?;
        }
        if let Some(p) = &doc.best_uniform {
            check_metric(source, "best_uniform", p.accuracy, p.latency_s)?;
        }
        Ok(doc)
    }
}

/// Accuracy in [0, 1] and a finite latency >= 0, or an error at `path`.
fn check_metric(
    source: &str,
    path: &str,
    accuracy: f64,
    latency_s: f64,
) -> Result<(), ReportError> {
    let invalid = |field: &str, expected: &str, found: f64| ReportError::Document {
        file: source.into(),
        path: format!("{path}.{field}"),
        message: format!("expected {expected}, found {found}"),
    };
    if !(0.0..=1.0).contains(&accuracy) {
        return Err(invalid("accuracy", "a number in [0, 1]", accuracy));
    }
    if !(latency_s.is_finite() && latency_s >= 0.0) {
        return Err(invalid(
            "latency_s",
            "a finite number of seconds >= 0",
            latency_s,
        ));
    }
    Ok(())
}

/// Checks the format marker, then deserialises, locating a failure by JSON path, line and column.
fn parse<T: DeserializeOwned>(text: &str, source: &str, format: &str) -> Result<T, ReportError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ReportError::Json {
        file: source.into(),
        line: e.line(),
        column: e.column(),
        message: strip_location(&e),
    })?;
    match value.get("format") {
        Some(Value::String(f)) if f == format => {}
        Some(other) => {
            return Err(ReportError::Document {
                file: source.into(),
                path: "format".into(),
                message: format!("expected \"{format}\", found {other}"),
            })
        }
        None => {
            return Err(ReportError::Document {
                file: source.into(),
                path: "format".into(),
                message: format!("missing; expected \"{format}\""),
            })
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = match e.path().to_string() {
            root if root == "." => "top level".to_string(),
            path => path,
        };
        ReportError::Document {
            file: source.into(),
            path,
            message: e.into_inner().to_string(),
        }
    })
}

/// serde_json's message without its " at line L column C" suffix (the error names them itself).
fn strip_location(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALIDATION: &str = r#"{"format": "flowcompile.validation.v1", "workflow": "math",
        "artifact_sha256": "ab", "n_items": 20, "models_label": null, "extra": [1, 2],
        "points": [{"id": "p0", "structure": 1, "predicted": {"accuracy": 0.5, "latency_s": 1.0},
                    "measured": {"accuracy": 0.45, "latency_s": 1.2, "n": 20, "unknown": true}},
                   {"id": "p1", "predicted": {"accuracy": 0.7, "latency_s": 2.0}, "measured": null}],
        "fidelity": {"accuracy": {"spearman": 1.0, "affine": {"slope": 1.0, "intercept": 0.0}}}}"#;

    #[test]
    fn validation_reads_with_extra_and_missing_fields() {
        let v = Validation::from_json(VALIDATION, "v.json").unwrap();
        assert_eq!(v.points.len(), 2);
        assert_eq!(v.points[0].measured.as_ref().unwrap().n, Some(20));
        assert!(v.points[1].measured.is_none());
        let f = v.fidelity.unwrap();
        assert_eq!(f.accuracy.unwrap().spearman, Some(1.0));
        assert!(f.latency.is_none());
    }

    #[test]
    fn a_wrong_marker_or_field_is_located() {
        let e =
            Validation::from_json(r#"{"format": "flowcompile.truth.v1"}"#, "v.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "v.json: format: expected \"flowcompile.validation.v1\", found \"flowcompile.truth.v1\""
        );
        let bad = VALIDATION.replace("\"latency_s\": 1.2", "\"latency_s\": \"slow\"");
        let e = Validation::from_json(&bad, "v.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("v.json: points[0].measured.latency_s: invalid type"),
            "{e}"
        );
        let bad = VALIDATION.replace("\"accuracy\": 0.45", "\"accuracy\": 45");
        let e = Validation::from_json(&bad, "v.json")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "v.json: points[0].measured.accuracy: expected a number in [0, 1], found 45"
        );
        let e = Validation::from_json("{\"format\": ", "v.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("v.json:1:"), "{e}");
    }

    #[test]
    fn truth_accepts_both_budget_spellings() {
        let text = r#"{"format": "flowcompile.truth.v1", "workflow": "math", "n_configs": "4906417725",
            "frontier": [{"structure": 0, "settings": {"a": {"model": "m", "budget_tokens": 10}},
                          "accuracy": 0.4, "latency_s": 1.0},
                         {"structure": 2, "settings": {"a": {"model": "m", "budget": 20}},
                          "accuracy": 0.6, "latency_s": 2.0}],
            "best_uniform": null, "comparison": {"hypervolume_ratio": 0.97}}"#;
        let t = Truth::from_json(text, "t.json").unwrap();
        assert_eq!(t.frontier[1].settings["a"].budget_tokens, 20);
        assert_eq!(t.comparison.unwrap()["hypervolume_ratio"], 0.97);
    }
}
