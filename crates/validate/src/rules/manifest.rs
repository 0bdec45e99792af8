//! manifest.yaml: `version: v1alpha1`, metadata fields and formats, the compatibility constraint.

use crate::rule;
use crate::version::{is_valid_extension_version, Range};
use crate::yaml::{self, Node};
use crate::{EntryKind, Options, Report, Tree};

const PATH: &str = "manifest.yaml";

pub(super) fn check(tree: &Tree, options: &Options, report: &mut Report) {
    let Some(entry) = tree.get(PATH) else {
        return; // reported by the image-root rule
    };
    if entry.kind != EntryKind::File {
        return;
    }
    let Some(data) = &entry.data else {
        report.error(
            PATH,
            &rule::MANIFEST_YAML,
            format!(
                "manifest is larger than {} bytes; it should be a few lines",
                crate::tree::MAX_CONTENT
            ),
        );
        return;
    };
    let Ok(text) = std::str::from_utf8(data) else {
        report.error(PATH, &rule::MANIFEST_YAML, "manifest is not UTF-8 text");
        return;
    };
    let doc = match yaml::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            report.error(PATH, &rule::MANIFEST_YAML, format!("invalid YAML: {e}"));
            return;
        }
    };
    let Some(doc) = doc.as_ref().map(Node::new).filter(|n| !n.is_null()) else {
        report.error(
            PATH,
            &rule::MANIFEST_API_VERSION,
            "unsupported manifest version: \"\" (the manifest is empty; it must start with `version: v1alpha1`)",
        );
        return;
    };
    let Some(top) = doc.entries() else {
        report.error(
            PATH,
            &rule::MANIFEST_YAML,
            format!(
                "line {}: the manifest must be a mapping, found {}",
                doc.line(),
                doc.kind()
            ),
        );
        return;
    };
    for (key, value) in &top {
        if !matches!(*key, "version" | "metadata") {
            unknown_key(report, key, value);
        }
    }

    match doc.get("version").and_then(|v| v.scalar()) {
        Some("v1alpha1") => {}
        other => report.error(
            PATH,
            &rule::MANIFEST_API_VERSION,
            format!(
                "unsupported manifest version: {:?} (set `version: v1alpha1`)",
                other.unwrap_or("")
            ),
        ),
    }

    let Some(metadata) = doc.get("metadata") else {
        report.error(
            PATH,
            &rule::MANIFEST_FIELD,
            "metadata is missing: set metadata.name, version, author and description",
        );
        return;
    };
    let Some(fields) = metadata.entries() else {
        report.error(
            PATH,
            &rule::MANIFEST_YAML,
            format!(
                "line {}: metadata must be a mapping, found {}",
                metadata.line(),
                metadata.kind()
            ),
        );
        return;
    };
    for (key, value) in &fields {
        if !matches!(
            *key,
            "name" | "version" | "author" | "description" | "compatibility" | "extraInfo"
        ) {
            unknown_key(report, &format!("metadata.{key}"), value);
        }
    }

    let name = string_field(report, metadata, "name");
    match (&options.pkg_name, name) {
        (_, None) => report.error(PATH, &rule::MANIFEST_NAME, "metadata.name is missing: set it to the package name"),
        (Some(pkg), Some(name)) if pkg != name => report.error(
            PATH,
            &rule::MANIFEST_NAME,
            format!("pkg name does not match extension name: {pkg} != {name} (metadata.name must equal the pkg.yaml name)"),
        ),
        _ => {}
    }

    match string_field(report, metadata, "version") {
        None => report.error(PATH, &rule::MANIFEST_VERSION, "metadata.version is missing"),
        Some(version) if !is_valid_extension_version(version) => report.error(
            PATH,
            &rule::MANIFEST_VERSION,
            format!(
                "invalid version format {version} for extension: {} (use semver such as 1.2.3 or v1.2.3-rc.1 without +build, YYYYMMDD[.N], <X.Y.Z>-v<semver> or <hex>-v<semver> with an optional -N-g<hex>[-dirty], or X.Y)",
                name.unwrap_or("")
            ),
        ),
        Some(_) => {}
    }

    for field in ["author", "description"] {
        if string_field(report, metadata, field).is_none_or(|s| s.trim().is_empty()) {
            report.error(
                PATH,
                &rule::MANIFEST_FIELD,
                format!("metadata.{field} is missing or empty"),
            );
        }
    }

    check_compatibility(report, metadata, options);
}

