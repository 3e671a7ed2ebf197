//! The fast search equals brute-force enumeration, bit for bit, on random small workflows and
//! profiles (ties and equal points included).

use flowcompile_ir::{
    Agent, AgentId, Count, NodeId, NodeKind, Setting, Tool, ToolId, ToolKind, Workflow,
};
use flowcompile_proxy::{Dependence, ExecutionModel, Metrics};
use flowcompile_search::{brute_force, pareto, Problem};
use proptest::prelude::*;

/// A random workflow graph before it is built into the IR.
#[derive(Clone, Debug)]
enum T {
    Call(u32),
    Tool,
    Seq(Vec<T>),
    AnyOf(Vec<T>),
    AllOf(Vec<T>),
    Cond(Vec<T>, f64),
    Repeat(u32, u32, u32),
    Optional(Box<T>),
    Vote(Box<T>, u32, u32),
    Retry(Box<T>, Box<T>, u32, u32),
}

fn tree(n_agents: u32) -> impl Strategy<Value = T> {
    let leaf = prop_oneof![4 => (0..n_agents).prop_map(T::Call), 1 => Just(T::Tool)];
    leaf.prop_recursive(4, 24, 3, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(T::Seq),
            prop::collection::vec(inner.clone(), 1..3).prop_map(T::AnyOf),
            prop::collection::vec(inner.clone(), 1..3).prop_map(T::AllOf),
            (prop::collection::vec(inner.clone(), 2..3), 0.0..1.0f64)
                .prop_map(|(v, w)| T::Cond(v, w)),
            (0..n_agents, 0u32..2, 0u32..3).prop_map(|(a, lo, span)| T::Repeat(a, lo, lo + span)),
            inner.clone().prop_map(|t| T::Optional(Box::new(t))),
            (inner.clone(), 0..n_agents, 1u32..3).prop_map(|(t, a, m)| T::Vote(Box::new(t), a, m)),
            (inner.clone(), inner, 0u32..2, 0u32..3).prop_map(|(b, f, lo, span)| T::Retry(
                Box::new(b),
                Box::new(f),
                lo,
                lo + span
            )),
        ]
    })
}

fn build(t: &T, wf: &mut Workflow) -> NodeId {
    let kind = match t {
        T::Call(a) => NodeKind::Agent(AgentId(*a)),
        T::Tool => NodeKind::Tool(ToolId(0)),
        T::Seq(v) => NodeKind::Seq(v.iter().map(|c| build(c, wf)).collect()),
        T::AnyOf(v) => NodeKind::AnyOf(v.iter().map(|c| build(c, wf)).collect()),
        T::AllOf(v) => NodeKind::AllOf(v.iter().map(|c| build(c, wf)).collect()),
        T::Cond(v, w) => NodeKind::Cond(
            v.iter()
                .zip([*w, 1.0 - *w])
                .map(|(c, weight)| flowcompile_ir::Branch {
                    weight,
                    node: build(c, wf),
                })
                .collect(),
        ),
        T::Repeat(a, lo, hi) => {
            let body = wf.add_node("call", NodeKind::Agent(AgentId(*a)));
            NodeKind::Repeat {
                body,
                count: Count::new(*lo, *hi),
            }
        }
        T::Optional(c) => NodeKind::Optional(build(c, wf)),
        T::Vote(c, a, m) => {
            let over = build(c, wf);
            let ensemble = wf.add_node("vote", NodeKind::Agent(AgentId(*a)));
            NodeKind::Vote {
                ensemble,
                over,
                min_inputs: *m,
            }
        }
        T::Retry(b, f, lo, hi) => {
            let body = build(b, wf);
            let fixer = build(f, wf);
            NodeKind::Retry {
                body,
                fixer,
                attempts: Count::new(*lo, *hi),
            }
        }
    };
    wf.add_node("n", kind)
}

