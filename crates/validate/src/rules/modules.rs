//! Kernel modules: the modules directory holds exactly one kernel release directory, and with
//! `KERNEL_RELEASE` it is that one (Talos copies only the running kernel's directory); every module
//! in it is signed, and with an expected signer or key id, by that key (Talos kernels enforce module
//! signatures: an unsigned module fails at load time with "Required key not available", one signed
//! by another build's key with "Key was rejected by service").

use super::item_path;
use crate::modsig::{key_id_matches, ModuleSignature};
use crate::rule;
use crate::{EntryKind, Options, Report, Tree};

/// Long by design: where the modules directory is, what it may hold and its one release directory, as one layout rule.
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
    check_signatures(tree, dir, options, report);
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

fn check_signatures(tree: &Tree, dir: &str, options: &Options, report: &mut Report) {
    for entry in tree.under(dir) {
        let Some(signature) = &entry.module_signature else {
            continue;
        };
        let module = item_path(&entry.path);
        let signer = match signature {
            ModuleSignature::Signed(signer) => signer,
            ModuleSignature::Unsigned => {
                report.error(
                    &entry.path,
                    &rule::MODULE_SIGNATURE,
                    format!("kernel module {module:?} is not signed; Talos kernels enforce module signatures and refuse it at load time (\"Required key not available\"): take the module from the kernel build of your Talos release, or sign it with that build's key"),
                );
                continue;
            }
            ModuleSignature::Invalid(why) => {
                report.error(
                    &entry.path,
                    &rule::MODULE_SIGNATURE,
                    format!("kernel module {module:?} has an unusable signature: {why}"),
                );
                continue;
            }
        };
        let name_differs = options
            .module_signer
            .as_ref()
            .is_some_and(|want| signer.name.as_deref() != Some(want.as_str()));
        let key_differs = options
            .module_key_id
            .as_ref()
            .is_some_and(|want| !key_id_matches(&signer.key_id, want));
        if name_differs || key_differs {
            let mut wanted = Vec::new();
            if let Some(name) = &options.module_signer {
                wanted.push(format!(
                    "signer {name:?} (--module-signer / build arg KERNEL_MODULE_SIGNER)"
                ));
            }
            if let Some(key) = &options.module_key_id {
                wanted.push(format!(
                    "key {key} (--module-key-id / build arg KERNEL_MODULE_KEY_ID)"
                ));
            }
            report.error(
                &entry.path,
                &rule::MODULE_SIGNER,
                format!(
                    "kernel module {module:?} is signed by {signer}, not by {}; the Talos kernel rejects it (\"Key was rejected by service\"): use modules from the same kernel build",
                    wanted.join(" and ")
                ),
            );
        }
    }
}
