//! Inputs other than a plain directory: image-root tars, OCI layouts (directory and tarball, two
//! platforms, gzip and plain layers, whiteouts), the CLI's exit codes, and a local registry.

mod common;

use std::io::Write;
use std::path::Path;

use common::{assert_clean, assert_has, dump, GOOD_MANIFEST};
use kiln_validate::{cli, load, rule, validate, Options, Severity::*};
use serde_json::json;
use sha2::{Digest, Sha256};

enum Kind<'a> {
    File(&'a str),
    Dir,
    Link(&'a str),
    Symlink(&'a str),
}

fn tar_of(entries: &[(&str, Kind<'_>, u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, mode) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_mode(*mode);
        header.set_mtime(0);
        match kind {
            Kind::File(data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                builder
                    .append_data(&mut header, path, data.as_bytes())
                    .expect("append");
            }
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, &[][..])
                    .expect("append");
            }
            Kind::Link(target) | Kind::Symlink(target) => {
                let t = if matches!(kind, Kind::Link(_)) {
                    tar::EntryType::Link
                } else {
                    tar::EntryType::Symlink
                };
                header.set_entry_type(t);
                header.set_size(0);
                builder
                    .append_link(&mut header, path, target)
                    .expect("append");
            }
        }
    }
    builder.into_inner().expect("tar")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// How a test layer is compressed.
#[derive(Clone, Copy)]
enum Layer {
    Plain,
    Gzip,
    Zstd,
}

/// Blobs of a test image, written to a layout directory or pushed to a registry.
#[derive(Default)]
struct Image {
    blobs: Vec<(String, Vec<u8>, &'static str)>,
    top_index: Vec<u8>,
}

impl Image {
    fn add(&mut self, data: Vec<u8>, media_type: &'static str) -> serde_json::Value {
        let d = digest(&data);
        let descriptor = json!({"mediaType": media_type, "digest": d, "size": data.len()});
        self.blobs.push((d, data, media_type));
        descriptor
    }

    fn add_manifest(&mut self, arch: &str, layers: Vec<(Vec<u8>, Layer)>) -> serde_json::Value {
        let config = self.add(
            serde_json::to_vec(&json!({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})).expect("json"),
            "application/vnd.oci.image.config.v1+json",
        );
        let layers: Vec<_> = layers
            .into_iter()
            .map(|(data, compression)| match compression {
                Layer::Gzip => self.add(gzip(&data), "application/vnd.oci.image.layer.v1.tar+gzip"),
                Layer::Zstd => self.add(
                    ruzstd::encoding::compress_to_vec(
                        &data[..],
                        ruzstd::encoding::CompressionLevel::Fastest,
                    ),
                    "application/vnd.oci.image.layer.v1.tar+zstd",
                ),
                Layer::Plain => self.add(data, "application/vnd.oci.image.layer.v1.tar"),
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": layers,
        });
        let mut d = self.add(
            serde_json::to_vec(&manifest).expect("json"),
            "application/vnd.oci.image.manifest.v1+json",
        );
        d["platform"] = json!({"os": "linux", "architecture": arch});
        d
    }
}

/// Two platforms as BuildKit writes them (index.json -> nested index -> manifests, plus an
/// attestation manifest). amd64 (a gzip and a plain layer) is clean only thanks to its second
/// layer's whiteouts; arm64 (one zstd layer) ships a disallowed path and a hard link.
fn two_platform_image() -> Image {
    let mut image = Image::default();
    let base = tar_of(&[
        ("manifest.yaml", Kind::File(GOOD_MANIFEST), 0o644),
        ("rootfs/", Kind::Dir, 0o755),
        ("rootfs/usr/local/bin/hello", Kind::File("bin"), 0o755),
        ("rootfs/boot/vmlinuz", Kind::File(""), 0o644),
        ("rootfs/usr/local/share/old/x.sh", Kind::File(""), 0o666),
    ]);
    let fix = tar_of(&[
        ("rootfs/.wh.boot", Kind::File(""), 0o644),
        ("rootfs/usr/local/share/.wh..wh..opq", Kind::File(""), 0o644),
        ("rootfs/usr/local/share/new", Kind::File(""), 0o644),
    ]);
    let amd64 = image.add_manifest("amd64", vec![(base, Layer::Gzip), (fix, Layer::Plain)]);
    let arm = tar_of(&[
        ("./manifest.yaml", Kind::File(GOOD_MANIFEST), 0o644),
        ("./rootfs/usr/local/bin/hello", Kind::File("bin"), 0o755),
        (
            "./rootfs/usr/local/bin/hello2",
            Kind::Link("./rootfs/usr/local/bin/hello"),
            0o755,
        ),
        (
            "./rootfs/usr/local/bin/sh",
            Kind::Symlink("/bin/busybox"),
            0o777,
        ),
        ("./rootfs/boot/vmlinuz", Kind::File(""), 0o644),
    ]);
    let arm64 = image.add_manifest("arm64", vec![(arm, Layer::Zstd)]);
    let mut attestation = amd64.clone();
    attestation["platform"] = json!({"os": "unknown", "architecture": "unknown"});
    attestation["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest"});
    let inner = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd64, arm64, attestation],
    });
    let inner = image.add(
        serde_json::to_vec(&inner).expect("json"),
        "application/vnd.oci.image.index.v1+json",
    );
    image.top_index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [inner],
    }))
    .expect("json");
    image
}

