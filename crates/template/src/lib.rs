//! kiln-template: Go `text/template` with Sprig's deterministic functions, as bldr renders `pkg.yaml`,
//! `vars.yaml` and `*.tmpl` (Go text/template + `sprig.HermeticTxtFuncMap`).
//!
//! Written here rather than taken from a crate so that semantics match Go exactly where trees depend on
//! them: `<no value>` for missing keys, `{{-`/`-}}` trimming, Go's comparison and truthiness rules,
//! Sprig's argument order. Rendering also keeps a map from each output line back to the template line
//! that produced it, so errors found in the rendered YAML can point at the file as the user wrote it.
//!
//! ```
//! use kiln_template::{render, Data};
//! let mut data = Data::new();
//! data.insert("ARCH".into(), "aarch64".into());
//! let out = render("pkg.yaml", "a: 1\n{{ if eq .ARCH \"x86_64\" }}\nb: 2\n{{ end }}\nc: {{ .ARCH }}\n", &data).unwrap();
//! assert_eq!(out.text, "a: 1\n\nc: aarch64\n");
//! assert_eq!(out.source_line(3), 5);
//! ```

#![warn(missing_docs)]

mod error;
mod exec;
mod funcs;
mod lex;
mod parse;
mod regex;
mod sha256;
mod value;

use std::collections::{BTreeMap, HashMap};

use error::LineIndex;
pub use error::TemplateError;

/// Largest rendered output of one template (and largest string a function may build), so a
/// template cannot exhaust memory.
pub const MAX_RENDERED_BYTES: usize = 16 << 20;

/// Most execution steps one render may take (each text or action node, range iteration and
/// function call is one step, plus the size of the values a call reads and returns), so a
/// template cannot hang.
pub const MAX_STEPS: u64 = 1_000_000;

/// Longest list a function may build (`until`).
pub const MAX_LIST_LENGTH: usize = 1_000_000;

/// Deepest nesting of `{{if}}`/`{{range}}`/`{{with}}`/`( )` blocks and `{{template}}` calls.
pub const MAX_NESTING: usize = 100;

/// The flat variable map; `.NAME` reads it.
pub type Data = BTreeMap<String, String>;

/// A parsed template.
#[derive(Debug)]
pub struct Template {
    name: String,
    source: String,
    lines: LineIndex,
    root: Vec<parse::Node>,
    defines: HashMap<String, Vec<parse::Node>>,
}

impl Template {
    /// Parses Go text/template syntax. `name` is used only in messages.
    pub fn parse(name: &str, source: &str) -> Result<Template, TemplateError> {
        let lines = LineIndex::new(source);
        let tokens = lex::lex(source).map_err(|e| lines.error(source, e))?;
        let parsed = parse::parse(source, &tokens, &lines).map_err(|e| lines.error(source, e))?;
        Ok(Template {
            name: name.to_string(),
            source: source.to_string(),
            lines,
            root: parsed.root,
            defines: parsed.defines,
        })
    }

    /// The name given to [`Template::parse`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renders with the data. Missing keys render as `<no value>` like Go's default `missingkey` option.
    pub fn render(&self, data: &Data) -> Result<Rendered, TemplateError> {
        let mut state = exec::State::new(self, data);
        state.run().map_err(|e| self.lines.error(&self.source, e))?;
        let missing = state
            .missing
            .iter()
            .map(|(pos, name)| {
                let (line, column) = self.lines.line_col(&self.source, *pos);
                MissingKey {
                    name: name.clone(),
                    line,
                    column,
                }
            })
            .collect();
        let out = state.out;
        Ok(Rendered {
            text: out.text,
            lines: out.lines,
            missing,
        })
    }
}

/// A `.NAME` lookup that found no entry (it rendered as `<no value>` or counted as false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingKey {
    /// The key that was looked up.
    pub name: String,
    /// 1-based position of the expression in the template source.
    pub line: usize,
    /// 1-based column of the expression.
    pub column: usize,
}

/// Rendered text plus the map from rendered lines to template source lines.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The rendered text.
    pub text: String,
    /// `lines[i]` is the source line of output line `i + 1`.
    lines: Vec<usize>,
    missing: Vec<MissingKey>,
}

impl Rendered {
    /// 1-based line in the template source that produced the 1-based rendered line `rendered_line`:
    /// the source line of the first byte emitted on that line (for action output, the action's line).
    /// Lines past the end map to the last produced line (1 for empty output).
    pub fn source_line(&self, rendered_line: usize) -> usize {
        let k = rendered_line.max(1) - 1;
        self.lines
            .get(k)
            .or(self.lines.last())
            .copied()
            .unwrap_or(1)
    }

    /// Number of rendered lines that have at least one byte.
    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// Keys the template read that were not in the data, in source order (each position once).
    pub fn missing_keys(&self) -> &[MissingKey] {
        &self.missing
    }
}

/// A read of a top-level variable (`.NAME`, the first segment of `.NAME.More`) in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableUse {
    /// The variable's name, without the dot.
    pub name: String,
    /// 1-based position in the template source.
    pub line: usize,
    /// 1-based column of the read.
    pub column: usize,
}

/// Every `.NAME` the template source reads from its data, in source order, whether or not the
/// branch holding it would run. Inside `range`/`with` a dot means something else; such reads are
/// listed too, which errs towards counting a variable as used.
pub fn variable_uses(source: &str) -> Result<Vec<VariableUse>, TemplateError> {
    use lex::Tok;
    let lines = LineIndex::new(source);
    let tokens = lex::lex(source).map_err(|e| lines.error(source, e))?;
    let mut out = Vec::new();
    let mut previous: Option<&lex::Token> = None;
    for token in &tokens {
        if let Tok::Field(name) = &token.tok {
            // A field touching a field, variable, `.` or `)` before it is a chained lookup.
            let chained = previous.is_some_and(|p| {
                p.end == token.start
                    && matches!(
                        p.tok,
                        Tok::Field(_) | Tok::Variable(_) | Tok::RParen | Tok::Dot
                    )
            });
            if !chained {
                let (line, column) = lines.line_col(source, token.start);
                out.push(VariableUse {
                    name: name.clone(),
                    line,
                    column,
                });
            }
        }
        previous = Some(token);
    }
    Ok(out)
}

/// Convenience: parse + render.
pub fn render(name: &str, source: &str, data: &Data) -> Result<Rendered, TemplateError> {
    Template::parse(name, source)?.render(data)
}

/// Names of every function templates may call (Go builtins and the Sprig subset).
pub fn function_names() -> impl Iterator<Item = &'static str> {
    funcs::names()
}

#[cfg(test)]
mod tests;
