//! The top-level Makefile, run as a user runs it: the README's main command and its five-minute
//! walk-through word for word, `make local-<ext>` for every extension checked file by file on both
//! platforms, `make extensions PUSH=true` against the local registry with its catalog checked against
//! what the registry serves (and a broken extension named while the others still build), and the
//! frontend image's rebuild rules.
//!
//! Each test works in a copy of the repository's Makefile, hack/ and extensions/ (the walk-through adds
//! files there), with the frontend image under test passed as KILN_IMAGE. `dummy-netdev` is built
//! against a stand-in kernel image made here, since Talos' kernel image cannot be pulled.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{CommandOutput, E2eEnv};

const PLATFORM_DIRS: [(&str, &str); 2] = [("linux_amd64", "x86_64"), ("linux_arm64", "aarch64")];
/// The kernel release inside the stand-in kernel image.
const KERNEL_RELEASE: &str = "6.12.0-talos";
/// The stand-in module: not a real module, enough for copying, depmod and validation: modinfo-style
/// strings, signed with kiln's test key as Linux' sign-file does (the validation stage refuses
/// unsigned modules; crates/validate/tests/fixtures/modules/make.sh makes it).
const STANDIN_MODULE: &[u8] =
    include_bytes!("../crates/validate/tests/fixtures/modules/standin-dummy.ko");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch checkout: the Makefile, hack/ and extensions/ of this repository.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .args(["Makefile", "hack", "extensions"].map(|p| repo().join(p)))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

/// `make ARGS` in `dir`, with the frontend under test given through the environment, as a user who
/// exported KILN_IMAGE would.
fn make(env: &E2eEnv, dir: &Path, args: &[&str]) -> CommandOutput {
    let mut cmd = Command::new("make");
    cmd.arg("--no-print-directory")
        .args(args)
        .current_dir(dir)
        .env("KILN_IMAGE", &env.kiln_image)
        .env("PROGRESS", "plain");
    common::run_combined(cmd)
}

fn kiln(args: &[&str]) -> CommandOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(args);
    common::run_combined(cmd)
}

/// The lines of the first ```sh block after `heading` in the README.
fn readme_block(heading: &str) -> Vec<String> {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading}"));
    let block = &readme[start..];
    let body = &block[block.find("```sh\n").expect("a sh block") + 6..];
    body[..body.find("```").unwrap()]
        .lines()
        .map(String::from)
        .collect()
}

/// Every file and symlink under `dir`, relative, sorted.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn set(paths: &[&str]) -> BTreeSet<String> {
    paths.iter().map(|p| p.to_string()).collect()
}

/// The stand-in kernel image (both platforms, loaded into the local store), built once per run.
fn kernel_image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let module_dir = dir
            .path()
            .join(format!("modules/{KERNEL_RELEASE}/kernel/drivers/net"));
        fs::create_dir_all(&module_dir).unwrap();
        fs::write(module_dir.join("dummy.ko"), STANDIN_MODULE).unwrap();
        // No syntax line: BuildKit's own Dockerfile frontend, nothing pulled.
        fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY modules/ /usr/lib/modules/\n",
        )
        .unwrap();
        let tag = format!("kiln-e2e/kernel-standin:{}", common::unique_name("make"));
        common::docker(&[
            "buildx",
            "build",
            "--progress=quiet",
            "--provenance=false",
            "--platform",
            "linux/amd64,linux/arm64",
            "--load",
            "-t",
            &tag,
            dir.path().to_str().unwrap(),
        ])
        .assert_success();
        tag
    })
}

/// `BUILD_CONTEXTS=…` replacing dummy-netdev's kernel image with the stand-in.
fn kernel_context(dir: &Path) -> String {
    let out = kiln(&[
        "eval",
        "--root",
        dir.join("extensions").to_str().unwrap(),
        "-t",
        "dummy-netdev",
        "{{ .KERNEL_IMAGE }}",
    ]);
    out.assert_success();
    format!(
        "BUILD_CONTEXTS={}=docker-image://{}",
        out.output.trim(),
        kernel_image()
    )
}

