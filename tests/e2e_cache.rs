//! The registry as the shared build cache: a build of the fixture with
//! `--cache-to type=registry,…,mode=max`, then `docker buildx prune -af` (the daemon forgets every
//! result), then the same build with `--cache-from` that ref is fully cached.
//!
//! This is the only test of its binary because it empties the daemon's build cache: cargo runs test
//! binaries one after another, so no other e2e build runs meanwhile. It also measures the wall time
//! of a cold build (right after the prune) and prints it as a figure.

mod common;

use std::time::Instant;

use common::fixture::{FrontendFixture, EXTENSION_DIR, PLATFORMS};
use common::{progress, OciArchive};

fn prune_build_cache() {
    common::docker(&["buildx", "prune", "-af"]).assert_success();
}

#[test]
fn registry_cache_survives_a_prune_and_makes_the_build_fully_cached() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    // A message no earlier run used: the daemon keeps a few records that `prune -af` does not
    // remove (in use by its image store), and they must not make the "cold" build warm.
    let unique = common::unique_name("cold");
    fx.edit(
        "greeting/message.txt",
        "hello from the greeting stage",
        &format!("hello from the greeting stage ({unique})"),
    );
    let cache_ref = format!(
        "{}/kiln-e2e/{}/cache",
        env.registry.addr(),
        common::unique_name("cache")
    );
    let out = fx.scratch("out");

    // Cold: nothing cached, the source is downloaded, every package builds; the cache goes to the
    // registry.
    prune_build_cache();
    let started = Instant::now();
    let cold = fx
        .build()
        .cache_to(&format!("type=registry,ref={cache_ref},mode=max"))
        .output_oci(out.join("cold.tar"))
        .run();
    let cold_secs = started.elapsed().as_secs_f64();
    cold.assert_success();
    eprintln!(
        "figure: cold build of the fixture after `docker buildx prune -af` \
         (2 platforms, OCI export + registry cache export): {cold_secs:.2}s"
    );
    let vertices = progress::parse(&cold.output);
    for platform in PLATFORMS {
        let names = [
            format!("[{platform}] greeting: install 1/1"),
            format!("[{platform}] fixture-ext: step 2 install 1/1"),
            format!("[{platform}] fixture-ext: validate extension image"),
        ];
        progress::assert_each(
            &vertices,
            &names,
            progress::Vertex::ran,
            "run in the cold build",
        );
    }
    assert!(
        fx.server.hits("payload.txt") >= 1,
        "the cold build did not download the source"
    );
    let cache_repo = cache_ref
        .strip_prefix(&format!("{}/", env.registry.addr()))
        .unwrap();
    assert!(
        env.registry.manifest(cache_repo, "latest").is_some(),
        "no cache manifest at {cache_ref}:latest"
    );
    let hits_after_cold = fx.server.hits("payload.txt");

    // Forget everything locally, then build again from the registry cache only.
    prune_build_cache();
    let started = Instant::now();
    let warm_tar = out.join("warm.tar");
    let warm = fx
        .build()
        .cache_from(&format!("type=registry,ref={cache_ref}"))
        .output_oci(&warm_tar)
        .run();
    let warm_secs = started.elapsed().as_secs_f64();
    warm.assert_success();
    eprintln!(
        "figure: build of the fixture after a prune, from the registry cache: {warm_secs:.2}s"
    );
    // BuildKit ignores a cache it cannot import (the build still succeeds), so say why here.
    assert!(
        !warm.output.contains("is too large ("),
        "BuildKit refused to import the cache config (over its 1 MiB limit): this daemon's key \
         store links many earlier builds of the same content; `hack/buildkit-reset.sh` empties it \
         (hack/test.sh does so before every run):\n{}",
        warm.output
    );

    // Fully cached, in the same precise sense as the local-cache test (progress::worked): every
    // exec, copy, merge and finalize is CACHED; only client-side steps, the cache import and
    // input-free vertices (sources, `mkdir /pkg` on scratch) show as done. One exception, checked
    // line by line: the result (`<target>: validated image`, a MergeOp that only stacks layers)
    // must bring its layers from the registry for the exporter, so it shows as done with nothing
    // but layer movement in its log: blob fetches, their extraction, and the merge that stacks them
    // (printed as `merging`, more visibly on a loaded machine). Anything else would mean work.
    let vertices = progress::parse(&warm.output);
    let ran: Vec<_> = progress::worked(&vertices)
        .into_iter()
        .filter(|v| {
            let only_fetches = v.lines.iter().all(|l| is_layer_movement_line(l.trim()));
            !(v.name.ends_with(": validated image") && only_fetches && v.error.is_none())
        })
        .collect();
    assert!(
        ran.is_empty(),
        "with --cache-from after a prune, the build ran (name, log lines) {:?}:\n{}",
        ran.iter().map(|v| (&v.name, &v.lines)).collect::<Vec<_>>(),
        progress::summary(&vertices)
    );
    assert!(
        vertices
            .iter()
            .any(|v| v.name.starts_with("importing cache manifest from") && v.ran()),
        "the cache was not imported:\n{}",
        progress::summary(&vertices)
    );
    assert_eq!(
        fx.server.hits("payload.txt"),
        hits_after_cold,
        "the cached build downloaded the source again"
    );

    // The result from the cache is the complete image.
    let oci = OciArchive::open(&warm_tar);
    let platforms: Vec<String> = oci
        .platform_manifests()
        .into_iter()
        .map(|m| m.platform)
        .collect();
    assert_eq!(platforms, PLATFORMS);
    let root = fx.scratch("warm-arm64");
    oci.extract_platform("linux/arm64", &root);
    let busybox = std::fs::read(root.join("rootfs").join(EXTENSION_DIR).join("bin/busybox"))
        .expect("busybox in the cached arm64 image");
    assert_eq!(common::elf_machine(&busybox), Some("aarch64"));
}

