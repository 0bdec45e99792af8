//! Versions: the target Talos version, the `metadata.version` formats Talos' validator accepts, and
//! the `compatibility.talos.version` range grammar.
//!
//! The range grammar is Talos' (Go blang/semver v4 after deleting every `v` before a digit), not
//! Cargo's: full `X.Y.Z` versions, operators `< <= > >= = == ! !=` (none means `=`), whitespace for
//! AND, `||` for OR, and `1.x` / `1.x.x` / `1.2.x` wildcards. `~`, `^`, `~>` and two-part versions are
//! errors, as they are in Talos. Wildcards under `!=` mean "outside that range" (blang expands them
//! into an unsatisfiable AND; we do what the text says).

use std::cmp::Ordering;
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use semver::Version;

/// The newest Talos version in kiln's allowed-hierarchy table.
pub const DEFAULT_TALOS_VERSION: &str = "1.14.0";

/// A Talos version such as `v1.14.0`, `1.10.0-beta.1` or (tolerantly) `v1.9`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalosVersion(Version);

impl TalosVersion {
    /// The default target: [`DEFAULT_TALOS_VERSION`].
    pub fn default_target() -> TalosVersion {
        TalosVersion(Version::new(1, 14, 0))
    }

    /// Parses `v1.14.0`, `1.14.0-alpha.1`, `v1.14` (patch 0). Build metadata is dropped.
    pub fn parse(text: &str) -> Result<TalosVersion, String> {
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let core_len = bare.find(['-', '+']).unwrap_or(bare.len());
        let dots = bare[..core_len].matches('.').count();
        let full = if dots == 1 {
            format!("{}.0{}", &bare[..core_len], &bare[core_len..])
        } else {
            bare.to_owned()
        };
        let mut version = Version::parse(&full).map_err(|e| {
            format!("invalid Talos version {text:?}: {e} (expected e.g. v1.14.0 or v1.14)")
        })?;
        version.build = semver::BuildMetadata::EMPTY;
        Ok(TalosVersion(version))
    }

    /// `v{major}.{minor}.{patch}`.
    pub fn new(major: u64, minor: u64, patch: u64) -> TalosVersion {
        TalosVersion(Version::new(major, minor, patch))
    }

    /// The major version, e.g. 1 of `v1.10.3`.
    pub fn major(&self) -> u64 {
        self.0.major
    }

    /// The minor version, e.g. 10 of `v1.10.3`.
    pub fn minor(&self) -> u64 {
        self.0.minor
    }

    /// `(major, minor)`, the granularity of the allowed-hierarchy table.
    pub fn release(&self) -> (u64, u64) {
        (self.0.major, self.0.minor)
    }

    /// The version with its prerelease dropped, as constraints are checked against it.
    pub fn core(&self) -> Version {
        Version::new(self.0.major, self.0.minor, self.0.patch)
    }
}

impl fmt::Display for TalosVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl std::str::FromStr for TalosVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TalosVersion::parse(s)
    }
}

/// A span of Talos releases (`(major, minor)`): from `since` on, up to but not including `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Releases {
    /// The first release the span covers.
    pub since: (u64, u64),
    /// The first release it no longer covers; `None`: every release from `since` on.
    pub until: Option<(u64, u64)>,
}

impl Releases {
    /// Every release.
    pub const ALL: Releases = Releases {
        since: (0, 0),
        until: None,
    };

    /// `release` and every later one.
    pub const fn since(release: (u64, u64)) -> Releases {
        Releases {
            since: release,
            until: None,
        }
    }

    /// Whether `release` lies in the span.
    pub fn contains(&self, release: (u64, u64)) -> bool {
        release >= self.since && self.until.is_none_or(|until| release < until)
    }
}

impl fmt::Display for Releases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.since, self.until) {
            ((0, 0), None) => f.write_str("all releases"),
            ((major, minor), None) => write!(f, "v{major}.{minor} and later"),
            ((0, 0), Some((major, minor))) => write!(f, "before v{major}.{minor}"),
            ((a, b), Some((c, d))) => write!(f, "v{a}.{b} until (not including) v{c}.{d}"),
        }
    }
}

