//! Typed profile and throughput rows, their validation and the parsed profile table.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::error::{ProfileError, ProfileErrors};
use crate::read::{read_records, Format, Raw, Record};
use flowcompile_ir::json::kind_of;

/// Columns of a profiles file, in the order the writers emit them.
pub const PROFILE_COLUMNS: [&str; 8] = [
    "agent",
    "model",
    "budget",
    "accuracy",
    "samples",
    "latency_s",
    "input_tokens",
    "output_tokens",
];

/// Columns of a throughput file.
pub const THROUGHPUT_COLUMNS: [&str; 3] = ["model", "prefill_tok_per_s", "decode_tok_per_s"];

/// What one agent achieved under one (model, budget) setting, averaged over its profiling samples.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProfileRow {
    /// Agent name, as in the workflow.
    pub agent: String,
    /// Model name, as in the workflow's settings.
    pub model: String,
    /// Thinking-token budget (column `budget`).
    #[serde(rename = "budget")]
    pub budget_tokens: u32,
    /// Fraction of samples judged correct, in [0, 1].
    pub accuracy: f64,
    /// Number of samples profiled (at least 1).
    pub samples: u32,
    /// Mean wall-clock seconds per call.
    pub latency_s: f64,
    /// Mean prompt tokens per call.
    pub input_tokens: f64,
    /// Mean completion tokens per call (thinking included).
    pub output_tokens: f64,
}

/// A model's serving speed, for token-based latency.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThroughputRow {
    /// Model name.
    pub model: String,
    /// Prompt tokens processed per second.
    pub prefill_tok_per_s: f64,
    /// Completion tokens generated per second.
    pub decode_tok_per_s: f64,
}

/// A profile row with the line it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileEntry {
    /// 1-based line in the input (the row number for tables built from rows).
    pub line: usize,
    /// The row.
    pub row: ProfileRow,
}

type Key = (String, String, u32);

/// Validated profile rows of one input, unique per (agent, model, budget), in input order.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileTable {
    file: String,
    entries: Vec<ProfileEntry>,
    index: HashMap<Key, usize>,
}

impl ProfileTable {
    /// Builds a table from rows made in memory (e.g. by a profiler), validating them as a parser would;
    /// errors name `source` and the 1-based row number.
    pub fn from_rows(source: &str, rows: Vec<ProfileRow>) -> Result<ProfileTable, ProfileErrors> {
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        for (i, row) in rows.into_iter().enumerate() {
            let line = i + 1;
            let n_before = errors.len();
            let mut check_name = |field: &str, name: &str| {
                if name.trim().is_empty() {
                    errors.push(invalid(
                        source,
                        line,
                        field,
                        Rule::NAME,
                        format!("'{name}'"),
                    ));
                }
            };
            check_name("agent", &row.agent);
            check_name("model", &row.model);
            let numbers = [
                ("accuracy", Rule::Probability, row.accuracy),
                ("samples", Rule::Samples, f64::from(row.samples)),
                ("latency_s", Rule::NonNegative, row.latency_s),
                ("input_tokens", Rule::NonNegative, row.input_tokens),
                ("output_tokens", Rule::NonNegative, row.output_tokens),
            ];
            for (field, rule, x) in numbers {
                if !rule.accepts(x) {
                    errors.push(invalid(source, line, field, rule.expected(), x.to_string()));
                }
            }
            if errors.len() == n_before {
                entries.push(ProfileEntry { line, row });
            }
        }
        let table = ProfileTable::index(source, entries, &mut errors);
        ProfileErrors::check(errors, table)
    }

