//! Import of the research prototype's `flowcompile.compiled.v2` output.

use indexmap::IndexMap;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};

use flowcompile_ir::{ExecutionModel, LatencyModel};

use crate::error::ArtifactError;
use crate::json::{parse_json, V2_MARKER_KEYS};
use crate::model::{
    Artifact, ArtifactFormat, Origin, Point, PointSetting, PointStructure, Predicted, Provenance,
    ProxyModel, FORMAT_PROTOTYPE_V2,
};
use flowcompile_ir::json::kind_of;

/// Keys under which a prototype config may hold its per-agent settings.
const SETTINGS_KEYS: [&str; 3] = ["agents", "agent_configs", "config"];

/// Reads the prototype's `flowcompile.compiled.v2` JSON into an artifact.
///
/// The marker may sit under `format`, `schema_version`, `version` or `schema`. Each entry of `configs`
/// needs `metrics.expected_accuracy` and `metrics.expected_latency`, and per-agent settings under
/// `agents`, `agent_configs` or `config`, each `{model, budget}`, `{model_name, thinking_budget}`,
/// `[model, budget]` or `{setting: "<model>_budget_<n>"}`; other keys are ignored. Structure ids
/// become indices (the ids themselves when all are integers, else in order of first appearance) and
/// the original ids are kept as each point's [`Origin`]. The prototype composes latency sequentially
/// from token counts, so the proxy is recorded as sequential and token-based.
pub fn import_v2(text: &str, source: &str) -> Result<Artifact, ArtifactError> {
    let top = parse_json(text, source)?;
    check_marker(&top, source)?;
    let orders = settings_orders(text);
    let invalid = |location: String, message: String| ArtifactError::Invalid {
        file: source.into(),
        location,
        message,
    };
    let workflow = ["workflow_type", "workflow", "name"]
        .iter()
        .find_map(|k| top.get(*k).and_then(Value::as_str))
        .unwrap_or("imported")
        .to_string();
    let configs = match top.get("configs") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        Some(Value::Array(_)) => {
            return Err(invalid("configs".into(), "the file has no configs".into()))
        }
        Some(other) => {
            return Err(invalid(
                "configs".into(),
                format!("expected a list of configs, found {}", kind_of(other)),
            ))
        }
        None => {
            return Err(invalid(
                "configs".into(),
                "missing the list of configs".into(),
            ))
        }
    };
    let mut structure_keys: Vec<String> = Vec::new();
    let mut point_keys: Vec<usize> = Vec::with_capacity(configs.len());
    let mut points = Vec::with_capacity(configs.len());
    for (index, config) in configs.iter().enumerate() {
        let at = format!("configs[{index}]");
        let Value::Object(config) = config else {
            return Err(invalid(
                at,
                format!("expected an object, found {}", kind_of(config)),
            ));
        };
        let metric = |field: &'static str| {
            config
                .get("metrics")
                .and_then(|m| m.get(field))
                .and_then(Value::as_f64)
                .ok_or(ArtifactError::MissingMetrics {
                    file: source.into(),
                    index,
                    field,
                })
        };
        let accuracy = metric("expected_accuracy")?;
        let latency_s = metric("expected_latency")?;
        if !(0.0..=1.0).contains(&accuracy) {
            return Err(invalid(
                at,
                format!("expected_accuracy {accuracy} is outside [0, 1]"),
            ));
        }
        if latency_s < 0.0 {
            return Err(invalid(
                at,
                format!("expected_latency {latency_s} is negative"),
            ));
        }
        let config_id = config
            .get("config_id")
            .map_or_else(|| index.to_string(), id_text);
        let structure_id = config
            .get("structure_id")
            .map_or_else(|| "null".to_string(), id_text);
        match structure_keys.iter().position(|k| *k == structure_id) {
            Some(k) => point_keys.push(k),
            None => {
                point_keys.push(structure_keys.len());
                structure_keys.push(structure_id.clone());
            }
        }
        let Some((key, agents)) = SETTINGS_KEYS
            .iter()
            .find_map(|k| config.get(*k).and_then(Value::as_object).map(|m| (*k, m)))
        else {
            return Err(invalid(
                at,
                "no per-agent settings (expected an object under 'agents', 'agent_configs' or 'config')".into(),
            ));
        };
        let file_order = orders.get(index).and_then(|o| o.get(key));
        let names: Vec<&String> = match file_order {
            Some(names) if names.len() == agents.len() => names.iter().collect(),
            _ => agents.keys().collect(),
        };
        let mut settings = IndexMap::with_capacity(agents.len());
        for agent in names {
            let Some(v) = agents.get(agent) else { continue };
            let setting =
                parse_setting(v).map_err(|m| invalid(format!("{at}.{key}.{agent}"), m))?;
            settings.insert(agent.clone(), setting);
        }
        points.push(Point {
            id: String::new(),
            structure: PointStructure {
                index: 0,
                knobs: IndexMap::new(),
            },
            settings,
            predicted: Predicted::new(accuracy, latency_s),
            origin: Some(Origin {
                config_id,
                structure_id,
            }),
        });
    }
    let numeric: Option<Vec<u32>> = structure_keys.iter().map(|k| k.parse().ok()).collect();
    for (p, k) in points.iter_mut().zip(point_keys) {
        p.structure.index = numeric.as_ref().map_or(k as u32, |n| n[k]);
    }
    let mut artifact = Artifact {
        format: ArtifactFormat::V1,
        workflow,
        provenance: Provenance {
            tool: "flowcompile".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            spec_sha256: None,
            profiles_sha256: None,
            models_label: None,
            imported_from: Some(source.into()),
        },
        proxy: ProxyModel {
            execution: ExecutionModel::Sequential,
            latency: LatencyModel::Tokens,
            dependence: 0.0,
            intervals: None,
            selection: None,
        },
        space: None,
        points,
    };
    artifact.sort_points();
    artifact.validate(source)?;
    Ok(artifact)
}