impl serde::Serialize for Releases {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn version_format_regexes() -> &'static [Regex; 5] {
    static REGEXES: OnceLock<[Regex; 5]> = OnceLock::new();
    REGEXES.get_or_init(|| {
        // ASCII classes on purpose: `\d` is Unicode in Rust but ASCII in Go's RE2.
        const SEMVER: &str = r"[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?";
        const GIT_SUFFIX: &str = r"(-[0-9]+-g[0-9a-f]+(-dirty)?)?";
        let build = |s: String| Regex::new(&s).expect("static regex compiles");
        [
            build(format!("^v?{SEMVER}$")),
            build(r"^[0-9]{8}(\.[0-9])?$".to_owned()),
            build(format!(r"^[0-9]+\.[0-9]+\.[0-9]+-v{SEMVER}{GIT_SUFFIX}$")),
            build(format!("^[0-9a-f]+-v{SEMVER}{GIT_SUFFIX}$")),
            build(r"^v?[0-9]+\.[0-9]+$".to_owned()),
        ]
    })
}

/// Whether `metadata.version` has one of the formats Talos' extension validator accepts:
/// semver (optional `v`, prerelease, no build metadata); `YYYYMMDD[.N]`; `<X.Y.Z>-v<semver>` or
/// `<hex>-v<semver>` with an optional `-N-g<hex>[-dirty]`; `v?X.Y`.
pub fn is_valid_extension_version(version: &str) -> bool {
    version_format_regexes()
        .iter()
        .any(|re| re.is_match(version))
}

/// A parsed `compatibility.talos.version` constraint: OR of ANDs of comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    alternatives: Vec<Vec<Comparison>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Comparison {
    Exact(Op, Version),
    /// A wildcard `[low, high)` under an operator: `1.2.x` is low 1.2.0, high 1.3.0.
    Wildcard(Op, Version, Version),
}

fn cmp(a: &Version, b: &Version) -> Ordering {
    a.cmp_precedence(b)
}

impl Comparison {
    fn matches(&self, v: &Version) -> bool {
        match self {
            Comparison::Exact(op, want) => {
                let o = cmp(v, want);
                match op {
                    Op::Eq => o == Ordering::Equal,
                    Op::Ne => o != Ordering::Equal,
                    Op::Gt => o == Ordering::Greater,
                    Op::Ge => o != Ordering::Less,
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                }
            }
            Comparison::Wildcard(op, low, high) => {
                let inside = cmp(v, low) != Ordering::Less && cmp(v, high) == Ordering::Less;
                match op {
                    Op::Eq => inside,
                    Op::Ne => !inside,
                    Op::Gt => cmp(v, high) != Ordering::Less,
                    Op::Ge => cmp(v, low) != Ordering::Less,
                    Op::Lt => cmp(v, low) == Ordering::Less,
                    Op::Le => cmp(v, high) == Ordering::Less,
                }
            }
        }
    }
}

impl Range {
    /// Parses a Talos constraint such as `>= v1.0.0`, `>=v1.10.0 <v2.0.0` or
    /// `<1.5.0 || >=1.9.0`. The error explains what is wrong and what is accepted.
    pub fn parse(text: &str) -> Result<Range, String> {
        let stripped = strip_v_before_digit(text);
        // Operator-only tokens (">= 1.0.0") are glued to the version that follows them.
        let mut tokens: Vec<String> = Vec::new();
        let mut pending_op = String::new();
        for raw in stripped.split_whitespace() {
            if raw != "||" && raw.chars().all(|c| "<>=!~^".contains(c)) {
                pending_op.push_str(raw);
                continue;
            }
            if raw == "||" && !pending_op.is_empty() {
                return Err(format!(
                    "operator {pending_op:?} is not followed by a version"
                ));
            }
            tokens.push(format!("{pending_op}{raw}"));
            pending_op.clear();
        }
        if !pending_op.is_empty() {
            return Err(format!(
                "operator {pending_op:?} is not followed by a version"
            ));
        }
        if tokens.is_empty() {
            return Err("empty constraint".to_owned());
        }
        let mut alternatives = vec![Vec::new()];
        for token in &tokens {
            if token == "||" {
                if alternatives.last().is_some_and(Vec::is_empty) {
                    return Err("\"||\" must stand between two comparisons".to_owned());
                }
                alternatives.push(Vec::new());
                continue;
            }
            let comparison = parse_comparison(token)?;
            if let Some(last) = alternatives.last_mut() {
                last.push(comparison);
            }
        }
        if alternatives.last().is_some_and(Vec::is_empty) {
            return Err("\"||\" must stand between two comparisons".to_owned());
        }
        Ok(Range { alternatives })
    }