    fn index(
        file: &str,
        entries: Vec<ProfileEntry>,
        errors: &mut Vec<ProfileError>,
    ) -> ProfileTable {
        let mut index: HashMap<Key, usize> = HashMap::with_capacity(entries.len());
        let mut kept = Vec::with_capacity(entries.len());
        for entry in entries {
            let row = &entry.row;
            let key = (row.agent.clone(), row.model.clone(), row.budget_tokens);
            if let Some(&first) = index.get(&key) {
                let first: &ProfileEntry = &kept[first];
                errors.push(ProfileError::DuplicateRow {
                    file: file.into(),
                    line: entry.line,
                    first_line: first.line,
                    agent: row.agent.clone(),
                    model: row.model.clone(),
                    budget: row.budget_tokens,
                });
                continue;
            }
            index.insert(key, kept.len());
            kept.push(entry);
        }
        ProfileTable {
            file: file.into(),
            entries: kept,
            index,
        }
    }

    /// The label of the input the rows came from (a file name), as errors quote it.
    pub fn source(&self) -> &str {
        &self.file
    }

    /// Every row with its line, in input order.
    pub fn entries(&self) -> &[ProfileEntry] {
        &self.entries
    }

    /// Every row, in input order.
    pub fn rows(&self) -> impl Iterator<Item = &ProfileRow> {
        self.entries.iter().map(|e| &e.row)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The row for this agent, model and budget, if any.
    pub fn get(&self, agent: &str, model: &str, budget_tokens: u32) -> Option<&ProfileEntry> {
        self.position(agent, model, budget_tokens)
            .map(|i| &self.entries[i])
    }

    /// Index into [`ProfileTable::entries`] of the row for this agent, model and budget.
    pub(crate) fn position(&self, agent: &str, model: &str, budget_tokens: u32) -> Option<usize> {
        self.index
            .get(&(agent.to_string(), model.to_string(), budget_tokens))
            .copied()
    }
}

/// Parses a profiles file (CSV with a header row, or JSONL) and validates every row.
///
/// `source` labels the input in errors (usually its path). Every problem is reported, each with its line.
pub fn parse_profiles(
    text: &str,
    source: &str,
    format: Format,
) -> Result<ProfileTable, ProfileErrors> {
    let mut errors = Vec::new();
    let records = read_records(text, source, format, &PROFILE_COLUMNS, &mut errors);
    let mut entries = Vec::with_capacity(records.len());
    for record in records {
        let mut cx = Row::new(source, &record, &PROFILE_COLUMNS, &mut errors);
        let agent = cx.name(0);
        let model = cx.name(1);
        let budget_tokens = cx.number(2, Rule::Budget);
        let accuracy = cx.number(3, Rule::Probability);
        let samples = cx.number(4, Rule::Samples);
        let latency_s = cx.number(5, Rule::NonNegative);
        let input_tokens = cx.number(6, Rule::NonNegative);
        let output_tokens = cx.number(7, Rule::NonNegative);
        if let (
            Some(agent),
            Some(model),
            Some(budget),
            Some(accuracy),
            Some(samples),
            Some(latency_s),
            Some(input_tokens),
            Some(output_tokens),
        ) = (
            agent,
            model,
            budget_tokens,
            accuracy,
            samples,
            latency_s,
            input_tokens,
            output_tokens,
        ) {
            entries.push(ProfileEntry {
                line: record.line,
                row: ProfileRow {
                    agent,
                    model,
                    budget_tokens: budget as u32,
                    accuracy,
                    samples: samples as u32,
                    latency_s,
                    input_tokens,
                    output_tokens,
                },
            });
        }
    }
    let table = ProfileTable::index(source, entries, &mut errors);
    ProfileErrors::check(errors, table)
}

/// Parses a per-model throughput file (CSV with a header row, or JSONL): positive finite speeds,
/// one row per model.
pub fn parse_throughput(
    text: &str,
    source: &str,
    format: Format,
) -> Result<Vec<ThroughputRow>, ProfileErrors> {
    let mut errors = Vec::new();
    let records = read_records(text, source, format, &THROUGHPUT_COLUMNS, &mut errors);
    let mut rows = Vec::with_capacity(records.len());
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for record in records {
        let mut cx = Row::new(source, &record, &THROUGHPUT_COLUMNS, &mut errors);
        let model = cx.name(0);
        let prefill = cx.number(1, Rule::Positive);
        let decode = cx.number(2, Rule::Positive);
        let (Some(model), Some(prefill_tok_per_s), Some(decode_tok_per_s)) =
            (model, prefill, decode)
        else {
            continue;
        };
        if let Some(&first) = first_line.get(&model) {
            errors.push(ProfileError::DuplicateModel {
                file: source.into(),
                line: record.line,
                first_line: first,
                model,
            });
            continue;
        }
        first_line.insert(model.clone(), record.line);
        rows.push(ThroughputRow {
            model,
            prefill_tok_per_s,
            decode_tok_per_s,
        });
    }
    ProfileErrors::check(errors, rows)
}

/// The constraint a numeric field must meet.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Rule {
    Probability,
    NonNegative,
    Positive,
    Budget,
    Samples,
}

