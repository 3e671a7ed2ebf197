//! One fuzz target per input parser (workflow spec, profiles, providers file, dataset splits,
//! artifacts), on stable Rust, driven by the corpus in `fuzz/corpus/<target>/`.
//!
//! Every corpus file is parsed (no panic; an error names the file and a line or field), and the
//! providers, datasets and artifacts files give the outcome their `.expected` file holds (the
//! workflow and profiles corpora are checked against theirs by the spec and profile crates' tests);
//! `FLOWCOMPILE_BLESS=1` rewrites the expected files. Then a mutation loop with a fixed seed edits
//! corpus files (bytes and lines deleted, repeated, swapped, replaced by tokens that break
//! parsers) and parses each result under `catch_unwind`: a panic fails the test and writes the input
//! to `target/fuzz-failures/`. It runs `FLOWCOMPILE_FUZZ_ITERS` iterations per target (default
//! 300) from seed `FLOWCOMPILE_FUZZ_SEED` (default 1).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use proptest::prelude::Rng;
use proptest::test_runner::{RngAlgorithm, TestRng};

/// What parsing gave: a one-line-per-fact summary, or the error text.
type Outcome = Result<String, String>;

/// One parser under test.
struct Target {
    /// Its corpus directory under `fuzz/corpus/`.
    name: &'static str,
    /// Whether its corpus files have `.expected` outcomes checked here.
    expected_here: bool,
    /// Parses `text`, labelled `source` in errors.
    parse: fn(text: &str, source: &str) -> Outcome,
    /// More valid inputs to mutate (the repository's own files), relative to the repository.
    seeds: &'static [&'static str],
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn workflow(text: &str, source: &str) -> Outcome {
    let wf = flowcompile_spec::parse(text, source).map_err(|e| e.plain())?;
    let space = wf
        .design_space()
        .map_err(|e| format!("{source}: design space: {e}"))?;
    Ok(format!(
        "ok: {} structures, {:?} configurations",
        space.structures.len(),
        space.n_configs().exact()
    ))
}

fn profiles(text: &str, source: &str) -> Outcome {
    let format =
        flowcompile_profile::Format::from_path(source).unwrap_or(flowcompile_profile::Format::Csv);
    let table =
        flowcompile_profile::parse_profiles(text, source, format).map_err(|e| e.to_string())?;
    let throughput = flowcompile_profile::parse_throughput(text, source, format).map_or_else(
        |e| format!("not a throughput table: {e}"),
        |t| format!("{} throughput rows", t.len()),
    );
    Ok(format!("ok: {} rows; {throughput}", table.entries().len()))
}

fn providers(text: &str, source: &str) -> Outcome {
    let env = |var: &str| (var == "FLOWCOMPILE_FUZZ_KEY").then(|| "sk-fuzz".to_string());
    let p = flowcompile_client::Providers::from_toml_str_with_env(text, source, &env)
        .map_err(|e| e.to_string())?;
    let mut out = format!("ok: {} models", p.len());
    for provider in p.iter() {
        out.push_str(&format!("\n{provider:?}"));
    }
    Ok(out)
}

fn datasets(text: &str, source: &str) -> Outcome {
    let items = flowcompile_pipeline::read_split(text, source, "answer", &["question".into()])
        .map_err(|e| e.to_string())?;
    Ok(format!("ok: {} items", items.len()))
}

fn artifacts(text: &str, source: &str) -> Outcome {
    let artifact = flowcompile_artifact::parse_any(text, source).map_err(|e| e.to_string())?;
    Ok(format!(
        "ok: workflow {}, {} points",
        artifact.workflow,
        artifact.points.len()
    ))
}

