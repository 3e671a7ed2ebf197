//! Fidelity statistics between predicted and measured values, written out by hand.
//!
//! Every function takes the predicted and the measured values of the same points, in the same order,
//! and returns [`Undefined`] instead of a number when the statistic has no meaning for them (too few
//! points, a constant side, a non-finite value): a NaN never leaves this module.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a statistic is not defined for the given points.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Undefined {
    /// The two sides have different lengths (a caller bug, reported rather than truncated).
    #[error("{predicted} predicted values but {measured} measured values")]
    LengthMismatch {
        /// Number of predicted values.
        predicted: usize,
        /// Number of measured values.
        measured: usize,
    },
    /// Fewer points than the statistic needs.
    #[error("too few points: {got} (needs {needed})")]
    TooFewPoints {
        /// Points needed.
        needed: usize,
        /// Points given.
        got: usize,
    },
    /// A value is NaN or infinite.
    #[error("the {side} value of point {index} is not finite")]
    NotFinite {
        /// `predicted` or `measured`.
        side: &'static str,
        /// Position of the point.
        index: usize,
    },
    /// Every predicted value is the same, so there is no order or slope to compare.
    #[error("the predicted values are all equal")]
    ConstantPredicted,
    /// Every measured value is the same, so there is no order to agree with.
    #[error("the measured values are all equal")]
    ConstantMeasured,
}

/// Checks lengths, finiteness and the minimum number of points.
fn check(predicted: &[f64], measured: &[f64], needed: usize) -> Result<(), Undefined> {
    if predicted.len() != measured.len() {
        return Err(Undefined::LengthMismatch {
            predicted: predicted.len(),
            measured: measured.len(),
        });
    }
    for (side, values) in [("predicted", predicted), ("measured", measured)] {
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(Undefined::NotFinite { side, index });
        }
    }
    if predicted.len() < needed {
        return Err(Undefined::TooFewPoints {
            needed,
            got: predicted.len(),
        });
    }
    Ok(())
}

/// Whether every value equals the first one exactly (an exact test: a computed variance of equal
/// values can come out as a tiny positive number).
fn constant(values: &[f64]) -> bool {
    values.iter().all(|v| *v == values[0])
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// 1-based ranks; tied values share the average of the ranks they span (so `[10, 20, 20, 30]` ranks
/// `[1, 2.5, 2.5, 4]`). Values must be finite (NaNs are ordered by `total_cmp`, last).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start+1..=end; their average is (start + 1 + end) / 2.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Pearson correlation of two non-constant series of equal length (at least 2), clamped to [-1, 1]
/// against rounding.
fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let (mx, my) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0)
}

/// Spearman's rank correlation: the Pearson correlation of the average ranks (ties share their
/// average rank), in [-1, 1]. Needs 2 points and neither side constant.
pub fn spearman(predicted: &[f64], measured: &[f64]) -> Result<f64, Undefined> {
    check(predicted, measured, 2)?;
    if constant(predicted) {
        return Err(Undefined::ConstantPredicted);
    }
    if constant(measured) {
        return Err(Undefined::ConstantMeasured);
    }
    Ok(pearson(&average_ranks(predicted), &average_ranks(measured)))
}

/// How often the predictions order two points as the measurements do.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PairwiseAgreement {
    /// Fraction in [0, 1] of the counted pairs whose predicted order matches the measured order; a
    /// pair tied in the prediction (but not in the measurement) counts one half.
    pub agreement: f64,
    /// Pairs counted: all pairs of points except those tied in the measurement (they have no order
    /// to agree with).
    pub n_pairs: usize,
    /// Pairs left out because their measured values are equal.
    pub n_tied_measured: usize,
}

