//! Tests of loading and resolving whole trees, built in memory.

use std::collections::BTreeMap;

use super::*;
use crate::spec::{DepRef, Platform};

fn files(entries: &[(&str, &str)]) -> FileSet {
    let mut set = FileSet::default();
    for (path, text) in entries {
        set.insert(*path, text.as_bytes().to_vec());
    }
    set
}

const PKGFILE: &str =
    "# syntax = kiln:dev\nformat: v1alpha2\nvars:\n  GLOBAL: from-pkgfile\n  SHADOWED: pkgfile\n";

fn opts(platform: Platform) -> LoadOptions {
    let mut o = LoadOptions::new(platform);
    o.build_args = BTreeMap::from([("TAG".to_string(), "v1.2.3".to_string())]);
    o
}

fn errors(set: &FileSet) -> Vec<String> {
    match load(set, &opts(Platform::linux("amd64"))) {
        Ok(_) => panic!("expected the load to fail"),
        Err(e) => e.0.errors().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn vars_yaml_scopes_and_precedence() {
    let set = files(&[
        ("Pkgfile", PKGFILE),
        ("vars.yaml", "ROOT: root-{{ .GLOBAL }}\nSHADOWED: root\n"),
        (
            "a/vars.yaml",
            "VERSION: \"{{ .ROOT }}-{{ .BUILD_ARG_TAG }}\"\nSHADOWED: a\n",
        ),
        (
            "a/pkg.yaml",
            "name: a\nvariant: scratch\n# {{ .SHADOWED }} {{ .VERSION }} {{ .ARCH }}\n",
        ),
        ("b/pkg.yaml", "name: b\nvariant: scratch\n"),
    ]);
    let tree = load(&set, &opts(Platform::linux("arm64"))).unwrap();
    let a = &tree.packages["a"].vars;
    assert_eq!(a["VERSION"], "root-from-pkgfile-v1.2.3");
    assert_eq!(a["SHADOWED"], "a", "the deeper vars.yaml wins");
    assert_eq!(a["ARCH"], "aarch64");
    let b = &tree.packages["b"].vars;
    assert_eq!(
        b["SHADOWED"], "root",
        "a sibling's vars.yaml does not apply"
    );
    assert!(!b.contains_key("VERSION"));
}

#[test]
fn each_directory_knows_where_its_variables_are_defined() {
    let set = files(&[
        ("Pkgfile", PKGFILE),
        ("vars.yaml", "# root\nSHADOWED: root\n"),
        ("a/vars.yaml", "\nVERSION: \"{{ .GLOBAL }}\"\n"),
        ("a/pkg.yaml", "name: a\nvariant: scratch\n"),
    ]);
    let tree = load(&set, &opts(Platform::linux("amd64"))).unwrap();
    let at = |dir: &str, name: &str| {
        let d = &tree.definitions[dir][name];
        (d.file.as_str(), d.span.line)
    };
    assert_eq!(at("", "GLOBAL"), ("Pkgfile", 4));
    assert_eq!(
        at("", "SHADOWED"),
        ("vars.yaml", 2),
        "vars.yaml overrides the Pkgfile"
    );
    assert_eq!(at("a", "VERSION"), ("a/vars.yaml", 2));
    assert_eq!(at("a", "GLOBAL"), ("Pkgfile", 4), "inherited from the root");
    assert!(
        !tree.definitions["a"].contains_key("ARCH"),
        "built-ins have no definition"
    );
}

#[test]
fn templates_attach_to_the_closest_package() {
    let set = files(&[
        ("Pkgfile", PKGFILE),
        ("ext/vars.yaml", "VERSION: 1.0\n"),
        ("ext/pkg.yaml", "name: ext\nvariant: scratch\n"),
        (
            "ext/manifest.yaml.tmpl",
            "version: {{ .VERSION }}\narch: {{ .ARCH }}\n",
        ),
        ("ext/files/conf.tmpl", "{{ .GLOBAL }}"),
        ("ext/sub/pkg.yaml", "name: sub\nvariant: scratch\n"),
        ("ext/sub/x.tmpl", "sub"),
    ]);
    let tree = load(&set, &opts(Platform::linux("amd64"))).unwrap();
    let ext = &tree.packages["ext"];
    let t: BTreeMap<_, _> = ext
        .templated
        .iter()
        .map(|t| (t.path.as_str(), t.contents.as_str()))
        .collect();
    assert_eq!(t["manifest.yaml"], "version: 1.0\narch: x86_64\n");
    assert_eq!(t["files/conf"], "from-pkgfile");
    assert_eq!(t.len(), 2);
    assert_eq!(tree.packages["sub"].templated[0].path, "x");
}

#[test]
fn a_template_without_a_package_is_an_error() {
    let set = files(&[("Pkgfile", PKGFILE), ("loose/a.tmpl", "x")]);
    let e = errors(&set);
    assert!(
        e.iter()
            .any(|m| m.starts_with("loose/a.tmpl") && m.contains("no package")),
        "{e:?}"
    );
}

#[test]
fn errors_point_at_lines_the_user_wrote() {
    // The range turns template line 3 into three lines; the error must name line 4 of the template.
    let set = files(&[
        ("Pkgfile", PKGFILE),
        (
            "p/pkg.yaml",
            "name: p\ninstall:\n{{ range $i, $x := splitList \",\" \"a,b,c\" }}  - {{ $x }}\n{{ end }}variant: bogus\n",
        ),
    ]);
    let e = errors(&set);
    assert!(
        e.iter()
            .any(|m| m.starts_with("p/pkg.yaml:4:") && m.contains("unknown variant \"bogus\"")),
        "{e:?}"
    );
}

#[test]
fn yaml_error_after_a_multi_line_if_maps_back() {
    let set = files(&[
        ("Pkgfile", PKGFILE),
        (
            "p/pkg.yaml",
            "name: p\n{{ if eq .ARCH \"aarch64\" }}\nvariant: scratch\nextra: 1\n{{ end }}\nvariant: [oops\n",
        ),
    ]);
    let e = errors(&set);
    // On amd64 the if removes three lines; the broken flow sequence is on template line 6.
    assert!(
        e.iter()
            .any(|m| m.starts_with("p/pkg.yaml:6:") || m.starts_with("p/pkg.yaml:7:")),
        "{e:?}"
    );
}

#[test]
fn template_errors_name_file_line_and_column() {
    let set = files(&[
        ("Pkgfile", PKGFILE),
        (
            "p/pkg.yaml",
            "name: p\nvariant: scratch\n# {{ nosuchfunc .ARCH }}\n",
        ),
    ]);
    let e = errors(&set);
    assert!(
        e.iter()
            .any(|m| m.starts_with("p/pkg.yaml:3:") && m.contains("nosuchfunc")),
        "{e:?}"
    );
}

#[test]
fn every_error_of_every_file_is_reported() {
    let set = files(&[
        ("Pkgfile", "format: v1alpha9\n"),
        ("a/pkg.yaml", "name: a\n"),
        ("b/pkg.yaml", "variant: scratch\n"),
        ("c/vars.yaml", "X: [\n"),
    ]);
    let e = errors(&set);
    assert!(
        e.iter()
            .any(|m| m.starts_with("Pkgfile:1:") && m.contains("v1alpha9")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("a/pkg.yaml:1:") && m.contains("variant is missing")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("b/pkg.yaml:1:") && m.contains("name is missing")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("c/vars.yaml:") && m.contains("invalid YAML")),
        "{e:?}"
    );
}

#[test]
fn duplicate_names_name_both_files() {
    let set = files(&[
        ("Pkgfile", PKGFILE),
        ("one/pkg.yaml", "name: same\nvariant: scratch\n"),
        ("two/pkg.yaml", "name: same\nvariant: scratch\n"),
    ]);
    let e = errors(&set);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e.iter()
            .all(|m| m.contains("one/pkg.yaml and two/pkg.yaml")),
        "{e:?}"
    );
}

#[test]
fn unknown_stage_and_cycles() {
    let set = files(&[
        ("Pkgfile", PKGFILE),
        (
            "a/pkg.yaml",
            "name: a\nvariant: scratch\ndependencies:\n  - stage: b\n",
        ),
        (
            "b/pkg.yaml",
            "name: b\nvariant: scratch\ndependencies:\n  - stage: c\n",
        ),
        (
            "c/pkg.yaml",
            "name: c\nvariant: scratch\ndependencies:\n  - stage: a\n  - stage: bse\n",
        ),
        ("base/pkg.yaml", "name: base\nvariant: scratch\n"),
    ]);
    let e = errors(&set);
    assert!(
        e.iter().any(|m| m.starts_with("c/pkg.yaml:5:")
            && m.contains("\"bse\"")
            && m.contains("did you mean \"base\"")),
        "{e:?}"
    );
    let cycles: Vec<_> = e
        .iter()
        .filter(|m| m.contains("circular dependency"))
        .collect();
    assert_eq!(cycles.len(), 1, "{e:?}");
    for name in ["a/pkg.yaml", "b/pkg.yaml", "c/pkg.yaml", "a -> b -> c -> a"] {
        assert!(cycles[0].contains(name), "{name} in {}", cycles[0]);
    }
}

#[test]
fn runtime_dependencies_propagate_transitively() {
    let set = files(&[
        ("Pkgfile", PKGFILE),
        ("libc/pkg.yaml", "name: libc\nvariant: scratch\n"),
        ("zlib/pkg.yaml", "name: zlib\nvariant: scratch\ndependencies:\n  - stage: libc\n    runtime: true\n"),
        (
            "openssl/pkg.yaml",
            "name: openssl\nvariant: scratch\ndependencies:\n  - stage: zlib\n    runtime: true\n  - image: tools:1\n",
        ),
        ("app/pkg.yaml", "name: app\nvariant: scratch\ndependencies:\n  - stage: openssl\n  - stage: libc\n"),
    ]);
    let tree = load(&set, &opts(Platform::linux("amd64"))).unwrap();
    let deps: Vec<(String, String)> = tree
        .effective_deps("app")
        .iter()
        .map(|d| {
            let name = match d.dep.target() {
                DepRef::Stage(s) | DepRef::Image(s) => s.to_string(),
            };
            (name, d.declared_by.clone())
        })
        .collect();
    // openssl brings zlib (runtime) which brings libc (runtime); the image is not runtime;
    // the explicit libc is a duplicate and dropped.
    assert_eq!(
        deps,
        vec![
            ("openssl".to_string(), "app".to_string()),
            ("zlib".to_string(), "openssl".to_string()),
            ("libc".to_string(), "zlib".to_string()),
        ]
    );
    let plan = tree.resolve("app").unwrap();
    assert_eq!(plan.order.last().map(String::as_str), Some("app"));
    let pos = |n: &str| plan.order.iter().position(|x| x == n).unwrap();
    assert!(
        pos("libc") < pos("zlib") && pos("zlib") < pos("openssl") && pos("openssl") < pos("app")
    );
    assert!(tree.resolve("nope").is_err());
}

#[test]
fn per_platform_rendering() {
    let set = files(&[
        ("Pkgfile", PKGFILE),
        (
            "p/pkg.yaml",
            "name: p\nvariant: scratch\ndependencies:\n  # {{ if eq .ARCH \"aarch64\" }}\n  - image: arm-only\n  # {{ else }}\n  - image: amd-only\n  # {{ end }}\n",
        ),
    ]);
    for (platform, image) in [
        (Platform::linux("amd64"), "amd-only"),
        (Platform::linux("arm64"), "arm-only"),
    ] {
        let tree = load(&set, &opts(platform)).unwrap();
        let deps = &tree.packages["p"].pkg.dependencies;
        assert_eq!(deps.len(), 1);
        assert_eq!(deps[0].target(), DepRef::Image(image));
    }
}

#[test]
fn dot_output_has_nodes_and_edges() {
    let set = files(&[
        ("Pkgfile", PKGFILE),
        (
            "a/pkg.yaml",
            "name: a\nvariant: scratch\ndependencies:\n  - stage: b\n  - image: img:1\n",
        ),
        ("b/pkg.yaml", "name: b\nvariant: scratch\n"),
    ]);
    let tree = load(&set, &opts(Platform::linux("amd64"))).unwrap();
    let dot = tree.dot(Some("a")).unwrap();
    assert!(dot.starts_with("digraph"));
    assert!(dot.contains("\"a\" -> \"b\";"), "{dot}");
    assert!(dot.contains("\"a\" -> \"img:1\";"), "{dot}");
    assert!(dot.contains("\"img:1\" [shape=box"), "{dot}");
}

#[test]
fn missing_pkgfile_is_an_error() {
    let set = files(&[("a/pkg.yaml", "name: a\nvariant: scratch\n")]);
    let e = errors(&set);
    assert!(
        e.iter()
            .any(|m| m.starts_with("Pkgfile") && m.contains("no Pkgfile")),
        "{e:?}"
    );
}

/// Mutated copies of a real pkg.yaml and vars.yaml (bytes dropped, swapped, duplicated, template
/// and YAML punctuation inserted) must load or fail with diagnostics: never panic.
#[test]
fn mutated_trees_never_panic() {
    let pkg = "name: p\nvariant: scratch\nshell: /bin/sh\ndependencies:\n  - stage: q\n    from: /a\n    to: /b\nsteps:\n  - sources:\n      - url: https://x/{{ .ARCH }}.tar\n        destination: a.tar\n        sha256: {{ .SUM }}\n        sha512: abc\n    env: {A: b}\n    build:\n      - |\n        make {{ if eq .ARCH \"x86_64\" }}amd{{ else }}arm{{ end }}\nfinalize:\n  - {from: /, to: /}\n";
    let vars = "SUM: \"{{ .ARCH | replace \\\"_\\\" \\\"-\\\" }}\"\nLIST: [a, b]\n";
    let inserts: [&[u8]; 10] = [
        b"{{", b"}}", b":", b"- ", b"\n  ", b"[", b"{", b"\"", b"&a *a", b"\xff",
    ];
    // A small deterministic generator: reproducible failures, no dependency.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for round in 0..1500 {
        let mut bytes = if round % 3 == 0 {
            vars.as_bytes().to_vec()
        } else {
            pkg.as_bytes().to_vec()
        };
        for _ in 0..1 + next(4) {
            let at = next(bytes.len() + 1);
            match next(4) {
                0 if !bytes.is_empty() => {
                    let end = (at + next(8)).min(bytes.len());
                    bytes.drain(at.min(end)..end);
                }
                1 => bytes
                    .splice(at..at, inserts[next(inserts.len())].iter().copied())
                    .for_each(drop),
                2 if at + 1 < bytes.len() => bytes.swap(at, at + 1),
                _ => {
                    let end = (at + next(16)).min(bytes.len());
                    let copy = bytes[at.min(end)..end].to_vec();
                    bytes.splice(at..at, copy).for_each(drop);
                }
            }
        }
        let mut set = FileSet::default();
        set.insert("Pkgfile", PKGFILE.as_bytes().to_vec());
        set.insert("q/pkg.yaml", b"name: q\nvariant: scratch\n".to_vec());
        let path = if round % 3 == 0 {
            "p/vars.yaml"
        } else {
            "p/pkg.yaml"
        };
        set.insert(path, bytes.clone());
        if round % 3 == 0 {
            set.insert("p/pkg.yaml", pkg.as_bytes().to_vec());
        }
        let outcome = std::panic::catch_unwind(|| load(&set, &opts(Platform::linux("amd64"))));
        let text = String::from_utf8_lossy(&bytes);
        let result = outcome.unwrap_or_else(|_| panic!("round {round} panicked on:\n{text}"));
        if let Err(e) = result {
            assert!(e.0.has_errors(), "a failed load carries errors");
            for d in e.0.errors() {
                assert!(
                    !d.file.is_empty(),
                    "round {round}: every error names its file: {d}"
                );
            }
        }
    }
}

