//! Answers: normalised comparison keys, word counts, extraction from text, popular wrong answers.

use crate::hash::{combine, mix};

const NUM_TAG: u64 = 0x6e75_6d62_6572;
const TEXT_TAG: u64 = 0x7465_7874;

/// The comparison key of an answer: equal keys mean the zoo treats two answers as the same.
///
/// Surrounding `$`, trailing periods, case and whitespace are ignored, and numbers compare by value
/// (`1,000` = `1000.0`). No allocation: this runs on the in-process hot path.
pub(crate) fn answer_key(s: &str) -> u64 {
    let t = trim_answer(s);
    if let Some(v) = parse_number(t) {
        return combine(NUM_TAG, (v + 0.0).to_bits());
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in t.chars().filter(|c| !c.is_whitespace()) {
        for lc in c.to_lowercase() {
            h = (h ^ lc as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    mix(h ^ TEXT_TAG)
}

fn trim_answer(s: &str) -> &str {
    let mut t = s.trim();
    loop {
        let next = t
            .trim_start_matches("\\$")
            .trim_matches('$')
            .trim_end_matches('.')
            .trim();
        if next.len() == t.len() {
            return t;
        }
        t = next;
    }
}

/// Parses a plain number with optional sign, decimals and thousands separators.
fn parse_number(t: &str) -> Option<f64> {
    let bytes = t.as_bytes();
    if bytes.is_empty() || bytes.len() > 40 {
        return None;
    }
    let mut buf = [0u8; 40];
    let mut n = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' | b'.' | b'-' | b'+' => {
                buf[n] = b;
                n += 1;
            }
            b',' => {
                let group = &bytes[i + 1..];
                let digits = group.iter().take_while(|c| c.is_ascii_digit()).count();
                let next = group.get(3).copied();
                if digits != 3 || !matches!(next, None | Some(b',') | Some(b'.')) {
                    return None;
                }
            }
            _ => return None,
        }
    }
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Number of tokens (whitespace-separated words) in a text.
pub(crate) fn word_count(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Byte offset just past the `n`-th word of `s` (the whole length when `s` has fewer words).
pub(crate) fn end_of_word(s: &str, n: u64) -> usize {
    if n == 0 {
        return 0;
    }
    let mut seen = 0;
    let mut in_word = false;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if in_word {
                seen += 1;
                if seen == n {
                    return i;
                }
            }
            in_word = false;
        } else {
            in_word = true;
        }
    }
    s.len()
}

/// Every `\boxed{...}` and `<answer>...</answer>` in `text`, in order, as (start byte, inner text);
/// empty ones are left out.
pub(crate) fn candidates(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let boxed = text[pos..].find("\\boxed{").map(|i| i + pos);
        let tag = text[pos..].find("<answer>").map(|i| i + pos);
        let (start, next) = match (boxed, tag) {
            (Some(b), Some(t)) if b < t => (b, boxed_inner(text, b)),
            (Some(b), None) => (b, boxed_inner(text, b)),
            (_, Some(t)) => (t, tag_inner(text, t, "<answer>", "</answer>")),
            (None, None) => break,
        };
        match next {
            Some((inner, end)) => {
                if !inner.trim().is_empty() {
                    out.push((start, inner.trim()));
                }
                pos = end;
            }
            None => pos = start + 1,
        }
    }
    out
}

/// The text inside `\boxed{...}` starting at `start` (balanced braces), and the byte just past it.
fn boxed_inner(text: &str, start: usize) -> Option<(&str, usize)> {
    let open = start + "\\boxed{".len();
    let mut depth = 1usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((&text[open..open + i], open + i + 1));
                }
            }
            _ => {}
        }
    }
    None
}

/// The text between `open` (at `start`) and the next `close`, and the byte just past `close`.
pub(crate) fn tag_inner<'t>(
    text: &'t str,
    start: usize,
    open: &str,
    close: &str,
) -> Option<(&'t str, usize)> {
    let from = start + open.len();
    let len = text[from..].find(close)?;
    Some((&text[from..from + len], from + len + close.len()))
}

/// The final answer of a reply text: the last candidate after `</think>` (or anywhere without one).
pub(crate) fn final_answer(reply: &str) -> Option<&str> {
    let body = match reply.rfind("</think>") {
        Some(i) => &reply[i..],
        None => reply,
    };
    candidates(body).last().map(|&(_, a)| a)
}

/// The verdict of a judge reply text, `correct` or `incorrect`.
pub(crate) fn final_verdict(reply: &str) -> Option<&str> {
    let start = reply.rfind("<verdict>")?;
    tag_inner(reply, start, "<verdict>", "</verdict>").map(|(v, _)| v.trim())
}

