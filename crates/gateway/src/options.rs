//! Frontend inputs from the environment BuildKit starts the frontend with:
//! `BUILDKIT_FRONTEND_OPT_<n>=key=value` options, the session id and the worker
//! list, and their typed reading as [`BuildOptions`] (the keys buildx and
//! BuildKit's own frontends use; unknown keys are kept in [`BuildOptions::raw`]).

use std::collections::BTreeMap;

use serde::Deserialize;

use kiln_llb::{Platform, PlatformError};

/// Prefix of the environment variables carrying frontend options.
pub const FRONTEND_OPT_PREFIX: &str = "BUILDKIT_FRONTEND_OPT_";
/// Environment variable holding the client session id (for locals).
pub const SESSION_ID_ENV: &str = "BUILDKIT_SESSION_ID";
/// Environment variable holding the worker list as JSON.
pub const WORKERS_ENV: &str = "BUILDKIT_WORKERS";
/// Environment variable naming the product that exports the result.
pub const EXPORTED_PRODUCT_ENV: &str = "BUILDKIT_EXPORTEDPRODUCT";

/// Default name of the local that holds the definition file.
pub const DEFAULT_DEFINITION_LOCAL: &str = "dockerfile";
/// Default name of the local that holds the build context.
pub const DEFAULT_CONTEXT_LOCAL: &str = "context";

/// Everything BuildKit passes through the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontendEnv {
    /// Raw frontend options (`key` → `value`).
    pub opts: BTreeMap<String, String>,
    /// The client session id; empty when BuildKit did not set one.
    pub session_id: String,
    /// Workers from `BUILDKIT_WORKERS`; empty when absent or unreadable.
    pub workers: Vec<WorkerInfo>,
    /// `BUILDKIT_EXPORTEDPRODUCT`: the client product (e.g. `buildx`) that started the build.
    pub exported_product: String,
}

/// A worker as described in `BUILDKIT_WORKERS` or the Ping response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct WorkerInfo {
    /// The worker's id.
    #[serde(rename = "ID", alias = "id", default)]
    pub id: String,
    /// The worker's labels (executor, hostname, snapshotter …).
    #[serde(rename = "Labels", alias = "labels", default)]
    pub labels: BTreeMap<String, String>,
    #[serde(
        rename = "Platforms",
        alias = "platforms",
        default,
        deserialize_with = "platforms_or_null"
    )]
    /// The platforms the worker runs, natively or by emulation; the first is its native one.
    pub platforms: Vec<Platform>,
}

fn platforms_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Platform>, D::Error> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        architecture: String,
        #[serde(default)]
        os: String,
        #[serde(default)]
        variant: String,
    }
    let raw: Option<Vec<Raw>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            Platform::new(
                &r.os,
                &r.architecture,
                (!r.variant.is_empty()).then_some(r.variant.as_str()),
            )
        })
        .collect())
}

impl FrontendEnv {
    /// Reads the current process environment.
    pub fn from_process() -> Self {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Reads the given variables (for tests and for callers that filter).
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut numbered: Vec<(u64, String, String)> = Vec::new();
        let mut env = FrontendEnv::default();
        for (k, v) in vars {
            let (k, v) = (k.as_ref(), v.as_ref());
            if let Some(index) = k.strip_prefix(FRONTEND_OPT_PREFIX) {
                // Each value is itself `key=value`; only the first '=' splits,
                // so values may contain '='. A bare key means an empty value.
                let (key, value) = v.split_once('=').unwrap_or((v, ""));
                // Apply in index order so a repeated key resolves deterministically.
                let n = index.parse::<u64>().unwrap_or(u64::MAX);
                numbered.push((n, key.to_string(), value.to_string()));
            } else if k == SESSION_ID_ENV {
                env.session_id = v.to_string();
            } else if k == WORKERS_ENV {
                env.workers = parse_workers(v);
            } else if k == EXPORTED_PRODUCT_ENV {
                env.exported_product = v.to_string();
            }
        }
        numbered.sort_by_key(|entry| entry.0);
        for (_, key, value) in numbered {
            env.opts.insert(key, value);
        }
        env
    }
}

