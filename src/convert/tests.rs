//! Converted definitions of small trees: each test decodes the LLB and checks the ops that a
//! feature of pkg.yaml must produce, as BuildKit will read them.

use std::collections::BTreeMap;

use kiln_llb::pb::{self, op::Op as OpKind};

use super::*;
use crate::tree::{FileSet, LoadOptions};

const SHA256: &str = "1f08f2d154f5189b5f1382848a32667b3d34066145b474c49cd3d41a5fba59a7";
const SHA512: &str = "343fbb19c0ca5f91254d216b6113fb8a7b028bdafc976ba9cb1ff6b7d3442a6a0fbf2cc4bde4f2fcc7cb7293cc17a1914664a943e5c798d261d00b22a0e56989";

fn tree(entries: &[(&str, String)]) -> Trees {
    let mut files = FileSet::default();
    files.insert("Pkgfile", "# syntax = kiln:dev\nformat: v1alpha2\n");
    for (path, text) in entries {
        files.insert(*path, text.as_bytes().to_vec());
    }
    let mut opts = LoadOptions::new(Platform::linux("amd64"));
    opts.build_args = BTreeMap::from([("SOURCE_DATE_EPOCH".to_string(), "1700000000".to_string())]);
    Trees::new(files, opts)
}

fn options() -> ConvertOptions {
    let helper = kiln_llb::Image::new("kiln-helper:test").unwrap().output();
    let mut o = ConvertOptions::new(helper);
    o.source_date_epoch = Some(1_700_000_000);
    o.native_platform = Platform::linux("amd64");
    o
}

struct Decoded {
    def: kiln_llb::Definition,
    ops: Vec<(String, pb::Op)>,
}

impl Decoded {
    fn name(&self, digest: &str) -> String {
        self.def.0.metadata[digest]
            .description
            .get("llb.customname")
            .cloned()
            .unwrap_or_default()
    }

    /// The op whose vertex name is exactly `name`.
    fn named(&self, name: &str) -> &pb::Op {
        let found: Vec<_> = self
            .ops
            .iter()
            .filter(|(d, _)| self.name(d) == name)
            .collect();
        assert_eq!(found.len(), 1, "ops named {name:?}: {:?}", self.names());
        &found[0].1
    }

    /// The digest of the op whose vertex name is exactly `name`.
    fn digest(&self, name: &str) -> String {
        self.ops
            .iter()
            .find(|(d, _)| self.name(d) == name)
            .map(|(d, _)| d.clone())
            .unwrap_or_else(|| panic!("no op named {name:?}: {:?}", self.names()))
    }

    fn names(&self) -> Vec<String> {
        self.ops
            .iter()
            .map(|(d, _)| self.name(d))
            .filter(|n| !n.is_empty())
            .collect()
    }

    fn exec(&self, name: &str) -> &pb::ExecOp {
        match &self.named(name).op {
            Some(OpKind::Exec(e)) => e,
            other => panic!("{name} is not an exec: {other:?}"),
        }
    }

    fn file(&self, name: &str) -> &pb::FileOp {
        match &self.named(name).op {
            Some(OpKind::File(f)) => f,
            other => panic!("{name} is not a file op: {other:?}"),
        }
    }

    fn sources(&self) -> Vec<&pb::SourceOp> {
        self.ops
            .iter()
            .filter_map(|(_, op)| match &op.op {
                Some(OpKind::Source(s)) => Some(s),
                _ => None,
            })
            .collect()
    }
}

fn convert(
    trees: &Trees,
    target: &str,
    platform: Platform,
    opts: ConvertOptions,
) -> (Decoded, Option<Decoded>) {
    let converted = Converter::new(trees, opts)
        .target(target, &platform)
        .unwrap();
    let decode = |o: &kiln_llb::Output| {
        let def = kiln_llb::marshal(o);
        let ops = def.decode_ops().unwrap();
        Decoded { def, ops }
    };
    (
        decode(&converted.image),
        converted.validation.as_ref().map(decode),
    )
}

fn full_tree() -> Trees {
    tree(&[
        (
            "base/pkg.yaml",
            "name: base\nvariant: scratch\ndependencies:\n  - image: kiln-test/busybox:latest\nfinalize:\n  - from: /\n    to: /\n".into(),
        ),
        (
            "hello/pkg.yaml",
            format!(
                "name: hello\nvariant: scratch\nshell: /bin/sh\ndependencies:\n  - stage: base\n  - image: tools:1\n    from: /bin\n    to: /tools\nsteps:\n  - sources:\n      - url: http://127.0.0.1:8000/hello.tar\n        destination: hello.tar\n        sha256: {SHA256}\n        sha512: {SHA512}\n    env:\n      GREETING: hi\n    cachePaths:\n      - /root/.cache\n    build:\n      - echo $GREETING > out\n    install:\n      - mkdir -p /rootfs/usr/local/bin\n    test:\n      - test -f out\n  - install:\n      - echo $GREETING\nfinalize:\n  - from: /rootfs\n    to: /rootfs\n  - from: /pkg/manifest.yaml\n    to: /\n"
            ),
        ),
        ("hello/manifest.yaml.tmpl", "version: v1alpha1\nmetadata:\n  name: hello\n  arch: {{ .ARCH }}\n".into()),
    ])
}

