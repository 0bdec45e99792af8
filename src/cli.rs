//! The command line: inspection commands over a tree on disk.
//!
//! Every command prints diagnostics as `file:line:col: level: message` on stderr and exits 1 when
//! the tree has errors, so scripts and editors can jump to the line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::convert::helper;
use crate::frontend::request::{self, CommandLine, Host};
use crate::spec::platform::{self, Platform};
use crate::spec::vars::parse_build_arg;
use crate::spec::{Diagnostics, LoadError};
use crate::tree::{self, FileSet, LoadOptions, Tree};

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "Build Talos system-extension images from pkg.yaml trees with BuildKit"
)]
/// The command line of the `kiln` binary.
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// kiln's subcommands; each variant's doc is its `--help` summary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every package of the tree (name and directory).
    Targets(TargetsArgs),
    /// Print the dependency graph as Graphviz DOT.
    Graph(GraphArgs),
    /// Render a Go template with a package's variables, e.g. '{{ .VERSION }}'.
    Eval(EvalArgs),
    /// Show a package and its dependency closure in build order, rendered and resolved.
    Plan(PlanArgs),
    /// Print a JSON Schema for pkg.yaml, Pkgfile or vars.yaml (for yaml-language-server).
    Schema(SchemaArgs),
    /// Write the marshaled LLB Definition of a package to stdout (or a readable dump with --json).
    Llb(LlbArgs),
    /// Check an extension image (directory, tar, OCI layout or registry reference) against Talos' rules.
    #[command(name = helper::VALIDATE)]
    Validate(ValidateArgs),
    /// Run the lint rules over the tree (as `docker buildx build --call check` does); exits 1
    /// when a finding is an error.
    Check(CheckArgs),
    /// Download sources and rewrite their sha256/sha512 where they are written (vars.yaml, Pkgfile
    /// or pkg.yaml); exit 0 when done, 1 when --check finds stale checksums, 2 on errors.
    Update(UpdateArgs),
    /// Run as a BuildKit gateway frontend (the image's entrypoint).
    Frontend,
    /// Check a file's sha512 and copy it (used inside builds).
    #[command(hide = true, name = helper::VERIFY_SHA512)]
    VerifySha512(VerifyArgs),
}

/// `kiln llb`: the LLB the frontend would solve for one target.
#[derive(Debug, Args)]
pub struct LlbArgs {
    /// The tree and the target.
    #[command(flatten)]
    pub on: TargetArgs,
    /// Print a readable JSON dump instead of the binary Definition.
    #[arg(long)]
    pub json: bool,
    /// kiln's image, used for the sha512 checks and the validation stage (inside a build,
    /// BuildKit supplies the frontend's own image instead).
    #[arg(long, default_value = DEFAULT_HELPER_IMAGE)]
    pub helper_image: String,
    /// Leave out the extension validation stage.
    #[arg(long)]
    pub no_validate: bool,
    /// The `docker buildx build` flags that change the LLB.
    #[command(flatten)]
    pub build: BuildFlags,
}

/// The options of `docker buildx build` that change the LLB besides build args.
#[derive(Debug, Clone, Default, Args)]
pub struct BuildFlags {
    /// Replace `image: NAME` dependencies: NAME=docker-image://REF, or NAME::PLATFORM=… for one
    /// platform (repeatable).
    #[arg(long = "build-context", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub build_contexts: Vec<(String, String)>,
    /// Run every script without BuildKit's cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Run this package's scripts without BuildKit's cache (repeatable).
    #[arg(long, value_name = "PKG")]
    pub no_cache_filter: Vec<String>,
    /// How image references are resolved.
    #[arg(long, value_parser = ["default", "pull", "local"])]
    pub image_resolve_mode: Option<String>,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} must look like NAME=VALUE")),
    }
}

/// kiln's published image of this version.
pub const DEFAULT_HELPER_IMAGE: &str =
    concat!("ghcr.io/kiln-build/kiln:v", env!("CARGO_PKG_VERSION"));

