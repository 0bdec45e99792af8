//! The graph: [`Output`] handles to op nodes, per-op [`Constraints`] (platform, name, caps,
//! source locations) and the [`OpBuilder`] trait that sets them on every builder.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kiln_proto::pb;

use crate::exec::ExecSpec;
use crate::file::FileSpec;
use crate::marshal::Embedded;
use crate::Platform;

/// The description key BuildKit shows as a vertex's name.
pub(crate) const CUSTOM_NAME_KEY: &str = "llb.customname";

/// A filesystem result: output `index` of an op, or the empty filesystem (scratch).
///
/// Cloning is cheap (an `Arc`). Two outputs built the same way marshal to the same digest even
/// when they are distinct handles.
#[derive(Clone, Debug)]
pub struct Output {
    pub(crate) node: Option<Arc<Node>>,
    pub(crate) index: i64,
}

impl Output {
    /// The empty filesystem.
    pub fn scratch() -> Self {
        Output {
            node: None,
            index: 0,
        }
    }

    /// Whether this is the empty filesystem, which no op produces.
    pub fn is_scratch(&self) -> bool {
        self.node.is_none()
    }

    /// The platform of the op producing this output, which execs on it inherit.
    pub fn platform(&self) -> Option<&Platform> {
        self.node.as_ref().and_then(|n| n.platform.as_ref())
    }

    pub(crate) fn new(node: Node, index: i64) -> Self {
        Output {
            node: Some(Arc::new(node)),
            index,
        }
    }
}

/// One vertex before marshaling. Inputs are `Output`s; wire indexes are assigned at marshal time,
/// because identical inputs are only recognisable by their digests.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) constraints: Constraints,
    /// Platform of the results (execs inherit their root's); `Op.platform` is only written for
    /// kinds that are platform specific.
    pub(crate) platform: Option<Platform>,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Source {
        identifier: String,
        attrs: BTreeMap<String, String>,
    },
    Exec(Box<ExecSpec>),
    File(FileSpec),
    Merge(Vec<Output>),
    Diff {
        lower: Output,
        upper: Output,
    },
    Embedded(Embedded),
}

impl Node {
    /// Non-scratch inputs in the order BuildKit's Go client visits them.
    pub(crate) fn inputs(&self) -> Vec<&Output> {
        let all: Vec<&Output> = match &self.kind {
            Kind::Source { .. } | Kind::Embedded(_) => Vec::new(),
            Kind::Exec(spec) => spec
                .sorted_mounts()
                .filter_map(|m| m.source.as_ref())
                .collect(),
            Kind::File(spec) => spec.inputs(),
            Kind::Merge(inputs) => inputs.iter().collect(),
            Kind::Diff { lower, upper } => vec![lower, upper],
        };
        all.into_iter().filter(|o| !o.is_scratch()).collect()
    }

    /// Detaches every input node, leaving scratch in its place.
    fn take_input_nodes(&mut self, into: &mut Vec<Arc<Node>>) {
        let mut take = |o: &mut Output| into.extend(o.node.take());
        match &mut self.kind {
            Kind::Source { .. } | Kind::Embedded(_) => {}
            Kind::Exec(spec) => spec
                .mounts
                .iter_mut()
                .filter_map(|m| m.source.as_mut())
                .for_each(take),
            Kind::File(spec) => spec.inputs_mut().for_each(take),
            Kind::Merge(inputs) => inputs.iter_mut().for_each(take),
            Kind::Diff { lower, upper } => {
                take(lower);
                take(upper);
            }
        }
    }
}

/// Dropping the last handle to a long chain of ops must not recurse once per op: inputs that
/// only this node holds are taken apart on an explicit stack instead.
impl Drop for Node {
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.take_input_nodes(&mut pending);
        while let Some(node) = pending.pop() {
            if let Some(mut node) = Arc::into_inner(node) {
                node.take_input_nodes(&mut pending);
            }
        }
    }
}

