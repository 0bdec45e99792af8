//! BuildKit's frontend options read into kiln's: the target platforms, the tree's load options and
//! the conversion options. The frontend and the command line (`kiln llb`, `kiln plan` and the
//! other tree commands, which turn their flags into the same options) both go through here, so
//! `kiln llb` converts exactly what the frontend solves.

use std::collections::BTreeMap;
use std::sync::Arc;

use kiln_gateway::{BuildOptions, ImageResolveMode};
use kiln_llb::{Caps, OpBuilder, Output, ResolveMode};

use crate::convert::{proxy_from_build_args, ConvertOptions, ImageOverride, ValidateOptions};
use crate::spec::platform::{self, Platform};
use crate::tree::files::PKGFILE;
use crate::tree::LoadOptions;

/// What the options cannot say: where kiln runs and what it runs with.
#[derive(Clone)]
pub struct Host {
    /// kiln's own image, for the sha512 checks and the validation stage.
    pub helper: Output,
    /// The platform the helper runs on (BuildKit's first worker's, or this machine's).
    pub native: Platform,
    /// The client session holding the build context; empty leaves it to BuildKit.
    pub session_id: String,
    /// The daemon's LLB caps; empty when unknown.
    pub llb_caps: Caps,
}

/// Options that cannot be honoured, with what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// The platforms to build: those asked for, each one a platform trees can target, else `native`.
pub fn platforms(opts: &BuildOptions, native: &Platform) -> Result<Vec<Platform>, RequestError> {
    if opts.platforms.is_empty() {
        return Ok(vec![native.clone()]);
    }
    opts.platforms
        .iter()
        .map(|p| {
            platform::check_supported(p)
                .map(|()| p.clone())
                .map_err(|e| RequestError(format!("--platform: {e}")))
        })
        .collect()
}

/// The Pkgfile's path in the definition directory (`-f`).
pub fn pkgfile(opts: &BuildOptions) -> String {
    opts.filename.clone().unwrap_or_else(|| PKGFILE.to_string())
}

/// How to load the tree for `platform`.
pub fn load_options(opts: &BuildOptions, platform: &Platform) -> LoadOptions {
    LoadOptions {
        platform: platform.clone(),
        build_args: opts.build_args.clone(),
        pkgfile: pkgfile(opts),
    }
}

/// How to convert: every option that changes the LLB, refused up front when malformed.
pub fn convert_options(opts: &BuildOptions, host: &Host) -> Result<ConvertOptions, RequestError> {
    let mut convert = ConvertOptions::new(host.helper.clone());
    convert.context.name = opts.context_local.clone();
    let session = opts.local_session(&opts.context_local, &host.session_id);
    convert.context.session_id = (!session.is_empty()).then(|| session.to_string());
    convert.image_resolve_mode = resolve_mode(opts.image_resolve_mode);
    convert.no_cache = opts.no_cache.clone();
    convert.source_date_epoch = opts.source_date_epoch;
    convert.cache_mount_ns = opts
        .build_args
        .get("BUILDKIT_CACHE_MOUNT_NS")
        .cloned()
        .unwrap_or_default();
    convert.http_headers = host.llb_caps.contains("source.http.header");
    convert.native_platform = host.native.clone();
    convert.image_override = image_override(opts);
    convert.proxy = proxy_from_build_args(&opts.build_args);
    let validate = ValidateOptions::from_build_args(&opts.build_args);
    if let Some(v) = &validate.checks.talos_version {
        // Refused here, before any work, rather than by every validation stage.
        kiln_validate::TalosVersion::parse(v)
            .map_err(|e| RequestError(format!("build arg TALOS_VERSION={v:?}: {e}")))?;
    }
    convert.validate = Some(validate);
    Ok(convert)
}

fn resolve_mode(mode: ImageResolveMode) -> Option<ResolveMode> {
    match mode {
        ImageResolveMode::Pull => Some(ResolveMode::ForcePull),
        ImageResolveMode::Local => Some(ResolveMode::PreferLocal),
        ImageResolveMode::Default => None,
    }
}

/// `--build-context NAME=docker-image://REF` (or `NAME::PLATFORM=…`) replaces the images kiln
/// pulls: `image: NAME` dependencies and the `alpine` variant's base, named with or without tag
/// or digest.
fn image_override(opts: &BuildOptions) -> Option<ImageOverride> {
    if opts.named_contexts.is_empty() {
        return None;
    }
    let opts = opts.clone();
    Some(Arc::new(move |reference: &str, platform: &Platform| {
        let image = kiln_gateway::options::context_names(reference)
            .iter()
            .find_map(|name| opts.named_image(name, platform))?;
        let image = kiln_llb::Image::new(&image)
            .ok()?
            .platform(platform.clone());
        Some(match resolve_mode(opts.image_resolve_mode) {
            Some(mode) => image.resolve_mode(mode).output(),
            None => image.output(),
        })
    }))
}

