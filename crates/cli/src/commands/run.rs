//! `flowcompile run`: one configuration on one input, with its trace.

use anyhow::anyhow;
use flowcompile_driver::runs::{run_one, Input};
use serde_json::json;

use crate::cli::RunArgs;
use crate::exit::Failure;

pub fn run(args: RunArgs) -> Result<(), Failure> {
    let input = match (&args.input, &args.data, args.line) {
        (Some(text), _, _) => Input::Json(text.clone()),
        (None, Some(path), Some(line)) => Input::Line {
            path: path.clone(),
            line,
        },
        _ => {
            return Err(Failure::Input(anyhow!(
                "give the input: --input JSON, or --data FILE --line N"
            )))
        }
    };
    let ran = run_one(
        &args.exec.workflow,
        &super::config_choice(&args.exec),
        &input,
        &super::model_source(args.exec.providers.as_ref(), args.exec.zoo),
    )?;
    let (result, what) = (&ran.result, &ran.config);
    if args.exec.json {
        let answer = match &result.answer {
            Ok(a) => json!({"answer": a}),
            Err(e) => json!({"error": e.to_string()}),
        };
        return super::print_json(&json!({
            "workflow": ran.workflow,
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
    println!("{} on item {} under {what}", ran.workflow, result.item_id);
    for c in &result.calls {
        let status = c
            .error
            .as_deref()
            .map(|e| format!("  error: {e}"))
            .unwrap_or_default();
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
        println!(
            "  tool  {:<18} {:<12} {:>6}      {:>7.3} s  -> {}",
            t.tool,
            t.kind,
            "",
            t.latency_s,
            short(&t.output)
        );
    }
    match &result.answer {
        Ok(a) => println!("answer: {a}"),
        Err(e) => println!("failed: {e}"),
    }
    if let Some(s) = &result.score {
        println!(
            "score: {:.3} ({})",
            s.value,
            if s.correct { "correct" } else { "wrong" }
        );
    }
    println!(
        "latency: {:.3} s wall, {:.3} s modelled; {} tokens",
        result.latency_s, result.modelled_latency_s, result.tokens
    );
    match &result.answer {
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::Other(anyhow!("the run failed: {e}"))),
    }
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
