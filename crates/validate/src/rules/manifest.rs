//! manifest.yaml: `version: v1alpha1`, metadata fields and formats, the compatibility constraint.

use crate::rule;
use crate::version::{is_valid_extension_version, Range};
use crate::yaml::{self, Node};
use crate::{EntryKind, Options, Report, Tree};

const PATH: &str = "manifest.yaml";

/// Checks manifest.yaml: readable YAML, `version: v1alpha1`, a `metadata` mapping with its
/// fields, and the compatibility constraint.
pub(super) fn check(tree: &Tree, options: &Options, report: &mut Report) {
    let Some(text) = manifest_text(tree, report) else {
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
    if !known_mapping(report, doc, None, &["version", "metadata"]) {
        return;
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
    let known = [
        "name",
        "version",
        "author",
        "description",
        "compatibility",
        "extraInfo",
    ];
    if !known_mapping(report, metadata, Some("metadata"), &known) {
        return;
    }
    check_metadata_fields(report, metadata, options);
    check_compatibility(report, metadata, options);
}

/// The manifest's text; `None` when there is no regular manifest.yaml (the image-root rule
/// reports that) or it cannot be read as text (reported).
fn manifest_text<'t>(tree: &'t Tree, report: &mut Report) -> Option<&'t str> {
    let entry = tree.get(PATH)?;
    if entry.kind != EntryKind::File {
        return None;
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
        return None;
    };
    let Ok(text) = std::str::from_utf8(data) else {
        report.error(PATH, &rule::MANIFEST_YAML, "manifest is not UTF-8 text");
        return None;
    };
    Some(text)
}

/// `metadata.name` (equal to the package's when known), `version`, `author` and `description`.
fn check_metadata_fields(report: &mut Report, metadata: Node<'_>, options: &Options) {
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
}

/// What the checks across images compare: `metadata.name` and the compatibility constraint as
/// written. Fields that are missing or malformed are `None` (the image's own rules report them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestFacts {
    /// `metadata.name`, trimmed.
    pub name: Option<String>,
    /// `metadata.compatibility.talos.version`, trimmed.
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

/// Whether `node` (the manifest itself when `path` is `None`) is a mapping, reported as a YAML
/// shape error when not; keys outside `known` are warned about as ignored by Talos.
fn known_mapping(report: &mut Report, node: Node<'_>, path: Option<&str>, known: &[&str]) -> bool {
    let Some(entries) = node.entries() else {
        let what = path.unwrap_or("the manifest");
        report.error(
            PATH,
            &rule::MANIFEST_YAML,
            node.shape_error(what, "a mapping"),
        );
        return false;
    };
    for (key, value) in entries.iter().filter(|(key, _)| !known.contains(key)) {
        match path {
            Some(path) => unknown_key(report, &format!("{path}.{key}"), value),
            None => unknown_key(report, key, value),
        }
    }
    true
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
    let node = parent.value(key)?;
    let value = node.scalar();
    if value.is_none() {
        report.error(
            PATH,
            &rule::MANIFEST_YAML,
            node.shape_error(&format!("metadata.{key}"), "a string"),
        );
    }
    value
}

fn check_compatibility(report: &mut Report, metadata: Node<'_>, options: &Options) {
    let Some(compat) = metadata.value("compatibility") else {
        return;
    };
    if !known_mapping(report, compat, Some("metadata.compatibility"), &["talos"]) {
        return;
    }
    let Some(talos) = compat.value("talos") else {
        return;
    };
    let talos_path = Some("metadata.compatibility.talos");
    if !known_mapping(report, talos, talos_path, &["version"]) {
        return;
    }
    let Some(node) = talos.value("version") else {
        return;
    };
    let Some(constraint) = node.scalar() else {
        report.error(
            PATH,
            &rule::MANIFEST_YAML,
            node.shape_error("metadata.compatibility.talos.version", "a string"),
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
