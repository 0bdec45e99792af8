//! One package → LLB: base, dependencies, apk, context, steps, finalize.

use std::collections::BTreeMap;
use std::sync::Arc;

use kiln_llb::{
    clean_path, CacheSharing, ChownOwner, CopyOptions, Diff, Exec, FileOp, Http, Image, Local,
    Merge, MkdirOptions, MkfileOptions, Mount, NetworkMode as LlbNetwork, OpBuilder, Output, Range,
    SourceMap,
};

use super::names::{script as script_name, vertex};
use super::{helper, ConvertError, Converter, ALPINE_IMAGE};
use crate::spec::vars::builtin;
use crate::spec::{DepRef, NetworkMode, Phase, Platform, Span};
use crate::tree::Package;

/// Where steps run and downloads land (shared by all steps, as in bldr).
pub(super) const BUILD_DIR: &str = "/tmp/build";
/// `mkdir -p`.
const MKDIR_P: MkdirOptions = MkdirOptions {
    make_parents: true,
    owner: None,
    timestamp: None,
};

/// A package converted for a target platform with execs on a build platform.
pub(super) type Key = (String, Platform, Platform);

/// A root filesystem with the environment and working directory execs on it use.
#[derive(Clone)]
struct BuildState {
    root: Output,
    env: BTreeMap<String, String>,
    cwd: String,
}

fn range(span: Span) -> Vec<Range> {
    vec![Range::lines(
        span.line as i32,
        span.end_line.max(span.line) as i32,
    )]
}

fn llb_err(package: &Package, span: Span, e: impl std::fmt::Display) -> ConvertError {
    ConvertError::Package {
        file: package.file.clone(),
        span,
        message: e.to_string(),
    }
}

/// Context for converting one package at one (target, build) platform pair.
struct Pkg<'a> {
    package: &'a Package,
    target: Platform,
    build: Platform,
    source: Arc<SourceMap>,
}

impl Pkg<'_> {
    fn name(&self, what: &str) -> String {
        vertex(&self.target, &self.package.pkg.name, what)
    }

    fn at<B: OpBuilder>(&self, builder: B, span: Span) -> B {
        if span.line == 0 {
            builder
        } else {
            builder.location(&self.source, range(span))
        }
    }
}

/// One step of a package being converted, with the environment its scripts run in.
struct StepContext<'a, 'p> {
    p: &'a Pkg<'p>,
    step: &'a crate::spec::Step,
    index: usize,
    env: BTreeMap<String, String>,
}

