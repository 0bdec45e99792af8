//! The extensions collection in `extensions/` and the scripts around it, without a daemon: every
//! extension plans and converts for both platforms, its files and pins are complete, the Debian mirror
//! is derived from apt configuration, and `docker-bake.hcl` / the workflow name real targets.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];
/// What ordinary tests pass as the mirror: a host that can never resolve.
const PLACEHOLDER_MIRROR: &str = "http://debian-mirror.invalid/debian";
/// What the tree falls back to without the DEBIAN_MIRROR build arg (`extensions/vars.yaml`).
const UNSET_MIRROR: &str = "http://pass-the-debian-mirror-build-arg.invalid/debian";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn extensions_dir() -> PathBuf {
    repo().join("extensions")
}

#[track_caller]
fn kiln(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .expect("running kiln");
    assert!(
        out.status.success(),
        "kiln {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// (name, directory) of every package whose directory holds a manifest template: the extensions.
fn extensions() -> Vec<(String, PathBuf)> {
    let root = extensions_dir();
    let out = kiln(&["targets", "--root", root.to_str().unwrap(), "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                root.join(t["dir"].as_str().unwrap()),
            )
        })
        .filter(|(_, dir)| dir.join("manifest.yaml.tmpl").is_file())
        .collect()
}

fn plan(name: &str, platform: &str, mirror: Option<&str>) -> Value {
    let root = extensions_dir();
    let arg = mirror.map(|m| format!("DEBIAN_MIRROR={m}"));
    let mut args = vec![
        "plan",
        "--root",
        root.to_str().unwrap(),
        "-t",
        name,
        "--platform",
        platform,
        "--json",
    ];
    if let Some(arg) = &arg {
        args.extend(["--build-arg", arg]);
    }
    serde_json::from_slice(&kiln(&args).stdout).unwrap()
}

/// The sources of the extension's own package (the last of its plan).
fn sources(plan: &Value) -> Vec<Value> {
    let pkg = &plan["packages"].as_array().unwrap().last().unwrap()["package"];
    pkg["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["sources"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn the_collection_has_every_shape() {
    let names: BTreeSet<String> = extensions().into_iter().map(|(n, _)| n).collect();
    let want: BTreeSet<String> = [
        "android-udev-rules",
        "ath9k-htc-firmware",
        "dummy-netdev",
        "gvisor",
        "hello-service",
    ]
    .map(String::from)
    .into();
    assert_eq!(names, want);
}

#[test]
fn every_extension_plans_and_converts_for_both_platforms() {
    let root = extensions_dir();
    let arg = format!("DEBIAN_MIRROR={PLACEHOLDER_MIRROR}");
    for (name, _) in extensions() {
        for platform in PLATFORMS {
            let out = kiln(&[
                "llb",
                "--root",
                root.to_str().unwrap(),
                "-t",
                &name,
                "--platform",
                platform,
                "--build-arg",
                &arg,
                "--json",
            ]);
            let dump = String::from_utf8_lossy(&out.stdout);
            assert!(
                dump.contains(&format!("[{platform}] {name}:")),
                "{name} {platform}: no vertex of the package in the LLB dump"
            );
        }
    }
}

#[test]
fn every_download_comes_from_the_mirror_pinned_by_sha256_and_sha512() {
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut downloads = 0;
    for (name, _) in extensions() {
        for platform in PLATFORMS {
            for (mirror, expected) in [
                (Some(PLACEHOLDER_MIRROR), PLACEHOLDER_MIRROR),
                (None, UNSET_MIRROR),
            ] {
                for source in sources(&plan(&name, platform, mirror)) {
                    let url = source["url"].as_str().unwrap();
                    assert!(
                        url.starts_with(&format!("{expected}/pool/")),
                        "{name} {platform}: {url} is not under {expected}/pool/"
                    );
                    assert!(hex(source["sha256"].as_str().unwrap(), 64), "{url}");
                    assert!(hex(source["sha512"].as_str().unwrap(), 128), "{url}");
                    downloads += 1;
                }
            }
        }
    }
    // firmware, udev rules and gvisor, for 2 platforms, with and without the build arg.
    assert_eq!(downloads, 12);
}

#[test]
fn gvisor_takes_the_binary_of_each_architecture() {
    let amd64 = sources(&plan("gvisor", "linux/amd64", Some(PLACEHOLDER_MIRROR)));
    let arm64 = sources(&plan("gvisor", "linux/arm64", Some(PLACEHOLDER_MIRROR)));
    assert_eq!((amd64.len(), arm64.len()), (1, 1));
    assert!(amd64[0]["url"].as_str().unwrap().ends_with("_amd64.deb"));
    assert!(arm64[0]["url"].as_str().unwrap().ends_with("_arm64.deb"));
    assert_ne!(amd64[0]["sha256"], arm64[0]["sha256"]);
}

#[test]
fn the_kernel_module_extension_takes_an_image_dependency() {
    for platform in PLATFORMS {
        let plan = plan("dummy-netdev", platform, None);
        let deps = &plan["packages"].as_array().unwrap().last().unwrap()["dependencies"];
        let images: Vec<&str> = deps
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["image"].as_str())
            .collect();
        assert_eq!(images, ["ghcr.io/siderolabs/kernel:v1.11.0"], "{platform}");
    }
}

#[test]
fn every_extension_has_its_files_a_tag_and_a_licence() {
    let root = extensions_dir();
    let tag_ok = |t: &str| {
        !t.is_empty()
            && t.len() <= 128
            && !t.starts_with(['.', '-'])
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    };
    for (name, dir) in extensions() {
        for file in ["pkg.yaml", "vars.yaml", "manifest.yaml.tmpl", "README.md"] {
            assert!(dir.join(file).is_file(), "{name}: {file} is missing");
        }
        let readme = fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(
            readme.contains("Licence:"),
            "{name}: README names no licence"
        );
        let version = kiln(&[
            "eval",
            "--root",
            root.to_str().unwrap(),
            "-t",
            &name,
            "{{ .VERSION }}",
        ]);
        let version = String::from_utf8(version.stdout).unwrap();
        assert!(
            tag_ok(&version),
            "{name}: VERSION {version:?} is not an image tag"
        );
        let manifest = kiln(&[
            "eval",
            "--root",
            root.to_str().unwrap(),
            "-t",
            &name,
            &fs::read_to_string(dir.join("manifest.yaml.tmpl")).unwrap(),
        ]);
        let manifest = String::from_utf8(manifest.stdout).unwrap();
        assert!(
            manifest.contains(&format!("name: {name}\n")),
            "{name}: manifest name differs:\n{manifest}"
        );
    }
}

// --- hack/debian-mirror.sh ----------------------------------------------------------------------

fn mirror_for(files: &[(&str, &str)], env: &[(&str, &str)]) -> Output {
    let apt = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = apt.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    let mut cmd = Command::new(repo().join("hack/debian-mirror.sh"));
    cmd.env_remove("KILN_DEBIAN_MIRROR")
        .env("KILN_APT_ROOT", apt.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout_of(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn debian_mirror_reads_deb822_sources_and_prefers_bookworm() {
    let sources = "Types: deb\n# a comment\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n\
Types: deb\nURIs: http://one.example/debian/ http://two.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n";
    let o = mirror_for(&[("etc/apt/sources.list.d/debian.sources", sources)], &[]);
    assert_eq!(stdout_of(&o), "http://one.example/debian");
}

#[test]
fn debian_mirror_reads_one_line_sources() {
    let list = "# deb http://commented.example/debian bookworm main\n\
deb [signed-by=/k.gpg] http://sec.example/debian-security bookworm-security main\n\
deb [arch=amd64] http://trixie.example/debian trixie main\n";
    let o = mirror_for(&[("etc/apt/sources.list", list)], &[]);
    // No bookworm suite: the first Debian archive that is not security/updates.
    assert_eq!(stdout_of(&o), "http://trixie.example/debian");
}

#[test]
fn debian_mirror_ignores_other_archives_and_honours_the_override() {
    let list = "deb http://archive.example/ubuntu noble main\n";
    let o = mirror_for(&[("etc/apt/sources.list", list)], &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("set KILN_DEBIAN_MIRROR="), "{err}");
    let o = mirror_for(
        &[("etc/apt/sources.list", list)],
        &[("KILN_DEBIAN_MIRROR", "http://mine.example/debian/")],
    );
    assert_eq!(stdout_of(&o), "http://mine.example/debian");
}

// --- docker-bake.hcl and the workflow -------------------------------------------------------------

/// `target "NAME" {` blocks of docker-bake.hcl, without the `_`-prefixed templates.
fn bake_targets(hcl: &str) -> BTreeSet<String> {
    hcl.lines()
        .filter_map(|l| l.strip_prefix("target \""))
        .filter_map(|l| l.split('"').next())
        .filter(|n| !n.starts_with('_'))
        .map(String::from)
        .collect()
}

#[test]
fn bake_builds_the_frontend_and_every_extension_with_its_version() {
    let hcl = fs::read_to_string(repo().join("docker-bake.hcl")).unwrap();
    let mut want: BTreeSet<String> = extensions().into_iter().map(|(n, _)| n).collect();
    let group_line = hcl
        .lines()
        .skip_while(|l| !l.starts_with("group \"extensions\""))
        .find(|l| l.trim_start().starts_with("targets"))
        .expect("a group \"extensions\" with targets");
    let group: BTreeSet<String> = group_line
        .split('"')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect();
    assert_eq!(group, want, "group \"extensions\"");
    want.insert("frontend".to_string());
    assert_eq!(bake_targets(&hcl), want);
    let root = extensions_dir();
    for (name, _) in extensions() {
        let version = kiln(&[
            "eval",
            "--root",
            root.to_str().unwrap(),
            "-t",
            &name,
            "{{ .VERSION }}",
        ]);
        let tag = format!(
            "\"${{REGISTRY}}/{name}:{}\"",
            String::from_utf8(version.stdout).unwrap()
        );
        assert!(hcl.contains(&tag), "docker-bake.hcl lacks the tag {tag}");
    }
    assert!(hcl.contains("dockerfile = \"frontend.Dockerfile\""));
}

#[test]
fn the_workflow_uses_bake_targets_that_exist() {
    let workflows = repo().join(".github/workflows");
    let hcl = fs::read_to_string(repo().join("docker-bake.hcl")).unwrap();
    let mut known = bake_targets(&hcl);
    known.insert("extensions".to_string());
    let mut seen = 0;
    for entry in fs::read_dir(&workflows).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let yaml = saphyr_check(&text);
        assert!(yaml, "{}: not YAML", path.display());
        for action in [
            "docker/setup-qemu-action@",
            "docker/setup-buildx-action@",
            "docker/login-action@",
            "docker/bake-action@",
        ] {
            assert!(text.contains(action), "{}: no {action}", path.display());
        }
        for line in text.lines() {
            if let Some(targets) = line.trim().strip_prefix("targets:") {
                for t in targets.split(',').map(str::trim) {
                    assert!(
                        known.contains(t),
                        "{}: unknown bake target {t}",
                        path.display()
                    );
                    seen += 1;
                }
            }
        }
    }
    assert_eq!(
        seen, 2,
        "the workflow bakes the frontend and the extensions"
    );
}

/// True when `text` parses as one YAML document with a mapping at its root.
fn saphyr_check(text: &str) -> bool {
    use saphyr::{LoadableYamlNode, YamlOwned};
    YamlOwned::load_from_str(text)
        .map(|docs| docs.len() == 1 && docs[0].is_mapping())
        .unwrap_or(false)
}

#[test]
fn no_script_names_a_debian_host() {
    // The mirror is always derived; scripts may only hold the .invalid placeholders.
    for path in [
        "hack/env-up.sh",
        "hack/debian-mirror.sh",
        "hack/collection.sh",
        "Makefile",
    ] {
        let text = fs::read_to_string(repo().join(path)).unwrap();
        for word in text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
            if let Some(rest) = word
                .strip_prefix("http://")
                .or(word.strip_prefix("https://"))
            {
                let host = rest.split('/').next().unwrap_or("");
                assert!(
                    host.ends_with(".invalid")
                        || host.ends_with(".example")
                        || host.starts_with("127.0.0.1")
                        || host.starts_with('$')
                        || host.starts_with('<'),
                    "{path}: names the host {host}"
                );
            }
        }
    }
    assert!(Path::new(&repo().join("hack/debian-mirror.sh")).is_file());
}
