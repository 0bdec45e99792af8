//! Marshaling a graph into a BuildKit `Definition`, and embedding existing definitions.
//!
//! Ops are emitted depth first (inputs before users), each once per digest; the digest is the
//! sha256 of the exact bytes sent. A terminal op with no body and one input pointing at the result
//! comes last. All maps are ordered, so one graph always yields the same bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use kiln_proto::pb;
use kiln_proto::prost::Message;
use sha2::{Digest as _, Sha256};

use crate::caps::{cap, Caps};
use crate::file::link_actions;
use crate::graph::{Constraints, Kind, Node, Output, SourceMap};
use crate::{LlbError, Platform};

/// `sha256:<hex>` of `bytes`, BuildKit's vertex digest.
pub fn digest_of(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0xf)] as char);
    }
    out
}

/// Ops taken byte for byte from another definition.
#[derive(Debug)]
pub(crate) struct Embedded {
    /// (digest, bytes) in their original order, without the terminal op.
    ops: Vec<(String, Vec<u8>)>,
    metadata: BTreeMap<String, pb::OpMetadata>,
    head_digest: String,
}

/// Wraps a marshaled `pb.Definition` (e.g. BuildKit's `frontend.bin`, the frontend's own image)
/// so its result can be used like any other output. Its ops keep their bytes, and so their
/// digests; their metadata is kept too. Source maps of the embedded definition are dropped.
/// An empty definition is scratch.
pub fn embed_definition(bytes: &[u8]) -> Result<Output, LlbError> {
    let def = pb::Definition::decode(bytes)
        .map_err(|e| LlbError::InvalidDefinition(format!("cannot decode: {e}")))?;
    let Some((terminal, ops)) = def.def.split_last() else {
        return Ok(Output::scratch());
    };
    let terminal = pb::Op::decode(terminal.as_slice())
        .map_err(|e| LlbError::InvalidDefinition(format!("cannot decode the last op: {e}")))?;
    let head = match (terminal.op, terminal.inputs.as_slice()) {
        (None, [head]) => head.clone(),
        _ => {
            return Err(LlbError::InvalidDefinition(
                "the last op must be a terminal op with exactly one input".into(),
            ))
        }
    };
    let ops: Vec<(String, Vec<u8>)> = ops.iter().map(|b| (digest_of(b), b.clone())).collect();
    let head_op = ops.iter().find(|(d, _)| *d == head.digest).ok_or_else(|| {
        LlbError::InvalidDefinition(format!("the result {} is not one of its ops", head.digest))
    })?;
    let platform = pb::Op::decode(head_op.1.as_slice())
        .ok()
        .and_then(|op| op.platform)
        .map(|p| Platform::from_pb(&p));
    let metadata = def
        .metadata
        .into_iter()
        .filter(|(d, _)| ops.iter().any(|(od, _)| od == d))
        .collect();
    Ok(Output {
        node: Some(Arc::new(Node {
            kind: Kind::Embedded(Embedded {
                ops,
                metadata,
                head_digest: head.digest,
            }),
            constraints: Constraints::default(),
            platform,
        })),
        index: head.index,
    })
}

/// A marshaled LLB graph, ready to send to BuildKit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Definition(pub pb::Definition);

impl Definition {
    /// Decodes a definition from its protobuf bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LlbError> {
        pb::Definition::decode(bytes)
            .map(Definition)
            .map_err(|e| LlbError::InvalidDefinition(format!("cannot decode: {e}")))
    }

    /// The encoded `pb.Definition` (what `buildctl debug dump-llb` reads).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.encode_to_vec()
    }

    /// The protobuf message.
    pub fn as_pb(&self) -> &pb::Definition {
        &self.0
    }

    /// The protobuf message, consuming the definition.
    pub fn into_pb(self) -> pb::Definition {
        self.0
    }

    /// Encoded ops in order; the last is the terminal op.
    pub fn ops(&self) -> &[Vec<u8>] {
        &self.0.def
    }

    /// Digests of [`Definition::ops`], in the same order.
    pub fn digests(&self) -> Vec<String> {
        self.0.def.iter().map(|b| digest_of(b)).collect()
    }

    /// Every op decoded, with its digest.
    pub fn decode_ops(&self) -> Result<Vec<(String, pb::Op)>, LlbError> {
        self.0
            .def
            .iter()
            .map(|b| {
                pb::Op::decode(b.as_slice())
                    .map(|op| (digest_of(b), op))
                    .map_err(|e| LlbError::InvalidDefinition(format!("cannot decode op: {e}")))
            })
            .collect()
    }

    /// What the terminal op points at; `None` for an empty (scratch) definition.
    pub fn head(&self) -> Option<pb::Input> {
        let last = self.0.def.last()?;
        let op = pb::Op::decode(last.as_slice()).ok()?;
        op.inputs.into_iter().next()
    }

    /// Caps the daemon must offer to run this definition.
    pub fn required_caps(&self) -> Caps {
        Caps::required_by(&self.0)
    }

    /// A readable dump for people (`kiln llb --json`).
    pub fn to_json(&self) -> serde_json::Value {
        crate::json::definition_to_json(&self.0)
    }
}