/// `kiln validate`: the image checks, plus what the build's final stage needs.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The flags shared with the validation library's own command line.
    #[command(flatten)]
    pub args: kiln_validate::cli::Args,
    /// Pass (saying so) when PATH is a directory holding neither manifest.yaml nor rootfs/: the
    /// build's final stage runs on every target, extensions or not.
    #[arg(long = helper::IF_EXTENSION, hide = true)]
    pub if_extension: bool,
    /// A line saying why this image is (maybe) validated as an extension, printed first (the
    /// build's validation stage passes the frontend's decision).
    #[arg(long, hide = true, value_name = "TEXT")]
    pub decision: Option<String>,
    /// Also write the verdict to this file (the build's validation stage keeps it as its output,
    /// which gives the stage a result that a registry cache can hold).
    #[arg(long = helper::REPORT, hide = true, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// `kiln update`: refresh the checksums of sources.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Root of the tree (the directory holding the Pkgfile).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// The Pkgfile's name relative to the root.
    #[arg(long = "file", short = 'f', default_value = tree::files::PKGFILE)]
    pub pkgfile: String,
    /// Platforms whose sources are downloaded, comma-separated or repeated.
    #[arg(long, value_delimiter = ',', default_values = ["linux/amd64", "linux/arm64"], value_parser = platform::parse)]
    pub platform: Vec<Platform>,
    /// Build argument KEY=VALUE, as for a build (repeatable).
    #[arg(long = "build-arg", value_name = "KEY=VALUE", value_parser = parse_build_arg)]
    pub build_args: Vec<(String, String)>,
    /// Only this package's sources (repeatable; default: every package).
    #[arg(long = "target", short = 't', value_name = "PKG")]
    pub targets: Vec<String>,
    /// Change a variable first, in the Pkgfile or vars.yaml that defines it (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    /// Download and compare only: print each stale checksum with its file:line, write nothing.
    #[arg(long)]
    pub check: bool,
    /// Accept a different file behind a URL that this run did not change (e.g. a version edited
    /// by hand); without it, that is an error.
    #[arg(long)]
    pub allow_changed: bool,
    /// Downloads at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} must look like NAME=VALUE")),
    }
}

/// `kiln verify-sha512 FILE SHA512 DEST`, run inside builds on each download.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The downloaded file.
    pub file: PathBuf,
    /// The expected sha512, as hex.
    pub sha512: String,
    /// Where to copy the file once it matches.
    pub dest: PathBuf,
}

/// Options every tree command takes.
#[derive(Debug, Clone, Args)]
pub struct TreeArgs {
    /// Root of the tree (the directory holding the Pkgfile).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// Target platform: linux/amd64 or linux/arm64 (default: this machine's).
    #[arg(long, value_parser = platform::parse)]
    pub platform: Option<Platform>,
    /// Build argument KEY=VALUE, visible to templates as BUILD_ARG_KEY (repeatable).
    #[arg(long = "build-arg", value_name = "KEY=VALUE", value_parser = parse_build_arg)]
    pub build_args: Vec<(String, String)>,
    /// The Pkgfile's name relative to the root.
    #[arg(long = "file", short = 'f', default_value = tree::files::PKGFILE)]
    pub pkgfile: String,
}

impl TreeArgs {
    /// The `--platform` given, else this machine's.
    pub fn platform(&self) -> Platform {
        self.platform.clone().unwrap_or_else(platform::host)
    }

    /// The flags as BuildKit would pass them to the frontend.
    pub fn command_line(&self) -> CommandLine {
        CommandLine {
            platform: self.platform.clone(),
            pkgfile: self.pkgfile.clone(),
            build_args: self.build_args.clone(),
            ..CommandLine::default()
        }
    }

    /// How to load the tree, read as the frontend reads its options.
    pub fn options(&self) -> Result<LoadOptions> {
        let opts = self.command_line().options()?;
        Ok(request::load_options(&opts, &self.platform()))
    }

    /// The tree's definition files, read from disk.
    pub fn files(&self) -> Result<FileSet> {
        FileSet::from_dir(&self.root, &self.pkgfile)
            .with_context(|| format!("reading the tree at {}", self.root.display()))
    }

    /// Loads the tree, printing warnings; errors come back as [`LoadError`].
    pub fn load(&self) -> Result<Tree> {
        let tree = tree::load(&self.files()?, &self.options()?)?;
        print_diagnostics(&tree.warnings);
        Ok(tree)
    }
}

/// `kiln targets`: list the packages.
#[derive(Debug, Args)]
pub struct TargetsArgs {
    /// Where the tree is and how to load it (root, Pkgfile, platform, build args).
    #[command(flatten)]
    pub tree: TreeArgs,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// `kiln check`: run the lint rules.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Where the tree is and how to load it (root, Pkgfile, platform, build args).
    #[command(flatten)]
    pub tree: TreeArgs,
    /// Print JSON instead of lines.
    #[arg(long)]
    pub json: bool,
    /// List the rules instead of running them.
    #[arg(long)]
    pub rules: bool,
}