/// Parses the `BUILDKIT_WORKERS` JSON; BuildKit's own client ignores a bad
/// value, and so do we (the Ping response carries the workers as well).
pub fn parse_workers(json: &str) -> Vec<WorkerInfo> {
    match serde_json::from_str::<Option<Vec<WorkerInfo>>>(json) {
        Ok(workers) => workers.unwrap_or_default(),
        Err(err) => {
            tracing::debug!("ignoring unreadable {WORKERS_ENV}: {err}");
            Vec::new()
        }
    }
}

/// An option value that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frontend option {key:?} has an invalid value {value:?}: {reason}")]
pub struct OptionsError {
    /// The option's name, e.g. `platform`.
    pub key: String,
    /// The value as sent.
    pub value: String,
    /// What is wrong and what to send instead.
    pub reason: String,
}

impl OptionsError {
    fn new(key: &str, value: &str, reason: impl Into<String>) -> Self {
        OptionsError {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// Which steps must ignore the cache (`no-cache` option).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NoCache {
    /// Option absent: use the cache everywhere.
    #[default]
    None,
    /// `no-cache` with an empty value: ignore the cache everywhere.
    All,
    /// `--no-cache-filter`: ignore the cache for these names only.
    Only(Vec<String>),
}

impl NoCache {
    /// Reads the `no-cache` option: empty means everything, else a comma-separated list of names.
    pub fn parse(value: &str) -> Self {
        if value.is_empty() {
            NoCache::All
        } else {
            NoCache::Only(comma_list(value).map(String::from).collect())
        }
    }

    /// Whether the step called `name` must ignore the cache (names compare
    /// case-insensitively, as BuildKit's Dockerfile frontend does).
    pub fn applies_to(&self, name: &str) -> bool {
        match self {
            NoCache::None => false,
            NoCache::All => true,
            NoCache::Only(names) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }
}

/// How image references are resolved (`image-resolve-mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImageResolveMode {
    /// Empty or `default`: the daemon decides (use a local image when it has one).
    #[default]
    Default,
    /// `pull`: always ask the registry.
    Pull,
    /// `local`: prefer the daemon's image store (buildx's docker driver).
    Local,
}

impl ImageResolveMode {
    /// Reads the `image-resolve-mode` option (empty is the default); `None` for other values.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "" | "default" => Some(ImageResolveMode::Default),
            "pull" => Some(ImageResolveMode::Pull),
            "local" => Some(ImageResolveMode::Local),
            _ => None,
        }
    }

    /// The value used for `image.resolvemode` attrs and `ResolveImageConfig`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ImageResolveMode::Default => "default",
            ImageResolveMode::Pull => "pull",
            ImageResolveMode::Local => "local",
        }
    }
}

/// A cache source to import from (`--cache-from`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CacheImport {
    /// The cache backend, e.g. `registry` or `local`.
    #[serde(rename = "Type", alias = "type")]
    pub kind: String,
    #[serde(
        rename = "Attrs",
        alias = "attrs",
        default,
        deserialize_with = "map_or_null"
    )]
    /// The backend's settings, e.g. `ref`.
    pub attrs: BTreeMap<String, String>,
}

impl CacheImport {
    /// Reads the `cache-imports` option, a JSON list of `{"Type","Attrs"}` objects (empty or
    /// `null`: none); `key` names the option in the error.
    fn parse_list(key: &str, value: &str) -> Result<Vec<CacheImport>, OptionsError> {
        if value.is_empty() {
            return Ok(Vec::new());
        }
        let parsed: Option<Vec<CacheImport>> = serde_json::from_str(value).map_err(|e| {
            let expected = "expected a JSON list of {\"Type\",\"Attrs\"} objects";
            OptionsError::new(key, value, format!("{expected} ({e})"))
        })?;
        Ok(parsed.unwrap_or_default())
    }

    /// A registry cache source, as a legacy `cache-from` ref names it.
    fn registry(reference: &str) -> CacheImport {
        CacheImport {
            kind: "registry".to_string(),
            attrs: BTreeMap::from([("ref".to_string(), reference.to_string())]),
        }
    }
}

fn map_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

/// What a named context (`--build-context NAME=VALUE`) points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContextValue {
    /// `docker-image://REF`.
    Image(String),
    /// `local:NAME`: a local directory shipped through the session.
    Local(String),
    /// `input:NAME`: a definition from the `Inputs` call.
    Input(String),
    /// `oci-layout://STORE@DIGEST`.
    OciLayout(String),
    /// A git repository (`git@…`, `git://…`, or an https URL to one).
    Git(String),
    /// An http(s) URL.
    Http(String),
}

