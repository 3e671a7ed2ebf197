//! The shipped example workflows parse and have the paper's structure counts.

use std::path::PathBuf;

fn example(name: &str) -> flowcompile_ir::Workflow {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../examples/{name}/workflow.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    match flowcompile_spec::parse(&text, &path.display().to_string()) {
        Ok(wf) => wf,
        Err(e) => panic!("{}", e.plain()),
    }
}

#[track_caller]
fn check(name: &str, n_structures: usize, n_configs: Option<u128>) {
    let wf = example(name);
    let space = wf.design_space().unwrap();
    assert_eq!(space.structures.len(), n_structures, "{name}");
    if let Some(n) = n_configs {
        assert_eq!(space.n_configs().exact(), Some(n), "{name}");
    }
}

#[test]
fn hotpotqa_has_6_structures_and_1043280_configurations() {
    check("hotpotqa", 6, Some(1_043_280));
}

#[test]
fn math_has_17_structures() {
    check("math", 17, None);
}

#[test]
fn code_has_12_structures() {
    check("code", 12, None);
}

#[test]
fn every_bad_spec_reports_the_expected_errors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/workflow");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        n += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let errors = flowcompile_spec::parse(&text, &name)
            .expect_err(&name)
            .plain();
        let expected_path = path.with_extension("expected");
        if std::env::var_os("FLOWCOMPILE_BLESS").is_some() {
            std::fs::write(&expected_path, format!("{errors}\n")).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("missing {}", expected_path.display()));
        assert_eq!(errors.trim_end(), expected.trim_end(), "{name}");
    }
    assert!(n >= 10, "only {n} bad specs");
}

#[test]
fn the_shipped_workflow_schema_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/workflow.schema.json");
    let generated = flowcompile_spec::json_schema();
    if std::env::var_os("FLOWCOMPILE_BLESS").is_some() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
        )
        .unwrap();
    }
    let shipped: Option<serde_json::Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    assert!(
        shipped.as_ref() == Some(&generated),
        "{} differs from the generated schema; rerun with FLOWCOMPILE_BLESS=1 to rewrite it",
        path.display()
    );
}

#[test]
fn the_largest_structure_of_each_example_is_its_last_every_knob_at_its_maximum() {
    for name in ["math", "code", "hotpotqa", "hotpotqa-small"] {
        let space = example(name).design_space().unwrap();
        assert_eq!(
            space.largest_structure(),
            space.structures.len() - 1,
            "{name}"
        );
    }
}

/// A workflow whose root is a chain of `depth` seq nodes, each holding the next, the last a call.
fn chain(depth: usize) -> String {
    let mut text = String::from(
        "name = \"deep\"\n[space]\nmodels = [\"m\"]\nbudgets = [0]\n[agents.a]\nprompt = \"{{ question }}\"\n[graph]\nroot = \"n0\"\n",
    );
    for i in 0..depth {
        let next = if i + 1 == depth {
            "a".to_string()
        } else {
            format!("n{}", i + 1)
        };
        text.push_str(&format!("[graph.nodes.n{i}]\nseq = [\"{next}\"]\n"));
    }
    text
}

#[test]
fn a_graph_nested_past_the_limit_is_an_error_naming_the_node_not_a_stack_overflow() {
    let limit = flowcompile_spec::MAX_DEPTH;
    let wf = flowcompile_spec::parse(&chain(limit), "deep.toml").unwrap();
    assert_eq!(wf.design_space().unwrap().structures.len(), 1);
    for depth in [limit + 1, 10_000] {
        let err = flowcompile_spec::parse(&chain(depth), "deep.toml")
            .unwrap_err()
            .plain();
        assert!(
            err.contains(&format!(
                "the graph nests {depth} nodes deep below 'n0', past the limit of {limit}: node 'n{limit}' is at depth {}",
                limit + 1
            )),
            "{err}"
        );
        assert!(err.starts_with("deep.toml:"), "{err}");
    }
}

#[test]
fn a_shape_may_leave_out_prompts_and_parsers() {
    let text = r#"
name = "app"
[space]
models = ["small", "big"]
budgets = [0, 100]
[agents.solver]
[agents.judge]
role = "judge"
prompt = "Is {{ input }} right?"
[graph]
root = "flow"
[graph.nodes.flow]
seq = ["solver", "maybe_judge"]
[graph.nodes.maybe_judge]
optional = "judge"
"#;
    let wf = flowcompile_spec::parse(text, "shape.toml").unwrap();
    assert_eq!(wf.agents[0].prompt, None);
    assert_eq!(wf.agents[0].output, flowcompile_ir::OutputParser::Raw);
    assert_eq!(
        wf.agents[1].prompt.as_deref(),
        Some("Is {{ input }} right?")
    );
    assert_eq!(wf.design_space().unwrap().structures.len(), 2);
}
