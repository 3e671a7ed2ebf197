//! Configurations by name: `MODEL@BUDGET` settings, the configuration a run or an eval chooses
//! (an artifact point, or settings per slot), the reference configuration of data induction, and
//! the text that names a configuration in the store.

use std::path::PathBuf;

use anyhow::anyhow;
use flowcompile_ir::{Config, DesignSpace, Setting, SlotId, Workflow};
use flowcompile_select::{Preference, Request};

use crate::{load, Error, Result};

/// How a run or an eval names its configuration: an artifact point (by id or preference), or a
/// structure with settings for every slot (`--all`) and per slot (`--set SLOT=MODEL@BUDGET`).
#[derive(Clone, Debug, Default)]
pub struct ConfigChoice {
    /// An artifact to take a point from.
    pub artifact: Option<PathBuf>,
    /// The point's id (`p3`).
    pub point: Option<String>,
    /// A preference (preset or number) to select the point by; `medium` when neither is given.
    pub prefer: Option<String>,
    /// The structure index (default: the largest structure).
    pub structure: Option<usize>,
    /// `MODEL@BUDGET` for every slot.
    pub all: Option<String>,
    /// `SLOT=MODEL@BUDGET` overrides.
    pub set: Vec<String>,
}

/// Parses `MODEL@BUDGET`, the value of `flag`.
pub fn parse_setting(text: &str, flag: &str) -> Result<Setting> {
    let (model, budget) = text.rsplit_once('@').ok_or_else(|| {
        Error::Input(anyhow!(
            "{flag} '{text}': expected MODEL@BUDGET, e.g. qwen3-8b@1000"
        ))
    })?;
    let budget = budget.parse().map_err(|_| {
        Error::Input(anyhow!(
            "{flag} '{text}': the budget '{budget}' is not a whole number of tokens"
        ))
    })?;
    Ok(Setting::new(model, budget))
}

/// The configuration `args` choose, and a one-line description of it.
pub fn choose(args: &ConfigChoice, wf: &Workflow, space: &DesignSpace) -> Result<(Config, String)> {
    let invalid = |e: flowcompile_ir::ConfigError| Error::Input(anyhow!("{e}"));
    if let Some(path) = &args.artifact {
        let artifact = load::artifact(path)?;
        if artifact.workflow != wf.name {
            return Err(Error::Input(anyhow!(
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
                    Error::Input(anyhow!(
                        "{} has no point '{id}' (p0..p{})",
                        path.display(),
                        artifact.points.len().saturating_sub(1)
                    ))
                })?,
            (None, prefer) => {
                let b = Preference::parse(prefer.as_deref().unwrap_or("medium"))
                    .map_err(|e| Error::Input(anyhow!("--prefer: {e}")))?;
                let request = Request {
                    preference: Some(b.value()),
                    min_accuracy: None,
                    max_latency_s: None,
                };
                flowcompile_select::select(&artifact.points, &request)
                    .map_err(|e| Error::Unsatisfiable(anyhow!("{e}")))?
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
        return Err(Error::Input(anyhow!(
            "choose a configuration: --artifact FILE (with --point or --prefer), or --all MODEL@BUDGET and/or --set SLOT=MODEL@BUDGET"
        )));
    }
    let mut settings: Vec<Option<Setting>> = vec![all.clone(); space.slots.len()];
    for item in &args.set {
        let (slot, setting) = item
            .split_once('=')
            .ok_or_else(|| Error::Input(anyhow!("--set '{item}': expected SLOT=MODEL@BUDGET")))?;
        let idx = space
            .slots
            .iter()
            .position(|s| s.name == slot)
            .ok_or_else(|| {
                let names: Vec<&str> = space.slots.iter().map(|s| s.name.as_str()).collect();
                Error::Input(anyhow!(
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

/// The reference configuration of data induction and its text: the chosen structure (default the
/// largest), every slot on `all` or on its agent's last model at its largest budget; with the
/// models it uses.
pub fn reference(
    wf: &Workflow,
    space: &DesignSpace,
    structure: Option<usize>,
    all: Option<&str>,
) -> Result<(Config, String, Vec<String>)> {
    let structure = structure.unwrap_or(space.largest_structure());
    let all = all.map(|r| parse_setting(r, "--reference")).transpose()?;
    let mut settings = Vec::new();
    for (i, slot) in space.slots.iter().enumerate() {
        let agent = wf.agent(slot.agent);
        let setting = match &all {
            Some(s) => s.clone(),
            None => {
                let last_model = agent.settings.last().map(|s| s.model.clone());
                agent
                    .settings
                    .iter()
                    .filter(|s| Some(&s.model) == last_model.as_ref())
                    .max_by_key(|s| s.budget_tokens)
                    .cloned()
                    .ok_or_else(|| {
                        Error::Input(anyhow!("agent '{}' has no settings", agent.name))
                    })?
            }
        };
        settings.push((SlotId(i as u32), setting));
    }
    let mut models: Vec<String> = settings.iter().map(|(_, s)| s.model.clone()).collect();
    models.sort();
    models.dedup();
    let config = Config::new(space, structure, settings)
        .map_err(|e| Error::Input(anyhow!("reference configuration: {e}")))?;
    let text = run_config_text(&config, space);
    Ok((config, text, models))
}
