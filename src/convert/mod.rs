//! Package graph → LLB, per platform, with bldr's semantics.
//!
//! Each package becomes: a base (scratch or pinned Alpine) with `/pkg` and the built-in
//! environment; its dependencies merged on top; `apk add` for `install:`; its own directory of the
//! build context and its rendered templates at `/pkg`; each step's verified downloads, env and
//! scripts (tests on a discarded branch that only the target's result waits for); and finally the
//! `finalize` copies, merged, as its output.
//! Every vertex is named for people reading progress and carries its pkg.yaml location.
//!
//! Layout: [`trees`] loads a tree per platform on demand, [`package`] converts one package,
//! [`names`] makes vertex names, [`sbom`] writes SPDX documents for `sbom:` steps, [`validate`]
//! adds the extension validation stage.

pub mod helper;
mod names;
mod package;
mod sbom;
pub mod trees;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use kiln_llb::{Output, ResolveMode, SourceMap};

use crate::spec::{LoadError, Platform, Span};

/// Which scripts ignore BuildKit's cache (`--no-cache`, `--no-cache-filter` naming packages).
pub use kiln_gateway::NoCache;
pub use trees::Trees;
pub use validate::{parse_extension_arg, ExtensionDecision, ValidateOptions, EXTENSION_BUILD_ARG};

/// bldr's pinned Alpine image (with the same digest, so caches are shared with bldr builds).
pub const ALPINE_IMAGE: &str =
    "docker.io/library/alpine:3.21@sha256:a8560b36e8b8210634f77d9f7f9efd7ffa463e380b75e2e74aff4511df3ef88c";

/// Looks up a replacement for an `image:` dependency.
pub type ImageOverride = Arc<dyn Fn(&str, &Platform) -> Option<Output> + Send + Sync>;

/// The `context` local that package directories are copied from.
#[derive(Debug, Clone)]
pub struct ContextSource {
    /// The local's name as the client passes it (`context` by default).
    pub name: String,
    /// The session serving it; `None`: the build's own session.
    pub session_id: Option<String>,
}

impl Default for ContextSource {
    fn default() -> Self {
        ContextSource {
            name: "context".to_string(),
            session_id: None,
        }
    }
}

/// Everything the converter needs besides the trees.
#[derive(Clone)]
pub struct ConvertOptions {
    /// kiln's own image: runs the sha512 check and the validation stage.
    pub helper: Output,
    /// Where package directories are copied from.
    pub context: ContextSource,
    /// How base and dependency images are resolved; `None`: the daemon's default.
    pub image_resolve_mode: Option<ResolveMode>,
    /// The packages to build without the cache (`--no-cache`, `--no-cache-filter`).
    pub no_cache: NoCache,
    /// `SOURCE_DATE_EPOCH`: finalize copies get this mtime.
    pub source_date_epoch: Option<i64>,
    /// Prefix of cache-mount ids (`BUILDKIT_CACHE_MOUNT_NS`).
    pub cache_mount_ns: String,
    /// Send `Accept`/`User-Agent` on downloads; needs `source.http.header` (BuildKit v0.21).
    pub http_headers: bool,
    /// Replaces `image:` dependencies (named contexts): given the reference as written and the
    /// platform it is needed for, returns what to use instead.
    pub image_override: Option<ImageOverride>,
    /// The platform the frontend (and so the helper image) runs on.
    pub native_platform: Platform,
    /// Adds the validation stage when set.
    pub validate: Option<ValidateOptions>,
    /// Proxy settings for scripts and `apk`, from the `*_proxy` build args.
    pub proxy: Option<kiln_llb::pb::ProxyEnv>,
}

impl ConvertOptions {
    /// Options with `helper` and every other setting at its default.
    pub fn new(helper: Output) -> ConvertOptions {
        ConvertOptions {
            helper,
            context: ContextSource::default(),
            image_resolve_mode: None,
            no_cache: NoCache::None,
            source_date_epoch: None,
            cache_mount_ns: String::new(),
            http_headers: false,
            image_override: None,
            native_platform: crate::spec::platform::host(),
            validate: None,
            proxy: None,
        }
    }
}

/// Proxy settings from build args named `http_proxy`, `https_proxy`, `ftp_proxy`, `no_proxy` or
/// `all_proxy`, in any case (buildx passes the client's proxy variables that way).
pub fn proxy_from_build_args(
    build_args: &BTreeMap<String, String>,
) -> Option<kiln_llb::pb::ProxyEnv> {
    let mut proxy = kiln_llb::pb::ProxyEnv::default();
    let mut any = false;
    for (key, value) in build_args {
        let slot = match key.to_ascii_lowercase().as_str() {
            "http_proxy" => &mut proxy.http_proxy,
            "https_proxy" => &mut proxy.https_proxy,
            "ftp_proxy" => &mut proxy.ftp_proxy,
            "no_proxy" => &mut proxy.no_proxy,
            "all_proxy" => &mut proxy.all_proxy,
            _ => continue,
        };
        *slot = value.clone();
        any = true;
    }
    any.then_some(proxy)
}

