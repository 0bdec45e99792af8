//! Times loading and planning every target of the siderolabs/extensions corpus for both
//! platforms, and reports peak memory. Run with `cargo bench --bench plan_corpus`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use kiln::spec::Platform;
use kiln::tree::{self, FileSet, LoadOptions};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/siderolabs-extensions");
    if !dir.join("Pkgfile").is_file() {
        eprintln!("skipping: {} is absent", dir.display());
        return;
    }
    let args: BTreeMap<String, String> = [
        ("TAG", "v1.14.0"),
        ("PKGS", "v1.14.0"),
        ("PKGS_PREFIX", "ghcr.io/siderolabs"),
        ("TOOLS", "v1.14.0"),
        ("TOOLS_PREFIX", "ghcr.io/siderolabs"),
        ("SOURCE_DATE_EPOCH", "1700000000"),
        ("TEST_STAGE", ""),
        ("GNU_MIRROR_URL", "https://ftp.gnu.org"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let iterations = std::env::var("KILN_BENCH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20u32);
    let mut times = Vec::new();
    let mut targets = 0;
    for _ in 0..iterations {
        let start = Instant::now();
        // Reading the files is part of what a user waits for.
        let files = FileSet::from_dir(&dir, "Pkgfile").expect("reading the corpus");
        targets = 0;
        for platform in Platform::ALL {
            let mut opts = LoadOptions::new(platform);
            opts.build_args = args.clone();
            let tree = tree::load(&files, &opts).expect("corpus loads");
            for name in tree.packages.keys() {
                tree.resolve(name).expect("plans");
                targets += 1;
            }
        }
        times.push(start.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "plan_corpus: {targets} target plans (2 platforms) per run; {iterations} runs: min {:.1} ms, median {:.1} ms, max {:.1} ms; peak RSS {} KiB",
        times[0].as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        peak_rss_kib().map(|k| k.to_string()).unwrap_or_else(|| "?".into()),
    );
}
