//! The filesystem abstraction every rule runs over: a sorted list of entries of one image root.
//!
//! All sources (a directory, a tar, a flattened OCI image) produce a [`Tree`]; rules never touch the
//! disk. Paths are relative to the image root (`manifest.yaml`, `rootfs/usr/local/bin/x`), use `/`
//! and have no leading or trailing slash. Entries are sorted so that a directory's subtree is one
//! contiguous run (see [`component_order`]), which makes "what is under this directory" a slice.

use std::cmp::Ordering;

/// What kind of filesystem object an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link with its target exactly as stored.
    Symlink(String),
    /// A tar link entry; the target is the image-root-relative path of the first link.
    HardLink(String),
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device node.
    CharDevice,
    /// A block device node.
    BlockDevice,
}

impl EntryKind {
    /// A short human name used in messages.
    pub fn describe(&self) -> &'static str {
        match self {
            EntryKind::File => "regular file",
            EntryKind::Dir => "directory",
            EntryKind::Symlink(_) => "symlink",
            EntryKind::HardLink(_) => "hard link",
            EntryKind::Fifo => "FIFO",
            EntryKind::Socket => "socket",
            EntryKind::CharDevice => "character device",
            EntryKind::BlockDevice => "block device",
        }
    }
}

/// One filesystem object of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the image root, e.g. `rootfs/usr/local/bin/x`.
    pub path: String,
    /// What kind of object it is.
    pub kind: EntryKind,
    /// Permission bits including setuid/setgid/sticky (`0o7777`).
    pub mode: u32,
    /// Link count where the source knows it (directories on disk); 1 otherwise.
    pub nlink: u64,
    /// `(device, inode)` where the source knows it, to group hard links found on disk.
    pub inode: Option<(u64, u64)>,
    /// Contents of the small files the rules read (see [`wants_content`]); `None` elsewhere.
    pub data: Option<Vec<u8>>,
    /// For a kernel module under a modules directory ([`crate::modsig::is_module`]), what its end
    /// says about its signature, read by the source; `None` elsewhere.
    pub module_signature: Option<crate::modsig::ModuleSignature>,
}

impl Entry {
    /// A plain entry with no link or content information.
    pub fn new(path: impl Into<String>, kind: EntryKind, mode: u32) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: mode & 0o7777,
            nlink: 1,
            inode: None,
            data: None,
            module_signature: None,
        }
    }

    /// The last path component.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Largest file whose contents a source keeps for the rules (manifest and service specs are tiny).
pub const MAX_CONTENT: u64 = 1 << 20;

/// Whether the rules need the contents of the file at `path`: the manifest and the service specs.
pub fn wants_content(path: &str) -> bool {
    if path == "manifest.yaml" {
        return true;
    }
    match path.strip_prefix("rootfs/usr/local/etc/containers/") {
        Some(name) => !name.contains('/') && (name.ends_with(".yaml") || name.ends_with(".yml")),
        None => false,
    }
}

/// Orders paths component by component: `a/b` < `a/b/c` < `a/b.c`, so every subtree is contiguous.
pub fn component_order(a: &str, b: &str) -> Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { c };
    a.bytes().map(key).cmp(b.bytes().map(key))
}

/// The image as a sorted list of unique entries; every parent directory is present.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    entries: Vec<Entry>,
}

impl Tree {
    /// Builds a tree: sorts, keeps the last entry for a duplicated path and synthesises missing
    /// parent directories (tars often omit them) with mode 0755.
    pub fn from_entries(mut entries: Vec<Entry>) -> Tree {
        // Stable sort keeps input order among duplicates, so "last wins" below is the input's last.
        entries.sort_by(|a, b| component_order(&a.path, &b.path));
        let mut unique: Vec<Entry> = Vec::with_capacity(entries.len());
        for entry in entries {
            match unique.last_mut() {
                Some(last) if last.path == entry.path => *last = entry,
                _ => unique.push(entry),
            }
        }
        let mut missing = Vec::new();
        {
            let mut known: std::collections::HashSet<&str> =
                unique.iter().map(|e| e.path.as_str()).collect();
            for entry in &unique {
                let mut path = entry.path.as_str();
                while let Some((parent, _)) = path.rsplit_once('/') {
                    if !known.insert(parent) {
                        break;
                    }
                    missing.push(Entry::new(parent, EntryKind::Dir, 0o755));
                    path = parent;
                }
            }
        }
        if missing.is_empty() {
            return Tree { entries: unique };
        }
        unique.extend(missing);
        unique.sort_by(|a, b| component_order(&a.path, &b.path));
        Tree { entries: unique }
    }

