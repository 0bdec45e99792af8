//! What a target reads: the build args and variables its templates use (its own and those of
//! every package it needs), with their values, descriptions and the lines that use them.

use std::collections::BTreeMap;

use crate::spec::vars::{builtin, declarations};
use crate::spec::{LoadError, Platform};

use super::files::{FileSet, PKGFILE, TEMPLATE_SUFFIX, VARS_YAML};
use super::load::Tree;

/// Where a variable comes from, which says how a user sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VariableKind {
    /// `--build-arg NAME=…`, read as `.BUILD_ARG_NAME`.
    BuildArg,
    /// Declared in a vars.yaml or the Pkgfile.
    Declared,
    /// Set by kiln per platform (`ARCH`, `TARGET`, …).
    BuiltIn,
}

/// One line of a template that reads a variable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Use {
    /// The template file, relative to the root.
    pub file: String,
    /// 1-based line.
    pub line: usize,
}

/// A variable the target reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// As the user sets it: the build arg's name for build args, else the template name.
    pub name: String,
    /// Where the variable comes from.
    pub kind: VariableKind,
    /// The value the target is rendered with (empty when unset).
    pub value: String,
    /// The comment above its declaration, or a note on where it comes from.
    pub description: String,
    /// Files in the order the target's packages are listed (the target first), lines ascending.
    pub uses: Vec<Use>,
}

/// The variables `target` reads, build args first, then declared variables, then built-ins,
/// each group by name.
/// Long by design: the three groups are collected in one pass over the packages in order.
pub fn variables(files: &FileSet, tree: &Tree, target: &str) -> Result<Vec<Variable>, LoadError> {
    let plan = tree.resolve(target)?;
    let package = &tree.packages[target];
    // The target first, then what it needs (nearest first).
    let mut order: Vec<&str> = vec![target];
    order.extend(
        plan.order
            .iter()
            .rev()
            .map(String::as_str)
            .filter(|n| *n != target),
    );

    let mut sources: Vec<String> = Vec::new();
    for name in &order {
        let p = &tree.packages[*name];
        sources.push(p.file.clone());
        for t in &p.templated {
            let path = if p.dir.is_empty() {
                format!("{}{TEMPLATE_SUFFIX}", t.path)
            } else {
                format!("{}/{}{TEMPLATE_SUFFIX}", p.dir, t.path)
            };
            sources.push(path);
        }
        sources.extend(vars_files(files, &p.dir));
    }
    let mut seen = std::collections::BTreeSet::new();
    sources.retain(|s| seen.insert(s.clone()));

    let mut uses: BTreeMap<String, Vec<Use>> = BTreeMap::new();
    for file in &sources {
        let Some(data) = files.get(file) else {
            continue;
        };
        let Ok(found) = kiln_template::variable_uses(&String::from_utf8_lossy(data)) else {
            continue;
        };
        for u in found {
            let list = uses.entry(u.name).or_default();
            let entry = Use {
                file: file.clone(),
                line: u.line,
            };
            if !list.contains(&entry) {
                list.push(entry);
            }
        }
    }

    let descriptions = descriptions(files, &package.dir);
    let builtins = builtin(&Platform::linux("amd64"), &Platform::linux("amd64"));
    let mut out: Vec<Variable> = uses
        .into_iter()
        .map(|(name, uses)| {
            let value = package.vars.get(&name).cloned().unwrap_or_default();
            let declared = descriptions.get(&name);
            let (kind, shown, description) = if let Some(arg) = name.strip_prefix("BUILD_ARG_") {
                let description = declared
                    .map(|(file, d)| describe(d, file))
                    .unwrap_or_else(|| "build arg".to_string());
                (VariableKind::BuildArg, arg.to_string(), description)
            } else if let Some((file, d)) = declared {
                (VariableKind::Declared, name.clone(), describe(d, file))
            } else if builtins.contains_key(&name) {
                (
                    VariableKind::BuiltIn,
                    name.clone(),
                    "built in, set by kiln for the platform".to_string(),
                )
            } else {
                (
                    VariableKind::Declared,
                    name.clone(),
                    "not declared anywhere (renders as <no value>)".to_string(),
                )
            };
            Variable {
                name: shown,
                kind,
                value,
                description,
                uses,
            }
        })
        .collect();
    out.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(out)
}

fn describe(comment: &str, file: &str) -> String {
    if comment.is_empty() {
        format!("set in {file}")
    } else {
        comment.to_string()
    }
}

/// The vars.yaml files that apply to a package in `dir`: the root's first, then each directory
/// down to `dir`.
fn vars_files(files: &FileSet, dir: &str) -> Vec<String> {
    let mut dirs = vec![String::new()];
    let mut acc = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        if !acc.is_empty() {
            acc.push('/');
        }
        acc.push_str(part);
        dirs.push(acc.clone());
    }
    dirs.into_iter()
        .map(|d| {
            if d.is_empty() {
                VARS_YAML.to_string()
            } else {
                format!("{d}/{VARS_YAML}")
            }
        })
        .filter(|f| files.get(f).is_some())
        .collect()
}

/// For each variable visible in `dir`: the file declaring it last (the one that wins) and the
/// comment above that declaration.
fn descriptions(files: &FileSet, dir: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let pkgfiles = files
        .files
        .keys()
        .filter(|p| p.as_str() == PKGFILE)
        .cloned();
    for file in pkgfiles.chain(vars_files(files, dir)) {
        let Some(data) = files.get(&file) else {
            continue;
        };
        let section = (file == PKGFILE).then_some("vars");
        for d in declarations(&String::from_utf8_lossy(data), section) {
            out.insert(d.name, (file.clone(), d.description));
        }
    }
    out
}
