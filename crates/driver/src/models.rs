//! The models a pass calls: a providers file (OpenAI-compatible endpoints by model name) or the
//! embedded zoo, the client over them, and what stored results depend on among them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use flowcompile_client::{Client, Providers};
use flowcompile_ir::{Config, DesignSpace};
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};

use crate::{load, Error, Result};

/// What the models behind zoo measurements are called everywhere they are reported.
pub const ZOO_LABEL: &str = flowcompile_zoo::LABEL;

/// Where the models are: a providers file, the embedded zoo, or both (the file's model names
/// answered by the zoo in this process).
#[derive(Clone, Debug, Default)]
pub struct ModelSource {
    /// The providers file (TOML: an OpenAI-compatible endpoint per model name).
    pub providers: Option<PathBuf>,
    /// Answer every model with the seeded synthetic zoo, in process.
    pub zoo: bool,
}

/// The models a pass calls, resolved once: the providers, what results depend on among them, and
/// the embedded zoo when there is one.
pub struct Models {
    /// The providers, with every endpoint the zoo when it is embedded.
    pub providers: Providers,
    /// What stored results depend on among the providers ([`providers_key`]).
    pub key: String,
    /// Where they came from.
    pub source: ModelSource,
    zoo: Option<Arc<Zoo>>,
}

impl Models {
    /// Reads the providers and, with the zoo, starts it knowing the tasks of `tasks` (a split's file
    /// name and JSONL text).
    pub fn open(source: &ModelSource, tasks: Option<(&str, &str)>) -> Result<Models> {
        let zoo = match source.zoo {
            true => Some(embedded_zoo(tasks)?),
            false => None,
        };
        let (providers, text) = providers(source.providers.as_deref(), source.zoo)?;
        Ok(Models {
            providers,
            key: providers_key(source.zoo, text),
            source: source.clone(),
            zoo,
        })
    }

    /// A client over the providers (HTTP, or the zoo in process).
    pub fn client(&self) -> Result<Client> {
        client(self.providers.clone(), self.zoo.clone())
    }

    /// The embedded zoo, when the models are it.
    pub fn zoo(&self) -> Option<Arc<Zoo>> {
        self.zoo.clone()
    }

    /// `zoo (synthetic)` when the models are the zoo's.
    pub fn label(&self) -> Option<String> {
        self.source.zoo.then(|| ZOO_LABEL.to_string())
    }

    /// Checks that every model the configuration uses has an endpoint.
    pub fn check_config(&self, config: &Config, space: &DesignSpace) -> Result<()> {
        check_models(
            config,
            space,
            &self.providers,
            self.source.providers.as_deref(),
        )
    }

    /// Checks that each of `models` has an endpoint.
    pub fn check_names<'a>(&self, models: impl IntoIterator<Item = &'a String>) -> Result<()> {
        for m in models {
            if self.providers.get(m).is_none() {
                let known: Vec<&str> = self.providers.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::Input(anyhow!(
                    "model '{m}' has no endpoint in the providers; they list: {}",
                    known.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// The providers the built-in zoo mapping gives when `--zoo` comes without a providers file.
const ZOO_PROVIDERS: &str = include_str!("../../../examples/providers/zoo.toml");

/// The `base_url` every provider gets with `--zoo`: never contacted (the client answers in process),
/// it only puts every model under one concurrency limit, as one server would.
pub const IN_PROCESS_BASE_URL: &str = "http://zoo.in-process.invalid/v1";

/// Reads the providers file, or with the in-process zoo and no file the built-in mapping of the
/// examples' model names (qwen3-0.6b..qwen3-14b) to the zoo's models; with the in-process zoo,
/// every endpoint becomes the zoo (no key needed).
pub fn providers(path: Option<&Path>, zoo: bool) -> Result<(Providers, String)> {
    let zoo_url = zoo.then_some(IN_PROCESS_BASE_URL);
    match (path, zoo) {
        (Some(path), _) => providers_from_text(load::read(path)?, path, zoo_url),
        (None, true) => providers_from_text(
            ZOO_PROVIDERS.to_string(),
            Path::new("built-in zoo providers"),
            zoo_url,
        ),
        (None, false) => Err(Error::Input(anyhow!(
            "say where the models are: --providers FILE (an OpenAI-compatible endpoint per model) or --zoo (synthetic models)"
        ))),
    }
}

/// Parses providers text read from `path`; with a zoo URL, every endpoint becomes it.
fn providers_from_text(
    text: String,
    path: &Path,
    zoo_url: Option<&str>,
) -> Result<(Providers, String)> {
    let text = match zoo_url {
        None => text,
        Some(url) => {
            let mut table: toml::Table = toml::from_str(&text)
                .with_context(|| format!("{} is not valid TOML", path.display()))
                .map_err(Error::Input)?;
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
    let providers = Providers::from_toml_str(&text, path).map_err(|e| Error::Input(e.into()))?;
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
pub fn embedded_zoo(data: Option<(&str, &str)>) -> Result<Arc<Zoo>> {
    let tasks = match data {
        Some((name, text)) => {
            vec![TaskSet::from_jsonl(name, text).map_err(|e| Error::Input(e.into()))?]
        }
        None => Vec::new(),
    };
    let zoo = Zoo::new(ZooConfig::default(), tasks).map_err(|e| Error::Input(e.into()))?;
    Ok(Arc::new(zoo))
}

/// Checks that every model the configuration uses has an endpoint in the providers file.
pub fn check_models(
    config: &Config,
    space: &DesignSpace,
    providers: &Providers,
    path: Option<&Path>,
) -> Result<()> {
    for slot in &space.structures[config.structure].slots {
        if let Some(setting) = config.setting(*slot) {
            if providers.get(&setting.model).is_none() {
                let known: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::Input(anyhow!(
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
pub fn client(providers: Providers, zoo: Option<Arc<Zoo>>) -> Result<Client> {
    match zoo {
        Some(zoo) => Ok(Client::with_zoo(providers, zoo)),
        None => Client::new(providers).map_err(|e| Error::Other(e.into())),
    }
}

/// The async runtime the model-calling commands run in.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Error::Other)
}
