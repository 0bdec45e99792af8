//! The dependency graph: unknown stages and cycles, runtime-dependency propagation, build order.

use std::collections::{BTreeMap, BTreeSet};

use crate::spec::suggest::closest;
use crate::spec::{DepRef, Dependency, Diagnostics, LoadError, Span};

use super::load::Tree;

/// A dependency as a package receives it: declared by itself or inherited through `runtime: true`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedDep {
    /// The dependency as declared.
    pub dep: Dependency,
    /// The package whose pkg.yaml declares it.
    pub declared_by: String,
}

/// What building `target` needs, in build order.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The package asked for.
    pub target: String,
    /// Every package the target needs, dependencies before dependents, the target last.
    pub order: Vec<String>,
    /// Each package's effective dependencies, runtime ones expanded, in merge order.
    pub deps: BTreeMap<String, Vec<ResolvedDep>>,
}

/// Reports unknown stages and cycles anywhere in the tree.
pub(super) fn check(tree: &Tree, diags: &mut Diagnostics) {
    for (name, package) in &tree.packages {
        for dep in &package.pkg.dependencies {
            if let DepRef::Stage(stage) = dep.target() {
                if !tree.packages.contains_key(stage) {
                    let hint = closest(stage, tree.packages.keys().map(String::as_str))
                        .map(|c| format!("; did you mean {c:?}?"))
                        .unwrap_or_else(|| "; check the name: of the package you mean".to_string());
                    diags.error(
                        &package.file,
                        dep.span,
                        format!("package {name:?} depends on stage {stage:?}, which no pkg.yaml defines{hint}"),
                    );
                }
            }
        }
    }
    // Colour-marking DFS on an explicit stack (any depth); each cycle is reported once, at the
    // package that closes it.
    let mut state: BTreeMap<&str, Colour> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    for start in tree.packages.keys() {
        if state.contains_key(start.as_str()) {
            continue;
        }
        state.insert(start, Colour::OnPath);
        // The path from `start`, each package with how many of its dependencies were followed.
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        while let Some(&mut (name, ref mut followed)) = path.last_mut() {
            let next = tree.packages[name]
                .pkg
                .dependencies
                .iter()
                .filter_map(|d| match d.target() {
                    DepRef::Stage(stage) => tree.packages.get_key_value(stage),
                    DepRef::Image(_) => None,
                })
                .nth(*followed);
            let Some((stage, _)) = next else {
                state.insert(name, Colour::Done);
                path.pop();
                continue;
            };
            *followed += 1;
            match state.get(stage.as_str()) {
                Some(Colour::Done) => {}
                Some(Colour::OnPath) => report_cycle(tree, stage, &path, &mut reported, diags),
                None => {
                    state.insert(stage, Colour::OnPath);
                    path.push((stage, 0));
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Colour {
    OnPath,
    Done,
}

/// Reports the cycle that `path` closes by reaching `name` again.
fn report_cycle(
    tree: &Tree,
    name: &str,
    path: &[(&str, usize)],
    reported: &mut BTreeSet<Vec<String>>,
    diags: &mut Diagnostics,
) {
    let start = path.iter().position(|(p, _)| *p == name).unwrap_or(0);
    let members = &path[start..];
    let mut cycle: Vec<String> = members.iter().map(|(s, _)| s.to_string()).collect();
    let mut key = cycle.clone();
    key.sort();
    if !reported.insert(key) {
        return;
    }
    cycle.push(name.to_string());
    let files: Vec<String> = members
        .iter()
        .filter_map(|(p, _)| tree.packages.get(*p).map(|pk| pk.file.clone()))
        .collect();
    let Some(closing) = path.last().and_then(|(p, _)| tree.packages.get(*p)) else {
        return;
    };
    let span = closing
        .pkg
        .dependencies
        .iter()
        .find(|d| d.target() == DepRef::Stage(name))
        .map(|d| d.span)
        .unwrap_or(closing.pkg.span);
    diags.error(
        &closing.file,
        span,
        format!(
            "circular dependency: {} (in {}); remove one of these dependencies",
            cycle.join(" -> "),
            files.join(", ")
        ),
    );
}

/// The key under which bldr de-duplicates a package's dependency list.
fn dedup_key(dep: &Dependency) -> (String, String, String) {
    let (kind, name) = match dep.target() {
        DepRef::Stage(s) => ("stage", s),
        DepRef::Image(i) => ("image", i),
    };
    (kind.to_string(), name.to_string(), dep.to.clone())
}

impl Tree {
    /// The runtime dependencies a dependent of `name` inherits, transitively: each one followed
    /// by those it brings, depth first (on an explicit stack, so chains of any length work).
    fn runtime_closure(&self, name: &str, out: &mut Vec<ResolvedDep>) {
        let mut seen = BTreeSet::new();
        let mut frames = Vec::new();
        let mut enter = |name: &str, frames: &mut Vec<_>| {
            if !seen.insert(name.to_string()) {
                return;
            }
            if let Some((name, package)) = self.packages.get_key_value(name) {
                let runtime = package.pkg.dependencies.iter().filter(|d| d.runtime);
                frames.push((name, runtime));
            }
        };
        enter(name, &mut frames);
        while let Some((declared_by, runtime)) = frames.last_mut() {
            let Some(dep) = runtime.next() else {
                frames.pop();
                continue;
            };
            out.push(ResolvedDep {
                dep: dep.clone(),
                declared_by: declared_by.to_string(),
            });
            if let DepRef::Stage(stage) = dep.target() {
                enter(stage, &mut frames);
            }
        }
    }

    /// A package's dependencies in merge order: each declared one followed by the runtime
    /// dependencies it brings, duplicates dropped.
    pub fn effective_deps(&self, name: &str) -> Vec<ResolvedDep> {
        let Some(package) = self.packages.get(name) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut keys = BTreeSet::new();
        for dep in &package.pkg.dependencies {
            let mut group = vec![ResolvedDep {
                dep: dep.clone(),
                declared_by: name.to_string(),
            }];
            if let DepRef::Stage(stage) = dep.target() {
                self.runtime_closure(stage, &mut group);
            }
            for d in group {
                if keys.insert(dedup_key(&d.dep)) {
                    out.push(d);
                }
            }
        }
        out
    }

    /// Everything `target` needs, in build order.
    pub fn resolve(&self, target: &str) -> Result<Plan, LoadError> {
        if !self.packages.contains_key(target) {
            let mut diags = Diagnostics::default();
            let hint = closest(target, self.packages.keys().map(String::as_str))
                .map(|c| format!("did you mean {c:?}? "))
                .unwrap_or_default();
            diags.error(
                &self.pkgfile_name(),
                Span::default(),
                format!(
                    "package {target:?} is not defined; {hint}`kiln targets` lists the packages"
                ),
            );
            return Err(LoadError(diags));
        }
        let mut plan = Plan {
            target: target.to_string(),
            order: Vec::new(),
            deps: BTreeMap::new(),
        };
        self.post_order(target, &mut plan);
        Ok(plan)
    }

    /// Adds `name` and everything below it to the plan, dependencies first, in the order a
    /// recursive depth-first walk would, but on an explicit stack.
    fn post_order(&self, name: &str, plan: &mut Plan) {
        // (package, its stage dependencies, how many were followed)
        let mut frames: Vec<(String, Vec<String>, usize)> = Vec::new();
        let enter = |name: &str, plan: &mut Plan, frames: &mut Vec<_>| {
            if plan.deps.contains_key(name) {
                return;
            }
            let deps = self.effective_deps(name);
            let stages = deps
                .iter()
                .filter_map(|d| match d.dep.target() {
                    DepRef::Stage(stage) => Some(stage.to_string()),
                    DepRef::Image(_) => None,
                })
                .collect();
            // Marked before its dependencies are walked; `load` already rejected cycles.
            plan.deps.insert(name.to_string(), deps);
            frames.push((name.to_string(), stages, 0));
        };
        enter(name, plan, &mut frames);
        while let Some((name, stages, followed)) = frames.last_mut() {
            match stages.get(*followed) {
                Some(stage) => {
                    *followed += 1;
                    let stage = stage.clone();
                    enter(&stage, plan, &mut frames);
                }
                None => {
                    plan.order.push(std::mem::take(name));
                    frames.pop();
                }
            }
        }
    }

    fn pkgfile_name(&self) -> String {
        super::files::PKGFILE.to_string()
    }

    /// Graphviz DOT of the graph below `target`, or of every package.
    pub fn dot(&self, target: Option<&str>) -> Result<String, LoadError> {
        let names: Vec<String> = match target {
            Some(t) => self.resolve(t)?.order,
            None => self.packages.keys().cloned().collect(),
        };
        let mut out =
            String::from("digraph kiln {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
        let mut images = BTreeSet::new();
        for name in &names {
            out.push_str(&format!("  {};\n", quote(name)));
        }
        for name in &names {
            for d in self.effective_deps(name) {
                let (node, inherited) = (d.dep.target(), d.declared_by != *name);
                let to = match node {
                    DepRef::Stage(s) => quote(s),
                    DepRef::Image(i) => {
                        images.insert(i.to_string());
                        quote(i)
                    }
                };
                let mut attrs = Vec::new();
                if d.dep.runtime || inherited {
                    attrs.push("style=bold, color=forestgreen".to_string());
                }
                if d.dep.from != "/" || d.dep.to != "/" {
                    attrs.push(format!(
                        "label={}",
                        quote(&format!("{} -> {}", d.dep.from, d.dep.to))
                    ));
                }
                let attrs = if attrs.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", attrs.join(", "))
                };
                out.push_str(&format!("  {} -> {to}{attrs};\n", quote(name)));
            }
        }
        for image in images {
            out.push_str(&format!(
                "  {} [shape=box, style=filled, fillcolor=lemonchiffon];\n",
                quote(&image)
            ));
        }
        out.push_str("}\n");
        Ok(out)
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
