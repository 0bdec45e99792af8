//! Marshaling rules checked on decoded definitions: digests, ordering, sentinels, caps,
//! deduplication, embedding and source locations.

use std::collections::BTreeSet;

use kiln_llb::pb::{self, op::Op as Body};
use kiln_llb::*;

fn alpine() -> Output {
    Image::new("alpine:3.20")
        .unwrap()
        .platform("linux/arm64".parse().unwrap())
        .output()
}

fn ops(def: &Definition) -> Vec<(String, pb::Op)> {
    def.decode_ops().unwrap()
}

fn exec_of(op: &pb::Op) -> &pb::ExecOp {
    match &op.op {
        Some(Body::Exec(e)) => e,
        other => panic!("not an exec: {other:?}"),
    }
}

fn file_of(op: &pb::Op) -> &pb::FileOp {
    match &op.op {
        Some(Body::File(f)) => f,
        other => panic!("not a file op: {other:?}"),
    }
}

/// A small graph: an image, a local context copied in, an exec on it.
fn sample(image_ref: &str, context_name: &str) -> Output {
    let img = Image::new(image_ref).unwrap().output();
    let ctx = Local::new(context_name).session_id("s1").output();
    let with_src = FileOp::new(&img)
        .copy(&ctx, "/", "/src/", CopyOptions::default())
        .output()
        .unwrap();
    Exec::new(&with_src)
        .args(["make"])
        .cwd("/src")
        .build()
        .unwrap()
        .root()
}

#[test]
fn same_graph_gives_same_bytes_and_changes_only_dependents() {
    let a = marshal(&sample("alpine:3.20", "context"));
    let b = marshal(&sample("alpine:3.20", "context"));
    assert_eq!(a.to_bytes(), b.to_bytes());

    let changed = marshal(&sample("alpine:3.21", "context"));
    let before: BTreeSet<String> = a.digests().into_iter().collect();
    let after: BTreeSet<String> = changed.digests().into_iter().collect();
    // local source unchanged; image, copy (depends on image), exec, terminal changed.
    assert_eq!(before.intersection(&after).count(), 1);
    let common = before.intersection(&after).next().unwrap().clone();
    let local = ops(&a)
        .into_iter()
        .find(
            |(_, op)| matches!(&op.op, Some(Body::Source(s)) if s.identifier == "local://context"),
        )
        .unwrap();
    assert_eq!(common, local.0);
    assert_eq!(before.len(), 5);
}

#[test]
fn inputs_come_before_users_and_terminal_is_last() {
    let def = marshal(&sample("alpine", "context"));
    let decoded = ops(&def);
    let mut seen = BTreeSet::new();
    for (digest, op) in &decoded {
        for input in &op.inputs {
            assert!(
                seen.contains(&input.digest),
                "{digest} uses {} before it is defined",
                input.digest
            );
        }
        seen.insert(digest.clone());
    }
    let (terminal_digest, terminal) = decoded.last().unwrap();
    assert!(terminal.op.is_none());
    assert!(terminal.platform.is_none());
    assert_eq!(terminal.inputs.len(), 1);
    let exec_digest = &decoded[decoded.len() - 2].0;
    assert_eq!(
        terminal.inputs[0],
        pb::Input {
            digest: exec_digest.clone(),
            index: 0
        }
    );
    assert_eq!(def.head().unwrap().digest, *exec_digest);
    let caps = &def.as_pb().metadata[terminal_digest].caps;
    assert_eq!(caps.keys().collect::<Vec<_>>(), ["constraints", "platform"]);
    // metadata is keyed by the digest of the exact op bytes
    for (digest, _) in &decoded {
        assert!(def.as_pb().metadata.contains_key(digest));
    }
}

#[test]
fn scratch_marshals_to_an_empty_definition() {
    let def = marshal(&Output::scratch());
    assert!(
        def.ops().is_empty() && def.as_pb().metadata.is_empty() && def.as_pb().source.is_none()
    );
    assert!(def.to_bytes().is_empty());
    assert!(merge(&[Output::scratch(), Output::scratch()]).is_scratch());
    assert!(def.head().is_none());
}

