//! Lint rules: named checks whose findings are warnings (or errors) about a tree that still
//! builds, and the `check` settings that silence them or turn them into errors.
//!
//! Each rule is a value with a stable id (what `# check=skip=<id>` names), a one-line summary
//! (what buildx prints under the id) and a default severity. The readers in this layer report
//! unknown keys; the tree layer runs the rules that need a whole loaded tree.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::diag::Severity;

/// One lint rule.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct LintRule {
    /// Stable id in BuildKit's style (`UnknownKey`), as shown by `--call check`.
    pub id: &'static str,
    /// What the rule looks for, in one line, without a URL.
    pub summary: &'static str,
    /// The severity findings get unless `check=error=true` makes them errors.
    pub severity: Severity,
}

impl fmt::Display for LintRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}

/// A key that neither kiln nor bldr reads.
pub const UNKNOWN_KEY: LintRule = LintRule {
    id: "UnknownKey",
    summary: "Keys kiln and bldr do not know are ignored; a typo silently drops a setting",
    severity: Severity::Warning,
};

/// A key only older bldr formats read.
pub const DEPRECATED_KEY: LintRule = LintRule {
    id: "DeprecatedKey",
    summary: "Keys of older bldr formats are ignored by format v1alpha2",
    severity: Severity::Warning,
};

/// A relative path, or one that climbs out with `..`.
pub const SUSPICIOUS_PATH: LintRule = LintRule {
    id: "SuspiciousPath",
    summary: "Paths should be absolute and stay inside the build root (no `..`)",
    severity: Severity::Warning,
};

/// A finalize copy from a path no step or dependency writes.
pub const FINALIZE_COPIES_NOTHING: LintRule = LintRule {
    id: "FinalizeCopiesNothing",
    summary: "A finalize entry copies from a path that nothing in the package writes",
    severity: Severity::Warning,
};

/// A variable defined but never read by any template.
pub const UNUSED_VARIABLE: LintRule = LintRule {
    id: "UnusedVariable",
    summary: "A variable defined in vars.yaml or the Pkgfile that no template reads",
    severity: Severity::Warning,
};

/// An SBOM that scanners cannot match (no CPE, no purl).
pub const SBOM_WITHOUT_IDENTIFIER: LintRule = LintRule {
    id: "SbomWithoutIdentifier",
    summary: "An sbom block with neither cpes nor purl cannot be matched by vulnerability scanners",
    severity: Severity::Warning,
};

/// `cachePaths` on a step that runs no scripts.
pub const CACHE_PATHS_WITHOUT_SCRIPT: LintRule = LintRule {
    id: "CachePathsWithoutScript",
    summary: "Cache mounts apply only to the scripts of their own step; this step runs none",
    severity: Severity::Warning,
};

/// Every rule, for listings and for checking the names given to `check=skip=`.
pub const ALL: &[&LintRule] = &[
    &UNKNOWN_KEY,
    &DEPRECATED_KEY,
    &SUSPICIOUS_PATH,
    &FINALIZE_COPIES_NOTHING,
    &UNUSED_VARIABLE,
    &SBOM_WITHOUT_IDENTIFIER,
    &CACHE_PATHS_WITHOUT_SCRIPT,
];

/// Looks a rule up by id, ignoring case.
pub fn rule(id: &str) -> Option<&'static LintRule> {
    ALL.iter().copied().find(|r| r.id.eq_ignore_ascii_case(id))
}

/// Which rules run and how their findings count, from `# check=…` directives and the
/// `BUILDKIT_DOCKERFILE_CHECK` build arg (the Dockerfile frontend's syntax:
/// `skip=RuleA,RuleB;error=true`, `skip=all`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckConfig {
    /// Rule ids to silence (lower-cased).
    skip: BTreeSet<String>,
    skip_all: bool,
    /// Every finding counts as an error.
    pub error: bool,
    /// Parts of the setting that were not understood, to report.
    pub problems: Vec<String>,
}