/// `kiln graph`: the dependency graph as DOT.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Where the tree is and how to load it (root, Pkgfile, platform, build args).
    #[command(flatten)]
    pub tree: TreeArgs,
    /// Only the graph below this package.
    #[arg(long, short = 't')]
    pub target: Option<String>,
}

/// `kiln eval`: render a template with a package's variables.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Where the tree is and how to load it (root, Pkgfile, platform, build args).
    #[command(flatten)]
    pub tree: TreeArgs,
    /// The package whose variables the template sees.
    #[arg(long, short = 't')]
    pub target: String,
    /// The template text.
    pub template: String,
}

/// A tree and one package of it, for the commands that work on a single target.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Where the tree is and how to load it (root, Pkgfile, platform, build args).
    #[command(flatten)]
    pub tree: TreeArgs,
    /// The package to work on.
    #[arg(long, short = 't')]
    pub target: String,
}

/// `kiln plan`: a target and its dependency closure in build order.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The tree and the target.
    #[command(flatten)]
    pub on: TargetArgs,
    /// Print JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// The files `kiln schema` has a JSON Schema for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SchemaKind {
    /// The schema of pkg.yaml
    Pkg,
    /// The schema of the Pkgfile
    Pkgfile,
    /// The schema of vars.yaml
    Vars,
}

/// `kiln schema`: print a JSON Schema.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which file's schema.
    pub kind: SchemaKind,
}

/// Prints every diagnostic to stderr, one a line, as users read them.
pub fn print_diagnostics(diags: &Diagnostics) {
    for d in &diags.0 {
        eprintln!("{d}");
    }
}

/// Runs a command and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Targets(a) => targets(&a),
        Command::Graph(a) => graph(&a),
        Command::Eval(a) => eval(&a),
        Command::Plan(a) => plan(&a),
        Command::Schema(a) => schema(&a),
        Command::Llb(a) => llb(&a),
        Command::Validate(a) => return validate(&a),
        Command::Check(a) => return check(&a),
        Command::Update(a) => return update(&a),
        Command::Frontend => return crate::frontend::main(),
        Command::VerifySha512(a) => verify_sha512(&a),
    };
    match result {
        Ok(()) => 0,
        Err(e) => report(&e),
    }
}

/// Prints an error the way users read it and returns the exit code.
pub fn report(e: &anyhow::Error) -> i32 {
    if let Some(LoadError(diags)) = e.downcast_ref::<LoadError>() {
        print_diagnostics(diags);
        let n = diags.errors().count();
        eprintln!("kiln: {n} error{}", if n == 1 { "" } else { "s" });
    } else {
        eprintln!("kiln: {e:#}");
    }
    1
}

#[derive(Serialize)]
struct TargetEntry<'a> {
    name: &'a str,
    dir: &'a str,
    file: &'a str,
    line: usize,
}

fn targets(args: &TargetsArgs) -> Result<()> {
    let tree = args.tree.load()?;
    let entries: Vec<TargetEntry<'_>> = tree
        .packages
        .values()
        .map(|p| TargetEntry {
            name: &p.pkg.name,
            dir: if p.dir.is_empty() { "." } else { &p.dir },
            file: &p.file,
            line: p.pkg.span.line,
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &entries)?;
        writeln!(out)?;
    } else {
        let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
        for e in &entries {
            writeln!(out, "{:width$}  {}", e.name, e.dir)?;
        }
    }
    Ok(())
}

fn check(args: &CheckArgs) -> i32 {
    if args.rules {
        for rule in crate::spec::lint::ALL {
            println!(
                "{:24} {:7} {}",
                rule.id,
                rule.severity.to_string(),
                rule.summary
            );
        }
        return 0;
    }
    let run = || -> Result<Diagnostics> {
        let files = args.tree.files()?;
        let opts = args.tree.options()?;
        let tree = tree::load(&files, &opts)?;
        Ok(tree::lint::check(&files, &tree, &opts))
    };
    let findings = match run() {
        Ok(f) => f,
        Err(e) => return report(&e),
    };
    if args.json {
        let mut out = std::io::stdout().lock();
        if serde_json::to_writer_pretty(&mut out, &findings.0).is_err() || writeln!(out).is_err() {
            return 1;
        }
    } else {
        for d in &findings.0 {
            println!("{d}");
        }
        let (errors, warnings) = (findings.errors().count(), findings.warnings().count());
        if errors + warnings == 0 {
            println!("Check complete, no warnings found.");
        } else {
            println!("Check complete: {errors} error(s), {warnings} warning(s).");
        }
    }
    i32::from(tree::lint::failed(&findings))
}

