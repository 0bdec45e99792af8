//! `pkg.yaml`: one package, rendered as a template and then read into typed fields with the
//! positions (in the file as the user wrote it) of the package, each dependency, step and script.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;

use super::diag::{Diagnostics, Span};
use super::platform::{self as platforms, Platform, PlatformSchema};
use super::yaml::{self, LineMap, Node, Reader};

/// The base of a package's build root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// A pinned Alpine image with bash: `install:` packages come from apk.
    Alpine,
    /// An empty root filesystem: the toolchain comes from dependencies.
    Scratch,
}

/// The network a step's scripts see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// No network (the default, for hermetic builds).
    #[default]
    None,
    /// BuildKit's sandboxed network.
    Default,
    /// The host's network (needs the `network.host` entitlement).
    Host,
}

/// A package, as read from its pkg.yaml.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "pkg.yaml", description = "A kiln/bldr package")]
pub struct Pkg {
    /// Unique package name, used by `stage:` dependencies and `--target`.
    pub name: String,
    /// Base of the build: `alpine` or `scratch`.
    pub variant: Variant,
    /// Interpreter for every script (`[shell, -c, script]`).
    #[serde(default = "default_shell")]
    pub shell: String,
    /// Alpine packages installed with `apk add --no-cache`.
    #[serde(default)]
    pub install: Vec<String>,
    /// Pins the platform the build runs on (cross compilation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<PlatformSchema>")]
    pub build_platform: Option<Platform>,
    /// Other packages and images copied into the build root before the steps run.
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    /// What runs in the build root, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Copies out of the build root into the package's output; required when there are steps.
    #[serde(default)]
    pub finalize: Vec<Finalize>,
    /// Whether the output is a Talos system extension, validated as one (kiln only; bldr ignores
    /// it). Unset: decided by the output's shape, `manifest.yaml` beside `rootfs/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<bool>,
    /// Where the whole package sits in its pkg.yaml.
    #[schemars(skip)]
    pub span: Span,
}

fn default_shell() -> String {
    "/bin/sh".to_string()
}

/// Another package or an image whose files a package copies into its build root.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    /// Another package's finalized output. Exactly one of `stage` and `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// An OCI image reference. Exactly one of `stage` and `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Path inside the dependency to copy from (default `/`).
    #[serde(default = "root_path")]
    pub from: String,
    /// Destination in this package's build root (default `/`).
    #[serde(default = "root_path")]
    pub to: String,
    /// Build or fetch the dependency for this platform instead of the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<PlatformSchema>")]
    pub platform: Option<Platform>,
    /// Dependents of this package receive this dependency too.
    #[serde(default)]
    pub runtime: bool,
    /// Where the entry is in the pkg.yaml.
    #[schemars(skip)]
    pub span: Span,
}

fn root_path() -> String {
    "/".to_string()
}

/// What a dependency points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepRef<'a> {
    /// A package of the tree, by name.
    Stage(&'a str),
    /// An OCI image, by reference.
    Image(&'a str),
}

impl Dependency {
    /// The package or image the dependency names.
    pub fn target(&self) -> DepRef<'_> {
        match (&self.stage, &self.image) {
            (Some(s), _) => DepRef::Stage(s),
            (None, Some(i)) => DepRef::Image(i),
            // Validation guarantees one of them; an empty stage name then fails resolution.
            (None, None) => DepRef::Stage(""),
        }
    }
}

/// One step: downloads, environment, then its scripts phase by phase.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Files downloaded into /tmp/build, verified by sha256 and sha512.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// Environment for this and every following step.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Absolute paths mounted as shared cache mounts for every script of the step.
    #[serde(default)]
    pub cache_paths: Vec<String>,
    /// The network the step's scripts see.
    #[serde(default)]
    pub network: NetworkMode,
    /// Scripts that run first, e.g. unpacking and configuring.
    #[serde(default)]
    pub prepare: Vec<Script>,
    /// Scripts that compile.
    #[serde(default)]
    pub build: Vec<Script>,
    /// Scripts that install into the output directories.
    #[serde(default)]
    pub install: Vec<Script>,
    /// Scripts whose file changes are discarded but whose failure fails the build.
    #[serde(default)]
    pub test: Vec<Script>,
    /// An SPDX document describing what the step builds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<Sbom>,
    /// Where the step is in the pkg.yaml.
    #[schemars(skip)]
    pub span: Span,
}

