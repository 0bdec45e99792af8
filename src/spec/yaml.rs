//! A YAML reader that keeps source positions and reports every problem it finds.
//!
//! `saphyr` parses into nodes that carry spans; this module walks them with a [`Reader`] that knows
//! how to map a rendered line back to the line the user wrote (templates may add or remove lines),
//! collects errors and unknown-key warnings, and converts scalars the way Go's YAML decoder does
//! when it fills a string field: from the text as written (`8721136` stays `8721136`).

use std::collections::BTreeMap;

use saphyr::{MarkedYamlOwned, YamlDataOwned, YamlLoader};
use saphyr_parser::ScalarStyle;

use super::diag::{Diagnostics, Span};
use super::lint::{self, LintRule};

/// Keys older bldr formats read that v1alpha2 ignores: (where, key, the key to use instead).
const DEPRECATED_KEYS: &[(&str, &str, &str)] = &[("a step", "cache", "cachePaths")];

/// A parsed YAML node with its position in the (rendered) text.
pub type Node = MarkedYamlOwned;

/// Maps 1-based rendered lines to 1-based source lines.
pub trait LineMap {
    /// The line the user wrote that `rendered_line` came from.
    fn source_line(&self, rendered_line: usize) -> usize;

    /// Whether the text was rendered from a template (so errors say the YAML is the rendered one).
    fn is_template(&self) -> bool {
        true
    }
}

/// The identity map, for files that are not templates (Pkgfile).
pub struct Identity;

impl LineMap for Identity {
    fn source_line(&self, rendered_line: usize) -> usize {
        rendered_line
    }

    fn is_template(&self) -> bool {
        false
    }
}

impl LineMap for kiln_template::Rendered {
    fn source_line(&self, rendered_line: usize) -> usize {
        kiln_template::Rendered::source_line(self, rendered_line)
    }
}

/// Parses the first YAML document of `text`. An empty document yields `None`.
pub fn parse(text: &str) -> Result<Option<Node>, (usize, usize, String)> {
    let mut loader: YamlLoader<'_, Node> = YamlLoader::default();
    // Keep scalars as written: Go's decoder fills string fields from the literal text.
    loader.early_parse(false);
    let located = |e: &saphyr_parser::ScanError| {
        (
            e.marker().line(),
            e.marker().col() + 1,
            e.info().to_string(),
        )
    };
    kiln_validate::load_yaml(text, &mut loader).map_err(|e| located(&e))?;
    if let Some(e) = loader.error() {
        return Err(located(e));
    }
    Ok(loader.into_documents().into_iter().next())
}

/// Parses `file`'s `text` like [`parse`], reporting invalid YAML at the line the user wrote.
/// `None` when it is invalid or empty; an empty document is reported with `empty` when given.
pub fn parse_reported(
    file: &str,
    text: &str,
    lines: &dyn LineMap,
    empty: Option<String>,
    diags: &mut Diagnostics,
) -> Option<Node> {
    match parse(text) {
        Ok(Some(node)) => Some(node),
        Ok(None) => {
            if let Some(message) = empty {
                diags.error(file, Span::at(1, 1), message);
            }
            None
        }
        Err((line, col, msg)) => {
            let span = Span::at(lines.source_line(line.max(1)), col);
            let after = if lines.is_template() {
                " (after rendering the template)"
            } else {
                ""
            };
            diags.error(file, span, format!("invalid YAML{after}: {msg}"));
            None
        }
    }
}

/// Walks nodes of one file, recording diagnostics against it.
pub struct Reader<'a> {
    /// The file the diagnostics are recorded against.
    pub file: &'a str,
    /// Maps the parsed text's lines back to the lines the user wrote.
    pub lines: &'a dyn LineMap,
    /// Where problems are recorded.
    pub diags: &'a mut Diagnostics,
    /// Where the parsed (rendered) text has content, to place the ends of spans.
    content: ContentLines,
}

/// Per line of a text: where it starts and where its first non-blank character is (as character
/// indexes, like saphyr's markers), so a span's end is found in logarithmic time.
struct ContentLines {
    starts: Vec<usize>,
    first_content: Vec<Option<usize>>,
    /// For each line, the last line at or before it that has content (1-based; 1 if none).
    last_with_content: Vec<usize>,
}

