//! Choosing with a confidence: each point judged by one-sided bounds from its stored 90% intervals.

use flowcompile_artifact::{Point, Predicted, INTERVAL_LEVEL};

use crate::Candidate;

/// How sure a pick must be, in [0.5, 1): a point meets `min_accuracy` at confidence c when the
/// one-sided lower bound of its accuracy at level c does (and `max_latency_s` by the upper bound of
/// its latency). 0.5 is the prediction itself.
#[derive(Copy, Clone, Debug, PartialEq, PartialOrd)]
pub struct Confidence(f64);

/// A confidence outside [0.5, 1).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("`confidence` must be a number from 0.5 (the prediction itself) up to, not including, 1, got {value}")]
#[non_exhaustive]
pub struct ConfidenceError {
    /// The value given.
    pub value: f64,
}

impl Confidence {
    /// A confidence of `c`, which must be in [0.5, 1).
    pub fn new(c: f64) -> Result<Confidence, ConfidenceError> {
        if (0.5..1.0).contains(&c) {
            Ok(Confidence(c))
        } else {
            Err(ConfidenceError { value: c })
        }
    }

    /// The level c.
    pub fn value(self) -> f64 {
        self.0
    }

    /// How far towards each end of a stored interval the one-sided bound at this confidence lies:
    /// `z(c) / z(0.95)` under a normal shape fitted to each side of the interval separately (1 at
    /// c = 0.95, where the bound is the interval's end; 0 at c = 0.5).
    fn reach(self) -> f64 {
        normal_quantile(self.0) / normal_quantile(0.5 + INTERVAL_LEVEL / 2.0)
    }

    /// The lower bound of `p`'s accuracy at this confidence; `None` without an interval.
    pub fn accuracy_lower(self, p: &Predicted) -> Option<f64> {
        let [lo, _] = p.accuracy_interval?;
        Some((p.accuracy - self.reach() * (p.accuracy - lo)).max(0.0))
    }

    /// The upper bound of `p`'s latency at this confidence; `None` without an interval.
    pub fn latency_upper(self, p: &Predicted) -> Option<f64> {
        let [_, hi] = p.latency_interval_s?;
        Some(p.latency_s + self.reach() * (hi - p.latency_s))
    }

    /// Every point judged at this confidence, in order, for [`crate::select`]. A point without an
    /// accuracy interval counts its lower bound as 0 (nothing is known of it), so it meets no
    /// accuracy floor above 0; one without a latency interval counts its predicted latency.
    pub fn bound(self, points: &[Point]) -> Vec<Bounded<'_>> {
        points
            .iter()
            .map(|p| Bounded {
                point: p,
                accuracy: self.accuracy_lower(&p.predicted).unwrap_or(0.0),
                latency_s: self
                    .latency_upper(&p.predicted)
                    .unwrap_or(p.predicted.latency_s),
            })
            .collect()
    }
}

/// A point judged at a [`Confidence`]: its accuracy's lower bound and its latency's upper bound.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Bounded<'a> {
    /// The point.
    pub point: &'a Point,
    /// Lower bound of its accuracy.
    pub accuracy: f64,
    /// Upper bound of its latency, seconds.
    pub latency_s: f64,
}

/// A bounded point, named by its point's id.
impl Candidate for Bounded<'_> {
    fn accuracy(&self) -> f64 {
        self.accuracy
    }
    fn latency_s(&self) -> f64 {
        self.latency_s
    }
    fn id(&self, _: usize) -> String {
        self.point.id.clone()
    }
}

/// The standard normal quantile: `z` with `P(Z <= z) = p`, for p in (0, 1) (Acklam's rational
/// approximation, relative error below 1.2e-9); infinite at 0 and 1, NaN outside.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        let q = (-2.0 * q.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail(p)
    } else if p > 1.0 - LOW {
        -tail(1.0 - p)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use flowcompile_artifact::PointStructure;

    use super::*;
    use crate::{select, Request};

    #[test]
    fn normal_quantiles_match_the_tables() {
        for (p, z) in [
            (0.5, 0.0),
            (0.9, 1.281_551_565_5),
            (0.95, 1.644_853_626_9),
            (0.975, 1.959_963_984_5),
            (0.99, 2.326_347_874_0),
            (0.01, -2.326_347_874_0),
        ] {
            assert!((normal_quantile(p) - z).abs() < 1e-8, "{p}");
        }
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        assert!(normal_quantile(1.5).is_nan());
    }

    fn point(id: usize, acc: f64, lat: f64, interval: Option<[f64; 2]>) -> Point {
        Point {
            id: format!("p{id}"),
            structure: PointStructure {
                index: 0,
                knobs: Default::default(),
            },
            settings: Default::default(),
            predicted: Predicted {
                accuracy_interval: interval,
                latency_interval_s: interval.map(|_| [lat * 0.8, lat * 1.5]),
                ..Predicted::new(acc, lat)
            },
            origin: None,
        }
    }

    #[test]
    fn bounds_reach_the_interval_at_095_and_the_prediction_at_05() {
        let p = point(0, 0.9, 2.0, Some([0.8, 0.95])).predicted;
        let at = |c: f64| Confidence::new(c).unwrap();
        assert!((at(0.95).accuracy_lower(&p).unwrap() - 0.8).abs() < 1e-9);
        assert!((at(0.95).latency_upper(&p).unwrap() - 3.0).abs() < 1e-9);
        assert_eq!(at(0.5).accuracy_lower(&p), Some(0.9));
        let lower90 = at(0.9).accuracy_lower(&p).unwrap();
        assert!((lower90 - (0.9 - 0.1 * 1.281_551_565_5 / 1.644_853_626_9)).abs() < 1e-9);
        assert!(at(0.99).accuracy_lower(&p).unwrap() < 0.8);
        assert_eq!(at(0.9).accuracy_lower(&Predicted::new(0.9, 1.0)), None);
        for bad in [0.4, 1.0, f64::NAN] {
            assert!(Confidence::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_confidence_picks_a_slower_point_when_the_lower_bound_needs_it() {
        let points = vec![
            point(0, 0.91, 1.0, Some([0.80, 0.95])),
            point(1, 0.93, 2.0, Some([0.91, 0.96])),
            point(2, 0.95, 4.0, None),
        ];
        let floor = Request::new(None, Some(0.9), None).unwrap();
        assert_eq!(select(&points, &floor).unwrap(), 0);
        let sure = Confidence::new(0.9).unwrap().bound(&points);
        assert_eq!(select(&sure, &floor).unwrap(), 1);
        // The point without an interval meets no floor at a confidence.
        let higher = Request::new(None, Some(0.925), None).unwrap();
        let err = select(&sure, &higher).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("no point has accuracy >= 0.925"),
            "{err}"
        );
        assert_eq!(err.nearest[0].id, "p1");
    }
}
