//! The schema as a list of forward migrations, versioned with `PRAGMA user_version`.
//!
//! Step `i` migrates a file from version `i` to version `i + 1`; a fresh file is version 0. The
//! list is append-only: a released step is never edited, a schema change is a new step.

/// The forward migration steps; `MIGRATIONS.len()` is the latest version.
pub(crate) const MIGRATIONS: &[&str] = &[
    // Version 1: evaluations, profiling calls and induced examples.
    "CREATE TABLE eval_results (
        run_key TEXT NOT NULL,
        item_id TEXT NOT NULL,
        answer TEXT NOT NULL,
        score REAL NOT NULL,
        correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
        latency_s REAL NOT NULL,
        modelled_latency_s REAL NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cost_usd REAL,
        error TEXT,
        trace_json TEXT NOT NULL,
        created_at_unix_s INTEGER NOT NULL,
        PRIMARY KEY (run_key, item_id)
    ) WITHOUT ROWID;
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        agent TEXT NOT NULL,
        prompt_key TEXT NOT NULL,
        model TEXT NOT NULL,
        budget INTEGER NOT NULL,
        input_id TEXT NOT NULL,
        sample INTEGER NOT NULL,
        output TEXT NOT NULL,
        score REAL,
        latency_s REAL NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        error TEXT,
        UNIQUE (agent, prompt_key, model, budget, input_id, sample)
    );
    CREATE TABLE induced (
        agent TEXT NOT NULL,
        input_id TEXT NOT NULL,
        inputs_json TEXT NOT NULL,
        reference_output TEXT NOT NULL,
        PRIMARY KEY (agent, input_id)
    ) WITHOUT ROWID;",
    // Version 2: reasoning tokens of profiling calls, and compiled artifacts.
    "ALTER TABLE calls ADD COLUMN reasoning_tokens INTEGER;
    CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        created_at_unix_s INTEGER NOT NULL,
        json TEXT NOT NULL
    );
    CREATE INDEX artifacts_by_name ON artifacts (name, created_at_unix_s);",
    // Version 3: what programs printed, so a resumed run does not run them again.
    "CREATE TABLE program_runs (
        program_sha256 TEXT PRIMARY KEY,
        stdout TEXT NOT NULL
    ) WITHOUT ROWID;",
    // Version 4: program runs keyed by a hash of program, input and sandbox, failures included;
    // the version 3 rows (keyed by program alone) are a cache and are dropped.
    "DROP TABLE program_runs;
    CREATE TABLE program_runs (
        key TEXT PRIMARY KEY,
        stdout TEXT NOT NULL,
        error TEXT,
        exit_code INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // Version 5: agent calls an application made through `flowcompile gateway --capture`, per
    // (run, agent, call index): the request as captured (no secrets), the reply, usage, latency.
    "CREATE TABLE captured_calls (
        run TEXT NOT NULL,
        agent TEXT NOT NULL,
        call_index INTEGER NOT NULL,
        model TEXT NOT NULL,
        budget INTEGER NOT NULL,
        request_json TEXT NOT NULL,
        reply TEXT NOT NULL,
        reasoning TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        latency_s REAL NOT NULL,
        error TEXT,
        created_at_unix_s INTEGER NOT NULL,
        PRIMARY KEY (run, agent, call_index)
    ) WITHOUT ROWID;",
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
