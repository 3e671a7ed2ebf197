//! The truth pass (`flowcompile truth`): every configuration of a small (restricted) space measured
//! end to end through the in-process zoo, the true Pareto frontier, and the comparison of a
//! compiled artifact with it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use flowcompile_ir::{Config, DesignSpace, Workflow};
use flowcompile_truth::{
    configurations, count_within, locate, measure_all, MeasureOptions, Measured, SpaceOut, Table,
    TruthError, TruthReport,
};

use crate::load::{self, Restriction};
use crate::models::{ModelSource, Models};
use crate::{Error, Observer, Result};

/// What the truth study measures.
#[derive(Clone, Debug)]
pub struct TruthOptions {
    /// The workflow file.
    pub workflow: PathBuf,
    /// The labelled split the configurations run on.
    pub data: PathBuf,
    /// The providers file mapping model names to the zoo's (default: the built-in mapping).
    pub providers: Option<PathBuf>,
    /// The models and budgets to keep.
    pub restrict: Restriction,
    /// Use only the split's first items.
    pub limit: Option<usize>,
    /// Refuse a space of more configurations than this.
    pub max_configs: u64,
    /// An artifact to score against the truth.
    pub compare: Option<PathBuf>,
    /// Configurations measured at once.
    pub workers: Option<usize>,
    /// The report to write (default `<workflow name>.truth.json`).
    pub output: Option<PathBuf>,
}

/// What the truth study produced: the report, and what it names configurations by.
pub struct Truth {
    /// The `flowcompile.truth.v1` report.
    pub report: TruthReport,
    /// Its JSON text, as written.
    pub json: String,
    /// Where it was written.
    pub output: PathBuf,
    /// The restricted workflow.
    pub workflow: Workflow,
    /// Its design space.
    pub space: DesignSpace,
    /// Every configuration, in canonical order.
    pub configs: Vec<Config>,
    /// One measurement per configuration.
    pub measured: Vec<Measured>,
    /// Wall seconds of the measurement.
    pub wall_s: f64,
}

impl Truth {
    /// The table of configurations and measurements the report was made from.
    pub fn table(&self) -> Table<'_> {
        Table {
            wf: &self.workflow,
            space: &self.space,
            configs: &self.configs,
            measured: &self.measured,
        }
    }
}

/// Maps the study's errors to kinds: a space too large, no items or an artifact that does not fit
/// are input errors.
fn study_error(e: TruthError) -> Error {
    match e {
        TruthError::TooManyConfigs { .. } | TruthError::NoItems | TruthError::Artifact { .. } => {
            Error::Input(e.into())
        }
        _ => Error::Other(e.into()),
    }
}

/// Measures every configuration of the space on every item and writes the report.
pub fn truth(args: &TruthOptions, observer: &dyn Observer) -> Result<Truth> {
    let wf = load::workflow(&args.workflow)?.workflow;
    let wf = load::restrict(wf, &args.workflow, &args.restrict)?;
    let space = wf
        .design_space()
        .map_err(|e| Error::Input(anyhow!("{}: {e}", args.workflow.display())))?;
    let n_configs = count_within(&space, args.max_configs).map_err(|e| {
        Error::Input(anyhow!(
            "{}: {e} (--max-configs {})",
            args.workflow.display(),
            args.max_configs
        ))
    })?;
    let data_text = load::read(&args.data)?;
    let mut all_items = flowcompile_pipeline::read_split(
        &data_text,
        &args.data.display().to_string(),
        &wf.task.answer,
        &[],
    )
    .map_err(|e| Error::Input(e.into()))?;
    match args.limit {
        Some(0) => return Err(Error::Input(anyhow!("--limit must be at least 1"))),
        Some(limit) => all_items.truncate(limit),
        None => {}
    }
    let data_name = load::file_name(&args.data);
    let source = ModelSource {
        providers: args.providers.clone(),
        zoo: true,
    };
    let models = Models::open(&source, Some((&data_name, &data_text)))?;
    for agent in &wf.agents {
        if let Some(s) = agent
            .settings
            .iter()
            .find(|s| models.providers.get(&s.model).is_none())
        {
            return Err(Error::Input(anyhow!(
                "model '{}' (agent {}) has no entry in {}",
                s.model,
                agent.name,
                args.providers.as_deref().map_or_else(
                    || "the built-in zoo providers".into(),
                    |p| p.display().to_string()
                )
            )));
        }
    }
    let client = models.client()?;
    let configs = Arc::new(configurations(&wf, &space));
    debug_assert_eq!(configs.len(), n_configs);
    let compare = match &args.compare {
        Some(path) => {
            let artifact = load::artifact(path)?;
            let name = path.display().to_string();
            let located = locate(&wf, &space, &configs, &artifact, &name).map_err(study_error)?;
            Some((artifact, name, located))
        }
        None => None,
    };
    let n_items = all_items.len();
    let wf = Arc::new(wf);
    let mut options = MeasureOptions::default();
    if let Some(w) = args.workers {
        options.workers = w.max(1);
    }
    observer.note(&format!(
        "{}: {} configurations x {} items of {} through the in-process zoo (synthetic), {} workers",
        wf.name,
        configs.len(),
        n_items,
        args.data.display(),
        options.workers
    ));
    let started = Instant::now();
    let runtime = crate::models::runtime()?;
    let done = Arc::new(AtomicUsize::new(0));
    let counter = done.clone();
    observer.begin("truth", configs.len() as u64);
    let measured = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            runtime.block_on(measure_all(
                wf.clone(),
                client,
                Arc::new(all_items),
                configs.clone(),
                options,
                Arc::new(move |n| {
                    counter.fetch_add(n, Ordering::Relaxed);
                }),
            ))
        });
        let mut shown = 0;
        loop {
            let finished = worker.is_finished();
            let now = done.load(Ordering::Relaxed);
            observer.advance((now - shown) as u64);
            shown = now;
            if finished {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        worker
            .join()
            .map_err(|_| Error::Other(anyhow!("the measuring thread panicked")))
    })?
    .map_err(study_error)?;
    observer.end();
    let wall_s = started.elapsed().as_secs_f64();
    let workflow = Arc::try_unwrap(wf).unwrap_or_else(|wf| (*wf).clone());
    let configs = Arc::try_unwrap(configs).unwrap_or_else(|c| (*c).clone());
    let table = Table {
        wf: &workflow,
        space: &space,
        configs: &configs,
        measured: &measured,
    };
    let mut report = table.report(
        &data_name,
        n_items,
        SpaceOut {
            models: args.restrict.models.clone(),
            budgets: args.restrict.budgets.clone(),
            n_structures: space.structures.len(),
        },
    );
    if let Some((artifact, name, located)) = &compare {
        report.comparison = Some(table.compare(artifact, name, located));
    }
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::Other(e.into()))?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| load::default_output(&workflow.name, "truth.json"));
    load::write_atomically(&output, format!("{json}\n").as_bytes())?;
    Ok(Truth {
        report,
        json,
        output,
        workflow,
        space,
        configs,
        measured,
        wall_s,
    })
}