const TARGETS: [Target; 5] = [
    Target {
        name: "workflow",
        expected_here: false,
        parse: workflow,
        seeds: &[
            "examples/math/workflow.toml",
            "examples/code/workflow.toml",
            "examples/hotpotqa/workflow.toml",
            "examples/hotpotqa-small/workflow.toml",
        ],
    },
    Target {
        name: "profiles",
        expected_here: false,
        parse: profiles,
        seeds: &["examples/math/profiles.csv", "examples/math/throughput.csv"],
    },
    Target {
        name: "providers",
        expected_here: true,
        parse: providers,
        seeds: &[
            "examples/providers/zoo.toml",
            "examples/providers/llama.toml",
            "examples/providers/vllm.toml",
        ],
    },
    Target {
        name: "datasets",
        expected_here: true,
        parse: datasets,
        seeds: &[],
    },
    Target {
        name: "artifacts",
        expected_here: true,
        parse: artifacts,
        seeds: &["examples/prototype/hotpotqa.compiled.v2.json"],
    },
];

/// The corpus inputs of `target` (every file but the expected outcomes), sorted.
fn corpus(target: &Target) -> Vec<PathBuf> {
    let dir = root().join("fuzz/corpus").join(target.name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("expected" | "out")
            )
        })
        .collect();
    files.sort();
    files
}

/// Parses under `catch_unwind`; a panic is returned as the error of the test, with the input saved.
fn parse_or_report(target: &Target, text: &str, source: &str, what: &str) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| (target.parse)(text, source))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let dir = root().join("target/fuzz-failures");
            std::fs::create_dir_all(&dir).unwrap();
            let saved = dir.join(format!("{}-{}", target.name, source.replace('/', "_")));
            std::fs::write(&saved, text).unwrap();
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "{} panicked on {what} (saved as {}): {message}",
                target.name,
                saved.display()
            );
        }
    }
}

/// An error names its input first and then where in it: `file:line`, a `key`, a 'field', a
/// path like `points[3]` or `configs:`, or the whole file (its top level, no items at all).
fn assert_located(target: &Target, source: &str, error: &str) {
    let first = error.lines().next().unwrap_or_default();
    let Some(rest) = first.strip_prefix(source) else {
        panic!(
            "{}: the error for {source} does not start with its name: {error}",
            target.name
        );
    };
    let names_line = rest
        .strip_prefix(':')
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
    let names_place = ['`', '\'', '['].iter().any(|c| rest.contains(*c))
        || ["field", "line", "top level", "no items", "design space"]
            .iter()
            .any(|w| rest.contains(w));
    // `file: points.accuracy: ...`: a key path before the message.
    let names_key = rest
        .strip_prefix(": ")
        .and_then(|r| r.split_once(": "))
        .is_some_and(|(key, _)| {
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_alphanumeric() || "._[]\"-".contains(c))
        });
    assert!(
        names_line || names_place || names_key,
        "{}: the error for {source} names no line or field: {error}",
        target.name
    );
}

fn check_corpus(target: &Target) {
    let bless = std::env::var_os("FLOWCOMPILE_BLESS").is_some_and(|v| v == "1");
    let files = corpus(target);
    assert!(files.len() >= 5, "{}: the corpus lost files", target.name);
    let mut stale = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let outcome = parse_or_report(target, &text, &name, "a corpus file");
        if let Err(e) = &outcome {
            assert_located(target, &name, e);
        }
        let shown = format!("{outcome:?}");
        assert!(
            !shown.contains("never-shown"),
            "{name}: a secret is shown: {shown}"
        );
        if !target.expected_here {
            continue;
        }
        let got = match outcome {
            Ok(summary) => format!("{summary}\n"),
            Err(e) => format!("error:\n{e}\n"),
        };
        let expected_path = path.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(want) if want == got => {}
            Ok(want) => stale.push(format!("{name}:\n--- expected\n{want}--- got\n{got}")),
            Err(_) => stale.push(format!("{name}: no {}", expected_path.display())),
        }
    }
    assert!(
        stale.is_empty(),
        "rerun with FLOWCOMPILE_BLESS=1 if intended:\n{}",
        stale.join("\n")
    );
}

