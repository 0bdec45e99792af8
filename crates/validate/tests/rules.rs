//! Every rule with a passing and a failing fixture built on disk by the test.

mod common;

use common::*;
use kiln_validate::{rule, Options, Severity::*, TalosVersion};

/// A realistic good extension: binaries, a service with a container rootfs (fhs-like, sticky tmp),
/// kernel modules, glibc-style symlinks into allowed points, udev rules and CRI config.
fn good() -> Fixture {
    let f = Fixture::new();
    f.write("rootfs/usr/local/bin/hello", "#!/bin/sh\n", 0o755);
    f.write("rootfs/usr/local/lib/libx.so.1", "elf", 0o644);
    f.symlink("rootfs/usr/local/lib/libx.so", "libx.so.1");
    f.symlink(
        "rootfs/usr/lib/ld-linux-x86-64.so.2",
        "/usr/local/lib/ld.so",
    );
    f.symlink("rootfs/usr/local/lib64", "lib/");
    f.write("rootfs/etc/cri/conf.d/10-hello.part", "[x]\n", 0o644);
    f.write(
        "rootfs/usr/lib/udev/rules.d/99-hello.rules",
        "# rules\n",
        0o644,
    );
    f.module(
        "rootfs/usr/lib/modules/6.18.1-talos/extras/hello.ko",
        "hello.ko",
    );
    f.write(
        "rootfs/usr/lib/modules/6.18.1-talos/modules.order",
        "",
        0o644,
    );
    f.write(
        "rootfs/usr/local/etc/containers/hello.yaml",
        "name: hello\ncontainer:\n  entrypoint: ./hello\n  args: [-v]\ndepends:\n  - service: cri\n  - network: [addresses, connectivity]\n  - path: /dev/hello\n  - time: true\n  - configuration: true\nrestart: untilSuccess\n",
        0o644,
    );
    f.write("rootfs/usr/local/lib/containers/hello/hello", "bin", 0o755);
    f.symlink("rootfs/usr/local/lib/containers/hello/bin", "usr/bin");
    f.symlink(
        "rootfs/usr/local/lib/containers/hello/etc/mtab",
        "/proc/mounts",
    );
    f.mkdir("rootfs/usr/local/lib/containers/hello/tmp", 0o1777);
    f
}

#[test]
fn good_extension_is_clean() {
    assert_clean(&good().check());
    assert_clean(&good().check_with(&Options {
        pkg_name: Some("hello".into()),
        kernel_release: Some("6.18.1-talos".into()),
        ..Options::default()
    }));
}

#[test]
fn image_root() {
    let f = good();
    f.mkdir("bin", 0o755);
    f.write(".wh.x", "", 0o644);
    let r = f.check();
    assert_has(
        &r,
        Error,
        &rule::IMAGE_ROOT,
        "bin",
        "unexpected file \"bin\"",
    );
    assert_has(
        &r,
        Error,
        &rule::IMAGE_ROOT,
        ".wh.x",
        "unexpected file \".wh.x\"",
    );

    let f = Fixture::new();
    std::fs::remove_dir(f.path("rootfs")).expect("rm");
    let r = f.check();
    assert_has(
        &r,
        Error,
        &rule::IMAGE_ROOT,
        "rootfs",
        "extension rootfs is missing",
    );

    let f = Fixture::new();
    std::fs::remove_file(f.path("manifest.yaml")).expect("rm");
    assert_has(
        &f.check(),
        Error,
        &rule::IMAGE_ROOT,
        "manifest.yaml",
        "extension manifest is missing",
    );

    let f = Fixture::new();
    std::fs::remove_dir(f.path("rootfs")).expect("rm");
    f.write("rootfs", "not a dir", 0o644);
    assert_has(
        &f.check(),
        Error,
        &rule::IMAGE_ROOT,
        "rootfs",
        "must be a directory, found a regular file",
    );

    // An architecture with nothing to ship: manifest + empty rootfs is fine.
    assert_clean(&Fixture::new().check());
}