/// Metrics from small grids (many ties, 0 and 1 included) or continuous values.
fn metrics(discrete: bool) -> BoxedStrategy<Metrics> {
    if discrete {
        (0u32..5, 0u32..4)
            .prop_map(|(a, l)| Metrics {
                accuracy: a as f64 / 4.0,
                latency_s: l as f64,
            })
            .boxed()
    } else {
        (0.0..=1.0f64, 0.0..10.0f64)
            .prop_map(|(accuracy, latency_s)| Metrics {
                accuracy,
                latency_s,
            })
            .boxed()
    }
}

fn case() -> impl Strategy<Value = (T, u32, bool, bool, bool, Vec<Vec<Metrics>>, f64)> {
    (1u32..4, any::<bool>(), any::<bool>(), any::<bool>()).prop_flat_map(
        |(n_agents, share, parallel, discrete)| {
            (
                prop_oneof![
                    prop::collection::vec(tree(n_agents), 2..4).prop_map(T::Seq),
                    prop::collection::vec(tree(n_agents), 2..4).prop_map(T::AnyOf),
                    (tree(n_agents), 0..n_agents, 1u32..3).prop_map(|(t, a, m)| T::Vote(
                        Box::new(t),
                        a,
                        m
                    )),
                    (tree(n_agents), tree(n_agents), 0u32..2, 1u32..3).prop_map(
                        |(b, f, lo, span)| T::Retry(Box::new(b), Box::new(f), lo, lo + span)
                    ),
                ],
                Just(n_agents),
                Just(share),
                Just(parallel),
                Just(discrete),
                prop::collection::vec(
                    prop::collection::vec(metrics(discrete), 1..7),
                    n_agents as usize,
                ),
                prop_oneof![Just(0.0), 0.0..2.0f64],
            )
        },
    )
}

/// Builds the workflow and checks the search against brute force on it; rejects the case when the
/// space is not valid, too large to enumerate, or has fewer than `min_structures` structures.
fn check(
    t: &T,
    n_agents: u32,
    share: bool,
    (parallel, dependence): (bool, f64),
    profiles: &[Vec<Metrics>],
    tool_latency: f64,
    min_structures: usize,
) -> Result<(), TestCaseError> {
    let agents = (0..n_agents)
        .map(|a| {
            let settings = (0..profiles[a as usize].len() as u32)
                .map(|b| Setting::new("m", b))
                .collect();
            Agent::new(format!("a{a}"), settings)
        })
        .collect();
    let mut wf = Workflow::new("random", agents);
    wf.share_settings = share;
    wf.tools.push(Tool {
        name: "tool".into(),
        kind: ToolKind::ExtractAnswer,
        latency_s: tool_latency,
    });
    wf.root = build(t, &mut wf);
    let Ok(space) = wf.design_space() else {
        return Ok(());
    };
    prop_assume!(space.n_configs().as_f64() <= 20_000.0);
    prop_assume!(space.structures.len() >= min_structures);
    let metrics: Vec<Vec<Metrics>> = space
        .slots
        .iter()
        .map(|s| profiles[s.agent.0 as usize].clone())
        .collect();
    let exec = if parallel {
        ExecutionModel::Parallel
    } else {
        ExecutionModel::Sequential
    };
    let problem = Problem::new(&space, &wf.tools, &metrics, exec)
        .with_dependence(Dependence::new(dependence));
    let fast = pareto(&problem);
    let slow = brute_force(&problem);
    prop_assert_eq!(&fast.points, &slow);
    // Bit for bit: `==` on floats would take 0.0 for -0.0.
    for (f, s) in fast.points.iter().zip(&slow) {
        prop_assert_eq!(f.metrics.accuracy.to_bits(), s.metrics.accuracy.to_bits());
        prop_assert_eq!(f.metrics.latency_s.to_bits(), s.metrics.latency_s.to_bits());
    }
    // The frontier is strictly increasing in both objectives, so no point dominates another.
    for w in fast.points.windows(2) {
        prop_assert!(w[0].metrics.latency_s < w[1].metrics.latency_s);
        prop_assert!(w[0].metrics.accuracy < w[1].metrics.accuracy);
    }
    Ok(())
}

