//! The lint rules that need a whole loaded tree, and `check`: every rule's findings (the
//! loader's included) filtered and weighted by the tree's `check` settings.

use std::collections::BTreeSet;

use crate::spec::lint::{self, CheckConfig};
use crate::spec::vars::declarations;
use crate::spec::{Diagnostic, Diagnostics, Severity, Span, Variant};

use super::files::{FileSet, TEMPLATE_SUFFIX, VARS_YAML};
use super::load::{LoadOptions, Package, Tree};

/// The build arg that carries `check` settings, as for the Dockerfile frontend.
pub const CHECK_BUILD_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

/// The `check` settings of a tree: `# check=` directives at the top of its Pkgfile, then the
/// build arg. Settings that are not understood are reported as errors at their line.
pub fn check_config(files: &FileSet, opts: &LoadOptions) -> (CheckConfig, Diagnostics) {
    let pkgfile = opts.pkgfile.as_str();
    let mut config = CheckConfig::default();
    let mut diags = Diagnostics::default();
    let text = files
        .get(pkgfile)
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    for (line, setting) in lint::directives(&text) {
        let before = config.problems.len();
        config.apply(&setting);
        for problem in config.problems.drain(before..).collect::<Vec<_>>() {
            diags.error(pkgfile, Span::at(line, 1), problem);
        }
    }
    if let Some(setting) = opts.build_args.get(CHECK_BUILD_ARG) {
        let before = config.problems.len();
        config.apply(setting);
        for problem in config.problems.drain(before..).collect::<Vec<_>>() {
            diags.error(
                pkgfile,
                Span::default(),
                format!("build arg {CHECK_BUILD_ARG}: {problem}"),
            );
        }
    }
    (config, diags)
}

/// Every lint finding of the tree, sorted: the loader's warnings plus the tree rules, without
/// the rules `config` skips, at the severity `config` gives them. Problems in the settings
/// themselves come first.
pub fn check(files: &FileSet, tree: &Tree, opts: &LoadOptions) -> Diagnostics {
    let (config, mut out) = check_config(files, opts);
    let mut found = tree.warnings.clone();
    found.extend(run(files, tree));
    for d in found.0 {
        match d.rule {
            Some(rule) if config.skips(rule) => {}
            Some(rule) => out.0.push(Diagnostic {
                severity: config.severity(rule),
                ..d
            }),
            None => out.0.push(d),
        }
    }
    out.sorted()
}

/// The findings of the rules that look at the whole tree (at their default severity).
pub fn run(files: &FileSet, tree: &Tree) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for package in tree.packages.values() {
        paths(package, &mut diags);
        finalize(package, &mut diags);
        steps(package, &mut diags);
    }
    unused_variables(files, &mut diags);
    diags
}

fn suspicious(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        Some("is relative; write it as an absolute path")
    } else if path.split('/').any(|c| c == "..") {
        Some("climbs out with `..`; name the directory directly")
    } else {
        None
    }
}

fn paths(package: &Package, diags: &mut Diagnostics) {
    let finalize = package
        .pkg
        .finalize
        .iter()
        .map(|f| ("finalize", &f.from, &f.to, f.span));
    let dependencies = package
        .pkg
        .dependencies
        .iter()
        .map(|d| ("dependency", &d.from, &d.to, d.span));
    for (what, from, to, span) in finalize.chain(dependencies) {
        for (key, path) in [("from", from), ("to", to)] {
            if let Some(why) = suspicious(path) {
                diags.lint(
                    &lint::SUSPICIOUS_PATH,
                    &package.file,
                    span,
                    format!("{what} {key} {path:?} {why}"),
                );
            }
        }
    }
    for step in &package.pkg.steps {
        let output = step.sbom.as_ref().and_then(|s| s.output_path.as_deref());
        if let Some(path) = output.filter(|p| p.split('/').any(|c| c == "..")) {
            diags.lint(
                &lint::SUSPICIOUS_PATH,
                &package.file,
                step.span,
                format!(
                    "sbom outputPath {path:?} climbs out with `..`; name the directory directly"
                ),
            );
        }
    }
}

