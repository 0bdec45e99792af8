//! Lexer: splits template source into text and action tokens and applies `{{-`/`-}}` trim markers.
//!
//! Every token keeps its byte range in the source so the parser can report line:column and can tell
//! whether two tokens touch (`.A.B`, `$x.Y`, `(pipe).Z` chain fields only when adjacent, as in Go).

use crate::error::RawError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    If,
    Else,
    End,
    Range,
    With,
    Define,
    Template,
    Block,
    Break,
    Continue,
}

impl Keyword {
    pub fn name(self) -> &'static str {
        match self {
            Keyword::If => "if",
            Keyword::Else => "else",
            Keyword::End => "end",
            Keyword::Range => "range",
            Keyword::With => "with",
            Keyword::Define => "define",
            Keyword::Template => "template",
            Keyword::Block => "block",
            Keyword::Break => "break",
            Keyword::Continue => "continue",
        }
    }
}

/// A numeric literal; Go keeps both readings of e.g. `1.0` (it is usable where an int is expected).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Number {
    pub int: Option<i64>,
    pub float: Option<f64>,
    /// Written with a fraction or exponent: an `interface{}` argument gets a float64.
    pub float_syntax: bool,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Literal text, already trimmed; the token range is the kept text.
    Text,
    LeftDelim,
    RightDelim,
    Ident(String),
    Keyword(Keyword),
    /// One `.Name` segment; consecutive adjacent fields form a chain.
    Field(String),
    /// `$` or `$name`.
    Variable(String),
    Str(String),
    Number(Number),
    Bool(bool),
    Nil,
    Dot,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

const SPACE: &[char] = &[' ', '\t', '\r', '\n'];

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Long by design: the text/action loop of Go's lexer with its trim-marker state in one place.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, RawError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    loop {
        if trim_next {
            pos += src[pos..].len() - src[pos..].trim_start_matches(SPACE).len();
            trim_next = false;
        }
        let delim = src[pos..].find("{{").map(|i| i + pos);
        let text_end = delim.unwrap_or(src.len());
        // `{{- ` (dash then a space character) trims the preceding text; `{{-3}}` is a number.
        let left_trim = delim
            .map(|d| {
                bytes.get(d + 2) == Some(&b'-') && bytes.get(d + 3).is_some_and(|&b| is_space(b))
            })
            .unwrap_or(false);
        let kept_end = if left_trim {
            pos + src[pos..text_end].trim_end_matches(SPACE).len()
        } else {
            text_end
        };
        if kept_end > pos {
            tokens.push(Token {
                tok: Tok::Text,
                start: pos,
                end: kept_end,
            });
        }
        let Some(open) = delim else { break };
        let mut p = open + 2 + if left_trim { 2 } else { 0 };
        if src[p..].starts_with("/*") {
            let Some(close) = src[p + 2..].find("*/").map(|i| i + p + 2) else {
                return Err(RawError::new(open, "unclosed comment"));
            };
            let after = close + 2;
            if bytes.get(after).is_some_and(|&b| is_space(b)) && src[after + 1..].starts_with("-}}")
            {
                trim_next = true;
                pos = after + 4;
            } else if src[after..].starts_with("}}") {
                pos = after + 2;
            } else {
                return Err(RawError::new(open, "comment ends before closing delimiter"));
            }
            continue;
        }
        tokens.push(Token {
            tok: Tok::LeftDelim,
            start: open,
            end: p,
        });
        loop {
            // Right delimiter, with the trim form ` -}}` (a space character before the dash).
            if p < bytes.len() && is_space(bytes[p]) && src[p + 1..].starts_with("-}}") {
                tokens.push(Token {
                    tok: Tok::RightDelim,
                    start: p,
                    end: p + 4,
                });
                trim_next = true;
                pos = p + 4;
                break;
            }
            if src[p..].starts_with("}}") {
                tokens.push(Token {
                    tok: Tok::RightDelim,
                    start: p,
                    end: p + 2,
                });
                pos = p + 2;
                break;
            }
            let Some(c) = src[p..].chars().next() else {
                return Err(RawError::new(open, "unclosed action (no matching }})"));
            };
            if c.is_ascii() && is_space(c as u8) {
                p += 1;
                continue;
            }
            let start = p;
            let (tok, end) = lex_one(src, p, c)?;
            tokens.push(Token { tok, start, end });
            p = end;
        }
    }
    tokens.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    Ok(tokens)
}

fn scan_alnum(src: &str, from: usize) -> usize {
    src[from..]
        .char_indices()
        .find(|&(_, c)| !is_alnum(c))
        .map(|(i, _)| from + i)
        .unwrap_or(src.len())
}

