//! A readable JSON view of a definition (`kiln llb --json`): ops in order with their digests,
//! decoded fields under readable names, their metadata, and source locations.

use kiln_proto::pb;
use kiln_proto::prost::Message;
use serde_json::{json, Map, Value};

use crate::marshal::digest_of;
use crate::Platform;

/// Dumps `def`. Ops that fail to decode are shown with an `error` field instead of failing.
pub fn definition_to_json(def: &pb::Definition) -> Value {
    let ops: Vec<Value> = def
        .def
        .iter()
        .map(|bytes| {
            let digest = digest_of(bytes);
            let mut entry = Map::new();
            entry.insert("digest".into(), json!(digest));
            match pb::Op::decode(bytes.as_slice()) {
                Ok(op) => {
                    entry.insert("op".into(), op_json(&op));
                }
                Err(e) => {
                    entry.insert("error".into(), json!(format!("cannot decode op: {e}")));
                }
            }
            if let Some(md) = def.metadata.get(&digest) {
                entry.insert("metadata".into(), metadata_json(md));
            }
            if let Some(locs) = def.source.as_ref().and_then(|s| s.locations.get(&digest)) {
                entry.insert("locations".into(), locations_json(locs));
            }
            Value::Object(entry)
        })
        .collect();
    let sources: Vec<Value> = def
        .source
        .iter()
        .flat_map(|s| &s.infos)
        .map(|i| json!({"filename": i.filename, "language": i.language, "bytes": i.data.len()}))
        .collect();
    json!({ "ops": ops, "sources": sources })
}

fn op_json(op: &pb::Op) -> Value {
    let mut out = Map::new();
    let inputs: Vec<Value> = op
        .inputs
        .iter()
        .map(|i| json!({"digest": i.digest, "index": i.index}))
        .collect();
    out.insert("inputs".into(), Value::Array(inputs));
    if let Some(p) = &op.platform {
        out.insert("platform".into(), json!(Platform::from_pb(p).to_string()));
    }
    if let Some(c) = op.constraints.as_ref().filter(|c| !c.filter.is_empty()) {
        out.insert("constraints".into(), json!(c.filter));
    }
    let (kind, body) = match &op.op {
        None => ("terminal", Value::Bool(true)),
        Some(pb::op::Op::Source(s)) => (
            "source",
            json!({"identifier": s.identifier, "attrs": s.attrs}),
        ),
        Some(pb::op::Op::Exec(e)) => ("exec", exec_json(e)),
        Some(pb::op::Op::File(f)) => (
            "file",
            Value::Array(f.actions.iter().map(file_action_json).collect()),
        ),
        Some(pb::op::Op::Merge(m)) => (
            "merge",
            json!(m.inputs.iter().map(|i| i.input).collect::<Vec<_>>()),
        ),
        Some(pb::op::Op::Diff(d)) => (
            "diff",
            json!({
                "lower": d.lower.as_ref().map(|l| l.input),
                "upper": d.upper.as_ref().map(|u| u.input),
            }),
        ),
    };
    out.insert(kind.into(), body);
    Value::Object(out)
}

fn exec_json(e: &pb::ExecOp) -> Value {
    let meta = e.meta.clone().unwrap_or_default();
    let mounts: Vec<Value> = e
        .mounts
        .iter()
        .map(|m| {
            let kind = enum_name(m.mount_type, pb::MountType::as_str_name);
            let mut v = json!({
                "dest": m.dest,
                "input": m.input,
                "output": m.output,
                "type": kind,
            });
            if m.readonly {
                v["readonly"] = json!(true);
            }
            if !m.selector.is_empty() {
                v["selector"] = json!(m.selector);
            }
            if let Some(c) = &m.cache_opt {
                let sharing = enum_name(c.sharing, pb::CacheSharingOpt::as_str_name);
                v["cache"] = json!({"id": c.id, "sharing": sharing});
            }
            if let Some(t) = &m.tmpfs_opt {
                v["tmpfsSize"] = json!(t.size);
            }
            v
        })
        .collect();
    let network = enum_name(e.network, pb::NetMode::as_str_name);
    let mut v = json!({
        "args": meta.args,
        "env": meta.env,
        "cwd": meta.cwd,
        "network": network,
        "mounts": mounts,
    });
    if !meta.user.is_empty() {
        v["user"] = json!(meta.user);
    }
    if !meta.valid_exit_codes.is_empty() {
        v["validExitCodes"] = json!(meta.valid_exit_codes);
    }
    if e.security != 0 {
        v["security"] = json!(e.security);
    }
    v
}

