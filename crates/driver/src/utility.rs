//! The utility pass (`flowcompile eval --preferences`): expected utility over a distribution of preferences, the
//! paper's heterogeneous-preference setting.
//!
//! Every held-out request gets a preference b and is served three ways: by the compiled set (the
//! artifact point b picks), by the best uniform configuration for b (the largest structure with every
//! agent on one (model, budget), the one of highest predicted utility) and by the KNN router. Each
//! served request runs end to end through the runner (stored under the same run keys as `eval`, so
//! strategies that pick the same configuration share the run and a rerun makes no model call). Its
//! utility is `b * correct + (1 - b) * (1 - latency / lat_max)`, the utility of
//! [`flowcompile_select::utility`], with `lat_max` the artifact's largest predicted latency for every
//! strategy (one fixed scale, so utilities compare; a request slower than that scores below 0 on
//! speed). Latency is measured as `flowcompile test` measures it: the server's modelled latency when
//! every call of the run reports one (the zoo does), else wall seconds, composed like the
//! artifact's proxy.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use anyhow::anyhow;
use flowcompile_artifact::sha256_hex;
use flowcompile_ir::{Config, Setting};
use flowcompile_profile::Resolved;
use flowcompile_report::uniform_baselines;
use flowcompile_runner::{item_id, Runner};
use flowcompile_select::{select, utility, Preference, Request};
use flowcompile_store::EvalRow;
use flowcompile_validate::LatencySource;

use crate::config::run_config_text;
use crate::models::{ModelSource, Models};
use crate::{load, route, runs, validate, Error, Observer, Result};

/// What the expected-utility study runs.
#[derive(Clone, Debug)]
pub struct UtilityOptions {
    /// The workflow file.
    pub workflow: PathBuf,
    /// The compiled artifact.
    pub artifact: PathBuf,
    /// The router file (`flowcompile route build`).
    pub router: PathBuf,
    /// `uniform`, `uniform:SEED` or a list of preferences.
    pub preferences: String,
    /// The held-out split.
    pub data: PathBuf,
    /// Use only the split's first items.
    pub limit: Option<usize>,
    /// Where the models are.
    pub models: ModelSource,
    /// Runs in flight at once.
    pub concurrency: usize,
    /// The store of runs.
    pub store: PathBuf,
}

/// One strategy's results over the requests.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StrategyResult {
    /// `compiled set`, `best uniform` or `knn router`.
    pub strategy: &'static str,
    /// Requests served.
    pub requests: usize,
    /// Of which failed (left out of the means).
    pub failed: usize,
    /// Mean measured utility.
    pub expected_utility: f64,
    /// Mean measured correctness.
    pub accuracy: f64,
    /// Mean measured latency.
    pub mean_latency_s: f64,
    /// Mean utility the predictions promised.
    pub predicted_utility: f64,
    /// Distinct configurations chosen.
    pub configurations: usize,
}

/// The study's result.
#[derive(Clone, Debug)]
pub struct UtilityReport {
    /// The workflow's name.
    pub workflow: String,
    /// The artifact's largest predicted latency: the utility's latency scale.
    pub lat_max: f64,
    /// The router file's neighbours per query, embedding model and item count.
    pub router_k: usize,
    /// The router's embedding model.
    pub embed_model: String,
    /// The router's validation items.
    pub router_items: usize,
    /// Per strategy, in table order.
    pub strategies: Vec<StrategyResult>,
    /// Router minus compiled set, mean over paired requests, and the 95% half-width.
    pub router_gain: (f64, f64),
    /// Requests both served successfully.
    pub paired_requests: usize,
}

/// How preferences are drawn.
#[derive(Clone, Debug, PartialEq)]
enum Preferences {
    /// b uniform on [0, 1]: n requests get the stratified values (j + 0.5) / n, shuffled by a digest
    /// of (seed, item id).
    Uniform { seed: u64 },
    /// Requests take the values in turn, in file order.
    List(Vec<f64>),
}

fn parse_preferences(spec: &str) -> Result<Preferences> {
    let bad = |why: String| Error::Input(anyhow!("--preferences '{spec}': {why}"));
    if spec == "uniform" {
        return Ok(Preferences::Uniform { seed: 0 });
    }
    if let Some(seed) = spec.strip_prefix("uniform:") {
        let seed = seed
            .parse()
            .map_err(|_| bad(format!("the seed '{seed}' is not a whole number")))?;
        return Ok(Preferences::Uniform { seed });
    }
    let values = spec
        .split(',')
        .map(|v| Preference::parse(v.trim()).map(Preference::value))
        .collect::<Result<Vec<f64>, _>>()
        .map_err(|e| {
            bad(format!(
                "{e}; expected `uniform`, `uniform:SEED` or a list such as 0.1,0.5,0.9"
            ))
        })?;
    Ok(Preferences::List(values))
}

