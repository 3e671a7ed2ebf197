//! Choosing one point of a compiled frontier, by preference or by constraints.
//!
//! [`select`] takes candidates — anything exposing a predicted accuracy and latency
//! ([`Candidate`]: a [`flowcompile_artifact::Point`] of an artifact, sorted by predicted latency, or
//! an `(accuracy, latency_s)` pair such as a router's re-composed metrics) — and a [`Request`], and
//! returns the index of the chosen one:
//!
//! - a [`Preference`] b in [0, 1] maximises `b * accuracy + (1 - b) * (1 - latency / max latency)`,
//!   ties to the earliest point; b = 0 is the minimum-latency point (ties to the more accurate) and
//!   b = 1 the most accurate (ties to the faster). The presets ([`PRESETS`], shared by the CLI and
//!   the server): `fast` (also `low`) 0, the fastest point; `medium` 0.5; `high` 0.9; `xhigh` 1, the
//!   most accurate point;
//! - `min_accuracy` alone picks the lowest accuracy that meets it (the fastest good-enough point),
//!   `max_latency_s` alone the highest latency under it (the most accurate fast-enough point), both
//!   the most accurate point meeting both; with a preference as well, the preference decides among
//!   the points meeting the constraints.
//!
//! With a [`Confidence`] c, [`Confidence::bound`] turns each point into its one-sided bounds at c
//! (accuracy's lower bound, latency's upper bound, from the point's stored 90% intervals) and
//! [`select`] judges those: `min_accuracy 0.9` at confidence 0.9 picks the fastest point whose
//! accuracy's lower bound at 0.9 clears 0.9.
//!
//! [`Request::new`] checks a request as every front end must (preference and accuracy floor in
//! [0, 1], latency ceiling finite and >= 0) and gives a [`RequestError`] naming the parameter. When
//! no point qualifies, [`NoFeasible`] carries the nearest points so the caller can say why.
//!
//! ```
//! use flowcompile_select::*;
//!
//! // (accuracy, latency_s) per point, fastest first.
//! let points = [(0.5, 1.0), (0.8, 4.0), (0.9, 20.0)];
//! let pick = |prefer: &str| -> Result<usize, Box<dyn std::error::Error>> {
//!     let request = Request::new(Some(Preference::parse(prefer)?.value()), None, None)?;
//!     Ok(select(&points, &request)?)
//! };
//! assert_eq!(pick("fast")?, 0);
//! assert_eq!(pick("high")?, 2);
//! assert_eq!(pick("xhigh")?, 2);
//! let fast_enough = Request::new(None, Some(0.7), None)?;
//! assert_eq!(select(&points, &fast_enough)?, 1);
//! assert!(Request::new(None, None, Some(-1.0)).is_err());
//! let impossible = Request::new(None, Some(0.95), Some(2.0))?;
//! let err = select(&points, &impossible).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "no point has accuracy >= 0.95 and latency <= 2s; nearest: \
//!      #2 (accuracy 0.9, latency 20s: the most accurate), \
//!      #0 (accuracy 0.5, latency 1s: the fastest, the most accurate with latency <= 2s)"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod confidence;

use std::fmt;

pub use confidence::{normal_quantile, Bounded, Confidence, ConfidenceError};

use flowcompile_artifact::Point;

/// A weight b in [0, 1] between accuracy (1) and speed (0).
#[derive(Copy, Clone, Debug, PartialEq, PartialOrd)]
pub struct Preference(f64);

/// The named presets, in increasing weight on accuracy: the one table the CLI's `--prefer` and the
/// server's model suffixes (`math@fast`) read; [`ALIASES`] gives other names for some of them.
pub const PRESETS: [(&str, Preference); 4] = [
    ("fast", Preference::FAST),
    ("medium", Preference::MEDIUM),
    ("high", Preference::HIGH),
    ("xhigh", Preference::XHIGH),
];

/// Other names of presets, as (alias, preset name): `low` is the `fast` preset.
pub const ALIASES: [(&str, &str); 1] = [("low", "fast")];

