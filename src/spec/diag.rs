//! Diagnostics: errors and warnings that point at a line of a file as the user wrote it.
//!
//! Every layer that reads user input reports through [`Diagnostics`] so that kiln can show all
//! problems at once, each with its file, line and column, instead of stopping at the first.

use std::fmt;

use serde::Serialize;

use super::lint::LintRule;

/// How bad a diagnostic is; ordered so that errors sort after warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Shown; the load goes on.
    Warning,
    /// Fails the load (or, for lint findings, the check).
    Error,
}

impl fmt::Display for Severity {
    /// `error` or `warning`, as messages, buildx's lint output and the JSON spell it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`, so that widths such as `{:7}` apply.
        f.pad(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A 1-based line range (inclusive) and 1-based column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct Span {
    /// First line; 0 when the problem has no place in the file.
    pub line: usize,
    /// Column of the first character on the first line.
    pub column: usize,
    /// Last line (at least `line`).
    pub end_line: usize,
}

impl Span {
    /// The lines `line..=end_line` from `column`; an `end_line` before `line` is raised to it.
    pub fn new(line: usize, column: usize, end_line: usize) -> Span {
        Span {
            line,
            column,
            end_line: end_line.max(line),
        }
    }

    /// One place on one line.
    pub fn at(line: usize, column: usize) -> Span {
        Span::new(line, column, line)
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        if self.line == 0 {
            return other;
        }
        if other.line == 0 {
            return self;
        }
        let (line, column) = if (other.line, other.column) < (self.line, self.column) {
            (other.line, other.column)
        } else {
            (self.line, self.column)
        };
        Span::new(line, column, self.end_line.max(other.end_line))
    }
}

/// A problem found in a file of the tree, with where it is and what to do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Diagnostic {
    /// Whether it fails the load.
    pub severity: Severity,
    /// Path relative to the tree root, `/`-separated.
    pub file: String,
    /// Where in the file, as the user wrote it (before templating).
    pub span: Span,
    /// What is wrong and what to do about it.
    pub message: String,
    /// The lint rule that found it; `None` for problems that are not lint findings.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "rule_id")]
    pub rule: Option<&'static LintRule>,
}

fn rule_id<S: serde::Serializer>(
    rule: &Option<&'static LintRule>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match rule {
        Some(r) => s.serialize_str(r.id),
        None => s.serialize_none(),
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = self.severity;
        if self.span.line == 0 {
            write!(f, "{}: {level}: ", self.file)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {level}: ",
                self.file, self.span.line, self.span.column
            )?;
        }
        match self.rule {
            Some(rule) => write!(f, "{} ({rule})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// An ordered collection of diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Records an error in `file` at `span`.
    pub fn error(&mut self, file: &str, span: Span, message: impl Into<String>) {
        self.push(Severity::Error, file, span, message);
    }

    /// Records a warning in `file` at `span`.
    pub fn warning(&mut self, file: &str, span: Span, message: impl Into<String>) {
        self.push(Severity::Warning, file, span, message);
    }

    /// A finding of a lint rule, at the rule's default severity.
    pub fn lint(
        &mut self,
        rule: &'static LintRule,
        file: &str,
        span: Span,
        message: impl Into<String>,
    ) {
        self.0.push(Diagnostic {
            severity: rule.severity,
            file: file.to_string(),
            span,
            message: message.into(),
            rule: Some(rule),
        });
    }

    fn push(&mut self, severity: Severity, file: &str, span: Span, message: impl Into<String>) {
        self.0.push(Diagnostic {
            severity,
            file: file.to_string(),
            span,
            message: message.into(),
            rule: None,
        });
    }

    /// Appends `other`'s diagnostics.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// The errors, in the order recorded.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings, in the order recorded.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorted by file and position so output is stable whatever order discovery ran in.
    pub fn sorted(mut self) -> Diagnostics {
        self.0.sort();
        self.0.dedup();
        self
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Returned when loading fails: every diagnostic, warnings included.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0)]
pub struct LoadError(pub Diagnostics);
