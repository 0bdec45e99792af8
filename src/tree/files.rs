//! The set of files that define a tree: Pkgfile, every pkg.yaml, vars.yaml and *.tmpl.
//!
//! Loading works on this in-memory set so that the CLI (reading a directory) and the frontend
//! (reading BuildKit's `dockerfile` local through the gateway) share one loader.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// The root file of a tree (the default of `-f`).
pub const PKGFILE: &str = "Pkgfile";
/// A package definition.
pub const PKG_YAML: &str = "pkg.yaml";
/// Variables for the files in and below its directory.
pub const VARS_YAML: &str = "vars.yaml";
/// A file rendered into its package's build as `/pkg/<path without .tmpl>`.
pub const TEMPLATE_SUFFIX: &str = ".tmpl";

/// Include patterns that select a tree's definition files from a build context.
pub fn include_patterns(pkgfile: &str) -> Vec<String> {
    vec![
        pkgfile.to_string(),
        format!("**/{PKG_YAML}"),
        format!("**/{VARS_YAML}"),
        format!("**/*{TEMPLATE_SUFFIX}"),
    ]
}

/// Whether a path (relative, `/`-separated) is one of the files a tree is defined by.
pub fn is_definition_file(path: &str, pkgfile: &str) -> bool {
    if path == pkgfile {
        return true;
    }
    if path.split('/').any(|c| c.starts_with('.')) {
        return false;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    name == PKG_YAML
        || name == VARS_YAML
        || (name.ends_with(TEMPLATE_SUFFIX) && name.len() > TEMPLATE_SUFFIX.len())
}

/// Largest definition file kiln reads (a fixed limit): bigger ones are not read at all and
/// fail the load, naming the file.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Files keyed by their path relative to the tree root, `/`-separated, without a leading `/`.
#[derive(Debug, Clone, Default)]
pub struct FileSet {
    /// The contents of the definition files.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Definition files left unread because they exceed [`MAX_FILE_BYTES`], with their sizes.
    pub too_large: BTreeMap<String, u64>,
}

impl FileSet {
    /// Records a definition file of `size` bytes that was not read because it is too large.
    pub fn insert_too_large(&mut self, path: impl Into<String>, size: u64) {
        self.too_large.insert(path.into(), size);
    }

    /// Adds or replaces the file at `path`.
    pub fn insert(&mut self, path: impl Into<String>, data: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), data.into());
    }

    /// The contents of the file at `path`.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// Reads the definition files under `root`, skipping dot-directories and `_out`.
    pub fn from_dir(root: &Path, pkgfile: &str) -> io::Result<FileSet> {
        let mut set = FileSet::default();
        let mut stack = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    if !name.starts_with('.')
                        && !(rel.is_empty() && (name == "_out" || name == "target"))
                    {
                        stack.push((entry.path(), path));
                    }
                } else if is_definition_file(&path, pkgfile) {
                    let size = entry.metadata()?.len();
                    if size > MAX_FILE_BYTES {
                        set.insert_too_large(path, size);
                        continue;
                    }
                    let data = std::fs::read(entry.path()).map_err(|e| {
                        io::Error::new(e.kind(), format!("{}: {e}", entry.path().display()))
                    })?;
                    set.insert(path, data);
                }
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_definition_files_only() {
        assert!(is_definition_file("Pkgfile", "Pkgfile"));
        assert!(is_definition_file("a/b/pkg.yaml", "Pkgfile"));
        assert!(is_definition_file("a/vars.yaml", "Pkgfile"));
        assert!(is_definition_file("a/manifest.yaml.tmpl", "Pkgfile"));
        assert!(!is_definition_file("a/.git/pkg.yaml", "Pkgfile"));
        assert!(!is_definition_file("a/.tmpl", "Pkgfile"));
        assert!(!is_definition_file("a/Pkgfile", "Pkgfile"));
        assert!(!is_definition_file("a/README.md", "Pkgfile"));
    }

    #[test]
    fn walks_a_directory_skipping_dot_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("Pkgfile"), "format: v1alpha2\n").unwrap();
        std::fs::create_dir_all(root.join("x/y")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        std::fs::write(root.join("x/y/pkg.yaml"), "name: y\n").unwrap();
        std::fs::write(root.join("x/patch.diff"), "").unwrap();
        std::fs::write(root.join(".hidden/pkg.yaml"), "").unwrap();
        let set = FileSet::from_dir(root, "Pkgfile").unwrap();
        let names: Vec<_> = set.files.keys().cloned().collect();
        assert_eq!(names, vec!["Pkgfile", "x/y/pkg.yaml"]);
    }
}
