//! The `frontend.lint` subrequest (`docker buildx build --call check`; buildx 0.13 spells it
//! `--print check` and sends `frontend.check`): findings in BuildKit's lint result format, so
//! that buildx prints them as it prints a Dockerfile's, and an exit status for the call.
//!
//! `result.json` follows BuildKit's `LintResults` (warnings with rule name, description, detail
//! and a `pb.Location` into `sources`); `result.txt` is the same text buildx prints from it, for
//! clients that print `result.txt` as is; `result.statuscode` is what buildx exits with.

use std::collections::BTreeMap;

use base64::Engine as _;
use kiln_proto::moby::buildkit::v1::frontend as gw;
use serde::Serialize;

use crate::errors::LineRange;
use crate::result::metadata_only;
use crate::subrequests::RequestDescription;

/// What buildx sends for `--call check`.
pub const REQUEST_LINT: &str = "frontend.lint";
/// What buildx 0.13 sends for `--print check`.
pub const REQUEST_CHECK: &str = "frontend.check";

/// A file findings point into (BuildKit's `pb.SourceInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    /// The name buildx shows, e.g. `gvisor/pkg.yaml`.
    pub filename: String,
    /// The whole file (base64 in JSON); buildx cuts the finding's lines out of it.
    #[serde(serialize_with = "base64_bytes")]
    pub data: Vec<u8>,
    /// Syntax hint for the printer, e.g. `yaml`.
    pub language: String,
}

fn base64_bytes<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
}

/// Lines of one of [`LintResults::sources`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Index into the sources; `None` for findings about no file in particular.
    pub source: Option<usize>,
    /// The lines of the finding.
    pub ranges: Vec<LineRange>,
}

impl Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // BuildKit's pb.Location as JSON: zero values omitted, -1 for "no source".
        let index = self.source.map_or(-1, |i| i as i64);
        crate::subrequests::TargetLocation {
            source_index: index as i32,
            ranges: self.ranges.clone(),
        }
        .serialize(s)
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The rule's id, e.g. `UnknownKey`.
    #[serde(rename = "ruleName")]
    pub rule_name: String,
    /// What the rule checks.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// This finding, in words.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Where the finding is.
    pub location: Location,
}

/// Every finding of a check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LintResults {
    /// The findings, in the order reported.
    pub warnings: Vec<Warning>,
    /// The files the findings' locations index into.
    pub sources: Vec<SourceInfo>,
}

impl LintResults {
    /// The index of `source`, adding it when new.
    pub fn add_source(&mut self, source: SourceInfo) -> usize {
        if let Some(i) = self.sources.iter().position(|s| *s == source) {
            return i;
        }
        self.sources.push(source);
        self.sources.len() - 1
    }

    /// The text buildx prints for these results: each finding (by file, then line) as
    /// `WARNING: Rule`, its detail and the lines it is about, after a count.
    pub fn to_text(&self) -> String {
        let mut order: Vec<&Warning> = self.warnings.iter().collect();
        order.sort_by_key(|w| {
            let file = w.location.source.map(|i| self.sources[i].filename.as_str());
            let line = w.location.ranges.first().map(|r| r.start);
            (file.is_some(), file, line.is_some(), line)
        });
        let mut out = match self.warnings.len() {
            0 => "Check complete, no warnings found.\n".to_string(),
            1 => "Check complete, 1 warning has been found!\n".to_string(),
            n => format!("Check complete, {n} warnings have been found!\n"),
        };
        for w in order {
            out.push_str(&format!("\nWARNING: {}\n{}\n", w.rule_name, w.detail));
            if let Some(i) = w.location.source {
                let source = &self.sources[i];
                out.push_str(&print_source(
                    &source.filename,
                    &source.data,
                    &w.location.ranges,
                ));
            }
        }
        out
    }
}

/// The answer to `frontend.lint`/`frontend.check`. `failed` sets a non-zero status code, which
/// buildx exits with.
pub fn lint_result(results: &LintResults, failed: bool) -> gw::Result {
    let json = serde_json::to_vec_pretty(results).unwrap_or_default();
    metadata_only(BTreeMap::from([
        ("result.json".to_string(), json),
        ("result.txt".to_string(), results.to_text().into_bytes()),
        (
            "result.statuscode".to_string(),
            if failed { b"1".to_vec() } else { b"0".to_vec() },
        ),
        ("version".to_string(), b"1.0.0".to_vec()),
    ]))
}

/// The description of `frontend.lint` for `frontend.subrequests.describe`.
pub fn lint_description() -> RequestDescription {
    RequestDescription::rpc(
        REQUEST_LINT,
        "Lint the package tree",
        Some(Vec::new()),
        &["result.json", "result.txt", "result.statuscode"],
    )
}

/// The description of buildx 0.13's `frontend.check`, answered like `frontend.lint`.
pub fn check_description() -> RequestDescription {
    RequestDescription {
        name: REQUEST_CHECK.to_string(),
        description: "Lint the package tree (buildx 0.13's name; fails when a finding is an error)"
            .to_string(),
        ..lint_description()
    }
}

