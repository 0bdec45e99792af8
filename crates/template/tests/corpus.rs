//! Real input: every `pkg.yaml`, `vars.yaml` and `*.tmpl` of the siderolabs extensions corpus must parse,
//! and representative files must render as bldr renders them. Skips (with a message) when the shared
//! corpus is not next to the repository.

use std::path::{Path, PathBuf};
use std::time::Instant;

use kiln_template::{render, Data, Template};

fn corpus_root() -> Option<PathBuf> {
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/siderolabs-extensions");
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!(
            "skipping: corpus not found at {} (needs ../shared next to the repository)",
            root.display()
        );
        None
    }
}

/// Template files as bldr's loader finds them: dot-directories skipped, sorted for determinism.
fn template_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir() {
            if !name.starts_with('.') {
                template_files(&path, out);
            }
        } else if name == "pkg.yaml" || name == "vars.yaml" || name.ends_with(".tmpl") {
            out.push(path);
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn every_corpus_template_parses() {
    let Some(root) = corpus_root() else { return };
    let mut files = Vec::new();
    template_files(&root, &mut files);
    assert!(
        files.len() > 100,
        "expected the whole corpus, found {} files",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let name = path.display().to_string();
            Template::parse(&name, &read(path))
                .err()
                .map(|e| format!("{name}:{e}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "templates that fail to parse:\n{}",
        failures.join("\n")
    );
}

fn cloudflared_data(arch: &str) -> Data {
    [
        ("ARCH", arch),
        ("CLOUDFLARED_VERSION", "2026.7.3"),
        ("CLOUDFLARED_ARM64_SHA256", "arm-sha256"),
        ("CLOUDFLARED_ARM64_SHA512", "arm-sha512"),
        ("CLOUDFLARED_AMD64_SHA256", "amd-sha256"),
        ("CLOUDFLARED_AMD64_SHA512", "amd-sha512"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn cloudflared_keeps_the_url_of_the_target_arch() {
    let Some(root) = corpus_root() else { return };
    let path = root.join("network/cloudflared/pkg.yaml");
    let source = read(&path);
    // Source line numbers of the two alternatives, found in the file rather than hard-coded.
    let source_line_of = |needle: &str| {
        source
            .lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
    };
    let arm_src = source_line_of("cloudflared-linux-arm64").expect("arm64 url in source");
    let amd_src = source_line_of("cloudflared-linux-amd64").expect("amd64 url in source");

    for (arch, keep, drop, sha, src_line) in [
        (
            "aarch64",
            "cloudflared-linux-arm64",
            "cloudflared-linux-amd64",
            "sha256: arm-sha256",
            arm_src,
        ),
        (
            "x86_64",
            "cloudflared-linux-amd64",
            "cloudflared-linux-arm64",
            "sha256: amd-sha256",
            amd_src,
        ),
    ] {
        let out =
            render("pkg.yaml", &source, &cloudflared_data(arch)).expect("cloudflared renders");
        let lines: Vec<&str> = out.text.lines().collect();
        let url = format!(
            "      - url: https://github.com/cloudflare/cloudflared/releases/download/2026.7.3/{keep}"
        );
        let at = lines
            .iter()
            .position(|l| *l == url)
            .unwrap_or_else(|| panic!("{arch}: {url:?} missing in:\n{}", out.text));
        assert!(
            !out.text.contains(drop),
            "{arch}: the other arch's URL must be gone"
        );
        assert_eq!(
            lines.iter().filter(|l| l.contains("- url:")).count(),
            1,
            "{arch}: exactly one source"
        );
        assert!(
            lines.iter().any(|l| l.trim() == sha),
            "{arch}: checksum line {sha:?}"
        );
        assert!(
            !out.text.contains("<no value>"),
            "{arch}: every variable was supplied"
        );
        // The kept URL line maps back to its line in pkg.yaml, although lines before it were removed.
        assert_eq!(out.source_line(at + 1), src_line, "{arch}: line map");
        // Version appears verbatim in the test script and sbom.
        assert!(
            out.text.contains("cloudflared version) == *2026.7.3*"),
            "{arch}: test script"
        );
        // Lines after the if/else block keep mapping to their own source lines.
        let finalize = lines
            .iter()
            .position(|l| *l == "finalize:")
            .expect("finalize");
        let finalize_src = source_line_of("finalize:").expect("finalize in source");
        assert_eq!(
            out.source_line(finalize + 1),
            finalize_src,
            "{arch}: line map after the block"
        );
    }
}

/// Minimal flat `KEY: value` reader for the test's variable set (quotes and trailing comments removed).
fn flat_vars(text: &str, into: &mut Data) {
    for line in text.lines() {
        let trimmed = line.trim_start();
        let Some((key, value)) = trimmed.split_once(':') else {
            continue;
        };
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        let value = value.trim();
        let value = if let Some(q) = value.strip_prefix('"') {
            q.split('"').next().unwrap_or_default()
        } else {
            value.split(" #").next().unwrap_or_default().trim()
        };
        into.insert(key.to_string(), value.to_string());
    }
}

#[test]
fn every_corpus_template_renders_for_both_arches() {
    let Some(root) = corpus_root() else { return };
    let mut files = Vec::new();
    template_files(&root, &mut files);
    let mut base = Data::new();
    flat_vars(&read(&root.join("Pkgfile")), &mut base);
    for (k, v) in [
        ("BUILD_ARG_PKGS", "v1.11.0"),
        ("BUILD_ARG_PKGS_PREFIX", "ghcr.io/siderolabs"),
        ("BUILD_ARG_TAG", "v1.11.0"),
        (
            "BUILD_ARG_GNU_MIRROR_URL",
            "https://mirrors.kernel.org/gnu/",
        ),
        ("BUILD_ARG_SOURCE_DATE_EPOCH", "1700000000"),
        ("BUILD_ARG_TEST_STAGE", ""),
    ] {
        base.insert(k.into(), v.into());
    }
    let templates: Vec<(String, Template)> = files
        .iter()
        .map(|p| {
            let name = p.display().to_string();
            let t = Template::parse(&name, &read(p)).unwrap_or_else(|e| panic!("{name}:{e}"));
            (name, t)
        })
        .collect();
    for arch in ["x86_64", "aarch64"] {
        let mut data = base.clone();
        data.insert("ARCH".into(), arch.into());
        // vars.yaml files are templates themselves; merge them root-first (a flat approximation of bldr's
        // per-subtree scoping that is enough to supply every variable).
        for (name, t) in templates.iter().filter(|(n, _)| n.ends_with("vars.yaml")) {
            let out = t
                .render(&data)
                .unwrap_or_else(|e| panic!("{arch}: {name}:{e}"));
            flat_vars(&out.text, &mut data);
        }
        let start = Instant::now();
        let rendered: Vec<_> = templates
            .iter()
            .map(|(name, t)| {
                t.render(&data)
                    .unwrap_or_else(|e| panic!("{arch}: {name}:{e}"))
            })
            .collect();
        let elapsed = start.elapsed();
        let mut bytes = 0;
        for ((name, _), out) in templates.iter().zip(&rendered) {
            bytes += out.text.len();
            // Every rendered line maps to a line that exists in the template source.
            let source_lines = std::fs::read_to_string(name)
                .map(|s| s.lines().count().max(1))
                .unwrap_or(1);
            for l in 1..=out.line_count() {
                assert!(
                    (1..=source_lines).contains(&out.source_line(l)),
                    "{name}: line {l} maps outside the file"
                );
            }
        }
        eprintln!(
            "{arch}: rendered {} templates ({bytes} bytes) in {elapsed:?}",
            templates.len()
        );
        assert!(
            bytes > 10_000,
            "rendering produced suspiciously little text"
        );
    }
}

#[test]
fn util_linux_url_uses_the_major_minor_directory() {
    let Some(root) = corpus_root() else { return };
    let source = read(&root.join("tools/util-linux/pkg.yaml"));
    let data: Data = [
        ("UTIL_LINUX_VERSION", "2.42.2"),
        ("UTIL_LINUX_SHA256", "x"),
        ("UTIL_LINUX_SHA512", "y"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let out = render("pkg.yaml", &source, &data).expect("util-linux renders");
    // regexReplaceAll ".\d+$" drops the patch level; "\.0$" only strips a trailing ".0" (absent here).
    assert!(
        out.text.contains(
            "https://www.kernel.org/pub/linux/utils/util-linux/v2.42/util-linux-2.42.2.tar.xz"
        ),
        "{}",
        out.text
    );
    let data: Data = [("UTIL_LINUX_VERSION", "2.41.0")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let out = render("pkg.yaml", &source, &data).expect("util-linux renders");
    assert!(
        out.text.contains("util-linux/v2.41/util-linux-2.41.tar.xz"),
        "{}",
        out.text
    );
}
