//! Image root: exactly `manifest.yaml` (a regular file) and `rootfs/` (a directory, maybe empty).

use crate::rule;
use crate::{EntryKind, Report, Tree};

/// The entries an image root needs: path, name in messages, kind, and what the fix is when missing.
const REQUIRED: [(&str, &str, EntryKind, &str); 2] = [
    (
        "manifest.yaml",
        "manifest",
        EntryKind::File,
        "the image root needs manifest.yaml",
    ),
    (
        "rootfs",
        "rootfs",
        EntryKind::Dir,
        "the image root needs rootfs/ (an empty directory if this platform ships nothing)",
    ),
];

pub(super) fn check(tree: &Tree, report: &mut Report) {
    let mut seen = [false; REQUIRED.len()];
    for entry in tree.children("") {
        let Some(i) = REQUIRED.iter().position(|r| r.0 == entry.path) else {
            report.error(
                &entry.path,
                &rule::IMAGE_ROOT,
                format!(
                    "unexpected file {:?}: the image root may only hold manifest.yaml and rootfs/ (put payload under rootfs/)",
                    entry.path
                ),
            );
            continue;
        };
        seen[i] = true;
        let (_, name, kind, _) = &REQUIRED[i];
        if entry.kind != *kind {
            report.error(
                &entry.path,
                &rule::IMAGE_ROOT,
                format!(
                    "extension {name} must be a {}, found a {}",
                    kind.describe(),
                    entry.kind.describe()
                ),
            );
        }
    }
    for (&(path, name, _, fix), _) in REQUIRED.iter().zip(seen).filter(|(_, seen)| !seen) {
        report.error(
            path,
            &rule::IMAGE_ROOT,
            format!("extension {name} is missing: {fix}"),
        );
    }
}
