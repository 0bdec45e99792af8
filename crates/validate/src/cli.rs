//! `kiln validate`: the clap arguments the root crate mounts and the function that runs them.
//!
//! Each image is checked alone (per platform), for one Talos version or across releases; with
//! several images the set is then checked as Talos stacks it ([`crate::set`]).

use std::io::Write;

use clap::Parser;
use serde::Serialize;

use crate::releases::{sweep, Span};
use crate::set::{self, Member, SetViolation};
use crate::version::TalosSelection;
use crate::{load, validate, LoadError, Options, Report, Target};

/// Validate Talos system-extension images, alone and as a set.
#[derive(Debug, Clone, Parser)]
#[command(name = "validate")]
pub struct Args {
    /// The images: each a directory (manifest.yaml + rootfs/), a tar of one, an OCI layout
    /// directory or tarball (plain, gzip or zstd), or a registry reference host[:port]/repo:tag or
    /// @sha256:…; with several, they are also checked together in the order Talos installs them
    #[arg(value_name = "PATH", required_unless_present = "list_rules")]
    pub paths: Vec<String>,
    /// Target Talos version (drives the allowed paths and the compatibility check), default the
    /// newest kiln knows; or `all`, or a range such as ">=1.9", to list the releases each image is
    /// valid for
    #[arg(long, value_name = "V")]
    pub talos_version: Option<TalosSelection>,
    /// Package name that metadata.name must equal
    #[arg(long, value_name = "N")]
    pub pkg_name: Option<String>,
    /// Kernel release directory the modules directory must hold
    #[arg(long, value_name = "R")]
    pub kernel_release: Option<String>,
    /// Common name of the certificate issuer every kernel module must be signed by (as modinfo
    /// prints `signer:`)
    #[arg(long, value_name = "NAME")]
    pub module_signer: Option<String>,
    /// Serial number or subject key id of the key every kernel module must be signed with (as
    /// modinfo prints `sig_key:`; colons and case ignored)
    #[arg(long, value_name = "HEX")]
    pub module_key_id: Option<String>,
    /// Validate only this platform of a multi-platform image (e.g. linux/arm64); default: all
    #[arg(long, value_name = "P")]
    pub platform: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
    /// List the rules (id, Talos releases, summary) instead of validating
    #[arg(long)]
    pub list_rules: bool,
}

impl Args {
    /// The options each image is validated with (one Talos version, or the default).
    pub fn options(&self) -> Options {
        Options {
            talos_version: match &self.talos_version {
                Some(TalosSelection::One(v)) => Some(v.clone()),
                _ => None,
            },
            pkg_name: self.pkg_name.clone(),
            kernel_release: self.kernel_release.clone(),
            module_signer: self.module_signer.clone(),
            module_key_id: self.module_key_id.clone(),
        }
    }
}

/// The result of one platform of one image.
#[derive(Debug, Serialize)]
pub struct TargetResult {
    /// `os/arch[/variant]` for OCI and registry inputs; `None` for a plain image root.
    pub platform: Option<String>,
    /// The violations for the one Talos version checked (empty when sweeping releases).
    #[serde(flatten)]
    pub report: Report,
    /// With `--talos-version all` or a range: the spans of releases and their verdicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub releases: Option<Vec<Span>>,
}

/// The result of one input.
#[derive(Debug, Serialize)]
pub struct ImageResult {
    /// The input as given on the command line.
    pub input: String,
    /// Why the input could not be read (exit code 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Errors over all its platforms.
    pub errors: usize,
    /// Warnings over all its platforms.
    pub warnings: usize,
    /// One result per platform (one for a plain image root).
    pub targets: Vec<TargetResult>,
}

/// The set checks of one platform.
#[derive(Debug, Serialize)]
pub struct SetResult {
    /// The platform whose images were checked together; `None` for plain image roots.
    pub platform: Option<String>,
    /// What breaks only when the images are installed together.
    pub violations: Vec<SetViolation>,
}

/// Everything `kiln validate` found; printed as text or JSON.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// What was checked against: a version such as `v1.14.0`, `all` or a range.
    pub talos: String,
    /// Errors over all inputs and set checks; any makes the exit code 1.
    pub errors: usize,
    /// Warnings over all inputs and set checks.
    pub warnings: usize,
    /// One result per input, in the order given.
    pub images: Vec<ImageResult>,
    /// Per platform, the checks across images (empty for a single image).
    pub set: Vec<SetResult>,
}

