//! The load pass: files in, validated values out, every problem naming the file (and line or
//! field); and the writes the passes end with (atomic, so a failed run never leaves half a file).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use flowcompile_artifact::Artifact;
use flowcompile_ir::Workflow;
use flowcompile_profile::{Format, ProfileTable, ThroughputRow};
use flowcompile_store::Store;
use serde_json::Value;

use crate::{Error, Observer, Result};

/// Reads a file as text; a missing or unreadable file is an input error naming it.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(Error::Input)
}

/// A workflow file, validated, and its text (what digests and run keys are taken of).
pub struct WorkflowFile {
    /// The validated workflow.
    pub workflow: Workflow,
    /// The file's text.
    pub text: String,
    /// Where it was read from.
    pub path: PathBuf,
}

/// Reads and validates a workflow file.
pub fn workflow(path: &Path) -> Result<WorkflowFile> {
    let text = read(path)?;
    let workflow =
        flowcompile_spec::parse(&text, &path.display().to_string()).map_err(Error::Spec)?;
    Ok(WorkflowFile {
        workflow,
        text,
        path: path.to_path_buf(),
    })
}

/// Which models and budgets to keep of a workflow's design space (`--models`, `--budgets`); empty
/// lists keep everything.
#[derive(Clone, Debug, Default)]
pub struct Restriction {
    /// Models to keep.
    pub models: Vec<String>,
    /// Budgets to keep.
    pub budgets: Vec<u32>,
}

/// The restrict pass: the workflow with its design space narrowed to `filter`.
pub fn restrict(wf: Workflow, path: &Path, filter: &Restriction) -> Result<Workflow> {
    if filter.models.is_empty() && filter.budgets.is_empty() {
        return Ok(wf);
    }
    wf.restrict(&filter.models, &filter.budgets)
        .map_err(|e| Error::Input(anyhow!("{}: --models/--budgets: {e}", path.display())))
}

/// Profiles read from files, as `compile --profiles` and `report` read them.
pub struct ProfileFiles {
    /// The profile rows.
    pub table: ProfileTable,
    /// Per-model throughput, when a throughput file was given.
    pub throughput: Vec<ThroughputRow>,
    /// The profiles' text then the throughput's: what the artifact's `profiles_sha256` digests.
    pub digest_input: Vec<u8>,
}

/// The table format a file's extension says (`.csv` or `.jsonl`).
fn format_of(path: &Path) -> Result<Format> {
    Format::from_path(&path.display().to_string()).ok_or_else(|| {
        Error::Input(anyhow!(
            "{}: unknown format: expected a .csv or .jsonl file",
            path.display()
        ))
    })
}

/// Reads and parses a profiles file and, when given, a throughput file.
pub fn profiles(profiles: &Path, throughput: Option<&Path>) -> Result<ProfileFiles> {
    let profiles_text = read(profiles)?;
    let table = flowcompile_profile::parse_profiles(
        &profiles_text,
        &profiles.display().to_string(),
        format_of(profiles)?,
    )
    .map_err(|e| Error::Input(anyhow!("{e}")))?;
    let mut digest_input = profiles_text.into_bytes();
    let throughput = match throughput {
        Some(path) => {
            let text = read(path)?;
            digest_input.extend_from_slice(text.as_bytes());
            flowcompile_profile::parse_throughput(
                &text,
                &path.display().to_string(),
                format_of(path)?,
            )
            .map_err(|e| Error::Input(anyhow!("{e}")))?
        }
        None => Vec::new(),
    };
    Ok(ProfileFiles {
        table,
        throughput,
        digest_input,
    })
}

/// What to say, once, about an artifact without intervals: a v1 artifact (or a prototype file,
/// imported as v1) predates them; `None` for a v2 artifact.
pub fn predates_intervals(artifact: &Artifact, path: &Path) -> Option<String> {
    (artifact.format == flowcompile_artifact::ArtifactFormat::V1).then(|| {
        format!(
            "note: {} is a {} artifact, which predates intervals: its points are shown without them (compile again to get them)",
            path.display(),
            flowcompile_artifact::FORMAT_V1
        )
    })
}

/// Reads an artifact (v2 or v1, or the prototype's v2).
pub fn artifact(path: &Path) -> Result<Artifact> {
    let text = read(path)?;
    artifact_text(&text, path)
}

/// Parses an artifact's text read from `path`.
pub fn artifact_text(text: &str, path: &Path) -> Result<Artifact> {
    flowcompile_artifact::parse_any(text, &path.display().to_string())
        .map_err(|e| Error::Input(e.into()))
}