/// The four script phases, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `prepare:` scripts.
    Prepare,
    /// `build:` scripts.
    Build,
    /// `install:` scripts.
    Install,
    /// `test:` scripts, whose file changes are discarded.
    Test,
}

impl Phase {
    /// Every phase, in the order they run.
    pub const ALL: [Phase; 4] = [Phase::Prepare, Phase::Build, Phase::Install, Phase::Test];

    /// The phase's key in a step, e.g. `build`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prepare => "prepare",
            Phase::Build => "build",
            Phase::Install => "install",
            Phase::Test => "test",
        }
    }
}

impl Step {
    /// The step's scripts of `phase`.
    pub fn scripts(&self, phase: Phase) -> &[Script] {
        match phase {
            Phase::Prepare => &self.prepare,
            Phase::Build => &self.build,
            Phase::Install => &self.install,
            Phase::Test => &self.test,
        }
    }
}

/// One shell script of a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Script {
    /// The script's text, as rendered.
    pub script: String,
    /// Where it is in the pkg.yaml.
    pub span: Span,
}

impl JsonSchema for Script {
    fn schema_name() -> Cow<'static, str> {
        "Script".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "description": "A shell script; runs as `[shell, -c, \"set -eou pipefail\\n\" + script]`"})
    }
}

/// A file a step downloads, pinned by its checksums.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Source {
    /// The URL to download.
    pub url: String,
    /// File name under /tmp/build.
    pub destination: String,
    /// 64 hex digits.
    pub sha256: String,
    /// 128 hex digits.
    pub sha512: String,
    /// Where the entry is in the pkg.yaml.
    #[schemars(skip)]
    pub span: Span,
    /// Where the `sha256` value is written.
    #[serde(skip)]
    #[schemars(skip)]
    pub sha256_span: Span,
    /// Where the `sha512` value is written.
    #[serde(skip)]
    #[schemars(skip)]
    pub sha512_span: Span,
}

/// The `sbom:` block of a step: what goes into its SPDX document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sbom {
    /// Where the step writes the document (relative paths from the working directory); no
    /// document without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_path: Option<String>,
    /// The package name in the document; default: the package's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The version in the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// CPE identifiers vulnerability scanners match on.
    #[serde(default)]
    pub cpes: Vec<String>,
    /// A package URL (purl) identifying the software.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// SPDX license identifiers.
    #[serde(default)]
    pub licenses: Vec<String>,
}

/// One copy from the build root into the package's output.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Finalize {
    /// Path in the build root to copy.
    pub from: String,
    /// Destination in the output.
    pub to: String,
    /// Where the entry is in the pkg.yaml.
    #[schemars(skip)]
    pub span: Span,
}

pub(super) const PKG_KEYS: &[&str] = &[
    "name",
    "variant",
    "shell",
    "install",
    "buildPlatform",
    "dependencies",
    "steps",
    "finalize",
    "extension",
];
pub(super) const DEP_KEYS: &[&str] = &["stage", "image", "from", "to", "platform", "runtime"];
pub(super) const STEP_KEYS: &[&str] = &[
    "sources",
    "env",
    "cachePaths",
    "network",
    "prepare",
    "build",
    "install",
    "test",
    "sbom",
];
pub(super) const SOURCE_KEYS: &[&str] = &["url", "destination", "sha256", "sha512"];
pub(super) const SBOM_KEYS: &[&str] =
    &["outputPath", "name", "version", "cpes", "purl", "licenses"];
pub(super) const FINALIZE_KEYS: &[&str] = &["from", "to"];

impl Pkg {
    /// Reads a rendered pkg.yaml. `lines` maps rendered lines back to the template's lines.
    /// Returns `None` when the file has errors that leave no usable package.
    pub fn parse(
        file: &str,
        rendered: &str,
        lines: &dyn LineMap,
        diags: &mut Diagnostics,
    ) -> Option<Pkg> {
        let empty = "pkg.yaml is empty; it needs at least `name:` and `variant:`";
        let node = yaml::parse_reported(file, rendered, lines, Some(empty.to_string()), diags)?;
        let errors_before = diags.errors().count();
        let mut r = Reader::new(file, rendered, lines, diags);
        let pkg = read_pkg(&mut r, &node);
        let clean = r.diags.errors().count() == errors_before;
        pkg.filter(|_| clean)
    }
}

