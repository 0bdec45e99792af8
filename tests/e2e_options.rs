//! Frontend options refused up front, each with a message that says what to do, and no build.

mod common;

use std::path::PathBuf;

use common::Buildx;

fn extensions() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("extensions")
}

fn build() -> Buildx {
    let root = extensions();
    Buildx::new(&root)
        .file(root.join("Pkgfile"))
        .kiln()
        .build_context(
            "docker.io/library/busybox:1.37-musl",
            "docker-image://kiln-test/busybox:latest",
        )
}

#[test]
fn bad_options_fail_before_any_package_vertex() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let cases: Vec<(Buildx, &str)> = vec![
        (build().platform("linux/amd64"), "no target: pass --target"),
        (
            build().target("nope").platform("linux/amd64"),
            "package \"nope\" is not defined",
        ),
        (
            build().target("hello-service").platform("linux/s390x"),
            "linux/s390x",
        ),
        (
            build()
                .target("hello-service")
                .platform("linux/amd64")
                .build_arg("TALOS_VERSION", "banana"),
            "build arg TALOS_VERSION=\"banana\"",
        ),
    ];
    for (buildx, expected) in cases {
        let out = buildx.run();
        out.assert_failure();
        out.assert_contains(expected);
        assert!(
            !out.output.contains("hello-service: install"),
            "nothing was built for a refused build:\n{}",
            out.output
        );
    }
}

#[test]
fn a_target_with_a_typo_gets_a_suggestion() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let out = build().target("hello-servce").platform("linux/amd64").run();
    out.assert_failure();
    out.assert_contains("did you mean \"hello-service\"");
}
