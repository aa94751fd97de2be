//! Findings about a manifest, each pointing at a line and column of it.
//!
//! The form is the one compilers use (`file:line:column: error: ...`) so that
//! editors and terminals can jump to the spot. Positions are computed from
//! the byte spans `toml_edit` keeps for every key and value.

use std::fmt;
use std::ops::Range;

/// How bad a finding is. Ordered: `Warning < Error`, so the worst of a list
/// is its `max()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The node still boots, but probably not as intended.
    Warning,
    /// The manifest cannot be used as written.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding: `rusm.toml:2:1: error: unknown key ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Whether the manifest is still usable.
    pub severity: Severity,
    /// The manifest path as it was given to `load` or `check`.
    pub file: String,
    /// 1-based; 0 when the finding is about the whole file (it cannot be
    /// read), and then `Display` leaves the position out.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// What is wrong, for the person editing the manifest.
    pub message: String,
}

impl Diagnostic {
    /// Whether this finding makes the manifest unusable.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}: {}", self.file, self.severity, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.file, self.line, self.column, self.severity, self.message
            )
        }
    }
}

impl std::error::Error for Diagnostic {}

/// A 1-based line and column; `(0, 0)` stands for the whole file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Diagnostic {
    pub(crate) fn at(severity: Severity, file: &str, pos: Pos, message: String) -> Self {
        Diagnostic {
            severity,
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            message,
        }
    }
}

/// Turns byte offsets into 1-based line and column, and collects findings.
pub(crate) struct Findings<'a> {
    file: String,
    text: &'a str,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
    pub(crate) list: Vec<Diagnostic>,
}

impl<'a> Findings<'a> {
    pub(crate) fn new(file: String, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Findings {
            file,
            text,
            line_starts,
            list: Vec::new(),
        }
    }

    /// Where a span starts; without a span (which the parser always gives,
    /// so this is defensive) the whole file.
    pub(crate) fn position_of(&self, span: Option<Range<usize>>) -> Pos {
        match span {
            Some(span) => {
                let (line, column) = self.position(span.start);
                Pos { line, column }
            }
            None => Pos::default(),
        }
    }

    /// Line and column of a byte offset; an offset past the end (a parse
    /// error at end of file) is clamped to the end.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let column = self.text[self.line_starts[line]..offset].chars().count();
        (line + 1, column + 1)
    }

    /// Records a finding at the start of `span`.
    pub(crate) fn push(&mut self, severity: Severity, span: Option<Range<usize>>, message: String) {
        let pos = self.position_of(span);
        self.list
            .push(Diagnostic::at(severity, &self.file, pos, message));
    }

    /// Records an error about the file as a whole.
    pub(crate) fn push_whole_file(&mut self, message: String) {
        self.list.push(Diagnostic::at(
            Severity::Error,
            &self.file,
            Pos::default(),
            message,
        ));
    }

    pub(crate) fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.push(Severity::Error, span, message.into());
    }

    pub(crate) fn warning(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        self.push(Severity::Warning, span, message.into());
    }
}

/// Document order, so that a reader fixes them top to bottom.
pub(crate) fn sort(list: &mut [Diagnostic]) {
    list.sort_by_key(|d| (d.line, d.column));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let f = Findings::new("f".into(), "ab\nçd = 1\n");
        assert_eq!(f.position(0), (1, 1));
        assert_eq!(f.position(2), (1, 3));
        assert_eq!(f.position(3), (2, 1));
        assert_eq!(f.position(5), (2, 2), "ç is two bytes, one column");
        assert_eq!(f.position(100), (3, 1));
    }

    #[test]
    fn display_has_the_compiler_form() {
        let d = Diagnostic {
            severity: Severity::Warning,
            file: "app/rusm.toml".into(),
            line: 9,
            column: 13,
            message: "unknown profile `admn`: the component runs as `sandboxed`".into(),
        };
        assert_eq!(
            d.to_string(),
            "app/rusm.toml:9:13: warning: unknown profile `admn`: the component runs as `sandboxed`"
        );
        let whole = Diagnostic {
            line: 0,
            column: 0,
            ..d
        };
        assert!(whole.to_string().starts_with("app/rusm.toml: warning: "));
        assert!(Severity::Warning < Severity::Error);
    }
}