impl ContentLines {
    fn new(text: &str) -> ContentLines {
        let mut starts = vec![0];
        let mut first_content = vec![None];
        for (i, c) in text.chars().enumerate() {
            if c == '\n' {
                starts.push(i + 1);
                first_content.push(None);
            } else if !c.is_whitespace() {
                let slot = first_content.last_mut().expect("one entry per line");
                slot.get_or_insert(i);
            }
        }
        let mut last = 1;
        let last_with_content = first_content
            .iter()
            .enumerate()
            .map(|(k, first)| {
                if first.is_some() {
                    last = k + 1;
                }
                last
            })
            .collect();
        ContentLines {
            starts,
            first_content,
            last_with_content,
        }
    }

    /// The line of the last non-blank character before `char_index` (1 if there is none).
    fn last_content_line(&self, char_index: usize) -> usize {
        let Some(before) = char_index.checked_sub(1) else {
            return 1;
        };
        let line = self.starts.partition_point(|&s| s <= before) - 1;
        match self.first_content[line] {
            Some(first) if first <= before => line + 1,
            _ if line == 0 => 1,
            _ => self.last_with_content[line - 1],
        }
    }
}

/// The scalar forms kiln accepts.
pub enum Scalar<'n> {
    /// An empty value (`~`, `null`, nothing).
    Null,
    /// Any other scalar, as written, with its quoting style.
    Text(&'n str, ScalarStyle),
}