fn write_layout(image: &Image, dir: &Path) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir");
    for (d, data, _) in &image.blobs {
        let hex = d.trim_start_matches("sha256:");
        std::fs::write(dir.join("blobs/sha256").join(hex), data).expect("blob");
    }
    std::fs::write(dir.join("index.json"), &image.top_index).expect("index");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
}

fn check_two_platforms(input: &str) {
    let targets = load(input, None).unwrap_or_else(|e| panic!("{e}"));
    let platforms: Vec<_> = targets.iter().map(|t| t.platform.as_deref()).collect();
    assert_eq!(platforms, [Some("linux/amd64"), Some("linux/arm64")]);
    let amd64 = validate(&targets[0].tree, &Options::default());
    assert_clean(&amd64);
    assert!(targets[0].tree.get("rootfs/usr/local/share/new").is_some());
    assert!(targets[0].tree.get("rootfs/usr/local/share/old").is_none());
    let arm64 = validate(&targets[1].tree, &Options::default());
    assert_has(
        &arm64,
        Error,
        &rule::PATH_NOT_ALLOWED,
        "rootfs/boot/vmlinuz",
        "\"/boot/vmlinuz\"",
    );
    assert_has(
        &arm64,
        Error,
        &rule::HARDLINK,
        "rootfs/usr/local/bin/hello2",
        "is a hard link to \"/usr/local/bin/hello\"",
    );
    assert_has(
        &arm64,
        Warning,
        &rule::SYMLINK_TARGET,
        "rootfs/usr/local/bin/sh",
        "/bin/busybox",
    );
    assert_eq!(arm64.violations.len(), 3, "{}", dump(&arm64));

    let only = load(input, Some("linux/arm64")).expect("loads");
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].platform.as_deref(), Some("linux/arm64"));
    let err = load(input, Some("linux/s390x")).expect_err("no such platform");
    assert!(err.message.contains("no manifest for platform linux/s390x; the image has platforms linux/amd64, linux/arm64"), "{err}");
}

#[test]
fn oci_layout_directory_two_platforms_with_whiteouts() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_layout(&two_platform_image(), dir.path());
    check_two_platforms(dir.path().to_str().expect("utf-8"));
}

#[test]
fn oci_tarball() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("layout");
    write_layout(&two_platform_image(), &layout);
    let tar_path = dir.path().join("image.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&tar_path).expect("create"));
    builder.append_dir_all(".", &layout).expect("tar");
    builder.finish().expect("tar");
    drop(builder);
    check_two_platforms(tar_path.to_str().expect("utf-8"));
}

