//! `kiln update` against a real local HTTP server serving versioned fixture files
//! (`tests/fixtures/update/sources`): version bumps, byte-exact rewrites, `--check`, and the
//! failures (404, a file replaced behind its URL, a cut-off download) that must leave every file
//! as it was. No Docker needed; `e2e_update.rs` builds the updated tree.

mod common;

use std::process::Command;

use common::update::{Run, UpdateFixture as Fixture};

const TOOL_VARS: &str = "tool/vars.yaml";

#[test]
fn a_version_bump_rewrites_only_the_values_and_the_tree_plans_afterwards() {
    let f = Fixture::new();
    f.kiln(&["update", "--check"]).expect(0);
    let before = f.files();
    let (old_amd64, old_arm64) = (
        f.digests("tool/1.0.0/tool-x86_64.txt"),
        f.digests("tool/1.0.0/tool-aarch64.txt"),
    );
    let (new_amd64, new_arm64) = (
        f.digests("tool/1.1.0/tool-x86_64.txt"),
        f.digests("tool/1.1.0/tool-aarch64.txt"),
    );
    let data_hits = f.server.hits("data/data-1.0.txt");

    let run = f.kiln(&["update", "-t", "tool", "--set", "TOOL_VERSION=1.1.0"]);
    run.expect(0);
    assert_eq!(run.stderr, "", "no progress output without a terminal");

    // The expected file: the original with exactly these values replaced.
    let mut expected = String::from_utf8(before[TOOL_VARS].clone()).unwrap();
    for (old, new) in [
        ("TOOL_VERSION: 1.0.0", "TOOL_VERSION: 1.1.0"),
        (&old_amd64.0, &new_amd64.0),
        (&old_amd64.1, &new_amd64.1),
        (&old_arm64.0, &new_arm64.0),
        (&old_arm64.1, &new_arm64.1),
    ] {
        assert_eq!(expected.matches(old).count(), 1, "{old}");
        expected = expected.replacen(old, new, 1);
    }
    let after = f.files();
    assert_eq!(f.read(TOOL_VARS), expected);
    for (path, data) in &before {
        if path != TOOL_VARS {
            assert_eq!(&after[path], data, "{path} must stay byte for byte");
        }
    }
    for (name, value) in [
        ("TOOL_AMD64_SHA256", &new_amd64.0),
        ("TOOL_ARM64_SHA512", &new_arm64.1),
    ] {
        let line = f.line_of(TOOL_VARS, name);
        let reported = format!("{TOOL_VARS}:{line}: {name} ");
        assert!(run.stdout.contains(&reported), "{reported}\n{}", run.stdout);
        assert!(run.stdout.contains(&value[..16]), "{}", run.stdout);
    }
    assert_eq!(
        f.server.hits("data/data-1.0.txt") - data_hits,
        1,
        "a source used by both platforms is downloaded once"
    );

    f.kiln(&["update", "--check"]).expect(0);
    for platform in ["linux/amd64", "linux/arm64"] {
        let plan = f.kiln(&["plan", "-t", "tool", "--platform", platform]);
        plan.expect(0);
        let arch = if platform.ends_with("amd64") {
            "x86_64"
        } else {
            "aarch64"
        };
        assert!(plan.stdout.contains("tool"), "{platform}: {}", plan.stdout);
        let url = f.kiln(&[
            "eval",
            "-t",
            "tool",
            "--platform",
            platform,
            "{{ .SOURCES }}/tool/{{ .TOOL_VERSION }}/tool-{{ .ARCH }}.txt",
        ]);
        assert_eq!(
            url.stdout,
            format!("{}/tool/1.1.0/tool-{arch}.txt", f.sources_url())
        );
    }
}

