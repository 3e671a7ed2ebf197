//! In-process throughput of `Zoo::respond` (target: over a million calls per second per core).
//! Criterion reports it as `thrpt: ... elem/s`, one element per call.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flowcompile_zoo::{Role, TaskSet, Zoo, ZooConfig, ZooRequest};

fn zoo() -> Zoo {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/data/gsm8k_validate.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("the shared GSM8K validation file");
    let set = TaskSet::from_jsonl("gsm8k_validate.jsonl", &text).expect("valid tasks");
    Zoo::new(ZooConfig::default(), vec![set]).expect("valid config")
}

fn bench(c: &mut Criterion) {
    let zoo = zoo();
    let tasks: Vec<_> = zoo.task_ids().collect();
    let model = zoo.model_id("zoo-8b").expect("default model");
    let mut group = c.benchmark_group("respond");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("solve", |b| {
        b.iter(|| {
            i += 1;
            let req = ZooRequest {
                model,
                agent: "generate_solver",
                role: Role::Solve,
                task: Some(tasks[(i % tasks.len() as u64) as usize]),
                inputs: &[],
                budget_tokens: 400,
                sample: i,
            };
            black_box(zoo.respond(black_box(&req)).expect("known ids"));
        })
    });
    let inputs = ["36", "35", "36"];
    group.bench_function("select_3_inputs", |b| {
        b.iter(|| {
            i += 1;
            let req = ZooRequest {
                model,
                agent: "sc_ensemble",
                role: Role::Select,
                task: Some(tasks[(i % tasks.len() as u64) as usize]),
                inputs: &inputs,
                budget_tokens: 400,
                sample: i,
            };
            black_box(zoo.respond(black_box(&req)).expect("known ids"));
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