/// `n` task-specific wrong answers, distinct from `gold` and from each other under [`answer_key`],
/// the most popular first. Numbers get near misses, yes/no questions the opposite, questions with a
/// context (HotpotQA) other entities of the context, anything else variations of the gold text.
pub(crate) fn wrong_answers(gold: &str, titles: &[String], n: usize, key: u64) -> Vec<String> {
    let mut pool: Vec<String> = Vec::new();
    let gold_t = trim_answer(gold);
    let yes_no = matches!(gold_t.to_ascii_lowercase().as_str(), "yes" | "no");
    if let Some(v) = parse_number(gold_t) {
        let step = 2.0 + (combine(key, 1) % 8) as f64;
        let mut xs = vec![
            v + 1.0,
            v - 1.0,
            2.0 * v,
            v + step,
            v / 2.0,
            v - step,
            10.0 * v,
            v + 10.0,
        ];
        if v >= 0.0 {
            xs.retain(|&x| x >= 0.0);
        }
        let integer = v.fract() == 0.0;
        pool.extend(
            xs.into_iter()
                .filter(|x| !integer || x.fract() == 0.0)
                .map(format_number),
        );
    } else if yes_no {
        let other = if gold_t.eq_ignore_ascii_case("yes") {
            "no"
        } else {
            "yes"
        };
        pool.extend([
            other.to_owned(),
            "not stated".to_owned(),
            "unclear".to_owned(),
        ]);
    } else if !titles.is_empty() {
        pool.extend(titles.iter().cloned());
    } else if gold_t.contains(['\\', '^', '{', '(', '=', '+', '/'])
        || gold_t.chars().any(|c| c.is_ascii_digit())
    {
        pool.extend([
            format!("-{gold_t}"),
            format!("2{gold_t}"),
            format!("{gold_t}+1"),
            format!("\\frac{{{gold_t}}}{{2}}"),
        ]);
    } else {
        pool.extend([
            format!("not {gold_t}"),
            format!("{gold_t} (disputed)"),
            format!("the other {gold_t}"),
        ]);
    }
    // A seeded order, so that which near miss is most popular differs from task to task; the opposite
    // of yes/no stays the most popular.
    let mut ranked: Vec<(u64, String)> = pool
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            (
                if yes_no {
                    i as u64
                } else {
                    combine(key, 100 + i as u64)
                },
                s,
            )
        })
        .collect();
    ranked.sort_by_key(|&(r, _)| r);
    let mut keys = vec![answer_key(gold)];
    let mut out = Vec::with_capacity(n);
    let mut extra = 2u64;
    let mut push = |s: String, out: &mut Vec<String>| {
        let k = answer_key(&s);
        if !s.trim().is_empty() && !keys.contains(&k) {
            keys.push(k);
            out.push(s);
        }
    };
    for (_, s) in ranked {
        if out.len() == n {
            break;
        }
        push(s, &mut out);
    }
    while out.len() < n {
        push(format!("{gold_t} ({extra})"), &mut out);
        extra += 1;
    }
    out
}

/// A number as a short decimal string (integers without a fractional part).
pub(crate) fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let s = format!("{x:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn same(a: &str, b: &str) {
        assert_eq!(answer_key(a), answer_key(b), "{a:?} vs {b:?}");
    }

    #[track_caller]
    fn differ(a: &str, b: &str) {
        assert_ne!(answer_key(a), answer_key(b), "{a:?} vs {b:?}");
    }

    #[test]
    fn keys_ignore_formatting_but_not_content() {
        same("36", " 36 ");
        same("36", "36.0");
        same("$36", "36.");
        same("\\$1,000", "1000");
        same("-0", "0");
        same("Arthur's Magazine", "arthur's  magazine");
        same("\\frac{1}{2}", "\\frac{1}{2}");
        differ("36", "37");
        differ("1,2", "12");
        differ("yes", "no");
        differ("\\frac{1}{2}", "0.5");
    }

    #[test]
    fn word_cutting_finds_word_ends() {
        let s = "<think>\na b\n</think>\n\nx";
        assert_eq!(word_count(s), 5);
        assert_eq!(&s[..end_of_word(s, 2)], "<think>\na");
        assert_eq!(end_of_word(s, 5), s.len());
        assert_eq!(end_of_word(s, 9), s.len());
        assert_eq!(end_of_word(s, 0), 0);
    }

    #[test]
    fn candidates_are_found_in_order_with_nested_braces() {
        let text = "a \\boxed{\\frac{1}{2}} b <answer> 7 </answer> \\boxed{} c \\boxed{x";
        let found: Vec<&str> = candidates(text).into_iter().map(|(_, a)| a).collect();
        assert_eq!(found, ["\\frac{1}{2}", "7"]);
        assert_eq!(
            final_answer("<think>\n\\boxed{1}\n</think>\n\nso \\boxed{2}."),
            Some("2")
        );
        assert_eq!(final_answer("no answer here"), None);
        assert_eq!(
            final_verdict("ok <verdict>correct</verdict>"),
            Some("correct")
        );
    }

    #[test]
    fn wrong_answers_are_distinct_plausible_and_seeded() {
        let w = wrong_answers("36", &[], 3, 1);
        assert_eq!(w.len(), 3);
        assert!(
            w.iter()
                .all(|a| parse_number(a).is_some_and(|v| v >= 0.0 && v != 36.0)),
            "{w:?}"
        );
        assert_eq!(w, wrong_answers("36", &[], 3, 1));
        let many: std::collections::BTreeSet<Vec<String>> =
            (0..20).map(|k| wrong_answers("36", &[], 3, k)).collect();
        assert!(
            many.len() > 5,
            "the most popular wrong answer varies by task"
        );

        let titles = vec![
            "Romeo and Juliet".to_owned(),
            "Romance".to_owned(),
            "Corinne Jorry".to_owned(),
        ];
        let w = wrong_answers("romance", &titles, 3, 4);
        assert!(
            !w.iter().any(|a| answer_key(a) == answer_key("romance")),
            "{w:?}"
        );
        assert_eq!(w.len(), 3, "falls back to variations when titles run out");

        assert_eq!(wrong_answers("Yes", &[], 1, 0), ["no"]);
        let w = wrong_answers("\\sqrt{51}", &[], 4, 0);
        assert_eq!(w.len(), 4);
        let w = wrong_answers("0.5", &[], 3, 0);
        assert!(w.iter().all(|a| a.parse::<f64>().is_ok()), "{w:?}");
        let w = wrong_answers("0", &[], 5, 9);
        assert_eq!(w.len(), 5);
    }

    #[test]
    fn numbers_format_shortly() {
        assert_eq!(format_number(72.0), "72");
        assert_eq!(format_number(-3.0), "-3");
        assert_eq!(format_number(0.1 + 0.2), "0.3");
    }
}
