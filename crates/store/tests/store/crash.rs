//! A profiling-style run SIGKILLed mid-way resumes to exactly the rows of an uninterrupted run.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use flowcompile_store::{CallRow, Store};

use crate::util::{call, TempDir};

/// Set in the child process to the store path it writes.
const CHILD_ENV: &str = "FLOWCOMPILE_STORE_CRASH_CHILD";
const TEST_NAME: &str = "crash::killed_run_resumes_to_the_uninterrupted_rows";
const N_BATCHES: usize = 500;
const BATCH_LEN: usize = 200;
/// The parent kills the child once this many batches are committed.
const KILL_AFTER: usize = 20;

fn batch(batch_idx: usize) -> Vec<CallRow> {
    (0..BATCH_LEN)
        .map(|i| {
            call(
                "qwen3-1.7b",
                100,
                &format!("b{batch_idx:04}-i{i:04}"),
                (i % 3) as u32,
            )
        })
        .collect()
}

/// The resumable run: every batch, minus the calls the store had at the start, one transaction
/// each.
fn run(store: &Store, mut on_commit: impl FnMut(usize)) {
    let done = store.calls_done("solver", "p1", "qwen3-1.7b", 100).unwrap();
    for batch_idx in 0..N_BATCHES {
        let todo: Vec<_> = batch(batch_idx)
            .into_iter()
            .filter(|row| !done.contains(&(row.input_id.clone(), row.sample)))
            .collect();
        store.record_calls(&todo).unwrap();
        on_commit(batch_idx);
    }
}

#[test]
fn killed_run_resumes_to_the_uninterrupted_rows() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        let store = Store::open(path).unwrap();
        run(&store, |batch_idx| println!("committed {batch_idx}"));
        return;
    }
    let dir = TempDir::new("crash");
    let killed = dir.path().join("killed.sqlite");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &killed)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let kill_line = format!("committed {}", KILL_AFTER - 1);
    let mut seen = false;
    for line in stdout.lines() {
        if line.unwrap() == kill_line {
            seen = true;
            break;
        }
    }
    assert!(seen, "the child never reported batch {}", KILL_AFTER - 1);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child finished before it was killed: {status}"
    );

    let store = Store::open(&killed).unwrap();
    let rows = store.call_rows("solver", "p1").unwrap();
    let mut per_batch = vec![0usize; N_BATCHES];
    for row in &rows {
        per_batch[row.input_id[1..5].parse::<usize>().unwrap()] += 1;
    }
    let n_complete = per_batch.iter().take_while(|&&n| n == BATCH_LEN).count();
    assert!(
        per_batch[n_complete..].iter().all(|&n| n == 0),
        "a batch is partly present: {per_batch:?}"
    );
    assert!(
        (KILL_AFTER..N_BATCHES).contains(&n_complete),
        "killed after {n_complete} of {N_BATCHES} batches"
    );

    run(&store, |_| ());
    let uninterrupted_path = dir.path().join("uninterrupted.sqlite");
    let uninterrupted = Store::open(&uninterrupted_path).unwrap();
    run(&uninterrupted, |_| ());
    let expected = uninterrupted.call_rows("solver", "p1").unwrap();
    assert_eq!(expected.len(), N_BATCHES * BATCH_LEN);
    assert_eq!(store.call_rows("solver", "p1").unwrap(), expected);
    assert_eq!(
        store.aggregate("solver", "p1").unwrap(),
        uninterrupted.aggregate("solver", "p1").unwrap()
    );
}
