//! kiln against BuildKit's built-in Dockerfile frontend on one daemon, building the same image
//! (extensions/examples/hello-service and benches/floor/Dockerfile; the outputs are compared file by file
//! first). For linux/amd64 and for linux/amd64+linux/arm64, each round builds, kiln and the floor
//! in turn (which goes first alternates): fully cached, after a one-file change (hello.sh), and cold
//! (`--no-cache`: every script runs again). Then a generated tree of 30 packages
//! (tests/support/chain_tree.rs), fully cached and after one leaf changed, checking from the
//! progress trace that exactly the leaf's dependents rebuilt.
//!
//! A third build, "syntax", is the floor's Dockerfile built through kiln's image with
//! `KILN_BENCH_FORWARD=1`, which hands it unchanged to the built-in frontend: what any `# syntax`
//! frontend pays (resolving and starting its image) before doing any work of its own, so
//! kiln/syntax is kiln's own share.
//!
//! Figures, never pass/fail: medians over the rounds, and ratios as the median of each round's
//! kiln/floor pair (pairs share the machine's mood). Besides the wall time of `docker buildx build`,
//! the `--progress=rawjson` trace gives the in-daemon time (first vertex started → last vertex
//! completed, the export) and splits kiln's into the frontend start (up to the frontend image's
//! vertices completing: every `# syntax` frontend pays it) and kiln's own work after it.
//!
//! `KILN_IMAGE=TAG cargo bench --bench build_compare` (default `kiln:dev`); `KILN_BENCH_ROUNDS`
//! (default 5); `KILN_SYNTAX_IMAGE=TAG` the image that forwards the floor (default `KILN_IMAGE`; set
//! it to compare a kiln older than `KILN_BENCH_FORWARD` against the same syntax floor). Needs the environment of hack/env-up.sh; skips, saying so, without it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[path = "../tests/support/chain_tree.rs"]
mod chain_tree;
#[allow(dead_code)]
#[path = "../tests/common/progress.rs"]
mod progress;

use chain_tree::{ChainTree, CHAIN_TARGET};
use progress::Vertex;

const BUSYBOX_IMAGE: &str = "kiln-test/busybox:latest";
const PLATFORM_SETS: [&str; 2] = ["linux/amd64", "linux/amd64,linux/arm64"];
const CHAIN_LEVELS: usize = 6;
const CHAIN_WIDTH: usize = 5;

/// One round of a case: the three contenders' builds.
struct Triple {
    kiln: Trace,
    floor: Trace,
    syntax: Trace,
}

/// What one build cost.
struct Trace {
    /// `docker buildx build`, start to exit.
    wall: f64,
    /// First vertex started → last vertex completed.
    daemon: f64,
    /// From the first vertex to the frontend image's vertices completing (0 for the floor).
    frontend_start: f64,
    vertices: Vec<Vertex>,
}

impl Trace {
    fn own(&self) -> f64 {
        self.daemon - self.frontend_start
    }
}

