//! The fast search equals brute-force enumeration, bit for bit, on random small workflows and
//! profiles (ties and equal points included).

use flowcompile_ir::{
    Agent, AgentId, Count, NodeId, NodeKind, Setting, Tool, ToolId, ToolKind, Workflow,
};
use flowcompile_proxy::{ExecutionModel, Metrics};
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn pareto_equals_brute_force((t, n_agents, share, parallel, _discrete, profiles, tool_latency) in case()) {
        let agents = (0..n_agents)
            .map(|a| Agent::new(format!("a{a}"), (0..profiles[a as usize].len() as u32).map(|b| Setting::new("m", b)).collect()))
            .collect();
        let mut wf = Workflow::new("random", agents);
        wf.share_settings = share;
        wf.tools.push(Tool { name: "tool".into(), kind: ToolKind::ExtractAnswer, latency_s: tool_latency });
        wf.root = build(&t, &mut wf);
        let Ok(space) = wf.design_space() else { return Ok(()) };
        prop_assume!(space.n_configs().as_f64() <= 20_000.0);
        let metrics: Vec<Vec<Metrics>> = space.slots.iter().map(|s| profiles[s.agent.0 as usize].clone()).collect();
        let exec = if parallel { ExecutionModel::Parallel } else { ExecutionModel::Sequential };
        let problem = Problem::new(&space, &wf.tools, &metrics, exec);
        let fast = pareto(&problem);
        let slow = brute_force(&problem);
        prop_assert_eq!(&fast.points, &slow);
        // The frontier is strictly increasing in both objectives, so no point dominates another.
        for w in fast.points.windows(2) {
            prop_assert!(w[0].metrics.latency_s < w[1].metrics.latency_s);
            prop_assert!(w[0].metrics.accuracy < w[1].metrics.accuracy);
        }
    }
}
