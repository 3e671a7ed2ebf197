//! The `flowcompile.validation.v1` document and the pure summaries that fill it.

use std::collections::BTreeMap;

use flowcompile_ir::ExecutionModel;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::stats::{self, Affine, Undefined};

/// The format marker of the validation document.
pub const FORMAT_V1: &str = "flowcompile.validation.v1";

/// The result of `flowcompile test`: each chosen frontier point run end to end on held-out data,
/// its predicted and measured metrics, and how faithful the predictions are overall.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "flowcompile validation v1")]
pub struct Validation {
    /// Format marker; always `flowcompile.validation.v1`.
    pub format: ValidationFormat,
    /// Name of the workflow.
    pub workflow: String,
    /// Hex SHA-256 of the artifact file's bytes.
    #[schemars(pattern(r"^[0-9a-f]{64}$"))]
    pub artifact_sha256: String,
    /// File name of the held-out split.
    pub data: String,
    /// Items of the split each point ran on.
    pub n_items: usize,
    /// What the measured models are when not real ones (`zoo (synthetic)`), else null.
    pub models_label: Option<String>,
    /// Whether measured latencies are the server's modelled latencies or wall-clock seconds.
    pub latency_source: LatencySource,
    /// How measured latency composes over parallel branches: the artifact's execution model.
    pub execution: ExecutionModel,
    /// The points run, in artifact order.
    pub points: Vec<PointValidation>,
    /// Fidelity of the predictions over the points that have a measurement.
    pub fidelity: Fidelity,
    /// How many (point, item) runs this invocation made and how many came from the store.
    pub runs: Runs,
}

/// The format marker; one variant per supported version.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ValidationFormat {
    /// `flowcompile.validation.v1`.
    #[default]
    #[serde(rename = "flowcompile.validation.v1")]
    V1,
}

/// The JSON Schema (draft 2020-12) of [`Validation`], as shipped in `schemas/validation.schema.json`.
pub fn json_schema() -> serde_json::Value {
    schemars::schema_for!(Validation).to_value()
}

/// Where a measured latency comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LatencySource {
    /// The server's modelled latency of each call (the zoo reports one), composed along the workflow.
    Modelled,
    /// Wall-clock seconds measured by the client.
    Wall,
}

/// Counts of (point, item) runs.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runs {
    /// Runs the document covers: points times items.
    pub total: usize,
    /// Runs found finished in the store and not repeated.
    pub reused: usize,
    /// Runs made by this invocation (each one or more model calls).
    pub new: usize,
    /// Runs that failed on a model call or another error (excluded from accuracy and latency).
    pub failed: usize,
}

/// One frontier point: what the artifact predicted and what running it measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PointValidation {
    /// The artifact's point id (`p0`, `p1`, ...).
    pub id: String,
    /// Structure index in the workflow's design space.
    pub structure: u32,
    /// The artifact's prediction.
    pub predicted: Metrics,
    /// The end-to-end measurement.
    pub measured: Measured,
}

/// Accuracy and mean latency, with the artifact's 90% intervals when it has them.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Fraction of items answered correctly, in [0, 1].
    #[schemars(range(min = 0.0, max = 1.0))]
    pub accuracy: f64,
    /// Mean seconds per item.
    #[schemars(range(min = 0.0))]
    pub latency_s: f64,
    /// The artifact's 90% interval of the accuracy, `[lo, hi]` (for the population accuracy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_interval: Option<[f64; 2]>,
    /// The artifact's 90% interval of the latency, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_interval_s: Option<[f64; 2]>,
}

