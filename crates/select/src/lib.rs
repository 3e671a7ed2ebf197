//! Choosing one point of a compiled artifact's frontier, by preference or by constraints.
//!
//! [`select`] takes the [`Point`]s of a [`flowcompile_artifact::Artifact`] (sorted by predicted
//! latency) and a [`Request`], and returns the index of the chosen point:
//!
//! - a [`Preference`] b in [0, 1] maximises `b * accuracy + (1 - b) * (1 - latency / max latency)`;
//!   presets `low` 0.01, `medium` 0.5, `high` 0.9, `xhigh` 0.999; ties go to the earliest point;
//! - `min_accuracy` alone picks the lowest accuracy that meets it (the fastest good-enough point),
//!   `max_latency_s` alone the highest latency under it (the most accurate fast-enough point), both
//!   the most accurate point meeting both; with a preference as well, the preference decides among
//!   the points meeting the constraints.
//!
//! When no point qualifies, [`NoFeasible`] carries the nearest points so the caller can say why.
//!
//! ```
//! use flowcompile_artifact::{Point, PointStructure, Predicted};
//! use flowcompile_select::*;
//!
//! let point = |i: usize, accuracy: f64, latency_s: f64| Point {
//!     id: format!("p{i}"),
//!     structure: PointStructure { index: 0, knobs: Default::default() },
//!     settings: Default::default(),
//!     predicted: Predicted { accuracy, latency_s },
//!     origin: None,
//! };
//! let points = [point(0, 0.5, 1.0), point(1, 0.8, 4.0), point(2, 0.9, 20.0)];
//! let high = Request { preference: Some(Preference::parse("high")?.value()), ..Request::default() };
//! assert_eq!(select(&points, &high)?, 2);
//! let fast_enough = Request { preference: None, min_accuracy: Some(0.7), max_latency_s: None };
//! assert_eq!(select(&points, &fast_enough)?, 1);
//! let impossible = Request { preference: None, min_accuracy: Some(0.95), max_latency_s: Some(2.0) };
//! let err = select(&points, &impossible).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "no point has accuracy >= 0.95 and latency <= 2s; nearest: \
//!      p2 (accuracy 0.9, latency 20s: the most accurate), \
//!      p0 (accuracy 0.5, latency 1s: the fastest, the most accurate with latency <= 2s)"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use std::fmt;

use flowcompile_artifact::Point;

/// A weight b in [0, 1] between accuracy (1) and speed (0).
#[derive(Copy, Clone, Debug, PartialEq, PartialOrd)]
pub struct Preference(f64);

impl Preference {
    /// Almost all weight on speed.
    pub const LOW: Preference = Preference(0.01);
    /// Equal weight on accuracy and speed.
    pub const MEDIUM: Preference = Preference(0.5);
    /// Mostly accuracy.
    pub const HIGH: Preference = Preference(0.9);
    /// Almost all weight on accuracy.
    pub const XHIGH: Preference = Preference(0.999);

    /// The presets by name, in increasing weight on accuracy.
    pub const PRESETS: [(&'static str, Preference); 4] = [
        ("low", Preference::LOW),
        ("medium", Preference::MEDIUM),
        ("high", Preference::HIGH),
        ("xhigh", Preference::XHIGH),
    ];

    /// A preference of weight `b`, which must be a number in [0, 1].
    pub fn new(b: f64) -> Result<Preference, PreferenceError> {
        if (0.0..=1.0).contains(&b) {
            Ok(Preference(b))
        } else {
            Err(PreferenceError {
                input: b.to_string(),
            })
        }
    }

    /// Reads a preset name (`low`, `medium`, `high`, `xhigh`, any case) or a number in [0, 1].
    pub fn parse(text: &str) -> Result<Preference, PreferenceError> {
        let t = text.trim();
        if let Some((_, p)) = Preference::PRESETS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(t))
        {
            return Ok(*p);
        }
        t.parse::<f64>()
            .ok()
            .and_then(|b| Preference::new(b).ok())
            .ok_or_else(|| PreferenceError { input: text.into() })
    }