/// A file that ops can point back to (e.g. a `pkg.yaml`), shown by BuildKit when an op fails.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceMap {
    /// The name BuildKit shows, e.g. `gvisor/pkg.yaml`.
    pub filename: String,
    /// Syntax hint for the printer, e.g. `yaml`.
    pub language: String,
    /// The whole file, as written.
    pub data: Vec<u8>,
}

impl SourceMap {
    /// A shared source map: ops that point into the same file share one.
    pub fn new(
        filename: impl Into<String>,
        language: impl Into<String>,
        data: impl Into<Vec<u8>>,
    ) -> Arc<Self> {
        Arc::new(SourceMap {
            filename: filename.into(),
            language: language.into(),
            data: data.into(),
        })
    }
}

/// An area of a source file; lines and characters are 1-based like BuildKit's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First line.
    pub start_line: i32,
    /// First character of the first line; 0 for the whole line.
    pub start_character: i32,
    /// Last line.
    pub end_line: i32,
    /// Last character of the last line; 0 for the whole line.
    pub end_character: i32,
}

impl Range {
    /// Whole lines `start..=end`.
    pub fn lines(start: i32, end: i32) -> Self {
        Range {
            start_line: start,
            start_character: 0,
            end_line: end,
            end_character: 0,
        }
    }

    pub(crate) fn to_pb(self) -> pb::Range {
        pb::Range {
            start: Some(pb::Position {
                line: self.start_line,
                character: self.start_character,
            }),
            end: Some(pb::Position {
                line: self.end_line,
                character: self.end_character,
            }),
        }
    }
}

/// Ranges of one source map that produced an op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// The file, shared by every op that points into it.
    pub source: Arc<SourceMap>,
    /// Its areas that produced the op.
    pub ranges: Vec<Range>,
}

/// Per-op settings that every builder accepts.
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    /// The platform the op runs for; `None` is the daemon's default.
    pub platform: Option<Platform>,
    /// Build the op without its cache.
    pub ignore_cache: bool,
    /// `OpMetadata.description`; the vertex name lives under `llb.customname`.
    pub description: BTreeMap<String, String>,
    /// Extra caps beyond those the op's fields imply.
    pub caps: BTreeSet<String>,
    /// Groups the op's progress with others under one name.
    pub progress_group: Option<pb::ProgressGroup>,
    /// Where the op comes from in the user's files, shown when it fails.
    pub locations: Vec<SourceLocation>,
}

/// Setters shared by all op builders.
pub trait OpBuilder: Sized {
    /// The constraints the shared setters below write to.
    fn constraints_mut(&mut self) -> &mut Constraints;

    /// Target platform of this op (images, execs).
    fn platform(mut self, platform: Platform) -> Self {
        self.constraints_mut().platform = Some(platform);
        self
    }

    /// The name shown in progress output (`llb.customname`).
    fn custom_name(mut self, name: impl Into<String>) -> Self {
        self.constraints_mut()
            .description
            .insert(CUSTOM_NAME_KEY.to_string(), name.into());
        self
    }

    /// Any other `OpMetadata.description` entry.
    fn description(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.constraints_mut()
            .description
            .insert(key.into(), value.into());
        self
    }

    /// Run this op even when a cached result exists.
    fn ignore_cache(mut self) -> Self {
        self.constraints_mut().ignore_cache = true;
        self
    }

    /// Require an extra capability from the daemon.
    fn require_cap(mut self, cap_id: impl Into<String>) -> Self {
        self.constraints_mut().caps.insert(cap_id.into());
        self
    }

    /// Group this vertex with others in the progress display.
    fn progress_group(
        mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        weak: bool,
    ) -> Self {
        self.constraints_mut().progress_group = Some(pb::ProgressGroup {
            id: id.into(),
            name: name.into(),
            weak,
        });
        self
    }

    /// Point this op back at `ranges` of `source`.
    fn location(mut self, source: &Arc<SourceMap>, ranges: Vec<Range>) -> Self {
        self.constraints_mut().locations.push(SourceLocation {
            source: Arc::clone(source),
            ranges,
        });
        self
    }

    /// Replace all constraints at once (e.g. a set shared by several ops).
    fn constraints(mut self, constraints: Constraints) -> Self {
        *self.constraints_mut() = constraints;
        self
    }
}
