use flowcompile_store::{CallRow, CapturedCallRow, Store, StoreError, SCHEMA_VERSION};
use rusqlite::Connection;

use crate::util::TempDir;

#[test]
fn a_fresh_file_gets_the_latest_version() {
    let dir = TempDir::new("fresh");
    let store = Store::open(dir.path().join("project.sqlite")).unwrap();
    assert_eq!(SCHEMA_VERSION, 5);
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn an_empty_version_0_file_migrates() {
    let dir = TempDir::new("v0");
    let path = dir.path().join("project.sqlite");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('kept');")
            .unwrap();
        assert_eq!(
            conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
                .unwrap(),
            0
        );
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let kept: String = conn
        .query_row("SELECT text FROM notes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, "kept");
}

/// The version-1 shape, as released: calls without reasoning tokens, no artifacts table.
const VERSION_1: &str = "
    CREATE TABLE eval_results (run_key TEXT NOT NULL, item_id TEXT NOT NULL, answer TEXT NOT NULL,
        score REAL NOT NULL, correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
        latency_s REAL NOT NULL, modelled_latency_s REAL NOT NULL, prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL, cost_usd REAL, error TEXT, trace_json TEXT NOT NULL,
        created_at_unix_s INTEGER NOT NULL, PRIMARY KEY (run_key, item_id)) WITHOUT ROWID;
    CREATE TABLE calls (id INTEGER PRIMARY KEY, agent TEXT NOT NULL, prompt_key TEXT NOT NULL,
        model TEXT NOT NULL, budget INTEGER NOT NULL, input_id TEXT NOT NULL,
        sample INTEGER NOT NULL, output TEXT NOT NULL, score REAL, latency_s REAL NOT NULL,
        prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, error TEXT,
        UNIQUE (agent, prompt_key, model, budget, input_id, sample));
    CREATE TABLE induced (agent TEXT NOT NULL, input_id TEXT NOT NULL, inputs_json TEXT NOT NULL,
        reference_output TEXT NOT NULL, PRIMARY KEY (agent, input_id)) WITHOUT ROWID;
    INSERT INTO calls (agent, prompt_key, model, budget, input_id, sample, output, score,
        latency_s, prompt_tokens, completion_tokens, error)
        VALUES ('solver', 'p1', 'qwen3-8b', 400, 'q1', 0, '42', 1.0, 1.5, 120, 300, NULL);
    PRAGMA user_version = 1;
";

#[test]
fn a_version_1_file_migrates_keeping_its_rows() {
    let dir = TempDir::new("v1");
    let path = dir.path().join("project.sqlite");
    Connection::open(&path)
        .unwrap()
        .execute_batch(VERSION_1)
        .unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let old = CallRow {
        agent: "solver".into(),
        prompt_key: "p1".into(),
        model: "qwen3-8b".into(),
        budget_tokens: 400,
        input_id: "q1".into(),
        sample: 0,
        output: "42".into(),
        score: Some(1.0),
        latency_s: 1.5,
        prompt_tokens: 120,
        completion_tokens: 300,
        reasoning_tokens: None,
        error: None,
    };
    assert_eq!(
        store.call_rows("solver", "p1").unwrap(),
        std::slice::from_ref(&old)
    );
    assert!(!store.record_call(&old).unwrap());
    let artifact = flowcompile_store::ArtifactRow {
        name: "math".into(),
        created_at_unix_s: 5,
        json: "{}".into(),
    };
    store.save_artifact(&artifact).unwrap();
    assert_eq!(store.latest_artifact("math").unwrap(), Some(artifact));
}

#[test]
fn a_newer_file_is_refused_naming_the_file_and_both_versions() {
    let dir = TempDir::new("newer");
    let path = dir.path().join("project.sqlite");
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooNew {
                found: 99,
                supported: SCHEMA_VERSION,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("version 99") && message.contains(&format!("version {SCHEMA_VERSION}")),
        "{message}"
    );
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99, "a refused file is left untouched");
}

#[test]
fn a_version_3_file_drops_its_program_cache_and_keeps_its_calls() {
    let dir = TempDir::new("v3");
    let path = dir.path().join("project.sqlite");
    {
        let store = Store::open(&path).unwrap();
        drop(store);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE captured_calls;
             DROP TABLE program_runs;
             CREATE TABLE program_runs (program_sha256 TEXT PRIMARY KEY, stdout TEXT NOT NULL)
                 WITHOUT ROWID;
             INSERT INTO program_runs VALUES ('aa', '42');
             INSERT INTO induced VALUES ('solver', 'q1', '{}', '42');
             PRAGMA user_version = 3;",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.program_runs().unwrap(), 0);
    assert_eq!(store.induced("solver").unwrap().len(), 1);
}

#[test]
fn a_version_4_file_gains_the_captured_calls_and_keeps_its_rows() {
    let dir = TempDir::new("v4");
    let path = dir.path().join("project.sqlite");
    {
        let store = Store::open(&path).unwrap();
        drop(store);
        // Back to the released version-4 shape: no captured_calls table.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE captured_calls;
             INSERT INTO program_runs VALUES ('k', '42', NULL, 0);
             INSERT INTO induced VALUES ('solver', 'q1', '{}', '42');
             PRAGMA user_version = 4;",
        )
        .unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'captured_calls'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 5);
    assert_eq!(store.program_runs().unwrap(), 1);
    assert_eq!(store.induced("solver").unwrap().len(), 1);
    assert!(store.captured_calls().unwrap().is_empty());
    let row = CapturedCallRow {
        run: "q1".into(),
        agent: "solver".into(),
        call_index: 0,
        model: "qwen3-8b".into(),
        budget_tokens: 400,
        request_json: "{}".into(),
        reply: "42".into(),
        reasoning: None,
        prompt_tokens: None,
        completion_tokens: None,
        latency_s: 1.0,
        error: None,
        created_at_unix_s: 1,
    };
    assert_eq!(store.record_captured_call(&row).unwrap(), 0);
    assert_eq!(store.captured_calls().unwrap(), [row]);
}