#[test]
fn exec_mount_indexes_and_sentinels() {
    let root = alpine();
    let data = Local::new("data").output();
    let run = Exec::new(&root)
        .args(["sh", "-c", "true"])
        .mount(Mount::bind("/work/b", &data))
        .mount(Mount::bind("/work/a", &Output::scratch()))
        .mount(Mount::bind("/ro", &data).readonly().selector("sub"))
        .mount(Mount::cache("/cache", "pkg-cache", CacheSharing::Locked))
        .mount(Mount::tmpfs("/tmp", 0))
        .build()
        .unwrap();
    let def = marshal(&run.output("/work/b").unwrap());
    let decoded = ops(&def);
    let (_, exec_op) = decoded
        .iter()
        .find(|(_, op)| matches!(op.op, Some(Body::Exec(_))))
        .unwrap();
    let exec = exec_of(exec_op);
    let dests: Vec<&str> = exec.mounts.iter().map(|m| m.dest.as_str()).collect();
    assert_eq!(dests, ["/", "/cache", "/ro", "/tmp", "/work/a", "/work/b"]);
    let outputs: Vec<i64> = exec.mounts.iter().map(|m| m.output).collect();
    assert_eq!(outputs, [0, -1, -1, -1, 1, 2]);
    let inputs: Vec<i64> = exec.mounts.iter().map(|m| m.input).collect();
    // root is input 0; `data` is used twice but is one input; cache, tmpfs and scratch are -1
    assert_eq!(inputs, [0, -1, 1, -1, -1, 1]);
    assert_eq!(exec_op.inputs.len(), 2);
    assert_eq!(exec.mounts[1].mount_type, pb::MountType::Cache as i32);
    assert_eq!(
        exec.mounts[1].cache_opt,
        Some(pb::CacheOpt {
            id: "pkg-cache".into(),
            sharing: pb::CacheSharingOpt::Locked as i32
        })
    );
    assert_eq!(exec.mounts[3].mount_type, pb::MountType::Tmpfs as i32);
    assert!(exec.mounts[2].readonly);
    assert_eq!(exec.mounts[2].selector, "sub");
    // the exec inherits the root's platform
    assert_eq!(exec_op.platform.as_ref().unwrap().architecture, "arm64");
    // handles point at the same indexes
    assert_eq!(
        marshal(&run.output("/work/a").unwrap())
            .head()
            .unwrap()
            .index,
        1
    );
    assert_eq!(marshal(&run.root()).head().unwrap().index, 0);
    assert!(run.output("/cache").is_none() && run.output("/tmp").is_none());
    assert_eq!(def.head().unwrap().index, 2);
    let caps = def.required_caps();
    for c in [
        "exec.meta.base",
        "exec.mount.bind",
        "exec.mount.cache",
        "exec.mount.cache.sharing",
        "exec.mount.selector",
        "exec.mount.tmpfs",
        "source.image",
        "source.local",
    ] {
        assert!(caps.contains(c), "missing {c}");
    }
    assert!(!caps.contains("exec.mount.tmpfs.size"));
    assert!(!caps.contains("exec.meta.network"));
}

#[test]
fn exec_validation_errors() {
    let root = alpine();
    assert_eq!(Exec::new(&root).build().unwrap_err(), LlbError::EmptyArgs);
    let dup = Exec::new(&root)
        .args(["true"])
        .mount(Mount::tmpfs("/t", 0))
        .mount(Mount::tmpfs("/t", 0))
        .build();
    assert_eq!(dup.unwrap_err(), LlbError::DuplicateMount("/t".into()));
    let rel = Exec::new(&root)
        .args(["true"])
        .mount(Mount::tmpfs("t", 0))
        .build();
    assert_eq!(rel.unwrap_err(), LlbError::RelativeMountDest("t".into()));
}

#[test]
fn exec_meta_fields() {
    let run = Exec::new(&alpine())
        .args(["/bin/sh", "-c", "echo"])
        .env("PATH", "/bin")
        .env("A", "1")
        .env("PATH", "/usr/bin:/bin")
        .cwd("/pkg")
        .user("0:0")
        .network(NetworkMode::None)
        .build()
        .unwrap();
    let def = marshal(&run.root());
    let decoded = ops(&def);
    let (digest, op) = &decoded[decoded.len() - 2];
    let exec = exec_of(op);
    let meta = exec.meta.as_ref().unwrap();
    assert_eq!(meta.env, ["PATH=/usr/bin:/bin", "A=1"]);
    assert_eq!((meta.cwd.as_str(), meta.user.as_str()), ("/pkg", "0:0"));
    assert_eq!(exec.network, pb::NetMode::None as i32);
    assert!(def.as_pb().metadata[digest]
        .caps
        .contains_key("exec.meta.network"));
}

