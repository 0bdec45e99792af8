//! The `kiln update` fixture (tests/fixtures/update): a tree whose sources differ per architecture,
//! share one file and pin one in place, copied per test with its versioned source files and a
//! [`FileServer`] for them, and a runner for the `kiln` binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256, Sha512};

use super::fixture::copy_dir;
use super::FileServer;

pub const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// `tests/fixtures/update/<rel>` in the source tree.
pub fn fixture_dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/update")
        .join(rel)
}

/// A private copy of the update fixture tree and of its sources, with a server for the sources.
pub struct UpdateFixture {
    pub dir: tempfile::TempDir,
    pub server: FileServer,
}

impl UpdateFixture {
    pub fn new() -> UpdateFixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        copy_dir(&fixture_dir("tree"), &dir.path().join("tree"));
        copy_dir(&fixture_dir("sources"), &dir.path().join("sources"));
        let server = FileServer::serve(dir.path().join("sources"));
        UpdateFixture { dir, server }
    }

    pub fn tree(&self) -> PathBuf {
        self.dir.path().join("tree")
    }

    pub fn sources_url(&self) -> String {
        self.server.url("").trim_end_matches('/').to_string()
    }

    /// `kiln ARGS… --root TREE --build-arg SOURCES=…`, with no proxy settings inherited.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kiln"));
        command.args(args).arg("--root").arg(self.tree());
        command
            .arg("--build-arg")
            .arg(format!("SOURCES={}", self.sources_url()));
        for var in PROXY_VARS {
            command.env_remove(var);
        }
        command
    }

    pub fn kiln(&self, args: &[&str]) -> Run {
        Run::of(self.command(args).output().expect("run kiln"))
    }

    /// Every file of the tree with its bytes.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.tree()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(self.tree()).unwrap();
                    out.insert(rel.display().to_string(), std::fs::read(&path).unwrap());
                }
            }
        }
        out
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.tree().join(rel)).unwrap()
    }

    /// The 1-based line of `rel` that contains `needle` (exactly one).
    #[track_caller]
    pub fn line_of(&self, rel: &str, needle: &str) -> usize {
        let lines: Vec<usize> = self
            .read(rel)
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(lines.len(), 1, "{rel}: {needle:?} on lines {lines:?}");
        lines[0]
    }

    /// sha256 and sha512 of a served file.
    pub fn digests(&self, served: &str) -> (String, String) {
        let data = std::fs::read(self.dir.path().join("sources").join(served)).unwrap();
        (hex(&Sha256::digest(&data)), hex(&Sha512::digest(&data)))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both outputs otherwise.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}
