//! Where a rendered value is written: a checksum of a pkg.yaml source is either a literal in the
//! pkg.yaml or a `{{ .NAME }}` reference, and a variable is a literal in the Pkgfile's `vars:` or a
//! vars.yaml, or a reference to another variable, followed to the file that holds the literal.

use std::ops::Range;

use crate::spec::Span;
use crate::tree::{FileSet, Package, Tree};

use super::written::{self, Style, Token};

/// A literal value in one file, ready to be replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Path relative to the root.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The token's bytes in the file, quotes included.
    pub range: Range<usize>,
    /// How the literal is quoted, kept when it is rewritten.
    pub style: Style,
    /// The variable this literal defines; `None` for a value written in a pkg.yaml source.
    pub variable: Option<String>,
}

impl Site {
    /// Identifies the site across platforms and packages.
    pub fn key(&self) -> (String, usize) {
        (self.file.clone(), self.range.start)
    }

    /// `file:line`.
    pub fn position(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// How many references kiln follows before giving up (a cycle can't render, but stay bounded).
const MAX_REFERENCES: usize = 16;

fn text<'a>(files: &'a FileSet, file: &str) -> Result<&'a str, String> {
    let data = files
        .get(file)
        .ok_or_else(|| format!("{file}: the file is missing"))?;
    std::str::from_utf8(data).map_err(|e| format!("{file}: not UTF-8 ({e})"))
}

/// Where the `key` (`sha256` or `sha512`) of a source of `package` is written; `span` is the
/// value's position and `value` what it renders to.
pub fn checksum(
    tree: &Tree,
    files: &FileSet,
    package: &Package,
    key: &str,
    span: Span,
    value: &str,
) -> Result<Site, String> {
    let at = format!("{}:{}", package.file, span.line);
    let source = text(files, &package.file)?;
    match written::value_of(source, span.line, key).map_err(|e| format!("{at}: {e}"))? {
        Token::Literal {
            range,
            style,
            value: found,
        } if found.eq_ignore_ascii_case(value) => Ok(Site {
            file: package.file.clone(),
            line: span.line,
            range,
            style,
            variable: None,
        }),
        Token::Literal { value: found, .. } => Err(format!(
            "{at}: the {key} renders as {value:?} but the line holds {found:?}; write it as a literal or as `{{{{ .NAME }}}}`"
        )),
        Token::Reference(name) => variable(tree, files, &package.dir, &name, value, 0)
            .map_err(|e| format!("{at}: the {key} comes from {name}: {e}")),
        Token::Expression(e) => Err(format!(
            "{at}: the {key} is written as `{e}`; kiln update rewrites literals and `{{{{ .NAME }}}}` references only"
        )),
    }
}

/// Where the variable `name`, as seen from directory `dir`, is written as a literal; `value` is
/// what it renders to there.
pub fn variable(
    tree: &Tree,
    files: &FileSet,
    dir: &str,
    name: &str,
    value: &str,
    depth: usize,
) -> Result<Site, String> {
    if depth > MAX_REFERENCES {
        return Err(format!(
            "{name}: more than {MAX_REFERENCES} references deep"
        ));
    }
    let Some(definition) = tree.definitions.get(dir).and_then(|d| d.get(name)) else {
        return Err(format!(
            "{name} is not set in the Pkgfile's vars or a vars.yaml (built-ins and build args can't be rewritten)"
        ));
    };
    let file = &definition.file;
    let line = definition.span.line;
    let at = format!("{file}:{line}");
    let source = text(files, file)?;
    match written::value_of(source, line, name).map_err(|e| format!("{file}: {e}"))? {
        Token::Literal {
            range,
            style,
            value: found,
        } if found == value => Ok(Site {
            file: file.clone(),
            line,
            range,
            style,
            variable: Some(name.to_string()),
        }),
        Token::Literal { value: found, .. } => Err(format!(
            "{at}: {name} renders as {value:?} but the line holds {found:?}; kiln update rewrites values written on one line"
        )),
        Token::Reference(other) if is_vars_yaml(file) => {
            // A vars.yaml is rendered with its parent directory's variables.
            let scope = parent(parent(file));
            variable(tree, files, scope, &other, value, depth + 1)
        }
        Token::Reference(e) | Token::Expression(e) => Err(format!(
            "{at}: {name} is written as `{e}`; kiln update rewrites literals and `{{{{ .NAME }}}}` references only"
        )),
    }
}

