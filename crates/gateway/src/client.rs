//! A typed client for BuildKit's LLBBridge: `Ping` on connect (capabilities
//! and workers), `Solve`, file reads from solved refs, `Inputs`, image config
//! resolution, warnings, and `Return`, which consumes the client so a
//! frontend cannot return twice or keep calling after returning.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kiln_proto::fsutil::types::Stat;
use kiln_proto::google::rpc::Status;
use kiln_proto::moby::buildkit::v1::frontend::{self as gw, llb_bridge_client::LlbBridgeClient};
use kiln_proto::pb;
use tonic::transport::Channel;

use crate::errors::{status_from_tonic, SourceLocation, CODE_UNKNOWN};
use crate::options::{CacheImport, ImageResolveMode, WorkerInfo};
use crate::transport::{stdio_channel, MAX_MESSAGE_SIZE};
use kiln_llb::Platform;

/// Gateway capability: `Solve`.
pub const CAP_SOLVE_BASE: &str = "solve.base";
/// Gateway capability: `ResolveImageConfig`.
pub const CAP_RESOLVE_IMAGE: &str = "resolveimage";
/// Gateway capability: the `ResolveMode` field of `ResolveImageConfig`.
pub const CAP_RESOLVE_IMAGE_RESOLVE_MODE: &str = "resolveimage.resolvemode";
/// Gateway capability: `ReadFile`.
pub const CAP_READ_FILE: &str = "readfile";
/// Gateway capability: `Return` with a `Result`.
pub const CAP_RETURN_RESULT: &str = "return";
/// Gateway capability: results with several refs.
pub const CAP_RETURN_MAP: &str = "returnmap";
/// Gateway capability: `ReadDir`.
pub const CAP_READ_DIR: &str = "readdir";
/// Gateway capability: `StatFile`.
pub const CAP_STAT_FILE: &str = "statfile";
/// Gateway capability: `SolveRequest.CacheImports`.
pub const CAP_IMPORT_CACHES: &str = "importcaches";
/// Gateway capability: `Ref` messages instead of bare id strings.
pub const CAP_PROTO_REF_ARRAY: &str = "proto.refarray";
/// Gateway capability: `Inputs` and `SolveRequest.FrontendInputs`.
pub const CAP_FRONTEND_INPUTS: &str = "frontend.inputs";
/// Gateway capability: `SolveRequest.Evaluate`.
pub const CAP_GATEWAY_EVALUATE_SOLVE: &str = "gateway.solve.evaluate";
/// Gateway capability: `Evaluate`.
pub const CAP_GATEWAY_EVALUATE: &str = "gateway.evaluate";
/// Gateway capability: `Warn`.
pub const CAP_GATEWAY_WARNINGS: &str = "gateway.warnings";
/// Gateway capability: the frontend may check requested frontend caps.
pub const CAP_FRONTEND_CAPS: &str = "frontend.caps";
/// Results may carry attestations (BuildKit v0.11).
pub const CAP_ATTESTATIONS: &str = "reference.attestations";

/// How long to wait for the first `Ping`, as BuildKit's own client does.
const PING_TIMEOUT: Duration = Duration::from_secs(15);
/// Bytes per `ReadFile` call, well under the message limit.
const READ_CHUNK: u64 = 4 << 20;

/// Gateway capabilities sent by daemons too old to list any.
const DEFAULT_GATEWAY_CAPS: &[&str] = &[
    "solve.base",
    "solve.inlinereturn",
    "resolveimage",
    "readfile",
];

/// LLB capabilities sent by daemons too old to list any. The odd spelling of
/// the HTTP uid/gid cap is BuildKit's.
const DEFAULT_LLB_CAPS: &[&str] = &[
    "source.image",
    "source.local",
    "source.local.unique",
    "source.local.sessionid",
    "source.local.includepatterns",
    "source.local.followpaths",
    "source.local.excludepatterns",
    "source.local.sharedkeyhint",
    "source.git",
    "source.git.keepgitdir",
    "source.git.fullurl",
    "source.http",
    "source.http.checksum",
    "source.http.perm",
    "soruce.http.uidgid",
    "source.buildop.llbfilename",
    "exec.meta.base",
    "exec.meta.proxyenv",
    "exec.mount.bind",
    "exec.mount.cache",
    "exec.mount.cache.sharing",
    "exec.mount.selector",
    "exec.mount.tmpfs",
    "exec.mount.secret",
    "constraints",
    "platform",
    "meta.ignorecache",
    "meta.description",
    "meta.exportcache",
];

