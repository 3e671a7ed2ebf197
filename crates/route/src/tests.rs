use flowcompile_artifact::ExecutionModel;
use flowcompile_ir::{Agent, AgentId, NodeKind, Setting, SlotId, Workflow};
use flowcompile_select::Request;

use crate::*;

/// solver (small fast, large slow) -> checker (one setting): a sequence of two agents.
fn workflow() -> Workflow {
    let solver = Agent::new(
        "solver",
        vec![Setting::new("small", 10), Setting::new("large", 1000)],
    );
    let checker = Agent::new("checker", vec![Setting::new("small", 10)]);
    let mut wf = Workflow::new("demo", vec![solver, checker]);
    let a = wf.add_node("solve", NodeKind::Agent(AgentId(0)));
    let b = wf.add_node("check", NodeKind::Agent(AgentId(1)));
    wf.root = wf.add_node("root", NodeKind::Seq(vec![a, b]));
    wf
}

fn cell(agent: usize, setting: usize, accuracy: f64, latency_s: f64) -> ItemCell {
    ItemCell {
        agent,
        setting,
        accuracy,
        latency_s,
        calls: 2,
    }
}

/// Two clusters of validation items: near (1, 0, 0) the small solver is as good as the large one;
/// near (0, 1, 0) it always fails. A third item has no measurement at all.
fn file() -> RouterFile {
    let mut items = Vec::new();
    for i in 0..5 {
        let jitter = 0.05 * i as f32;
        items.push(RouterItem {
            id: format!("easy-{i}"),
            embedding: vec![1.0, jitter, 0.0],
            profile: vec![cell(0, 0, 1.0, 1.0), cell(0, 1, 1.0, 9.0)],
        });
        items.push(RouterItem {
            id: format!("hard-{i}"),
            embedding: vec![jitter, 1.0, 0.0],
            profile: vec![
                cell(0, 0, 0.0, 1.0),
                cell(0, 1, 1.0, 9.0),
                cell(1, 0, 1.0, 0.5),
            ],
        });
    }
    items.push(RouterItem {
        id: "unmeasured".into(),
        embedding: vec![0.0, 0.0, 3.0],
        profile: Vec::new(),
    });
    let global = |model: &str, budget_tokens, accuracy, latency_s| GlobalSetting {
        model: model.into(),
        budget_tokens,
        accuracy,
        latency_s,
    };
    RouterFile {
        format: FORMAT_V1.into(),
        workflow: "demo".into(),
        spec_sha256: Some("abc".into()),
        artifact_sha256: None,
        execution: ExecutionModel::Parallel,
        k: 3,
        prior_calls: 0.0,
        embed_model: "embed".into(),
        dims: 3,
        models_label: Some("synthetic".into()),
        agents: vec![
            RouterAgent {
                name: "solver".into(),
                settings: vec![
                    global("small", 10, 0.5, 1.0),
                    global("large", 1000, 0.95, 9.0),
                ],
            },
            RouterAgent {
                name: "checker".into(),
                settings: vec![global("small", 10, 1.0, 0.5)],
            },
        ],
        items,
    }
}

fn prefer(b: f64) -> Request {
    Request {
        preference: Some(b),
        ..Request::default()
    }
}

#[test]
fn a_cluster_of_easy_queries_routes_to_the_small_model_and_hard_ones_to_the_large() {
    let wf = workflow();
    let router = Router::new(&wf, file(), "r.json").unwrap();
    assert_eq!(
        router.lat_max(),
        9.5,
        "the static frontier's slowest point: large solver and checker"
    );
    for q in [[0.9, 0.1, 0.0], [1.0, 0.0, 0.05], [0.7, 0.2, 0.1]] {
        let r = router.route(&q, &prefer(0.9)).unwrap();
        assert_eq!(r.settings[0], (SlotId(0), 0), "easy query {q:?}: {r:?}");
        assert!(r.neighbours.iter().all(|n| n.id.starts_with("easy")));
        assert_eq!(r.predicted.accuracy, 1.0);
        assert_eq!(r.point.id, "knn");
        assert_eq!(r.point.settings["solver"].model, "small");
        assert_eq!(r.point.settings["checker"].budget_tokens, 10);
        assert_eq!(r.point.predicted.accuracy, 1.0);
    }
    for q in [[0.1, 0.9, 0.0], [0.0, 1.0, 0.05]] {
        let r = router.route(&q, &prefer(0.9)).unwrap();
        assert_eq!(r.settings[0], (SlotId(0), 1), "hard query {q:?}: {r:?}");
        assert!(r.neighbours.iter().all(|n| n.id.starts_with("hard")));
    }
    // The static (global) frontier at the same preference picks the large model for everyone.
    let none = router.route(&[0.0, 0.0, 0.0], &prefer(0.9)).unwrap();
    assert_eq!(none.settings[0], (SlotId(0), 1));
    assert!(none.neighbours.is_empty());
    // A speed preference takes the small model even for hard queries.
    let fast = router.route(&[0.0, 1.0, 0.0], &prefer(0.05)).unwrap();
    assert_eq!(fast.settings[0], (SlotId(0), 0));
}