fn required_string(
    r: &mut Reader<'_>,
    parent: &Node,
    node: Option<&Node>,
    what: &str,
    hint: &str,
) -> Option<String> {
    match node {
        Some(n) => match r.string(n, what) {
            Some(s) if s.trim().is_empty() => {
                r.error(n, format!("{what} can't be empty; {hint}"));
                None
            }
            other => other,
        },
        None => {
            r.error(parent, format!("{what} is missing; {hint}"));
            None
        }
    }
}

fn platform(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<Platform> {
    let s = r.string(node, what)?;
    match platforms::parse(&s) {
        Ok(p) => Some(p),
        Err(e) => {
            r.error(node, format!("{what}: {e}"));
            None
        }
    }
}

/// Long by design: the pkg.yaml fields, read one after another in `PKG_KEYS` order.
fn read_pkg(r: &mut Reader<'_>, node: &Node) -> Option<Pkg> {
    let f = r.fields(node, "the package", PKG_KEYS);
    let name = required_string(
        r,
        node,
        f.get("name"),
        "name",
        "give the package a unique `name:`",
    );
    let variant = match f.get("variant") {
        Some(n) => match r.string(n, "variant").as_deref() {
            Some("alpine") => Some(Variant::Alpine),
            Some("scratch") => Some(Variant::Scratch),
            Some(other) => {
                r.error(
                    n,
                    format!("unknown variant {other:?}; use `alpine` or `scratch`"),
                );
                None
            }
            None => None,
        },
        None => {
            r.error(
                node,
                "variant is missing; set `variant: scratch` (empty root) or `variant: alpine`",
            );
            None
        }
    };
    let shell = match f.get("shell") {
        Some(n) => required_string(
            r,
            node,
            Some(n),
            "shell",
            "name an interpreter such as /bin/bash",
        )
        .unwrap_or_else(default_shell),
        None => default_shell(),
    };
    let install = f
        .get("install")
        .map(|n| {
            r.string_list(n, "install")
                .into_iter()
                .map(|(s, _)| s)
                .collect()
        })
        .unwrap_or_default();
    let build_platform = f
        .get("buildPlatform")
        .and_then(|n| platform(r, n, "buildPlatform"));
    let dependencies = f
        .get("dependencies")
        .map(|n| {
            r.sequence(n, "dependencies")
                .into_iter()
                .filter_map(|d| read_dependency(r, d))
                .collect()
        })
        .unwrap_or_default();
    let steps: Vec<Step> = f
        .get("steps")
        .map(|n| {
            r.sequence(n, "steps")
                .into_iter()
                .filter_map(|s| read_step(r, s))
                .collect()
        })
        .unwrap_or_default();
    let finalize_nodes = f
        .get("finalize")
        .map(|n| r.sequence(n, "finalize"))
        .unwrap_or_default();
    let extension = f.get("extension").and_then(|n| r.bool(n, "extension"));
    let finalize: Vec<Finalize> = finalize_nodes
        .iter()
        .filter_map(|s| read_finalize(r, s))
        .collect();
    // Entries with errors are reported themselves; only a missing `finalize:` is this error.
    if !steps.is_empty() && finalize_nodes.is_empty() {
        let at = f.get("steps").unwrap_or(node);
        r.error(at, "a package with steps needs `finalize:` to say what its output holds (e.g. `- from: /rootfs` `to: /rootfs`)");
    }
    Some(Pkg {
        name: name?,
        variant: variant?,
        shell,
        install,
        build_platform,
        dependencies,
        steps,
        finalize,
        extension,
        span: r.span(node),
    })
}

fn read_dependency(r: &mut Reader<'_>, node: &Node) -> Option<Dependency> {
    let f = r.fields(node, "a dependency", DEP_KEYS);
    let stage = f.get("stage").and_then(|n| r.string(n, "stage"));
    let image = f.get("image").and_then(|n| r.string(n, "image"));
    match (&stage, &image) {
        (Some(_), Some(_)) => {
            r.error(
                node,
                "a dependency can't have both `stage` and `image`; split it into two dependencies",
            );
            return None;
        }
        (None, None) => {
            r.error(
                node,
                "a dependency needs either `stage: <package>` or `image: <reference>`",
            );
            return None;
        }
        (Some(s), _) | (_, Some(s)) if s.trim().is_empty() => {
            r.error(node, "a dependency's `stage` or `image` can't be empty");
            return None;
        }
        _ => {}
    }
    let path = |r: &mut Reader<'_>, key: &str, inside: &str| {
        let Some(node) = f.get(key) else {
            return Some(root_path());
        };
        match r.string(node, key).filter(|s| !s.is_empty()) {
            Some(p) => check_path(
                r,
                node,
                &p,
                &format!("dependency {key}"),
                inside,
                PathKind::Either,
            )
            .then_some(p),
            None => Some(root_path()),
        }
    };
    let from = path(r, "from", "the dependency's filesystem")?;
    let to = path(r, "to", "the build root")?;
    let platform = f.get("platform").and_then(|n| platform(r, n, "platform"));
    let runtime = f
        .get("runtime")
        .and_then(|n| r.bool(n, "runtime"))
        .unwrap_or(false);
    Some(Dependency {
        stage,
        image,
        from,
        to,
        platform,
        runtime,
        span: r.span(node),
    })
}