impl NamedContextValue {
    /// Parses the value buildx puts in `context:NAME`.
    pub fn parse(value: &str) -> Option<Self> {
        let (scheme, rest) = value.split_once(':')?;
        let after_slashes = rest.strip_prefix("//").unwrap_or(rest);
        Some(match scheme {
            "docker-image" => NamedContextValue::Image(after_slashes.to_string()),
            "local" => NamedContextValue::Local(rest.to_string()),
            "input" => NamedContextValue::Input(rest.to_string()),
            "oci-layout" => NamedContextValue::OciLayout(after_slashes.to_string()),
            "git" => NamedContextValue::Git(value.to_string()),
            s if s.starts_with("git@") => NamedContextValue::Git(value.to_string()),
            "http" | "https" if value.ends_with(".git") || value.contains(".git#") => {
                NamedContextValue::Git(value.to_string())
            }
            "http" | "https" => NamedContextValue::Http(value.to_string()),
            _ => return None,
        })
    }
}

/// Typed frontend options. Parse with [`BuildOptions::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// `target`.
    pub target: Option<String>,
    /// `platform`, normalised; empty means "the default platform".
    pub platforms: Vec<Platform>,
    /// Whether the result must be a platform map (several platforms, or
    /// `multi-platform=true` / `build-arg:BUILDKIT_MULTI_PLATFORM`).
    pub multi_platform: bool,
    /// `filename`: the definition file inside the definition local; `None`
    /// leaves the default to the caller.
    pub filename: Option<String>,
    /// The local holding the definition file (`dockerfilekey`, else `dockerfile`).
    pub definition_local: String,
    /// Whether `dockerfilekey` was given, which forces reading the local even
    /// when an input named `dockerfile` exists.
    pub definition_local_forced: bool,
    /// The local holding the build context (`context`).
    pub context_local: String,
    /// `build-arg:NAME` values.
    pub build_args: BTreeMap<String, String>,
    /// `label:NAME` values.
    pub labels: BTreeMap<String, String>,
    /// `no-cache`: the steps to build without the cache.
    pub no_cache: NoCache,
    /// `cache-imports` (JSON) followed by legacy `cache-from` refs.
    pub cache_imports: Vec<CacheImport>,
    /// `image-resolve-mode`.
    pub image_resolve_mode: ImageResolveMode,
    /// `context:NAME` and `context:NAME::PLATFORM`, keyed by what follows `context:`.
    pub named_contexts: BTreeMap<String, String>,
    /// `local-sessionid:NAME`: the session serving local NAME.
    pub local_session_ids: BTreeMap<String, String>,
    /// `requestid`: a subrequest such as `frontend.targets`.
    pub request_id: Option<String>,
    /// `source`: the frontend image reference.
    pub source: Option<String>,
    /// `cmdline`: the whole syntax directive value.
    pub cmdline: Option<String>,
    /// `frontend.caps`, with any `+suffix` removed.
    pub frontend_caps: Vec<String>,
    /// `build-arg:SOURCE_DATE_EPOCH`, in seconds.
    pub source_date_epoch: Option<i64>,
    /// Every option not read into a field above.
    pub raw: BTreeMap<String, String>,
}

/// Parses a comma-separated platform list as sent in the `platform` option.
pub fn parse_platform_list(input: &str) -> Result<Vec<Platform>, PlatformError> {
    comma_list(input).map(Platform::parse).collect()
}

/// The non-empty, trimmed items of a comma-separated option value.
fn comma_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

const BUILD_ARG_PREFIX: &str = "build-arg:";
const LABEL_PREFIX: &str = "label:";
const CONTEXT_PREFIX: &str = "context:";
const LOCAL_SESSION_PREFIX: &str = "local-sessionid:";
const MULTI_PLATFORM_ARG: &str = "build-arg:BUILDKIT_MULTI_PLATFORM";