impl Preference {
    /// All weight on speed: the minimum-latency point, ties to the more accurate.
    pub const FAST: Preference = Preference(0.0);
    /// Equal weight on accuracy and speed.
    pub const MEDIUM: Preference = Preference(0.5);
    /// Mostly accuracy.
    pub const HIGH: Preference = Preference(0.9);
    /// All weight on accuracy: the most accurate point, ties to the faster.
    pub const XHIGH: Preference = Preference(1.0);

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

    /// The preset or alias called `name` (any case, surrounding spaces ignored).
    pub fn preset(name: &str) -> Option<Preference> {
        let name = name.trim();
        let name = ALIASES
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
            .map_or(name, |(_, preset)| preset);
        PRESETS
            .iter()
            .find(|(preset, _)| preset.eq_ignore_ascii_case(name))
            .map(|(_, p)| *p)
    }

    /// Reads a preset name or alias ([`PRESETS`], [`ALIASES`], any case) or a number in [0, 1].
    pub fn parse(text: &str) -> Result<Preference, PreferenceError> {
        if let Some(p) = Preference::preset(text) {
            return Ok(p);
        }
        text.trim()
            .parse::<f64>()
            .ok()
            .and_then(|b| Preference::new(b).ok())
            .ok_or_else(|| PreferenceError { input: text.into() })
    }

    /// The weight b.
    pub fn value(self) -> f64 {
        self.0
    }
}

/// The presets as a user reads them, from [`PRESETS`] and [`ALIASES`]: `fast or low (the fastest
/// point), medium (0.5), high (0.9), xhigh (the most accurate point)`.
pub fn presets_text() -> String {
    PRESETS
        .iter()
        .map(|(name, p)| {
            let mut names = vec![*name];
            names.extend(
                ALIASES
                    .iter()
                    .filter(|(_, preset)| preset == name)
                    .map(|(alias, _)| *alias),
            );
            let what = if *p == Preference::FAST {
                "the fastest point".to_string()
            } else if *p == Preference::XHIGH {
                "the most accurate point".to_string()
            } else {
                p.value().to_string()
            };
            format!("{} ({what})", names.join(" or "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A preference that is neither a preset nor a number in [0, 1].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid preference '{input}': expected {} or a number from 0 to 1",
    presets_text()
)]
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

/// A request parameter out of its range, as [`Request::validate`] finds it.
#[derive(Copy, Clone, Debug, PartialEq, thiserror::Error)]
#[error("`{}` must be {}, got {value}", self.param.name(), self.param.expected())]
#[non_exhaustive]
pub struct RequestError {
    /// The parameter.
    pub param: Param,
    /// The value given.
    pub value: f64,
}

/// A parameter of a [`Request`], for errors that name it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Param {
    /// The preference weight.
    Preference,
    /// The accuracy floor.
    MinAccuracy,
    /// The latency ceiling.
    MaxLatency,
}

impl Param {
    /// The parameter's name on the wire (`preference`, `min_accuracy`, `max_latency_s`).
    pub fn name(self) -> &'static str {
        match self {
            Param::Preference => "preference",
            Param::MinAccuracy => "min_accuracy",
            Param::MaxLatency => "max_latency_s",
        }
    }

    /// What the parameter accepts, as a phrase (`a number from 0 to 1`).
    pub fn expected(self) -> &'static str {
        match self {
            Param::Preference | Param::MinAccuracy => "a number from 0 to 1",
            Param::MaxLatency => "a finite number of seconds >= 0",
        }
    }
}

impl Request {
    /// A checked request; with neither a preference nor a limit, the `medium` preference (what
    /// [`select`] would use anyway, made explicit so callers can report it).
    pub fn new(
        preference: Option<f64>,
        min_accuracy: Option<f64>,
        max_latency_s: Option<f64>,
    ) -> Result<Request, RequestError> {
        let nothing = preference.is_none() && min_accuracy.is_none() && max_latency_s.is_none();
        let request = Request {
            preference: if nothing {
                Some(Preference::MEDIUM.value())
            } else {
                preference
            },
            min_accuracy,
            max_latency_s,
        };
        request.validate()?;
        Ok(request)
    }