/// Tokens that break parsers: delimiters, extreme and non-finite numbers, odd characters.
const TOKENS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    ":",
    "\n",
    "\r\n",
    "#",
    "\\",
    "\u{feff}",
    "\0",
    "é",
    "-1",
    "0",
    "4294967295",
    "4294967296",
    "2147483648",
    "99999999999999999999",
    "1e309",
    "-0",
    "nan",
    "inf",
    "NaN",
    "null",
    "true",
    "[0, 1000000000]",
    "{}",
    "[]",
    "\"\"",
    "http://u:p@h/v1",
];

/// Edits `text` with 1 to 4 random mutations.
fn mutate(rng: &mut TestRng, text: &str) -> String {
    let below = |rng: &mut TestRng, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + below(rng, 4) {
        let len = bytes.len();
        let at = below(rng, len + 1);
        match below(rng, 6) {
            0 => {
                let end = (at + 1 + below(rng, 16)).min(len);
                bytes.drain(at.min(end)..end);
            }
            1 => {
                let token = TOKENS[below(rng, TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            2 => {
                let token = TOKENS[below(rng, TOKENS.len())].as_bytes();
                let end = (at + token.len()).min(len);
                bytes.splice(at..end, token.iter().copied());
            }
            3 => {
                if at < len {
                    bytes[at] = rng.next_u64() as u8;
                }
            }
            _ => {
                let mut lines: Vec<Vec<u8>> =
                    bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
                let i = below(rng, lines.len());
                let j = below(rng, lines.len());
                match below(rng, 3) {
                    0 => lines.swap(i, j),
                    1 => {
                        let line = lines[i].clone();
                        lines.insert(j, line);
                    }
                    _ => {
                        lines.remove(i);
                    }
                }
                bytes = lines.join(&b'\n');
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn env_number(var: &str, default: u64) -> u64 {
    match std::env::var(var) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn mutation_loop(target: &Target) {
    let iterations = env_number("FLOWCOMPILE_FUZZ_ITERS", 300);
    let seed = env_number("FLOWCOMPILE_FUZZ_SEED", 1);
    let mut seeds: Vec<(String, String)> = corpus(target)
        .into_iter()
        .chain(target.seeds.iter().map(|s| root().join(s)))
        .map(|p| {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            (p.file_name().unwrap().to_string_lossy().to_string(), text)
        })
        .collect();
    seeds.sort();
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..8 + target.name.len()].copy_from_slice(target.name.as_bytes());
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let (mut n_ok, mut n_err) = (0u64, 0u64);
    for i in 0..iterations {
        let (name, text) = &seeds[(rng.next_u64() % seeds.len() as u64) as usize];
        let mutated = mutate(&mut rng, text);
        let source = format!("mutant-{i}-of-{name}");
        let what = format!("iteration {i} (seed {seed}), a mutation of {name}");
        match parse_or_report(target, &mutated, &source, &what) {
            Ok(_) => n_ok += 1,
            Err(e) => {
                assert_located(target, &source, &e);
                n_err += 1;
            }
        }
    }
    assert_eq!(n_ok + n_err, iterations);
    assert!(
        iterations < 50 || n_err > 0,
        "{}: no mutation was rejected in {iterations}: the mutator does nothing",
        target.name
    );
    eprintln!(
        "{}: {iterations} mutations, {n_ok} parsed, {n_err} rejected",
        target.name
    );
}

fn target(name: &str) -> &'static Target {
    TARGETS.iter().find(|t| t.name == name).unwrap()
}

macro_rules! fuzz_target {
    ($corpus:ident, $mutations:ident, $name:literal) => {
        #[test]
        fn $corpus() {
            check_corpus(target($name));
        }

        #[test]
        fn $mutations() {
            mutation_loop(target($name));
        }
    };
}

fuzz_target!(workflow_corpus, workflow_mutations, "workflow");
fuzz_target!(profiles_corpus, profiles_mutations, "profiles");
fuzz_target!(providers_corpus, providers_mutations, "providers");
fuzz_target!(datasets_corpus, datasets_mutations, "datasets");
fuzz_target!(artifacts_corpus, artifacts_mutations, "artifacts");
