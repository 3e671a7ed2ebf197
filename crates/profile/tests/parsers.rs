//! Robustness of the profile parsers: a regression corpus of nasty files with expected outcomes, and
//! property tests (arbitrary text and mutations of valid files give `Ok` or `Err`, never a panic;
//! written rows parse back equal).

use std::path::{Path, PathBuf};

use flowcompile_profile::{
    parse_profiles, parse_throughput, write_csv, write_jsonl, Format, ProfileErrors, ProfileRow,
};
use proptest::prelude::*;

/// What parsing a file gives, as the expected-outcome files spell it.
fn outcome(name: &str, text: &str) -> String {
    let format = Format::from_path(name).expect("corpus files end in .csv or .jsonl");
    let render = |r: Result<Vec<String>, ProfileErrors>| match r {
        Ok(rows) => {
            let mut s = format!("ok: {} rows\n", rows.len());
            rows.iter().for_each(|r| s.push_str(&format!("{r}\n")));
            s
        }
        Err(e) => format!("error:\n{e}\n"),
    };
    if name.starts_with("throughput") {
        render(
            parse_throughput(text, name, format)
                .map(|rows| rows.iter().map(|r| format!("{r:?}")).collect()),
        )
    } else {
        render(parse_profiles(text, name, format).map(|t| {
            t.entries()
                .iter()
                .map(|e| format!("line {}: {:?}", e.line, e.row))
                .collect()
        }))
    }
}

#[test]
fn corpus_files_give_their_expected_outcome() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/profiles");
    let bless = std::env::var_os("FLOWCOMPILE_BLESS").is_some_and(|v| v == "1");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "out"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 10, "the corpus lost files: {inputs:?}");
    let mut stale = Vec::new();
    for input in inputs {
        let name = input.file_name().unwrap().to_str().unwrap().to_string();
        let text = String::from_utf8(std::fs::read(&input).unwrap()).unwrap();
        let got = outcome(&name, &text);
        let expected_path = input.with_extension(format!(
            "{}.out",
            input.extension().unwrap().to_str().unwrap()
        ));
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

/// A name that survives CSV trimming: no leading or trailing whitespace.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_é][a-zA-Z0-9_ ,\"é\n-]{0,6}[a-zA-Z0-9_]|[a-z]"
}

fn non_negative() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.0..1e4f64,
        any::<f64>()
            .prop_map(f64::abs)
            .prop_filter("finite", |x| x.is_finite()),
        Just(0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
    ]
}

fn row() -> impl Strategy<Value = ProfileRow> {
    (
        name(),
        name(),
        any::<u32>(),
        prop_oneof![0.0..=1.0f64, Just(0.0), Just(1.0)],
        1..=u32::MAX,
        non_negative(),
        non_negative(),
        non_negative(),
    )
        .prop_map(
            |(agent, model, budget_tokens, accuracy, samples, latency_s, i, o)| ProfileRow {
                agent,
                model,
                budget_tokens,
                accuracy,
                samples,
                latency_s,
                input_tokens: i,
                output_tokens: o,
            },
        )
}

/// Rows with distinct (agent, model, budget) keys.
fn rows() -> impl Strategy<Value = Vec<ProfileRow>> {
    proptest::collection::vec(row(), 0..12).prop_map(|mut rows| {
        let mut seen = std::collections::HashSet::new();
        rows.retain(|r| seen.insert((r.agent.clone(), r.model.clone(), r.budget_tokens)));
        rows
    })
}

#[derive(Clone, Debug)]
enum Edit {
    Delete,
    Insert(char),
    Replace(char),
}

fn edits() -> impl Strategy<Value = Vec<(usize, Edit)>> {
    let ch = prop_oneof![
        proptest::sample::select(vec![
            ',', '"', '\n', '\r', '{', '}', '[', ':', '-', '+', 'e', '.', 'N', 'i', '0', '9', ' ',
            '\u{feff}', 'é', '\\', '\0',
        ]),
        any::<char>(),
    ];
    let edit = prop_oneof![
        Just(Edit::Delete),
        ch.clone().prop_map(Edit::Insert),
        ch.prop_map(Edit::Replace),
    ];
    proptest::collection::vec((any::<usize>(), edit), 1..8)
}

fn mutate(text: &str, edits: &[(usize, Edit)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, edit) in edits {
        let i = if chars.is_empty() {
            0
        } else {
            at % (chars.len() + 1)
        };
        match edit {
            Edit::Delete if i < chars.len() => {
                chars.remove(i);
            }
            Edit::Replace(c) if i < chars.len() => chars[i] = *c,
            Edit::Insert(c) | Edit::Replace(c) => chars.insert(i, *c),
            Edit::Delete => {}
        }
    }
    chars.into_iter().collect()
}

/// Parses `text` every way; whatever comes back must be well-formed.
fn parse_all_ways(text: &str) {
    for format in [Format::Csv, Format::Jsonl] {
        match parse_profiles(text, "in", format) {
            Ok(table) => {
                for e in table.entries() {
                    let r = &e.row;
                    assert!((0.0..=1.0).contains(&r.accuracy), "{r:?}");
                    assert!(
                        r.samples >= 1 && !r.agent.trim().is_empty() && !r.model.trim().is_empty()
                    );
                    for x in [r.latency_s, r.input_tokens, r.output_tokens] {
                        assert!(x.is_finite() && x >= 0.0, "{r:?}");
                    }
                    assert!(e.line >= 1 && e.line <= text.lines().count().max(1));
                }
            }
            Err(errs) => {
                assert!(!errs.is_empty());
                for e in errs.errors() {
                    assert!(e.to_string().starts_with("in"), "{e}");
                }
            }
        }
        match parse_throughput(text, "in", format) {
            Ok(rows) => {
                for r in rows {
                    assert!(r.prefill_tok_per_s > 0.0 && r.decode_tok_per_s.is_finite());
                }
            }
            Err(errs) => assert!(!errs.is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        parse_all_ways(&text);
    }

    #[test]
    fn csv_like_text_never_panics(text in "[a-z0-9,\"\n\r .eE+-]{0,200}") {
        let with_header = format!("agent,model,budget,accuracy,samples,latency_s,input_tokens,output_tokens\n{text}");
        parse_all_ways(&with_header);
        parse_all_ways(&text);
    }

    #[test]
    fn mutated_valid_files_never_panic(rows in rows(), edits in edits()) {
        parse_all_ways(&mutate(&write_csv(&rows), &edits));
        parse_all_ways(&mutate(&write_jsonl(&rows), &edits));
    }

    #[test]
    fn written_rows_parse_back_equal(rows in rows()) {
        let csv = parse_profiles(&write_csv(&rows), "w.csv", Format::Csv).unwrap();
        prop_assert_eq!(csv.rows().cloned().collect::<Vec<_>>(), rows.clone());
        let jsonl = parse_profiles(&write_jsonl(&rows), "w.jsonl", Format::Jsonl).unwrap();
        prop_assert_eq!(jsonl.rows().cloned().collect::<Vec<_>>(), rows);
    }
}
