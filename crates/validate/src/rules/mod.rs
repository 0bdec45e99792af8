//! The checks an extension image must pass, one module per group of rules.
//!
//! Each check reports violations of a typed rule from [`crate::rule`]; messages reuse Talos' wording
//! where Talos has one and say what to do.

mod contents;
mod manifest;
mod modules;
mod paths;
mod root;
mod services;

pub use manifest::{facts, ManifestFacts};
pub use paths::{allowed_hierarchies, is_allowed, HIERARCHIES};

use crate::{Options, Report, Tree};

pub(crate) fn check_all(tree: &Tree, options: &Options, report: &mut Report) {
    root::check(tree, report);
    manifest::check(tree, options, report);
    if tree
        .get("rootfs")
        .is_some_and(|e| e.kind == crate::EntryKind::Dir)
    {
        contents::check(tree, options, report);
        services::check(tree, report);
        modules::check(tree, options, report);
    }
}

/// `/usr/local/x` for `rootfs/usr/local/x`: the path as Talos shows it.
pub(crate) fn item_path(path: &str) -> String {
    match path.strip_prefix("rootfs") {
        Some("") => "/".to_owned(),
        Some(rest) => rest.to_owned(),
        None => format!("/{path}"),
    }
}

/// Whether `path` (image-root relative) is inside a service container rootfs,
/// `rootfs/usr/local/lib/containers/<name>/…` (strictly below `<name>`).
pub(crate) fn inside_container_rootfs(path: &str) -> bool {
    container_root_of(path).is_some_and(|root| root.len() < path.len())
}

/// The container root `rootfs/usr/local/lib/containers/<name>` that `path` is in or is.
pub(crate) fn container_root_of(path: &str) -> Option<&str> {
    const PREFIX: &str = "rootfs/usr/local/lib/containers/";
    let rest = path.strip_prefix(PREFIX)?;
    let name_len = rest.find('/').unwrap_or(rest.len());
    if name_len == 0 {
        return None;
    }
    Some(&path[..PREFIX.len() + name_len])
}
