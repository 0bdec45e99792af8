//! Checks across a set of images, as Talos stacks them at install: the same path shipped by two
//! images (an overlay collision that Talos resolves silently by order), two images with the same
//! `metadata.name`, and `compatibility.talos.version` constraints with no release in common.
//!
//! Images are compared platform by platform: an image root without a platform (a directory or a
//! tar of one) takes part in every platform's comparison.

use std::collections::BTreeMap;

use semver::Version;
use serde::Serialize;

use crate::rule::{self, Rule};
use crate::version::{known_releases, Range};
use crate::{rules, EntryKind, Severity, Tree};

/// One image of the set: the input it came from (for messages) and its tree for one platform.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// The input as given, e.g. a path or reference.
    pub input: &'a str,
    /// The image's files for this platform.
    pub tree: &'a Tree,
}

/// One broken rule across images, naming every image involved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetViolation {
    /// Whether the violation fails the check.
    pub severity: Severity,
    /// Relative to the image root (`rootfs/usr/local/bin/x`, `manifest.yaml`).
    pub path: String,
    /// The broken rule; serialized as its id.
    pub rule: &'static Rule,
    /// The inputs involved, in the order given.
    pub images: Vec<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for SetViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}: {}",
            self.severity, self.path, self.rule, self.message
        )
    }
}