    /// Whether `version` satisfies the range (callers pass the Talos version's core).
    pub fn matches(&self, version: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|all| all.iter().all(|c| c.matches(version)))
    }
}

impl Range {
    /// The versions (without prerelease) at which whether a version satisfies the range can
    /// change: for `> 1.9.3` that is 1.9.4, for `< 1.12.0` 1.12.0, for `1.2.x` 1.2.0 and 1.3.0.
    /// Between two consecutive boundaries every version gets the same answer.
    pub fn boundaries(&self) -> Vec<Version> {
        let mut out = Vec::new();
        for comparison in self.alternatives.iter().flatten() {
            match comparison {
                Comparison::Exact(_, v) => {
                    out.push(Version::new(v.major, v.minor, v.patch));
                    out.push(Version::new(v.major, v.minor, v.patch + 1));
                }
                Comparison::Wildcard(_, low, high) => {
                    out.push(low.clone());
                    out.push(high.clone());
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The Talos releases (`(major, minor)`) kiln's tables describe: v1.0 to the default target's.
pub fn known_releases() -> impl Iterator<Item = (u64, u64)> {
    let newest = TalosVersion::default_target();
    (0..=newest.minor()).map(move |minor| (newest.major(), minor))
}

/// Which Talos versions `kiln validate --talos-version` asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TalosSelection {
    /// One version, as the build's validation stage checks.
    One(TalosVersion),
    /// Every release kiln knows (`all`).
    All,
    /// The known releases inside a range such as `>=1.9` (two-part versions allowed here), with
    /// the text as written.
    Range(Range, String),
}

impl fmt::Display for TalosSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TalosSelection::One(v) => write!(f, "{v}"),
            TalosSelection::All => f.write_str("all"),
            TalosSelection::Range(_, text) => f.write_str(text),
        }
    }
}

impl TalosSelection {
    /// Parses `v1.12.0`, `all` or a range such as `>=1.9 <1.12`.
    pub fn parse(text: &str) -> Result<TalosSelection, String> {
        let trimmed = text.trim();
        if trimmed == "all" {
            return Ok(TalosSelection::All);
        }
        let is_range = trimmed.contains(|c: char| "<>=!|x ".contains(c));
        if !is_range {
            return TalosVersion::parse(trimmed).map(TalosSelection::One);
        }
        let padded: Vec<String> = strip_v_before_digit(trimmed)
            .split_whitespace()
            .map(|token| {
                let split = token
                    .find(|c: char| c.is_ascii_digit())
                    .unwrap_or(token.len());
                let version = &token[split..];
                if version.matches('.').count() == 1 && !version.contains('x') {
                    format!("{token}.0")
                } else {
                    token.to_owned()
                }
            })
            .collect();
        Range::parse(&padded.join(" "))
            .map(|range| TalosSelection::Range(range, trimmed.to_owned()))
            .map_err(|e| {
                format!(
                    "invalid --talos-version {text:?}: {e} (expected a version such as v1.12.0, `all`, or a range such as \">=1.9\" or \">=1.9 <1.12\")"
                )
            })
    }
}

impl std::str::FromStr for TalosSelection {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TalosSelection::parse(s)
    }
}

/// Deletes every `v` directly before a digit, as Talos does before parsing.
fn strip_v_before_digit(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, c) in chars.iter().enumerate() {
        if *c == 'v' && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit()) {
            continue;
        }
        out.push(*c);
    }
    out
}

