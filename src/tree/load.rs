//! Loading a tree for one platform: variables scoped by directory, templates rendered, every
//! pkg.yaml read, every *.tmpl attached to its closest ancestor package.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::spec::platform::{self, Platform};
use crate::spec::vars::{self, Vars};
use crate::spec::yaml::{self, Reader};
use crate::spec::{Diagnostics, LoadError, Pkg, Pkgfile, Span};

use super::files::{FileSet, PKG_YAML, TEMPLATE_SUFFIX, VARS_YAML};

/// What a load depends on besides the files.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The platform the tree is loaded for (its templates see its `ARCH` and the like).
    pub platform: Platform,
    /// `--build-arg K=V`, visible to templates as `BUILD_ARG_K`.
    pub build_args: BTreeMap<String, String>,
    /// The Pkgfile's path in the file set (`-f`).
    pub pkgfile: String,
}

impl LoadOptions {
    /// Options for `platform` with no build args and the default Pkgfile.
    pub fn new(platform: Platform) -> LoadOptions {
        LoadOptions {
            platform,
            build_args: BTreeMap::new(),
            pkgfile: super::files::PKGFILE.to_string(),
        }
    }
}

/// A rendered `*.tmpl` file, materialised at `/pkg/<path>` in the package's build.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplatedFile {
    /// Relative to the package directory, without `.tmpl`.
    pub path: String,
    /// The rendered text.
    pub contents: String,
}

/// One package of a loaded tree.
#[derive(Debug, Clone)]
pub struct Package {
    /// The pkg.yaml as read.
    pub pkg: Pkg,
    /// The package's directory relative to the root (`""` for the root itself).
    pub dir: String,
    /// Path of its pkg.yaml relative to the root.
    pub file: String,
    /// The pkg.yaml as written (before rendering), for source maps in build errors.
    pub source: Arc<str>,
    /// The template variables the package was rendered with.
    pub vars: Vars,
    /// The package's `*.tmpl` files, rendered.
    pub templated: Vec<TemplatedFile>,
}

/// Where a variable's value is written: a `vars:` entry of the Pkgfile or an entry of a vars.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarDefinition {
    /// Path relative to the root.
    pub file: String,
    /// The value's position, as written.
    pub span: Span,
}

/// The variable definitions in effect in one directory: the deepest definition of each name wins.
/// Built-ins and build args have none.
pub type Definitions = BTreeMap<String, VarDefinition>;

/// A tree loaded for one platform.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The platform the tree was loaded for.
    pub platform: Platform,
    /// The root Pkgfile.
    pub pkgfile: Pkgfile,
    /// Every package, by name.
    pub packages: BTreeMap<String, Package>,
    /// Per directory (`""` for the root), where its variables are defined. A vars.yaml is rendered
    /// with its parent directory's variables, so a template inside it refers to the parent's.
    pub definitions: BTreeMap<String, Definitions>,
    /// Warnings found while loading (unknown keys and the like).
    pub warnings: Diagnostics,
}

fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// What `dir` starts from: its parent directory's entry, else the root's (directories are
/// visited parents first, so a missing parent entry means the parent has no vars.yaml chain).
fn inherited<T: Clone>(by_dir: &BTreeMap<String, T>, dir: &str, root: &T) -> T {
    if dir.is_empty() {
        return root.clone();
    }
    by_dir.get(parent_dir(dir)).unwrap_or(root).clone()
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn text<'a>(file: &str, data: &'a [u8], diags: &mut Diagnostics) -> Option<&'a str> {
    match std::str::from_utf8(data) {
        Ok(t) => Some(t),
        Err(e) => {
            diags.error(
                file,
                Span::default(),
                format!("not UTF-8 text ({e}); save the file as UTF-8"),
            );
            None
        }
    }
}

fn render(
    file: &str,
    source: &str,
    vars: &Vars,
    diags: &mut Diagnostics,
) -> Option<kiln_template::Rendered> {
    match kiln_template::render(file, source, vars) {
        Ok(r) => Some(r),
        Err(e) => {
            diags.error(
                file,
                Span::at(e.line, e.column),
                format!("template: {}", e.message),
            );
            None
        }
    }
}

/// Most packages one tree may define (a fixed limit).
pub const MAX_PACKAGES: usize = 20_000;

/// Most build operations one package may ask for: dependencies, downloads, scripts and finalize
/// copies (a fixed limit; each becomes at least one LLB op).
pub const MAX_PACKAGE_OPS: usize = 200_000;

