//! Extension service specs, `rootfs/usr/local/etc/containers/*.yaml`: Talos' own checks plus the
//! ones users hit at boot (the container rootfs exists, the entrypoint exists and is executable).

use super::item_path;
use super::paths::is_under;
use crate::rule;
use crate::yaml::{self, Node};
use crate::{EntryKind, Report, Tree};

const SPEC_DIR: &str = "rootfs/usr/local/etc/containers";
const CONTAINERS_DIR: &str = "/usr/local/lib/containers";
/// containerd's default PATH, searched for a bare entrypoint such as `zot`.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub(super) fn check(tree: &Tree, report: &mut Report) {
    let specs: Vec<_> = tree.children(SPEC_DIR).collect();
    for entry in specs {
        let name = entry.name();
        if name.ends_with(".yml") {
            report.warn(
                &entry.path,
                &rule::SERVICE_YML,
                format!("Talos only reads *.yaml service specs and ignores {name:?}; rename it to .yaml"),
            );
            continue;
        }
        if !name.ends_with(".yaml") {
            continue;
        }
        if entry.kind != EntryKind::File {
            report.error(
                &entry.path,
                &rule::SERVICE_YAML,
                format!(
                    "service spec {name} must be a regular file, found a {}",
                    entry.kind.describe()
                ),
            );
            continue;
        }
        let Some(data) = entry.data.as_deref() else {
            report.error(
                &entry.path,
                &rule::SERVICE_YAML,
                format!("service spec {name} is too large to be a service spec"),
            );
            continue;
        };
        let Ok(text) = std::str::from_utf8(data) else {
            report.error(
                &entry.path,
                &rule::SERVICE_YAML,
                format!("service spec {name} is not UTF-8 text"),
            );
            continue;
        };
        check_spec(tree, &entry.path, text, report);
    }
}

fn check_spec(tree: &Tree, path: &str, text: &str, report: &mut Report) {
    let doc = match yaml::parse(text) {
        Ok(Some(doc)) => doc,
        Ok(None) => {
            report.error(path, &rule::SERVICE_YAML, "service spec is empty");
            return;
        }
        Err(e) => {
            report.error(
                path,
                &rule::SERVICE_YAML,
                format!("error unmarshalling service spec: {e}"),
            );
            return;
        }
    };
    let doc = Node::new(&doc);
    let Some(top) = doc.entries() else {
        report.error(
            path,
            &rule::SERVICE_YAML,
            format!("service spec must be a mapping, found {}", doc.kind()),
        );
        return;
    };
    for (key, value) in &top {
        if !matches!(
            *key,
            "name" | "container" | "depends" | "restart" | "logToConsole"
        ) {
            unknown(report, path, key, value);
        }
    }

    let name = check_name(doc, path, report);
    check_restart(doc, path, report);
    check_depends(doc, path, report);
    let container = doc.get("container");
    let entrypoint = check_container_keys(container, path, report);
    if let Some(name) = name {
        check_rootfs(tree, path, name, container, entrypoint, report);
    }
}

/// The container's rootfs directory must exist; then its entrypoint must resolve inside it.
fn check_rootfs(
    tree: &Tree,
    path: &str,
    name: &str,
    container: Option<Node<'_>>,
    entrypoint: &str,
    report: &mut Report,
) {
    let root = format!("rootfs{CONTAINERS_DIR}/{name}");
    if !tree
        .resolve_in("rootfs", &format!("{CONTAINERS_DIR}/{name}"))
        .is_some_and(|e| e.kind == EntryKind::Dir)
    {
        report.error(
            path,
            &rule::SERVICE_ROOTFS,
            format!(
                "service {name:?} needs its container rootfs directory {CONTAINERS_DIR}/{name}/, which is missing; Talos fails to start it at boot (the directory follows the service name, not the extension name)"
            ),
        );
        return;
    }
    if !entrypoint.is_empty() {
        let mounts = container.map(bind_mounts).unwrap_or_default();
        let env_path = container.and_then(path_from_environment);
        check_entrypoint(
            tree,
            path,
            name,
            &root,
            entrypoint,
            &mounts,
            env_path.as_deref(),
            report,
        );
    }
}

