//! The hierarchies extensions may ship files in, by the Talos release that allowed them, and
//! whole-component matching (`/usr/localfoo` is not under `/usr/local`, unlike Talos' prefix test).

use crate::TalosVersion;

/// One allowed hierarchy and the Talos releases (`(major, minor)`) it is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hierarchy {
    pub path: &'static str,
    /// First release that allows it; `(0, 0)` for "up to v1.1" (the original list).
    pub since: (u64, u64),
    /// First release that no longer allows it, and what replaced it.
    pub until: Option<((u64, u64), &'static str)>,
}

const fn h(path: &'static str, since: (u64, u64)) -> Hierarchy {
    Hierarchy {
        path,
        since,
        until: None,
    }
}

const fn moved(
    path: &'static str,
    since: (u64, u64),
    until: (u64, u64),
    to: &'static str,
) -> Hierarchy {
    Hierarchy {
        path,
        since,
        until: Some((until, to)),
    }
}

/// Every hierarchy Talos has allowed, with the releases that allowed it (from the history of
/// Talos' `pkg/machinery/extensions`).
pub const HIERARCHIES: &[Hierarchy] = &[
    h("/etc/cri/conf.d", (0, 0)),
    moved("/lib/firmware", (0, 0), (1, 10), "/usr/lib/firmware"),
    moved(
        "/usr/etc/udev/rules.d",
        (0, 0),
        (1, 9),
        "/usr/lib/udev/rules.d",
    ),
    h("/usr/local", (0, 0)),
    moved("/lib/modules", (1, 2), (1, 10), "/usr/lib/modules"),
    moved(
        "/lib64/ld-linux-x86-64.so.2",
        (1, 2),
        (1, 10),
        "/usr/lib/ld-linux-x86-64.so.2",
    ),
    h("/usr/share/glvnd", (1, 5)),
    h("/usr/share/egl", (1, 5)),
    h("/etc/vulkan", (1, 5)),
    moved("/sbin/ldconfig", (1, 9), (1, 10), "/usr/bin/ldconfig"),
    h("/usr/lib/udev/rules.d", (1, 9)),
    h("/usr/lib/firmware", (1, 10)),
    h("/usr/lib/modules", (1, 10)),
    h("/usr/lib/ld-linux-x86-64.so.2", (1, 10)),
    h("/usr/bin/ldconfig", (1, 10)),
    h("/usr/lib/ld-linux-aarch64.so.1", (1, 12)),
    h("/etc/ld.so.conf", (1, 14)),
    h("/etc/ld.so.cache", (1, 14)),
    h("/usr/bin/nvme", (1, 14)),
    h("/usr/bin/nvidia-modprobe", (1, 14)),
    h("/usr/bin/nvidia-pcc", (1, 14)),
    h("/usr/bin/nvidia-smi", (1, 14)),
    h("/usr/bin/nvidia-ctk", (1, 14)),
    h("/usr/bin/nvidia-cdi-hook", (1, 14)),
];

impl Hierarchy {
    fn valid_for(&self, release: (u64, u64)) -> bool {
        release >= self.since && self.until.is_none_or(|(until, _)| release < until)
    }
}

/// The hierarchies allowed for a target Talos version, sorted.
pub fn allowed_hierarchies(talos: &TalosVersion) -> Vec<&'static str> {
    let release = talos.release();
    let mut out: Vec<&'static str> = HIERARCHIES
        .iter()
        .filter(|h| h.valid_for(release))
        .map(|h| h.path)
        .collect();
    out.sort_unstable();
    out
}