/// Long by design: one arm per character that starts a token.
fn lex_one(src: &str, p: usize, c: char) -> Result<(Tok, usize), RawError> {
    let bytes = src.as_bytes();
    let next = src[p + c.len_utf8()..].chars().next();
    Ok(match c {
        '|' => (Tok::Pipe, p + 1),
        '(' => (Tok::LParen, p + 1),
        ')' => (Tok::RParen, p + 1),
        ',' => (Tok::Comma, p + 1),
        '=' => (Tok::Assign, p + 1),
        ':' => {
            if next != Some('=') {
                return Err(RawError::new(p, "expected :="));
            }
            (Tok::Declare, p + 2)
        }
        '"' => lex_quoted(src, p)?,
        '`' => {
            let Some(close) = src[p + 1..].find('`').map(|i| i + p + 1) else {
                return Err(RawError::new(p, "unterminated raw quoted string"));
            };
            // Go drops carriage returns from raw strings.
            (Tok::Str(src[p + 1..close].replace('\r', "")), close + 1)
        }
        '\'' => lex_char(src, p)?,
        '$' => {
            let end = scan_alnum(src, p + 1);
            (Tok::Variable(src[p..end].to_string()), end)
        }
        '.' if next.is_some_and(|n| n.is_ascii_digit()) => lex_number(src, p)?,
        '.' if next.is_some_and(is_alnum) => {
            let end = scan_alnum(src, p + 1);
            (Tok::Field(src[p + 1..end].to_string()), end)
        }
        '.' => (Tok::Dot, p + 1),
        '+' | '-' if next.is_some_and(|n| n.is_ascii_digit() || n == '.') => lex_number(src, p)?,
        c if c.is_ascii_digit() => lex_number(src, p)?,
        c if is_alnum(c) => {
            let end = scan_alnum(src, p);
            let word = &src[p..end];
            let tok = match word {
                "if" => Tok::Keyword(Keyword::If),
                "else" => Tok::Keyword(Keyword::Else),
                "end" => Tok::Keyword(Keyword::End),
                "range" => Tok::Keyword(Keyword::Range),
                "with" => Tok::Keyword(Keyword::With),
                "define" => Tok::Keyword(Keyword::Define),
                "template" => Tok::Keyword(Keyword::Template),
                "block" => Tok::Keyword(Keyword::Block),
                "break" => Tok::Keyword(Keyword::Break),
                "continue" => Tok::Keyword(Keyword::Continue),
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                "nil" => Tok::Nil,
                _ => Tok::Ident(word.to_string()),
            };
            (tok, end)
        }
        '}' if bytes.get(p + 1) != Some(&b'}') => {
            return Err(RawError::new(
                p,
                "unexpected \"}\" in action (actions close with }})",
            ));
        }
        other => {
            return Err(RawError::new(
                p,
                format!("unexpected character {other:?} in action"),
            ))
        }
    })
}

/// Scans a Go number: sign, base prefix, digits with `_`, fraction, exponent.
fn lex_number(src: &str, p: usize) -> Result<(Tok, usize), RawError> {
    let bytes = src.as_bytes();
    let mut end = p;
    if matches!(bytes[end], b'+' | b'-') {
        end += 1;
    }
    let hex = src[end..].starts_with("0x") || src[end..].starts_with("0X");
    while end < bytes.len() {
        let b = bytes[end];
        let exponent_sign = matches!(b, b'+' | b'-')
            && end > p
            && if hex {
                matches!(bytes[end - 1], b'p' | b'P')
            } else {
                matches!(bytes[end - 1], b'e' | b'E')
            };
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exponent_sign {
            end += 1;
        } else {
            break;
        }
    }
    let text = &src[p..end];
    match parse_number(text) {
        Some(n) => Ok((Tok::Number(n), end)),
        None => Err(RawError::new(p, format!("bad number syntax: {text:?}"))),
    }
}

pub(crate) fn parse_number(text: &str) -> Option<Number> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let radix_int = |digits: &str, radix: u32| i64::from_str_radix(digits, radix).ok();
    let lower = body.to_ascii_lowercase();
    let int = if let Some(d) = lower.strip_prefix("0x") {
        radix_int(d, 16)
    } else if let Some(d) = lower.strip_prefix("0o") {
        radix_int(d, 8)
    } else if let Some(d) = lower.strip_prefix("0b") {
        radix_int(d, 2)
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        radix_int(&body[1..], 8)
    } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse::<i64>().ok()
    } else {
        None
    }
    .map(|v| if neg { -v } else { v });
    let float_syntax = int.is_none() && !lower.starts_with("0x");
    let float = match int {
        Some(i) => Some(i as f64),
        None if float_syntax
            && body
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_digit() || b == b'.') =>
        {
            clean.parse::<f64>().ok()
        }
        None => None,
    };
    if int.is_none() && float.is_none() {
        return None;
    }
    // Go treats a float literal with an integral value as usable where an int is wanted (`1.0`).
    let int = int.or_else(|| {
        float
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
            .map(|f| f as i64)
    });
    Some(Number {
        int,
        float,
        float_syntax,
        text: text.to_string(),
    })
}

