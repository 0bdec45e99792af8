//! An in-process stand-in for BuildKit's LLBBridge, for tests of frontends:
//! it answers Ping with configurable caps, hands out ref ids for Solve, serves
//! files from a map, and records every request so tests can assert on what
//! the frontend sent. It runs over an in-memory stream, not stdio.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use kiln_proto::fsutil::types::Stat;
use kiln_proto::google::rpc::Status;
use kiln_proto::moby::buildkit::v1::apicaps::ApiCap;
use kiln_proto::moby::buildkit::v1::frontend::{
    self as gw,
    llb_bridge_server::{LlbBridge, LlbBridgeServer},
};
use kiln_proto::moby::buildkit::v1::types::WorkerRecord;
use kiln_proto::pb;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt as _;
use tonic::{Request, Response};

use crate::client::{self as c, Client, GatewayError};
use crate::errors::status_to_tonic;
use crate::transport::{channel_over, MAX_MESSAGE_SIZE};

/// Regular-file mode bits reported for served files.
const FILE_MODE: u32 = 0o100_644;
/// Go's `os.ModeDir | 0755`, reported for the directories that hold served files.
const DIR_MODE: u32 = (1 << 31) | 0o755;

/// The fake's configuration and everything it recorded.
#[derive(Debug, Clone, Default)]
pub struct FakeState {
    /// Gateway caps announced in Ping (all enabled); empty mimics an old daemon.
    pub gateway_caps: Vec<String>,
    /// LLB caps announced in Ping.
    pub llb_caps: Vec<String>,
    /// Workers announced in ListWorkers.
    pub workers: Vec<WorkerRecord>,
    /// Files served by ReadFile/ReadDir/StatFile from any ref, by path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Answer to Inputs.
    pub inputs: BTreeMap<String, pb::Definition>,
    /// Answers to ResolveImageConfig by reference: (digest, config JSON).
    pub images: BTreeMap<String, (String, Vec<u8>)>,
    /// When set, Solve fails with this status (details included).
    pub solve_error: Option<Status>,

    /// How many Ping calls arrived.
    pub pings: usize,
    /// Every Solve request, in arrival order (what tests compare the LLB of).
    pub solves: Vec<gw::SolveRequest>,
    /// Every ReadFile request, in arrival order.
    pub read_files: Vec<gw::ReadFileRequest>,
    /// Every ResolveImageConfig request, in arrival order.
    pub resolves: Vec<gw::ResolveImageConfigRequest>,
    /// Every Warn request (build warnings), in arrival order.
    pub warnings: Vec<gw::WarnRequest>,
    /// The Return calls: the frontend's result or error.
    pub returns: Vec<gw::ReturnRequest>,
}

