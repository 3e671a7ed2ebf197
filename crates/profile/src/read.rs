//! Reading CSV and JSONL text into records of raw values keyed by column, with located errors.

use flowcompile_ir::json::kind_of;
use serde_json::Value;

use crate::error::ProfileError;

/// Input format of a profiles or throughput file.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// The format a file name's extension implies (`.csv`; `.jsonl` or `.ndjson`), case-insensitively.
    pub fn from_path(path: &str) -> Option<Format> {
        let (_, ext) = path.rsplit_once('.')?;
        if ext.contains(['/', '\\']) {
            return None;
        }
        match ext.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// A value as written: a CSV cell (trimmed) or a JSON value.
#[derive(Debug)]
pub(crate) enum Raw {
    Text(String),
    Json(Value),
}

impl Raw {
    /// The value as the error messages quote it.
    pub(crate) fn shown(&self) -> String {
        match self {
            Raw::Text(s) => format!("'{s}'"),
            Raw::Json(v) => v.to_string(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Raw::Text(s) => s.is_empty(),
            Raw::Json(v) => v.is_null(),
        }
    }
}

/// One row: its line and the raw value of each expected column (None when absent or empty).
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) line: usize,
    pub(crate) values: Vec<Option<Raw>>,
}

/// Reads `text` into records with one value per entry of `columns`, pushing every problem to `errors`.
pub(crate) fn read_records(
    text: &str,
    file: &str,
    format: Format,
    columns: &[&str],
    errors: &mut Vec<ProfileError>,
) -> Vec<Record> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Csv => read_csv(text, file, columns, errors),
        Format::Jsonl => read_jsonl(text, file, columns, errors),
    }
}

fn expected_list(columns: &[&str]) -> String {
    columns.join(", ")
}

fn read_csv(
    text: &str,
    file: &str,
    columns: &[&str],
    errors: &mut Vec<ProfileError>,
) -> Vec<Record> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let line_of = line_finder(text);
    let mut header: Option<csv::StringRecord> = None;
    let mut records = Vec::new();
    let mut map: Vec<usize> = Vec::new();
    for result in reader.records() {
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_of(p.byte() as usize));
                errors.push(ProfileError::Malformed {
                    file: file.into(),
                    line,
                    message: format!("invalid CSV: {e}"),
                });
                break;
            }
        };
        let line = record.position().map_or(0, |p| line_of(p.byte() as usize));
        if record.iter().all(str::is_empty) {
            continue;
        }
        let Some(head) = &header else {
            match check_header(&record, line, file, columns, errors) {
                Some(m) => map = m,
                None => return Vec::new(),
            }
            header = Some(record);
            continue;
        };
        if record.len() != head.len() && record.iter().any(|f| f.contains('\n')) {
            errors.push(ProfileError::Malformed {
                file: file.into(),
                line,
                message: format!(
                    "expected {} values, found {} spanning several lines: a quote is left open",
                    head.len(),
                    record.len()
                ),
            });
            continue;
        }
        if record.len() != head.len() {
            errors.push(ProfileError::FieldCount {
                file: file.into(),
                line,
                found: record.len(),
                expected: head.len(),
            });
            continue;
        }
        let mut values: Vec<Option<Raw>> = columns.iter().map(|_| None).collect();
        for (cell, &col) in record.iter().zip(&map) {
            if !cell.is_empty() {
                values[col] = Some(Raw::Text(cell.to_string()));
            }
        }
        records.push(Record { line, values });
    }
    if header.is_none() && errors.is_empty() {
        errors.push(ProfileError::NoHeader {
            file: file.into(),
            expected: expected_list(columns),
        });
    }
    records
}

/// A function from the byte offset where the CSV reader says a record starts to the 1-based line
/// of its first character (the reader counts the blank lines it skips as part of the record).
fn line_finder(text: &str) -> impl Fn(usize) -> usize + '_ {
    let bytes = text.as_bytes();
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    move |mut byte| {
        while byte < bytes.len() && matches!(bytes[byte], b'\n' | b'\r') {
            byte += 1;
        }
        starts.partition_point(|&s| s <= byte)
    }
}