    /// The weight b.
    pub fn value(self) -> f64 {
        self.0
    }
}

/// A preference that is neither a preset nor a number in [0, 1].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid preference '{input}': expected low (0.01), medium (0.5), high (0.9), xhigh (0.999) or a number from 0 to 1")]
#[non_exhaustive]
pub struct PreferenceError {
    /// The text given.
    pub input: String,
}

/// What the caller wants: a preference weight, constraints, or both.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Request {
    /// Weight b in [0, 1] on accuracy against speed ([`Preference::value`]).
    pub preference: Option<f64>,
    /// Lowest acceptable predicted accuracy.
    pub min_accuracy: Option<f64>,
    /// Highest acceptable predicted latency, seconds.
    pub max_latency_s: Option<f64>,
}

impl Default for Request {
    /// The `medium` preference and no constraints.
    fn default() -> Request {
        Request {
            preference: Some(Preference::MEDIUM.value()),
            min_accuracy: None,
            max_latency_s: None,
        }
    }
}

impl Request {
    fn feasible(&self, p: &Point) -> bool {
        let (acc, lat) = (p.predicted.accuracy, p.predicted.latency_s);
        acc.is_finite()
            && lat.is_finite()
            && self.min_accuracy.is_none_or(|m| acc >= m)
            && self.max_latency_s.is_none_or(|m| lat <= m)
    }
}

/// Why a point was offered as nearest.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Nearness {
    /// The most accurate point of all.
    MostAccurate,
    /// The fastest point of all.
    Fastest,
    /// The most accurate point that meets the latency limit.
    MostAccurateUnderLatency,
    /// The fastest point that meets the accuracy floor.
    FastestOverAccuracy,
}

/// A point offered as nearest to a request nothing meets.
#[derive(Clone, Debug, PartialEq)]
pub struct NearPoint {
    /// Index into the points.
    pub index: usize,
    /// The point's id.
    pub id: String,
    /// Predicted accuracy.
    pub accuracy: f64,
    /// Predicted latency, seconds.
    pub latency_s: f64,
    /// Why it is offered (one point may be nearest in several ways).
    pub reasons: Vec<Nearness>,
}

/// No point meets the request; carries the request and the nearest points.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub struct NoFeasible {
    /// The request that nothing met.
    pub request: Request,
    /// Number of points there were to choose from.
    pub n_points: usize,
    /// The most accurate point, the fastest, and with two constraints the best point meeting each one;
    /// empty when there are no points.
    pub nearest: Vec<NearPoint>,
}

impl fmt::Display for NoFeasible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.request;
        let mut limits = Vec::new();
        if let Some(m) = r.min_accuracy {
            limits.push(format!("accuracy >= {m}"));
        }
        if let Some(m) = r.max_latency_s {
            limits.push(format!("latency <= {m}s"));
        }
        if self.n_points == 0 {
            return f.write_str("there are no points to choose from");
        }
        if limits.is_empty() {
            f.write_str("no point has finite predicted accuracy and latency")?;
        } else {
            write!(f, "no point has {}", limits.join(" and "))?;
        }
        if !self.nearest.is_empty() {
            f.write_str("; nearest: ")?;
        }
        for (i, p) in self.nearest.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let why: Vec<String> = p
                .reasons
                .iter()
                .map(|n| match n {
                    Nearness::MostAccurate => "the most accurate".to_string(),
                    Nearness::Fastest => "the fastest".to_string(),
                    Nearness::MostAccurateUnderLatency => format!(
                        "the most accurate with latency <= {}s",
                        r.max_latency_s.unwrap_or(f64::NAN)
                    ),
                    Nearness::FastestOverAccuracy => format!(
                        "the fastest with accuracy >= {}",
                        r.min_accuracy.unwrap_or(f64::NAN)
                    ),
                })
                .collect();
            write!(
                f,
                "{} (accuracy {}, latency {}s: {})",
                p.id,
                p.accuracy,
                p.latency_s,
                why.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The utility a preference `b` gives a point, with `lat_max` the largest latency of all points.
pub fn utility(b: f64, accuracy: f64, latency_s: f64, lat_max: f64) -> f64 {
    let speed = if lat_max > 0.0 {
        1.0 - latency_s / lat_max
    } else {
        1.0
    };
    b * accuracy + (1.0 - b) * speed
}

/// The first index (in the points' order) whose key is strictly greatest among the candidates.
fn argmax(candidates: impl Iterator<Item = usize>, key: impl Fn(usize) -> f64) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for i in candidates {
        let k = key(i);
        if best.is_none_or(|(_, b)| k > b) {
            best = Some((i, k));
        }
    }
    best.map(|(i, _)| i)
}

