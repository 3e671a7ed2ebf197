//! Task sets: benchmark items (question, gold answer, optional level and context) read from JSONL text.

use flowcompile_ir::json::kind_of;
use serde_json::Value;

/// One benchmark item the zoo can recognise and grade.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The item's id: its `_id`, `unique_id` or `id` field, else `FILE:LINE`.
    pub id: String,
    /// The question (`question` or `problem` field).
    pub question: String,
    /// The gold answer (`answer` field; numbers are kept as their JSON text).
    pub answer: String,
    /// Difficulty level 1..=5 (`level`: a number, `"Level N"`, or HotpotQA's easy/medium/hard as 2/3/4).
    pub level: Option<u8>,
    /// HotpotQA-style context: (title, sentences) pairs.
    pub context: Vec<(String, Vec<String>)>,
}

/// The tasks of one JSONL file, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSet {
    /// The file name the tasks came from (chooses the `[datasets]` entry of the config).
    pub name: String,
    /// The tasks.
    pub tasks: Vec<Task>,
}

/// A task line that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
#[non_exhaustive]
pub struct TaskError {
    /// The task file.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What was expected and what was found.
    pub message: String,
}

impl TaskSet {
    /// Parses JSONL text: one JSON object per line, blank lines allowed. Every malformed line is an
    /// error naming `name`, the line number and what was expected; nothing is skipped silently.
    pub fn from_jsonl(name: &str, text: &str) -> Result<TaskSet, TaskError> {
        let mut tasks = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let err = |message: String| TaskError {
                file: name.to_owned(),
                line: i + 1,
                message,
            };
            let value: Value = serde_json::from_str(line)
                .map_err(|e| err(format!("expected a JSON object: {e}")))?;
            tasks.push(parse_task(&value, &format!("{name}:{}", i + 1)).map_err(err)?);
        }
        Ok(TaskSet {
            name: name.to_owned(),
            tasks,
        })
    }
}

fn parse_task(value: &Value, fallback_id: &str) -> Result<Task, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("expected a JSON object, found {}", kind_of(value)))?;
    let question = match obj.get("question").or_else(|| obj.get("problem")) {
        Some(Value::String(s))
            if s.split(|c: char| !c.is_alphanumeric())
                .any(|w| !w.is_empty()) =>
        {
            s.clone()
        }
        Some(Value::String(_)) => return Err("field `question`/`problem` has no words".into()),
        Some(other) => {
            return Err(format!(
                "expected field `question` or `problem` to be a string, found {}",
                kind_of(other)
            ))
        }
        None => return Err("expected a string field `question` or `problem`".into()),
    };
    let answer = match obj.get("answer") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(_)) => return Err("field `answer` is empty".into()),
        Some(other) => {
            return Err(format!(
                "expected field `answer` to be a string or number, found {}",
                kind_of(other)
            ))
        }
        None => return Err("expected a string field `answer`".into()),
    };
    let level = match obj.get("level") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_level(v)?),
    };
    let context = match obj.get("context") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => parse_context(v)?,
    };
    let id = ["_id", "unique_id", "id"]
        .iter()
        .find_map(|k| match obj.get(*k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| fallback_id.to_owned());
    Ok(Task {
        id,
        question,
        answer,
        level,
        context,
    })
}

fn parse_level(v: &Value) -> Result<u8, String> {
    let expected = "expected field `level` to be 1..=5, \"Level N\", easy, medium or hard";
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "easy" => Some(2),
            "medium" => Some(3),
            "hard" => Some(4),
            other => other
                .strip_prefix("level")
                .unwrap_or(other)
                .trim()
                .parse::<u64>()
                .ok(),
        },
        _ => None,
    };
    match n {
        Some(n @ 1..=5) => Ok(n as u8),
        _ => Err(format!("{expected}, found {v}")),
    }
}

