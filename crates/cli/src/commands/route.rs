//! `flowcompile route build`: the driver's router pass, printed.

use flowcompile_driver::route::{build as build_router, RouteOptions};

use crate::cli::RouteBuildArgs;
use crate::exit::Failure;
use crate::observe::Stderr;

/// `flowcompile route build`.
pub fn build(args: RouteBuildArgs) -> Result<(), Failure> {
    let opts = RouteOptions {
        workflow: args.workflow.clone(),
        artifact: args.artifact.clone(),
        measure: super::measure_options(&args.measure)?,
        embed_model: args.embed_model.clone(),
        k: args.k,
        prior_calls: args.prior_calls,
        output: args.output.clone(),
    };
    let b = build_router(&opts, &Stderr::new(args.json))?;
    if args.json {
        return super::print_json(&b);
    }
    println!(
        "router for {}: {} of {} validation items have profiling calls; {}-dimension embeddings from '{}', k = {}",
        b.workflow, b.n_items, b.n_items_in_split, b.dims, b.embed_model, b.k
    );
    println!(
        "per-item profiles: {} measured (agent, setting) cells, {:.1}% of the items' cells; the rest fall back to the agents' global profiles",
        b.measured_cells,
        100.0 * b.measured_share
    );
    println!("wrote {}", b.router);
    Ok(())
}
