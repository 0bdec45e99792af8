//! `kiln frontend`: the BuildKit gateway entrypoint that ties the layers together.
//!
//! It reads options, loads the tree from the `dockerfile` local, answers subrequests, converts the
//! target per platform (each result depending on its validation stage), solves them, then returns
//! one result. Everything a user must see goes through `Return` (errors with pkg.yaml locations)
//! or vertex names, never only to stderr, which BuildKit sends to the daemon's log.

mod tree_source;

use std::collections::BTreeMap;

use kiln_gateway::errors::build_error;
use kiln_gateway::{
    BuildOptions, Client, FrontendEnv, ImageConfig, LineRange, ResultBuilder, SolveRequest,
    SourceLocation, Status,
};
use std::sync::Arc;

use kiln_gateway::options::familiar_name;
use kiln_gateway::NamedContextValue;
use kiln_llb::{Caps, OpBuilder, Output};

use crate::convert::{
    ConvertError, ConvertOptions, Converter, ImageOverride, Trees, ValidateOptions,
};
use crate::spec::platform::{self, Platform};
use crate::spec::{Diagnostics, LoadError};
use crate::tree::{FileSet, LoadOptions};

/// The Pkgfile's name when `-f` is not given.
const DEFAULT_PKGFILE: &str = "Pkgfile";

/// Entry point of `kiln frontend`; returns the process exit code.
pub fn main() -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kiln frontend: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let code = runtime.block_on(async {
        let client = match Client::connect_stdio().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kiln frontend: {e} (is this running inside BuildKit?)");
                return 1;
            }
        };
        let env = FrontendEnv::from_process();
        let outcome = build(&client, &env).await;
        let returned = match outcome {
            Ok(result) => client.return_result(result).await,
            Err(status) => client.return_error(status).await,
        };
        match returned {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("kiln frontend: Return failed: {e}");
                1
            }
        }
    });
    // The stdin reader blocks on a pipe BuildKit keeps open until we exit; waiting for it on
    // shutdown would hang the build forever.
    runtime.shutdown_background();
    code
}

fn plain_error(message: impl Into<String>) -> Status {
    build_error(message, &[])
}

/// Runs `work`, turning a panic inside it into a build error that says what kiln was `doing`,
/// so BuildKit shows the user a message instead of a frontend that died.
fn guarded<T>(doing: &str, work: impl FnOnce() -> Result<T, Status>) -> Result<T, Status> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => {
            let cause = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".to_string());
            Err(plain_error(format!(
                "kiln failed internally while {doing}: {cause}. This is a bug in kiln; please report it with the tree that triggers it"
            )))
        }
    }
}

/// An error status whose details point at every file and line in `diags`.
fn diagnostics_status(summary: &str, diags: &Diagnostics, files: &FileSet) -> Status {
    let mut by_file: BTreeMap<&str, Vec<LineRange>> = BTreeMap::new();
    for d in diags.errors() {
        if d.span.line > 0 {
            by_file.entry(d.file.as_str()).or_default().push(LineRange {
                start: d.span.line as u32,
                end: d.span.end_line.max(d.span.line) as u32,
            });
        }
    }
    let sources: Vec<SourceLocation> = by_file
        .into_iter()
        .map(|(file, ranges)| {
            SourceLocation::yaml(file, files.get(file).unwrap_or_default().to_vec(), ranges)
        })
        .collect();
    // Errors first (they are why the build stopped), then warnings, which may explain them.
    let lines: Vec<String> = diags
        .errors()
        .chain(diags.warnings())
        .map(|d| d.to_string())
        .collect();
    build_error(format!("{summary}:\n{}", lines.join("\n")), &sources)
}

fn convert_status(e: &ConvertError, files: &FileSet) -> Status {
    match e {
        ConvertError::Load(LoadError(diags)) => {
            diagnostics_status("the package tree has errors", diags, files)
        }
        ConvertError::Package {
            file,
            line,
            message,
        } => {
            let mut diags = Diagnostics::default();
            diags.error(file, crate::spec::Span::at(*line, 1), message.clone());
            diagnostics_status("cannot convert the package", &diags, files)
        }
    }
}

fn supported_platform(p: &Platform) -> Result<Platform, Status> {
    platform::check_supported(p).map_err(|e| plain_error(format!("--platform: {e}")))?;
    Ok(p.clone())
}

/// The platform BuildKit's first worker runs natively, which the helper image runs on.
fn native_platform(client: &Client, env: &FrontendEnv) -> Platform {
    let workers = if client.workers().is_empty() {
        &env.workers
    } else {
        client.workers()
    };
    workers
        .first()
        .and_then(|w| w.platforms.first())
        .filter(|p| platform::check_supported(p).is_ok())
        .cloned()
        .unwrap_or_else(platform::host)
}