/// The build operations `pkg` asks for, as counted against [`MAX_PACKAGE_OPS`].
fn package_ops(pkg: &Pkg) -> usize {
    let steps: usize = pkg
        .steps
        .iter()
        .map(|s| s.sources.len() + s.prepare.len() + s.build.len() + s.install.len() + s.test.len())
        .sum();
    pkg.dependencies.len() + steps + pkg.finalize.len()
}

/// Loads every package of the tree for `opts.platform`. Fails with every error found.
pub fn load(files: &FileSet, opts: &LoadOptions) -> Result<Tree, LoadError> {
    let mut diags = Diagnostics::default();
    report_too_large(files, &mut diags);
    if let Err(e) = platform::check_supported(&opts.platform) {
        diags.error(&opts.pkgfile, Span::default(), e.to_string());
        return Err(LoadError(diags));
    }
    let pkgfile = read_pkgfile(files, &opts.pkgfile, &mut diags);

    let root_vars = vars::root_context(&opts.platform, &opts.build_args, &pkgfile.vars);
    let mut context: BTreeMap<String, Vars> = BTreeMap::new();
    let root_definitions: Definitions = pkgfile
        .var_spans
        .iter()
        .map(|(name, span)| {
            let file = opts.pkgfile.clone();
            (name.clone(), VarDefinition { file, span: *span })
        })
        .collect();
    let mut definitions: BTreeMap<String, Definitions> = BTreeMap::new();
    let mut packages: BTreeMap<String, Package> = BTreeMap::new();
    // pkg.yaml directory -> package name, for attaching templates.
    let mut package_dirs: BTreeMap<String, Option<String>> = BTreeMap::new();

    for dir in &definition_dirs(files) {
        let mut vars = inherited(&context, dir, &root_vars);
        let mut defined = inherited(&definitions, dir, &root_definitions);
        read_vars(files, dir, &mut vars, &mut defined, &mut diags);
        let pkg_file = join(dir, PKG_YAML);
        if let Some(data) = files.get(&pkg_file) {
            let package = read_package(&pkg_file, data, dir, &vars, &mut diags);
            let name = package.as_ref().map(|p| p.pkg.name.clone());
            if let Some(package) = package {
                admit(package, &mut packages, &mut diags);
            }
            package_dirs.insert(dir.clone(), name);
        }
        context.insert(dir.clone(), vars);
        definitions.insert(dir.clone(), defined);
    }
    attach_templates(files, &package_dirs, &mut packages, &mut diags);

    let tree = Tree {
        platform: opts.platform.clone(),
        pkgfile,
        packages,
        definitions,
        warnings: Diagnostics::default(),
    };
    super::graph::check(&tree, &mut diags);
    let diags = diags.sorted();
    if diags.has_errors() {
        return Err(LoadError(diags));
    }
    Ok(Tree {
        warnings: diags,
        ..tree
    })
}

/// Reports the definition files the file set refused for their size.
fn report_too_large(files: &FileSet, diags: &mut Diagnostics) {
    for (path, size) in &files.too_large {
        diags.error(
            path,
            Span::at(1, 1),
            format!(
                "the file is {size} bytes; definition files are limited to {} MiB (a fixed limit): split it or generate less",
                super::files::MAX_FILE_BYTES >> 20
            ),
        );
    }
}

/// The Pkgfile at `path`; a missing or unreadable one is reported and read as empty.
fn read_pkgfile(files: &FileSet, path: &str, diags: &mut Diagnostics) -> Pkgfile {
    let Some(data) = files.get(path) else {
        diags.error(
            path,
            Span::default(),
            format!("no {path} at the root of the tree; create one with `format: v1alpha2`"),
        );
        return Pkgfile::default();
    };
    match text(path, data, diags) {
        Some(t) => Pkgfile::parse(path, t, diags),
        None => Pkgfile::default(),
    }
}

/// Every directory that holds a definition file, with its ancestors; sorted, so parents first.
fn definition_dirs(files: &FileSet) -> BTreeSet<String> {
    let mut dirs = BTreeSet::from([String::new()]);
    for path in files.files.keys() {
        let mut d = parent_dir(path);
        loop {
            dirs.insert(d.to_string());
            if d.is_empty() {
                break;
            }
            d = parent_dir(d);
        }
    }
    dirs
}

