//! Dataset splits: JSONL files of labelled items, parsed by one reader for every pass.

use serde_json::Value;

use crate::error::PipelineError;

/// One problem with a dataset line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong and what was expected.
    pub why: String,
}

/// A JSONL split as read: its good items in file order and every bad line.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// The items: JSON objects with the gold answer and every required field.
    pub items: Vec<Value>,
    /// The lines that are not items, with why.
    pub bad: Vec<BadLine>,
    /// How many lines are objects without the gold answer field.
    pub without_label: usize,
}

/// Parses a JSONL split whose items must carry `answer_field` (the gold answer) and the workflow's
/// input `fields`: the one dataset reader of every pass. Blank lines are ignored; every other line
/// is an item or a [`BadLine`] saying what was expected. The caller decides what a bad line means:
/// [`read_split`] refuses the file, `eval` and `test` warn and run the rest.
pub fn parse_split(text: &str, answer_field: &str, fields: &[String]) -> Split {
    let mut split = Split {
        items: Vec::new(),
        bad: Vec::new(),
        without_label: 0,
    };
    // A byte-order mark (editors on Windows write one) is not part of the first item.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_no = i + 1;
        let why = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(map)) => {
                let mut missing: Vec<&str> = fields
                    .iter()
                    .map(String::as_str)
                    .filter(|f| !map.contains_key(*f))
                    .collect();
                let labelled = map.contains_key(answer_field);
                if !labelled {
                    split.without_label += 1;
                }
                if missing.is_empty() && labelled {
                    split.items.push(Value::Object(map));
                    continue;
                }
                if missing.is_empty() {
                    format!("no '{answer_field}' field (the gold answer)")
                } else {
                    if !labelled {
                        missing.push(answer_field);
                    }
                    let have: Vec<&str> = map.keys().map(String::as_str).collect();
                    format!(
                        "missing field(s) {} (the item has: {})",
                        missing.join(", "),
                        have.join(", ")
                    )
                }
            }
            Ok(_) => "expected a JSON object".into(),
            Err(e) => format!("not JSON: {e}"),
        };
        split.bad.push(BadLine { line: line_no, why });
    }
    split
}

/// Reads a JSONL split strictly ([`parse_split`], then refuses any bad line).
///
/// The compile pipeline measures against labels, so every problem is an error: all bad lines are
/// reported at once (up to the first 20 in the message), none is skipped silently. A file where no
/// item has the answer field gets its own message, since that is an unlabelled split.
pub fn read_split(
    text: &str,
    source: &str,
    answer_field: &str,
    fields: &[String],
) -> Result<Vec<Value>, PipelineError> {
    let split = parse_split(text, answer_field, fields);
    if split.without_label > 0 && split.items.is_empty() {
        return Err(PipelineError::Unlabelled {
            file: source.to_string(),
            answer_field: answer_field.to_string(),
        });
    }
    if !split.bad.is_empty() {
        return Err(PipelineError::BadData {
            file: source.to_string(),
            lines: split.bad,
        });
    }
    if split.items.is_empty() {
        return Err(PipelineError::EmptyData {
            file: source.to_string(),
        });
    }
    Ok(split.items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<String> {
        vec!["problem".into()]
    }

    #[test]
    fn good_items_are_read_and_blank_lines_ignored() {
        let text =
            "{\"problem\": \"1+1\", \"answer\": \"2\"}\n\n{\"problem\": \"2+2\", \"answer\": 4}\n";
        let items = read_split(text, "d.jsonl", "answer", &fields()).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1]["answer"], 4);
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let text =
            "{\"problem\": \"1+1\", \"answer\": \"2\"}\nnot json\n[1]\n{\"answer\": \"3\"}\n";
        let err = read_split(text, "d.jsonl", "answer", &fields()).unwrap_err();
        let PipelineError::BadData { lines, .. } = &err else {
            panic!("{err}")
        };
        let numbers: Vec<usize> = lines.iter().map(|l| l.line).collect();
        assert_eq!(numbers, [2, 3, 4]);
        let message = err.to_string();
        assert!(
            message.contains("d.jsonl:4: missing field(s) problem (the item has: answer)"),
            "{message}"
        );
        assert!(
            message.contains("d.jsonl:3: expected a JSON object"),
            "{message}"
        );
    }

    #[test]
    fn a_byte_order_mark_and_crlf_are_not_part_of_the_items() {
        let text = "\u{feff}{\"problem\": \"1+1\", \"answer\": \"2\"}\r\n\r\n{\"problem\": \"2\", \"answer\": 4}\r\n";
        let items = read_split(text, "d.jsonl", "answer", &fields()).unwrap();
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn a_split_without_labels_is_named_as_such() {
        let text = "{\"problem\": \"1+1\"}\n{\"problem\": \"2+2\"}\n";
        let err = read_split(text, "test.jsonl", "answer", &fields()).unwrap_err();
        assert!(matches!(err, PipelineError::Unlabelled { .. }));
        assert!(
            err.to_string()
                .contains("no item has the gold answer field `answer`"),
            "{err}"
        );
        let err = read_split("\n", "e.jsonl", "answer", &fields()).unwrap_err();
        assert!(matches!(err, PipelineError::EmptyData { .. }), "{err}");
    }
}