#[test]
fn file_op_chain_sentinels() {
    let src = Local::new("context").output();
    let out = FileOp::new(&Output::scratch())
        .mkdir(
            "/pkg",
            0o755,
            MkdirOptions {
                make_parents: true,
                ..Default::default()
            },
        )
        .mkfile(
            "/pkg/a",
            0o644,
            "hi",
            MkfileOptions {
                owner: Some(ChownOwner { uid: 0, gid: 0 }),
                timestamp: Some(5),
            },
        )
        .copy(
            &src,
            "dir",
            "/pkg/",
            CopyOptions {
                create_dest_path: true,
                dir_copy_contents: true,
                ..Default::default()
            },
        )
        .rm(
            "/pkg/x",
            RmOptions {
                allow_not_found: true,
                ..Default::default()
            },
        )
        .output()
        .unwrap();
    let def = marshal(&out);
    let decoded = ops(&def);
    let (digest, op) = &decoded[decoded.len() - 2];
    assert!(op.platform.is_none(), "file ops are not platform specific");
    assert_eq!(op.inputs.len(), 1, "only the copy source is an input");
    let file = file_of(op);
    let shape: Vec<(i64, i64, i64)> = file
        .actions
        .iter()
        .map(|a| (a.input, a.secondary_input, a.output))
        .collect();
    // first acts on scratch; then each on the previous action (1 input + k-1)
    assert_eq!(shape, [(-1, -1, -1), (1, -1, -1), (2, 0, -1), (3, -1, 0)]);
    use pb::file_action::Action;
    let Some(Action::Mkdir(mkdir)) = &file.actions[0].action else {
        panic!()
    };
    assert_eq!(
        (mkdir.mode, mkdir.timestamp, mkdir.make_parents),
        (0o755, -1, true)
    );
    let Some(Action::Mkfile(mkfile)) = &file.actions[1].action else {
        panic!()
    };
    assert_eq!(mkfile.timestamp, 5_000_000_000);
    assert_eq!(
        mkfile.owner.as_ref().unwrap().user,
        Some(pb::UserOpt {
            user: Some(pb::user_opt::User::ById(0))
        })
    );
    let Some(Action::Copy(copy)) = &file.actions[2].action else {
        panic!()
    };
    assert_eq!((copy.mode, copy.timestamp), (-1, -1));
    assert_eq!((copy.src.as_str(), copy.dest.as_str()), ("/dir", "/pkg/"));
    assert!(copy.create_dest_path && copy.dir_copy_contents);
    let caps = &def.as_pb().metadata[digest].caps;
    assert_eq!(caps.keys().collect::<Vec<_>>(), ["file.base"]);
}

#[test]
fn file_op_base_is_an_input_and_patterns_need_a_cap() {
    let base = alpine();
    let out = FileOp::new(&base)
        .copy(
            &base,
            "/etc",
            "/backup",
            CopyOptions {
                include_patterns: vec!["*.conf".into()],
                mode: Some(0o600),
                ..Default::default()
            },
        )
        .symlink("/backup", "/b", None, None)
        .output()
        .unwrap();
    let def = marshal(&out);
    let decoded = ops(&def);
    let (digest, op) = &decoded[decoded.len() - 2];
    assert_eq!(
        op.inputs.len(),
        1,
        "base and copy source are the same input"
    );
    let shape: Vec<(i64, i64, i64)> = file_of(op)
        .actions
        .iter()
        .map(|a| (a.input, a.secondary_input, a.output))
        .collect();
    assert_eq!(shape, [(0, 0, -1), (1, -1, 0)]);
    let caps = &def.as_pb().metadata[digest].caps;
    assert!(caps.contains_key("file.copy.includeexcludepatterns"));
    assert!(caps.contains_key("file.symlink.create"));
    let err = check_caps(&def.required_caps(), &known_caps(BUILDKIT_BASELINE)).unwrap_err();
    assert_eq!(err.missing.len(), 1);
    assert!(err
        .to_string()
        .contains("`file.symlink.create` (added in BuildKit v0.19)"));
}

