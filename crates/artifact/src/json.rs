//! Artifact bytes in and out: JSON text, validation, digests and the JSON Schema.

use flowcompile_ir::json::kind_of;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::ArtifactError;
use crate::model::{
    Artifact, ArtifactFormat, FORMAT_PROTOTYPE_V2, FORMAT_V1, FORMAT_V2, INTERVAL_LEVEL,
};

/// Keys under which a prototype file may carry its format marker.
pub(crate) const V2_MARKER_KEYS: [&str; 4] = ["format", "schema_version", "version", "schema"];

impl Artifact {
    /// The artifact as pretty-printed JSON with a final newline.
    pub fn to_json_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .expect("an artifact has only string keys and serialisable values");
        text.push('\n');
        text
    }

    /// Reads a `flowcompile.artifact.v2` or `v1` artifact and checks its invariants
    /// ([`Artifact::validate`]).
    ///
    /// `source` labels the input in errors. A missing or different format marker is an error listing
    /// the supported formats; use [`parse_any`] to accept the prototype's format as well.
    pub fn from_json(text: &str, source: &str) -> Result<Artifact, ArtifactError> {
        let marker = read_marker(text, source)?;
        match marker.format {
            Some(Value::String(f)) if f == FORMAT_V1 || f == FORMAT_V2 => {}
            Some(Value::String(f)) => {
                return Err(ArtifactError::UnsupportedFormat {
                    file: source.into(),
                    found: f,
                })
            }
            Some(other) => {
                return Err(ArtifactError::UnsupportedFormat {
                    file: source.into(),
                    found: other.to_string(),
                })
            }
            None => {
                return Err(ArtifactError::MissingFormat {
                    file: source.into(),
                })
            }
        }
        // The plain parse is fast; on failure, parse again tracking the path for the message.
        let artifact: Artifact = match serde_json::from_str(text) {
            Ok(a) => a,
            Err(_) => {
                let mut de = serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    ArtifactError::Schema {
                        file: source.into(),
                        path,
                        line: inner.line(),
                        column: inner.column(),
                        message: strip_location(&inner),
                    }
                })?
            }
        };
        artifact.validate(source)?;
        Ok(artifact)
    }

    /// Checks what the types cannot: at least one point; ids `p0`, `p1`... in order; points sorted by
    /// latency then accuracy descending; accuracy in [0, 1] and latency >= 0, finite; intervals
    /// finite, ordered and around their prediction, only in a v2 artifact whose `proxy.intervals`
    /// says how they were made (at level 0.9); counts spelled as digits or `~<float>`; kept
    /// settings no more than total; digests 64 lowercase hex digits.
    pub fn validate(&self, source: &str) -> Result<(), ArtifactError> {
        let fail = |location: String, message: String| ArtifactError::Invalid {
            file: source.into(),
            location,
            message,
        };
        if self.points.is_empty() {
            return Err(fail("points".into(), "the artifact has no points".into()));
        }
        for (i, p) in self.points.iter().enumerate() {
            let at = || format!("points[{i}]");
            if p.id != format!("p{i}") {
                return Err(fail(at(), format!("id is '{}', expected 'p{i}'", p.id)));
            }
            let (acc, lat) = (p.predicted.accuracy, p.predicted.latency_s);
            if !(0.0..=1.0).contains(&acc) {
                return Err(fail(
                    at(),
                    format!("predicted accuracy {acc} is outside [0, 1]"),
                ));
            }
            if !(lat.is_finite() && lat >= 0.0) {
                return Err(fail(
                    at(),
                    format!("predicted latency {lat} is not a finite number >= 0"),
                ));
            }
            if i > 0 {
                let prev = &self.points[i - 1].predicted;
                let ordered =
                    prev.latency_s < lat || (prev.latency_s == lat && prev.accuracy >= acc);
                if !ordered {
                    return Err(fail(
                        at(),
                        format!(
                            "points must be sorted by latency ascending then accuracy descending, \
                             but {} (latency {lat}, accuracy {acc}) follows {} (latency {}, accuracy {})",
                            p.id,
                            self.points[i - 1].id,
                            prev.latency_s,
                            prev.accuracy
                        ),
                    ));
                }
            }
        }
        self.validate_intervals(source)?;
        if let Some(space) = &self.space {
            for (name, text) in [
                ("space.n_configs", &space.n_configs),
                (
                    "space.n_configs_after_pruning",
                    &space.n_configs_after_pruning,
                ),
            ] {
                if !is_count_text(text) {
                    return Err(fail(
                        name.into(),
                        format!(
                            "'{text}' is not a count (digits, or '~' and a number like ~1.2e57)"
                        ),
                    ));
                }
            }
            for (i, slot) in space.slots.iter().enumerate() {
                if slot.settings_kept > slot.settings_total {
                    return Err(fail(
                        format!("space.slots[{i}]"),
                        format!(
                            "slot '{}' keeps {} settings of {}",
                            slot.name, slot.settings_kept, slot.settings_total
                        ),
                    ));
                }
            }
        }
        let digests = [
            ("provenance.spec_sha256", &self.provenance.spec_sha256),
            (
                "provenance.profiles_sha256",
                &self.provenance.profiles_sha256,
            ),
        ];
        for (name, digest) in digests {
            if let Some(d) = digest {
                let hex = d.len() == 64
                    && d.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !hex {
                    return Err(fail(
                        name.into(),
                        format!("'{d}' is not 64 lowercase hex digits"),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Artifact {
    /// The interval invariants of [`Artifact::validate`].
    fn validate_intervals(&self, source: &str) -> Result<(), ArtifactError> {
        let fail = |location: String, message: String| ArtifactError::Invalid {
            file: source.into(),
            location,
            message,
        };
        let any = self.points.iter().any(|p| {
            p.predicted.accuracy_interval.is_some() || p.predicted.latency_interval_s.is_some()
        });
        match (self.format, &self.proxy.intervals) {
            (ArtifactFormat::V1, Some(_)) => {
                return Err(fail(
                    "proxy.intervals".into(),
                    format!("a {FORMAT_V1} artifact has no intervals (they came with {FORMAT_V2})"),
                ))
            }
            (_, None) if any => {
                return Err(fail(
                    "proxy.intervals".into(),
                    "points have intervals but proxy.intervals does not say how they were made"
                        .into(),
                ))
            }
            (_, Some(m)) if m.level != INTERVAL_LEVEL => {
                return Err(fail(
                    "proxy.intervals.level".into(),
                    format!(
                        "level {} is not {INTERVAL_LEVEL}: every interval of an artifact is a 90% interval",
                        m.level
                    ),
                ))
            }
            _ => {}
        }
        for (i, p) in self.points.iter().enumerate() {
            if let Some(d) = p.predicted.selection_optimism {
                if !(d.is_finite() && (-1.0..=1.0).contains(&d)) {
                    return Err(fail(
                        format!("points[{i}].predicted.selection_optimism"),
                        format!("{d} is not an accuracy correction: expected a finite number in [-1, 1]"),
                    ));
                }
                if self.proxy.selection.is_none() {
                    return Err(fail(
                        format!("points[{i}].predicted.selection_optimism"),
                        "the point is corrected for selection but proxy.selection does not say how"
                            .into(),
                    ));
                }
            }
            let checks = [
                (
                    "accuracy_interval",
                    p.predicted.accuracy_interval,
                    p.predicted.accuracy,
                    1.0,
                ),
                (
                    "latency_interval_s",
                    p.predicted.latency_interval_s,
                    p.predicted.latency_s,
                    f64::INFINITY,
                ),
            ];
            for (name, interval, value, top) in checks {
                let Some([lo, hi]) = interval else { continue };
                let ok = lo.is_finite()
                    && hi.is_finite()
                    && 0.0 <= lo
                    && lo <= value
                    && value <= hi
                    && hi <= top;
                if !ok {
                    let range = if top == 1.0 { " <= 1" } else { "" };
                    return Err(fail(
                        format!("points[{i}].predicted.{name}"),
                        format!(
                            "[{lo}, {hi}] is not an interval 0 <= lo <= {value} <= hi{range} of finite numbers"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Reads either a `flowcompile.artifact.v2` or `v1` artifact or a prototype `flowcompile.compiled.v2` file
/// (imported with [`crate::import_v2`]), by the format marker.
pub fn parse_any(text: &str, source: &str) -> Result<Artifact, ArtifactError> {
    let m = read_marker(text, source)?;
    let is_v2 = [m.format, m.schema_version, m.version, m.schema]
        .iter()
        .any(|v| v.as_ref().and_then(Value::as_str) == Some(FORMAT_PROTOTYPE_V2));
    if is_v2 {
        crate::import_v2(text, source)
    } else {
        Artifact::from_json(text, source)
    }
}

/// The format markers of a JSON object, read without building the rest of the document.
#[derive(serde::Deserialize)]
struct Marker {
    format: Option<Value>,
    schema_version: Option<Value>,
    version: Option<Value>,
    schema: Option<Value>,
}

/// Reads the format markers, reporting invalid JSON and a non-object top level.
fn read_marker(text: &str, source: &str) -> Result<Marker, ArtifactError> {
    serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            // Only the top level can mismatch: `Marker` takes any value under its keys.
            let found = match text.trim_start().chars().next() {
                Some('[') => "an array",
                Some('"') => "a string",
                Some('t' | 'f') => "a boolean",
                Some('n') => "null",
                _ => "a number",
            };
            ArtifactError::NotAnObject {
                file: source.into(),
                found,
            }
        } else {
            ArtifactError::Json {
                file: source.into(),
                line: e.line(),
                column: e.column(),
                message: strip_location(&e),
            }
        }
    })
}

/// Parses JSON text into a top-level object.
pub(crate) fn parse_json(text: &str, source: &str) -> Result<Map<String, Value>, ArtifactError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ArtifactError::Json {
        file: source.into(),
        line: e.line(),
        column: e.column(),
        message: strip_location(&e),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ArtifactError::NotAnObject {
            file: source.into(),
            found: kind_of(&other),
        }),
    }
}

/// A serde_json error's message without its trailing " at line L column C".
fn strip_location(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

fn is_count_text(text: &str) -> bool {
    match text.strip_prefix('~') {
        Some(approx) => approx
            .parse::<f64>()
            .is_ok_and(|x| x.is_finite() && x >= 0.0),
        None => !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// The lowercase hex SHA-256 digest of `bytes` (for the provenance of spec and profiles files).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The JSON Schema (draft 2020-12) of [`Artifact`], as shipped in `schemas/artifact.schema.json`.
pub fn json_schema() -> Value {
    schemars::schema_for!(Artifact).to_value()
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;

    use super::*;
    use crate::model::*;
    use flowcompile_ir::{ExecutionModel, LatencyModel};

    pub(crate) fn artifact() -> Artifact {
        let point = |i: usize, acc: f64, lat: f64| Point {
            id: format!("p{i}"),
            structure: PointStructure {
                index: i as u32,
                knobs: IndexMap::from([("gens".to_string(), 2)]),
            },
            settings: IndexMap::from([(
                "gen".to_string(),
                PointSetting {
                    model: "qwen3-8b".into(),
                    budget_tokens: 100,
                },
            )]),
            predicted: Predicted {
                accuracy: acc,
                latency_s: lat,
                accuracy_interval: Some([acc - 0.1, acc + 0.05]),
                latency_interval_s: Some([lat * 0.9, lat * 1.2]),
                selection_optimism: Some(0.01),
            },
            origin: None,
        };
        Artifact {
            format: ArtifactFormat::V2,
            workflow: "hotpotqa".into(),
            provenance: Provenance {
                tool: "flowcompile".into(),
                tool_version: "0.1.0".into(),
                spec_sha256: Some(sha256_hex(b"spec")),
                profiles_sha256: Some(sha256_hex(b"profiles")),
                models_label: Some("zoo (synthetic)".into()),
                imported_from: None,
            },
            proxy: ProxyModel {
                execution: ExecutionModel::Parallel,
                latency: LatencyModel::Measured,
                dependence: 0.0,
                intervals: Some(Intervals {
                    level: INTERVAL_LEVEL,
                    method: IntervalMethod::BootstrapItems,
                    resamples: 200,
                    seed: 7,
                    verified_accuracy_rms: None,
                    verified_latency_rel_rms: None,
                }),
                selection: Some(SelectionCorrection {
                    resamples: 60,
                    seed: 23,
                }),
            },
            space: Some(SpaceSummary {
                n_structures: 6,
                n_configs: "1043280".into(),
                n_configs_after_pruning: "~1.2e5".into(),
                slots: vec![SlotSummary {
                    name: "gen".into(),
                    agent: "gen".into(),
                    settings_total: 80,
                    settings_kept: 9,
                }],
            }),
            points: vec![point(0, 0.5, 1.0), point(1, 0.7, 2.0), point(2, 0.6, 2.0)],
        }
    }

    #[track_caller]
    fn check_err(text: &str, want: &str) {
        assert_eq!(
            Artifact::from_json(text, "a.json").unwrap_err().to_string(),
            want
        );
    }

    #[track_caller]
    fn check_invalid(edit: impl FnOnce(&mut Artifact), want: &str) {
        let mut a = artifact();
        edit(&mut a);
        assert_eq!(a.validate("a.json").unwrap_err().to_string(), want);
        check_err(&a.to_json_pretty(), want);
    }

    #[test]
    fn an_artifact_round_trips() {
        let a = artifact();
        let text = a.to_json_pretty();
        assert!(text.starts_with("{\n  \"format\": \"flowcompile.artifact.v2\",\n  \"workflow\""));
        assert!(text.contains("\"accuracy_interval\": [\n"), "{text}");
        assert!(text.contains("\"method\": \"bootstrap-items\""), "{text}");
        assert!(text.ends_with("}\n"));
        assert_eq!(Artifact::from_json(&text, "a.json").unwrap(), a);
        assert_eq!(parse_any(&text, "a.json").unwrap(), a);
    }

    /// A v1 artifact as flowcompile wrote it before intervals: no interval anywhere.
    fn v1() -> Artifact {
        let mut a = artifact();
        a.format = ArtifactFormat::V1;
        a.proxy.intervals = None;
        a.proxy.selection = None;
        for p in &mut a.points {
            p.predicted = Predicted::new(p.predicted.accuracy, p.predicted.latency_s);
        }
        a
    }

    #[test]
    fn a_v1_artifact_reads_without_intervals() {
        let text = v1().to_json_pretty();
        assert!(text.contains("\"format\": \"flowcompile.artifact.v1\""));
        assert!(!text.contains("interval"), "{text}");
        let back = Artifact::from_json(&text, "a.json").unwrap();
        assert_eq!(back.format, ArtifactFormat::V1);
        assert!(back
            .points
            .iter()
            .all(|p| p.predicted.accuracy_interval.is_none()));
        let mut with = v1();
        with.proxy.intervals = artifact().proxy.intervals;
        assert_eq!(
            with.validate("a.json").unwrap_err().to_string(),
            "a.json: proxy.intervals: a flowcompile.artifact.v1 artifact has no intervals (they came with flowcompile.artifact.v2)"
        );
    }

    #[test]
    fn intervals_are_checked() {
        check_invalid(
            |a| a.points[1].predicted.accuracy_interval = Some([0.75, 0.8]),
            "a.json: points[1].predicted.accuracy_interval: [0.75, 0.8] is not an interval 0 <= lo <= 0.7 <= hi <= 1 of finite numbers",
        );
        check_invalid(
            |a| a.points[0].predicted.accuracy_interval = Some([0.4, 1.5]),
            "a.json: points[0].predicted.accuracy_interval: [0.4, 1.5] is not an interval 0 <= lo <= 0.5 <= hi <= 1 of finite numbers",
        );
        check_invalid(
            |a| a.points[0].predicted.latency_interval_s = Some([-0.5, 2.0]),
            "a.json: points[0].predicted.latency_interval_s: [-0.5, 2] is not an interval 0 <= lo <= 1 <= hi of finite numbers",
        );
        check_invalid(
            |a| a.proxy.intervals = None,
            "a.json: proxy.intervals: points have intervals but proxy.intervals does not say how they were made",
        );
        check_invalid(
            |a| a.proxy.intervals.as_mut().unwrap().level = 0.95,
            "a.json: proxy.intervals.level: level 0.95 is not 0.9: every interval of an artifact is a 90% interval",
        );
        check_invalid(
            |a| a.proxy.selection = None,
            "a.json: points[0].predicted.selection_optimism: the point is corrected for selection but proxy.selection does not say how",
        );
        check_invalid(
            |a| a.points[1].predicted.selection_optimism = Some(1.5),
            "a.json: points[1].predicted.selection_optimism: 1.5 is not an accuracy correction: expected a finite number in [-1, 1]",
        );
        // NaN cannot be written as JSON; the check refuses it in memory.
        let mut a = artifact();
        a.points[0].predicted.accuracy_interval = Some([f64::NAN, 0.6]);
        assert!(a.validate("a.json").is_err());
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        check_err(
            "{\n  \"format\": }",
            "a.json:2:13: invalid JSON: expected value",
        );
    }

    #[test]
    fn a_non_object_is_refused() {
        for (text, kind) in [
            ("[1]", "an array"),
            (" \"x\"", "a string"),
            ("true", "a boolean"),
            ("null", "null"),
            ("-3", "a number"),
        ] {
            let want = format!("a.json: expected a JSON object at the top level, found {kind}");
            check_err(text, &want);
            assert_eq!(parse_any(text, "a.json").unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn missing_or_wrong_format_lists_the_supported_ones() {
        check_err(
            "{}",
            &format!(
                "a.json: no 'format' field saying what this file is; supported formats: {}",
                crate::SUPPORTED_FORMATS
            ),
        );
        check_err(
            "{\"format\": \"flowcompile.artifact.v9\"}",
            &format!(
                "a.json: unsupported format 'flowcompile.artifact.v9'; supported formats: {}",
                crate::SUPPORTED_FORMATS
            ),
        );
        check_err(
            "{\"format\": 1}",
            &format!(
                "a.json: unsupported format '1'; supported formats: {}",
                crate::SUPPORTED_FORMATS
            ),
        );
        let v2 = "{\"schema_version\": \"flowcompile.compiled.v2\", \"configs\": []}";
        assert!(matches!(
            Artifact::from_json(v2, "a.json"),
            Err(ArtifactError::MissingFormat { .. })
        ));
        assert_eq!(
            parse_any("{\"format\": \"x\"}", "a.json").unwrap_err(),
            ArtifactError::UnsupportedFormat {
                file: "a.json".into(),
                found: "x".into()
            }
        );
    }

    #[test]
    fn schema_errors_name_the_path_and_line() {
        let text = artifact()
            .to_json_pretty()
            .replace("\"accuracy\": 0.7", "\"accuracy\": \"high\"");
        let err = Artifact::from_json(&text, "a.json").unwrap_err();
        let ArtifactError::Schema { path, line, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(path, "points[1].predicted.accuracy");
        assert_eq!(
            text.lines().nth(line - 1).unwrap().trim(),
            "\"accuracy\": \"high\","
        );
        assert!(
            err.to_string()
                .contains("invalid type: string \"high\", expected f64"),
            "{err}"
        );
        let text = artifact()
            .to_json_pretty()
            .replace("\"workflow\"", "\"workflow_name\"");
        let err = Artifact::from_json(&text, "a.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `workflow_name`"), "{err}");
    }

    #[test]
    fn invariants_are_checked() {
        check_invalid(
            |a| a.points.clear(),
            "a.json: points: the artifact has no points",
        );
        check_invalid(
            |a| a.points[1].id = "x".into(),
            "a.json: points[1]: id is 'x', expected 'p1'",
        );
        check_invalid(
            |a| a.points[0].predicted.accuracy = 1.5,
            "a.json: points[0]: predicted accuracy 1.5 is outside [0, 1]",
        );
        check_invalid(
            |a| a.points[0].predicted.latency_s = -1.0,
            "a.json: points[0]: predicted latency -1 is not a finite number >= 0",
        );
        check_invalid(
            |a| a.points[2].predicted.accuracy = 0.8,
            "a.json: points[2]: points must be sorted by latency ascending then accuracy descending, \
             but p2 (latency 2, accuracy 0.8) follows p1 (latency 2, accuracy 0.7)",
        );
        check_invalid(
            |a| a.space.as_mut().unwrap().n_configs = "1,043,280".into(),
            "a.json: space.n_configs: '1,043,280' is not a count (digits, or '~' and a number like ~1.2e57)",
        );
        check_invalid(
            |a| a.space.as_mut().unwrap().n_configs_after_pruning = "~lots".into(),
            "a.json: space.n_configs_after_pruning: '~lots' is not a count (digits, or '~' and a number like ~1.2e57)",
        );
        check_invalid(
            |a| a.space.as_mut().unwrap().slots[0].settings_kept = 81,
            "a.json: space.slots[0]: slot 'gen' keeps 81 settings of 80",
        );
        check_invalid(
            |a| a.provenance.spec_sha256 = Some("ABC".into()),
            "a.json: provenance.spec_sha256: 'ABC' is not 64 lowercase hex digits",
        );
    }

    #[test]
    fn sort_points_orders_and_renumbers() {
        let mut a = artifact();
        a.points.reverse();
        a.sort_points();
        let ids: Vec<&str> = a.points.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["p0", "p1", "p2"]);
        let acc: Vec<f64> = a.points.iter().map(|p| p.predicted.accuracy).collect();
        assert_eq!(acc, [0.5, 0.7, 0.6]);
        a.validate("a.json").unwrap();
    }

    #[test]
    fn sha256_matches_a_known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