/// The fraction of point pairs whose predicted order matches the measured order.
///
/// Ties: a pair with equal measured values is left out (there is no order to get right, and with a
/// few dozen items two points often measure the same accuracy); a pair with equal predicted values
/// but distinct measured ones counts 1/2, as a coin flip would. Needs 2 points and at least one pair
/// not tied in the measurement.
pub fn pairwise_agreement(
    predicted: &[f64],
    measured: &[f64],
) -> Result<PairwiseAgreement, Undefined> {
    check(predicted, measured, 2)?;
    let mut halves = 0usize;
    let mut n_pairs = 0usize;
    let mut n_tied_measured = 0usize;
    for i in 0..predicted.len() {
        for j in i + 1..predicted.len() {
            let m = measured[i].total_cmp(&measured[j]);
            if m.is_eq() {
                n_tied_measured += 1;
                continue;
            }
            n_pairs += 1;
            let p = predicted[i].total_cmp(&predicted[j]);
            halves += if p.is_eq() {
                1
            } else if p == m {
                2
            } else {
                0
            };
        }
    }
    if n_pairs == 0 {
        return Err(Undefined::ConstantMeasured);
    }
    Ok(PairwiseAgreement {
        agreement: halves as f64 / (2 * n_pairs) as f64,
        n_pairs,
        n_tied_measured,
    })
}

/// Mean absolute error `mean |predicted - measured|`. Needs 1 point.
pub fn mae(predicted: &[f64], measured: &[f64]) -> Result<f64, Undefined> {
    check(predicted, measured, 1)?;
    Ok(predicted
        .iter()
        .zip(measured)
        .map(|(p, m)| (p - m).abs())
        .sum::<f64>()
        / predicted.len() as f64)
}

/// An affine map `slope * x + intercept`.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Affine {
    /// Multiplier of the predicted value.
    pub slope: f64,
    /// Offset added.
    pub intercept: f64,
}

impl Affine {
    /// The identity map (slope 1, intercept 0): predictions taken as they are.
    pub const IDENTITY: Affine = Affine {
        slope: 1.0,
        intercept: 0.0,
    };

    /// `slope * x + intercept`.
    pub fn apply(&self, x: f64) -> f64 {
        self.slope * x + self.intercept
    }
}

/// The least-squares fit `measured ~ slope * predicted + intercept`: slope = cov(p, m) / var(p),
/// intercept = mean(m) - slope * mean(p). Needs 2 points and non-constant predictions (a constant
/// measured side is fine: slope 0).
pub fn affine_fit(predicted: &[f64], measured: &[f64]) -> Result<Affine, Undefined> {
    check(predicted, measured, 2)?;
    if constant(predicted) {
        return Err(Undefined::ConstantPredicted);
    }
    let (mp, mm) = (mean(predicted), mean(measured));
    let (mut spm, mut spp) = (0.0, 0.0);
    for (p, m) in predicted.iter().zip(measured) {
        spm += (p - mp) * (m - mm);
        spp += (p - mp) * (p - mp);
    }
    let slope = spm / spp;
    Ok(Affine {
        slope,
        intercept: mm - slope * mp,
    })
}

/// Mean absolute error of `fit` applied to the predictions.
pub fn mae_with(fit: Affine, predicted: &[f64], measured: &[f64]) -> Result<f64, Undefined> {
    let fitted: Vec<f64> = predicted.iter().map(|p| fit.apply(*p)).collect();
    mae(&fitted, measured)
}

/// Root mean squared error of `fit` applied to the predictions; the least-squares fit minimises it
/// over all affine maps.
pub fn rmse_with(fit: Affine, predicted: &[f64], measured: &[f64]) -> Result<f64, Undefined> {
    check(predicted, measured, 1)?;
    let sq: f64 = predicted
        .iter()
        .zip(measured)
        .map(|(p, m)| (fit.apply(*p) - m).powi(2))
        .sum();
    Ok((sq / predicted.len() as f64).sqrt())
}

