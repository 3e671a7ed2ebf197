//! A thread that owns a store connection and records profiling calls in batched transactions.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;

use flowcompile_store::{CallRow, Store, StoreError};

/// Most rows written in one transaction.
const MAX_BATCH: usize = 2048;

/// Records calls as they finish: each batch is whatever arrived while the previous one was
/// written, so a call is on disk milliseconds after it finished and the store keeps up with any
/// call rate (one transaction per batch).
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<CallRow>>,
    handle: Option<JoinHandle<Result<usize, StoreError>>>,
}

impl Writer {
    /// Opens its own connection to the store at `path` and starts the thread.
    pub(crate) fn start(path: &Path) -> Result<Writer, StoreError> {
        let store = Store::open(path)?;
        let (tx, rx) = mpsc::channel::<CallRow>();
        let handle = std::thread::spawn(move || {
            let mut written = 0;
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(row) => batch.push(row),
                        Err(_) => break,
                    }
                }
                written += store.record_calls(&batch)?;
            }
            Ok(written)
        });
        Ok(Writer {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Queues a row; `false` when the thread has stopped (a write failed: see [`Writer::finish`]).
    pub(crate) fn send(&self, row: CallRow) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(row).is_ok())
    }

    /// Writes what is queued and stops: the rows written, or the write that failed.
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