/// Maps each header cell to its column index; `None` after pushing the header's errors.
fn check_header(
    head: &csv::StringRecord,
    line: usize,
    file: &str,
    columns: &[&str],
    errors: &mut Vec<ProfileError>,
) -> Option<Vec<usize>> {
    let n_before = errors.len();
    let mut map = Vec::new();
    let mut seen = vec![false; columns.len()];
    for cell in head.iter() {
        match columns.iter().position(|c| *c == cell) {
            Some(i) if seen[i] => errors.push(ProfileError::DuplicateColumn {
                file: file.into(),
                line,
                column: cell.into(),
            }),
            Some(i) => {
                seen[i] = true;
                map.push(i);
            }
            None => errors.push(ProfileError::ExtraColumn {
                file: file.into(),
                line,
                column: cell.into(),
                expected: expected_list(columns),
            }),
        }
    }
    for (i, c) in columns.iter().enumerate() {
        if !seen[i] {
            errors.push(ProfileError::MissingColumn {
                file: file.into(),
                line,
                column: (*c).into(),
                expected: expected_list(columns),
            });
        }
    }
    (errors.len() == n_before).then_some(map)
}

fn read_jsonl(
    text: &str,
    file: &str,
    columns: &[&str],
    errors: &mut Vec<ProfileError>,
) -> Vec<Record> {
    let mut records = Vec::new();
    for (idx, raw_line) in text.lines().enumerate() {
        let line = idx + 1;
        if raw_line.trim().is_empty() {
            continue;
        }
        let value: Value = match serde_json::from_str(raw_line) {
            Ok(v) => v,
            Err(e) => {
                let full = e.to_string();
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                let message = full.strip_suffix(&suffix).unwrap_or(&full);
                errors.push(ProfileError::Malformed {
                    file: file.into(),
                    line,
                    message: format!("invalid JSON at column {}: {message}", e.column()),
                });
                continue;
            }
        };
        let Value::Object(object) = value else {
            errors.push(ProfileError::Malformed {
                file: file.into(),
                line,
                message: format!("expected a JSON object, found {}", kind_of(&value)),
            });
            continue;
        };
        let mut values: Vec<Option<Raw>> = columns.iter().map(|_| None).collect();
        for (key, v) in object {
            match columns.iter().position(|c| *c == key) {
                Some(i) => {
                    let raw = Raw::Json(v);
                    if !raw.is_empty() {
                        values[i] = Some(raw);
                    }
                }
                None => errors.push(ProfileError::ExtraField {
                    file: file.into(),
                    line,
                    field: key,
                    expected: expected_list(columns),
                }),
            }
        }
        records.push(Record { line, values });
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_path_reads_the_extension() {
        assert_eq!(Format::from_path("a/b/profiles.csv"), Some(Format::Csv));
        assert_eq!(Format::from_path("P.CSV"), Some(Format::Csv));
        assert_eq!(Format::from_path("p.jsonl"), Some(Format::Jsonl));
        assert_eq!(Format::from_path("p.ndjson"), Some(Format::Jsonl));
        assert_eq!(Format::from_path("p.json"), None);
        assert_eq!(Format::from_path("csv"), None);
        assert_eq!(Format::from_path("dir.csv/file"), None);
    }

    #[test]
    fn csv_blank_lines_are_skipped_and_lines_counted() {
        let mut errors = Vec::new();
        let text = "a,b\n\n1,2\n   \n3,4\n";
        let recs = read_records(text, "f", Format::Csv, &["a", "b"], &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let lines: Vec<usize> = recs.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 5]);
    }

    #[test]
    fn a_bom_is_ignored() {
        let mut errors = Vec::new();
        let recs = read_records("\u{feff}a\n1\n", "f", Format::Csv, &["a"], &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(recs.len(), 1);
        let recs = read_records(
            "\u{feff}{\"a\": 1}\n",
            "f",
            Format::Jsonl,
            &["a"],
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(recs.len(), 1);
    }

    #[test]
    fn an_empty_csv_has_no_header() {
        let mut errors = Vec::new();
        read_records(" \n\n", "p.csv", Format::Csv, &["a", "b"], &mut errors);
        assert_eq!(
            errors,
            [ProfileError::NoHeader {
                file: "p.csv".into(),
                expected: "a, b".into()
            }]
        );
    }
}
