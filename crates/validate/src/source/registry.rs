//! Registry references (`host[:port]/repo[:tag][@sha256:…]`) pulled over the registry HTTP API v2:
//! plain http for localhost/127.0.0.1/[::1], https otherwise; anonymous, with the anonymous bearer
//! token dance when the registry asks for it. The pulled image is then handled as an OCI layout.

use std::cell::RefCell;
use std::io::Read;
use std::time::Duration;

use super::oci::{load_platforms, BlobStore};
use super::{LoadError, Target};

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A parsed image reference. Only references with an explicit registry host are accepted, so a
/// mistyped local path is not sent to a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`
    pub registry: String,
    /// The repository path, e.g. `siderolabs/gvisor`.
    pub repository: String,
    /// The tag; `latest` when neither tag nor digest is given.
    pub tag: Option<String>,
    /// The manifest digest, `sha256:…`, when pinned; it wins over the tag.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `host[:port]/repo[:tag][@sha256:hex]`; `None` if `text` is not such a reference.
    pub fn parse(text: &str) -> Option<Reference> {
        let (registry, rest) = text.split_once('/')?;
        let is_host = registry.contains('.') || registry.contains(':') || registry == "localhost";
        let host_chars_ok = registry.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '[')
            && registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if !is_host || !host_chars_ok || rest.is_empty() {
            return None;
        }
        let (name, digest) = match rest.split_once('@') {
            Some((name, digest)) => {
                let hex = digest.strip_prefix("sha256:")?;
                if hex.len() != 64
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                {
                    return None;
                }
                (name, Some(digest.to_owned()))
            }
            None => (rest, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        let repo_ok = !repository.is_empty()
            && repository.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            });
        let tag_ok = tag.is_none_or(|t| {
            !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
        if !repo_ok || !tag_ok {
            return None;
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_owned()),
        };
        Some(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag,
            digest,
        })
    }

    /// `http` for loopback registries, `https` for everything else.
    pub fn scheme(&self) -> &'static str {
        let host = match self.registry.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => &self.registry,
        };
        if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            "http"
        } else {
            "https"
        }
    }

    fn base(&self) -> String {
        format!(
            "{}://{}/v2/{}",
            self.scheme(),
            self.registry,
            self.repository
        )
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

struct RegistryStore {
    reference: Reference,
    agent: ureq::Agent,
    token: RefCell<Option<String>>,
}

/// Pulls `reference` and flattens each platform (or the one `platform` selects).
pub fn load(reference: &Reference, platform: Option<&str>) -> Result<Vec<Target>, LoadError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    let store = RegistryStore {
        reference: reference.clone(),
        agent,
        token: RefCell::new(None),
    };
    load_platforms(&store, &reference.to_string(), platform)
}

impl RegistryStore {
    fn error(&self, message: impl Into<String>) -> LoadError {
        LoadError::new(self.reference.to_string(), message)
    }

    fn get(&self, url: &str, accept: &str) -> Result<ureq::http::Response<ureq::Body>, LoadError> {
        for attempt in 0..2 {
            let mut request = self.agent.get(url).header("Accept", accept);
            if let Some(token) = self.token.borrow().as_deref() {
                request = request.header("Authorization", format!("Bearer {token}"));
            }
            let response = request
                .call()
                .map_err(|e| self.error(format!("GET {url}: {e}")))?;
            let status = response.status().as_u16();
            if status == 401 && attempt == 0 {
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                self.fetch_anonymous_token(&challenge)?;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(self.error(format!(
                    "GET {url}: HTTP {status}{}",
                    if status == 404 {
                        " (no such image, tag or blob)"
                    } else {
                        ""
                    }
                )));
            }
            return Ok(response);
        }
        Err(self.error(format!(
            "GET {url}: unauthorized (only anonymous pulls are supported)"
        )))
    }

