//! kiln-validate: checks a Talos system-extension image strictly, before it is exported or pushed.
//!
//! An image is read from one of several sources ([`source`]) into a [`Tree`] per platform and the
//! checks ([`rules`]) of the typed rules in [`rule`] run over that tree, producing a [`Report`]. The
//! same code runs inside BuildKit on the real built filesystem (`kiln validate /image`) and on images
//! from disk or a registry. [`set`] checks several images as Talos stacks them, [`releases`] finds
//! the Talos releases an image is valid for, and [`modsig`] reads kernel module signatures.

#![warn(missing_docs)]

pub mod cli;
pub mod compression;
pub mod modsig;
pub mod releases;
pub mod rule;
pub mod rules;
pub mod set;
pub mod source;
pub mod tree;
pub mod version;
mod yaml;

use serde::Serialize;

pub use rule::Rule;
pub use source::{load, LoadError, Target};
pub use tree::{Entry, EntryKind, Tree};
pub use version::{TalosVersion, DEFAULT_TALOS_VERSION};
pub use yaml::{load_yaml, MAX_YAML_DEPTH};

/// How bad a violation is: errors fail the build, warnings are shown only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails the build: Talos would refuse or break on the image.
    Error,
    /// Shown only: the image works but something is likely unintended.
    Warning,
}

impl std::fmt::Display for Severity {
    /// `error` or `warning`, as the messages and the JSON output spell it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`, so that widths such as `{:7}` apply.
        f.pad(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One broken rule at one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Whether the violation fails the build.
    pub severity: Severity,
    /// Relative to the image root, e.g. `rootfs/usr/bin/foo` or `manifest.yaml`; `""` for the root.
    pub path: String,
    /// The broken rule; serialized as its id, e.g. `hardlink`.
    pub rule: &'static Rule,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "."
        } else {
            &self.path
        };
        write!(
            f,
            "{}: {path}: {}: {}",
            self.severity, self.rule, self.message
        )
    }
}

/// All violations of one image (one platform), sorted by path, then severity and rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The violations, sorted by path, then severity and rule.
    pub violations: Vec<Violation>,
}

impl Report {
    /// Whether any violation is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The violations that fail the build.
    pub fn errors(&self) -> impl Iterator<Item = &Violation> {
        self.of(Severity::Error)
    }

    /// The violations that are only shown.
    pub fn warnings(&self) -> impl Iterator<Item = &Violation> {
        self.of(Severity::Warning)
    }

    fn of(&self, severity: Severity) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(move |v| v.severity == severity)
    }

    pub(crate) fn push(
        &mut self,
        severity: Severity,
        path: impl Into<String>,
        rule: &'static Rule,
        message: impl Into<String>,
    ) {
        self.violations.push(Violation {
            severity,
            path: path.into(),
            rule,
            message: message.into(),
        });
    }

    pub(crate) fn error(
        &mut self,
        path: impl Into<String>,
        rule: &'static Rule,
        message: impl Into<String>,
    ) {
        self.push(Severity::Error, path, rule, message);
    }

    pub(crate) fn warn(
        &mut self,
        path: impl Into<String>,
        rule: &'static Rule,
        message: impl Into<String>,
    ) {
        self.push(Severity::Warning, path, rule, message);
    }

    fn sort(&mut self) {
        self.violations.sort_by(|a, b| {
            tree::component_order(&a.path, &b.path)
                .then(a.severity.cmp(&b.severity))
                .then(a.rule.id.cmp(b.rule.id))
                .then(a.message.cmp(&b.message))
        });
        self.violations.dedup();
    }
}

/// What the image is validated against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Target Talos version; `None` means [`DEFAULT_TALOS_VERSION`], the newest in the table.
    pub talos_version: Option<TalosVersion>,
    /// The pkg.yaml `name`; `metadata.name` must equal it when given.
    pub pkg_name: Option<String>,
    /// The exact kernel release directory expected under the modules directory (build arg
    /// `KERNEL_RELEASE`).
    pub kernel_release: Option<String>,
    /// The common name of the certificate issuer every module must be signed by (as `modinfo`
    /// prints `signer:`; build arg `KERNEL_MODULE_SIGNER`).
    pub module_signer: Option<String>,
    /// The serial number or subject key id every module's signing key must have (`modinfo`'s
    /// `sig_key:`, colons and case ignored; build arg `KERNEL_MODULE_KEY_ID`).
    pub module_key_id: Option<String>,
}

impl Options {
    /// The effective target Talos version.
    pub fn talos(&self) -> TalosVersion {
        self.talos_version
            .clone()
            .unwrap_or_else(TalosVersion::default_target)
    }
}

/// Runs every rule over one image tree.
pub fn validate(tree: &Tree, options: &Options) -> Report {
    let mut report = Report::default();
    rules::check_all(tree, options, &mut report);
    report.sort();
    report
}
