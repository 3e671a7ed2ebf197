use flowcompile_ir::{AgentId, Expr, SlotId, Tool, ToolId, ToolKind};
use proptest::prelude::*;

use super::*;

fn m(accuracy: f64, latency_s: f64) -> Metrics {
    Metrics {
        accuracy,
        latency_s,
    }
}

fn call(s: u32) -> Expr {
    Expr::Call {
        slot: SlotId(s),
        agent: AgentId(s),
    }
}

#[track_caller]
fn check(expr: &Expr, slots: &[Metrics], exec: ExecutionModel, want: Metrics) {
    let tools = [Tool {
        name: "t".into(),
        kind: ToolKind::ExtractAnswer,
        latency_s: 0.25,
    }];
    let got = evaluate(
        expr,
        &|s: SlotId| slots[s.0 as usize],
        &tools,
        exec,
        Dependence::INDEPENDENT,
    );
    assert!(
        (got.accuracy - want.accuracy).abs() < 1e-12,
        "accuracy {got:?} != {want:?}"
    );
    assert!(
        (got.latency_s - want.latency_s).abs() < 1e-12,
        "latency {got:?} != {want:?}"
    );
}

const P: ExecutionModel = ExecutionModel::Parallel;
const S: ExecutionModel = ExecutionModel::Sequential;

#[test]
fn sequence_multiplies_accuracy_and_adds_latency() {
    let slots = [m(0.9, 1.0), m(0.8, 2.0)];
    check(
        &Expr::Seq(vec![call(0), call(1), Expr::Tool(ToolId(0))]),
        &slots,
        P,
        m(0.72, 3.25),
    );
    check(&Expr::Seq(vec![]), &slots, P, m(1.0, 0.0));
}

#[test]
fn any_of_is_one_minus_all_fail_with_max_or_sum_latency() {
    let slots = [m(0.5, 1.0), m(0.6, 3.0), m(0.2, 2.0)];
    let e = Expr::AnyOf(vec![call(0), call(1), call(2)]);
    check(&e, &slots, P, m(1.0 - 0.5 * 0.4 * 0.8, 3.0));
    check(&e, &slots, S, m(1.0 - 0.5 * 0.4 * 0.8, 6.0));
}

#[test]
fn all_of_multiplies_with_max_or_sum_latency() {
    let slots = [m(0.5, 1.0), m(0.6, 3.0)];
    let e = Expr::AllOf(vec![call(0), call(1)]);
    check(&e, &slots, P, m(0.3, 3.0));
    check(&e, &slots, S, m(0.3, 4.0));
}

#[test]
fn conditional_weights_both_metrics() {
    let slots = [m(0.9, 1.0), m(0.5, 5.0)];
    let e = Expr::Cond(vec![(0.75, call(0)), (0.25, call(1))]);
    check(&e, &slots, P, m(0.75 * 0.9 + 0.25 * 0.5, 0.75 + 1.25));
}

#[test]
fn retry_matches_the_closed_form() {
    let (p0, pf, t0, tf) = (0.6, 0.3, 2.0, 1.5);
    let slots = [m(p0, t0), m(pf, tf)];
    for k in 1..5 {
        let r: f64 = 1.0 - pf;
        let acc = p0 + (1.0 - p0) * (1.0 - r.powi(k as i32));
        let runs = (1.0 - p0) * (1.0 - r.powi(k as i32)) / (1.0 - r);
        let e = Expr::Retry {
            body: Box::new(call(0)),
            fixer: Box::new(call(1)),
            attempts: k,
        };
        check(&e, &slots, P, m(acc, t0 + runs * tf));
    }
}

#[test]
fn retry_with_a_fixer_that_never_succeeds_runs_every_attempt() {
    let slots = [m(0.5, 1.0), m(0.0, 2.0)];
    let e = Expr::Retry {
        body: Box::new(call(0)),
        fixer: Box::new(call(1)),
        attempts: 3,
    };
    check(&e, &slots, P, m(0.5, 1.0 + 0.5 * 3.0 * 2.0));
}

/// A random expression over `n_slots` slots.
fn expr(n_slots: u32) -> impl Strategy<Value = Expr> {
    let leaf = (0..n_slots).prop_map(call);
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Expr::Seq),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::AnyOf),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::AllOf),
            (prop::collection::vec(inner.clone(), 2..3), 0.0..1.0f64).prop_map(
                |(v, w)| Expr::Cond(
                    v.into_iter()
                        .zip([w, 1.0 - w])
                        .map(|(e, w)| (w, e))
                        .collect()
                )
            ),
            (inner.clone(), inner, 1u32..4).prop_map(|(b, f, k)| Expr::Retry {
                body: Box::new(b),
                fixer: Box::new(f),
                attempts: k,
            }),
        ]
    })
}

fn metrics() -> impl Strategy<Value = Metrics> {
    (0.0..=1.0f64, 0.0..100.0f64).prop_map(|(a, l)| m(a, l))
}