#[track_caller]
fn assert_valid(dir: &Path, name: &str) {
    kiln(&["validate", dir.to_str().unwrap(), "--pkg-name", name]).assert_success();
}

#[test]
fn the_readme_main_command_and_walkthrough_build_with_make() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let dir = checkout();
    let main = readme_block("## The two commands");
    assert_eq!(main, ["make local-hello-service DEST=_out"]);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(&main[0])
        .current_dir(dir.path())
        .env("KILN_IMAGE", &env.kiln_image);
    let out = common::run_combined(cmd);
    out.assert_success()
        .assert_contains(
            "local-hello-service: wrote _out/hello-service/ for linux/amd64,linux/arm64",
        )
        .assert_contains("_out/bin/kiln validate _out/hello-service/linux_arm64");
    for (platform, machine) in PLATFORM_DIRS {
        let root = dir.path().join("_out/hello-service").join(platform);
        let lib = "rootfs/usr/local/lib/containers/hello-service";
        assert_eq!(
            files_under(&root),
            set(&[
                "manifest.yaml",
                "rootfs/usr/local/etc/containers/hello-service.yaml",
                &format!("{lib}/bin/busybox"),
                &format!("{lib}/bin/echo"),
                &format!("{lib}/bin/sh"),
                &format!("{lib}/bin/sleep"),
                &format!("{lib}/bin/uname"),
                &format!("{lib}/hello"),
                "rootfs/usr/local/share/spdx/hello-service.spdx.json",
            ]),
            "{platform}"
        );
        let busybox = fs::read(root.join(lib).join("bin/busybox")).unwrap();
        assert_eq!(common::elf_machine(&busybox), Some(machine), "{platform}");
        assert_valid(&root, "hello-service");
        // The SBOM attestation the local exporter writes beside the image root is moved aside.
        let attestations = dir.path().join("_out/hello-service.sbom").join(platform);
        assert_eq!(
            files_under(&attestations),
            set(&["hello-service.spdx.json"]),
            "{platform}"
        );
        let sbom = fs::read_to_string(attestations.join("hello-service.spdx.json")).unwrap();
        assert!(sbom.contains("\"hello-service\""), "{sbom}");
    }

    // The walk-through, line by line, in the same checkout.
    let walkthrough = readme_block("### Add an extension in five minutes");
    assert!(walkthrough.len() >= 2, "{walkthrough:?}");
    for line in &walkthrough {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(line)
            .current_dir(dir.path())
            .env("KILN_IMAGE", &env.kiln_image);
        common::run_combined(cmd).assert_success();
    }
    for (platform, machine) in PLATFORM_DIRS {
        let root = dir.path().join("_out/my-service").join(platform);
        let spec = fs::read_to_string(root.join("rootfs/usr/local/etc/containers/my-service.yaml"))
            .expect("the renamed service spec");
        assert!(spec.starts_with("name: my-service\n"), "{spec}");
        let manifest = fs::read_to_string(root.join("manifest.yaml")).unwrap();
        assert!(manifest.contains("name: my-service\n"), "{manifest}");
        let busybox =
            fs::read(root.join("rootfs/usr/local/lib/containers/my-service/bin/busybox")).unwrap();
        assert_eq!(common::elf_machine(&busybox), Some(machine));
        assert_valid(&root, "my-service");
    }
}