    /// Checks every given parameter: preference and accuracy floor in [0, 1], latency ceiling
    /// finite and >= 0 (0 is allowed: it asks for points of zero predicted latency).
    pub fn validate(&self) -> Result<(), RequestError> {
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        let checks = [
            (
                Param::Preference,
                self.preference,
                unit(self.preference.unwrap_or(0.0)),
            ),
            (
                Param::MinAccuracy,
                self.min_accuracy,
                unit(self.min_accuracy.unwrap_or(0.0)),
            ),
            (
                Param::MaxLatency,
                self.max_latency_s,
                self.max_latency_s.is_none_or(|v| v.is_finite() && v >= 0.0),
            ),
        ];
        match checks.into_iter().find(|&(_, _, ok)| !ok) {
            Some((param, Some(value), _)) => Err(RequestError { param, value }),
            _ => Ok(()),
        }
    }

    fn feasible(&self, acc: f64, lat: f64) -> bool {
        acc.is_finite()
            && lat.is_finite()
            && self.min_accuracy.is_none_or(|m| acc >= m)
            && self.max_latency_s.is_none_or(|m| lat <= m)
    }
}

/// Something to choose among: a predicted accuracy and latency, and a name for errors.
pub trait Candidate {
    /// Predicted accuracy in [0, 1].
    fn accuracy(&self) -> f64;
    /// Predicted latency, seconds.
    fn latency_s(&self) -> f64;
    /// How errors name the candidate at `index` ([`NearPoint::id`]); `#index` unless it has an id.
    fn id(&self, index: usize) -> String {
        format!("#{index}")
    }
}

/// An artifact point, named by its id.
impl Candidate for Point {
    fn accuracy(&self) -> f64 {
        self.predicted.accuracy
    }
    fn latency_s(&self) -> f64 {
        self.predicted.latency_s
    }
    fn id(&self, _: usize) -> String {
        self.id.clone()
    }
}

