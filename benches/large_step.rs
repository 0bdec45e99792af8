//! Growth of loading, planning and converting one package whose step lists 1,000, 10,000 and
//! 100,000 scripts, and of a dependency chain 1,000 and 10,000 packages deep. Linear work shows
//! as a ×10 time per ×10 input. Run with `cargo bench --bench large_step`.

use std::time::{Duration, Instant};

use kiln::convert::{ConvertOptions, Converter, Trees};
use kiln::spec::Platform;
use kiln::tree::{FileSet, LoadOptions};

fn tree(files: Vec<(String, String)>) -> Trees {
    let mut set = FileSet::default();
    set.insert("Pkgfile", "format: v1alpha2\n");
    for (path, text) in files {
        set.insert(path, text);
    }
    Trees::new(set, LoadOptions::new(Platform::linux("amd64")))
}

fn step_tree(scripts: usize) -> Trees {
    let mut text = String::from("name: big\nvariant: scratch\nsteps:\n  - build:\n");
    for i in 0..scripts {
        text.push_str(&format!("      - echo {i}\n"));
    }
    text.push_str("finalize:\n  - from: /\n    to: /\n");
    tree(vec![("big/pkg.yaml".to_string(), text)])
}

fn chain_tree(depth: usize) -> Trees {
    let finalize = "finalize:\n  - from: /\n    to: /\n";
    let files = (0..depth)
        .map(|i| {
            let dep = if i == 0 {
                String::new()
            } else {
                format!("dependencies:\n  - stage: p{}\n", i - 1)
            };
            (
                format!("p{i}/pkg.yaml"),
                format!("name: p{i}\nvariant: scratch\n{dep}{finalize}"),
            )
        })
        .collect();
    tree(files)
}

/// Load, plan, convert and marshal `target`; the median of `runs`.
fn time(make: impl Fn() -> Trees, target: &str, runs: usize) -> Duration {
    let platform = Platform::linux("amd64");
    let helper = kiln_llb::Image::new("ghcr.io/kiln-build/kiln:bench")
        .expect("helper reference")
        .output();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let trees = make();
            let start = Instant::now();
            let tree = trees.get(&platform).expect("loads");
            tree.resolve(target).expect("plans");
            let converted = Converter::new(&trees, ConvertOptions::new(helper.clone()))
                .target(target, &platform)
                .expect("converts");
            std::hint::black_box(kiln_llb::marshal(&converted.image).to_bytes());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn report(what: &str, sizes: &[usize], mut run: impl FnMut(usize) -> Duration) {
    let mut previous: Option<(usize, Duration)> = None;
    for &n in sizes {
        let t = run(n);
        let growth = previous
            .map(|(pn, pt)| {
                format!(
                    " (×{:.1} for ×{})",
                    t.as_secs_f64() / pt.as_secs_f64(),
                    n / pn
                )
            })
            .unwrap_or_default();
        println!("{what} {n}: {:.1} ms{growth}", t.as_secs_f64() * 1e3);
        previous = Some((n, t));
    }
}

fn main() {
    report("large_step: scripts", &[1_000, 10_000, 100_000], |n| {
        time(|| step_tree(n), "big", if n >= 100_000 { 3 } else { 5 })
    });
    report("large_step: chain depth", &[1_000, 10_000], |n| {
        time(|| chain_tree(n), &format!("p{}", n - 1), 3)
    });
}
