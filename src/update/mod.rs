//! `kiln update`: recomputes the sha256 and sha512 of package sources from their downloads and
//! writes them where they are written, leaving every other byte of the files as it was.
//!
//! The tree is loaded once per platform (sources differ per `ARCH`). `--set NAME=VALUE` first
//! rewrites the variable in the file that defines it (in memory) and the tree is loaded again.
//! Each source checksum is traced to its [`sites::Site`]: a literal in the pkg.yaml, or the
//! variable it references, followed to the Pkgfile or vars.yaml that holds the literal. Each
//! distinct URL is downloaded once ([`fetch`]). With `--check` the stale sites are only reported;
//! otherwise the new texts are loaded again to prove they render the downloaded checksums, and
//! only then are the files replaced (temporary files renamed into place): all or nothing.

pub mod fetch;
pub mod proxy;
pub mod sites;
pub mod written;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;

use crate::spec::{Diagnostics, LoadError, Platform};
use crate::tree::{self, FileSet, LoadOptions, Tree};

use fetch::{Digests, FetchOptions};
use sites::Site;

/// What to update and how.
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    /// The platforms whose renderings are looked at (a source may differ per platform).
    pub platforms: Vec<Platform>,
    /// `--build-arg K=V`, as for a build.
    pub build_args: BTreeMap<String, String>,
    /// The Pkgfile's path relative to the root.
    pub pkgfile: String,
    /// The packages whose sources are checked; empty for every package.
    pub targets: Vec<String>,
    /// Variables to change first.
    pub sets: Vec<(String, String)>,
    /// Report stale checksums without writing anything.
    pub check: bool,
    /// Accept a different file behind a URL this run did not change.
    pub allow_changed: bool,
    /// How downloads are made.
    pub fetch: FetchOptions,
}

/// A value that is (or, with `--check`, would be) rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The file the value is written in, relative to the root.
    pub file: String,
    /// 1-based line of the value.
    pub line: usize,
    /// The variable, or `sha256`/`sha512` for a value written in a pkg.yaml source.
    pub name: String,
    /// The value as written now.
    pub old: String,
    /// The value it becomes.
    pub new: String,
    /// The URL whose download gives `new`, or `--set`.
    pub reason: String,
}

/// The result of a successful run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// `--set` changes first, then checksums, each group by file and line.
    pub changes: Vec<Change>,
    /// Sources looked at (a source written once counts once, whatever the platforms).
    pub sources: usize,
    /// Downloads made.
    pub downloads: usize,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Files replaced on disk (none with `--check`).
    pub written: Vec<String>,
    /// The tree's warnings (unknown keys and the like), from every platform.
    pub warnings: Diagnostics,
}

impl Outcome {
    /// The checksum changes (not the `--set` ones).
    pub fn stale(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.reason != SET_REASON)
    }
}

const SET_REASON: &str = "--set";

/// Every problem that stopped the run, one per line, each naming a file and line where it can.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct UpdateError(pub Vec<String>);

/// One source of one package on one platform, with where its checksums are written.
struct SourceUse {
    platform: Platform,
    package: String,
    /// pkg.yaml and line of the source.
    at: String,
    /// Identifies the source across loads: package, step and source index.
    slot: (String, usize, usize),
    url: String,
    /// The URL was the same before `--set`.
    same_url: bool,
    checksums: [(Site, String); 2],
}

/// Runs `kiln update` on the tree at `root`.
pub fn run(root: &Path, options: &UpdateOptions) -> anyhow::Result<Outcome> {
    let original = FileSet::from_dir(root, &options.pkgfile)
        .with_context(|| format!("reading the tree at {}", root.display()))?;
    let (files, mut outcome) = plan(&original, options)?;
    if !options.check {
        outcome.written = write(root, &original, &files)?;
    }
    Ok(outcome)
}

/// The tree after `--set`, and every source of the chosen packages with where its checksums are
/// written; nothing downloaded yet.
pub struct Prepared {
    files: FileSet,
    changes: Vec<Change>,
    uses: Vec<SourceUse>,
    warnings: Diagnostics,
}

