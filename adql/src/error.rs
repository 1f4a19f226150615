//! ADQL errors: a classified kind, a precise lowercase message and an optional source span.

use std::fmt;

/// A position in the ADQL text: 1-based line and column (in characters), and the number of
/// characters to underline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number in characters, starting at 1.
    pub column: usize,
    /// Number of characters the caret frame underlines (at least 1).
    pub width: usize,
}

impl Span {
    /// A span of `width` characters starting at `line`, `column`.
    pub fn new(line: usize, column: usize, width: usize) -> Self {
        Self {
            line: line.max(1),
            column: column.max(1),
            width: width.max(1),
        }
    }

    /// Converts a sqlparser span; `None` for the empty span sqlparser uses for "unknown".
    pub(crate) fn from_sql(span: datafusion::sql::sqlparser::tokenizer::Span) -> Option<Self> {
        let (start, end) = (span.start, span.end);
        if start.line == 0 || start.column == 0 {
            return None;
        }
        let width = if end.line == start.line && end.column > start.column {
            (end.column - start.column) as usize
        } else {
            1
        };
        Some(Self::new(start.line as usize, start.column as usize, width))
    }

    /// Converts a DataFusion diagnostic span.
    pub(crate) fn from_df(span: &datafusion::common::Span) -> Option<Self> {
        let (start, end) = (span.start, span.end);
        if start.line == 0 || start.column == 0 {
            return None;
        }
        let width = if end.line == start.line && end.column > start.column {
            (end.column - start.column) as usize
        } else {
            1
        };
        Some(Self::new(start.line as usize, start.column as usize, width))
    }
}

/// What went wrong. Every variant is either a *user* error (the query is wrong or uses
/// something this service does not offer) or an *internal* error (a bug in Parallax).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not syntactically valid ADQL.
    #[error("syntax error: {message}")]
    Syntax {
        /// What the parser expected and found.
        message: String,
    },
    /// The text is valid SQL but not a single ADQL `SELECT` query.
    #[error("{message}")]
    NotAQuery {
        /// Which statement was found instead.
        message: String,
    },
    /// SQL syntax that ADQL 2.1 does not have (bitwise operators, `LIMIT`, `::` ...).
    #[error("{construct} is not part of adql 2.1{}", help_suffix(.help))]
    NotAdql {
        /// The offending construct, as the user wrote it.
        construct: String,
        /// How to express it in ADQL, if there is a way.
        help: Option<String>,
    },
    /// ADQL that this service does not (yet) implement.
    #[error("{feature} is not yet supported{}", help_suffix(.help))]
    Unsupported {
        /// The feature, e.g. `geometry function 'contains'`.
        feature: String,
        /// A hint on what to do instead.
        help: Option<String>,
    },
    /// A column that is not in scope.
    #[error("unknown column '{name}'{}", suggestion_suffix(.suggestion))]
    UnknownColumn {
        /// The column name as written.
        name: String,
        /// The nearest column in scope.
        suggestion: Option<String>,
    },
    /// A table that is not in the catalogue.
    #[error("unknown table '{name}'{}", suggestion_suffix(.suggestion))]
    UnknownTable {
        /// The table name as written.
        name: String,
        /// The nearest table in the catalogue.
        suggestion: Option<String>,
    },
    /// A function that is not registered.
    #[error("unknown function '{name}'{}", suggestion_suffix(.suggestion))]
    UnknownFunction {
        /// The function name as written.
        name: String,
        /// The nearest known function.
        suggestion: Option<String>,
    },
    /// A column name that matches columns of more than one table.
    #[error("ambiguous column '{name}'; qualify it with a table name or alias")]
    AmbiguousColumn {
        /// The column name as written.
        name: String,
    },
    /// The query is well formed but meaningless: wrong argument types, an aggregate
    /// mixed with non-grouped columns, a duplicate alias, a bad unit ...
    #[error("{message}")]
    Invalid {
        /// What is wrong, lowercase.
        message: String,
    },
    /// A data source the query reads did not answer (a remote database that is down or too
    /// slow): neither the query's fault nor a bug, worth trying again later. Table providers
    /// report it as an I/O error of kind `NotConnected` or `TimedOut`.
    #[error("{message}")]
    Unavailable {
        /// The source's error, naming the source.
        message: String,
    },
    /// A bug in Parallax or DataFusion; details are for the logs, not for users.
    #[error("internal error: {message}")]
    Internal {
        /// The underlying error.
        message: String,
    },
}

