//! Shared harness for kiln's end-to-end tests, included by integration tests as `mod common;`.
//!
//! The tests drive a real `docker buildx build` against the daemon that `hack/env-up.sh` brings up
//! (Docker with the containerd image store, arm64 emulation, a registry on 127.0.0.1:5000, and the
//! `kiln-test/busybox` / `kiln-test/alpine-like` base images). `hack/test.sh` sets `KILN_E2E=1`: then a
//! missing daemon is a test failure; without it, e2e tests skip with a hint so that a plain
//! `cargo test` on a machine without Docker still passes.
//!
//! Everything here uses std, `serde_json` and `tempfile`, plus the `docker` and `tar` commands: the
//! registry is spoken to over plain HTTP/1.1 on a `TcpStream`, OCI archives are unpacked by `tar`.

// Each test binary uses a different subset of the harness.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The kiln fixture tree of the frontend tests and its sources.
pub mod fixture;
/// Plain progress output parsed into vertices.
pub mod progress;
/// The `kiln update` fixture tree, its versioned sources and a runner for the kiln binary.
pub mod update;

/// Local tag of the multi-arch busybox base image built by `hack/env-up.sh`.
pub const BUSYBOX_IMAGE: &str = "kiln-test/busybox:latest";
/// A second base image with the same tools and its own `/etc/os-release` (`ID=alpine-like`).
pub const ALPINE_LIKE_IMAGE: &str = "kiln-test/alpine-like:latest";
/// Where `hack/env-up.sh` runs the registry, unless `KILN_REGISTRY` says otherwise.
pub const DEFAULT_REGISTRY: &str = "127.0.0.1:5000";

const SETUP_HINT: &str = "set KILN_E2E=1 / run hack/test.sh (as root) to run end-to-end tests";

// ---------------------------------------------------------------------------------------------------
// Environment checks
// ---------------------------------------------------------------------------------------------------

/// True when end-to-end tests must run (`KILN_E2E` set to anything but empty or `0`).
pub fn e2e_required() -> bool {
    std::env::var("KILN_E2E").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The frontend image under test, passed as `BUILDKIT_SYNTAX` (`KILN_IMAGE`, default `kiln:dev`).
pub fn kiln_image() -> String {
    std::env::var("KILN_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "kiln:dev".to_string())
}

/// What an e2e test needs to know about the environment it found.
#[derive(Debug, Clone)]
pub struct E2eEnv {
    /// The kiln frontend image (see [`kiln_image`]).
    pub kiln_image: String,
    /// The local registry.
    pub registry: Registry,
}

/// Decides what to do when part of the environment is missing: skip (returns `None`) unless
/// `KILN_E2E` is set, in which case the test fails with `problem` and how to fix it.
fn missing(problem: &str) -> Option<E2eEnv> {
    if e2e_required() {
        panic!("KILN_E2E is set but {problem}; run hack/env-up.sh as root (hack/test.sh does)");
    }
    eprintln!("skipping e2e: {problem}; {SETUP_HINT}");
    None
}

fn docker_status() -> &'static Result<(), String> {
    static STATUS: OnceLock<Result<(), String>> = OnceLock::new();
    STATUS.get_or_init(|| {
        let info = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output();
        match info {
            Err(e) => return Err(format!("the docker command cannot run ({e})")),
            Ok(out) if !out.status.success() => {
                let err = String::from_utf8_lossy(&out.stderr);
                return Err(format!(
                    "the Docker daemon is not reachable ({})",
                    err.trim()
                ));
            }
            Ok(_) => {}
        }
        match Command::new("docker").args(["buildx", "version"]).output() {
            Ok(out) if out.status.success() => Ok(()),
            _ => Err("docker buildx is not installed".to_string()),
        }
    })
}

/// Checks that Docker with buildx is reachable. `None` means "skip this test" (a line saying why is
/// printed); with `KILN_E2E=1` it panics instead, so a broken environment cannot pass as skipped.
pub fn require_docker() -> Option<E2eEnv> {
    match docker_status() {
        Ok(()) => Some(E2eEnv {
            kiln_image: kiln_image(),
            registry: Registry::local(),
        }),
        Err(problem) => missing(problem),
    }
}

/// [`require_docker`], plus the local registry answering.
pub fn require_registry() -> Option<E2eEnv> {
    let env = require_docker()?;
    if let Err(e) = env.registry.ping() {
        return missing(&format!(
            "the registry at {} does not answer ({e})",
            env.registry.addr()
        ));
    }
    Some(env)
}

/// [`require_registry`], plus the kiln frontend image present in the local image store.
pub fn require_kiln() -> Option<E2eEnv> {
    let env = require_registry()?;
    if !image_exists(&env.kiln_image) {
        return missing(&format!(
            "the frontend image {} is not in the local image store (hack/frontend-image.sh builds it)",
            env.kiln_image
        ));
    }
    Some(env)
}

/// True when `image` is in the local Docker image store.
pub fn image_exists(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A name no other test (or earlier run) uses: `<prefix>-<pid>-<counter>-<time>`, lowercase, valid as
/// a registry repository component, an image tag and a file name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{n}-{:x}",
        prefix.to_ascii_lowercase(),
        std::process::id(),
        nanos & 0xffff_ffff
    )
}