/// Where a path-valued field points, which decides whether it must be absolute.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PathKind {
    /// Absolute only (`cachePaths`).
    Absolute,
    /// Absolute or relative to the field's base directory (everything else).
    Either,
}

/// The one rule for every path-valued field: not empty, no NUL byte, absolute where `kind` says
/// so, and no `..` component, so no path can climb out of the directory it is meant for.
/// Violations are reported at `node`, naming the field and the directory it must stay in.
fn check_path(
    r: &mut Reader<'_>,
    node: &Node,
    path: &str,
    what: &str,
    inside: &str,
    kind: PathKind,
) -> bool {
    let problem = if path.contains('\0') {
        Some("must not contain a NUL byte".to_string())
    } else if kind == PathKind::Absolute && !path.starts_with('/') {
        Some("must be an absolute path".to_string())
    } else if path.split('/').any(|c| c == "..") {
        Some(format!("must stay inside {inside} (no `..`)"))
    } else {
        None
    };
    match problem {
        Some(problem) => {
            r.error(node, format!("{what} {path:?} {problem}"));
            false
        }
        None => true,
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Long by design: the source fields, read one after another.
fn read_source(r: &mut Reader<'_>, node: &Node) -> Option<Source> {
    let f = r.fields(node, "a source", SOURCE_KEYS);
    let url = required_string(
        r,
        node,
        f.get("url"),
        "source.url",
        "give the address to download",
    );
    let destination = required_string(
        r,
        node,
        f.get("destination"),
        "source.destination",
        "name the file to write under /tmp/build",
    );
    let sha256 = required_string(
        r,
        node,
        f.get("sha256"),
        "source.sha256",
        "add the file's sha256 (64 hex digits)",
    );
    let sha512 = required_string(
        r,
        node,
        f.get("sha512"),
        "source.sha512",
        "add the file's sha512 (128 hex digits)",
    );
    if let (Some(u), Some(n)) = (&url, f.get("url")) {
        let ok = u.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.starts_with('/')
        });
        if !ok {
            r.error(n, format!("source.url {u:?} is not an http(s) URL"));
        }
    }
    for (value, key, len) in [(&sha256, "sha256", 64), (&sha512, "sha512", 128)] {
        if let (Some(v), Some(n)) = (value, f.get(key)) {
            if v.len() != len || !is_hex(v) {
                r.error(
                    n,
                    format!(
                        "source.{key} should be {len} hex digits, found {} characters ({v:?})",
                        v.len()
                    ),
                );
            }
        }
    }
    if let (Some(d), Some(n)) = (&destination, f.get("destination")) {
        check_path(
            r,
            n,
            d,
            "source.destination",
            "/tmp/build",
            PathKind::Either,
        );
    }
    let value_span = |r: &Reader<'_>, key: &str| f.get(key).map(|n| r.span(n)).unwrap_or_default();
    Some(Source {
        url: url?,
        destination: destination?,
        sha256: sha256?,
        sha512: sha512?,
        span: r.span(node),
        sha256_span: value_span(r, "sha256"),
        sha512_span: value_span(r, "sha512"),
    })
}

fn scripts(r: &mut Reader<'_>, node: Option<&Node>, what: &str) -> Vec<Script> {
    node.map(|n| {
        r.string_list(n, what)
            .into_iter()
            .map(|(script, span)| Script { script, span })
            .collect()
    })
    .unwrap_or_default()
}

