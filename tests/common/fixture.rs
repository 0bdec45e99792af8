//! The checked-in kiln fixture tree `tests/fixtures/frontend/tree` (packages `toolchain`, `greeting`
//! and the extension `fixture-ext`) and its HTTP sources, copied per test into a temporary directory
//! so tests can change files, with a ready `docker buildx build` for it.

use std::path::{Path, PathBuf};

use super::{Buildx, FileServer};

/// The fixture's platforms, in the order the exported index sorts them.
pub const PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];
/// The extension package of the fixture.
pub const EXTENSION: &str = "fixture-ext";
/// Where the extension installs its files inside `rootfs/`.
pub const EXTENSION_DIR: &str = "usr/local/lib/containers/fixture-ext";

/// `tests/fixtures/frontend/<rel>` in the source tree.
pub fn checked_in(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/frontend")
        .join(rel)
}

/// A private copy of the fixture tree plus a file server for its sources.
pub struct FrontendFixture {
    dir: tempfile::TempDir,
    /// Serves `tests/fixtures/frontend/sources` (copied too, so a test may change them).
    pub server: FileServer,
}

impl FrontendFixture {
    /// Copies the tree and the sources and starts the file server.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for the fixture");
        copy_dir(&checked_in("tree"), &dir.path().join("tree"));
        copy_dir(&checked_in("sources"), &dir.path().join("sources"));
        let server = FileServer::serve(dir.path().join("sources"));
        FrontendFixture { dir, server }
    }

    /// The copied tree (the build context; `Pkgfile` at its root).
    pub fn tree(&self) -> PathBuf {
        self.dir.path().join("tree")
    }

    /// A file of the copied tree.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.tree().join(rel)
    }

    /// A scratch directory inside the fixture's temporary directory (for outputs).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// Replaces the one occurrence of `from` in the tree's file `rel` with `to`.
    #[track_caller]
    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let path = self.path(rel);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(
            text.matches(from).count(),
            1,
            "{rel} should contain {from:?} exactly once"
        );
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    }

    /// The 1-based number of the only line of `rel` containing `needle`.
    #[track_caller]
    pub fn line_of(&self, rel: &str, needle: &str) -> usize {
        let text = std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let lines: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(lines.len(), 1, "{rel}: {needle:?} is on lines {lines:?}");
        lines[0]
    }

    /// `http://127.0.0.1:PORT`, the value of the fixture's `FIXTURE_SOURCES` build arg.
    pub fn sources_url(&self) -> String {
        self.server.url("").trim_end_matches('/').to_string()
    }

    /// `docker buildx build` of `fixture-ext` through kiln for both platforms; add an output.
    pub fn build(&self) -> Buildx {
        self.build_target(EXTENSION)
    }

    /// Like [`FrontendFixture::build`] for another package of the tree.
    pub fn build_target(&self, target: &str) -> Buildx {
        Buildx::new(self.tree())
            .file(self.path("Pkgfile"))
            .kiln()
            .target(target)
            .platform(&PLATFORMS.join(","))
            .build_arg("FIXTURE_SOURCES", &self.sources_url())
    }
}

impl Default for FrontendFixture {
    fn default() -> Self {
        Self::new()
    }
}

/// Copies the directory `from` to `to` recursively (regular files, directories and symlinks).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_dir(&src, &dst);
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&src).expect("read symlink");
            std::os::unix::fs::symlink(target, &dst).expect("copy symlink");
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        }
    }
}