// ---------------------------------------------------------------------------------------------------
// docker buildx build
// ---------------------------------------------------------------------------------------------------

/// Builder for one `docker buildx build` invocation. Always uses `--progress=plain`, and by default
/// `--provenance=false` so that exported indexes hold only the platform manifests (see
/// [`Buildx::attestations`]).
#[derive(Debug, Clone)]
pub struct Buildx {
    context: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    attestations: bool,
}

/// What a finished command reported.
#[derive(Debug)]
pub struct CommandOutput {
    /// Exit status of the command.
    pub status: ExitStatus,
    /// stdout and stderr interleaved as the command wrote them.
    pub output: String,
    /// The command line, for failure messages.
    pub command: String,
}

impl CommandOutput {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with the whole output unless the command succeeded.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success(),
            "`{}` failed ({}):\n{}",
            self.command,
            self.status,
            self.output
        );
        self
    }

    /// Panics with the whole output unless the command failed.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(
            !self.success(),
            "`{}` succeeded but should have failed:\n{}",
            self.command,
            self.output
        );
        self
    }

    /// Panics unless the output contains `needle`.
    #[track_caller]
    pub fn assert_contains(&self, needle: &str) -> &Self {
        assert!(
            self.output.contains(needle),
            "output of `{}` lacks {needle:?}:\n{}",
            self.command,
            self.output
        );
        self
    }
}

impl Buildx {
    /// A build of the directory `context`.
    pub fn new(context: impl AsRef<Path>) -> Self {
        Buildx {
            context: context.as_ref().to_path_buf(),
            args: Vec::new(),
            envs: Vec::new(),
            attestations: false,
        }
    }

    fn flag(mut self, flag: &str, value: impl AsRef<OsStr>) -> Self {
        self.args.push(flag.into());
        self.args.push(value.as_ref().to_os_string());
        self
    }

    /// `-f PATH`: the build definition (Dockerfile or Pkgfile).
    pub fn file(self, path: impl AsRef<Path>) -> Self {
        self.flag("-f", path.as_ref())
    }

    /// `--target TARGET`.
    pub fn target(self, target: &str) -> Self {
        self.flag("--target", target)
    }

    /// `--platform LIST`, e.g. `linux/amd64,linux/arm64`.
    pub fn platform(self, platforms: &str) -> Self {
        self.flag("--platform", platforms)
    }

    /// `--build-arg KEY=VALUE`.
    pub fn build_arg(self, key: &str, value: &str) -> Self {
        self.flag("--build-arg", format!("{key}={value}"))
    }

