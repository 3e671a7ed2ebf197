//! `flowcompile show`: an artifact's frontier.

use crate::cli::ShowArgs;
use crate::exit::Failure;
use crate::observe::Stderr;
use crate::output;

pub fn run(args: ShowArgs) -> Result<(), Failure> {
    let artifact = super::load_artifact(&args.artifact)?;
    if let Some(note) = flowcompile_driver::load::predates_intervals(&artifact, &args.artifact) {
        flowcompile_driver::Observer::note(&Stderr::new(false), &note);
    }
    if args.json {
        return super::print_json(&artifact);
    }
    output::header(&artifact);
    if args.plot {
        println!("{}", output::plot(&artifact.points, 64, 18));
    }
    println!("{}", output::table(&artifact.points));
    Ok(())
}
