//! Benchmark: validate a generated, valid 100,000-entry image root on disk (target: under 1 s).
//! Plain `std::time`; run with `cargo bench -p kiln-validate --bench rootfs`.

use std::fs;
use std::time::Instant;

const ENTRIES: usize = 100_000;
const FILES_PER_DIR: usize = 99;

/// Long by design: a bench reads best top to bottom (build the tree, then time the walk).
fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::write(
        root.join("manifest.yaml"),
        "version: v1alpha1\nmetadata:\n  name: bench\n  version: 1.0.0\n  author: kiln\n  description: benchmark\n",
    )
    .expect("manifest");
    let base = root.join("rootfs/usr/local/share/bench");
    fs::create_dir_all(&base).expect("mkdir");
    // manifest.yaml, rootfs, usr, local, share, bench: 6 entries before the generated ones.
    let mut count = 6;
    let mut d = 0;
    while count < ENTRIES {
        let sub = base.join(format!("d{d:04}"));
        fs::create_dir(&sub).expect("mkdir");
        count += 1;
        for f in 0..FILES_PER_DIR {
            if count >= ENTRIES {
                break;
            }
            if f % 10 == 9 {
                std::os::unix::fs::symlink(format!("f{:03}", f - 1), sub.join(format!("l{f:03}")))
                    .expect("symlink");
            } else {
                fs::write(sub.join(format!("f{f:03}")), b"x").expect("write");
            }
            count += 1;
        }
        d += 1;
    }
    let input = root.to_str().expect("utf-8 tempdir");

    let mut best = f64::MAX;
    for run in 0..3 {
        let start = Instant::now();
        let targets = kiln_validate::load(input, None).expect("loads");
        let report = kiln_validate::validate(&targets[0].tree, &kiln_validate::Options::default());
        let elapsed = start.elapsed().as_secs_f64();
        assert_eq!(
            targets[0].tree.entries().len(),
            ENTRIES,
            "generated entry count"
        );
        assert!(
            report.violations.is_empty(),
            "generated rootfs must be valid: {:?}",
            report.violations.first()
        );
        println!(
            "run {run}: {ENTRIES} entries validated in {:.3} s ({:.0} entries/s)",
            elapsed,
            ENTRIES as f64 / elapsed
        );
        best = best.min(elapsed);
    }
    println!(
        "best: {:.3} s ({:.0} entries/s){}",
        best,
        ENTRIES as f64 / best,
        if best < 1.0 {
            ""
        } else {
            "  -- SLOWER THAN THE 1 s TARGET"
        }
    );
}
