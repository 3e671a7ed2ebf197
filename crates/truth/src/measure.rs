//! Running every configuration on every item, on all cores, with results independent of scheduling.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use flowcompile_client::Client;
use flowcompile_ir::Workflow;
use flowcompile_runner::{item_id, Config, Runner};
use futures::StreamExt;
use serde_json::Value;

use crate::pareto::Measure;
use crate::space::describe;
use crate::TruthError;

/// What one configuration measured over the items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// Accuracy (fraction correct) and mean modelled latency per item.
    pub measure: Measure,
    /// Mean score (e.g. F1) over the items.
    pub mean_score: f64,
    /// Mean prompt plus completion tokens per item.
    pub tokens_mean: f64,
}

/// How hard to drive the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasureOptions {
    /// Configurations measured at once, each by its own task (spread over the runtime's threads).
    pub workers: usize,
    /// Items of one configuration in flight at once (helps over HTTP; the in-process zoo never waits).
    pub items_in_flight: usize,
}

impl Default for MeasureOptions {
    /// Two workers per core, four items in flight each.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        MeasureOptions {
            workers: 2 * cores,
            items_in_flight: 4,
        }
    }
}

/// Called with the number of configurations just finished (from any worker).
pub type Progress = Arc<dyn Fn(usize) + Send + Sync>;

/// Runs every configuration of `configs` on every item through `client` and returns one [`Measured`]
/// per configuration, in the order of `configs`.
///
/// Workers (tokio tasks) take configurations from a shared counter; a configuration's items are
/// aggregated in item order, so the table is the same whatever the scheduling, the number of workers
/// or the transport. Latency is the runner's modelled latency (`RunResult::modelled_latency_s`: the
/// zoo's modelled seconds along the critical path); accuracy counts the scorer's `correct`. A failed
/// run (a model call failing after retries, a template error) stops the study with
/// [`TruthError::RunFailed`]: a ground truth with holes would not be one.
pub async fn measure_all(
    wf: Arc<Workflow>,
    client: Client,
    items: Arc<Vec<Value>>,
    configs: Arc<Vec<Config>>,
    options: MeasureOptions,
    progress: Progress,
) -> Result<Vec<Measured>, TruthError> {
    if items.is_empty() {
        return Err(TruthError::NoItems);
    }
    let table: Arc<Mutex<Vec<Option<Measured>>>> = Arc::new(Mutex::new(vec![None; configs.len()]));
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers = (0..options.workers.max(1)).map(|_| {
        let (wf, client, items, configs) =
            (wf.clone(), client.clone(), items.clone(), configs.clone());
        let (table, next, stop, progress) =
            (table.clone(), next.clone(), stop.clone(), progress.clone());
        tokio::spawn(async move {
            let runner = Runner::new(wf.clone(), client).map_err(|e| {
                (
                    0,
                    TruthError::Workflow {
                        message: e.to_string(),
                    },
                )
            })?;
            while !stop.load(Ordering::Relaxed) {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(config) = configs.get(index) else {
                    break;
                };
                let result =
                    measure_one(&runner, config, &items, options.items_in_flight.max(1)).await;
                match result {
                    Ok(m) => {
                        table.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(m);
                        progress(1);
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        return Err((index, e));
                    }
                }
            }
            Ok(())
        })
    });
    let joined = futures::future::join_all(workers.collect::<Vec<_>>()).await;
    let mut first_error: Option<(usize, TruthError)> = None;
    for outcome in joined {
        let failed = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(failed)) => failed,
            Err(join) => (
                usize::MAX,
                TruthError::Workflow {
                    message: format!("a measuring task failed: {join}"),
                },
            ),
        };
        if first_error.as_ref().is_none_or(|(i, _)| failed.0 < *i) {
            first_error = Some(failed);
        }
    }
    if let Some((_, e)) = first_error {
        return Err(e);
    }
    let table = std::mem::take(&mut *table.lock().unwrap_or_else(|e| e.into_inner()));
    table
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            m.ok_or_else(|| TruthError::Workflow {
                message: format!("configuration {i} was not measured"),
            })
        })
        .collect()
}

/// Runs `config` on every item (up to `in_flight` at once) and aggregates in item order.
async fn measure_one(
    runner: &Runner,
    config: &Config,
    items: &[Value],
    in_flight: usize,
) -> Result<Measured, TruthError> {
    // Indices rather than `items.iter()`: a closure over `&Value` would not be provably `Send` for
    // every lifetime, which `tokio::spawn` needs.
    let results: Vec<_> =
        futures::stream::iter((0..items.len()).map(|i| runner.run(config, &items[i])))
            .buffered(in_flight)
            .collect()
            .await;
    let (mut correct, mut score, mut latency, mut tokens) = (0usize, 0.0, 0.0, 0u64);
    for (result, item) in results.into_iter().zip(items) {
        let s = match (&result.answer, &result.score) {
            (Ok(_), Some(s)) => s,
            (answer, _) => {
                return Err(TruthError::RunFailed {
                    config: describe(config, runner.space()),
                    structure: config.structure,
                    item: item_id(item),
                    message: match answer {
                        Err(e) => e.to_string(),
                        Ok(_) => "the answer was not scored".into(),
                    },
                })
            }
        };
        correct += usize::from(s.correct);
        score += s.value;
        latency += result.modelled_latency_s;
        tokens += result.tokens;
    }
    let n = items.len() as f64;
    Ok(Measured {
        measure: Measure {
            accuracy: correct as f64 / n,
            latency_s: latency / n,
        },
        mean_score: score / n,
        tokens_mean: tokens as f64 / n,
    })
}
