//! `kiln llb` and the frontend read their options through one path: given the same build args,
//! named context, platform and target, the definition `kiln llb` prints is, byte for byte, the
//! one the frontend solves (here against the in-process fake LLBBridge, which records it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_gateway::fake::{FakeBuildKit, FakeState};
use kiln_gateway::FrontendEnv;
use kiln_proto::Message;

fn tree() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/frontend/tree")
}

fn files_below(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_below(root, &path, out);
        } else {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(relative, std::fs::read(&path).unwrap());
        }
    }
}

/// Cache mounts (the fixture's `cachePaths`, under a namespace), SOURCE_DATE_EPOCH, a named
/// context replacing an `image:` dependency, TALOS_VERSION for the validation stage.
const BUILD_ARGS: [(&str, &str); 3] = [
    ("BUILDKIT_CACHE_MOUNT_NS", "kiln-test-ns"),
    ("SOURCE_DATE_EPOCH", "1700000000"),
    ("TALOS_VERSION", "v1.10.0"),
];
const CONTEXT: (&str, &str) = (
    "kiln-test/alpine-like",
    "docker-image://127.0.0.1:5000/mirror/alpine-like:1",
);
const TARGET: &str = "fixture-ext";
const PLATFORM: &str = "linux/arm64";

fn solved_by_the_frontend() -> Vec<u8> {
    let mut state = FakeState::modern();
    // A daemon at kiln's floor, BuildKit v0.13 (`kiln llb` assumes no more).
    state.llb_caps = kiln_llb::known_caps(kiln_llb::BUILDKIT_BASELINE)
        .iter()
        .map(String::from)
        .collect();
    files_below(&tree(), &tree(), &mut state.files);
    let fake = FakeBuildKit::new(state);
    let mut opts = vec![
        ("target".to_string(), TARGET.to_string()),
        ("platform".to_string(), PLATFORM.to_string()),
        (format!("context:{}", CONTEXT.0), CONTEXT.1.to_string()),
        (
            "source".to_string(),
            kiln::cli::DEFAULT_HELPER_IMAGE.to_string(),
        ),
    ];
    for (k, v) in BUILD_ARGS {
        opts.push((format!("build-arg:{k}"), v.to_string()));
    }
    let env = FrontendEnv::from_vars(
        opts.iter()
            .enumerate()
            .map(|(i, (k, v))| (format!("BUILDKIT_FRONTEND_OPT_{i}"), format!("{k}={v}"))),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = fake.connect().await.expect("connects to the fake");
        let trace = kiln_gateway::Trace::new("kiln trace", false);
        kiln::frontend::build(&client, &env, &trace)
            .await
            .unwrap_or_else(|status| panic!("the frontend failed: {}", status.message));
    });
    let state = fake.state();
    // The tree's load; then, concurrently, the build context's early transfer and the result,
    // which holds its validation stage, in one evaluated solve.
    assert_eq!(state.solves.len(), 3, "{:#?}", state.solves.len());
    let ops = |i: usize| {
        kiln_llb::Definition(state.solves[i].definition.clone().unwrap())
            .decode_ops()
            .unwrap()
    };
    let is_transfer = |i: usize| {
        let ops = ops(i);
        // The source and the definition's terminal op.
        ops.len() == 2
            && ops.iter().any(|(_, op)| {
                matches!(&op.op, Some(kiln_llb::pb::op::Op::Source(s)) if s.identifier.starts_with("local://"))
            })
    };
    let (transfer, result) = if is_transfer(1) { (1, 2) } else { (2, 1) };
    assert!(
        is_transfer(transfer),
        "one solve transfers the build context alone"
    );
    assert!(state.solves[transfer].evaluate);
    assert!(
        state.solves[result].evaluate,
        "the validated result is evaluated, so every platform reports its violations"
    );
    state.solves[result]
        .definition
        .as_ref()
        .unwrap()
        .encode_to_vec()
}

fn printed_by_kiln_llb() -> Vec<u8> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.arg("llb")
        .arg("--root")
        .arg(tree())
        .args(["-t", TARGET, "--platform", PLATFORM])
        .args(["--build-context", &format!("{}={}", CONTEXT.0, CONTEXT.1)]);
    for (k, v) in BUILD_ARGS {
        cmd.args(["--build-arg", &format!("{k}={v}")]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "kiln llb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn kiln_llb_prints_the_definition_the_frontend_solves() {
    let solved = solved_by_the_frontend();
    let printed = printed_by_kiln_llb();
    let text = |bytes: &[u8]| {
        let def = kiln_llb::pb::Definition::decode(bytes).unwrap();
        serde_json::to_string_pretty(&kiln_llb::definition_to_json(&def)).unwrap()
    };
    // Each option really reached the definition (so the comparison below compares something).
    let dump = text(&solved);
    for expected in [
        "kiln-test-ns/var/cache/fixture",
        "127.0.0.1:5000/mirror/alpine-like:1",
        "v1.10.0",
        "linux/arm64",
    ] {
        assert!(
            dump.contains(expected),
            "{expected} is not in the solve:\n{dump}"
        );
    }
    assert!(
        !dump.contains("docker-image://docker.io/kiln-test/alpine-like"),
        "the named context replaced the image"
    );
    assert_eq!(
        text(&printed),
        dump,
        "kiln llb differs from the frontend's solve"
    );
    assert!(printed == solved, "same JSON dump, yet different bytes");
}