/// Calibrated MAE, as in the paper: fit `measured ~ a * predicted + b` by least squares, then the
/// MAE of the fitted values. It judges the order and spacing of the predictions, not their scale:
/// a proxy whose latencies are all off by a constant factor still scores 0.
///
/// It is not bounded by the plain MAE: least squares minimises squared error, so one outlier can
/// pull the fit and raise the absolute error (the bound that holds is on the RMSE, see
/// [`rmse_with`]).
pub fn mae_calibrated(predicted: &[f64], measured: &[f64]) -> Result<(f64, Affine), Undefined> {
    let fit = affine_fit(predicted, measured)?;
    Ok((mae_with(fit, predicted, measured)?, fit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn ties_share_the_average_rank() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 20.0, 30.0]),
            [1.0, 2.5, 2.5, 4.0]
        );
        assert_eq!(average_ranks(&[3.0, 1.0, 2.0]), [3.0, 1.0, 2.0]);
        assert_eq!(average_ranks(&[5.0, 5.0, 5.0]), [2.0, 2.0, 2.0]);
        assert_eq!(average_ranks(&[]), Vec::<f64>::new());
    }

    #[test]
    fn spearman_by_hand() {
        // No ties: rho = 1 - 6 sum d^2 / (n (n^2 - 1)); ranks p = 1 2 3 4 5, m = 2 1 4 3 5,
        // sum d^2 = 4, rho = 1 - 24 / 120 = 0.8.
        let p = [0.1, 0.2, 0.3, 0.4, 0.5];
        let m = [0.62, 0.60, 0.80, 0.75, 0.90];
        close(spearman(&p, &m).unwrap(), 0.8);
        // Ties: ranks p = 1 2 3 4, m = 1 2.5 2.5 4; Pearson of the ranks:
        // centred p = -1.5 -0.5 0.5 1.5, m = -1.5 0 0 1.5; sxy = 4.5, sxx = 5, syy = 4.5,
        // rho = 4.5 / sqrt(22.5) = 0.9486832980505138.
        let p = [1.0, 2.0, 3.0, 4.0];
        let m = [0.5, 0.7, 0.7, 0.9];
        close(spearman(&p, &m).unwrap(), 4.5 / 22.5f64.sqrt());
        close(spearman(&p, &[4.0, 3.0, 2.0, 1.0]).unwrap(), -1.0);
    }

    #[test]
    fn spearman_degenerate_cases_say_why() {
        assert_eq!(
            spearman(&[1.0], &[2.0]),
            Err(Undefined::TooFewPoints { needed: 2, got: 1 })
        );
        assert_eq!(
            spearman(&[1.0, 1.0], &[2.0, 3.0]),
            Err(Undefined::ConstantPredicted)
        );
        assert_eq!(
            spearman(&[1.0, 2.0], &[3.0, 3.0]),
            Err(Undefined::ConstantMeasured)
        );
        assert_eq!(
            spearman(&[1.0, f64::NAN], &[3.0, 4.0]),
            Err(Undefined::NotFinite {
                side: "predicted",
                index: 1
            })
        );
        assert_eq!(
            spearman(&[1.0, 2.0], &[3.0]),
            Err(Undefined::LengthMismatch {
                predicted: 2,
                measured: 1
            })
        );
        assert_eq!(
            Undefined::TooFewPoints { needed: 2, got: 1 }.to_string(),
            "too few points: 1 (needs 2)"
        );
    }

    #[test]
    fn pairwise_by_hand() {
        // Pairs of (p, m): (0,1) agree, (0,2) agree, (1,2) disagree -> 2/3.
        let a = pairwise_agreement(&[1.0, 2.0, 3.0], &[10.0, 30.0, 20.0]).unwrap();
        close(a.agreement, 2.0 / 3.0);
        assert_eq!((a.n_pairs, a.n_tied_measured), (3, 0));
        // Measured tie between points 1 and 2: left out; (0,1) and (0,2) agree -> 1.
        let a = pairwise_agreement(&[1.0, 2.0, 3.0], &[10.0, 20.0, 20.0]).unwrap();
        assert_eq!((a.agreement, a.n_pairs, a.n_tied_measured), (1.0, 2, 1));
        // Predicted tie between points 0 and 1, measured distinct: one half; (0,2), (1,2) agree.
        let a = pairwise_agreement(&[1.0, 1.0, 3.0], &[10.0, 20.0, 30.0]).unwrap();
        close(a.agreement, 2.5 / 3.0);
        assert_eq!(
            pairwise_agreement(&[1.0, 2.0], &[5.0, 5.0]),
            Err(Undefined::ConstantMeasured)
        );
    }

    #[test]
    fn mae_and_calibrated_mae_by_hand() {
        close(mae(&[1.0, 2.0, 3.0], &[2.0, 2.0, 5.0]).unwrap(), 1.0);
        assert_eq!(
            mae(&[], &[]),
            Err(Undefined::TooFewPoints { needed: 1, got: 0 })
        );
        // p = 1 2 3, m = 2 4 7: mean p 2, mean m 13/3; cov = (-1)(-7/3) + 0 + (1)(8/3) = 5,
        // var = 2 -> slope 2.5, intercept 13/3 - 5 = -2/3; fitted 11/6, 26/6, 41/6;
        // residuals 1/6, 2/6, 1/6 -> calibrated MAE 4/18 = 2/9.
        let (cal, fit) = mae_calibrated(&[1.0, 2.0, 3.0], &[2.0, 4.0, 7.0]).unwrap();
        close(fit.slope, 2.5);
        close(fit.intercept, -2.0 / 3.0);
        close(cal, 2.0 / 9.0);
        // A constant measured side is a flat fit.
        let (cal, fit) = mae_calibrated(&[1.0, 2.0], &[3.0, 3.0]).unwrap();
        assert_eq!((cal, fit.slope, fit.intercept), (0.0, 0.0, 3.0));
        assert_eq!(
            mae_calibrated(&[2.0, 2.0], &[1.0, 3.0]),
            Err(Undefined::ConstantPredicted)
        );
    }

    #[test]
    fn calibrated_mae_can_exceed_the_plain_mae() {
        // One outlier: identity residuals 0 0 0 0 36 (MAE 7.2); the least-squares fit
        // (slope 8.2, intercept -7.2) spreads it: residuals 7.2 0 7.2 14.4 14.4 (MAE 8.64).
        let p = [0.0, 1.0, 2.0, 3.0, 4.0];
        let m = [0.0, 1.0, 2.0, 3.0, 40.0];
        close(mae(&p, &m).unwrap(), 7.2);
        let (cal, fit) = mae_calibrated(&p, &m).unwrap();
        close(fit.slope, 8.2);
        close(fit.intercept, -7.2);
        close(cal, 8.64);
        // The squared error is what the fit bounds.
        assert!(rmse_with(fit, &p, &m).unwrap() <= rmse_with(Affine::IDENTITY, &p, &m).unwrap());
    }

    /// Distinct-enough finite values: integers over 100, so that monotone maps keep them apart.
    fn series(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec((-1000i32..1000).prop_map(|v| f64::from(v) / 100.0), n)
    }

    fn pairs() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
        (2usize..24).prop_flat_map(|n| (series(n..n + 1), series(n..n + 1)))
    }

    proptest! {
        #[test]
        fn spearman_is_in_range_and_rank_based((p, m) in pairs()) {
            if let Ok(rho) = spearman(&p, &m) {
                prop_assert!((-1.0..=1.0).contains(&rho));
                // Strictly increasing maps keep every order and tie: the same ranks, bit for bit.
                let up: Vec<f64> = p.iter().map(|x| x * x * x + x + 7.0).collect();
                let exp: Vec<f64> = m.iter().map(|x| (x / 4.0).exp()).collect();
                prop_assert_eq!(spearman(&up, &exp).unwrap(), rho);
                // A decreasing map of one side flips the sign.
                let down: Vec<f64> = p.iter().map(|x| -x).collect();
                prop_assert!((spearman(&down, &m).unwrap() + rho).abs() < 1e-12);
                prop_assert!((spearman(&m, &p).unwrap() - rho).abs() < 1e-12);
            }
        }

        #[test]
        fn spearman_of_a_series_with_itself_is_one(p in series(2..30)) {
            match spearman(&p, &p) {
                Ok(rho) => prop_assert!((rho - 1.0).abs() < 1e-12),
                Err(e) => prop_assert_eq!(e, Undefined::ConstantPredicted),
            }
        }

        #[test]
        fn pairwise_is_one_for_the_same_order_and_zero_reversed(p in series(2..30)) {
            let same: Vec<f64> = p.iter().map(|x| 3.0 * x + 1.0).collect();
            let reversed: Vec<f64> = p.iter().map(|x| -x).collect();
            match pairwise_agreement(&p, &same) {
                Ok(a) => {
                    prop_assert_eq!(a.agreement, 1.0);
                    // No tie in the measured values (reversed has the same ties): no pair disagrees.
                    prop_assert_eq!(pairwise_agreement(&p, &reversed).unwrap().agreement, 0.0);
                }
                Err(e) => prop_assert_eq!(e, Undefined::ConstantMeasured),
            }
        }

        #[test]
        fn pairwise_is_a_fraction_and_symmetric_in_reversal((p, m) in pairs()) {
            if let Ok(a) = pairwise_agreement(&p, &m) {
                prop_assert!((0.0..=1.0).contains(&a.agreement));
                let n = p.len();
                prop_assert_eq!(a.n_pairs + a.n_tied_measured, n * (n - 1) / 2);
                // Reversing the predictions turns agreements into disagreements, halves stay halves.
                let down: Vec<f64> = p.iter().map(|x| -x).collect();
                let b = pairwise_agreement(&down, &m).unwrap();
                prop_assert!((a.agreement + b.agreement - 1.0).abs() < 1e-12);
            }
        }

        #[test]
        fn the_least_squares_fit_beats_every_other_affine_map(
            (p, m) in pairs(),
            slope in -5.0f64..5.0,
            intercept in -5.0f64..5.0,
        ) {
            if let Ok((cal, fit)) = mae_calibrated(&p, &m) {
                let best = rmse_with(fit, &p, &m).unwrap();
                let tol = 1e-9 * (1.0 + best);
                prop_assert!(best <= rmse_with(Affine::IDENTITY, &p, &m).unwrap() + tol);
                let other = Affine { slope, intercept };
                prop_assert!(best <= rmse_with(other, &p, &m).unwrap() + tol);
                // MAE <= RMSE for the same fit, so the calibrated MAE is bounded by the identity RMSE.
                prop_assert!(cal <= best + tol);
                prop_assert!(cal >= 0.0 && cal.is_finite());
            }
        }

        #[test]
        fn an_affine_truth_is_recovered_exactly(
            p in series(2..20),
            slope in -4.0f64..4.0,
            intercept in -3.0f64..3.0,
        ) {
            let m: Vec<f64> = p.iter().map(|x| slope * x + intercept).collect();
            match mae_calibrated(&p, &m) {
                Ok((cal, fit)) => {
                    prop_assert!(cal < 1e-9);
                    prop_assert!((fit.slope - slope).abs() < 1e-9);
                    prop_assert!((fit.intercept - intercept).abs() < 1e-9);
                }
                Err(e) => prop_assert_eq!(e, Undefined::ConstantPredicted),
            }
        }

        #[test]
        fn calibrated_mae_ignores_the_predictions_scale(
            (p, m) in pairs(),
            scale in prop_oneof![-10.0f64..-0.1, 0.1f64..10.0],
            shift in -10.0f64..10.0,
        ) {
            if let Ok((cal, _)) = mae_calibrated(&p, &m) {
                let moved: Vec<f64> = p.iter().map(|x| scale * x + shift).collect();
                let (again, _) = mae_calibrated(&moved, &m).unwrap();
                prop_assert!((cal - again).abs() < 1e-9 * (1.0 + cal));
            }
        }
    }
}
