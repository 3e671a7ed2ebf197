//! `flowcompile run`: one configuration on one input, with its trace.

use anyhow::anyhow;
use flowcompile_runner::Runner;
use serde_json::{json, Value};

use super::exec;
use crate::cli::RunArgs;
use crate::exit::Failure;

pub fn run(args: RunArgs) -> Result<(), Failure> {
    let (wf, _) = super::load_workflow(&args.exec.workflow)?;
    let (item, data) = match (&args.input, &args.data, args.line) {
        (Some(text), _, _) => {
            let item: Value = serde_json::from_str(text)
                .map_err(|e| Failure::Input(anyhow!("--input is not JSON: {e}")))?;
            (item, None)
        }
        (None, Some(path), Some(line)) => {
            let text = super::read(path)?;
            let raw = text
                .lines()
                .nth(line.saturating_sub(1))
                .filter(|_| line > 0)
                .ok_or_else(|| Failure::Input(anyhow!("{} has no line {line}", path.display())))?;
            let item: Value = serde_json::from_str(raw).map_err(|e| {
                Failure::Input(anyhow!("{}:{line}: not a JSON object: {e}", path.display()))
            })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            (item, Some((name, text)))
        }
        _ => {
            return Err(Failure::Input(anyhow!(
                "give the input: --input JSON, or --data FILE --line N"
            )))
        }
    };
    if !item.is_object() {
        return Err(Failure::Input(anyhow!(
            "the input must be a JSON object with the task's fields ({})",
            wf.task.fields.join(", ")
        )));
    }
    let runtime = exec::runtime()?;
    runtime.block_on(async {
        let zoo_url = match args.exec.zoo {
            true => {
                let tasks = match &data {
                    Some((name, text)) => Some((name.clone(), text.clone())),
                    None => Some(("input.jsonl".to_string(), format!("{item}\n"))),
                };
                Some(exec::embedded_zoo(tasks.as_ref().map(|(n, t)| (n.as_str(), t.as_str()))).await?)
            }
            false => None,
        };
        let (providers, _) = exec::providers(args.exec.providers.as_deref(), zoo_url.as_deref())?;
        let space = wf.design_space().map_err(|e| Failure::Input(anyhow!("{e}")))?;
        let (config, what) = exec::config(&args.exec, &wf, &space)?;
        exec::check_models(&config, &space, &providers, args.exec.providers.as_deref())?;
        let runner = Runner::new(&wf, exec::client(providers)?).map_err(|e| Failure::Input(e.into()))?;
        let result = runner.run(&config, &item).await;
        if args.exec.json {
            let answer = match &result.answer {
                Ok(a) => json!({"answer": a}),
                Err(e) => json!({"error": e.to_string()}),
            };
            return super::print_json(&json!({
                "workflow": wf.name,
                "config": what,
                "result": answer,
                "score": result.score.as_ref().map(|s| json!({"value": s.value, "correct": s.correct})),
                "latency_s": result.latency_s,
                "modelled_latency_s": result.modelled_latency_s,
                "tokens": result.tokens,
                "calls": result.calls,
                "tools": result.tools,
            }));
        }
        println!("{} on item {} under {what}", wf.name, result.item_id);
        for c in &result.calls {
            let status = c.error.as_deref().map(|e| format!("  error: {e}")).unwrap_or_default();
            println!(
                "  call  {:<18} {:<12} {:>6} tok  {:>7.3} s  -> {}{status}",
                c.slot,
                format!("{}@{}", c.model, c.budget_tokens),
                c.prompt_tokens + c.completion_tokens,
                c.modelled_latency_s.unwrap_or(c.latency_s),
                short(&c.parsed)
            );
        }
        for t in &result.tools {
            println!("  tool  {:<18} {:<12} {:>6}      {:>7.3} s  -> {}", t.tool, t.kind, "", t.latency_s, short(&t.output));
        }
        match &result.answer {
            Ok(a) => println!("answer: {a}"),
            Err(e) => println!("failed: {e}"),
        }
        if let Some(s) = &result.score {
            println!("score: {:.3} ({})", s.value, if s.correct { "correct" } else { "wrong" });
        }
        println!(
            "latency: {:.3} s wall, {:.3} s modelled; {} tokens",
            result.latency_s, result.modelled_latency_s, result.tokens
        );
        match result.answer {
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::Other(anyhow!("the run failed: {e}"))),
        }
    })
}

/// The first line of a text, cut to 60 characters.
fn short(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    match line.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}
