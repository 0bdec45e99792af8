//! rootfs contents: allowed hierarchies, empty directories outside them, hard links, special
//! files, world-writable entries and symlink targets.

use crate::rule;
use std::collections::HashMap;

use super::paths::{is_allowed, is_ancestor_of_allowed, not_allowed_hint};
use super::{inside_container_rootfs, item_path};
use crate::tree::normalize;
use crate::{Entry, EntryKind, Options, Report, Tree};

/// Long by design: one walk over rootfs applies every per-entry rule with shared skip state.
pub(super) fn check(tree: &Tree, options: &Options, report: &mut Report) {
    let talos = options.talos();
    let allowed = super::allowed_hierarchies(&talos);
    let entries = tree.under("rootfs");

    check_hard_links_on_disk(entries, report);

    // Directories below this one were already judged as part of an empty outside subtree.
    let mut skip_below: Option<&str> = None;
    for entry in entries {
        if let Some(dir) = skip_below {
            if super::paths::is_under(&entry.path, dir) {
                continue;
            }
            skip_below = None;
        }
        let item = item_path(&entry.path);

        match &entry.kind {
            EntryKind::Dir => {
                if !is_allowed(&item, &allowed) && !is_ancestor_of_allowed(&item, &allowed) {
                    let subtree = tree.under(&entry.path);
                    if subtree.iter().all(|e| e.kind == EntryKind::Dir) {
                        report.warn(
                            &entry.path,
                            &rule::EMPTY_DIR,
                            format!(
                                "directory {item:?} is outside the allowed hierarchies and holds nothing; remove it ({})",
                                not_allowed_hint(&item, &talos, &allowed)
                            ),
                        );
                        skip_below = Some(&entry.path);
                    }
                }
                check_world_writable_dir(entry, &item, report);
                continue;
            }
            EntryKind::Fifo
            | EntryKind::Socket
            | EntryKind::CharDevice
            | EntryKind::BlockDevice => {
                report.error(
                    &entry.path,
                    &rule::SPECIAL_FILE,
                    format!(
                        "special files are not allowed: {item:?} is a {}; create it at runtime instead",
                        entry.kind.describe()
                    ),
                );
            }
            EntryKind::HardLink(target) => {
                report.error(
                    &entry.path,
                    &rule::HARDLINK,
                    format!(
                        "{item:?} is a hard link to {:?}; Talos unpacks hard links as empty files: copy the file instead of linking it",
                        item_path(target)
                    ),
                );
            }
            EntryKind::Symlink(target) => {
                check_symlink_target(entry, &item, target, &allowed, report)
            }
            EntryKind::File => {}
        }

        if !is_allowed(&item, &allowed) {
            report.error(
                &entry.path,
                &rule::PATH_NOT_ALLOWED,
                format!(
                    "path {item:?} is not allowed in extensions for Talos {talos} ({})",
                    not_allowed_hint(&item, &talos, &allowed)
                ),
            );
        }

        // Symlink modes are always 0777 on Linux and mean nothing; hard links were reported.
        if !matches!(entry.kind, EntryKind::Symlink(_) | EntryKind::HardLink(_))
            && entry.mode & 0o002 != 0
        {
            report.error(
                &entry.path,
                &rule::WORLD_WRITABLE,
                format!(
                    "world-writeable files are not allowed: {item:?} has mode {:04o}; drop the write bit for others (chmod o-w)",
                    entry.mode
                ),
            );
        }
    }
}

fn check_world_writable_dir(entry: &Entry, item: &str, report: &mut Report) {
    if entry.mode & 0o002 == 0 {
        return;
    }
    let sticky = entry.mode & 0o1000 != 0;
    if sticky && inside_container_rootfs(&entry.path) {
        return; // e.g. a service container's /tmp
    }
    let why = if sticky {
        "a sticky world-writable directory is allowed only inside a service container rootfs (/usr/local/lib/containers/<name>/…)"
    } else {
        "world-writable directories need the sticky bit and are allowed only inside a service container rootfs (/usr/local/lib/containers/<name>/…)"
    };
    report.error(
        &entry.path,
        &rule::WORLD_WRITABLE,
        format!(
            "world-writeable directory {item:?} (mode {:04o}) is not allowed: {why}",
            entry.mode
        ),
    );
}

/// On-disk sources report link counts: files sharing an inode inside the image are what the
/// exporter writes as tar link entries. A file whose other links lie outside the image (BuildKit
/// may merge snapshots with hard links) is exported as a plain file, so it is not reported.
fn check_hard_links_on_disk(entries: &[Entry], report: &mut Report) {
    let mut groups: HashMap<(u64, u64), Vec<&Entry>> = HashMap::new();
    for entry in entries {
        if entry.nlink > 1 && entry.kind != EntryKind::Dir {
            if let Some(inode) = entry.inode {
                groups.entry(inode).or_default().push(entry);
            }
        }
    }
    for group in groups.values() {
        // Entries come in tree order, so the first is what a tar keeps as the real file.
        let Some((first, links)) = group.split_first() else {
            continue;
        };
        for link in links {
            report.error(
                &link.path,
                &rule::HARDLINK,
                format!(
                    "{:?} is a hard link to {:?}; Talos unpacks hard links as empty files: copy the file instead of linking it",
                    item_path(&link.path),
                    item_path(&first.path)
                ),
            );
        }
    }
}

/// A symlink target is resolved lexically as the system would see it. Inside a service container
/// rootfs targets resolve inside that root, which is itself allowed, so they never escape.
fn check_symlink_target(
    entry: &Entry,
    item: &str,
    target: &str,
    allowed: &[&str],
    report: &mut Report,
) {
    if inside_container_rootfs(&entry.path) {
        return;
    }
    let resolved = if target.starts_with('/') {
        format!("/{}", normalize(target))
    } else {
        let parent = item.rsplit_once('/').map_or("", |(p, _)| p);
        format!("/{}", normalize(&format!("{parent}/{target}")))
    };
    if !is_allowed(&resolved, allowed) {
        report.warn(
            &entry.path,
            &rule::SYMLINK_TARGET,
            format!(
                "symlink {item:?} points to {target:?} ({resolved}), outside the hierarchies extensions may ship; it relies on the Talos base image providing it"
            ),
        );
    }
}
