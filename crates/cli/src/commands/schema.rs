//! `flowcompile schema`: the JSON Schemas of the file formats.

use crate::cli::{SchemaArgs, SchemaKind};
use crate::exit::Failure;

pub fn run(args: SchemaArgs) -> Result<(), Failure> {
    let schema = match args.kind {
        SchemaKind::Workflow => flowcompile_spec::json_schema(),
        SchemaKind::Artifact => flowcompile_artifact::json_schema(),
        SchemaKind::Validation => flowcompile_validate::json_schema(),
        SchemaKind::Truth => flowcompile_truth::json_schema(),
        SchemaKind::Router => flowcompile_route::json_schema(),
    };
    super::print_json(&schema)
}