async fn build(
    client: &Client,
    env: &FrontendEnv,
) -> Result<kiln_gateway::gateway_pb::Result, Status> {
    let opts = BuildOptions::parse(&env.opts).map_err(|e| plain_error(e.to_string()))?;
    let pkgfile = opts
        .filename
        .clone()
        .unwrap_or_else(|| DEFAULT_PKGFILE.to_string());
    let session = opts
        .local_session_ids
        .get(&opts.definition_local)
        .cloned()
        .unwrap_or_else(|| env.session_id.clone());
    let (files, load_vertex) =
        tree_source::read(client, &opts.definition_local, &session, &pkgfile)
            .await
            .map_err(|e| plain_error(format!("reading the package tree: {e}")))?;
    if files.get(&pkgfile).is_none() {
        return Err(plain_error(format!(
            "no {pkgfile} in the build's definition directory; pass the Pkgfile with -f"
        )));
    }
    let native = native_platform(client, env);
    let platforms: Vec<Platform> = if opts.platforms.is_empty() {
        vec![native.clone()]
    } else {
        opts.platforms
            .iter()
            .map(supported_platform)
            .collect::<Result<_, _>>()?
    };
    let mut load = LoadOptions::new(platforms[0].clone());
    load.build_args = opts.build_args.clone();
    load.pkgfile = pkgfile.clone();
    let trees = Trees::new(files, load);

    let loaded = guarded(
        &format!("loading the package tree for {}", platforms[0]),
        || Ok(trees.get(&platforms[0])),
    )?;
    if let Ok(tree) = loaded {
        warn_all(client, &load_vertex, &tree.warnings, trees.files()).await;
    }

    if let Some(request) = &opts.request_id {
        return guarded(&format!("answering the {request} request"), || {
            subrequest(request, &trees, &platforms[0])
        });
    }
    let target = opts.target.clone().ok_or_else(|| {
        plain_error(
            "no target: pass --target with the package to build (`--call targets` lists them)",
        )
    })?;

    let llb_caps: Caps = client.caps().llb_caps().collect();
    let convert = convert_options(&opts, env, native, &llb_caps)?;

    let mut converter = Converter::new(&trees, convert);
    let mut plans = Vec::new();
    for platform in &platforms {
        let doing = format!("converting package {target:?} for {platform}");
        let plan = guarded(&doing, || {
            let converted = converter
                .target(&target, platform)
                .map_err(|e| convert_status(&e, trees.files()))?;
            let def = kiln_llb::marshal(&converted.result());
            check_caps(&def, &llb_caps)?;
            let validation = converted.validation.as_ref().map(kiln_llb::marshal);
            Ok((platform.clone(), def, validation))
        })?;
        plans.push(plan);
    }

    let labels = {
        let tree = trees
            .get(&platforms[0])
            .map_err(|e| convert_status(&ConvertError::Load(e), trees.files()))?;
        let mut labels = tree.pkgfile.labels.clone();
        labels.extend(opts.labels.clone());
        labels
    };

    // Each result depends on its validation stage, so a failing check fails the build before the
    // exporter gets anything: nothing is exported or pushed. Every platform's stage is also
    // evaluated now, concurrently, so that all of them report their violations (a lazy solve
    // would stop at the first failure) before we return.
    let solves = plans.iter().map(|(platform, def, validation)| {
        let cache = opts.cache_imports.clone();
        async move {
            if let Some(validation) = validation {
                let mut req = SolveRequest::definition(validation.0.clone(), &cache);
                req.evaluate = true;
                client.solve(req).await.map_err(|e| e.to_status())?;
            }
            let image_ref = client
                .solve(SolveRequest::definition(def.0.clone(), &cache))
                .await
                .map_err(|e| e.to_status())?;
            let id = image_ref
                .single_ref()
                .map_err(|e| e.to_status())?
                .to_string();
            Ok::<_, Status>((platform.clone(), id))
        }
    });
    let solved = futures_join_all(solves).await?;

    let mut result = ResultBuilder::new(opts.multi_platform || platforms.len() > 1);
    result.source_date_epoch(opts.source_date_epoch);
    for (platform, id) in solved {
        let mut config = ImageConfig::for_platform(platform.clone());
        config.labels = labels.clone();
        result
            .add(platform, id, config.to_json())
            .map_err(|e| plain_error(e.to_string()))?;
    }
    result
        .build(client.caps())
        .map_err(|e| plain_error(e.to_string()))
}

