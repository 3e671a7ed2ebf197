//! Records 100k profiling calls in batches of 1000 and prints the rate (target: > 20k calls/s).

use std::time::Instant;

use flowcompile_store::{CallRow, Store};

const N_CALLS: usize = 100_000;
const BATCH_LEN: usize = 1_000;

fn call(idx: usize) -> CallRow {
    CallRow {
        agent: "answer_generate".into(),
        prompt_key: "5f0c2a9e41d7b3c8".into(),
        model: format!("qwen3-{}b", [1, 4, 8, 14][idx % 4]),
        budget_tokens: [10, 200, 1000, 4000][idx / 4 % 4],
        input_id: format!("hotpotqa-{:06}", idx / 16),
        sample: 0,
        output: format!("The answer is entity number {idx}, because the passages say so."),
        score: Some((idx % 2) as f64),
        latency_s: 0.5 + (idx % 100) as f64 / 50.0,
        prompt_tokens: 400 + (idx % 50) as u64,
        completion_tokens: 120 + (idx % 300) as u64,
        reasoning_tokens: Some(100),
        error: idx
            .is_multiple_of(97)
            .then(|| "timeout after 60 s".to_string()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("flowcompile-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::open(dir.join("bench.sqlite"))?;
    let rows: Vec<CallRow> = (0..N_CALLS).map(call).collect();

    let start = Instant::now();
    let mut n_new = 0;
    for batch in rows.chunks(BATCH_LEN) {
        n_new += store.record_calls(batch)?;
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    assert_eq!(n_new, N_CALLS);
    println!(
        "record_calls: {N_CALLS} calls in batches of {BATCH_LEN}: {elapsed_s:.3} s, {:.0} calls/s",
        N_CALLS as f64 / elapsed_s
    );

    let start = Instant::now();
    let n_again: usize = rows
        .chunks(BATCH_LEN)
        .map(|b| store.record_calls(b))
        .sum::<Result<_, _>>()?;
    let elapsed_s = start.elapsed().as_secs_f64();
    assert_eq!(n_again, 0);
    println!(
        "record_calls, all duplicates (resume): {:.0} calls/s",
        N_CALLS as f64 / elapsed_s
    );

    let start = Instant::now();
    let summary = store.aggregate("answer_generate", "5f0c2a9e41d7b3c8")?;
    println!(
        "aggregate: {} settings over {N_CALLS} calls in {:.1} ms",
        summary.len(),
        start.elapsed().as_secs_f64() * 1e3
    );
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