impl BuildOptions {
    /// Reads typed options from the raw option map.
    /// Long by design: one match arm per BuildKit option, as dockerui reads them.
    pub fn parse(opts: &BTreeMap<String, String>) -> Result<Self, OptionsError> {
        let mut out = BuildOptions {
            definition_local: DEFAULT_DEFINITION_LOCAL.to_string(),
            context_local: DEFAULT_CONTEXT_LOCAL.to_string(),
            ..Default::default()
        };
        let non_empty = |v: &String| (!v.is_empty()).then(|| v.clone());
        let mut multi_platform_flag: Option<(&str, &str)> = None;
        let mut cache_from: Option<&str> = None;

        for (key, value) in opts {
            match key.as_str() {
                "target" => out.target = non_empty(value),
                "platform" => {
                    out.platforms = parse_platform_list(value)
                        .map_err(|e| OptionsError::new(key, value, e.to_string()))?;
                }
                "multi-platform" => {
                    // The build-arg form wins, as in BuildKit.
                    if multi_platform_flag.is_none() {
                        multi_platform_flag = Some((key, value));
                    }
                }
                MULTI_PLATFORM_ARG => {
                    if !value.is_empty() {
                        multi_platform_flag = Some((key, value));
                    }
                    out.build_args
                        .insert("BUILDKIT_MULTI_PLATFORM".into(), value.clone());
                }
                "filename" => out.filename = non_empty(value),
                "dockerfilekey" => {
                    if value.is_empty() {
                        return Err(OptionsError::new(
                            key,
                            value,
                            "name the local holding the definition file",
                        ));
                    }
                    out.definition_local = value.clone();
                    out.definition_local_forced = true;
                }
                "no-cache" => out.no_cache = NoCache::parse(value),
                // Legacy cache-from refs are appended after the loop.
                "cache-imports" => out.cache_imports = CacheImport::parse_list(key, value)?,
                "cache-from" => cache_from = Some(value),
                "image-resolve-mode" => {
                    out.image_resolve_mode = ImageResolveMode::parse(value).ok_or_else(|| {
                        OptionsError::new(key, value, "use default, pull or local")
                    })?;
                }
                "requestid" => out.request_id = non_empty(value),
                "source" => out.source = non_empty(value),
                "cmdline" => out.cmdline = non_empty(value),
                "frontend.caps" => {
                    // A cap may carry a `+suffix` (e.g. `moby.buildkit.frontend.contexts+forward`).
                    out.frontend_caps = comma_list(value)
                        .map(|cap| {
                            cap.split_once('+')
                                .map_or(cap, |(name, _)| name)
                                .to_string()
                        })
                        .collect();
                }
                _ => out.prefixed(key, value)?,
            }
        }
        if let Some(refs) = cache_from {
            out.cache_imports
                .extend(comma_list(refs).map(CacheImport::registry));
        }
        out.decide_multi_platform(multi_platform_flag)?;
        Ok(out)
    }

    /// Reads an option with a prefix (`build-arg:`, `label:`, `context:`, `local-sessionid:`);
    /// any other option is kept in `raw`.
    fn prefixed(&mut self, key: &str, value: &str) -> Result<(), OptionsError> {
        if let Some(name) = key.strip_prefix(BUILD_ARG_PREFIX) {
            let epoch = value.trim();
            if name == "SOURCE_DATE_EPOCH" && !epoch.is_empty() {
                self.source_date_epoch = Some(epoch.parse::<i64>().map_err(|_| {
                    OptionsError::new(
                        key,
                        value,
                        "SOURCE_DATE_EPOCH must be whole seconds since 1970",
                    )
                })?);
            }
            self.build_args.insert(name.to_string(), value.to_string());
        } else if let Some(name) = key.strip_prefix(LABEL_PREFIX) {
            self.labels.insert(name.to_string(), value.to_string());
        } else if let Some(name) = key.strip_prefix(CONTEXT_PREFIX) {
            self.named_contexts
                .insert(name.to_string(), value.to_string());
        } else if let Some(name) = key.strip_prefix(LOCAL_SESSION_PREFIX) {
            self.local_session_ids
                .insert(name.to_string(), value.to_string());
        } else {
            self.raw.insert(key.to_string(), value.to_string());
        }
        Ok(())
    }

    /// A multi-platform result when several platforms are requested, unless `flag` (the
    /// `multi-platform` option or its build-arg form) says otherwise; `false` with several
    /// platforms is refused.
    fn decide_multi_platform(&mut self, flag: Option<(&str, &str)>) -> Result<(), OptionsError> {
        let several = self.platforms.len() > 1;
        self.multi_platform = several;
        if let Some((key, value)) = flag.filter(|(_, v)| !v.is_empty()) {
            let requested = parse_bool(value)
                .ok_or_else(|| OptionsError::new(key, value, "use true or false"))?;
            if !requested && several {
                return Err(OptionsError::new(
                    key,
                    value,
                    "several target platforms need a multi-platform result; drop the option or pass one --platform",
                ));
            }
            self.multi_platform = requested;
        }
        Ok(())
    }

