//! Values as written in a YAML line: where a key's value token starts and ends, what it holds
//! (a literal in one of YAML's three inline styles, a `{{ .NAME }}` reference, or another template
//! expression), and how to write a new value in the same style.
//!
//! kiln's files are templates, so they can't always be parsed as YAML before rendering; the loader
//! tells which line a value is on, and this module reads that one line as written.

use std::ops::Range;

/// How a literal scalar is quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Style {
    /// Unquoted.
    Plain,
    /// In single quotes.
    Single,
    /// In double quotes.
    Double,
}

/// What a key's value is, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A literal: `range` is the token's bytes in the whole text, quotes included.
    Literal {
        /// The token's bytes in the whole text, quotes included.
        range: Range<usize>,
        /// How it is quoted.
        style: Style,
        /// The value, unquoted and unescaped.
        value: String,
    },
    /// The whole value is `{{ .NAME }}` (quoted or not, with or without `-` trimming).
    Reference(String),
    /// Any other template expression, as written.
    Expression(String),
}

/// The byte range of the 1-based `line` of `text`, without its line break.
pub fn line_range(text: &str, line: usize) -> Option<Range<usize>> {
    let mut start = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let content = l.trim_end_matches('\n').trim_end_matches('\r');
            return Some(start..start + content.len());
        }
        start += l.len();
    }
    None
}

/// Reads the value of `key` on the 1-based `line` of `text`. When the key is not on that line
/// (a value written below its key), the value is the line's first item.
pub fn value_of(text: &str, line: usize, key: &str) -> Result<Token, String> {
    let bounds = line_range(text, line).ok_or_else(|| format!("the file has no line {line}"))?;
    let content = &text[bounds.clone()];
    let (value_start, flow) = match find_key(content, key) {
        Some((after_colon, flow)) => (after_colon, flow),
        None => {
            let indent = content.len() - content.trim_start().len();
            let rest = &content[indent..];
            let item = rest.strip_prefix("- ").map_or(0, |_| 2);
            (indent + item, false)
        }
    };
    let rest = &content[value_start..];
    let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let start = value_start + skipped;
    let token = read_token(&content[start..], flow).map_err(|e| format!("line {line}: {e}"))?;
    Ok(match token {
        Read::Literal(len, style, value) => Token::Literal {
            range: bounds.start + start..bounds.start + start + len,
            style,
            value,
        },
        Read::Template(t) => t,
    })
}

/// Where a ` #` comment starts on the line (outside quotes), or its length.
fn comment_start(line: &str) -> usize {
    let mut quote = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous == ' ' || previous == '\t' => return i,
            _ => {}
        }
        previous = c;
    }
    line.len()
}

/// The offset just after `key:` on the line, and whether the key sits inside a flow mapping.
fn find_key(line: &str, key: &str) -> Option<(usize, bool)> {
    let code = &line[..comment_start(line)];
    let mut from = 0;
    while let Some(pos) = code[from..].find(key) {
        let at = from + pos;
        let before = line[..at].chars().next_back();
        let after = &line[at + key.len()..];
        // The key may be quoted; it must not be the tail of a longer name.
        let after = after.strip_prefix(['"', '\'']).unwrap_or(after);
        let starts_word = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if starts_word && after.starts_with(':') {
            let colon = line.len() - after.len() + 1;
            let head = line[..at].replace("{{", "");
            return Some((colon, head.contains('{')));
        }
        from = at + key.len();
    }
    None
}

enum Read {
    /// Token length in bytes, style and decoded value.
    Literal(usize, Style, String),
    Template(Token),
}

fn read_token(s: &str, flow: bool) -> Result<Read, String> {
    let (quote, inner) = match s.chars().next() {
        Some(q @ ('"' | '\'')) => (Some(q), &s[1..]),
        _ => (None, s),
    };
    if inner.starts_with("{{") {
        let end = inner.find("}}").ok_or("a template action without `}}`")?;
        let action = &inner[2..end];
        let tail = &inner[end + 2..];
        let tail = match quote {
            Some(q) => tail.strip_prefix(q).unwrap_or("?"),
            None => tail,
        };
        let complete = tail.trim_start().is_empty()
            || tail.trim_start().starts_with('#')
            || (flow && tail.trim_start().starts_with([',', '}']));
        let name = action
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let is_name = name.strip_prefix('.').is_some_and(|n| {
            !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        return Ok(Read::Template(if complete && is_name {
            Token::Reference(name[1..].to_string())
        } else {
            Token::Expression(s[..comment_start(s)].trim().to_string())
        }));
    }
    match quote {
        Some('"') => read_double(s),
        Some(_) => read_single(s),
        None => {
            let mut end = s.len();
            if let Some(c) = s.find(" #").or_else(|| s.find("\t#")) {
                end = end.min(c);
            }
            if flow {
                if let Some(c) = s.find([',', '}', ']']) {
                    end = end.min(c);
                }
            }
            let token = s[..end].trim_end();
            if token.contains("{{") {
                return Ok(Read::Template(Token::Expression(token.to_string())));
            }
            Ok(Read::Literal(token.len(), Style::Plain, token.to_string()))
        }
    }
}

fn read_single(s: &str) -> Result<Read, String> {
    let mut value = String::new();
    let mut chars = s.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
                value.push('\'');
            } else {
                if value.contains("{{") {
                    return Ok(Read::Template(Token::Expression(s[..=i].to_string())));
                }
                return Ok(Read::Literal(i + 1, Style::Single, value));
            }
        } else {
            value.push(c);
        }
    }
    Err("a single-quoted value that does not end on its line".into())
}

