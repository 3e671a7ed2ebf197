//! `flowcompile serve`: compiled workflows as models of an OpenAI-compatible chat API.

use std::time::Duration;

use anyhow::{anyhow, Context};
use flowcompile_route::{Router, RouterFile};
use flowcompile_server::{serve_workflows, ServedWorkflow, WorkflowServeOptions, PRESETS};

use flowcompile_driver::load;
use flowcompile_driver::models::{self, Models, ZOO_LABEL};

use crate::cli::ServeArgs;
use crate::exit::Failure;

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
    let token = super::gateway::token(args.token_env.as_ref())?;
    let mut loaded = Vec::new();
    for (wf_path, art_path) in args.workflows.iter().zip(&args.artifacts) {
        let wf = load::workflow(wf_path)?.workflow;
        let artifact = load::artifact(art_path)?;
        loaded.push((wf, artifact, art_path, None));
    }
    for path in &args.routers {
        let file = RouterFile::parse(&load::read(path)?, &path.display().to_string())
            .map_err(|e| Failure::Input(e.into()))?;
        let Some(slot) = loaded.iter_mut().find(|l| l.0.name == file.workflow) else {
            let names: Vec<&str> = loaded.iter().map(|l| l.0.name.as_str()).collect();
            return Err(Failure::Input(anyhow!(
                "{}: field `workflow`: built for workflow '{}', which is not served (serving: {})",
                path.display(),
                file.workflow,
                names.join(", ")
            )));
        };
        if slot.3.is_some() {
            return Err(Failure::Input(anyhow!(
                "{}: a second --router for workflow '{}': give one per workflow",
                path.display(),
                file.workflow
            )));
        }
        slot.3 = Some((file, path));
    }
    let tasks = match &args.tasks {
        Some(path) => Some((load::file_name(path), load::read(path)?)),
        None => None,
    };
    let opts = WorkflowServeOptions {
        body_limit_bytes: args.max_body_bytes,
        request_timeout,
        token,
    };
    let runtime = models::runtime()?;
    runtime.block_on(async move {
        let models = Models::open(
            &super::model_source(args.providers.as_ref(), args.zoo),
            tasks.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
        )?;
        let client = models.client()?;
        let mut served = Vec::new();
        for (wf, artifact, art_path, router) in loaded {
            let execution = artifact.proxy.execution;
            let mut s = ServedWorkflow::new(wf, artifact, client.clone()).map_err(|e| {
                Failure::Input(anyhow!("{}: {e}", art_path.display()))
            })?;
            if let Some((file, path)) = router {
                if file.execution != execution {
                    return Err(Failure::Input(anyhow!(
                        "{}: field `execution`: the router composes with {} execution, {} with {}; rebuild the router with this artifact",
                        path.display(),
                        file.execution,
                        art_path.display(),
                        execution
                    )));
                }
                let model = file.embed_model.clone();
                let embedder = models.embed_client(&model)?;
                let router = Router::new(s.workflow(), file, &path.display().to_string())
                    .map_err(|e| Failure::Input(e.into()))?;
                eprintln!(
                    "{}: KNN routing over {} validation queries (k = {}, embeddings from '{model}')",
                    s.workflow().name,
                    router.n_items(),
                    router.k()
                );
                s = s.with_router(router, embedder, model);
            }
            if let Some(label) = models.label() {
                s = s.with_models_label(Some(label));
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
pub(super) async fn shutdown_signal() {
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