    /// The session to use for local `name`: a `local-sessionid:` override, else `default`.
    pub fn local_session<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.local_session_ids
            .get(name)
            .map_or(default, String::as_str)
    }

    /// Looks up a named context the way BuildKit does: image names compare in familiar form
    /// (`docker.io/library/alpine:latest` is `alpine`), on either side, and `NAME::PLATFORM` is
    /// tried before `NAME`. Returns the key that matched (what follows `context:`) and its value.
    pub fn named_context(&self, name: &str, platform: Option<&Platform>) -> Option<(String, &str)> {
        let familiar = familiar_name(name);
        let matching = |want_platform: Option<&Platform>| {
            self.named_contexts.iter().find(|(key, _)| {
                let (key_name, key_platform) = match key.split_once("::") {
                    Some((n, p)) => (n, Platform::parse(p).ok()),
                    None => (key.as_str(), None),
                };
                familiar_name(key_name) == familiar && key_platform.as_ref() == want_platform
            })
        };
        platform
            .and_then(|p| matching(Some(p)))
            .or_else(|| matching(None))
            .map(|(key, value)| (key.clone(), value.as_str()))
    }

    /// The image that replaces image `name` for `platform`: the reference of a
    /// `docker-image://` named context; `None` when there is none or it names something else.
    pub fn named_image(&self, name: &str, platform: &Platform) -> Option<String> {
        let (_, value) = self.named_context(name, Some(platform))?;
        match NamedContextValue::parse(value)? {
            NamedContextValue::Image(reference) => Some(reference),
            _ => None,
        }
    }

    /// Whether the caller asked for the given frontend capability.
    pub fn requests_cap(&self, cap: &str) -> bool {
        self.frontend_caps.iter().any(|c| c == cap)
    }
}

/// Go's `strconv.ParseBool` accepted spellings.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The short form of a Docker Hub image reference, with `:latest` dropped, as
/// named contexts are keyed by it.
pub fn familiar_name(reference: &str) -> String {
    let mut name = reference;
    for prefix in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest
                .strip_prefix("library/")
                .filter(|r| !r.contains('/'))
                .unwrap_or(rest);
            break;
        }
    }
    name.strip_suffix(":latest").unwrap_or(name).to_string()
}

