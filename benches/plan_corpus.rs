//! Times loading and planning every target of the siderolabs/extensions corpus for both
//! platforms, then converting every target to marshaled LLB, and reports peak memory. Run with
//! `cargo bench --bench plan_corpus`.

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
    println!(
        "plan_corpus: {targets} target plans (2 platforms) per run; {iterations} runs: {}",
        summary(&mut times)
    );

    let mut times = Vec::new();
    let mut converted = 0;
    for _ in 0..iterations {
        let start = Instant::now();
        converted = convert_all(&dir, &args);
        times.push(start.elapsed());
    }
    println!(
        "convert_corpus: {converted} targets converted and marshaled (2 platforms) per run; {iterations} runs: {}; peak RSS {} KiB",
        summary(&mut times),
        peak_rss_kib().map(|k| k.to_string()).unwrap_or_else(|| "?".into()),
    );
}

fn summary(times: &mut [std::time::Duration]) -> String {
    times.sort();
    format!(
        "min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    )
}

/// Loads the corpus and converts every target for both platforms, validation stage included,
/// marshaling each result as the frontend does.
fn convert_all(dir: &std::path::Path, args: &std::collections::BTreeMap<String, String>) -> usize {
    use kiln::convert::{ConvertOptions, Converter, Trees, ValidateOptions};
    let files = FileSet::from_dir(dir, "Pkgfile").expect("reading the corpus");
    let mut opts = LoadOptions::new(kiln::spec::Platform::linux("amd64"));
    opts.build_args = args.clone();
    let trees = Trees::new(files, opts);
    let helper = kiln_llb::Image::new("ghcr.io/kiln-build/kiln:bench")
        .expect("helper reference")
        .output();
    let mut convert = ConvertOptions::new(helper);
    convert.validate = Some(ValidateOptions::default());
    let mut converted = 0;
    for platform in platform::supported() {
        let names: Vec<String> = trees
            .get(&platform)
            .expect("corpus loads")
            .packages
            .keys()
            .cloned()
            .collect();
        let mut converter = Converter::new(&trees, convert.clone());
        for name in &names {
            let target = converter.target(name, &platform).expect("converts");
            std::hint::black_box(kiln_llb::marshal(&target.result()).to_bytes());
            converted += 1;
        }
    }
    converted
}
