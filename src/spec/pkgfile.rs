//! The root `Pkgfile`: plain YAML (not templated) whose first line is the `# syntax =` directive.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::diag::{Diagnostics, Span};
use super::yaml::{self, Identity, Reader};

/// The Pkgfile `format:` kiln reads.
pub const SUPPORTED_FORMAT: &str = "v1alpha2";

/// The Pkgfile: format, variables for every pkg.yaml, labels and the extension switch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[schemars(
    title = "Pkgfile",
    description = "The root file of a kiln/bldr package tree"
)]
pub struct Pkgfile {
    /// Must be `v1alpha2`.
    pub format: String,
    /// Template variables visible to every pkg.yaml, vars.yaml and *.tmpl.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// OCI image labels put on every output image.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Where each of `vars` is written.
    #[serde(skip)]
    #[schemars(skip)]
    pub var_spans: BTreeMap<String, Span>,
    /// Whether targets are Talos system extensions, validated as such (kiln only), unless their
    /// pkg.yaml says otherwise. Unset: decided by each output's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<bool>,
}

/// The keys the reader accepts (the schema test checks them against the fields above).
pub(super) const PKGFILE_KEYS: &[&str] = &["format", "vars", "labels", "extension"];

impl Pkgfile {
    /// Parses a Pkgfile, reporting every problem into `diags`.
    pub fn parse(file: &str, text: &str, diags: &mut Diagnostics) -> Pkgfile {
        let mut out = Pkgfile::default();
        let empty = format!("the Pkgfile is empty; it needs at least `format: {SUPPORTED_FORMAT}`");
        let Some(node) = yaml::parse_reported(file, text, &Identity, Some(empty), diags) else {
            return out;
        };
        let mut r = Reader::new(file, text, &Identity, diags);
        let f = r.fields(&node, "the Pkgfile", PKGFILE_KEYS);
        match f.get("format") {
            Some(n) => {
                if let Some(format) = r.string(n, "format") {
                    if format != SUPPORTED_FORMAT {
                        r.error(
                            n,
                            format!(
                                "unsupported format {format:?}; set `format: {SUPPORTED_FORMAT}`"
                            ),
                        );
                    }
                    out.format = format;
                }
            }
            None => r.error(
                &node,
                format!("the Pkgfile has no `format`; add `format: {SUPPORTED_FORMAT}`"),
            ),
        }
        if let Some(n) = f.get("vars") {
            for (name, (value, span)) in r.spanned_string_map(n, "vars") {
                out.vars.insert(name.clone(), value);
                out.var_spans.insert(name, span);
            }
        }
        if let Some(n) = f.get("labels") {
            out.labels = r.string_map(n, "labels");
        }
        out.extension = f.get("extension").and_then(|n| r.bool(n, "extension"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vars_and_labels() {
        let mut d = Diagnostics::default();
        let p = Pkgfile::parse(
            "Pkgfile",
            "# syntax = kiln:dev\n\nformat: v1alpha2\nvars:\n  A: 1.10\nlabels:\n  org.opencontainers.image.source: https://x\n",
            &mut d,
        );
        assert!(d.is_empty(), "{d}");
        assert_eq!(p.vars["A"], "1.10");
        assert_eq!(p.var_spans["A"].line, 5);
        assert_eq!(p.labels["org.opencontainers.image.source"], "https://x");
    }

    #[test]
    fn wrong_format_points_at_its_line() {
        let mut d = Diagnostics::default();
        Pkgfile::parse("Pkgfile", "# syntax = x\nformat: v1alpha1\n", &mut d);
        let e: Vec<_> = d.errors().collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].span.line, 2);
        assert!(e[0].message.contains("unsupported format \"v1alpha1\""));
        assert_eq!(e[0].file, "Pkgfile");
    }

    #[test]
    fn missing_format_and_bad_yaml() {
        let mut d = Diagnostics::default();
        Pkgfile::parse("Pkgfile", "vars: {}\n", &mut d);
        assert!(d.errors().any(|e| e.message.contains("has no `format`")));
        let mut d = Diagnostics::default();
        Pkgfile::parse("Pkgfile", "format: v1alpha2\nvars: [\n", &mut d);
        let e: Vec<_> = d.errors().collect();
        assert_eq!(e.len(), 1);
        assert!(e[0].message.starts_with("invalid YAML"));
        assert!(e[0].span.line >= 2);
    }
}
