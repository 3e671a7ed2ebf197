//! What a pass can fail with, by kind, so that each front end maps kinds to its own codes (the CLI to
//! exit codes, a server to HTTP statuses).

/// A failed pass: its kind and the message naming the file, line or field at fault.
#[derive(Debug)]
pub enum Error {
    /// A workflow file with located errors, rendered with source snippets.
    Spec(flowcompile_spec::SpecErrors),
    /// Another input problem; the message names the file and where.
    Input(anyhow::Error),
    /// The request is well formed but nothing satisfies it (no point meets the constraints).
    Unsatisfiable(anyhow::Error),
    /// Anything else: I/O, a model endpoint, the store.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Error {
        Error::Other(e)
    }
}

/// The result of a pass.
pub type Result<T, E = Error> = std::result::Result<T, E>;
