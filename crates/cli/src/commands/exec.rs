//! What `run` and `eval` share: providers (optionally an embedded zoo), the configuration to run.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use flowcompile_client::{Client, Providers};
use flowcompile_ir::{DesignSpace, Setting, Workflow};
use flowcompile_runner::Config;
use flowcompile_select::{Preference, Request};
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};

use crate::cli::ExecArgs;
use crate::exit::Failure;

/// Parses `MODEL@BUDGET`, the value of `flag`.
pub fn parse_setting(text: &str, flag: &str) -> Result<Setting, Failure> {
    let (model, budget) = text.rsplit_once('@').ok_or_else(|| {
        Failure::Input(anyhow!(
            "{flag} '{text}': expected MODEL@BUDGET, e.g. qwen3-8b@1000"
        ))
    })?;
    let budget = budget.parse().map_err(|_| {
        Failure::Input(anyhow!(
            "{flag} '{text}': the budget '{budget}' is not a whole number of tokens"
        ))
    })?;
    Ok(Setting::new(model, budget))
}

/// The configuration the flags choose, and a one-line description of it.
pub fn config(
    args: &ExecArgs,
    wf: &Workflow,
    space: &DesignSpace,
) -> Result<(Config, String), Failure> {
    let invalid = |e: flowcompile_runner::ConfigError| Failure::Input(anyhow!("{e}"));
    if let Some(path) = &args.artifact {
        let artifact = super::load_artifact(path)?;
        if artifact.workflow != wf.name {
            return Err(Failure::Input(anyhow!(
                "{} was compiled for workflow '{}', not '{}'",
                path.display(),
                artifact.workflow,
                wf.name
            )));
        }
        let idx = match (&args.point, &args.prefer) {
            (Some(id), _) => artifact
                .points
                .iter()
                .position(|p| &p.id == id)
                .ok_or_else(|| {
                    Failure::Input(anyhow!(
                        "{} has no point '{id}' (p0..p{})",
                        path.display(),
                        artifact.points.len().saturating_sub(1)
                    ))
                })?,
            (None, prefer) => {
                let b = Preference::parse(prefer.as_deref().unwrap_or("medium"))
                    .map_err(|e| Failure::Input(anyhow!("--prefer: {e}")))?;
                let request = Request {
                    preference: Some(b.value()),
                    min_accuracy: None,
                    max_latency_s: None,
                };
                flowcompile_select::select(&artifact.points, &request)
                    .map_err(|e| Failure::Unsatisfiable(anyhow!("{e}")))?
            }
        };
        let point = &artifact.points[idx];
        let config = point.config(space).map_err(invalid)?;
        let what = format!(
            "{} {} (predicted accuracy {:.3}, latency {:.2} s)",
            path.display(),
            point.id,
            point.predicted.accuracy,
            point.predicted.latency_s
        );
        return Ok((config, what));
    }
    let structure = args.structure.unwrap_or(space.largest_structure());
    let all = args
        .all
        .as_deref()
        .map(|a| parse_setting(a, "--all"))
        .transpose()?;
    if all.is_none() && args.set.is_empty() {
        return Err(Failure::Input(anyhow!(
            "choose a configuration: --artifact FILE (with --point or --prefer), or --all MODEL@BUDGET and/or --set SLOT=MODEL@BUDGET"
        )));
    }
    let mut settings: Vec<Option<Setting>> = vec![all.clone(); space.slots.len()];
    for item in &args.set {
        let (slot, setting) = item
            .split_once('=')
            .ok_or_else(|| Failure::Input(anyhow!("--set '{item}': expected SLOT=MODEL@BUDGET")))?;
        let idx = space
            .slots
            .iter()
            .position(|s| s.name == slot)
            .ok_or_else(|| {
                let names: Vec<&str> = space.slots.iter().map(|s| s.name.as_str()).collect();
                Failure::Input(anyhow!(
                    "--set '{item}': unknown slot '{slot}' (slots: {})",
                    names.join(", ")
                ))
            })?;
        settings[idx] = Some(parse_setting(setting, "--set")?);
    }
    let config = Config::new(
        space,
        structure,
        settings
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (flowcompile_ir::SlotId(i as u32), s))),
    )
    .map_err(invalid)?;
    let what = format!(
        "structure s{structure} with {}",
        config_text(&config, space)
    );
    Ok((config, what))
}

