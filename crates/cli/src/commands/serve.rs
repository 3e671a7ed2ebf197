//! `flowcompile serve`: compiled workflows as models of an OpenAI-compatible chat API.

use std::time::Duration;

use anyhow::{anyhow, Context};
use flowcompile_server::{serve_workflows, ServedWorkflow, WorkflowServeOptions, PRESETS};

use super::exec;
use crate::cli::ServeArgs;
use crate::exit::Failure;

/// What the responses say answered when the embedded zoo does.
const ZOO_LABEL: &str = "zoo (synthetic)";

/// Longest accepted per-request timeout, seconds.
const MAX_TIMEOUT_S: u64 = 86_400;

pub fn run(args: ServeArgs) -> Result<(), Failure> {
    if args.workflows.len() != args.artifacts.len() {
        return Err(Failure::Input(anyhow!(
            "{} --workflow and {} --artifact given: give one --artifact per --workflow, in the same order",
            args.workflows.len(),
            args.artifacts.len()
        )));
    }
    let request_timeout = Duration::try_from_secs_f64(args.timeout_s)
        .ok()
        .filter(|d| !d.is_zero() && d.as_secs() <= MAX_TIMEOUT_S)
        .ok_or_else(|| {
            Failure::Input(anyhow!(
                "--timeout-s {:?}: expected a number of seconds above 0 and at most {MAX_TIMEOUT_S} (a day)",
                args.timeout_s
            ))
        })?;
    if args.max_body_bytes == 0 {
        return Err(Failure::Input(anyhow!(
            "--max-body-bytes 0: expected a number of bytes above 0"
        )));
    }
    let token = match &args.token_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            _ => {
                return Err(Failure::Input(anyhow!(
                    "--token-env {var}: the environment variable {var} is not set or empty"
                )))
            }
        },
    };
    let mut loaded = Vec::new();
    for (wf_path, art_path) in args.workflows.iter().zip(&args.artifacts) {
        let (wf, _) = super::load_workflow(wf_path)?;
        let artifact = super::load_artifact(art_path)?;
        loaded.push((wf, artifact, art_path));
    }
    let tasks = match &args.tasks {
        Some(path) => {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            Some((name, super::read(path)?))
        }
        None => None,
    };
    let opts = WorkflowServeOptions {
        body_limit_bytes: args.max_body_bytes,
        request_timeout,
        token,
    };
    let runtime = exec::runtime()?;
    runtime.block_on(async move {
        let zoo_url = match args.zoo {
            true => Some(
                exec::embedded_zoo(tasks.as_ref().map(|(n, t)| (n.as_str(), t.as_str()))).await?,
            ),
            false => None,
        };
        let (providers, _) = exec::providers(args.providers.as_deref(), zoo_url.as_deref())?;
        let client = exec::client(providers)?;
        let mut served = Vec::new();
        for (wf, artifact, art_path) in loaded {
            // A server's workflows live as long as the process: the runner borrows them.
            let wf = Box::leak(Box::new(wf));
            let mut s = ServedWorkflow::new(wf, artifact, client.clone()).map_err(|e| {
                Failure::Input(anyhow!("{}: {e}", art_path.display()))
            })?;
            if args.zoo {
                s = s.with_models_label(Some(ZOO_LABEL.to_string()));
            }
            served.push(s);
        }
        let listener = tokio::net::TcpListener::bind((args.host, args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let addr = listener.local_addr().context("no local address")?;
        let names: Vec<String> = served
            .iter()
            .map(|s| {
                let presets: Vec<&str> = PRESETS.iter().map(|(p, _)| *p).collect();
                format!(
                    "{} ({} points; @{})",
                    s.name(),
                    s.points().len(),
                    presets.join(", @")
                )
            })
            .collect();
        println!(
            "serving {} on http://{addr}/v1{}; Ctrl-C or SIGTERM stops",
            names.join(", "),
            if args.zoo {
                format!(" with models from the embedded {ZOO_LABEL}")
            } else {
                String::new()
            }
        );
        if opts.token.is_none() && !args.host.is_loopback() {
            eprintln!(
                "warning: listening on {} without --token-env: anyone who reaches it can run the workflows",
                args.host
            );
        }
        serve_workflows(listener, served, opts, shutdown_signal())
            .await
            .context("the server failed")?;
        eprintln!("stopped: the requests in flight were answered");
        Ok::<(), Failure>(())
    })
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    eprintln!("shutting down: finishing the requests in flight");
}