const LINTED_PKG: &str = "name: lib\nvariant: scratch\nsteps:\n  - cachePaths: [/root/.cache]\n    sbom:\n      outputPath: /rootfs/lib.spdx.json\n      version: \"{{ .VERSION }}\"\n  - cache: [/go]\n    build: [make]\nfinalize:\n  - from: rootfs\n    to: /\n";

fn lint_tree(pkgfile: &str) -> (FileSet, LoadOptions) {
    let set = files(&[
        ("Pkgfile", pkgfile),
        ("lib/vars.yaml", "# The version.\nVERSION: 1\nUNREAD: 2\n"),
        ("lib/pkg.yaml", LINTED_PKG),
        (
            "empty/pkg.yaml",
            "name: empty\nvariant: scratch\nfinalize:\n  - from: /rootfs\n    to: /rootfs\n  - from: /pkg/manifest.yaml\n    to: /\nbogus: 1\n",
        ),
    ]);
    (set, LoadOptions::new(Platform::linux("amd64")))
}

/// (rule, file, line, severity) of every finding.
fn findings(
    set: &FileSet,
    opts: &LoadOptions,
) -> Vec<(String, String, usize, crate::spec::Severity)> {
    let tree = load(set, opts).unwrap();
    lint::check(set, &tree, opts)
        .0
        .into_iter()
        .map(|d| {
            (
                d.rule.map(|r| r.id.to_string()).unwrap_or_default(),
                d.file,
                d.span.line,
                d.severity,
            )
        })
        .collect()
}