impl Prepared {
    /// Each source on each platform: its pkg.yaml position, URL, and the sha256 and sha512 sites.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &str, [&Site; 2])> {
        self.uses.iter().map(|u| {
            let [(a, _), (b, _)] = &u.checksums;
            (u.at.as_str(), u.url.as_str(), [a, b])
        })
    }
}

/// Loads the tree, applies `--set` in memory and traces every checksum to its site.
pub fn prepare(original: &FileSet, options: &UpdateOptions) -> anyhow::Result<Prepared> {
    let before = load_all(original, options)?;
    let chosen = chosen_packages(&before, &options.targets)?;
    let mut files = original.clone();
    let mut changes = Vec::new();
    for (name, value) in &options.sets {
        changes.push(set_variable(&before, &mut files, &chosen, name, value)?);
    }
    let after = if options.sets.is_empty() {
        before.clone()
    } else {
        load_all(&files, options)?
    };
    left_behind(&before, &after, &chosen)?;
    let uses = source_uses(&before, &after, &files, &chosen)?;
    let mut warnings = Diagnostics::default();
    for tree in &before {
        warnings.extend(tree.warnings.clone());
    }
    Ok(Prepared {
        files,
        changes,
        uses,
        warnings: warnings.sorted(),
    })
}

/// Everything but writing: returns the new file texts and what changed.
/// Long by design: the steps of an update in order (prepare, download, decide, rewrite, re-render).
pub fn plan(original: &FileSet, options: &UpdateOptions) -> anyhow::Result<(FileSet, Outcome)> {
    let Prepared {
        mut files,
        mut changes,
        uses,
        warnings,
    } = prepare(original, options)?;

    let urls: Vec<String> = uses
        .iter()
        .map(|u| u.url.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let results = fetch::fetch_all(&urls, &options.fetch);
    let mut digests: BTreeMap<&str, Digests> = BTreeMap::new();
    // (pkg.yaml:line, package, URL, error) → platforms
    let mut failures: BTreeMap<(&str, &str, &str, String), BTreeSet<Platform>> = BTreeMap::new();
    for (url, result) in urls.iter().zip(results) {
        match result {
            Ok(d) => {
                digests.insert(url, d);
            }
            Err(e) => {
                for u in uses.iter().filter(|u| &u.url == url) {
                    let key = (u.at.as_str(), u.package.as_str(), url.as_str(), e.clone());
                    failures.entry(key).or_default().insert(u.platform.clone());
                }
            }
        }
    }
    if !failures.is_empty() {
        let lines = failures
            .into_iter()
            .map(|((at, package, url, e), platforms)| {
                let platforms: Vec<String> = platforms.iter().map(|p| p.to_string()).collect();
                let platforms = platforms.join(", ");
                format!("{at}: package {package} ({platforms}): GET {url}: {e}")
            })
            .collect();
        return Err(UpdateError(lines).into());
    }

    let stale = decide(&uses, &digests, options)?;
    let any_stale = !stale.is_empty();
    let mut edits: BTreeMap<String, Vec<(std::ops::Range<usize>, String)>> = BTreeMap::new();
    for (site, change) in stale {
        let text = written::write_scalar(site.style, &change.new);
        edits.entry(site.file).or_default().push((site.range, text));
        changes.push(change);
    }
    for (file, edits) in edits {
        let text = std::str::from_utf8(files.get(&file).unwrap_or_default())
            .with_context(|| format!("{file}: not UTF-8"))?;
        let new = written::apply(text, &edits);
        files.insert(file, new.into_bytes());
    }
    if any_stale || !options.sets.is_empty() {
        verify(&files, options, &uses, &digests)?;
    }
    let sources = uses.iter().map(|u| &u.at).collect::<BTreeSet<_>>().len();
    let bytes = digests.values().map(|d| d.size).sum();
    Ok((
        files,
        Outcome {
            changes,
            sources,
            downloads: digests.len(),
            bytes,
            written: Vec::new(),
            warnings,
        },
    ))
}

fn load_all(files: &FileSet, options: &UpdateOptions) -> Result<Vec<Tree>, LoadError> {
    options
        .platforms
        .iter()
        .map(|platform| {
            let load = LoadOptions {
                platform: platform.clone(),
                build_args: options.build_args.clone(),
                pkgfile: options.pkgfile.clone(),
            };
            tree::load(files, &load)
        })
        .collect()
}

fn chosen_packages(trees: &[Tree], targets: &[String]) -> Result<BTreeSet<String>, LoadError> {
    if targets.is_empty() {
        return Ok(trees
            .iter()
            .flat_map(|t| t.packages.keys().cloned())
            .collect());
    }
    for target in targets {
        if let Some(tree) = trees.first() {
            tree.resolve(target)?;
        }
    }
    Ok(targets.iter().cloned().collect())
}

/// Rewrites `name` where the chosen packages see it defined; exactly one place must define it.
fn set_variable(
    trees: &[Tree],
    files: &mut FileSet,
    chosen: &BTreeSet<String>,
    name: &str,
    value: &str,
) -> anyhow::Result<Change> {
    let mut found: BTreeMap<(String, usize), Site> = BTreeMap::new();
    let mut problems = BTreeSet::new();
    for tree in trees {
        for package in chosen.iter().filter_map(|p| tree.packages.get(p)) {
            let Some(current) = package.vars.get(name) else {
                continue;
            };
            match sites::variable(tree, files, &package.dir, name, current, 0) {
                Ok(site) => {
                    found.insert(site.key(), site);
                }
                Err(e) => {
                    problems.insert(format!("--set {name}: package {}: {e}", package.pkg.name));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(UpdateError(problems.into_iter().collect()).into());
    }
    let mut found: Vec<Site> = found.into_values().collect();
    if found.len() != 1 {
        let places: Vec<String> = found.iter().map(Site::position).collect();
        return Err(UpdateError(vec![if places.is_empty() {
            format!("--set {name}: no Pkgfile var or vars.yaml entry named {name} is visible to the chosen packages")
        } else {
            format!(
                "--set {name}: the chosen packages see it defined in {}; choose one package with -t",
                places.join(" and ")
            )
        }])
        .into());
    }
    let site = found.remove(0);
    let text = std::str::from_utf8(files.get(&site.file).unwrap_or_default())
        .with_context(|| format!("{}: not UTF-8", site.file))?;
    let old = text[site.range.clone()].to_string();
    let new = written::write_scalar(site.style, value);
    let updated = written::apply(text, &[(site.range.clone(), new.clone())]);
    files.insert(site.file.clone(), updated.into_bytes());
    Ok(Change {
        file: site.file,
        line: site.line,
        name: name.to_string(),
        old,
        new,
        reason: SET_REASON.to_string(),
    })
}

/// Refuses a `--set` that changes the sources of packages outside the chosen ones: their
/// checksums would be left stale.
fn left_behind(before: &[Tree], after: &[Tree], chosen: &BTreeSet<String>) -> anyhow::Result<()> {
    let mut problems = BTreeSet::new();
    for (old_tree, tree) in before.iter().zip(after) {
        for (name, package) in &tree.packages {
            if chosen.contains(name) {
                continue;
            }
            let urls = |p: &tree::Package| -> Vec<String> {
                let sources = p.pkg.steps.iter().flat_map(|s| &s.sources);
                sources.map(|s| s.url.clone()).collect()
            };
            if old_tree.packages.get(name).map(urls) != Some(urls(package)) {
                problems.insert(format!(
                    "{}: the --set values change the sources of package {name} too; add `-t {name}` (or leave out -t) so its checksums follow",
                    package.file
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(UpdateError(problems.into_iter().collect()).into())
    }
}

fn source_uses(
    before: &[Tree],
    after: &[Tree],
    files: &FileSet,
    chosen: &BTreeSet<String>,
) -> anyhow::Result<Vec<SourceUse>> {
    let mut uses = Vec::new();
    let mut problems = BTreeSet::new();
    for (old_tree, tree) in before.iter().zip(after) {
        for package in chosen.iter().filter_map(|p| tree.packages.get(p)) {
            let name = package.pkg.name.as_str();
            for (s, step) in package.pkg.steps.iter().enumerate() {
                for (i, source) in step.sources.iter().enumerate() {
                    let old_url = old_tree
                        .packages
                        .get(name)
                        .and_then(|p| p.pkg.steps.get(s))
                        .and_then(|st| st.sources.get(i))
                        .map(|src| src.url.as_str());
                    let site = |key: &str, span, value: &str| {
                        sites::checksum(tree, files, package, key, span, value)
                            .map(|site| (site, value.to_ascii_lowercase()))
                            .map_err(|e| format!("package {name}: {e}"))
                    };
                    match (
                        site("sha256", source.sha256_span, &source.sha256),
                        site("sha512", source.sha512_span, &source.sha512),
                    ) {
                        (Ok(a), Ok(b)) => uses.push(SourceUse {
                            platform: tree.platform.clone(),
                            package: name.to_string(),
                            at: format!("{}:{}", package.file, source.span.line),
                            slot: (name.to_string(), s, i),
                            url: source.url.clone(),
                            same_url: old_url == Some(source.url.as_str()),
                            checksums: [a, b],
                        }),
                        (a, b) => {
                            problems.extend(a.err());
                            problems.extend(b.err());
                        }
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(UpdateError(problems.into_iter().collect()).into());
    }
    Ok(uses)
}

/// A checksum nobody computed yet: all zeros (how a new source can be written before its first
/// update).
fn is_placeholder(value: &str) -> bool {
    value.bytes().all(|b| b == b'0')
}

/// The sites whose value must change, each with its change.
/// Long by design: the rule for a changed checksum (all uses agree, replaced upstream files refused) reads as one decision.
fn decide(
    uses: &[SourceUse],
    digests: &BTreeMap<&str, Digests>,
    options: &UpdateOptions,
) -> anyhow::Result<Vec<(Site, Change)>> {
    struct Wanted<'a> {
        site: &'a Site,
        /// `sha256` or `sha512`.
        key: &'static str,
        current: &'a str,
        new: String,
        /// (URL, package, platform) of each use.
        users: Vec<(&'a str, &'a str, &'a Platform)>,
    }
    let mut wanted: BTreeMap<(String, usize), Wanted<'_>> = BTreeMap::new();
    let mut problems = BTreeSet::new();
    for u in uses {
        let Some(d) = digests.get(u.url.as_str()) else {
            continue;
        };
        let computed = [("sha256", &d.sha256), ("sha512", &d.sha512)];
        for ((site, current), (key, new)) in u.checksums.iter().zip(computed) {
            let w = wanted.entry(site.key()).or_insert_with(|| Wanted {
                site,
                key,
                current,
                new: new.clone(),
                users: Vec::new(),
            });
            if w.new != *new {
                let (url, package, platform) = &w.users[0];
                problems.insert(format!(
                    "{}: {} is used for two different files: {url} (package {package}, {platform}) and {} (package {}, {}); give each its own variable",
                    site.position(),
                    site.variable.as_deref().unwrap_or("this checksum"),
                    u.url,
                    u.package,
                    u.platform
                ));
            }
            w.users.push((&u.url, &u.package, &u.platform));
            if !options.check
                && !options.allow_changed
                && u.same_url
                && *current != *new
                && !is_placeholder(current)
            {
                problems.insert(format!(
                    "{}: package {}: the file at {} is not the one recorded at {} (recorded {}, the download has {}) although this run did not change its URL: the file behind the URL was replaced. Find out why; if you changed the version by hand, rerun with --allow-changed (or bump it with --set)",
                    u.at,
                    u.package,
                    u.url,
                    site.position(),
                    abbreviate(current),
                    abbreviate(new)
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(UpdateError(problems.into_iter().collect()).into());
    }
    Ok(wanted
        .into_values()
        .filter(|w| w.current != w.new)
        .map(|w| {
            let change = Change {
                file: w.site.file.clone(),
                line: w.site.line,
                name: w.site.variable.clone().unwrap_or_else(|| w.key.to_string()),
                old: w.current.to_string(),
                new: w.new,
                reason: w.users[0].0.to_string(),
            };
            (w.site.clone(), change)
        })
        .collect())
}

/// The first 16 characters of a checksum, for messages.
pub fn abbreviate(value: &str) -> String {
    if value.len() > 16 {
        format!("{}…", &value[..16])
    } else {
        value.to_string()
    }
}

/// Loads the rewritten tree and checks that every source now renders its downloaded checksums.
fn verify(
    files: &FileSet,
    options: &UpdateOptions,
    uses: &[SourceUse],
    digests: &BTreeMap<&str, Digests>,
) -> anyhow::Result<()> {
    let trees = load_all(files, options).context("the rewritten tree does not load")?;
    let mut problems = BTreeSet::new();
    for u in uses {
        let Some(tree) = trees.iter().find(|t| t.platform == u.platform) else {
            continue;
        };
        let (name, s, i) = &u.slot;
        let source = tree
            .packages
            .get(name)
            .and_then(|p| p.pkg.steps.get(*s))
            .and_then(|st| st.sources.get(*i));
        let d = &digests[u.url.as_str()];
        let ok = source.is_some_and(|src| {
            src.sha256.eq_ignore_ascii_case(&d.sha256) && src.sha512.eq_ignore_ascii_case(&d.sha512)
        });
        if !ok {
            problems.insert(format!(
                "{}: after rewriting, the source of package {name} still does not render the checksums of {}; nothing was written",
                u.at, u.url
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(UpdateError(problems.into_iter().collect()).into())
    }
}

/// Replaces the files whose text changed: every new text goes to a temporary file next to its
/// target first; only when all are written are they renamed into place.
fn write(root: &Path, original: &FileSet, files: &FileSet) -> anyhow::Result<Vec<String>> {
    let changed: Vec<(&String, &Vec<u8>)> = files
        .files
        .iter()
        .filter(|(path, data)| original.get(path) != Some(data.as_slice()))
        .collect();
    let mut staged = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for (path, data) in &changed {
            // A symlinked file is rewritten where it points, keeping the link.
            let target = std::fs::canonicalize(root.join(path)).unwrap_or_else(|_| root.join(path));
            let temp = target.with_file_name(format!(
                ".{}.kiln-update-{}",
                target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                std::process::id()
            ));
            staged.push((temp.clone(), target.clone()));
            std::fs::write(&temp, data).with_context(|| format!("writing {}", temp.display()))?;
            let permissions = std::fs::metadata(&target)
                .with_context(|| format!("reading {}", target.display()))?
                .permissions();
            std::fs::set_permissions(&temp, permissions)
                .with_context(|| format!("setting the mode of {}", temp.display()))?;
            std::fs::File::open(&temp)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("syncing {}", temp.display()))?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (temp, _) in &staged {
            let _ = std::fs::remove_file(temp);
        }
        return Err(e.context("nothing was changed"));
    }
    for (temp, target) in &staged {
        std::fs::rename(temp, target).with_context(|| format!("replacing {}", target.display()))?;
    }
    Ok(changed.into_iter().map(|(p, _)| p.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const Z64: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn files(entries: &[(&str, &str)]) -> FileSet {
        let mut set = FileSet::default();
        for (path, text) in entries {
            set.insert(
                *path,
                text.replace("Z128", &Z64.repeat(2)).replace("Z64", Z64),
            );
        }
        set
    }

    fn options(targets: &[&str], sets: &[(&str, &str)]) -> UpdateOptions {
        UpdateOptions {
            platforms: crate::spec::platform::supported().collect(),
            build_args: BTreeMap::new(),
            pkgfile: "Pkgfile".into(),
            targets: targets.iter().map(|t| t.to_string()).collect(),
            sets: sets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            check: false,
            allow_changed: false,
            fetch: FetchOptions::default(),
        }
    }

    fn pkg(name: &str, url: &str, sha256: &str, sha512: &str) -> String {
        format!("name: {name}\nvariant: scratch\nsteps:\n  - sources:\n      - url: {url}\n        destination: f\n        sha256: {sha256}\n        sha512: {sha512}\nfinalize: [{{from: /, to: /}}]\n")
    }

    fn problems(result: anyhow::Result<Prepared>) -> String {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn set_follows_a_reference_to_the_file_that_holds_the_value() {
        let set = files(&[
            (
                "Pkgfile",
                "format: v1alpha2\nvars:\n  A_VERSION: 1.0 # upstream\n",
            ),
            ("a/vars.yaml", "VERSION: \"{{ .A_VERSION }}\"\n"),
            (
                "a/pkg.yaml",
                &pkg("a", "https://x/a-{{ .VERSION }}", "Z64", "Z128"),
            ),
        ]);
        let prepared = prepare(&set, &options(&["a"], &[("VERSION", "1.1")])).unwrap();
        let pkgfile = std::str::from_utf8(prepared.files.get("Pkgfile").unwrap()).unwrap();
        assert_eq!(
            pkgfile,
            "format: v1alpha2\nvars:\n  A_VERSION: 1.1 # upstream\n"
        );
        assert_eq!(prepared.files.get("a/vars.yaml"), set.get("a/vars.yaml"));
        let urls: BTreeSet<&str> = prepared.sources().map(|(_, url, _)| url).collect();
        assert_eq!(urls, BTreeSet::from(["https://x/a-1.1"]));
        assert!(!prepared.uses[0].same_url);
    }

    #[test]
    fn set_needs_one_place_and_leaves_no_package_behind() {
        let set = files(&[
            ("Pkgfile", "format: v1alpha2\nvars:\n  SHARED: 1\n"),
            ("a/vars.yaml", "VERSION: 1\n"),
            (
                "a/pkg.yaml",
                &pkg(
                    "a",
                    "https://x/a-{{ .VERSION }}-{{ .SHARED }}",
                    "Z64",
                    "Z128",
                ),
            ),
            ("b/vars.yaml", "VERSION: 2\n"),
            (
                "b/pkg.yaml",
                &pkg(
                    "b",
                    "https://x/b-{{ .VERSION }}-{{ .SHARED }}",
                    "Z64",
                    "Z128",
                ),
            ),
        ]);
        let e = problems(prepare(&set, &options(&[], &[("VERSION", "3")])));
        assert!(
            e.contains("a/vars.yaml:1 and b/vars.yaml:1; choose one package with -t"),
            "{e}"
        );
        let prepared = prepare(&set, &options(&["b"], &[("VERSION", "3")])).unwrap();
        assert_eq!(
            prepared.files.get("b/vars.yaml"),
            Some(&b"VERSION: 3\n"[..])
        );
        let e = problems(prepare(&set, &options(&["a"], &[("SHARED", "2")])));
        assert!(
            e.contains("b/pkg.yaml: the --set values change the sources of package b too"),
            "{e}"
        );
    }

    #[test]
    fn one_variable_for_two_different_files_is_refused() {
        let set = files(&[
            ("Pkgfile", "format: v1alpha2\n"),
            ("a/vars.yaml", "SHA256: Z64\nSHA512: Z128\n"),
            (
                "a/pkg.yaml",
                &pkg(
                    "a",
                    "https://x/a-{{ .ARCH }}",
                    "{{ .SHA256 }}",
                    "{{ .SHA512 }}",
                ),
            ),
        ]);
        let opts = options(&[], &[]);
        let prepared = prepare(&set, &opts).unwrap();
        let digests = |n: &str| Digests {
            sha256: n.repeat(64),
            sha512: n.repeat(128),
            size: 1,
        };
        let map = BTreeMap::from([
            ("https://x/a-x86_64", digests("1")),
            ("https://x/a-aarch64", digests("2")),
        ]);
        let e = format!("{:#}", decide(&prepared.uses, &map, &opts).unwrap_err());
        assert!(
            e.contains("a/vars.yaml:1: SHA256 is used for two different files: https://x/a-x86_64 (package a, linux/amd64) and https://x/a-aarch64 (package a, linux/arm64); give each its own variable"),
            "{e}"
        );
        // The same file for both: one value, written once.
        let map = BTreeMap::from([
            ("https://x/a-x86_64", digests("1")),
            ("https://x/a-aarch64", digests("1")),
        ]);
        let stale = decide(&prepared.uses, &map, &opts).unwrap();
        assert_eq!(stale.len(), 2, "sha256 and sha512, once each");
    }
}