/// The service's name when it is valid (it names the container's rootfs directory).
fn check_name<'a>(doc: Node<'a>, path: &str, report: &mut Report) -> Option<&'a str> {
    let name = doc.get("name").and_then(|n| n.scalar()).unwrap_or("");
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b == b'-' || b == b'_' || b.is_ascii_lowercase() || b.is_ascii_digit());
    if !name_ok {
        report.error(
            path,
            &rule::SERVICE_NAME,
            format!("name {name:?} is invalid: it must match [-_a-z0-9]+"),
        );
        return None;
    }
    Some(name)
}

fn check_restart(doc: Node<'_>, path: &str, report: &mut Report) {
    let restart = doc.get("restart").and_then(|n| n.scalar()).unwrap_or("");
    if !["always", "never", "untilsuccess"].contains(&restart.to_ascii_lowercase().as_str()) {
        report.error(
            path,
            &rule::SERVICE_RESTART,
            format!("restart kind is invalid: {restart:?}; set restart to always, never or untilSuccess"),
        );
    }
}

/// Warns about unknown keys under `container` and returns its entrypoint (`""`, reported, when
/// there is none).
fn check_container_keys<'a>(
    container: Option<Node<'a>>,
    path: &str,
    report: &mut Report,
) -> &'a str {
    if let Some(entries) = container.and_then(|c| c.entries()) {
        for (key, value) in &entries {
            if !matches!(
                *key,
                "entrypoint" | "environment" | "environmentFile" | "args" | "mounts" | "security"
            ) {
                unknown(report, path, &format!("container.{key}"), value);
            }
        }
    }
    let entrypoint = container
        .and_then(|c| c.get("entrypoint"))
        .and_then(|n| n.scalar())
        .unwrap_or("");
    if entrypoint.is_empty() {
        report.error(
            path,
            &rule::SERVICE_ENTRYPOINT,
            "container endpoint can't be empty: set container.entrypoint",
        );
    }
    entrypoint
}

fn unknown(report: &mut Report, path: &str, key: &str, value: &Node<'_>) {
    report.warn(
        path,
        &rule::SERVICE_UNKNOWN_KEY,
        format!(
            "line {}: unknown key {key:?}; Talos ignores it",
            value.line()
        ),
    );
}

/// Long by design: one arm per dependency kind Talos knows (service, path, network, time, configuration).
fn check_depends(doc: Node<'_>, path: &str, report: &mut Report) {
    let Some(depends) = doc.value("depends") else {
        return;
    };
    let Some(items) = depends.items() else {
        report.error(
            path,
            &rule::SERVICE_DEPENDS,
            depends.shape_error("depends", "a list"),
        );
        return;
    };
    for item in items {
        let line = item.line();
        let Some(fields) = item.entries() else {
            report.error(
                path,
                &rule::SERVICE_DEPENDS,
                format!("line {line}: no dependency specified"),
            );
            continue;
        };
        let mut set = Vec::new();
        for (key, value) in &fields {
            let is_set = match *key {
                "service" | "path" => value.scalar().is_some_and(|s| !s.is_empty()),
                "network" => value.items().is_some_and(|v| !v.is_empty()),
                "time" | "configuration" => value
                    .scalar()
                    .is_some_and(|s| s.eq_ignore_ascii_case("true")),
                other => {
                    unknown(report, path, &format!("depends.{other}"), value);
                    false
                }
            };
            if is_set {
                set.push(*key);
            }
        }
        match set.len() {
            0 => report.error(
                path,
                &rule::SERVICE_DEPENDS,
                format!("line {line}: no dependency specified (set one of service, path, network, time, configuration)"),
            ),
            1 => {}
            _ => report.error(
                path,
                &rule::SERVICE_DEPENDS,
                format!("line {line}: more than a single dependency is set ({}); use one list item each", set.join(", ")),
            ),
        }
        if let Some(p) = item.get("path").and_then(|n| n.scalar()) {
            if !p.is_empty() && !p.starts_with('/') {
                report.error(
                    path,
                    &rule::SERVICE_DEPENDS,
                    format!("line {line}: path is not absolute: {p:?}"),
                );
            }
        }
        if let Some(network) = item.get("network") {
            match network.items() {
                Some(values) => {
                    for v in values {
                        let text = v.scalar().unwrap_or("");
                        if !["addresses", "connectivity", "hostname", "etcfiles"]
                            .contains(&text.to_ascii_lowercase().as_str())
                        {
                            report.error(
                                path,
                                &rule::SERVICE_DEPENDS,
                                format!("line {}: invalid network dependency {text:?} (use addresses, connectivity, hostname, etcfiles)", v.line()),
                            );
                        }
                    }
                }
                None if network.is_null() => {}
                None => report.error(
                    path,
                    &rule::SERVICE_DEPENDS,
                    format!("line {line}: network must be a list"),
                ),
            }
        }
    }
}