/// The named-context keys that may name `reference`, most specific first: its familiar form
/// as written, then without the digest, without the tag, and the bare repository. So
/// `--build-context alpine=…`, `alpine:3.21=…` or `docker.io/library/alpine:3.21=…` all swap
/// `docker.io/library/alpine:3.21@sha256:…`.
pub fn context_names(reference: &str) -> Vec<String> {
    let familiar = familiar_name(reference);
    let (name_tag, digest) = match familiar.split_once('@') {
        Some((n, d)) => (n.to_string(), Some(d.to_string())),
        None => (familiar.clone(), None),
    };
    let slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match name_tag[slash..].rfind(':') {
        Some(i) => (
            name_tag[..slash + i].to_string(),
            Some(name_tag[slash + i + 1..].to_string()),
        ),
        None => (name_tag.clone(), None),
    };
    let mut out = vec![familiar.clone()];
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    push(name_tag.clone());
    if let Some(d) = &digest {
        push(format!("{repository}@{d}"));
    }
    if tag.is_some() || digest.is_some() {
        push(repository);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_go_from_specific_to_bare() {
        assert_eq!(
            context_names("docker.io/library/alpine:3.21@sha256:abc"),
            [
                "alpine:3.21@sha256:abc",
                "alpine:3.21",
                "alpine@sha256:abc",
                "alpine"
            ]
        );
        assert_eq!(
            context_names("127.0.0.1:5000/tools:v1"),
            ["127.0.0.1:5000/tools:v1", "127.0.0.1:5000/tools"]
        );
        assert_eq!(context_names("busybox"), ["busybox"]);
        assert_eq!(context_names("busybox:latest"), ["busybox"]);
    }

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_options_split_on_first_equals_only() {
        let env = FrontendEnv::from_vars([
            ("BUILDKIT_FRONTEND_OPT_0", "build-arg:FLAGS=a=b=c"),
            ("BUILDKIT_FRONTEND_OPT_1", "no-cache"),
            ("BUILDKIT_FRONTEND_OPT_2", "target=gvisor"),
            ("BUILDKIT_SESSION_ID", "sess-1"),
            ("PATH", "/bin"),
            ("BUILDKIT_FRONTEND_OPT_3", "label:empty="),
        ]);
        assert_eq!(
            env.opts.get("build-arg:FLAGS").map(String::as_str),
            Some("a=b=c")
        );
        assert_eq!(env.opts.get("no-cache").map(String::as_str), Some(""));
        assert_eq!(env.opts.get("target").map(String::as_str), Some("gvisor"));
        assert_eq!(env.opts.get("label:empty").map(String::as_str), Some(""));
        assert!(!env.opts.contains_key("PATH"));
        assert_eq!(env.session_id, "sess-1");
    }

    #[test]
    fn repeated_option_keeps_highest_index() {
        // Index 10 sorts after 9 numerically (not as a string).
        let env = FrontendEnv::from_vars([
            ("BUILDKIT_FRONTEND_OPT_10", "target=late"),
            ("BUILDKIT_FRONTEND_OPT_9", "target=early"),
        ]);
        assert_eq!(env.opts["target"], "late");
    }

    #[test]
    fn workers_json_is_read_and_bad_json_ignored() {
        let env = FrontendEnv::from_vars([(
            "BUILDKIT_WORKERS",
            r#"[{"ID":"w1","Labels":{"a":"b"},"Platforms":[{"architecture":"amd64","os":"linux"},{"architecture":"arm64","os":"linux","variant":"v8"}]}]"#,
        )]);
        assert_eq!(env.workers.len(), 1);
        assert_eq!(env.workers[0].id, "w1");
        assert_eq!(env.workers[0].labels["a"], "b");
        let ids: Vec<String> = env.workers[0].platforms.iter().map(Platform::id).collect();
        assert_eq!(ids, ["linux/amd64", "linux/arm64"]);
        assert!(parse_workers("not json").is_empty());
        assert!(parse_workers("null").is_empty());
    }

    #[test]
    fn source_date_epoch_is_whole_seconds() {
        let epoch = |v: &str| {
            BuildOptions::parse(&opts(&[("build-arg:SOURCE_DATE_EPOCH", v)]))
                .map(|o| o.source_date_epoch)
        };
        assert_eq!(epoch("1700000000"), Ok(Some(1_700_000_000)));
        assert_eq!(epoch(" 1700000000\n"), Ok(Some(1_700_000_000)));
        assert_eq!(epoch(""), Ok(None));
        assert_eq!(
            BuildOptions::parse(&opts(&[])).unwrap().source_date_epoch,
            None
        );
        assert!(epoch("yesterday")
            .unwrap_err()
            .to_string()
            .contains("whole seconds"));
    }

    #[test]
    fn platform_list_keeps_order_and_skips_blanks() {
        let list = parse_platform_list("linux/arm64, linux/amd64,").unwrap();
        let ids: Vec<String> = list.iter().map(Platform::id).collect();
        assert_eq!(ids, ["linux/arm64", "linux/amd64"]);
    }

    #[test]
    fn typed_options() {
        let o = BuildOptions::parse(&opts(&[
            ("target", "gvisor"),
            ("platform", "linux/amd64,linux/arm64/v8"),
            ("filename", "Pkgfile"),
            ("build-arg:TAG", "v1=2"),
            ("build-arg:SOURCE_DATE_EPOCH", "1700000000"),
            ("label:org.opencontainers.image.source", "https://x"),
            ("image-resolve-mode", "local"),
            ("context:alpine", "docker-image://localhost:5000/alpine:3"),
            ("context:base::linux/arm64", "local:base-arm"),
            ("local-sessionid:context", "other-session"),
            ("requestid", "frontend.targets"),
            (
                "frontend.caps",
                "moby.buildkit.frontend.subrequests+forward,moby.buildkit.frontend.contexts",
            ),
            ("source", "kiln:dev"),
            ("attest:provenance", "mode=min"),
        ]))
        .unwrap();
        assert_eq!(o.target.as_deref(), Some("gvisor"));
        let ids: Vec<String> = o.platforms.iter().map(Platform::id).collect();
        assert_eq!(ids, ["linux/amd64", "linux/arm64"]);
        assert!(o.multi_platform);
        assert_eq!(o.filename.as_deref(), Some("Pkgfile"));
        assert_eq!(o.definition_local, "dockerfile");
        assert!(!o.definition_local_forced);
        assert_eq!(o.context_local, "context");
        assert_eq!(o.build_args["TAG"], "v1=2");
        assert_eq!(o.source_date_epoch, Some(1_700_000_000));
        assert_eq!(o.labels["org.opencontainers.image.source"], "https://x");
        assert_eq!(o.image_resolve_mode, ImageResolveMode::Local);
        assert_eq!(o.image_resolve_mode.as_str(), "local");
        assert_eq!(o.local_session("context", "main"), "other-session");
        assert_eq!(o.local_session("dockerfile", "main"), "main");
        assert_eq!(o.request_id.as_deref(), Some("frontend.targets"));
        assert!(o.requests_cap("moby.buildkit.frontend.subrequests"));
        assert!(o.requests_cap("moby.buildkit.frontend.contexts"));
        assert_eq!(o.source.as_deref(), Some("kiln:dev"));
        assert_eq!(o.raw.len(), 1, "only the unknown key is raw: {:?}", o.raw);
        assert_eq!(o.raw["attest:provenance"], "mode=min");
        assert_eq!(o.no_cache, NoCache::None);
    }

    #[test]
    fn defaults_when_empty() {
        let o = BuildOptions::parse(&BTreeMap::new()).unwrap();
        assert!(o.platforms.is_empty());
        assert!(!o.multi_platform);
        assert_eq!(o.filename, None);
        assert_eq!(o.definition_local, "dockerfile");
        assert_eq!(o.image_resolve_mode, ImageResolveMode::Default);
        assert!(o.cache_imports.is_empty());
    }

    #[test]
    fn dockerfilekey_overrides_definition_local() {
        let o = BuildOptions::parse(&opts(&[("dockerfilekey", "dockerfile_pkgs")])).unwrap();
        assert_eq!(o.definition_local, "dockerfile_pkgs");
        assert!(o.definition_local_forced);
    }

    #[test]
    fn multi_platform_flag() {
        let single = BuildOptions::parse(&opts(&[
            ("platform", "linux/amd64"),
            ("multi-platform", "true"),
        ]))
        .unwrap();
        assert!(single.multi_platform);
        let by_arg =
            BuildOptions::parse(&opts(&[("build-arg:BUILDKIT_MULTI_PLATFORM", "1")])).unwrap();
        assert!(by_arg.multi_platform);
        let conflict = BuildOptions::parse(&opts(&[
            ("platform", "linux/amd64,linux/arm64"),
            ("multi-platform", "false"),
        ]));
        assert_eq!(conflict.unwrap_err().key, "multi-platform");
        let bad = BuildOptions::parse(&opts(&[("multi-platform", "yes")]));
        assert!(bad.unwrap_err().to_string().contains("true or false"));
    }

    #[test]
    fn no_cache_forms() {
        let all = BuildOptions::parse(&opts(&[("no-cache", "")])).unwrap();
        assert_eq!(all.no_cache, NoCache::All);
        assert!(all.no_cache.applies_to("anything"));
        let some = BuildOptions::parse(&opts(&[("no-cache", "gvisor,Base")])).unwrap();
        assert_eq!(
            some.no_cache,
            NoCache::Only(vec!["gvisor".into(), "Base".into()])
        );
        assert!(some.no_cache.applies_to("base"));
        assert!(!some.no_cache.applies_to("other"));
        assert!(!NoCache::None.applies_to("gvisor"));
    }

    #[test]
    fn cache_imports_json_then_legacy() {
        let o = BuildOptions::parse(&opts(&[
            ("cache-imports", r#"[{"Type":"registry","Attrs":{"ref":"localhost:5000/cache"}},{"Type":"local","Attrs":null}]"#),
            ("cache-from", "r1:c,r2:c"),
        ]))
        .unwrap();
        let summary: Vec<(String, Option<String>)> = o
            .cache_imports
            .iter()
            .map(|c| (c.kind.clone(), c.attrs.get("ref").cloned()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "registry".to_string(),
                    Some("localhost:5000/cache".to_string())
                ),
                ("local".to_string(), None),
                ("registry".to_string(), Some("r1:c".to_string())),
                ("registry".to_string(), Some("r2:c".to_string())),
            ]
        );
        let bad = BuildOptions::parse(&opts(&[("cache-imports", "{oops")])).unwrap_err();
        assert_eq!(bad.key, "cache-imports");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let e = BuildOptions::parse(&opts(&[("platform", "linux/amd64,/x")])).unwrap_err();
        assert_eq!(e.key, "platform");
        let e = BuildOptions::parse(&opts(&[("image-resolve-mode", "sometimes")])).unwrap_err();
        assert_eq!(e.key, "image-resolve-mode");
        let e = BuildOptions::parse(&opts(&[("build-arg:SOURCE_DATE_EPOCH", "yesterday")]))
            .unwrap_err();
        assert!(e.to_string().contains("SOURCE_DATE_EPOCH"), "{e}");
    }

    #[test]
    fn named_context_lookup_prefers_platform_and_familiar_names() {
        let o = BuildOptions::parse(&opts(&[
            ("context:alpine", "docker-image://mirror/alpine:3"),
            (
                "context:alpine::linux/arm64",
                "docker-image://mirror/alpine-arm:3",
            ),
            ("context:ghcr.io/x/y:1", "input:y"),
        ]))
        .unwrap();
        let arm = Platform::parse("linux/arm64").unwrap();
        let amd = Platform::parse("linux/amd64").unwrap();
        assert_eq!(
            o.named_context("docker.io/library/alpine:latest", Some(&arm)),
            Some((
                "alpine::linux/arm64".to_string(),
                "docker-image://mirror/alpine-arm:3"
            ))
        );
        assert_eq!(
            o.named_context("alpine", Some(&amd)),
            Some(("alpine".to_string(), "docker-image://mirror/alpine:3"))
        );
        assert_eq!(
            o.named_context("ghcr.io/x/y:1", None).map(|(_, v)| v),
            Some("input:y")
        );
        assert_eq!(o.named_context("busybox", None), None);
    }

    #[test]
    fn named_images_compare_familiar_names_on_both_sides() {
        let o = BuildOptions::parse(&opts(&[
            ("context:busybox:1.37", "docker-image://mirror/busybox:1.37"),
            (
                "context:docker.io/library/tools:1::linux/arm64/v8",
                "docker-image://mirror/tools:arm",
            ),
            ("context:tools:1", "docker-image://mirror/tools:any"),
            ("context:local-one", "local:somedir"),
        ]))
        .unwrap();
        let arm = Platform::linux("arm64");
        let amd = Platform::linux("amd64");
        let image = |name, p| o.named_image(name, p);
        assert_eq!(
            image("docker.io/library/busybox:1.37", &amd).as_deref(),
            Some("mirror/busybox:1.37")
        );
        assert_eq!(image("tools:1", &arm).as_deref(), Some("mirror/tools:arm"));
        assert_eq!(image("tools:1", &amd).as_deref(), Some("mirror/tools:any"));
        assert_eq!(image("local-one", &amd), None, "only images replace images");
        assert_eq!(image("other:1", &amd), None);
    }

    #[test]
    fn familiar_names() {
        assert_eq!(familiar_name("docker.io/library/alpine:latest"), "alpine");
        assert_eq!(
            familiar_name("docker.io/library/alpine:3.20"),
            "alpine:3.20"
        );
        assert_eq!(
            familiar_name("docker.io/siderolabs/tools:v1"),
            "siderolabs/tools:v1"
        );
        assert_eq!(
            familiar_name("ghcr.io/siderolabs/tools:latest"),
            "ghcr.io/siderolabs/tools"
        );
        assert_eq!(familiar_name("alpine"), "alpine");
    }

    #[test]
    fn named_context_values() {
        use NamedContextValue::*;
        let cases = [
            ("docker-image://alpine:3", Image("alpine:3".into())),
            ("local:ctx_base", Local("ctx_base".into())),
            ("input:base", Input("base".into())),
            (
                "oci-layout://store@sha256:ab",
                OciLayout("store@sha256:ab".into()),
            ),
            (
                "https://example.com/a.tar",
                Http("https://example.com/a.tar".into()),
            ),
            (
                "https://github.com/a/b.git#main",
                Git("https://github.com/a/b.git#main".into()),
            ),
            (
                "git@github.com:a/b.git",
                Git("git@github.com:a/b.git".into()),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(NamedContextValue::parse(value), Some(want), "{value}");
        }
        assert_eq!(NamedContextValue::parse("nonsense"), None);
    }
}
