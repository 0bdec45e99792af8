//! A generated tree of 30 packages in a dependency chain six levels deep (tests/support/chain_tree.rs):
//! after a cached build, a change to one leaf's file rebuilds exactly that leaf and the packages
//! that depend on it, as the daemon's progress output shows, and the image carries the change.

mod common;

#[path = "support/chain_tree.rs"]
mod chain_tree;

use std::collections::BTreeSet;

use chain_tree::{ChainTree, CHAIN_TARGET, CHAIN_TOOLCHAIN};
use common::progress;
use kiln::spec::Platform;
use kiln::tree::{self, FileSet, LoadOptions};

const LEVELS: usize = 6;
const WIDTH: usize = 5;
const PLATFORM: &str = "linux/amd64";

#[test]
fn generated_tree_loads_and_plans_every_package() {
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainTree::write(dir.path(), LEVELS, WIDTH, common::BUSYBOX_IMAGE);
    let files = FileSet::from_dir(dir.path(), "Pkgfile").unwrap();
    let tree = tree::load(&files, &LoadOptions::new(Platform::linux("amd64"))).unwrap();
    assert!(tree.warnings.0.is_empty(), "{:?}", tree.warnings);
    let loaded: BTreeSet<String> = tree.packages.keys().cloned().collect();
    assert_eq!(loaded, chain.packages());
    assert!(loaded.len() >= 30, "{} packages", loaded.len());
    let plan = tree.resolve(CHAIN_TARGET).unwrap();
    assert_eq!(
        plan.deps.len(),
        loaded.len(),
        "the target needs every package"
    );
    // The middle leaf reaches some columns of every level and not others.
    let reached = chain.dependents(&chain.middle_leaf());
    assert!(reached.contains(CHAIN_TARGET));
    assert!(!reached.contains(CHAIN_TOOLCHAIN));
    assert!(reached.len() > LEVELS && reached.len() < loaded.len() - 1);
}

#[test]
fn a_leaf_change_rebuilds_only_the_leaf_and_its_dependents() {
    if common::require_kiln().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let chain = ChainTree::write(
        &dir.path().join("tree"),
        LEVELS,
        WIDTH,
        common::BUSYBOX_IMAGE,
    );
    // A mark no earlier run used, so the first build cannot be a cache hit of another test run's.
    let unique = common::unique_name("chain");
    for package in chain.packages() {
        if package.starts_with("chain-") && package != CHAIN_TARGET && package != CHAIN_TOOLCHAIN {
            chain.change(&package, &format!("{package} {unique}\n"));
        }
    }
    let out = dir.path().join("out");
    let build = || {
        common::Buildx::new(&chain.root)
            .file(chain.root.join("Pkgfile"))
            .kiln()
            .target(CHAIN_TARGET)
            .platform(PLATFORM)
            .output_local(&out)
            .run()
    };
    build().assert_success();

    let leaf = chain.middle_leaf();
    chain.change(&leaf, &format!("{leaf} changed {unique}\n"));
    let changed = build();
    changed.assert_success();
    let vertices = progress::parse(&changed.output);
    let expected = chain.dependents(&leaf);

    // Packages that did build work, from the progress output.
    let worked = progress::worked(&vertices);
    let worked_names: Vec<&str> = worked.iter().map(|v| v.name.as_str()).collect();
    // The toolchain's ops are the same as those of other trees' busybox toolchains (names aside),
    // so a concurrent build elsewhere on the daemon may run one and BuildKit reports it here too;
    // its script-free package cannot depend on the leaf anyway.
    let rebuilt: BTreeSet<String> = worked
        .iter()
        .filter_map(|v| v.package().map(str::to_string))
        .filter(|p| p != CHAIN_TOOLCHAIN)
        .collect();
    let expected_with_work: BTreeSet<String> = expected
        .iter()
        .filter(|p| *p != CHAIN_TARGET)
        .cloned()
        .collect();
    // The target has no script; its finalize copies and validation run (and count) too.
    let rebuilt_scripts: BTreeSet<String> = rebuilt
        .iter()
        .filter(|p| *p != CHAIN_TARGET)
        .cloned()
        .collect();
    assert_eq!(
        rebuilt_scripts, expected_with_work,
        "packages that rebuilt after changing {leaf} (vertices that did work: {worked_names:#?})"
    );
    assert!(
        rebuilt.contains(CHAIN_TARGET),
        "the target did not rebuild:\n{}",
        progress::summary(&vertices)
    );
    let install = |p: &String| format!("[{PLATFORM}] {p}: install 1/1");
    let untouched: Vec<String> = chain
        .packages()
        .difference(&expected)
        .filter(|p| *p != CHAIN_TOOLCHAIN)
        .map(install)
        .collect();
    assert!(!untouched.is_empty());
    progress::assert_each(&vertices, &untouched, progress::Vertex::cached, "cached");
    let dependents: Vec<String> = expected_with_work.iter().map(install).collect();
    progress::assert_each(&vertices, &dependents, progress::Vertex::ran, "rebuilt");

    let shipped = std::fs::read_to_string(out.join("rootfs/usr/local/share/chain").join(&leaf))
        .expect("the leaf's file in the image");
    assert_eq!(shipped, format!("{leaf} changed {unique}\n"));
}
