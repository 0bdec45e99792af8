//! Template variables: the built-in set per platform, build arguments, and their precedence.
//!
//! Lowest precedence first: defaults, build-platform `BUILD`/`HOST`, target-platform `ARCH`,
//! `TARGET`, `CFLAGS`, `CXXFLAGS`, every build arg `K=V` as `BUILD_ARG_K`, the Pkgfile's `vars`,
//! then each `vars.yaml` from the root down (applied by the tree loader).

use std::collections::BTreeMap;

use super::platform::{toolchain, Platform};

/// Template variables by name, as templates see them (`{{ .NAME }}`).
pub type Vars = BTreeMap<String, String>;

/// The variables bldr exports into every build's environment (the rest are template-only).
/// Only supported platforms have toolchain variables; the tree loader refuses the others.
pub fn builtin(build: &Platform, target: &Platform) -> Vars {
    let mut v = Vars::new();
    v.insert("LDFLAGS".into(), "-s".into());
    v.insert("VENDOR".into(), "talos".into());
    v.insert("SYSROOT".into(), "/talos".into());
    v.insert("PATH".into(), "/bin:/usr/bin:/sbin:/usr/sbin".into());
    if let Some(build) = toolchain(build) {
        v.insert("BUILD".into(), build.build_triple.into());
        v.insert("HOST".into(), build.build_triple.into());
    }
    if let Some(target) = toolchain(target) {
        v.insert("ARCH".into(), target.arch.into());
        v.insert("TARGET".into(), target.target.into());
        v.insert("CFLAGS".into(), target.cflags.into());
        v.insert("CXXFLAGS".into(), target.cflags.into());
    }
    v
}

/// The root context of a tree for one platform: built-ins, build args, then the Pkgfile's vars.
pub fn root_context(
    platform: &Platform,
    build_args: &BTreeMap<String, String>,
    pkgfile_vars: &BTreeMap<String, String>,
) -> Vars {
    // Templates are rendered with the target platform as build platform too (bldr's behaviour).
    let mut v = builtin(platform, platform);
    for (k, val) in build_args {
        v.insert(format!("BUILD_ARG_{k}"), val.clone());
    }
    for (k, val) in pkgfile_vars {
        v.insert(k.clone(), val.clone());
    }
    v
}

/// A variable as written in a vars.yaml or under the Pkgfile's `vars:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// The variable's name.
    pub name: String,
    /// 1-based line of its key.
    pub line: usize,
    /// The comment lines directly above the key, without `#`, joined by spaces.
    pub description: String,
}

/// The keys of a YAML mapping of variables, read from the text as written (before templating):
/// the top-level keys, or with `section` the keys one level under that top-level key. Keys are
/// found by their lines, so a template action around a key does not hide it.
/// Long by design: a line scanner whose state (section, indentation, comments) lives in one loop.
pub fn declarations(text: &str, section: Option<&str>) -> Vec<Declaration> {
    let mut out = Vec::new();
    let mut comment: Vec<String> = Vec::new();
    // With a section: the indentation of its keys, once seen, and whether we are inside it.
    let mut inside = section.is_none();
    let mut indent: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        let depth = raw.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with("{{") {
            comment.clear();
            continue;
        }
        if let Some(text) = trimmed.strip_prefix('#') {
            comment.push(text.trim().to_string());
            continue;
        }
        let key = trimmed
            .split_once(':')
            .map(|(k, _)| k.trim().trim_matches(|c| c == '"' || c == '\''))
            .filter(|k| {
                !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            });
        let description = std::mem::take(&mut comment)
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        match section {
            None => {
                if depth == 0 {
                    if let Some(k) = key {
                        out.push(Declaration {
                            name: k.to_string(),
                            line: i + 1,
                            description,
                        });
                    }
                }
            }
            Some(name) => {
                if depth == 0 {
                    inside = key == Some(name);
                    indent = None;
                    continue;
                }
                if !inside {
                    continue;
                }
                let level = *indent.get_or_insert(depth);
                if depth == level {
                    if let Some(k) = key {
                        out.push(Declaration {
                            name: k.to_string(),
                            line: i + 1,
                            description,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Parses `K=V` as given to `--build-arg`.
pub fn parse_build_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("build arg {s:?} must look like KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_builtin_then_build_args_then_pkgfile() {
        let args = BTreeMap::from([
            ("TAG".to_string(), "v1".to_string()),
            ("ARCH".to_string(), "x".to_string()),
        ]);
        let pkgfile = BTreeMap::from([
            ("SYSROOT".to_string(), "/custom".to_string()),
            ("BUILD_ARG_TAG".to_string(), "from-pkgfile".to_string()),
        ]);
        let v = root_context(&Platform::linux("arm64"), &args, &pkgfile);
        assert_eq!(
            v["ARCH"], "aarch64",
            "build args never override a built-in directly"
        );
        assert_eq!(v["BUILD_ARG_ARCH"], "x");
        assert_eq!(v["SYSROOT"], "/custom");
        assert_eq!(
            v["BUILD_ARG_TAG"], "from-pkgfile",
            "Pkgfile vars win over build args"
        );
        assert_eq!(v["TARGET"], "aarch64-talos-linux-musl");
        assert_eq!(v["BUILD"], "aarch64-linux-musl");
        assert_eq!(v["CFLAGS"], "-O2 -g0");
        assert_eq!(v["CXXFLAGS"], "-O2 -g0");
    }

    #[test]
    fn amd64_builtins() {
        let v = builtin(&Platform::linux("amd64"), &Platform::linux("amd64"));
        assert_eq!(v["ARCH"], "x86_64");
        assert_eq!(v["HOST"], "x86_64-linux-musl");
        assert_eq!(v["CFLAGS"], "-O2 -g0 -march=x86-64-v2 -mtune=generic");
        assert_eq!(v["PATH"], "/bin:/usr/bin:/sbin:/usr/sbin");
        assert_eq!(v["LDFLAGS"], "-s");
        assert_eq!(v["VENDOR"], "talos");
    }

    #[test]
    fn build_arg_parsing() {
        assert_eq!(parse_build_arg("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(parse_build_arg("novalue").is_err());
        assert!(parse_build_arg("=x").is_err());
    }
}