#[test]
fn neighbours_are_the_k_most_similar_and_missing_cells_fall_back_to_the_global_profile() {
    let wf = workflow();
    let router = Router::new(&wf, file(), "r.json").unwrap();
    let near = router.neighbours(&[1.0, 0.0, 0.0]).unwrap();
    assert_eq!(
        near.iter().map(|n| n.0).collect::<Vec<_>>(),
        [0, 2, 4],
        "easy-0, easy-1, easy-2 in order of similarity"
    );
    assert!(near[0].1 > near[1].1 && near[1].1 > near[2].1);
    // easy items have no checker call: 3 neighbours x 1 checker setting fall back.
    let q = router.frontier(&[1.0, 0.0, 0.0]).unwrap();
    assert_eq!((q.fallbacks, q.cells), (3, 9));
    let (m, fallbacks) = router.metrics(&[10]);
    assert_eq!(fallbacks, 3, "an unmeasured item falls back everywhere");
    assert_eq!(m[0][0].accuracy, 0.5);
    // Mixed neighbours average: one easy, one hard item on the small solver.
    let (m, _) = router.metrics(&[0, 1]);
    assert_eq!(m[0][0].accuracy, 0.5);
    assert_eq!(m[1][0].latency_s, 0.5);
}

#[test]
fn bad_queries_and_unsatisfiable_requests_are_errors() {
    let router = Router::new(&workflow(), file(), "r.json").unwrap();
    assert!(matches!(
        router.route(&[1.0, 0.0], &prefer(0.5)),
        Err(RouteError::QueryDims {
            expected: 3,
            found: 2
        })
    ));
    assert!(matches!(
        router.route(&[1.0, f32::NAN, 0.0], &prefer(0.5)),
        Err(RouteError::QueryNotFinite { index: 1 })
    ));
    let impossible = Request {
        preference: None,
        min_accuracy: Some(0.99),
        max_latency_s: Some(2.0),
    };
    let err = router
        .route(&[0.0, 1.0, 0.0], &impossible)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no point has accuracy >= 0.99"), "{err}");
}

#[test]
fn prior_calls_shrink_each_item_towards_the_global_profile() {
    let mut f = file();
    f.prior_calls = 2.0;
    let router = Router::new(&workflow(), f, "r.json").unwrap();
    // hard-0: 2 calls at accuracy 0 on the small solver, global 0.5: (2 * 0 + 2 * 0.5) / 4.
    let (m, _) = router.metrics(&[1]);
    assert_eq!(m[0][0].accuracy, 0.25);
    assert_eq!(m[0][0].latency_s, 1.0);
    assert_eq!(
        bad(|v| v["prior_calls"] = (-1.0).into()),
        "r.json: field `prior_calls`: expected a finite number >= 0, found -1"
    );
}

#[test]
fn query_text_keeps_text_and_number_fields_in_order() {
    let item = serde_json::json!({"question": "Who?", "context": [["t", ["s"]]], "n": 3});
    let fields = [
        "n".to_string(),
        "context".into(),
        "question".into(),
        "gone".into(),
    ];
    assert_eq!(query_text(&item, &fields), "3\nWho?");
}

#[test]
fn router_files_round_trip() {
    let f = file();
    let text = f.to_json();
    assert!(text.ends_with('\n'));
    assert_eq!(RouterFile::parse(&text, "r.json").unwrap(), f);
}

fn bad(edit: impl Fn(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&file().to_json()).unwrap();
    edit(&mut v);
    RouterFile::parse(&v.to_string(), "r.json")
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_files_name_the_file_and_field() {
    assert_eq!(
        bad(|v| v["format"] = "flowcompile.artifact.v1".into()),
        "r.json: field `format`: expected \"flowcompile.router.v1\", found \"flowcompile.artifact.v1\""
    );
    assert_eq!(
        bad(|v| v["k"] = 0.into()),
        "r.json: field `k`: expected at least 1"
    );
    assert_eq!(
        bad(|v| v["items"][2]["embedding"] = serde_json::json!([1.0])),
        "r.json: field `items[2].embedding`: expected 3 numbers (dims), found 1"
    );
    assert_eq!(
        bad(|v| v["items"][1]["profile"][0]["accuracy"] = 1.5.into()),
        "r.json: field `items[1].profile[0].accuracy`: expected a number in [0, 1], found 1.5"
    );
    assert_eq!(
        bad(|v| v["items"][1]["profile"][2]["setting"] = 4.into()),
        "r.json: field `items[1].profile[2].setting`: expected a setting index of agent 'checker' below 1, found 4"
    );
    assert_eq!(
        bad(|v| v["agents"][0]["settings"][1]["latency_s"] = (-1.0).into()),
        "r.json: field `agents[0].settings[1].latency_s`: expected a finite number of seconds >= 0, found -1"
    );
    let missing = bad(|v| {
        v.as_object_mut().unwrap().remove("embed_model");
    });
    assert!(
        missing.starts_with("r.json: not a router file: missing field `embed_model`"),
        "{missing}"
    );
    let not_json = RouterFile::parse("{", "r.json").unwrap_err().to_string();
    assert!(
        not_json.starts_with("r.json: not a router file: EOF"),
        "{not_json}"
    );
}

#[test]
fn a_router_for_another_workflow_or_other_settings_is_refused() {
    let mut f = file();
    f.workflow = "other".into();
    let err = Router::new(&workflow(), f, "r.json")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "r.json: field `workflow`: built for workflow 'other', not 'demo'"
    );
    let mut f = file();
    f.agents[0].settings[1].budget_tokens = 2000;
    let err = Router::new(&workflow(), f, "r.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "r.json: field `agents[0].settings`: expected the 2 settings agent 'solver' has"
        ),
        "{err}"
    );
}