/// One point's end-to-end measurement over the items; null where no item succeeded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    /// Correct items over the items that ran without failure.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub accuracy: Option<f64>,
    /// Mean latency over the items that ran without failure.
    pub latency_s: Option<f64>,
    /// Median latency (linear interpolation between order statistics).
    pub latency_p50_s: Option<f64>,
    /// 95th percentile latency (linear interpolation between order statistics).
    pub latency_p95_s: Option<f64>,
    /// Sample standard deviation of the item latencies (null below 2 items).
    #[serde(default)]
    pub latency_sd_s: Option<f64>,
    /// Items run, failed ones included.
    pub n: usize,
    /// Items whose run failed (a model call error, a template error): not counted as wrong.
    pub n_failed: usize,
    /// Mean prompt plus completion tokens per item that ran without failure.
    pub tokens_mean: Option<f64>,
    /// Total cost of the items that ran without failure when the providers give prices, else null.
    pub cost_usd: Option<f64>,
}

/// One item's run, as the summary needs it.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ItemOutcome {
    /// Whether the answer was correct; `None` when the run failed.
    pub correct: Option<bool>,
    /// Measured seconds (modelled or wall, composed per the execution model).
    pub latency_s: f64,
    /// Prompt plus completion tokens.
    pub tokens: u64,
    /// Cost, when the provider prices are known.
    pub cost_usd: Option<f64>,
}

/// The `q` quantile (0..=1) of sorted values, interpolating linearly between order statistics.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let at = last as f64 * q;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64))
}

impl Measured {
    /// Summarises one point's items. Failed items count in `n` and `n_failed` only; non-finite
    /// latencies are a caller bug and are left out of the latency statistics rather than poisoning them.
    pub fn from_items(items: &[ItemOutcome]) -> Measured {
        let ok: Vec<&ItemOutcome> = items.iter().filter(|i| i.correct.is_some()).collect();
        let n_ok = ok.len();
        let ratio = |num: f64| (n_ok > 0).then(|| num / n_ok as f64);
        let mut latencies: Vec<f64> = ok
            .iter()
            .map(|i| i.latency_s)
            .filter(|l| l.is_finite())
            .collect();
        latencies.sort_by(f64::total_cmp);
        let latency_mean =
            (!latencies.is_empty()).then(|| latencies.iter().sum::<f64>() / latencies.len() as f64);
        let latency_sd = latency_mean.filter(|_| latencies.len() >= 2).map(|mean| {
            let squares: f64 = latencies.iter().map(|l| (l - mean) * (l - mean)).sum();
            (squares / (latencies.len() - 1) as f64).sqrt()
        });
        Measured {
            accuracy: ratio(ok.iter().filter(|i| i.correct == Some(true)).count() as f64),
            latency_s: latency_mean,
            latency_sd_s: latency_sd,
            latency_p50_s: quantile(&latencies, 0.5),
            latency_p95_s: quantile(&latencies, 0.95),
            n: items.len(),
            n_failed: items.len() - n_ok,
            tokens_mean: ratio(ok.iter().map(|i| i.tokens as f64).sum()),
            cost_usd: ok.iter().map(|i| i.cost_usd).sum(),
        }
    }
}

/// Fidelity of the predicted accuracy and of the predicted latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fidelity {
    /// Predicted vs measured accuracy.
    pub accuracy: MetricFidelity,
    /// Predicted vs measured mean latency.
    pub latency: MetricFidelity,
}

/// How well one predicted metric matches its measurement across points. A statistic that is not
/// defined for these points is null, and `undefined` says why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricFidelity {
    /// Points compared (those with a measurement).
    pub n_points: usize,
    /// Spearman rank correlation (average ranks for ties), in [-1, 1].
    #[schemars(range(min = -1.0, max = 1.0))]
    pub spearman: Option<f64>,
    /// Fraction of point pairs ordered as measured; pairs tied in the measurement are left out,
    /// pairs tied only in the prediction count one half.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub pairwise_agreement: Option<f64>,
    /// Pairs counted by `pairwise_agreement`.
    pub n_pairs: usize,
    /// Mean absolute error of the raw predictions.
    pub mae: Option<f64>,
    /// Mean absolute error after the least-squares affine fit `measured ~ slope * predicted + intercept`.
    pub mae_calibrated: Option<f64>,
    /// That fit.
    pub affine: Option<Affine>,
    /// How often the measurements fell inside the artifact's intervals; null when no measured
    /// point has an interval (`undefined` says why).
    #[serde(default)]
    pub coverage: Option<Coverage>,
    /// Why a statistic is null, by its key.
    pub undefined: BTreeMap<String, String>,
}

