//! A generated package tree for locality and scale: `levels` levels of `width` packages, each
//! package depending on two of the level below, over a busybox toolchain, topped by one extension.
//! Shared by tests/e2e_chain.rs (a leaf change rebuilds only its dependents) and
//! benches/build_compare.rs (cached and leaf-change timings).
//!
//! Package `chain-L-J` (level L, column J) depends on `chain-(L-1)-J` and `chain-(L-1)-(J+1)`
//! (when that column exists), so a change to one leaf spreads upwards in a widening cone and leaves
//! the other columns alone. Every package copies its own `data.txt` into
//! `/rootfs/usr/local/share/chain/`, on top of its dependencies' files; the extension `chain-ext`
//! depends on the whole top level and ships the lot with a manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The extension at the top of the tree: the build target.
pub const CHAIN_TARGET: &str = "chain-ext";
/// The package every other one runs its scripts on.
pub const CHAIN_TOOLCHAIN: &str = "chain-toolchain";

/// A generated tree on disk.
pub struct ChainTree {
    /// The build context (`Pkgfile` at its root).
    pub root: PathBuf,
    width: usize,
    /// Each package's direct stage dependencies.
    depends: BTreeMap<String, Vec<String>>,
}

/// `chain-L-J`.
pub fn chain_package(level: usize, column: usize) -> String {
    format!("chain-{level}-{column}")
}

impl ChainTree {
    /// Writes the tree into `root` (created if needed). `toolchain_image` is the image every
    /// script runs on (it needs `/bin/sh`, `mkdir` and `cp`).
    pub fn write(root: &Path, levels: usize, width: usize, toolchain_image: &str) -> ChainTree {
        assert!(levels >= 1 && width >= 1, "an empty chain tree");
        let mut depends: BTreeMap<String, Vec<String>> = BTreeMap::new();
        write_file(
            root,
            "Pkgfile",
            &format!("format: v1alpha2\n\nvars:\n  TOOLCHAIN_IMAGE: {toolchain_image}\n"),
        );
        write_file(
            root,
            &format!("{CHAIN_TOOLCHAIN}/pkg.yaml"),
            &format!(
                "name: {CHAIN_TOOLCHAIN}\nvariant: scratch\ndependencies:\n  - image: \"{{{{ .TOOLCHAIN_IMAGE }}}}\"\nfinalize:\n  - from: /\n    to: /\n"
            ),
        );
        depends.insert(CHAIN_TOOLCHAIN.to_string(), Vec::new());
        for level in 0..levels {
            for column in 0..width {
                let name = chain_package(level, column);
                let below: Vec<String> = if level == 0 {
                    Vec::new()
                } else {
                    (column..(column + 2).min(width))
                        .map(|c| chain_package(level - 1, c))
                        .collect()
                };
                let stages: String = below.iter().map(|d| format!("  - stage: {d}\n")).collect();
                write_file(
                    root,
                    &format!("{name}/pkg.yaml"),
                    &format!(
                        "name: {name}\nvariant: scratch\nshell: /bin/sh\ndependencies:\n  - stage: {CHAIN_TOOLCHAIN}\n{stages}\
                         steps:\n  - install:\n      - |\n        mkdir -p /rootfs/usr/local/share/chain\n        cp /pkg/data.txt /rootfs/usr/local/share/chain/{name}\n\
                         finalize:\n  - from: /rootfs\n    to: /rootfs\n"
                    ),
                );
                write_file(root, &format!("{name}/data.txt"), &format!("{name}\n"));
                let mut deps = vec![CHAIN_TOOLCHAIN.to_string()];
                deps.extend(below);
                depends.insert(name, deps);
            }
        }
        let top: Vec<String> = (0..width).map(|c| chain_package(levels - 1, c)).collect();
        let stages: String = top.iter().map(|d| format!("  - stage: {d}\n")).collect();
        write_file(
            root,
            &format!("{CHAIN_TARGET}/pkg.yaml"),
            &format!(
                "name: {CHAIN_TARGET}\nvariant: scratch\ndependencies:\n{stages}\
                 finalize:\n  - from: /rootfs\n    to: /rootfs\n  - from: /pkg/manifest.yaml\n    to: /\n"
            ),
        );
        write_file(
            root,
            &format!("{CHAIN_TARGET}/manifest.yaml"),
            &format!(
                "version: v1alpha1\nmetadata:\n  name: {CHAIN_TARGET}\n  version: v0.1.0\n  author: kiln\n  \
                 description: A generated tree of {} packages.\n  compatibility:\n    talos:\n      version: \">= v1.5.0\"\n",
                levels * width
            ),
        );
        depends.insert(CHAIN_TARGET.to_string(), top);
        ChainTree {
            root: root.to_path_buf(),
            width,
            depends,
        }
    }

    /// Every package of the tree, toolchain and target included.
    pub fn packages(&self) -> BTreeSet<String> {
        self.depends.keys().cloned().collect()
    }

    /// The leaf in the middle column: its change reaches some columns and not others.
    pub fn middle_leaf(&self) -> String {
        chain_package(0, self.width / 2)
    }

    /// `package` and every package that depends on it, directly or not.
    pub fn dependents(&self, package: &str) -> BTreeSet<String> {
        let mut reached = BTreeSet::from([package.to_string()]);
        loop {
            let more: Vec<String> = self
                .depends
                .iter()
                .filter(|(name, deps)| {
                    !reached.contains(*name) && deps.iter().any(|d| reached.contains(d))
                })
                .map(|(name, _)| name.clone())
                .collect();
            if more.is_empty() {
                return reached;
            }
            reached.extend(more);
        }
    }

    /// Rewrites the `data.txt` of `package` (a one-file change in its directory).
    pub fn change(&self, package: &str, contents: &str) {
        write_file(&self.root, &format!("{package}/data.txt"), contents);
    }
}

fn write_file(root: &Path, rel: &str, contents: &str) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
