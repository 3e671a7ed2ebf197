//! Writing profile rows as CSV or JSONL, in the column order of [`crate::PROFILE_COLUMNS`], and
//! throughput rows as CSV ([`crate::THROUGHPUT_COLUMNS`]): the one writer of every profile file.

use serde::Serialize;

use crate::table::{ProfileRow, ThroughputRow};

/// The rows as CSV with a header row; parsing the text back gives the same rows.
pub fn write_csv(rows: &[ProfileRow]) -> String {
    csv_text(&crate::PROFILE_COLUMNS, rows)
}

/// Throughput rows as CSV with a header row (the `--throughput` format).
pub fn write_throughput_csv(rows: &[ThroughputRow]) -> String {
    csv_text(&crate::THROUGHPUT_COLUMNS, rows)
}

/// A header of `columns` then one CSV record per row.
fn csv_text<R: Serialize>(columns: &[&str], rows: &[R]) -> String {
    let mut out = columns.join(",");
    out.push('\n');
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for row in rows {
        writer
            .serialize(row)
            .expect("serialising a flat struct into memory cannot fail");
    }
    let bytes = writer
        .into_inner()
        .expect("flushing into memory cannot fail");
    out.push_str(&String::from_utf8(bytes).expect("the CSV writer emits the UTF-8 it was given"));
    out
}

/// The rows as JSONL, one object per line; parsing the text back gives the same rows.
///
/// Non-finite numbers (which a validated row never holds) are written as `null`.
pub fn write_jsonl(rows: &[ProfileRow]) -> String {
    let mut out = String::new();
    for row in rows {
        out.push_str(
            &serde_json::to_string(row)
                .expect("serialising a flat struct of strings and numbers cannot fail"),
        );
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_profiles, Format};

    fn rows() -> Vec<ProfileRow> {
        vec![
            ProfileRow {
                agent: "a, with \"quotes\"".into(),
                model: "Qwen3-8B".into(),
                budget_tokens: 100,
                accuracy: 0.1 + 0.2,
                samples: 3,
                latency_s: 1e-7,
                input_tokens: 123.456,
                output_tokens: 0.0,
            },
            ProfileRow {
                agent: "b".into(),
                model: "m".into(),
                budget_tokens: u32::MAX,
                accuracy: 1.0,
                samples: 1,
                latency_s: 12345.5,
                input_tokens: 1e20,
                output_tokens: 7.0,
            },
        ]
    }

    #[test]
    fn csv_round_trips() {
        let text = write_csv(&rows());
        assert!(text.starts_with(
            "agent,model,budget,accuracy,samples,latency_s,input_tokens,output_tokens\n"
        ));
        let table = parse_profiles(&text, "w.csv", Format::Csv).unwrap();
        assert_eq!(table.rows().cloned().collect::<Vec<_>>(), rows());
    }

    #[test]
    fn jsonl_round_trips() {
        let text = write_jsonl(&rows());
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains("\"budget\":100"));
        let table = parse_profiles(&text, "w.jsonl", Format::Jsonl).unwrap();
        assert_eq!(table.rows().cloned().collect::<Vec<_>>(), rows());
    }

    #[test]
    fn empty_inputs_write_a_header_or_nothing() {
        assert_eq!(write_csv(&[]).lines().count(), 1);
        assert_eq!(write_jsonl(&[]), "");
        assert!(parse_profiles(&write_csv(&[]), "w.csv", Format::Csv)
            .unwrap()
            .is_empty());
    }
}
