//! Tar archives: an image root as a tar (plain, gzip or zstd), and the entry reader OCI layers share.
//! Tar link entries become [`EntryKind::HardLink`], which is exactly what Talos mishandles.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::LoadError;
use crate::compression::decompress;
use crate::tree::{normalize, wants_content, Entry, EntryKind, Tree, MAX_CONTENT};

/// Reads a tar of an image root (optionally gzip- or zstd-compressed).
pub fn read_file(path: &Path) -> Result<Tree, LoadError> {
    let file = File::open(path).map_err(|e| LoadError::io(path, &e))?;
    let entries =
        read_entries(decompress(BufReader::new(file)).map_err(|e| LoadError::io(path, &e))?)
            .map_err(|e| LoadError::new(path.display().to_string(), e))?;
    Ok(Tree::from_entries(entries))
}

/// All entries of a tar stream in order, paths normalised to the image-root-relative form.
/// Contents are kept only for the files the rules read.
/// Long by design: one arm per tar entry type, mapped to the tree's entry kinds.
pub(crate) fn read_entries(reader: impl Read) -> Result<Vec<Entry>, String> {
    let mut archive = tar::Archive::new(reader);
    let mut out = Vec::new();
    let iter = archive
        .entries()
        .map_err(|e| format!("not a tar archive: {e}"))?;
    for item in iter {
        let mut item = item.map_err(|e| format!("corrupt tar entry: {e}"))?;
        let raw_path = item
            .path()
            .map_err(|e| format!("corrupt tar entry name: {e}"))?
            .to_string_lossy()
            .into_owned();
        let path = clean(&raw_path)?;
        if path.is_empty() {
            continue; // "./" itself
        }
        let header = item.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let size = header.size().unwrap_or(u64::MAX);
        let entry_type = header.entry_type();
        // Entry::link_name (not Header's) honours pax and GNU long link names.
        let link_target = match entry_type {
            tar::EntryType::Symlink | tar::EntryType::Link => item
                .link_name()
                .map_err(|e| format!("{raw_path}: corrupt tar link name: {e}"))?
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let kind = match entry_type {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                EntryKind::File
            }
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink(link_target),
            tar::EntryType::Link => EntryKind::HardLink(clean(&link_target)?),
            tar::EntryType::Char => EntryKind::CharDevice,
            tar::EntryType::Block => EntryKind::BlockDevice,
            tar::EntryType::Fifo => EntryKind::Fifo,
            // Metadata records (pax, GNU long names) are consumed by the tar crate; others carry
            // no filesystem object.
            _ => continue,
        };
        let data = if kind == EntryKind::File && wants_content(&path) && size <= MAX_CONTENT {
            let mut buf = Vec::new();
            item.read_to_end(&mut buf)
                .map_err(|e| format!("{raw_path}: cannot read: {e}"))?;
            Some(buf)
        } else {
            None
        };
        let module_signature = (kind == EntryKind::File && crate::modsig::is_module(&path))
            .then(|| crate::modsig::read(&path, &mut item));
        let mut entry = Entry::new(path, kind, mode);
        entry.data = data;
        entry.module_signature = module_signature;
        out.push(entry);
    }
    Ok(out)
}

/// `./rootfs//usr/` → `rootfs/usr`; a path climbing out of the root is an error.
fn clean(raw: &str) -> Result<String, String> {
    let mut depth: i64 = 0;
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return Err(format!("tar entry {raw:?} points outside the image root"));
        }
    }
    Ok(normalize(raw))
}