/// Refuses an artifact compiled for another workflow: the one check of every pass that takes both.
pub fn check_artifact_workflow(artifact: &Artifact, path: &Path, wf: &WorkflowFile) -> Result<()> {
    if artifact.workflow == wf.workflow.name {
        return Ok(());
    }
    Err(Error::Input(anyhow!(
        "{} was compiled for workflow '{}', not '{}' ({})",
        path.display(),
        artifact.workflow,
        wf.workflow.name,
        wf.path.display()
    )))
}

/// Where outputs go when no path is given: one folder (git-ignored in a checkout), beside the
/// store, so that following the README leaves the working tree clean.
pub const OUTPUT_DIR: &str = ".flowcompile";

/// The default path of a `kind` output of `workflow`: `.flowcompile/<workflow>.<kind>`.
pub fn default_output(workflow: &str, kind: &str) -> PathBuf {
    Path::new(OUTPUT_DIR).join(format!("{workflow}.{kind}"))
}

/// Writes through a temporary file and a rename, so an interrupted or failed write never leaves a
/// partial file (artifact, validation document) over a good one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    ensure_parent(path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(Error::Other)
}

/// Creates the directory a file (the store, an output) goes in.
pub fn ensure_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    Ok(())
}

/// Opens the store, creating its directory, and keeps the process's program runs in it
/// ([`keep_program_runs`]).
pub fn store(path: &Path) -> Result<Store> {
    keep_program_runs(path)?;
    Store::open(path).map_err(|e| Error::Other(e.into()))
}

/// Creates the store's directory and keeps the process's runs of Python programs in the store
/// (`flowcompile_runner::tools::program_runs`), so a program already run on the same input is
/// not run again, by this process or a later one.
pub fn keep_program_runs(path: &Path) -> Result<()> {
    ensure_parent(path)?;
    flowcompile_runner::tools::program_runs()
        .keep_in_path(path)
        .map_err(|e| Error::Other(e.into()))
}

/// A dataset split's items, read for end-to-end runs (`eval`, `test`).
pub struct Dataset {
    /// The items to run (after the limit), in file order.
    pub items: Vec<Value>,
    /// Every good line, as JSONL: what an embedded zoo learns the tasks from.
    pub zoo_tasks: String,
    /// The file name, part of the run key (so moving the file keeps its results).
    pub name: String,
    /// Lines skipped because they are not items.
    pub n_bad: usize,
}

/// Reads a JSONL split with the one dataset reader ([`flowcompile_pipeline::parse_split`]): each
/// bad line is a warning naming the file and line, the rest still runs; a split with no item at
/// all is an input error.
pub fn dataset(
    path: &Path,
    answer_field: &str,
    limit: Option<usize>,
    observer: &dyn Observer,
) -> Result<Dataset> {
    let text = read(path)?;
    let split = flowcompile_pipeline::parse_split(&text, answer_field, &[]);
    for bad in &split.bad {
        observer.warn(&format!(
            "warning: {}:{}: skipped: {}",
            path.display(),
            bad.line,
            bad.why
        ));
    }
    let n_bad = split.bad.len();
    let mut items = split.items;
    let zoo_tasks: String = items.iter().map(|item| format!("{item}\n")).collect();
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    if items.is_empty() {
        return Err(Error::Input(anyhow!(
            "{}: no item to run ({n_bad} bad lines; each line must be a JSON object with the '{answer_field}' field)",
            path.display()
        )));
    }
    Ok(Dataset {
        items,
        zoo_tasks,
        name: file_name(path),
        n_bad,
    })
}

/// A path's file name, as run keys and zoo task sets name a split.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// The workflow narrowed as the artifact was compiled: where the artifact records fewer settings for
/// a slot's agent than the workflow allows (`compile --models/--budgets`, `--drop-unprofiled`), the
/// agent keeps the settings the profiles have rows for, so that a report over the same profiles
/// needs no row the compilation did not. A workflow the artifact does not narrow comes back as is.
pub fn narrow_to_artifact(mut wf: Workflow, artifact: &Artifact, table: &ProfileTable) -> Workflow {
    let Some(space) = &artifact.space else {
        return wf;
    };
    for slot in &space.slots {
        let Some(agent) = wf.agents.iter_mut().find(|a| a.name == slot.agent) else {
            continue;
        };
        if agent.settings.len() > slot.settings_total as usize {
            let name = agent.name.clone();
            agent
                .settings
                .retain(|s| table.get(&name, &s.model, s.budget_tokens).is_some());
        }
    }
    wf
}
