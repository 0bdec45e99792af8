//! Kernel modules: the modules directory holds exactly one kernel release directory, and with
//! `KERNEL_RELEASE` it is that one (Talos copies only the running kernel's directory).

use super::item_path;
use crate::rule;
use crate::{EntryKind, Options, Report, Tree};

pub(super) fn check(tree: &Tree, options: &Options, report: &mut Report) {
    let talos = options.talos();
    if !rule::KERNEL_MODULES.applies_to(&talos) {
        return; // the path rules refuse a modules directory there
    }
    let dir = if talos.release() >= (1, 10) {
        "rootfs/usr/lib/modules"
    } else {
        "rootfs/lib/modules"
    };
    let Some(entry) = tree.get(dir) else {
        return;
    };
    if entry.kind != EntryKind::Dir {
        return; // a symlink or file there is reported by the path rules
    }
    let item = item_path(dir);
    let children: Vec<_> = tree.children(dir).collect();
    let releases: Vec<&str> = children
        .iter()
        .filter(|e| e.kind == EntryKind::Dir)
        .map(|e| e.name())
        .collect();
    for other in children.iter().filter(|e| e.kind != EntryKind::Dir) {
        report.error(
            &other.path,
            &rule::KERNEL_MODULES,
            format!(
                "{item} may only hold kernel release directories, {:?} is a {}",
                other.name(),
                other.kind.describe()
            ),
        );
    }
    match releases.as_slice() {
        [] => report.error(
            dir,
            &rule::KERNEL_MODULES,
            format!("{item} must hold exactly one kernel release directory, found none; remove it or add the modules"),
        ),
        [release] => {
            if let Some(want) = &options.kernel_release {
                if release != want {
                    report.error(
                        format!("{dir}/{release}"),
                        &rule::KERNEL_MODULES,
                        format!(
                            "kernel release directory {release:?} does not match the target kernel {want:?} (build arg KERNEL_RELEASE); Talos would never load these modules"
                        ),
                    );
                }
            }
        }
        many => report.error(
            dir,
            &rule::KERNEL_MODULES,
            format!(
                "{item} must hold exactly one kernel release directory, found {}: {}",
                many.len(),
                many.join(", ")
            ),
        ),
    }
}
