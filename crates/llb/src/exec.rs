//! Exec ops: a process run on a root filesystem with extra bind, cache and tmpfs mounts.
//!
//! Mounts are sorted by destination as BuildKit's Go client does, and output indexes go, in that
//! order, to the mounts that produce a result (not read-only, cache or tmpfs).

use std::collections::BTreeSet;

use kiln_proto::pb;

use crate::caps::cap;
use crate::graph::{Constraints, Kind, Node, OpBuilder, Output};
use crate::LlbError;

/// The network an exec sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// BuildKit's default sandboxed network (with internet access).
    #[default]
    Sandbox,
    /// The host's network; needs the `network.host` entitlement.
    Host,
    /// No network at all.
    None,
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheSharing {
    /// One cache shared by all concurrent builds (BuildKit's default).
    #[default]
    Shared,
    /// Each concurrent build gets its own copy.
    Private,
    /// Concurrent builds wait for each other.
    Locked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountKind {
    Bind,
    Cache { id: String, sharing: CacheSharing },
    Tmpfs { size: i64 },
}

/// One mount of an exec.
#[derive(Debug, Clone)]
pub struct Mount {
    pub(crate) dest: String,
    pub(crate) source: Option<Output>,
    pub(crate) selector: String,
    pub(crate) readonly: bool,
    pub(crate) kind: MountKind,
}

impl Mount {
    /// Mounts `source` (writable; its changes become an output of the exec).
    pub fn bind(dest: impl Into<String>, source: &Output) -> Self {
        Mount {
            dest: dest.into(),
            source: (!source.is_scratch()).then(|| source.clone()),
            selector: String::new(),
            readonly: false,
            kind: MountKind::Bind,
        }
    }

    /// A persistent cache directory shared by every exec using the same `id`.
    pub fn cache(dest: impl Into<String>, id: impl Into<String>, sharing: CacheSharing) -> Self {
        Mount {
            dest: dest.into(),
            source: None,
            selector: String::new(),
            readonly: false,
            kind: MountKind::Cache {
                id: id.into(),
                sharing,
            },
        }
    }

    /// An in-memory filesystem; `size_bytes` 0 means the kernel default.
    pub fn tmpfs(dest: impl Into<String>, size_bytes: i64) -> Self {
        Mount {
            dest: dest.into(),
            source: None,
            selector: String::new(),
            readonly: false,
            kind: MountKind::Tmpfs { size: size_bytes },
        }
    }

    /// Mount read-only; the mount then produces no output.
    pub fn readonly(mut self) -> Self {
        self.readonly = true;
        self
    }

    /// Mount only `path` of the source.
    pub fn selector(mut self, path: impl Into<String>) -> Self {
        self.selector = path.into();
        self
    }

    /// Seeds a cache mount from `source` the first time it is created.
    pub fn from(mut self, source: &Output) -> Self {
        self.source = (!source.is_scratch()).then(|| source.clone());
        self
    }

    fn has_output(&self) -> bool {
        !self.readonly && self.kind == MountKind::Bind
    }
}

/// The op-specific part of an exec node.
#[derive(Debug)]
pub(crate) struct ExecSpec {
    pub(crate) meta: pb::Meta,
    pub(crate) network: NetworkMode,
    /// Sorted by destination.
    pub(crate) mounts: Vec<Mount>,
}

impl ExecSpec {
    pub(crate) fn sorted_mounts(&self) -> impl Iterator<Item = &Mount> {
        self.mounts.iter()
    }

    /// Caps implied by the exec's fields, following the Go client.
    pub(crate) fn caps(&self) -> BTreeSet<String> {
        let mut caps = BTreeSet::new();
        caps.insert(cap::EXEC_META_BASE.to_string());
        if self.network != NetworkMode::Sandbox {
            caps.insert(cap::EXEC_META_NETWORK.to_string());
        }
        if !self.meta.valid_exit_codes.is_empty() {
            caps.insert(cap::EXEC_VALID_EXIT_CODE.to_string());
        }
        if self.meta.proxy_env.is_some() {
            caps.insert(cap::EXEC_META_PROXY.to_string());
        }
        for m in &self.mounts {
            if !m.selector.is_empty() {
                caps.insert(cap::EXEC_MOUNT_SELECTOR.to_string());
            }
            match &m.kind {
                MountKind::Cache { .. } => {
                    caps.insert(cap::EXEC_MOUNT_CACHE.to_string());
                    caps.insert(cap::EXEC_MOUNT_CACHE_SHARING.to_string());
                }
                MountKind::Tmpfs { size } => {
                    caps.insert(cap::EXEC_MOUNT_TMPFS.to_string());
                    if *size > 0 {
                        caps.insert(cap::EXEC_MOUNT_TMPFS_SIZE.to_string());
                    }
                }
                MountKind::Bind if m.source.is_some() => {
                    caps.insert(cap::EXEC_MOUNT_BIND.to_string());
                }
                MountKind::Bind => {}
            }
        }
        caps
    }

    /// The wire op; `input_of` gives each non-scratch mount source's index in `Op.inputs`.
    pub(crate) fn to_pb(&self, mut input_of: impl FnMut(&Output) -> i64) -> pb::ExecOp {
        let mut next_output = 0;
        let mounts = self
            .mounts
            .iter()
            .map(|m| {
                let output = if m.has_output() {
                    next_output += 1;
                    next_output - 1
                } else {
                    -1
                };
                let mut pm = pb::Mount {
                    input: m.source.as_ref().map_or(-1, &mut input_of),
                    selector: m.selector.clone(),
                    dest: m.dest.clone(),
                    output,
                    readonly: m.readonly,
                    ..Default::default()
                };
                match &m.kind {
                    MountKind::Bind => {}
                    MountKind::Cache { id, sharing } => {
                        pm.mount_type = pb::MountType::Cache as i32;
                        pm.cache_opt = Some(pb::CacheOpt {
                            id: id.clone(),
                            sharing: match sharing {
                                CacheSharing::Shared => pb::CacheSharingOpt::Shared,
                                CacheSharing::Private => pb::CacheSharingOpt::Private,
                                CacheSharing::Locked => pb::CacheSharingOpt::Locked,
                            } as i32,
                        });
                    }
                    MountKind::Tmpfs { size } => {
                        pm.mount_type = pb::MountType::Tmpfs as i32;
                        pm.tmpfs_opt = Some(pb::TmpfsOpt { size: *size });
                    }
                }
                pm
            })
            .collect();
        pb::ExecOp {
            meta: Some(self.meta.clone()),
            mounts,
            network: match self.network {
                NetworkMode::Sandbox => pb::NetMode::Unset,
                NetworkMode::Host => pb::NetMode::Host,
                NetworkMode::None => pb::NetMode::None,
            } as i32,
            ..Default::default()
        }
    }
}

/// Builder for an exec op. The root filesystem is mounted at `/`.
#[derive(Debug, Clone)]
pub struct Exec {
    root: Output,
    root_readonly: bool,
    args: Vec<String>,
    env: Vec<String>,
    cwd: String,
    user: String,
    network: NetworkMode,
    valid_exit_codes: Vec<i32>,
    proxy: Option<pb::ProxyEnv>,
    mounts: Vec<Mount>,
    constraints: Constraints,
}

impl Exec {
    /// An exec on `root`, inheriting its platform.
    pub fn new(root: &Output) -> Self {
        Exec {
            root: root.clone(),
            root_readonly: false,
            args: Vec::new(),
            env: Vec::new(),
            cwd: "/".to_string(),
            user: String::new(),
            network: NetworkMode::Sandbox,
            valid_exit_codes: Vec::new(),
            proxy: None,
            mounts: Vec::new(),
            constraints: Constraints {
                platform: root.platform().cloned(),
                ..Constraints::default()
            },
        }
    }

    /// The command and its arguments; the first is the program.
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `key=value`, replacing an earlier value of `key` in place; otherwise appended, so the
    /// order of the environment is the order of the calls.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        let entry = format!("{key}={value}");
        let prefix = format!("{key}=");
        match self.env.iter_mut().find(|e| e.starts_with(&prefix)) {
            Some(existing) => *existing = entry,
            None => self.env.push(entry),
        }
        self
    }

    /// The working directory of the process.
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = dir.into();
        self
    }

    /// `uid[:gid]` or a user name from the root filesystem.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// The network the process sees (default: BuildKit's sandbox).
    pub fn network(mut self, mode: NetworkMode) -> Self {
        self.network = mode;
        self
    }

    /// Mount the root filesystem read-only (the exec then has no root output).
    pub fn readonly_root(mut self) -> Self {
        self.root_readonly = true;
        self
    }

    /// Exit codes that count as success. Needs BuildKit v0.17 (`exec.validexitcode`).
    pub fn valid_exit_codes(mut self, codes: impl IntoIterator<Item = i32>) -> Self {
        self.valid_exit_codes = codes.into_iter().collect();
        self
    }

    /// Proxy settings for the process. BuildKit keeps them out of the cache key, so builds behind
    /// and outside a proxy share results.
    pub fn proxy_env(mut self, proxy: pb::ProxyEnv) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Adds a mount; the one at `/` is the root filesystem.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Validates and creates the op.
    /// Long by design: validates the mounts and fills the ExecOp with the caps each field implies.
    pub fn build(self) -> Result<ExecResult, LlbError> {
        if self.args.is_empty() {
            return Err(LlbError::EmptyArgs);
        }
        let mut root = Mount::bind("/", &self.root);
        root.readonly = self.root_readonly;
        let mut mounts = vec![root];
        for m in self.mounts {
            if !m.dest.starts_with('/') {
                return Err(LlbError::RelativeMountDest(m.dest));
            }
            if matches!(m.kind, MountKind::Tmpfs { .. }) && m.source.is_some() {
                return Err(LlbError::TmpfsWithSource(m.dest));
            }
            if mounts.iter().any(|existing| existing.dest == m.dest) {
                return Err(LlbError::DuplicateMount(m.dest));
            }
            mounts.push(m);
        }
        mounts.sort_by(|a, b| a.dest.cmp(&b.dest));

        let spec = ExecSpec {
            meta: pb::Meta {
                args: self.args,
                env: self.env,
                cwd: self.cwd,
                user: self.user,
                valid_exit_codes: self.valid_exit_codes,
                proxy_env: self.proxy,
                ..Default::default()
            },
            network: self.network,
            mounts: mounts.clone(),
        };
        let platform = self.constraints.platform.clone();
        let node = Output::new(
            Node {
                kind: Kind::Exec(Box::new(spec)),
                constraints: self.constraints,
                platform,
            },
            0,
        );

        // Same order and rule as ExecSpec::to_pb, so handles match the wire indexes.
        let mut next_output = 0;
        let outputs = mounts
            .iter()
            .map(|m| {
                let out = if m.has_output() {
                    next_output += 1;
                    Some(Output {
                        node: node.node.clone(),
                        index: next_output - 1,
                    })
                } else if m.readonly && m.kind == MountKind::Bind {
                    // A read-only mount leaves its source unchanged.
                    Some(m.source.clone().unwrap_or_else(Output::scratch))
                } else {
                    None
                };
                (m.dest.clone(), out)
            })
            .collect();
        Ok(ExecResult { outputs })
    }
}

impl OpBuilder for Exec {
    fn constraints_mut(&mut self) -> &mut Constraints {
        &mut self.constraints
    }
}

/// The filesystems an exec leaves behind, by mount destination.
#[derive(Debug, Clone)]
pub struct ExecResult {
    outputs: Vec<(String, Option<Output>)>,
}

impl ExecResult {
    /// The root filesystem after the run (the source itself if the root was read-only).
    pub fn root(&self) -> Output {
        self.output("/").unwrap_or_else(Output::scratch)
    }

    /// The state of the mount at `dest` after the run; `None` for cache and tmpfs mounts, which
    /// have no result, or an unknown destination.
    pub fn output(&self, dest: &str) -> Option<Output> {
        self.outputs
            .iter()
            .find(|(d, _)| d == dest)
            .and_then(|(_, o)| o.clone())
    }
}