/// `slot=model@budget` for each slot the configuration sets.
pub fn config_text(config: &Config, space: &DesignSpace) -> String {
    space.structures[config.structure]
        .slots
        .iter()
        .filter_map(|s| {
            config
                .setting(*s)
                .map(|set| format!("{}={set}", space.slots[s.0 as usize].name))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a stored run of `config` is keyed by: its structure index and `config_text`. The structure
/// counts because structures can call the same slots (the math workflow's s3 and s4 differ only in
/// how many generators run), so the settings alone do not name the configuration.
pub fn run_config_text(config: &Config, space: &DesignSpace) -> String {
    format!("s{} {}", config.structure, config_text(config, space))
}

/// The providers the built-in zoo mapping gives when `--zoo` comes without a providers file.
const ZOO_PROVIDERS: &str = include_str!("../../../../examples/providers/zoo.toml");

/// The `base_url` every provider gets with `--zoo`: never contacted (the client answers in process),
/// it only puts every model under one concurrency limit, as one server would.
pub const IN_PROCESS_BASE_URL: &str = "http://zoo.in-process.invalid/v1";

/// Reads the providers file, or with the in-process zoo and no file the built-in mapping of the
/// examples' model names (qwen3-0.6b..qwen3-14b) to the zoo's models; with the in-process zoo,
/// every endpoint becomes the zoo (no key needed).
pub fn providers(path: Option<&Path>, zoo: bool) -> Result<(Providers, String), Failure> {
    let zoo_url = zoo.then_some(IN_PROCESS_BASE_URL);
    match (path, zoo) {
        (Some(path), _) => providers_from_text(super::read(path)?, path, zoo_url),
        (None, true) => providers_from_text(
            ZOO_PROVIDERS.to_string(),
            Path::new("built-in zoo providers"),
            zoo_url,
        ),
        (None, false) => Err(Failure::Input(anyhow!(
            "say where the models are: --providers FILE (an OpenAI-compatible endpoint per model) or --zoo (synthetic models)"
        ))),
    }
}

/// Parses providers text read from `path`; with a zoo URL, every endpoint becomes it.
fn providers_from_text(
    text: String,
    path: &Path,
    zoo_url: Option<&str>,
) -> Result<(Providers, String), Failure> {
    let text = match zoo_url {
        None => text,
        Some(url) => {
            let mut table: toml::Table = toml::from_str(&text)
                .with_context(|| format!("{} is not valid TOML", path.display()))
                .map_err(Failure::Input)?;
            let point_at_zoo = |t: &mut toml::Table| {
                t.insert("base_url".into(), toml::Value::String(url.to_string()));
                t.remove("api_key_env");
            };
            if let Some(toml::Value::Table(d)) = table.get_mut("defaults") {
                point_at_zoo(d);
            }
            if let Some(toml::Value::Table(models)) = table.get_mut("models") {
                for (_, m) in models.iter_mut() {
                    if let toml::Value::Table(m) = m {
                        point_at_zoo(m);
                    }
                }
            }
            toml::to_string(&table).context("cannot rewrite the providers for the zoo")?
        }
    };
    let providers = Providers::from_toml_str(&text, path).map_err(|e| Failure::Input(e.into()))?;
    Ok((providers, text))
}

/// What results depend on among the providers: their text, with the in-process zoo's placeholder
/// URL named `embedded zoo`.
pub fn providers_key(zoo: bool, providers_text: String) -> String {
    match zoo {
        true => providers_text.replace(IN_PROCESS_BASE_URL, "embedded zoo"),
        false => providers_text,
    }
}

/// The in-process zoo (default config) that knows the tasks in `data` (file name, JSONL text).
pub fn embedded_zoo(data: Option<(&str, &str)>) -> Result<Arc<Zoo>, Failure> {
    let tasks = match data {
        Some((name, text)) => {
            vec![TaskSet::from_jsonl(name, text).map_err(|e| Failure::Input(e.into()))?]
        }
        None => Vec::new(),
    };
    let zoo = Zoo::new(ZooConfig::default(), tasks).map_err(|e| Failure::Input(e.into()))?;
    Ok(Arc::new(zoo))
}

/// Checks that every model the configuration uses has an endpoint in the providers file.
pub fn check_models(
    config: &Config,
    space: &DesignSpace,
    providers: &Providers,
    path: Option<&Path>,
) -> Result<(), Failure> {
    for slot in &space.structures[config.structure].slots {
        if let Some(setting) = config.setting(*slot) {
            if providers.get(&setting.model).is_none() {
                let known: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
                return Err(Failure::Input(anyhow!(
                    "model '{}' (slot {}) has no endpoint in {}; it lists: {}",
                    setting.model,
                    space.slots[slot.0 as usize].name,
                    path.map_or_else(
                        || "the built-in zoo providers".into(),
                        |p| p.display().to_string()
                    ),
                    known.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// A client for the providers: over HTTP, or answered by `zoo` in this process.
pub fn client(providers: Providers, zoo: Option<Arc<Zoo>>) -> Result<Client, Failure> {
    match zoo {
        Some(zoo) => Ok(Client::with_zoo(providers, zoo)),
        None => Client::new(providers).map_err(|e| Failure::Other(e.into())),
    }
}

/// The async runtime the model-calling commands run in.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Other)
}
