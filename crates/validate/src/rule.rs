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
    /// Whether the rule looks at one image or at images together.
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

/// Declares a rule as a static whose documentation is its id and summary.
macro_rules! rule {
    ($name:ident, $scope:ident, $talos:expr, $id:literal, $summary:literal $(,)?) => {
        #[doc = concat!("`", $id, "`: ", $summary, ".")]
        pub static $name: Rule = Rule {
            id: $id,
            summary: $summary,
            talos: $talos,
            scope: Scope::$scope,
        };
    };
}

rule!(
    IMAGE_ROOT,
    Image,
    Releases::ALL,
    "image-root",
    "the image root holds exactly manifest.yaml (a file) and rootfs/ (a directory)",
);
rule!(
    MANIFEST_YAML,
    Image,
    Releases::ALL,
    "manifest-yaml",
    "manifest.yaml is small UTF-8 YAML with fields of the right shape",
);
rule!(
    MANIFEST_API_VERSION,
    Image,
    Releases::ALL,
    "manifest-api-version",
    "manifest.yaml starts with `version: v1alpha1`",
);
rule!(
    MANIFEST_NAME,
    Image,
    Releases::ALL,
    "manifest-name",
    "metadata.name is set and equals the package name",
);
rule!(
    MANIFEST_VERSION,
    Image,
    Releases::ALL,
    "manifest-version",
    "metadata.version has a format Talos accepts",
);
rule!(
    MANIFEST_FIELD,
    Image,
    Releases::ALL,
    "manifest-field",
    "metadata, metadata.author and metadata.description are present and not empty",
);
rule!(
    MANIFEST_UNKNOWN_KEY,
    Image,
    Releases::ALL,
    "manifest-unknown-key",
    "manifest.yaml has no keys Talos ignores (warning)",
);
rule!(
    COMPATIBILITY_SYNTAX,
    Image,
    Releases::ALL,
    "compatibility-syntax",
    "metadata.compatibility.talos.version parses with Talos' constraint grammar",
);
rule!(
    COMPATIBILITY,
    Image,
    Releases::ALL,
    "compatibility",
    "metadata.compatibility.talos.version admits the target Talos version",
);
rule!(
    PATH_NOT_ALLOWED,
    Image,
    Releases::ALL,
    "path-not-allowed",
    "every file lies under a hierarchy the target Talos release allows",
);
rule!(
    EMPTY_DIR,
    Image,
    Releases::ALL,
    "empty-dir",
    "no empty directories outside the allowed hierarchies (warning)",
);
rule!(
    HARDLINK,
    Image,
    Releases::ALL,
    "hardlink",
    "no hard links (Talos unpacks them as empty files)",
);
rule!(
    SPECIAL_FILE,
    Image,
    Releases::ALL,
    "special-file",
    "no FIFOs, sockets or device nodes"
);
rule!(
    WORLD_WRITABLE,
    Image,
    Releases::ALL,
    "world-writable",
    "nothing world-writable, except sticky directories inside a service container rootfs",
);
rule!(
    SYMLINK_TARGET,
    Image,
    Releases::ALL,
    "symlink-target",
    "symlinks point inside the allowed hierarchies (warning)",
);
rule!(
    SERVICE_YAML,
    Image,
    Releases::ALL,
    "service-yaml",
    "each extension service spec is a regular UTF-8 YAML mapping",
);
rule!(
    SERVICE_NAME,
    Image,
    Releases::ALL,
    "service-name",
    "a service name matches [-_a-z0-9]+"
);
rule!(
    SERVICE_ENTRYPOINT,
    Image,
    Releases::ALL,
    "service-entrypoint",
    "a service entrypoint is set, exists in its container rootfs and is executable",
);
rule!(
    SERVICE_RESTART,
    Image,
    Releases::ALL,
    "service-restart",
    "a service restart kind is always, never or untilSuccess",
);
rule!(
    SERVICE_DEPENDS,
    Image,
    Releases::ALL,
    "service-depends",
    "each service dependency sets exactly one valid condition",
);
rule!(
    SERVICE_ROOTFS,
    Image,
    Releases::ALL,
    "service-rootfs",
    "each service has its container rootfs /usr/local/lib/containers/<name>/",
);
rule!(
    SERVICE_UNKNOWN_KEY,
    Image,
    Releases::ALL,
    "service-unknown-key",
    "service specs have no keys Talos ignores (warning)",
);
rule!(
    SERVICE_YML,
    Image,
    Releases::ALL,
    "service-yml",
    "service specs end in .yaml, as Talos ignores .yml (warning)",
);
// Extensions may ship modules since Talos v1.2 (/lib/modules, /usr/lib/modules from v1.10).
rule!(
    KERNEL_MODULES,
    Image,
    Releases::since((1, 2)),
    "kernel-modules",
    "the modules directory holds exactly one kernel release directory, the target kernel's",
);

rule!(
    OVERLAY_COLLISION,
    Set,
    Releases::ALL,
    "overlay-collision",
    "no path is shipped by two images, unless it is a directory in both",
);
rule!(
    DUPLICATE_NAME,
    Set,
    Releases::ALL,
    "duplicate-name",
    "no two images have the same metadata.name",
);
rule!(
    COMPATIBILITY_DISJOINT,
    Set,
    Releases::ALL,
    "compatibility-disjoint",
    "some Talos version satisfies every image's metadata.compatibility.talos.version",
);

/// Every rule checked across a set of images.
pub static SET_RULES: &[&Rule] = &[&OVERLAY_COLLISION, &DUPLICATE_NAME, &COMPATIBILITY_DISJOINT];

rule!(
    MODULE_SIGNATURE,
    Image,
    Releases::since((1, 2)),
    "module-signature",
    "every kernel module (.ko, .ko.xz, .ko.zst) carries a PKCS#7 signature, as Talos kernels enforce",
);
rule!(
    MODULE_SIGNER,
    Image,
    Releases::since((1, 2)),
    "module-signer",
    "kernel modules are signed by the expected signer / key id (--module-signer, --module-key-id)",
);

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
