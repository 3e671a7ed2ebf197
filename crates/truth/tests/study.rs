//! A tiny ground-truth study of the hotpotqa example through the in-process zoo.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flowcompile_client::{Client, Providers};
use flowcompile_ir::Workflow;
use flowcompile_runner::Config;
use flowcompile_truth::{
    configurations, hypervolume, measure_all, Measure, MeasureOptions, Measured, SpaceOut, Table,
};
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};
use serde_json::Value;

const N_ITEMS: usize = 10;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn workflow() -> Workflow {
    let text = std::fs::read_to_string(root().join("examples/hotpotqa/workflow.toml")).unwrap();
    let wf = flowcompile_spec::parse(&text, "examples/hotpotqa/workflow.toml").unwrap();
    wf.restrict(&["qwen3-0.6b".into(), "qwen3-14b".into()], &[10, 100])
        .unwrap()
}

fn client(data: &str) -> Client {
    let text = std::fs::read_to_string(root().join("examples/providers/zoo.toml")).unwrap();
    let providers = Providers::from_toml_str(&text, "examples/providers/zoo.toml").unwrap();
    let tasks = TaskSet::from_jsonl("hotpotqa_validate.jsonl", data).unwrap();
    let zoo = Zoo::new(ZooConfig::default(), vec![tasks]).unwrap();
    Client::with_zoo(providers, Arc::new(zoo))
}

async fn study(
    wf: &Arc<Workflow>,
    configs: Vec<Config>,
    options: MeasureOptions,
) -> (Vec<Measured>, usize) {
    let data =
        std::fs::read_to_string(root().join("examples/data/hotpotqa_validate.jsonl")).unwrap();
    let items: Vec<Value> = data
        .lines()
        .take(N_ITEMS)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let configs = Arc::new(configs);
    let ticks = Arc::new(AtomicUsize::new(0));
    let counter = ticks.clone();
    let measured = measure_all(
        wf.clone(),
        client(&data),
        Arc::new(items),
        configs,
        options,
        Arc::new(move |n| {
            counter.fetch_add(n, Ordering::Relaxed);
        }),
    )
    .await
    .unwrap();
    (measured, ticks.load(Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_true_frontier_of_a_tiny_space() {
    let wf = Arc::new(workflow());
    let space = wf.design_space().unwrap();
    let configs = configurations(&wf, &space);
    assert_eq!(
        configs.len(),
        4 + 3 * 16 + 2 * 64,
        "s + 3 s^2 + 2 s^3 with s = 4"
    );
    let options = MeasureOptions {
        workers: 4,
        items_in_flight: 3,
    };
    let (measured, ticks) = study(&wf, configs.clone(), options).await;
    assert_eq!((measured.len(), ticks), (configs.len(), configs.len()));
    let table = Table {
        wf: &wf,
        space: &space,
        configs: &configs,
        measured: &measured,
    };
    let report = table.report(
        "hotpotqa_validate.jsonl",
        N_ITEMS,
        SpaceOut {
            models: Vec::new(),
            budgets: Vec::new(),
            n_structures: space.structures.len(),
        },
    );
    let all: Vec<Measure> = measured.iter().map(|m| m.measure).collect();
    let front: Vec<usize> = report.frontier.iter().map(|p| p.config).collect();
    assert!(front.len() >= 2, "a frontier worth the name: {front:?}");
    let accuracies: Vec<f64> = all.iter().map(|m| m.accuracy).collect();
    assert!(
        accuracies.iter().any(|&a| a != accuracies[0]),
        "the settings must matter for this test to mean anything"
    );

    // Pareto-consistent: no frontier point dominates another, every configuration is matched or
    // dominated by a frontier point.
    for &i in &front {
        for &j in &front {
            assert!(!all[i].dominates(&all[j]), "{i} dominates {j}");
        }
    }
    for (k, m) in all.iter().enumerate() {
        assert!(
            front.iter().any(|&i| all[i] == *m || all[i].dominates(m)),
            "configuration {k} {m:?} is neither on nor under the frontier"
        );
    }
    // The most accurate configuration (the fastest of them) is on it.
    let best = all.iter().map(|m| m.accuracy).fold(0.0, f64::max);
    let fastest_best = (0..all.len())
        .filter(|&k| all[k].accuracy == best)
        .min_by(|&a, &b| {
            all[a]
                .latency_s
                .total_cmp(&all[b].latency_s)
                .then(a.cmp(&b))
        })
        .unwrap();
    assert_eq!(*front.last().unwrap(), fastest_best);

    // No other set of measured configurations has a larger hypervolume.
    let reference = Measure {
        accuracy: 0.0,
        latency_s: report.reference_point.latency_s,
    };
    assert_eq!(
        reference.latency_s,
        all.iter().map(|m| m.latency_s).fold(0.0, f64::max)
    );
    let truth = report.hypervolume;
    assert!(truth > 0.0);
    assert!((hypervolume(&all, reference) - truth).abs() < 1e-9 * truth);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..200 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let subset: Vec<Measure> = all
            .iter()
            .enumerate()
            .filter(|(k, _)| (state >> (k % 61)) & 1 == 1 || k % (round + 2) == 0)
            .map(|(_, m)| *m)
            .collect();
        assert!(
            hypervolume(&subset, reference) <= truth + 1e-12,
            "round {round}"
        );
    }
    let without_best: Vec<Measure> = front[..front.len() - 1].iter().map(|&i| all[i]).collect();
    assert!(hypervolume(&without_best, reference) < truth);

    // The best uniform configuration runs the full structure on one setting.
    let uniform = report.best_uniform.as_ref().unwrap();
    assert_eq!(uniform.structure, space.structures.len() - 1);
    assert_eq!(uniform.settings.len(), 3);
    assert!(uniform.settings.values().all(|s| *s == uniform.settings[0]));

    // Independent of scheduling: one worker, one item at a time gives the same measurements bit for
    // bit (on every fifth configuration, to keep the test short).
    let every_fifth: Vec<Config> = configs.iter().step_by(5).cloned().collect();
    let (again, _) = study(
        &wf,
        every_fifth,
        MeasureOptions {
            workers: 1,
            items_in_flight: 1,
        },
    )
    .await;
    let expected: Vec<Measured> = measured.iter().step_by(5).copied().collect();
    assert_eq!(again, expected);
}