fn graph(args: &GraphArgs) -> Result<()> {
    let tree = args.tree.load()?;
    print!("{}", tree.dot(args.target.as_deref())?);
    Ok(())
}

fn eval(args: &EvalArgs) -> Result<()> {
    let tree = args.tree.load()?;
    tree.resolve(&args.target)?;
    let package = &tree.packages[&args.target];
    match kiln_template::render("<eval>", &args.template, &package.vars) {
        // No trailing newline, like bldr: the output is spliced into tags.
        Ok(r) => print!("{}", r.text),
        Err(e) => anyhow::bail!("the template argument, column {}: {}", e.column, e.message),
    }
    Ok(())
}

#[derive(Serialize)]
struct PlanEntry<'a> {
    name: &'a str,
    file: &'a str,
    dependencies: Vec<PlanDep<'a>>,
    templated_files: Vec<&'a str>,
    package: &'a crate::spec::Pkg,
}

#[derive(Serialize)]
struct PlanDep<'a> {
    #[serde(flatten)]
    dep: &'a crate::spec::Dependency,
    declared_by: &'a str,
}

/// Long by design: one summary built as JSON and as text.
fn plan(args: &PlanArgs) -> Result<()> {
    let tree = args.on.tree.load()?;
    let plan = tree.resolve(&args.on.target)?;
    let entries: Vec<PlanEntry<'_>> = plan
        .order
        .iter()
        .map(|name| {
            let p = &tree.packages[name];
            PlanEntry {
                name,
                file: &p.file,
                dependencies: plan.deps[name]
                    .iter()
                    .map(|d| PlanDep {
                        dep: &d.dep,
                        declared_by: &d.declared_by,
                    })
                    .collect(),
                templated_files: p.templated.iter().map(|t| t.path.as_str()).collect(),
                package: &p.pkg,
            }
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({"target": plan.target, "platform": tree.platform, "packages": entries}),
        )?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "# {} for {}: {} packages in build order",
        plan.target,
        tree.platform,
        entries.len()
    )?;
    for (i, e) in entries.iter().enumerate() {
        let p = e.package;
        let scripts: usize = p
            .steps
            .iter()
            .map(|s| s.prepare.len() + s.build.len() + s.install.len() + s.test.len())
            .sum();
        writeln!(
            out,
            "{}. {} ({}:{}) variant={:?} steps={} scripts={}",
            i + 1,
            e.name,
            e.file,
            p.span.line,
            p.variant,
            p.steps.len(),
            scripts
        )?;
        for d in &e.dependencies {
            let what = match d.dep.target() {
                crate::spec::DepRef::Stage(s) => format!("stage {s}"),
                crate::spec::DepRef::Image(i) => format!("image {i}"),
            };
            let via = if d.declared_by == e.name {
                String::new()
            } else {
                format!(" (runtime, via {})", d.declared_by)
            };
            writeln!(out, "   <- {what} {} -> {}{via}", d.dep.from, d.dep.to)?;
        }
        for t in &e.templated_files {
            writeln!(out, "   + /pkg/{t}")?;
        }
    }
    Ok(())
}