/// The enabled capabilities of the daemon, split into gateway API caps and
/// LLB caps (what ops and attributes the solver accepts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps {
    gateway: BTreeSet<String>,
    llb: BTreeSet<String>,
}

impl Caps {
    /// Caps from explicit lists (all counted as enabled).
    pub fn new<G, L>(gateway: G, llb: L) -> Self
    where
        G: IntoIterator,
        G::Item: Into<String>,
        L: IntoIterator,
        L::Item: Into<String>,
    {
        Caps {
            gateway: gateway.into_iter().map(Into::into).collect(),
            llb: llb.into_iter().map(Into::into).collect(),
        }
    }

    /// The frozen defaults BuildKit assumes for daemons that list no caps.
    pub fn defaults() -> Self {
        Caps::new(
            DEFAULT_GATEWAY_CAPS.iter().copied(),
            DEFAULT_LLB_CAPS.iter().copied(),
        )
    }

    /// Reads a Ping answer: only enabled caps count; an empty list falls back
    /// to the defaults for that list.
    pub fn from_pong(pong: &gw::PongResponse) -> Self {
        let enabled = |caps: &[kiln_proto::moby::buildkit::v1::apicaps::ApiCap],
                       defaults: &[&str]| {
            if caps.is_empty() {
                defaults.iter().map(|s| s.to_string()).collect()
            } else {
                caps.iter()
                    .filter(|c| c.enabled)
                    .map(|c| c.id.clone())
                    .collect()
            }
        };
        Caps {
            gateway: enabled(&pong.frontend_api_caps, DEFAULT_GATEWAY_CAPS),
            llb: enabled(&pong.llb_caps, DEFAULT_LLB_CAPS),
        }
    }

    /// Whether gateway cap `id` is enabled.
    pub fn gateway(&self, id: &str) -> bool {
        self.gateway.contains(id)
    }

    /// Whether LLB cap `id` is enabled.
    pub fn llb(&self, id: &str) -> bool {
        self.llb.contains(id)
    }

    /// Enabled gateway caps, sorted.
    pub fn gateway_caps(&self) -> impl Iterator<Item = &str> {
        self.gateway.iter().map(String::as_str)
    }

    /// Enabled LLB caps, sorted.
    pub fn llb_caps(&self) -> impl Iterator<Item = &str> {
        self.llb.iter().map(String::as_str)
    }
}