/// Runs every set rule over `members` (one platform's images, in install order).
pub fn check(members: &[Member<'_>]) -> Vec<SetViolation> {
    let mut out = Vec::new();
    collisions(members, &mut out);
    duplicate_names(members, &mut out);
    compatibility_in_common(members, &mut out);
    out
}

fn names(members: &[Member<'_>], indexes: &[usize]) -> Vec<String> {
    indexes
        .iter()
        .map(|&i| members[i].input.to_owned())
        .collect()
}

/// A path that is not a directory in at least one image and present in another: Talos' overlay
/// shows only one of them. Directories shared by several images merge and are fine.
fn collisions(members: &[Member<'_>], out: &mut Vec<SetViolation>) {
    let mut shippers: BTreeMap<&str, Vec<(usize, bool)>> = BTreeMap::new();
    for (i, member) in members.iter().enumerate() {
        for entry in member.tree.under("rootfs") {
            shippers
                .entry(&entry.path)
                .or_default()
                .push((i, entry.kind == EntryKind::Dir));
        }
    }
    // BTreeMap order is byte order; report in tree order so a subtree stays together.
    let mut paths: Vec<(&str, Vec<(usize, bool)>)> = shippers
        .into_iter()
        .filter(|(_, by)| by.len() > 1 && by.iter().any(|(_, is_dir)| !is_dir))
        .collect();
    paths.sort_by(|a, b| crate::tree::component_order(a.0, b.0));
    for (path, by) in paths {
        let indexes: Vec<usize> = by.iter().map(|(i, _)| *i).collect();
        let images = names(members, &indexes);
        let item = rules::item_path(path);
        out.push(SetViolation {
            severity: Severity::Error,
            path: path.to_owned(),
            rule: &rule::OVERLAY_COLLISION,
            message: format!(
                "{item:?} is shipped by {}; Talos stacks extensions in order and silently keeps only {}'s, so drop it from all but one",
                images.join(", "),
                images.last().map_or("", String::as_str),
            ),
            images,
        });
    }
}

fn duplicate_names(members: &[Member<'_>], out: &mut Vec<SetViolation>) {
    let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, member) in members.iter().enumerate() {
        if let Some(name) = rules::facts(member.tree).name {
            by_name.entry(name).or_default().push(i);
        }
    }
    for (name, indexes) in by_name.into_iter().filter(|(_, by)| by.len() > 1) {
        let images = names(members, &indexes);
        out.push(SetViolation {
            severity: Severity::Error,
            path: "manifest.yaml".to_owned(),
            rule: &rule::DUPLICATE_NAME,
            message: format!(
                "metadata.name {name:?} is used by {}; Talos identifies extensions by name, give each its own",
                images.join(", ")
            ),
            images,
        });
    }
}

/// The versions (among known releases and every constraint's boundaries) each constraint admits;
/// an empty intersection means no Talos release suits them all.
fn compatibility_in_common(members: &[Member<'_>], out: &mut Vec<SetViolation>) {
    let constrained: Vec<(usize, String, Range)> = members
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let text = rules::facts(m.tree).talos_constraint?;
            let range = Range::parse(&text).ok()?; // a syntax error is the image's own rule
            Some((i, text, range))
        })
        .collect();
    if constrained.len() < 2 {
        return;
    }
    let mut points: Vec<Version> = known_releases()
        .map(|(major, minor)| Version::new(major, minor, 0))
        .collect();
    for (_, _, range) in &constrained {
        points.extend(range.boundaries());
    }
    points.sort();
    points.dedup();
    let common = points
        .iter()
        .any(|p| constrained.iter().all(|(_, _, range)| range.matches(p)));
    if common {
        return;
    }
    let indexes: Vec<usize> = constrained.iter().map(|(i, _, _)| *i).collect();
    let images = names(members, &indexes);
    let each: Vec<String> = constrained
        .iter()
        .map(|(i, text, _)| format!("{} wants {text:?}", members[*i].input))
        .collect();
    out.push(SetViolation {
        severity: Severity::Error,
        path: "manifest.yaml".to_owned(),
        rule: &rule::COMPATIBILITY_DISJOINT,
        message: format!(
            "no Talos version satisfies every metadata.compatibility.talos.version: {}; these extensions cannot be installed together",
            each.join(", ")
        ),
        images,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entry;

    fn image(name: &str, constraint: &str, files: &[&str]) -> Tree {
        let manifest = format!(
            "version: v1alpha1\nmetadata:\n  name: {name}\n  version: 1.0.0\n  author: a\n  description: d\n  compatibility:\n    talos:\n      version: \"{constraint}\"\n"
        );
        let mut m = Entry::new("manifest.yaml", EntryKind::File, 0o644);
        m.data = Some(manifest.into_bytes());
        let mut entries = vec![m, Entry::new("rootfs", EntryKind::Dir, 0o755)];
        for f in files {
            let kind = if f.ends_with('/') {
                EntryKind::Dir
            } else {
                EntryKind::File
            };
            entries.push(Entry::new(f.trim_end_matches('/'), kind, 0o644));
        }
        Tree::from_entries(entries)
    }

    #[test]
    fn collisions_names_and_disjoint_constraints() {
        let a = image(
            "a",
            ">= v1.10.0",
            &["rootfs/usr/local/bin/tool", "rootfs/usr/local/lib/a.so"],
        );
        let b = image(
            "b",
            "< v1.9.0",
            &["rootfs/usr/local/bin/tool", "rootfs/usr/local/lib/b.so"],
        );
        let c = image("a", ">= v1.0.0", &["rootfs/usr/local/lib/a.so/"]);
        let members = [
            Member {
                input: "a.tar",
                tree: &a,
            },
            Member {
                input: "b.tar",
                tree: &b,
            },
            Member {
                input: "c",
                tree: &c,
            },
        ];
        let found = check(&members);
        let summary: Vec<String> = found
            .iter()
            .map(|v| format!("{} {} {}", v.rule, v.path, v.images.join("+")))
            .collect();
        assert_eq!(
            summary,
            [
                "overlay-collision rootfs/usr/local/bin/tool a.tar+b.tar",
                "overlay-collision rootfs/usr/local/lib/a.so a.tar+c",
                "duplicate-name manifest.yaml a.tar+c",
                "compatibility-disjoint manifest.yaml a.tar+b.tar+c",
            ]
        );
        assert!(
            found[0].message.contains("silently keeps only b.tar's"),
            "{}",
            found[0]
        );

        // Shared directories merge; overlapping constraints have a release in common.
        let d = image("d", ">= v1.9.0 < v1.11.0", &["rootfs/usr/local/bin/"]);
        let e = image("e", ">= v1.10.5", &["rootfs/usr/local/bin/"]);
        let found = check(&[
            Member {
                input: "d",
                tree: &d,
            },
            Member {
                input: "e",
                tree: &e,
            },
        ]);
        assert!(found.is_empty(), "{found:?}");
        // … and disjoint ones only within a release still have none.
        let f = image("f", ">= v1.10.0 < v1.10.3", &[]);
        let g = image("g", ">= v1.10.3", &[]);
        let found = check(&[
            Member {
                input: "f",
                tree: &f,
            },
            Member {
                input: "g",
                tree: &g,
            },
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, &rule::COMPATIBILITY_DISJOINT);
    }
}
