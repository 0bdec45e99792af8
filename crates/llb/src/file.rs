//! File ops: a chain of mkdir / mkfile / rm / copy / symlink actions applied to one base, emitted
//! as a single `FileOp` whose last action is the result.

use std::collections::BTreeSet;

use kiln_proto::pb;

use crate::caps::cap;
use crate::graph::{Constraints, Kind, Node, OpBuilder, Output};
use crate::LlbError;

/// Numeric owner for created or copied files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChownOwner {
    /// Numeric user id.
    pub uid: u32,
    /// Numeric group id.
    pub gid: u32,
}

impl ChownOwner {
    fn to_pb(self) -> pb::ChownOpt {
        let by_id = |id| pb::UserOpt {
            user: Some(pb::user_opt::User::ById(id)),
        };
        pb::ChownOpt {
            user: Some(by_id(self.uid)),
            group: Some(by_id(self.gid)),
        }
    }
}

/// Converts Unix seconds to BuildKit's nanosecond timestamps; `None` is the -1 "unset" sentinel.
fn timestamp_nanos(seconds: Option<i64>) -> Result<i64, LlbError> {
    match seconds {
        None => Ok(-1),
        Some(s) => s
            .checked_mul(1_000_000_000)
            .ok_or(LlbError::TimestampOutOfRange(s)),
    }
}

/// Options of [`FileOp::mkdir`].
#[derive(Debug, Clone, Default)]
pub struct MkdirOptions {
    /// Create missing parent directories, like `mkdir -p`.
    pub make_parents: bool,
    /// Owner of the new directories; `None` is root.
    pub owner: Option<ChownOwner>,
    /// Modification time in Unix seconds.
    pub timestamp: Option<i64>,
}

/// Options of [`FileOp::mkfile`].
#[derive(Debug, Clone, Default)]
pub struct MkfileOptions {
    /// Owner of the new file; `None` is root.
    pub owner: Option<ChownOwner>,
    /// Modification time in Unix seconds.
    pub timestamp: Option<i64>,
}

/// Options of [`FileOp::rm`].
#[derive(Debug, Clone, Default)]
pub struct RmOptions {
    /// Succeed when the path does not exist.
    pub allow_not_found: bool,
    /// Treat the path as a glob.
    pub allow_wildcard: bool,
}

/// Options of [`FileOp::copy`].
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Owner of the copied files; `None` keeps the source's.
    pub owner: Option<ChownOwner>,
    /// Permission bits; `None` keeps the source's.
    pub mode: Option<u32>,
    /// Modification time in Unix seconds; `None` keeps the source's.
    pub timestamp: Option<i64>,
    /// Create the destination's missing parent directories.
    pub create_dest_path: bool,
    /// Copy a directory's contents rather than the directory itself.
    pub dir_copy_contents: bool,
    /// Copy what a source symlink points to rather than the link.
    pub follow_symlinks: bool,
    /// Treat the source path as a glob.
    pub allow_wildcard: bool,
    /// With `allow_wildcard`, succeed when the glob matches nothing.
    pub allow_empty_wildcard: bool,
    /// Copy only files matching these patterns (`file.copy.includeexcludepatterns`).
    pub include_patterns: Vec<String>,
    /// Leave out files matching these patterns.
    pub exclude_patterns: Vec<String>,
}

#[derive(Debug, Clone)]
enum Action {
    Mkdir(pb::FileActionMkDir),
    Mkfile(pb::FileActionMkFile),
    Rm(pb::FileActionRm),
    Copy {
        source: Output,
        copy: pb::FileActionCopy,
    },
    Symlink(pb::FileActionSymlink),
}

/// The op-specific part of a file node.
#[derive(Debug)]
pub(crate) struct FileSpec {
    base: Output,
    actions: Vec<Action>,
}

impl FileSpec {
    /// Inputs in the order the Go client adds them: the base, then each copy source.
    pub(crate) fn inputs(&self) -> Vec<&Output> {
        let mut out = vec![&self.base];
        for a in &self.actions {
            if let Action::Copy { source, .. } = a {
                out.push(source);
            }
        }
        out
    }

    /// Every input, mutably (for taking the graph apart without recursion).
    pub(crate) fn inputs_mut(&mut self) -> impl Iterator<Item = &mut Output> {
        std::iter::once(&mut self.base).chain(self.actions.iter_mut().filter_map(|a| match a {
            Action::Copy { source, .. } => Some(source),
            _ => None,
        }))
    }