    /// `--build-arg BUILDKIT_SYNTAX=IMAGE`: run the build through that frontend image.
    pub fn syntax(self, image: &str) -> Self {
        self.build_arg("BUILDKIT_SYNTAX", image)
    }

    /// Runs the build through the kiln frontend under test ([`kiln_image`]).
    pub fn kiln(self) -> Self {
        self.syntax(&kiln_image())
    }

    /// `--output SPEC`, e.g. `type=local,dest=DIR`.
    pub fn output(self, spec: &str) -> Self {
        self.flag("--output", spec)
    }

    /// `--output type=oci,dest=PATH`: an OCI layout tarball, readable with [`OciArchive::open`].
    pub fn output_oci(self, dest: impl AsRef<Path>) -> Self {
        let spec = format!("type=oci,dest={}", dest.as_ref().display());
        self.output(&spec)
    }

    /// `--output type=local,dest=DIR`.
    pub fn output_local(self, dest: impl AsRef<Path>) -> Self {
        let spec = format!("type=local,dest={}", dest.as_ref().display());
        self.output(&spec)
    }

    /// `--push`.
    pub fn push(mut self) -> Self {
        self.args.push("--push".into());
        self
    }

    /// `--load`.
    pub fn load(mut self) -> Self {
        self.args.push("--load".into());
        self
    }

    /// `-t TAG`.
    pub fn tag(self, tag: &str) -> Self {
        self.flag("-t", tag)
    }

    /// `--no-cache`.
    pub fn no_cache(mut self) -> Self {
        self.args.push("--no-cache".into());
        self
    }

    /// `--cache-to SPEC`.
    pub fn cache_to(self, spec: &str) -> Self {
        self.flag("--cache-to", spec)
    }

    /// `--cache-from SPEC`.
    pub fn cache_from(self, spec: &str) -> Self {
        self.flag("--cache-from", spec)
    }

    /// `--label KEY=VALUE`.
    pub fn label(self, key: &str, value: &str) -> Self {
        self.flag("--label", format!("{key}={value}"))
    }

    /// `--build-context NAME=VALUE`.
    pub fn build_context(self, name: &str, value: &str) -> Self {
        self.flag("--build-context", format!("{name}={value}"))
    }

    /// Keeps buildx's default provenance attestation (off by default here).
    pub fn attestations(mut self, on: bool) -> Self {
        self.attestations = on;
        self
    }

    /// Any other argument, placed before the context.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// An environment variable for the buildx process, e.g. `BUILDX_EXPERIMENTAL=1`.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// The full argument list after `docker`.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> =
            vec!["buildx".into(), "build".into(), "--progress=plain".into()];
        if !self.attestations {
            args.push("--provenance=false".into());
        }
        args.extend(self.args.iter().cloned());
        args.push(self.context.clone().into_os_string());
        args
    }

    /// Runs the build and waits for it.
    pub fn run(&self) -> CommandOutput {
        let mut command = Command::new("docker");
        command.args(self.args());
        for (k, v) in &self.envs {
            command.env(k, v);
        }
        run_combined(command)
    }
}

