//! `kiln frontend`: the BuildKit gateway entrypoint, kiln's glue over the generic plumbing of
//! [`kiln_gateway`]: options → tree → convert → solve → result.
//!
//! It reads the options ([`request`]), loads the tree from the `dockerfile` local ([`tree_source`]),
//! answers subrequests ([`targets`]), converts the target per platform (each result depending on
//! its validation stage), solves the platforms concurrently, then returns one result. Everything a
//! user must see goes through `Return` (errors with pkg.yaml locations, [`status`]) or vertex
//! names, never only to stderr, which BuildKit sends to the daemon's log.

pub mod checks;
pub mod request;
pub mod status;
pub mod targets;
mod tree_source;

use std::collections::BTreeMap;

use kiln_gateway::concurrent::all_or_most_detailed;
use kiln_gateway::subrequests::Subrequests;
use kiln_gateway::{
    gateway_pb, BuildOptions, Client, FrontendEnv, ImageConfig, ResultBuilder, SolveRequest,
    Status, Trace,
};
use kiln_llb::{Caps, OpBuilder, Output};

use crate::convert::{Converter, Trees};
use crate::spec::platform::{self, Platform};
use request::Host;
use status::{convert_status, guarded, load_status, plain_error, warn_all};

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
        let env = FrontendEnv::from_process();
        let trace = Trace::new("kiln trace", trace_requested(&env));
        let client = match trace.time_async("connect", Client::connect_stdio()).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kiln frontend: {e} (is this running inside BuildKit?)");
                return 1;
            }
        };
        let outcome = build(&client, &env, &trace).await;
        // Shown on failure too: a slow failing build is worth explaining. The trace is advisory.
        if let Err(e) = trace.show(&client).await {
            eprintln!("kiln frontend: showing the trace failed: {e}");
        }
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

/// For benchmarks only (hack/bench.sh): with `KILN_BENCH_FORWARD=1` kiln hands the whole build,
/// unchanged, to BuildKit's built-in Dockerfile frontend, so a Dockerfile built through kiln's
/// image measures what any `# syntax` frontend pays before doing any work of its own.
pub const BENCH_FORWARD_BUILD_ARG: &str = "KILN_BENCH_FORWARD";

/// The build arg that turns on [`Trace`]: `KILN_TRACE=1` (or `true`).
pub const TRACE_BUILD_ARG: &str = "KILN_TRACE";

