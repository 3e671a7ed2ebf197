//! `flowcompile route build`: the KNN router file from the store's per-item profiles, and what the
//! router's users share (query text, embedding client, loading a router).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::anyhow;
use flowcompile_artifact::{sha256_hex, Artifact, LatencyModel};
use flowcompile_client::{Client, Providers};
use flowcompile_ir::Workflow;
use flowcompile_pipeline::{item_profiles, read_split, PipelineError};
use flowcompile_route::{
    query_text, GlobalSetting, ItemCell, Router, RouterAgent, RouterFile, RouterItem, FORMAT_V1,
};
use flowcompile_runner::item_id;
use flowcompile_store::Store;
use flowcompile_zoo::Zoo;
use serde_json::json;

use super::{exec, measure};
use crate::cli::RouteBuildArgs;
use crate::exit::Failure;

/// The embedding model name used with `--zoo` when none is given (the zoo embeds any model name the
/// same way: a hashed bag of words).
pub const ZOO_EMBED_MODEL: &str = "zoo-embed";

/// Texts embedded per `/v1/embeddings` request.
const EMBED_BATCH: usize = 64;

/// A client for the embedding model: with the in-process `zoo`, a provider for `model` answered
/// by it; else `providers` must list `model`.
pub fn embed_client(
    model: &str,
    zoo: Option<Arc<Zoo>>,
    providers: &Providers,
    providers_path: Option<&Path>,
) -> Result<Client, Failure> {
    let providers = match &zoo {
        Some(_) => {
            let url = exec::IN_PROCESS_BASE_URL;
            let text = format!(
                "[models.{}]\nbase_url = {}\nmodel = {}\n",
                toml::Value::String(model.to_string()),
                toml::Value::String(url.to_string()),
                toml::Value::String(model.to_string())
            );
            Providers::from_toml_str(&text, "embedded zoo embeddings")
                .map_err(|e| Failure::Other(e.into()))?
        }
        None => {
            if providers.get(model).is_none() {
                let known: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
                return Err(Failure::Input(anyhow!(
                    "the embedding model '{model}' has no endpoint in {}; it lists: {} (add it, or use --zoo)",
                    providers_path.map_or_else(|| "the providers".into(), |p| p.display().to_string()),
                    known.join(", ")
                )));
            }
            providers.clone()
        }
    };
    exec::client(providers, zoo)
}

/// Embeds `texts` with `model`, [`EMBED_BATCH`] per request; every vector must have the same
/// length, and there must be one per text.
pub async fn embed_all(
    client: &Client,
    model: &str,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, Failure> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(EMBED_BATCH) {
        let e = client
            .embed(model, chunk)
            .await
            .map_err(|e| Failure::Other(anyhow!("embedding with '{model}': {e}")))?;
        if e.vectors.len() != chunk.len() {
            return Err(Failure::Other(anyhow!(
                "embedding with '{model}': the server returned {} vectors for {} texts",
                e.vectors.len(),
                chunk.len()
            )));
        }
        out.extend(e.vectors);
    }
    if let Some(first) = out.first() {
        if first.is_empty() || out.iter().any(|v| v.len() != first.len()) {
            return Err(Failure::Other(anyhow!(
                "embedding with '{model}': the server returned vectors of differing or zero length"
            )));
        }
    }
    Ok(out)
}

/// Reads a router file and builds the router for `wf`.
pub fn load_router(path: &Path, wf: &Workflow) -> Result<(Router, RouterFile), Failure> {
    let text = super::read(path)?;
    let source = path.display().to_string();
    let file = RouterFile::parse(&text, &source).map_err(|e| Failure::Input(e.into()))?;
    let router = Router::new(wf, file.clone(), &source).map_err(|e| Failure::Input(e.into()))?;
    Ok((router, file))
}