/// A bare `(accuracy, latency_s)` pair.
impl Candidate for (f64, f64) {
    fn accuracy(&self) -> f64 {
        self.0
    }
    fn latency_s(&self) -> f64 {
        self.1
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

/// The first index (in the candidates' order) whose key is strictly greatest, comparing the first
/// component, then the second.
fn argmax(
    candidates: impl Iterator<Item = usize>,
    key: impl Fn(usize) -> (f64, f64),
) -> Option<usize> {
    let mut best: Option<(usize, (f64, f64))> = None;
    for i in candidates {
        let k = key(i);
        if best.is_none_or(|(_, b)| k.0 > b.0 || (k.0 == b.0 && k.1 > b.1)) {
            best = Some((i, k));
        }
    }
    best.map(|(i, _)| i)
}

/// Chooses a candidate for `req` and returns its index into `points` (an artifact's points, in
/// order, or any [`Candidate`]s).
///
/// With a preference, the feasible point of highest utility (normalising latency by the largest
/// latency of all points), ties to the earliest; at b = 0 the fastest feasible point (ties to the more
/// accurate), at b = 1 the most accurate (ties to the faster); else with constraints, the extreme
/// feasible point they call for; with neither, the `medium` preference. Points with non-finite
/// predictions are never chosen. The request is not checked here ([`Request::validate`]).
pub fn select<C: Candidate>(points: &[C], req: &Request) -> Result<usize, NoFeasible> {
    let lat_max = points
        .iter()
        .map(Candidate::latency_s)
        .filter(|l| l.is_finite())
        .fold(0.0, f64::max);
    select_scaled(points, req, lat_max)
}

/// [`select`] with the latency scale of the utility given: a per-query frontier (the KNN router's)
/// is scored on the deployment's fixed scale, so one preference means the same trade-off for every
/// query.
pub fn select_scaled<C: Candidate>(
    points: &[C],
    req: &Request,
    lat_max: f64,
) -> Result<usize, NoFeasible> {
    let acc = |i: usize| points[i].accuracy();
    let lat = |i: usize| points[i].latency_s();
    let feasible = || (0..points.len()).filter(|&i| req.feasible(acc(i), lat(i)));
    let chosen = match (req.preference, req.min_accuracy, req.max_latency_s) {
        (None, Some(_), None) => argmax(feasible(), |i| (-acc(i), 0.0)),
        (None, None, Some(_)) => argmax(feasible(), |i| (lat(i), 0.0)),
        (None, Some(_), Some(_)) => argmax(feasible(), |i| (acc(i), 0.0)),
        (b, _, _) => {
            let b = b.unwrap_or(Preference::MEDIUM.value());
            if b == Preference::FAST.value() {
                argmax(feasible(), |i| (-lat(i), acc(i)))
            } else if b == Preference::XHIGH.value() {
                argmax(feasible(), |i| (acc(i), -lat(i)))
            } else {
                argmax(feasible(), |i| (utility(b, acc(i), lat(i), lat_max), 0.0))
            }
        }
    };
    chosen.ok_or_else(|| no_feasible(points, req))
}

fn no_feasible<C: Candidate>(points: &[C], req: &Request) -> NoFeasible {
    let acc = |i: usize| points[i].accuracy();
    let lat = |i: usize| points[i].latency_s();
    let finite = || (0..points.len()).filter(|&i| acc(i).is_finite() && lat(i).is_finite());
    let most_accurate = |i: usize| (acc(i), 0.0);
    let fastest = |i: usize| (-lat(i), 0.0);
    let mut picks = vec![
        (argmax(finite(), most_accurate), Nearness::MostAccurate),
        (argmax(finite(), fastest), Nearness::Fastest),
    ];
    if let (Some(min_acc), Some(max_lat)) = (req.min_accuracy, req.max_latency_s) {
        picks.push((
            argmax(finite().filter(|&i| lat(i) <= max_lat), most_accurate),
            Nearness::MostAccurateUnderLatency,
        ));
        picks.push((
            argmax(finite().filter(|&i| acc(i) >= min_acc), fastest),
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
                id: points[index].id(index),
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
                predicted: Predicted::new(accuracy, latency_s),
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
        assert_eq!(Preference::parse("fast").unwrap(), Preference::FAST);
        assert_eq!(Preference::parse("low").unwrap(), Preference::FAST);
        assert_eq!(Preference::parse(" LOW ").unwrap().value(), 0.0);
        assert_eq!(Preference::parse(" XHigh ").unwrap().value(), 1.0);
        assert_eq!(Preference::parse("0.7").unwrap().value(), 0.7);
        assert_eq!(Preference::parse("0").unwrap().value(), 0.0);
        assert_eq!(Preference::parse("1").unwrap().value(), 1.0);
        assert_eq!(Preference::new(0.25).unwrap().value(), 0.25);
    }

    #[test]
    fn preset_names_come_from_one_table() {
        for (name, p) in PRESETS {
            assert_eq!(Preference::preset(name), Some(p));
            assert_eq!(Preference::parse(&name.to_uppercase()).unwrap(), p);
            assert!(presets_text().contains(name), "{name}");
        }
        for (alias, preset) in ALIASES {
            assert!(PRESETS.iter().any(|(name, _)| *name == preset), "{alias}");
            assert_eq!(Preference::preset(alias), Preference::preset(preset));
        }
        assert_eq!(Preference::preset("fastest"), None);
        let values: Vec<f64> = PRESETS.iter().map(|(_, p)| p.value()).collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
        assert_eq!(
            presets_text(),
            "fast or low (the fastest point), medium (0.5), high (0.9), xhigh (the most accurate point)"
        );
    }

    #[test]
    fn bad_preferences_say_what_is_accepted() {
        let want = |input: &str| {
            format!(
                "invalid preference '{input}': expected fast or low (the fastest point), medium (0.5), \
                 high (0.9), xhigh (the most accurate point) or a number from 0 to 1"
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
        check(&f, req(Some(Preference::FAST.value()), None, None), 0);
        check(&f, Request::default(), 1);
        check(&f, req(Some(Preference::XHIGH.value()), None, None), 4);
        check(&f, req(None, None, None), 1);
    }

    #[test]
    fn fast_picks_the_minimum_latency_point() {
        // As on the math example: a weight of 0.01 on accuracy prefers a slower point (0.194 s)
        // to the fastest (0.137 s); `fast` takes the fastest.
        let p = points(&[(0.3, 0.137), (0.9, 0.194), (0.95, 10.0)]);
        check(&p, req(Some(0.01), None, None), 1);
        let fast = Request::new(Some(Preference::parse("fast").unwrap().value()), None, None);
        check(&p, fast.unwrap(), 0);
        check(&p, req(Some(Preference::FAST.value()), Some(0.92), None), 2);
    }

    #[test]
    fn the_extreme_presets_break_ties_on_the_other_metric() {
        let same_latency = [(0.4, 1.0), (0.6, 1.0), (0.9, 3.0)];
        assert_eq!(select(&same_latency, &req(Some(0.0), None, None)), Ok(1));
        let same_accuracy = [(0.8, 5.0), (0.8, 2.0), (0.3, 1.0)];
        assert_eq!(select(&same_accuracy, &req(Some(1.0), None, None)), Ok(1));
        let xhigh = points(&[(0.4, 1.0), (0.9, 2.0), (0.9005, 50.0)]);
        check(&xhigh, req(Some(0.999), None, None), 1);
        check(&xhigh, req(Some(Preference::XHIGH.value()), None, None), 2);
    }

    #[test]
    fn requests_are_checked_once_for_every_front_end() {
        assert_eq!(Request::new(None, None, None).unwrap(), Request::default());
        let zero = Request::new(None, None, Some(0.0)).unwrap();
        assert_eq!(zero.max_latency_s, Some(0.0));
        assert_eq!(zero.preference, None);
        check_none(
            &frontier(),
            zero,
            "no point has latency <= 0s; nearest: p4 (accuracy 0.85, latency 16s: the most accurate), \
             p0 (accuracy 0.4, latency 1s: the fastest)",
        );
        check(&points(&[(0.3, 0.0), (0.6, 1.0)]), zero, 0);
        assert!(Request::new(Some(1.0), Some(0.0), Some(1e9)).is_ok());
        let bad = |r: Request| r.validate().unwrap_err();
        let e = bad(req(None, Some(1.5), None));
        assert_eq!((e.param, e.value), (Param::MinAccuracy, 1.5));
        assert_eq!(
            e.to_string(),
            "`min_accuracy` must be a number from 0 to 1, got 1.5"
        );
        assert_eq!(
            bad(req(None, None, Some(-1.0))).to_string(),
            "`max_latency_s` must be a finite number of seconds >= 0, got -1"
        );
        assert_eq!(
            bad(req(None, None, Some(f64::INFINITY))).param,
            Param::MaxLatency
        );
        assert_eq!(
            bad(req(None, Some(f64::NAN), None)).param,
            Param::MinAccuracy
        );
        assert_eq!(bad(req(Some(2.0), None, None)).param, Param::Preference);
        assert_eq!(Param::MaxLatency.name(), "max_latency_s");
    }

    #[test]
    fn metric_pairs_are_candidates_named_by_index() {
        let pairs = [(0.4, 1.0), (0.8, 3.0)];
        assert_eq!(select(&pairs, &Request::default()), Ok(0));
        assert_eq!(select(&pairs, &req(Some(0.9), None, None)), Ok(1));
        let err = select(&pairs, &req(None, Some(0.9), None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no point has accuracy >= 0.9; nearest: #1 (accuracy 0.8, latency 3s: the most accurate), \
             #0 (accuracy 0.4, latency 1s: the fastest)"
        );
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
        let err = select::<Point>(&[], &Request::default()).unwrap_err();
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
