//! End to end: a tree bumped by `kiln update --set` builds with `docker buildx build` through kiln
//! for both platforms, BuildKit downloading the new per-architecture files from the test's file
//! server and checking them against the rewritten checksums.

mod common;

use common::update::UpdateFixture;
use common::Buildx;

#[test]
fn a_bumped_tree_builds_with_the_new_files_on_both_platforms() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let f = UpdateFixture::new();
    f.kiln(&["update", "-t", "tool", "--set", "TOOL_VERSION=1.1.0"])
        .expect(0);
    let out = tempfile::tempdir().expect("output directory");
    Buildx::new(f.tree())
        .file(f.tree().join("Pkgfile"))
        .kiln()
        .target("tool")
        .platform("linux/amd64,linux/arm64")
        .build_arg("SOURCES", &f.sources_url())
        .output_local(out.path())
        .run()
        .assert_success();
    for (dir, arch) in [("linux_amd64", "x86_64"), ("linux_arm64", "aarch64")] {
        let read = |name: &str| {
            let path = out.path().join(dir).join(name);
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        assert_eq!(
            read("tool.txt"),
            format!("tool 1.1.0 for {arch}\n"),
            "{dir}"
        );
        assert_eq!(read("data.txt"), "shared data 1.0\n", "{dir}");
    }
}
