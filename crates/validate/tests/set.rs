//! `kiln validate A B …` and `--talos-version all|RANGE` through the CLI entry points, on image
//! roots made on disk by the test.

mod common;

use clap::Parser;
use common::{Fixture, GOOD_MANIFEST};
use kiln_validate::cli::{self, Args};
use kiln_validate::rule;

fn args(argv: &[&str]) -> Args {
    let mut all = vec!["validate"];
    all.extend_from_slice(argv);
    Args::try_parse_from(all).expect("arguments parse")
}

fn path(f: &Fixture) -> &str {
    f.root().to_str().expect("utf-8 tempdir")
}

fn named(name: &str, constraint: &str) -> Fixture {
    let f = Fixture::new();
    f.manifest(
        &GOOD_MANIFEST
            .replace("name: hello", &format!("name: {name}"))
            .replace(">= v1.0.0", constraint),
    );
    f
}

#[test]
fn a_set_reports_collisions_names_and_disjoint_constraints_per_path() {
    let a = named("tools", ">= v1.10.0");
    a.write("rootfs/usr/local/bin/tool", "a", 0o755);
    a.write("rootfs/usr/local/share/a.txt", "a", 0o644);
    let b = named("tools", "< v1.9.0");
    b.write("rootfs/usr/local/bin/tool", "b", 0o755);
    b.write("rootfs/usr/local/share/b.txt", "b", 0o644);
    let c = named("other", ">= v1.0.0");
    c.write("rootfs/usr/local/bin/tool", "c", 0o755);

    let outcome = cli::check(&args(&[path(&a), path(&b), path(&c)]));
    assert_eq!(outcome.exit_code(), 1);
    assert_eq!(outcome.set.len(), 1, "plain image roots form one group");
    let found = &outcome.set[0].violations;
    let collision = found
        .iter()
        .find(|v| v.rule == &rule::OVERLAY_COLLISION)
        .expect("a collision");
    assert_eq!(collision.path, "rootfs/usr/local/bin/tool");
    assert_eq!(collision.images, [path(&a), path(&b), path(&c)]);
    let name = found
        .iter()
        .find(|v| v.rule == &rule::DUPLICATE_NAME)
        .expect("a duplicate name");
    assert_eq!(name.images, [path(&a), path(&b)]);
    let disjoint = found
        .iter()
        .find(|v| v.rule == &rule::COMPATIBILITY_DISJOINT)
        .expect("disjoint constraints");
    assert!(disjoint.message.contains("\"< v1.9.0\""), "{disjoint}");
    assert_eq!(found.len(), 3, "{found:?}");
    // Each image is still fine alone (for the default Talos version, b's constraint is not).
    assert_eq!(outcome.images[0].errors, 0);
    assert_eq!(outcome.images[2].errors, 0);

    let text = cli::render(&outcome);
    assert!(
        text.contains(&format!(
            "set: error: rootfs/usr/local/bin/tool: overlay-collision: \"/usr/local/bin/tool\" is shipped by {}, {}, {}",
            path(&a),
            path(&b),
            path(&c)
        )),
        "{text}"
    );
    assert!(text.contains("set of 3 images: 3 error(s)"), "{text}");

    let json = serde_json::to_value(&outcome).expect("json");
    assert_eq!(json["set"][0]["violations"][0]["rule"], "overlay-collision");
    assert_eq!(json["images"].as_array().map(Vec::len), Some(3));
}

#[test]
fn a_clean_set_exits_0_and_an_unreadable_member_exits_2() {
    let a = named("a", ">= v1.0.0");
    a.write("rootfs/usr/local/bin/a", "a", 0o755);
    let b = named("b", ">= v1.10.0");
    b.write("rootfs/usr/local/bin/b", "b", 0o755);
    let outcome = cli::check(&args(&[path(&a), path(&b)]));
    assert_eq!(outcome.exit_code(), 0, "{}", cli::render(&outcome));
    assert!(outcome.set[0].violations.is_empty());

    let outcome = cli::check(&args(&[path(&a), "/no/such/image.tar"]));
    assert_eq!(outcome.exit_code(), 2);
    assert!(outcome.set.is_empty(), "no set check with a member missing");
}

#[test]
fn talos_version_all_prints_the_valid_releases_and_the_first_failure_outside() {
    let f = Fixture::new();
    f.write("rootfs/usr/lib/firmware/fw.bin", "", 0o644);
    let outcome = cli::check(&args(&[path(&f), "--talos-version", "all"]));
    assert_eq!(outcome.exit_code(), 0, "valid for some release");
    let text = cli::render(&outcome);
    let newest = kiln_validate::TalosVersion::default_target();
    assert!(
        text.contains(&format!(
            "{}: valid for Talos v1.10.0 – v{}.{}.x\n",
            path(&f),
            newest.major(),
            newest.minor()
        )),
        "{text}"
    );
    assert!(
        text.contains("  v1.0.0 – v1.9.x: fails path-not-allowed; first: error: rootfs/usr/lib/firmware/fw.bin: path-not-allowed:"),
        "{text}"
    );

    // A range is a requirement: any release in it that fails fails the run.
    let outcome = cli::check(&args(&[path(&f), "--talos-version", ">=1.9"]));
    assert_eq!(outcome.exit_code(), 1);
    let spans = outcome.images[0].targets[0]
        .releases
        .as_ref()
        .expect("spans");
    assert_eq!(spans[0].from, "v1.9.0");
    assert_eq!(spans[0].to, "v1.9.x");
    assert!(!spans[0].valid);
    assert_eq!(outcome.talos, ">=1.9");
    let outcome = cli::check(&args(&[path(&f), "--talos-version", ">= 1.10"]));
    assert_eq!(outcome.exit_code(), 0, "{}", cli::render(&outcome));

    // Never valid: /boot is allowed by no release.
    f.write("rootfs/boot/vmlinuz", "", 0o644);
    let outcome = cli::check(&args(&[path(&f), "--talos-version", "all"]));
    assert_eq!(outcome.exit_code(), 1);
    assert!(
        cli::render(&outcome).contains("valid for no Talos release checked"),
        "{}",
        cli::render(&outcome)
    );
}
