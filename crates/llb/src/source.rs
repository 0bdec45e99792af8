//! Source ops: container images (`docker-image://`), client directories (`local://`) and HTTP
//! downloads, with the attrs and caps BuildKit's Go client writes for them.

use std::collections::{BTreeMap, BTreeSet};

use crate::caps::cap;
use crate::graph::{Constraints, Kind, Node, OpBuilder, Output};
use crate::LlbError;

/// Builds a source node; `caps` are the ones the attrs imply.
fn source_output(
    identifier: String,
    attrs: BTreeMap<String, String>,
    caps: &[&str],
    mut constraints: Constraints,
) -> Output {
    constraints.caps.extend(caps.iter().map(|c| c.to_string()));
    let platform = constraints.platform.clone();
    Output::new(
        Node {
            kind: Kind::Source { identifier, attrs },
            constraints,
            platform,
        },
        0,
    )
}

/// When BuildKit should contact the registry for an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolveMode {
    /// Use the registry, but a local copy when the reference is pinned.
    #[default]
    Default,
    /// Always pull.
    ForcePull,
    /// Prefer an image already in the daemon's store.
    PreferLocal,
}

impl ResolveMode {
    fn attr(self) -> &'static str {
        match self {
            ResolveMode::Default => "default",
            ResolveMode::ForcePull => "pull",
            ResolveMode::PreferLocal => "local",
        }
    }
}

/// A container image source.
#[derive(Debug, Clone)]
pub struct Image {
    reference: String,
    resolve_mode: Option<ResolveMode>,
    constraints: Constraints,
}

impl Image {
    /// `reference` is normalised like Docker does (`alpine` → `docker.io/library/alpine:latest`).
    pub fn new(reference: &str) -> Result<Self, LlbError> {
        Ok(Image {
            reference: normalize_image_ref(reference)?,
            resolve_mode: None,
            constraints: Constraints::default(),
        })
    }

    /// How the image is resolved: from the registry or the local store.
    pub fn resolve_mode(mut self, mode: ResolveMode) -> Self {
        self.resolve_mode = Some(mode);
        self
    }

    /// The normalised reference.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The image's root filesystem.
    pub fn output(self) -> Output {
        let mut attrs = BTreeMap::new();
        let mut caps = vec![cap::SOURCE_IMAGE];
        if let Some(mode) = self.resolve_mode {
            attrs.insert("image.resolvemode".to_string(), mode.attr().to_string());
            // Go only demands the cap when a pull is forced: that mode is a security guarantee.
            if mode == ResolveMode::ForcePull {
                caps.push(cap::SOURCE_IMAGE_RESOLVE_MODE);
            }
        }
        source_output(
            format!("docker-image://{}", self.reference),
            attrs,
            &caps,
            self.constraints,
        )
    }
}

impl OpBuilder for Image {
    fn constraints_mut(&mut self) -> &mut Constraints {
        &mut self.constraints
    }
}

/// Normalises an image reference to `domain/path[:tag][@digest]`, adding `docker.io`,
/// `library/` and `:latest` where Docker would. Digests are kept.
/// Long by design: the parts of Docker's reference grammar in order (digest, tag, domain, path).
pub fn normalize_image_ref(reference: &str) -> Result<String, LlbError> {
    let fail = |reason: &str| LlbError::InvalidImageRef {
        reference: reference.to_string(),
        reason: reason.to_string(),
    };
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    if let Some(d) = digest {
        let valid = d.split_once(':').is_some_and(|(algo, hex)| {
            !algo.is_empty()
                && algo
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && hex.len() >= 32
                && hex
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        });
        if !valid {
            return Err(fail("digest must look like sha256:<hex>"));
        }
    }
    // A ':' after the last '/' starts the tag; one before it belongs to a registry port.
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].find(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    if let Some(t) = tag {
        let valid = !t.is_empty()
            && t.len() <= 128
            && !t.starts_with(['.', '-'])
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid {
            return Err(fail(
                "tag may only contain letters, digits, '_', '.' and '-'",
            ));
        }
    }
    if name.is_empty() {
        return Err(fail("repository name is empty"));
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first, rest.to_string())
        }
        _ => ("docker.io", name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    let path_ok = path.split('/').all(|component| {
        !component.is_empty()
            && component
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && component.starts_with(|c: char| c.is_ascii_alphanumeric())
            && component.ends_with(|c: char| c.is_ascii_alphanumeric())
    });
    if !path_ok {
        return Err(fail(
            "repository path must be lowercase letters, digits and separators ('.', '_', '-', '/')",
        ));
    }
    let mut out = format!("{domain}/{path}");
    match (tag, digest) {
        (Some(t), _) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(d);
    }
    Ok(out)
}