/// Each item's preference, in item order.
fn assign(prefs: &Preferences, ids: &[String]) -> Vec<f64> {
    match prefs {
        Preferences::List(values) => (0..ids.len()).map(|i| values[i % values.len()]).collect(),
        Preferences::Uniform { seed } => {
            let mut order: Vec<(String, usize)> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (sha256_hex(format!("{seed}\u{0}{id}\u{0}{i}").as_bytes()), i))
                .collect();
            order.sort();
            let n = ids.len() as f64;
            let mut out = vec![0.0; ids.len()];
            for (rank, (_, i)) in order.into_iter().enumerate() {
                out[i] = (rank as f64 + 0.5) / n;
            }
            out
        }
    }
}

/// The three strategies, in table order.
const STRATEGIES: [&str; 3] = ["compiled set", "best uniform", "knn router"];

/// One configuration some strategy chose, with the key its runs are stored under.
struct Chosen {
    config: Config,
    run_key: String,
    text: String,
}

/// What one strategy did for one request.
struct Served {
    /// Index into the chosen configurations.
    config: usize,
    /// The utility its prediction promised.
    predicted: f64,
}

/// Per strategy, over the requests.
#[derive(Default)]
struct Tally {
    n: usize,
    failed: usize,
    utility: f64,
    correct: usize,
    latency: f64,
    predicted: f64,
    configs: HashSet<usize>,
}