/// Chooses a point for `req` and returns its index into `points` (an artifact's points, in order).
///
/// With a preference, the feasible point of highest utility (normalising latency by the largest
/// latency of all points); else with constraints, the extreme feasible point they call for; with
/// neither, the `medium` preference. Ties go to the earliest point. Points with non-finite
/// predictions are never chosen.
pub fn select(points: &[Point], req: &Request) -> Result<usize, NoFeasible> {
    let lat_max = points
        .iter()
        .map(|p| p.predicted.latency_s)
        .filter(|l| l.is_finite())
        .fold(0.0, f64::max);
    select_scaled(points, req, lat_max)
}

/// [`select`] with the latency scale of the utility given: a per-query frontier (the KNN router's)
/// is scored on the deployment's fixed scale, so one preference means the same trade-off for every
/// query.
pub fn select_scaled(points: &[Point], req: &Request, lat_max: f64) -> Result<usize, NoFeasible> {
    let acc = |i: usize| points[i].predicted.accuracy;
    let lat = |i: usize| points[i].predicted.latency_s;
    let feasible = || (0..points.len()).filter(|&i| req.feasible(&points[i]));
    let chosen = match (req.preference, req.min_accuracy, req.max_latency_s) {
        (None, Some(_), None) => argmax(feasible(), |i| -acc(i)),
        (None, None, Some(_)) => argmax(feasible(), lat),
        (None, Some(_), Some(_)) => argmax(feasible(), acc),
        (b, _, _) => {
            let b = b.unwrap_or(Preference::MEDIUM.value());
            argmax(feasible(), |i| utility(b, acc(i), lat(i), lat_max))
        }
    };
    chosen.ok_or_else(|| no_feasible(points, req))
}

fn no_feasible(points: &[Point], req: &Request) -> NoFeasible {
    let finite = || {
        (0..points.len()).filter(|&i| {
            let p = &points[i].predicted;
            p.accuracy.is_finite() && p.latency_s.is_finite()
        })
    };
    let acc = |i: usize| points[i].predicted.accuracy;
    let lat = |i: usize| points[i].predicted.latency_s;
    let mut picks = vec![
        (argmax(finite(), acc), Nearness::MostAccurate),
        (argmax(finite(), |i| -lat(i)), Nearness::Fastest),
    ];
    if let (Some(min_acc), Some(max_lat)) = (req.min_accuracy, req.max_latency_s) {
        picks.push((
            argmax(finite().filter(|&i| lat(i) <= max_lat), acc),
            Nearness::MostAccurateUnderLatency,
        ));
        picks.push((
            argmax(finite().filter(|&i| acc(i) >= min_acc), |i| -lat(i)),
            Nearness::FastestOverAccuracy,
        ));
    }
    let mut nearest: Vec<NearPoint> = Vec::new();
    for (index, reason) in picks {
        let Some(index) = index else { continue };
        match nearest.iter_mut().find(|n| n.index == index) {
            Some(n) => n.reasons.push(reason),
            None => nearest.push(NearPoint {
                index,
                id: points[index].id.clone(),
                accuracy: acc(index),
                latency_s: lat(index),
                reasons: vec![reason],
            }),
        }
    }
    NoFeasible {
        request: *req,
        n_points: points.len(),
        nearest,
    }
}

