//! `flowcompile select`: one configuration from an artifact.

use anyhow::anyhow;
use flowcompile_select::Request;

use crate::cli::SelectArgs;
use crate::exit::Failure;
use crate::output;

pub fn run(args: SelectArgs) -> Result<(), Failure> {
    let artifact = super::load_artifact(&args.artifact)?;
    // Flag values were checked by clap (usage errors); the request is checked once more by the
    // validation every front end shares.
    let request = Request::new(args.prefer, args.min_accuracy, args.max_latency)
        .map_err(|e| Failure::Input(anyhow!("{e}")))?;
    let idx = flowcompile_select::select(&artifact.points, &request)
        .map_err(|e| Failure::Unsatisfiable(anyhow!("{e}")))?;
    let point = &artifact.points[idx];
    if args.json {
        return super::print_json(point);
    }
    println!("{}", output::point(point));
    Ok(())
}
