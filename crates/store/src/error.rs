//! Store errors: every one names the store file it concerns.

use std::path::PathBuf;

use rusqlite::ErrorCode;

/// A failure of the store, naming the file and the operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file cannot be opened or created (missing directory, not a regular file, no permission).
    #[error("cannot open or create store {path} (does its directory exist, and is it writable?): {source}")]
    Open {
        /// The store file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file or its directory cannot be written.
    #[error("store {path} is read-only (is the file or its directory writable?) during {operation}: {source}")]
    ReadOnly {
        /// The store file.
        path: PathBuf,
        /// What the store was doing.
        operation: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The disk (or the database's size limit) is full.
    #[error("store {path}: disk full during {operation}: {source}")]
    DiskFull {
        /// The store file.
        path: PathBuf,
        /// What the store was doing.
        operation: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer flowcompile whose schema this code does not know.
    #[error(
        "store {path} has schema version {found}, newer than version {supported} known to this \
         flowcompile; upgrade flowcompile or use another store file"
    )]
    TooNew {
        /// The store file.
        path: PathBuf,
        /// The file's `user_version`.
        found: i64,
        /// The latest version this code knows.
        supported: i64,
    },
    /// A forward migration step failed (the file is left at the previous version).
    #[error("store {path}: migration to schema version {version} failed: {source}")]
    Migrate {
        /// The store file.
        path: PathBuf,
        /// The version the failed step migrates to.
        version: i64,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file system refused write-ahead logging (a network or special file system).
    #[error("store {path} cannot use write-ahead logging (journal mode is {mode}); put it on a local file system")]
    NoWal {
        /// The store file.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// A row to record holds a number that is NaN or infinite; nothing was written.
    #[error("store {path}: {table} row {key}: {field} is {value}, not a finite number")]
    NonFinite {
        /// The store file.
        path: PathBuf,
        /// The table the row was for.
        table: &'static str,
        /// The row's key, for the message.
        key: String,
        /// The offending field.
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// Any other SQLite failure (corrupt file, not a database, locked beyond the busy timeout).
    #[error("store {path}: {operation} failed: {source}")]
    Sqlite {
        /// The store file.
        path: PathBuf,
        /// What the store was doing.
        operation: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Classifies a SQLite error met during `operation` on the store at `path`.
    pub(crate) fn from_sqlite(
        path: PathBuf,
        operation: &'static str,
        source: rusqlite::Error,
    ) -> Self {
        match source.sqlite_error_code() {
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly {
                path,
                operation,
                source,
            },
            Some(ErrorCode::DiskFull) => StoreError::DiskFull {
                path,
                operation,
                source,
            },
            Some(ErrorCode::CannotOpen) => StoreError::Open { path, source },
            _ => StoreError::Sqlite {
                path,
                operation,
                source,
            },
        }
    }
}

/// Result alias of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