#[test]
fn manifest_api_version_and_shape() {
    let f = Fixture::new();
    f.manifest(&GOOD_MANIFEST.replace("version: v1alpha1", "version: v1alpha2"));
    assert_has(
        &f.check(),
        Error,
        &rule::MANIFEST_API_VERSION,
        "manifest.yaml",
        "unsupported manifest version: \"v1alpha2\"",
    );

    f.manifest("---\n");
    assert_has(
        &f.check(),
        Error,
        &rule::MANIFEST_API_VERSION,
        "manifest.yaml",
        "unsupported manifest version: \"\"",
    );

    f.manifest("version: v1alpha1\nmetadata: [a, b]\n");
    assert_has(
        &f.check(),
        Error,
        &rule::MANIFEST_YAML,
        "manifest.yaml",
        "metadata must be a mapping, found a list",
    );

    f.manifest("version: v1alpha1\nmetadata:\n  name: [unclosed\n");
    assert_has(
        &f.check(),
        Error,
        &rule::MANIFEST_YAML,
        "manifest.yaml",
        "invalid YAML",
    );
}

#[test]
fn manifest_name_and_fields() {
    let f = Fixture::new();
    let opts = |name: &str| Options {
        pkg_name: Some(name.into()),
        ..Options::default()
    };
    assert_no(&f.check_with(&opts("hello")), &rule::MANIFEST_NAME);
    assert_has(
        &f.check_with(&opts("bar")),
        Error,
        &rule::MANIFEST_NAME,
        "manifest.yaml",
        "pkg name does not match extension name: bar != hello",
    );
    f.manifest(
        &GOOD_MANIFEST
            .replace("  author: Test Author\n", "")
            .replace("A test extension", "\"\""),
    );
    let r = f.check();
    assert_has(
        &r,
        Error,
        &rule::MANIFEST_FIELD,
        "manifest.yaml",
        "metadata.author is missing",
    );
    assert_has(
        &r,
        Error,
        &rule::MANIFEST_FIELD,
        "manifest.yaml",
        "metadata.description is missing",
    );

    f.manifest(&GOOD_MANIFEST.replace("  author:", "  homepage: x\n  author:"));
    let r = f.check();
    assert_has(
        &r,
        Warning,
        &rule::MANIFEST_UNKNOWN_KEY,
        "manifest.yaml",
        "line 5: unknown key \"metadata.homepage\"",
    );
    assert!(!r.has_errors());
}

#[test]
fn manifest_version_formats() {
    let f = Fixture::new();
    for good in [
        "1.29",
        "v2.14",
        "20260810.0",
        "9.3.3-v1.15.0",
        "abc1234-v1.15.0-3-gdeadbee-dirty",
    ] {
        f.manifest(&GOOD_MANIFEST.replace("\"1.0.0\"", &format!("\"{good}\"")));
        assert_no(&f.check(), &rule::MANIFEST_VERSION);
    }
    // Unquoted: Talos reads the source text, so 1.10 is "1.10", not the float 1.1.
    f.manifest(&GOOD_MANIFEST.replace("\"1.0.0\"", "1.10"));
    assert_no(&f.check(), &rule::MANIFEST_VERSION);
    for bad in ["latest", "1.2.3.4", "1.2.3+b1", "microcode-20210608-v1.0.0"] {
        f.manifest(&GOOD_MANIFEST.replace("\"1.0.0\"", &format!("\"{bad}\"")));
        assert_has(
            &f.check(),
            Error,
            &rule::MANIFEST_VERSION,
            "manifest.yaml",
            &format!("invalid version format {bad} for extension: hello"),
        );
    }
}

