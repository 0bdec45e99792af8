//! Reproducible images: with `SOURCE_DATE_EPOCH`, two uncached builds of the same tree give
//! byte-identical platform manifests, and another epoch gives other ones.

mod common;

use std::path::PathBuf;

use common::{Buildx, OciArchive};

fn digests(epoch: &str, out: &std::path::Path) -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("extensions");
    Buildx::new(&root)
        .file(root.join("Pkgfile"))
        .kiln()
        .target("hello-service")
        .platform("linux/amd64,linux/arm64")
        .build_context(
            "docker.io/library/busybox:1.37-musl",
            "docker-image://kiln-test/busybox:latest",
        )
        .build_arg("SOURCE_DATE_EPOCH", epoch)
        .no_cache()
        .output_oci(out)
        .run()
        .assert_success();
    let mut d: Vec<(String, String)> = OciArchive::open(out)
        .platform_manifests()
        .into_iter()
        .map(|m| (m.platform, m.digest))
        .collect();
    d.sort();
    d
}

#[test]
fn same_epoch_same_digests_without_cache() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let first = digests("1700000000", &dir.path().join("a.tar"));
    let second = digests("1700000000", &dir.path().join("b.tar"));
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(
        first, second,
        "two --no-cache builds with one SOURCE_DATE_EPOCH"
    );
    let other = digests("1600000000", &dir.path().join("c.tar"));
    for ((p1, d1), (p2, d2)) in first.iter().zip(&other) {
        assert_eq!(p1, p2);
        assert_ne!(d1, d2, "{p1}: the epoch is part of the image");
    }
}