    pub(crate) fn caps(&self) -> BTreeSet<String> {
        let mut caps = BTreeSet::from([cap::FILE_BASE.to_string()]);
        for a in &self.actions {
            match a {
                Action::Copy { copy, .. }
                    if !copy.include_patterns.is_empty() || !copy.exclude_patterns.is_empty() =>
                {
                    caps.insert(cap::FILE_COPY_INCLUDE_EXCLUDE_PATTERNS.to_string());
                }
                Action::Symlink(_) => {
                    caps.insert(cap::FILE_SYMLINK_CREATE.to_string());
                }
                _ => {}
            }
        }
        caps
    }

    /// The wire op. `input_of` maps a non-scratch output to its `Op.inputs` index (adding it);
    /// it must be called in [`FileSpec::inputs`] order so the indexes agree.
    pub(crate) fn to_pb(&self, mut input_of: impl FnMut(&Output) -> i64) -> (pb::FileOp, i64) {
        let mut index_of = |o: &Output| if o.is_scratch() { -1 } else { input_of(o) };
        let base = index_of(&self.base);
        // Secondary inputs are resolved first so the input count is final before chaining.
        let secondaries: Vec<i64> = self
            .actions
            .iter()
            .map(|a| match a {
                Action::Copy { source, .. } => index_of(source),
                _ => -1,
            })
            .collect();
        let count = self.actions.len();
        let actions = self
            .actions
            .iter()
            .zip(secondaries)
            .enumerate()
            .map(|(k, (a, secondary))| pb::FileAction {
                input: 0, // set by link_actions once the input count is known
                secondary_input: secondary,
                output: if k + 1 == count { 0 } else { -1 },
                action: Some(match a {
                    Action::Mkdir(x) => pb::file_action::Action::Mkdir(x.clone()),
                    Action::Mkfile(x) => pb::file_action::Action::Mkfile(x.clone()),
                    Action::Rm(x) => pb::file_action::Action::Rm(x.clone()),
                    Action::Copy { copy, .. } => pb::file_action::Action::Copy(copy.clone()),
                    Action::Symlink(x) => pb::file_action::Action::Symlink(x.clone()),
                }),
            })
            .collect();
        (pb::FileOp { actions }, base)
    }
}

/// Patches the chained action inputs: the first action works on the base, action k on the result
/// of action k-1, written as `input_count + (k - 1)`.
pub(crate) fn link_actions(op: &mut pb::FileOp, base: i64, input_count: usize) {
    for (k, action) in op.actions.iter_mut().enumerate() {
        action.input = if k == 0 {
            base
        } else {
            (input_count + k - 1) as i64
        };
    }
}

/// Lexically cleans a path and makes it absolute (`ns//a/./b/../c` → `/ns/a/c`), as Go's
/// `path.Clean("/" + p)` does; `..` never climbs above `/`.
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Cleans `p` and makes it absolute, keeping a trailing `/` or `/.` on destinations because
/// BuildKit reads them as "into this directory".
fn normalize_path(p: &str, keep_slash: bool) -> String {
    let mut out = clean_path(p);
    if keep_slash {
        if p.ends_with('/') && !out.ends_with('/') {
            out.push('/');
        } else if p.ends_with("/.") {
            if out != "/" {
                out.push('/');
            }
            out.push('.');
        }
    }
    out
}

/// Builder for a chain of file actions on `base` (which may be scratch).
#[derive(Debug, Clone)]
pub struct FileOp {
    base: Output,
    actions: Vec<Action>,
    error: Option<LlbError>,
    constraints: Constraints,
}

impl FileOp {
    /// A file op whose actions apply to `base` (scratch for a new filesystem).
    pub fn new(base: &Output) -> Self {
        FileOp {
            base: base.clone(),
            actions: Vec::new(),
            error: None,
            constraints: Constraints::default(),
        }
    }