impl Outcome {
    /// 0 clean (warnings allowed), 1 violations, 2 an unreadable input.
    pub fn exit_code(&self) -> i32 {
        if self.images.iter().any(|i| i.error.is_some()) {
            2
        } else if self.errors > 0 {
            1
        } else {
            0
        }
    }
}

/// Runs `kiln validate` and returns the exit code: 0 clean (warnings allowed), 1 violations,
/// 2 unreadable input.
pub fn run(args: &Args) -> i32 {
    if args.list_rules {
        print!("{}", list_rules(args.json));
        return 0;
    }
    let outcome = check(args);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let text = serde_json::to_string_pretty(&outcome)
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let _ = writeln!(stdout, "{text}");
    } else {
        let _ = write!(stdout, "{}", render(&outcome));
        for image in &outcome.images {
            if let Some(e) = &image.error {
                eprintln!("error: cannot read {}: {e}", image.input);
            }
        }
    }
    outcome.exit_code()
}

/// Loads and checks every input, then the set.
pub fn check(args: &Args) -> Outcome {
    let options = args.options();
    let selection = args.talos_version.clone();
    let loaded: Vec<(&str, Result<Vec<Target>, LoadError>)> = args
        .paths
        .iter()
        .map(|p| (p.as_str(), load(p, args.platform.as_deref())))
        .collect();

    let mut images = Vec::new();
    for (input, result) in &loaded {
        let targets = match result {
            Ok(targets) => targets,
            Err(e) => {
                images.push(ImageResult {
                    input: input.to_string(),
                    error: Some(e.to_string()),
                    errors: 0,
                    warnings: 0,
                    targets: Vec::new(),
                });
                continue;
            }
        };
        let results: Vec<TargetResult> = targets
            .iter()
            .map(|t| check_target(t, &options, selection.as_ref()))
            .collect();
        let errors = results.iter().map(|t| target_errors(t, &selection)).sum();
        let warnings = results.iter().map(|t| t.report.warnings().count()).sum();
        images.push(ImageResult {
            input: input.to_string(),
            error: None,
            errors,
            warnings,
            targets: results,
        });
    }

    let readable: Vec<(&str, &Vec<Target>)> = loaded
        .iter()
        .filter_map(|(input, r)| r.as_ref().ok().map(|t| (*input, t)))
        .collect();
    let set = if readable.len() > 1 && readable.len() == loaded.len() {
        check_set(&readable)
    } else {
        Vec::new()
    };
    let set_errors: usize = set.iter().map(|s| s.violations.len()).sum();
    Outcome {
        talos: selection
            .as_ref()
            .map_or_else(|| options.talos().to_string(), ToString::to_string),
        errors: images.iter().map(|i| i.errors).sum::<usize>() + set_errors,
        warnings: images.iter().map(|i| i.warnings).sum(),
        images,
        set,
    }
}

fn check_target(
    target: &Target,
    options: &Options,
    selection: Option<&TalosSelection>,
) -> TargetResult {
    let releases = match selection {
        Some(TalosSelection::All) => Some(sweep(&target.tree, options, None)),
        Some(TalosSelection::Range(range, _)) => Some(sweep(&target.tree, options, Some(range))),
        _ => None,
    };
    let report = if releases.is_some() {
        Report::default()
    } else {
        validate(&target.tree, options)
    };
    TargetResult {
        platform: target.platform.clone(),
        report,
        releases,
    }
}

/// Errors that count toward the exit code: with one version its errors; with `all`, one when no
/// release is valid; with a range, one per span that is not valid.
fn target_errors(target: &TargetResult, selection: &Option<TalosSelection>) -> usize {
    match (&target.releases, selection) {
        (Some(spans), Some(TalosSelection::All)) => usize::from(!spans.iter().any(|s| s.valid)),
        (Some(spans), _) => spans.iter().filter(|s| !s.valid).count(),
        (None, _) => target.report.errors().count(),
    }
}