/// Marshals the graph that produces `output`. Scratch gives an empty definition, as in Go.
pub fn marshal(output: &Output) -> Definition {
    let Some(node) = &output.node else {
        return Definition::default();
    };
    let mut m = Marshaler::default();
    m.visit(node);
    let terminal = pb::Op {
        inputs: vec![m.input(output)],
        ..Default::default()
    };
    let bytes = terminal.encode_to_vec();
    let digest = digest_of(&bytes);
    m.def.push(bytes);

    let mut caps: BTreeSet<&str> = BTreeSet::from([cap::CONSTRAINTS, cap::PLATFORM]);
    for md in m.metadata.values() {
        if md.ignore_cache {
            caps.insert(cap::META_IGNORE_CACHE);
        }
        if !md.description.is_empty() {
            caps.insert(cap::META_DESCRIPTION);
        }
        if md.export_cache.is_some() {
            caps.insert(cap::META_EXPORT_CACHE);
        }
    }
    m.metadata
        .entry(digest)
        .or_default()
        .caps
        .extend(caps.into_iter().map(|c| (c.to_string(), true)));

    let infos = m
        .sources
        .iter()
        .map(|s| pb::SourceInfo {
            filename: s.filename.clone(),
            data: s.data.clone(),
            definition: None,
            language: s.language.clone(),
        })
        .collect();
    Definition(pb::Definition {
        def: m.def,
        metadata: m.metadata,
        source: Some(pb::Source {
            locations: m.locations,
            infos,
        }),
    })
}

#[derive(Default)]
struct Marshaler {
    /// Digest each visited node resolves to (for embedded nodes, their result's op).
    resolved: HashMap<*const Node, String>,
    emitted: HashSet<String>,
    def: Vec<Vec<u8>>,
    metadata: BTreeMap<String, pb::OpMetadata>,
    sources: Vec<Arc<SourceMap>>,
    /// Index in `sources` of each source map seen, by handle and by contents.
    source_by_ptr: HashMap<*const SourceMap, usize>,
    source_by_contents: HashMap<Arc<SourceMap>, usize>,
    locations: BTreeMap<String, pb::Locations>,
}

impl Marshaler {
    /// Emits `root` and everything below it, inputs before their users. Depth first in input
    /// order like the Go client, but on an explicit stack so a chain of any length fits.
    fn visit(&mut self, root: &Arc<Node>) {
        let mut stack: Vec<(&Arc<Node>, bool)> = vec![(root, false)];
        while let Some((node, inputs_done)) = stack.pop() {
            if self.resolved.contains_key(&Arc::as_ptr(node)) {
                continue;
            }
            if inputs_done {
                self.emit(node);
                continue;
            }
            stack.push((node, true));
            for input in node.inputs().into_iter().rev() {
                if let Some(child) = &input.node {
                    if !self.resolved.contains_key(&Arc::as_ptr(child)) {
                        stack.push((child, false));
                    }
                }
            }
        }
    }

    /// Emits one node whose inputs are all emitted.
    fn emit(&mut self, node: &Arc<Node>) {
        let key = Arc::as_ptr(node);
        let digest = match &node.kind {
            Kind::Embedded(e) => {
                for (digest, bytes) in &e.ops {
                    if self.emitted.insert(digest.clone()) {
                        self.def.push(bytes.clone());
                    }
                }
                for (digest, md) in &e.metadata {
                    merge_metadata(self.metadata.entry(digest.clone()).or_default(), md);
                }
                e.head_digest.clone()
            }
            _ => {
                let (op, implied_caps) = self.lower(node);
                let bytes = op.encode_to_vec();
                let digest = digest_of(&bytes);
                if self.emitted.insert(digest.clone()) {
                    self.def.push(bytes);
                }
                let md = op_metadata(&node.constraints, implied_caps);
                merge_metadata(self.metadata.entry(digest.clone()).or_default(), &md);
                self.add_locations(&digest, &node.constraints);
                digest
            }
        };
        self.resolved.insert(key, digest);
    }

    /// The wire input for an already visited output.
    fn input(&self, output: &Output) -> pb::Input {
        let digest = output
            .node
            .as_ref()
            .and_then(|n| self.resolved.get(&Arc::as_ptr(n)))
            .cloned()
            .unwrap_or_default();
        pb::Input {
            digest,
            index: output.index,
        }
    }

