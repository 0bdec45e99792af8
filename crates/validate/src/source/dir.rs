//! An image root on disk, walked with lstat (never following symlinks). This is what runs inside
//! BuildKit on the built filesystem, so it is kept lean: one `fstatat` per entry via `DirEntry`.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::LoadError;
use crate::tree::{wants_content, Entry, EntryKind, Tree, MAX_CONTENT};

/// Reads the image root at `root` (a directory holding manifest.yaml and rootfs/).
pub fn read(root: &Path) -> Result<Tree, LoadError> {
    let mut entries = Vec::new();
    // Directories still to read, on an explicit stack so any depth fits (the tree is sorted
    // afterwards, so the order of reading does not matter).
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = pending.pop() {
        walk(&dir, &rel, &mut entries, &mut pending)?;
    }
    Ok(Tree::from_entries(entries))
}

/// Reads one directory into `out`, queueing its subdirectories on `pending`.
/// Long by design: one branch per file type read from disk, each recorded as the tar reader records it.
fn walk(
    dir: &Path,
    rel: &str,
    out: &mut Vec<Entry>,
    pending: &mut Vec<(std::path::PathBuf, String)>,
) -> Result<(), LoadError> {
    let reader = fs::read_dir(dir).map_err(|e| LoadError::io(dir, &e))?;
    for item in reader {
        let item = item.map_err(|e| LoadError::io(dir, &e))?;
        let name = item.file_name();
        let name = name.to_string_lossy();
        let path = if rel.is_empty() {
            name.into_owned()
        } else {
            format!("{rel}/{name}")
        };
        // DirEntry::metadata is an lstat relative to the open directory.
        let md = item
            .metadata()
            .map_err(|e| LoadError::io(item.path(), &e))?;
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else if ft.is_symlink() {
            let target = fs::read_link(item.path()).map_err(|e| LoadError::io(item.path(), &e))?;
            EntryKind::Symlink(target.to_string_lossy().into_owned())
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else if ft.is_socket() {
            EntryKind::Socket
        } else if ft.is_char_device() {
            EntryKind::CharDevice
        } else {
            EntryKind::BlockDevice
        };
        let data = if kind == EntryKind::File && wants_content(&path) && md.len() <= MAX_CONTENT {
            let mut buf = Vec::with_capacity(md.len() as usize);
            fs::File::open(item.path())
                .and_then(|mut f| f.read_to_end(&mut buf))
                .map_err(|e| LoadError::io(item.path(), &e))?;
            Some(buf)
        } else {
            None
        };
        let module_signature = (kind == EntryKind::File && crate::modsig::is_module(&path))
            .then(|| crate::modsig::read_file(&item.path()));
        let is_dir = kind == EntryKind::Dir;
        out.push(Entry {
            path,
            kind,
            mode: md.mode() & 0o7777,
            nlink: md.nlink(),
            inode: Some((md.dev(), md.ino())),
            data,
            module_signature,
        });
        if is_dir {
            let child_rel = out.last().map(|e| e.path.clone()).unwrap_or_default();
            pending.push((item.path(), child_rel));
        }
    }
    Ok(())
}
