//! `flowcompile select`: one configuration from an artifact.

use anyhow::anyhow;
use flowcompile_select::{Preference, Request};

use crate::cli::SelectArgs;
use crate::exit::Failure;
use crate::output;

pub fn run(args: SelectArgs) -> Result<(), Failure> {
    let artifact = super::load_artifact(&args.artifact)?;
    let preference = match &args.prefer {
        Some(text) => Some(
            Preference::parse(text)
                .map_err(|e| Failure::Input(anyhow!("--prefer: {e}")))?
                .value(),
        ),
        None if args.min_accuracy.is_none() && args.max_latency.is_none() => {
            Some(Preference::MEDIUM.value())
        }
        None => None,
    };
    for (flag, v) in [
        ("--min-accuracy", args.min_accuracy),
        ("--max-latency", args.max_latency),
    ] {
        if let Some(v) = v {
            if !v.is_finite() || v < 0.0 || (flag == "--min-accuracy" && v > 1.0) {
                return Err(Failure::Input(anyhow!("{flag} {v}: expected a number in [0, 1] for accuracy, >= 0 seconds for latency")));
            }
        }
    }
    let request = Request {
        preference,
        min_accuracy: args.min_accuracy,
        max_latency_s: args.max_latency,
    };
    let idx = flowcompile_select::select(&artifact.points, &request)
        .map_err(|e| Failure::Unsatisfiable(anyhow!("{e}")))?;
    let point = &artifact.points[idx];
    if args.json {
        return super::print_json(point);
    }
    println!("{}", output::point(point));
    Ok(())
}
