//! Output parsers: turn an agent's reply into its output value.

use flowcompile_ir::OutputParser;

/// The content of the last complete `\boxed{...}` in `text` (nested braces allowed).
pub fn last_boxed(text: &str) -> Option<&str> {
    let mut found = None;
    let mut from = 0;
    while let Some(pos) = text[from..].find("\\boxed{") {
        let start = from + pos + "\\boxed{".len();
        let mut depth = 1usize;
        let mut end = None;
        for (i, c) in text[start..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(start + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        if let Some(end) = end {
            found = Some(text[start..end].trim());
        }
        from = start;
    }
    found
}

/// The text inside the last `<tag>...</tag>` of `text`.
pub fn last_tag<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut found = None;
    let mut from = 0;
    while let Some(pos) = text[from..].find(&open) {
        let start = from + pos + open.len();
        if let Some(len) = text[start..].find(&close) {
            found = Some(text[start..start + len].trim());
        }
        from = start;
    }
    found
}

/// The body of the last fenced code block of `text` in language `lang` (case-insensitive), else of
/// the last fenced block of any language.
pub fn last_code_block<'a>(text: &'a str, lang: Option<&str>) -> Option<&'a str> {
    let mut blocks: Vec<(&str, &str)> = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find("```") {
        let after = &rest[pos + 3..];
        let Some(nl) = after.find('\n') else { break };
        let info = after[..nl].trim();
        let body_start = &after[nl + 1..];
        let Some(close) = body_start.find("```") else {
            break;
        };
        blocks.push((info, body_start[..close].trim_end()));
        rest = &body_start[close + 3..];
    }
    let matching = lang.and_then(|l| {
        blocks
            .iter()
            .rev()
            .find(|(info, _)| info.eq_ignore_ascii_case(l))
    });
    matching.or(blocks.last()).map(|(_, body)| *body)
}

/// Applies `parser` to `reply`: `Ok(value)`, or `Err(reply trimmed)` when the reply lacks the
/// expected form (the caller records the failure and goes on with the raw text).
pub fn parse_output(parser: &OutputParser, reply: &str) -> Result<String, String> {
    let parsed = match parser {
        OutputParser::Raw => Some(reply.trim()),
        OutputParser::Boxed => last_boxed(reply),
        OutputParser::Tag(name) => last_tag(reply, name),
        OutputParser::CodeBlock(lang) => last_code_block(reply, lang.as_deref()),
        _ => Some(reply.trim()),
    };
    parsed
        .map(str::to_string)
        .ok_or_else(|| reply.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(parser: OutputParser, reply: &str, want: Result<&str, &str>) {
        let got = parse_output(&parser, reply);
        assert_eq!(got.as_deref().map_err(String::as_str), want);
    }

    #[test]
    fn boxed_takes_the_last_with_nested_braces() {
        check(
            OutputParser::Boxed,
            "first \\boxed{1} then \\boxed{\\frac{1}{2}}.",
            Ok("\\frac{1}{2}"),
        );
        check(
            OutputParser::Boxed,
            "  no answer here ",
            Err("no answer here"),
        );
        check(
            OutputParser::Boxed,
            "\\boxed{3} and \\boxed{unclosed",
            Ok("3"),
        );
    }

    #[test]
    fn tag_takes_the_last_complete_pair() {
        check(
            OutputParser::Tag("answer".into()),
            "<answer>a</answer> <answer> Paris </answer>",
            Ok("Paris"),
        );
        check(
            OutputParser::Tag("answer".into()),
            "<answer>open",
            Err("<answer>open"),
        );
    }

    #[test]
    fn code_block_prefers_the_language_then_any() {
        let reply = "```python\nprint(1)\n```\ntext\n```\nprint(2)\n```";
        check(
            OutputParser::CodeBlock(Some("python".into())),
            reply,
            Ok("print(1)"),
        );
        check(OutputParser::CodeBlock(None), reply, Ok("print(2)"));
        check(
            OutputParser::CodeBlock(Some("rust".into())),
            reply,
            Ok("print(2)"),
        );
        check(
            OutputParser::CodeBlock(None),
            "```python\nunclosed",
            Err("```python\nunclosed"),
        );
    }

    #[test]
    fn raw_trims() {
        check(OutputParser::Raw, "\n 42 \n", Ok("42"));
    }
}
