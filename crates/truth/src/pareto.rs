//! Measured points: the Pareto frontier, 2-D hypervolume, and the speedup at matched accuracy.

use serde::{Deserialize, Serialize};

/// A configuration's measured (or any) accuracy and latency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Measure {
    /// Fraction of items answered correctly, in [0, 1].
    pub accuracy: f64,
    /// Mean seconds per item.
    pub latency_s: f64,
}

impl Measure {
    /// Whether `self` dominates `other`: at least as accurate and as fast, strictly better in one.
    pub fn dominates(&self, other: &Measure) -> bool {
        self.accuracy >= other.accuracy
            && self.latency_s <= other.latency_s
            && (self.accuracy > other.accuracy || self.latency_s < other.latency_s)
    }
}

/// The non-dominated points of `points`, as indices by latency ascending (so accuracy strictly
/// ascending). Of several points with the same accuracy and latency the first (lowest index) is kept,
/// so the result depends only on the points and their order, never on how they were computed.
pub fn frontier(points: &[Measure]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        let (p, q) = (&points[a], &points[b]);
        p.latency_s
            .total_cmp(&q.latency_s)
            .then(q.accuracy.total_cmp(&p.accuracy))
            .then(a.cmp(&b))
    });
    let mut kept = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in order {
        if points[i].accuracy > best {
            best = points[i].accuracy;
            kept.push(i);
        }
    }
    kept
}

/// The area (accuracy x seconds) that `points` dominate above and left of `reference`: the union over
/// points with latency <= the reference latency of the rectangles [latency, reference latency] x
/// [reference accuracy, accuracy]. Dominated points add nothing, so any set's hypervolume is at most
/// that of the frontier of a superset.
pub fn hypervolume(points: &[Measure], reference: Measure) -> f64 {
    let mut inside: Vec<Measure> = points
        .iter()
        .copied()
        .filter(|p| p.latency_s <= reference.latency_s && p.accuracy > reference.accuracy)
        .collect();
    inside.sort_by(|p, q| {
        p.latency_s
            .total_cmp(&q.latency_s)
            .then(q.accuracy.total_cmp(&p.accuracy))
    });
    let mut area = 0.0;
    let mut best = reference.accuracy;
    for (i, p) in inside.iter().enumerate() {
        best = best.max(p.accuracy);
        let next = inside
            .get(i + 1)
            .map_or(reference.latency_s, |q| q.latency_s);
        area += (next - p.latency_s) * (best - reference.accuracy);
    }
    area
}

/// The fastest of `candidates` at least as accurate as `baseline` (ties to the lower index) and the
/// speedup `baseline latency / its latency`; `None` when no candidate is that accurate.
pub fn speedup_at_matched_accuracy(
    baseline: Measure,
    candidates: &[Measure],
) -> Option<(usize, f64)> {
    let (index, fastest) = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.accuracy >= baseline.accuracy)
        .min_by(|(i, p), (j, q)| p.latency_s.total_cmp(&q.latency_s).then(i.cmp(j)))?;
    Some((index, baseline.latency_s / fastest.latency_s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(accuracy: f64, latency_s: f64) -> Measure {
        Measure {
            accuracy,
            latency_s,
        }
    }

    #[test]
    fn frontier_keeps_the_non_dominated_points_fastest_first() {
        let points = [
            m(0.8, 3.0),
            m(0.5, 1.0),
            m(0.4, 2.0),
            m(0.6, 2.0),
            m(0.6, 2.0),
            m(0.8, 4.0),
            m(0.5, 1.0),
        ];
        assert_eq!(frontier(&points), vec![1, 3, 0]);
        for &i in &frontier(&points) {
            assert!(points.iter().all(|q| !q.dominates(&points[i])));
        }
        assert!(frontier(&[]).is_empty());
    }

    #[test]
    fn hypervolume_by_hand() {
        let reference = m(0.0, 5.0);
        // Staircase: [1, 2) at 0.5, [2, 3) at 0.6, [3, 5] at 0.8 -> 0.5 + 0.6 + 1.6.
        let front = [m(0.5, 1.0), m(0.6, 2.0), m(0.8, 3.0)];
        assert!((hypervolume(&front, reference) - 2.7).abs() < 1e-12);
        // Dominated points, points past the reference latency and order change nothing.
        let mut more = vec![
            m(0.8, 3.0),
            m(0.4, 4.0),
            m(0.9, 6.0),
            m(0.5, 1.0),
            m(0.6, 2.0),
        ];
        assert!((hypervolume(&more, reference) - 2.7).abs() < 1e-12);
        more.push(m(0.7, 1.5));
        // [1, 1.5) at 0.5, [1.5, 3) at 0.7, [3, 5] at 0.8 -> 0.25 + 1.05 + 1.6.
        assert!((hypervolume(&more, reference) - 2.9).abs() < 1e-12);
        assert_eq!(hypervolume(&[], reference), 0.0);
        assert_eq!(hypervolume(&[m(0.9, 5.0)], reference), 0.0);
        // A non-zero reference accuracy lowers every rectangle.
        assert!((hypervolume(&[m(0.5, 1.0)], m(0.25, 3.0)) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn speedup_picks_the_fastest_point_at_least_as_accurate() {
        let baseline = m(0.8, 10.0);
        let candidates = [m(0.79, 1.0), m(0.8, 4.0), m(0.9, 2.5), m(0.95, 2.5)];
        assert_eq!(
            speedup_at_matched_accuracy(baseline, &candidates),
            Some((2, 4.0))
        );
        assert_eq!(
            speedup_at_matched_accuracy(baseline, &candidates[..2]),
            Some((1, 2.5))
        );
        assert_eq!(
            speedup_at_matched_accuracy(baseline, &candidates[..1]),
            None
        );
        let slower = [m(0.85, 20.0)];
        assert_eq!(
            speedup_at_matched_accuracy(baseline, &slower),
            Some((0, 0.5))
        );
    }
}
