//! What each fuzz target runs, shared by the `cargo fuzz` targets in `fuzz/` and by
//! `tests/fuzz_regressions.rs`, which replays every input the fuzzers ever found a problem with.
//! Every function must return (with any result) for any bytes: no panic, no hang, bounded memory.

use std::collections::BTreeMap;

/// What a fuzz target runs on one input.
pub type Target = fn(&[u8]);

/// The targets, by the name of their `fuzz/fuzz_targets/*.rs` file and regression directory.
#[allow(dead_code)]
pub const TARGETS: &[(&str, Target)] = &[
    ("load_tree", load_tree),
    ("template", template),
    ("manifest", manifest),
    ("extension_service", extension_service),
    ("validate_image", validate_image),
];

/// Splits fuzz input into a tree's files: each file starts with a `==> path <==` line (the
/// format `head` prints several files in), text before the first header is the Pkgfile.
pub fn tree_files(data: &[u8]) -> kiln::tree::FileSet {
    let mut files = kiln::tree::FileSet::default();
    let mut path = "Pkgfile".to_string();
    let mut contents = Vec::new();
    for line in data.split_inclusive(|b| *b == b'\n') {
        let header = std::str::from_utf8(line).ok().and_then(|l| {
            l.trim_end()
                .strip_prefix("==> ")
                .and_then(|l| l.strip_suffix(" <=="))
        });
        match header {
            Some(next) => {
                files.insert(
                    std::mem::replace(&mut path, next.to_string()),
                    std::mem::take(&mut contents),
                );
            }
            None => contents.extend_from_slice(line),
        }
    }
    files.insert(path, contents);
    files
}

/// The pkg.yaml/vars.yaml/Pkgfile/*.tmpl loader with templates, then planning every package and
/// converting and marshaling every target, as `kiln llb` and the frontend do.
pub fn load_tree(data: &[u8]) {
    use kiln::convert::{ConvertOptions, Converter, Trees, ValidateOptions};
    use kiln::spec::Platform;
    let files = tree_files(data);
    let amd64 = Platform::linux("amd64");
    let mut opts = kiln::tree::LoadOptions::new(amd64.clone());
    opts.build_args = BTreeMap::from([("TAG".to_string(), "v1.0.0".to_string())]);
    let trees = Trees::new(files, opts);
    let Ok(tree) = trees.get(&amd64) else {
        return;
    };
    let helper = kiln_llb::Image::new("ghcr.io/kiln-build/kiln:fuzz")
        .expect("a valid reference")
        .output();
    let mut convert = ConvertOptions::new(helper);
    convert.validate = Some(ValidateOptions::default());
    convert.native_platform = amd64.clone();
    let mut converter = Converter::new(&trees, convert);
    for name in tree.packages.keys() {
        let _ = tree.resolve(name);
        let _ = tree.dot(Some(name));
        if let Ok(target) = converter.target(name, &amd64) {
            let def = kiln_llb::marshal(&target.result());
            let _ = def.to_json();
        }
    }
}

/// The template engine alone, with variables like a package's.
pub fn template(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let vars: kiln_template::Data = [
        ("ARCH", "x86_64"),
        ("VERSION", "v1.2.3"),
        ("NAME", "fuzz"),
        ("LIST", "a,b,c"),
        ("EMPTY", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Ok(rendered) = kiln_template::render("fuzz.tmpl", source, &vars) {
        let _ = rendered.source_line(rendered.line_count() + 1);
    }
}

fn validate_tree(entries: Vec<kiln_validate::Entry>) {
    let tree = kiln_validate::Tree::from_entries(entries);
    let _ = kiln_validate::validate(&tree, &kiln_validate::Options::default());
}

fn dir(path: &str) -> kiln_validate::Entry {
    kiln_validate::Entry::new(path, kiln_validate::EntryKind::Dir, 0o755)
}

fn file(path: &str, data: &[u8]) -> kiln_validate::Entry {
    let mut entry = kiln_validate::Entry::new(path, kiln_validate::EntryKind::File, 0o644);
    entry.data = Some(data.to_vec());
    entry
}

/// The extension `manifest.yaml` parser and its rules.
pub fn manifest(data: &[u8]) {
    validate_tree(vec![
        file("manifest.yaml", data),
        dir("rootfs"),
        dir("rootfs/usr"),
        dir("rootfs/usr/local"),
    ]);
}

/// The extension-service spec parser and its rules (with a valid manifest beside it).
pub fn extension_service(data: &[u8]) {
    let manifest = b"version: v1alpha1\nmetadata:\n  name: fuzz\n  version: v1.0.0\n  author: kiln\n  description: fuzz\n  compatibility:\n    talos:\n      version: \">= v1.0.0\"\n";
    validate_tree(vec![
        file("manifest.yaml", manifest),
        dir("rootfs"),
        dir("rootfs/usr"),
        dir("rootfs/usr/local"),
        dir("rootfs/usr/local/etc"),
        dir("rootfs/usr/local/etc/containers"),
        file("rootfs/usr/local/etc/containers/fuzz.yaml", data),
        dir("rootfs/usr/local/lib"),
        dir("rootfs/usr/local/lib/containers"),
        dir("rootfs/usr/local/lib/containers/fuzz"),
    ]);
}

/// `kiln validate FILE` on arbitrary bytes: a tar of an image root or an OCI layout tarball.
pub fn validate_image(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("image.tar");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let input = path.to_string_lossy().into_owned();
    if let Ok(targets) = kiln_validate::load(&input, None) {
        for target in targets {
            let _ = kiln_validate::validate(&target.tree, &kiln_validate::Options::default());
        }
    }
}