#[test]
fn compatibility_constraint() {
    let f = Fixture::new();
    let with = |c: &str| GOOD_MANIFEST.replace(">= v1.0.0", c);
    f.manifest(&with(">= v1.99.0"));
    assert_has(
        &f.check_for("v1.15.0"),
        Error,
        &rule::COMPATIBILITY,
        "manifest.yaml",
        "version constraint >= v1.99.0 can't be satisfied with Talos version v1.15.0",
    );
    f.manifest(&with(">= v1.15.0"));
    assert_no(&f.check_for("v1.15.0-beta.1"), &rule::COMPATIBILITY);
    assert_has(
        &f.check_for("v1.14.0"),
        Error,
        &rule::COMPATIBILITY,
        "manifest.yaml",
        "can't be satisfied",
    );
    for ok in [">=v1.10.0 <v2.0.0", "<1.5.0 || >=1.9.0", ""] {
        f.manifest(&with(ok));
        let r = f.check();
        assert_no(&r, &rule::COMPATIBILITY);
        assert_no(&r, &rule::COMPATIBILITY_SYNTAX);
    }
    for (bad, needle) in [
        (">= v1.10", "full X.Y.Z"),
        ("~> 1.2", "not supported"),
        ("^1.2.0", "not supported"),
    ] {
        f.manifest(&with(bad));
        assert_has(
            &f.check(),
            Error,
            &rule::COMPATIBILITY_SYNTAX,
            "manifest.yaml",
            needle,
        );
    }
    // Absent compatibility is fine.
    f.manifest(&GOOD_MANIFEST.replace(
        "  compatibility:\n    talos:\n      version: \">= v1.0.0\"\n",
        "",
    ));
    assert_clean(&f.check());
}

#[test]
fn paths_by_whole_components_and_talos_version() {
    let f = Fixture::new();
    f.write("rootfs/boot/vmlinuz", "", 0o644);
    f.write("rootfs/usr/lib64/a.so", "", 0o644);
    f.write("rootfs/usr/localfoo/x", "", 0o644);
    f.write("rootfs/etc/cri/conf.d.bak/x", "", 0o644);
    f.write("rootfs/usr/bin/nvme-evil", "", 0o644);
    f.write("rootfs/usr/local/ok", "", 0o644);
    let r = f.check();
    assert_has(
        &r,
        Error,
        &rule::PATH_NOT_ALLOWED,
        "rootfs/boot/vmlinuz",
        "path \"/boot/vmlinuz\" is not allowed in extensions for Talos v1.14.0",
    );
    assert_has(
        &r,
        Error,
        &rule::PATH_NOT_ALLOWED,
        "rootfs/usr/lib64/a.so",
        "allowed under",
    );
    assert_has(
        &r,
        Error,
        &rule::PATH_NOT_ALLOWED,
        "rootfs/usr/localfoo/x",
        "\"/usr/localfoo/x\"",
    );
    assert_has(
        &r,
        Error,
        &rule::PATH_NOT_ALLOWED,
        "rootfs/etc/cri/conf.d.bak/x",
        "(allowed under /etc/cri/conf.d)",
    );
    assert_has(
        &r,
        Error,
        &rule::PATH_NOT_ALLOWED,
        "rootfs/usr/bin/nvme-evil",
        "/usr/bin/nvme",
    );
    assert_eq!(r.errors().count(), 5, "{}", dump(&r));

    // Legacy /lib/firmware: fine before the usr merge, an error (with the move named) after.
    let f = Fixture::new();
    f.write("rootfs/lib/firmware/x.bin", "", 0o644);
    assert_no(&f.check_for("v1.9.0"), &rule::PATH_NOT_ALLOWED);
    assert_has(
        &f.check_for("v1.12.0"),
        Error,
        &rule::PATH_NOT_ALLOWED,
        "rootfs/lib/firmware/x.bin",
        "/lib/firmware moved to /usr/lib/firmware in Talos v1.10",
    );

    let f = Fixture::new();
    f.write("rootfs/usr/bin/nvme", "", 0o755);
    assert_no(&f.check(), &rule::PATH_NOT_ALLOWED);
    assert_has(
        &f.check_for("v1.13.0"),
        Error,
        &rule::PATH_NOT_ALLOWED,
        "rootfs/usr/bin/nvme",
        "allowed from Talos v1.14 on",
    );
}

#[test]
fn empty_dirs_outside_are_warnings() {
    let f = Fixture::new();
    f.mkdir("rootfs/opt/foo/bar", 0o755);
    f.mkdir("rootfs/usr/lib", 0o755); // an ancestor of allowed hierarchies: fine
    f.mkdir("rootfs/usr/local/empty", 0o755); // inside an allowed hierarchy: fine
    let r = f.check();
    assert_has(
        &r,
        Warning,
        &rule::EMPTY_DIR,
        "rootfs/opt",
        "directory \"/opt\" is outside the allowed hierarchies and holds nothing",
    );
    assert_eq!(
        r.violations.len(),
        1,
        "only the topmost empty directory: {}",
        dump(&r)
    );
    assert!(!r.has_errors());

    let f = Fixture::new();
    f.write("rootfs/opt/foo/x", "", 0o644);
    let r = f.check();
    assert_no(&r, &rule::EMPTY_DIR);
    assert_has(&r, Error, &rule::PATH_NOT_ALLOWED, "rootfs/opt/foo/x", "");
}