/// One stage of a knob-heavy workflow: a vote over solvers some of which are optional, a repeat
/// or a retry with a range of counts, a conditional with an optional branch, an optional call.
fn stage(n_agents: u32) -> impl Strategy<Value = T> {
    let agent = 0..n_agents;
    prop_oneof![
        (
            prop::collection::vec((agent.clone(), any::<bool>()), 2..4),
            agent.clone(),
            1u32..3
        )
            .prop_map(|(solvers, voter, min)| {
                let candidates = solvers
                    .into_iter()
                    .map(|(a, optional)| {
                        if optional {
                            T::Optional(Box::new(T::Call(a)))
                        } else {
                            T::Call(a)
                        }
                    })
                    .collect();
                T::Vote(Box::new(T::AnyOf(candidates)), voter, min)
            }),
        (agent.clone(), 1u32..3, 0u32..3).prop_map(|(a, lo, span)| T::Repeat(a, lo, lo + span)),
        (agent.clone(), agent.clone(), 0u32..2, 1u32..3).prop_map(|(a, b, lo, span)| T::Retry(
            Box::new(T::Call(a)),
            Box::new(T::Seq(vec![T::Call(b), T::Tool])),
            lo,
            lo + span
        )),
        (agent.clone(), agent.clone(), 0.0..1.0f64)
            .prop_map(|(a, b, w)| T::Cond(vec![T::Call(a), T::Optional(Box::new(T::Call(b)))], w)),
        agent
            .clone()
            .prop_map(|a| T::Optional(Box::new(T::Call(a)))),
        agent.prop_map(T::Call),
    ]
}

/// The any-of dependence: the paper's independence, full dependence, or anything between.
fn dependence() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), 0.0..=1.0f64]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn pareto_equals_brute_force(
        (t, n_agents, share, parallel, _discrete, profiles, tool_latency) in case(),
        dependence in dependence(),
    ) {
        check(&t, n_agents, share, (parallel, dependence), &profiles, tool_latency, 1)?;
    }

    /// Stages in sequence, each with its own knobs: many structures that share most of their
    /// subtrees, solved together.
    #[test]
    fn pareto_equals_brute_force_with_several_knobs(
        (stages, n_agents, share, parallel, profiles, tool_latency) in
            (1u32..6, any::<bool>(), any::<bool>(), any::<bool>()).prop_flat_map(
                |(n_agents, share, parallel, discrete)| (
                    prop::collection::vec(stage(n_agents), 2..5),
                    Just(n_agents),
                    Just(share),
                    Just(parallel),
                    prop::collection::vec(
                        prop::collection::vec(metrics(discrete), 1..5),
                        n_agents as usize,
                    ),
                    prop_oneof![Just(0.0), 0.0..2.0f64],
                )
            ),
        dependence in dependence(),
    ) {
        check(&T::Seq(stages), n_agents, share, (parallel, dependence), &profiles, tool_latency, 4)?;
    }
}

/// The bench's shape, small: stages in sequence, each a vote over solvers, one of them optional;
/// every combination of the optional solvers is a structure. Stages call the same agents, either
/// sharing their settings (slots bound at the root) or not; profiles on a coarse grid tie often.
#[test]
fn a_product_of_knobs_equals_brute_force() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let stages: Vec<T> = (0..3)
        .map(|s| {
            let solvers = vec![
                T::Call(0),
                T::Call(1 + s % 2),
                T::Optional(Box::new(T::Call(2 - s % 2))),
            ];
            T::Vote(Box::new(T::AnyOf(solvers)), 3, 2)
        })
        .collect();
    for round in 0..40 {
        let (share, parallel) = (round % 2 == 0, round % 4 < 2);
        // Shared, 4 slots; not shared, one slot per call site (up to 12).
        let n_settings = if share { 3 } else { 2 };
        let profiles: Vec<Vec<Metrics>> = (0..4)
            .map(|_| {
                (0..n_settings)
                    .map(|_| Metrics {
                        accuracy: (next() * 4.0).round() / 4.0,
                        latency_s: (next() * 3.0).round(),
                    })
                    .collect()
            })
            .collect();
        check(
            &T::Seq(stages.clone()),
            4,
            share,
            (parallel, if round % 3 == 0 { 0.7 } else { 0.0 }),
            &profiles,
            0.5,
            8,
        )
        .unwrap();
    }
}
