//! Import of hand-written prototype `flowcompile.compiled.v2` files.

use std::path::Path;

use flowcompile_artifact::{
    import_v2, parse_any, Artifact, ExecutionModel, LatencyModel, PointSetting,
};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn setting(model: &str, budget_tokens: u32) -> PointSetting {
    PointSetting {
        model: model.into(),
        budget_tokens,
    }
}

#[test]
fn the_prototype_layout_imports() {
    // The example the README shows (`flowcompile show examples/prototype/...`).
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/prototype/hotpotqa.compiled.v2.json");
    let a = import_v2(&std::fs::read_to_string(path).unwrap(), "compiled.json").unwrap();
    assert_eq!(a.workflow, "hotpotqa");
    assert_eq!(a.provenance.imported_from.as_deref(), Some("compiled.json"));
    assert_eq!(a.provenance.tool, "flowcompile");
    assert_eq!(
        (a.proxy.execution, a.proxy.latency),
        (ExecutionModel::Sequential, LatencyModel::Tokens)
    );
    assert!(a.space.is_none());
    let ids: Vec<&str> = a.points.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p0", "p1", "p2", "p3"]);
    let structures: Vec<u32> = a.points.iter().map(|p| p.structure.index).collect();
    assert_eq!(structures, [0, 1, 4, 5]);
    let p2 = &a.points[2];
    assert_eq!(p2.origin.as_ref().unwrap().config_id, "cfg_0002");
    assert_eq!(
        (p2.predicted.accuracy, p2.predicted.latency_s),
        (0.6831, 9.72)
    );
    let agents: Vec<&str> = p2.settings.keys().map(String::as_str).collect();
    assert_eq!(agents, ["answer_generate", "sc_ensemble", "format_answer"]);
    assert_eq!(p2.settings["sc_ensemble"], setting("qwen3_4b", 100));
    let text = a.to_json_pretty();
    assert_eq!(Artifact::from_json(&text, "a.json").unwrap(), a);
}

#[test]
fn every_settings_spelling_imports_and_points_are_sorted() {
    let a = parse_any(&fixture("variants.compiled.v2.json"), "variants.json").unwrap();
    assert_eq!(a.workflow, "math");
    let origins: Vec<&str> = a
        .points
        .iter()
        .map(|p| p.origin.as_ref().unwrap().config_id.as_str())
        .collect();
    assert_eq!(
        origins,
        ["4", "3", "7"],
        "latency ascending, then accuracy descending"
    );
    let structures: Vec<u32> = a.points.iter().map(|p| p.structure.index).collect();
    assert_eq!(
        structures,
        [1, 1, 0],
        "string structure ids numbered by first appearance"
    );
    assert_eq!(
        a.points[0].settings["generate_solver"],
        setting("qwen3_4b", 10)
    );
    assert_eq!(a.points[2].settings["programmer"], setting("qwen3_4b", 400));
    assert_eq!(
        a.points[2].settings["refine_solver"],
        setting("qwen3_8b", 800)
    );
    assert_eq!(
        a.points[2].origin.as_ref().unwrap().structure_id,
        "programmer+refine"
    );
}