/// Checks that `artifact` was compiled for `wf` with measured latency (per-item profiles are
/// measured latencies), warning when the workflow file changed since.
pub fn check_artifact(
    artifact: &Artifact,
    path: &Path,
    wf: &Workflow,
    spec_text: &str,
) -> Result<(), Failure> {
    if artifact.workflow != wf.name {
        return Err(Failure::Input(anyhow!(
            "{} was compiled for workflow '{}', not '{}'",
            path.display(),
            artifact.workflow,
            wf.name
        )));
    }
    if artifact.proxy.latency != LatencyModel::Measured {
        return Err(Failure::Input(anyhow!(
            "{}: proxy.latency is 'tokens'; the router composes measured per-item latencies, so compile with --latency measured",
            path.display()
        )));
    }
    if let Some(digest) = &artifact.provenance.spec_sha256 {
        if *digest != sha256_hex(spec_text.as_bytes()) {
            eprintln!(
                "warning: the workflow file changed since {} was compiled",
                path.display()
            );
        }
    }
    Ok(())
}

/// `flowcompile route build`.
pub fn build(args: RouteBuildArgs) -> Result<(), Failure> {
    let (wf, spec_text) = super::load_workflow(&args.workflow)?;
    let artifact_text = super::read(&args.artifact)?;
    let artifact =
        flowcompile_artifact::parse_any(&artifact_text, &args.artifact.display().to_string())
            .map_err(|e| Failure::Input(e.into()))?;
    check_artifact(&artifact, &args.artifact, &wf, &spec_text)?;
    let embed_model = match (&args.embed_model, args.measure.zoo) {
        (Some(m), _) => m.clone(),
        (None, true) => ZOO_EMBED_MODEL.to_string(),
        (None, false) => {
            return Err(Failure::Input(anyhow!(
                "--embed-model NAME is needed with --providers (a model the providers file lists, served at /v1/embeddings)"
            )))
        }
    };
    let m = measure::measure(&wf, &args.measure, false, args.json)?;
    let report = m.profile.expect("profiling ran");
    if !report.unprofiled.is_empty() {
        return Err(Failure::Other(
            PipelineError::Unprofiled {
                settings: report.unprofiled,
            }
            .into(),
        ));
    }
    let rows: HashMap<(&str, &str, u32), (f64, f64)> = report
        .rows
        .iter()
        .map(|r| {
            (
                (r.agent.as_str(), r.model.as_str(), r.budget_tokens),
                (r.accuracy, r.latency_s),
            )
        })
        .collect();
    let mut agents = Vec::with_capacity(wf.agents.len());
    for a in &wf.agents {
        let mut settings = Vec::with_capacity(a.settings.len());
        for s in &a.settings {
            let &(accuracy, latency_s) = rows
                .get(&(a.name.as_str(), s.model.as_str(), s.budget_tokens))
                .ok_or_else(|| {
                    Failure::Other(anyhow!(
                        "profiling reported no row for {} {}@{}",
                        a.name,
                        s.model,
                        s.budget_tokens
                    ))
                })?;
            settings.push(GlobalSetting {
                model: s.model.clone(),
                budget_tokens: s.budget_tokens,
                accuracy,
                latency_s,
            });
        }
        agents.push(RouterAgent {
            name: a.name.clone(),
            settings,
        });
    }
    let keys: Vec<String> = report.agents.iter().map(|a| a.prompt_key.clone()).collect();
    let store = Store::open(&args.measure.store).map_err(|e| Failure::Other(e.into()))?;
    let profiles = item_profiles(&store, &wf, &keys).map_err(|e| Failure::Other(e.into()))?;
    drop(store);

    let data = args.measure.data.as_ref().expect("measure needs --data");
    let data_text = super::read(data)?;
    let mut split = read_split(
        &data_text,
        &data.display().to_string(),
        &wf.task.answer,
        &wf.task.fields,
    )
    .map_err(|e| Failure::Input(e.into()))?;
    if let Some(limit) = args.measure.limit {
        split.truncate(limit);
    }
    let mut texts: HashMap<String, String> = split
        .iter()
        .map(|item| (item_id(item), query_text(item, &wf.task.fields)))
        .collect();
    let n_split = texts.len();
    let mut ids = Vec::new();
    let mut item_texts = Vec::new();
    let mut item_cells = Vec::new();
    for (id, per_agent) in &profiles.items {
        let Some(text) = texts.remove(id) else {
            continue;
        };
        let mut cells = Vec::new();
        for (a, settings) in per_agent.iter().enumerate() {
            for (s, stats) in settings.iter().enumerate() {
                if let Some(st) = stats {
                    cells.push(ItemCell {
                        agent: a,
                        setting: s,
                        accuracy: st.accuracy,
                        latency_s: st.latency_s,
                        calls: st.calls,
                    });
                }
            }
        }
        ids.push(id.clone());
        item_texts.push(text);
        item_cells.push(cells);
    }
    if ids.is_empty() {
        return Err(Failure::Other(anyhow!(
            "no item of {} has a profiling call in {}; run `flowcompile compile --data` with the same flags first",
            data.display(),
            args.measure.store.display()
        )));
    }
    let runtime = exec::runtime()?;
    let vectors = runtime.block_on(async {
        let zoo = match args.measure.zoo {
            true => Some(exec::embedded_zoo(None)?),
            false => None,
        };
        let (providers, _) = exec::providers(args.measure.providers.as_deref(), args.measure.zoo)?;
        let client = embed_client(
            &embed_model,
            zoo,
            &providers,
            args.measure.providers.as_deref(),
        )?;
        embed_all(&client, &embed_model, &item_texts).await
    })?;
    let dims = vectors[0].len();
    let n_cells_total: usize = wf.agents.iter().map(|a| a.settings.len()).sum();
    let n_measured: usize = item_cells.iter().map(Vec::len).sum();
    let items: Vec<RouterItem> = ids
        .into_iter()
        .zip(vectors)
        .zip(item_cells)
        .map(|((id, embedding), profile)| RouterItem {
            id,
            embedding,
            profile,
        })
        .collect();
    let n_items = items.len();
    let file = RouterFile {
        format: FORMAT_V1.into(),
        workflow: wf.name.clone(),
        spec_sha256: Some(sha256_hex(spec_text.as_bytes())),
        artifact_sha256: Some(sha256_hex(artifact_text.as_bytes())),
        execution: artifact.proxy.execution,
        k: args.k as usize,
        prior_calls: args.prior_calls,
        embed_model: embed_model.clone(),
        dims,
        models_label: artifact.provenance.models_label.clone().or(m.models_label),
        agents,
        items,
    };
    // The file must read back and load as a router for this workflow before it is written.
    let text = file.to_json();
    let checked = RouterFile::parse(&text, "the router being built")
        .and_then(|f| Router::new(&wf, f, "the router being built"))
        .map_err(|e| Failure::Input(e.into()))?;
    drop(checked);
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.router.json", wf.name)));
    super::write_atomically(&out, text.as_bytes())?;
    let measured_share = n_measured as f64 / (n_items * n_cells_total) as f64;
    if args.json {
        return super::print_json(&json!({
            "router": out.display().to_string(),
            "workflow": wf.name,
            "k": args.k,
            "embed_model": embed_model,
            "dims": dims,
            "n_items": n_items,
            "n_items_in_split": n_split,
            "measured_cells": n_measured,
            "measured_share": measured_share,
        }));
    }
    println!(
        "router for {}: {n_items} of {n_split} validation items have profiling calls; {dims}-dimension embeddings from '{embed_model}', k = {}",
        wf.name, args.k
    );
    println!(
        "per-item profiles: {n_measured} measured (agent, setting) cells, {:.1}% of the items' cells; the rest fall back to the agents' global profiles",
        100.0 * measured_share
    );
    println!("wrote {}", out.display());
    Ok(())
}