/// Long by design: the step fields, read one after another.
fn read_step(r: &mut Reader<'_>, node: &Node) -> Option<Step> {
    let f = r.fields(node, "a step", STEP_KEYS);
    let sources = f
        .get("sources")
        .map(|n| {
            r.sequence(n, "sources")
                .into_iter()
                .filter_map(|s| read_source(r, s))
                .collect()
        })
        .unwrap_or_default();
    let env = f
        .get("env")
        .map(|n| r.string_map(n, "env"))
        .unwrap_or_default();
    let mut cache_paths = Vec::new();
    if let Some(n) = f.get("cachePaths") {
        for item in r.sequence(n, "cachePaths") {
            let Some(p) = r.string(item, "each item of cachePaths") else {
                continue;
            };
            if check_path(
                r,
                item,
                &p,
                "cachePaths entry",
                "the build root",
                PathKind::Absolute,
            ) {
                cache_paths.push(p);
            }
        }
    }
    let network = match f.get("network") {
        Some(n) => {
            match r.string(n, "network").as_deref() {
                Some("none") | Some("") => NetworkMode::None,
                Some("default") => NetworkMode::Default,
                Some("host") => NetworkMode::Host,
                Some(other) => {
                    r.error(n, format!("unknown network mode {other:?}; use `none` (default), `default` or `host`"));
                    NetworkMode::None
                }
                None => NetworkMode::None,
            }
        }
        None => NetworkMode::None,
    };
    let prepare = scripts(r, f.get("prepare"), "prepare");
    let build = scripts(r, f.get("build"), "build");
    let install = scripts(r, f.get("install"), "install");
    let test = scripts(r, f.get("test"), "test");
    let sbom = f.get("sbom").map(|n| read_sbom(r, n));
    Some(Step {
        sources,
        env,
        cache_paths,
        network,
        prepare,
        build,
        install,
        test,
        sbom,
        span: r.span(node),
    })
}

fn read_sbom(r: &mut Reader<'_>, node: &Node) -> Sbom {
    let f = r.fields(node, "sbom", SBOM_KEYS);
    let mut opt = |key: &str| f.get(key).and_then(|n| r.string(n, key));
    let output_path = opt("outputPath");
    let name = opt("name");
    let version = opt("version");
    let purl = opt("purl");
    let list = |r: &mut Reader<'_>, key: &str| {
        f.get(key)
            .map(|n| r.string_list(n, key).into_iter().map(|(s, _)| s).collect())
            .unwrap_or_default()
    };
    let output_path = match (output_path, f.get("outputPath")) {
        (Some(p), Some(n)) => check_path(
            r,
            n,
            &p,
            "sbom.outputPath",
            "the build root",
            PathKind::Either,
        )
        .then_some(p),
        (other, _) => other,
    };
    let cpes = list(r, "cpes");
    let licenses = list(r, "licenses");
    Sbom {
        output_path,
        name,
        version,
        cpes,
        purl,
        licenses,
    }
}