fn schema(args: &SchemaArgs) -> Result<()> {
    let schema = match args.kind {
        SchemaKind::Pkg => schemars::schema_for!(crate::spec::Pkg),
        SchemaKind::Pkgfile => schemars::schema_for!(crate::spec::Pkgfile),
        SchemaKind::Vars => schemars::schema_for!(VarsFile),
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}

/// vars.yaml: a flat map of template variables (values may themselves be templates).
#[derive(schemars::JsonSchema)]
#[schemars(title = "vars.yaml")]
#[allow(dead_code)]
struct VarsFile(BTreeMap<String, String>);

fn llb(args: &LlbArgs) -> Result<()> {
    use crate::convert::{Converter, Trees};
    let mut line = args.on.tree.command_line();
    line.target = Some(args.on.target.clone());
    line.build_contexts = args.build.build_contexts.clone();
    line.no_cache = args.build.no_cache;
    line.no_cache_filter = args.build.no_cache_filter.clone();
    line.image_resolve_mode = args.build.image_resolve_mode.clone();
    let opts = line.options()?;
    let files = args.on.tree.files()?;
    let native = platform::host();
    let platform = request::platforms(&opts, &native)?.remove(0);
    let trees = Trees::new(files, request::load_options(&opts, &platform));
    let helper = kiln_llb::Image::new(&args.helper_image)
        .map_err(|e| anyhow::anyhow!("--helper-image: {e}"))?
        .output();
    if let Some(v) = opts.build_args.get(crate::convert::EXTENSION_BUILD_ARG) {
        crate::convert::parse_extension_arg(v).map_err(anyhow::Error::msg)?;
    }
    let host = Host {
        helper,
        native,
        // `buildctl` supplies its own session.
        session_id: String::new(),
        // Unknown: leave out what needs a newer daemon than v0.13.
        llb_caps: kiln_llb::Caps::default(),
    };
    let mut convert = request::convert_options(&opts, &host)?;
    if args.no_validate {
        convert.validate = None;
    }
    let platform = args.on.tree.platform();
    print_diagnostics(&trees.get(&platform)?.warnings);
    let converted = Converter::new(&trees, convert).target(&args.on.target, &platform)?;
    // The same graph the frontend solves, validation stage included, so `buildctl` users get the check.
    let def = kiln_llb::marshal(&converted.result());
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &kiln_llb::definition_to_json(&def.0))?;
        writeln!(out)?;
    } else {
        out.write_all(&def.to_bytes())?;
    }
    Ok(())
}

fn validate(args: &ValidateArgs) -> i32 {
    if let Some(decision) = &args.decision {
        println!("kiln: {decision}");
    }
    let shape = match args.args.paths.as_slice() {
        [path] if args.if_extension && std::path::Path::new(path).is_dir() => {
            Some((path, extension_shape(std::path::Path::new(path))))
        }
        _ => None,
    };
    let code = match shape {
        Some((path, Err(why))) => {
            println!(
                "{path}: {why}: not a Talos system extension, not validated (`extension: true` in pkg.yaml or --build-arg {}=true validates it)",
                crate::convert::EXTENSION_BUILD_ARG
            );
            0
        }
        Some((path, Ok(()))) => {
            println!("{path}: manifest.yaml beside rootfs/: a Talos system extension, validating");
            kiln_validate::cli::run(&args.args)
        }
        None => kiln_validate::cli::run(&args.args),
    };
    if let Some(report) = &args.report {
        let verdict = if code == 0 { "passed" } else { "failed" };
        if let Err(e) = std::fs::write(report, format!("kiln validate: {verdict} (exit {code})\n"))
        {
            eprintln!("kiln validate: cannot write {}: {e}", report.display());
            return code.max(2);
        }
    }
    code
}

/// Long by design: options in, then the outcome printed for `--check` and for a real run.
fn update(args: &UpdateArgs) -> i32 {
    let options = crate::update::UpdateOptions {
        platforms: args.platform.clone(),
        build_args: args.build_args.iter().cloned().collect(),
        pkgfile: args.pkgfile.clone(),
        targets: args.targets.clone(),
        sets: args.sets.clone(),
        check: args.check,
        allow_changed: args.allow_changed,
        fetch: crate::update::fetch::FetchOptions {
            jobs: args.jobs.into(),
            ..Default::default()
        },
    };
    let outcome = match crate::update::run(&args.root, &options) {
        Ok(outcome) => outcome,
        Err(e) => {
            if let Some(crate::update::UpdateError(problems)) = e.downcast_ref() {
                for p in problems {
                    eprintln!("{p}");
                }
                eprintln!("kiln update: nothing was written");
            } else {
                report(&e);
            }
            return 2;
        }
    };
    print_diagnostics(&outcome.warnings);
    let short = crate::update::abbreviate;
    for c in &outcome.changes {
        if args.check {
            println!(
                "{}:{}: {} is stale: recorded {}, {} has {}",
                c.file,
                c.line,
                c.name,
                short(&c.old),
                c.reason,
                short(&c.new)
            );
        } else {
            println!(
                "{}:{}: {} {} -> {} ({})",
                c.file,
                c.line,
                c.name,
                short(&c.old),
                short(&c.new),
                c.reason
            );
        }
    }
    let stale = outcome.stale().count();
    let downloads = format!(
        "{}, {}, {}",
        count(outcome.sources, "source"),
        count(outcome.downloads, "download"),
        count(outcome.bytes as usize, "byte")
    );
    if args.check {
        if stale > 0 {
            let stale = count(stale, "stale checksum");
            println!("kiln update --check: {stale} ({downloads})");
            return 1;
        }
        println!("kiln update --check: every checksum matches ({downloads})");
    } else if outcome.written.is_empty() {
        println!("kiln update: every checksum matches, nothing to write ({downloads})");
    } else {
        println!(
            "kiln update: {} changed in {} ({downloads})",
            count(outcome.changes.len(), "value"),
            outcome.written.join(", ")
        );
    }
    0
}