#[test]
fn oci_tarball_gzip_and_zstd_compressed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("layout");
    write_layout(&two_platform_image(), &layout);
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_dir_all(".", &layout).expect("tar");
    let tar = builder.into_inner().expect("tar");
    let gz = dir.path().join("image.tar.gz");
    std::fs::write(&gz, gzip(&tar)).expect("write");
    check_two_platforms(gz.to_str().expect("utf-8"));
    let zst = dir.path().join("image.tar.zst");
    std::fs::write(
        &zst,
        ruzstd::encoding::compress_to_vec(&tar[..], ruzstd::encoding::CompressionLevel::Fastest),
    )
    .expect("write");
    check_two_platforms(zst.to_str().expect("utf-8"));
}

#[test]
fn corrupted_blob_is_unreadable_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = two_platform_image();
    write_layout(&image, dir.path());
    // Flip the first layer blob of amd64 (the largest gzip blob is a layer; any blob will do).
    let (d, data, _) = image
        .blobs
        .iter()
        .find(|(_, _, m)| m.ends_with("tar+gzip"))
        .expect("layer");
    let mut bad = data.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    std::fs::write(
        dir.path()
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:")),
        bad,
    )
    .expect("write");
    let err = load(dir.path().to_str().expect("utf-8"), None).expect_err("corrupt");
    assert!(err.to_string().contains(d), "{err}");
}

#[test]
fn image_root_tar_plain_and_gzip() {
    let bad = tar_of(&[
        ("manifest.yaml", Kind::File(GOOD_MANIFEST), 0o644),
        ("rootfs/usr/local/bin/a", Kind::File("x"), 0o755),
        (
            "rootfs/usr/local/bin/b",
            Kind::Link("rootfs/usr/local/bin/a"),
            0o755,
        ),
    ]);
    let good = tar_of(&[
        ("manifest.yaml", Kind::File(GOOD_MANIFEST), 0o644),
        ("rootfs/usr/local/bin/a", Kind::File("x"), 0o755),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, data) in [("bad.tar", bad.clone()), ("bad.tar.gz", gzip(&bad))] {
        let p = dir.path().join(name);
        std::fs::write(&p, data).expect("write");
        let targets = load(p.to_str().expect("utf-8"), None).expect("loads");
        assert_eq!(targets[0].platform, None);
        let r = validate(&targets[0].tree, &Options::default());
        assert_has(
            &r,
            Error,
            &rule::HARDLINK,
            "rootfs/usr/local/bin/b",
            "is a hard link to \"/usr/local/bin/a\"",
        );
    }
    let p = dir.path().join("good.tar");
    std::fs::write(&p, good).expect("write");
    let targets = load(p.to_str().expect("utf-8"), None).expect("loads");
    assert_clean(&validate(&targets[0].tree, &Options::default()));
}

fn args(path: &str) -> cli::Args {
    <cli::Args as clap::Parser>::parse_from(["validate", path])
}

#[test]
fn cli_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_layout(&two_platform_image(), dir.path());
    let input = dir.path().to_str().expect("utf-8");
    assert_eq!(cli::run(&args(input)), 1, "arm64 has errors");
    let amd64 = cli::Args {
        platform: Some("linux/amd64".into()),
        ..args(input)
    };
    assert_eq!(cli::run(&amd64), 0);
    let json = cli::Args {
        json: true,
        ..args(input)
    };
    assert_eq!(cli::run(&json), 1);
    assert_eq!(cli::run(&args("/nonexistent/kiln-validate-input")), 2);
    let garbage = dir.path().join("garbage");
    std::fs::write(
        &garbage,
        b"not a tar at all, just some bytes that are long enough",
    )
    .expect("write");
    assert_eq!(cli::run(&args(garbage.to_str().expect("utf-8"))), 2);
    let wrong_name = cli::Args {
        pkg_name: Some("other".into()),
        platform: Some("linux/amd64".into()),
        ..args(input)
    };
    assert_eq!(cli::run(&wrong_name), 1);
}