#[test]
fn check_reports_each_stale_checksum_and_a_replaced_file_is_refused() {
    let f = Fixture::new();
    // The shared data file changes behind the same URL.
    std::fs::write(
        f.dir.path().join("sources/data/data-1.0.txt"),
        "shared data 1.0, quietly replaced\n",
    )
    .unwrap();
    let before = f.files();
    let check = f.kiln(&["update", "--check"]);
    check.expect(1);
    for name in ["DATA_SHA256", "DATA_SHA512"] {
        let line = f.line_of("Pkgfile", name);
        let reported = format!("Pkgfile:{line}: {name} is stale");
        assert!(
            check.stdout.contains(&reported),
            "{reported}\n{}",
            check.stdout
        );
    }
    assert!(!check.stdout.contains("TOOL_"), "{}", check.stdout);
    assert_eq!(f.files(), before, "--check writes nothing");

    let update = f.kiln(&["update"]);
    update.expect(2);
    assert!(
        update
            .stderr
            .contains("the file behind the URL was replaced"),
        "{}",
        update.stderr
    );
    let line = f.line_of("tool/pkg.yaml", "data-{{ .DATA_VERSION }}");
    assert!(
        update
            .stderr
            .contains(&format!("tool/pkg.yaml:{line}: package tool")),
        "{}",
        update.stderr
    );
    assert_eq!(f.files(), before, "a refused update writes nothing");

    f.kiln(&["update", "--allow-changed"]).expect(0);
    let (sha256, sha512) = f.digests("data/data-1.0.txt");
    let pkgfile = f.read("Pkgfile");
    assert!(
        pkgfile.contains(&format!("DATA_SHA256: {sha256}\n")),
        "{pkgfile}"
    );
    assert!(
        pkgfile.contains(&format!("DATA_SHA512: {sha512} # pinned\n")),
        "{pkgfile}"
    );
    f.kiln(&["update", "--check"]).expect(0);
}

#[test]
fn a_missing_file_names_package_line_and_status_and_writes_nothing() {
    let f = Fixture::new();
    let before = f.files();
    let run = f.kiln(&["update", "--set", "TOOL_VERSION=9.9.9"]);
    run.expect(2);
    for (arch, platform) in [("x86_64", "linux/amd64"), ("aarch64", "linux/arm64")] {
        let line = f.line_of("tool/pkg.yaml", &format!("tool-{arch}.txt"));
        let expected = format!(
            "tool/pkg.yaml:{line}: package tool ({platform}): GET {}/tool/9.9.9/tool-{arch}.txt: HTTP 404 Not Found",
            f.sources_url()
        );
        assert!(run.stderr.contains(&expected), "{expected}\n{}", run.stderr);
    }
    assert_eq!(f.files(), before, "not even the --set value is written");
}

#[test]
fn an_interrupted_download_is_retried_then_reported_and_writes_nothing() {
    let f = Fixture::new();
    let cut = "tool/1.1.0/tool-aarch64.txt";
    f.server.cut_short(cut);
    let before = f.files();
    let run = f.kiln(&["update", "--set", "TOOL_VERSION=1.1.0"]);
    run.expect(2);
    let size = std::fs::metadata(f.dir.path().join("sources").join(cut))
        .unwrap()
        .len();
    let expected = format!(
        "package tool (linux/arm64): GET {}/{cut}: download interrupted after {} of {size} bytes",
        f.sources_url(),
        size / 2
    );
    assert!(run.stderr.contains(&expected), "{expected}\n{}", run.stderr);
    assert!(run.stderr.contains("(tried 3 times)"), "{}", run.stderr);
    assert_eq!(f.server.hits(cut), 3);
    assert_eq!(f.files(), before);
}

