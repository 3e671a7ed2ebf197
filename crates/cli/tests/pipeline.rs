//! The compile pipeline end to end on the zoo: induce, profile, compile --data; resuming after
//! SIGKILL; reuse after a prompt edit; bad input.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{calls, check, compile_small, n_calls, root, run, small_math};

fn n_program_runs(store: &Path) -> u64 {
    rusqlite::Connection::open(store)
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM program_runs", [], |r| r.get(0)))
        .unwrap_or(0)
}

#[test]
fn a_profiling_run_killed_mid_way_resumes_to_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let (wf, data) = small_math(dir.path(), 30);
    let args = |store: &str| {
        vec![
            "profile".to_string(),
            wf.clone(),
            "--data".into(),
            data.clone(),
            "--zoo".into(),
            "--store".into(),
            store.to_string(),
            "--calls-per-setting".into(),
            "60".into(),
            "--concurrency".into(),
            "4".into(),
            "--json".into(),
        ]
    };
    let total = 5 * 6 * 60;

    let whole = run(
        dir.path(),
        &args("whole.sqlite")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let (stdout, _) = check(&whole, 0);
    let whole_report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(n_calls(&dir.path().join("whole.sqlite")), total);

    let killed_store = dir.path().join("killed.sqlite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args(args("killed.sqlite"))
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let n = n_calls(&killed_store);
        if n >= 50 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = n_calls(&killed_store);
    assert!(
        at_kill > 0 && at_kill < total,
        "killed mid-way: {at_kill} of {total}"
    );
    let programs_at_kill = n_program_runs(&killed_store);

    let resumed = run(
        dir.path(),
        &args("killed.sqlite")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let (stdout, _) = check(&resumed, 0);
    let resumed_report: Value = serde_json::from_str(&stdout).unwrap();
    let reused: i64 = resumed_report["profile"]["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["calls_reused"].as_i64().unwrap())
        .sum();
    let run_now: i64 = resumed_report["profile"]["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["calls_run_now"].as_i64().unwrap())
        .sum();
    assert!(
        reused >= at_kill,
        "finished calls are not repeated: {reused} < {at_kill}"
    );
    assert_eq!(reused + run_now, total);
    let resumed_calls = calls(&killed_store);
    let whole_calls = calls(&dir.path().join("whole.sqlite"));
    let only_resumed: Vec<&String> = resumed_calls
        .iter()
        .filter(|c| !whole_calls.contains(c))
        .take(3)
        .collect();
    let only_whole: Vec<&String> = whole_calls
        .iter()
        .filter(|c| !resumed_calls.contains(c))
        .take(3)
        .collect();
    assert!(
        resumed_calls.len() == whole_calls.len() && only_resumed.is_empty(),
        "{} vs {} calls; only after the resume: {only_resumed:#?}; only in the whole run: {only_whole:#?}",
        resumed_calls.len(),
        whole_calls.len()
    );
    assert_eq!(
        resumed_report["profile"]["rows"],
        whole_report["profile"]["rows"]
    );
    // What the killed run's programs printed (induction's and profiling's) is read back, not run
    // again: the programs the two processes ran together are no more than the whole run's distinct
    // ones, all of which its store records.
    let programs_run_now = |report: &Value| report["profile"]["programs_run_now"].as_u64().unwrap();
    let programs_whole = n_program_runs(&dir.path().join("whole.sqlite"));
    assert!(
        programs_at_kill > 0,
        "the killed run recorded no program run"
    );
    assert!(
        programs_run_now(&resumed_report) + programs_at_kill <= programs_whole,
        "the resumed run ran {} programs and the store had {programs_at_kill} at the kill; the \
         whole run ran {programs_whole} distinct programs",
        programs_run_now(&resumed_report),
    );
    assert_eq!(n_program_runs(&killed_store), programs_whole);
}

#[test]
fn compile_measures_once_and_an_edited_prompt_re_profiles_only_its_agent() {
    let dir = tempfile::tempdir().unwrap();
    let (wf, data) = small_math(dir.path(), 40);
    let compile = |wf: &str| {
        let out = run(
            dir.path(),
            &[
                "compile",
                wf,
                "--data",
                &data,
                "--zoo",
                "--store",
                "s.sqlite",
                "--calls-per-setting",
                "20",
                "-o",
                "a.json",
                "--json",
            ],
        );
        let (stdout, _) = check(&out, 0);
        serde_json::from_str::<Value>(&stdout).unwrap()
    };
    let first = compile(&wf);
    assert_eq!(first["models_label"], "zoo (synthetic)");
    assert!(first["n_points"].as_u64().unwrap() >= 3, "{first}");
    let agents = |v: &Value| {
        v["measured"]["profile"]["agents"]
            .as_array()
            .unwrap()
            .clone()
    };
    for a in agents(&first) {
        assert_eq!(a["calls_run_now"], 6 * 20, "{a}");
    }
    let artifact: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a.json")).unwrap()).unwrap();
    assert_eq!(artifact["provenance"]["models_label"], "zoo (synthetic)");

    let again = compile(&wf);
    assert_eq!(again["measured"]["induce"]["items_run_now"], 0);
    for a in agents(&again) {
        assert_eq!(a["calls_run_now"], 0, "{a}");
    }
    let bytes = std::fs::read(dir.path().join("a.json")).unwrap();

    let edited = std::fs::read_to_string(&wf).unwrap().replace(
        "Solve the problem carefully.",
        "Solve the problem very carefully.",
    );
    let edited_path = dir.path().join("edited.toml");
    std::fs::write(&edited_path, edited).unwrap();
    let third = compile(&edited_path.display().to_string());
    assert_eq!(
        third["measured"]["induce"]["items_run_now"], 0,
        "examples are kept"
    );
    for a in agents(&third) {
        let expected = if a["agent"] == "detailed_solver" {
            6 * 20
        } else {
            0
        };
        assert_eq!(a["calls_run_now"], expected, "{a}");
    }
    assert_ne!(
        std::fs::read(dir.path().join("a.json")).unwrap(),
        bytes,
        "new spec digest"
    );
}

#[test]
fn bad_splits_and_missing_models_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (wf, _) = small_math(dir.path(), 1);
    std::fs::write(dir.path().join("nolabel.jsonl"), "{\"problem\": \"1+1\"}\n").unwrap();
    let out = run(
        dir.path(),
        &["induce", &wf, "--data", "nolabel.jsonl", "--zoo"],
    );
    let (_, stderr) = check(&out, 3);
    assert!(
        stderr.contains("no item has the gold answer field `answer`"),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("bad.jsonl"),
        "{\"problem\": \"1+1\", \"answer\": \"2\"}\n{\"problem\": \"1+1\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["induce", &wf, "--data", "bad.jsonl", "--zoo"]);
    let (_, stderr) = check(&out, 3);
    assert!(stderr.contains("bad.jsonl:2: not JSON"), "{stderr}");

    std::fs::write(
        dir.path().join("p.toml"),
        "[models.\"qwen3-0.6b\"]\nbase_url = \"http://127.0.0.1:9/v1\"\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &[
            "induce",
            &wf,
            "--data",
            "bad.jsonl",
            "--providers",
            "p.toml",
        ],
    );
    let (_, stderr) = check(&out, 3);
    assert!(stderr.contains("bad.jsonl:2"), "{stderr}");
    std::fs::write(
        dir.path().join("ok.jsonl"),
        "{\"problem\": \"1+1\", \"answer\": \"2\"}\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &["induce", &wf, "--data", "ok.jsonl", "--providers", "p.toml"],
    );
    let (_, stderr) = check(&out, 3);
    assert!(
        stderr.contains("model 'qwen3-8b' has no endpoint"),
        "{stderr}"
    );

    // Neither --providers nor --zoo: a usage error (2) naming both.
    let out = run(dir.path(), &["compile", &wf, "--data", "ok.jsonl"]);
    let (_, stderr) = check(&out, 2);
    assert!(
        stderr.contains("--providers") && stderr.contains("--zoo"),
        "{stderr}"
    );
}

/// `flowcompile zoo serve` on a free port knowing the tasks of `data`, and its base URL.
fn start_zoo(data: &str) -> (std::process::Child, String) {
    let mut zoo = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args(["zoo", "serve", "--port", "0", "--tasks", data])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(zoo.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no url in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    (zoo, url)
}

#[test]
fn an_endpoint_that_fails_leaves_its_settings_unprofiled_not_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (wf, data) = small_math(dir.path(), 20);
    // A zoo server for every model but qwen3-8b, which points at a closed port.
    let (mut zoo, url) = start_zoo(&data);
    let providers = format!(
        "[defaults]\nbudget = \"forcing\"\nchat_template = \"qwen3\"\nmax_retries = 0\ntimeout_s = 5\n\
         [models.\"qwen3-0.6b\"]\nbase_url = \"{url}\"\nmodel = \"zoo-0.6b\"\n\
         [models.\"qwen3-8b\"]\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"zoo-8b\"\n"
    );
    std::fs::write(dir.path().join("p.toml"), providers).unwrap();
    let args = [
        "compile",
        &wf,
        "--data",
        &data,
        "--providers",
        "p.toml",
        "--store",
        "s.sqlite",
        "--calls-per-setting",
        "5",
        "--reference",
        "qwen3-0.6b@4000",
    ];
    let out = run(dir.path(), &args);
    let (_, stderr) = check(&out, 1);
    assert!(
        stderr.contains("have no successful profiling call, so their accuracy is unknown (not 0)"),
        "{stderr}"
    );
    assert!(stderr.contains("qwen3-8b@1000"), "{stderr}");
    assert!(
        !dir.path().join(".flowcompile/math.artifact.json").exists(),
        "no artifact from unmeasured settings"
    );
    let mut dropped = args.to_vec();
    dropped.extend(["--drop-unprofiled", "--json"]);
    let out = run(dir.path(), &dropped);
    let (stdout, _) = check(&out, 0);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let artifact =
        std::fs::read_to_string(dir.path().join(".flowcompile/math.artifact.json")).unwrap();
    assert!(
        !artifact.contains("qwen3-8b"),
        "only measured settings are compiled"
    );
    assert!(report["n_points"].as_u64().unwrap() >= 1);
    zoo.kill().unwrap();
    zoo.wait().unwrap();
}

#[test]
fn adaptive_profiling_saves_calls_and_keeps_the_frontier() {
    let dir = tempfile::tempdir().unwrap();
    let (wf, data) = small_math(dir.path(), 40);
    let compile = |store: &str, out: &str, adaptive: bool| {
        let mut args = vec![
            "compile",
            &wf,
            "--data",
            &data,
            "--zoo",
            "--store",
            store,
            "--calls-per-setting",
            "60",
            "-o",
            out,
            "--json",
        ];
        if adaptive {
            args.push("--adaptive");
        }
        let (stdout, _) = check(&run(dir.path(), &args), 0);
        serde_json::from_str::<Value>(&stdout).unwrap()
    };
    let grid = compile("grid.sqlite", "grid.json", false);
    let adaptive = compile("adaptive.sqlite", "adaptive.json", true);
    let sum = |v: &Value, field: &str| -> i64 {
        v["measured"]["profile"]["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a[field].as_i64().unwrap())
            .sum()
    };
    assert_eq!(sum(&grid, "calls_run_now"), 5 * 6 * 60);
    assert_eq!(sum(&grid, "calls_saved"), 0);
    let saved = sum(&adaptive, "calls_saved");
    assert!(saved > 0, "{adaptive}");
    assert_eq!(sum(&adaptive, "calls_run_now") + saved, 5 * 6 * 60);
    let points = |file: &str| {
        let a: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(file)).unwrap()).unwrap();
        a["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["structure"]["index"].clone(), p["settings"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        points("adaptive.json"),
        points("grid.json"),
        "same configurations on the frontier"
    );
}

#[test]
fn a_judge_keeps_only_the_calls_it_rates_correct() {
    let dir = tempfile::tempdir().unwrap();
    // Agents whose output is an answer are labelled with the gold one and need no judge; here the
    // voter's raw pick goes to a formatter that always runs, so it is no answer and the judge
    // rates it.
    let text = std::fs::read_to_string(root().join("examples/hotpotqa/workflow.toml")).unwrap();
    let (head, voter) = text.split_once("[agents.sc_ensemble]").unwrap();
    let voter = voter
        .replacen("output = \"tag:answer\"", "output = \"raw\"", 1)
        .replace(
            "seq = [\"vote\", \"format\"]",
            "seq = [\"vote\", \"format_answer\"]",
        )
        .replace("[graph.nodes.format]\noptional = \"format_answer\"\n", "");
    let wf = dir.path().join("hotpotqa.toml");
    std::fs::write(&wf, format!("{head}[agents.sc_ensemble]{voter}")).unwrap();
    let wf = wf.display().to_string();
    let items: String =
        std::fs::read_to_string(root().join("examples/data/hotpotqa_validate.jsonl"))
            .unwrap()
            .lines()
            .take(40)
            .map(|l| format!("{l}\n"))
            .collect();
    let data = dir.path().join("val.jsonl");
    std::fs::write(&data, items).unwrap();
    let data = data.display().to_string();
    let induce = |judge: Option<&str>| {
        let mut args = vec![
            "induce", &wf, "--data", &data, "--zoo", "--store", "s.sqlite", "--json",
        ];
        if let Some(j) = judge {
            args.extend(["--judge", j]);
        }
        let (stdout, _) = check(&run(dir.path(), &args), 0);
        serde_json::from_str::<Value>(&stdout).unwrap()
    };
    let plain = induce(None);
    let judged = induce(Some("qwen3-0.6b"));
    assert_ne!(
        plain["induce"]["key"], judged["induce"]["key"],
        "a judge is another induction"
    );
    let agents = |v: &Value| v["induce"]["agents"].as_array().unwrap().clone();
    let mut rejected = 0;
    for (p, j) in agents(&plain).iter().zip(agents(&judged)) {
        assert_eq!(p["rejected_by_judge"], 0);
        let r = j["rejected_by_judge"].as_u64().unwrap();
        rejected += r;
        let examples = j["examples"].as_u64().unwrap();
        if j["agent"] != "sc_ensemble" {
            assert_eq!(r, 0, "answers are labelled with the gold one, not judged");
        }
        assert!(examples <= p["examples"].as_u64().unwrap(), "{j}");
    }
    assert!(rejected > 0, "a weak judge rejects some calls: {judged}");
}

/// The default proxy measures how the answer agents' failures co-occur and records it, and predicts
/// the points again item by item; the paper's proxy (`--proxy independent`) does neither. Answer
/// agents are profiled on the same items, scored against the gold answer, on every item the
/// reference ran (not only the ones it solved).
#[test]
fn the_dependent_proxy_measures_co_failures_on_shared_gold_labelled_items() {
    let dir = tempfile::tempdir().unwrap();
    let (wf, data) = small_math(dir.path(), 40);
    let compile = |proxy: &str, out: &str| {
        let o = compile_small(dir.path(), &wf, &data, &["--proxy", proxy, "-o", out]);
        let (_, stderr) = check(&o, 0);
        let a = std::fs::read_to_string(dir.path().join(out)).unwrap();
        (serde_json::from_str::<Value>(&a).unwrap(), stderr)
    };
    let (dependent, dep_err) = compile("dependent", "dep.json");
    let (independent, ind_err) = compile("independent", "ind.json");
    assert!(
        dep_err.contains("predicted again item by item"),
        "{dep_err}"
    );
    assert!(!ind_err.contains("item by item"), "{ind_err}");
    let r = dependent["proxy"]["dependence"].as_f64().unwrap();
    assert!(r > 0.0 && r <= 1.0, "{}", dependent["proxy"]);
    assert!(independent["proxy"].get("dependence").is_none());

    let db = rusqlite::Connection::open(dir.path().join("s.sqlite")).unwrap();
    let items = |agent: &str| -> std::collections::BTreeSet<String> {
        let mut q = db
            .prepare("SELECT DISTINCT input_id FROM calls WHERE agent = ?1")
            .unwrap();
        let ids = q.query_map([agent], |r| r.get::<_, String>(0)).unwrap();
        ids.map(|id| id.unwrap().rsplit_once('#').unwrap().0.to_owned())
            .collect()
    };
    assert_eq!(items("detailed_solver"), items("generate_solver"));
    // The voter samples among the items the reference passed, by the same item order.
    let shared = items("detailed_solver")
        .intersection(&items("sc_ensemble"))
        .count();
    assert!(shared >= 15, "{shared}");
    // Solvers are labelled with the gold answer on every item; the voter, also with the gold
    // answer, where the reference passed or one of its candidates was right, whatever it picked.
    let examples = |agent: &str| -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM induced WHERE agent LIKE '%/' || ?1",
            [agent],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(examples("detailed_solver"), 40);
    let num = |s: &str| s.trim().replace(',', "").parse::<f64>().ok();
    let gold: std::collections::BTreeMap<String, Option<f64>> = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                flowcompile_runner::item_id(&v),
                num(v["answer"].as_str().unwrap()),
            )
        })
        .collect();
    let passed: std::collections::BTreeSet<String> = db
        .prepare("SELECT item_id FROM eval_results WHERE run_key LIKE 'induce/%' AND correct = 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let voter: Vec<(String, String, String)> = db
        .prepare("SELECT input_id, inputs_json, reference_output FROM induced WHERE agent LIKE '%/sc_ensemble'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // The zoo's reference fails some of 40 GSM8K items with a right candidate among its four.
    assert!(
        voter.len() > passed.len(),
        "{} {}",
        voter.len(),
        passed.len()
    );
    for (input_id, inputs, reference) in &voter {
        let item = input_id.rsplit_once('#').unwrap().0;
        assert_eq!(num(reference), gold[item], "{input_id}");
        if !passed.contains(item) {
            let inputs: Value = serde_json::from_str(inputs).unwrap();
            let right = inputs["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c.as_str().and_then(num) == gold[item]);
            assert!(
                right,
                "{input_id}: a failed run kept without a right candidate"
            );
        }
    }
}

#[test]
fn url_passwords_and_header_values_stay_out_of_the_store_the_artifact_and_the_output() {
    const PASSWORD: &str = "pw-0123456789-url-secret";
    const HEADER: &str = "hv-0123456789-header-secret";
    let dir = tempfile::tempdir().unwrap();
    let (wf, data) = small_math(dir.path(), 10);
    let (mut zoo, url) = start_zoo(&data);
    let with_password = |url: &str| url.replacen("http://", &format!("http://user:{PASSWORD}@"), 1);
    // qwen3-8b fails on a closed port, so its errors (with the URL) are stored and printed.
    let providers = format!(
        "[defaults]\nbudget = \"forcing\"\nchat_template = \"qwen3\"\nmax_retries = 0\ntimeout_s = 5\n\
         headers = {{ \"x-api-key\" = \"{HEADER}\" }}\n\
         [models.\"qwen3-0.6b\"]\nbase_url = \"{}\"\nmodel = \"zoo-0.6b\"\n\
         [models.\"qwen3-8b\"]\nbase_url = \"{}\"\nmodel = \"zoo-8b\"\n",
        with_password(&url),
        with_password("http://127.0.0.1:9/v1"),
    );
    std::fs::write(dir.path().join("p.toml"), providers).unwrap();
    let out = run(
        dir.path(),
        &[
            "compile",
            &wf,
            "--data",
            &data,
            "--providers",
            "p.toml",
            "--store",
            "s.sqlite",
            "--calls-per-setting",
            "3",
            "--reference",
            "qwen3-0.6b@4000",
            "--drop-unprofiled",
            "--json",
        ],
    );
    let (stdout, stderr) = check(&out, 0);
    zoo.kill().unwrap();
    zoo.wait().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("s.sqlite")).unwrap();
    let errors: Vec<String> = conn
        .prepare("SELECT error FROM calls WHERE error IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(conn);
    assert!(!errors.is_empty(), "qwen3-8b's failures are stored");
    assert!(
        errors
            .iter()
            .all(|e| e.contains("http://***@127.0.0.1:9/v1")),
        "{:?}",
        &errors[..1]
    );
    let mut written = vec![stdout, stderr];
    for entry in std::fs::read_dir(dir.path())
        .unwrap()
        .chain(std::fs::read_dir(dir.path().join(".flowcompile")).unwrap())
    {
        let path = entry.unwrap().path();
        if path.is_file() && !path.ends_with("p.toml") {
            written.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
        }
    }
    assert!(
        written
            .iter()
            .any(|w| w.contains("flowcompile.artifact.v2")),
        "no artifact"
    );
    for text in &written {
        for secret in [PASSWORD, HEADER] {
            assert!(!text.contains(secret), "{secret} written out");
        }
    }
}

/// `compile --verify N` runs N frontier points on the validation split, reports them against their
/// predictions, and keeps in the artifact no point another verified one beats in measurement.
#[test]
fn verify_runs_points_end_to_end_and_drops_what_measures_dominated() {
    let dir = tempfile::tempdir().unwrap();
    let (wf, data) = small_math(dir.path(), 40);
    let out = compile_small(
        dir.path(),
        &wf,
        &data,
        &["--verify", "4", "-o", "a.json", "--json"],
    );
    let (stdout, _) = check(&out, 0);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let points = v["verified"]["validation"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 4, "{}", v["verified"]);
    assert_eq!(v["verified"]["validation"]["n_items"], 40);
    let dropped: Vec<&str> = v["verified"]["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    let artifact: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a.json")).unwrap()).unwrap();
    let ids: Vec<&str> = artifact["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), v["n_points"].as_u64().unwrap() as usize);
    // Dropped ids name the verified points as compiled (the artifact renumbers what is left): no
    // point of the artifact has a dropped point's prediction.
    let predicted = |p: &Value| {
        (
            p["predicted"]["accuracy"].as_f64().unwrap().to_bits(),
            p["predicted"]["latency_s"].as_f64().unwrap().to_bits(),
        )
    };
    let shipped: Vec<_> = artifact["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(predicted)
        .collect();
    let is_dropped = |p: &&Value| dropped.contains(&p["id"].as_str().unwrap());
    for p in points.iter().filter(is_dropped) {
        assert!(!shipped.contains(&predicted(p)), "{p} was dropped");
    }
    // What is kept of the verified points is a Pareto set in measurement.
    let kept: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| !is_dropped(p))
        .map(|p| {
            let m = &p["measured"];
            (
                m["accuracy"].as_f64().unwrap(),
                m["latency_s"].as_f64().unwrap(),
            )
        })
        .collect();
    for (i, a) in kept.iter().enumerate() {
        for b in &kept[i + 1..] {
            let beats = |x: &(f64, f64), y: &(f64, f64)| {
                x.0 >= y.0 && x.1 <= y.1 && (x.0 > y.0 || x.1 < y.1)
            };
            assert!(!beats(a, b) && !beats(b, a), "{a:?} {b:?}");
        }
    }
    let again = run(
        dir.path(),
        &["compile", &wf, "-p", "p.csv", "--verify", "2"],
    );
    let (_, stderr) = check(&again, 2);
    assert!(stderr.contains("--data"), "{stderr}");
}