#[test]
fn make_local_builds_every_extension_file_by_file() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let dir = checkout();
    let contexts = kernel_context(dir.path());
    let out = make(
        &env,
        dir.path(),
        &[
            "local-ath9k-htc-firmware",
            "local-android-udev-rules",
            "local-gvisor",
            "local-dummy-netdev",
            "DEST=built",
            &contexts,
        ],
    );
    out.assert_success();
    let built = dir.path().join("built");
    for (platform, machine) in PLATFORM_DIRS {
        // Firmware: Debian's two files, byte for byte the same on both platforms (an `all` package).
        let root = built.join("ath9k-htc-firmware").join(platform);
        assert_eq!(
            files_under(&root),
            set(&[
                "manifest.yaml",
                "rootfs/usr/lib/firmware/ath9k_htc/htc_7010-1.4.0.fw",
                "rootfs/usr/lib/firmware/ath9k_htc/htc_9271-1.4.0.fw",
                "rootfs/usr/local/share/doc/ath9k-htc-firmware/copyright",
            ])
        );
        let fw =
            |p: &str| fs::read(root.join("rootfs/usr/lib/firmware/ath9k_htc").join(p)).unwrap();
        assert_eq!(fw("htc_9271-1.4.0.fw").len(), 51008);
        assert_eq!(fw("htc_7010-1.4.0.fw").len(), 72812);
        assert_eq!(
            fw("htc_9271-1.4.0.fw"),
            fs::read(
                built
                    .join("ath9k-htc-firmware/linux_amd64/rootfs/usr/lib/firmware/ath9k_htc/htc_9271-1.4.0.fw")
            )
            .unwrap()
        );
        assert_valid(&root, "ath9k-htc-firmware");

        // udev rules.
        let root = built.join("android-udev-rules").join(platform);
        assert_eq!(
            files_under(&root),
            set(&[
                "manifest.yaml",
                "rootfs/usr/lib/udev/rules.d/51-android.rules",
                "rootfs/usr/local/share/doc/android-udev-rules/copyright",
            ])
        );
        let rules =
            fs::read_to_string(root.join("rootfs/usr/lib/udev/rules.d/51-android.rules")).unwrap();
        assert!(rules.contains("LABEL=\"android_usb_rules_end\""));
        assert_valid(&root, "android-udev-rules");

        // The runtime: this platform's runsc, executable, and the containerd fragment pointing at it.
        let root = built.join("gvisor").join(platform);
        assert_eq!(
            files_under(&root),
            set(&[
                "manifest.yaml",
                "rootfs/etc/cri/conf.d/10-gvisor.part",
                "rootfs/usr/local/bin/runsc",
                "rootfs/usr/local/share/doc/gvisor/copyright",
            ])
        );
        let runsc = root.join("rootfs/usr/local/bin/runsc");
        assert_eq!(
            common::elf_machine(&fs::read(&runsc).unwrap()),
            Some(machine)
        );
        assert_eq!(
            fs::metadata(&runsc).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let part = fs::read_to_string(root.join("rootfs/etc/cri/conf.d/10-gvisor.part")).unwrap();
        assert!(
            part.contains("BinaryName = \"/usr/local/bin/runsc\""),
            "{part}"
        );
        let manifest = fs::read_to_string(root.join("manifest.yaml")).unwrap();
        assert!(
            manifest.contains(&format!("runsc ({machine})")),
            "{manifest}"
        );
        assert_valid(&root, "gvisor");

        // The kernel module from the stand-in kernel image, with depmod's index.
        let root = built.join("dummy-netdev").join(platform);
        let modules = format!("rootfs/usr/lib/modules/{KERNEL_RELEASE}");
        let files = files_under(&root);
        for want in [
            "manifest.yaml".to_string(),
            format!("{modules}/kernel/drivers/net/dummy.ko"),
            format!("{modules}/modules.dep"),
        ] {
            assert!(files.contains(&want), "{platform}: no {want} in {files:?}");
        }
        assert!(
            files
                .iter()
                .all(|f| f == "manifest.yaml" || f.starts_with(&format!("{modules}/"))),
            "{files:?}"
        );
        assert_eq!(
            fs::read(root.join(&modules).join("kernel/drivers/net/dummy.ko")).unwrap(),
            STANDIN_MODULE
        );
        let dep = fs::read_to_string(root.join(&modules).join("modules.dep")).unwrap();
        assert!(dep.contains("kernel/drivers/net/dummy.ko:"), "{dep}");
        kiln(&[
            "validate",
            root.to_str().unwrap(),
            "--pkg-name",
            "dummy-netdev",
            "--kernel-release",
            KERNEL_RELEASE,
        ])
        .assert_success();

        // Installed together, as Talos would: no two extensions ship the same path.
        let together: Vec<String> = [
            "ath9k-htc-firmware",
            "android-udev-rules",
            "gvisor",
            "dummy-netdev",
        ]
        .iter()
        .map(|name| built.join(name).join(platform).display().to_string())
        .collect();
        let mut args = vec!["validate"];
        args.extend(together.iter().map(String::as_str));
        kiln(&args).assert_success();
    }
}