/// The level of every artifact interval (`flowcompile_artifact::INTERVAL_LEVEL`).
pub const INTERVAL_LEVEL: f64 = 0.9;

/// The standard normal quantile at 0.95: the half-width, in standard deviations, of a 90% interval.
const Z_95: f64 = 1.644_853_626_951_472_2;

/// How often measured values fell inside the artifact's 90% intervals.
///
/// An artifact interval is for the *population* figure (what unlimited items would measure). A
/// measurement on n items has its own sampling noise on top: for accuracy the binomial standard
/// error `sqrt(p (1 - p) / n)` at the predicted p, for mean latency the items' standard deviation
/// over `sqrt(n)`. The prediction interval for the measurement adds that noise in quadrature to
/// each side at the same level (`z = 1.645` standard errors): `coverage` counts measurements
/// inside it, the figure to compare with 0.9; `coverage_population` counts those inside the
/// artifact's interval as it is, which a finite test sample misses more often than 10% even when
/// the intervals are right.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    /// Two-sided level of the intervals: 0.9.
    pub level: f64,
    /// Points with both an interval and a measurement.
    pub n_points: usize,
    /// Of them, measured inside the prediction interval (the artifact's, widened by the test
    /// sample's noise).
    pub inside: usize,
    /// `inside / n_points`.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub coverage: f64,
    /// Of them, measured inside the artifact's interval as it is.
    pub inside_population: usize,
    /// `inside_population / n_points`.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub coverage_population: f64,
}

impl Coverage {
    /// Coverage over `(value, interval, measured, standard error of the measurement)` for the
    /// points that have an interval; `None` when none has.
    pub fn compute(
        points: impl IntoIterator<Item = (f64, [f64; 2], f64, f64)>,
    ) -> Option<Coverage> {
        let (mut n, mut inside, mut inside_population) = (0, 0, 0);
        for (value, [lo, hi], measured, se) in points {
            let side = |d: f64| (d * d + (Z_95 * se) * (Z_95 * se)).sqrt();
            n += 1;
            inside += usize::from(
                value - side(value - lo) <= measured && measured <= value + side(hi - value),
            );
            inside_population += usize::from(lo <= measured && measured <= hi);
        }
        (n > 0).then(|| Coverage {
            level: INTERVAL_LEVEL,
            n_points: n,
            inside,
            coverage: inside as f64 / n as f64,
            inside_population,
            coverage_population: inside_population as f64 / n as f64,
        })
    }
}

impl MetricFidelity {
    /// Every statistic of `predicted` against `measured` (same points, same order).
    pub fn compute(predicted: &[f64], measured: &[f64]) -> MetricFidelity {
        let mut undefined = BTreeMap::new();
        let mut keep = |key: &str, r: Result<f64, Undefined>| match r {
            Ok(v) => Some(v),
            Err(e) => {
                undefined.insert(key.to_string(), e.to_string());
                None
            }
        };
        let pairwise = stats::pairwise_agreement(predicted, measured);
        let n_pairs = pairwise.as_ref().map_or(0, |p| p.n_pairs);
        let calibrated = stats::mae_calibrated(predicted, measured);
        let affine = calibrated.as_ref().ok().map(|(_, fit)| *fit);
        MetricFidelity {
            n_points: predicted.len().min(measured.len()),
            spearman: keep("spearman", stats::spearman(predicted, measured)),
            pairwise_agreement: keep("pairwise_agreement", pairwise.map(|p| p.agreement)),
            n_pairs,
            mae: keep("mae", stats::mae(predicted, measured)),
            mae_calibrated: keep("mae_calibrated", calibrated.map(|(mae, _)| mae)),
            affine,
            coverage: None,
            undefined,
        }
    }
}