/// Adds `dir`'s vars.yaml, if any, to the variables (rendered with them) and their definitions.
fn read_vars(
    files: &FileSet,
    dir: &str,
    vars: &mut Vars,
    defined: &mut Definitions,
    diags: &mut Diagnostics,
) {
    let vars_file = join(dir, VARS_YAML);
    let Some(data) = files.get(&vars_file) else {
        return;
    };
    let Some(source) = text(&vars_file, data, diags) else {
        return;
    };
    let Some(rendered) = render(&vars_file, source, vars, diags) else {
        return;
    };
    let text = &rendered.text;
    let Some(node) = yaml::parse_reported(&vars_file, text, &rendered, None, diags) else {
        return;
    };
    let mut r = Reader::new(&vars_file, text, &rendered, diags);
    for (name, (value, span)) in r.spanned_string_map(&node, "vars.yaml") {
        let file = vars_file.clone();
        defined.insert(name.clone(), VarDefinition { file, span });
        vars.insert(name, value);
    }
}

/// The package of the pkg.yaml `pkg_file` in `dir`, rendered with `vars`; `None` when it has
/// errors (reported).
fn read_package(
    pkg_file: &str,
    data: &[u8],
    dir: &str,
    vars: &Vars,
    diags: &mut Diagnostics,
) -> Option<Package> {
    let source = text(pkg_file, data, diags)?;
    let rendered = render(pkg_file, source, vars, diags)?;
    let pkg = Pkg::parse(pkg_file, &rendered.text, &rendered, diags)?;
    Some(Package {
        pkg,
        dir: dir.to_string(),
        file: pkg_file.to_string(),
        source: Arc::from(source),
        vars: vars.clone(),
        templated: Vec::new(),
    })
}

/// Adds `package` to the tree unless it breaks a limit or its name is taken (both reported).
fn admit(package: Package, packages: &mut BTreeMap<String, Package>, diags: &mut Diagnostics) {
    let (pkg, pkg_file) = (&package.pkg, &package.file);
    let ops = package_ops(pkg);
    if ops > MAX_PACKAGE_OPS {
        diags.error(
            pkg_file,
            pkg.span,
            format!("package {:?} asks for {ops} build operations (dependencies, downloads, scripts, finalize copies); a package is limited to {MAX_PACKAGE_OPS} (a fixed limit): split it into several packages", pkg.name),
        );
    } else if packages.len() >= MAX_PACKAGES && !packages.contains_key(&pkg.name) {
        diags.error(
            pkg_file,
            pkg.span,
            format!("the tree defines more than {MAX_PACKAGES} packages (a fixed limit); build a smaller tree"),
        );
    } else if let Some(existing) = packages.get(&pkg.name) {
        let message = format!(
            "package {:?} is defined twice, in {} and {}; rename one of them",
            pkg.name, existing.file, pkg_file
        );
        diags.error(pkg_file, pkg.span, message.clone());
        diags.error(&existing.file, existing.pkg.span, message);
    } else {
        packages.insert(pkg.name.clone(), package);
    }
}

/// Renders every `*.tmpl` with the variables of the package in the closest ancestor directory
/// holding a pkg.yaml, and attaches it to that package.
fn attach_templates(
    files: &FileSet,
    package_dirs: &BTreeMap<String, Option<String>>,
    packages: &mut BTreeMap<String, Package>,
    diags: &mut Diagnostics,
) {
    for (path, data) in &files.files {
        let Some(stripped) = path.strip_suffix(TEMPLATE_SUFFIX) else {
            continue;
        };
        let mut dir = parent_dir(path);
        let owner = loop {
            if let Some(owner) = package_dirs.get(dir) {
                break Some((dir, owner));
            }
            if dir.is_empty() {
                break None;
            }
            dir = parent_dir(dir);
        };
        let Some((pkg_dir, owner)) = owner else {
            diags.error(path, Span::default(), "no package to attach this template to: put it in or under a directory with a pkg.yaml");
            continue;
        };
        // The owner failed to load: its errors are already reported.
        let Some(owner) = owner else { continue };
        let Some(package) = packages.get_mut(owner) else {
            continue;
        };
        let Some(source) = text(path, data, diags) else {
            continue;
        };
        if let Some(rendered) = render(path, source, &package.vars, diags) {
            let relative = if pkg_dir.is_empty() {
                stripped.to_string()
            } else {
                stripped[pkg_dir.len() + 1..].to_string()
            };
            package.templated.push(TemplatedFile {
                path: relative,
                contents: rendered.text,
            });
        }
    }
}
