//! `flowcompile select`: one configuration from an artifact.

use anyhow::anyhow;
use flowcompile_select::{Confidence, Request};

use crate::cli::SelectArgs;
use crate::exit::Failure;
use crate::output;

pub fn run(args: SelectArgs) -> Result<(), Failure> {
    let artifact = super::load_artifact(&args.artifact)?;
    // Flag values were checked by clap (usage errors); the request is checked once more by the
    // validation every front end shares.
    let request = Request::new(args.prefer, args.min_accuracy, args.max_latency)
        .map_err(|e| Failure::Input(anyhow!("{e}")))?;
    let idx = match args.confidence {
        None => flowcompile_select::select(&artifact.points, &request)
            .map_err(|e| Failure::Unsatisfiable(anyhow!("{e}"))),
        Some(c) => {
            if artifact.proxy.intervals.is_none() {
                return Err(Failure::Input(anyhow!(
                    "--confidence judges points by their intervals, and {} has none: {}",
                    args.artifact.display(),
                    match artifact.format {
                        flowcompile_artifact::ArtifactFormat::V1 => "it is a flowcompile.artifact.v1 artifact, which predates them; compile it again",
                        flowcompile_artifact::ArtifactFormat::V2 => "it was compiled from profile files, which hold averages only; compile with --data",
                    }
                )));
            }
            let c = Confidence::new(c).map_err(|e| Failure::Input(anyhow!("{e}")))?;
            flowcompile_select::select(&c.bound(&artifact.points), &request).map_err(|e| {
                Failure::Unsatisfiable(anyhow!(
                    "at confidence {} (each point's accuracy is its lower bound, its latency its upper bound): {e}",
                    c.value()
                ))
            })
        }
    };
    let idx = idx?;
    let point = &artifact.points[idx];
    if args.json {
        return super::print_json(point);
    }
    println!("{}", output::point(point));
    Ok(())
}