/// True for BuildKit's progress line of a blob download: `sha256:<hex> <size> / <size> <time>[ done]`.
fn is_blob_fetch_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("sha256:") else {
        return false;
    };
    let mut words = rest.split_whitespace();
    let digest_ok = words
        .next()
        .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_hexdigit()));
    let rest: Vec<&str> = words.collect();
    let done = rest.last() == Some(&"done");
    let sizes = if done {
        &rest[..rest.len() - 1]
    } else {
        &rest[..]
    };
    // Just `done`, or `SIZE / TOTAL` before it, with the elapsed time when it was measurable.
    let sized = |s: &[&str]| s.len() == 3 && s[1] == "/";
    digest_ok
        && (sizes.is_empty()
            || sized(sizes)
            || (sizes.len() == 4 && sized(&sizes[..3]) && is_duration(sizes[3])))
}

/// A line of the result's log that only moves layers the cache already had: a blob fetch, the
/// extraction of a fetched blob, or the merge that stacks them (`merging`, `merging 0.1s done`).
fn is_layer_movement_line(line: &str) -> bool {
    if is_blob_fetch_line(line) {
        return true;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let timed = |rest: &[&str]| match rest {
        [] | ["done"] => true,
        [time] | [time, "done"] => is_duration(time),
        _ => false,
    };
    match words.as_slice() {
        ["merging", rest @ ..] => timed(rest),
        ["extracting", digest, rest @ ..] => {
            is_blob_fetch_line(&format!("{digest} done")) && timed(rest)
        }
        _ => false,
    }
}

/// `0.1s`, `12.3s`: buildx's elapsed-time form.
fn is_duration(word: &str) -> bool {
    word.strip_suffix('s')
        .is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok())
}

#[test]
fn layer_movement_lines_are_recognised() {
    assert!(is_layer_movement_line("merging"));
    assert!(is_layer_movement_line("merging 0.0s done"));
    assert!(is_layer_movement_line("merging 1.2s"));
    assert!(is_layer_movement_line("extracting sha256:0af3 0.1s done"));
    assert!(is_layer_movement_line(
        "sha256:0af3 2.10MB / 2.10MB 0.5s done"
    ));
    assert!(!is_layer_movement_line("merging everything"));
    assert!(!is_layer_movement_line("extracting /etc 0.1s"));
    assert!(!is_layer_movement_line("0.315 /src/payload.txt: sha512 OK"));
    assert!(!is_layer_movement_line("running validation"));
}

#[test]
fn blob_fetch_lines_are_recognised() {
    assert!(is_blob_fetch_line("sha256:6232 252B / 252B done"));
    assert!(!is_blob_fetch_line("sha256:6232 252B / 252B later done"));
    assert!(is_blob_fetch_line("sha256:0af3 1.05MB / 2.10MB 0.2s"));
    assert!(is_blob_fetch_line("sha256:0af3 2.10MB / 2.10MB 0.5s done"));
    assert!(is_blob_fetch_line("sha256:0af3 done"));
    assert!(!is_blob_fetch_line("sha256:0af3 extracting"));
    assert!(!is_blob_fetch_line("running validation"));
    assert!(!is_blob_fetch_line("sha256:zz 1MB / 2MB 0.1s"));
}