    /// Builds the op for a non-embedded node whose inputs are all visited, with the caps its
    /// fields imply.
    /// Long by design: one arm per op kind, each filling its proto message and the caps it implies.
    fn lower(&self, node: &Node) -> (pb::Op, BTreeSet<String>) {
        let mut inputs: Vec<pb::Input> = Vec::new();
        // Identical inputs share one slot, as in the Go client (execs and file ops).
        let dedup = |inputs: &mut Vec<pb::Input>, out: &Output| -> i64 {
            let input = self.input(out);
            match inputs.iter().position(|i| *i == input) {
                Some(i) => i as i64,
                None => {
                    inputs.push(input);
                    (inputs.len() - 1) as i64
                }
            }
        };
        let mut platform = None;
        let mut caps = BTreeSet::new();
        let body = match &node.kind {
            Kind::Source { identifier, attrs } => {
                platform = node.platform.as_ref().map(Platform::to_pb);
                pb::op::Op::Source(pb::SourceOp {
                    identifier: identifier.clone(),
                    attrs: attrs.clone(),
                })
            }
            Kind::Exec(spec) => {
                platform = node.platform.as_ref().map(Platform::to_pb);
                caps = spec.caps();
                pb::op::Op::Exec(spec.to_pb(|o| dedup(&mut inputs, o)))
            }
            Kind::File(spec) => {
                caps = spec.caps();
                let (mut file, base) = spec.to_pb(|o| dedup(&mut inputs, o));
                link_actions(&mut file, base, inputs.len());
                pb::op::Op::File(file)
            }
            Kind::Merge(list) => {
                let mut merge = pb::MergeOp::default();
                for out in list {
                    merge.inputs.push(pb::MergeInput {
                        input: inputs.len() as i64,
                    });
                    inputs.push(self.input(out));
                }
                pb::op::Op::Merge(merge)
            }
            Kind::Diff { lower, upper } => {
                let mut slot = |out: &Output| {
                    if out.is_scratch() {
                        -1
                    } else {
                        inputs.push(self.input(out));
                        (inputs.len() - 1) as i64
                    }
                };
                let lower = pb::LowerDiffInput { input: slot(lower) };
                let upper = pb::UpperDiffInput { input: slot(upper) };
                pb::op::Op::Diff(pb::DiffOp {
                    lower: Some(lower),
                    upper: Some(upper),
                })
            }
            Kind::Embedded(_) => unreachable!("embedded nodes are emitted verbatim"),
        };
        let op = pb::Op {
            inputs,
            op: Some(body),
            platform,
            // Go always sends an (empty) constraints message; matching it keeps digests equal.
            constraints: Some(pb::WorkerConstraints::default()),
        };
        (op, caps)
    }

    /// The index of `source` in the definition's source infos, adding it when new. Ops of one
    /// file share one handle, so its contents are hashed once, not once per op.
    fn source_index(&mut self, source: &Arc<SourceMap>) -> usize {
        if let Some(&index) = self.source_by_ptr.get(&Arc::as_ptr(source)) {
            return index;
        }
        let index = *self
            .source_by_contents
            .entry(Arc::clone(source))
            .or_insert_with(|| {
                self.sources.push(Arc::clone(source));
                self.sources.len() - 1
            });
        self.source_by_ptr.insert(Arc::as_ptr(source), index);
        index
    }

    fn add_locations(&mut self, digest: &str, constraints: &Constraints) {
        if constraints.locations.is_empty() {
            return;
        }
        let locations: Vec<pb::Location> = constraints
            .locations
            .iter()
            .map(|loc| pb::Location {
                source_index: self.source_index(&loc.source) as i32,
                ranges: loc.ranges.iter().map(|r| r.to_pb()).collect(),
            })
            .collect();
        self.locations
            .entry(digest.to_string())
            .or_default()
            .locations
            .extend(locations);
    }
}

fn op_metadata(constraints: &Constraints, implied_caps: BTreeSet<String>) -> pb::OpMetadata {
    pb::OpMetadata {
        ignore_cache: constraints.ignore_cache,
        description: constraints.description.clone(),
        export_cache: None,
        caps: implied_caps
            .into_iter()
            .chain(constraints.caps.iter().cloned())
            .map(|c| (c, true))
            .collect(),
        progress_group: constraints.progress_group.clone(),
    }
}

/// Combines the metadata of two identical ops the way the Go client does.
fn merge_metadata(into: &mut pb::OpMetadata, from: &pb::OpMetadata) {
    into.ignore_cache |= from.ignore_cache;
    into.description
        .extend(from.description.iter().map(|(k, v)| (k.clone(), v.clone())));
    into.caps
        .extend(from.caps.iter().map(|(k, v)| (k.clone(), *v)));
    if from.export_cache.is_some() {
        into.export_cache = from.export_cache;
    }
    if from.progress_group.is_some() {
        into.progress_group = from.progress_group.clone();
    }
}