#[test]
fn lint_rules_find_each_problem_at_its_line() {
    use crate::spec::Severity::{Error, Warning};
    let (set, opts) = lint_tree("format: v1alpha2\nvars:\n  USED_NOWHERE: x\n");
    let got = findings(&set, &opts);
    let f = |rule: &str, file: &str, line| (rule.to_string(), file.to_string(), line, Warning);
    assert_eq!(
        got,
        vec![
            f("UnusedVariable", "Pkgfile", 3),
            f("FinalizeCopiesNothing", "empty/pkg.yaml", 4),
            f("UnknownKey", "empty/pkg.yaml", 8),
            f("CachePathsWithoutScript", "lib/pkg.yaml", 4),
            f("SbomWithoutIdentifier", "lib/pkg.yaml", 4),
            f("DeprecatedKey", "lib/pkg.yaml", 8),
            f("SuspiciousPath", "lib/pkg.yaml", 11),
            f("UnusedVariable", "lib/vars.yaml", 3),
        ]
    );

    // Directives at the top of the Pkgfile and the build arg silence rules or make them errors.
    let (set, mut opts) = lint_tree(
        "# syntax = kiln:dev\n# check=skip=UnusedVariable,UnknownKey\nformat: v1alpha2\n",
    );
    opts.build_args.insert(
        lint::CHECK_BUILD_ARG.to_string(),
        "skip=SuspiciousPath,DeprecatedKey;error=true".to_string(),
    );
    let got = findings(&set, &opts);
    let rules: Vec<(&str, crate::spec::Severity)> =
        got.iter().map(|(r, _, _, s)| (r.as_str(), *s)).collect();
    assert_eq!(
        rules,
        [
            ("FinalizeCopiesNothing", Error),
            ("CachePathsWithoutScript", Error),
            ("SbomWithoutIdentifier", Error),
        ]
    );

    // A setting kiln does not understand is an error at its line.
    let (set, opts) = lint_tree("# check=skip=UnusedVar\nformat: v1alpha2\n");
    let got = findings(&set, &opts);
    assert!(
        got.contains(&("".to_string(), "Pkgfile".to_string(), 1, Error)),
        "{got:?}"
    );
}

