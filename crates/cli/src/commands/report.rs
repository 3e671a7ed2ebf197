//! `flowcompile report`: artifact (+ workflow, profiles, validation, truth) -> HTML page and SVG plots.

use anyhow::Context;
use flowcompile_artifact::sha256_hex;
use flowcompile_report::{render, Inputs, ProfileInputs, Truth, Validation};
use serde_json::json;

use crate::cli::ReportArgs;
use crate::exit::Failure;
use flowcompile_driver::load::{self, write_atomically};

pub fn run(args: ReportArgs) -> Result<(), Failure> {
    let artifact_name = args.artifact.display().to_string();
    let artifact_text = load::read(&args.artifact)?;
    let artifact = load::artifact_text(&artifact_text, &args.artifact)?;
    let artifact_sha256 = sha256_hex(artifact_text.as_bytes());

    let input = |e: flowcompile_report::ReportError| Failure::Input(e.into());
    // Workflow and profiles, digested the way `compile` digests them.
    let mut compiled_from = None;
    if let (Some(wf_path), Some(profiles_path)) = (&args.workflow, &args.profiles) {
        let file = load::workflow(wf_path)?;
        let files = load::profiles(profiles_path, args.throughput.as_deref())?;
        let spec_text = file.text;
        compiled_from = Some((
            load::narrow_to_artifact(file.workflow, &artifact, &files.table),
            wf_path.display().to_string(),
            files.table,
            files.throughput,
            sha256_hex(spec_text.as_bytes()),
            sha256_hex(&files.digest_input),
        ));
    }
    let validation = match &args.validation {
        Some(path) => {
            let name = path.display().to_string();
            let doc = Validation::from_json(&load::read(path)?, &name).map_err(input)?;
            Some((doc, name))
        }
        None => None,
    };
    let truth = match &args.truth {
        Some(path) => {
            let name = path.display().to_string();
            let doc = Truth::from_json(&load::read(path)?, &name).map_err(input)?;
            Some((doc, name))
        }
        None => None,
    };

    let inputs = Inputs {
        artifact: &artifact,
        artifact_source: &artifact_name,
        artifact_sha256: Some(&artifact_sha256),
        profiles: compiled_from.as_ref().map(
            |(workflow, workflow_source, table, throughput, spec, profiles)| ProfileInputs {
                workflow,
                workflow_source,
                table,
                throughput,
                spec_sha256: Some(spec),
                profiles_sha256: Some(profiles),
            },
        ),
        validation: validation.as_ref().map(|(d, n)| (d, n.as_str())),
        truth: truth.as_ref().map(|(d, n)| (d, n.as_str())),
    };
    let report = render(&inputs).map_err(input)?;

    let out = args
        .output
        .clone()
        .unwrap_or_else(|| load::default_output(&artifact.workflow, "report.html"));
    write_atomically(&out, report.html.as_bytes())?;
    let mut svgs = Vec::new();
    if let Some(dir) = &args.svg_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for plot in &report.plots {
            let path = dir.join(format!("{}.svg", plot.name));
            write_atomically(&path, plot.svg.as_bytes())?;
            svgs.push(path.display().to_string());
        }
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if args.json {
        return super::print_json(&json!({
            "html": out.display().to_string(),
            "svgs": svgs,
            "plots": report.plots.iter().map(|p| json!({"name": p.name, "title": p.title})).collect::<Vec<_>>(),
            "warnings": report.warnings,
        }));
    }
    let names: Vec<&str> = report.plots.iter().map(|p| p.name.as_str()).collect();
    println!(
        "wrote {} ({} points; plots: {})",
        out.display(),
        artifact.points.len(),
        names.join(", ")
    );
    for path in &svgs {
        println!("wrote {path}");
    }
    Ok(())
}