/// Serves every held-out request by the three strategies and measures their utility.
pub fn expected_utility(args: &UtilityOptions, observer: &dyn Observer) -> Result<UtilityReport> {
    let spec = args.preferences.as_str();
    let prefs = parse_preferences(spec)?;
    let artifact_path = &args.artifact;
    let router_path = &args.router;
    let wf_file = load::workflow(&args.workflow)?;
    let wf = &wf_file.workflow;
    let artifact_text = load::read(artifact_path)?;
    let artifact = load::artifact_text(&artifact_text, artifact_path)?;
    route::check_artifact(&artifact, artifact_path, &wf_file, observer)?;
    let (router, router_file) = route::load_router(router_path, wf)?;
    if router_file.execution != artifact.proxy.execution {
        return Err(Error::Input(anyhow!(
            "{}: field `execution`: the router composes with {} execution, the artifact {} with {}; rebuild the router with this artifact",
            router_path.display(),
            router_file.execution,
            artifact_path.display(),
            artifact.proxy.execution
        )));
    }
    if router_file
        .artifact_sha256
        .as_ref()
        .is_some_and(|d| *d != sha256_hex(artifact_text.as_bytes()))
    {
        observer.warn(&format!(
            "warning: {} was built with another artifact than {}",
            router_path.display(),
            artifact_path.display()
        ));
    }
    let lat_max = artifact
        .points
        .iter()
        .map(|p| p.predicted.latency_s)
        .filter(|l| l.is_finite())
        .fold(0.0, f64::max);
    let data = load::dataset(&args.data, &wf.task.answer, args.limit, observer)?;
    let ids: Vec<String> = data.items.iter().map(item_id).collect();
    let bs = assign(&prefs, &ids);
    let store = load::store(&args.store)?;
    let exec_model = artifact.proxy.execution;
    let runtime = crate::models::runtime()?;
    runtime.block_on(async {
        let models = Models::open(&args.models, Some((&data.name, &data.zoo_tasks)))?;
        let embedder = models.embed_client(&router_file.embed_model)?;
        let runner = Runner::new(wf.clone(), models.client()?).map_err(|e| Error::Input(e.into()))?;
        let space = runner.space();
        let texts: Vec<String> = data
            .items
            .iter()
            .map(|item| flowcompile_route::query_text(item, &wf.task.fields))
            .collect();
        let queries = route::embed_all(&embedder, &router_file.embed_model, &texts).await?;

        let global = Resolved {
            per_agent: router_file
                .agents
                .iter()
                .map(|a| {
                    a.settings
                        .iter()
                        .map(|s| flowcompile_proxy::Metrics {
                            accuracy: s.accuracy,
                            latency_s: s.latency_s,
                        })
                        .collect()
                })
                .collect(),
            n_unused_rows: 0,
            unknown_agents: Vec::new(),
        };
        let dep = flowcompile_proxy::Dependence::new(artifact.proxy.dependence);
        let baselines = uniform_baselines(wf, space, &global, exec_model, dep);
        if baselines.is_empty() {
            return Err(Error::Input(anyhow!(
                "{}: no (model, budget) setting is allowed for every agent of the largest structure, so there is no uniform configuration",
                args.workflow.display()
            )));
        }

        let mut chosen: Vec<Chosen> = Vec::new();
        let mut by_text: HashMap<String, usize> = HashMap::new();
        let mut add = |config: Config| -> Result<usize> {
            let text = run_config_text(&config, space);
            if let Some(&i) = by_text.get(&text) {
                return Ok(i);
            }
            models.check_config(&config, space)?;
            let run_key = runs::run_key(&wf_file, &config, space, &data.name, &models);
            chosen.push(Chosen {
                config,
                run_key,
                text: text.clone(),
            });
            by_text.insert(text, chosen.len() - 1);
            Ok(chosen.len() - 1)
        };
        let invalid = |e: flowcompile_ir::ConfigError| Error::Input(anyhow!("{e}"));
        let mut served: Vec<[Served; 3]> = Vec::with_capacity(data.items.len());
        for (&b, query) in bs.iter().zip(&queries) {
            let request = Request {
                preference: Some(b),
                min_accuracy: None,
                max_latency_s: None,
            };
            let p = select(&artifact.points, &request)
                .map_err(|e| Error::Unsatisfiable(anyhow!("{}: {e}", artifact_path.display())))?;
            let point = &artifact.points[p];
            let compiled = Served {
                config: add(point.config(space).map_err(invalid)?)?,
                predicted: utility(b, point.predicted.accuracy, point.predicted.latency_s, lat_max),
            };
            let u = baselines
                .iter()
                .map(|x| utility(b, x.predicted.accuracy, x.predicted.latency_s, lat_max))
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (i, v)| if v > best.1 { (i, v) } else { best });
            let base = &baselines[u.0];
            let uniform = Served {
                config: add(
                    Config::uniform(
                        space,
                        base.structure,
                        &Setting::new(base.model.clone(), base.budget_tokens),
                    )
                    .map_err(invalid)?,
                )?,
                predicted: u.1,
            };
            let r = router
                .route(query, &request)
                .map_err(|e| Error::Unsatisfiable(anyhow!("{}: {e}", router_path.display())))?;
            let routed = Served {
                config: add(
                    Config::from_point(wf, space, r.structure, &r.settings).map_err(invalid)?,
                )?,
                predicted: utility(b, r.predicted.accuracy, r.predicted.latency_s, lat_max),
            };
            served.push([compiled, uniform, routed]);
        }

        let mut seen = HashSet::new();
        let mut jobs = Vec::new();
        for (item, s) in data.items.iter().zip(&served) {
            for one in s {
                if seen.insert((one.config, item_id(item))) {
                    let c = &chosen[one.config];
                    jobs.push(runs::Job {
                        run_key: &c.run_key,
                        config: &c.config,
                        item,
                    });
                }
            }
        }
        let n_runs = jobs.len();
        let pending = runs::pending(&store, jobs)?;
        observer.note(&format!(
                "{} on {} ({} requests, preferences {spec}): {} configurations chosen, {n_runs} distinct runs, {} already in {}",
                wf.name,
                args.data.display(),
                data.items.len(),
                chosen.len(),
                n_runs - pending.len(),
                args.store.display()
        ));
        runs::run_jobs(&runner, &store, &pending, args.concurrency, "utility", observer, |_| {}).await?;

        let mut rows: HashMap<(usize, String), EvalRow> = HashMap::new();
        for (i, c) in chosen.iter().enumerate() {
            for row in store
                .eval_rows(&c.run_key)
                .map_err(|e| Error::Other(e.into()))?
            {
                rows.insert((i, row.item_id.clone()), row);
            }
        }
        let execution = artifact.proxy.execution;
        let mut tallies: [Tally; 3] = Default::default();
        let mut diffs = Vec::new();
        let mut first_error = None;
        for ((id, &b), s) in ids.iter().zip(&bs).zip(&served) {
            let mut utilities = [None; 3];
            for (k, one) in s.iter().enumerate() {
                let t = &mut tallies[k];
                t.configs.insert(one.config);
                let row = rows.get(&(one.config, id.clone())).ok_or_else(|| {
                    Error::Other(anyhow!("the store has no result for item '{id}' under {}", chosen[one.config].text))
                })?;
                if let Some(e) = &row.error {
                    t.failed += 1;
                    first_error.get_or_insert_with(|| e.clone());
                    continue;
                }
                let trace = validate::trace(row)?;
                let source = if trace.calls.iter().all(|c| c.modelled_latency_s.is_some()) {
                    LatencySource::Modelled
                } else {
                    LatencySource::Wall
                };
                let latency = validate::item_latency(row, &trace, wf, source, execution);
                let correct = if row.correct { 1.0 } else { 0.0 };
                let u = utility(b, correct, latency, lat_max);
                t.n += 1;
                t.utility += u;
                t.correct += usize::from(row.correct);
                t.latency += latency;
                t.predicted += one.predicted;
                utilities[k] = Some(u);
            }
            if let (Some(c), Some(r)) = (utilities[0], utilities[2]) {
                diffs.push(r - c);
            }
        }
        if let Some(e) = first_error {
            observer.warn(&format!(
                "warning: {} runs failed and are left out of their strategy's means; first error: {e}",
                tallies.iter().map(|t| t.failed).sum::<usize>()
            ));
        }
        Ok(summarise(&wf.name, lat_max, &router_file, &tallies, &diffs))
    })
}

