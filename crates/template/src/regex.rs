//! Sprig's `regex*` functions on the `regex` crate, with Go's RE2 flavour: `\d`, `\w`, `\s` and `\b`
//! are ASCII-only in Go but Unicode-aware in Rust, so patterns are translated before compiling.
//! Replacement strings use `$1` / `${name}` expansion in both libraries, with the same rules.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::Regex;

use crate::funcs::{i, s};
use crate::value::Value;

/// Rewrites Go's ASCII Perl classes into explicit classes the `regex` crate reads the same way.
/// Long by design: a character scanner whose class and escape state lives in one loop.
fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let class = match e {
                    'd' => Some("[0-9]"),
                    'D' => Some("[^0-9]"),
                    'w' => Some("[0-9A-Za-z_]"),
                    'W' => Some("[^0-9A-Za-z_]"),
                    's' => Some("[\\t\\n\\f\\r ]"),
                    'S' => Some("[^\\t\\n\\f\\r ]"),
                    _ => None,
                };
                match (class, e) {
                    // Nested classes are valid inside a class for the regex crate (`[a[0-9]]`).
                    (Some(cls), _) => out.push_str(cls),
                    (None, 'b') if class_depth == 0 => out.push_str("(?-u:\\b)"),
                    (None, 'B') if class_depth == 0 => out.push_str("(?-u:\\B)"),
                    (None, e) => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' => {
                out.push('[');
                if chars.peek() == Some(&':') {
                    // POSIX class `[:alpha:]` inside a bracket expression: copy through `:]`.
                    for p in chars.by_ref() {
                        out.push(p);
                        if p == ']' {
                            break;
                        }
                    }
                    continue;
                }
                class_depth += 1;
                // A `]` right after `[` or `[^` is a literal member.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

thread_local! {
    /// Compiled patterns; a tree uses a handful, rendered for every package and platform.
    static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

fn compile(pattern: &str) -> Result<Regex, String> {
    if let Some(re) = CACHE.with(|c| c.borrow().get(pattern).cloned()) {
        return Ok(re);
    }
    let re = Regex::new(&translate(pattern))
        .map_err(|e| format!("error parsing regexp {pattern:?}: {e}"))?;
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(pattern.to_string(), re.clone());
    });
    Ok(re)
}

fn limit(count: i64) -> usize {
    if count < 0 {
        usize::MAX
    } else {
        count as usize
    }
}

pub(crate) fn regex_match(a: &[Value]) -> Result<Value, String> {
    Ok(Value::Bool(compile(s(&a[0]))?.is_match(s(&a[1]))))
}

pub(crate) fn regex_find(a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(
        compile(s(&a[0]))?
            .find(s(&a[1]))
            .map(|m| m.as_str())
            .unwrap_or(""),
    ))
}

pub(crate) fn regex_find_all(a: &[Value]) -> Result<Value, String> {
    let re = compile(s(&a[0]))?;
    let found = re
        .find_iter(s(&a[1]))
        .take(limit(i(&a[2])))
        .map(|m| Value::str(m.as_str()))
        .collect();
    Ok(Value::list(found))
}

pub(crate) fn regex_replace_all(a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(
        compile(s(&a[0]))?
            .replace_all(s(&a[1]), s(&a[2]))
            .into_owned(),
    ))
}

pub(crate) fn regex_replace_all_literal(a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(
        compile(s(&a[0]))?
            .replace_all(s(&a[1]), regex::NoExpand(s(&a[2])))
            .into_owned(),
    ))
}

pub(crate) fn regex_split(a: &[Value]) -> Result<Value, String> {
    let re = compile(s(&a[0]))?;
    let count = i(&a[2]);
    if count == 0 {
        return Ok(Value::list(Vec::new()));
    }
    let parts = re.splitn(s(&a[1]), limit(count)).map(Value::str).collect();
    Ok(Value::list(parts))
}

pub(crate) fn regex_quote_meta(a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(regex::escape(s(&a[0]))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_are_ascii_like_go() {
        let re = compile(r"^\d+$").expect("compiles");
        assert!(re.is_match("123"));
        // U+0663 ARABIC-INDIC DIGIT THREE is \d in Rust's Unicode mode but not in Go.
        assert!(!re.is_match("\u{663}"));
        assert!(compile(r"[\d.]+").expect("compiles").is_match("1.2"));
        assert!(compile(r"[]a]").expect("compiles").is_match("]"));
        assert!(compile(r"[[:alpha:]]+").expect("compiles").is_match("abc"));
        assert!(compile(r"\bx\b").expect("compiles").is_match("a x b"));
    }

    #[test]
    fn replace_expands_like_go() {
        let sv = |x: &str| Value::str(x);
        // Go: regexp.MustCompile(`.\d+$`).ReplaceAllString("2.84.1", "${1}") == "2.84" (no group 1 -> empty).
        let out = regex_replace_all(&[sv(r".\d+$"), sv("2.84.1"), sv("${1}")]).expect("replaces");
        assert_eq!(out.sprint(), "2.84");
        let out = regex_replace_all(&[sv(r"(\w+)@(\w+)"), sv("me@host"), sv("$2 at ${1}x $$")])
            .expect("replaces");
        assert_eq!(out.sprint(), "host at mex $");
        let out = regex_replace_all_literal(&[sv("a"), sv("banana"), sv("$1")]).expect("replaces");
        assert_eq!(out.sprint(), "b$1n$1n$1");
        assert!(regex_match(&[sv("("), sv("x")]).is_err());
    }
}
