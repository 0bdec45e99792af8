//! Times loading and planning every target of the siderolabs/extensions corpus for both
//! platforms, and reports peak memory. Run with `cargo bench --bench plan_corpus`.

use std::time::Instant;

use kiln::spec::platform;
use kiln::tree::{self, FileSet, LoadOptions};

#[path = "../tests/support/corpus.rs"]
mod support;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let Some(dir) = support::corpus_dir() else {
        return;
    };
    let args = support::corpus_build_args();
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
        for platform in platform::supported() {
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