/// Runs futures concurrently. On failure, returns the error that carries the most detail (a
/// source location beats a bare message), so the user sees the pkg.yaml lines.
async fn futures_join_all<T, F>(futures: impl IntoIterator<Item = F>) -> Result<Vec<T>, Status>
where
    F: std::future::Future<Output = Result<T, Status>>,
{
    let results = join_all(futures.into_iter().collect()).await;
    let mut out = Vec::with_capacity(results.len());
    let mut worst: Option<Status> = None;
    for r in results {
        match r {
            Ok(v) => out.push(v),
            Err(e) => {
                if worst
                    .as_ref()
                    .is_none_or(|w| e.details.len() > w.details.len())
                {
                    worst = Some(e);
                }
            }
        }
    }
    match worst {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// A minimal join-all: polls every future to completion concurrently on this task.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    use std::pin::Pin;
    use std::task::Poll;
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futures.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => results[i] = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

/// How to convert, from the build's options and what the daemon can do.
fn convert_options(
    opts: &BuildOptions,
    env: &FrontendEnv,
    native: Platform,
    llb_caps: &Caps,
) -> Result<ConvertOptions, Status> {
    let helper = helper_image(opts)?;
    let mut convert = ConvertOptions::new(helper);
    convert.context.name = opts.context_local.clone();
    convert.context.session_id = Some(
        opts.local_session_ids
            .get(&opts.context_local)
            .cloned()
            .unwrap_or_else(|| env.session_id.clone()),
    );
    convert.image_resolve_mode = resolve_mode(opts);
    convert.no_cache = match &opts.no_cache {
        kiln_gateway::NoCache::None => crate::convert::NoCache::Off,
        kiln_gateway::NoCache::All => crate::convert::NoCache::All,
        kiln_gateway::NoCache::Only(names) => crate::convert::NoCache::Packages(names.clone()),
    };
    // Parsed (and refused when malformed) with the other options.
    convert.source_date_epoch = opts.source_date_epoch;
    convert.cache_mount_ns = opts
        .build_args
        .get("BUILDKIT_CACHE_MOUNT_NS")
        .cloned()
        .unwrap_or_default();
    convert.http_headers = llb_caps.contains("source.http.header");
    convert.native_platform = native;
    convert.image_override = image_override(opts);
    convert.proxy = crate::convert::proxy_from_build_args(&opts.build_args);
    let validate = ValidateOptions::from_build_args(&opts.build_args);
    if let Some(v) = &validate.talos_version {
        // Refused here, before any work, rather than by every validation stage.
        kiln_validate::TalosVersion::parse(v)
            .map_err(|e| plain_error(format!("build arg TALOS_VERSION={v:?}: {e}")))?;
    }
    convert.validate = Some(validate);
    Ok(convert)
}

fn check_caps(def: &kiln_llb::Definition, available: &Caps) -> Result<(), Status> {
    // An empty list means a daemon too old to report caps; let it refuse ops itself.
    if available.is_empty() {
        return Ok(());
    }
    kiln_llb::check_caps(&Caps::required_by(&def.0), available)
        .map_err(|e| plain_error(e.to_string()))
}

/// `--build-context NAME=docker-image://REF` (or `NAME::PLATFORM=…`) replaces `image: NAME`
/// dependencies; names compare in Docker's familiar form, as BuildKit's own frontend does.
fn resolve_mode(opts: &BuildOptions) -> Option<kiln_llb::ResolveMode> {
    match opts.image_resolve_mode {
        kiln_gateway::ImageResolveMode::Pull => Some(kiln_llb::ResolveMode::ForcePull),
        kiln_gateway::ImageResolveMode::Local => Some(kiln_llb::ResolveMode::PreferLocal),
        kiln_gateway::ImageResolveMode::Default => None,
    }
}

fn image_override(opts: &BuildOptions) -> Option<ImageOverride> {
    if opts.named_contexts.is_empty() {
        return None;
    }
    let contexts: BTreeMap<String, String> = opts
        .named_contexts
        .iter()
        .map(|(k, v)| {
            let key = match k.split_once("::") {
                Some((name, platform)) => format!("{}::{platform}", familiar_name(name)),
                None => familiar_name(k),
            };
            (key, v.clone())
        })
        .collect();
    let mode = resolve_mode(opts);
    Some(Arc::new(move |reference: &str, platform: &Platform| {
        let name = familiar_name(reference);
        let value = contexts
            .get(&format!("{name}::{}", platform.id()))
            .or_else(|| contexts.get(&name))?;
        match NamedContextValue::parse(value)? {
            NamedContextValue::Image(image) => kiln_llb::Image::new(&image).ok().map(|i| {
                let i = i.platform(platform.clone());
                match mode {
                    Some(m) => i.resolve_mode(m).output(),
                    None => i.output(),
                }
            }),
            _ => None,
        }
    }))
}

/// kiln's own image: BuildKit (≥ v0.10) hands the frontend its own definition; embedding it
/// keeps the helper pinned to exactly the image that is running.
fn helper_image(opts: &BuildOptions) -> Result<Output, Status> {
    match kiln_gateway::frontend_bin::current_frontend() {
        Ok(Some(def)) => {
            use kiln_proto::Message;
            kiln_llb::embed_definition(&def.encode_to_vec()).map_err(|e| {
                plain_error(format!(
                    "cannot use the frontend's own image definition: {e}"
                ))
            })
        }
        _ => match &opts.source {
            Some(source) => kiln_llb::Image::new(source)
                .map(|i| i.output())
                .map_err(|e| plain_error(format!("frontend image {source:?}: {e}"))),
            None => Err(plain_error(
                "BuildKit did not provide the frontend's own image (needs BuildKit v0.10 or newer)",
            )),
        },
    }
}

fn subrequest(
    request: &str,
    trees: &Trees,
    platform: &Platform,
) -> Result<kiln_gateway::gateway_pb::Result, Status> {
    use kiln_gateway::subrequests::{answer, Target, TargetList, TargetLocation};
    let tree = trees
        .get(platform)
        .map_err(|e| convert_status(&ConvertError::Load(e), trees.files()))?;
    let mut list = TargetList::default();
    let mut source_index: BTreeMap<&str, i32> = BTreeMap::new();
    for package in tree.packages.values() {
        let index = *source_index
            .entry(package.file.as_str())
            .or_insert_with(|| {
                list.sources.push(package.source.as_bytes().to_vec());
                (list.sources.len() - 1) as i32
            });
        list.targets.push(Target {
            name: package.pkg.name.clone(),
            default: false,
            description: describe(package),
            base: String::new(),
            platform: String::new(),
            location: Some(TargetLocation {
                source_index: index,
                ranges: vec![LineRange {
                    start: package.pkg.span.line as u32,
                    end: package.pkg.span.end_line as u32,
                }],
            }),
        });
    }
    answer(request, Some(&list))
}

/// A package's description: the first line of its manifest's `metadata.description`, else
/// where it lives.
pub fn describe(package: &crate::tree::Package) -> String {
    use saphyr::{LoadableYamlNode, YamlOwned};
    let from_manifest = package
        .templated
        .iter()
        .find(|t| t.path == "manifest.yaml")
        .and_then(|m| YamlOwned::load_from_str(&m.contents).ok())
        .and_then(|docs| docs.into_iter().next())
        .and_then(|doc| {
            let text = doc
                .as_mapping_get("metadata")?
                .as_mapping_get("description")?
                .as_str()?
                .trim()
                .to_string();
            text.lines().next().map(str::to_string)
        });
    from_manifest.unwrap_or_else(|| {
        format!(
            "package in {}",
            if package.dir.is_empty() {
                "."
            } else {
                &package.dir
            }
        )
    })
}

/// Shows the tree's warnings (unknown keys and the like) in the build output, at their lines.
async fn warn_all(client: &Client, vertex: &str, warnings: &Diagnostics, files: &FileSet) {
    for w in &warnings.0 {
        let source = (w.span.line > 0).then(|| {
            SourceLocation::yaml(
                w.file.as_str(),
                files.get(&w.file).unwrap_or_default().to_vec(),
                vec![LineRange {
                    start: w.span.line as u32,
                    end: w.span.end_line.max(w.span.line) as u32,
                }],
            )
        });
        // Warnings are advisory: a daemon that cannot show them must not fail the build.
        let _ = client
            .warn(vertex, &w.to_string(), &[], source.as_ref())
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{self, LoadOptions};

    fn files(entries: &[(&str, &str)]) -> FileSet {
        let mut set = FileSet::default();
        for (path, text) in entries {
            set.insert(*path, text.as_bytes().to_vec());
        }
        set
    }

    #[test]
    fn a_panic_becomes_a_build_error_saying_what_kiln_was_doing() {
        let status = guarded::<()>("converting package \"hello\" for linux/arm64", || {
            panic!("index out of bounds: the len is 0 but the index is 0")
        })
        .unwrap_err();
        assert!(
            status.message.contains(
                "kiln failed internally while converting package \"hello\" for linux/arm64: index out of bounds"
            ),
            "{}",
            status.message
        );
        let formatted = guarded::<()>("loading the package tree for linux/amd64", || {
            panic!("{} went wrong", "something")
        })
        .unwrap_err();
        assert!(formatted
            .message
            .contains("linux/amd64: something went wrong"));
        assert!(guarded("anything", || Ok(7)).is_ok_and(|v| v == 7));
    }

    #[test]
    fn load_errors_become_source_locations_buildx_prints() {
        let set = files(&[
            ("Pkgfile", "format: v1alpha2\n"),
            ("a/pkg.yaml", "name: a\nvariant: nope\nsteps:\n  - network: wifi\n    build: [x]\nfinalize: [{from: /, to: /}]\nbogus: 1\n"),
        ]);
        let diags = match tree::load(&set, &LoadOptions::new(Platform::linux("amd64"))) {
            Err(LoadError(d)) => d,
            Ok(_) => panic!("the tree is broken"),
        };
        let status = diagnostics_status("the package tree has errors", &diags, &set);
        assert_eq!(status.code, kiln_gateway::errors::CODE_UNKNOWN);
        // One detail per file, holding every error range of that file and the file itself.
        assert_eq!(status.details.len(), 1);
        let source =
            SourceLocation::from_any(&status.details[0]).expect("an errdefs.Source detail");
        assert_eq!(source.filename, "a/pkg.yaml");
        assert_eq!(source.language, "yaml");
        assert_eq!(source.data, set.get("a/pkg.yaml").unwrap());
        let starts: Vec<u32> = source.ranges.iter().map(|r| r.start).collect();
        assert_eq!(starts, vec![2, 4], "the variant and network lines");
        // The message lists errors, then the warning that may explain them.
        let err_at = status.message.find("unknown variant").unwrap();
        let warn_at = status.message.find("unknown key `bogus`").unwrap();
        assert!(err_at < warn_at, "{}", status.message);
    }

    #[test]
    fn named_contexts_replace_images_by_familiar_name_and_platform() {
        let opts = BuildOptions::parse(&BTreeMap::from([
            (
                "context:busybox:1.37".to_string(),
                "docker-image://mirror/busybox:1.37".to_string(),
            ),
            (
                "context:docker.io/library/tools:1::linux/arm64".to_string(),
                "docker-image://mirror/tools:arm".to_string(),
            ),
            (
                "context:tools:1".to_string(),
                "docker-image://mirror/tools:any".to_string(),
            ),
            ("context:local-one".to_string(), "local:somedir".to_string()),
        ]))
        .unwrap();
        let lookup = image_override(&opts).expect("overrides");
        let identifier = |o: Output| {
            let def = kiln_llb::marshal(&o);
            match def.decode_ops().unwrap().remove(0).1.op {
                Some(kiln_llb::pb::op::Op::Source(s)) => s.identifier,
                other => panic!("{other:?}"),
            }
        };
        // Written in full in pkg.yaml, given in familiar form on the command line.
        let o = lookup("docker.io/library/busybox:1.37", &Platform::linux("amd64")).unwrap();
        assert_eq!(
            identifier(o),
            "docker-image://docker.io/mirror/busybox:1.37"
        );
        let arm = lookup("tools:1", &Platform::linux("arm64")).unwrap();
        assert_eq!(identifier(arm), "docker-image://docker.io/mirror/tools:arm");
        let amd = lookup("tools:1", &Platform::linux("amd64")).unwrap();
        assert_eq!(identifier(amd), "docker-image://docker.io/mirror/tools:any");
        assert!(
            lookup("local-one", &Platform::linux("amd64")).is_none(),
            "only images replace images"
        );
        assert!(lookup("other:1", &Platform::linux("amd64")).is_none());
        assert!(image_override(&BuildOptions::parse(&BTreeMap::new()).unwrap()).is_none());
    }

    #[test]
    fn targets_are_described_by_their_manifest() {
        let set = files(&[
            ("Pkgfile", "format: v1alpha2\n"),
            ("ext/pkg.yaml", "name: ext\nvariant: scratch\n"),
            ("ext/manifest.yaml.tmpl", "version: v1alpha1\nmetadata:\n  name: ext\n  description: |\n    Does things on {{ .ARCH }}.\n    More text.\n"),
            ("lib/pkg.yaml", "name: lib\nvariant: scratch\n"),
        ]);
        let tree = tree::load(&set, &LoadOptions::new(Platform::linux("arm64"))).unwrap();
        assert_eq!(describe(&tree.packages["ext"]), "Does things on aarch64.");
        assert_eq!(describe(&tree.packages["lib"]), "package in lib");
    }
}
