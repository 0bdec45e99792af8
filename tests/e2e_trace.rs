//! `KILN_TRACE=1`: kiln shows how long each of its phases took as `[kiln trace] …` vertices in the
//! ordinary buildx output; without it, no such line appears.

mod common;

use std::path::PathBuf;

use common::progress::{self, Vertex};
use common::Buildx;

fn extensions() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("extensions")
}

fn build() -> Buildx {
    let root = extensions();
    Buildx::new(&root)
        .file(root.join("Pkgfile"))
        .kiln()
        .target("hello-service")
        .platform("linux/amd64,linux/arm64")
        .build_context(
            "docker.io/library/busybox:1.37-musl",
            "docker-image://kiln-test/busybox:latest",
        )
}

/// The phase of a `[kiln trace] PHASE: 1.2 ms` vertex, checking the duration reads as one.
fn phase(v: &Vertex) -> Option<&str> {
    let rest = v.name.strip_prefix("[kiln trace] ")?;
    let (phase, took) = rest.rsplit_once(": ")?;
    let ms = took.strip_suffix(" ms").expect("a duration in ms");
    let ms: f64 = ms.parse().unwrap_or_else(|_| panic!("{:?}", v.name));
    assert!(ms >= 0.0, "{}", v.name);
    Some(phase)
}

#[test]
fn kiln_trace_shows_every_phase_as_a_vertex() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    let out = build().build_arg("KILN_TRACE", "1").run();
    out.assert_success();
    let vertices = progress::parse(&out.output);
    let phases: Vec<&str> = vertices.iter().filter_map(phase).collect();
    for expected in [
        "connect",
        "options",
        "transfer the definition files",
        "load the tree for linux/amd64",
        "lint",
        "convert hello-service for linux/amd64",
        "convert hello-service for linux/arm64",
        "solve linux/amd64",
        "solve linux/arm64",
        "solve every platform",
        "result",
        "total",
    ] {
        assert!(
            phases.contains(&expected),
            "no {expected:?} phase in {phases:?}:\n{}",
            out.output
        );
    }
    assert!(
        phases
            .iter()
            .any(|p| p.starts_with("read ") && p.ends_with(" definition files")),
        "{phases:?}"
    );
    // In the order the phases ended: the total is last, the platforms' solves before the result.
    assert_eq!(phases.last(), Some(&"total"), "{phases:?}");
    let at = |p: &str| phases.iter().position(|x| *x == p).unwrap();
    assert!(at("options") < at("convert hello-service for linux/amd64"));
    assert!(at("solve linux/arm64") < at("result"));
}

#[test]
fn without_kiln_trace_there_is_no_trace() {
    let Some(_env) = common::require_kiln() else {
        return;
    };
    for value in [None, Some("0")] {
        let mut buildx = build();
        if let Some(value) = value {
            buildx = buildx.build_arg("KILN_TRACE", value);
        }
        let out = buildx.run();
        out.assert_success();
        assert!(
            !out.output.contains("[kiln trace]"),
            "KILN_TRACE={value:?} shows a trace:\n{}",
            out.output
        );
        // The build itself happened (so the absence above means something).
        out.assert_contains("hello-service");
    }
}
