//! Failing builds of the fixture tree through `docker buildx build --push`: a bad pkg.yaml, a wrong
//! checksum and a failing script each fail with a message that names the file and line (buildx
//! prints the pkg.yaml lines with `>>>` on the culprit, from BuildKit's source-location errors), and
//! nothing reaches the registry.

mod common;

use common::fixture::FrontendFixture;
use common::progress;
use common::{CommandOutput, E2eEnv};

const PKG: &str = "fixture-ext/pkg.yaml";

/// Pushes the fixture to a fresh repository, expects failure, and checks the registry has no tag.
fn push_expecting_failure(env: &E2eEnv, fx: &FrontendFixture) -> CommandOutput {
    let repo = format!("kiln-e2e/{}", common::unique_name("fail"));
    let out = fx
        .build()
        .tag(&env.registry.reference(&repo, "v1"))
        .push()
        .run();
    out.assert_failure();
    assert!(
        env.registry.tags(&repo).is_empty() && env.registry.manifest(&repo, "v1").is_none(),
        "a failed build pushed {repo}:v1"
    );
    out
}

/// Asserts buildx printed the source excerpt of `file` whose range starts at `first` (buildx's
/// header line `fixture-ext/pkg.yaml:22`) and marks `line` with `>>>`, that line containing `text`
/// (`  22 | >>>     network: bridge`).
#[track_caller]
fn assert_points_at(out: &CommandOutput, file: &str, first: usize, line: usize, text: &str) {
    out.assert_contains(&format!("\n{file}:{first}\n"));
    let marked = out
        .output
        .lines()
        .any(|l| l.trim_start().starts_with(&format!("{line} | >>>")) && l.contains(text));
    assert!(
        marked,
        "no `{line} | >>> …{text}…` line in the output of `{}`:\n{}",
        out.command, out.output
    );
}

#[test]
fn an_unknown_network_mode_fails_before_building_naming_file_and_line() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    fx.edit(
        PKG,
        "    env:\n      EXT_ROOT:",
        "    network: bridge\n    env:\n      EXT_ROOT:",
    );
    let line = fx.line_of(PKG, "network: bridge");
    let out = push_expecting_failure(&env, &fx);
    assert_points_at(&out, PKG, line, line, "network: bridge");
    out.assert_contains(&format!("{PKG}:{line}:"))
        .assert_contains("unknown network mode \"bridge\"");
    // It failed while loading the tree: no package vertex started.
    let vertices = progress::parse(&out.output);
    assert!(
        vertices.iter().all(|v| v.package().is_none()),
        "package vertices ran for a bad tree:\n{}",
        progress::summary(&vertices)
    );
}

#[test]
fn a_sha256_of_the_wrong_length_fails_naming_file_and_line() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    // Drop the last hex digit: 63 characters.
    fx.edit(PKG, "440189be163\n", "440189be16\n");
    let line = fx.line_of(PKG, "sha256:");
    let out = push_expecting_failure(&env, &fx);
    assert_points_at(&out, PKG, line, line, "sha256: 5f51aac4");
    out.assert_contains(&format!("{PKG}:{line}:"))
        .assert_contains("sha256 should be 64 hex digits, found 63");
}

#[test]
fn a_wrong_sha512_fails_in_the_verify_step_naming_file_and_line() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    // Right length, right sha256, wrong sha512 (first digit changed).
    fx.edit(PKG, "sha512: 29d7d839", "sha512: 39d7d839");
    let line = fx.line_of(PKG, "sha512:");
    let out = push_expecting_failure(&env, &fx);

    let vertices = progress::parse(&out.output);
    let failed: Vec<&str> = vertices
        .iter()
        .filter(|v| v.error.is_some())
        .map(|v| v.name.as_str())
        .collect();
    assert!(
        !failed.is_empty()
            && failed
                .iter()
                .all(|n| n.ends_with("fixture-ext: verify sha512 of payload.txt")),
        "expected only the sha512 verification to fail, failed: {failed:?}\n{}",
        progress::summary(&vertices)
    );
    out.assert_contains("sha512 mismatch");
    // The excerpt is the whole source entry, from `- url:` to its sha512 line.
    let entry = fx.line_of(PKG, "- url:");
    assert_points_at(&out, PKG, entry, line, "sha512: 39d7d839");
    assert_points_at(&out, PKG, entry, entry, "- url:");
}

#[test]
fn a_failing_script_points_at_its_pkg_yaml_line() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    fx.edit(
        PKG,
        "grep -q \"verified by sha256 and sha512\" payload.txt",
        "grep -q \"text the payload does not hold\" payload.txt",
    );
    let script_start = fx.line_of(PKG, "    build:") + 1;
    let failing = fx.line_of(PKG, "text the payload does not hold");
    let out = push_expecting_failure(&env, &fx);

    let vertices = progress::parse(&out.output);
    assert!(
        vertices
            .iter()
            .any(|v| v.error.is_some() && v.name.ends_with("fixture-ext: step 1 build 1/1")),
        "the build script's vertex did not fail:\n{}",
        progress::summary(&vertices)
    );
    // BuildKit prints the range of the script's list item: from `- |` to its last line.
    assert_points_at(&out, PKG, script_start, script_start, "- |");
    assert_points_at(
        &out,
        PKG,
        script_start,
        failing,
        "text the payload does not hold",
    );
}

#[test]
fn a_conversion_error_shows_the_whole_dependency_range() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    // The loader accepts any string; the converter refuses a reference BuildKit would refuse.
    fx.edit(
        PKG,
        "- image: kiln-test/alpine-like:latest",
        "- image: Kiln-Test/Alpine-Like:latest",
    );
    let first = fx.line_of(PKG, "- image: Kiln-Test");
    let last = fx.line_of(PKG, "to: /deps/alpine-like/");
    let out = push_expecting_failure(&env, &fx);
    out.assert_contains("invalid image reference `Kiln-Test/Alpine-Like:latest`")
        .assert_contains(&format!("{PKG}:{first}:"));
    // The dependency's whole entry, as the loader reports its own errors: `- image:` to `to:`.
    assert_points_at(&out, PKG, first, first, "- image: Kiln-Test");
    assert_points_at(&out, PKG, first, last, "to: /deps/alpine-like/");
}
