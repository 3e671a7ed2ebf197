//! `flowcompile gateway`: an OpenAI-compatible gateway in front of a providers file; with a shape
//! and an artifact, each agent's calls routed by the run's compiled point; with a shape and
//! `--capture`, each agent's calls run at its reference setting and written to a store.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context};
use flowcompile_client::{Client, Providers};
use flowcompile_driver::load;
use flowcompile_gateway::{
    gateway_router, serve_gateway, Agents, Deployment, GatewayOptions, Reference, RunLimits,
};
use flowcompile_select::Preference;
use flowcompile_store::Store;

use crate::cli::GatewayArgs;
use crate::exit::Failure;

/// The token apps must send, from the variable `--token-env` names.
pub(super) fn token(var: Option<&String>) -> Result<Option<String>, Failure> {
    let Some(var) = var else {
        return Ok(None);
    };
    match std::env::var(var) {
        Ok(t) if !t.trim().is_empty() => Ok(Some(t.trim().to_string())),
        _ => Err(Failure::Input(anyhow!(
            "--token-env {var}: the environment variable {var} is not set or empty"
        ))),
    }
}

/// The shape's agents: deployed by `--artifact`, or captured into `--store`.
fn agents(args: &GatewayArgs, shape: &Path, providers: &Providers) -> Result<Agents, Failure> {
    let wf = load::workflow(shape)?.workflow;
    let space = wf
        .design_space()
        .map_err(|e| Failure::Input(anyhow!("{}: {e}", shape.display())))?;
    let (config, _, _) =
        flowcompile_driver::config::reference(&wf, &space, None, args.reference.as_deref())?;
    let reference = Reference::new(&wf, &space, &config, providers).map_err(|e| {
        Failure::Input(anyhow!(
            "{} against {}: {e}",
            shape.display(),
            args.providers.display()
        ))
    })?;
    if args.capture {
        let path = args
            .store
            .as_ref()
            .ok_or_else(|| Failure::Input(anyhow!("--capture needs --store PATH")))?;
        load::ensure_parent(path)?;
        let store = Store::open(path).map_err(|e| Failure::Input(e.into()))?;
        return Ok(Agents::capture(&wf, reference, store));
    }
    let art_path = args
        .artifact
        .as_ref()
        .ok_or_else(|| Failure::Input(anyhow!("--shape needs --artifact FILE or --capture")))?;
    let artifact = load::artifact(art_path)?;
    let deployment =
        Deployment::new(&wf, &space, &artifact, &reference, providers).map_err(|e| {
            Failure::Input(anyhow!(
                "{} against {} and {}: {e}",
                art_path.display(),
                shape.display(),
                args.providers.display()
            ))
        })?;
    let preset =
        Preference::parse(&args.preset).map_err(|e| Failure::Input(anyhow!("--preset: {e}")))?;
    Agents::deploy(deployment, reference, preset)
        .map_err(|e| Failure::Input(anyhow!("--preset {}: {e}", args.preset)))
}

pub fn run(args: GatewayArgs) -> Result<(), Failure> {
    if args.max_body_bytes == 0 {
        return Err(Failure::Input(anyhow!(
            "--max-body-bytes 0: expected a number of bytes above 0"
        )));
    }
    if args.max_runs == 0 || args.run_ttl_s == 0 {
        return Err(Failure::Input(anyhow!(
            "--max-runs {} --run-ttl-s {}: expected both above 0",
            args.max_runs,
            args.run_ttl_s
        )));
    }
    let token = token(args.token_env.as_ref())?;
    let providers = Providers::load(&args.providers).map_err(|e| Failure::Input(e.into()))?;
    let agents = match &args.shape {
        None => None,
        Some(shape) => Some(agents(&args, shape, &providers)?),
    };
    let opts = GatewayOptions {
        token,
        runs: RunLimits {
            capacity: args.max_runs,
            ttl: Duration::from_secs(args.run_ttl_s),
        },
        body_limit_bytes: args.max_body_bytes,
    };
    let runtime = flowcompile_driver::models::runtime()?;
    runtime.block_on(async move {
        let client = Client::new(providers.clone())
            .map_err(|e| Failure::Other(anyhow!("cannot build the model client: {e}")))?;
        let what = match (&agents, &args.artifact, &args.store) {
            (Some(a), Some(artifact), _) => format!(
                "routing agent calls by {} (default point {})",
                artifact.display(),
                a.default_point()
            ),
            (Some(_), None, Some(store)) => format!(
                "capturing agent calls at their reference settings into {}",
                store.display()
            ),
            _ => "passing calls through".to_string(),
        };
        let auth = opts.token.is_some();
        let router = gateway_router(providers, client, agents, opts);
        let listener = tokio::net::TcpListener::bind((args.host, args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let addr = listener.local_addr().context("no local address")?;
        println!("gateway on http://{addr}/v1, {what}; Ctrl-C or SIGTERM stops");
        if !auth && !args.host.is_loopback() {
            eprintln!(
                "warning: listening on {} without --token-env: anyone who reaches it can call the providers with their keys",
                args.host
            );
        }
        serve_gateway(listener, router, super::serve::shutdown_signal())
            .await
            .context("the gateway failed")?;
        eprintln!("stopped: the calls in flight were answered");
        Ok::<(), Failure>(())
    })
}
