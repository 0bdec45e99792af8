//! LLB capabilities: the ids ops declare in `OpMetadata.caps`, the BuildKit release that
//! introduced each, and a check of required caps against what a daemon offers.
//!
//! BuildKit refuses an op whose listed caps it lacks, with a terse message; kiln checks first so
//! the user learns which BuildKit version to install.

use std::collections::BTreeSet;
use std::fmt;

use kiln_proto::pb;

/// Capability ids used by this crate (the strings BuildKit defines in solver/pb/caps.go).
pub mod cap {
    /// Pulling an image as a source.
    pub const SOURCE_IMAGE: &str = "source.image";
    /// `image.resolvemode` on an image source (force pull, prefer local).
    pub const SOURCE_IMAGE_RESOLVE_MODE: &str = "source.image.resolvemode";
    /// A directory of the client as a source.
    pub const SOURCE_LOCAL: &str = "source.local";
    /// Naming the client session that holds a local directory.
    pub const SOURCE_LOCAL_SESSION_ID: &str = "source.local.sessionid";
    /// Transferring only the files of a local that match include patterns.
    pub const SOURCE_LOCAL_INCLUDE_PATTERNS: &str = "source.local.includepatterns";
    /// Leaving out the files of a local that match exclude patterns.
    pub const SOURCE_LOCAL_EXCLUDE_PATTERNS: &str = "source.local.excludepatterns";
    /// Transferring only the given paths of a local (and the targets of symlinks in them).
    pub const SOURCE_LOCAL_FOLLOW_PATHS: &str = "source.local.followpaths";
    /// A cache-sharing hint for transfers of the same local directory.
    pub const SOURCE_LOCAL_SHARED_KEY_HINT: &str = "source.local.sharedkeyhint";
    /// Choosing how a local transfer detects changed files.
    pub const SOURCE_LOCAL_DIFFER: &str = "source.local.differ";
    /// Downloading a file over HTTP(S) as a source.
    pub const SOURCE_HTTP: &str = "source.http";
    /// Pinning a download to a checksum.
    pub const SOURCE_HTTP_CHECKSUM: &str = "source.http.checksum";
    /// Permission bits of a downloaded file.
    pub const SOURCE_HTTP_PERM: &str = "source.http.perm";
    /// Request headers on a download (BuildKit v0.21).
    pub const SOURCE_HTTP_HEADER: &str = "source.http.header";
    /// Credentials for a download from the client session.
    pub const SOURCE_HTTP_AUTH: &str = "source.http.auth";
    /// An exec with args, env, cwd and user.
    pub const EXEC_META_BASE: &str = "exec.meta.base";
    /// Proxy settings for an exec, kept out of its cache key.
    pub const EXEC_META_PROXY: &str = "exec.meta.proxyenv";
    /// An exec's network mode (none, host).
    pub const EXEC_META_NETWORK: &str = "exec.meta.network";
    /// An exec's security mode (sandbox, insecure).
    pub const EXEC_META_SECURITY: &str = "exec.meta.security";
    /// Bind mounts in an exec.
    pub const EXEC_MOUNT_BIND: &str = "exec.mount.bind";
    /// Cache mounts in an exec.
    pub const EXEC_MOUNT_CACHE: &str = "exec.mount.cache";
    /// Sharing modes of cache mounts (shared, private, locked).
    pub const EXEC_MOUNT_CACHE_SHARING: &str = "exec.mount.cache.sharing";
    /// Mounting a sub-path of an input.
    pub const EXEC_MOUNT_SELECTOR: &str = "exec.mount.selector";
    /// Tmpfs mounts in an exec.
    pub const EXEC_MOUNT_TMPFS: &str = "exec.mount.tmpfs";
    /// A size limit on a tmpfs mount.
    pub const EXEC_MOUNT_TMPFS_SIZE: &str = "exec.mount.tmpfs.size";
    /// Exit codes other than 0 that count as success (BuildKit v0.17).
    pub const EXEC_VALID_EXIT_CODE: &str = "exec.validexitcode";
    /// File ops: mkdir, mkfile, rm and copy.
    pub const FILE_BASE: &str = "file.base";
    /// Include and exclude patterns on a file copy.
    pub const FILE_COPY_INCLUDE_EXCLUDE_PATTERNS: &str = "file.copy.includeexcludepatterns";
    /// Creating symlinks in a file op.
    pub const FILE_SYMLINK_CREATE: &str = "file.symlink.create";
    /// Merging filesystems without copying.
    pub const MERGE_OP: &str = "mergeop";
    /// The difference between two filesystems as a layer.
    pub const DIFF_OP: &str = "diffop";
    /// Per-op constraints (worker selection).
    pub const CONSTRAINTS: &str = "constraints";
    /// A per-op platform.
    pub const PLATFORM: &str = "platform";
    /// Building an op without its cache (`--no-cache`).
    pub const META_IGNORE_CACHE: &str = "meta.ignorecache";
    /// Descriptions such as `llb.customname` on ops.
    pub const META_DESCRIPTION: &str = "meta.description";
    /// Exporting an op's cache.
    pub const META_EXPORT_CACHE: &str = "meta.exportcache";
}

