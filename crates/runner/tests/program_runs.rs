//! Program runs are kept: the same program on the same input starts `python3` once, in one process
//! (from memory) and in the next (from the store).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flowcompile_runner::tools::ProgramRuns;
use flowcompile_store::Store;

#[tokio::test]
async fn a_repeated_program_is_served_from_memory_then_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let program = format!("import sys\nprint({nonce} + int(sys.stdin.read() or 0))");

    let runs = ProgramRuns::new(Duration::from_secs(5));
    runs.keep_in_path(&path).unwrap();
    let first = runs.run(&program, "1").await;
    assert_eq!(first.stdout, (nonce + 1).to_string());
    assert_eq!(first.error, None);
    let (again, together) = tokio::join!(runs.run(&program, "1"), runs.run(&program, "1"));
    assert_eq!((&again, &together), (&first, &first));
    assert_eq!(runs.launched(), 1, "one launch for three runs of one input");
    let other = runs.run(&program, "2").await;
    assert_eq!(other.stdout, (nonce + 2).to_string());
    let failing = runs.run("raise SystemExit(3)", "").await;
    assert!(failing.error.as_deref().unwrap().contains("exit status: 3"));
    assert_eq!(runs.launched(), 3, "another input and another program run");
    assert_eq!(Store::open(&path).unwrap().program_runs().unwrap(), 3);

    let next_process = ProgramRuns::new(Duration::from_secs(5));
    next_process.keep_in_path(&path).unwrap();
    assert_eq!(next_process.run(&program, "2").await, other);
    assert_eq!(next_process.run("raise SystemExit(3)", "").await, failing);
    assert_eq!(next_process.launched(), 0, "both served from the store");

    let longer_timeout = ProgramRuns::new(Duration::from_secs(6));
    longer_timeout.keep_in_path(&path).unwrap();
    assert_eq!(longer_timeout.run(&program, "2").await, other);
    assert_eq!(
        longer_timeout.launched(),
        1,
        "another sandbox runs the program afresh"
    );
}