#[test]
fn hard_links() {
    let f = good();
    f.write("rootfs/usr/local/bin/a", "x", 0o755);
    std::fs::hard_link(
        f.path("rootfs/usr/local/bin/a"),
        f.path("rootfs/usr/local/bin/b"),
    )
    .expect("link");
    let r = f.check();
    assert_has(&r, Error, &rule::HARDLINK, "rootfs/usr/local/bin/b", "\"/usr/local/bin/b\" is a hard link to \"/usr/local/bin/a\"; Talos unpacks hard links as empty files");
    assert_eq!(r.errors().count(), 1, "{}", dump(&r));

    // A link whose other name lies outside the image is exported as a plain file: not reported.
    let outside = tempfile::tempdir().expect("tempdir");
    let f = good();
    std::fs::hard_link(
        f.path("rootfs/usr/local/bin/hello"),
        outside.path().join("peer"),
    )
    .expect("link");
    assert_clean(&f.check());
}

#[test]
fn special_files() {
    let f = good();
    let fifo = f.path("rootfs/usr/local/run.fifo");
    let c = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("cstring");
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    let _socket =
        std::os::unix::net::UnixListener::bind(f.path("rootfs/usr/local/s.sock")).expect("bind");
    let r = f.check();
    assert_has(
        &r,
        Error,
        &rule::SPECIAL_FILE,
        "rootfs/usr/local/run.fifo",
        "special files are not allowed: \"/usr/local/run.fifo\" is a FIFO",
    );
    assert_has(
        &r,
        Error,
        &rule::SPECIAL_FILE,
        "rootfs/usr/local/s.sock",
        "is a socket",
    );
}

#[test]
fn device_nodes_when_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping device_nodes_when_root: mknod needs root");
        return;
    }
    let f = good();
    for (name, kind) in [("null", libc::S_IFCHR), ("blk", libc::S_IFBLK)] {
        let p = f.path(&format!("rootfs/usr/local/{name}"));
        let c = std::ffi::CString::new(p.to_str().expect("utf-8")).expect("cstring");
        // SAFETY: valid path; device numbers are arbitrary.
        let rc = unsafe { libc::mknod(c.as_ptr(), kind | 0o600, libc::makedev(1, 3)) };
        if rc != 0 {
            eprintln!(
                "skipping device_nodes_when_root: mknod failed ({})",
                std::io::Error::last_os_error()
            );
            return;
        }
    }
    let r = f.check();
    assert_has(
        &r,
        Error,
        &rule::SPECIAL_FILE,
        "rootfs/usr/local/null",
        "is a character device",
    );
    assert_has(
        &r,
        Error,
        &rule::SPECIAL_FILE,
        "rootfs/usr/local/blk",
        "is a block device",
    );
}

#[test]
fn world_writable() {
    let f = good();
    f.write("rootfs/usr/local/bin/x", "", 0o666);
    f.mkdir("rootfs/usr/local/share/open", 0o777);
    f.mkdir("rootfs/usr/local/share/sticky", 0o1777);
    f.mkdir("rootfs/usr/local/lib/containers/hello/var/tmp", 0o777);
    let r = f.check();
    assert_has(
        &r,
        Error,
        &rule::WORLD_WRITABLE,
        "rootfs/usr/local/bin/x",
        "world-writeable files are not allowed: \"/usr/local/bin/x\" has mode 0666",
    );
    assert_has(
        &r,
        Error,
        &rule::WORLD_WRITABLE,
        "rootfs/usr/local/share/open",
        "need the sticky bit",
    );
    assert_has(
        &r,
        Error,
        &rule::WORLD_WRITABLE,
        "rootfs/usr/local/share/sticky",
        "only inside a service container rootfs",
    );
    assert_has(
        &r,
        Error,
        &rule::WORLD_WRITABLE,
        "rootfs/usr/local/lib/containers/hello/var/tmp",
        "need the sticky bit",
    );
    assert_eq!(r.errors().count(), 4, "{}", dump(&r));
    // good() has a 1777 tmp inside the container rootfs, which passes.
    assert_no(&good().check(), &rule::WORLD_WRITABLE);
}