fn owner_json(owner: &Option<pb::ChownOpt>) -> Value {
    let id = |u: &Option<pb::UserOpt>| match u.as_ref().and_then(|u| u.user.as_ref()) {
        Some(pb::user_opt::User::ById(id)) => json!(id),
        Some(pb::user_opt::User::ByName(n)) => json!(n.name),
        None => Value::Null,
    };
    match owner {
        Some(o) => json!({"user": id(&o.user), "group": id(&o.group)}),
        None => Value::Null,
    }
}

fn file_action_json(a: &pb::FileAction) -> Value {
    use pb::file_action::Action;
    let mut v = json!({"input": a.input, "secondaryInput": a.secondary_input, "output": a.output});
    let (name, body) = match &a.action {
        None => ("none", Value::Null),
        Some(Action::Mkdir(m)) => (
            "mkdir",
            json!({"path": m.path, "mode": format!("{:o}", m.mode), "makeParents": m.make_parents,
                   "owner": owner_json(&m.owner), "timestamp": m.timestamp}),
        ),
        Some(Action::Mkfile(m)) => {
            let data = match std::str::from_utf8(&m.data) {
                Ok(s) => json!(s),
                Err(_) => json!(format!("<{} bytes of binary data>", m.data.len())),
            };
            (
                "mkfile",
                json!({"path": m.path, "mode": format!("{:o}", m.mode), "data": data,
                       "owner": owner_json(&m.owner), "timestamp": m.timestamp}),
            )
        }
        Some(Action::Rm(r)) => (
            "rm",
            json!({"path": r.path, "allowNotFound": r.allow_not_found, "allowWildcard": r.allow_wildcard}),
        ),
        Some(Action::Copy(c)) => (
            "copy",
            json!({
                "src": c.src, "dest": c.dest, "owner": owner_json(&c.owner),
                "mode": if c.mode < 0 { Value::Null } else { json!(format!("{:o}", c.mode)) },
                "followSymlink": c.follow_symlink, "dirCopyContents": c.dir_copy_contents,
                "createDestPath": c.create_dest_path, "allowWildcard": c.allow_wildcard,
                "allowEmptyWildcard": c.allow_empty_wildcard, "timestamp": c.timestamp,
                "includePatterns": c.include_patterns, "excludePatterns": c.exclude_patterns,
            }),
        ),
        Some(Action::Symlink(s)) => (
            "symlink",
            json!({"oldpath": s.oldpath, "newpath": s.newpath, "owner": owner_json(&s.owner),
                   "timestamp": s.timestamp}),
        ),
    };
    v[name] = body;
    v
}

fn metadata_json(md: &pb::OpMetadata) -> Value {
    let mut v = json!({
        "caps": md.caps.iter().filter(|(_, on)| **on).map(|(k, _)| k).collect::<Vec<_>>(),
    });
    if !md.description.is_empty() {
        v["description"] = json!(md.description);
    }
    if md.ignore_cache {
        v["ignoreCache"] = json!(true);
    }
    if let Some(pg) = &md.progress_group {
        v["progressGroup"] = json!({"id": pg.id, "name": pg.name, "weak": pg.weak});
    }
    v
}

fn locations_json(locs: &pb::Locations) -> Value {
    let pos = |p: &Option<pb::Position>| {
        let p = p.unwrap_or_default();
        json!([p.line, p.character])
    };
    Value::Array(
        locs.locations
            .iter()
            .map(|l| {
                json!({
                    "sourceIndex": l.source_index,
                    "ranges": l.ranges.iter().map(|r| json!({"start": pos(&r.start), "end": pos(&r.end)})).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// A proto enum value's name in lower case, or its number when this version does not know it.
fn enum_name<E: TryFrom<i32>>(value: i32, name: fn(&E) -> &'static str) -> String {
    E::try_from(value)
        .map(|e| name(&e).to_ascii_lowercase())
        .unwrap_or_else(|_| value.to_string())
}