fn suggestion_suffix(s: &Option<String>) -> String {
    match s {
        Some(s) => format!("; did you mean '{s}'?"),
        None => String::new(),
    }
}

fn help_suffix(s: &Option<String>) -> String {
    match s {
        Some(s) => format!("; {s}"),
        None => String::new(),
    }
}

/// An error from parsing, validating or planning an ADQL query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdqlError {
    kind: ErrorKind,
    span: Option<Span>,
}

impl AdqlError {
    /// An error of `kind` at `span`.
    pub fn new(kind: ErrorKind, span: Option<Span>) -> Self {
        Self { kind, span }
    }

    pub(crate) fn syntax(message: impl Into<String>, span: Option<Span>) -> Self {
        Self::new(
            ErrorKind::Syntax {
                message: message.into(),
            },
            span,
        )
    }

    pub(crate) fn not_adql(
        construct: impl Into<String>,
        help: Option<&str>,
        span: Option<Span>,
    ) -> Self {
        Self::new(
            ErrorKind::NotAdql {
                construct: construct.into(),
                help: help.map(str::to_owned),
            },
            span,
        )
    }

    pub(crate) fn invalid(message: impl Into<String>, span: Option<Span>) -> Self {
        Self::new(
            ErrorKind::Invalid {
                message: message.into(),
            },
            span,
        )
    }

    /// The classified error.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The message without location, lowercase.
    pub fn message(&self) -> String {
        self.kind.to_string()
    }

    /// Where in the query text the error is, if known.
    pub fn span(&self) -> Option<Span> {
        self.span
    }

    /// 1-based line of the error, if known.
    pub fn line(&self) -> Option<usize> {
        self.span.map(|s| s.line)
    }

    /// 1-based column (in characters) of the error, if known.
    pub fn column(&self) -> Option<usize> {
        self.span.map(|s| s.column)
    }

    /// `true` when the query is at fault (HTTP 4xx), `false` for our bugs and sources that
    /// did not answer (HTTP 5xx).
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self.kind,
            ErrorKind::Internal { .. } | ErrorKind::Unavailable { .. }
        )
    }

    pub(crate) fn with_span_if_none(mut self, span: Option<Span>) -> Self {
        if self.span.is_none() {
            self.span = span;
        }
        self
    }

    /// The message followed by a caret frame pointing into `text`:
    ///
    /// ```text
    /// unknown column 'paralax'; did you mean 'parallax'?
    ///  --> line 1, column 8
    ///   |
    /// 1 | SELECT paralax FROM gaiadr3.gaia_source
    ///   |        ^^^^^^^
    /// ```
    pub fn render(&self, text: &str) -> String {
        let mut out = self.message();
        let Some(span) = self.span else {
            return out;
        };
        out.push_str(&format!(
            "\n --> line {}, column {}",
            span.line, span.column
        ));
        let Some(source_line) = text.lines().nth(span.line - 1) else {
            return out;
        };
        let source_line = source_line.trim_end_matches('\r');
        let number = span.line.to_string();
        let pad = " ".repeat(number.len());
        // Tabs are expanded to keep the caret under the right character.
        let shown: String = source_line
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        let line_chars = shown.chars().count();
        let start = (span.column - 1).min(line_chars);
        let width = span.width.min(line_chars.saturating_sub(start)).max(1);
        out.push_str(&format!("\n{pad} |\n{number} | {shown}\n{pad} | "));
        out.push_str(&" ".repeat(start));
        out.push_str(&"^".repeat(width));
        out
    }
}

impl fmt::Display for AdqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(span) = self.span {
            write!(f, " at line {}, column {}", span.line, span.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for AdqlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_frame() {
        let e = AdqlError::new(
            ErrorKind::UnknownColumn {
                name: "paralax".into(),
                suggestion: Some("parallax".into()),
            },
            Some(Span::new(2, 8, 7)),
        );
        let text = "-- x\nSELECT paralax FROM t";
        assert_eq!(
            e.render(text),
            "unknown column 'paralax'; did you mean 'parallax'?\n --> line 2, column 8\n  |\n2 | SELECT paralax FROM t\n  |        ^^^^^^^"
        );
    }

    #[test]
    fn render_out_of_range_does_not_panic() {
        let e = AdqlError::syntax("x", Some(Span::new(9, 99, 5)));
        assert!(e.render("a").contains("line 9"));
        let e = AdqlError::syntax("x", Some(Span::new(1, 99, 5)));
        assert!(e.render("ab").ends_with('^'));
    }
}