#[test]
fn outline_lists_what_a_target_reads_with_descriptions_and_lines() {
    use super::outline::{variables, VariableKind};
    let set = files(&[
        ("Pkgfile", "format: v1alpha2\nvars:\n  # Where tools come from.\n  TOOLS: ghcr.io/x/tools\n"),
        ("vars.yaml", "# The release.\nVERSION: 1.2.3\nOTHER: unused\n"),
        (
            "ext/pkg.yaml",
            "name: ext\nvariant: scratch\ndependencies:\n  - stage: base\nsteps:\n  - build:\n      - echo {{ .VERSION }} {{ .ARCH }}\n      - echo {{ .BUILD_ARG_TAG }} {{ .VERSION }}\nfinalize: [{from: /, to: /}]\n",
        ),
        ("ext/manifest.yaml.tmpl", "version: {{ .VERSION }}\n"),
        ("base/pkg.yaml", "name: base\nvariant: scratch\ndependencies:\n  - image: \"{{ .TOOLS }}\"\n"),
    ]);
    let tree = load(&set, &opts(Platform::linux("arm64"))).unwrap();
    let vars = variables(&set, &tree, "ext").unwrap();
    let row = |name: &str| {
        vars.iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("{name} in {vars:?}"))
    };
    let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["TAG", "TOOLS", "VERSION", "ARCH"]);
    let tag = row("TAG");
    assert_eq!(tag.kind, VariableKind::BuildArg);
    assert_eq!(tag.value, "v1.2.3");
    let version = row("VERSION");
    assert_eq!(version.description, "The release.");
    assert_eq!(version.value, "1.2.3");
    let lines: Vec<(&str, usize)> = version
        .uses
        .iter()
        .map(|u| (u.file.as_str(), u.line))
        .collect();
    assert_eq!(
        lines,
        [
            ("ext/pkg.yaml", 7),
            ("ext/pkg.yaml", 8),
            ("ext/manifest.yaml.tmpl", 1)
        ]
    );
    let tools = row("TOOLS");
    assert_eq!(tools.description, "Where tools come from.");
    assert_eq!(tools.uses[0].file, "base/pkg.yaml", "read by a dependency");
    assert_eq!(row("ARCH").value, "aarch64");
    assert_eq!(row("ARCH").kind, VariableKind::BuiltIn);
}