/// Groups the images' targets by platform (an image root without a platform joins every group)
/// and runs the set rules on each group.
fn check_set(images: &[(&str, &Vec<Target>)]) -> Vec<SetResult> {
    let mut platforms: Vec<Option<&str>> = Vec::new();
    for (_, targets) in images {
        for t in targets.iter() {
            if let Some(p) = t.platform.as_deref() {
                if !platforms.contains(&Some(p)) {
                    platforms.push(Some(p));
                }
            }
        }
    }
    if platforms.is_empty() {
        platforms.push(None);
    }
    platforms.sort();
    platforms
        .into_iter()
        .map(|platform| {
            let members: Vec<Member<'_>> = images
                .iter()
                .filter_map(|(input, targets)| {
                    let target = targets
                        .iter()
                        .find(|t| t.platform.as_deref() == platform)
                        .or_else(|| targets.iter().find(|t| t.platform.is_none()))?;
                    Some(Member {
                        input,
                        tree: &target.tree,
                    })
                })
                .collect();
            SetResult {
                platform: platform.map(str::to_owned),
                violations: set::check(&members),
            }
        })
        .collect()
}

/// The human output: per image one line per violation (prefixed with the platform for OCI
/// inputs) or its release spans, a summary line per image, then the set's violations.
/// Long by design: the text report in output order (violations or spans, summaries, set checks).
pub fn render(outcome: &Outcome) -> String {
    let mut out = String::new();
    for image in &outcome.images {
        if image.error.is_some() {
            continue; // on stderr
        }
        let mut sweeping = false;
        for target in &image.targets {
            let prefix = target
                .platform
                .as_deref()
                .map(|p| format!("[{p}] "))
                .unwrap_or_default();
            for v in &target.report.violations {
                out.push_str(&format!("{prefix}{v}\n"));
            }
            if let Some(spans) = &target.releases {
                sweeping = true;
                out.push_str(&render_spans(
                    &image.input,
                    target.platform.as_deref(),
                    spans,
                ));
            }
        }
        if sweeping {
            continue;
        }
        let platforms: Vec<&str> = image
            .targets
            .iter()
            .filter_map(|t| t.platform.as_deref())
            .collect();
        let scope = if platforms.is_empty() {
            String::new()
        } else {
            format!(" ({})", platforms.join(", "))
        };
        out.push_str(&format!(
            "{}{scope}: {} error(s), {} warning(s) for Talos {}\n",
            image.input, image.errors, image.warnings, outcome.talos
        ));
    }
    if outcome.images.len() > 1 && !outcome.set.is_empty() {
        let mut errors = 0;
        for group in &outcome.set {
            let prefix = group
                .platform
                .as_deref()
                .map(|p| format!("[{p}] "))
                .unwrap_or_default();
            for v in &group.violations {
                out.push_str(&format!("{prefix}set: {v}\n"));
            }
            errors += group.violations.len();
        }
        out.push_str(&format!(
            "set of {} images: {errors} error(s)\n",
            outcome.images.len()
        ));
    }
    out
}

fn render_spans(input: &str, platform: Option<&str>, spans: &[Span]) -> String {
    let scope = platform.map(|p| format!(" ({p})")).unwrap_or_default();
    let valid: Vec<String> = spans
        .iter()
        .filter(|s| s.valid)
        .map(Span::to_string)
        .collect();
    let mut out = if valid.is_empty() {
        format!("{input}{scope}: valid for no Talos release checked\n")
    } else {
        format!("{input}{scope}: valid for Talos {}\n", valid.join(", "))
    };
    for span in spans.iter().filter(|s| !s.valid) {
        out.push_str(&format!("  {span}: fails {}", span.failing.join(", ")));
        if let Some(first) = &span.first_error {
            out.push_str(&format!("; first: {first}"));
        }
        out.push('\n');
    }
    out
}

#[derive(Serialize)]
struct RuleListing {
    id: &'static str,
    summary: &'static str,
    talos: crate::version::Releases,
    scope: crate::rule::Scope,
}

/// Every rule as a table (id, releases, summary) or a JSON array.
pub fn list_rules(json: bool) -> String {
    if json {
        let rules: Vec<RuleListing> = crate::rule::all()
            .map(|r| RuleListing {
                id: r.id,
                summary: r.summary,
                talos: r.talos,
                scope: r.scope,
            })
            .collect();
        let text = serde_json::to_string_pretty(&rules)
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        return format!("{text}\n");
    }
    let width = crate::rule::all().map(|r| r.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for rule in crate::rule::all() {
        let talos = rule.talos.to_string();
        out.push_str(&format!(
            "{:width$}  {talos:20}  {}\n",
            rule.id, rule.summary
        ));
    }
    out
}
