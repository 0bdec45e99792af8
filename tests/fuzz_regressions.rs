//! Every input a fuzzer found a crash, hang or memory blow-up with, replayed through the same
//! code the fuzz target runs (`tests/support/fuzz_targets.rs`). Inputs live in
//! `tests/fuzz-regressions/<target>/`; each must return promptly without panicking.

use std::path::PathBuf;

#[path = "support/fuzz_targets.rs"]
mod targets;

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fuzz_regression_input_is_handled() {
    let mut replayed = 0;
    for (target, run) in targets::TARGETS {
        for input in inputs(target) {
            let data = std::fs::read(&input).unwrap();
            // A panic names the input that caused it.
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(result.is_ok(), "{target}: {} panicked", input.display());
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} fuzz regression inputs");
}

/// The file format the tree target reads: `==> path <==` headers, the Pkgfile first.
#[test]
fn tree_inputs_split_into_files() {
    let files = targets::tree_files(b"format: v1alpha2\n==> a/pkg.yaml <==\nname: a\n");
    assert_eq!(files.get("Pkgfile"), Some(&b"format: v1alpha2\n"[..]));
    assert_eq!(files.get("a/pkg.yaml"), Some(&b"name: a\n"[..]));
}