proptest! {
    /// Monotonicity, bit for bit: improving one slot never makes the workflow less accurate or slower.
    #[test]
    fn a_better_slot_never_makes_the_workflow_worse(
        e in expr(4),
        slots in prop::collection::vec(metrics(), 4),
        which in 0usize..4,
        gain in 0.0..=1.0f64,
        cut in 0.0..=1.0f64,
        parallel in any::<bool>(),
        r in 0.0..=1.0f64,
    ) {
        let exec = if parallel { P } else { S };
        let dep = Dependence::new(r);
        let mut better = slots.clone();
        let b = &mut better[which];
        b.accuracy += (1.0 - b.accuracy) * gain;
        b.latency_s *= 1.0 - cut;
        let before = evaluate(&e, &|s: SlotId| slots[s.0 as usize], &[], exec, dep);
        let after = evaluate(&e, &|s: SlotId| better[s.0 as usize], &[], exec, dep);
        prop_assert!(after.accuracy >= before.accuracy, "{before:?} -> {after:?}");
        prop_assert!(after.latency_s <= before.latency_s, "{before:?} -> {after:?}");
        prop_assert!((0.0..=1.0).contains(&after.accuracy));
    }

    /// Parallel execution is never slower than sequential and predicts the same accuracy.
    #[test]
    fn parallel_is_never_slower_than_sequential(e in expr(3), slots in prop::collection::vec(metrics(), 3)) {
        let p = evaluate(&e, &|s: SlotId| slots[s.0 as usize], &[], P, Dependence::INDEPENDENT);
        let s = evaluate(&e, &|s: SlotId| slots[s.0 as usize], &[], S, Dependence::INDEPENDENT);
        prop_assert_eq!(p.accuracy, s.accuracy);
        prop_assert!(p.latency_s <= s.latency_s);
    }

    /// Dependence only lowers an any-of's accuracy, from the independent product down to the best
    /// candidate alone at full dependence.
    #[test]
    fn dependence_lies_between_independence_and_the_best_candidate(
        slots in prop::collection::vec(metrics(), 3),
        r in 0.0..=1.0f64,
    ) {
        let e = Expr::AnyOf(vec![call(0), call(1), call(2)]);
        let at = |r: f64| evaluate(&e, &|s: SlotId| slots[s.0 as usize], &[], P, Dependence::new(r)).accuracy;
        let best = slots.iter().map(|m| m.accuracy).fold(0.0, f64::max);
        prop_assert!(at(r) <= at(0.0) + 1e-12);
        prop_assert!(at(r) >= best - 1e-12);
        prop_assert!((at(1.0) - best).abs() < 1e-12);
    }
}

#[test]
fn dependence_is_estimated_from_failures_on_the_same_items() {
    let same = [1.0, 1.0, 0.0, 0.0];
    let other = [1.0, 0.0, 1.0, 0.0];
    assert_eq!(
        Dependence::estimate([(&same[..], &same[..])]),
        Some(Dependence::new(1.0))
    );
    assert_eq!(
        Dependence::estimate([(&same[..], &other[..])]),
        Some(Dependence::new(0.0))
    );
    let never = [0.0; 4];
    assert_eq!(Dependence::estimate([(&never[..], &same[..])]), None);
    let two = Dependence::estimate([(&same[..], &same[..]), (&same[..], &other[..])]).unwrap();
    assert!((two.any_of - 0.5).abs() < 1e-12);
}

#[test]
fn weighted_co_failures_count_an_item_as_often_as_its_weight() {
    let a = [0.0, 1.0, 0.5, 1.0, 0.0];
    let b = [0.0, 1.0, 0.0, 0.5, 1.0];
    let mut unit = CoFailure::default();
    unit.add_pair(a.iter().zip(&b).map(|(x, y)| (*x, *y, 1.0)));
    assert_eq!(unit.dependence(), Dependence::estimate([(&a[..], &b[..])]));
    // Weights 2, 0, 1, 1, 3 are the same as items repeated that often.
    let w = [2.0, 0.0, 1.0, 1.0, 3.0];
    let mut weighted = CoFailure::default();
    weighted.add_pair(a.iter().zip(&b).zip(&w).map(|((x, y), w)| (*x, *y, *w)));
    let repeat = |x: &[f64]| -> Vec<f64> {
        x.iter()
            .zip(&w)
            .flat_map(|(v, w)| std::iter::repeat_n(*v, *w as usize))
            .collect()
    };
    let repeated = Dependence::estimate([(repeat(&a), repeat(&b))]).unwrap();
    assert!((weighted.dependence().unwrap().any_of - repeated.any_of).abs() < 1e-12);
    assert_ne!(weighted, unit);
    let mut nothing = CoFailure::default();
    nothing.add_pair(a.iter().map(|x| (*x, *x, 0.0)));
    assert_eq!(nothing.dependence(), None);
}

proptest! {
    #[test]
    fn all_pairs_at_once_add_what_each_pair_adds(
        columns in proptest::collection::vec(proptest::collection::vec(0.0..=1.0f64, 6), 2..7),
        weights in proptest::collection::vec(0.0..4.0f64, 6),
    ) {
        let mut each = CoFailure::default();
        for x in 0..columns.len() {
            for y in x + 1..columns.len() {
                each.add_pair((0..6).map(|k| (columns[x][k], columns[y][k], weights[k])));
            }
        }
        let mut all = CoFailure::default();
        all.add_all_pairs(&columns, &weights);
        prop_assert!((each.excess - all.excess).abs() < 1e-9, "{each:?} {all:?}");
        prop_assert!((each.room - all.room).abs() < 1e-9, "{each:?} {all:?}");
    }
}