fn parse_comparison(token: &str) -> Result<Comparison, String> {
    let split = token
        .find(|c: char| c.is_ascii_digit())
        .ok_or_else(|| format!("{token:?} has no version (expected e.g. \">= 1.2.0\")"))?;
    let (op_text, version_text) = token.split_at(split);
    let op = match op_text {
        "" | "=" | "==" => Op::Eq,
        "!" | "!=" => Op::Ne,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "<" => Op::Lt,
        "<=" => Op::Le,
        "~" | "^" | "~>" => {
            return Err(format!(
                "operator {op_text:?} in {token:?} is not supported by Talos; write explicit bounds such as \">= 1.2.0 < 1.3.0\""
            ))
        }
        other => {
            return Err(format!(
                "unknown operator {other:?} in {token:?} (use <, <=, >, >=, =, ==, !=)"
            ))
        }
    };
    let parts: Vec<&str> = version_text.split('.').collect();
    if parts.last() == Some(&"x") {
        return parse_wildcard(op, token, &parts);
    }
    let version = Version::parse(version_text).map_err(|e| {
        let hint = if parts.len() < 3 {
            " (Talos needs a full X.Y.Z version)"
        } else {
            ""
        };
        format!("invalid version {version_text:?} in {token:?}: {e}{hint}")
    })?;
    Ok(Comparison::Exact(op, version))
}

