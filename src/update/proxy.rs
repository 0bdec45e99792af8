//! Proxies from the environment, read the way curl reads them: `http_proxy` for http URLs,
//! `https_proxy` for https URLs, `all_proxy` for both, and `no_proxy` for hosts to reach directly.
//! Each name works in lower or upper case (lower case wins when both are set).

/// The proxy settings of one process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    http: Option<String>,
    https: Option<String>,
    /// Host suffixes (`example.com` also matches `a.example.com`), or `*` for every host.
    no_proxy: Vec<String>,
}

impl Proxies {
    /// Reads the process environment.
    pub fn from_env() -> Proxies {
        Proxies::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Proxies {
        let get = |name: &str| {
            [name.to_ascii_lowercase(), name.to_ascii_uppercase()]
                .iter()
                .find_map(|n| lookup(n).filter(|v| !v.trim().is_empty()))
                .map(|v| v.trim().to_string())
        };
        let all = get("all_proxy");
        Proxies {
            http: get("http_proxy").or_else(|| all.clone()),
            https: get("https_proxy").or(all),
            no_proxy: get("no_proxy")
                .map(|v| {
                    v.split(',')
                        .map(|e| e.trim().trim_start_matches("*.").trim_start_matches('.'))
                        .filter(|e| !e.is_empty())
                        .map(|e| strip_port(e).to_ascii_lowercase())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The proxy to use for `url`, if any.
    pub fn for_url(&self, url: &str) -> Option<&str> {
        let (scheme, rest) = url.split_once("://")?;
        let proxy = match scheme.to_ascii_lowercase().as_str() {
            "http" => self.http.as_deref(),
            "https" => self.https.as_deref(),
            _ => None,
        }?;
        let host = host_of(rest).to_ascii_lowercase();
        let bypass = self.no_proxy.iter().any(|entry| {
            entry == "*"
                || host == *entry
                || host
                    .strip_suffix(entry.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        });
        (!bypass).then_some(proxy)
    }
}

/// The host of `authority/path…` without user info, port or IPv6 brackets.
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    strip_port(host_port)
}

fn strip_port(host_port: &str) -> &str {
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    if host_port.matches(':').count() > 1 {
        return host_port; // a bare IPv6 address
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => host_port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn proxies(vars: &[(&str, &str)]) -> Proxies {
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxies::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn each_scheme_has_its_proxy_in_either_case() {
        let p = proxies(&[
            ("HTTP_PROXY", "http://plain:3128"),
            ("https_proxy", "http://secure:3128"),
        ]);
        assert_eq!(p.for_url("http://a.org/x"), Some("http://plain:3128"));
        assert_eq!(p.for_url("https://a.org/x"), Some("http://secure:3128"));
        let p = proxies(&[
            ("http_proxy", "http://lower"),
            ("HTTP_PROXY", "http://upper"),
        ]);
        assert_eq!(p.for_url("http://a.org/"), Some("http://lower"));
        assert_eq!(proxies(&[]).for_url("https://a.org/"), None);
    }

    #[test]
    fn all_proxy_is_the_fallback() {
        let p = proxies(&[("ALL_PROXY", "http://all"), ("https_proxy", "http://s")]);
        assert_eq!(p.for_url("http://a.org/"), Some("http://all"));
        assert_eq!(p.for_url("https://a.org/"), Some("http://s"));
    }

    #[test]
    fn no_proxy_matches_hosts_and_their_subdomains() {
        let p = proxies(&[
            ("https_proxy", "http://p"),
            (
                "NO_PROXY",
                "localhost, .internal.example,10.0.0.1:8080,*.corp",
            ),
        ]);
        assert_eq!(p.for_url("https://localhost:8443/x"), None);
        assert_eq!(p.for_url("https://a.internal.example/x"), None);
        assert_eq!(p.for_url("https://internal.example/x"), None);
        assert_eq!(p.for_url("https://user:pw@10.0.0.1/x"), None);
        assert_eq!(p.for_url("https://git.corp/x"), None);
        assert_eq!(p.for_url("https://notinternal.example/x"), Some("http://p"));
        assert_eq!(p.for_url("https://example.org/x"), Some("http://p"));
        let all = proxies(&[("https_proxy", "http://p"), ("no_proxy", "*")]);
        assert_eq!(all.for_url("https://example.org/"), None);
        let v6 = proxies(&[("http_proxy", "http://p"), ("no_proxy", "::1")]);
        assert_eq!(v6.for_url("http://[::1]:8080/x"), None);
    }
}