impl CheckConfig {
    /// Parses one setting; later settings add to earlier ones.
    pub fn apply(&mut self, setting: &str) {
        for part in setting.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                self.problems
                    .push(format!("check setting {part:?} must look like key=value"));
                continue;
            };
            match key.trim() {
                "skip" => {
                    for id in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        if id == "all" {
                            self.skip_all = true;
                        } else if rule(id).is_some() {
                            self.skip.insert(id.to_ascii_lowercase());
                        } else {
                            let known: Vec<&str> = ALL.iter().map(|r| r.id).collect();
                            let hint = super::suggest::closest(id, known.iter().copied())
                                .map(|c| format!("; did you mean {c}?"))
                                .unwrap_or_default();
                            self.problems
                                .push(format!("check=skip names unknown rule {id:?}{hint}"));
                        }
                    }
                }
                "error" => match value.trim() {
                    "true" => self.error = true,
                    "false" => self.error = false,
                    other => self
                        .problems
                        .push(format!("check error={other:?} must be true or false")),
                },
                other => self.problems.push(format!(
                    "unknown check setting {other:?}; use skip=<rule>[,<rule>] or error=true"
                )),
            }
        }
    }

    /// The configuration one `check=` setting describes (see [`CheckConfig::apply`]).
    pub fn parse(setting: &str) -> CheckConfig {
        let mut c = CheckConfig::default();
        c.apply(setting);
        c
    }

    /// Whether findings of `rule` are silenced by `skip=`.
    pub fn skips(&self, rule: &LintRule) -> bool {
        self.skip_all || self.skip.contains(&rule.id.to_ascii_lowercase())
    }

    /// The severity a finding of `rule` has under this configuration.
    pub fn severity(&self, rule: &LintRule) -> Severity {
        if self.error {
            Severity::Error
        } else {
            rule.severity
        }
    }
}

/// The values of `# check=…` directives at the top of a file: comment lines before the first
/// line that is neither a comment nor blank, as the Dockerfile frontend reads its directives.
pub fn directives(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        if let Some((key, value)) = comment.split_once('=') {
            if key.trim().eq_ignore_ascii_case("check") {
                out.push((i + 1, value.trim().to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_summaries_have_no_urls() {
        let ids: BTreeSet<&str> = ALL.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), ALL.len());
        for r in ALL {
            assert!(!r.summary.contains("://"), "{}", r.id);
            assert!(r.id.chars().next().unwrap().is_ascii_uppercase());
        }
    }

    #[test]
    fn skip_and_error_settings() {
        let c = CheckConfig::parse("skip=UnusedVariable, unknownkey;error=true");
        assert!(c.skips(&UNUSED_VARIABLE));
        assert!(c.skips(&UNKNOWN_KEY), "ids compare without case");
        assert!(!c.skips(&SUSPICIOUS_PATH));
        assert_eq!(c.severity(&SUSPICIOUS_PATH), Severity::Error);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert!(CheckConfig::parse("skip=all").skips(&CACHE_PATHS_WITHOUT_SCRIPT));
        let bad = CheckConfig::parse("skip=UnusedVariabel;color=red;error=maybe");
        assert_eq!(bad.problems.len(), 3, "{:?}", bad.problems);
        assert!(bad.problems[0].contains("did you mean UnusedVariable"));
        assert_eq!(
            CheckConfig::default().severity(&UNKNOWN_KEY),
            Severity::Warning
        );
    }

    #[test]
    fn directives_sit_at_the_top() {
        let text = "# syntax = kiln:dev\n# check=skip=UnknownKey\n\n#check = error=true\nformat: v1alpha2\n# check=skip=all\n";
        assert_eq!(
            directives(text),
            vec![
                (2, "skip=UnknownKey".to_string()),
                (4, "error=true".to_string())
            ]
        );
    }
}