/// An SPDX document a step of the target writes (`sbom:`), also returned as an attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomDocument {
    /// Where the step writes it in the build root.
    pub path: String,
    /// The document, as the step writes it.
    pub json: String,
}

/// A converted target for one platform.
pub struct Converted {
    /// The target's output.
    pub image: Output,
    /// The SPDX documents of the target's own steps.
    pub sboms: Vec<SbomDocument>,
    /// The validation stage; it must succeed before the image is exported.
    pub validation: Option<Output>,
    /// The tests of the target and of every stage below it, each an empty diff of its test
    /// branch: they must pass before the image is exported, but nothing waits for them on the
    /// way, so they run alongside the rest of the build.
    pub tests: Vec<Output>,
    /// Whether the target is validated as a system extension, and why (`None` without
    /// validation options).
    pub extension: Option<ExtensionDecision>,
    /// `[platform] target`, the prefix of the result's vertex names.
    name: String,
}

impl Converted {
    /// What gets exported: the image, made to depend on its validation stage and on every test
    /// without taking any of their files. The diff of a stage against itself is empty, so the
    /// merge adds no layer, yet BuildKit must build the stage first, and caches it with the rest
    /// of the result.
    pub fn result(&self) -> Output {
        use kiln_llb::OpBuilder;
        let mut gates = Vec::new();
        if let Some(v) = &self.validation {
            gates.push(
                kiln_llb::Diff::new(v, v)
                    .custom_name(format!("{}: nothing", self.name))
                    .output(),
            );
        }
        gates.extend(self.tests.iter().cloned());
        if gates.is_empty() {
            return self.image.clone();
        }
        let what = if self.validation.is_some() {
            "validated image"
        } else {
            "tested image"
        };
        let mut layers = vec![self.image.clone()];
        layers.extend(gates);
        kiln_llb::Merge::new(&layers)
            .custom_name(format!("{}: {what}", self.name))
            .output()
    }
}

/// Why a target could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The tree did not load for the platform; its diagnostics say why.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A package that cannot be expressed as LLB, at its pkg.yaml span.
    #[error("{file}:{}:{}: {message}", span.line, span.column)]
    Package {
        /// The pkg.yaml, relative to the tree root.
        file: String,
        /// Where in it, as the loader reports its own errors.
        span: Span,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Converts packages of one tree set, memoising each (package, target, build platform).
pub struct Converter<'t> {
    trees: &'t Trees,
    opts: ConvertOptions,
    done: BTreeMap<package::Key, Output>,
    /// Each converted package's test gates (see `Converted::tests`), when it has tests.
    tests: BTreeMap<package::Key, Vec<Output>>,
    sources: BTreeMap<String, Arc<SourceMap>>,
    /// The build context's local source, per tree platform (see `Converter::context_source`).
    contexts: BTreeMap<Platform, Output>,
}

impl<'t> Converter<'t> {
    /// A converter over `trees`; nothing is converted until a target is asked for.
    pub fn new(trees: &'t Trees, opts: ConvertOptions) -> Converter<'t> {
        Converter {
            trees,
            opts,
            done: BTreeMap::new(),
            tests: BTreeMap::new(),
            sources: BTreeMap::new(),
            contexts: BTreeMap::new(),
        }
    }

    /// The build-context sources the converted targets copy from, one per tree platform. The
    /// frontend transfers them ahead of the solve that needs them (their vertices are the same).
    pub fn context_sources(&self) -> Vec<Output> {
        self.contexts.values().cloned().collect()
    }

    /// Converts `target` for `platform`, honouring its `buildPlatform`, plus the validation stage.
    pub fn target(&mut self, target: &str, platform: &Platform) -> Result<Converted, ConvertError> {
        let tree = self.trees.get(platform)?;
        tree.resolve(target)?;
        let build = tree.packages[target]
            .pkg
            .build_platform
            .as_ref()
            .unwrap_or(platform);
        let image = self.package(target, platform, build)?;
        let tests = self.test_gates((target.to_string(), platform.clone(), build.clone()))?;
        let (validation, extension) = match self.opts.validate.clone() {
            Some(v) => {
                let decision = ExtensionDecision::decide(
                    v.extension,
                    &tree.packages[target],
                    tree.pkgfile.extension,
                );
                let stage = validate::stage(self, target, platform, &image, &v, &decision)?;
                (stage, Some(decision))
            }
            None => (None, None),
        };
        let pkg = &tree.packages[target].pkg;
        let sboms = sbom::package_documents(pkg, package::BUILD_DIR, self.opts.source_date_epoch)
            .into_iter()
            .map(|(path, json)| SbomDocument { path, json })
            .collect();
        Ok(Converted {
            image,
            sboms,
            validation,
            tests,
            extension,
            name: format!("[{platform}] {target}"),
        })
    }
}
