//! Workflow files: TOML text parsed into a located syntax tree ([`WorkflowFile`]) and lowered into the
//! validated [`flowcompile_ir::Workflow`].
//!
//! [`parse`] is the entry point. It reports every problem it finds at once, each a [`SpecError`] with the
//! byte span of the offending text, collected in [`SpecErrors`] together with the source so that a
//! terminal can render them as located diagnostics. [`json_schema`] describes the file format.
//!
//! ```
//! let text = r#"
//! name = "demo"
//! [space]
//! models = ["small", "large"]
//! budgets = [0, 100]
//! [agents.solver]
//! prompt = "Solve: {{ question }}"
//! output = "boxed"
//! [graph]
//! root = "solvers"
//! [graph.nodes.solvers]
//! repeat = "solver"
//! count = [1, 3]
//! "#;
//! let wf = flowcompile_spec::parse(text, "demo.toml").unwrap();
//! assert_eq!(wf.agents[0].settings.len(), 4);
//! assert_eq!(wf.design_space().unwrap().structures.len(), 3);
//! ```
#![deny(missing_docs)]

mod ast;
mod error;
mod lower;

pub use ast::{
    AgentSpec, BranchSpec, CountSpec, GraphSpec, LockSpec, NodeSpec, SpaceSpec, TaskSpec, ToolSpec,
    WorkflowFile,
};
pub use error::{SpecError, SpecErrors};
pub use lower::{MAX_COUNT, MAX_DEPTH};

/// Template variables every prompt may use besides the task's dataset fields.
pub const BUILTIN_VARIABLES: [&str; 3] = ["input", "candidates", "feedback"];

/// Parses and validates a workflow file; `path` names it in diagnostics.
pub fn parse(text: &str, path: &str) -> Result<flowcompile_ir::Workflow, SpecErrors> {
    let file: WorkflowFile = toml::from_str(text).map_err(|e| {
        SpecErrors::new(
            path,
            text,
            vec![SpecError::syntax(e.message(), e.span().unwrap_or(0..0))],
        )
    })?;
    lower::lower(&file).map_err(|errors| SpecErrors::new(path, text, errors))
}

/// The JSON Schema of workflow files (TOML maps onto JSON one to one).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(WorkflowFile)).expect("a schema serialises")
}