impl Rule {
    const NAME: &'static str = "a non-empty string";

    fn expected(self) -> &'static str {
        match self {
            Rule::Probability => "a finite number in [0, 1]",
            Rule::NonNegative => "a finite number >= 0",
            Rule::Positive => "a finite number > 0",
            Rule::Budget => "an integer from 0 to 4294967295",
            Rule::Samples => "an integer from 1 to 4294967295",
        }
    }

    pub(crate) fn accepts(self, x: f64) -> bool {
        let int = |lo: f64| x.fract() == 0.0 && x >= lo && x <= f64::from(u32::MAX);
        match self {
            Rule::Probability => (0.0..=1.0).contains(&x),
            Rule::NonNegative => x.is_finite() && x >= 0.0,
            Rule::Positive => x.is_finite() && x > 0.0,
            Rule::Budget => int(0.0),
            Rule::Samples => int(1.0),
        }
    }
}

fn invalid(
    file: &str,
    line: usize,
    field: &str,
    expected: &'static str,
    found: String,
) -> ProfileError {
    ProfileError::InvalidValue {
        file: file.into(),
        line,
        field: field.into(),
        expected,
        found,
    }
}

/// Typed access to one record's values, pushing a located error for each bad or missing value.
struct Row<'a> {
    file: &'a str,
    record: &'a Record,
    columns: &'static [&'static str],
    errors: &'a mut Vec<ProfileError>,
}