impl StepContext<'_, '_> {
    /// `what`, prefixed with `step N` when the package has several steps.
    fn label(&self, what: &str) -> String {
        if self.p.package.pkg.steps.len() > 1 {
            format!("step {} {what}", self.index + 1)
        } else {
            what.to_string()
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> ConvertError {
        llb_err(self.p.package, self.step.span, e)
    }
}

impl Converter<'_> {
    pub(super) fn source_map(&mut self, package: &Package) -> Arc<SourceMap> {
        self.sources
            .entry(package.file.clone())
            .or_insert_with(|| {
                SourceMap::new(package.file.clone(), "yaml", package.source.as_bytes())
            })
            .clone()
    }

    /// Execs that may reach the network get the build's proxy settings.
    fn with_proxy(&self, exec: Exec) -> Exec {
        match &self.opts.proxy {
            Some(proxy) => exec.proxy_env(proxy.clone()),
            None => exec,
        }
    }

    /// The output of `name` built for `target` with execs on `build`.
    pub(super) fn package(
        &mut self,
        name: &str,
        target: &Platform,
        build: &Platform,
    ) -> Result<Output, ConvertError> {
        let key = (name.to_string(), target.clone(), build.clone());
        if let Some(done) = self.done.get(&key) {
            return Ok(done.clone());
        }
        // Everything below is converted first, deepest first, so converting a package only
        // looks up its dependencies and a chain of any depth needs no recursion.
        for (name, target, build) in self.unconverted_below(key.clone())? {
            let output = self.convert_package(&name, &target, &build)?;
            self.done.insert((name, target, build), output);
        }
        Ok(self.done[&key].clone())
    }

    /// `key` and the (package, target, build platform) keys it depends on that are not converted
    /// yet, dependencies before dependents.
    fn unconverted_below(&self, key: Key) -> Result<Vec<Key>, ConvertError> {
        let mut order = Vec::new();
        let mut seen: std::collections::BTreeSet<Key> = std::collections::BTreeSet::new();
        // (key, its dependencies' keys, how many were followed)
        let mut frames: Vec<(Key, Vec<Key>, usize)> = Vec::new();
        let below = |key: &Key| -> Result<Vec<Key>, ConvertError> {
            let mut deps = self.stage_dependencies(key)?;
            deps.retain(|k| !self.done.contains_key(k));
            Ok(deps)
        };
        seen.insert(key.clone());
        frames.push((key.clone(), below(&key)?, 0));
        while let Some((key, deps, followed)) = frames.last_mut() {
            match deps.get(*followed) {
                Some(dep) => {
                    *followed += 1;
                    if seen.insert(dep.clone()) {
                        let dep = dep.clone();
                        let deps = below(&dep)?;
                        frames.push((dep, deps, 0));
                    }
                }
                None => {
                    order.push(key.clone());
                    frames.pop();
                }
            }
        }
        Ok(order)
    }

    /// The (package, target, build platform) keys of `key`'s stage dependencies, in order.
    fn stage_dependencies(&self, key: &Key) -> Result<Vec<Key>, ConvertError> {
        let (name, target, build) = key;
        let tree = self.trees.get(target)?;
        if !tree.packages.contains_key(name) {
            tree.resolve(name)?;
        }
        Ok(tree
            .effective_deps(name)
            .iter()
            .filter_map(|d| match d.dep.target() {
                DepRef::Stage(stage) => {
                    // Stages build natively at their own platform (`platform:` or this build's).
                    let at = d.dep.platform.as_ref().unwrap_or(build);
                    Some((stage.to_string(), at.clone(), at.clone()))
                }
                DepRef::Image(_) => None,
            })
            .collect())
    }

    /// The test gates of `key` (converted) and of every stage below it, each package's once,
    /// dependencies before dependents.
    pub(super) fn test_gates(&self, key: Key) -> Result<Vec<Output>, ConvertError> {
        let mut gates = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        // Depth first, each key's gates after all of its dependencies' (`true`: deps pushed).
        let mut stack = vec![(key, false)];
        while let Some((key, expanded)) = stack.pop() {
            if expanded {
                if let Some(own) = self.tests.get(&key) {
                    gates.extend(own.iter().cloned());
                }
                continue;
            }
            if !seen.insert(key.clone()) {
                continue;
            }
            let deps = self.stage_dependencies(&key)?;
            stack.push((key, true));
            stack.extend(deps.into_iter().rev().map(|k| (k, false)));
        }
        Ok(gates)
    }

    /// Converts one package whose stage dependencies are all converted.
    fn convert_package(
        &mut self,
        name: &str,
        target: &Platform,
        build: &Platform,
    ) -> Result<Output, ConvertError> {
        let tree = self.trees.get(target)?;
        let deps = tree.effective_deps(name);
        let package = &tree.packages[name];
        let source = self.source_map(package);
        let p = Pkg {
            package,
            target: target.clone(),
            build: build.clone(),
            source,
        };

        let mut state = self.base(&p)?;
        let mut layers = vec![state.root.clone()];
        layers.extend(self.dependency_layers(&p, &deps)?);
        layers.retain(|l| !l.is_scratch());
        if !package.pkg.install.is_empty() {
            // `apk add` runs on the dependencies before the context arrives, as in bldr.
            state.root = Merge::new(&layers)
                .custom_name(p.name("dependencies"))
                .output();
            state = self.install(&p, state)?;
            layers = vec![state.root.clone()];
        }
        state.root = if layers.len() <= 1 {
            // One root (or none): the context is copied onto it, as in bldr, with no merge.
            let root = layers.pop().unwrap_or_else(Output::scratch);
            self.context_onto(&p, &root)?
        } else {
            // Several: the package's directory is a layer of its own, built alongside them and
            // merged over them (last, so it wins, as bldr's copy into /pkg does). One merge
            // either way, and the copy is not on the critical path.
            layers.push(self.context_onto(&p, &Output::scratch())?);
            Merge::new(&layers)
                .custom_name(p.name("dependencies and context"))
                .output()
        };
        let mut gates = Vec::new();
        for i in 0..package.pkg.steps.len() {
            state = self.step(&p, state, i, &mut gates)?;
        }
        if !gates.is_empty() {
            let key = (name.to_string(), target.clone(), build.clone());
            self.tests.insert(key, gates);
        }
        self.finalize(&p, &state)
    }

    fn base(&mut self, p: &Pkg<'_>) -> Result<BuildState, ConvertError> {
        let pkg = &p.package.pkg;
        let platform = p.build.clone();
        let err = |e| llb_err(p.package, pkg.span, e);
        let root = match pkg.variant {
            crate::spec::Variant::Scratch => Output::scratch(),
            crate::spec::Variant::Alpine => {
                // A named context may swap the pinned image (a mirror, an air-gapped registry).
                let replaced = self
                    .opts
                    .image_override
                    .as_ref()
                    .and_then(|f| f(ALPINE_IMAGE, &p.build));
                let image = match replaced {
                    Some(image) => image,
                    None => {
                        let mut image = Image::new(ALPINE_IMAGE)
                            .map_err(err)?
                            .platform(platform.clone());
                        if let Some(mode) = self.opts.image_resolve_mode {
                            image = image.resolve_mode(mode);
                        }
                        image.custom_name(p.name("alpine base")).output()
                    }
                };
                let mut apk = Exec::new(&image)
                    .args(["/sbin/apk", "--no-cache", "--update", "add", "bash"])
                    .platform(platform.clone())
                    .custom_name(p.name("alpine base: apk add bash"));
                if let Some(proxy) = &self.opts.proxy {
                    apk = apk.proxy_env(proxy.clone());
                }
                let bash = apk.build().map_err(err)?.root();
                Exec::new(&bash)
                    .args(["/bin/ln", "-svf", "/bin/bash", "/bin/sh"])
                    .network(LlbNetwork::None)
                    .platform(platform)
                    .custom_name(p.name("alpine base: /bin/sh -> bash"))
                    .build()
                    .map_err(err)?
                    .root()
            }
        };
        // A scratch base gets /pkg with the context; Alpine's `apk add` runs in it first.
        let root = if root.is_scratch() {
            root
        } else {
            FileOp::new(&root)
                .mkdir("/pkg", 0o755, MKDIR_P)
                .custom_name(p.name("mkdir /pkg"))
                .output()
                .map_err(err)?
        };
        Ok(BuildState {
            root,
            env: builtin(&p.build, &p.target),
            cwd: "/pkg".to_string(),
        })
    }

    /// Each dependency's files as a layer to merge over the base, in order.
    /// Long by design: stage and image dependencies share the copy, platform and runtime handling.
    fn dependency_layers(
        &mut self,
        p: &Pkg<'_>,
        deps: &[crate::tree::ResolvedDep],
    ) -> Result<Vec<Output>, ConvertError> {
        let mut layers = Vec::new();
        for d in deps {
            let dep = &d.dep;
            let err = |e| llb_err(p.package, dep.span, e);
            let (output, what) = match dep.target() {
                DepRef::Stage(stage) => {
                    // Stages build natively at their own platform (`platform:` or this build's).
                    let at = dep.platform.as_ref().unwrap_or(&p.build);
                    let out = self.package(stage, at, at)?;
                    (out, format!("stage {stage}"))
                }
                DepRef::Image(reference) => {
                    let at = dep.platform.as_ref().unwrap_or(&p.build);
                    let replaced = self
                        .opts
                        .image_override
                        .as_ref()
                        .and_then(|f| f(reference, at));
                    let out = match replaced {
                        Some(o) => o,
                        None => {
                            let mut image =
                                Image::new(reference).map_err(err)?.platform(at.clone());
                            if let Some(mode) = self.opts.image_resolve_mode {
                                image = image.resolve_mode(mode);
                            }
                            p.at(image, dep.span).output()
                        }
                    };
                    (out, format!("image {reference}"))
                }
            };
            let layer = if dep.from == "/" && dep.to == "/" {
                output
            } else {
                let copy = FileOp::new(&Output::scratch())
                    .copy(
                        &output,
                        &dep.from,
                        &dep.to,
                        CopyOptions {
                            dir_copy_contents: true,
                            create_dest_path: true,
                            follow_symlinks: true,
                            ..Default::default()
                        },
                    )
                    .custom_name(p.name(&format!("copy --from {what} {} -> {}", dep.from, dep.to)));
                p.at(copy, dep.span).output().map_err(err)?
            };
            layers.push(layer);
        }
        Ok(layers)
    }

    fn install(&mut self, p: &Pkg<'_>, state: BuildState) -> Result<BuildState, ConvertError> {
        let pkg = &p.package.pkg;
        if pkg.install.is_empty() {
            return Ok(state);
        }
        let mut args = vec!["/sbin/apk".to_string(), "add".into(), "--no-cache".into()];
        args.extend(pkg.install.iter().cloned());
        let mut exec = Exec::new(&state.root)
            .args(args)
            .cwd(state.cwd.clone())
            .platform(p.build.clone())
            .custom_name(p.name(&format!("apk add {}", pkg.install.join(" "))));
        for (k, v) in &state.env {
            exec = exec.env(k, v);
        }
        let root = p
            .at(self.with_proxy(exec), pkg.span)
            .build()
            .map_err(|e| llb_err(p.package, pkg.span, e))?
            .root();
        Ok(BuildState { root, ..state })
    }

    /// The build context as one local source holding every package's directory of the tree for
    /// `platform`: one transfer for the whole build (BuildKit merges identical sources), from
    /// which each package copies only its own directory, so its cache key depends on its files
    /// alone. Definition files and dot-files are not build inputs (bldr excludes them too).
    fn context_source(&mut self, platform: &Platform) -> Result<Output, ConvertError> {
        if let Some(local) = self.contexts.get(platform) {
            return Ok(local.clone());
        }
        let tree = self.trees.get(platform)?;
        let dirs: std::collections::BTreeSet<&str> =
            tree.packages.values().map(|p| p.dir.as_str()).collect();
        // Each directory itself is included so it exists even when it holds only pkg.yaml.
        let include: Vec<String> = if dirs.contains("") {
            vec!["**".to_string()]
        } else {
            dirs.iter()
                .flat_map(|dir| [dir.to_string(), format!("{dir}/**")])
                .collect()
        };
        let mut local = Local::new(self.opts.context.name.clone())
            .include_patterns(include)
            .exclude_patterns(["**/.*", "**/pkg.yaml", "**/vars.yaml", "_out"])
            .shared_key_hint(self.opts.context.name.clone())
            .custom_name(format!(
                "[internal] load build context ({} package director{})",
                dirs.len(),
                if dirs.len() == 1 { "y" } else { "ies" }
            ));
        if let Some(session) = &self.opts.context.session_id {
            local = local.session_id(session.clone());
        }
        let local = local.output();
        self.contexts.insert(platform.clone(), local.clone());
        Ok(local)
    }

    /// The package's own directory of the build context and its rendered templates, at `/pkg`
    /// of `root`.
    fn context_onto(&mut self, p: &Pkg<'_>, root: &Output) -> Result<Output, ConvertError> {
        let package = p.package;
        let err = |e| llb_err(package, package.pkg.span, e);
        let dir = &package.dir;
        let local = self.context_source(&p.target)?;
        // A wildcard, allowed to match nothing: a directory holding only pkg.yaml arrives empty,
        // and then does not exist in the transferred context at all.
        let src = if dir.is_empty() {
            "/*".to_string()
        } else {
            format!("/{dir}/*")
        };
        let mut file = FileOp::new(root).mkdir("/pkg", 0o755, MKDIR_P).copy(
            &local,
            &src,
            "/pkg/",
            CopyOptions {
                create_dest_path: true,
                follow_symlinks: true,
                allow_wildcard: true,
                allow_empty_wildcard: true,
                ..Default::default()
            },
        );
        let mut templated: Vec<_> = package.templated.iter().collect();
        templated.sort_by(|a, b| a.path.cmp(&b.path));
        for t in templated {
            let path = format!("/pkg/{}", t.path);
            if let Some((parent, _)) = path.rsplit_once('/') {
                if parent != "/pkg" {
                    file = file.mkdir(parent, 0o755, MKDIR_P);
                }
            }
            file = file.mkfile(
                &path,
                0o644,
                t.contents.as_bytes().to_vec(),
                MkfileOptions::default(),
            );
        }
        file.custom_name(p.name("context -> /pkg"))
            .output()
            .map_err(err)
    }

    fn step(
        &mut self,
        p: &Pkg<'_>,
        state: BuildState,
        index: usize,
        gates: &mut Vec<Output>,
    ) -> Result<BuildState, ConvertError> {
        let step = &p.package.pkg.steps[index];
        let mut env = state.env.clone();
        env.extend(step.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let s = StepContext {
            p,
            step,
            index,
            env,
        };
        // The first step's is made by its first exec: BuildKit creates a missing working
        // directory (0755, as `mkdir -p` would), and downloads create it too. A later step's is
        // made again in case a script of an earlier one removed it.
        let mut root = if index == 0 {
            state.root.clone()
        } else {
            FileOp::new(&state.root)
                .mkdir(BUILD_DIR, 0o755, MKDIR_P)
                .custom_name(p.name(&s.label("mkdir /tmp/build")))
                .output()
                .map_err(|e| s.err(e))?
        };
        root = self.step_downloads(&s, root)?;
        for phase in [Phase::Prepare, Phase::Build, Phase::Install] {
            for (i, script) in step.scripts(phase).iter().enumerate() {
                root = self.script(&s, &root, phase, i, script)?;
            }
        }
        gates.extend(self.step_tests(&s, &root)?);
        root = self.step_sbom(&s, root)?;
        Ok(BuildState {
            root,
            env: s.env,
            cwd: BUILD_DIR.to_string(),
        })
    }

    /// The step's verified sources, copied into the build directory.
    fn step_downloads(
        &mut self,
        s: &StepContext<'_, '_>,
        root: Output,
    ) -> Result<Output, ConvertError> {
        if s.step.sources.is_empty() {
            return Ok(root);
        }
        let mut join = FileOp::new(&root);
        for source in &s.step.sources {
            let verified = self.download(s.p, source)?;
            join = join.copy(
                &verified,
                &format!("/{}", file_name(&source.destination)),
                &format!("{BUILD_DIR}/{}", source.destination.trim_start_matches('/')),
                CopyOptions {
                    create_dest_path: true,
                    ..Default::default()
                },
            );
        }
        let span = s
            .step
            .sources
            .iter()
            .fold(Span::default(), |acc, source| acc.join(source.span));
        s.p.at(join.custom_name(s.p.name(&s.label("downloads"))), span)
            .output()
            .map_err(|e| s.err(e))
    }

    /// One script as an exec: the step's environment, network and cache mounts, on `on`.
    fn script(
        &self,
        s: &StepContext<'_, '_>,
        on: &Output,
        phase: Phase,
        i: usize,
        script: &crate::spec::Script,
    ) -> Result<Output, ConvertError> {
        let (p, step) = (s.p, s.step);
        let pkg = &p.package.pkg;
        let network = match step.network {
            NetworkMode::None => LlbNetwork::None,
            NetworkMode::Default => LlbNetwork::Sandbox,
            NetworkMode::Host => LlbNetwork::Host,
        };
        let count = step.scripts(phase).len();
        let name = script_name(phase.name(), s.index, pkg.steps.len(), i, count);
        let mut exec = Exec::new(on)
            .args([
                pkg.shell.clone(),
                "-c".to_string(),
                format!("set -eou pipefail\n{}", script.script),
            ])
            .cwd(BUILD_DIR)
            .network(network)
            .platform(p.build.clone())
            .custom_name(p.name(&name));
        for (k, v) in &s.env {
            exec = exec.env(k, v);
        }
        exec = exec.env("PKG_NAME", &pkg.name);
        for path in &step.cache_paths {
            let id = clean_path(&format!("{}/{path}", self.opts.cache_mount_ns));
            exec = exec.mount(Mount::cache(path.clone(), id, CacheSharing::Shared));
        }
        if self.opts.no_cache.applies_to(&pkg.name) {
            exec = exec.ignore_cache();
        }
        p.at(self.with_proxy(exec), script.span)
            .build()
            .map(|r| r.root())
            .map_err(|e| llb_err(p.package, script.span, e))
    }

    /// The step's tests, on a branch off the main chain whose file changes are discarded: its
    /// gate is the branch's diff against itself, empty, which the target's result merges in
    /// (`Converted::result`). So the tests must pass before anything is exported, yet the rest
    /// of the build does not wait for them (bldr joins them back onto the main chain instead,
    /// which puts every test on the critical path).
    fn step_tests(
        &self,
        s: &StepContext<'_, '_>,
        root: &Output,
    ) -> Result<Option<Output>, ConvertError> {
        let tests = &s.step.test;
        if tests.is_empty() {
            return Ok(None);
        }
        let mut branch = root.clone();
        for (i, script) in tests.iter().enumerate() {
            branch = self.script(s, &branch, Phase::Test, i, script)?;
        }
        let span = tests
            .iter()
            .fold(Span::default(), |acc, t| acc.join(t.span));
        let gate = Diff::new(&branch, &branch).custom_name(s.p.name(&s.label("test passed")));
        Ok(Some(s.p.at(gate, span).output()))
    }

    /// The step's SPDX document (`sbom:`), written into the build root.
    fn step_sbom(&self, s: &StepContext<'_, '_>, root: Output) -> Result<Output, ConvertError> {
        let pkg = &s.p.package.pkg;
        let sources: Vec<crate::spec::Source> = pkg
            .steps
            .iter()
            .flat_map(|step| step.sources.iter().cloned())
            .collect();
        let Some((path, doc)) = super::sbom::step_document(
            &pkg.name,
            s.step,
            &sources,
            BUILD_DIR,
            self.opts.source_date_epoch,
        ) else {
            return Ok(root);
        };
        let mut file = FileOp::new(&root);
        if let Some((parent, _)) = path.rsplit_once('/').filter(|(dir, _)| !dir.is_empty()) {
            file = file.mkdir(parent, 0o755, MKDIR_P);
        }
        let file = file
            .mkfile(&path, 0o644, doc, MkfileOptions::default())
            .custom_name(s.p.name(&s.label(&format!("sbom {path}"))));
        s.p.at(file, s.step.span).output().map_err(|e| s.err(e))
    }

    /// A source fetched by BuildKit (pinned by sha256), then checked against its sha512 by kiln's
    /// own binary with no network. The result holds the verified file at `/<file name>`.
    fn download(
        &mut self,
        p: &Pkg<'_>,
        source: &crate::spec::Source,
    ) -> Result<Output, ConvertError> {
        let err = |e| llb_err(p.package, source.span, e);
        let name = file_name(&source.destination);
        let mut http = Http::new(source.url.clone())
            .checksum(&format!("sha256:{}", source.sha256))
            .map_err(err)?
            .filename(name.clone());
        if self.opts.http_headers {
            // Some mirrors answer HTML without an Accept header (bldr#212).
            http = http
                .header("Accept", "*/*")
                .header("User-Agent", concat!("kiln/", env!("CARGO_PKG_VERSION")));
        }
        let fetched = p
            .at(
                http.custom_name(p.name(&format!(
                    "download {} -> {}",
                    source.url, source.destination
                ))),
                source.span,
            )
            .output();
        let verify = Exec::new(&self.opts.helper)
            .readonly_root()
            .args(
                helper::VerifySha512 {
                    file: format!("/src/{name}"),
                    sha512: source.sha512.clone(),
                    dest: format!("/out/{name}"),
                }
                .argv(),
            )
            .network(LlbNetwork::None)
            .mount(Mount::bind("/src", &fetched).readonly())
            .mount(Mount::bind("/out", &Output::scratch()))
            .platform(self.opts.native_platform.clone())
            .custom_name(p.name(&format!("verify sha512 of {}", source.destination)));
        let result = p.at(verify, source.span).build().map_err(err)?;
        result.output("/out").ok_or_else(|| {
            llb_err(
                p.package,
                source.span,
                "the verification exec has no /out output",
            )
        })
    }

    fn finalize(&mut self, p: &Pkg<'_>, state: &BuildState) -> Result<Output, ConvertError> {
        let pkg = &p.package.pkg;
        let mut layers = Vec::new();
        for f in &pkg.finalize {
            let copy = FileOp::new(&Output::scratch())
                .copy(
                    &state.root,
                    &f.from,
                    &f.to,
                    CopyOptions {
                        owner: Some(ChownOwner { uid: 0, gid: 0 }),
                        timestamp: self.opts.source_date_epoch,
                        dir_copy_contents: true,
                        create_dest_path: true,
                        follow_symlinks: true,
                        ..Default::default()
                    },
                )
                .custom_name(p.name(&format!("finalize {} -> {}", f.from, f.to)));
            layers.push(
                p.at(copy, f.span)
                    .output()
                    .map_err(|e| llb_err(p.package, f.span, e))?,
            );
        }
        Ok(match layers.len() {
            0 => Output::scratch(),
            1 => layers.remove(0),
            _ => Merge::new(&layers).custom_name(p.name("finalize")).output(),
        })
    }
}

fn file_name(destination: &str) -> String {
    destination
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("download")
        .to_string()
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn cache_ids_are_clean_paths() {
        assert_eq!(clean_path("//root/.cache"), "/root/.cache");
        assert_eq!(clean_path("ns//a/./b/../c"), "/ns/a/c");
        assert_eq!(file_name("dir/a.tar.gz"), "a.tar.gz");
    }
}