    fn push(mut self, action: Result<Action, LlbError>) -> Self {
        match action {
            Ok(a) => self.actions.push(a),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Creates directory `path` with permission bits `mode`.
    pub fn mkdir(self, path: &str, mode: u32, opts: MkdirOptions) -> Self {
        let action = timestamp_nanos(opts.timestamp).map(|timestamp| {
            Action::Mkdir(pb::FileActionMkDir {
                path: normalize_path(path, false),
                mode: mode as i32,
                make_parents: opts.make_parents,
                owner: opts.owner.map(ChownOwner::to_pb),
                timestamp,
            })
        });
        self.push(action)
    }

    /// Writes `data` to `path` with permission bits `mode`.
    pub fn mkfile(
        self,
        path: &str,
        mode: u32,
        data: impl Into<Vec<u8>>,
        opts: MkfileOptions,
    ) -> Self {
        let data = data.into();
        let action = timestamp_nanos(opts.timestamp).map(|timestamp| {
            Action::Mkfile(pb::FileActionMkFile {
                path: normalize_path(path, false),
                mode: mode as i32,
                data,
                owner: opts.owner.map(ChownOwner::to_pb),
                timestamp,
            })
        });
        self.push(action)
    }

    /// Removes `path`.
    pub fn rm(self, path: &str, opts: RmOptions) -> Self {
        self.push(Ok(Action::Rm(pb::FileActionRm {
            path: normalize_path(path, false),
            allow_not_found: opts.allow_not_found,
            allow_wildcard: opts.allow_wildcard,
        })))
    }

    /// Copies `src` of `source` to `dest` (a trailing `/` means "into this directory").
    pub fn copy(self, source: &Output, src: &str, dest: &str, opts: CopyOptions) -> Self {
        let action = timestamp_nanos(opts.timestamp).map(|timestamp| Action::Copy {
            source: source.clone(),
            copy: pb::FileActionCopy {
                src: normalize_path(src, false),
                dest: normalize_path(dest, true),
                owner: opts.owner.map(ChownOwner::to_pb),
                mode: opts.mode.map_or(-1, |m| m as i32),
                follow_symlink: opts.follow_symlinks,
                dir_copy_contents: opts.dir_copy_contents,
                create_dest_path: opts.create_dest_path,
                allow_wildcard: opts.allow_wildcard,
                allow_empty_wildcard: opts.allow_empty_wildcard,
                timestamp,
                include_patterns: opts.include_patterns,
                exclude_patterns: opts.exclude_patterns,
                ..Default::default()
            },
        });
        self.push(action)
    }

    /// Creates symlink `newpath` pointing to `oldpath`. Needs BuildKit v0.19
    /// (`file.symlink.create`); on older daemons use an exec running `ln -s`.
    pub fn symlink(
        self,
        oldpath: &str,
        newpath: &str,
        owner: Option<ChownOwner>,
        timestamp: Option<i64>,
    ) -> Self {
        let action = timestamp_nanos(timestamp).map(|timestamp| {
            Action::Symlink(pb::FileActionSymlink {
                oldpath: oldpath.to_string(),
                newpath: normalize_path(newpath, false),
                owner: owner.map(ChownOwner::to_pb),
                timestamp,
            })
        });
        self.push(action)
    }

    /// The result of the last action; with no actions, the base itself.
    pub fn output(self) -> Result<Output, LlbError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.actions.is_empty() {
            return Ok(self.base);
        }
        let platform = self
            .constraints
            .platform
            .clone()
            .or_else(|| self.base.platform().cloned());
        Ok(Output::new(
            Node {
                kind: Kind::File(FileSpec {
                    base: self.base,
                    actions: self.actions,
                }),
                // Kept for execs built on the result; file ops write no platform on the wire.
                platform,
                constraints: self.constraints,
            },
            0,
        ))
    }
}

impl OpBuilder for FileOp {
    fn constraints_mut(&mut self) -> &mut Constraints {
        &mut self.constraints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned() {
        assert_eq!(normalize_path("pkg/../x//y/", false), "/x/y");
        assert_eq!(normalize_path("/pkg/", true), "/pkg/");
        assert_eq!(normalize_path("/pkg/.", true), "/pkg/.");
        assert_eq!(normalize_path("/", true), "/");
        assert_eq!(normalize_path("/.", true), "/.");
    }

    #[test]
    fn timestamps_are_nanoseconds() {
        assert_eq!(timestamp_nanos(None).unwrap(), -1);
        assert_eq!(timestamp_nanos(Some(0)).unwrap(), 0);
        assert_eq!(
            timestamp_nanos(Some(1_700_000_000)).unwrap(),
            1_700_000_000_000_000_000
        );
        assert!(timestamp_nanos(Some(i64::MAX)).is_err());
    }
}