/// An ordered view of a prototype file: per config, per settings key, the agent names in file order
/// (a `serde_json::Value` map may not keep it).
fn settings_orders(text: &str) -> Vec<IndexMap<String, Vec<String>>> {
    #[derive(Deserialize)]
    struct File {
        configs: Option<Configs>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Configs {
        List(Vec<Config>),
        Other(IgnoredAny),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Config {
        Object(IndexMap<String, Field>),
        Other(IgnoredAny),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Field {
        Object(IndexMap<String, IgnoredAny>),
        Other(IgnoredAny),
    }
    let Ok(File {
        configs: Some(Configs::List(configs)),
    }) = serde_json::from_str(text)
    else {
        return Vec::new();
    };
    configs
        .into_iter()
        .map(|c| match c {
            Config::Object(fields) => fields
                .into_iter()
                .filter_map(|(k, f)| match f {
                    Field::Object(m) => Some((k, m.into_keys().collect())),
                    Field::Other(_) => None,
                })
                .collect(),
            Config::Other(_) => IndexMap::new(),
        })
        .collect()
}

fn check_marker(top: &Map<String, Value>, source: &str) -> Result<(), ArtifactError> {
    let markers: Vec<&Value> = V2_MARKER_KEYS.iter().filter_map(|k| top.get(*k)).collect();
    if markers
        .iter()
        .any(|v| v.as_str() == Some(FORMAT_PROTOTYPE_V2))
    {
        return Ok(());
    }
    match markers.first() {
        None => Err(ArtifactError::MissingFormat {
            file: source.into(),
        }),
        Some(v) => Err(ArtifactError::UnsupportedFormat {
            file: source.into(),
            found: v.as_str().map_or_else(|| v.to_string(), str::to_string),
        }),
    }
}

/// An id as text: a string as is, anything else as JSON.
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_setting(v: &Value) -> Result<PointSetting, String> {
    let (model, budget) = match v {
        Value::Array(pair) if pair.len() == 2 => (pair[0].as_str(), Some(&pair[1])),
        Value::Object(m) => {
            let model = m.get("model").or_else(|| m.get("model_name")).and_then(Value::as_str);
            let budget = m.get("budget").or_else(|| m.get("thinking_budget"));
            match (model, budget, m.get("setting").and_then(Value::as_str)) {
                (Some(model), Some(budget), _) => (Some(model), Some(budget)),
                (_, _, Some(setting)) => {
                    let (model, budget) = setting.rsplit_once("_budget_").ok_or_else(|| {
                        format!("setting '{setting}' is not of the form '<model>_budget_<n>'")
                    })?;
                    let budget = budget
                        .parse()
                        .map_err(|_| format!("setting '{setting}' has no integer budget"))?;
                    return Ok(PointSetting {
                        model: model.into(),
                        budget_tokens: budget,
                    });
                }
                (model, budget, None) => (model, budget),
            }
        }
        other => {
            return Err(format!(
                "expected {{model, budget}}, {{model_name, thinking_budget}} or [model, budget], found {}",
                kind_of(other)
            ))
        }
    };
    let model = model.ok_or("missing the model name (a string under 'model' or 'model_name')")?;
    let budget =
        budget.ok_or("missing the budget (an integer under 'budget' or 'thinking_budget')")?;
    let budget_tokens = match budget {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|x| x.fract() == 0.0 && *x >= 0.0)
                .map(|x| x as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .and_then(|b| u32::try_from(b).ok())
    .ok_or_else(|| format!("budget {budget} is not an integer from 0 to 4294967295"))?;
    Ok(PointSetting {
        model: model.into(),
        budget_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_err(text: &str, want: &str) {
        assert_eq!(import_v2(text, "v2.json").unwrap_err().to_string(), want);
    }

    fn config(extra: &str) -> String {
        format!(
            "{{\"schema_version\": \"flowcompile.compiled.v2\", \"configs\": [{{\"config_id\": \"c0\", \
             \"structure_id\": 1, \"metrics\": {{\"expected_accuracy\": 0.5, \"expected_latency\": 2}}{extra}}}]}}"
        )
    }

    #[test]
    fn the_marker_may_sit_under_any_known_key() {
        for key in ["format", "version", "schema", "schema_version"] {
            let text = format!(
                "{{\"{key}\": \"flowcompile.compiled.v2\", \"configs\": [{{\"metrics\": \
                 {{\"expected_accuracy\": 1, \"expected_latency\": 0}}, \"config\": {{\"a\": [\"m\", 5]}}}}]}}"
            );
            let a = import_v2(&text, "v2.json").unwrap();
            assert_eq!(
                a.points[0].settings["a"],
                PointSetting {
                    model: "m".into(),
                    budget_tokens: 5
                }
            );
            assert_eq!(a.workflow, "imported");
            assert_eq!(a.points[0].origin.as_ref().unwrap().structure_id, "null");
        }
    }

    #[test]
    fn missing_or_wrong_marker_is_refused() {
        check_err(
            "{\"configs\": []}",
            &format!(
                "v2.json: no 'format' field saying what this file is; supported formats: {}",
                crate::SUPPORTED_FORMATS
            ),
        );
        check_err(
            "{\"schema_version\": \"flowcompile.compiled.v1\"}",
            &format!(
                "v2.json: unsupported format 'flowcompile.compiled.v1'; supported formats: {}",
                crate::SUPPORTED_FORMATS
            ),
        );
        check_err(
            "7",
            "v2.json: expected a JSON object at the top level, found a number",
        );
        check_err(
            "{",
            "v2.json:1:1: invalid JSON: EOF while parsing an object",
        );
    }

    #[test]
    fn configs_must_be_a_non_empty_list_of_objects() {
        let head = "{\"version\": \"flowcompile.compiled.v2\"";
        check_err(
            &format!("{head}}}"),
            "v2.json: configs: missing the list of configs",
        );
        check_err(
            &format!("{head}, \"configs\": []}}"),
            "v2.json: configs: the file has no configs",
        );
        check_err(
            &format!("{head}, \"configs\": {{}}}}"),
            "v2.json: configs: expected a list of configs, found an object",
        );
        check_err(
            &format!("{head}, \"configs\": [3]}}"),
            "v2.json: configs[0]: expected an object, found a number",
        );
    }

    #[test]
    fn a_config_missing_metrics_names_its_index() {
        let text = "{\"version\": \"flowcompile.compiled.v2\", \"configs\": [\
                    {\"metrics\": {\"expected_accuracy\": 0.1, \"expected_latency\": 1}, \"agents\": {}},\
                    {\"metrics\": {\"expected_accuracy\": 0.2}, \"agents\": {}}]}";
        check_err(
            text,
            "v2.json: configs[1]: missing 'expected_latency' (a number in 'metrics')",
        );
        let text = "{\"version\": \"flowcompile.compiled.v2\", \"configs\": [{\"agents\": {}}]}";
        check_err(
            text,
            "v2.json: configs[0]: missing 'expected_accuracy' (a number in 'metrics')",
        );
    }

    #[test]
    fn metrics_out_of_range_are_refused() {
        let text = config(", \"agents\": {}").replace("0.5", "1.5");
        check_err(
            &text,
            "v2.json: configs[0]: expected_accuracy 1.5 is outside [0, 1]",
        );
        let text = config(", \"agents\": {}").replace(": 2}", ": -2}");
        check_err(
            &text,
            "v2.json: configs[0]: expected_latency -2 is negative",
        );
    }

    #[test]
    fn settings_are_required_and_checked() {
        check_err(
            &config(""),
            "v2.json: configs[0]: no per-agent settings (expected an object under 'agents', 'agent_configs' or 'config')",
        );
        check_err(
            &config(", \"agents\": {\"gen\": 5}"),
            "v2.json: configs[0].agents.gen: expected {model, budget}, {model_name, thinking_budget} or [model, budget], found a number",
        );
        check_err(
            &config(", \"agents\": {\"gen\": {\"budget\": 5}}"),
            "v2.json: configs[0].agents.gen: missing the model name (a string under 'model' or 'model_name')",
        );
        check_err(
            &config(", \"agent_configs\": {\"gen\": {\"model_name\": \"m\"}}"),
            "v2.json: configs[0].agent_configs.gen: missing the budget (an integer under 'budget' or 'thinking_budget')",
        );
        check_err(
            &config(", \"agents\": {\"gen\": [\"m\", 1.5]}"),
            "v2.json: configs[0].agents.gen: budget 1.5 is not an integer from 0 to 4294967295",
        );
        check_err(
            &config(", \"agents\": {\"gen\": {\"setting\": \"qwen3_8b\"}}"),
            "v2.json: configs[0].agents.gen: setting 'qwen3_8b' is not of the form '<model>_budget_<n>'",
        );
        check_err(
            &config(", \"agents\": {\"gen\": {\"setting\": \"qwen3_8b_budget_x\"}}"),
            "v2.json: configs[0].agents.gen: setting 'qwen3_8b_budget_x' has no integer budget",
        );
    }

    #[test]
    fn setting_strings_and_numeric_strings_are_read() {
        let a = import_v2(
            &config(", \"agents\": {\"g\": {\"setting\": \"qwen3_8b_budget_100\"}, \"h\": {\"model\": \"m\", \"budget\": \"7\"}}"),
            "v2.json",
        )
        .unwrap();
        assert_eq!(
            a.points[0].settings["g"],
            PointSetting {
                model: "qwen3_8b".into(),
                budget_tokens: 100
            }
        );
        assert_eq!(
            a.points[0].settings["h"],
            PointSetting {
                model: "m".into(),
                budget_tokens: 7
            }
        );
        assert_eq!(a.points[0].structure.index, 1);
    }

    #[test]
    fn string_structure_ids_are_numbered_by_first_appearance() {
        let text = "{\"version\": \"flowcompile.compiled.v2\", \"configs\": [\
            {\"structure_id\": \"gen3\", \"metrics\": {\"expected_accuracy\": 0.1, \"expected_latency\": 1}, \"agents\": {}},\
            {\"structure_id\": \"gen1\", \"metrics\": {\"expected_accuracy\": 0.2, \"expected_latency\": 2}, \"agents\": {}},\
            {\"structure_id\": \"gen3\", \"metrics\": {\"expected_accuracy\": 0.3, \"expected_latency\": 3}, \"agents\": {}}]}";
        let a = import_v2(text, "v2.json").unwrap();
        let idx: Vec<u32> = a.points.iter().map(|p| p.structure.index).collect();
        assert_eq!(idx, [0, 1, 0]);
    }
}
