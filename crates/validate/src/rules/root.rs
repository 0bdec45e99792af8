//! Image root: exactly `manifest.yaml` (a regular file) and `rootfs/` (a directory, maybe empty).

use crate::rule;
use crate::{EntryKind, Report, Tree};

pub(super) fn check(tree: &Tree, report: &mut Report) {
    let mut manifest = false;
    let mut rootfs = false;
    for entry in tree.children("") {
        match entry.path.as_str() {
            "manifest.yaml" => {
                manifest = true;
                if entry.kind != EntryKind::File {
                    report.error(
                        &entry.path,
                        &rule::IMAGE_ROOT,
                        format!(
                            "extension manifest must be a regular file, found a {}",
                            entry.kind.describe()
                        ),
                    );
                }
            }
            "rootfs" => {
                rootfs = true;
                if entry.kind != EntryKind::Dir {
                    report.error(
                        &entry.path,
                        &rule::IMAGE_ROOT,
                        format!(
                            "extension rootfs must be a directory, found a {}",
                            entry.kind.describe()
                        ),
                    );
                }
            }
            other => report.error(
                &entry.path,
                &rule::IMAGE_ROOT,
                format!(
                    "unexpected file {other:?}: the image root may only hold manifest.yaml and rootfs/ (put payload under rootfs/)"
                ),
            ),
        }
    }
    if !manifest {
        report.error(
            "manifest.yaml",
            &rule::IMAGE_ROOT,
            "extension manifest is missing: the image root needs manifest.yaml",
        );
    }
    if !rootfs {
        report.error(
            "rootfs",
            &rule::IMAGE_ROOT,
            "extension rootfs is missing: the image root needs rootfs/ (an empty directory if this platform ships nothing)",
        );
    }
}