#[test]
fn scripts_run_in_the_shell_with_the_environment_and_names() {
    let (d, _) = convert(&full_tree(), "hello", Platform::linux("arm64"), options());
    let build = d.exec("[linux/arm64] hello: step 1 build 1/1");
    let meta = build.meta.as_ref().unwrap();
    assert_eq!(
        meta.args,
        vec!["/bin/sh", "-c", "set -eou pipefail\necho $GREETING > out"]
    );
    assert_eq!(meta.cwd, "/tmp/build");
    for expected in [
        "ARCH=aarch64",
        "TARGET=aarch64-talos-linux-musl",
        "GREETING=hi",
        "PKG_NAME=hello",
        "PATH=/bin:/usr/bin:/sbin:/usr/sbin",
    ] {
        assert!(
            meta.env.iter().any(|e| e == expected),
            "{expected} in {:?}",
            meta.env
        );
    }
    // Built-ins and step env are sorted, so the same tree always gives the same op.
    let keys: Vec<&str> = meta
        .env
        .iter()
        .filter(|e| !e.starts_with("PKG_NAME="))
        .map(|e| e.split('=').next().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(
        build.network,
        pb::NetMode::None as i32,
        "network defaults to none"
    );
    // The step's env persists into the next step.
    let later = d.exec("[linux/arm64] hello: step 2 install 1/1");
    assert!(later
        .meta
        .as_ref()
        .unwrap()
        .env
        .iter()
        .any(|e| e == "GREETING=hi"));
    // Cache mount per cachePaths entry, shared.
    let cache: Vec<_> = build
        .mounts
        .iter()
        .filter(|m| m.mount_type == pb::MountType::Cache as i32)
        .collect();
    assert_eq!(cache.len(), 1);
    assert_eq!(cache[0].dest, "/root/.cache");
    let opt = cache[0].cache_opt.as_ref().unwrap();
    assert_eq!(opt.id, "/root/.cache");
    assert_eq!(opt.sharing, pb::CacheSharingOpt::Shared as i32);
    // Execs run on the target platform.
    let op = d.named("[linux/arm64] hello: step 1 build 1/1");
    assert_eq!(op.platform.as_ref().unwrap().architecture, "arm64");
}

#[test]
fn scripts_carry_their_pkg_yaml_lines() {
    let (d, _) = convert(&full_tree(), "hello", Platform::linux("amd64"), options());
    let source = d.def.0.source.as_ref().expect("source map");
    assert!(source.infos.iter().any(|i| i.filename == "hello/pkg.yaml"
        && i.language == "yaml"
        && i.data.starts_with(b"name: hello")));
    let digest = d.digest("[linux/amd64] hello: step 1 build 1/1");
    let locations = &source.locations[&digest].locations;
    let range = locations[0].ranges[0].start.as_ref().unwrap();
    // `- echo $GREETING > out` is line 20 of hello/pkg.yaml.
    assert_eq!(range.line, 20);
}

#[test]
fn downloads_are_pinned_and_verified_without_network() {
    let (d, _) = convert(&full_tree(), "hello", Platform::linux("amd64"), options());
    let http = d
        .sources()
        .into_iter()
        .find(|s| s.identifier.starts_with("http://"))
        .expect("http source");
    assert_eq!(http.identifier, "http://127.0.0.1:8000/hello.tar");
    assert_eq!(http.attrs["http.checksum"], format!("sha256:{SHA256}"));
    assert_eq!(http.attrs["http.filename"], "hello.tar");
    assert!(
        !http.attrs.keys().any(|k| k.starts_with("http.header.")),
        "no headers without the cap"
    );
    let verify = d.exec("[linux/amd64] hello: verify sha512 of hello.tar");
    assert_eq!(verify.network, pb::NetMode::None as i32);
    let meta = verify.meta.as_ref().unwrap();
    assert_eq!(
        meta.args,
        vec![
            "/kiln",
            "verify-sha512",
            "/src/hello.tar",
            SHA512,
            "/out/hello.tar"
        ]
    );
    let src = verify.mounts.iter().find(|m| m.dest == "/src").unwrap();
    assert!(src.readonly);
    let join = d.file("[linux/amd64] hello: step 1 downloads");
    let copy = join.actions.iter().find_map(|a| match &a.action {
        Some(pb::file_action::Action::Copy(c)) => Some(c),
        _ => None,
    });
    assert_eq!(copy.unwrap().dest, "/tmp/build/hello.tar");

    let mut with_headers = options();
    with_headers.http_headers = true;
    let (d, _) = convert(
        &full_tree(),
        "hello",
        Platform::linux("amd64"),
        with_headers,
    );
    let http = d
        .sources()
        .into_iter()
        .find(|s| s.identifier.starts_with("http://"))
        .unwrap();
    assert_eq!(http.attrs["http.header.accept"], "*/*");
}

#[test]
fn dependencies_merge_in_declared_order_with_subtree_copies() {
    let (d, _) = convert(&full_tree(), "hello", Platform::linux("amd64"), options());
    let top = d.named("[linux/amd64] hello: dependencies and context");
    let merge = match &top.op {
        Some(OpKind::Merge(m)) => m.clone(),
        other => panic!("{other:?}"),
    };
    // The scratch base adds nothing; the package's own directory comes last, so it wins.
    assert_eq!(merge.inputs.len(), 3, "stage + image copy + context");
    let names: Vec<String> = top.inputs.iter().map(|i| d.name(&i.digest)).collect();
    assert_eq!(
        names,
        [
            "[linux/amd64] base: finalize / -> /",
            "[linux/amd64] hello: copy --from image tools:1 /bin -> /tools",
            "[linux/amd64] hello: context -> /pkg"
        ]
    );
    let copy = d.file("[linux/amd64] hello: copy --from image tools:1 /bin -> /tools");
    match &copy.actions[0].action {
        Some(pb::file_action::Action::Copy(c)) => {
            assert_eq!((c.src.as_str(), c.dest.as_str()), ("/bin", "/tools"));
            assert!(c.dir_copy_contents && c.create_dest_path);
        }
        other => panic!("{other:?}"),
    }
    // The image dependency is fetched for the build platform.
    let tools = d
        .sources()
        .into_iter()
        .find(|s| s.identifier == "docker-image://docker.io/library/tools:1")
        .unwrap();
    let _ = tools;
}

/// A context op: `/pkg` made first, then the package's directory (`src`) copied into it.
fn assert_pkg_then_copy(file: &pb::FileOp, src: &str) {
    match &file.actions[0].action {
        Some(pb::file_action::Action::Mkdir(m)) => assert_eq!(m.path, "/pkg"),
        other => panic!("{other:?}"),
    }
    match &file.actions[1].action {
        Some(pb::file_action::Action::Copy(c)) => assert_eq!(c.src, src),
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_dependency_takes_the_context_without_a_merge() {
    let trees = tree(&[
        (
            "base/pkg.yaml",
            "name: base\nvariant: scratch\ndependencies:\n  - image: kiln-test/busybox:latest\nfinalize:\n  - from: /\n    to: /\n".into(),
        ),
        (
            "one/pkg.yaml",
            "name: one\nvariant: scratch\ndependencies:\n  - stage: base\nsteps:\n  - build: [\"true\"]\nfinalize:\n  - from: /\n    to: /\n".into(),
        ),
    ]);
    let (d, _) = convert(&trees, "one", Platform::linux("amd64"), options());
    assert!(
        !d.names().iter().any(|n| n.contains("one: dependencies")),
        "{:?}",
        d.names()
    );
    // As in bldr: /pkg made on the dependency's files, the package's directory copied into it.
    let context = d.named("[linux/amd64] one: context -> /pkg");
    let names: Vec<String> = context.inputs.iter().map(|i| d.name(&i.digest)).collect();
    assert_eq!(names[0], "[linux/amd64] base: finalize / -> /");
    assert_pkg_then_copy(d.file("[linux/amd64] one: context -> /pkg"), "/one/*");
    let build = d.named("[linux/amd64] one: build 1/1");
    let context_digest = d.digest("[linux/amd64] one: context -> /pkg");
    assert_eq!(build.inputs[0].digest, context_digest);
}

#[test]
fn context_and_templates_land_in_pkg() {
    let (d, _) = convert(&full_tree(), "hello", Platform::linux("arm64"), options());
    let locals: Vec<_> = d
        .sources()
        .into_iter()
        .filter(|s| s.identifier == "local://context")
        .collect();
    // One transfer of the context for the whole build, holding every package's directory;
    // each package copies its own directory out of it (its cache key depends on that alone).
    assert_eq!(locals.len(), 1, "one context source for every package");
    let include: Vec<String> =
        serde_json::from_str(&locals[0].attrs["local.includepattern"]).unwrap();
    for dir in ["hello", "base"] {
        assert!(include.contains(&dir.to_string()), "{include:?}");
        assert!(include.contains(&format!("{dir}/**")), "{include:?}");
    }
    let hello_copy = d.named("[linux/arm64] hello: context -> /pkg");
    // A layer of its own: /pkg made on scratch, then the package's directory copied into it.
    assert_eq!(hello_copy.inputs.len(), 1, "only the context is an input");
    assert_pkg_then_copy(d.file("[linux/arm64] hello: context -> /pkg"), "/hello/*");
    let ctx = d.file("[linux/arm64] hello: context -> /pkg");
    let mkfile = ctx
        .actions
        .iter()
        .find_map(|a| match &a.action {
            Some(pb::file_action::Action::Mkfile(m)) => Some(m),
            _ => None,
        })
        .unwrap();
    assert_eq!(mkfile.path, "/pkg/manifest.yaml");
    assert_eq!(mkfile.mode, 0o644);
    assert_eq!(
        String::from_utf8_lossy(&mkfile.data),
        "version: v1alpha1\nmetadata:\n  name: hello\n  arch: aarch64\n"
    );
}

#[test]
fn tests_run_on_a_discarded_branch_the_result_waits_for() {
    let converted = Converter::new(&full_tree(), options())
        .target("hello", &Platform::linux("amd64"))
        .unwrap();
    // The image itself neither holds nor waits for the test: nothing on the main chain does.
    let image = kiln_llb::marshal(&converted.image);
    let image = Decoded {
        ops: image.decode_ops().unwrap(),
        def: image,
    };
    assert!(
        !image.names().iter().any(|n| n.contains("test")),
        "{:?}",
        image.names()
    );
    assert_eq!(converted.tests.len(), 1);

    let def = kiln_llb::marshal(&converted.result());
    let d = Decoded {
        ops: def.decode_ops().unwrap(),
        def,
    };
    let test = d.digest("[linux/amd64] hello: step 1 test 1/1");
    // The gate: the test branch against itself, an empty change set the result merges in.
    let gate = d.named("[linux/amd64] hello: step 1 test passed");
    match &gate.op {
        Some(OpKind::Diff(diff)) => {
            let lower = &gate.inputs[diff.lower.as_ref().unwrap().input as usize];
            let upper = &gate.inputs[diff.upper.as_ref().unwrap().input as usize];
            assert_eq!(lower, upper);
            assert_eq!(lower.digest, test);
        }
        other => panic!("{other:?}"),
    }
    let top = d.named("[linux/amd64] hello: tested image");
    assert!(matches!(top.op, Some(OpKind::Merge(_))));
    let gate_digest = d.digest("[linux/amd64] hello: step 1 test passed");
    assert!(top.inputs.iter().any(|i| i.digest == gate_digest));
    // The test runs on the first step's install, and the next step does not wait for it.
    let install = d.digest("[linux/amd64] hello: step 1 install 1/1");
    let test_op = d.named("[linux/amd64] hello: step 1 test 1/1");
    assert_eq!(test_op.inputs[0].digest, install);
    let later = d.named("[linux/amd64] hello: step 2 install 1/1");
    assert!(!later.inputs.iter().any(|i| i.digest == test));
}

#[test]
fn tests_of_stages_below_gate_the_target_once_each() {
    let stage = |name: &str, dep: &str| {
        format!(
            "name: {name}\nvariant: scratch\n{dep}steps:\n  - install: [\"true\"]\n    test: [\"test {name}\"]\nfinalize:\n  - from: /\n    to: /\n"
        )
    };
    let trees = tree(&[
        ("low/pkg.yaml", stage("low", "")),
        ("left/pkg.yaml", stage("left", "dependencies:\n  - stage: low\n")),
        ("right/pkg.yaml", stage("right", "dependencies:\n  - stage: low\n")),
        (
            "top/pkg.yaml",
            "name: top\nvariant: scratch\ndependencies:\n  - stage: left\n  - stage: right\nfinalize:\n  - from: /\n    to: /\n".into(),
        ),
    ]);
    let converted = Converter::new(&trees, options())
        .target("top", &Platform::linux("amd64"))
        .unwrap();
    let def = kiln_llb::marshal(&converted.result());
    let d = Decoded {
        ops: def.decode_ops().unwrap(),
        def,
    };
    let top = d.named("[linux/amd64] top: tested image");
    let gates: Vec<String> = top.inputs[1..].iter().map(|i| d.name(&i.digest)).collect();
    // `low` is below both stages and gates once; dependencies come before dependents.
    assert_eq!(
        gates,
        [
            "[linux/amd64] low: test passed",
            "[linux/amd64] left: test passed",
            "[linux/amd64] right: test passed"
        ]
    );
}

#[test]
fn finalize_copies_are_owned_by_root_and_dated() {
    let (d, _) = convert(&full_tree(), "hello", Platform::linux("amd64"), options());
    let f = d.file("[linux/amd64] hello: finalize /pkg/manifest.yaml -> /");
    match &f.actions[0].action {
        Some(pb::file_action::Action::Copy(c)) => {
            let owner = c.owner.as_ref().unwrap();
            let uid = owner.user.as_ref().unwrap();
            assert_eq!(uid.user, Some(pb::user_opt::User::ById(0)));
            assert_eq!(c.timestamp, 1_700_000_000 * 1_000_000_000);
            assert_eq!(f.actions[0].input, -1, "copied into scratch");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        d.named("[linux/amd64] hello: finalize").op,
        Some(OpKind::Merge(_))
    ));
}

#[test]
fn alpine_variant_and_apk_install() {
    let trees = tree(&[(
        "a/pkg.yaml",
        "name: a\nvariant: alpine\ninstall:\n  - make\n  - gcc\nfinalize: [{from: /, to: /}]\n"
            .into(),
    )]);
    let (d, _) = convert(&trees, "a", Platform::linux("amd64"), options());
    let ids: Vec<_> = d.sources().iter().map(|s| s.identifier.clone()).collect();
    assert!(
        ids.iter()
            .any(|i| i == &format!("docker-image://{ALPINE_IMAGE}")),
        "{ids:?}"
    );
    let apk = d.exec("[linux/amd64] a: apk add make gcc");
    assert_eq!(
        apk.meta.as_ref().unwrap().args,
        vec!["/sbin/apk", "add", "--no-cache", "make", "gcc"]
    );
    assert_ne!(
        apk.network,
        pb::NetMode::None as i32,
        "apk needs the network"
    );
}

#[test]
fn validation_stage_runs_kiln_natively_on_the_image() {
    let mut opts = options();
    opts.validate = Some(ValidateOptions {
        checks: crate::convert::helper::Checks {
            talos_version: Some("v1.12.0".into()),
            kernel_release: None,
            module_signer: Some("Talos module signer".into()),
            module_key_id: Some("4B:49".into()),
        },
        extension: None,
    });
    let (_, validation) = convert(&full_tree(), "hello", Platform::linux("arm64"), opts);
    let v = validation.expect("validation stage");
    let op = v.named("[linux/arm64] hello: validate extension image");
    assert_eq!(
        op.platform.as_ref().unwrap().architecture,
        "amd64",
        "no emulation: the helper runs natively"
    );
    let exec = match &op.op {
        Some(OpKind::Exec(e)) => e,
        _ => unreachable!(),
    };
    assert_eq!(exec.network, pb::NetMode::None as i32);
    let args = &exec.meta.as_ref().unwrap().args;
    assert_eq!(&args[..3], &["/kiln", "validate", "/image"]);
    assert!(args.windows(2).any(|w| w == ["--pkg-name", "hello"]));
    assert!(args.windows(2).any(|w| w == ["--talos-version", "v1.12.0"]));
    assert!(args
        .windows(2)
        .any(|w| w == ["--module-signer", "Talos module signer"]));
    assert!(args.windows(2).any(|w| w == ["--module-key-id", "4B:49"]));
    let image = exec.mounts.iter().find(|m| m.dest == "/image").unwrap();
    assert!(image.readonly);
    let env = &exec.meta.as_ref().unwrap().env;
    assert!(
        env.iter().any(|e| e == "KILN_TARGET_PLATFORM=linux/arm64"),
        "one vertex per platform: {env:?}"
    );
    // Unset everywhere: the stage decides by the output's shape, and says so.
    assert!(args.iter().any(|a| a == "--if-extension"));
    let decision = args.iter().position(|a| a == "--decision").unwrap();
    assert!(
        args[decision + 1].contains("by the output's shape"),
        "{args:?}"
    );
}

#[test]
fn extension_settings_decide_validation_build_arg_first() {
    let with = |pkgfile_extension: &str, pkg_extension: &str, arg: Option<bool>| {
        let trees = tree(&[(
            "hello/pkg.yaml",
            format!(
                "name: hello\nvariant: scratch\n{pkg_extension}finalize: [{{from: /pkg, to: /}}]\n"
            ),
        )]);
        let mut files = trees.files().clone();
        files.insert(
            "Pkgfile",
            format!("# syntax = kiln:dev\nformat: v1alpha2\n{pkgfile_extension}"),
        );
        let trees = Trees::new(files, trees.options().clone());
        let mut opts = options();
        opts.validate = Some(ValidateOptions {
            extension: arg,
            ..Default::default()
        });
        let c = Converter::new(&trees, opts)
            .target("hello", &Platform::linux("amd64"))
            .unwrap();
        let args: Vec<String> = c
            .validation
            .as_ref()
            .map(|v| {
                let def = kiln_llb::marshal(v);
                def.decode_ops()
                    .unwrap()
                    .into_iter()
                    .find_map(|(_, op)| match op.op {
                        Some(OpKind::Exec(e)) => Some(e.meta.unwrap().args),
                        _ => None,
                    })
                    .unwrap()
            })
            .unwrap_or_default();
        (c.extension.unwrap(), args)
    };
    let (d, args) = with("", "extension: true\n", None);
    assert_eq!(d.extension, Some(true));
    assert_eq!(d.why, "`extension: true` in hello/pkg.yaml");
    assert!(
        !args.contains(&"--if-extension".to_string()),
        "always validated: {args:?}"
    );
    let (d, args) = with("extension: false\n", "", None);
    assert_eq!(
        (d.extension, d.why.as_str()),
        (Some(false), "`extension: false` in the Pkgfile")
    );
    assert!(args.is_empty(), "no validation stage");
    assert!(d.describe("hello").contains("not a Talos system extension"));
    let (d, _) = with("extension: false\n", "extension: true\n", None);
    assert_eq!(d.extension, Some(true), "pkg.yaml wins over the Pkgfile");
    let (d, args) = with("", "extension: true\n", Some(false));
    assert_eq!(
        (d.extension, d.why.as_str()),
        (Some(false), "--build-arg KILN_EXTENSION=false")
    );
    assert!(args.is_empty());
    assert_eq!(parse_extension_arg("auto"), Ok(None));
    assert!(parse_extension_arg("yes")
        .unwrap_err()
        .contains("true, false or auto"));
}

#[test]
fn conversion_is_deterministic_and_changes_are_local() {
    let convert_bytes = |trees: &Trees| {
        let c = Converter::new(trees, options())
            .target("hello", &Platform::linux("amd64"))
            .unwrap();
        kiln_llb::marshal(&c.image)
    };
    let a = convert_bytes(&full_tree());
    let b = convert_bytes(&full_tree());
    assert_eq!(a.to_bytes(), b.to_bytes(), "byte-identical definitions");

    // Change only the `base` package: its ops and its dependents' change; the rest stay.
    let mut changed: Vec<(&str, String)> = vec![
        (
            "base/pkg.yaml",
            "name: base\nvariant: scratch\ndependencies:\n  - image: kiln-test/busybox:other\nfinalize:\n  - from: /\n    to: /\n".into(),
        ),
        ("other/pkg.yaml", "name: other\nvariant: scratch\n".into()),
    ];
    let original = full_tree();
    for path in ["hello/pkg.yaml", "hello/manifest.yaml.tmpl"] {
        changed.push((
            path,
            String::from_utf8(original.files().get(path).unwrap().to_vec()).unwrap(),
        ));
    }
    let c = convert_bytes(&tree(&changed));
    let before: std::collections::BTreeSet<String> = a.digests().into_iter().collect();
    let after: std::collections::BTreeSet<String> = c.digests().into_iter().collect();
    let kept = before.intersection(&after).count();
    assert!(kept > 0, "ops that do not depend on base are shared");
    assert!(kept < before.len(), "ops depending on base changed");
    // The http source and the context local do not depend on base: same digests.
    let d1 = Decoded {
        ops: a.decode_ops().unwrap(),
        def: a,
    };
    let d2 = Decoded {
        ops: c.decode_ops().unwrap(),
        def: c,
    };
    let digest_of = |d: &Decoded, pred: &dyn Fn(&pb::SourceOp) -> bool| {
        d.ops
            .iter()
            .find(|(_, op)| matches!(&op.op, Some(OpKind::Source(s)) if pred(s)))
            .map(|(dg, _)| dg.clone())
            .unwrap()
    };
    let http = |s: &pb::SourceOp| s.identifier.starts_with("http://");
    assert_eq!(digest_of(&d1, &http), digest_of(&d2, &http));
    let build1 = d1
        .ops
        .iter()
        .find(|(dg, _)| d1.name(dg).ends_with("step 1 build 1/1"))
        .unwrap()
        .0
        .clone();
    let build2 = d2
        .ops
        .iter()
        .find(|(dg, _)| d2.name(dg).ends_with("step 1 build 1/1"))
        .unwrap()
        .0
        .clone();
    assert_ne!(
        build1, build2,
        "hello's build depends on base, so it changes"
    );
}

#[test]
fn build_platform_pins_execs_and_dependency_platform_overrides() {
    let trees = tree(&[
        ("tool/pkg.yaml", "name: tool\nvariant: scratch\nsteps:\n  - build: [\"true\"]\nfinalize: [{from: /, to: /}]\n".into()),
        (
            "cross/pkg.yaml",
            "name: cross\nvariant: scratch\nbuildPlatform: linux/amd64\ndependencies:\n  - stage: tool\n  - image: sysroot:1\n    platform: linux/arm64\nsteps:\n  - build: [\"echo $ARCH $BUILD\"]\nfinalize: [{from: /, to: /}]\n".into(),
        ),
    ]);
    let (d, _) = convert(&trees, "cross", Platform::linux("arm64"), options());
    let build = d.named("[linux/arm64] cross: build 1/1");
    assert_eq!(
        build.platform.as_ref().unwrap().architecture,
        "amd64",
        "buildPlatform pins execs"
    );
    let env = &match &build.op {
        Some(OpKind::Exec(e)) => e.clone(),
        _ => unreachable!(),
    }
    .meta
    .unwrap()
    .env;
    assert!(
        env.iter().any(|e| e == "ARCH=aarch64"),
        "ARCH is the target's"
    );
    assert!(
        env.iter().any(|e| e == "BUILD=x86_64-linux-musl"),
        "BUILD is the build platform's"
    );
    // The stage dependency is built natively at the build platform.
    let tool = d.named("[linux/amd64] tool: build 1/1");
    assert_eq!(tool.platform.as_ref().unwrap().architecture, "amd64");
    let sysroot = d
        .ops
        .iter()
        .find(
            |(_, op)| matches!(&op.op, Some(OpKind::Source(s)) if s.identifier.contains("sysroot")),
        )
        .unwrap();
    assert_eq!(sysroot.1.platform.as_ref().unwrap().architecture, "arm64");
}

#[test]
fn the_result_depends_on_validation_without_taking_its_files() {
    let mut opts = options();
    opts.validate = Some(ValidateOptions::default());
    let converted = Converter::new(&full_tree(), opts)
        .target("hello", &Platform::linux("amd64"))
        .unwrap();
    let def = kiln_llb::marshal(&converted.result());
    let d = Decoded {
        ops: def.decode_ops().unwrap(),
        def,
    };
    let top = d.named("[linux/amd64] hello: validated image");
    assert!(matches!(top.op, Some(OpKind::Merge(_))));
    let nothing = d.named("[linux/amd64] hello: nothing");
    match &nothing.op {
        Some(OpKind::Diff(diff)) => {
            // The stage against itself: an empty change set, so the image gains no layer.
            let lower = &nothing.inputs[diff.lower.as_ref().unwrap().input as usize];
            let upper = &nothing.inputs[diff.upper.as_ref().unwrap().input as usize];
            assert_eq!(lower, upper);
        }
        other => panic!("{other:?}"),
    }
    let validate_digest = d.digest("[linux/amd64] hello: validate extension image");
    assert!(nothing.inputs.iter().any(|i| i.digest == validate_digest));
    let args = match &d.named("[linux/amd64] hello: validate extension image").op {
        Some(OpKind::Exec(e)) => e.meta.as_ref().unwrap().args.clone(),
        _ => unreachable!(),
    };
    assert!(
        args.windows(2)
            .any(|w| w == ["--report", "/out/validation.txt"]),
        "{args:?}"
    );
}

#[test]
fn a_change_reaches_only_the_package_and_its_dependents() {
    let lib = |name: &str, script: &str| {
        format!("name: {name}\nvariant: scratch\nsteps:\n  - build:\n      - {script}\nfinalize:\n  - from: /\n    to: /\n")
    };
    let app = "name: app\nvariant: scratch\ndependencies:\n  - stage: one\n  - stage: two\nsteps:\n  - build:\n      - make app\nfinalize:\n  - from: /\n    to: /\n";
    let digests_by_name = |one_script: &str| {
        let trees = tree(&[
            ("one/pkg.yaml", lib("one", one_script)),
            ("two/pkg.yaml", lib("two", "make two")),
            ("app/pkg.yaml", app.to_string()),
        ]);
        let c = Converter::new(&trees, options())
            .target("app", &Platform::linux("amd64"))
            .unwrap();
        let def = kiln_llb::marshal(&c.image);
        let d = Decoded {
            ops: def.decode_ops().unwrap(),
            def,
        };
        d.ops
            .iter()
            .map(|(dg, _)| (d.name(dg), dg.clone()))
            .filter(|(n, _)| !n.is_empty())
            .collect::<BTreeMap<String, String>>()
    };
    let before = digests_by_name("make one");
    let after = digests_by_name("make one --again");
    assert_eq!(before.len(), after.len());
    let changed: Vec<&String> = before.keys().filter(|n| before[*n] != after[*n]).collect();
    // Package two, and whatever of one and app comes before the change, keeps its digests.
    for (name, digest) in &before {
        if name.contains("] two: ") || name.ends_with("context -> /pkg") {
            assert_eq!(
                &after[name], digest,
                "{name} does not depend on package one's script"
            );
        }
    }
    for expected in [
        "[linux/amd64] one: build 1/1",
        "[linux/amd64] one: finalize / -> /",
        "[linux/amd64] app: dependencies and context",
        "[linux/amd64] app: build 1/1",
        "[linux/amd64] app: finalize / -> /",
    ] {
        assert!(
            changed.iter().any(|n| *n == expected),
            "{expected} changed: {changed:?}"
        );
    }
    assert!(
        changed
            .iter()
            .all(|n| n.contains("] one: ") || n.contains("] app: ")),
        "{changed:?}"
    );
}

#[test]
fn proxy_build_args_reach_scripts_and_apk_only() {
    let args = BTreeMap::from([
        ("HTTP_PROXY".to_string(), "http://proxy:3128".to_string()),
        ("no_proxy".to_string(), "localhost".to_string()),
        ("TAG".to_string(), "v1".to_string()),
    ]);
    let proxy = proxy_from_build_args(&args).expect("proxy settings");
    assert_eq!(proxy.http_proxy, "http://proxy:3128");
    assert_eq!(proxy.no_proxy, "localhost");
    assert!(proxy_from_build_args(&BTreeMap::new()).is_none());

    let mut opts = options();
    opts.proxy = Some(proxy);
    let (d, _) = convert(&full_tree(), "hello", Platform::linux("amd64"), opts);
    let build = d.exec("[linux/amd64] hello: step 1 build 1/1");
    assert_eq!(
        build
            .meta
            .as_ref()
            .unwrap()
            .proxy_env
            .as_ref()
            .unwrap()
            .http_proxy,
        "http://proxy:3128"
    );
    // The sha512 check runs without network: it gets no proxy.
    let verify = d.exec("[linux/amd64] hello: verify sha512 of hello.tar");
    assert!(verify.meta.as_ref().unwrap().proxy_env.is_none());
}

/// A step listing 100,000 scripts loads, plans and converts (one exec per script, in order),
/// and its definition marshals; nothing on the way recurses per script or rescans the file.
#[test]
fn a_step_with_100000_scripts_converts() {
    const SCRIPTS: usize = 100_000;
    let mut text = String::from("name: big\nvariant: scratch\nsteps:\n  - build:\n");
    for i in 0..SCRIPTS {
        text.push_str(&format!("      - echo {i}\n"));
    }
    text.push_str("finalize:\n  - from: /\n    to: /\n");
    let trees = tree(&[("big/pkg.yaml", text)]);
    let tree = trees.get(&Platform::linux("amd64")).unwrap();
    let step = &tree.packages["big"].pkg.steps[0];
    assert_eq!(step.build.len(), SCRIPTS);
    assert_eq!(step.build[SCRIPTS - 1].span.line, 4 + SCRIPTS);
    let converted = Converter::new(&trees, options())
        .target("big", &Platform::linux("amd64"))
        .unwrap();
    let def = kiln_llb::marshal(&converted.image);
    // The context (local + its layer), the scripts, finalize, terminal.
    assert_eq!(def.ops().len(), SCRIPTS + 4);
    let last_script = kiln_proto::prost::Message::decode(def.ops()[SCRIPTS + 1].as_slice())
        .map(|op: pb::Op| op)
        .unwrap();
    match last_script.op {
        Some(OpKind::Exec(e)) => assert!(
            e.meta.unwrap().args[2].ends_with(&format!("echo {}", SCRIPTS - 1)),
            "the last script runs last"
        ),
        other => panic!("not an exec: {other:?}"),
    }
}

/// A chain of 10,000 packages, each depending on the previous one, loads, plans and converts.
#[test]
fn a_dependency_chain_10000_packages_deep_converts() {
    const DEPTH: usize = 10_000;
    let finalize = "finalize:\n  - from: /\n    to: /\n";
    let mut entries = vec![(
        "p0/pkg.yaml".to_string(),
        format!("name: p0\nvariant: scratch\n{finalize}"),
    )];
    for i in 1..DEPTH {
        entries.push((
            format!("p{i}/pkg.yaml"),
            format!(
                "name: p{i}\nvariant: scratch\ndependencies:\n  - stage: p{}\n{finalize}",
                i - 1
            ),
        ));
    }
    let borrowed: Vec<(&str, String)> = entries
        .iter()
        .map(|(p, t)| (p.as_str(), t.clone()))
        .collect();
    let trees = tree(&borrowed);
    let last = format!("p{}", DEPTH - 1);
    let plan = trees
        .get(&Platform::linux("amd64"))
        .unwrap()
        .resolve(&last)
        .unwrap();
    assert_eq!(plan.order.len(), DEPTH);
    assert_eq!(plan.order[0], "p0", "the deepest dependency comes first");
    let converted = Converter::new(&trees, options())
        .target(&last, &Platform::linux("amd64"))
        .unwrap();
    let def = kiln_llb::marshal(&converted.image);
    // One context source holds every package's directory; each package copies its own.
    let ops = def.decode_ops().unwrap();
    let sources: Vec<&pb::SourceOp> = ops
        .iter()
        .filter_map(|(_, op)| match &op.op {
            Some(OpKind::Source(s)) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(sources.len(), 1);
    let include: Vec<String> =
        serde_json::from_str(&sources[0].attrs["local.includepattern"]).unwrap();
    assert_eq!(include.len(), 2 * DEPTH);
    let copies = ops
        .iter()
        .filter(|(_, op)| match &op.op {
            Some(OpKind::File(f)) => f
                .actions
                .iter()
                .any(|a| matches!(&a.action, Some(pb::file_action::Action::Copy(c)) if c.dest == "/pkg/")),
            _ => false,
        })
        .count();
    assert_eq!(copies, DEPTH);
}

#[test]
fn a_named_context_replaces_the_pinned_alpine_base() {
    let trees = tree(&[(
        "a/pkg.yaml",
        "name: a\nvariant: alpine\ninstall: [make]\nsteps:\n  - build: [make]\nfinalize:\n  - from: /out\n    to: /\n".into(),
    )]);
    let pinned = format!("docker-image://{ALPINE_IMAGE}");
    let (d, _) = convert(&trees, "a", Platform::linux("arm64"), options());
    let ids: Vec<String> = d.sources().iter().map(|s| s.identifier.clone()).collect();
    assert!(ids.contains(&pinned), "{ids:?}");

    let mut opts = options();
    let asked: std::sync::Arc<std::sync::Mutex<Vec<(String, Platform)>>> = Default::default();
    let record = asked.clone();
    opts.image_override = Some(std::sync::Arc::new(move |reference: &str, platform| {
        record
            .lock()
            .unwrap()
            .push((reference.to_string(), platform.clone()));
        Some(
            kiln_llb::Image::new("mirror.internal/alpine:3.21")
                .unwrap()
                .output(),
        )
    }));
    let (d, _) = convert(&trees, "a", Platform::linux("arm64"), opts);
    let ids: Vec<String> = d.sources().iter().map(|s| s.identifier.clone()).collect();
    assert!(!ids.contains(&pinned), "the pinned image is gone: {ids:?}");
    assert!(
        ids.contains(&"docker-image://mirror.internal/alpine:3.21".to_string()),
        "{ids:?}"
    );
    assert_eq!(
        *asked.lock().unwrap(),
        [(ALPINE_IMAGE.to_string(), Platform::linux("arm64"))],
        "asked once, for the build platform"
    );
    // The base's own steps run inside the replacement.
    let apk = d.exec("[linux/arm64] a: alpine base: apk add bash");
    assert_eq!(
        apk.meta.as_ref().unwrap().args,
        ["/sbin/apk", "--no-cache", "--update", "add", "bash"]
    );
}
