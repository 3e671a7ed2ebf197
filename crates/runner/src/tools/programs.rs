//! Program runs kept by program and input, so the same program on the same input runs once.
//!
//! A [`ProgramRuns`] keys every run by a hash of the program text, its standard input and the
//! sandbox's [`fingerprint`] (interpreter, confinement, timeout and limits). In front is a map in
//! memory: concurrent requests for one key wait for one run, and later requests in the process get
//! its result. Behind it, once [`ProgramRuns::keep_in`] is given a [`Store`], runs that ended with
//! an exit code (success or failure) are recorded in the store's `program_runs` table and served
//! from it by later processes; a timeout or a kill by a signal depends on the machine's load and is
//! kept in memory only, and a program that could not be started is not kept at all.
//!
//! Programs are assumed deterministic, as the scoring that compares what they print already
//! assumes: a program that prints the time or a random number has its first output replayed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use flowcompile_store::{ProgramRunRow, Store, StoreError};
use tokio::sync::{OnceCell, Semaphore};
use xxhash_rust::xxh3::Xxh3;

use super::sandbox::{self, fingerprint, Ended};
use super::PythonRun;

/// One key's run: set once it has run (whatever the outcome but "not started").
type Cell = Arc<OnceCell<PythonRun>>;

/// Runs of Python programs, each distinct (program, input, sandbox) run once; see the module
/// documentation.
#[derive(Debug)]
pub struct ProgramRuns {
    timeout: Duration,
    sandbox: OnceCell<String>,
    slots: Semaphore,
    memory: Mutex<HashMap<u128, Cell>>,
    store: Mutex<Option<Arc<Mutex<Store>>>>,
    launched: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ProgramRuns {
    /// Runs with `timeout` each, at most one program per core at once, kept in memory until
    /// [`ProgramRuns::keep_in`] adds a store.
    pub fn new(timeout: Duration) -> ProgramRuns {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        ProgramRuns {
            timeout,
            sandbox: OnceCell::new(),
            slots: Semaphore::new(cores),
            memory: Mutex::new(HashMap::new()),
            store: Mutex::new(None),
            launched: AtomicU64::new(0),
        }
    }

    /// Keeps later runs in `store` (replacing a store given before) and serves runs recorded there.
    pub fn keep_in(&self, store: Store) {
        *lock(&self.store) = Some(Arc::new(Mutex::new(store)));
    }

    /// Opens the store at `path` and keeps later runs in it ([`ProgramRuns::keep_in`]).
    pub fn keep_in_path(&self, path: &Path) -> Result<(), StoreError> {
        self.keep_in(Store::open(path)?);
        Ok(())
    }

    /// How many programs this instance started (runs served from memory or the store excluded).
    pub fn launched(&self) -> u64 {
        self.launched.load(Ordering::Relaxed)
    }

    /// What `program` prints on `stdin`: from memory, else from the store, else run confined
    /// ([`sandbox`]) once a slot is free, killed with every process it started after the timeout.
    pub async fn run(&self, program: &str, stdin: &str) -> PythonRun {
        let sandbox = self.sandbox.get_or_init(|| fingerprint(self.timeout)).await;
        let mut hasher = Xxh3::new();
        for part in [sandbox.as_str(), program, stdin] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        let key = hasher.digest128();
        let cell = lock(&self.memory).entry(key).or_default().clone();
        let ran = cell
            .get_or_try_init(|| async {
                let key = format!("{key:032x}");
                let store = lock(&self.store).clone();
                if let Some(run) = recorded(store.clone(), key.clone()).await {
                    return Ok(run);
                }
                let (run, ended) = self.launch(program, stdin).await;
                match ended {
                    Ended::Exited(code) => {
                        record(store, key, &run, code).await;
                        Ok(run)
                    }
                    Ended::Killed | Ended::TimedOut => Ok(run),
                    Ended::NotRun => Err(run),
                }
            })
            .await;
        match ran {
            Ok(run) => run.clone(),
            Err(run) => run,
        }
    }

    async fn launch(&self, program: &str, stdin: &str) -> (PythonRun, Ended) {
        let Ok(_slot) = self.slots.acquire().await else {
            let run = PythonRun {
                stdout: String::new(),
                error: Some("python slots closed".into()),
            };
            return (run, Ended::NotRun);
        };
        self.launched.fetch_add(1, Ordering::Relaxed);
        sandbox::run(program, stdin, self.timeout).await
    }
}

/// The run recorded under `key`; a store that cannot be read is warned about and skipped.
async fn recorded(store: Option<Arc<Mutex<Store>>>, key: String) -> Option<PythonRun> {
    let store = store?;
    let row = tokio::task::spawn_blocking(move || lock(&store).program_run(&key)).await;
    match row {
        Ok(Ok(row)) => row.map(|r| PythonRun {
            stdout: r.stdout,
            error: r.error,
        }),
        Ok(Err(e)) => {
            tracing::warn!("program runs: {e}; running the program");
            None
        }
        Err(e) => {
            tracing::warn!("program runs: the store read failed ({e}); running the program");
            None
        }
    }
}

/// Records `run` under `key`; a store that cannot be written is warned about (the run stands).
async fn record(store: Option<Arc<Mutex<Store>>>, key: String, run: &PythonRun, code: i32) {
    let Some(store) = store else {
        return;
    };
    let row = ProgramRunRow {
        key,
        stdout: run.stdout.clone(),
        error: run.error.clone(),
        exit_code: code,
    };
    let written =
        tokio::task::spawn_blocking(move || lock(&store).record_program_run(&row).map(drop)).await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("program runs: {e}; the run is not kept"),
        Err(e) => tracing::warn!("program runs: the store write failed ({e})"),
    }
}