#[test]
fn symlinks() {
    let f = Fixture::new();
    f.symlink("rootfs/bin", "usr/bin");
    f.symlink("rootfs/usr/local/bin/sh", "/bin/busybox");
    f.symlink("rootfs/usr/local/bin/up", "../../../sbin/x");
    f.symlink("rootfs/usr/bin/ldconfig", "/usr/local/sbin/ldconfig");
    let r = f.check();
    assert_has(
        &r,
        Error,
        &rule::PATH_NOT_ALLOWED,
        "rootfs/bin",
        "path \"/bin\" is not allowed",
    );
    assert_has(
        &r,
        Warning,
        &rule::SYMLINK_TARGET,
        "rootfs/usr/local/bin/sh",
        "points to \"/bin/busybox\" (/bin/busybox), outside the hierarchies",
    );
    assert_has(
        &r,
        Warning,
        &rule::SYMLINK_TARGET,
        "rootfs/usr/local/bin/up",
        "(/sbin/x)",
    );
    assert_no(&r, &rule::WORLD_WRITABLE);
    let targets: Vec<_> = r
        .violations
        .iter()
        .filter(|v| v.rule == &rule::SYMLINK_TARGET)
        .map(|v| v.path.as_str())
        .collect();
    // rootfs/bin -> usr/bin resolves to /usr/bin: outside too; ldconfig's target is allowed.
    assert_eq!(
        targets,
        [
            "rootfs/bin",
            "rootfs/usr/local/bin/sh",
            "rootfs/usr/local/bin/up"
        ]
    );
}

fn with_service(spec: &str) -> Fixture {
    let f = good();
    f.write("rootfs/usr/local/etc/containers/hello.yaml", spec, 0o644);
    f
}

#[test]
fn service_spec_fields() {
    let r = with_service("name: Foo\ncontainer:\n  entrypoint: ./hello\nrestart: always\n").check();
    assert_has(
        &r,
        Error,
        &rule::SERVICE_NAME,
        "rootfs/usr/local/etc/containers/hello.yaml",
        "name \"Foo\" is invalid",
    );

    let r = with_service("name: hello\ncontainer:\n  entryPoint: ./hello\n").check();
    let path = "rootfs/usr/local/etc/containers/hello.yaml";
    assert_has(
        &r,
        Error,
        &rule::SERVICE_RESTART,
        path,
        "restart kind is invalid",
    );
    assert_has(
        &r,
        Error,
        &rule::SERVICE_ENTRYPOINT,
        path,
        "container endpoint can't be empty",
    );
    assert_has(
        &r,
        Warning,
        &rule::SERVICE_UNKNOWN_KEY,
        path,
        "unknown key \"container.entryPoint\"",
    );

    let r = with_service("name: hello\ncontainer:\n  entrypoint: ./hello\nrestart: sometimes\n")
        .check();
    assert_has(&r, Error, &rule::SERVICE_RESTART, path, "\"sometimes\"");

    let r = with_service(
        "name: hello\ncontainer:\n  entrypoint: ./hello\nrestart: never\ndepends:\n  - {}\n  - path: ./x\n  - service: cri\n    path: /x\n  - network: [bogus]\n",
    )
    .check();
    assert_has(
        &r,
        Error,
        &rule::SERVICE_DEPENDS,
        path,
        "line 6: no dependency specified",
    );
    assert_has(
        &r,
        Error,
        &rule::SERVICE_DEPENDS,
        path,
        "line 7: path is not absolute: \"./x\"",
    );
    assert_has(
        &r,
        Error,
        &rule::SERVICE_DEPENDS,
        path,
        "line 8: more than a single dependency is set (service, path)",
    );
    assert_has(
        &r,
        Error,
        &rule::SERVICE_DEPENDS,
        path,
        "invalid network dependency \"bogus\"",
    );

    assert_no(
        &with_service("name: hello\ncontainer:\n  entrypoint: ./hello\nrestart: ALWAYS\n").check(),
        &rule::SERVICE_RESTART,
    );
}