/// A directory sent by the client over the session (`local://<name>`).
#[derive(Debug, Clone)]
pub struct Local {
    name: String,
    session_id: Option<String>,
    include_patterns: Vec<String>,
    exclude_patterns: Vec<String>,
    follow_paths: Vec<String>,
    shared_key_hint: Option<String>,
    differ: Option<String>,
    constraints: Constraints,
}

impl Local {
    /// The client directory BuildKit knows as `name` (e.g. `context`).
    pub fn new(name: impl Into<String>) -> Self {
        Local {
            name: name.into(),
            session_id: None,
            include_patterns: Vec::new(),
            exclude_patterns: Vec::new(),
            follow_paths: Vec::new(),
            shared_key_hint: None,
            differ: None,
            constraints: Constraints::default(),
        }
    }

    /// The client session that holds the directory (`BUILDKIT_SESSION_ID` in a frontend).
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// Transfer only files matching these patterns.
    pub fn include_patterns<S: Into<String>>(
        mut self,
        patterns: impl IntoIterator<Item = S>,
    ) -> Self {
        self.include_patterns = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Leave out files matching these patterns.
    pub fn exclude_patterns<S: Into<String>>(
        mut self,
        patterns: impl IntoIterator<Item = S>,
    ) -> Self {
        self.exclude_patterns = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Transfer only these paths (and what their symlinks point to).
    pub fn follow_paths<S: Into<String>>(mut self, paths: impl IntoIterator<Item = S>) -> Self {
        self.follow_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Lets transfers of different selections of one directory share a cache.
    pub fn shared_key_hint(mut self, hint: impl Into<String>) -> Self {
        self.shared_key_hint = Some(hint.into());
        self
    }

    /// How changed files are detected (`none` or `metadata`); optional in Go, so no cap.
    pub fn differ(mut self, differ: impl Into<String>) -> Self {
        self.differ = Some(differ.into());
        self
    }

    /// The transferred directory.
    pub fn output(self) -> Output {
        let mut attrs = BTreeMap::new();
        let mut caps = vec![cap::SOURCE_LOCAL];
        let json = |v: &[String]| serde_json::Value::from(v.to_vec()).to_string();
        if let Some(id) = self.session_id {
            attrs.insert("local.session".to_string(), id);
            caps.push(cap::SOURCE_LOCAL_SESSION_ID);
        }
        if !self.include_patterns.is_empty() {
            attrs.insert(
                "local.includepattern".to_string(),
                json(&self.include_patterns),
            );
            caps.push(cap::SOURCE_LOCAL_INCLUDE_PATTERNS);
        }
        if !self.follow_paths.is_empty() {
            attrs.insert("local.followpaths".to_string(), json(&self.follow_paths));
            caps.push(cap::SOURCE_LOCAL_FOLLOW_PATHS);
        }
        if !self.exclude_patterns.is_empty() {
            attrs.insert(
                "local.excludepatterns".to_string(),
                json(&self.exclude_patterns),
            );
            caps.push(cap::SOURCE_LOCAL_EXCLUDE_PATTERNS);
        }
        if let Some(hint) = self.shared_key_hint {
            attrs.insert("local.sharedkeyhint".to_string(), hint);
            caps.push(cap::SOURCE_LOCAL_SHARED_KEY_HINT);
        }
        if let Some(differ) = self.differ {
            attrs.insert("local.differ".to_string(), differ);
        }
        source_output(
            format!("local://{}", self.name),
            attrs,
            &caps,
            self.constraints,
        )
    }
}

impl OpBuilder for Local {
    fn constraints_mut(&mut self) -> &mut Constraints {
        &mut self.constraints
    }
}

/// A file downloaded over HTTP(S); the result holds one file `/<filename>`.
#[derive(Debug, Clone)]
pub struct Http {
    url: String,
    checksum: Option<String>,
    filename: Option<String>,
    perm: Option<u32>,
    headers: BTreeSet<(String, String)>,
    constraints: Constraints,
}

impl Http {
    /// A download of `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Http {
            url: url.into(),
            checksum: None,
            filename: None,
            perm: None,
            headers: BTreeSet::new(),
            constraints: Constraints::default(),
        }
    }

    /// Pins the download: BuildKit fails if the content's digest differs. `checksum` is
    /// `sha256:<hex>` or bare hex.
    pub fn checksum(mut self, checksum: &str) -> Result<Self, LlbError> {
        let hex = checksum.strip_prefix("sha256:").unwrap_or(checksum);
        if hex.len() != 64
            || !hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        {
            return Err(LlbError::InvalidChecksum(checksum.to_string()));
        }
        self.checksum = Some(format!("sha256:{hex}"));
        Ok(self)
    }

    /// The name of the downloaded file; default: the URL's last segment.
    pub fn filename(mut self, name: impl Into<String>) -> Self {
        self.filename = Some(name.into());
        self
    }

    /// Permission bits of the downloaded file.
    pub fn perm(mut self, mode: u32) -> Self {
        self.perm = Some(mode);
        self
    }

    /// Sends a request header. Needs BuildKit v0.21 (`source.http.header`); check the daemon's caps
    /// before adding one.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers
            .insert((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// A filesystem holding the one downloaded file.
    pub fn output(self) -> Output {
        let mut attrs = BTreeMap::new();
        let mut caps = vec![cap::SOURCE_HTTP];
        if let Some(sum) = self.checksum {
            attrs.insert("http.checksum".to_string(), sum);
            caps.push(cap::SOURCE_HTTP_CHECKSUM);
        }
        if let Some(name) = self.filename {
            attrs.insert("http.filename".to_string(), name);
        }
        if let Some(perm) = self.perm.filter(|p| *p != 0) {
            attrs.insert("http.perm".to_string(), format!("0{perm:o}"));
            caps.push(cap::SOURCE_HTTP_PERM);
        }
        if !self.headers.is_empty() {
            for (name, value) in self.headers {
                attrs.insert(format!("http.header.{name}"), value);
            }
            caps.push(cap::SOURCE_HTTP_HEADER);
        }
        source_output(self.url, attrs, &caps, self.constraints)
    }
}

impl OpBuilder for Http {
    fn constraints_mut(&mut self) -> &mut Constraints {
        &mut self.constraints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalises_like_docker() {
        let cases = [
            ("alpine", "docker.io/library/alpine:latest"),
            ("alpine:3.20", "docker.io/library/alpine:3.20"),
            ("siderolabs/tools:v1", "docker.io/siderolabs/tools:v1"),
            (
                "index.docker.io/library/busybox",
                "docker.io/library/busybox:latest",
            ),
            ("ghcr.io/siderolabs/kiln", "ghcr.io/siderolabs/kiln:latest"),
            ("localhost:5000/x/y:t", "localhost:5000/x/y:t"),
            ("localhost/x", "localhost/x:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_image_ref(input).unwrap(), want, "{input}");
        }
        assert_eq!(
            normalize_image_ref(&format!("alpine@{DIGEST}")).unwrap(),
            format!("docker.io/library/alpine@{DIGEST}")
        );
        assert_eq!(
            normalize_image_ref(&format!("alpine:3.20@{DIGEST}")).unwrap(),
            format!("docker.io/library/alpine:3.20@{DIGEST}")
        );
    }

    #[test]
    fn rejects_bad_refs() {
        for bad in [
            "",
            "Alpine",
            "alpine:",
            "alpine@sha256:xyz",
            "a//b",
            "alpine:bad tag",
        ] {
            assert!(normalize_image_ref(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn checksum_validation() {
        let hex = &DIGEST[7..];
        assert!(Http::new("https://x").checksum(hex).is_ok());
        assert!(Http::new("https://x").checksum(DIGEST).is_ok());
        assert_eq!(
            Http::new("https://x").checksum("sha256:abc").unwrap_err(),
            LlbError::InvalidChecksum("sha256:abc".into())
        );
    }
}
