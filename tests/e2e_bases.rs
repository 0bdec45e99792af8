//! The pinned base image of `variant: alpine` is replaceable with `--build-context`, as `image:`
//! dependencies are: a package builds from a local "mirror" image without pulling anything, and
//! the base's own `apk add bash` runs inside the replacement (whose apk talks to whatever that
//! image is configured for; here a stand-in that records its calls, since no network is
//! reachable).

mod common;

use std::path::Path;

/// A busybox image standing in for an internal mirror of Alpine: `/sbin/apk` records its
/// arguments and provides `bash` (a wrapper around busybox sh).
fn mirror_image(dir: &Path, tag: &str) {
    std::fs::write(
        dir.join("apk"),
        "#!/bin/busybox sh\necho \"$*\" >> /etc/kiln-mirror-apk\nif [ ! -e /bin/bash ]; then\n  printf '#!/bin/busybox sh\\nexec /bin/busybox sh \"$@\"\\n' > /bin/bash\n  chmod 0755 /bin/bash\nfi\n",
    )
    .unwrap();
    // No `# syntax` line: BuildKit's built-in Dockerfile frontend, nothing pulled.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM kiln-test/busybox:latest\nCOPY --chmod=0755 apk /sbin/apk\n",
    )
    .unwrap();
    let dir_arg = dir.display().to_string();
    common::docker(&[
        "buildx",
        "build",
        "--progress=plain",
        "--provenance=false",
        "--load",
        "-t",
        tag,
        &dir_arg,
    ])
    .assert_success();
}

#[test]
fn a_build_context_replaces_the_alpine_base() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let mirror_dir = work.path().join("mirror");
    std::fs::create_dir_all(&mirror_dir).unwrap();
    let tag = format!("kiln-test/{}:latest", common::unique_name("alpine-mirror"));
    mirror_image(&mirror_dir, &tag);

    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("tool")).unwrap();
    std::fs::write(
        tree.join("Pkgfile"),
        "# syntax = kiln:dev\nformat: v1alpha2\n",
    )
    .unwrap();
    std::fs::write(
        tree.join("tool/pkg.yaml"),
        "name: tool\nvariant: alpine\ninstall:\n  - make\nsteps:\n  - install:\n      - mkdir -p /out && cp /etc/kiln-mirror-apk /out/apk-calls && readlink /bin/sh > /out/sh\nfinalize:\n  - from: /out\n    to: /\n",
    )
    .unwrap();
    let out_dir = work.path().join("out");
    let built = common::Buildx::new(&tree)
        .file(tree.join("Pkgfile"))
        .kiln()
        .target("tool")
        .platform("linux/amd64")
        // Named by its repository alone: tag and digest of the pinned reference need not match.
        .build_context("alpine", &format!("docker-image://{tag}"))
        .output_local(&out_dir)
        .run();
    built.assert_success();
    assert!(
        !built.output.contains("docker.io/library/alpine"),
        "the pinned image was not touched:\n{}",
        built.output
    );
    let calls = std::fs::read_to_string(out_dir.join("apk-calls")).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        ["--no-cache --update add bash", "add --no-cache make"],
        "the base's apk ran inside the replacement, then the package's install"
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("sh")).unwrap().trim(),
        "/bin/bash"
    );
    common::docker(&["image", "rm", &tag]);
}
