//! `--print outline` and `--print check` (buildx 0.13's spelling of `--call outline|check`,
//! `BUILDX_EXPERIMENTAL=1`) of the fixture tree through kiln: buildx renders kiln's outline as
//! its target/build-arg tables and kiln's lint results as `WARNING: Rule` blocks with the pkg.yaml
//! lines; a rule that is an error fails the call, and `# check=skip=` silences a rule.

mod common;

use common::fixture::FrontendFixture;
use common::CommandOutput;

/// `BUILDX_EXPERIMENTAL=1 docker buildx build --print WHAT` of `fx` through kiln.
fn print(fx: &FrontendFixture, what: &str, extra: &[(&str, &str)]) -> CommandOutput {
    let mut b = common::Buildx::new(fx.tree())
        .file(fx.path("Pkgfile"))
        .kiln()
        .arg("--print")
        .arg(what)
        .env("BUILDX_EXPERIMENTAL", "1");
    for (k, v) in extra {
        b = b.build_arg(k, v);
    }
    b.run()
}

/// The cells of the table row whose first cell is `first`, split on runs of 2+ spaces.
fn row(output: &str, first: &str) -> Vec<String> {
    output
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_else(|| panic!("no row {first:?} in:\n{output}"))
}

#[test]
fn print_outline_lists_what_the_target_reads() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    fx.edit(
        "fixture-ext/vars.yaml",
        "VERSION: v0.3.1",
        "# The extension's release, as its manifest states it.\nVERSION: v0.3.1",
    );
    let out = common::Buildx::new(fx.tree())
        .file(fx.path("Pkgfile"))
        .kiln()
        .target("fixture-ext")
        .arg("--print")
        .arg("outline")
        .env("BUILDX_EXPERIMENTAL", "1")
        .build_arg("TALOS_VERSION", "v1.9.0")
        .run();
    out.assert_success();
    let text = &out.output;
    assert_eq!(row(text, "TARGET:"), ["TARGET:", "fixture-ext"], "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("DESCRIPTION: The kiln end-to-end fixture")),
        "{text}"
    );
    assert_eq!(
        row(text, "BUILD")[..],
        ["BUILD ARG", "VALUE", "DESCRIPTION"]
    );
    // A build arg the pkg.yaml reads (no value given), a vars.yaml variable with the comment
    // above it, a Pkgfile variable read by a dependency, and a build arg kiln itself reads.
    assert_eq!(
        row(text, "FIXTURE_SOURCES"),
        ["FIXTURE_SOURCES", "build arg"]
    );
    assert_eq!(
        row(text, ".VERSION"),
        [
            ".VERSION",
            "v0.3.1",
            "The extension's release, as its manifest states it."
        ]
    );
    assert_eq!(
        row(text, ".TOOLCHAIN_IMAGE"),
        [
            ".TOOLCHAIN_IMAGE",
            "kiln-test/busybox:latest",
            "set in Pkgfile"
        ]
    );
    assert_eq!(row(text, "TALOS_VERSION")[1], "v1.9.0");

    // The JSON form carries the pkg.yaml lines that use each variable.
    let json = common::Buildx::new(fx.tree())
        .file(fx.path("Pkgfile"))
        .kiln()
        .target("fixture-ext")
        .arg("--print")
        .arg("outline,format=json")
        .env("BUILDX_EXPERIMENTAL", "1")
        .run();
    json.assert_success();
    let start = json.output.find("{\n").expect("JSON in the output");
    let end = json.output.rfind('}').unwrap() + 1;
    let v: serde_json::Value = serde_json::from_str(&json.output[start..end])
        .unwrap_or_else(|e| panic!("{e}: {}", json.output));
    let arg = v["args"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "FIXTURE_SOURCES")
        .unwrap();
    let line = fx.line_of("fixture-ext/pkg.yaml", "BUILD_ARG_FIXTURE_SOURCES");
    assert_eq!(arg["location"]["ranges"][0]["start"]["line"], line as u64);
    let index = arg["location"]["sourceIndex"].as_u64().unwrap_or(0) as usize;
    let source = &v["sources"][index];
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .decode(source.as_str().unwrap())
        .unwrap();
    assert_eq!(
        data,
        std::fs::read(fx.path("fixture-ext/pkg.yaml")).unwrap(),
        "the location points into the extension's pkg.yaml"
    );
}

#[test]
fn print_check_shows_named_rules_at_their_lines() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    let clean = print(&fx, "check", &[]);
    clean
        .assert_success()
        .assert_contains("Check complete, no warnings found.");

    fx.edit(
        "greeting/pkg.yaml",
        "variant: scratch",
        "variant: scratch\nbogus: 1",
    );
    fx.edit(
        "fixture-ext/vars.yaml",
        "VERSION: v0.3.1",
        "VERSION: v0.3.1\nNOBODY_READS_ME: 1",
    );
    let out = print(&fx, "check", &[]);
    out.assert_success()
        .assert_contains("Check complete, 2 warnings have been found!")
        .assert_contains("WARNING: UnknownKey")
        .assert_contains("WARNING: UnusedVariable")
        .assert_contains("variable NOBODY_READS_ME is not read");
    // The snippet marks the offending line of greeting/pkg.yaml.
    let line = fx.line_of("greeting/pkg.yaml", "bogus: 1");
    out.assert_contains(&format!("greeting/pkg.yaml:{line}"))
        .assert_contains(&format!(" {line:>3} | >>> bogus: 1"));

    // Findings count as errors with error=true: the call fails and says why.
    let failed = print(&fx, "check", &[("BUILDKIT_DOCKERFILE_CHECK", "error=true")]);
    failed
        .assert_failure()
        .assert_contains("WARNING: UnknownKey")
        .assert_contains("error: unknown key `bogus`");

    // `# check=skip=` in the Pkgfile silences a rule.
    fx.edit(
        "Pkgfile",
        "# syntax = kiln:dev\n",
        "# syntax = kiln:dev\n# check=skip=UnusedVariable\n",
    );
    let skipped = print(&fx, "check", &[]);
    skipped
        .assert_success()
        .assert_contains("Check complete, 1 warning has been found!");
    assert!(
        !skipped.output.contains("UnusedVariable"),
        "{}",
        skipped.output
    );
}

#[test]
fn print_outline_without_a_target_is_refused() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    print(&fx, "outline", &[])
        .assert_failure()
        .assert_contains("no target: pass --target");
}