/// `path` equals `base` or lies below it, by whole components.
pub(crate) fn is_under(path: &str, base: &str) -> bool {
    path.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether `item` (a Talos path such as `/usr/local/bin/x`) lies under one of `allowed`.
pub fn is_allowed(item: &str, allowed: &[&str]) -> bool {
    allowed.iter().any(|base| is_under(item, base))
}

/// Whether `item` is a directory on the way to an allowed hierarchy (`/usr`, `/usr/lib`).
pub(crate) fn is_ancestor_of_allowed(item: &str, allowed: &[&str]) -> bool {
    item == "/"
        || allowed
            .iter()
            .any(|base| is_under(base, item) && base.len() > item.len())
}

/// Explains why `item` is not allowed: a hierarchy that moved, one that comes later, and the
/// nearest allowed hierarchies.
pub(crate) fn not_allowed_hint(item: &str, talos: &TalosVersion, allowed: &[&str]) -> String {
    let release = talos.release();
    let mut hints = Vec::new();
    for h in HIERARCHIES.iter().filter(|h| is_under(item, h.path)) {
        if let Some((until, to)) = h.until {
            if release >= until {
                hints.push(format!(
                    "{} moved to {to} in Talos v{}.{}",
                    h.path, until.0, until.1
                ));
                continue;
            }
        }
        if release < h.since {
            hints.push(format!(
                "{} is allowed from Talos v{}.{} on, the target is {talos} (--talos-version / build arg TALOS_VERSION)",
                h.path, h.since.0, h.since.1
            ));
        }
    }
    let components = |p: &str| {
        p.split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let item_components = components(item);
    let shared = |base: &str| {
        components(base)
            .iter()
            .zip(&item_components)
            .take_while(|(a, b)| a == b)
            .count()
    };
    let best = allowed.iter().map(|b| shared(b)).max().unwrap_or(0);
    let nearest: Vec<&str> = if best == 0 {
        allowed.to_vec()
    } else {
        allowed
            .iter()
            .copied()
            .filter(|b| shared(b) == best)
            .collect()
    };
    let mut out = String::new();
    if !hints.is_empty() {
        out.push_str(&hints.join("; "));
        out.push_str("; ");
    }
    out.push_str("allowed under ");
    out.push_str(&nearest.join(", "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(v: &str) -> Vec<&'static str> {
        allowed_hierarchies(&TalosVersion::parse(v).expect("test version"))
    }

    #[test]
    fn table_by_release() {
        let v1_1 = allowed("v1.1.0");
        assert_eq!(
            v1_1,
            [
                "/etc/cri/conf.d",
                "/lib/firmware",
                "/usr/etc/udev/rules.d",
                "/usr/local"
            ]
        );
        let v1_9 = allowed("v1.9.0");
        assert!(
            v1_9.contains(&"/usr/lib/udev/rules.d") && !v1_9.contains(&"/usr/etc/udev/rules.d")
        );
        assert!(v1_9.contains(&"/sbin/ldconfig") && v1_9.contains(&"/lib/modules"));
        let v1_10 = allowed("v1.10.0");
        assert!(v1_10.contains(&"/usr/lib/modules") && !v1_10.contains(&"/lib/modules"));
        assert!(!v1_10.contains(&"/usr/lib/ld-linux-aarch64.so.1"));
        assert!(allowed("v1.12.0").contains(&"/usr/lib/ld-linux-aarch64.so.1"));
        assert!(!allowed("v1.13.0").contains(&"/usr/bin/nvme"));
        assert_eq!(allowed("v1.14.0").len(), 19);
    }

    #[test]
    fn whole_components() {
        let a = allowed("v1.14.0");
        for ok in [
            "/usr/local",
            "/usr/local/bin/x",
            "/usr/bin/nvme",
            "/etc/ld.so.conf",
        ] {
            assert!(is_allowed(ok, &a), "{ok}");
        }
        for bad in [
            "/usr/localfoo/x",
            "/etc/cri/conf.d.bak/x",
            "/usr/lib/modules-load.d/x.conf",
            "/usr/bin/nvme-evil",
            "/etc/ld.so.conf.d/x",
            "/usr/lib64/a.so",
        ] {
            assert!(!is_allowed(bad, &a), "{bad}");
        }
        assert!(is_ancestor_of_allowed("/usr/lib", &a));
        assert!(!is_ancestor_of_allowed("/usr/lib/modules", &a));
        assert!(!is_ancestor_of_allowed("/opt", &a));
    }

    #[test]
    fn hints_name_moves_and_later_releases() {
        let v = TalosVersion::parse("v1.12.0").expect("v");
        let a = allowed_hierarchies(&v);
        let hint = not_allowed_hint("/lib/firmware/x.bin", &v, &a);
        assert!(
            hint.contains("/lib/firmware moved to /usr/lib/firmware in Talos v1.10"),
            "{hint}"
        );
        let hint = not_allowed_hint("/usr/bin/nvme", &v, &a);
        assert!(hint.contains("allowed from Talos v1.14 on"), "{hint}");
        assert!(hint.contains("allowed under /usr/bin/ldconfig"), "{hint}");
    }
}