#[test]
fn service_rootfs_and_entrypoint() {
    let path = "rootfs/usr/local/etc/containers/hello.yaml";
    let r = with_service("name: multipathd\ncontainer:\n  entrypoint: ./hello\nrestart: always\n")
        .check();
    assert_has(
        &r,
        Error,
        &rule::SERVICE_ROOTFS,
        path,
        "container rootfs directory /usr/local/lib/containers/multipathd/, which is missing",
    );

    let r = with_service("name: hello\ncontainer:\n  entrypoint: hello\nrestart: always\n").check();
    assert_has(
        &r,
        Error,
        &rule::SERVICE_ENTRYPOINT,
        path,
        "a bare name is searched in $PATH",
    );
    assert_has(
        &r,
        Error,
        &rule::SERVICE_ENTRYPOINT,
        path,
        "write \"./hello\"",
    );

    let r =
        with_service("name: hello\ncontainer:\n  entrypoint: /missing\nrestart: always\n").check();
    assert_has(&r, Error, &rule::SERVICE_ENTRYPOINT, path, "entrypoint \"/missing\" of service \"hello\" does not exist in its container rootfs /usr/local/lib/containers/hello/");

    let f = with_service("name: hello\ncontainer:\n  entrypoint: /bin/tool\nrestart: always\n");
    f.write(
        "rootfs/usr/local/lib/containers/hello/usr/bin/tool",
        "",
        0o644,
    );
    assert_has(&f.check(), Error, &rule::SERVICE_ENTRYPOINT, path, "resolves to \"/usr/local/lib/containers/hello/usr/bin/tool\", a regular file with mode 0644, which is not executable");
    f.write(
        "rootfs/usr/local/lib/containers/hello/usr/bin/tool",
        "",
        0o755,
    );
    assert_clean(&f.check());

    // A bare name found on $PATH (through the bin -> usr/bin symlink) is fine.
    let f = with_service("name: hello\ncontainer:\n  entrypoint: tool\nrestart: always\n");
    f.write(
        "rootfs/usr/local/lib/containers/hello/usr/bin/tool",
        "",
        0o755,
    );
    assert_clean(&f.check());

    // iscsi-tools style: the entrypoint comes through a bind mount from the extension's own files.
    let spec = "name: hello\ncontainer:\n  entrypoint: /usr/local/sbin/hellod\n  mounts:\n    - source: /usr/local/sbin\n      destination: /usr/local/sbin\n      type: bind\n      options: [bind, ro]\nrestart: always\n";
    let f = with_service(spec);
    f.write("rootfs/usr/local/sbin/hellod", "", 0o755);
    assert_clean(&f.check());
    let r = with_service(spec).check();
    assert_has(
        &r,
        Warning,
        &rule::SERVICE_ENTRYPOINT,
        path,
        "comes through a bind mount from /usr/local/sbin/hellod on the host",
    );
    assert!(!r.has_errors(), "{}", dump(&r));
}

#[test]
fn service_yml_is_a_warning() {
    let f = good();
    f.write(
        "rootfs/usr/local/etc/containers/other.yml",
        "name: x\n",
        0o644,
    );
    let r = f.check();
    assert_has(
        &r,
        Warning,
        &rule::SERVICE_YML,
        "rootfs/usr/local/etc/containers/other.yml",
        "Talos only reads *.yaml",
    );
    assert!(!r.has_errors());
}

