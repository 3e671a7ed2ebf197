//! Incremental parser of server-sent events (`text/event-stream`), as OpenAI-compatible servers stream.

/// Collects bytes as they arrive and yields the `data` of each complete event.
///
/// Lines end with `\n` or `\r\n`; `data:` lines of one event are joined with `\n`; comments (`:`) and
/// other fields (`event:`, `id:`, `retry:`) are skipped.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// Feeds a chunk of the body; returns the data of every event it completes.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        for &byte in chunk {
            if byte == b'\n' {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if let Some(event) = self.line_done(&String::from_utf8_lossy(&line)) {
                    events.push(event);
                }
            } else {
                self.line.push(byte);
            }
        }
        events
    }

    /// Ends the stream: returns the data of an event the body left unterminated.
    pub(crate) fn finish(&mut self) -> Option<String> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Some(event) = self.line_done(line.trim_end_matches('\r')) {
                return Some(event);
            }
        }
        self.line_done("")
    }

    fn line_done(&mut self, line: &str) -> Option<String> {
        if line.is_empty() {
            if !self.has_data {
                return None;
            }
            self.has_data = false;
            let mut data = std::mem::take(&mut self.data);
            data.pop();
            return Some(data);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            self.data.push_str(value);
            self.data.push('\n');
            self.has_data = true;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(chunks: &[&str], expected: &[&str]) {
        let mut parser = SseParser::default();
        let mut events: Vec<String> = chunks
            .iter()
            .flat_map(|c| parser.push(c.as_bytes()))
            .collect();
        events.extend(parser.finish());
        assert_eq!(events, expected);
    }

    #[test]
    fn events_split_anywhere() {
        let body = "data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\ndata: [DONE]\n\n";
        check(&[body], &["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
        let bytes: Vec<String> = body.chars().map(String::from).collect();
        let refs: Vec<&str> = bytes.iter().map(String::as_str).collect();
        check(&refs, &["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
    }

    #[test]
    fn comments_fields_and_multiline_data() {
        check(
            &[": keep-alive\n\nevent: message\nid: 7\ndata: line one\ndata:line two\nretry: 5\n\n"],
            &["line one\nline two"],
        );
    }

    #[test]
    fn unterminated_last_event_is_flushed() {
        check(&["data: x\n\ndata: [DONE]"], &["x", "[DONE]"]);
        check(&["data: y\n"], &["y"]);
        check(&["\n\n"], &[]);
    }

    #[test]
    fn multibyte_characters_split_across_chunks() {
        let body = "data: é€\n\n".as_bytes();
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for b in body {
            events.extend(parser.push(std::slice::from_ref(b)));
        }
        assert_eq!(events, ["é€"]);
    }
}