fn main() {
    let image = std::env::var("KILN_IMAGE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "kiln:dev".to_string());
    // The image forwarding the floor; another than the one measured lets an older kiln (without
    // KILN_BENCH_FORWARD) be compared against the same syntax floor.
    let syntax_image = std::env::var("KILN_SYNTAX_IMAGE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| image.clone());
    let rounds: usize = std::env::var("KILN_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(5);
    if let Err(missing) = environment(&image).and_then(|()| environment(&syntax_image)) {
        println!("build_compare: skipped: {missing} (hack/env-up.sh, hack/frontend-image.sh)");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().expect("temporary directory");
    let ext = work.path().join("extensions");
    copy_dir(&repo.join("extensions"), &ext);
    // The syntax build runs the floor's very definition: a context of its own keeps its one-file
    // change from being answered by the floor's cache.
    let ext_syntax = work.path().join("extensions-syntax");
    copy_dir(&repo.join("extensions"), &ext_syntax);
    let floor_file = repo.join("benches/floor/Dockerfile");
    let chain = ChainTree::write(
        &work.path().join("chain"),
        CHAIN_LEVELS,
        CHAIN_WIDTH,
        BUSYBOX_IMAGE,
    );
    // Changes must be new to the daemon, or an earlier run's cache would answer them.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let hello = ext.join("examples/hello-service/hello.sh");
    let hello_syntax = ext_syntax.join("examples/hello-service/hello.sh");
    let hello_original = std::fs::read_to_string(&hello).expect("hello.sh");

    println!(
        "build_compare: {image} against the Dockerfile frontend, {rounds} rounds; seconds, medians; \
         ratio = median of per-round kiln/floor; syntax = the floor through {syntax_image} forwarding it \
         (what any # syntax frontend pays), k/syn = kiln/syntax"
    );
    println!(
        "{:<24} {:<10} {:>6} {:>6} {:>6} {:>6} {:>6} | {:>9} {:>9} {:>6} {:>9} | {:>9} {:>8}",
        "platforms",
        "case",
        "kiln",
        "floor",
        "ratio",
        "syntax",
        "k/syn",
        "kiln in",
        "floor in",
        "ratio",
        "syntax in",
        "fe start",
        "kiln own"
    );
    for platforms in PLATFORM_SETS {
        let out = work.path().join("out");
        let kiln = |dest: &str, no_cache: bool| {
            let mut args = vec![
                "-f".to_string(),
                ext.join("Pkgfile").display().to_string(),
                "--target".into(),
                "hello-service".into(),
                "--build-arg".into(),
                format!("BUILDKIT_SYNTAX={image}"),
                "--build-context".into(),
                format!("docker.io/library/busybox:1.37-musl=docker-image://{BUSYBOX_IMAGE}"),
            ];
            if no_cache {
                args.push("--no-cache".into());
            }
            build(&args, platforms, &out.join(dest), &ext, Some(&image))
        };
        let floor = |dest: &str, no_cache: bool| {
            let mut args = vec!["-f".to_string(), floor_file.display().to_string()];
            if no_cache {
                args.push("--no-cache".into());
            }
            build(&args, platforms, &out.join(dest), &ext, None)
        };
        let syntax = |dest: &str, no_cache: bool| {
            let mut args = vec![
                "-f".to_string(),
                floor_file.display().to_string(),
                "--build-arg".into(),
                format!("BUILDKIT_SYNTAX={syntax_image}"),
                "--build-arg".into(),
                "KILN_BENCH_FORWARD=1".into(),
            ];
            if no_cache {
                args.push("--no-cache".into());
            }
            build(
                &args,
                platforms,
                &out.join(dest),
                &ext_syntax,
                Some(&syntax_image),
            )
        };
        let chain_build = || {
            let args = vec![
                "-f".to_string(),
                chain.root.join("Pkgfile").display().to_string(),
                "--target".into(),
                CHAIN_TARGET.into(),
                "--build-arg".into(),
                format!("BUILDKIT_SYNTAX={image}"),
            ];
            build(
                &args,
                platforms,
                &out.join("chain"),
                &chain.root,
                Some(&image),
            )
        };

        // Warm every cache, and make sure both frontends build the same image.
        std::fs::write(&hello, &hello_original).expect("hello.sh");
        std::fs::write(&hello_syntax, &hello_original).expect("hello.sh");
        kiln("kiln", false);
        floor("floor", false);
        syntax("syntax", false);
        for (other, what) in [("floor", "the floor"), ("syntax", "the forwarded floor")] {
            if let Err(difference) = same_files(&out.join("kiln"), &out.join(other)) {
                println!("build_compare: kiln and {what} built different images ({difference}); not comparable");
                return;
            }
        }
        chain_build();

        let mut rows: BTreeMap<&str, Vec<Triple>> = BTreeMap::new();
        let mut chain_rows: BTreeMap<&str, Vec<(Trace, f64)>> = BTreeMap::new();
        let mut rebuilt_exactly = true;
        let leaf = chain.middle_leaf();
        let expected = chain.dependents(&leaf);
        for round in 0..rounds {
            // Which goes first rotates, so no contender always meets a warmer daemon.
            let triple = |no_cache: bool| {
                let mut runs: [Option<Trace>; 3] = [None, None, None];
                for k in 0..3 {
                    let which = (round + k) % 3;
                    runs[which] = Some(match which {
                        0 => kiln("kiln", no_cache),
                        1 => floor("floor", no_cache),
                        _ => syntax("syntax", no_cache),
                    });
                }
                let [Some(k), Some(f), Some(s)] = runs else {
                    unreachable!("every contender ran")
                };
                Triple {
                    kiln: k,
                    floor: f,
                    syntax: s,
                }
            };
            let cached = triple(false);
            let chain_cached = chain_build();
            let small_wall = cached.kiln.wall;
            chain_rows
                .entry("cached")
                .or_default()
                .push((chain_cached, small_wall));
            rows.entry("cached").or_default().push(cached);

            for (file, who) in [(&hello, "kiln-floor"), (&hello_syntax, "syntax")] {
                std::fs::write(
                    file,
                    format!("{hello_original}# change {nonce}-{platforms}-{round}-{who}\n"),
                )
                .expect("hello.sh");
            }
            let changed = triple(false);
            // The platform set too: a change the amd64 rounds already built would be cached here.
            chain.change(&leaf, &format!("{leaf} {nonce}-{platforms}-{round}\n"));
            let chain_changed = chain_build();
            let rebuilt = rebuilt_packages(&chain_changed.vertices);
            if rebuilt != expected {
                rebuilt_exactly = false;
                println!(
                    "build_compare: after changing {leaf}, {platforms} rebuilt {rebuilt:?}, expected {expected:?}"
                );
            }
            chain_rows
                .entry("leaf change")
                .or_default()
                .push((chain_changed, changed.kiln.wall));
            rows.entry("one file").or_default().push(changed);

            let cold = triple(true);
            rows.entry("cold").or_default().push(cold);
        }
        std::fs::write(&hello, &hello_original).expect("hello.sh");
        std::fs::write(&hello_syntax, &hello_original).expect("hello.sh");

        for case in ["cold", "cached", "one file"] {
            let runs = &rows[case];
            let med = |f: &dyn Fn(&Triple) -> f64| median(runs.iter().map(f));
            println!(
                "{:<24} {:<10} {:>6.3} {:>6.3} {:>6.2} {:>6.3} {:>6.2} | {:>9.3} {:>9.3} {:>6.2} {:>9.3} | {:>9.3} {:>8.3}",
                platforms,
                case,
                med(&|t| t.kiln.wall),
                med(&|t| t.floor.wall),
                med(&|t| t.kiln.wall / t.floor.wall),
                med(&|t| t.syntax.wall),
                med(&|t| t.kiln.wall / t.syntax.wall),
                med(&|t| t.kiln.daemon),
                med(&|t| t.floor.daemon),
                med(&|t| t.kiln.daemon / t.floor.daemon),
                med(&|t| t.syntax.daemon),
                med(&|t| t.kiln.frontend_start),
                med(&|t| t.kiln.own()),
            );
        }
        for case in ["cached", "leaf change"] {
            let runs = &chain_rows[case];
            let packages = chain.packages().len();
            println!(
                "{:<24} {:<10} {:>6.3} {:>6} {:>6} {:>6} {:>6} | {:>9.3} {:>9} {:>6} {:>9} | {:>9.3} {:>8.3}   \
                 {packages}-package tree; {:.2}x the small extension's {case} build{}",
                platforms,
                if case == "cached" {
                    "tree"
                } else {
                    "tree leaf"
                },
                median(runs.iter().map(|(t, _)| t.wall)),
                "",
                "",
                "",
                "",
                median(runs.iter().map(|(t, _)| t.daemon)),
                "",
                "",
                "",
                median(runs.iter().map(|(t, _)| t.frontend_start)),
                median(runs.iter().map(|(t, _)| t.own())),
                median(runs.iter().map(|(t, small)| t.wall / small)),
                if case == "cached" {
                    String::new()
                } else if rebuilt_exactly {
                    format!(
                        "; rebuilt exactly {} (the leaf and its dependents)",
                        expected.len()
                    )
                } else {
                    "; REBUILT OTHER PACKAGES TOO (see above)".to_string()
                }
            );
        }
    }
}

/// Docker with buildx, the busybox base image and the frontend image, or what is missing.
fn environment(image: &str) -> Result<(), String> {
    let ok = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok(&["buildx", "version"]) {
        return Err("no docker buildx".to_string());
    }
    for needed in [image, BUSYBOX_IMAGE] {
        if !ok(&["image", "inspect", needed]) {
            return Err(format!("no image {needed}"));
        }
    }
    Ok(())
}

/// Runs one `docker buildx build` with a rawjson progress trace. A failure is retried twice
/// (saying so: BuildKit v0.13 sometimes fails a build with "inconsistent graph state"), then ends
/// the bench.
fn build(
    args: &[String],
    platforms: &str,
    dest: &Path,
    context: &Path,
    frontend_image: Option<&str>,
) -> Trace {
    let mut attempt = 1;
    loop {
        let _ = std::fs::remove_dir_all(dest);
        let started = Instant::now();
        let output = Command::new("docker")
            .args([
                "buildx",
                "build",
                "--progress=rawjson",
                "--provenance=false",
            ])
            .args(args)
            .args(["--platform", platforms])
            .arg("--output")
            .arg(format!("type=local,dest={}", dest.display()))
            .arg(context)
            .stdin(Stdio::null())
            .output()
            .expect("running docker buildx build");
        let wall = started.elapsed().as_secs_f64();
        let trace = String::from_utf8_lossy(&output.stderr);
        if output.status.success() {
            return parse_trace(&trace, wall, frontend_image);
        }
        let error = trace
            .lines()
            .rev()
            .find(|l| l.starts_with("ERROR"))
            .unwrap_or("(no ERROR line)");
        if attempt == 3 {
            panic!("build_compare: a build failed 3 times ({args:?}, {platforms}): {error}");
        }
        println!("build_compare: retrying a failed build ({platforms}): {error}");
        attempt += 1;
    }
}

/// Reads buildx's `--progress=rawjson` stream: concatenated JSON SolveStatus objects.
fn parse_trace(trace: &str, wall: f64, frontend_image: Option<&str>) -> Trace {
    #[derive(Default)]
    struct Seen {
        name: String,
        started: Option<f64>,
        completed: Option<f64>,
        cached: bool,
        error: Option<String>,
    }
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut order = Vec::new();
    for status in serde_json::Deserializer::from_str(trace).into_iter::<serde_json::Value>() {
        let Ok(status) = status else { break };
        let Some(vertexes) = status.get("vertexes").and_then(|v| v.as_array()) else {
            continue;
        };
        for v in vertexes {
            let Some(digest) = v.get("digest").and_then(|d| d.as_str()) else {
                continue;
            };
            let entry = seen.entry(digest.to_string()).or_insert_with(|| {
                order.push(digest.to_string());
                Seen::default()
            });
            let time = |key: &str| {
                v.get(key)
                    .and_then(|t| t.as_str())
                    .and_then(rfc3339_seconds)
            };
            if let Some(name) = v.get("name").and_then(|n| n.as_str()) {
                entry.name = name.to_string();
            }
            if let Some(s) = time("started") {
                entry.started = Some(entry.started.map_or(s, |e: f64| e.min(s)));
            }
            if let Some(c) = time("completed") {
                entry.completed = Some(entry.completed.map_or(c, |e: f64| e.max(c)));
            }
            entry.cached |= v.get("cached").and_then(|c| c.as_bool()) == Some(true);
            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                entry.error = Some(e.to_string());
            }
        }
    }
    let first = seen
        .values()
        .filter_map(|s| s.started)
        .fold(f64::INFINITY, f64::min);
    let last = seen
        .values()
        .filter_map(|s| s.completed)
        .fold(f64::NEG_INFINITY, f64::max);
    let frontend_start = frontend_image.map_or(0.0, |image| {
        let ready = seen
            .values()
            .filter(|s| s.name.contains("docker-image://") && s.name.contains(image))
            .filter_map(|s| s.completed)
            .fold(first, f64::max);
        ready - first
    });
    let vertices = order
        .iter()
        .enumerate()
        .map(|(i, digest)| {
            let s = &seen[digest];
            let canceled = s.error.as_deref().is_some_and(|e| e.contains("canceled"));
            Vertex {
                id: i as u32,
                name: s.name.clone(),
                cached_line: s.cached,
                done_line: s.completed.is_some() && !s.cached && s.error.is_none(),
                canceled,
                error: s.error.clone().filter(|_| !canceled),
                lines: Vec::new(),
            }
        })
        .collect();
    Trace {
        wall,
        daemon: (last - first).max(0.0),
        frontend_start,
        vertices,
    }
}

/// Packages with a vertex that did build work (see tests/common/progress.rs). The toolchain is
/// left out: its ops are shared with other busybox toolchains, which a concurrent build may run.
fn rebuilt_packages(vertices: &[Vertex]) -> BTreeSet<String> {
    progress::worked(vertices)
        .iter()
        .filter_map(|v| v.package().map(str::to_string))
        .filter(|p| p != chain_tree::CHAIN_TOOLCHAIN)
        .collect()
}

/// `2026-12-03T07:57:42.62140743Z` → seconds since the epoch (UTC only, as BuildKit writes).
fn rfc3339_seconds(text: &str) -> Option<f64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.splitn(3, ':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3_600 + min * 60) as f64 + sec)
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Every file, directory and symlink under `root` with its content or target.
fn listing(root: &Path) -> BTreeMap<PathBuf, Result<Vec<u8>, PathBuf>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("reading an output") {
            let path = entry.expect("reading an output").path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&path).expect("an output entry");
            if meta.is_symlink() {
                out.insert(rel, Err(std::fs::read_link(&path).unwrap()));
            } else if meta.is_dir() {
                out.insert(rel, Ok(Vec::new()));
                dirs.push(path);
            } else {
                out.insert(rel, Ok(std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// kiln's SBOM, which the floor has no generator for: the document in the rootfs
/// (`usr/local/share/spdx/`) and the attestation the local exporter writes beside it. Left out of
/// the comparison; writing them is part of kiln's measured work, so this favours the floor.
fn sbom_only_in_kiln(rel: &Path) -> bool {
    let name = rel.to_string_lossy();
    name.ends_with(".spdx.json")
        && (rel.components().count() <= 2 || name.contains("usr/local/share/spdx/"))
        || name.ends_with("usr/local/share/spdx")
        || name.ends_with("usr/local/share")
}

fn same_files(a: &Path, b: &Path) -> Result<(), String> {
    let (mut la, mut lb) = (listing(a), listing(b));
    la.retain(|k, _| !sbom_only_in_kiln(k));
    lb.retain(|k, _| !sbom_only_in_kiln(k));
    let names = |l: &BTreeMap<PathBuf, _>| l.keys().cloned().collect::<BTreeSet<PathBuf>>();
    let (na, nb) = (names(&la), names(&lb));
    if let Some(extra) = na.symmetric_difference(&nb).next() {
        return Err(format!("{} is in one output only", extra.display()));
    }
    match la.iter().find(|(k, v)| lb.get(*k) != Some(v)) {
        Some((path, _)) => Err(format!("{} differs", path.display())),
        None => Ok(()),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a copy");
    for entry in std::fs::read_dir(from).expect("reading extensions/") {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying extensions/");
        }
    }
}