/// Bind mounts as (container destination, host source).
fn bind_mounts(container: Node<'_>) -> Vec<(String, String)> {
    let Some(mounts) = container.get("mounts").and_then(|m| m.items()) else {
        return Vec::new();
    };
    mounts
        .iter()
        .filter_map(|m| {
            let destination = m.get("destination")?.scalar()?;
            let source = m.get("source")?.scalar()?;
            let is_bind = m.get("type").and_then(|t| t.scalar()) == Some("bind")
                || m.get("options").and_then(|o| o.items()).is_some_and(|o| {
                    o.iter()
                        .any(|x| matches!(x.scalar(), Some("bind" | "rbind")))
                });
            is_bind.then(|| {
                (
                    destination.trim_end_matches('/').to_owned(),
                    source.trim_end_matches('/').to_owned(),
                )
            })
        })
        .collect()
}

fn path_from_environment(container: Node<'_>) -> Option<String> {
    container
        .get("environment")?
        .items()?
        .iter()
        .filter_map(|n| n.scalar())
        .find_map(|kv| kv.strip_prefix("PATH=").map(str::to_owned))
}

/// Long by design: resolves the entrypoint as Talos' runner does (candidates, mounts, PATH, symlinks).
#[allow(clippy::too_many_arguments)]
fn check_entrypoint(
    tree: &Tree,
    path: &str,
    name: &str,
    root: &str,
    entrypoint: &str,
    mounts: &[(String, String)],
    env_path: Option<&str>,
    report: &mut Report,
) {
    let root_item = item_path(root);
    let candidates: Vec<String> = if entrypoint.contains('/') {
        // The process starts in the container's "/", so "./x" is "/x".
        vec![crate::tree::normalize(entrypoint)]
    } else {
        env_path
            .unwrap_or(DEFAULT_PATH)
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| crate::tree::normalize(&format!("{d}/{entrypoint}")))
            .collect()
    };
    let mut from_host = Vec::new();
    for candidate in &candidates {
        let in_container = format!("/{candidate}");
        // A bind mount shadows the container rootfs: look at the host path it maps to, which this
        // extension may or may not ship.
        let mount = mounts
            .iter()
            .filter(|(dest, _)| is_under(&in_container, dest) || dest.is_empty())
            .max_by_key(|(dest, _)| dest.len());
        let found = match mount {
            Some((dest, source)) => {
                let host = format!("{source}{}", &in_container[dest.len()..]);
                let found = tree.resolve_in("rootfs", &host);
                if found.is_none() {
                    from_host.push(host);
                }
                found
            }
            None => tree.resolve_in(root, candidate),
        };
        let Some(found) = found else { continue };
        let executable = found.kind == EntryKind::File && found.mode & 0o111 != 0;
        if !executable {
            report.error(
                path,
                &rule::SERVICE_ENTRYPOINT,
                format!(
                    "entrypoint {entrypoint:?} of service {name:?} resolves to {:?}, a {} with mode {:04o}, which is not executable; chmod +x it",
                    item_path(&found.path),
                    found.kind.describe(),
                    found.mode
                ),
            );
        }
        return;
    }
    if !from_host.is_empty() {
        report.warn(
            path,
            &rule::SERVICE_ENTRYPOINT,
            format!(
                "entrypoint {entrypoint:?} of service {name:?} comes through a bind mount from {} on the host, which this image does not ship; it must come from Talos or another extension",
                from_host.join(", ")
            ),
        );
        return;
    }
    let hint = if entrypoint.contains('/') {
        String::new()
    } else {
        let at_top = tree.resolve_in(root, entrypoint).is_some();
        format!(
            " (a bare name is searched in $PATH {}{})",
            env_path.unwrap_or(DEFAULT_PATH),
            if at_top {
                format!("; {root_item}/{entrypoint} exists: write \"./{entrypoint}\"")
            } else {
                String::new()
            }
        )
    };
    report.error(
        path,
        &rule::SERVICE_ENTRYPOINT,
        format!(
            "entrypoint {entrypoint:?} of service {name:?} does not exist in its container rootfs {root_item}/{hint}; the service fails at boot"
        ),
    );
}
