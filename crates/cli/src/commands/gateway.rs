//! `flowcompile gateway`: an OpenAI-compatible gateway in front of a providers file; with a shape
//! and an artifact, each agent's calls routed by the run's compiled point.

use std::time::Duration;

use anyhow::{anyhow, Context};
use flowcompile_client::{Client, Providers};
use flowcompile_driver::load;
use flowcompile_gateway::{
    gateway_router, serve_gateway, Agents, Deployment, GatewayOptions, RunLimits,
};
use flowcompile_ir::{Setting, Workflow};
use flowcompile_select::Preference;

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

/// Each agent's reference setting (the induction's reference: its last model at its largest
/// budget, or `all` for every agent), in agent order.
fn reference(wf: &Workflow, all: Option<&str>) -> Result<Vec<Setting>, Failure> {
    let space = wf
        .design_space()
        .map_err(|e| Failure::Input(anyhow!("workflow '{}': {e}", wf.name)))?;
    let (config, _, _) = flowcompile_driver::config::reference(wf, &space, None, all)?;
    let mut per_agent: Vec<Option<Setting>> = vec![None; wf.agents.len()];
    for (slot, setting) in space.slots.iter().zip(&config.settings) {
        let entry = &mut per_agent[slot.agent.0 as usize];
        if entry.is_none() {
            *entry = setting.clone();
        }
    }
    per_agent
        .into_iter()
        .zip(&wf.agents)
        .map(|(s, a)| {
            s.ok_or_else(|| Failure::Input(anyhow!("agent '{}' has no reference setting", a.name)))
        })
        .collect()
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
    let agents = match (&args.shape, &args.artifact) {
        (Some(shape), Some(art_path)) => {
            let wf = load::workflow(shape)?.workflow;
            let space = wf
                .design_space()
                .map_err(|e| Failure::Input(anyhow!("{}: {e}", shape.display())))?;
            let artifact = load::artifact(art_path)?;
            let reference = reference(&wf, None)?;
            let deployment = Deployment::new(&wf, &space, &artifact, &reference, &providers)
                .map_err(|e| {
                    Failure::Input(anyhow!(
                        "{} against {} and {}: {e}",
                        art_path.display(),
                        shape.display(),
                        args.providers.display()
                    ))
                })?;
            let preset = Preference::parse(&args.preset)
                .map_err(|e| Failure::Input(anyhow!("--preset: {e}")))?;
            let agents = Agents::deploy(deployment, preset)
                .map_err(|e| Failure::Input(anyhow!("--preset {}: {e}", args.preset)))?;
            Some(agents)
        }
        _ => None,
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
        let what = match &agents {
            Some(a) => format!(
                "routing agent calls by {} (default point {})",
                args.artifact
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string()),
                a.default_point()
            ),
            None => "passing calls through".to_string(),
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