#[test]
fn make_extensions_pushes_every_extension_and_writes_the_catalog() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let dir = checkout();
    let contexts = kernel_context(dir.path());
    let namespace = format!("kiln-e2e/{}", common::unique_name("collection"));
    let registry = format!("REGISTRY={}/{namespace}", env.registry.addr());

    // A broken extension next to the good ones: its test step fails.
    let broken = dir.path().join("extensions/examples/broken-service");
    let status = Command::new("cp")
        .arg("-a")
        .arg(dir.path().join("extensions/examples/hello-service"))
        .arg(&broken)
        .status()
        .unwrap();
    assert!(status.success());
    for file in ["pkg.yaml", "manifest.yaml.tmpl"] {
        let path = broken.join(file);
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace("name: hello-service", "name: broken-service")
            .replace("grep -q hello", "grep -q goodbye");
        fs::write(path, text).unwrap();
    }
    let out = make(
        &env,
        dir.path(),
        &["extensions", "PUSH=true", &registry, &contexts],
    );
    out.assert_failure()
        .assert_contains("FAILED  broken-service")
        .assert_contains("grep -q goodbye")
        .assert_contains("1 of 6 failed: broken-service");
    let catalog = fs::read_to_string(dir.path().join("_out/image-digests")).unwrap();
    assert_eq!(catalog.lines().count(), 5, "{catalog}");
    assert!(!catalog.contains("broken-service"));

    // Without it, the same command succeeds (from the cache) and the catalog is what the registry serves.
    fs::remove_dir_all(&broken).unwrap();
    make(
        &env,
        dir.path(),
        &["extensions", "PUSH=true", &registry, &contexts],
    )
    .assert_success();
    let catalog = fs::read_to_string(dir.path().join("_out/image-digests")).unwrap();
    let mut names = Vec::new();
    for line in catalog.lines() {
        let (reference, digest) = line.split_once('@').expect("<ref>@<digest>");
        let rest = reference
            .strip_prefix(&format!("{}/{namespace}/", env.registry.addr()))
            .unwrap_or_else(|| panic!("{line}: not in the registry namespace"));
        let (name, tag) = rest.split_once(':').unwrap();
        let version = kiln(&[
            "eval",
            "--root",
            dir.path().join("extensions").to_str().unwrap(),
            "-t",
            name,
            "{{ .VERSION }}",
        ]);
        assert_eq!(tag, version.output.trim(), "{name}: tag is not its VERSION");
        let repo = format!("{namespace}/{name}");
        let served = env
            .registry
            .manifest(&repo, tag)
            .unwrap_or_else(|| panic!("{repo}:{tag} is not in the registry"));
        assert_eq!(served.digest, digest, "{line}");
        let platforms: Vec<String> = env
            .registry
            .platform_manifests(&repo, digest)
            .into_iter()
            .map(|m| m.platform)
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"], "{line}");
        names.push(name.to_string());
    }
    assert_eq!(
        names,
        [
            "android-udev-rules",
            "ath9k-htc-firmware",
            "dummy-netdev",
            "gvisor",
            "hello-service"
        ]
    );
    for line in catalog.lines() {
        let (reference, _) = line.split_once('@').unwrap();
        let rest = reference
            .strip_prefix(&format!("{}/", env.registry.addr()))
            .unwrap();
        let (repo, tag) = rest.rsplit_once(':').unwrap();
        env.registry.delete(repo, tag);
    }
}

