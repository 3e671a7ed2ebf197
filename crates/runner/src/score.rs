//! Scorers: how a workflow's final answer compares with the gold answer.

use std::collections::HashMap;

use flowcompile_ir::Scorer;
use serde::Serialize;
use serde_json::Value;

use crate::parse::last_boxed;
use crate::tools::{run_tests, test_cases};

/// How good one answer is: a value in [0, 1] and whether it counts as correct.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct Score {
    /// 1 or 0 for match scorers, the F1 for `f1`, the fraction of tests passed for `tests`.
    pub value: f64,
    /// Whether the answer counts as correct (for `f1`: F1 > 0.5).
    pub correct: bool,
}

impl Score {
    fn binary(correct: bool) -> Score {
        Score {
            value: if correct { 1.0 } else { 0.0 },
            correct,
        }
    }
}

/// Scores `prediction` against `gold` with a text scorer; `None` for [`Scorer::Tests`], which runs
/// programs (see [`score`]).
pub fn score_text(scorer: Scorer, prediction: &str, gold: &str) -> Option<Score> {
    Some(match scorer {
        Scorer::ExactNumber => Score::binary(match (last_number(prediction), last_number(gold)) {
            (Some(a), Some(b)) => numbers_equal(a, b),
            _ => false,
        }),
        Scorer::MathEquiv => Score::binary(math_equiv(prediction, gold)),
        Scorer::F1 => {
            let value = f1(prediction, gold);
            Score {
                value,
                correct: value > 0.5,
            }
        }
        Scorer::ExactMatch => Score::binary(normalize_answer(prediction) == normalize_answer(gold)),
        _ => return None,
    })
}

/// Scores `prediction` against the item's `gold` value with any scorer: text scorers read the gold
/// as text (numbers printed), [`Scorer::Tests`] runs the program on the gold test cases (value =
/// fraction passed; unreadable tests score 0).
pub async fn score(scorer: Scorer, prediction: &str, gold: &Value) -> Score {
    let text = match gold {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    if let Some(s) = score_text(scorer, prediction, &text) {
        return s;
    }
    let Some(cases) = test_cases(gold) else {
        return Score::binary(false);
    };
    let report = run_tests(prediction, &cases).await;
    Score {
        value: if report.total == 0 {
            0.0
        } else {
            report.passed as f64 / report.total as f64
        },
        correct: report.all_passed(),
    }
}

/// The last number in `text` (commas between digits ignored, `3/4` read as 0.75).
pub fn last_number(text: &str) -> Option<f64> {
    last_number_str(text).and_then(|s| parse_number(&s))
}

/// The last number of `text` as written, commas between digits removed.
pub(crate) fn last_number_str(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut last = None;
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            || (chars[i] == '-' || chars[i] == '.')
                && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
        if !starts {
            i += 1;
            continue;
        }
        let mut s = String::new();
        s.push(chars[i]);
        i += 1;
        while i < chars.len() {
            let c = chars[i];
            let next_digit = chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
            if c.is_ascii_digit() || (c == '.' || c == '/') && next_digit {
                s.push(c);
            } else if c != ',' || !next_digit {
                break;
            }
            i += 1;
        }
        last = Some(s);
    }
    last
}

