//! An image's validity across Talos releases: the image is validated at every version where an
//! answer can change (each known release's `.0`, and the boundaries of its own
//! `compatibility.talos.version` and of the range asked about), and consecutive versions with the
//! same verdict are merged into spans such as `v1.10.0 – v1.14.x`.

use semver::Version;
use serde::Serialize;

use crate::version::{known_releases, Range};
use crate::{rules, validate, Options, TalosVersion, Tree, Violation};

/// Consecutive Talos versions with one verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// First version of the span, e.g. `v1.10.0`.
    pub from: String,
    /// Last version of the span, e.g. `v1.14.x` (every patch) or `v1.12.4`.
    pub to: String,
    /// Whether the image is valid for every release of the span.
    pub valid: bool,
    /// The rules that fail throughout the span (by id, in catalog order); empty when valid.
    pub failing: Vec<&'static str>,
    /// The first error at `from` when the image is not valid there.
    pub first_error: Option<Violation>,
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.from == self.to {
            write!(f, "{}", self.from)
        } else {
            write!(f, "{} – {}", self.from, self.to)
        }
    }
}

/// The spans of known releases (inside `selection` when given) for which `tree` is valid or not,
/// in version order. `options.talos_version` is ignored.
/// Long by design: one pass over the release table that opens and closes spans as verdicts change.
pub fn sweep(tree: &Tree, options: &Options, selection: Option<&Range>) -> Vec<Span> {
    let releases: Vec<(u64, u64)> = known_releases().collect();
    let known = |v: &Version| releases.contains(&(v.major, v.minor));
    let mut points: Vec<Version> = releases
        .iter()
        .map(|&(major, minor)| Version::new(major, minor, 0))
        .collect();
    if let Some(own) = rules::facts(tree)
        .talos_constraint
        .and_then(|c| Range::parse(&c).ok())
    {
        points.extend(own.boundaries());
    }
    if let Some(selection) = selection {
        points.extend(selection.boundaries());
    }
    points.retain(known);
    points.sort();
    points.dedup();

    // Per point: None outside the selection, else the failing rules and the first error.
    let verdicts: Vec<Option<(Vec<&'static str>, Option<Violation>)>> = points
        .iter()
        .map(|point| {
            if selection.is_some_and(|r| !r.matches(point)) {
                return None;
            }
            let at = Options {
                talos_version: Some(TalosVersion::new(point.major, point.minor, point.patch)),
                ..options.clone()
            };
            let report = validate(tree, &at);
            let failing: Vec<&'static str> = crate::rule::all()
                .filter(|rule| report.errors().any(|e| e.rule == *rule))
                .map(|rule| rule.id)
                .collect();
            let first_error = report.errors().next().cloned();
            Some((failing, first_error))
        })
        .collect();

    let key =
        |v: &Option<(Vec<&'static str>, Option<Violation>)>| v.as_ref().map(|(f, _)| f.clone());
    let mut spans = Vec::new();
    let mut start = 0;
    while start < points.len() {
        let mut end = start;
        while end + 1 < points.len() && key(&verdicts[end + 1]) == key(&verdicts[start]) {
            end += 1;
        }
        if let Some((failing, first_error)) = &verdicts[start] {
            spans.push(Span {
                from: format!("v{}", points[start]),
                to: last_before(points.get(end + 1), &points[end]),
                valid: failing.is_empty(),
                failing: failing.clone(),
                first_error: first_error.clone(),
            });
        }
        start = end + 1;
    }
    spans
}

/// The last version before `next` (a span's end), written `v1.11.x` when `next` starts a release.
fn last_before(next: Option<&Version>, last_point: &Version) -> String {
    match next {
        Some(n) if n.patch > 0 => format!("v{}.{}.{}", n.major, n.minor, n.patch - 1),
        Some(n) if n.minor > 0 => format!("v{}.{}.x", n.major, n.minor - 1),
        _ => format!("v{}.{}.x", last_point.major, last_point.minor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Entry, EntryKind};

    fn image(constraint: &str, files: &[&str]) -> Tree {
        let manifest = format!(
            "version: v1alpha1\nmetadata:\n  name: x\n  version: 1.0.0\n  author: a\n  description: d\n  compatibility:\n    talos:\n      version: \"{constraint}\"\n"
        );
        let mut entries = vec![Entry::new("rootfs", EntryKind::Dir, 0o755)];
        let mut m = Entry::new("manifest.yaml", EntryKind::File, 0o644);
        m.data = Some(manifest.into_bytes());
        entries.push(m);
        for f in files {
            entries.push(Entry::new(*f, EntryKind::File, 0o644));
        }
        Tree::from_entries(entries)
    }

    fn spans(tree: &Tree, selection: Option<&str>) -> Vec<String> {
        let range = selection.map(|s| Range::parse(s).expect("range"));
        sweep(tree, &Options::default(), range.as_ref())
            .iter()
            .map(|s| {
                let why = if s.valid {
                    "valid".to_owned()
                } else {
                    s.failing.join(", ")
                };
                format!("{s}: {why}")
            })
            .collect()
    }

    #[test]
    fn spans_follow_the_hierarchy_table_and_the_constraint() {
        let newest = known_releases().last().expect("releases");
        let last = format!("v{}.{}.x", newest.0, newest.1);
        // /usr/lib/firmware is allowed from v1.10; the manifest says >= 1.11.2.
        let tree = image(">= v1.11.2", &["rootfs/usr/lib/firmware/x.bin"]);
        assert_eq!(
            spans(&tree, None),
            [
                "v1.0.0 – v1.9.x: compatibility, path-not-allowed".to_owned(),
                "v1.10.0 – v1.11.1: compatibility".to_owned(),
                format!("v1.11.2 – {last}: valid"),
            ]
        );
        assert_eq!(
            spans(&tree, Some(">= 1.9.0 < 1.12.0")),
            [
                "v1.9.0 – v1.9.x: compatibility, path-not-allowed",
                "v1.10.0 – v1.11.1: compatibility",
                "v1.11.2 – v1.11.x: valid",
            ]
        );
        // /lib/firmware moved away in v1.10.
        let old = image(">= v1.0.0", &["rootfs/lib/firmware/x.bin"]);
        assert_eq!(
            spans(&old, None),
            [
                "v1.0.0 – v1.9.x: valid".to_owned(),
                format!("v1.10.0 – {last}: path-not-allowed"),
            ]
        );
    }
}
