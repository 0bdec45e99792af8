//! The user's path: a `# syntax = <kiln image>` line on the Pkgfile, no `BUILDKIT_SYNTAX` build
//! arg. BuildKit's Dockerfile frontend reads the directive and forwards the build to kiln's image,
//! which it resolves from a registry (here the local one).

mod common;

use std::path::PathBuf;

use common::{Buildx, OciArchive};

#[test]
fn the_syntax_directive_runs_kiln_from_a_registry() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let image = env.registry.reference(
        &format!("kiln-e2e/{}", common::unique_name("frontend")),
        "dev",
    );
    common::docker(&["tag", &env.kiln_image, &image]).assert_success();
    common::docker(&["push", &image]).assert_success();

    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("extensions");
    common::fixture::copy_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("extensions"),
        &tree,
    );
    let pkgfile = tree.join("Pkgfile");
    let text = std::fs::read_to_string(&pkgfile).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    assert!(
        first.starts_with("# syntax ="),
        "the Pkgfile starts with the directive: {first}"
    );
    std::fs::write(&pkgfile, format!("# syntax = {image}\n{rest}")).unwrap();

    let out = dir.path().join("out.tar");
    let build = Buildx::new(&tree)
        .file(&pkgfile)
        .target("hello-service")
        .platform("linux/amd64,linux/arm64")
        .build_context(
            "docker.io/library/busybox:1.37-musl",
            "docker-image://kiln-test/busybox:latest",
        )
        .output_oci(&out)
        .run();
    build.assert_success();
    // The frontend really was the pushed image, and kiln's own vertices ran.
    build.assert_contains(&format!("resolve image config for docker-image://{image}"));
    build.assert_contains("[linux/arm64] hello-service: validate extension image");
    let platforms: Vec<String> = OciArchive::open(&out)
        .platform_manifests()
        .into_iter()
        .map(|m| m.platform)
        .collect();
    assert_eq!(platforms, vec!["linux/amd64", "linux/arm64"]);
}