fn parse_context(v: &Value) -> Result<Vec<(String, Vec<String>)>, String> {
    let expected = "expected field `context` to be a list of [title, [sentences...]] pairs";
    let items = v
        .as_array()
        .ok_or_else(|| format!("{expected}, found {}", kind_of(v)))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let pair = item.as_array().filter(|p| p.len() == 2);
            let (title, sentences) = match pair {
                Some(p) => (p[0].as_str(), p[1].as_array()),
                None => (None, None),
            };
            let sentences: Option<Vec<String>> =
                sentences.and_then(|s| s.iter().map(|x| x.as_str().map(str::to_owned)).collect());
            match (title, sentences) {
                (Some(t), Some(s)) => Ok((t.to_owned(), s)),
                _ => Err(format!("{expected}; item {i} is {item}")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_err(text: &str, want: &str) {
        let err = TaskSet::from_jsonl("t.jsonl", text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "`{err}` should contain `{want}`");
    }

    #[test]
    fn reads_gsm8k_math_and_hotpotqa_shapes() {
        let text = concat!(
            r#"{"problem": "What is 2+2?", "answer": "4", "level": 3, "unique_id": "g-1"}"#,
            "\n\n",
            r#"{"problem": "Find x.", "answer": 7, "level": "Level 5"}"#,
            "\n",
            r#"{"_id": "h1", "question": "Who?", "answer": "Ann", "level": "hard", "context": [["Ann", ["Ann is.", " She was."]], ["Bob", []]]}"#,
            "\n",
        );
        let set = TaskSet::from_jsonl("data/x.jsonl", text).unwrap();
        assert_eq!(set.tasks.len(), 3);
        assert_eq!(set.tasks[0].id, "g-1");
        assert_eq!(set.tasks[1].answer, "7");
        assert_eq!(set.tasks[1].id, "data/x.jsonl:3");
        assert_eq!(set.tasks[1].level, Some(5));
        assert_eq!(set.tasks[2].level, Some(4));
        assert_eq!(set.tasks[2].context[0].1.len(), 2);
        assert_eq!(set.tasks[2].context[1].0, "Bob");
    }

    #[test]
    fn malformed_lines_name_line_and_expectation() {
        check_err(
            "{\"answer\": \"1\"}",
            "t.jsonl:1: expected a string field `question` or `problem`",
        );
        check_err(
            "\n{\"question\": \"q\"}",
            "t.jsonl:2: expected a string field `answer`",
        );
        check_err(
            "{\"question\": \"q\", \"answer\": \"a\"}\nnot json",
            "t.jsonl:2: expected a JSON object",
        );
        check_err("[1]", "t.jsonl:1: expected a JSON object, found an array");
        check_err("{\"question\": 5, \"answer\": \"a\"}", "found a number");
        check_err("{\"question\": \"??\", \"answer\": \"a\"}", "has no words");
        check_err(
            "{\"question\": \"q\", \"answer\": \" \"}",
            "field `answer` is empty",
        );
        check_err(
            "{\"question\": \"q\", \"answer\": [1]}",
            "string or number, found an array",
        );
        check_err(
            "{\"question\": \"q\", \"answer\": \"a\", \"level\": 9}",
            "expected field `level` to be 1..=5",
        );
        check_err(
            "{\"question\": \"q\", \"answer\": \"a\", \"level\": \"tough\"}",
            "found \"tough\"",
        );
        check_err(
            "{\"question\": \"q\", \"answer\": \"a\", \"context\": [[\"t\", \"s\"]]}",
            "item 0",
        );
        check_err(
            "{\"question\": \"q\", \"answer\": \"a\", \"context\": {}}",
            "found an object",
        );
    }

    #[test]
    fn shared_data_files_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/");
        for (file, n) in [
            ("gsm8k_validate.jsonl", 264),
            ("math500_validate.jsonl", 98),
            ("hotpotqa_validate.jsonl", 200),
        ] {
            let text = std::fs::read_to_string(format!("{dir}{file}")).unwrap();
            let set = TaskSet::from_jsonl(file, &text).unwrap();
            assert_eq!(set.tasks.len(), n, "{file}");
            assert!(set.tasks.iter().all(|t| t.level.is_some()), "{file}");
        }
    }
}
