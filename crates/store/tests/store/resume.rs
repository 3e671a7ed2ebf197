use std::collections::HashSet;

use flowcompile_store::Store;

use crate::util::{call, TempDir};

#[test]
fn reopened_store_reports_finished_calls_and_retries_failed_ones() {
    let dir = TempDir::new("resume");
    let path = dir.path().join("project.sqlite");
    let rows: Vec<_> = (0..50)
        .flat_map(|i| (0..2).map(move |sample| call("qwen3-4b", 200, &format!("q{i}"), sample)))
        .collect();
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.record_calls(&rows[..60]).unwrap(), 60);
        for row in &rows[60..] {
            assert!(store.record_call(row).unwrap());
        }
    }
    let store = Store::open(&path).unwrap();
    let expected: HashSet<_> = rows
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| (r.input_id.clone(), r.sample))
        .collect();
    let n_failed = rows.len() - expected.len();
    assert!(n_failed > 0 && !expected.is_empty());
    assert_eq!(
        store.calls_done("solver", "p1", "qwen3-4b", 200).unwrap(),
        expected
    );
    assert!(store
        .calls_done("solver", "p1", "qwen3-4b", 400)
        .unwrap()
        .is_empty());
    assert!(store
        .calls_done("solver", "p2", "qwen3-4b", 200)
        .unwrap()
        .is_empty());

    let before = store.call_rows("solver", "p1").unwrap();
    assert_eq!(before.len(), 100);
    assert_eq!(
        store.record_calls(&rows).unwrap(),
        n_failed,
        "failed calls are tried again, finished ones kept"
    );
    let finished = rows.iter().find(|r| r.error.is_none()).unwrap();
    assert!(!store.record_call(finished).unwrap());
    assert_eq!(store.call_rows("solver", "p1").unwrap(), before);
    let summary = store.aggregate("solver", "p1").unwrap();
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].samples + summary[0].n_errors, 100);
}

#[test]
fn two_handles_on_one_file_see_each_others_writes() {
    let dir = TempDir::new("two-handles");
    let path = dir.path().join("project.sqlite");
    let first = Store::open(&path).unwrap();
    let second = Store::open(&path).unwrap();
    assert!(first.record_call(&call("m", 1, "a", 0)).unwrap());
    assert!(!second.record_call(&call("m", 1, "a", 0)).unwrap());
    assert!(second.record_call(&call("m", 1, "b", 0)).unwrap());
    assert_eq!(first.calls_done("solver", "p1", "m", 1).unwrap().len(), 2);
}

#[test]
fn program_runs_survive_a_reopen_and_keep_their_first_output() {
    use flowcompile_store::ProgramRunRow;
    let dir = TempDir::new("programs");
    let path = dir.path().join("project.sqlite");
    let run = |key: &str, stdout: &str, error: Option<&str>| ProgramRunRow {
        key: key.into(),
        stdout: stdout.into(),
        error: error.map(str::to_string),
        exit_code: i32::from(error.is_some()),
    };
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.program_runs().unwrap(), 0);
        assert!(store.record_program_run(&run("aa", "42", None)).unwrap());
        assert!(store
            .record_program_run(&run("bb", "", Some("exit 1")))
            .unwrap());
    }
    let store = Store::open(&path).unwrap();
    assert!(!store
        .record_program_run(&run("aa", "changed", None))
        .unwrap());
    assert_eq!(store.program_runs().unwrap(), 2);
    assert_eq!(
        store.program_run("aa").unwrap(),
        Some(run("aa", "42", None))
    );
    assert_eq!(
        store.program_run("bb").unwrap(),
        Some(run("bb", "", Some("exit 1")))
    );
}