fn parse_number(s: &str) -> Option<f64> {
    if let Some((a, b)) = s.split_once('/') {
        let (a, b) = (a.parse::<f64>().ok()?, b.parse::<f64>().ok()?);
        return (b != 0.0).then(|| a / b);
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn numbers_equal(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// Replaces `\frac{a}{b}` (and `\dfrac`, `\tfrac`, `\frac12`) by `a/b`, parenthesised unless simple.
fn frac_to_slash(s: &str) -> String {
    let s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac");
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(pos) = rest.find("\\frac") {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 5..];
        let mut parts = Vec::new();
        for _ in 0..2 {
            if let Some(body) = rest.strip_prefix('{') {
                let mut depth = 1;
                let end = body.char_indices().find_map(|(i, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    (depth == 0).then_some(i)
                });
                let Some(end) = end else { break };
                parts.push(frac_to_slash(&body[..end]));
                rest = &body[end + 1..];
            } else if let Some(c) = rest.chars().next().filter(char::is_ascii_alphanumeric) {
                parts.push(c.to_string());
                rest = &rest[c.len_utf8()..];
            } else {
                break;
            }
        }
        if parts.len() == 2 {
            let wrap = |p: &str| {
                if p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
                    p.to_string()
                } else {
                    format!("({p})")
                }
            };
            out.push_str(&format!("{}/{}", wrap(&parts[0]), wrap(&parts[1])));
        } else {
            out.push_str("\\frac");
            for p in parts {
                out.push_str(&format!("{{{p}}}"));
            }
        }
    }
    out.push_str(rest);
    out
}

/// Normalises a math answer: boxed content, no spaces, `\left`/`\right`, `\!`, `$`, text wrappers,
/// degree and percent signs, fractions as `a/b`, trailing zeros of decimals.
pub fn normalize_math(answer: &str) -> String {
    let mut s = last_boxed(answer).unwrap_or(answer).to_string();
    for (from, to) in [
        ("\\left", ""),
        ("\\right", ""),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", ""),
        ("\\ ", ""),
        ("$", ""),
        ("^\\circ", ""),
        ("^{\\circ}", ""),
        ("\\%", ""),
        ("%", ""),
        ("\\text{", "{"),
        ("\\mbox{", "{"),
        ("\\mathrm{", "{"),
    ] {
        s = s.replace(from, to);
    }
    s.retain(|c| !c.is_whitespace());
    s = frac_to_slash(&s);
    // Braces left by text wrappers around a whole answer.
    while s.starts_with('{') && s.ends_with('}') && s.len() >= 2 {
        s = s[1..s.len() - 1].to_string();
    }
    if let Some(stripped) = s.strip_suffix('.') {
        s = stripped.to_string();
    }
    if s.contains('.')
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s
}

fn math_equiv(prediction: &str, gold: &str) -> bool {
    let (a, b) = (normalize_math(prediction), normalize_math(gold));
    if a == b {
        return true;
    }
    let numeric = |s: &str| {
        let s = s.replace(',', "").replace(['(', ')'], "");
        parse_number(&s)
    };
    match (numeric(&a), numeric(&b)) {
        (Some(x), Some(y)) => numbers_equal(x, y),
        _ => false,
    }
}

/// SQuAD answer normalisation: lowercase, no punctuation, no articles, single spaces.
pub fn normalize_answer(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    lower
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// SQuAD token F1 between the normalised prediction and gold.
pub fn f1(prediction: &str, gold: &str) -> f64 {
    let (p, g) = (normalize_answer(prediction), normalize_answer(gold));
    let (p, g): (Vec<&str>, Vec<&str>) = (p.split(' ').collect(), g.split(' ').collect());
    if p == [""] || g == [""] {
        return if p == g { 1.0 } else { 0.0 };
    }
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for t in &g {
        *counts.entry(t).or_default() += 1;
    }
    let mut common = 0i64;
    for t in &p {
        if let Some(c) = counts.get_mut(t) {
            if *c > 0 {
                *c -= 1;
                common += 1;
            }
        }
    }
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / p.len() as f64;
    let recall = common as f64 / g.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(scorer: Scorer, prediction: &str, gold: &str, correct: bool) {
        let s = score_text(scorer, prediction, gold).unwrap();
        assert_eq!(s.correct, correct, "{prediction:?} vs {gold:?}: {s:?}");
    }

    #[test]
    fn gsm8k_exact_number() {
        let gold = "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips.\n#### 72";
        check(
            Scorer::ExactNumber,
            "She sold \\boxed{72} clips.",
            gold,
            true,
        );
        check(Scorer::ExactNumber, "72.0", "72", true);
        check(Scorer::ExactNumber, "The total is $1,080.", "1080", true);
        check(Scorer::ExactNumber, "-5", "5", false);
        check(Scorer::ExactNumber, "no number", "72", false);
        check(Scorer::ExactNumber, "71", gold, false);
    }

    #[test]
    fn math_equivalence() {
        check(Scorer::MathEquiv, "\\frac{1}{2}", "1/2", true);
        check(Scorer::MathEquiv, "\\dfrac12", "0.5", true);
        check(
            Scorer::MathEquiv,
            "$\\left( 3, \\frac{\\pi}{2} \\right)$",
            "(3,\\frac{\\pi}{2})",
            true,
        );
        check(Scorer::MathEquiv, "18.0", "18", true);
        check(Scorer::MathEquiv, "\\boxed{10\\%}", "10", true);
        check(Scorer::MathEquiv, "90^\\circ", "90", true);
        check(Scorer::MathEquiv, "\\text{(C)}", "(C)", true);
        check(
            Scorer::MathEquiv,
            "\\frac{\\sqrt{3}}{2}",
            "\\frac{\\sqrt3}{2}",
            false,
        );
        check(Scorer::MathEquiv, "1,080", "1080", true);
        check(Scorer::MathEquiv, "\\frac{1}{3}", "0.33", false);
        check(Scorer::MathEquiv, "x^2+1", "x^2 + 1", true);
    }

    #[test]
    fn squad_f1_and_exact_match() {
        assert_eq!(f1("the Eiffel Tower", "Eiffel Tower"), 1.0);
        assert!((f1("Eiffel", "Eiffel Tower") - 2.0 / 3.0).abs() < 1e-12);
        check(Scorer::F1, "Eiffel", "Eiffel Tower", true);
        check(Scorer::F1, "a tower", "Eiffel Tower in Paris", false);
        check(Scorer::ExactMatch, "The Romance.", "romance", true);
        check(Scorer::ExactMatch, "romantic", "romance", false);
        assert!(score_text(Scorer::Tests, "x", "y").is_none());
    }

    #[tokio::test]
    async fn tests_scorer_runs_the_program() {
        let gold =
            serde_json::json!([{"input": "4\n", "output": "16"}, {"input": "3\n", "output": "9"}]);
        let good = score(Scorer::Tests, "n = int(input())\nprint(n * n)", &gold).await;
        assert_eq!(
            good,
            Score {
                value: 1.0,
                correct: true
            }
        );
        let half = score(Scorer::Tests, "print(16)", &gold).await;
        assert_eq!(
            half,
            Score {
                value: 0.5,
                correct: false
            }
        );
        let num = score(Scorer::ExactNumber, "72", &serde_json::json!(72)).await;
        assert!(num.correct);
    }

    #[test]
    fn last_number_reads_signs_decimals_and_fractions() {
        assert_eq!(last_number("from 3 to -4.5"), Some(-4.5));
        assert_eq!(last_number("3/4 of it"), Some(0.75));
        assert_eq!(last_number("version 2."), Some(2.0));
        assert_eq!(last_number("none"), None);
    }
}