impl Fidelity {
    /// Fidelity over the points whose measurement has both an accuracy and a latency; points whose
    /// every item failed are left out. Coverage ([`Coverage`]) counts the points with intervals.
    pub fn compute(points: &[PointValidation]) -> Fidelity {
        let measured: Vec<(&Metrics, f64, f64)> = points
            .iter()
            .filter_map(|p| Some((&p.predicted, p.measured.accuracy?, p.measured.latency_s?)))
            .collect();
        let column =
            |f: fn(&(&Metrics, f64, f64)) -> f64| measured.iter().map(f).collect::<Vec<_>>();
        let mut accuracy = MetricFidelity::compute(&column(|m| m.0.accuracy), &column(|m| m.1));
        let mut latency = MetricFidelity::compute(&column(|m| m.0.latency_s), &column(|m| m.2));
        let ok = |p: &PointValidation| (p.measured.n - p.measured.n_failed).max(1) as f64;
        accuracy.coverage = Coverage::compute(points.iter().filter_map(|p| {
            let a = p.predicted.accuracy;
            let se = (a * (1.0 - a) / ok(p)).sqrt();
            Some((a, p.predicted.accuracy_interval?, p.measured.accuracy?, se))
        }));
        latency.coverage = Coverage::compute(points.iter().filter_map(|p| {
            let se = p.measured.latency_sd_s.unwrap_or(0.0) / ok(p).sqrt();
            Some((
                p.predicted.latency_s,
                p.predicted.latency_interval_s?,
                p.measured.latency_s?,
                se,
            ))
        }));
        for f in [&mut accuracy, &mut latency] {
            if f.coverage.is_none() {
                f.undefined.insert(
                    "coverage".into(),
                    "no measured point has an interval (the artifact predates them, or has none)"
                        .into(),
                );
            }
        }
        Fidelity { accuracy, latency }
    }
}

