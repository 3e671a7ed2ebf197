//! A thread that owns a store connection and records profiling calls (and the program runs their
//! scoring made) in batched transactions.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use flowcompile_store::{CallRow, ProgramRun, Store, StoreError};

/// Most rows written in one transaction.
const MAX_BATCH: usize = 2048;

/// What the writer records.
pub(crate) enum Record {
    /// A profiling call.
    Call(CallRow),
    /// Successful program runs of the scorer.
    Programs(Vec<ProgramRun>),
}

/// Records calls as they finish: each batch is whatever arrived while the previous one was
/// written, so a call is on disk milliseconds after it finished and the store keeps up with any
/// call rate (one transaction per batch).
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Record>>,
    handle: Option<JoinHandle<Result<usize, StoreError>>>,
}

impl Writer {
    /// Opens its own connection to the store at `path` and starts the thread.
    pub(crate) fn start(path: &Path) -> Result<Writer, StoreError> {
        let store = Store::open(path)?;
        let (tx, rx) = mpsc::channel::<Record>();
        let handle = std::thread::spawn(move || {
            let mut written = 0;
            while let Ok(first) = rx.recv() {
                let mut calls = Vec::new();
                let mut programs = Vec::new();
                let mut next = Some(first);
                while let Some(record) = next.take() {
                    match record {
                        Record::Call(row) => calls.push(row),
                        Record::Programs(runs) => programs.extend(runs),
                    }
                    if calls.len() < MAX_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if !programs.is_empty() {
                    store.record_program_runs(&programs)?;
                }
                if !calls.is_empty() {
                    written += store.record_calls(&calls)?;
                }
            }
            Ok(written)
        });
        Ok(Writer {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Queues a record; `false` when the thread has stopped (a write failed: see [`Writer::finish`]).
    pub(crate) fn send(&self, record: Record) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(record).is_ok())
    }

    /// Writes what is queued and stops: the call rows written, or the write that failed.
    pub(crate) fn finish(mut self) -> Result<usize, StoreError> {
        self.tx.take();
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Ok(0),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