impl<'a> Reader<'a> {
    /// A reader of `text`, the text that was parsed (rendered), reporting against `file`.
    pub fn new(
        file: &'a str,
        text: &str,
        lines: &'a dyn LineMap,
        diags: &'a mut Diagnostics,
    ) -> Reader<'a> {
        Reader {
            file,
            lines,
            diags,
            content: ContentLines::new(text),
        }
    }

    /// Where `node` is in the file as the user wrote it.
    pub fn span(&self, node: &Node) -> Span {
        let start = node.span.start;
        let end = node.span.end;
        // A block scalar's span starts at its content; its `|` or `>` header sits a line above.
        let header_above = matches!(
            &node.data,
            YamlDataOwned::Representation(_, ScalarStyle::Literal | ScalarStyle::Folded, _)
        );
        let first = if header_above {
            start.line().saturating_sub(1)
        } else {
            start.line()
        };
        let line = self.lines.source_line(first.max(1));
        let end_rendered = self.last_content_line(end.index()).max(first);
        let end_line = self.lines.source_line(end_rendered.max(1));
        Span::new(line, start.col() + 1, end_line)
    }

    /// The line of the last non-blank character before `char_index`: a node's end marker sits on
    /// the next token, often lines later.
    fn last_content_line(&self, char_index: usize) -> usize {
        self.content.last_content_line(char_index)
    }

    /// Records an error at `node`.
    pub fn error(&mut self, node: &Node, message: impl Into<String>) {
        let span = self.span(node);
        self.diags.error(self.file, span, message);
    }

    /// Records a finding of `rule` at `node`.
    pub fn lint(&mut self, rule: &'static LintRule, node: &Node, message: impl Into<String>) {
        let span = self.span(node);
        self.diags.lint(rule, self.file, span, message);
    }

    /// `node` as a scalar; `None` for collections.
    pub fn scalar<'n>(&self, node: &'n Node) -> Option<Scalar<'n>> {
        match &node.data {
            YamlDataOwned::Representation(text, style, _) => {
                if *style == ScalarStyle::Plain
                    && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Some(Scalar::Null)
                } else {
                    Some(Scalar::Text(text, *style))
                }
            }
            YamlDataOwned::Tagged(_, inner) => self.scalar(inner),
            _ => None,
        }
    }

    fn kind(node: &Node) -> &'static str {
        match &node.data {
            YamlDataOwned::Sequence(_) => "a list",
            YamlDataOwned::Mapping(_) => "a mapping",
            YamlDataOwned::Alias(_) => "an alias",
            _ => "a scalar",
        }
    }

    /// A string field; `what` names it in messages.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match self.scalar(node) {
            Some(Scalar::Text(t, _)) => Some(t.to_string()),
            Some(Scalar::Null) => Some(String::new()),
            None => {
                let kind = Self::kind(node);
                self.error(node, format!("{what} must be a string, found {kind}"));
                None
            }
        }
    }

    /// A boolean field (`true`/`false`, `True`/`False` or upper case; empty is false); `what` names
    /// it in messages.
    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match self.scalar(node) {
            Some(Scalar::Text(t, ScalarStyle::Plain)) => match t {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => {
                    self.error(node, format!("{what} must be true or false, found {t:?}"));
                    None
                }
            },
            Some(Scalar::Null) => Some(false),
            _ => {
                self.error(node, format!("{what} must be true or false"));
                None
            }
        }
    }

    /// A list of strings. A single string where a list is expected is an error (as in bldr).
    pub fn string_list(&mut self, node: &Node, what: &str) -> Vec<(String, Span)> {
        let mut out = Vec::new();
        match &node.data {
            YamlDataOwned::Sequence(items) => {
                for item in items {
                    if let Some(s) = self.string(item, &format!("each item of {what}")) {
                        out.push((s, self.span(item)));
                    }
                }
            }
            _ if matches!(self.scalar(node), Some(Scalar::Null)) => {}
            _ => {
                let kind = Self::kind(node);
                self.error(
                    node,
                    format!("{what} must be a list, found {kind}; write it as `- item` lines"),
                );
            }
        }
        out
    }

    /// A mapping of string keys to string values.
    pub fn string_map(&mut self, node: &Node, what: &str) -> BTreeMap<String, String> {
        self.spanned_string_map(node, what)
            .into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect()
    }

    /// A mapping of string keys to string values, each with the span of its value.
    pub fn spanned_string_map(
        &mut self,
        node: &Node,
        what: &str,
    ) -> BTreeMap<String, (String, Span)> {
        let mut out = BTreeMap::new();
        if let Some(entries) = self.mapping(node, what) {
            for (k, v) in entries {
                if let Some(key) = self.string(k, &format!("a key of {what}")) {
                    if let Some(value) = self.string(v, &format!("{what}.{key}")) {
                        out.insert(key, (value, self.span(v)));
                    }
                }
            }
        }
        out
    }

    /// The entries of a mapping, in document order. A null node is an empty mapping.
    pub fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<Vec<(&'n Node, &'n Node)>> {
        match &node.data {
            YamlDataOwned::Mapping(m) => Some(m.iter().collect()),
            YamlDataOwned::Tagged(_, inner) => self.mapping(inner, what),
            _ if matches!(self.scalar(node), Some(Scalar::Null)) => Some(Vec::new()),
            _ => {
                let kind = Self::kind(node);
                self.error(node, format!("{what} must be a mapping, found {kind}"));
                None
            }
        }
    }

    /// A list's items (empty for a null value); anything else is reported, `what` naming it.
    pub fn sequence<'n>(&mut self, node: &'n Node, what: &str) -> Vec<&'n Node> {
        match &node.data {
            YamlDataOwned::Sequence(items) => items.iter().collect(),
            _ if matches!(self.scalar(node), Some(Scalar::Null)) => Vec::new(),
            _ => {
                let kind = Self::kind(node);
                self.error(node, format!("{what} must be a list, found {kind}"));
                Vec::new()
            }
        }
    }

    /// Splits a mapping into known fields, warning about keys that are not in `known`.
    pub fn fields<'n>(&mut self, node: &'n Node, what: &str, known: &[&str]) -> Fields<'n> {
        let mut fields = Fields {
            entries: BTreeMap::new(),
        };
        let Some(entries) = self.mapping(node, what) else {
            return fields;
        };
        for (k, v) in entries {
            let Some(key) = self.string(k, &format!("a key of {what}")) else {
                continue;
            };
            if known.contains(&key.as_str()) {
                fields.entries.insert(key, (k, v));
            } else if let Some((_, _, replacement)) = DEPRECATED_KEYS
                .iter()
                .find(|(scope, old, _)| *scope == what && *old == key)
            {
                self.lint(
                    &lint::DEPRECATED_KEY,
                    k,
                    format!("`{key}` in {what} is from an older bldr format and is ignored; use `{replacement}`"),
                );
            } else {
                let hint = super::suggest::closest(&key, known.iter().copied())
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                self.lint(
                    &lint::UNKNOWN_KEY,
                    k,
                    format!("unknown key `{key}` in {what} is ignored{hint}"),
                );
            }
        }
        fields
    }
}

