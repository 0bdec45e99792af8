//! Compatibility with the real siderolabs/extensions tree: every target loads and plans on
//! both platforms. Skips (saying so) where `../shared/corpus` is absent.

use kiln::spec::platform::{self, Platform};
use kiln::tree::{self, FileSet, LoadOptions};

#[path = "support/corpus.rs"]
mod support;

use support::{corpus_build_args, corpus_dir as corpus};

#[test]
fn every_corpus_target_plans_on_both_platforms() {
    let Some(dir) = corpus() else { return };
    let files = FileSet::from_dir(&dir, "Pkgfile").expect("reading the corpus");
    let pkg_yamls = files
        .files
        .keys()
        .filter(|k| k.ends_with("/pkg.yaml"))
        .count();
    for platform in platform::supported() {
        let mut opts = LoadOptions::new(platform.clone());
        opts.build_args = corpus_build_args();
        let tree = match tree::load(&files, &opts) {
            Ok(t) => t,
            Err(e) => panic!("{platform}: the corpus failed to load:\n{e}"),
        };
        assert_eq!(
            tree.packages.len(),
            pkg_yamls,
            "{platform}: one package per pkg.yaml"
        );
        let mut planned = 0;
        for name in tree.packages.keys() {
            let plan = tree
                .resolve(name)
                .unwrap_or_else(|e| panic!("{platform}: {name}: {e}"));
            assert_eq!(plan.order.last(), Some(name));
            planned += 1;
        }
        assert_eq!(planned, pkg_yamls);
        // Spot checks that templating and variables really happened.
        let gvisor = &tree.packages["gvisor"];
        let manifest = gvisor
            .templated
            .iter()
            .find(|t| t.path == "manifest.yaml")
            .expect("gvisor manifest");
        assert!(manifest.contents.contains("name: gvisor"));
        assert!(
            !manifest.contents.contains("{{"),
            "rendered: {}",
            manifest.contents
        );
        assert!(
            !manifest.contents.contains("<no value>"),
            "rendered: {}",
            manifest.contents
        );
        let base = &tree.packages["base"];
        assert!(base
            .pkg
            .dependencies
            .iter()
            .any(|d| d.image.as_deref() == Some("ghcr.io/siderolabs/tools:v1.14.0")));
        let cloudflared = &tree.packages["cloudflared"].pkg;
        let url = &cloudflared.steps[0].sources[0].url;
        let expected = if platform == Platform::linux("arm64") {
            "linux-arm64"
        } else {
            "linux-amd64"
        };
        assert!(url.ends_with(expected), "{platform}: {url}");
        assert_eq!(cloudflared.steps[0].sources.len(), 1);
    }
}

#[test]
fn every_corpus_target_converts_to_llb_on_both_platforms() {
    use kiln::convert::{ConvertOptions, Converter, Trees, ValidateOptions};
    let Some(dir) = corpus() else { return };
    let files = FileSet::from_dir(&dir, "Pkgfile").expect("reading the corpus");
    let mut opts = LoadOptions::new(Platform::linux("amd64"));
    opts.build_args = corpus_build_args();
    let trees = Trees::new(files, opts);
    let helper = kiln_llb::Image::new("ghcr.io/kiln-build/kiln:test")
        .unwrap()
        .output();
    let mut convert = ConvertOptions::new(helper);
    convert.source_date_epoch = Some(1_700_000_000);
    convert.validate = Some(ValidateOptions::default());
    let mut converted = 0;
    for platform in platform::supported() {
        let names: Vec<String> = trees
            .get(&platform)
            .unwrap()
            .packages
            .keys()
            .cloned()
            .collect();
        let mut converter = Converter::new(&trees, convert.clone());
        for name in &names {
            let c = converter
                .target(name, &platform)
                .unwrap_or_else(|e| panic!("{platform}: {name}: {e}"));
            let def = kiln_llb::marshal(&c.image);
            // Every op's digest is the sha256 of its bytes, and the terminal op is last.
            for (bytes, digest) in def.ops().iter().zip(def.digests()) {
                assert_eq!(kiln_llb::digest_of(bytes), digest);
            }
            if !def.ops().is_empty() {
                assert!(def.head().is_some(), "{name}: terminal op");
            }
            // Nothing needs more than BuildKit v0.13 offers.
            kiln_llb::check_caps(
                &def.required_caps(),
                &kiln_llb::known_caps(kiln_llb::BUILDKIT_BASELINE),
            )
            .unwrap_or_else(|e| panic!("{platform}: {name}: {e}"));
            converted += 1;
        }
    }
    assert!(converted >= 2 * 100, "converted {converted} targets");
}

/// The lint rules over the corpus: the packages whose `cachePaths` sit on a step without scripts
/// (so they build without their cache) are found, and no rule fires as an error.
#[test]
fn check_finds_cache_paths_on_steps_without_scripts() {
    let Some(dir) = corpus() else { return };
    let files = FileSet::from_dir(&dir, "Pkgfile").expect("reading the corpus");
    let mut opts = LoadOptions::new(Platform::linux("amd64"));
    opts.build_args = corpus_build_args();
    let tree = tree::load(&files, &opts).expect("the corpus loads");
    let findings = tree::lint::check(&files, &tree, &opts);
    assert!(!tree::lint::failed(&findings), "{findings}");
    let rule = |id: &str| {
        findings
            .0
            .iter()
            .filter(|d| d.rule.is_some_and(|r| r.id == id))
            .count()
    };
    let declaring = tree
        .packages
        .values()
        .filter(|p| p.pkg.steps.iter().any(|s| !s.cache_paths.is_empty()))
        .count();
    assert_eq!(declaring, 18, "packages declaring cachePaths");
    assert_eq!(rule("CachePathsWithoutScript"), 16, "{findings}");
    assert_eq!(rule("UnknownKey"), 0, "{findings}");
}

/// `kiln update` must find where every checksum of the real corpus is written (no download).
#[test]
fn every_corpus_checksum_is_traced_to_the_line_that_holds_it() {
    let Some(dir) = corpus() else { return };
    let files = FileSet::from_dir(&dir, "Pkgfile").unwrap();
    let options = kiln::update::UpdateOptions {
        platforms: platform::supported().collect(),
        build_args: corpus_build_args(),
        pkgfile: "Pkgfile".to_string(),
        targets: Vec::new(),
        sets: Vec::new(),
        check: true,
        allow_changed: false,
        fetch: Default::default(),
    };
    let prepared = kiln::update::prepare(&files, &options).unwrap_or_else(|e| panic!("{e:#}"));
    let mut count = 0;
    for (at, url, sites) in prepared.sources() {
        for (site, len) in sites.into_iter().zip([64, 128]) {
            let text = std::str::from_utf8(files.get(&site.file).unwrap()).unwrap();
            let written = text[site.range.clone()].trim_matches(['"', '\'']);
            assert!(
                written.len() == len && written.bytes().all(|b| b.is_ascii_hexdigit()),
                "{at} ({url}): {} holds {written:?}",
                site.position()
            );
        }
        count += 1;
    }
    // Every pkg.yaml source of the corpus, on both platforms.
    eprintln!("{count} sources traced");
    assert!(count > 100, "only {count} sources found");
}