/// Indices of `k` points spread evenly over `n` points sorted along the frontier: always the first
/// and the last, the rest at evenly spaced positions (rounded); all `n` when `k >= n`, the middle one
/// when `k == 1`, none when `k == 0`.
pub fn spread(n: usize, k: usize) -> Vec<usize> {
    match k {
        0 => Vec::new(),
        _ if k >= n => (0..n).collect(),
        1 => vec![(n - 1) / 2],
        _ => {
            // The step (n - 1) / (k - 1) exceeds 1 when k < n, so rounded positions stay distinct.
            (0..k)
                .map(|i| ((i * (n - 1)) as f64 / (k - 1) as f64).round() as usize)
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(correct: Option<bool>, latency_s: f64) -> ItemOutcome {
        ItemOutcome {
            correct,
            latency_s,
            tokens: 100,
            cost_usd: None,
        }
    }

    #[test]
    fn failed_items_are_counted_not_scored() {
        let m = Measured::from_items(&[
            item(Some(true), 1.0),
            item(Some(false), 2.0),
            item(None, 0.0),
            item(Some(true), 4.0),
            item(Some(true), 3.0),
        ]);
        assert_eq!(m.n, 5);
        assert_eq!(m.n_failed, 1);
        assert_eq!(m.accuracy, Some(0.75));
        assert_eq!(m.latency_s, Some(2.5));
        // Sorted 1 2 3 4: median between 2 and 3; p95 at 0.95 * 3 = 2.85 -> 3 + 0.85 * 1.
        assert_eq!(m.latency_p50_s, Some(2.5));
        assert!((m.latency_p95_s.unwrap() - 3.85).abs() < 1e-12);
        assert_eq!(m.tokens_mean, Some(100.0));
        assert_eq!(m.cost_usd, None);
    }

    #[test]
    fn a_point_whose_items_all_failed_has_no_measurement() {
        let m = Measured::from_items(&[item(None, 0.0), item(None, 0.0)]);
        assert_eq!((m.accuracy, m.latency_s, m.tokens_mean), (None, None, None));
        assert_eq!(m.n_failed, 2);
        let json = serde_json::to_value(&m).unwrap();
        assert!(json["accuracy"].is_null());
    }

    #[test]
    fn costs_sum_when_every_item_has_one() {
        let priced = |c| ItemOutcome {
            cost_usd: Some(c),
            ..item(Some(true), 1.0)
        };
        let failed = ItemOutcome {
            cost_usd: None,
            ..item(None, 0.0)
        };
        assert_eq!(
            Measured::from_items(&[priced(0.25), failed, priced(0.5)]).cost_usd,
            Some(0.75)
        );
        assert_eq!(
            Measured::from_items(&[priced(0.25), item(Some(true), 1.0)]).cost_usd,
            None
        );
    }

    #[test]
    fn spread_keeps_both_ends() {
        assert_eq!(spread(10, 4), [0, 3, 6, 9]);
        assert_eq!(spread(15, 6), [0, 3, 6, 8, 11, 14]);
        assert_eq!(spread(3, 5), [0, 1, 2]);
        assert_eq!(spread(7, 1), [3]);
        assert_eq!(spread(7, 0), Vec::<usize>::new());
        assert_eq!(spread(2, 2), [0, 1]);
    }

    fn point(id: &str, predicted: (f64, f64), measured: Option<(f64, f64)>) -> PointValidation {
        PointValidation {
            id: id.into(),
            structure: 0,
            predicted: Metrics {
                accuracy: predicted.0,
                latency_s: predicted.1,
                accuracy_interval: None,
                latency_interval_s: None,
            },
            measured: Measured {
                accuracy: measured.map(|m| m.0),
                latency_s: measured.map(|m| m.1),
                latency_sd_s: None,
                latency_p50_s: None,
                latency_p95_s: None,
                n: 10,
                n_failed: if measured.is_some() { 0 } else { 10 },
                tokens_mean: None,
                cost_usd: None,
            },
        }
    }

    #[test]
    fn fidelity_skips_unmeasured_points_and_explains_nulls() {
        let points = [
            point("p0", (0.5, 1.0), Some((0.4, 2.0))),
            point("p1", (0.7, 2.0), None),
            point("p2", (0.9, 3.0), Some((0.4, 6.0))),
        ];
        let f = Fidelity::compute(&points);
        assert_eq!(f.accuracy.n_points, 2);
        assert_eq!(f.accuracy.spearman, None);
        assert_eq!(
            f.accuracy.undefined["spearman"],
            "the measured values are all equal"
        );
        assert_eq!(f.accuracy.pairwise_agreement, None);
        assert!((f.accuracy.mae.unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(f.accuracy.mae_calibrated, Some(0.0));
        assert_eq!(f.latency.spearman, Some(1.0));
        assert_eq!(f.latency.pairwise_agreement, Some(1.0));
        assert_eq!(f.latency.n_pairs, 1);
        let fit = f.latency.affine.unwrap();
        assert_eq!((fit.slope, fit.intercept), (2.0, 0.0));
        assert_eq!(f.latency.undefined.keys().collect::<Vec<_>>(), ["coverage"]);
        assert_eq!(f.accuracy.coverage, None);
    }

    #[test]
    fn coverage_adds_the_test_samples_noise_to_the_population_interval() {
        let with = |acc: f64, interval: [f64; 2], measured: f64, n: usize| PointValidation {
            predicted: Metrics {
                accuracy_interval: Some(interval),
                latency_interval_s: Some([0.9, 1.1]),
                ..point("p", (acc, 1.0), None).predicted
            },
            measured: Measured {
                n,
                latency_sd_s: Some(2.0),
                ..point("p", (acc, 1.0), Some((measured, 1.2))).measured
            },
            ..point("p", (acc, 1.0), None)
        };
        // Inside the interval; outside it but within the sampling noise of 100 items
        // (sd 0.04 at 0.8: 0.066 at z = 1.645); outside both; no interval.
        let points = [
            with(0.8, [0.75, 0.85], 0.82, 100),
            with(0.8, [0.75, 0.85], 0.88, 100),
            with(0.8, [0.75, 0.85], 0.95, 100),
            point("p3", (0.8, 1.0), Some((0.8, 1.0))),
        ];
        let c = Fidelity::compute(&points).accuracy.coverage.unwrap();
        assert_eq!((c.n_points, c.inside_population, c.inside), (3, 1, 2));
        assert!((c.coverage - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(c.level, INTERVAL_LEVEL);
        // Latency: 1.2 is outside [0.9, 1.1], inside 1 + sqrt(0.1^2 + (1.645 * 2 / 10)^2).
        let l = Fidelity::compute(&points).latency.coverage.unwrap();
        assert_eq!((l.inside_population, l.inside), (0, 3));
        // Fewer items, more noise: 0.95 falls inside with 10 items.
        let few = Fidelity::compute(&[with(0.8, [0.75, 0.85], 0.95, 10)]);
        assert_eq!(few.accuracy.coverage.unwrap().inside, 1);
    }

    #[test]
    fn the_document_round_trips_with_nulls_not_nans() {
        let points = vec![point("p0", (0.5, 1.0), Some((0.4, 2.0)))];
        let doc = Validation {
            format: ValidationFormat::V1,
            workflow: "math".into(),
            artifact_sha256: "00".repeat(32),
            data: "gsm8k_test.jsonl".into(),
            n_items: 10,
            models_label: Some("zoo (synthetic)".into()),
            latency_source: LatencySource::Modelled,
            execution: ExecutionModel::Parallel,
            fidelity: Fidelity::compute(&points),
            points,
            runs: Runs {
                total: 10,
                reused: 0,
                new: 10,
                failed: 0,
            },
        };
        let text = serde_json::to_string(&doc).unwrap();
        assert!(text.contains("\"format\":\"flowcompile.validation.v1\""));
        assert!(text.contains("\"spearman\":null"));
        assert!(text.contains("\"latency_source\":\"modelled\""));
        assert!(!text.contains("NaN"));
        let back: Validation = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
        assert_eq!(
            back.fidelity.accuracy.undefined["spearman"],
            "too few points: 1 (needs 2)"
        );
    }

    proptest! {
        #[test]
        fn spread_is_sorted_distinct_and_in_range(n in 0usize..60, k in 0usize..60) {
            let s = spread(n, k);
            prop_assert_eq!(s.len(), k.min(n));
            prop_assert!(s.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(s.iter().all(|&i| i < n));
            if k >= 2 && n >= 2 {
                prop_assert_eq!(s[0], 0);
                prop_assert_eq!(*s.last().unwrap(), n - 1);
            }
        }

        #[test]
        fn measured_statistics_are_finite_and_ordered(
            items in prop::collection::vec(
                (prop::option::of(any::<bool>()), 0.0f64..100.0, 0u64..10_000), 0..40),
        ) {
            let items: Vec<ItemOutcome> = items
                .into_iter()
                .map(|(correct, latency_s, tokens)| ItemOutcome { correct, latency_s, tokens, cost_usd: None })
                .collect();
            let m = Measured::from_items(&items);
            prop_assert_eq!(m.n, items.len());
            if let Some(a) = m.accuracy {
                prop_assert!((0.0..=1.0).contains(&a));
                let (p50, p95, mean) = (m.latency_p50_s.unwrap(), m.latency_p95_s.unwrap(), m.latency_s.unwrap());
                prop_assert!(p50 <= p95 && mean.is_finite());
            } else {
                prop_assert_eq!(m.n_failed, m.n);
            }
        }
    }
}