#[test]
fn merge_and_diff() {
    let base = alpine();
    let other = Local::new("x").output();
    assert!(same_result(
        &merge(&[Output::scratch(), base.clone()]),
        &base
    ));
    let merged = merge(&[base.clone(), Output::scratch(), other.clone()]);
    let changes = diff(&base, &merged);
    let def = marshal(&changes);
    let decoded = ops(&def);
    let (merge_digest, merge_op) = decoded
        .iter()
        .find(|(_, op)| matches!(op.op, Some(Body::Merge(_))))
        .unwrap();
    let Some(Body::Merge(m)) = &merge_op.op else {
        unreachable!()
    };
    assert_eq!(m.inputs.iter().map(|i| i.input).collect::<Vec<_>>(), [0, 1]);
    assert!(merge_op.platform.is_none());
    assert!(def.as_pb().metadata[merge_digest]
        .caps
        .contains_key("mergeop"));
    let (diff_digest, diff_op) = &decoded[decoded.len() - 2];
    let Some(Body::Diff(d)) = &diff_op.op else {
        panic!("expected diff")
    };
    assert_eq!((d.lower.unwrap().input, d.upper.unwrap().input), (0, 1));
    assert_eq!(diff_op.inputs[1].digest, *merge_digest);
    assert!(def.as_pb().metadata[diff_digest]
        .caps
        .contains_key("diffop"));

    let to_scratch = marshal(&diff(&base, &Output::scratch()));
    let decoded = ops(&to_scratch);
    let Some(Body::Diff(d)) = &decoded[decoded.len() - 2].1.op else {
        panic!("expected diff")
    };
    assert_eq!(d.upper.unwrap().input, -1);
    assert!(same_result(&diff(&Output::scratch(), &base), &base));
}

/// Whether two outputs marshal to the same definition.
fn same_result(a: &Output, b: &Output) -> bool {
    marshal(a).to_bytes() == marshal(b).to_bytes()
}

#[test]
fn identical_ops_are_emitted_once() {
    // two separately built but identical images, plus the same Local twice
    let a = alpine();
    let b = alpine();
    let run = Exec::new(&a)
        .args(["true"])
        .mount(Mount::bind("/b", &b).readonly())
        .custom_name("first name")
        .build()
        .unwrap();
    let def = marshal(&merge(&[run.root(), b.clone(), a.clone()]));
    let decoded = ops(&def);
    let images = decoded
        .iter()
        .filter(|(_, op)| matches!(op.op, Some(Body::Source(_))))
        .count();
    assert_eq!(images, 1);
    let digests = def.digests();
    assert_eq!(digests.len(), digests.iter().collect::<BTreeSet<_>>().len());
    let exec = decoded
        .iter()
        .find(|(_, op)| matches!(op.op, Some(Body::Exec(_))))
        .unwrap();
    assert_eq!(exec.1.inputs.len(), 1, "root and /b mount share one input");
    assert_eq!(exec_of(&exec.1).mounts[1].input, 0);
    assert_eq!(
        def.as_pb().metadata[&exec.0]
            .description
            .get("llb.customname")
            .map(String::as_str),
        Some("first name")
    );
    let terminal = def.digests().last().unwrap().clone();
    assert!(def.as_pb().metadata[&terminal]
        .caps
        .contains_key("meta.description"));
}