impl<'a> Row<'a> {
    fn new(
        file: &'a str,
        record: &'a Record,
        columns: &'static [&'static str],
        errors: &'a mut Vec<ProfileError>,
    ) -> Row<'a> {
        Row {
            file,
            record,
            columns,
            errors,
        }
    }

    fn raw(&mut self, col: usize) -> Option<&'a Raw> {
        let value = self.record.values[col].as_ref();
        if value.is_none() {
            self.errors.push(ProfileError::MissingField {
                file: self.file.into(),
                line: self.record.line,
                field: self.columns[col].into(),
            });
        }
        value
    }

    fn fail(&mut self, col: usize, expected: &'static str, raw: &Raw) {
        let e = invalid(
            self.file,
            self.record.line,
            self.columns[col],
            expected,
            raw.shown(),
        );
        self.errors.push(e);
    }

    fn name(&mut self, col: usize) -> Option<String> {
        let raw = self.raw(col)?;
        match raw {
            Raw::Text(s) => Some(s.clone()),
            Raw::Json(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Raw::Json(_) => {
                self.fail(col, Rule::NAME, raw);
                None
            }
        }
    }

    fn number(&mut self, col: usize, rule: Rule) -> Option<f64> {
        let raw = self.raw(col)?;
        let x = match raw {
            Raw::Text(s) => s.parse::<f64>().ok(),
            Raw::Json(v) => v.as_f64(),
        };
        match x {
            Some(x) if rule.accepts(x) => Some(x + 0.0),
            _ => {
                let found = match raw {
                    Raw::Json(v) if !v.is_number() => format!("{} {}", kind_of(v), raw.shown()),
                    _ => raw.shown(),
                };
                let e = invalid(
                    self.file,
                    self.record.line,
                    self.columns[col],
                    rule.expected(),
                    found,
                );
                self.errors.push(e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "agent,model,budget,accuracy,samples,latency_s,input_tokens,output_tokens";

    #[track_caller]
    fn check_csv_errors(rows: &str, want: &[&str]) {
        let text = format!("{HEADER}\n{rows}");
        let errs = parse_profiles(&text, "p.csv", Format::Csv).unwrap_err();
        let got: Vec<String> = errs.errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(got, want);
    }

    #[track_caller]
    fn check_jsonl_errors(text: &str, want: &[&str]) {
        let errs = parse_profiles(text, "p.jsonl", Format::Jsonl).unwrap_err();
        let got: Vec<String> = errs.errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(got, want);
    }

    fn row(agent: &str, budget: u32) -> ProfileRow {
        ProfileRow {
            agent: agent.into(),
            model: "m".into(),
            budget_tokens: budget,
            accuracy: 0.5,
            samples: 10,
            latency_s: 1.5,
            input_tokens: 100.0,
            output_tokens: 20.0,
        }
    }

    #[test]
    fn csv_parses_in_any_column_order() {
        let text = "model, budget ,agent,samples,accuracy,latency_s,output_tokens,input_tokens\n\
                    m,100,solver,10,0.5,1.5,20,100\n\
                    m,200,solver,10,0.5,1.5,20,100\n";
        let table = parse_profiles(text, "p.csv", Format::Csv).unwrap();
        assert_eq!(table.len(), 2);
        assert_eq!(table.entries()[0].line, 2);
        assert_eq!(table.entries()[0].row, row("solver", 100));
        assert_eq!(table.get("solver", "m", 200).unwrap().line, 3);
        assert!(table.get("solver", "m", 300).is_none());
        assert_eq!(table.source(), "p.csv");
    }

    #[test]
    fn jsonl_parses_with_blank_lines() {
        let text =
            "{\"agent\":\"a\",\"model\":\"m\",\"budget\":100,\"accuracy\":0.5,\"samples\":10,\
                    \"latency_s\":1.5,\"input_tokens\":100,\"output_tokens\":20}\n\n  \n";
        let table = parse_profiles(text, "p.jsonl", Format::Jsonl).unwrap();
        assert_eq!(table.rows().collect::<Vec<_>>(), [&row("a", 100)]);
    }

    #[test]
    fn integral_floats_are_accepted_as_budgets_and_samples() {
        let table = parse_profiles(
            &format!("{HEADER}\na,m,1e2,0.5,10.0,1.5,100,20\n"),
            "p.csv",
            Format::Csv,
        )
        .unwrap();
        assert_eq!(table.entries()[0].row, row("a", 100));
    }

    #[test]
    fn not_a_number_is_reported() {
        check_csv_errors(
            "a,m,100,high,10,1.5,100,20\n",
            &["p.csv:2: field 'accuracy': expected a finite number in [0, 1], found 'high'"],
        );
    }

    #[test]
    fn nan_and_infinity_are_reported() {
        check_csv_errors(
            "a,m,100,NaN,10,inf,100,20\n",
            &[
                "p.csv:2: field 'accuracy': expected a finite number in [0, 1], found 'NaN'",
                "p.csv:2: field 'latency_s': expected a finite number >= 0, found 'inf'",
            ],
        );
    }

    #[test]
    fn negative_latency_and_tokens_are_reported() {
        check_csv_errors(
            "a,m,100,0.5,10,-1,-2,-3\n",
            &[
                "p.csv:2: field 'latency_s': expected a finite number >= 0, found '-1'",
                "p.csv:2: field 'input_tokens': expected a finite number >= 0, found '-2'",
                "p.csv:2: field 'output_tokens': expected a finite number >= 0, found '-3'",
            ],
        );
    }

    #[test]
    fn accuracy_outside_the_unit_interval_is_reported() {
        check_csv_errors(
            "a,m,100,1.5,10,1,2,3\na,m,200,-0.1,10,1,2,3\n",
            &[
                "p.csv:2: field 'accuracy': expected a finite number in [0, 1], found '1.5'",
                "p.csv:3: field 'accuracy': expected a finite number in [0, 1], found '-0.1'",
            ],
        );
    }

    #[test]
    fn zero_samples_and_bad_budgets_are_reported() {
        check_csv_errors(
            "a,m,100,0.5,0,1,2,3\na,m,1.5,0.5,1,1,2,3\na,m,-1,0.5,1,1,2,3\na,m,4294967296,0.5,1,1,2,3\n",
            &[
                "p.csv:2: field 'samples': expected an integer from 1 to 4294967295, found '0'",
                "p.csv:3: field 'budget': expected an integer from 0 to 4294967295, found '1.5'",
                "p.csv:4: field 'budget': expected an integer from 0 to 4294967295, found '-1'",
                "p.csv:5: field 'budget': expected an integer from 0 to 4294967295, found '4294967296'",
            ],
        );
    }

    #[test]
    fn empty_cells_are_missing_fields() {
        check_csv_errors(
            "a,,100,0.5,10,1,2,\n",
            &[
                "p.csv:2: field 'model' is missing or empty",
                "p.csv:2: field 'output_tokens' is missing or empty",
            ],
        );
    }

    #[test]
    fn missing_extra_and_duplicate_columns_are_all_reported() {
        let text = "agent,model,budget,accuracy,accuracy,latency,input_tokens,output_tokens\n";
        let errs = parse_profiles(text, "p.csv", Format::Csv).unwrap_err();
        let got: Vec<String> = errs.errors().iter().map(|e| e.to_string()).collect();
        let cols = PROFILE_COLUMNS.join(", ");
        assert_eq!(
            got,
            [
                "p.csv:1: column 'accuracy' appears twice in the header".to_string(),
                format!("p.csv:1: unknown column 'latency' in the header (the columns are {cols})"),
                format!("p.csv:1: missing column 'samples' in the header (the columns are {cols})"),
                format!(
                    "p.csv:1: missing column 'latency_s' in the header (the columns are {cols})"
                ),
            ]
        );
    }

    #[test]
    fn rows_with_the_wrong_field_count_are_reported() {
        check_csv_errors(
            "a,m,100,0.5,10,1,2\na,m,100,0.5,10,1,2,3,4\n",
            &[
                "p.csv:2: expected 8 values (one per header column), found 7",
                "p.csv:3: expected 8 values (one per header column), found 9",
            ],
        );
    }

    #[test]
    fn duplicate_rows_name_both_lines() {
        check_csv_errors(
            "a,m,100,0.5,10,1,2,3\nb,m,100,0.5,10,1,2,3\na,m,100,0.7,10,1,2,3\n",
            &["p.csv:4: duplicate row for agent 'a', model 'm', budget 100 (first at line 2)"],
        );
    }

    #[test]
    fn an_unterminated_quote_is_reported_as_such() {
        check_csv_errors(
            "\"a,m,100,0.5,10,1,2,3\nb,m,100,0.5,10,1,2,3\n",
            &["p.csv:2: expected 8 values, found 1 spanning several lines: a quote is left open"],
        );
    }

    #[test]
    fn jsonl_syntax_and_shape_errors_are_reported() {
        check_jsonl_errors(
            "{\"agent\": \n[1, 2]\n\"text\"\n",
            &[
                "p.jsonl:1: invalid JSON at column 10: EOF while parsing a value",
                "p.jsonl:2: expected a JSON object, found an array",
                "p.jsonl:3: expected a JSON object, found a string",
            ],
        );
    }

    #[test]
    fn jsonl_missing_extra_and_mistyped_fields_are_reported() {
        let cols = PROFILE_COLUMNS.join(", ");
        check_jsonl_errors(
            "{\"agent\":\"a\",\"model\":7,\"budget\":\"100\",\"accuracy\":0.5,\"samples\":10,\
             \"latency_s\":null,\"input_tokens\":1,\"output_tokens\":2,\"notes\":\"x\"}\n",
            &[
                &format!("p.jsonl:1: unknown field 'notes' (the fields are {cols})"),
                "p.jsonl:1: field 'model': expected a non-empty string, found 7",
                "p.jsonl:1: field 'budget': expected an integer from 0 to 4294967295, found a string \"100\"",
                "p.jsonl:1: field 'latency_s' is missing or empty",
            ],
        );
    }

    #[test]
    fn jsonl_empty_names_are_reported() {
        check_jsonl_errors(
            "{\"agent\":\" \",\"model\":\"m\",\"budget\":1,\"accuracy\":0.5,\"samples\":10,\
             \"latency_s\":1,\"input_tokens\":1,\"output_tokens\":2}\n",
            &["p.jsonl:1: field 'agent': expected a non-empty string, found \" \""],
        );
    }

    #[test]
    fn throughput_parses_and_rejects_bad_speeds_and_duplicates() {
        let text = "model,prefill_tok_per_s,decode_tok_per_s\nm,1000,50\nn,0,50\no,10,-5\nm,1,1\n";
        let errs = parse_throughput(text, "t.csv", Format::Csv).unwrap_err();
        let got: Vec<String> = errs.errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            [
                "t.csv:3: field 'prefill_tok_per_s': expected a finite number > 0, found '0'",
                "t.csv:4: field 'decode_tok_per_s': expected a finite number > 0, found '-5'",
                "t.csv:5: duplicate throughput for model 'm' (first at line 2)",
            ]
        );
        let rows = parse_throughput(
            "{\"model\":\"m\",\"prefill_tok_per_s\":1000,\"decode_tok_per_s\":50.5}",
            "t.jsonl",
            Format::Jsonl,
        )
        .unwrap();
        assert_eq!(
            rows,
            [ThroughputRow {
                model: "m".into(),
                prefill_tok_per_s: 1000.0,
                decode_tok_per_s: 50.5
            }]
        );
    }

    #[test]
    fn throughput_missing_column_is_reported() {
        let errs =
            parse_throughput("model,prefill_tok_per_s\nm,1\n", "t.csv", Format::Csv).unwrap_err();
        assert_eq!(
            errs.to_string(),
            "t.csv:1: missing column 'decode_tok_per_s' in the header \
             (the columns are model, prefill_tok_per_s, decode_tok_per_s)"
        );
    }

    #[test]
    fn from_rows_validates_like_the_parser() {
        let mut bad = row("a", 1);
        bad.accuracy = f64::NAN;
        bad.samples = 0;
        bad.model = String::new();
        let errs =
            ProfileTable::from_rows("profiler", vec![row("a", 1), bad, row("a", 1)]).unwrap_err();
        let got: Vec<String> = errs.errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            [
                "profiler:2: field 'model': expected a non-empty string, found ''",
                "profiler:2: field 'accuracy': expected a finite number in [0, 1], found NaN",
                "profiler:2: field 'samples': expected an integer from 1 to 4294967295, found 0",
                "profiler:3: duplicate row for agent 'a', model 'm', budget 1 (first at line 1)",
            ]
        );
        let table = ProfileTable::from_rows("profiler", vec![row("a", 1), row("a", 2)]).unwrap();
        assert_eq!(table.len(), 2);
        assert!(!table.is_empty());
    }

    #[test]
    fn errors_display_one_per_line() {
        let errs = parse_profiles(
            &format!("{HEADER}\na,m,x,0.5,10,1,2,3\na,m,1,2,10,1,2,3\n"),
            "p.csv",
            Format::Csv,
        )
        .unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!(errs.to_string().lines().count(), 2);
        assert_eq!(errs.errors()[1].line(), Some(3));
        assert!(!errs.is_empty());
        assert_eq!(errs.clone().into_iter().count(), 2);
    }
}
