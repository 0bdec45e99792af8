//! Tests of [`crate::Client`] against the in-process fake LLBBridge: what goes
//! over the wire for each call, capability fallbacks, chunked reads, error
//! forwarding and the single Return.

use std::collections::BTreeMap;

use kiln_proto::moby::buildkit::v1::apicaps::ApiCap;
use kiln_proto::moby::buildkit::v1::frontend as gw;
use kiln_proto::pb;

use crate::client::{Caps, GatewayError, ResolveImageRequest, SolveRequest, SolvedRefs};
use crate::errors::{build_error, LineRange, SourceLocation};
use crate::fake::{FakeBuildKit, FakeState};
use crate::options::{CacheImport, ImageResolveMode};
use crate::result::{ImageConfig, ResultBuilder};
use kiln_llb::Platform;

fn definition() -> pb::Definition {
    pb::Definition {
        def: vec![b"an-op".to_vec()],
        ..Default::default()
    }
}

fn registry_cache(reference: &str) -> CacheImport {
    CacheImport {
        kind: "registry".into(),
        attrs: BTreeMap::from([("ref".to_string(), reference.to_string())]),
    }
}

#[test]
fn caps_count_only_enabled_and_fall_back_when_empty() {
    let cap = |id: &str, enabled: bool| ApiCap {
        id: id.into(),
        enabled,
        ..Default::default()
    };
    let pong = gw::PongResponse {
        frontend_api_caps: vec![cap("readdir", true), cap("statfile", false)],
        llb_caps: vec![],
        workers: vec![],
    };
    let caps = Caps::from_pong(&pong);
    assert!(caps.gateway("readdir"));
    assert!(!caps.gateway("statfile"), "disabled caps must not count");
    assert!(!caps.gateway("readfile"), "a non-empty list is taken as is");
    // The empty LLB list falls back to the frozen defaults.
    assert!(caps.llb("source.local.includepatterns"));
    assert!(caps.llb("platform"));
    assert!(!caps.llb("file.base"));
}

#[tokio::test]
async fn connect_pings_and_reads_workers() {
    let fake = FakeBuildKit::new(FakeState::modern());
    let client = fake.connect().await.unwrap();
    assert_eq!(fake.state().pings, 1);
    assert!(client.caps().gateway("proto.refarray"));
    assert_eq!(client.workers().len(), 1);
    assert_eq!(client.workers()[0].platforms[0].id(), "linux/amd64");
    client.return_result(gw::Result::default()).await.unwrap();
}

#[tokio::test]
async fn old_daemon_gets_default_caps() {
    let fake = FakeBuildKit::new(FakeState::default());
    let client = fake.connect().await.unwrap();
    assert!(client.caps().gateway("readfile"));
    assert!(!client.caps().gateway("readdir"));
    let err = client.read_dir("ref", "/", None).await.unwrap_err();
    assert!(
        matches!(err, GatewayError::MissingCap { cap: "readdir", .. }),
        "{err}"
    );
    // No importcaches cap: cache imports are dropped; no refarray: bare ids.
    let solved = client
        .solve(SolveRequest::definition(
            definition(),
            &[registry_cache("r/c")],
        ))
        .await
        .unwrap();
    assert_eq!(solved.refs, SolvedRefs::Single("ref-1".into()));
    let state = fake.state();
    assert!(state.solves[0].cache_imports.is_empty());
    assert!(!state.solves[0].allow_result_array_ref);
}