/// A failed gateway interaction.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The stdio transport could not be set up.
    #[error("cannot connect to BuildKit's gateway over stdio: {0}")]
    Connect(#[from] tonic::transport::Error),
    /// BuildKit answered `call` with an error status, kept whole so its details can be forwarded.
    #[error("{call} failed: {}", .status.message())]
    Call {
        /// The gateway method, e.g. `Solve`.
        call: &'static str,
        /// The status BuildKit returned.
        status: tonic::Status,
    },
    /// No answer to the call within the duration.
    #[error("BuildKit did not answer {0} within {1:?}")]
    Timeout(&'static str, Duration),
    /// The call needs a capability the daemon did not announce in Ping.
    #[error("{call} needs BuildKit capability {cap:?}, which this daemon lacks; upgrade BuildKit")]
    MissingCap {
        /// The gateway method, e.g. `ReadDir`.
        call: &'static str,
        /// The missing capability id.
        cap: &'static str,
    },
    /// BuildKit's answer to `call` did not have the shape the call promises.
    #[error("{call} returned an unexpected answer: {reason}")]
    Unexpected {
        /// The gateway method.
        call: &'static str,
        /// What was wrong with the answer.
        reason: String,
    },
}

impl GatewayError {
    fn call(call: &'static str) -> impl FnOnce(tonic::Status) -> GatewayError {
        move |status| GatewayError::Call { call, status }
    }

    /// The status to pass to `Return`: a failed call's status with its
    /// details unchanged (so BuildKit's source locations survive), else code
    /// Unknown with this error's message.
    pub fn to_status(&self) -> Status {
        match self {
            GatewayError::Call { status, .. } => status_from_tonic(status),
            other => Status {
                code: CODE_UNKNOWN,
                message: other.to_string(),
                details: Vec::new(),
            },
        }
    }
}

/// What to solve.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SolveRequest {
    /// The LLB graph to build; `None` with a `frontend` set.
    pub definition: Option<pb::Definition>,
    /// A sub-frontend such as `dockerfile.v0`; empty solves `definition`.
    pub frontend: String,
    /// Options passed to the sub-frontend.
    pub frontend_opts: BTreeMap<String, String>,
    /// Named input graphs passed to the sub-frontend.
    pub frontend_inputs: BTreeMap<String, pb::Definition>,
    /// Caches to import; dropped (with a warning) when the daemon lacks the import-caches cap.
    pub cache_imports: Vec<CacheImport>,
    /// Build now rather than when a ref is read or exported.
    pub evaluate: bool,
}

impl SolveRequest {
    /// A request solving `definition` with the given cache imports.
    pub fn definition(definition: pb::Definition, cache_imports: &[CacheImport]) -> Self {
        SolveRequest {
            definition: Some(definition),
            cache_imports: cache_imports.to_vec(),
            ..Default::default()
        }
    }
}

/// The refs a solve produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SolvedRefs {
    /// Nothing (an empty definition, or a metadata-only result).
    #[default]
    None,
    /// One ref id.
    Single(String),
    /// Refs keyed by platform id.
    Map(BTreeMap<String, String>),
}

/// The outcome of a solve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Solved {
    /// The refs produced.
    pub refs: SolvedRefs,
    /// Metadata the solve returned, e.g. a sub-frontend's `result.json`.
    pub metadata: BTreeMap<String, Vec<u8>>,
}

impl Solved {
    /// The single ref id, for solves of one definition.
    pub fn single_ref(&self) -> Result<&str, GatewayError> {
        match &self.refs {
            SolvedRefs::Single(id) => Ok(id),
            SolvedRefs::None => Err(GatewayError::Unexpected {
                call: "Solve",
                reason: "no ref (was the definition empty?)".into(),
            }),
            SolvedRefs::Map(m) => Err(GatewayError::Unexpected {
                call: "Solve",
                reason: format!("{} refs where one was expected", m.len()),
            }),
        }
    }

    fn from_response(resp: gw::SolveResponse) -> Self {
        let non_empty = |id: String| {
            if id.is_empty() {
                SolvedRefs::None
            } else {
                SolvedRefs::Single(id)
            }
        };
        let Some(result) = resp.result else {
            return Solved {
                refs: non_empty(resp.r#ref),
                metadata: BTreeMap::new(),
            };
        };
        use gw::result::Result as R;
        let refs = match result.result {
            None => SolvedRefs::None,
            Some(R::RefDeprecated(id)) => non_empty(id),
            Some(R::Ref(r)) => non_empty(r.id),
            Some(R::RefsDeprecated(m)) => SolvedRefs::Map(m.refs),
            Some(R::Refs(m)) => {
                SolvedRefs::Map(m.refs.into_iter().map(|(k, r)| (k, r.id)).collect())
            }
        };
        Solved {
            refs,
            metadata: result.metadata,
        }
    }
}

/// An image reference to resolve to a digest and config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolveImageRequest {
    /// A normalised reference, e.g. `docker.io/library/alpine:3.20`.
    pub reference: String,
    /// The platform whose image to pick from an index; `None`: the daemon's default.
    pub platform: Option<Platform>,
    /// Whether to ask the registry or prefer the local image store.
    pub resolve_mode: ImageResolveMode,
    /// The progress line shown while resolving.
    pub log_name: String,
}