/// LLB cap ids and the BuildKit minor version (`v0.N`) that introduced them. Caps listed with 3
/// predate capability negotiation and exist in every BuildKit kiln can talk to.
const CAP_SINCE: &[(&str, u32)] = &[
    ("source.image", 3),
    ("source.image.resolvemode", 3),
    ("source.image.layerlimit", 11),
    ("source.image.checksum", 25),
    ("source.local", 3),
    ("source.local.unique", 3),
    ("source.local.sessionid", 3),
    ("source.local.includepatterns", 3),
    ("source.local.followpaths", 3),
    ("source.local.excludepatterns", 3),
    ("source.local.sharedkeyhint", 3),
    ("source.local.differ", 9),
    ("source.local.metadatatransfer", 22),
    ("source.http", 3),
    ("source.http.auth", 21),
    ("source.http.checksum", 3),
    ("source.http.perm", 3),
    ("soruce.http.uidgid", 3),
    ("source.http.header", 21),
    ("source.http.signatureverify", 28),
    ("exec.meta.base", 3),
    ("exec.meta.cgroup.parent", 10),
    ("exec.meta.network", 3),
    ("exec.meta.network.proxy", 31),
    ("exec.meta.proxyenv", 3),
    ("exec.meta.security", 5),
    ("exec.meta.security.devices.v1", 7),
    ("exec.meta.setsdefaultpath", 3),
    ("exec.meta.ulimit", 10),
    ("exec.meta.cdi", 20),
    ("exec.meta.removemountstubs.recursive", 11),
    ("exec.meta.linux.resources", 31),
    ("exec.mount.bind", 3),
    ("exec.mount.bind.readwrite-nooutput", 7),
    ("exec.mount.cache", 3),
    ("exec.mount.cache.sharing", 3),
    ("exec.mount.selector", 3),
    ("exec.mount.tmpfs", 3),
    ("exec.mount.tmpfs.size", 10),
    ("exec.mount.secret", 3),
    ("exec.mount.ssh", 3),
    ("exec.mount.cache.content", 13),
    ("exec.cgroup", 3),
    ("exec.secretenv", 10),
    ("exec.validexitcode", 17),
    ("file.base", 5),
    ("file.rm.wildcard", 7),
    ("file.copy.includeexcludepatterns", 9),
    ("file.copy.requiredpaths", 26),
    ("file.rm.nofollowsymlink", 10),
    ("file.copy.alwaysreplaceexistingdestpaths", 14),
    ("file.copy.modestring", 17),
    ("file.symlink.create", 19),
    ("constraints", 3),
    ("platform", 3),
    ("meta.ignorecache", 3),
    ("meta.description", 3),
    ("meta.exportcache", 3),
    ("mergeop", 10),
    ("diffop", 10),
];

/// The oldest BuildKit kiln supports (the one inside Docker 26.1): v0.13.
pub const BUILDKIT_BASELINE: u32 = 13;

/// The BuildKit minor version that introduced `cap_id`, as `"v0.N"`, if kiln knows it.
pub fn cap_introduced_in(cap_id: &str) -> Option<String> {
    CAP_SINCE
        .iter()
        .find(|(id, _)| *id == cap_id)
        .map(|(_, minor)| format!("v0.{minor}"))
}

/// Every LLB cap kiln knows that BuildKit `v0.<minor>` offers; `known_caps(BUILDKIT_BASELINE)` is
/// what kiln assumes when no daemon is asked (e.g. `kiln llb`).
pub fn known_caps(minor: u32) -> Caps {
    CAP_SINCE
        .iter()
        .filter(|(_, since)| *since <= minor)
        .map(|(id, _)| *id)
        .collect()
}

/// An ordered set of capability ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps(BTreeSet<String>);