#[test]
fn kernel_modules() {
    let f = good();
    f.mkdir("rootfs/usr/lib/modules/6.18.0-talos", 0o755);
    f.write("rootfs/usr/lib/modules/stray", "", 0o644);
    let r = f.check();
    assert_has(
        &r,
        Error,
        &rule::KERNEL_MODULES,
        "rootfs/usr/lib/modules",
        "must hold exactly one kernel release directory, found 2: 6.18.0-talos, 6.18.1-talos",
    );
    assert_has(
        &r,
        Error,
        &rule::KERNEL_MODULES,
        "rootfs/usr/lib/modules/stray",
        "\"stray\" is a regular file",
    );

    let r = good().check_with(&Options {
        kernel_release: Some("6.18.2-talos".into()),
        ..Options::default()
    });
    assert_has(
        &r,
        Error,
        &rule::KERNEL_MODULES,
        "rootfs/usr/lib/modules/6.18.1-talos",
        "does not match the target kernel \"6.18.2-talos\"",
    );

    // Before the usr merge the modules live in /lib/modules.
    let f = Fixture::new();
    f.write("rootfs/lib/modules/5.15.0-talos/a.ko", "", 0o644);
    f.write("rootfs/lib/modules/5.15.1-talos/a.ko", "", 0o644);
    let opts = Options {
        talos_version: Some(TalosVersion::parse("v1.5.0").expect("v")),
        ..Options::default()
    };
    assert_has(
        &f.check_with(&opts),
        Error,
        &rule::KERNEL_MODULES,
        "rootfs/lib/modules",
        "found 2",
    );

    // Talos v1.1 allows no modules directory at all: the path rule says so, the modules rule is
    // not checked there.
    let r = f.check_for("v1.1.0");
    assert!(!rule::KERNEL_MODULES.applies_to(&TalosVersion::parse("v1.1.0").expect("v")));
    assert_no(&r, &rule::KERNEL_MODULES);
    assert_has(
        &r,
        Error,
        &rule::PATH_NOT_ALLOWED,
        "rootfs/lib/modules/5.15.0-talos/a.ko",
        "",
    );
}

#[test]
fn every_reported_rule_is_in_the_catalog() {
    let f = Fixture::new();
    f.manifest("version: v1alpha2\nmetadata:\n  name: x\n  version: latest\n  extra: 1\n");
    f.write("rootfs/usr/bin/foo", "", 0o777);
    f.mkdir("rootfs/opt/empty", 0o755);
    f.symlink("rootfs/usr/local/bin/sh", "/bin/busybox");
    f.write(
        "rootfs/usr/local/etc/containers/bad.yaml",
        "name: Bad!\nrestart: sometimes\n",
        0o644,
    );
    f.write("rootfs/usr/local/etc/containers/old.yml", "", 0o644);
    f.mkdir("rootfs/usr/lib/modules", 0o755);
    let r = f.check();
    let catalog: Vec<&rule::Rule> = rule::all().collect();
    let mut ids: Vec<&str> = r.violations.iter().map(|v| v.rule.id).collect();
    ids.dedup();
    assert!(ids.len() >= 10, "{}", dump(&r));
    for v in &r.violations {
        assert!(
            catalog.contains(&v.rule),
            "{} is not in rule::all()",
            v.rule
        );
    }
}

#[test]
fn list_rules_prints_the_catalog() {
    let text = kiln_validate::cli::list_rules(false);
    assert_eq!(text.lines().count(), rule::all().count());
    let modules = text
        .lines()
        .find(|l| l.starts_with("kernel-modules "))
        .expect("kernel-modules listed");
    assert!(modules.contains("v1.2 and later"), "{modules}");
    assert!(modules.contains(rule::KERNEL_MODULES.summary), "{modules}");
    let json: serde_json::Value =
        serde_json::from_str(&kiln_validate::cli::list_rules(true)).expect("json");
    let listed = json.as_array().expect("array");
    assert_eq!(listed.len(), rule::all().count());
    assert_eq!(listed[0]["id"], rule::IMAGE_ROOT.id);
    assert_eq!(listed[0]["talos"], "all releases");
    assert_eq!(listed[0]["scope"], "image");
}

#[test]
fn output_lines_are_human_readable() {
    let f = Fixture::new();
    f.write("rootfs/usr/bin/foo", "", 0o755);
    let r = f.check();
    let line = r.violations[0].to_string();
    assert!(
        line.starts_with(
            "error: rootfs/usr/bin/foo: path-not-allowed: path \"/usr/bin/foo\" is not allowed"
        ),
        "{line}"
    );
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["violations"][0]["severity"], "error");
    assert_eq!(json["violations"][0]["rule"], rule::PATH_NOT_ALLOWED.id);
    assert_eq!(json["violations"][0]["path"], "rootfs/usr/bin/foo");
}