/// `1 source`, `2 sources`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Whether a directory has the shape Talos requires of an extension: `manifest.yaml` beside
/// `rootfs/`; if not, what is missing.
fn extension_shape(root: &std::path::Path) -> std::result::Result<(), &'static str> {
    let manifest = root.join("manifest.yaml").is_file();
    let rootfs = root.join("rootfs").is_dir();
    match (manifest, rootfs) {
        (true, true) => Ok(()),
        (false, false) => Err("no manifest.yaml or rootfs/"),
        (false, true) => Err("rootfs/ without manifest.yaml beside it"),
        (true, false) => Err("manifest.yaml without rootfs/ beside it"),
    }
}

fn verify_sha512(args: &VerifyArgs) -> Result<()> {
    use sha2::{Digest, Sha512};
    let mut file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let mut hasher = Sha512::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let actual = hex(&hasher.finalize());
    let expected = args.sha512.to_ascii_lowercase();
    if actual != expected {
        anyhow::bail!(
            "sha512 mismatch for {}: pkg.yaml says {expected}, the download has {actual}; fix the checksum or the URL",
            args.file.display()
        );
    }
    if let Some(parent) = args.dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(&args.file, &args.dest)
        .with_context(|| format!("copying to {}", args.dest.display()))?;
    println!("{}: sha512 OK", args.file.display());
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: Vec<String>) -> Command {
        // The argv's first word is the binary's path, as clap expects.
        Cli::try_parse_from(argv)
            .unwrap_or_else(|e| panic!("the command line refuses the helper argv: {e}"))
            .command
    }

    #[test]
    fn the_command_line_reads_every_helper_argv_the_converter_writes() {
        let verify = helper::VerifySha512 {
            file: "/src/a.tar".into(),
            sha512: "ab".repeat(64),
            dest: "/out/a.tar".into(),
        };
        match parse(verify.argv()) {
            Command::VerifySha512(a) => {
                assert_eq!(a.file, PathBuf::from(&verify.file));
                assert_eq!(a.sha512, verify.sha512);
                assert_eq!(a.dest, PathBuf::from(&verify.dest));
            }
            other => panic!("{other:?}"),
        }
        let full = helper::Validate {
            image: "/image".into(),
            report: "/out/validation.txt".into(),
            pkg_name: "ext".into(),
            checks: helper::Checks {
                talos_version: Some("v1.10.0".into()),
                kernel_release: Some("6.12.1-talos".into()),
                module_signer: Some("signer".into()),
                module_key_id: Some("4B:49".into()),
            },
            if_extension: true,
            decision: Some("ext: by the output's shape".into()),
        };
        let bare = helper::Validate {
            checks: helper::Checks::default(),
            if_extension: false,
            decision: None,
            ..full.clone()
        };
        for v in [full, bare] {
            let Command::Validate(a) = parse(v.argv()) else {
                panic!("not validate: {:?}", v.argv());
            };
            assert_eq!(a.if_extension, v.if_extension);
            assert_eq!(a.decision, v.decision);
            assert_eq!(a.report, Some(PathBuf::from(&v.report)));
            assert_eq!(a.args.paths, std::slice::from_ref(&v.image));
            assert_eq!(a.args.pkg_name, Some(v.pkg_name.clone()));
            let checks = &v.checks;
            assert_eq!(
                a.args.talos_version.is_some(),
                checks.talos_version.is_some()
            );
            assert_eq!(a.args.kernel_release, checks.kernel_release);
            assert_eq!(a.args.module_signer, checks.module_signer);
            assert_eq!(a.args.module_key_id, checks.module_key_id);
        }
    }
}