/// A resolved image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The manifest digest, `sha256:…`, to pin the reference to.
    pub digest: String,
    /// The image config JSON.
    pub config: Vec<u8>,
    /// The reference as resolved (may differ from the request, e.g. pinned).
    pub reference: String,
}

/// A connection to the LLBBridge. Not `Clone`: `return_*` consume it, so the
/// frontend returns at most once. Calls take `&self` and may run concurrently.
pub struct Client {
    bridge: LlbBridgeClient<Channel>,
    caps: Caps,
    workers: Vec<WorkerInfo>,
    returned: bool,
}

impl Client {
    /// Connects over stdin/stdout and pings.
    pub async fn connect_stdio() -> Result<Self, GatewayError> {
        Self::connect(stdio_channel().await?).await
    }

    /// Pings over an open channel and records caps and workers.
    pub async fn connect(channel: Channel) -> Result<Self, GatewayError> {
        let mut bridge = LlbBridgeClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE);
        let pong = tokio::time::timeout(PING_TIMEOUT, bridge.ping(gw::PingRequest {}))
            .await
            .map_err(|_| GatewayError::Timeout("Ping", PING_TIMEOUT))?
            .map_err(GatewayError::call("Ping"))?
            .into_inner();
        let caps = Caps::from_pong(&pong);
        let workers = pong
            .workers
            .iter()
            .map(|w| WorkerInfo {
                id: w.id.clone(),
                labels: w.labels.clone(),
                platforms: w.platforms.iter().map(Platform::from_pb).collect(),
            })
            .collect();
        Ok(Client {
            bridge,
            caps,
            workers,
            returned: false,
        })
    }

    /// The daemon's enabled capabilities.
    pub fn caps(&self) -> &Caps {
        &self.caps
    }

    /// The workers from Ping; the first one's first platform is the build platform.
    pub fn workers(&self) -> &[WorkerInfo] {
        &self.workers
    }

    fn require(&self, call: &'static str, cap: &'static str) -> Result<(), GatewayError> {
        if self.caps.gateway(cap) {
            Ok(())
        } else {
            Err(GatewayError::MissingCap { call, cap })
        }
    }

    /// Solves a definition (or runs a sub-frontend). Lazy unless `evaluate`.
    pub async fn solve(&self, req: SolveRequest) -> Result<Solved, GatewayError> {
        if req.evaluate {
            self.require("Solve", CAP_GATEWAY_EVALUATE_SOLVE)?;
        }
        if !req.frontend_inputs.is_empty() {
            self.require("Solve", CAP_FRONTEND_INPUTS)?;
        }
        let cache_imports = if self.caps.gateway(CAP_IMPORT_CACHES) {
            req.cache_imports
                .into_iter()
                .map(|c| gw::CacheOptionsEntry {
                    r#type: c.kind,
                    attrs: c.attrs,
                })
                .collect()
        } else {
            // Cache import is an optimisation; an old daemon builds without it.
            if !req.cache_imports.is_empty() {
                tracing::debug!("daemon lacks {CAP_IMPORT_CACHES}; not importing caches");
            }
            Vec::new()
        };
        let request = gw::SolveRequest {
            definition: req.definition,
            frontend: req.frontend,
            frontend_opt: req.frontend_opts,
            allow_result_return: true,
            allow_result_array_ref: self.caps.gateway(CAP_PROTO_REF_ARRAY),
            cache_imports,
            frontend_inputs: req.frontend_inputs,
            evaluate: req.evaluate,
            ..Default::default()
        };
        let resp = self
            .bridge
            .clone()
            .solve(request)
            .await
            .map_err(GatewayError::call("Solve"))?;
        Ok(Solved::from_response(resp.into_inner()))
    }

    /// Reads a whole file from a solved ref, in chunks so large files stay
    /// under the message limit.
    pub async fn read_file(&self, ref_id: &str, path: &str) -> Result<Vec<u8>, GatewayError> {
        let mut data = Vec::new();
        loop {
            let chunk = self
                .read_file_range(ref_id, path, data.len() as u64, READ_CHUNK)
                .await?;
            let done = (chunk.len() as u64) < READ_CHUNK;
            data.extend_from_slice(&chunk);
            if done {
                return Ok(data);
            }
        }
    }

    /// Reads up to `length` bytes at `offset` of a file in a solved ref.
    pub async fn read_file_range(
        &self,
        ref_id: &str,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, GatewayError> {
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let resp = self
            .bridge
            .clone()
            .read_file(gw::ReadFileRequest {
                r#ref: ref_id.to_string(),
                file_path: path.to_string(),
                range: Some(gw::FileRange {
                    offset: to_i64(offset),
                    length: to_i64(length),
                }),
                mount_index: 0,
            })
            .await
            .map_err(GatewayError::call("ReadFile"))?;
        Ok(resp.into_inner().data)
    }

    /// Lists one directory level of a solved ref, optionally filtered by a
    /// glob on entry names.
    pub async fn read_dir(
        &self,
        ref_id: &str,
        dir: &str,
        include_pattern: Option<&str>,
    ) -> Result<Vec<Stat>, GatewayError> {
        self.require("ReadDir", CAP_READ_DIR)?;
        let resp = self
            .bridge
            .clone()
            .read_dir(gw::ReadDirRequest {
                r#ref: ref_id.to_string(),
                dir_path: dir.to_string(),
                include_pattern: include_pattern.unwrap_or_default().to_string(),
                mount_index: 0,
            })
            .await
            .map_err(GatewayError::call("ReadDir"))?;
        Ok(resp.into_inner().entries)
    }

    /// Stats a path (without following a final symlink) in a solved ref.
    pub async fn stat_file(&self, ref_id: &str, path: &str) -> Result<Stat, GatewayError> {
        self.require("StatFile", CAP_STAT_FILE)?;
        let resp = self
            .bridge
            .clone()
            .stat_file(gw::StatFileRequest {
                r#ref: ref_id.to_string(),
                path: path.to_string(),
                mount_index: 0,
            })
            .await
            .map_err(GatewayError::call("StatFile"))?;
        resp.into_inner()
            .stat
            .ok_or_else(|| GatewayError::Unexpected {
                call: "StatFile",
                reason: format!("no stat for {path}"),
            })
    }

    /// The definitions passed as this build's inputs (remote contexts,
    /// `--build-context name=target:…`); empty when the daemon lacks the cap.
    pub async fn inputs(&self) -> Result<BTreeMap<String, pb::Definition>, GatewayError> {
        if !self.caps.gateway(CAP_FRONTEND_INPUTS) {
            return Ok(BTreeMap::new());
        }
        let resp = self
            .bridge
            .clone()
            .inputs(gw::InputsRequest {})
            .await
            .map_err(GatewayError::call("Inputs"))?;
        Ok(resp.into_inner().definitions)
    }

    /// Resolves an image reference to its digest and config.
    pub async fn resolve_image_config(
        &self,
        req: ResolveImageRequest,
    ) -> Result<ResolvedImage, GatewayError> {
        self.require("ResolveImageConfig", CAP_RESOLVE_IMAGE)?;
        // Older daemons ignore the mode; sending it empty keeps their default.
        let resolve_mode = if self.caps.gateway(CAP_RESOLVE_IMAGE_RESOLVE_MODE) {
            req.resolve_mode.as_str().to_string()
        } else {
            String::new()
        };
        let resp = self
            .bridge
            .clone()
            .resolve_image_config(gw::ResolveImageConfigRequest {
                r#ref: req.reference.clone(),
                platform: req.platform.as_ref().map(Platform::to_pb),
                resolve_mode,
                log_name: req.log_name,
                ..Default::default()
            })
            .await
            .map_err(GatewayError::call("ResolveImageConfig"))?
            .into_inner();
        Ok(ResolvedImage {
            digest: resp.digest,
            config: resp.config,
            reference: if resp.r#ref.is_empty() {
                req.reference
            } else {
                resp.r#ref
            },
        })
    }

    /// Forces a lazily solved ref to build now.
    pub async fn evaluate(&self, ref_id: &str) -> Result<(), GatewayError> {
        self.require("Evaluate", CAP_GATEWAY_EVALUATE)?;
        self.bridge
            .clone()
            .evaluate(gw::EvaluateRequest {
                r#ref: ref_id.to_string(),
            })
            .await
            .map_err(GatewayError::call("Evaluate"))?;
        Ok(())
    }

    /// Shows a build warning, optionally pointing at source lines. Without the
    /// cap the warning is dropped (warnings are advisory).
    pub async fn warn(
        &self,
        vertex_digest: &str,
        short: &str,
        detail: &[String],
        source: Option<&SourceLocation>,
    ) -> Result<(), GatewayError> {
        if !self.caps.gateway(CAP_GATEWAY_WARNINGS) {
            tracing::debug!("daemon lacks {CAP_GATEWAY_WARNINGS}; dropping warning {short:?}");
            return Ok(());
        }
        let (info, ranges) = match source {
            Some(s) => (
                Some(pb::SourceInfo {
                    filename: s.filename.clone(),
                    data: s.data.clone(),
                    language: s.language.clone(),
                    ..Default::default()
                }),
                s.ranges
                    .iter()
                    .map(|r| pb::Range {
                        start: Some(pb::Position {
                            line: i32::try_from(r.start).unwrap_or(i32::MAX),
                            character: 0,
                        }),
                        end: Some(pb::Position {
                            line: i32::try_from(r.end).unwrap_or(i32::MAX),
                            character: 0,
                        }),
                    })
                    .collect(),
            ),
            None => (None, Vec::new()),
        };
        self.bridge
            .clone()
            .warn(gw::WarnRequest {
                digest: vertex_digest.to_string(),
                level: 1,
                short: short.as_bytes().to_vec(),
                detail: detail.iter().map(|d| d.as_bytes().to_vec()).collect(),
                url: String::new(),
                info,
                ranges,
            })
            .await
            .map_err(GatewayError::call("Warn"))?;
        Ok(())
    }

    /// Hands the build result to BuildKit. Consumes the client: the frontend
    /// should exit afterwards.
    ///
    /// ```no_run
    /// # async fn f(client: kiln_gateway::Client, result: kiln_gateway::gateway_pb::Result) {
    /// client.return_result(result).await.unwrap();
    /// # }
    /// ```
    /// A second Return does not compile, as `client` has been moved:
    /// ```compile_fail,E0382
    /// # async fn f(client: kiln_gateway::Client, result: kiln_gateway::gateway_pb::Result) {
    /// client.return_result(result.clone()).await.unwrap();
    /// client.return_result(result).await.unwrap();
    /// # }
    /// ```
    /// Nor does any call after it:
    /// ```compile_fail,E0382
    /// # async fn f(client: kiln_gateway::Client, status: kiln_gateway::Status) {
    /// client.return_error(status).await.unwrap();
    /// let _ = client.caps();
    /// # }
    /// ```
    pub async fn return_result(mut self, result: gw::Result) -> Result<(), GatewayError> {
        self.send_return(gw::ReturnRequest {
            result: Some(result),
            error: None,
        })
        .await
    }

    /// Fails the build with `status` (see [`crate::errors`]). Consumes the client.
    pub async fn return_error(mut self, status: Status) -> Result<(), GatewayError> {
        self.send_return(gw::ReturnRequest {
            result: None,
            error: Some(status),
        })
        .await
    }

    async fn send_return(&mut self, req: gw::ReturnRequest) -> Result<(), GatewayError> {
        self.returned = true;
        self.bridge
            .clone()
            .r#return(req)
            .await
            .map_err(GatewayError::call("Return"))?;
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if !self.returned {
            // BuildKit reports "no result for incomplete build"; leave a hint
            // in the daemon log as to why.
            tracing::warn!("gateway client dropped without calling Return");
        }
    }
}