#[test]
fn make_names_an_unknown_extension_with_the_collection() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let dir = checkout();
    make(&env, dir.path(), &["gvisr"])
        .assert_failure()
        .assert_contains("no extension named 'gvisr'")
        .assert_contains("gvisor");
    let out = make(&env, dir.path(), &["targets"]);
    out.assert_success();
    let listed: Vec<&str> = out
        .output
        .lines()
        .filter(|l| !l.contains(':') && !l.trim().is_empty())
        .collect();
    assert_eq!(
        listed,
        [
            "android-udev-rules",
            "ath9k-htc-firmware",
            "dummy-netdev",
            "gvisor",
            "hello-service"
        ]
    );
}

/// The Makefile's rebuild rule for the frontend image: the default tag is rebuilt when stale, a tag
/// the caller passes only when missing.
#[test]
fn make_rebuilds_a_stale_frontend_only_when_asked() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    // Which rule applies, read from make itself (print-VAR has no prerequisites: nothing is built).
    let rule = |kiln_image: Option<&str>| {
        let mut cmd = Command::new("make");
        cmd.args(["-s", "--no-print-directory", "print-KILN_REBUILD"])
            .current_dir(repo())
            .env_remove("KILN_IMAGE");
        if let Some(image) = kiln_image {
            cmd.arg(format!("KILN_IMAGE={image}"));
        }
        let out = common::run_combined(cmd);
        out.assert_success();
        out.output.trim().to_string()
    };
    assert_eq!(rule(None), "stale");
    assert_eq!(rule(Some("kiln:mine")), "missing");

    // A copy of the image under test whose label says it was built from other sources.
    let tag = format!("kiln-e2e/frontend:{}", common::unique_name("stale"));
    let build = tempfile::tempdir().unwrap();
    fs::write(
        build.path().join("Dockerfile"),
        format!(
            "FROM {}\nLABEL org.kiln.source-hash=stale\n",
            env.kiln_image
        ),
    )
    .unwrap();
    common::docker(&[
        "buildx",
        "build",
        "--progress=quiet",
        "--provenance=false",
        "--load",
        "-t",
        &tag,
        build.path().to_str().unwrap(),
    ])
    .assert_success();
    let label = || {
        let out = common::docker(&[
            "image",
            "inspect",
            "-f",
            "{{ index .Config.Labels \"org.kiln.source-hash\" }}",
            &tag,
        ]);
        out.assert_success();
        out.output.trim().to_string()
    };
    let frontend = |extra: &[&str]| {
        let mut cmd = Command::new("make");
        cmd.args([
            "--no-print-directory",
            "frontend",
            &format!("KILN_IMAGE={tag}"),
        ])
        .args(extra)
        .current_dir(repo());
        common::run_combined(cmd)
    };
    // Passed explicitly and present: used as it is, stale or not.
    frontend(&[]).assert_success().assert_contains("as it is");
    assert_eq!(label(), "stale");
    // Asked to check staleness: rebuilt from the sources, then found current.
    frontend(&["KILN_REBUILD=stale"])
        .assert_success()
        .assert_contains("is stale");
    let hash = common::run_combined(Command::new(repo().join("hack/source-hash.sh")));
    hash.assert_success();
    assert_eq!(label(), hash.output.trim());
    frontend(&["KILN_REBUILD=stale"])
        .assert_success()
        .assert_contains("is current");
    common::docker(&["image", "rm", &tag]);
}
