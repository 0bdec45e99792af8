//! The catalog of rules: every rule kiln checks is one typed [`Rule`] value here, with its stable id,
//! a one-line summary and the Talos releases it applies to. The checks report violations of these
//! values, the output prints their ids, `kiln validate --list-rules` lists them and the tests refer
//! to them, so an id is written exactly once.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::version::{Releases, TalosVersion};

/// Whether a rule judges one image or a set of images stacked together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Checked on each image alone (also in the build's validation stage).
    Image,
    /// Checked across the images given together to `kiln validate A B …`.
    Set,
}

/// One rule: what it is called, what it checks and when it applies.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    /// Stable id used in output, JSON and tests, e.g. `hardlink`.
    pub id: &'static str,
    /// What the rule requires, in one line.
    pub summary: &'static str,
    /// The Talos releases the rule is checked for.
    pub talos: Releases,
    pub scope: Scope,
}

impl Rule {
    /// Whether the rule is checked for the target Talos version.
    pub fn applies_to(&self, talos: &TalosVersion) -> bool {
        self.talos.contains(talos.release())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}

/// Violations serialize a rule as its id.
impl Serialize for &'static Rule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id)
    }
}

const fn image(id: &'static str, summary: &'static str) -> Rule {
    Rule {
        id,
        summary,
        talos: Releases::ALL,
        scope: Scope::Image,
    }
}

const fn set(id: &'static str, summary: &'static str) -> Rule {
    Rule {
        id,
        summary,
        talos: Releases::ALL,
        scope: Scope::Set,
    }
}

pub static IMAGE_ROOT: Rule = image(
    "image-root",
    "the image root holds exactly manifest.yaml (a file) and rootfs/ (a directory)",
);
pub static MANIFEST_YAML: Rule = image(
    "manifest-yaml",
    "manifest.yaml is small UTF-8 YAML with fields of the right shape",
);
pub static MANIFEST_API_VERSION: Rule = image(
    "manifest-api-version",
    "manifest.yaml starts with `version: v1alpha1`",
);
pub static MANIFEST_NAME: Rule = image(
    "manifest-name",
    "metadata.name is set and equals the package name",
);
pub static MANIFEST_VERSION: Rule = image(
    "manifest-version",
    "metadata.version has a format Talos accepts",
);
pub static MANIFEST_FIELD: Rule = image(
    "manifest-field",
    "metadata, metadata.author and metadata.description are present and not empty",
);
pub static MANIFEST_UNKNOWN_KEY: Rule = image(
    "manifest-unknown-key",
    "manifest.yaml has no keys Talos ignores (warning)",
);
pub static COMPATIBILITY_SYNTAX: Rule = image(
    "compatibility-syntax",
    "metadata.compatibility.talos.version parses with Talos' constraint grammar",
);
pub static COMPATIBILITY: Rule = image(
    "compatibility",
    "metadata.compatibility.talos.version admits the target Talos version",
);
pub static PATH_NOT_ALLOWED: Rule = image(
    "path-not-allowed",
    "every file lies under a hierarchy the target Talos release allows",
);
pub static EMPTY_DIR: Rule = image(
    "empty-dir",
    "no empty directories outside the allowed hierarchies (warning)",
);
pub static HARDLINK: Rule = image(
    "hardlink",
    "no hard links (Talos unpacks them as empty files)",
);
pub static SPECIAL_FILE: Rule = image("special-file", "no FIFOs, sockets or device nodes");
pub static WORLD_WRITABLE: Rule = image(
    "world-writable",
    "nothing world-writable, except sticky directories inside a service container rootfs",
);
pub static SYMLINK_TARGET: Rule = image(
    "symlink-target",
    "symlinks point inside the allowed hierarchies (warning)",
);
pub static SERVICE_YAML: Rule = image(
    "service-yaml",
    "each extension service spec is a regular UTF-8 YAML mapping",
);
pub static SERVICE_NAME: Rule = image("service-name", "a service name matches [-_a-z0-9]+");
pub static SERVICE_ENTRYPOINT: Rule = image(
    "service-entrypoint",
    "a service entrypoint is set, exists in its container rootfs and is executable",
);
pub static SERVICE_RESTART: Rule = image(
    "service-restart",
    "a service restart kind is always, never or untilSuccess",
);
pub static SERVICE_DEPENDS: Rule = image(
    "service-depends",
    "each service dependency sets exactly one valid condition",
);
pub static SERVICE_ROOTFS: Rule = image(
    "service-rootfs",
    "each service has its container rootfs /usr/local/lib/containers/<name>/",
);
pub static SERVICE_UNKNOWN_KEY: Rule = image(
    "service-unknown-key",
    "service specs have no keys Talos ignores (warning)",
);
pub static SERVICE_YML: Rule = image(
    "service-yml",
    "service specs end in .yaml, as Talos ignores .yml (warning)",
);
pub static KERNEL_MODULES: Rule = Rule {
    id: "kernel-modules",
    summary:
        "the modules directory holds exactly one kernel release directory, the target kernel's",
    // Extensions may ship modules since Talos v1.2 (/lib/modules, /usr/lib/modules from v1.10).
    talos: Releases::since((1, 2)),
    scope: Scope::Image,
};