/// Lines of a file around `ranges`, the ranges' lines marked with `>>>`, as buildx prints a
/// source location: `file:line`, a rule, numbered lines with up to a few lines of context.
pub fn print_source(filename: &str, data: &[u8], ranges: &[LineRange]) -> String {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').collect();
    let Some(first) = ranges.iter().map(|r| r.start).min() else {
        return String::new();
    };
    let last = ranges
        .iter()
        .map(|r| r.end.max(r.start))
        .max()
        .unwrap_or(first);
    let (mut start, mut end) = (first as usize, last as usize);
    if start < 1 || start > lines.len() {
        return String::new();
    }
    end = end.min(lines.len());
    // Context: up to four lines in all for one line, two for a range, split around it.
    let pad = if start == end { 4 } else { 2 };
    let mut taken = 0;
    while taken < pad {
        if start > 1 {
            start -= 1;
            taken += 1;
        }
        if end != lines.len() {
            end += 1;
            taken += 1;
        }
        taken += 1;
    }
    let mut out = format!("{filename}:{first}\n--------------------\n");
    for (i, line) in lines.iter().enumerate().take(end).skip(start - 1) {
        let n = i + 1;
        let marked = ranges
            .iter()
            .any(|r| r.start as usize <= n && r.end.max(r.start) as usize >= n);
        let prefix = if marked { ">>>" } else { "   " };
        out.push_str(&format!(" {n:>3} | {prefix} {line}\n"));
    }
    out.push_str("--------------------\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn results() -> LintResults {
        let mut r = LintResults::default();
        let i = r.add_source(SourceInfo {
            filename: "a/pkg.yaml".into(),
            data: b"name: a\nvariant: scratch\nbogus: 1\nfinalize: []\n".to_vec(),
            language: "yaml".into(),
        });
        assert_eq!(
            r.add_source(r.sources[0].clone()),
            i,
            "a source is listed once"
        );
        r.warnings.push(Warning {
            rule_name: "UnusedVariable".into(),
            description: "A variable nothing reads".into(),
            detail: "variable X is not read".into(),
            location: Location {
                source: None,
                ranges: vec![],
            },
        });
        r.warnings.push(Warning {
            rule_name: "UnknownKey".into(),
            description: "Unknown keys are ignored".into(),
            detail: "unknown key `bogus`".into(),
            location: Location {
                source: Some(i),
                ranges: vec![LineRange::line(3)],
            },
        });
        r
    }

    #[test]
    fn json_has_the_shape_of_buildkit_lint_results() {
        let res = lint_result(&results(), false);
        let v: Value = serde_json::from_slice(&res.metadata["result.json"]).unwrap();
        // Field names and nesting of BuildKit's lint.LintResults / lint.Warning / pb.Location /
        // pb.SourceInfo (frontend/subrequests/lint, solver/pb/ops.proto).
        assert_eq!(
            v,
            json!({
                "warnings": [
                    {"ruleName": "UnusedVariable", "description": "A variable nothing reads",
                     "detail": "variable X is not read", "location": {"sourceIndex": -1}},
                    {"ruleName": "UnknownKey", "description": "Unknown keys are ignored",
                     "detail": "unknown key `bogus`",
                     "location": {"ranges": [{"start": {"line": 3}, "end": {"line": 3}}]}}
                ],
                "sources": [{"filename": "a/pkg.yaml",
                             "data": "bmFtZTogYQp2YXJpYW50OiBzY3JhdGNoCmJvZ3VzOiAxCmZpbmFsaXplOiBbXQo=",
                             "language": "yaml"}]
            })
        );
        assert_eq!(res.metadata["result.statuscode"], b"0");
        assert_eq!(res.metadata["version"], b"1.0.0");
        assert!(res.result.is_none(), "metadata only");
        assert_eq!(
            lint_result(&results(), true).metadata["result.statuscode"],
            b"1"
        );
    }

    #[test]
    fn text_lists_findings_without_a_file_first_then_by_line_with_context() {
        let text = results().to_text();
        assert_eq!(
            text,
            "Check complete, 2 warnings have been found!\n\
             \nWARNING: UnusedVariable\nvariable X is not read\n\
             \nWARNING: UnknownKey\nunknown key `bogus`\n\
             a/pkg.yaml:3\n--------------------\n\
             \x20  1 |     name: a\n\
             \x20  2 |     variant: scratch\n\
             \x20  3 | >>> bogus: 1\n\
             \x20  4 |     finalize: []\n\
             \x20  5 |     \n\
             --------------------\n"
        );
        assert_eq!(
            LintResults::default().to_text(),
            "Check complete, no warnings found.\n"
        );
    }

    #[test]
    fn source_context_is_clamped_to_the_file() {
        let data = b"1\n2\n3\n4\n5\n6\n7\n8\n9\n10";
        let text = print_source("f", data, &[LineRange { start: 5, end: 6 }]);
        let numbers: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split('|').next())
            .filter_map(|n| n.trim().parse::<u32>().ok().map(|_| n.trim()))
            .collect();
        assert_eq!(numbers, ["4", "5", "6", "7"]);
        assert!(text.contains(">>> 5") && text.contains(">>> 6"));
        assert_eq!(print_source("f", data, &[LineRange::line(99)]), "");
        assert_eq!(print_source("f", data, &[]), "");
    }
}