fn is_vars_yaml(file: &str) -> bool {
    file.rsplit('/').next() == Some(crate::tree::files::VARS_YAML)
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Platform;
    use crate::tree::{load, LoadOptions};

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn tree(entries: &[(&str, String)]) -> (FileSet, Tree) {
        let mut files = FileSet::default();
        for (path, text) in entries {
            files.insert(*path, text.as_bytes().to_vec());
        }
        let tree = load(&files, &LoadOptions::new(Platform::linux("arm64"))).unwrap();
        (files, tree)
    }

    fn sites(
        files: &FileSet,
        tree: &Tree,
        pkg: &str,
    ) -> Vec<Result<(String, usize, String), String>> {
        let package = &tree.packages[pkg];
        let source = &package.pkg.steps[0].sources[0];
        [
            ("sha256", source.sha256_span, &source.sha256),
            ("sha512", source.sha512_span, &source.sha512),
        ]
        .into_iter()
        .map(|(key, span, value)| {
            checksum(tree, files, package, key, span, value).map(|s| {
                let text = std::str::from_utf8(files.get(&s.file).unwrap()).unwrap();
                (s.file, s.line, text[s.range].to_string())
            })
        })
        .collect()
    }

    fn pkg(sha256: &str, sha512: &str) -> String {
        format!("name: p\nvariant: scratch\nsteps:\n  - sources:\n      - url: https://x/y\n        destination: y\n        sha256: {sha256}\n        sha512: {sha512}\n    build: [true]\nfinalize: [{{from: /, to: /}}]\n")
    }

    #[test]
    fn literals_in_the_pkg_yaml() {
        let (files, tree) = tree(&[
            ("Pkgfile", "format: v1alpha2\n".into()),
            ("p/pkg.yaml", pkg(A, &format!("\"{B}\""))),
        ]);
        let s = sites(&files, &tree, "p");
        assert_eq!(s[0], Ok(("p/pkg.yaml".into(), 7, A.into())));
        assert_eq!(s[1], Ok(("p/pkg.yaml".into(), 8, format!("\"{B}\""))));
    }

    #[test]
    fn references_are_followed_to_the_file_holding_the_literal() {
        let (files, tree) = tree(&[
            (
                "Pkgfile",
                format!("format: v1alpha2\nvars:\n  ROOT_512: {B} # pinned\n"),
            ),
            ("vars.yaml", format!("# comment\nP_SHA256: '{A}'\n")),
            ("p/vars.yaml", "P_SHA512: \"{{ .ROOT_512 }}\"\n".into()),
            ("p/pkg.yaml", pkg("{{ .P_SHA256 }}", "\"{{ .P_SHA512 }}\"")),
        ]);
        let s = sites(&files, &tree, "p");
        assert_eq!(s[0], Ok(("vars.yaml".into(), 2, format!("'{A}'"))));
        assert_eq!(s[1], Ok(("Pkgfile".into(), 3, B.into())));
    }

    #[test]
    fn expressions_and_built_ins_are_refused_with_their_line() {
        let (files, tree) = tree(&[
            ("Pkgfile", format!("format: v1alpha2\nvars:\n  H: {A}\n")),
            ("p/pkg.yaml", pkg("{{ .H | lower }}", B)),
        ]);
        let package = &tree.packages["p"];
        let source = &package.pkg.steps[0].sources[0];
        let e = checksum(
            &tree,
            &files,
            package,
            "sha256",
            source.sha256_span,
            &source.sha256,
        )
        .unwrap_err();
        assert!(
            e.starts_with("p/pkg.yaml:7: the sha256 is written as `{{ .H | lower }}`"),
            "{e}"
        );
        let e = variable(&tree, &files, "p", "ARCH", "aarch64", 0).unwrap_err();
        assert!(e.contains("built-ins and build args"), "{e}");
    }
}
