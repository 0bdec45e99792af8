//! End-to-end builds of kiln's fixture tree through `docker buildx build` on the real daemon: the
//! multi-arch OCI export and its contents, the same pushed to the local registry, caching of an
//! unchanged build and of a change to one package, and the README's main command.
//!
//! The fixture (tests/fixtures/frontend/tree) is: `toolchain` (the busybox base image as a stage),
//! `greeting` (a stage shipping `message.txt`) and the extension `fixture-ext`, which depends on both
//! stages and on the image `kiln-test/alpine-like`, downloads `payload.txt` from the test's file
//! server (sha256 + sha512), sets env in step 1 that step 2 uses, mounts a cache path, runs a test
//! script and renders `manifest.yaml.tmpl` per architecture.

mod common;

use std::fs;
use std::path::Path;
use std::time::Instant;

use common::fixture::{self, FrontendFixture, EXTENSION_DIR, PLATFORMS};
use common::progress;
use common::OciArchive;
use serde_json::Value;

/// The machine `elf_machine` reports for binaries of each fixture platform.
fn machine_of(platform: &str) -> &'static str {
    match platform {
        "linux/amd64" => "x86_64",
        "linux/arm64" => "aarch64",
        other => panic!("unexpected platform {other}"),
    }
}

/// bldr's `ARCH` for a platform, which the manifest template renders.
fn arch_var(platform: &str) -> &'static str {
    machine_of(platform)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The entries directly under `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Checks one platform's extracted image root against what the fixture must produce.
fn assert_extension_root(root: &Path, platform: &str, greeting: &str) {
    assert_eq!(
        entries(root),
        ["manifest.yaml", "rootfs"],
        "{platform}: image root"
    );

    let manifest = read(&root.join("manifest.yaml"));
    assert!(
        manifest.contains(&format!(
            "The kiln end-to-end fixture, built for {}.",
            arch_var(platform)
        )),
        "{platform}: manifest.yaml not rendered for its architecture:\n{manifest}"
    );
    assert!(
        manifest.contains("version: \"v0.3.1\"") && !manifest.contains("{{"),
        "{platform}: manifest.yaml lacks the vars.yaml VERSION or holds template text:\n{manifest}"
    );

    let rootfs = root.join("rootfs");
    assert_eq!(entries(&rootfs), ["usr"], "{platform}: rootfs top level");
    assert_eq!(
        entries(&rootfs.join("usr/local/etc/containers")),
        ["fixture-ext.yaml"]
    );
    let ext = rootfs.join(EXTENSION_DIR);
    assert_eq!(
        entries(&ext),
        [
            "bin",
            "cache-mounts",
            "fixture-ext",
            "greeting",
            "os-release",
            "payload.txt"
        ],
        "{platform}: {EXTENSION_DIR}"
    );
    let busybox = fs::read(ext.join("bin/busybox")).expect("bin/busybox");
    assert_eq!(
        common::elf_machine(&busybox),
        Some(machine_of(platform)),
        "{platform}: bin/busybox is for the wrong machine"
    );
    assert_eq!(
        fs::read_link(ext.join("bin/sh")).expect("bin/sh is a symlink"),
        Path::new("busybox")
    );
    // The HTTP source, verified and copied by the step-2 script through step 1's env.
    assert_eq!(
        fs::read(ext.join("payload.txt")).unwrap(),
        fs::read(fixture::checked_in("sources/payload.txt")).unwrap(),
        "{platform}: payload.txt"
    );
    // The stage dependency `greeting`, copied with from/to.
    assert_eq!(
        read(&ext.join("greeting")),
        greeting,
        "{platform}: greeting"
    );
    // The image dependency, copied with from/to.
    assert!(
        read(&ext.join("os-release")).contains("ID=alpine-like"),
        "{platform}: os-release does not come from kiln-test/alpine-like"
    );
    // The step's cache path was a mount while the script ran (one line in /proc/mounts).
    assert_eq!(read(&ext.join("cache-mounts")).trim(), "1", "{platform}");
    let mode = fs::metadata(ext.join("fixture-ext")).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o755
    );
}

/// The image config of a platform: os/architecture and both kinds of labels.
fn assert_config(config: &Value, platform: &str, cli_label: &str) {
    let (os, arch) = platform.split_once('/').unwrap();
    assert_eq!(config["os"], os, "{platform} config: {config}");
    assert_eq!(config["architecture"], arch, "{platform} config: {config}");
    let labels = &config["config"]["Labels"];
    assert_eq!(
        labels["org.kiln.e2e.fixture"], "frontend",
        "{platform}: Pkgfile label missing: {config}"
    );
    assert_eq!(
        labels["org.kiln.e2e.cli"], cli_label,
        "{platform}: --label missing: {config}"
    );
}

/// The manifests of the exported index, however buildx nests them, counted with attestations.
fn all_index_entries(oci: &OciArchive) -> Vec<Value> {
    let index = oci.index();
    let mut entries = Vec::new();
    for entry in index["manifests"].as_array().into_iter().flatten() {
        let media_type = entry["mediaType"].as_str().unwrap_or_default();
        if media_type.ends_with("index.v1+json") || media_type.ends_with("list.v2+json") {
            let nested = oci.json_blob(entry["digest"].as_str().unwrap());
            entries.extend(nested["manifests"].as_array().cloned().unwrap_or_default());
        } else {
            entries.push(entry.clone());
        }
    }
    entries
}

#[test]
fn fixture_builds_a_two_platform_oci_index_with_the_expected_images() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    let label = common::unique_name("label");
    let tarball = fx.scratch("out").join("image.tar");
    fx.build()
        .label("org.kiln.e2e.cli", &label)
        .output_oci(&tarball)
        .run()
        .assert_success();

    let oci = OciArchive::open(&tarball);
    let entries = all_index_entries(&oci);
    assert_eq!(
        entries.len(),
        2,
        "the index should hold exactly the two platform manifests: {entries:?}"
    );
    let platforms: Vec<String> = oci
        .platform_manifests()
        .into_iter()
        .map(|m| m.platform)
        .collect();
    assert_eq!(platforms, PLATFORMS);

    let greeting = read(&fixture::checked_in("tree/greeting/message.txt"));
    for platform in PLATFORMS {
        let root = fx.scratch(&platform.replace('/', "_"));
        oci.extract_platform(platform, &root);
        assert_extension_root(&root, platform, &greeting);
        assert_config(&oci.config(platform), platform, &label);
    }
}

#[test]
fn fixture_pushes_to_the_local_registry_and_reads_back() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    let repo = format!("kiln-e2e/{}", common::unique_name("fixture-push"));
    let label = common::unique_name("label");
    fx.build()
        .label("org.kiln.e2e.cli", &label)
        .tag(&env.registry.reference(&repo, "v1"))
        .push()
        .run()
        .assert_success();

    assert_eq!(env.registry.tags(&repo), ["v1"]);
    let index = env
        .registry
        .manifest(&repo, "v1")
        .expect("pushed index is in the registry");
    assert_eq!(
        index.json["manifests"].as_array().map(Vec::len),
        Some(2),
        "the pushed index should list exactly two manifests: {}",
        index.json
    );
    let manifests = env.registry.platform_manifests(&repo, "v1");
    let platforms: Vec<&str> = manifests.iter().map(|m| m.platform.as_str()).collect();
    assert_eq!(platforms, PLATFORMS);

    let scratch = fx.scratch("layers");
    for m in &manifests {
        let config_digest = m.manifest["config"]["digest"].as_str().expect("config");
        let config: Value =
            serde_json::from_slice(&env.registry.blob(&repo, config_digest)).expect("config JSON");
        assert_config(&config, &m.platform, &label);
        // The layers read back from the registry hold the image root; check the manifest is the
        // one rendered for this platform.
        let mut found_manifest = false;
        for (i, layer) in m.manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .enumerate()
        {
            let digest = layer["digest"].as_str().expect("layer digest");
            let path = scratch.join(format!("{}-{i}.tar", m.platform.replace('/', "_")));
            fs::write(&path, env.registry.blob(&repo, digest)).unwrap();
            let out = std::process::Command::new("tar")
                .arg("-xOf")
                .arg(&path)
                .arg("manifest.yaml")
                .output()
                .expect("run tar");
            if out.status.success() {
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    text.contains(&format!("built for {}.", arch_var(&m.platform))),
                    "{}: pushed manifest.yaml: {text}",
                    m.platform
                );
                found_manifest = true;
            }
        }
        assert!(
            found_manifest,
            "{}: no layer holds manifest.yaml",
            m.platform
        );
    }
    env.registry.delete(&repo, "v1");
}

#[test]
fn an_unchanged_build_is_fully_cached_and_a_change_rebuilds_only_that_package_and_dependents() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let fx = FrontendFixture::new();
    let out = fx.scratch("out");
    let first = fx.build().output_oci(out.join("first.tar")).run();
    first.assert_success();
    let hits_after_first = fx.server.hits("payload.txt");

    let started = Instant::now();
    let second = fx.build().output_oci(out.join("second.tar")).run();
    let cached_secs = started.elapsed().as_secs_f64();
    second.assert_success();
    eprintln!(
        "figure: fully cached build of the fixture (2 platforms, OCI export): {cached_secs:.2}s"
    );

    // Fully cached: every vertex of the second run is CACHED, except those that BuildKit reports as
    // done without doing build work (buildx's own steps, the exporter, and vertices without inputs:
    // image/local/HTTP sources and `mkdir /pkg` on scratch, whose "run" is computing their cache
    // key). Every exec (scripts, sha512 verification, validation), copy, merge and finalize must be
    // CACHED. The HTTP source is additionally checked by the server not being asked again.
    let vertices = progress::parse(&second.output);
    let ran = progress::worked(&vertices);
    assert!(
        ran.is_empty(),
        "the second build ran {:?}:\n{}",
        ran.iter().map(|v| &v.name).collect::<Vec<_>>(),
        progress::summary(&vertices)
    );
    for platform in PLATFORMS {
        let names = [
            format!("[{platform}] fixture-ext: validate extension image"),
            format!("[{platform}] fixture-ext: step 2 install 1/1"),
            format!("[{platform}] greeting: install 1/1"),
        ];
        progress::assert_each(
            &vertices,
            &names,
            progress::Vertex::cached,
            "CACHED in the second build",
        );
    }
    assert_eq!(
        fx.server.hits("payload.txt"),
        hits_after_first,
        "the cached build downloaded the source again"
    );

    // Change one file of `greeting`: only greeting and its dependent fixture-ext may rebuild;
    // toolchain stays cached.
    let new_greeting = format!(
        "hello from a changed greeting {}\n",
        common::unique_name("g")
    );
    fs::write(fx.path("greeting/message.txt"), &new_greeting).unwrap();
    let third_tar = out.join("third.tar");
    let third = fx.build().output_oci(&third_tar).run();
    third.assert_success();
    let vertices = progress::parse(&third.output);
    let ran = progress::worked(&vertices);
    let outside: Vec<&str> = ran
        .iter()
        .filter(|v| !matches!(v.package(), Some("greeting" | "fixture-ext")))
        .map(|v| v.name.as_str())
        .collect();
    assert!(
        outside.is_empty(),
        "vertices of other packages ran after changing greeting: {outside:?}\n{}",
        progress::summary(&vertices)
    );
    for platform in PLATFORMS {
        for name in [
            format!("[{platform}] greeting: install 1/1"),
            format!("[{platform}] fixture-ext: step 2 install 1/1"),
            format!("[{platform}] fixture-ext: validate extension image"),
        ] {
            assert!(
                ran.iter().any(|v| v.name == name),
                "{name} did not rerun after changing greeting:\n{}",
                progress::summary(&vertices)
            );
        }
    }
    // The change really reached the image.
    let oci = OciArchive::open(&third_tar);
    let root = fx.scratch("third-amd64");
    oci.extract_platform("linux/amd64", &root);
    assert_eq!(
        read(&root.join("rootfs").join(EXTENSION_DIR).join("greeting")),
        new_greeting
    );
}

/// Splits the README's shell command (backslash-newline continuations, no quoting in it) into words.
fn readme_build_command() -> Vec<String> {
    let readme = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"));
    let start = readme
        .find("docker buildx build -f extensions/Pkgfile")
        .expect("README shows `docker buildx build -f extensions/Pkgfile …`");
    let mut command = String::new();
    for line in readme[start..].lines() {
        match line.trim_end().strip_suffix('\\') {
            Some(continued) => {
                command.push_str(continued);
                command.push(' ');
            }
            None => {
                command.push_str(line);
                break;
            }
        }
    }
    assert!(
        !command.contains(['"', '\'', '$']),
        "the README command needs a shell to split: {command}"
    );
    command.split_whitespace().map(String::from).collect()
}

#[test]
fn the_readme_command_builds_and_pushes_hello_service() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let words = readme_build_command();
    assert_eq!(&words[..3], ["docker", "buildx", "build"]);
    // The README's command, word for word, except: the tag points at the local registry, and two
    // arguments this machine needs are added — the frontend image under test (the Pkgfile's syntax
    // line names a published image that cannot be pulled here) and the busybox toolchain image
    // replaced through a named context (nothing can be pulled from Docker Hub).
    let repo = format!("kiln-e2e/{}", common::unique_name("readme"));
    let tag = env.registry.reference(&repo, "v1.0.0");
    let mut args: Vec<String> = Vec::new();
    let mut replaced_tag = false;
    let mut words_iter = words[2..].iter();
    while let Some(word) = words_iter.next() {
        args.push(word.clone());
        if word == "-t" {
            let original = words_iter.next().expect("a tag after -t");
            assert!(
                original.ends_with("/hello-service:v1.0.0"),
                "README tag {original}"
            );
            args.push(tag.clone());
            replaced_tag = true;
        }
    }
    assert!(replaced_tag, "the README command has no -t: {words:?}");
    assert!(args.iter().any(|a| a == "--push"), "README command pushes");
    let context = args.pop().expect("context argument");
    assert_eq!(context, "extensions");
    args.extend(
        [
            "--progress=plain",
            "--build-arg",
            &format!("BUILDKIT_SYNTAX={}", env.kiln_image),
            "--build-context",
            &format!(
                "docker.io/library/busybox:1.37-musl=docker-image://{}",
                common::BUSYBOX_IMAGE
            ),
            &context,
        ]
        .map(String::from),
    );
    let mut command = std::process::Command::new("docker");
    command.args(&args).current_dir(env!("CARGO_MANIFEST_DIR"));
    common::run_combined(command).assert_success();

    let manifests = env.registry.platform_manifests(&repo, "v1.0.0");
    let platforms: Vec<&str> = manifests.iter().map(|m| m.platform.as_str()).collect();
    assert_eq!(platforms, PLATFORMS);
    // Read each platform's layers back from the registry and check what they hold.
    for m in &manifests {
        let config_digest = m.manifest["config"]["digest"].as_str().unwrap();
        let config: Value =
            serde_json::from_slice(&env.registry.blob(&repo, config_digest)).unwrap();
        assert_eq!(
            config["config"]["Labels"]["org.opencontainers.image.source"],
            "https://github.com/kiln-build/kiln"
        );
        let dir = tempfile::tempdir().unwrap();
        for (i, layer) in m.manifest["layers"].as_array().unwrap().iter().enumerate() {
            let path = dir.path().join(format!("layer-{i}.tar"));
            fs::write(
                &path,
                env.registry.blob(&repo, layer["digest"].as_str().unwrap()),
            )
            .unwrap();
            let status = std::process::Command::new("tar")
                .arg("-xf")
                .arg(&path)
                .arg("-C")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let busybox = fs::read(
            dir.path()
                .join("rootfs/usr/local/lib/containers/hello-service/bin/busybox"),
        )
        .expect("hello-service ships busybox");
        assert_eq!(common::elf_machine(&busybox), Some(machine_of(&m.platform)));
        let manifest = read(&dir.path().join("manifest.yaml"));
        assert!(
            manifest.contains(&format!("greeting on {}", arch_var(&m.platform))),
            "{manifest}"
        );
    }
    env.registry.delete(&repo, "v1.0.0");
}

#[test]
fn frontend_image_size_is_reported() {
    let Some(env) = common::require_kiln() else {
        return;
    };
    let out = common::docker(&["image", "inspect", "--format", "{{.Size}}", &env.kiln_image]);
    out.assert_success();
    let bytes: u64 = out.output.trim().parse().expect("image size in bytes");
    eprintln!(
        "figure: frontend image {} is {bytes} bytes ({:.1} MiB, docker image inspect .Size)",
        env.kiln_image,
        bytes as f64 / (1024.0 * 1024.0)
    );
    // A static binary FROM scratch: anything near a distribution base image means it is not.
    assert!(
        bytes > 1_000_000 && bytes < 60_000_000,
        "unexpected frontend image size {bytes}"
    );
}

#[test]
fn plain_progress_parser_reads_blocks_statuses_and_names() {
    let out = "#1 [internal] load build definition from Pkgfile\n#1 transferring dockerfile: 1B done\n#1 DONE 0.0s\n\n\
#7 [linux/arm64] greeting: install 1/1\n#7 ...\n\n#8 [linux/amd64] fixture-ext: step 1 build 1/1\n#8 CACHED\n\n\
#7 [linux/arm64] greeting: install 1/1\n#7 0.25 hello\n#7 DONE 0.4s\n\n#9 [linux/amd64] x: test 1/1\n#9 ERROR: exit code: 1\n";
    let v = progress::parse(out);
    assert_eq!(v.len(), 4);
    assert_eq!(v[1].name, "[linux/arm64] greeting: install 1/1");
    assert!(v[1].ran() && !v[1].cached());
    assert_eq!(v[1].lines, ["...", "0.25 hello"]);
    assert_eq!(v[1].package(), Some("greeting"));
    assert_eq!(v[1].platform(), Some("linux/arm64"));
    assert!(v[2].cached());
    assert_eq!(v[3].error.as_deref(), Some("exit code: 1"));
    assert!(v[0].is_input_free_or_client_side());
    assert!(!v[1].is_input_free_or_client_side());
    assert_eq!(progress::worked(&v).len(), 2);
}
