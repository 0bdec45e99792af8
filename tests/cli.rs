//! The `kiln` command line, run as a process over the repository's own `extensions/` tree and
//! over broken trees written to a tempdir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .output()
        .expect("running kiln")
}

fn extensions() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("extensions")
        .display()
        .to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "targets", "graph", "eval", "plan", "schema", "llb", "validate", "check", "frontend",
    ] {
        let o = kiln(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd} --help: {}", stderr(&o));
        assert!(stdout(&o).contains("Usage: kiln"), "{cmd}: {}", stdout(&o));
    }
    let o = kiln(&["targets", "--help"]);
    for flag in ["--root", "--platform", "--build-arg"] {
        assert!(stdout(&o).contains(flag), "{flag} in targets --help");
    }
}

#[test]
fn targets_lists_the_extensions_tree() {
    let o = kiln(&["targets", "--root", &extensions()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Vec<String>> = stdout(&o)
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert!(
        lines.contains(&vec!["base".to_string(), "internal/base".to_string()]),
        "{lines:?}"
    );
    assert!(
        lines.contains(&vec![
            "hello-service".to_string(),
            "examples/hello-service".to_string()
        ]),
        "{lines:?}"
    );
    let o = kiln(&["targets", "--root", &extensions(), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"base") && names.contains(&"hello-service"),
        "{names:?}"
    );
}

#[test]
fn eval_renders_with_a_packages_variables() {
    let o = kiln(&[
        "eval",
        "--root",
        &extensions(),
        "-t",
        "hello-service",
        "--platform",
        "linux/arm64",
        "{{ .VERSION }}-{{ .ARCH }}",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "v1.0.0-aarch64");
    let o = kiln(&[
        "eval",
        "--root",
        &extensions(),
        "-t",
        "hello-service",
        "--build-arg",
        "TAG=v9",
        "{{ .BUILD_ARG_TAG }}",
    ]);
    assert_eq!(stdout(&o), "v9");
    let o = kiln(&["eval", "--root", &extensions(), "-t", "nope", "x"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("package \"nope\" is not defined"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn graph_and_plan() {
    let o = kiln(&["graph", "--root", &extensions(), "-t", "hello-service"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph"));
    assert!(dot.contains("\"hello-service\" -> \"base\""), "{dot}");
    let o = kiln(&[
        "plan",
        "--root",
        &extensions(),
        "-t",
        "hello-service",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let order: Vec<&str> = plan["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(order, vec!["base", "hello-service"]);
}

#[test]
fn schema_describes_pkg_yaml() {
    let o = kiln(&["schema", "pkg"]);
    assert!(o.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let props = &schema["properties"];
    for key in [
        "name",
        "variant",
        "shell",
        "install",
        "buildPlatform",
        "dependencies",
        "steps",
        "finalize",
    ] {
        assert!(props.get(key).is_some(), "{key} in schema");
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        required.contains(&"name") && required.contains(&"variant"),
        "{required:?}"
    );
    assert!(
        !required.contains(&"span"),
        "positions are not part of the input"
    );
    let text = stdout(&o);
    assert!(text.contains("\"alpine\"") && text.contains("\"scratch\""));
    assert!(
        !text.contains("span"),
        "internal fields leak into the schema"
    );
    for kind in ["pkgfile", "vars"] {
        let o = kiln(&["schema", kind]);
        assert!(o.status.success());
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap();
    }
}

#[test]
fn llb_is_deterministic_and_dumps_json() {
    let args = [
        "llb",
        "--root",
        &extensions(),
        "-t",
        "hello-service",
        "--platform",
        "linux/arm64",
    ];
    let a = kiln(&args);
    let b = kiln(&args);
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout, "byte-identical definitions");
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let j = kiln(&json_args);
    let text = stdout(&j);
    assert!(
        text.contains("[linux/arm64] hello-service: install 1/1"),
        "{text}"
    );
    assert!(text.contains("[linux/arm64] hello-service: validate extension image"));
}

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn broken_trees_exit_non_zero_with_every_error_located() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "Pkgfile", "format: v1alpha2\n");
    write(root, "a/pkg.yaml", "name: a\nvariant: scratch\nsteps:\n  - network: wifi\n    build: [make]\nfinalize: [{from: /, to: /}]\n");
    write(
        root,
        "b/pkg.yaml",
        "name: b\nvariant: scratch\ndependencies:\n  - stage: nothere\nbogus: 1\n",
    );
    let o = kiln(&["targets", "--root", &root.display().to_string()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("a/pkg.yaml:4:") && err.contains("unknown network mode \"wifi\""),
        "{err}"
    );
    assert!(
        err.contains("b/pkg.yaml:4:") && err.contains("\"nothere\""),
        "{err}"
    );
    assert!(
        err.contains("b/pkg.yaml:5:") && err.contains("warning: unknown key `bogus`"),
        "{err}"
    );
    assert!(err.contains("kiln: 2 errors"), "{err}");
    assert!(stdout(&o).is_empty(), "nothing printed on failure");
}

#[test]
fn verify_sha512_checks_then_copies() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("f");
    std::fs::write(&src, "hello\n").unwrap();
    // sha512 of "hello\n".
    let good = "e7c22b994c59d9cf2b48e549b1e24666636045930d3da7c1acb299d1c3b7f931f94aae41edda2c2b207a36e10f8bcb8d45223e54878f5b316e7ce3b6bc019629";
    let dest = dir.path().join("out/f");
    let o = kiln(&[
        "verify-sha512",
        &src.display().to_string(),
        good,
        &dest.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "hello\n");
    let bad = "0".repeat(128);
    let dest2 = dir.path().join("out/g");
    let o = kiln(&[
        "verify-sha512",
        &src.display().to_string(),
        &bad,
        &dest2.display().to_string(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("sha512 mismatch"), "{}", stderr(&o));
    assert!(!dest2.exists(), "nothing copied on mismatch");
}

#[test]
fn check_runs_the_lint_rules_and_fails_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("Pkgfile"),
        "# syntax = kiln:dev\nformat: v1alpha2\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::write(
        root.join("a/pkg.yaml"),
        "name: a\nvariant: scratch\nsteps:\n  - cachePaths: [/go]\n    sbom:\n      outputPath: /rootfs/a.json\nfinalize:\n  - from: /\n    to: /\n",
    )
    .unwrap();
    let root_arg = root.display().to_string();
    let o = kiln(&["check", "--root", &root_arg]);
    assert!(o.status.success(), "warnings only: {}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("a/pkg.yaml:4:5: warning: step 1 declares cachePaths /go but runs no script"),
        "{out}"
    );
    assert!(out.contains("(CachePathsWithoutScript)"), "{out}");
    assert!(out.contains("(SbomWithoutIdentifier)"), "{out}");
    assert!(out.contains("0 error(s), 2 warning(s)"), "{out}");

    // The build arg makes findings errors: the command fails.
    let o = kiln(&[
        "check",
        "--root",
        &root_arg,
        "--build-arg",
        "BUILDKIT_DOCKERFILE_CHECK=error=true",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("a/pkg.yaml:4:5: error:"),
        "{}",
        stdout(&o)
    );

    // A directive silences a rule.
    std::fs::write(
        root.join("Pkgfile"),
        "# syntax = kiln:dev\n# check=skip=CachePathsWithoutScript,SbomWithoutIdentifier\nformat: v1alpha2\n",
    )
    .unwrap();
    let o = kiln(&["check", "--root", &root_arg]);
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("Check complete, no warnings found."),
        "{}",
        stdout(&o)
    );

    let o = kiln(&["check", "--rules"]);
    assert!(stdout(&o).contains("UnusedVariable"), "{}", stdout(&o));
}

#[test]
fn a_build_context_names_the_alpine_base_by_its_repository() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("Pkgfile"),
        "# syntax = kiln:dev\nformat: v1alpha2\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("tool")).unwrap();
    std::fs::write(
        root.join("tool/pkg.yaml"),
        "name: tool\nvariant: alpine\nsteps:\n  - install: [true]\nfinalize:\n  - from: /out\n    to: /\n",
    )
    .unwrap();
    let root_arg = root.display().to_string();
    let images = |extra: &[&str]| {
        let mut args = vec![
            "llb",
            "--root",
            &root_arg,
            "-t",
            "tool",
            "--json",
            "--no-validate",
        ];
        args.extend_from_slice(extra);
        let o = kiln(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        let mut ids: Vec<String> = out
            .split('"')
            .filter(|s| s.starts_with("docker-image://"))
            .map(String::from)
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    assert_eq!(
        images(&[]),
        ["docker-image://docker.io/library/alpine:3.21@sha256:a8560b36e8b8210634f77d9f7f9efd7ffa463e380b75e2e74aff4511df3ef88c"]
    );
    for name in ["alpine", "alpine:3.21", "docker.io/library/alpine:3.21"] {
        let arg = format!("{name}=docker-image://mirror.internal/alpine:3.21");
        assert_eq!(
            images(&["--build-context", &arg]),
            ["docker-image://mirror.internal/alpine:3.21"],
            "{name}"
        );
    }
}