/// Long by design: one arm per escape Go's strconv.Unquote accepts.
fn lex_quoted(src: &str, p: usize) -> Result<(Tok, usize), RawError> {
    let mut out = String::new();
    let mut chars = src[p + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        let at = p + 1 + i;
        match c {
            '"' => return Ok((Tok::Str(out), at + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                let mut hex = |n: usize| -> Result<u32, RawError> {
                    let mut v = 0u32;
                    for _ in 0..n {
                        let d = chars.next().and_then(|(_, h)| h.to_digit(16));
                        v = v * 16
                            + d.ok_or_else(|| {
                                RawError::new(at, "invalid escape in quoted string")
                            })?;
                    }
                    Ok(v)
                };
                match e {
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' => out.push(char::from_u32(hex(2)?).unwrap_or('\u{FFFD}')),
                    'u' => out.push(
                        char::from_u32(hex(4)?)
                            .ok_or_else(|| RawError::new(at, "invalid \\u escape"))?,
                    ),
                    'U' => out.push(
                        char::from_u32(hex(8)?)
                            .ok_or_else(|| RawError::new(at, "invalid \\U escape"))?,
                    ),
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let d = chars.next().and_then(|(_, h)| h.to_digit(8));
                            v = v * 8
                                + d.ok_or_else(|| RawError::new(at, "invalid octal escape"))?;
                        }
                        out.push(char::from_u32(v).unwrap_or('\u{FFFD}'));
                    }
                    other => {
                        return Err(RawError::new(
                            at,
                            format!("unknown escape sequence \\{other} in string"),
                        ))
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(RawError::new(p, "unterminated quoted string"))
}

fn lex_char(src: &str, p: usize) -> Result<(Tok, usize), RawError> {
    let Some(close) = src[p + 1..].find('\'').map(|i| i + p + 1) else {
        return Err(RawError::new(p, "unterminated character constant"));
    };
    // A quote right after a backslash is the escaped quote itself.
    let close = if &src[p + 1..close] == "\\" {
        src[close + 1..]
            .find('\'')
            .map(|i| i + close + 1)
            .unwrap_or(close)
    } else {
        close
    };
    let inner = &src[p + 1..close];
    let value = match inner {
        "\\'" => Some('\''),
        "\\n" => Some('\n'),
        "\\t" => Some('\t'),
        "\\r" => Some('\r'),
        "\\\\" => Some('\\'),
        "\\0" => Some('\0'),
        s if s.chars().count() == 1 => s.chars().next(),
        _ => None,
    };
    let Some(c) = value else {
        return Err(RawError::new(
            p,
            format!("malformed character constant: '{inner}'"),
        ));
    };
    let n = c as i64;
    let number = Number {
        int: Some(n),
        float: Some(n as f64),
        float_syntax: false,
        text: format!("'{inner}'"),
    };
    Ok((Tok::Number(number), close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        lex(src)
            .map(|t| t.into_iter().map(|t| t.tok).collect())
            .unwrap_or_default()
    }

    #[test]
    fn trim_markers_remove_whitespace_and_newlines() {
        let src = "a  \n{{- .X -}}\n\t b";
        let toks = lex(src).expect("lexes");
        let texts: Vec<&str> = toks
            .iter()
            .filter(|t| t.tok == Tok::Text)
            .map(|t| &src[t.start..t.end])
            .collect();
        assert_eq!(texts, vec!["a", "b"]);
    }

    #[test]
    fn dash_without_space_is_a_number() {
        let toks = kinds("{{-3}}");
        assert!(
            matches!(&toks[1], Tok::Number(n) if n.int == Some(-3)),
            "{toks:?}"
        );
    }

    #[test]
    fn numbers_follow_go_syntax() {
        let n = parse_number("0x1F").expect("hex");
        assert_eq!(n.int, Some(31));
        let n = parse_number("1_000").expect("underscore");
        assert_eq!(n.int, Some(1000));
        let n = parse_number("1.0").expect("float");
        assert_eq!((n.int, n.float_syntax), (Some(1), true));
        let n = parse_number("2.5e3").expect("exp");
        assert_eq!(n.float, Some(2500.0));
        assert!(parse_number("12abc").is_none());
    }

    #[test]
    fn comments_vanish_and_may_trim() {
        let src = "a {{- /* note */ -}} b{{/* x */}}c";
        let toks = lex(src).expect("lexes");
        let text: String = toks
            .iter()
            .filter(|t| t.tok == Tok::Text)
            .map(|t| &src[t.start..t.end])
            .collect();
        assert_eq!(text, "abc");
    }

    #[test]
    fn string_escapes() {
        let toks = kinds(r#"{{ "a\tb\x41\u00e9\101" `raw\n` }}"#);
        assert_eq!(toks[1], Tok::Str("a\tbAéA".into()));
        assert_eq!(toks[2], Tok::Str("raw\\n".into()));
    }
}
