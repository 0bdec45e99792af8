//! `--print targets` through buildx 0.13 (`BUILDX_EXPERIMENTAL=1`), which sends kiln the
//! `frontend.targets` subrequest: every package of the fixture tree is listed, with the extension's
//! description taken from its manifest template; an unknown subrequest is refused as unimplemented.

mod common;

use common::fixture::FrontendFixture;
use common::CommandOutput;

/// `BUILDX_EXPERIMENTAL=1 docker buildx build --print WHAT` of the fixture tree through kiln.
fn print(what: &str) -> CommandOutput {
    let fx = FrontendFixture::new();
    common::Buildx::new(fx.tree())
        .file(fx.path("Pkgfile"))
        .kiln()
        .arg("--print")
        .arg(what)
        .env("BUILDX_EXPERIMENTAL", "1")
        .run()
}

#[test]
fn print_targets_lists_every_package_of_the_tree() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let out = print("targets");
    out.assert_success();

    // buildx prints a table: a `TARGET  DESCRIPTION` header, then one row per target.
    let lines: Vec<&str> = out.output.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.split_whitespace().collect::<Vec<_>>() == ["TARGET", "DESCRIPTION"])
        .unwrap_or_else(|| panic!("no targets table in:\n{}", out.output));
    let rows: Vec<(&str, String)> = lines[header + 1..]
        .iter()
        .take_while(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, description) = l.split_once(' ').unwrap_or((l, ""));
            (name, description.trim().to_string())
        })
        .collect();
    let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["fixture-ext", "greeting", "toolchain"],
        "{}",
        out.output
    );
    // The extension's description comes from its rendered manifest.yaml.tmpl.
    assert!(
        rows[0]
            .1
            .starts_with("The kiln end-to-end fixture, built for"),
        "fixture-ext description: {:?}",
        rows[0].1
    );
}

#[test]
fn an_unknown_subrequest_is_refused_as_unimplemented() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let out = print("nonsense");
    out.assert_failure()
        .assert_contains("unsupported request frontend.nonsense: Unimplemented");
}