fn read_double(s: &str) -> Result<Read, String> {
    let mut value = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                if value.contains("{{") {
                    return Ok(Read::Template(Token::Expression(s[..=i].to_string())));
                }
                return Ok(Read::Literal(i + 1, Style::Double, value));
            }
            '\\' => match chars.next().map(|(_, e)| e) {
                Some('"') => value.push('"'),
                Some('\\') => value.push('\\'),
                Some('/') => value.push('/'),
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                Some(e) => {
                    return Err(format!(
                        "the escape `\\{e}` in a double-quoted value is not supported here"
                    ))
                }
                None => break,
            },
            c => value.push(c),
        }
    }
    Err("a double-quoted value that does not end on its line".into())
}

/// `value` written as a scalar in `style`, or double-quoted when `style` can't hold it.
pub fn write_scalar(style: Style, value: &str) -> String {
    match style {
        Style::Plain if plain_safe(value) => value.to_string(),
        Style::Single if !value.chars().any(char::is_control) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ => {
            let mut out = String::from("\"");
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}

/// Whether `value` reads back as the same text when written as a plain scalar.
fn plain_safe(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && value.trim() == value
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.ends_with(':')
        && !value.contains("{{")
        && !value.chars().any(char::is_control)
        && !matches!(value, "~" | "null" | "Null" | "NULL")
}

/// Applies non-overlapping replacements (byte ranges of `text`) and returns the new text.
pub fn apply(text: &str, edits: &[(Range<usize>, String)]) -> String {
    let mut sorted: Vec<&(Range<usize>, String)> = edits.iter().collect();
    sorted.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (range, new) in sorted {
        out.push_str(&text[at..range.start]);
        out.push_str(new);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(text: &str, line: usize, key: &str) -> (String, Style, String) {
        match value_of(text, line, key).unwrap() {
            Token::Literal {
                range,
                style,
                value,
            } => (text[range].to_string(), style, value),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_each_inline_style_with_its_exact_bytes() {
        let text = "a: 1\nVERSION: 1.2.3 # bump me\nQ: \"x\\\"y\" # c\nS: 'it''s'\n";
        assert_eq!(
            literal(text, 2, "VERSION"),
            ("1.2.3".into(), Style::Plain, "1.2.3".into())
        );
        assert_eq!(
            literal(text, 3, "Q"),
            ("\"x\\\"y\"".into(), Style::Double, "x\"y".into())
        );
        assert_eq!(
            literal(text, 4, "S"),
            ("'it''s'".into(), Style::Single, "it's".into())
        );
    }

    #[test]
    fn finds_the_key_not_a_longer_name_or_a_value() {
        let text = "  TOOL_SHA256: aa # SHA256: bb\n";
        assert_ne!(
            literal(text, 1, "SHA256").2,
            "bb",
            "the comment is not a key"
        );
        assert_eq!(literal(text, 1, "TOOL_SHA256").2, "aa");
    }

    #[test]
    fn values_in_flow_mappings_stop_at_the_separator() {
        let text = "- {url: x, sha256: abc, sha512: def}\n";
        assert_eq!(literal(text, 1, "sha256").0, "abc");
        assert_eq!(literal(text, 1, "sha512").0, "def");
    }

    #[test]
    fn references_and_expressions() {
        let text = "sha256: {{ .TOOL_SHA256 }}\nsha512: \"{{- .X -}}\"\nurl: {{ .A }}/{{ .B }}\nv: '{{ .A | upper }}'\n";
        assert_eq!(
            value_of(text, 1, "sha256").unwrap(),
            Token::Reference("TOOL_SHA256".into())
        );
        assert_eq!(
            value_of(text, 2, "sha512").unwrap(),
            Token::Reference("X".into())
        );
        assert!(
            matches!(value_of(text, 3, "url").unwrap(), Token::Expression(e) if e == "{{ .A }}/{{ .B }}")
        );
        assert!(matches!(
            value_of(text, 4, "v").unwrap(),
            Token::Expression(_)
        ));
    }

    #[test]
    fn a_value_below_its_key() {
        let text = "sha256:\n  abcd\n";
        assert_eq!(literal(text, 2, "sha256").0, "abcd");
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert!(value_of("a: \"x\n", 1, "a").is_err());
        assert!(value_of("a: 'x\n", 1, "a").is_err());
    }

    #[test]
    fn writing_keeps_the_style_when_it_can() {
        assert_eq!(write_scalar(Style::Plain, "1.10"), "1.10");
        assert_eq!(write_scalar(Style::Plain, "a: b"), "\"a: b\"");
        assert_eq!(write_scalar(Style::Plain, ""), "\"\"");
        assert_eq!(write_scalar(Style::Plain, "null"), "\"null\"");
        assert_eq!(write_scalar(Style::Single, "it's"), "'it''s'");
        assert_eq!(write_scalar(Style::Double, "a\"b\\"), "\"a\\\"b\\\\\"");
        for (style, value) in [
            (Style::Plain, "v1.2.3-rc.1"),
            (Style::Single, "x'y"),
            (Style::Double, "tab\there"),
            (Style::Plain, "# not a comment"),
        ] {
            let text = format!("K: {}\n", write_scalar(style, value));
            assert_eq!(literal(&text, 1, "K").2, value, "{text}");
        }
    }

    #[test]
    fn apply_replaces_ranges_and_keeps_every_other_byte() {
        let text = "a: 1 # one\r\nb: '2'\n";
        let a = 3..4;
        let b = text.find("'2'").unwrap()..text.find("'2'").unwrap() + 3;
        let out = apply(text, &[(b, "'20'".into()), (a, "10".into())]);
        assert_eq!(out, "a: 10 # one\r\nb: '20'\n");
        assert_eq!(line_range(text, 1), Some(0..10));
    }
}
