//! Compiles every `*.proto` under the workspace's `proto/` directory with `protox` (pure Rust, so no
//! `protoc` is needed) and generates prost messages plus tonic client and server stubs.
//!
//! It also writes `packages.rs`, a module tree nested like the proto packages, because the generated
//! code refers to other packages through `super::` paths and only packages that exist can be included.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto"));
    println!("cargo:rerun-if-changed={}", proto_dir.display());

    let mut files = Vec::new();
    collect_protos(&proto_dir, &proto_dir, &mut files)?;
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", proto_dir.join(file).display());
    }

    let fds = protox::compile(&files, [&proto_dir])?;
    let mut packages: Vec<String> = fds.file.iter().filter_map(|f| f.package.clone()).collect();
    packages.sort();
    packages.dedup();

    tonic_prost_build::configure()
        // Ordered maps make SourceOp attrs and metadata encode identically on every run.
        .btree_map(".")
        .build_client(true)
        // Server stubs let tests run an in-process fake of BuildKit's gateway.
        .build_server(true)
        .compile_fds(fds)?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("packages.rs"), module_tree(&packages))?;
    Ok(())
}

/// Adds the paths (relative to `root`) of all `.proto` files below `dir`.
fn collect_protos(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            let relative = path.strip_prefix(root).map_err(std::io::Error::other)?;
            out.push(relative.to_path_buf());
        }
    }
    Ok(())
}

/// A package tree node: child modules and whether a generated file belongs here.
#[derive(Default)]
struct Node {
    children: BTreeMap<String, Node>,
    package: Option<String>,
}

/// Renders `pub mod a { pub mod b { include!(".../a.b.rs"); } }` for every package, skipping
/// `google.protobuf`, which prost maps to `prost_types`.
fn module_tree(packages: &[String]) -> String {
    let mut root = Node::default();
    for package in packages.iter().filter(|p| p.as_str() != "google.protobuf") {
        let mut node = &mut root;
        for part in package.split('.') {
            node = node.children.entry(part.to_string()).or_default();
        }
        node.package = Some(package.clone());
    }
    let mut out = String::new();
    render(&root, &mut out);
    out
}

fn render(node: &Node, out: &mut String) {
    if let Some(package) = &node.package {
        let _ = writeln!(
            out,
            "include!(concat!(env!(\"OUT_DIR\"), \"/{package}.rs\"));"
        );
    }
    for (name, child) in &node.children {
        let _ = writeln!(out, "pub mod {name} {{");
        render(child, out);
        out.push_str("}\n");
    }
}