pub static OVERLAY_COLLISION: Rule = set(
    "overlay-collision",
    "no path is shipped by two images, unless it is a directory in both",
);
pub static DUPLICATE_NAME: Rule = set(
    "duplicate-name",
    "no two images have the same metadata.name",
);
pub static COMPATIBILITY_DISJOINT: Rule = set(
    "compatibility-disjoint",
    "some Talos version satisfies every image's metadata.compatibility.talos.version",
);

/// Every rule checked across a set of images.
pub static SET_RULES: &[&Rule] = &[&OVERLAY_COLLISION, &DUPLICATE_NAME, &COMPATIBILITY_DISJOINT];

pub static MODULE_SIGNATURE: Rule = Rule {
    id: "module-signature",
    summary: "every kernel module (.ko, .ko.xz, .ko.zst) carries a PKCS#7 signature, as Talos kernels enforce",
    talos: Releases::since((1, 2)),
    scope: Scope::Image,
};
pub static MODULE_SIGNER: Rule = Rule {
    id: "module-signer",
    summary: "kernel modules are signed by the expected signer / key id (--module-signer, --module-key-id)",
    talos: Releases::since((1, 2)),
    scope: Scope::Image,
};

/// Every rule checked on one image, in the order they are documented.
pub static IMAGE_RULES: &[&Rule] = &[
    &IMAGE_ROOT,
    &MANIFEST_YAML,
    &MANIFEST_API_VERSION,
    &MANIFEST_NAME,
    &MANIFEST_VERSION,
    &MANIFEST_FIELD,
    &MANIFEST_UNKNOWN_KEY,
    &COMPATIBILITY_SYNTAX,
    &COMPATIBILITY,
    &PATH_NOT_ALLOWED,
    &EMPTY_DIR,
    &HARDLINK,
    &SPECIAL_FILE,
    &WORLD_WRITABLE,
    &SYMLINK_TARGET,
    &SERVICE_YAML,
    &SERVICE_NAME,
    &SERVICE_ENTRYPOINT,
    &SERVICE_RESTART,
    &SERVICE_DEPENDS,
    &SERVICE_ROOTFS,
    &SERVICE_UNKNOWN_KEY,
    &SERVICE_YML,
    &KERNEL_MODULES,
    &MODULE_SIGNATURE,
    &MODULE_SIGNER,
];

/// Every rule, image rules first, then the rules across a set of images.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    IMAGE_RULES.iter().chain(SET_RULES).copied()
}

/// The rule with this id.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    all().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_summaries_set() {
        let mut seen = std::collections::HashSet::new();
        for rule in all() {
            assert!(seen.insert(rule.id), "duplicate rule id {}", rule.id);
            assert!(
                !rule.id.is_empty() && rule.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{} is not kebab-case",
                rule.id
            );
            assert!(!rule.summary.is_empty(), "{} has no summary", rule.id);
            assert_eq!(by_id(rule.id), Some(rule));
        }
    }
}