#[cfg(test)]
mod tests {
    use flowcompile_artifact::{PointStructure, Predicted};

    use super::*;

    fn points(metrics: &[(f64, f64)]) -> Vec<Point> {
        metrics
            .iter()
            .enumerate()
            .map(|(i, &(accuracy, latency_s))| Point {
                id: format!("p{i}"),
                structure: PointStructure {
                    index: 0,
                    knobs: Default::default(),
                },
                settings: Default::default(),
                predicted: Predicted {
                    accuracy,
                    latency_s,
                },
                origin: None,
            })
            .collect()
    }

    /// A frontier: faster points are less accurate.
    fn frontier() -> Vec<Point> {
        points(&[(0.4, 1.0), (0.6, 2.0), (0.7, 4.0), (0.8, 8.0), (0.85, 16.0)])
    }

    fn req(
        preference: Option<f64>,
        min_accuracy: Option<f64>,
        max_latency_s: Option<f64>,
    ) -> Request {
        Request {
            preference,
            min_accuracy,
            max_latency_s,
        }
    }

    #[track_caller]
    fn check(points: &[Point], r: Request, want: usize) {
        assert_eq!(select(points, &r).unwrap(), want);
    }

    #[track_caller]
    fn check_none(points: &[Point], r: Request, want: &str) {
        assert_eq!(select(points, &r).unwrap_err().to_string(), want);
    }

    #[test]
    fn presets_and_numbers_parse() {
        assert_eq!(Preference::parse("low").unwrap(), Preference::LOW);
        assert_eq!(Preference::parse(" XHigh ").unwrap().value(), 0.999);
        assert_eq!(Preference::parse("0.7").unwrap().value(), 0.7);
        assert_eq!(Preference::parse("0").unwrap().value(), 0.0);
        assert_eq!(Preference::parse("1").unwrap().value(), 1.0);
        assert_eq!(Preference::new(0.25).unwrap().value(), 0.25);
    }

    #[test]
    fn bad_preferences_say_what_is_accepted() {
        let want = |input: &str| {
            format!(
                "invalid preference '{input}': expected low (0.01), medium (0.5), high (0.9), \
                 xhigh (0.999) or a number from 0 to 1"
            )
        };
        for bad in ["1.5", "-0.1", "NaN", "inf", "max", ""] {
            assert_eq!(Preference::parse(bad).unwrap_err().to_string(), want(bad));
        }
        assert_eq!(Preference::new(2.0).unwrap_err().to_string(), want("2"));
        assert!(Preference::new(f64::NAN).is_err());
    }

    #[test]
    fn the_preference_trades_accuracy_for_speed() {
        let f = frontier();
        check(&f, req(Some(Preference::LOW.value()), None, None), 0);
        check(&f, Request::default(), 1);
        check(&f, req(Some(Preference::XHIGH.value()), None, None), 4);
        check(&f, req(None, None, None), 1);
    }

    #[test]
    fn ties_go_to_the_earliest_point() {
        let p = points(&[(0.5, 1.0), (0.5, 1.0), (0.5, 1.0)]);
        check(&p, Request::default(), 0);
        check(&p, req(None, Some(0.5), None), 0);
        check(&p, req(None, None, Some(1.0)), 0);
        check(&p, req(None, Some(0.1), Some(5.0)), 0);
    }

    #[test]
    fn zero_latencies_do_not_divide_by_zero() {
        let p = points(&[(0.5, 0.0), (0.9, 0.0)]);
        check(&p, Request::default(), 1);
    }

