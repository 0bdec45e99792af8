//! Errors with source positions: internal byte-offset errors and the public line:column error.

use std::fmt;

/// A parse or execution error located in the template source (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    /// 1-based line of the error in the template source.
    pub line: usize,
    /// 1-based column of the error.
    pub column: usize,
    /// What went wrong, in Go's words where Go has them.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for TemplateError {}

/// An error at a byte offset, converted to line:column once the source is at hand.
#[derive(Debug, Clone)]
pub(crate) struct RawError {
    pub pos: usize,
    pub message: String,
}

impl RawError {
    pub fn new(pos: usize, message: impl Into<String>) -> RawError {
        RawError {
            pos,
            message: message.into(),
        }
    }
}

/// Byte offsets of line starts, for offset -> line:column.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(src: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            src.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, pos: usize) -> usize {
        self.starts.partition_point(|&s| s <= pos).max(1)
    }

    /// 1-based (line, column); the column counts characters.
    pub fn line_col(&self, src: &str, pos: usize) -> (usize, usize) {
        let line = self.line(pos);
        let start = self.starts[line - 1];
        let pos = pos.min(src.len());
        let column = src
            .get(start..pos)
            .map(|s| s.chars().count())
            .unwrap_or(pos - start)
            + 1;
        (line, column)
    }

    pub fn error(&self, src: &str, raw: RawError) -> TemplateError {
        let (line, column) = self.line_col(src, raw.pos);
        TemplateError {
            line,
            column,
            message: raw.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let src = "ab\ncdé\nf";
        let idx = LineIndex::new(src);
        assert_eq!(idx.line_col(src, 0), (1, 1));
        assert_eq!(idx.line_col(src, 2), (1, 3));
        assert_eq!(idx.line_col(src, 3), (2, 1));
        // 'f' is after the two-byte 'é': column counts characters.
        assert_eq!(idx.line_col(src, src.len() - 1), (3, 1));
        assert_eq!(idx.line_col(src, 7), (2, 4));
    }
}