/// The raw option map BuildKit would send for these command-line flags, so the command line reads
/// them with the same parser as the frontend.
#[derive(Debug, Clone, Default)]
pub struct CommandLine {
    /// `--target`.
    pub target: Option<String>,
    /// `--platform`.
    pub platform: Option<Platform>,
    /// `-f`.
    pub pkgfile: String,
    /// `--build-arg K=V`.
    pub build_args: Vec<(String, String)>,
    /// `--build-context NAME=VALUE`.
    pub build_contexts: Vec<(String, String)>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--no-cache-filter PKG`.
    pub no_cache_filter: Vec<String>,
    /// `--image-resolve-mode default|pull|local`.
    pub image_resolve_mode: Option<String>,
}

impl CommandLine {
    /// Parses the flags as the frontend parses BuildKit's options.
    pub fn options(&self) -> Result<BuildOptions, RequestError> {
        let mut raw = BTreeMap::new();
        let mut set = |k: String, v: String| raw.insert(k, v);
        if let Some(t) = &self.target {
            set("target".into(), t.clone());
        }
        if let Some(p) = &self.platform {
            set("platform".into(), p.id());
        }
        set("filename".into(), self.pkgfile.clone());
        for (k, v) in &self.build_args {
            set(format!("build-arg:{k}"), v.clone());
        }
        for (k, v) in &self.build_contexts {
            set(format!("context:{k}"), v.clone());
        }
        if self.no_cache || !self.no_cache_filter.is_empty() {
            set("no-cache".into(), self.no_cache_filter.join(","));
        }
        if let Some(mode) = &self.image_resolve_mode {
            set("image-resolve-mode".into(), mode.clone());
        }
        BuildOptions::parse(&raw).map_err(|e| RequestError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_gateway::NoCache;

    fn host() -> Host {
        Host {
            helper: kiln_llb::Image::new("kiln:test").unwrap().output(),
            native: Platform::linux("arm64"),
            session_id: "session-1".into(),
            llb_caps: Caps::default(),
        }
    }

    fn parse(pairs: &[(&str, &str)]) -> BuildOptions {
        let raw = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BuildOptions::parse(&raw).unwrap()
    }

    #[test]
    fn every_option_that_changes_the_llb_reaches_the_convert_options() {
        let opts = parse(&[
            ("build-arg:BUILDKIT_CACHE_MOUNT_NS", "ns"),
            ("build-arg:SOURCE_DATE_EPOCH", "1700000000"),
            ("build-arg:TALOS_VERSION", "v1.10.0"),
            ("build-arg:KERNEL_RELEASE", "6.12.1-talos"),
            ("build-arg:HTTPS_PROXY", "http://proxy:3128"),
            ("no-cache", "a,b"),
            ("image-resolve-mode", "pull"),
            ("context:tools", "docker-image://mirror/tools:1"),
        ]);
        let c = convert_options(&opts, &host()).unwrap();
        assert_eq!(c.cache_mount_ns, "ns");
        assert_eq!(c.source_date_epoch, Some(1_700_000_000));
        assert_eq!(c.no_cache, NoCache::Only(vec!["a".into(), "b".into()]));
        assert_eq!(c.image_resolve_mode, Some(ResolveMode::ForcePull));
        assert_eq!(c.context.session_id.as_deref(), Some("session-1"));
        assert_eq!(c.native_platform, Platform::linux("arm64"));
        assert!(c.proxy.is_some());
        assert!(c.image_override.as_ref().unwrap()("tools", &Platform::linux("amd64")).is_some());
        let v = c.validate.unwrap();
        assert_eq!(v.checks.talos_version.as_deref(), Some("v1.10.0"));
        assert_eq!(v.checks.kernel_release.as_deref(), Some("6.12.1-talos"));
    }

    #[test]
    fn malformed_or_unsupported_options_are_refused() {
        let bad_talos = parse(&[("build-arg:TALOS_VERSION", "banana")]);
        let e = convert_options(&bad_talos, &host()).err().unwrap();
        assert!(e.0.contains("TALOS_VERSION=\"banana\""), "{e}");
        let s390x = parse(&[("platform", "linux/s390x")]);
        let e = platforms(&s390x, &Platform::linux("amd64")).unwrap_err();
        assert!(e.0.contains("linux/s390x"), "{e}");
        let none = parse(&[]);
        assert_eq!(
            platforms(&none, &Platform::linux("arm64")).unwrap(),
            [Platform::linux("arm64")]
        );
    }

    #[test]
    fn command_line_flags_read_like_buildkit_options() {
        let cli = CommandLine {
            target: Some("ext".into()),
            platform: Some(Platform::linux("arm64")),
            pkgfile: "build/Pkgfile".into(),
            build_args: vec![("SOURCE_DATE_EPOCH".into(), "5".into())],
            build_contexts: vec![("tools".into(), "docker-image://m/tools".into())],
            no_cache: true,
            no_cache_filter: Vec::new(),
            image_resolve_mode: Some("local".into()),
        };
        let o = cli.options().unwrap();
        assert_eq!(o.target.as_deref(), Some("ext"));
        assert_eq!(o.platforms, [Platform::linux("arm64")]);
        assert_eq!(pkgfile(&o), "build/Pkgfile");
        assert_eq!(o.source_date_epoch, Some(5));
        assert_eq!(o.no_cache, NoCache::All);
        assert_eq!(o.image_resolve_mode, ImageResolveMode::Local);
        assert_eq!(o.named_contexts["tools"], "docker-image://m/tools");
        let bad = CommandLine {
            build_args: vec![("SOURCE_DATE_EPOCH".into(), "soon".into())],
            ..CommandLine::default()
        };
        assert!(bad.options().unwrap_err().0.contains("SOURCE_DATE_EPOCH"));
    }
}
