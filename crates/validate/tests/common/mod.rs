//! Fixture builders shared by the integration tests: image roots on disk made by the test itself.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kiln_validate::{validate, Options, Report, Rule, Severity, TalosVersion};

pub const GOOD_MANIFEST: &str = "version: v1alpha1
metadata:
  name: hello
  version: \"1.0.0\"
  author: Test Author
  description: A test extension
  compatibility:
    talos:
      version: \">= v1.0.0\"
";

/// The path of a kernel-module fixture from tests/fixtures/modules.
pub fn module_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/modules")
        .join(name)
}

/// An image root in a temporary directory: a good manifest and an empty rootfs to start with.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = Fixture { dir };
        f.write("manifest.yaml", GOOD_MANIFEST, 0o644);
        f.mkdir("rootfs", 0o755);
        f
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str, mode: u32) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&p, content).expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    pub fn write_bytes(&self, rel: &str, content: &[u8]) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&p, content).expect("write");
    }

    /// Copies `tests/fixtures/modules/<module>` (a kernel module made by its make.sh) to `rel`.
    pub fn module(&self, rel: &str, module: &str) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::copy(module_fixture(module), &p).expect("copy module fixture");
    }

    pub fn mkdir(&self, rel: &str, mode: u32) {
        let p = self.path(rel);
        fs::create_dir_all(&p).expect("mkdir");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    pub fn symlink(&self, rel: &str, target: &str) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        std::os::unix::fs::symlink(target, &p).expect("symlink");
    }

    pub fn manifest(&self, text: &str) {
        self.write("manifest.yaml", text, 0o644);
    }

    pub fn check(&self) -> Report {
        self.check_with(&Options::default())
    }

    pub fn check_for(&self, talos: &str) -> Report {
        self.check_with(&Options {
            talos_version: Some(TalosVersion::parse(talos).expect("test version")),
            ..Options::default()
        })
    }

    pub fn check_with(&self, options: &Options) -> Report {
        let input = self.root().to_str().expect("utf-8 tempdir").to_owned();
        let targets = kiln_validate::load(&input, None).expect("fixture loads");
        assert_eq!(targets.len(), 1);
        validate(&targets[0].tree, options)
    }
}

/// Asserts one violation with this severity, rule and path whose message contains `needle`.
#[track_caller]
pub fn assert_has(report: &Report, severity: Severity, rule: &Rule, path: &str, needle: &str) {
    let found = report.violations.iter().any(|v| {
        v.severity == severity && v.rule == rule && v.path == path && v.message.contains(needle)
    });
    assert!(
        found,
        "expected {severity:?} {rule} at {path} containing {needle:?}, got:\n{}",
        dump(report)
    );
}

/// Asserts the report has no violation of `rule` at all.
#[track_caller]
pub fn assert_no(report: &Report, rule: &Rule) {
    let hits: Vec<_> = report
        .violations
        .iter()
        .filter(|v| v.rule == rule)
        .collect();
    assert!(
        hits.is_empty(),
        "expected no {rule}, got:\n{}",
        dump(report)
    );
}

/// Asserts the report is entirely clean.
#[track_caller]
pub fn assert_clean(report: &Report) {
    assert!(
        report.violations.is_empty(),
        "expected a clean report, got:\n{}",
        dump(report)
    );
}

pub fn dump(report: &Report) -> String {
    report
        .violations
        .iter()
        .map(|v| format!("  {v}\n"))
        .collect()
}