/// The known keys of one mapping, with their key and value nodes.
pub struct Fields<'n> {
    entries: BTreeMap<String, (&'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// The value of `key`, if the mapping has it.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.get(key).map(|(_, v)| *v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` and runs `f` with a reader over it, returning its result and the diagnostics.
    fn read<T>(text: &str, f: impl FnOnce(&mut Reader<'_>, &Node) -> T) -> (T, Diagnostics) {
        let node = parse(text).unwrap().unwrap();
        let mut diags = Diagnostics::default();
        let mut r = Reader::new("pkg.yaml", text, &Identity, &mut diags);
        let out = f(&mut r, &node);
        (out, diags)
    }

    #[test]
    fn nesting_past_the_limit_is_refused_at_its_line_without_recursing() {
        let limit = kiln_validate::MAX_YAML_DEPTH;
        // The mapping is one level, so `limit - 1` sequences reach the limit exactly.
        let at_limit = format!("a:\n  {}x\n", "- ".repeat(limit - 1));
        assert!(parse(&at_limit).is_ok());
        // Deep enough that a recursive loader or destructor would overflow the test's stack.
        let deep = format!("a:\n  {}x\n", "- ".repeat(200_000));
        let (line, _, message) = parse(&deep).unwrap_err();
        assert_eq!(line, 2);
        assert!(
            message.contains(&format!("more than {limit} deep")),
            "{message}"
        );
    }

    #[test]
    fn scalars_keep_their_written_text() {
        let (map, diags) = read("a: 8721136\nb: 1.10\nc: \"x\"\nd:\n", |r, n| {
            r.string_map(n, "vars")
        });
        assert_eq!(map["a"], "8721136");
        assert_eq!(map["b"], "1.10");
        assert_eq!(map["c"], "x");
        assert_eq!(map["d"], "");
        assert!(diags.is_empty());
    }

    #[test]
    fn span_ends_skip_trailing_blank_lines() {
        let text = "a:\n  - x\n\n  \nb: y\n";
        let lines = ContentLines::new(text);
        // Before `b` (char 13) the last content is `x` on line 2.
        let b = text.chars().position(|c| c == 'b').unwrap();
        assert_eq!(lines.last_content_line(b), 2);
        assert_eq!(lines.last_content_line(0), 1);
        assert_eq!(lines.last_content_line(text.chars().count()), 5);
        // Right after the `-` on line 2.
        assert_eq!(lines.last_content_line(6), 2);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(err.0 >= 1, "{err:?}");
    }

    #[test]
    fn unknown_keys_are_warnings_with_a_hint() {
        let (has_name, diags) = read("name: x\nvarient: alpine\n", |r, n| {
            r.fields(n, "the package", &["name", "variant"])
                .get("name")
                .is_some()
        });
        assert!(has_name);
        assert!(!diags.has_errors());
        let w: Vec<_> = diags.warnings().collect();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].span.line, 2);
        assert!(
            w[0].message.contains("did you mean `variant`"),
            "{}",
            w[0].message
        );
    }

    #[test]
    fn a_string_where_a_list_is_expected_is_an_error() {
        let (list, diags) = read("build: make\n", |r, n| {
            let f = r.fields(n, "a step", &["build"]);
            r.string_list(f.get("build").unwrap(), "build")
        });
        assert!(list.is_empty());
        let e: Vec<_> = diags.errors().collect();
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("must be a list"));
        assert_eq!(e[0].span.line, 1);
    }
}