fn trace_requested(env: &FrontendEnv) -> bool {
    env.opts
        .get(&format!("build-arg:{TRACE_BUILD_ARG}"))
        .is_some_and(|v| matches!(v.trim(), "1" | "true"))
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

/// One build: what the frontend returns, or the error to return instead. Each phase's duration
/// goes to `trace`.
pub async fn build(
    client: &Client,
    env: &FrontendEnv,
    trace: &Trace,
) -> Result<gateway_pb::Result, Status> {
    let opts = trace
        .time("options", || BuildOptions::parse(&env.opts))
        .map_err(|e| plain_error(e.to_string()))?;
    if opts
        .build_args
        .get(BENCH_FORWARD_BUILD_ARG)
        .is_some_and(|v| v.trim() == "1")
    {
        return forward_to_dockerfile(client, env).await;
    }
    let (files, load_vertex) = read_files(client, env, &opts, trace).await?;
    let native = native_platform(client, env);
    let platforms = request::platforms(&opts, &native).map_err(|e| plain_error(e.0))?;
    let trees = Trees::new(files, request::load_options(&opts, &platforms[0]));
    let loaded = trace.time(format!("load the tree for {}", platforms[0]), || {
        guarded(
            &format!("loading the package tree for {}", platforms[0]),
            || Ok(trees.get(&platforms[0])),
        )
    })?;
    if let Some(request_id) = &opts.request_id {
        return answer_subrequest(request_id, &opts, &trees, &platforms[0]);
    }
    if let Ok(tree) = loaded {
        check_tree(client, &load_vertex, &trees, &tree, trace).await?;
    }
    let target = opts.target.clone().ok_or_else(|| {
        plain_error(
            "no target: pass --target with the package to build (`--call targets` lists them)",
        )
    })?;

    let llb_caps: Caps = client.caps().llb_caps().collect();
    let host = Host {
        helper: helper_image(&opts)?,
        native,
        session_id: env.session_id.clone(),
        llb_caps: llb_caps.clone(),
    };
    let convert = request::convert_options(&opts, &host).map_err(|e| plain_error(e.0))?;
    let mut converter = Converter::new(&trees, convert);
    let mut plans = Vec::new();
    let mut not_extension = None;
    for platform in &platforms {
        let (plan, line) = trace.time(format!("convert {target} for {platform}"), || {
            plan(&mut converter, &trees, &target, platform, &llb_caps)
        })?;
        plans.push(plan);
        not_extension = line;
    }
    // Without a validation stage nothing else in the output would say so.
    if let Some(line) = not_extension {
        let _ = client.warn(&load_vertex, &line, &[], None).await;
    }

    let tree = trees
        .get(&platforms[0])
        .map_err(|e| load_status(e, trees.files()))?;
    let mut labels = tree.pkgfile.labels.clone();
    labels.extend(opts.labels.clone());
    let contexts: Vec<_> = converter
        .context_sources()
        .iter()
        .map(kiln_llb::marshal)
        .collect();
    let attest = attestations_taken(client, &load_vertex, &plans).await;
    let solving = trace.time_async(
        "solve every platform",
        solve_all(client, &plans, &opts.cache_imports, attest, trace),
    );
    let (solved, ()) = tokio::join!(solving, transfer_early(client, &contexts, trace));
    let solved = solved?;
    let multi_platform = opts.multi_platform || platforms.len() > 1;
    trace.time("result", || {
        assemble(
            client,
            solved,
            labels,
            multi_platform,
            opts.source_date_epoch,
        )
    })
}

/// The definition files from the `dockerfile` local (or the one `dockerfilekey` names), and the
/// vertex their transfer showed as; a tree without its Pkgfile is refused.
async fn read_files(
    client: &Client,
    env: &FrontendEnv,
    opts: &BuildOptions,
    trace: &Trace,
) -> Result<(crate::tree::FileSet, String), Status> {
    let pkgfile = request::pkgfile(opts);
    let session = opts.local_session(&opts.definition_local, &env.session_id);
    let (files, load_vertex) =
        tree_source::read(client, &opts.definition_local, session, &pkgfile, trace)
            .await
            .map_err(|e| plain_error(format!("reading the package tree: {e}")))?;
    if files.get(&pkgfile).is_none() {
        return Err(plain_error(format!(
            "no {pkgfile} in the build's definition directory; pass the Pkgfile with -f"
        )));
    }
    Ok((files, load_vertex))
}

/// The build handed to the Dockerfile frontend with the options kiln was given (see
/// [`BENCH_FORWARD_BUILD_ARG`]); BuildKit's `cmdline` option among them stops it from forwarding
/// back to kiln.
async fn forward_to_dockerfile(
    client: &Client,
    env: &FrontendEnv,
) -> Result<gateway_pb::Result, Status> {
    let req = SolveRequest {
        frontend: "dockerfile.v0".to_string(),
        frontend_opts: env.opts.clone(),
        ..Default::default()
    };
    let solved = client.solve(req).await.map_err(|e| e.to_status())?;
    Ok(kiln_gateway::result::forwarded(solved, client.caps()))
}

/// Transfers the build context alongside the solves rather than when they reach it: BuildKit
/// only starts a copy's source once the copy's other inputs have their cache keys (resolving
/// the base images first), so on a cached build the transfer would wait for them. The vertex is
/// the same as the solves', so BuildKit transfers once. Advisory: a failure here is the solves'
/// to report.
async fn transfer_early(client: &Client, contexts: &[kiln_llb::Definition], trace: &Trace) {
    if !client
        .caps()
        .gateway(kiln_gateway::client::CAP_GATEWAY_EVALUATE_SOLVE)
    {
        return;
    }
    let transfers = contexts.iter().map(|def| async move {
        let mut req = SolveRequest::definition(def.0.clone(), &[]);
        req.evaluate = true;
        let _ = client.solve(req).await;
    });
    trace
        .time_async(
            "transfer the build context",
            futures::future::join_all(transfers),
        )
        .await;
}

/// Whether the daemon takes attestations from a frontend; when it does not and a plan has an
/// SBOM, the user is told the SBOM stays in the image's files only.
async fn attestations_taken(client: &Client, load_vertex: &str, plans: &[Plan]) -> bool {
    let attest = client
        .caps()
        .gateway(kiln_gateway::client::CAP_ATTESTATIONS);
    if !attest && plans.iter().any(|p| p.sbom.is_some()) {
        let _ = client
            .warn(
                load_vertex,
                "this BuildKit cannot take attestations from a frontend (no reference.attestations cap): the SBOM is only in the image's files",
                &[],
                None,
            )
            .await;
    }
    attest
}

/// The build's result: each solved platform's image with its config (carrying `labels`) and
/// attestations.
fn assemble(
    client: &Client,
    solved: Vec<Solved>,
    labels: BTreeMap<String, String>,
    multi_platform: bool,
    source_date_epoch: Option<i64>,
) -> Result<gateway_pb::Result, Status> {
    let mut result = ResultBuilder::new(multi_platform);
    result.source_date_epoch(source_date_epoch);
    for (platform, id, attestations) in solved {
        for a in attestations {
            result.attestation(&platform, a);
        }
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

/// The answer to a subrequest (`--call targets|outline|lint|check`) about the tree as loaded
/// for `platform`.
fn answer_subrequest(
    request_id: &str,
    opts: &BuildOptions,
    trees: &Trees,
    platform: &Platform,
) -> Result<gateway_pb::Result, Status> {
    let tree = || {
        trees
            .get(platform)
            .map_err(|e| load_status(e, trees.files()))
    };
    let lint = || {
        let tree = tree()?;
        let findings = crate::tree::lint::check(trees.files(), &tree, trees.options());
        let failed = crate::tree::lint::failed(&findings);
        Ok::<_, Status>((checks::lint_results(&findings, trees.files()), failed))
    };
    guarded(&format!("answering the {request_id} request"), || {
        Subrequests::new()
            .targets(|| Ok(targets::list(&*tree()?)))
            .with(kiln_gateway::outline::outline_description(), || {
                let target = opts.target.as_deref().ok_or_else(|| {
                    plain_error("no target: pass --target with the package to outline (`--call targets` lists them)")
                })?;
                checks::outline(trees, &*tree()?, target)
                    .map(|o| kiln_gateway::outline::outline_result(&o))
            })
            .with(kiln_gateway::lint::lint_description(), || {
                lint().map(|(results, failed)| kiln_gateway::lint::lint_result(&results, failed))
            })
            .with(kiln_gateway::lint::check_description(), || {
                // buildx 0.13 prints the text but ignores the status code: fail the call.
                let (results, failed) = lint()?;
                if failed {
                    return Err(plain_error(results.to_text()));
                }
                Ok(kiln_gateway::lint::lint_result(&results, failed))
            })
            .answer(request_id)
    })
}

/// Shows the lint rules' findings as build warnings; with `check=error=true` they fail the build.
async fn check_tree(
    client: &Client,
    load_vertex: &str,
    trees: &Trees,
    tree: &crate::tree::Tree,
    trace: &Trace,
) -> Result<(), Status> {
    let findings = trace.time("lint", || {
        crate::tree::lint::check(trees.files(), tree, trees.options())
    });
    warn_all(client, load_vertex, &findings, trees.files()).await;
    if crate::tree::lint::failed(&findings) {
        return Err(status::diagnostics_status(
            "the package tree fails its checks (see `--call check`)",
            &findings,
            trees.files(),
        ));
    }
    Ok(())
}

/// One platform's solved image: its platform, its ref id and its attestations.
type Solved = (Platform, String, Vec<gateway_pb::Attestation>);

/// One platform's build, converted and marshaled: the image (depending on its validation stage
/// when it has one), and the SBOM documents with their paths.
struct Plan {
    platform: Platform,
    image: kiln_llb::Definition,
    validated: bool,
    sbom: Option<(kiln_llb::Definition, Vec<String>)>,
}

/// Converts `target` for `platform`; also the line that says the output is not validated as an
/// extension, when that was decided.
fn plan(
    converter: &mut Converter<'_>,
    trees: &Trees,
    target: &str,
    platform: &Platform,
    llb_caps: &Caps,
) -> Result<(Plan, Option<String>), Status> {
    let doing = format!("converting package {target:?} for {platform}");
    guarded(&doing, || {
        let converted = converter
            .target(target, platform)
            .map_err(|e| convert_status(&e, trees.files()))?;
        let image = kiln_llb::marshal(&converted.result());
        check_caps(&image, llb_caps)?;
        let plan = Plan {
            platform: platform.clone(),
            image,
            validated: converted.validation.is_some(),
            sbom: sbom_definition(&converted.sboms, platform, target)?,
        };
        let not_extension = converted
            .extension
            .filter(|d| d.extension == Some(false))
            .map(|d| d.describe(target));
        Ok((plan, not_extension))
    })
}

/// Solves every platform's plan concurrently: per platform its solved image ref and its SBOM
/// attestations (when the daemon takes them).
///
/// Each result depends on its validation stage, so a failing check fails the build before the
/// exporter gets anything: nothing is exported or pushed. A validated result is evaluated now,
/// every platform concurrently in one solve each, so that all of them report their violations
/// (a lazy solve would stop at the first failure) before we return.
async fn solve_all(
    client: &Client,
    plans: &[Plan],
    cache: &[kiln_gateway::CacheImport],
    attest: bool,
    trace: &Trace,
) -> Result<Vec<Solved>, Status> {
    let solves = plans.iter().map(|plan| async move {
        let platform = &plan.platform;
        let mut req = SolveRequest::definition(plan.image.0.clone(), cache);
        req.evaluate = plan.validated;
        let image = trace.time_async(format!("solve {platform}"), client.solve(req));
        // The SBOM's solve is lazy and independent of the image's: issued alongside it.
        let sbom_solve = async {
            match (&plan.sbom, attest) {
                (Some((def, paths)), true) => {
                    let req = SolveRequest::definition(def.0.clone(), cache);
                    let solving = format!("solve the SBOM for {platform}");
                    Some((trace.time_async(solving, client.solve(req)).await, paths))
                }
                _ => None,
            }
        };
        let (image_ref, sbom_solved) = tokio::join!(image, sbom_solve);
        let id = image_ref
            .map_err(|e| e.to_status())?
            .single_ref()
            .map_err(|e| e.to_status())?
            .to_string();
        let mut attestations = Vec::new();
        if let Some((solved, paths)) = sbom_solved {
            let solved = solved.map_err(|e| e.to_status())?;
            let sbom_id = solved.single_ref().map_err(|e| e.to_status())?.to_string();
            for path in paths {
                attestations.push(kiln_gateway::result::in_toto_attestation(
                    sbom_id.clone(),
                    path.clone(),
                    kiln_gateway::result::PREDICATE_SPDX,
                    "sbom",
                ));
            }
        }
        Ok::<_, Status>((plan.platform.clone(), id, attestations))
    });
    all_or_most_detailed(solves).await
}

/// A definition holding the target's SPDX documents side by side (the attestations' predicates),
/// with their paths in it; `None` when the target declares no SBOM.
fn sbom_definition(
    sboms: &[crate::convert::SbomDocument],
    platform: &Platform,
    target: &str,
) -> Result<Option<(kiln_llb::Definition, Vec<String>)>, Status> {
    if sboms.is_empty() {
        return Ok(None);
    }
    let mut file = kiln_llb::FileOp::new(&Output::scratch());
    let mut paths = Vec::new();
    for (i, doc) in sboms.iter().enumerate() {
        let name = doc.path.rsplit('/').next().unwrap_or("sbom.spdx.json");
        // Two steps may write documents of the same name in different directories.
        let path = if paths.contains(&format!("/{name}")) {
            format!("/{i}-{name}")
        } else {
            format!("/{name}")
        };
        file = file.mkfile(
            &path,
            0o644,
            doc.json.as_bytes().to_vec(),
            kiln_llb::MkfileOptions::default(),
        );
        paths.push(path);
    }
    let output = file
        .custom_name(format!("[{platform}] {target}: SBOM attestation"))
        .output()
        .map_err(|e| plain_error(format!("the SBOM attestation of {target}: {e}")))?;
    Ok(Some((kiln_llb::marshal(&output), paths)))
}

fn check_caps(def: &kiln_llb::Definition, available: &Caps) -> Result<(), Status> {
    // An empty list means a daemon too old to report caps; let it refuse ops itself.
    if available.is_empty() {
        return Ok(());
    }
    kiln_llb::check_caps(&Caps::required_by(&def.0), available)
        .map_err(|e| plain_error(e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::LoadError;
    use crate::tree::{self, FileSet, LoadOptions};
    use kiln_gateway::SourceLocation;
    use status::diagnostics_status;
    use std::collections::BTreeMap;
    use targets::describe;

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
        let host = Host {
            helper: Output::scratch(),
            native: Platform::linux("amd64"),
            session_id: String::new(),
            llb_caps: Caps::default(),
        };
        let image_override = |opts: &BuildOptions| {
            request::convert_options(opts, &host)
                .unwrap()
                .image_override
        };
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
