//! Smoke tests of the end-to-end environment itself (no kiln involved): the multi-arch base images
//! exist, BuildKit runs arm64 steps under emulation, the local registry takes and returns pushes, and
//! HTTP sources from the test file server reach BuildKit. If these fail, kiln's e2e tests cannot pass;
//! run hack/env-up.sh. Also checks the harness's own HTTP server and client, which need no Docker.

mod common;

use common::{Buildx, FileServer, OciArchive, BUSYBOX_IMAGE};
use std::fs;
use std::path::Path;

/// Writes `Dockerfile` with `body` into a fresh context directory.
fn context_with(body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary build context");
    fs::write(dir.path().join("Dockerfile"), body).expect("write Dockerfile");
    dir
}

fn elf_machine_of(path: &Path) -> Option<&'static str> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    common::elf_machine(&bytes)
}

#[test]
fn busybox_base_image_is_local_for_amd64_and_arm64() {
    let Some(_env) = common::require_docker() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("busybox.tar");
    common::docker(&["save", "-o", saved.to_str().unwrap(), BUSYBOX_IMAGE]).assert_success();

    let oci = OciArchive::open(&saved);
    let platforms: Vec<String> = oci
        .platform_manifests()
        .into_iter()
        .map(|m| m.platform)
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    for (platform, machine) in [("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")] {
        let root = dir.path().join(platform.replace('/', "_"));
        oci.extract_platform(platform, &root);
        assert_eq!(
            elf_machine_of(&root.join("bin/busybox")),
            Some(machine),
            "{platform} busybox"
        );
        let sh = fs::read_link(root.join("bin/sh")).expect("/bin/sh is a symlink to busybox");
        assert_eq!(sh, Path::new("/bin/busybox"));
        assert_eq!(
            oci.config(platform)["architecture"],
            platform.rsplit('/').next().unwrap()
        );
    }
}

#[test]
fn arm64_steps_run_under_emulation() {
    let Some(_env) = common::require_docker() else {
        return;
    };
    let context = context_with(&format!("FROM {BUSYBOX_IMAGE}\nRUN uname -m > /arch\n"));
    let out = tempfile::tempdir().unwrap();
    Buildx::new(context.path())
        .platform("linux/amd64,linux/arm64")
        .no_cache()
        .output_local(out.path())
        .run()
        .assert_success();
    // The local exporter writes one directory per platform for a multi-platform build.
    let arch = |p: &str| {
        fs::read_to_string(out.path().join(p).join("arch"))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(arch("linux_amd64"), "x86_64");
    assert_eq!(arch("linux_arm64"), "aarch64");
}

#[test]
fn multi_platform_push_reads_back_from_local_registry() {
    let Some(env) = common::require_registry() else {
        return;
    };
    let repo = format!("kiln-e2e/{}", common::unique_name("env-push"));
    let context = context_with(&format!(
        "FROM {BUSYBOX_IMAGE}\nARG TARGETARCH\nRUN echo \"built for $TARGETARCH\" > /marker\n"
    ));
    Buildx::new(context.path())
        .platform("linux/amd64,linux/arm64")
        .tag(&env.registry.reference(&repo, "v1"))
        .push()
        .run()
        .assert_success();

    assert_eq!(env.registry.tags(&repo), ["v1"]);
    let manifests = env.registry.platform_manifests(&repo, "v1");
    let platforms: Vec<&str> = manifests.iter().map(|m| m.platform.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    for m in &manifests {
        let config_digest = m.manifest["config"]["digest"]
            .as_str()
            .expect("config digest");
        let config: serde_json::Value =
            serde_json::from_slice(&env.registry.blob(&repo, config_digest)).unwrap();
        assert_eq!(
            format!("linux/{}", config["architecture"].as_str().unwrap()),
            m.platform
        );
    }

    env.registry.delete(&repo, "v1");
    assert!(
        env.registry.manifest(&repo, "v1").is_none(),
        "deleted tag still resolves"
    );
}

#[test]
fn oci_export_holds_each_platform_and_http_sources_reach_buildkit() {
    let Some(_env) = common::require_docker() else {
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let payload = format!("payload {}\n", common::unique_name("src"));
    fs::write(files.path().join("payload.txt"), &payload).unwrap();
    let server = FileServer::serve(files.path());

    let context = context_with(&format!(
        "FROM {BUSYBOX_IMAGE}\nADD {} /payload.txt\nRUN cp /bin/busybox /copied && uname -m > /arch\n",
        server.url("payload.txt")
    ));
    let out = tempfile::tempdir().unwrap();
    let tarball = out.path().join("image.tar");
    Buildx::new(context.path())
        .platform("linux/amd64,linux/arm64")
        .output_oci(&tarball)
        .run()
        .assert_success();
    assert!(
        server.hits("payload.txt") >= 1,
        "BuildKit never fetched the HTTP source"
    );

    let oci = OciArchive::open(&tarball);
    let platforms: Vec<String> = oci
        .platform_manifests()
        .into_iter()
        .map(|m| m.platform)
        .collect();
    assert_eq!(
        platforms,
        ["linux/amd64", "linux/arm64"],
        "exactly the two platforms, no attestations"
    );
    let root = out.path().join("arm64");
    oci.extract_platform("linux/arm64", &root);
    assert_eq!(
        fs::read_to_string(root.join("payload.txt")).unwrap(),
        payload
    );
    assert_eq!(
        fs::read_to_string(root.join("arch")).unwrap().trim(),
        "aarch64"
    );
    assert_eq!(elf_machine_of(&root.join("copied")), Some("aarch64"));
}

#[test]
fn file_server_serves_files_and_counts_requests() {
    let files = tempfile::tempdir().unwrap();
    // Large enough to need several reads on both sides.
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(files.path().join("blob.bin"), &body).unwrap();
    let server = FileServer::serve(files.path());
    let addr = server
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();

    let got = common::http_request("GET", &addr, "/blob.bin", &[]).unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-length"), Some("200000"));
    assert!(got.body == body, "body differs from the served file");

    let head = common::http_request("HEAD", &addr, "/blob.bin", &[]).unwrap();
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(
        common::http_request("GET", &addr, "/missing", &[])
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        common::http_request("GET", &addr, "/../etc/passwd", &[])
            .unwrap()
            .status,
        404
    );
    assert_eq!(server.hits("blob.bin"), 2);
    assert_eq!(server.hits("missing"), 1);
}

#[test]
fn unique_names_differ_and_are_registry_safe() {
    let a = common::unique_name("Repo");
    let b = common::unique_name("Repo");
    assert_ne!(a, b);
    for name in [&a, &b] {
        assert!(name.starts_with("repo-"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
    }
}