#[test]
fn a_file_over_the_size_limit_is_refused_by_name() {
    let mut set = files(&[
        ("Pkgfile", PKGFILE),
        ("a/pkg.yaml", "name: a\nvariant: scratch\n"),
    ]);
    set.insert_too_large("b/pkg.yaml", 20 << 20);
    let errors = errors(&set);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("b/pkg.yaml:1:1"), "{errors:?}");
    assert!(errors[0].contains("limited to 16 MiB"), "{errors:?}");
    // Reading a directory leaves such a file unread and records it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Pkgfile"), PKGFILE).unwrap();
    let big = std::fs::File::create(dir.path().join("vars.yaml")).unwrap();
    big.set_len(files::MAX_FILE_BYTES + 1).unwrap();
    let set = FileSet::from_dir(dir.path(), "Pkgfile").unwrap();
    assert!(set.get("vars.yaml").is_none());
    assert_eq!(set.too_large["vars.yaml"], files::MAX_FILE_BYTES + 1);
}

#[test]
fn a_package_over_the_op_limit_is_refused_at_its_line() {
    let mut text = String::from("# a big one\nname: big\nvariant: scratch\nsteps:\n  - build:\n");
    for _ in 0..=load::MAX_PACKAGE_OPS {
        text.push_str("      - x\n");
    }
    text.push_str("finalize: [{from: /, to: /}]\n");
    let set = files(&[("Pkgfile", PKGFILE), ("big/pkg.yaml", &text)]);
    let errors = errors(&set);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("big/pkg.yaml:2:"), "{errors:?}");
    assert!(
        errors[0].contains("200002 build operations") && errors[0].contains("limited to 200000"),
        "{errors:?}"
    );
}

#[test]
fn a_template_over_its_limits_is_refused_at_its_line() {
    let set = files(&[
        ("Pkgfile", PKGFILE),
        (
            "a/pkg.yaml",
            "name: a\nvariant: scratch\n# {{ range until 1000000 }}{{ . }}{{ end }}\n",
        ),
    ]);
    let errors = errors(&set);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("a/pkg.yaml:3:"), "{errors:?}");
    assert!(errors[0].contains("1000000 execution steps"), "{errors:?}");
}