/// Mean and the half-width of a 95% normal interval of `v`.
fn mean_ci(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, 1.96 * (var / n).sqrt())
}

/// The study's figures from the per-strategy tallies.
fn summarise(
    workflow: &str,
    lat_max: f64,
    router: &flowcompile_route::RouterFile,
    tallies: &[Tally; 3],
    diffs: &[f64],
) -> UtilityReport {
    let mean = |sum: f64, t: &Tally| if t.n == 0 { f64::NAN } else { sum / t.n as f64 };
    UtilityReport {
        workflow: workflow.to_string(),
        lat_max,
        router_k: router.k,
        embed_model: router.embed_model.clone(),
        router_items: router.items.len(),
        strategies: STRATEGIES
            .iter()
            .zip(tallies)
            .map(|(name, t)| StrategyResult {
                strategy: name,
                requests: t.n + t.failed,
                failed: t.failed,
                expected_utility: mean(t.utility, t),
                accuracy: mean(t.correct as f64, t),
                mean_latency_s: mean(t.latency, t),
                predicted_utility: mean(t.predicted, t),
                configurations: t.configs.len(),
            })
            .collect(),
        router_gain: mean_ci(diffs),
        paired_requests: diffs.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_specs_parse_and_assign() {
        assert_eq!(
            parse_preferences("uniform").unwrap(),
            Preferences::Uniform { seed: 0 }
        );
        assert_eq!(
            parse_preferences("uniform:7").unwrap(),
            Preferences::Uniform { seed: 7 }
        );
        assert_eq!(
            parse_preferences("0.1, high,low,fast").unwrap(),
            Preferences::List(vec![0.1, 0.9, 0.0, 0.0])
        );
        for bad in ["uniform:x", "1.5", "0.1,,0.2", "fastest"] {
            assert!(parse_preferences(bad).is_err(), "{bad}");
        }
        let ids: Vec<String> = (0..4).map(|i| format!("q{i}")).collect();
        assert_eq!(
            assign(&Preferences::List(vec![0.2, 0.8]), &ids),
            [0.2, 0.8, 0.2, 0.8]
        );
        let u = assign(&Preferences::Uniform { seed: 0 }, &ids);
        let mut sorted = u.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(sorted, [0.125, 0.375, 0.625, 0.875], "stratified");
        assert_eq!(u, assign(&Preferences::Uniform { seed: 0 }, &ids));
        let many: Vec<String> = (0..12).map(|i| format!("q{i}")).collect();
        assert_ne!(
            assign(&Preferences::Uniform { seed: 0 }, &many),
            assign(&Preferences::Uniform { seed: 1 }, &many),
            "the seed reshuffles"
        );
    }

    #[test]
    fn intervals_are_finite_from_two_values() {
        let (m, ci) = mean_ci(&[0.0, 1.0]);
        assert_eq!(m, 0.5);
        assert!(ci > 0.0 && ci.is_finite());
        assert!(mean_ci(&[]).0.is_nan());
    }
}
