//! `flowcompile zoo serve`: the synthetic models on a loopback OpenAI-compatible server.

use std::sync::Arc;

use anyhow::{anyhow, Context};
use flowcompile_zoo::http::{serve_zoo, ZooServeOptions};
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};

use crate::cli::ZooServeArgs;
use crate::exit::Failure;

pub fn serve(args: ZooServeArgs) -> Result<(), Failure> {
    let config = match &args.config {
        Some(path) => {
            let text = super::read(path)?;
            ZooConfig::from_toml_str(&text, &path.display().to_string())
                .map_err(|e| Failure::Input(e.into()))?
        }
        None => ZooConfig::default(),
    };
    let mut task_sets = Vec::new();
    for path in &args.tasks {
        let text = super::read(path)?;
        task_sets.push(
            TaskSet::from_jsonl(&path.display().to_string(), &text)
                .map_err(|e| Failure::Input(e.into()))?,
        );
    }
    let time_scale = args.time_scale.unwrap_or(config.time_scale);
    if !time_scale.is_finite() || time_scale < 0.0 {
        return Err(Failure::Input(anyhow!(
            "--time-scale {time_scale}: expected a number >= 0"
        )));
    }
    let zoo = Zoo::new(config, task_sets).map_err(|e| Failure::Input(e.into()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
        let addr = listener.local_addr().context("no local address")?;
        let models: Vec<String> = zoo.model_names().map(String::from).collect();
        println!(
            "zoo (synthetic): {} models ({}) and {} tasks on http://{addr}/v1 (time scale {time_scale}); Ctrl-C or SIGTERM stops",
            models.len(),
            models.join(", "),
            zoo.n_tasks()
        );
        if zoo.n_tasks() == 0 {
            eprintln!("warning: no --tasks given: every prompt is unknown to the zoo and its correctness undefined");
        }
        let shutdown = super::serve::shutdown_signal();
        let opts = ZooServeOptions { time_scale, ..ZooServeOptions::default() };
        serve_zoo(listener, Arc::new(zoo), opts, shutdown).await.context("zoo server failed")?;
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(())
}
