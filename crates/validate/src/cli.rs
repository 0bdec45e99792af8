//! `kiln validate`: the clap arguments the root crate mounts and the function that runs them.

use std::io::Write;

use clap::Parser;
use serde::Serialize;

use crate::{load, validate, Options, Report, TalosVersion};

/// Validate a Talos system-extension image.
#[derive(Debug, Clone, Parser)]
#[command(name = "validate")]
pub struct Args {
    /// The images: each a directory (manifest.yaml + rootfs/), a tar of one, an OCI layout
    /// directory or tarball, or a registry reference host[:port]/repo:tag or @sha256:…
    #[arg(value_name = "PATH", required_unless_present = "list_rules")]
    pub paths: Vec<String>,
    /// Target Talos version (drives the allowed paths and the compatibility check); default: the
    /// newest kiln knows
    #[arg(long, value_name = "V")]
    pub talos_version: Option<TalosVersion>,
    /// Package name that metadata.name must equal
    #[arg(long, value_name = "N")]
    pub pkg_name: Option<String>,
    /// Kernel release directory the modules directory must hold
    #[arg(long, value_name = "R")]
    pub kernel_release: Option<String>,
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

#[derive(Serialize)]
struct JsonTarget<'a> {
    platform: Option<&'a str>,
    #[serde(flatten)]
    report: &'a Report,
}

#[derive(Serialize)]
struct JsonOutput<'a> {
    input: &'a str,
    errors: usize,
    warnings: usize,
    targets: Vec<JsonTarget<'a>>,
}

/// Runs `kiln validate` and returns the exit code: 0 clean (warnings allowed), 1 violations,
/// 2 unreadable input.
pub fn run(args: &Args) -> i32 {
    if args.list_rules {
        print!("{}", list_rules(args.json));
        return 0;
    }
    args.paths
        .iter()
        .map(|path| run_one(args, path))
        .max()
        .unwrap_or(0)
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

fn run_one(args: &Args, path: &str) -> i32 {
    let options = Options {
        talos_version: args.talos_version.clone(),
        pkg_name: args.pkg_name.clone(),
        kernel_release: args.kernel_release.clone(),
    };
    let targets = match load(path, args.platform.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            if args.json {
                let out = serde_json::json!({"input": path, "error": e.to_string()});
                println!("{out}");
            } else {
                eprintln!("error: cannot read {}: {e}", path);
            }
            return 2;
        }
    };
    let reports: Vec<(Option<&str>, Report)> = targets
        .iter()
        .map(|t| (t.platform.as_deref(), validate(&t.tree, &options)))
        .collect();
    let errors: usize = reports.iter().map(|(_, r)| r.errors().count()).sum();
    let warnings: usize = reports.iter().map(|(_, r)| r.warnings().count()).sum();

    let mut stdout = std::io::stdout().lock();
    if args.json {
        let out = JsonOutput {
            input: path,
            errors,
            warnings,
            targets: reports
                .iter()
                .map(|(platform, report)| JsonTarget {
                    platform: *platform,
                    report,
                })
                .collect(),
        };
        let text =
            serde_json::to_string_pretty(&out).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        let _ = writeln!(stdout, "{text}");
    } else {
        let _ = write!(stdout, "{}", render(path, &reports, &options));
    }
    if errors > 0 {
        1
    } else {
        0
    }
}

/// The human output: one line per violation (prefixed with the platform for OCI inputs) and a
/// summary line.
pub fn render(input: &str, reports: &[(Option<&str>, Report)], options: &Options) -> String {
    let mut out = String::new();
    let mut errors = 0;
    let mut warnings = 0;
    for (platform, report) in reports {
        for v in &report.violations {
            if let Some(p) = platform {
                out.push_str(&format!("[{p}] "));
            }
            out.push_str(&v.to_string());
            out.push('\n');
        }
        errors += report.errors().count();
        warnings += report.warnings().count();
    }
    let platforms: Vec<&str> = reports.iter().filter_map(|(p, _)| *p).collect();
    let scope = if platforms.is_empty() {
        String::new()
    } else {
        format!(" ({})", platforms.join(", "))
    };
    out.push_str(&format!(
        "{input}{scope}: {errors} error(s), {warnings} warning(s) for Talos {}\n",
        options.talos()
    ));
    out
}