#[tokio::test]
async fn solve_sends_definition_cache_imports_and_options() {
    let fake = FakeBuildKit::new(FakeState::modern());
    let client = fake.connect().await.unwrap();
    let mut req = SolveRequest::definition(definition(), &[registry_cache("localhost:5000/cache")]);
    req.frontend_opts.insert("k".into(), "v".into());
    req.evaluate = true;
    let first = client.solve(req).await.unwrap();
    let second = client
        .solve(SolveRequest::definition(definition(), &[]))
        .await
        .unwrap();
    assert_eq!(first.single_ref().unwrap(), "ref-1");
    assert_eq!(second.single_ref().unwrap(), "ref-2");

    let state = fake.state();
    let sent = &state.solves[0];
    assert_eq!(sent.definition, Some(definition()));
    assert!(sent.allow_result_return);
    assert!(sent.allow_result_array_ref);
    assert!(sent.evaluate);
    assert_eq!(sent.frontend_opt["k"], "v");
    assert_eq!(sent.cache_imports.len(), 1);
    assert_eq!(sent.cache_imports[0].r#type, "registry");
    assert_eq!(sent.cache_imports[0].attrs["ref"], "localhost:5000/cache");
}

#[tokio::test]
async fn read_file_chunks_large_files() {
    let chunk = 4 << 20;
    // Two full chunks and a tail; bigger than tonic's default 4 MiB limit per
    // message, so this also exercises the raised limits.
    let big: Vec<u8> = (0..(2 * chunk + 10)).map(|i| (i % 251) as u8).collect();
    let exact: Vec<u8> = vec![7; chunk];
    let mut state = FakeState::modern();
    state.files.insert("big.bin".into(), big.clone());
    state.files.insert("dir/exact.bin".into(), exact.clone());
    state
        .files
        .insert("dir/small.txt".into(), b"hello".to_vec());
    let fake = FakeBuildKit::new(state);
    let client = fake.connect().await.unwrap();

    assert_eq!(client.read_file("ref-1", "big.bin").await.unwrap(), big);
    let offsets: Vec<i64> = fake
        .state()
        .read_files
        .iter()
        .map(|r| r.range.as_ref().map_or(-1, |r| r.offset))
        .collect();
    assert_eq!(offsets, [0, chunk as i64, 2 * chunk as i64]);

    assert_eq!(
        client.read_file("ref-1", "dir/exact.bin").await.unwrap(),
        exact
    );
    assert_eq!(
        fake.state().read_files.len(),
        5,
        "an exact multiple needs one empty read"
    );
    assert_eq!(
        client.read_file("ref-1", "dir/small.txt").await.unwrap(),
        b"hello"
    );

    let err = client.read_file("ref-1", "missing").await.unwrap_err();
    assert!(err.to_string().contains("no such file"), "{err}");

    let names: Vec<String> = client
        .read_dir("ref-1", "dir", None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect();
    assert_eq!(names, ["exact.bin", "small.txt"]);
    let stat = client.stat_file("ref-1", "dir/small.txt").await.unwrap();
    assert_eq!(stat.size, 5);
}

#[tokio::test]
async fn inputs_resolve_and_warn() {
    let mut state = FakeState::modern();
    state.inputs.insert("context".into(), definition());
    state.images.insert(
        "docker.io/library/alpine:3".into(),
        ("sha256:abc".into(), br#"{"os":"linux"}"#.to_vec()),
    );
    let fake = FakeBuildKit::new(state);
    let client = fake.connect().await.unwrap();

    assert_eq!(client.inputs().await.unwrap()["context"], definition());

    let resolved = client
        .resolve_image_config(ResolveImageRequest {
            reference: "docker.io/library/alpine:3".into(),
            platform: Some(Platform::parse("linux/arm64").unwrap()),
            resolve_mode: ImageResolveMode::Local,
            log_name: "load metadata".into(),
        })
        .await
        .unwrap();
    assert_eq!(resolved.digest, "sha256:abc");
    assert_eq!(resolved.config, br#"{"os":"linux"}"#);
    {
        let state = fake.state();
        let sent = &state.resolves[0];
        assert_eq!(sent.resolve_mode, "local");
        assert_eq!(
            sent.platform.as_ref().map(|p| p.architecture.as_str()),
            Some("arm64")
        );
        assert_eq!(sent.log_name, "load metadata");
    }

    let src = SourceLocation::yaml("p/pkg.yaml", "a: 1\n", vec![LineRange::line(1)]);
    client
        .warn("sha256:v", "deprecated key", &["use b".into()], Some(&src))
        .await
        .unwrap();
    let state = fake.state();
    let w = &state.warnings[0];
    assert_eq!(w.short, b"deprecated key");
    assert_eq!(
        w.info.as_ref().map(|i| i.filename.as_str()),
        Some("p/pkg.yaml")
    );
    assert_eq!(w.ranges[0].start.as_ref().map(|p| p.line), Some(1));
}

#[tokio::test]
async fn solve_error_details_are_forwarded_unchanged() {
    let original = build_error(
        "process \"/bin/sh -c make\" did not complete successfully: exit code: 2",
        &[SourceLocation::yaml(
            "gvisor/pkg.yaml",
            "steps:\n  - build:\n      - make\n",
            vec![LineRange { start: 2, end: 3 }],
        )],
    );
    let mut state = FakeState::modern();
    state.solve_error = Some(original.clone());
    let fake = FakeBuildKit::new(state);
    let client = fake.connect().await.unwrap();

    let err = client
        .solve(SolveRequest::definition(definition(), &[]))
        .await
        .unwrap_err();
    let status = err.to_status();
    assert_eq!(status, original);
    client.return_error(status).await.unwrap();

    let state = fake.state();
    assert_eq!(state.returns.len(), 1);
    assert_eq!(state.returns[0].error.as_ref(), Some(&original));
    assert!(state.returns[0].result.is_none());
    let loc =
        SourceLocation::from_any(&state.returns[0].error.as_ref().unwrap().details[0]).unwrap();
    assert_eq!(loc.ranges, vec![LineRange { start: 2, end: 3 }]);
}

#[tokio::test]
async fn multi_platform_build_returns_once_with_a_ref_map() {
    let fake = FakeBuildKit::new(FakeState::modern());
    let client = fake.connect().await.unwrap();
    let platforms = ["linux/amd64", "linux/arm64"].map(|p| Platform::parse(p).unwrap());
    // Solves run concurrently on one client.
    let (a, b) = tokio::join!(
        client.solve(SolveRequest::definition(definition(), &[])),
        client.solve(SolveRequest::definition(definition(), &[]))
    );
    let ids = [a.unwrap(), b.unwrap()].map(|s| s.single_ref().unwrap().to_string());
    let mut builder = ResultBuilder::new(true);
    for (platform, id) in platforms.iter().zip(&ids) {
        builder
            .add(
                platform.clone(),
                id.clone(),
                ImageConfig::for_platform(platform.clone()).to_json(),
            )
            .unwrap();
    }
    let result = builder.build(client.caps()).unwrap();
    client.return_result(result).await.unwrap();

    let state = fake.state();
    assert_eq!(state.returns.len(), 1);
    let Some(gw::result::Result::Refs(map)) = state.returns[0]
        .result
        .as_ref()
        .and_then(|r| r.result.clone())
    else {
        panic!("expected a ref map in {:?}", state.returns[0]);
    };
    let mut returned: Vec<String> = map.refs.values().map(|r| r.id.clone()).collect();
    returned.sort();
    assert_eq!(returned, ["ref-1", "ref-2"]);
}
