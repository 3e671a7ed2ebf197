//! Property tests: the chosen point maximises the utility, and constraint picks satisfy their
//! constraints and are extreme among the feasible points.

use flowcompile_artifact::{Point, PointStructure, Predicted};
use flowcompile_select::{select, utility, Nearness, Request};
use proptest::prelude::*;

fn value(max: f64) -> impl Strategy<Value = f64> {
    // Few distinct values make ties common.
    prop_oneof![
        0.0..=max,
        (0u32..=4).prop_map(move |k| max * f64::from(k) / 4.0)
    ]
}

/// Points sorted as an artifact keeps them: latency ascending, then accuracy descending.
fn points() -> impl Strategy<Value = Vec<Point>> {
    proptest::collection::vec((value(1.0), value(50.0)), 0..12).prop_map(|mut m| {
        m.sort_by(|a, b| a.1.total_cmp(&b.1).then(b.0.total_cmp(&a.0)));
        m.into_iter()
            .enumerate()
            .map(|(i, (accuracy, latency_s))| Point {
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
    })
}

fn acc(p: &Point) -> f64 {
    p.predicted.accuracy
}

fn lat(p: &Point) -> f64 {
    p.predicted.latency_s
}

fn feasible(r: &Request, p: &Point) -> bool {
    r.min_accuracy.is_none_or(|m| acc(p) >= m) && r.max_latency_s.is_none_or(|m| lat(p) <= m)
}

/// Checks that `chosen` is the first feasible point maximising `key`.
fn is_first_argmax(
    points: &[Point],
    r: &Request,
    chosen: usize,
    key: impl Fn(&Point) -> f64,
) -> Result<(), TestCaseError> {
    prop_assert!(feasible(r, &points[chosen]));
    let best = key(&points[chosen]);
    for (j, p) in points.iter().enumerate().filter(|(_, p)| feasible(r, p)) {
        prop_assert!(key(p) <= best, "p{j} beats the choice p{chosen}");
        if j < chosen {
            prop_assert!(
                key(p) < best,
                "p{j} ties the choice p{chosen} and comes first"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_preference_maximises_the_utility(
        points in points(),
        b in value(1.0),
        min_accuracy in proptest::option::of(value(1.0)),
        max_latency_s in proptest::option::of(value(50.0)),
    ) {
        let r = Request { preference: Some(b), min_accuracy, max_latency_s };
        let lat_max = points.iter().map(lat).fold(0.0, f64::max);
        match select(&points, &r) {
            Ok(i) => is_first_argmax(&points, &r, i, |p| utility(b, acc(p), lat(p), lat_max))?,
            Err(e) => {
                prop_assert!(!points.iter().any(|p| feasible(&r, p)));
                prop_assert_eq!(e.n_points, points.len());
            }
        }
    }

    #[test]
    fn min_accuracy_picks_the_least_accurate_feasible_point(points in points(), m in value(1.0)) {
        let r = Request { preference: None, min_accuracy: Some(m), max_latency_s: None };
        match select(&points, &r) {
            Ok(i) => is_first_argmax(&points, &r, i, |p| -acc(p))?,
            Err(_) => prop_assert!(points.iter().all(|p| acc(p) < m)),
        }
    }

    #[test]
    fn max_latency_picks_the_slowest_feasible_point(points in points(), m in value(50.0)) {
        let r = Request { preference: None, min_accuracy: None, max_latency_s: Some(m) };
        match select(&points, &r) {
            Ok(i) => is_first_argmax(&points, &r, i, lat)?,
            Err(_) => prop_assert!(points.iter().all(|p| lat(p) > m)),
        }
    }

    #[test]
    fn both_constraints_pick_the_most_accurate_feasible_point(points in points(), a in value(1.0), l in value(50.0)) {
        let r = Request { preference: None, min_accuracy: Some(a), max_latency_s: Some(l) };
        match select(&points, &r) {
            Ok(i) => is_first_argmax(&points, &r, i, acc)?,
            Err(e) => {
                prop_assert!(!points.iter().any(|p| feasible(&r, p)));
                if !points.is_empty() {
                    let most = e.nearest.iter().find(|n| n.reasons.contains(&Nearness::MostAccurate)).unwrap();
                    prop_assert!(points.iter().all(|p| acc(p) <= most.accuracy));
                    let fastest = e.nearest.iter().find(|n| n.reasons.contains(&Nearness::Fastest)).unwrap();
                    prop_assert!(points.iter().all(|p| lat(p) >= fastest.latency_s));
                }
                for n in &e.nearest {
                    prop_assert_eq!(&points[n.index].id, &n.id);
                    if n.reasons.contains(&Nearness::MostAccurateUnderLatency) {
                        prop_assert!(n.latency_s <= l);
                    }
                    if n.reasons.contains(&Nearness::FastestOverAccuracy) {
                        prop_assert!(n.accuracy >= a);
                    }
                }
            }
        }
    }
}
