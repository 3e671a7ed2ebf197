//! The frontier points a report marks: the ones the selection presets serve, and the knee.
//!
//! The presets are [`flowcompile_select::PRESETS`] and each point is what
//! [`flowcompile_select::select`] picks for the preset's preference, so the page shows the points
//! `flowcompile select --prefer NAME` and `serve`'s `WORKFLOW@NAME` return, by the same rule.
//!
//! The knee is the frontier point farthest above the chord from the fastest point to the most
//! accurate one (the `fast` and `xhigh` picks), in coordinates where both run from 0 to 1 across the
//! frontier: latency on a log scale (linear when some latency is 0), accuracy linear. In those
//! coordinates the chord is y = x and a point's distance above it is (y - x) / sqrt 2: the point
//! where the accuracy bought per factor of latency turns from steep to shallow. A frontier with no
//! point strictly above its chord (fewer than three points, or a convex one) has no knee; ties go
//! to the faster point.

use flowcompile_artifact::Point;
use flowcompile_select::{select, Preference, Request, PRESETS};

/// The marked points of a frontier, by index into the artifact's points.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Marks {
    /// Each preset's name, its preference and the point it serves, in [`PRESETS`] order.
    pub presets: Vec<(&'static str, Preference, usize)>,
    /// The knee, if the frontier has one.
    pub knee: Option<usize>,
}

impl Marks {
    /// The marks of `points` (an artifact's, in its order).
    pub fn of(points: &[Point]) -> Marks {
        let presets: Vec<(&'static str, Preference, usize)> = PRESETS
            .iter()
            .filter_map(|&(name, preference)| {
                let request = Request {
                    preference: Some(preference.value()),
                    min_accuracy: None,
                    max_latency_s: None,
                };
                select(points, &request).ok().map(|i| (name, preference, i))
            })
            .collect();
        let pick = |p: Preference| presets.iter().find(|(_, q, _)| *q == p).map(|&(_, _, i)| i);
        let knee = match (pick(Preference::FAST), pick(Preference::XHIGH)) {
            (Some(fast), Some(best)) => knee(points, fast, best),
            _ => None,
        };
        Marks { presets, knee }
    }

    /// What point `i` is marked as: its presets' names, then `knee`; empty when unmarked.
    pub fn names(&self, i: usize) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = self
            .presets
            .iter()
            .filter(|&&(_, _, p)| p == i)
            .map(|&(name, _, _)| name)
            .collect();
        if self.knee == Some(i) {
            out.push("knee");
        }
        out
    }

    /// The marked points, each once, in the artifact's order.
    pub fn points(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self.presets.iter().map(|&(_, _, i)| i).collect();
        out.extend(self.knee);
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The knee of `points` between the chord's ends `fast` and `best` (see the module docs).
fn knee(points: &[Point], fast: usize, best: usize) -> Option<usize> {
    let log = points.iter().all(|p| p.predicted.latency_s > 0.0);
    let x = |p: &Point| {
        if log {
            p.predicted.latency_s.log10()
        } else {
            p.predicted.latency_s
        }
    };
    let (x0, x1) = (x(&points[fast]), x(&points[best]));
    let (y0, y1) = (
        points[fast].predicted.accuracy,
        points[best].predicted.accuracy,
    );
    if !(x1 - x0 > 0.0 && y1 - y0 > 0.0) {
        return None;
    }
    let mut found: Option<(usize, f64)> = None;
    for (i, p) in points.iter().enumerate() {
        let above = (p.predicted.accuracy - y0) / (y1 - y0) - (x(p) - x0) / (x1 - x0);
        if above.is_finite() && above > 1e-9 && found.is_none_or(|(_, b)| above > b) {
            found = Some((i, above));
        }
    }
    found.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(pairs: &[(f64, f64)]) -> Vec<Point> {
        let list: Vec<String> = pairs
            .iter()
            .enumerate()
            .map(|(i, (acc, lat))| {
                format!(
                    r#"{{"id": "p{i}", "structure": {{"index": 0, "knobs": {{}}}},
                    "settings": {{"a": {{"model": "m", "budget": {i}}}}},
                    "predicted": {{"accuracy": {acc}, "latency_s": {lat}}}}}"#
                )
            })
            .collect();
        let text = format!(
            r#"{{"format": "flowcompile.artifact.v1", "workflow": "w",
            "provenance": {{"tool": "flowcompile", "tool_version": "0"}},
            "proxy": {{"execution": "parallel", "latency": "measured"}},
            "points": [{}]}}"#,
            list.join(",")
        );
        flowcompile_artifact::Artifact::from_json(&text, "a.json")
            .unwrap()
            .points
    }

    #[test]
    fn the_knee_is_farthest_above_the_chord_in_log_latency() {
        // log10 latency 0, 1, 2, 3: normalised x 0, 1/3, 2/3, 1; y 0, 0.8, 0.9, 1. Above the chord:
        // 0.467 (p1), 0.233 (p2).
        let p = points(&[(0.5, 1.0), (0.82, 10.0), (0.86, 100.0), (0.9, 1000.0)]);
        let marks = Marks::of(&p);
        assert_eq!(marks.knee, Some(1));
        // The presets as `select` picks them (medium: utility 0.905 at p1, high: 0.864 at p2).
        assert_eq!(marks.names(0), ["fast"]);
        assert_eq!(marks.names(1), ["medium", "knee"]);
        assert_eq!(marks.names(2), ["high"]);
        assert_eq!(marks.names(3), ["xhigh"]);
        assert_eq!(marks.points(), [0, 1, 2, 3]);
        // p1 gains little for its decade of latency: the knee is p2 (0.233 above the chord).
        let flat = points(&[(0.5, 1.0), (0.52, 10.0), (0.86, 100.0), (0.9, 1000.0)]);
        assert_eq!(Marks::of(&flat).knee, Some(2));
    }

    #[test]
    fn a_frontier_without_a_point_above_its_chord_has_no_knee() {
        assert_eq!(Marks::of(&points(&[(0.5, 1.0), (0.9, 2.0)])).knee, None);
        // Convex in (log latency, accuracy): p1 at x 0.79, y 0.67, below the chord.
        let convex = points(&[(0.5, 1.0), (0.7, 3.0), (0.8, 4.0)]);
        let marks = Marks::of(&convex);
        assert_eq!(marks.knee, None);
        assert_eq!(marks.points(), [0, 2]);
        // A zero latency switches to a linear latency scale instead of failing.
        let zero = points(&[(0.5, 0.0), (0.85, 1.0), (0.9, 10.0)]);
        assert_eq!(Marks::of(&zero).knee, Some(1));
        assert!(Marks::of(&[]).presets.is_empty());
    }
}
