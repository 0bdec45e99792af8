//! Downloads that only hash: each URL is streamed through sha256 and sha512, a few at a time,
//! retried on errors that may go away (connection problems, cut-off bodies, HTTP 408/429/5xx), with
//! a progress line on a terminal.

use std::io::{IsTerminal, Read, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256, Sha512};

use super::proxy::Proxies;

/// How downloads run.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Downloads at the same time.
    pub jobs: usize,
    /// Tries per URL, the first included.
    pub attempts: u32,
    /// Wait before the second try; doubled before each further one.
    pub retry_delay: Duration,
    /// Show a progress line on stderr.
    pub progress: bool,
    /// The proxies downloads go through (from `http_proxy` and the like).
    pub proxies: Proxies,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            jobs: 4,
            attempts: 3,
            retry_delay: Duration::from_millis(500),
            progress: std::io::stderr().is_terminal(),
            proxies: Proxies::from_env(),
        }
    }
}

/// What a download produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// Lower-case hex sha512 of the file.
    pub sha512: String,
    /// Its size in bytes.
    pub size: u64,
}

enum Failure {
    /// Worth another try.
    Transient(String),
    Final(String),
}

/// Downloads every URL, returning one result per URL in the same order. An error names what went
/// wrong (`HTTP 404 Not Found`, `interrupted after 10 of 20 bytes`, …) without the URL.
pub fn fetch_all(urls: &[String], options: &FetchOptions) -> Vec<Result<Digests, String>> {
    let progress = Progress::new(urls.len(), options.progress);
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Digests, String>>>> =
        urls.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.clamp(1, urls.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(url) = urls.get(i) else { break };
                let result = fetch_one(url, options, &progress);
                progress.finished();
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    progress.clear();
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err("the download did not run".into()))
        })
        .collect()
}

fn agent(proxy: Option<&str>) -> Result<ureq::Agent, String> {
    let proxy = match proxy {
        Some(p) => Some(
            ureq::Proxy::new(p)
                .map_err(|e| format!("the proxy {p:?} from the environment: {e}"))?,
        ),
        None => None,
    };
    // ureq is built without its gzip feature, so bodies arrive exactly as served: the bytes that
    // BuildKit downloads and checks.
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        // Proxies come from our own reading of the environment (per scheme, with no_proxy).
        .proxy(proxy)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .build()
        .into())
}

fn fetch_one(url: &str, options: &FetchOptions, progress: &Progress) -> Result<Digests, String> {
    let agent = agent(options.proxies.for_url(url))?;
    let mut delay = options.retry_delay;
    let mut tries = 0;
    loop {
        tries += 1;
        match try_once(&agent, url, progress) {
            Ok(d) => return Ok(d),
            Err(Failure::Final(e)) => return Err(e),
            Err(Failure::Transient(e)) if tries >= options.attempts.max(1) => {
                let times = if tries == 1 { "once" } else { "times" };
                return Err(if tries == 1 {
                    e
                } else {
                    format!("{e} (tried {tries} {times})")
                });
            }
            Err(Failure::Transient(_)) => {
                std::thread::sleep(delay);
                delay *= 2;
            }
        }
    }
}

/// Long by design: one download: status, size, both digests and progress read from one stream.
fn try_once(agent: &ureq::Agent, url: &str, progress: &Progress) -> Result<Digests, Failure> {
    let mut response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::BadUri(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::TooManyRedirects
        | ureq::Error::RedirectFailed
        | ureq::Error::Tls(_) => Failure::Final(e.to_string()),
        e => Failure::Transient(e.to_string()),
    })?;
    let status = response.status();
    if !status.is_success() {
        let code = status.as_u16();
        let message = format!(
            "HTTP {code}{}",
            status
                .canonical_reason()
                .map(|r| format!(" {r}"))
                .unwrap_or_default()
        );
        return Err(if matches!(code, 408 | 425 | 429) || code >= 500 {
            Failure::Transient(message)
        } else {
            Failure::Final(message)
        });
    }
    let expected: Option<u64> = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let mut reader = response.body_mut().as_reader();
    let (mut sha256, mut sha512) = (Sha256::new(), Sha512::new());
    let mut size: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let interrupted = |size: u64, why: &str| {
        let of = expected.map(|e| format!(" of {e}")).unwrap_or_default();
        Failure::Transient(format!(
            "download interrupted after {size}{of} bytes ({why})"
        ))
    };
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(interrupted(size, &e.to_string())),
        };
        sha256.update(&buf[..n]);
        sha512.update(&buf[..n]);
        size += n as u64;
        progress.add(n as u64);
    }
    if expected.is_some_and(|e| e != size) {
        return Err(interrupted(size, "the connection closed early"));
    }
    Ok(Digests {
        sha256: hex(&sha256.finalize()),
        sha512: hex(&sha512.finalize()),
        size,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// One status line on stderr, redrawn at most ten times a second; nothing when disabled.
struct Progress {
    enabled: bool,
    total: usize,
    done: AtomicUsize,
    bytes: AtomicU64,
    drawn: Mutex<Option<Instant>>,
}

impl Progress {
    fn new(total: usize, enabled: bool) -> Progress {
        Progress {
            enabled,
            total,
            done: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            drawn: Mutex::new(None),
        }
    }

    fn add(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.draw(false);
    }

    fn finished(&self) {
        self.done.fetch_add(1, Ordering::SeqCst);
        self.draw(true);
    }

    fn draw(&self, force: bool) {
        if !self.enabled {
            return;
        }
        let Ok(mut drawn) = self.drawn.lock() else {
            return;
        };
        if !force && drawn.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) {
            return;
        }
        *drawn = Some(Instant::now());
        let mib = self.bytes.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0);
        let done = self.done.load(Ordering::SeqCst);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[Kdownloading: {done}/{} done, {mib:.1} MiB",
            self.total
        );
        let _ = err.flush();
    }

    fn clear(&self) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}