/// Runs `command` with stdout and stderr going to one pipe, so the output keeps the order in which
/// the program wrote it (buildx writes progress to stderr and results such as targets to stdout).
pub fn run_combined(command: Command) -> CommandOutput {
    let program = command.get_program().to_os_string();
    let args: Vec<OsString> = command.get_args().map(|a| a.to_os_string()).collect();
    let shown = std::iter::once(&program)
        .chain(args.iter())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    // A bound on every command, so a hung build fails its test instead of eating CI's time.
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg("exec timeout -k 30 \"${KILN_E2E_COMMAND_TIMEOUT:-900}\" \"$@\" 2>&1")
        .arg("sh")
        .arg(&program)
        .args(&args);
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => shell.env(k, v),
            None => shell.env_remove(k),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        shell.current_dir(dir);
    }
    let out = shell
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{shown}`: {e}"));
    CommandOutput {
        status: out.status,
        output: String::from_utf8_lossy(&out.stdout).into_owned(),
        command: shown,
    }
}

/// Runs `docker ARGS...` and returns its combined output.
pub fn docker(args: &[&str]) -> CommandOutput {
    let mut command = Command::new("docker");
    command.args(args);
    run_combined(command)
}

// ---------------------------------------------------------------------------------------------------
// HTTP file server for sources
// ---------------------------------------------------------------------------------------------------

/// A small threaded HTTP/1.1 server on 127.0.0.1 that serves files from a directory (GET and HEAD),
/// counting requests per path so tests can tell whether BuildKit downloaded a source again. BuildKit
/// downloads HTTP sources from the daemon's network namespace, which is the host's, so loopback works.
/// It can also cut chosen responses short, and act as a CONNECT proxy to itself. Stops when dropped.
pub struct FileServer {
    addr: std::net::SocketAddr,
    root: PathBuf,
    state: Arc<ServerState>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What the server's connections share.
#[derive(Default)]
struct ServerState {
    hits: Mutex<BTreeMap<String, u64>>,
    /// Paths whose body stops halfway (the full Content-Length is announced).
    cut_short: Mutex<Vec<String>>,
    /// Targets of CONNECT requests, in arrival order.
    connects: Mutex<Vec<String>>,
}

impl FileServer {
    /// Serves `root` on a random free port.
    pub fn serve(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref().to_path_buf();
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for the file server");
        let addr = listener.local_addr().expect("file server address");
        let state = Arc::new(ServerState::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (root, state, stop) = (root.clone(), state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (root, state) = (root.clone(), state.clone());
                    std::thread::spawn(move || serve_connection(stream, &root, &state));
                }
            })
        };
        FileServer {
            addr,
            root,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// From now on, GET `path` announces the file's full length but sends half and closes.
    pub fn cut_short(&self, path: &str) {
        let key = format!("/{}", path.trim_start_matches('/'));
        self.state.cut_short.lock().unwrap().push(key);
    }

    /// The `host:port` of every CONNECT request so far (the server tunnels them to itself).
    pub fn connects(&self) -> Vec<String> {
        self.state.connects.lock().unwrap().clone()
    }

    /// `http://127.0.0.1:PORT/<path>` for a file under the served directory.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// The directory being served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many requests (any method) asked for `path` so far.
    pub fn hits(&self, path: &str) -> u64 {
        let key = format!("/{}", path.trim_start_matches('/'));
        self.state
            .hits
            .lock()
            .map(|h| h.get(&key).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_connection(stream: TcpStream, root: &Path, state: &ServerState) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let mut keep_alive = request_line.contains("HTTP/1.1");
        loop {
            let mut header = String::new();
            match reader.read_line(&mut header) {
                Ok(0) | Err(_) => return,
                Ok(_) if header.trim().is_empty() => break,
                Ok(_) => {
                    let lower = header.to_ascii_lowercase();
                    if lower.starts_with("connection:") && lower.contains("close") {
                        keep_alive = false;
                    }
                }
            }
        }
        if method == "CONNECT" {
            // A proxy tunnel whose far end is this server: the next request arrives on this
            // connection, whatever host it was meant for.
            state.connects.lock().unwrap().push(target.to_string());
            if writer
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .is_err()
            {
                return;
            }
            continue;
        }
        let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
        let cut_short = state.cut_short.lock().unwrap().contains(&path);
        if let Ok(mut h) = state.hits.lock() {
            *h.entry(path.clone()).or_insert(0) += 1;
        }
        // Only plain relative paths: no "..", so nothing outside root is served.
        let relative = path.trim_start_matches('/');
        let file = if relative.split('/').any(|c| c == ".." || c.is_empty()) {
            None
        } else {
            std::fs::read(root.join(relative)).ok()
        };
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let head_only = method == "HEAD";
        let response = match (method, file) {
            ("GET" | "HEAD", Some(body)) => {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                if !head_only {
                    let sent = if cut_short {
                        body.len() / 2
                    } else {
                        body.len()
                    };
                    r.extend_from_slice(&body[..sent]);
                }
                r
            }
            ("GET" | "HEAD", None) => format!(
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: {connection}\r\n\r\n"
            )
            .into_bytes(),
            _ => {
                b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec()
            }
        };
        if writer.write_all(&response).is_err()
            || cut_short
            || !keep_alive
            || !(method == "GET" || method == "HEAD")
        {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Minimal HTTP client and registry helpers
// ---------------------------------------------------------------------------------------------------

/// A response from [`http_request`].
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Headers with lowercase names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request to `addr` (`host:port`) over a fresh connection (`Connection: close`).
pub fn http_request(
    method: &str,
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_http_response(&raw, method == "HEAD")
}

fn parse_http_response(raw: &[u8], head_only: bool) -> std::io::Result<HttpResponse> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of HTTP headers"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad HTTP status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        let mut body = Vec::new();
        let mut pos = 0;
        loop {
            let line_end = rest[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| bad("truncated chunk size"))?;
            let size_text = String::from_utf8_lossy(&rest[pos..pos + line_end]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            pos += line_end + 2;
            if size == 0 {
                break;
            }
            let chunk = rest
                .get(pos..pos + size)
                .ok_or_else(|| bad("truncated chunk"))?;
            body.extend_from_slice(chunk);
            pos += size + 2;
        }
        body
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// Every manifest media type the registry may hold for an image, single- or multi-platform.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A manifest or index fetched from a registry.
#[derive(Debug, Clone)]
pub struct RemoteManifest {
    /// `Docker-Content-Digest` of the manifest.
    pub digest: String,
    /// Its `Content-Type`.
    pub media_type: String,
    /// The parsed JSON.
    pub json: Value,
}

/// The local registry (`KILN_REGISTRY`, default 127.0.0.1:5000), spoken to over plain HTTP.
#[derive(Debug, Clone)]
pub struct Registry {
    addr: String,
}

impl Registry {
    /// The registry `hack/env-up.sh` runs.
    pub fn local() -> Self {
        let addr = std::env::var("KILN_REGISTRY")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_REGISTRY.to_string());
        Registry { addr }
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `host:port/repo:tag`, for `-t` with `--push`.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.addr)
    }

    fn get(&self, method: &str, path: &str, accept: Option<&str>) -> std::io::Result<HttpResponse> {
        let headers: Vec<(&str, &str)> = accept.map(|a| vec![("Accept", a)]).unwrap_or_default();
        http_request(method, &self.addr, path, &headers)
    }

    /// Ok when `GET /v2/` answers 200.
    pub fn ping(&self) -> Result<(), String> {
        match self.get("GET", "/v2/", None) {
            Ok(r) if r.status == 200 => Ok(()),
            Ok(r) => Err(format!("GET /v2/ answered {}", r.status)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The tags of `repo`, sorted; empty when the repository does not exist.
    pub fn tags(&self, repo: &str) -> Vec<String> {
        let response = self
            .get("GET", &format!("/v2/{repo}/tags/list"), None)
            .unwrap_or_else(|e| panic!("registry {}: tags of {repo}: {e}", self.addr));
        if response.status == 404 {
            return Vec::new();
        }
        assert_eq!(
            response.status,
            200,
            "registry tags/list of {repo}: {}",
            String::from_utf8_lossy(&response.body)
        );
        let json: Value = serde_json::from_slice(&response.body).expect("tags/list JSON");
        let mut tags: Vec<String> = json["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        tags
    }

    /// The manifest or index `repo:reference` (tag or digest), `None` when absent.
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<RemoteManifest> {
        let response = self
            .get(
                "GET",
                &format!("/v2/{repo}/manifests/{reference}"),
                Some(MANIFEST_ACCEPT),
            )
            .unwrap_or_else(|e| panic!("registry {}: manifest {repo}:{reference}: {e}", self.addr));
        if response.status == 404 {
            return None;
        }
        assert_eq!(
            response.status,
            200,
            "registry manifest {repo}:{reference}: {}",
            String::from_utf8_lossy(&response.body)
        );
        let json = serde_json::from_slice(&response.body).expect("manifest JSON");
        Some(RemoteManifest {
            digest: response
                .header("docker-content-digest")
                .unwrap_or_default()
                .to_string(),
            media_type: response
                .header("content-type")
                .unwrap_or_default()
                .to_string(),
            json,
        })
    }

    /// A blob's bytes.
    pub fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let response = self
            .get("GET", &format!("/v2/{repo}/blobs/{digest}"), None)
            .unwrap_or_else(|e| panic!("registry {}: blob {digest}: {e}", self.addr));
        assert_eq!(response.status, 200, "registry blob {repo}@{digest}");
        response.body
    }

    /// The platform manifests of the index `repo:reference` (attestations left out), sorted by platform.
    pub fn platform_manifests(&self, repo: &str, reference: &str) -> Vec<PlatformManifest> {
        let index = self
            .manifest(repo, reference)
            .unwrap_or_else(|| panic!("{repo}:{reference} is not in the registry {}", self.addr));
        let mut found = Vec::new();
        for entry in index.json["manifests"].as_array().into_iter().flatten() {
            let Some(platform) = platform_of(entry) else {
                continue;
            };
            let digest = entry["digest"].as_str().unwrap_or_default().to_string();
            let manifest = self
                .manifest(repo, &digest)
                .expect("manifest listed in the index")
                .json;
            found.push(PlatformManifest {
                platform,
                digest,
                manifest,
            });
        }
        found.sort_by(|a, b| a.platform.cmp(&b.platform));
        found
    }

    /// Deletes `repo:reference` (a tag is resolved to its digest first). Missing is fine.
    pub fn delete(&self, repo: &str, reference: &str) {
        let Some(manifest) = self.manifest(repo, reference) else {
            return;
        };
        let response = self
            .get(
                "DELETE",
                &format!("/v2/{repo}/manifests/{}", manifest.digest),
                None,
            )
            .unwrap_or_else(|e| panic!("registry {}: delete {repo}:{reference}: {e}", self.addr));
        assert!(
            response.status == 202 || response.status == 404,
            "registry delete {repo}:{reference} answered {}",
            response.status
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// OCI image layouts
// ---------------------------------------------------------------------------------------------------

/// One platform's image manifest within an index.
#[derive(Debug, Clone)]
pub struct PlatformManifest {
    /// `os/architecture[/variant]`, e.g. `linux/arm64`.
    pub platform: String,
    /// The manifest's digest.
    pub digest: String,
    /// The parsed manifest.
    pub manifest: Value,
}

/// `os/arch[/variant]` of an index entry; `None` for entries without a real platform (buildx puts
/// attestation manifests in the index as `unknown/unknown`).
fn platform_of(entry: &Value) -> Option<String> {
    let p = &entry["platform"];
    let (os, arch) = (p["os"].as_str()?, p["architecture"].as_str()?);
    if os == "unknown" || arch == "unknown" {
        return None;
    }
    Some(match p["variant"].as_str() {
        Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
        _ => format!("{os}/{arch}"),
    })
}

fn is_index(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.index.v1+json"
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// An OCI image layout, as written by `--output type=oci,dest=FILE` (unpacked from the tarball into a
/// temporary directory) or already a directory.
pub struct OciArchive {
    root: PathBuf,
    _unpacked: Option<tempfile::TempDir>,
}

impl OciArchive {
    /// Unpacks the OCI layout tarball at `tar_path`.
    pub fn open(tar_path: impl AsRef<Path>) -> Self {
        let tar_path = tar_path.as_ref();
        let dir = tempfile::tempdir().expect("temporary directory for the OCI layout");
        untar(tar_path, dir.path());
        OciArchive {
            root: dir.path().to_path_buf(),
            _unpacked: Some(dir),
        }
    }

    /// Reads an unpacked OCI layout directory.
    pub fn from_dir(dir: impl AsRef<Path>) -> Self {
        OciArchive {
            root: dir.as_ref().to_path_buf(),
            _unpacked: None,
        }
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Value {
        let path = self.root.join("index.json");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The bytes of blob `digest` (`sha256:…`).
    pub fn blob(&self, digest: &str) -> Vec<u8> {
        let path = self.blob_path(digest);
        std::fs::read(&path).unwrap_or_else(|e| panic!("OCI blob {}: {e}", path.display()))
    }

    /// A JSON blob, parsed.
    pub fn json_blob(&self, digest: &str) -> Value {
        serde_json::from_slice(&self.blob(digest))
            .unwrap_or_else(|e| panic!("OCI blob {digest} is not JSON: {e}"))
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        let (algorithm, hex) = digest
            .split_once(':')
            .unwrap_or_else(|| panic!("bad digest {digest:?}"));
        self.root.join("blobs").join(algorithm).join(hex)
    }

    /// Every platform image manifest reachable from `index.json` through nested indexes, attestation
    /// manifests left out, sorted by platform. A single-platform export lists its one manifest with
    /// the platform read from its config.
    pub fn platform_manifests(&self) -> Vec<PlatformManifest> {
        let mut found = Vec::new();
        let index = self.index();
        for entry in index["manifests"].as_array().into_iter().flatten() {
            self.collect_manifests(entry, &mut found);
        }
        found.sort_by(|a, b| a.platform.cmp(&b.platform));
        found
    }

    fn collect_manifests(&self, entry: &Value, found: &mut Vec<PlatformManifest>) {
        let digest = entry["digest"].as_str().unwrap_or_default();
        let media_type = entry["mediaType"].as_str().unwrap_or_default();
        if is_index(media_type) {
            let nested = self.json_blob(digest);
            for child in nested["manifests"].as_array().into_iter().flatten() {
                self.collect_manifests(child, found);
            }
            return;
        }
        let manifest = self.json_blob(digest);
        let platform = if entry.get("platform").is_some() {
            platform_of(entry)
        } else {
            // No platform on the entry (single-platform export): take it from the image config,
            // unless this is an attestation (its config is not an image config).
            let config = self.json_blob(manifest["config"]["digest"].as_str().unwrap_or_default());
            platform_of(&serde_json::json!({ "platform": config }))
        };
        if let Some(platform) = platform {
            found.push(PlatformManifest {
                platform,
                digest: digest.to_string(),
                manifest,
            });
        }
    }

    /// The manifest for `platform` (e.g. `linux/arm64`); panics listing the available ones if absent.
    pub fn manifest_for(&self, platform: &str) -> PlatformManifest {
        let all = self.platform_manifests();
        let names: Vec<String> = all.iter().map(|m| m.platform.clone()).collect();
        all.into_iter()
            .find(|m| m.platform == platform || m.platform.starts_with(&format!("{platform}/")))
            .unwrap_or_else(|| panic!("no {platform} manifest in the OCI layout; it has {names:?}"))
    }

    /// The image config of `platform`.
    pub fn config(&self, platform: &str) -> Value {
        let manifest = self.manifest_for(platform);
        self.json_blob(
            manifest.manifest["config"]["digest"]
                .as_str()
                .unwrap_or_default(),
        )
    }

    /// Extracts the layers of `platform`'s image, in order, into `dest`, applying whiteouts.
    pub fn extract_platform(&self, platform: &str, dest: impl AsRef<Path>) {
        let dest = dest.as_ref();
        std::fs::create_dir_all(dest).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
        let manifest = self.manifest_for(platform);
        for layer in manifest.manifest["layers"].as_array().into_iter().flatten() {
            let digest = layer["digest"].as_str().unwrap_or_default();
            apply_layer(&self.blob_path(digest), dest);
        }
    }
}

/// Unpacks the tar (compressed or not; `tar` detects gzip) at `archive` into `dest`.
fn untar(archive: &Path, dest: &Path) {
    let out = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(dest)
        .arg("--no-same-owner")
        .output()
        .unwrap_or_else(|e| panic!("cannot run tar: {e}"));
    assert!(
        out.status.success(),
        "tar -xf {} failed: {}",
        archive.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Applies one image layer onto `dest`: whiteouts (`.wh.NAME`, `.wh..wh..opq`) first remove what lower
/// layers put there, then the layer is unpacked and its whiteout markers removed.
fn apply_layer(layer: &Path, dest: &Path) {
    let listing = Command::new("tar")
        .arg("-tf")
        .arg(layer)
        .output()
        .expect("run tar -tf");
    assert!(
        listing.status.success(),
        "tar -tf {}: {}",
        layer.display(),
        String::from_utf8_lossy(&listing.stderr)
    );
    let mut markers = Vec::new();
    for name in String::from_utf8_lossy(&listing.stdout).lines() {
        let name = name.trim_start_matches("./");
        let (parent, file) = match name.rsplit_once('/') {
            Some((p, f)) => (dest.join(p), f),
            None => (dest.to_path_buf(), name),
        };
        if file == ".wh..wh..opq" {
            if let Ok(entries) = std::fs::read_dir(&parent) {
                for entry in entries.flatten() {
                    remove_path(&entry.path());
                }
            }
            markers.push(parent.join(file));
        } else if let Some(hidden) = file.strip_prefix(".wh.") {
            remove_path(&parent.join(hidden));
            markers.push(parent.join(file));
        }
    }
    untar(layer, dest);
    for marker in markers {
        remove_path(&marker);
    }
}

fn remove_path(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let _ = std::fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// The machine an ELF file is built for (`x86_64`, `aarch64`, …), from its header; `None` if the bytes
/// are not ELF. Lets tests check that an arm64 image really holds arm64 binaries.
pub fn elf_machine(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    // e_machine is at offset 18, in the file's byte order (EI_DATA: 1 little, 2 big endian).
    let raw = [bytes[18], bytes[19]];
    let machine = if bytes[5] == 2 {
        u16::from_be_bytes(raw)
    } else {
        u16::from_le_bytes(raw)
    };
    Some(match machine {
        0x03 => "x86",
        0x28 => "arm",
        0x3e => "x86_64",
        0xb7 => "aarch64",
        0xf3 => "riscv",
        _ => "other",
    })
}

// ---------------------------------------------------------------------------------------------------
// Plain progress output: failure summary (vertices are parsed by `progress`)
// ---------------------------------------------------------------------------------------------------

/// The error summary buildx prints at the end of a failed build for vertex `name`: the lines between
/// `------\n > NAME:` and the closing `------`, timestamps removed. Empty if there is none.
pub fn error_summary(output: &str, name: &str) -> Vec<String> {
    let header = format!(" > {name}:");
    let mut lines = output.lines();
    let mut found = Vec::new();
    while let Some(line) = lines.next() {
        if line != header {
            continue;
        }
        for body in lines.by_ref() {
            if body == "------" {
                break;
            }
            let text = match body.split_once(' ') {
                Some((time, text)) if time.parse::<f64>().is_ok() => text,
                _ => body,
            };
            found.push(text.to_string());
        }
    }
    found
}