impl Caps {
    /// An empty set, i.e. what a daemon that reports no caps offers.
    pub fn new() -> Self {
        Caps::default()
    }

    /// Adds `cap_id`; adding it again changes nothing.
    pub fn insert(&mut self, cap_id: impl Into<String>) {
        self.0.insert(cap_id.into());
    }

    /// Whether `cap_id` is in the set.
    pub fn contains(&self, cap_id: &str) -> bool {
        self.0.contains(cap_id)
    }

    /// Whether the set has no caps.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many caps the set has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The cap ids in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Caps required by the ops of a marshaled definition: the union of every `OpMetadata.caps`
    /// entry set to true.
    pub fn required_by(def: &pb::Definition) -> Caps {
        def.metadata
            .values()
            .flat_map(|md| md.caps.iter())
            .filter(|(_, required)| **required)
            .map(|(id, _)| id.as_str())
            .collect()
    }
}

impl<S: Into<String>> FromIterator<S> for Caps {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Caps(iter.into_iter().map(Into::into).collect())
    }
}

impl<S: Into<String>> Extend<S> for Caps {
    fn extend<I: IntoIterator<Item = S>>(&mut self, iter: I) {
        self.0.extend(iter.into_iter().map(Into::into));
    }
}

/// One cap the daemon lacks, with the release that introduced it when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingCap {
    /// The cap id, e.g. `exec.validexitcode`.
    pub id: String,
    /// The BuildKit release that introduced it, e.g. `v0.17`.
    pub since: Option<String>,
}

/// The daemon lacks caps the definition needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingCapsError {
    /// The caps the daemon lacks, sorted by id.
    pub missing: Vec<MissingCap>,
}

impl fmt::Display for MissingCapsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the BuildKit daemon lacks LLB capabilities this build needs: "
        )?;
        for (i, cap) in self.missing.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            match &cap.since {
                Some(v) => write!(f, "`{}` (added in BuildKit {v})", cap.id)?,
                None => write!(f, "`{}`", cap.id)?,
            }
        }
        let newest = self
            .missing
            .iter()
            .filter_map(|c| CAP_SINCE.iter().find(|(id, _)| *id == c.id))
            .map(|(_, minor)| *minor)
            .max();
        match newest {
            Some(minor) => write!(f, "; upgrade BuildKit (or Docker) to v0.{minor} or newer"),
            None => write!(f, "; upgrade BuildKit (or Docker)"),
        }
    }
}

impl std::error::Error for MissingCapsError {}

/// Fails naming every cap in `required` that `available` lacks.
pub fn check_caps(required: &Caps, available: &Caps) -> Result<(), MissingCapsError> {
    let missing: Vec<MissingCap> = required
        .iter()
        .filter(|id| !available.contains(id))
        .map(|id| MissingCap {
            id: id.to_string(),
            since: cap_introduced_in(id),
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MissingCapsError { missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_excludes_newer_caps() {
        let base = known_caps(BUILDKIT_BASELINE);
        for newer in [
            cap::EXEC_VALID_EXIT_CODE,
            cap::FILE_SYMLINK_CREATE,
            cap::SOURCE_HTTP_HEADER,
            cap::SOURCE_HTTP_AUTH,
        ] {
            assert!(!base.contains(newer), "{newer} is not in v0.13");
        }
        for old in [
            cap::MERGE_OP,
            cap::DIFF_OP,
            cap::SOURCE_HTTP_CHECKSUM,
            cap::EXEC_MOUNT_CACHE_SHARING,
            cap::FILE_BASE,
            "exec.mount.cache.content",
        ] {
            assert!(base.contains(old), "{old} is in v0.13");
        }
        assert!(known_caps(21).contains(cap::SOURCE_HTTP_HEADER));
    }

    #[test]
    fn check_names_cap_and_version() {
        let required: Caps = [cap::FILE_SYMLINK_CREATE, cap::MERGE_OP, "made.up"]
            .into_iter()
            .collect();
        let err = check_caps(&required, &known_caps(13)).unwrap_err();
        let ids: Vec<&str> = err.missing.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["file.symlink.create", "made.up"]);
        let msg = err.to_string();
        assert!(
            msg.contains("`file.symlink.create` (added in BuildKit v0.19)"),
            "{msg}"
        );
        assert!(msg.contains("`made.up`"), "{msg}");
        assert!(msg.contains("v0.19 or newer"), "{msg}");
        assert!(check_caps(&required, &required).is_ok());
    }
}