#[test]
fn downloads_go_through_the_proxy_of_the_environment_unless_no_proxy_says_otherwise() {
    let f = Fixture::new();
    // A host nobody can resolve: only the proxy (the fixture server, tunnelling to itself) reaches it.
    let port = f.server.addr().port();
    let sources = format!("http://sources.kiln-test.invalid:{port}");
    let proxied = |extra: &[(&str, &str)]| {
        let mut command = f.command(&["update", "--check", "-t", "tool"]);
        command
            .arg("--build-arg")
            .arg(format!("SOURCES={sources}"))
            .env("http_proxy", format!("http://{}", f.server.addr()));
        for (k, v) in extra {
            command.env(k, v);
        }
        Run::of(command.output().unwrap())
    };
    proxied(&[]).expect(0);
    let connects = f.server.connects();
    assert!(
        connects.contains(&format!("sources.kiln-test.invalid:{port}")),
        "{connects:?}"
    );

    let direct = proxied(&[("NO_PROXY", ".kiln-test.invalid")]);
    direct.expect(2);
    assert!(
        direct
            .stderr
            .contains(&format!("GET {sources}/tool/1.0.0/tool-x86_64.txt")),
        "{}",
        direct.stderr
    );
    assert_eq!(
        f.server.connects().len(),
        connects.len(),
        "no_proxy bypasses the proxy"
    );
}

#[test]
fn set_refuses_names_no_file_defines() {
    let f = Fixture::new();
    let before = f.files();
    let run = f.kiln(&["update", "--set", "NOT_A_VAR=1"]);
    run.expect(2);
    assert!(
        run.stderr
            .contains("--set NOT_A_VAR: no Pkgfile var or vars.yaml entry named NOT_A_VAR"),
        "{}",
        run.stderr
    );
    let run = f.kiln(&["update", "--set", "ARCH=riscv64"]);
    run.expect(2);
    assert!(
        run.stderr.contains("built-ins and build args"),
        "{}",
        run.stderr
    );
    assert_eq!(f.files(), before);
}

#[test]
fn progress_shows_on_a_terminal_only() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipping: no `script` (util-linux) to give kiln a terminal");
        return;
    }
    let f = Fixture::new();
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let line = [
        env!("CARGO_BIN_EXE_kiln"),
        "update",
        "--check",
        "--root",
        &f.tree().display().to_string(),
        "--build-arg",
        &format!("SOURCES={}", f.sources_url()),
    ]
    .map(quote)
    .join(" ");
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    for var in common::update::PROXY_VARS {
        script.env_remove(var);
    }
    let on_terminal = Run::of(script.output().unwrap());
    on_terminal.expect(0);
    // Four distinct URLs: one per architecture for the tool, the shared data, the notice.
    assert!(
        on_terminal.stdout.contains("downloading: 4/4 done"),
        "{:?}",
        on_terminal.stdout
    );
    let piped = f.kiln(&["update", "--check"]);
    piped.expect(0);
    assert!(!piped.stderr.contains("downloading"), "{}", piped.stderr);
}

#[test]
fn tree_warnings_are_shown_once() {
    let f = Fixture::new();
    let path = f.tree().join("tool/pkg.yaml");
    let text = f.read("tool/pkg.yaml");
    std::fs::write(
        &path,
        text.replacen("variant: scratch", "variant: scratch\nvarient: typo", 1),
    )
    .unwrap();
    let run = f.kiln(&["update", "--check"]);
    run.expect(0);
    let line = f.line_of("tool/pkg.yaml", "varient");
    let warning = format!("tool/pkg.yaml:{line}:1: warning: unknown key `varient`");
    assert_eq!(run.stderr.matches(&warning).count(), 1, "{}", run.stderr);
}

#[test]
fn a_symlinked_vars_yaml_is_rewritten_where_it_points() {
    let f = Fixture::new();
    let shared = f.dir.path().join("shared-tool-vars.yaml");
    std::fs::rename(f.tree().join("tool/vars.yaml"), &shared).unwrap();
    std::os::unix::fs::symlink(&shared, f.tree().join("tool/vars.yaml")).unwrap();
    f.kiln(&["update", "--set", "TOOL_VERSION=1.1.0"]).expect(0);
    let link = std::fs::symlink_metadata(f.tree().join("tool/vars.yaml")).unwrap();
    assert!(link.file_type().is_symlink(), "the link stays a link");
    let text = std::fs::read_to_string(&shared).unwrap();
    assert!(text.contains("TOOL_VERSION: 1.1.0\n"), "{text}");
    f.kiln(&["update", "--check"]).expect(0);
}