    #[test]
    fn min_accuracy_alone_picks_the_fastest_good_enough_point() {
        let f = frontier();
        check(&f, req(None, Some(0.65), None), 2);
        check(&f, req(None, Some(0.7), None), 2);
        check(&f, req(None, Some(0.0), None), 0);
    }

    #[test]
    fn max_latency_alone_picks_the_most_accurate_fast_enough_point() {
        let f = frontier();
        check(&f, req(None, None, Some(5.0)), 2);
        check(&f, req(None, None, Some(8.0)), 3);
        check(&f, req(None, None, Some(100.0)), 4);
    }

    #[test]
    fn both_constraints_pick_the_most_accurate_feasible_point() {
        check(&frontier(), req(None, Some(0.5), Some(10.0)), 3);
    }

    #[test]
    fn a_preference_decides_among_feasible_points() {
        let f = frontier();
        check(&f, req(Some(0.01), Some(0.65), None), 2);
        check(&f, req(Some(0.999), None, Some(5.0)), 2);
        check(&f, req(Some(0.5), Some(0.75), Some(100.0)), 3);
    }

    #[test]
    fn infeasible_requests_carry_the_nearest_points() {
        let f = frontier();
        check_none(
            &f,
            req(None, Some(0.99), None),
            "no point has accuracy >= 0.99; nearest: p4 (accuracy 0.85, latency 16s: the most accurate), \
             p0 (accuracy 0.4, latency 1s: the fastest)",
        );
        check_none(
            &f,
            req(Some(0.5), None, Some(0.5)),
            "no point has latency <= 0.5s; nearest: p4 (accuracy 0.85, latency 16s: the most accurate), \
             p0 (accuracy 0.4, latency 1s: the fastest)",
        );
        let err = select(&f, &req(None, Some(0.75), Some(5.0))).unwrap_err();
        let ids: Vec<&str> = err.nearest.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["p4", "p0", "p2", "p3"]);
        assert_eq!(
            err.to_string(),
            "no point has accuracy >= 0.75 and latency <= 5s; nearest: \
             p4 (accuracy 0.85, latency 16s: the most accurate), p0 (accuracy 0.4, latency 1s: the fastest), \
             p2 (accuracy 0.7, latency 4s: the most accurate with latency <= 5s), \
             p3 (accuracy 0.8, latency 8s: the fastest with accuracy >= 0.75)"
        );
        assert_eq!(err.request, req(None, Some(0.75), Some(5.0)));
    }

    #[test]
    fn no_points_is_no_feasible_point() {
        let err = select(&[], &Request::default()).unwrap_err();
        assert!(err.nearest.is_empty());
        assert_eq!(err.to_string(), "there are no points to choose from");
    }

    #[test]
    fn non_finite_points_are_never_chosen() {
        let p = points(&[(f64::NAN, 1.0), (0.5, f64::INFINITY), (0.2, 3.0)]);
        check(&p, Request::default(), 2);
        check(&p, req(Some(1.0), None, None), 2);
        let only_bad = points(&[(f64::NAN, 1.0)]);
        check_none(
            &only_bad,
            Request::default(),
            "no point has finite predicted accuracy and latency",
        );
        check_none(
            &only_bad,
            req(None, Some(0.1), None),
            "no point has accuracy >= 0.1",
        );
        let nan_limit = req(None, Some(f64::NAN), None);
        check_none(
            &frontier(),
            nan_limit,
            "no point has accuracy >= NaN; nearest: p4 (accuracy 0.85, latency 16s: the most accurate), \
             p0 (accuracy 0.4, latency 1s: the fastest)",
        );
    }

    #[test]
    fn utility_matches_the_formula() {
        assert_eq!(utility(0.5, 0.8, 5.0, 10.0), 0.5 * 0.8 + 0.5 * 0.5);
        assert_eq!(utility(1.0, 0.3, 10.0, 10.0), 0.3);
        assert_eq!(utility(0.0, 0.3, 0.0, 0.0), 1.0);
    }
}
