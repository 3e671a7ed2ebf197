//! Calibration of the default zoo on the shared benchmark files: model ordering, the 14b model's
//! single-call accuracy, and the full math-style workflow (three solvers and a vote) near 95% on GSM8K.

use flowcompile_zoo::{ModelId, Role, TaskId, TaskSet, Zoo, ZooConfig, ZooRequest};

const SAMPLES: u64 = 20;

fn load(files: &[&str]) -> Zoo {
    let sets = files
        .iter()
        .map(|f| {
            let path = format!("{}/../../examples/data/{f}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            TaskSet::from_jsonl(f, &text).unwrap()
        })
        .collect();
    Zoo::new(ZooConfig::default(), sets).unwrap()
}

fn solve<'a>(
    zoo: &'a Zoo,
    model: ModelId,
    agent: &'a str,
    task: TaskId,
    budget: u64,
    sample: u64,
) -> String {
    let req = ZooRequest {
        model,
        agent,
        role: Role::Solve,
        task: Some(task),
        inputs: &[],
        budget_tokens: budget,
        sample,
    };
    zoo.respond(&req).unwrap().answer.into_owned()
}

/// Mean single-call accuracy of `model` over every task and `SAMPLES` samples.
fn single(zoo: &Zoo, model: &str, budget: u64) -> f64 {
    let m = zoo.model_id(model).unwrap();
    let mut right = 0;
    for t in zoo.task_ids() {
        for s in 0..SAMPLES {
            right += usize::from(
                zoo.is_correct(t, &solve(zoo, m, "solver", t, budget, s))
                    .unwrap(),
            );
        }
    }
    right as f64 / (zoo.n_tasks() as u64 * SAMPLES) as f64
}

/// Accuracy of three solvers and a select agent, all `model` at `budget`.
fn workflow(zoo: &Zoo, model: &str, budget: u64) -> f64 {
    let m = zoo.model_id(model).unwrap();
    let mut right = 0;
    for t in zoo.task_ids() {
        for s in 0..SAMPLES {
            let cands: Vec<String> = ["detailed_solver", "generate_solver", "refine_solver"]
                .iter()
                .map(|a| solve(zoo, m, a, t, budget, s))
                .collect();
            let inputs: Vec<&str> = cands.iter().map(String::as_str).collect();
            let req = ZooRequest {
                model: m,
                agent: "sc_ensemble",
                role: Role::Select,
                task: Some(t),
                inputs: &inputs,
                budget_tokens: budget,
                sample: s,
            };
            right += usize::from(zoo.respond(&req).unwrap().correct.unwrap());
        }
    }
    right as f64 / (zoo.n_tasks() as u64 * SAMPLES) as f64
}

#[test]
fn gsm8k_single_call_accuracy_grows_with_model_size() {
    let zoo = load(&["gsm8k_validate.jsonl"]);
    let names: Vec<String> = zoo.model_names().map(str::to_owned).collect();
    let acc: Vec<f64> = names.iter().map(|m| single(&zoo, m, u64::MAX)).collect();
    eprintln!(
        "gsm8k single-call accuracy (unlimited budget): {:?}",
        names.iter().zip(&acc).collect::<Vec<_>>()
    );
    assert!(acc.windows(2).all(|w| w[0] < w[1]), "{acc:?}");
    assert!((0.88..=0.97).contains(&acc[4]), "14b: {}", acc[4]);
    assert!(acc[0] < 0.7, "0.6b is clearly worse: {}", acc[0]);
    assert!(acc[4] - acc[0] > 0.25, "{acc:?}");
}

#[test]
fn gsm8k_full_workflow_with_14b_lands_near_95_percent() {
    let zoo = load(&["gsm8k_validate.jsonl"]);
    let one = single(&zoo, "zoo-14b", u64::MAX);
    let flow = workflow(&zoo, "zoo-14b", u64::MAX);
    let small = workflow(&zoo, "zoo-0.6b", u64::MAX);
    eprintln!("gsm8k 14b single {one:.3}, 14b workflow {flow:.3}, 0.6b workflow {small:.3}");
    assert!((0.93..=0.975).contains(&flow), "{flow}");
    assert!(flow > one, "the vote helps: {one} -> {flow}");
    assert!(small < 0.75, "{small}");
}

#[test]
fn thinking_budget_helps_with_diminishing_returns() {
    let zoo = load(&["gsm8k_validate.jsonl"]);
    let budgets = [10u64, 100, 400, 1000, 4000];
    let acc: Vec<f64> = budgets.iter().map(|&b| single(&zoo, "zoo-4b", b)).collect();
    eprintln!("gsm8k 4b accuracy at budgets {budgets:?}: {acc:?}");
    assert!(acc.windows(2).all(|w| w[0] < w[1]), "{acc:?}");
    let per_token: Vec<f64> = (0..4)
        .map(|i| (acc[i + 1] - acc[i]) / (budgets[i + 1] - budgets[i]) as f64)
        .collect();
    assert!(
        per_token.windows(2).all(|w| w[0] > w[1]),
        "diminishing returns: {per_token:?}"
    );
    assert!(acc[4] - acc[0] > 0.05, "{acc:?}");
}

#[test]
fn math_and_hotpotqa_are_harder_and_math_needs_more_thinking() {
    let gsm = load(&["gsm8k_validate.jsonl"]);
    let math = load(&["math500_validate.jsonl"]);
    let hotpot = load(&["hotpotqa_validate.jsonl"]);
    let (g, m, h) = (
        single(&gsm, "zoo-14b", u64::MAX),
        single(&math, "zoo-14b", u64::MAX),
        single(&hotpot, "zoo-14b", u64::MAX),
    );
    eprintln!("14b single-call: gsm8k {g:.3}, math500 {m:.3}, hotpotqa {h:.3}");
    assert!(m < g && h < g, "{g} {m} {h}");
    let mean_need = |zoo: &Zoo| {
        let id = zoo.model_id("zoo-14b").unwrap();
        zoo.task_ids()
            .map(|t| zoo.need_tokens(t, id).unwrap())
            .sum::<u64>()
            / zoo.n_tasks() as u64
    };
    let (ng, nm) = (mean_need(&gsm), mean_need(&math));
    eprintln!("14b mean need: gsm8k {ng}, math500 {nm}");
    assert!(nm > 2 * ng, "{ng} {nm}");
}

#[test]
fn every_task_is_recognised_in_its_own_question() {
    let zoo = load(&[
        "gsm8k_validate.jsonl",
        "math500_validate.jsonl",
        "hotpotqa_validate.jsonl",
    ]);
    for t in zoo.task_ids() {
        let q = &zoo.task(t).unwrap().question;
        let prompt =
            format!("Solve the following problem.\n\n{q}\n\nPut the final answer in \\boxed{{}}.");
        let found = zoo.find_task(&prompt).unwrap();
        assert_eq!(zoo.task(found).unwrap().question, *q, "task {t:?}");
    }
}
