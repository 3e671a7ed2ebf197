//! `Runner::run_unscored` runs items that carry no gold answer (serving); `Runner::run` still needs it.

use flowcompile_client::{Client, Providers};
use flowcompile_ir::{NodeKind, Tool, ToolId, ToolKind, Workflow};
use flowcompile_runner::{Config, RunError, Runner};
use serde_json::json;

/// A workflow of one tool and no model call: it extracts an answer from the (empty) flow value.
fn extract_only() -> Workflow {
    let mut wf = Workflow::new("extract", Vec::new());
    wf.tools.push(Tool {
        name: "extract".into(),
        kind: ToolKind::ExtractAnswer,
        latency_s: 0.5,
    });
    wf.root = wf.add_node("extract", NodeKind::Tool(ToolId(0)));
    wf
}

fn client() -> Client {
    let toml = "[models.m]\nbase_url = \"http://127.0.0.1:9/v1\"";
    Client::new(Providers::from_toml_str(toml, "providers.toml").unwrap()).unwrap()
}

#[tokio::test]
async fn unscored_runs_need_no_gold_answer() {
    let wf = extract_only();
    let runner = Runner::new(wf.clone(), client()).unwrap();
    let config = Config::new(runner.space(), 0, []).unwrap();
    let item = json!({"id": "q", "problem": "What is 6 * 7?"});

    let scored = runner.run(&config, &item).await;
    assert!(
        matches!(&scored.answer, Err(RunError::MissingField { field, .. }) if field == "answer"),
        "{:?}",
        scored.answer
    );
    assert!(scored.score.is_none());

    let unscored = runner.run_unscored(&config, &item).await;
    assert_eq!(unscored.answer.unwrap(), "");
    assert!(unscored.score.is_none());
    assert_eq!(unscored.modelled_latency_s, 0.5);
    assert_eq!(unscored.tools.len(), 1);

    let with_gold = json!({"id": "q", "problem": "What is 6 * 7?", "answer": "42"});
    let scored = runner.run(&config, &with_gold).await;
    assert!(!scored.score.unwrap().correct);
    let unscored = runner.run_unscored(&config, &with_gold).await;
    assert!(unscored.score.is_none(), "the gold answer is ignored");
}

#[test]
fn a_shape_without_prompts_is_refused_by_name() {
    let text = "name = \"app\"\n[space]\nmodels = [\"m\"]\nbudgets = [0]\n[agents.solver]\n[agents.judge]\nprompt = \"ok? {{ input }}\"\n[graph]\nroot = \"flow\"\n[graph.nodes.flow]\nseq = [\"solver\", \"judge\"]\n";
    let wf = flowcompile_spec::parse(text, "shape.toml").unwrap();
    let err = Runner::new(wf, client())
        .err()
        .expect("a shape does not run");
    assert!(matches!(err, RunError::NoPrompt { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("`app`") && message.contains("solver") && !message.contains("judge"),
        "{message}"
    );
    assert!(message.contains("shape file"), "{message}");
}