    /// All entries in component order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry at exactly `path`.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.index_of(path).map(|i| &self.entries[i])
    }

    fn index_of(&self, path: &str) -> Option<usize> {
        self.entries
            .binary_search_by(|e| component_order(&e.path, path))
            .ok()
    }

    /// Every entry strictly below directory `dir` ("" means the whole tree), in order.
    pub fn under(&self, dir: &str) -> &[Entry] {
        if dir.is_empty() {
            return &self.entries;
        }
        let Some(start) = self.index_of(dir) else {
            return &[];
        };
        let rest = &self.entries[start + 1..];
        let prefix_len = dir.len();
        let end = rest
            .iter()
            .position(|e| {
                !(e.path.len() > prefix_len
                    && e.path.starts_with(dir)
                    && e.path.as_bytes()[prefix_len] == b'/')
            })
            .unwrap_or(rest.len());
        &rest[..end]
    }

    /// The direct children of directory `dir` ("" for the image root).
    pub fn children<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let depth = if dir.is_empty() {
            0
        } else {
            dir.matches('/').count() + 1
        };
        self.under(dir)
            .iter()
            .filter(move |e| e.path.matches('/').count() == depth)
    }

    /// Resolves `path` (relative to the image root) inside the chroot `root` (also relative to the
    /// image root), following symlinks in every component as the kernel would inside that root.
    /// Returns the final entry, or `None` when something is missing or links loop.
    pub fn resolve_in(&self, root: &str, path: &str) -> Option<&Entry> {
        let mut components: Vec<String> = Vec::new();
        let mut pending: Vec<String> = split_reversed(path);
        let mut hops = 0;
        while let Some(component) = pending.pop() {
            match component.as_str() {
                "" | "." => continue,
                ".." => {
                    components.pop();
                    continue;
                }
                _ => {}
            }
            components.push(component);
            let full = join_root(root, &components);
            let entry = self.get(&full)?;
            if let EntryKind::Symlink(target) = &entry.kind {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                components.pop();
                if target.starts_with('/') {
                    components.clear();
                }
                pending.extend(split_reversed(target));
            } else if !pending.iter().all(|c| c.is_empty() || c == ".")
                && entry.kind != EntryKind::Dir
            {
                return None;
            }
        }
        let full = join_root(root, &components);
        if full.is_empty() {
            return None;
        }
        self.get(&full)
    }
}

fn split_reversed(path: &str) -> Vec<String> {
    path.split('/').rev().map(str::to_owned).collect()
}

fn join_root(root: &str, components: &[String]) -> String {
    let mut out = root.to_owned();
    for c in components {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(c);
    }
    out
}

/// Lexically normalises a path (`.`/`..`/repeated slashes); `..` never climbs above the root.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[(&str, EntryKind)]) -> Tree {
        Tree::from_entries(
            paths
                .iter()
                .map(|(p, k)| Entry::new(*p, k.clone(), 0o755))
                .collect(),
        )
    }

    #[test]
    fn parents_are_synthesised_and_subtrees_contiguous() {
        let t = tree(&[
            ("rootfs/a.b", EntryKind::File),
            ("rootfs/a/b/c", EntryKind::File),
            ("manifest.yaml", EntryKind::File),
        ]);
        let paths: Vec<&str> = t.entries().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "manifest.yaml",
                "rootfs",
                "rootfs/a",
                "rootfs/a/b",
                "rootfs/a/b/c",
                "rootfs/a.b"
            ]
        );
        let under: Vec<&str> = t
            .under("rootfs/a")
            .iter()
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(under, ["rootfs/a/b", "rootfs/a/b/c"]);
        let roots: Vec<&str> = t.children("").map(|e| e.path.as_str()).collect();
        assert_eq!(roots, ["manifest.yaml", "rootfs"]);
    }

    #[test]
    fn duplicates_keep_the_last() {
        let t = Tree::from_entries(vec![
            Entry::new("x", EntryKind::File, 0o644),
            Entry::new("x", EntryKind::File, 0o600),
        ]);
        assert_eq!(t.entries().len(), 1);
        assert_eq!(t.entries()[0].mode, 0o600);
    }

    #[test]
    fn resolve_follows_symlinks_inside_the_chroot() {
        let t = tree(&[
            ("c/bin", EntryKind::Symlink("usr/bin".into())),
            ("c/usr/bin/sh", EntryKind::File),
            ("c/abs", EntryKind::Symlink("/usr/bin/sh".into())),
            ("c/up", EntryKind::Symlink("../../../usr/bin/sh".into())),
            ("c/loop", EntryKind::Symlink("loop".into())),
        ]);
        assert_eq!(
            t.resolve_in("c", "/bin/sh").map(|e| e.path.as_str()),
            Some("c/usr/bin/sh")
        );
        assert_eq!(
            t.resolve_in("c", "abs").map(|e| e.path.as_str()),
            Some("c/usr/bin/sh")
        );
        assert_eq!(
            t.resolve_in("c", "./up").map(|e| e.path.as_str()),
            Some("c/usr/bin/sh")
        );
        assert!(t.resolve_in("c", "loop").is_none());
        assert!(t.resolve_in("c", "/bin/missing").is_none());
        assert!(t.resolve_in("c", "/usr/bin/sh/x").is_none());
    }

    #[test]
    fn content_is_wanted_for_manifest_and_service_specs_only() {
        assert!(wants_content("manifest.yaml"));
        assert!(wants_content("rootfs/usr/local/etc/containers/a.yaml"));
        assert!(wants_content("rootfs/usr/local/etc/containers/a.yml"));
        assert!(!wants_content("rootfs/usr/local/etc/containers/sub/a.yaml"));
        assert!(!wants_content("rootfs/manifest.yaml"));
    }
}