fn parse_wildcard(op: Op, token: &str, parts: &[&str]) -> Result<Comparison, String> {
    let number = |s: &str| -> Result<u64, String> {
        if s.is_empty()
            || !s.bytes().all(|b| b.is_ascii_digit())
            || (s.len() > 1 && s.starts_with('0'))
        {
            return Err(format!(
                "invalid wildcard version in {token:?} (use 1.x or 1.2.x)"
            ));
        }
        s.parse::<u64>()
            .map_err(|_| format!("number too large in {token:?}"))
    };
    let (low, high) = match parts {
        [major, "x"] | [major, "x", "x"] => {
            let m = number(major)?;
            (Version::new(m, 0, 0), Version::new(m + 1, 0, 0))
        }
        [major, minor, "x"] => {
            let (m, n) = (number(major)?, number(minor)?);
            (Version::new(m, n, 0), Version::new(m, n + 1, 0))
        }
        _ => {
            return Err(format!(
                "invalid wildcard version in {token:?} (use 1.x or 1.2.x)"
            ))
        }
    };
    Ok(Comparison::Wildcard(op, low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_version_formats() {
        for ok in [
            "v1.15.0",
            "1.0.0",
            "1.29",
            "v2.14",
            "2.43",
            "20260810.0",
            "20260812",
            "20260810.12",
            "4.34.1-4-v1.15.0",
            "0.4.0-g5c274e6",
            "9.3.3-v1.15.0",
            "abc1234-v1.15.0-3-gdeadbee-dirty",
            "535.129.03-v1.8.0-alpha.0-10-g336fa0f",
            "v1.15.0-alpha.0-7-gb914c26-dirty",
            "20260810-v1.15.0",
        ] {
            assert!(is_valid_extension_version(ok), "{ok} should be accepted");
        }
        for bad in [
            "latest",
            "1",
            "v1",
            "1.2.3.4",
            "1.2.3+b1",
            "1.2.3+build.1",
            "microcode-20210608-v1.0.0",
            "",
            "V1.2.3",
            "1.2.3-beta_1",
            "1.2.x",
            "١.٢.٣",
        ] {
            assert!(!is_valid_extension_version(bad), "{bad} should be rejected");
        }
    }

    fn sat(range: &str, version: &str) -> bool {
        let r = Range::parse(range).unwrap_or_else(|e| panic!("{range}: {e}"));
        r.matches(&TalosVersion::parse(version).expect("test version").core())
    }

    #[test]
    fn ranges_are_satisfied_as_talos_does() {
        assert!(sat(">= v1.0.0", "1.14.0"));
        assert!(!sat(">= v1.99.0", "1.15.0"));
        assert!(sat(">= v1.15.0", "v1.15.0-beta.1"), "prerelease is dropped");
        assert!(sat(">=v1.10.0 <v2.0.0", "1.12.3"));
        assert!(!sat(">=v1.10.0 <v2.0.0", "2.0.0"));
        assert!(sat("<1.5.0 || >=1.9.0", "1.4.9"));
        assert!(!sat("<1.5.0 || >=1.9.0", "1.6.0"));
        assert!(sat("<1.5.0 || >=1.9.0", "1.9.0"));
        assert!(sat(">= 1.9.0-alpha.0", "1.9.0"));
        assert!(sat("1.2.3", "1.2.3"));
        assert!(sat("== 1.2.3", "1.2.3"));
        assert!(!sat("!=1.2.3", "1.2.3"));
        assert!(sat("!1.2.4", "1.2.3"));
        assert!(sat("<= 1.2.3", "1.2.3"));
        assert!(!sat("> 1.2.3", "1.2.3"));
        assert!(sat("1.2.x", "1.2.9"));
        assert!(!sat("1.2.x", "1.3.0"));
        assert!(sat("> 1.2.x", "1.3.0"));
        assert!(!sat("> 1.2.x", "1.2.9"));
        assert!(sat("<= 1.x", "1.99.0"));
        assert!(!sat("< 1.x", "1.0.0"));
        assert!(sat("!= 1.2.x", "1.4.0"));
        assert!(!sat("!= 1.2.x", "1.2.1"));
        assert!(sat("1.x.x", "1.5.0"));
    }

    #[test]
    fn range_grammar_errors() {
        for (bad, needle) in [
            (">= v1.10", "full X.Y.Z"),
            ("~> 1.2", "not supported by Talos"),
            ("~1.2.0", "not supported by Talos"),
            ("^1.2.0", "not supported by Talos"),
            ("", "empty"),
            ("|| 1.0.0", "between"),
            ("1.0.0 ||", "between"),
            (">=", "not followed"),
            ("latest", "has no version"),
            ("1.2.3.4", "invalid version"),
            ("=> 1.0.0", "unknown operator"),
            ("1.y.x", "wildcard"),
        ] {
            let err = Range::parse(bad).expect_err(bad);
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn boundaries_are_where_answers_change() {
        let b = |r: &str| -> Vec<String> {
            Range::parse(r)
                .expect("range")
                .boundaries()
                .iter()
                .map(|v| v.to_string())
                .collect()
        };
        assert_eq!(
            b(">= 1.9.3 < 1.12.0"),
            ["1.9.3", "1.9.4", "1.12.0", "1.12.1"]
        );
        assert_eq!(b("1.2.x"), ["1.2.0", "1.3.0"]);
        assert_eq!(b(">= 1.9.0-alpha.0"), ["1.9.0", "1.9.1"]);
    }

    #[test]
    fn selections() {
        assert_eq!(TalosSelection::parse("all"), Ok(TalosSelection::All));
        assert_eq!(
            TalosSelection::parse("v1.12"),
            Ok(TalosSelection::One(TalosVersion::new(1, 12, 0)))
        );
        let Ok(TalosSelection::Range(r, _)) = TalosSelection::parse(">=1.9 <v1.12") else {
            panic!("a range");
        };
        assert!(r.matches(&Version::new(1, 9, 0)) && r.matches(&Version::new(1, 11, 7)));
        assert!(!r.matches(&Version::new(1, 8, 9)) && !r.matches(&Version::new(1, 12, 0)));
        let err = TalosSelection::parse(">=latest").expect_err("bad");
        assert!(err.contains("--talos-version"), "{err}");
        assert_eq!(known_releases().next(), Some((1, 0)));
        assert_eq!(
            known_releases().last(),
            Some(TalosVersion::default_target().release())
        );
    }

    #[test]
    fn talos_versions_parse_tolerantly() {
        assert_eq!(TalosVersion::parse("v1.9").map(|v| v.release()), Ok((1, 9)));
        assert_eq!(
            TalosVersion::parse("v1.10.0-beta.1").map(|v| v.to_string()),
            Ok("v1.10.0-beta.1".to_owned())
        );
        assert!(TalosVersion::parse("latest").is_err());
        assert_eq!(TalosVersion::default_target().to_string(), "v1.14.0");
    }
}