/// In a scratch package without steps, `install:` or dependencies, the build root holds only
/// `/pkg` (the package's directory), so a finalize from anywhere else copies nothing.
fn finalize(package: &Package, diags: &mut Diagnostics) {
    let pkg = &package.pkg;
    let empty_root = pkg.variant == Variant::Scratch
        && pkg.steps.is_empty()
        && pkg.install.is_empty()
        && pkg.dependencies.is_empty();
    if !empty_root {
        return;
    }
    for f in &pkg.finalize {
        let from = f.from.trim_end_matches('/');
        let holds_pkg = from.is_empty() || from == "/pkg" || from.starts_with("/pkg/");
        if !holds_pkg {
            diags.lint(
                &lint::FINALIZE_COPIES_NOTHING,
                &package.file,
                f.span,
                format!(
                    "finalize from {:?}: this package has no steps and no dependencies, so its build root holds only /pkg",
                    f.from
                ),
            );
        }
    }
}

fn steps(package: &Package, diags: &mut Diagnostics) {
    for (i, step) in package.pkg.steps.iter().enumerate() {
        let runs_scripts = crate::spec::Phase::ALL
            .iter()
            .any(|phase| !step.scripts(*phase).is_empty());
        if !step.cache_paths.is_empty() && !runs_scripts {
            diags.lint(
                &lint::CACHE_PATHS_WITHOUT_SCRIPT,
                &package.file,
                step.span,
                format!(
                    "step {} declares cachePaths {} but runs no script, so no cache is mounted; move them to the step whose scripts use them",
                    i + 1,
                    step.cache_paths.join(", ")
                ),
            );
        }
        if let Some(sbom) = &step.sbom {
            let has_purl = sbom.purl.as_deref().is_some_and(|p| !p.trim().is_empty());
            let has_cpe = sbom.cpes.iter().any(|c| !c.trim().is_empty());
            if !has_purl && !has_cpe {
                diags.lint(
                    &lint::SBOM_WITHOUT_IDENTIFIER,
                    &package.file,
                    step.span,
                    format!(
                        "step {} has an sbom without cpes or purl; scanners cannot match the package to advisories, so add at least one",
                        i + 1
                    ),
                );
            }
        }
    }
}

/// Whether `path` is a file whose text is a template (everything but the Pkgfile).
fn is_template(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == super::files::PKG_YAML || name == VARS_YAML || name.ends_with(TEMPLATE_SUFFIX)
}

/// Variables that tools read from vars.yaml rather than templates: bldr's `graph` drops packages
/// with `GRAPH_IGNORE`, and siderolabs' release tooling skips `INTERNAL_PACKAGE` ones.
const READ_BY_TOOLS: &[&str] = &["GRAPH_IGNORE", "INTERNAL_PACKAGE"];

/// Variables declared in a vars.yaml or the Pkgfile that no template of the tree reads. A
/// variable read nowhere has no effect on any build, which usually means a typo on one side.
fn unused_variables(files: &FileSet, diags: &mut Diagnostics) {
    let mut read: BTreeSet<String> = READ_BY_TOOLS.iter().map(|s| s.to_string()).collect();
    for (path, data) in &files.files {
        if !is_template(path) {
            continue;
        }
        let text = String::from_utf8_lossy(data);
        // A template that does not parse is already reported by the loader.
        if let Ok(uses) = kiln_template::variable_uses(&text) {
            read.extend(uses.into_iter().map(|u| u.name));
        }
    }
    for (path, data) in &files.files {
        let name = path.rsplit('/').next().unwrap_or(path);
        let declared = if name == VARS_YAML {
            declarations(&String::from_utf8_lossy(data), None)
        } else if !is_template(path) && !path.contains('/') {
            // The Pkgfile (whatever `-f` named it) sits at the root and holds `vars:`.
            declarations(&String::from_utf8_lossy(data), Some("vars"))
        } else {
            continue;
        };
        for d in declared {
            if !read.contains(&d.name) {
                diags.lint(
                    &lint::UNUSED_VARIABLE,
                    path,
                    Span::at(d.line, 1),
                    format!(
                        "variable {} is not read by any pkg.yaml, vars.yaml or *.tmpl of the tree",
                        d.name
                    ),
                );
            }
        }
    }
}

/// Whether any finding is an error.
pub fn failed(findings: &Diagnostics) -> bool {
    findings.0.iter().any(|d| d.severity == Severity::Error)
}