/// What the checks across images compare: `metadata.name` and the compatibility constraint as
/// written. Fields that are missing or malformed are `None` (the image's own rules report them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestFacts {
    pub name: Option<String>,
    pub talos_constraint: Option<String>,
}

/// Reads [`ManifestFacts`] from the image's manifest.yaml.
pub fn facts(tree: &Tree) -> ManifestFacts {
    let text = tree
        .get(PATH)
        .and_then(|e| e.data.as_deref())
        .and_then(|d| std::str::from_utf8(d).ok());
    let Some(Ok(Some(doc))) = text.map(yaml::parse) else {
        return ManifestFacts::default();
    };
    let metadata = Node::new(&doc).get("metadata");
    let scalar = |node: Option<Node<'_>>| {
        node.and_then(|n| n.scalar())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    ManifestFacts {
        name: scalar(metadata.and_then(|m| m.get("name"))),
        talos_constraint: scalar(
            metadata
                .and_then(|m| m.get("compatibility"))
                .and_then(|c| c.get("talos"))
                .and_then(|t| t.get("version")),
        ),
    }
}

fn unknown_key(report: &mut Report, key: &str, value: &Node<'_>) {
    report.warn(
        PATH,
        &rule::MANIFEST_UNKNOWN_KEY,
        format!(
            "line {}: unknown key {key:?}; Talos ignores it",
            value.line()
        ),
    );
}

/// A scalar field as text; a collection there is reported as a YAML shape error.
fn string_field<'a>(report: &mut Report, parent: Node<'a>, key: &str) -> Option<&'a str> {
    let node = parent.get(key)?;
    if node.is_null() {
        return None;
    }
    let value = node.scalar();
    if value.is_none() {
        report.error(
            PATH,
            &rule::MANIFEST_YAML,
            format!(
                "line {}: metadata.{key} must be a string, found {}",
                node.line(),
                node.kind()
            ),
        );
    }
    value
}

fn check_compatibility(report: &mut Report, metadata: Node<'_>, options: &Options) {
    let Some(compat) = metadata.get("compatibility").filter(|n| !n.is_null()) else {
        return;
    };
    let Some(entries) = compat.entries() else {
        report.error(
            PATH,
            &rule::MANIFEST_YAML,
            format!(
                "line {}: metadata.compatibility must be a mapping, found {}",
                compat.line(),
                compat.kind()
            ),
        );
        return;
    };
    for (key, value) in &entries {
        if *key != "talos" {
            unknown_key(report, &format!("metadata.compatibility.{key}"), value);
        }
    }
    let Some(talos) = compat.get("talos").filter(|n| !n.is_null()) else {
        return;
    };
    let Some(talos_entries) = talos.entries() else {
        report.error(
            PATH,
            &rule::MANIFEST_YAML,
            format!(
                "line {}: metadata.compatibility.talos must be a mapping, found {}",
                talos.line(),
                talos.kind()
            ),
        );
        return;
    };
    for (key, value) in &talos_entries {
        if *key != "version" {
            unknown_key(
                report,
                &format!("metadata.compatibility.talos.{key}"),
                value,
            );
        }
    }
    let Some(node) = talos.get("version").filter(|n| !n.is_null()) else {
        return;
    };
    let Some(constraint) = node.scalar() else {
        report.error(
            PATH,
            &rule::MANIFEST_YAML,
            format!(
                "line {}: metadata.compatibility.talos.version must be a string, found {}",
                node.line(),
                node.kind()
            ),
        );
        return;
    };
    if constraint.trim().is_empty() {
        return; // Talos skips an empty constraint
    }
    let range = match Range::parse(constraint) {
        Ok(range) => range,
        Err(e) => {
            report.error(
                PATH,
                &rule::COMPATIBILITY_SYNTAX,
                format!(
                    "line {}: error parsing Talos version constraint {constraint:?}: {e}",
                    node.line()
                ),
            );
            return;
        }
    };
    let talos_version = options.talos();
    if !range.matches(&talos_version.core()) {
        report.error(
            PATH,
            &rule::COMPATIBILITY,
            format!(
                "version constraint {constraint} can't be satisfied with Talos version {} (the target; set --talos-version / build arg TALOS_VERSION, or relax metadata.compatibility.talos.version)",
                talos_version
            ),
        );
    }
}