    /// Handles `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` anonymously.
    fn fetch_anonymous_token(&self, challenge: &str) -> Result<(), LoadError> {
        let Some(params) = challenge.strip_prefix("Bearer ") else {
            return Err(self.error(format!(
                "registry requires authentication ({challenge:?}); only anonymous pulls are supported"
            )));
        };
        let mut realm = None;
        let mut query = Vec::new();
        for part in split_challenge(params) {
            if let Some((k, v)) = part.split_once('=') {
                let v = v.trim_matches('"');
                match k.trim() {
                    "realm" => realm = Some(v.to_owned()),
                    key @ ("service" | "scope") => query.push(format!("{key}={}", encode(v))),
                    _ => {}
                }
            }
        }
        let realm = realm.ok_or_else(|| self.error(format!("bad auth challenge {challenge:?}")))?;
        let url = if query.is_empty() {
            realm
        } else {
            format!("{realm}?{}", query.join("&"))
        };
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| self.error(format!("GET {url}: {e}")))?;
        if response.status().as_u16() != 200 {
            return Err(self.error(format!(
                "anonymous token request {url} failed: HTTP {}",
                response.status()
            )));
        }
        let body = response
            .body_mut()
            .read_to_vec()
            .map_err(|e| self.error(format!("GET {url}: {e}")))?;
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| self.error(format!("token response is not JSON: {e}")))?;
        let token = json
            .get("token")
            .or_else(|| json.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| self.error("token response has no token"))?;
        *self.token.borrow_mut() = Some(token.to_owned());
        Ok(())
    }

    fn read_manifest(&self, reference: &str) -> Result<Vec<u8>, LoadError> {
        let url = format!("{}/manifests/{reference}", self.reference.base());
        let mut response = self.get(&url, MANIFEST_ACCEPT)?;
        response
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()
            .map_err(|e| self.error(format!("GET {url}: {e}")))
    }
}

/// Splits `a="x,y",b="z"` at commas outside quotes.
fn split_challenge(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl BlobStore for RegistryStore {
    fn top(&self) -> Result<Vec<u8>, LoadError> {
        match (&self.reference.digest, &self.reference.tag) {
            (Some(digest), _) => {
                let bytes = self.read_manifest(digest)?;
                use sha2::Digest as _;
                let actual: String = sha2::Sha256::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                if digest.strip_prefix("sha256:") != Some(actual.as_str()) {
                    return Err(self.error(format!(
                        "manifest does not match its digest (got sha256:{actual})"
                    )));
                }
                Ok(bytes)
            }
            (None, Some(tag)) => self.read_manifest(tag),
            (None, None) => self.read_manifest("latest"),
        }
    }

    fn open_manifest(&self, digest: &str) -> Result<Box<dyn Read + '_>, LoadError> {
        Ok(Box::new(std::io::Cursor::new(self.read_manifest(digest)?)))
    }

    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + '_>, LoadError> {
        let url = format!("{}/blobs/{digest}", self.reference.base());
        let response = self.get(&url, "*/*")?;
        Ok(Box::new(response.into_body().into_reader()))
    }

    fn describe(&self) -> String {
        self.reference.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = Reference::parse("127.0.0.1:5000/ext/hello:v1.0.0").expect("parses");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "ext/hello");
        assert_eq!(r.tag.as_deref(), Some("v1.0.0"));
        assert_eq!(r.scheme(), "http");
        assert_eq!(r.to_string(), "127.0.0.1:5000/ext/hello:v1.0.0");

        let digest = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("ghcr.io/siderolabs/gvisor@{digest}")).expect("parses");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(r.scheme(), "https");

        let r = Reference::parse("localhost:5000/x").expect("parses");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.scheme(), "http");
        assert_eq!(
            Reference::parse("localhost/x:1").map(|r| r.scheme()),
            Some("http")
        );
        assert_eq!(
            Reference::parse("registry.example.com:443/x:1").map(|r| r.scheme()),
            Some("https")
        );

        for not_a_ref in [
            "image",
            "dir/sub",
            "./image.tar",
            "ghcr.io/",
            "ghcr.io/Upper:tag",
            "ghcr.io/x:bad tag",
            "ghcr.io/x@sha256:short",
            "ghcr.io/x@md5:abc",
            "/abs/path",
        ] {
            assert_eq!(Reference::parse(not_a_ref), None, "{not_a_ref}");
        }
    }

    #[test]
    fn auth_challenge_is_split_outside_quotes() {
        let parts = split_challenge(
            r#"realm="https://a/token",service="a",scope="repository:x/y:pull,push""#,
        );
        assert_eq!(parts.len(), 3);
        assert_eq!(encode("repository:x/y:pull"), "repository%3Ax%2Fy%3Apull");
    }
}