#[test]
fn sources_attrs_and_caps() {
    let img = Image::new(
        "ghcr.io/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    )
    .unwrap()
    .resolve_mode(ResolveMode::ForcePull)
    .output();
    let local = Local::new("context")
        .session_id("sess")
        .include_patterns(["pkg.yaml", "a/**"])
        .exclude_patterns(["*.tmp"])
        .follow_paths(["a"])
        .shared_key_hint("context")
        .output();
    let http = Http::new("https://example.com/f.tar.gz")
        .checksum("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
        .unwrap()
        .filename("f.tar.gz")
        .perm(0o644)
        .header("User-Agent", "kiln")
        .output();
    let def = marshal(&merge(&[img, local, http]));
    let mut by_id = std::collections::BTreeMap::new();
    for (digest, op) in ops(&def) {
        if let Some(Body::Source(s)) = op.op {
            by_id.insert(s.identifier.clone(), (digest, s.attrs));
        }
    }
    let (img_d, img_attrs) = &by_id["docker-image://ghcr.io/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"];
    assert_eq!(img_attrs["image.resolvemode"], "pull");
    assert!(def.as_pb().metadata[img_d]
        .caps
        .contains_key("source.image.resolvemode"));
    let (local_d, local_attrs) = &by_id["local://context"];
    assert_eq!(
        local_attrs["local.includepattern"],
        r#"["pkg.yaml","a/**"]"#
    );
    assert_eq!(local_attrs["local.excludepatterns"], r#"["*.tmp"]"#);
    assert_eq!(local_attrs["local.followpaths"], r#"["a"]"#);
    assert_eq!(local_attrs["local.session"], "sess");
    assert_eq!(local_attrs["local.sharedkeyhint"], "context");
    let local_caps: Vec<&String> = def.as_pb().metadata[local_d].caps.keys().collect();
    assert_eq!(
        local_caps,
        [
            "source.local",
            "source.local.excludepatterns",
            "source.local.followpaths",
            "source.local.includepatterns",
            "source.local.sessionid",
            "source.local.sharedkeyhint"
        ]
    );
    let (http_d, http_attrs) = &by_id["https://example.com/f.tar.gz"];
    assert_eq!(http_attrs["http.perm"], "0644");
    assert_eq!(http_attrs["http.filename"], "f.tar.gz");
    assert_eq!(http_attrs["http.header.user-agent"], "kiln");
    assert!(http_attrs["http.checksum"].starts_with("sha256:0123"));
    let http_caps = &def.as_pb().metadata[http_d].caps;
    assert!(
        http_caps.contains_key("source.http.checksum")
            && http_caps.contains_key("source.http.header")
    );
    let err = check_caps(&def.required_caps(), &known_caps(13)).unwrap_err();
    assert_eq!(
        err.missing
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>(),
        ["source.http.header"]
    );
    assert!(err.to_string().contains("v0.21"));
}

#[test]
fn embedded_definition_keeps_op_bytes() {
    let inner = Exec::new(&alpine())
        .args(["build-helper"])
        .custom_name("helper")
        .build()
        .unwrap()
        .root();
    let inner_def = marshal(&inner);
    let bytes = inner_def.to_bytes();
    let embedded = embed_definition(&bytes).unwrap();
    assert_eq!(
        embedded.platform().map(ToString::to_string).as_deref(),
        Some("linux/arm64")
    );

    let check = Exec::new(&embedded)
        .args(["kiln", "verify"])
        .mount(Mount::bind("/rootfs", &Local::new("x").output()).readonly())
        .build()
        .unwrap();
    let outer = marshal(&check.root());
    let inner_ops = &inner_def.ops()[..inner_def.ops().len() - 1];
    for op in inner_ops {
        assert!(
            outer.ops().contains(op),
            "embedded op bytes must be kept verbatim"
        );
    }
    let head = inner_def.head().unwrap();
    let decoded = ops(&outer);
    let (_, exec_op) = &decoded[decoded.len() - 2];
    assert_eq!(exec_op.inputs[0], head);
    assert_eq!(
        outer.as_pb().metadata[&head.digest].description["llb.customname"],
        "helper"
    );
    assert!(embed_definition(&[]).unwrap().is_scratch());
    // a definition whose last op is not terminal is refused
    let bad = pb::Definition {
        def: vec![inner_def.ops()[0].clone()],
        ..Default::default()
    };
    use kiln_proto::Message;
    assert!(matches!(
        embed_definition(&bad.encode_to_vec()),
        Err(LlbError::InvalidDefinition(_))
    ));
}

#[test]
fn source_locations_land_under_the_op_digest() {
    let yaml = SourceMap::new("pkg.yaml", "yaml", "name: x\nsteps:\n  - build: make\n");
    let other = SourceMap::new("pkg.yaml", "yaml", "name: x\nsteps:\n  - build: make\n");
    let img = Image::new("alpine")
        .unwrap()
        .location(&yaml, vec![Range::lines(1, 1)])
        .output();
    let run = Exec::new(&img)
        .args(["make"])
        .location(&other, vec![Range::lines(3, 3)])
        .build()
        .unwrap();
    let def = marshal(&run.root());
    let source = def.as_pb().source.as_ref().unwrap();
    assert_eq!(source.infos.len(), 1, "equal source maps are stored once");
    assert_eq!(source.infos[0].filename, "pkg.yaml");
    assert_eq!(source.infos[0].language, "yaml");
    let decoded = ops(&def);
    let exec_digest = &decoded[decoded.len() - 2].0;
    let locs = &source.locations[exec_digest].locations;
    assert_eq!(locs.len(), 1);
    assert_eq!(locs[0].source_index, 0);
    assert_eq!(locs[0].ranges[0].start.unwrap().line, 3);
    assert_eq!(source.locations.len(), 2);
    assert_eq!(
        source.locations[&decoded[0].0].locations[0].ranges[0]
            .start
            .unwrap()
            .line,
        1
    );
}

#[test]
fn json_dump_names_ops() {
    let out = FileOp::new(&alpine())
        .mkfile("/a", 0o644, "x", MkfileOptions::default())
        .output()
        .unwrap();
    let def = marshal(&out);
    let json = def.to_json();
    let ops = json["ops"].as_array().unwrap();
    assert_eq!(ops.len(), 3);
    assert_eq!(ops[0]["digest"], def.digests()[0]);
    assert_eq!(
        ops[0]["op"]["source"]["identifier"],
        "docker-image://docker.io/library/alpine:3.20"
    );
    assert_eq!(ops[0]["op"]["platform"], "linux/arm64");
    assert_eq!(ops[1]["op"]["file"][0]["mkfile"]["data"], "x");
    assert_eq!(ops[1]["op"]["file"][0]["mkfile"]["mode"], "644");
    assert_eq!(ops[2]["op"]["terminal"], true);
    assert_eq!(
        ops[2]["metadata"]["caps"],
        serde_json::json!(["constraints", "platform"])
    );
}

#[test]
fn definition_round_trips_through_bytes() {
    let def = marshal(&sample("alpine", "context"));
    let again = Definition::from_bytes(&def.to_bytes()).unwrap();
    assert_eq!(again, def);
    assert!(Definition::from_bytes(b"\xff\xff").is_err());
}

#[test]
fn proxy_env_goes_into_meta_with_its_cap() {
    let root = Image::new("alpine:3.20").unwrap().output();
    let proxy = pb::ProxyEnv {
        http_proxy: "http://proxy:3128".into(),
        ..Default::default()
    };
    let run = Exec::new(&root)
        .args(["true"])
        .proxy_env(proxy)
        .build()
        .unwrap();
    let def = marshal(&run.root());
    let exec = def
        .decode_ops()
        .unwrap()
        .into_iter()
        .find_map(|(d, op)| match op.op {
            Some(pb::op::Op::Exec(e)) => Some((d, e)),
            _ => None,
        })
        .unwrap();
    let meta = exec.1.meta.unwrap();
    assert_eq!(meta.proxy_env.unwrap().http_proxy, "http://proxy:3128");
    assert!(def.as_pb().metadata[&exec.0]
        .caps
        .contains_key("exec.meta.proxyenv"));
}

/// 100,000 ops in one chain (each on the previous one's result, with a source location):
/// marshaling, digests, caps and dropping the graph work without recursing once per op, and the
/// order is still inputs first.
#[test]
fn a_chain_of_100000_ops_marshals_and_drops() {
    const LENGTH: usize = 100_000;
    let source = SourceMap::new("pkg.yaml", "yaml", "build:\n  - x\n".repeat(10));
    let mut root = alpine();
    for i in 0..LENGTH {
        root = FileOp::new(&root)
            .mkdir(&format!("/{i}"), 0o755, MkdirOptions::default())
            .location(&source, vec![Range::lines(2, 2)])
            .output()
            .unwrap();
    }
    let def = marshal(&root);
    // The image, every file op, the terminal op.
    assert_eq!(def.ops().len(), LENGTH + 2);
    let decoded = ops(&def);
    let position: std::collections::HashMap<&str, usize> = decoded
        .iter()
        .enumerate()
        .map(|(i, (d, _))| (d.as_str(), i))
        .collect();
    for (i, (_, op)) in decoded.iter().enumerate() {
        for input in &op.inputs {
            assert!(
                position[input.digest.as_str()] < i,
                "op {i} comes after its input"
            );
        }
    }
    let mkdir_path = |op: &pb::Op| match &file_of(op).actions[0].action {
        Some(pb::file_action::Action::Mkdir(m)) => m.path.clone(),
        other => panic!("not a mkdir: {other:?}"),
    };
    assert_eq!(mkdir_path(&decoded[1].1), "/0");
    assert_eq!(mkdir_path(&decoded[LENGTH].1), format!("/{}", LENGTH - 1));
    let source_info = def.as_pb().source.as_ref().unwrap();
    assert_eq!(source_info.infos.len(), 1, "one source map for every op");
    assert_eq!(source_info.locations.len(), LENGTH);
    assert!(def.required_caps().contains(cap::FILE_BASE));
    drop(root);
}
