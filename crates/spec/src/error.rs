//! Located diagnostics for workflow files.

use std::fmt;
use std::ops::Range;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

/// One problem in a workflow file, at a byte span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecError {
    /// What is wrong, lowercase, no final period.
    pub message: String,
    /// Byte range of the offending text.
    pub span: Range<usize>,
    /// What to do about it, when there is something useful to say.
    pub help: Option<String>,
}

impl SpecError {
    /// An error at `span`.
    pub fn new(message: impl Into<String>, span: Range<usize>) -> SpecError {
        SpecError {
            message: message.into(),
            span,
            help: None,
        }
    }

    /// A TOML syntax or type error as the parser reported it.
    pub fn syntax(message: &str, span: Range<usize>) -> SpecError {
        SpecError::new(message.trim().trim_end_matches('.').to_string(), span)
    }

    /// Adds advice.
    pub fn with_help(mut self, help: impl Into<String>) -> SpecError {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SpecError {}

impl Diagnostic for SpecError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = LabeledSpan::at(self.span.clone(), "here");
        Some(Box::new(std::iter::once(span)))
    }
}

/// Every problem found in one workflow file, with its source for rendering.
#[derive(Debug)]
pub struct SpecErrors {
    path: String,
    src: Box<NamedSource<String>>,
    line_starts: Vec<usize>,
    /// The problems, in file order.
    pub errors: Vec<SpecError>,
}

impl SpecErrors {
    /// Collects `errors` found in `text`, the contents of `path`; sorts them by position.
    pub fn new(path: &str, text: &str, mut errors: Vec<SpecError>) -> SpecErrors {
        errors.sort_by_key(|e| e.span.start);
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SpecErrors {
            path: path.to_string(),
            src: Box::new(NamedSource::new(path, text.to_string())),
            line_starts,
            errors,
        }
    }

    /// 1-based (line, column) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let col = offset - self.line_starts[line - 1] + 1;
        (line, col)
    }

    /// Plain one-line-per-error rendering: `path:line:col: message`.
    pub fn plain(&self) -> String {
        self.errors
            .iter()
            .map(|e| {
                let (line, col) = self.line_col(e.span.start);
                match &e.help {
                    Some(help) => format!("{}:{line}:{col}: {} ({help})", self.path, e.message),
                    None => format!("{}:{line}:{col}: {}", self.path, e.message),
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{}: {n} error{} in workflow file",
            self.path,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for SpecErrors {}

impl Diagnostic for SpecErrors {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self.src.as_ref())
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.errors.iter().map(|e| e as &dyn Diagnostic)))
    }
}