#[test]
fn cli_parses_flags() {
    use clap::Parser;
    let a = cli::Args::try_parse_from([
        "validate",
        "/image",
        "--talos-version",
        "v1.12",
        "--pkg-name",
        "hello",
        "--kernel-release",
        "6.18.1-talos",
        "--platform",
        "linux/arm64",
        "--json",
    ])
    .expect("parses");
    assert_eq!(
        a.talos_version.map(|v| v.to_string()).as_deref(),
        Some("v1.12.0")
    );
    assert_eq!(a.pkg_name.as_deref(), Some("hello"));
    assert!(a.json);
    let err = cli::Args::try_parse_from(["validate", "/image", "--talos-version", "latest"])
        .expect_err("bad version");
    assert!(err.to_string().contains("invalid Talos version"), "{err}");
}

fn registry_listening() -> bool {
    std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5000".parse().expect("addr"),
        std::time::Duration::from_millis(300),
    )
    .is_ok()
}

/// Pushes the image with the registry API (monolithic uploads) and returns the index digest.
fn push(image: &Image, repo: &str, tag: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://127.0.0.1:5000/v2/{repo}");
    let top: serde_json::Value = serde_json::from_slice(&image.top_index).expect("json");
    let inner_digest = top["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    // Blobs first, then manifests (children before the index that refers to them).
    let is_manifest = |m: &str| m.contains("manifest") || m.contains("index");
    for (d, data, media_type) in image.blobs.iter().filter(|(_, _, m)| !is_manifest(m)) {
        let r = agent
            .post(&format!("{base}/blobs/uploads/"))
            .send_empty()
            .expect("post");
        assert_eq!(
            r.status().as_u16(),
            202,
            "start upload of {d} ({media_type})"
        );
        let location = r
            .headers()
            .get("location")
            .and_then(|h| h.to_str().ok())
            .expect("location")
            .to_owned();
        let url = if location.starts_with('/') {
            format!("http://127.0.0.1:5000{location}")
        } else {
            location
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let r = agent
            .put(&format!("{url}{sep}digest={d}"))
            .header("Content-Type", "application/octet-stream")
            .send(&data[..])
            .expect("put");
        assert_eq!(r.status().as_u16(), 201, "upload {d}");
    }
    for (d, data, media_type) in image.blobs.iter().filter(|(_, _, m)| is_manifest(m)) {
        let reference = if *d == inner_digest {
            tag.to_owned()
        } else {
            d.clone()
        };
        if *d == inner_digest {
            continue; // pushed last, under the tag
        }
        let r = agent
            .put(&format!("{base}/manifests/{reference}"))
            .header("Content-Type", *media_type)
            .send(&data[..])
            .expect("put manifest");
        assert_eq!(r.status().as_u16(), 201, "manifest {d}");
    }
    let (_, data, media_type) = image
        .blobs
        .iter()
        .find(|(d, _, _)| *d == inner_digest)
        .expect("inner");
    let r = agent
        .put(&format!("{base}/manifests/{tag}"))
        .header("Content-Type", *media_type)
        .send(&data[..])
        .expect("put index");
    assert_eq!(r.status().as_u16(), 201, "index");
    inner_digest
}

#[test]
fn registry_reference_against_local_registry() {
    if !registry_listening() {
        eprintln!("skipping registry_reference_against_local_registry: nothing listens on 127.0.0.1:5000 (start it with hack/env-up.sh)");
        return;
    }
    let image = two_platform_image();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let repo = format!("kiln-validate-test/img{}-{nanos}", std::process::id());
    let index_digest = push(&image, &repo, "v1");
    // The pushed index is the nested one, so point the loader at it by tag and by digest.
    for reference in [
        format!("127.0.0.1:5000/{repo}:v1"),
        format!("127.0.0.1:5000/{repo}@{index_digest}"),
    ] {
        check_two_platforms(&reference);
    }
    let err = load(&format!("127.0.0.1:5000/{repo}:missing"), None).expect_err("no such tag");
    assert!(err.message.contains("HTTP 404"), "{err}");
}