impl FakeState {
    /// A daemon announcing every gateway cap the client knows about.
    pub fn modern() -> Self {
        FakeState {
            gateway_caps: [
                c::CAP_SOLVE_BASE,
                c::CAP_RESOLVE_IMAGE,
                c::CAP_RESOLVE_IMAGE_RESOLVE_MODE,
                c::CAP_READ_FILE,
                c::CAP_RETURN_RESULT,
                c::CAP_RETURN_MAP,
                c::CAP_READ_DIR,
                c::CAP_STAT_FILE,
                c::CAP_IMPORT_CACHES,
                c::CAP_PROTO_REF_ARRAY,
                c::CAP_FRONTEND_INPUTS,
                c::CAP_GATEWAY_EVALUATE_SOLVE,
                c::CAP_GATEWAY_EVALUATE,
                c::CAP_GATEWAY_WARNINGS,
                c::CAP_FRONTEND_CAPS,
            ]
            .map(String::from)
            .to_vec(),
            llb_caps: ["source.local", "source.local.includepatterns", "platform"]
                .map(String::from)
                .to_vec(),
            workers: vec![WorkerRecord {
                id: "fake-worker".into(),
                platforms: vec![pb::Platform {
                    architecture: "amd64".into(),
                    os: "linux".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }
}

/// A running fake. Each [`FakeBuildKit::connect`] serves one connection.
pub struct FakeBuildKit {
    state: Arc<Mutex<FakeState>>,
    servers: Mutex<Vec<JoinHandle<()>>>,
}

impl FakeBuildKit {
    /// A fake configured by `state`, not yet serving.
    pub fn new(state: FakeState) -> Self {
        FakeBuildKit {
            state: Arc::new(Mutex::new(state)),
            servers: Mutex::new(Vec::new()),
        }
    }

    /// Starts serving over an in-memory stream and connects a [`Client`]
    /// (which pings). Must run inside a Tokio runtime.
    pub async fn connect(&self) -> Result<Client, GatewayError> {
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        let service = LlbBridgeServer::new(Bridge {
            state: Arc::clone(&self.state),
        })
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
        // A never-ending incoming stream keeps the server up for the one connection.
        let incoming =
            tokio_stream::once(Ok::<_, std::io::Error>(server_io)).chain(tokio_stream::pending());
        let server = tokio::spawn(async move {
            if let Err(e) = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
            {
                tracing::error!("fake LLBBridge stopped: {e}");
            }
        });
        if let Ok(mut servers) = self.servers.lock() {
            servers.push(server);
        }
        Client::connect(channel_over(client_io).await?).await
    }

    /// The configuration and recordings (a poisoned lock is still readable).
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeBuildKit {
    fn drop(&mut self) {
        if let Ok(servers) = self.servers.lock() {
            servers.iter().for_each(JoinHandle::abort);
        }
    }
}

struct Bridge {
    state: Arc<Mutex<FakeState>>,
}

impl Bridge {
    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn enabled(ids: &[String]) -> Vec<ApiCap> {
    ids.iter()
        .map(|id| ApiCap {
            id: id.clone(),
            enabled: true,
            ..Default::default()
        })
        .collect()
}

fn file_stat(path: &str, data: &[u8]) -> Stat {
    Stat {
        path: path.rsplit('/').next().unwrap_or(path).to_string(),
        mode: FILE_MODE,
        size: i64::try_from(data.len()).unwrap_or(i64::MAX),
        ..Default::default()
    }
}

fn clean(path: &str) -> &str {
    path.trim_start_matches("./").trim_start_matches('/')
}

type Reply<T> = Result<Response<T>, tonic::Status>;

#[tonic::async_trait]
impl LlbBridge for Bridge {
    async fn resolve_image_config(
        &self,
        request: Request<gw::ResolveImageConfigRequest>,
    ) -> Reply<gw::ResolveImageConfigResponse> {
        let req = request.into_inner();
        let mut state = self.state();
        state.resolves.push(req.clone());
        let (digest, config) = state
            .images
            .get(&req.r#ref)
            .cloned()
            .ok_or_else(|| tonic::Status::not_found(format!("{}: not found", req.r#ref)))?;
        Ok(Response::new(gw::ResolveImageConfigResponse {
            digest,
            config,
            r#ref: req.r#ref,
        }))
    }

    async fn solve(&self, request: Request<gw::SolveRequest>) -> Reply<gw::SolveResponse> {
        let req = request.into_inner();
        let mut state = self.state();
        let array_ref = req.allow_result_array_ref;
        state.solves.push(req);
        if let Some(err) = &state.solve_error {
            return Err(status_to_tonic(err));
        }
        let id = format!("ref-{}", state.solves.len());
        let result = if array_ref {
            gw::result::Result::Ref(gw::Ref { id, def: None })
        } else {
            gw::result::Result::RefDeprecated(id)
        };
        Ok(Response::new(gw::SolveResponse {
            r#ref: String::new(),
            result: Some(gw::Result {
                result: Some(result),
                ..Default::default()
            }),
        }))
    }

    async fn read_file(
        &self,
        request: Request<gw::ReadFileRequest>,
    ) -> Reply<gw::ReadFileResponse> {
        let req = request.into_inner();
        let mut state = self.state();
        state.read_files.push(req.clone());
        let data = state.files.get(clean(&req.file_path)).ok_or_else(|| {
            tonic::Status::not_found(format!("open {}: no such file or directory", req.file_path))
        })?;
        let data = match req.range {
            Some(r) => {
                let start = usize::try_from(r.offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let end = start
                    .saturating_add(usize::try_from(r.length).unwrap_or(usize::MAX))
                    .min(data.len());
                data[start..end].to_vec()
            }
            None => data.clone(),
        };
        Ok(Response::new(gw::ReadFileResponse { data }))
    }

    async fn read_dir(&self, request: Request<gw::ReadDirRequest>) -> Reply<gw::ReadDirResponse> {
        let req = request.into_inner();
        let dir = clean(&req.dir_path).trim_end_matches('/');
        let dir = if dir == "." { "" } else { dir };
        let state = self.state();
        let mut entries: Vec<Stat> = Vec::new();
        for (path, data) in &state.files {
            let below = match dir {
                "" => path.as_str(),
                _ => match path.strip_prefix(dir).and_then(|p| p.strip_prefix('/')) {
                    Some(rest) => rest,
                    None => continue,
                },
            };
            match below.split_once('/') {
                // Sorted paths under one subdirectory are contiguous: one check suffices.
                Some((subdir, _)) => {
                    if entries.last().is_none_or(|e| e.path != subdir) {
                        entries.push(Stat {
                            path: subdir.to_string(),
                            mode: DIR_MODE,
                            ..Default::default()
                        });
                    }
                }
                None => entries.push(file_stat(path, data)),
            }
        }
        Ok(Response::new(gw::ReadDirResponse { entries }))
    }

    async fn stat_file(
        &self,
        request: Request<gw::StatFileRequest>,
    ) -> Reply<gw::StatFileResponse> {
        let req = request.into_inner();
        let state = self.state();
        let data = state.files.get(clean(&req.path)).ok_or_else(|| {
            tonic::Status::not_found(format!("lstat {}: no such file or directory", req.path))
        })?;
        Ok(Response::new(gw::StatFileResponse {
            stat: Some(file_stat(clean(&req.path), data)),
        }))
    }

    async fn evaluate(
        &self,
        _request: Request<gw::EvaluateRequest>,
    ) -> Reply<gw::EvaluateResponse> {
        Ok(Response::new(gw::EvaluateResponse {}))
    }

    async fn ping(&self, _request: Request<gw::PingRequest>) -> Reply<gw::PongResponse> {
        let mut state = self.state();
        state.pings += 1;
        Ok(Response::new(gw::PongResponse {
            frontend_api_caps: enabled(&state.gateway_caps),
            llb_caps: enabled(&state.llb_caps),
            workers: state.workers.clone(),
        }))
    }

    async fn r#return(&self, request: Request<gw::ReturnRequest>) -> Reply<gw::ReturnResponse> {
        let mut state = self.state();
        state.returns.push(request.into_inner());
        if state.returns.len() > 1 {
            return Err(tonic::Status::failed_precondition(
                "Return was called more than once",
            ));
        }
        Ok(Response::new(gw::ReturnResponse {}))
    }

    async fn inputs(&self, _request: Request<gw::InputsRequest>) -> Reply<gw::InputsResponse> {
        Ok(Response::new(gw::InputsResponse {
            definitions: self.state().inputs.clone(),
        }))
    }

    async fn warn(&self, request: Request<gw::WarnRequest>) -> Reply<gw::WarnResponse> {
        self.state().warnings.push(request.into_inner());
        Ok(Response::new(gw::WarnResponse {}))
    }
}
