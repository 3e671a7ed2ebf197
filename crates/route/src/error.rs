//! Why a router file cannot be used or a query cannot be routed.

use flowcompile_select::NoFeasible;

/// A router error, naming the file and field or the request at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The file is not JSON of the router shape.
    #[error("{file}: not a router file: {message}")]
    Json {
        /// The router file.
        file: String,
        /// What the JSON reader said (with line and column).
        message: String,
    },
    /// A field has a value the router cannot use.
    #[error("{file}: field `{field}`: {expected}")]
    Field {
        /// The router file.
        file: String,
        /// The field's path, e.g. `items[3].embedding`.
        field: String,
        /// What was expected and what was found.
        expected: String,
    },
    /// A query embedding of the wrong length.
    #[error("the query embedding has {found} dimensions; the router's items have {expected} (embed queries with the router's embedding model)")]
    QueryDims {
        /// The router's dimensions.
        expected: usize,
        /// The query's.
        found: usize,
    },
    /// A query embedding with a NaN or infinite component.
    #[error("the query embedding has a non-finite component at index {index}")]
    QueryNotFinite {
        /// The first bad index.
        index: usize,
    },
    /// No point of the query's frontier satisfies the request.
    #[error(transparent)]
    Unsatisfiable(#[from] NoFeasible),
}