fn read_finalize(r: &mut Reader<'_>, node: &Node) -> Option<Finalize> {
    let f = r.fields(node, "a finalize entry", FINALIZE_KEYS);
    let from = required_string(
        r,
        node,
        f.get("from"),
        "finalize.from",
        "name the path to copy out of the build",
    );
    let to = required_string(
        r,
        node,
        f.get("to"),
        "finalize.to",
        "name where it goes in the output (e.g. `/`)",
    );
    let from = from.filter(|p| {
        check_path(
            r,
            f.get("from").unwrap_or(node),
            p,
            "finalize.from",
            "the build root",
            PathKind::Either,
        )
    });
    let to = to.filter(|p| {
        check_path(
            r,
            f.get("to").unwrap_or(node),
            p,
            "finalize.to",
            "the package's output",
            PathKind::Either,
        )
    });
    Some(Finalize {
        from: from?,
        to: to?,
        span: r.span(node),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml::Identity;

    fn parse(text: &str) -> (Option<Pkg>, Diagnostics) {
        let mut d = Diagnostics::default();
        let p = Pkg::parse("a/pkg.yaml", text, &Identity, &mut d);
        (p, d)
    }

    const SHA256: &str = "1f08f2d154f5189b5f1382848a32667b3d34066145b474c49cd3d41a5fba59a7";
    const SHA512: &str = "343fbb19c0ca5f91254d216b6113fb8a7b028bdafc976ba9cb1ff6b7d3442a6a0fbf2cc4bde4f2fcc7cb7293cc17a1914664a943e5c798d261d00b22a0e56989";

    #[test]
    fn reads_a_full_package_with_positions() {
        let text = format!(
            "name: tool\nvariant: scratch\nshell: /bin/bash\ndependencies:\n  - stage: base\n  - image: busybox:1\n    from: /bin\n    to: /usr/bin\n    runtime: true\nsteps:\n  - sources:\n      - url: https://example.com/a.tar\n        destination: a.tar\n        sha256: {SHA256}\n        sha512: {SHA512}\n    env:\n      GOPATH: /go\n    cachePaths: [/root/.cache]\n    network: default\n    build:\n      - make\n      - |\n        make install\n        echo done\n    test:\n      - test -f /rootfs/x\nfinalize:\n  - from: /rootfs\n    to: /rootfs\n"
        );
        let (p, d) = parse(&text);
        assert!(d.is_empty(), "{d}");
        let p = p.unwrap();
        assert_eq!(p.name, "tool");
        assert_eq!(p.variant, Variant::Scratch);
        assert_eq!(p.shell, "/bin/bash");
        assert_eq!(p.dependencies.len(), 2);
        assert_eq!(p.dependencies[0].target(), DepRef::Stage("base"));
        assert_eq!(p.dependencies[0].from, "/");
        assert_eq!(p.dependencies[1].target(), DepRef::Image("busybox:1"));
        assert!(p.dependencies[1].runtime);
        assert_eq!(p.dependencies[1].span.line, 6);
        assert_eq!(p.dependencies[1].span.end_line, 9);
        let step = &p.steps[0];
        assert_eq!(step.network, NetworkMode::Default);
        assert_eq!(step.env["GOPATH"], "/go");
        assert_eq!(step.cache_paths, vec!["/root/.cache"]);
        assert_eq!(step.sources[0].span.line, 12);
        assert_eq!(step.sources[0].sha256_span.line, 14);
        assert_eq!(step.sources[0].sha512_span.line, 15);
        assert_eq!(step.build[0].script, "make");
        assert_eq!(step.build[0].span.line, 21);
        assert_eq!(step.build[1].script, "make install\necho done\n");
        assert_eq!(step.build[1].span.line, 22);
        assert_eq!(step.build[1].span.end_line, 24);
        assert_eq!(step.test[0].span.line, 26);
        assert_eq!(p.finalize[0].from, "/rootfs");
    }

    #[test]
    fn defaults() {
        let (p, d) = parse("name: x\nvariant: alpine\n");
        assert!(d.is_empty(), "{d}");
        let p = p.unwrap();
        assert_eq!(p.shell, "/bin/sh");
        assert!(p.steps.is_empty());
        let (p, _) = parse("name: x\nvariant: scratch\nsteps:\n  - build: [make]\nfinalize:\n  - {from: /a, to: /}\n");
        assert_eq!(
            p.unwrap().steps[0].network,
            NetworkMode::None,
            "network defaults to none"
        );
    }

    #[test]
    fn reports_every_error_with_its_line() {
        let text = "variant: debian\nsteps:\n  - network: wifi\n    sources:\n      - url: ftp://x\n        destination: a\n        sha256: abc\n        sha512: zz\n    build: make\n";
        let (p, d) = parse(text);
        assert!(p.is_none());
        let errors: Vec<(usize, &str)> = d
            .errors()
            .map(|e| (e.span.line, e.message.as_str()))
            .collect();
        let has = |line: usize, needle: &str| {
            errors.iter().any(|(l, m)| *l == line && m.contains(needle))
        };
        assert!(has(1, "name is missing"), "{errors:?}");
        assert!(has(1, "unknown variant \"debian\""), "{errors:?}");
        assert!(has(3, "unknown network mode \"wifi\""), "{errors:?}");
        assert!(has(5, "not an http(s) URL"), "{errors:?}");
        assert!(has(7, "sha256 should be 64 hex digits"), "{errors:?}");
        assert!(has(8, "sha512 should be 128 hex digits"), "{errors:?}");
        assert!(has(9, "build must be a list"), "{errors:?}");
        assert!(
            errors.iter().any(|(_, m)| m.contains("needs `finalize:`")),
            "{errors:?}"
        );
        assert!(d.errors().all(|e| e.file == "a/pkg.yaml"));
    }

    #[test]
    fn dependency_rules() {
        let (_, d) = parse("name: x\nvariant: scratch\ndependencies:\n  - stage: a\n    image: b\n  - from: /\n  - stage: c\n    platform: linux/s390x\n");
        let errors: Vec<_> = d
            .errors()
            .map(|e| (e.span.line, e.message.clone()))
            .collect();
        assert!(
            errors
                .iter()
                .any(|(l, m)| *l == 4 && m.contains("both `stage` and `image`")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|(l, m)| *l == 6 && m.contains("either `stage")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|(l, m)| *l == 8 && m.contains("linux/s390x")),
            "{errors:?}"
        );
    }

    #[test]
    fn missing_source_fields_and_relative_cache_path() {
        let (_, d) = parse("name: x\nvariant: scratch\nsteps:\n  - sources:\n      - url: https://x/y\n    cachePaths: [cache]\nfinalize: [{from: /, to: /}]\n");
        let msgs: Vec<_> = d.errors().map(|e| e.message.clone()).collect();
        for needle in [
            "source.destination is missing",
            "source.sha256 is missing",
            "source.sha512 is missing",
            "must be an absolute path",
        ] {
            assert!(
                msgs.iter().any(|m| m.contains(needle)),
                "{needle}: {msgs:?}"
            );
        }
    }

    #[test]
    fn every_path_field_refuses_to_escape_at_its_line() {
        let text = "name: x\nvariant: scratch\ndependencies:\n  - stage: a\n    from: ../../etc\n  - stage: b\n    to: /usr/../../x\nsteps:\n  - sources:\n      - url: https://x/y\n        destination: ../y\n        sha256: {SHA256}\n        sha512: {SHA512}\n    cachePaths:\n      - /root/../../cache\n      - relative\n    sbom:\n      outputPath: ../../sbom.json\nfinalize:\n  - from: /\n    to: ../../../etc\n  - from: /a/../../..\n    to: /\n";
        let text = text.replace("{SHA256}", SHA256).replace("{SHA512}", SHA512);
        let (p, d) = parse(&text);
        assert!(p.is_none());
        let errors: Vec<(usize, String)> = d
            .errors()
            .map(|e| (e.span.line, e.message.clone()))
            .collect();
        for (line, needle) in [
            (
                5,
                "dependency from \"../../etc\" must stay inside the dependency's filesystem",
            ),
            (
                7,
                "dependency to \"/usr/../../x\" must stay inside the build root",
            ),
            (
                11,
                "source.destination \"../y\" must stay inside /tmp/build",
            ),
            (
                15,
                "cachePaths entry \"/root/../../cache\" must stay inside the build root",
            ),
            (16, "cachePaths entry \"relative\" must be an absolute path"),
            (
                18,
                "sbom.outputPath \"../../sbom.json\" must stay inside the build root",
            ),
            (
                21,
                "finalize.to \"../../../etc\" must stay inside the package's output",
            ),
            (
                22,
                "finalize.from \"/a/../../..\" must stay inside the build root",
            ),
        ] {
            assert!(
                errors.iter().any(|(l, m)| *l == line && m.contains(needle)),
                "line {line}: {needle}\n{errors:?}"
            );
        }
        assert_eq!(errors.len(), 8, "{errors:?}");
        // Relative and absolute paths that stay inside are fine.
        let (p, d) = parse("name: x\nvariant: scratch\ndependencies:\n  - stage: a\n    from: usr/bin\n    to: /tools\nsteps:\n  - build: [make]\nfinalize:\n  - {from: rootfs, to: /}\n  - {from: /a..b/c, to: x/./y}\n");
        assert!(d.is_empty(), "{d}");
        assert_eq!(p.unwrap().finalize[1].from, "/a..b/c");
    }

    #[test]
    fn line_map_translates_positions() {
        struct Shift;
        impl LineMap for Shift {
            fn source_line(&self, l: usize) -> usize {
                l + 10
            }
        }
        let mut d = Diagnostics::default();
        Pkg::parse("p.yaml", "name: x\nvariant: nope\n", &Shift, &mut d);
        assert_eq!(d.errors().next().unwrap().span.line, 12);
    }
}
