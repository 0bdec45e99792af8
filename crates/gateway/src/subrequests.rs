//! Answers to subrequests (the `requestid` option, e.g. `buildx build
//! --call targets` or `--print targets`): metadata-only results with
//! `result.json`, `result.txt` (what buildx prints) and `version`, in the
//! formats of BuildKit's `frontend.subrequests.describe` and `frontend.targets`.

use std::collections::BTreeMap;

use base64::Engine as _;
use kiln_proto::moby::buildkit::v1::frontend as gw;
use serde::Serialize;

use crate::errors::{unsupported_subrequest, LineRange};
use crate::result::metadata_only;
use kiln_proto::google::rpc::Status;

/// Lists the subrequests a frontend supports.
pub const REQUEST_DESCRIBE: &str = "frontend.subrequests.describe";
/// Lists the build targets.
pub const REQUEST_TARGETS: &str = "frontend.targets";

/// The subrequest named by the `requestid` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subrequest<'a> {
    /// `frontend.subrequests.describe`.
    Describe,
    /// `frontend.targets`.
    Targets,
    /// Anything else; answer with [`crate::errors::unsupported_subrequest`].
    Other(&'a str),
}

impl<'a> Subrequest<'a> {
    /// Classifies a `requestid` value.
    pub fn parse(request_id: &'a str) -> Self {
        match request_id {
            REQUEST_DESCRIBE => Subrequest::Describe,
            REQUEST_TARGETS => Subrequest::Targets,
            other => Subrequest::Other(other),
        }
    }
}

/// A name with a description, as used in request descriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Named {
    /// The name, e.g. an option or a metadata key.
    pub name: String,
    /// What it is for; empty for metadata keys.
    pub description: String,
}

impl Named {
    /// A name without a description, as BuildKit lists metadata keys.
    pub(crate) fn bare(name: &str) -> Self {
        Named {
            name: name.to_string(),
            description: String::new(),
        }
    }
}

/// One supported subrequest, as listed by `frontend.subrequests.describe`.
/// Lists left `None` serialise as `null`, like BuildKit's unset slices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestDescription {
    /// The request id, e.g. `frontend.targets`.
    pub name: String,
    /// The answer's format version.
    pub version: String,
    /// `rpc` for every kiln subrequest.
    #[serde(rename = "type")]
    pub kind: String,
    /// What the request does, shown by buildx.
    pub description: String,
    /// The options the request reads.
    pub opts: Option<Vec<Named>>,
    /// The inputs it takes.
    pub inputs: Option<Vec<Named>>,
    /// The metadata keys of its answer.
    pub metadata: Option<Vec<Named>>,
    /// The refs of its answer.
    pub refs: Option<Vec<Named>>,
}

impl RequestDescription {
    /// A version 1.0.0 `rpc` subrequest answering with the metadata keys `metadata`; kiln's
    /// subrequests take no inputs and return no refs.
    pub(crate) fn rpc(
        name: &str,
        description: &str,
        opts: Option<Vec<Named>>,
        metadata: &[&str],
    ) -> Self {
        RequestDescription {
            name: name.to_string(),
            version: "1.0.0".to_string(),
            kind: "rpc".to_string(),
            description: description.to_string(),
            opts,
            inputs: None,
            metadata: Some(metadata.iter().map(|n| Named::bare(n)).collect()),
            refs: None,
        }
    }
}

/// The description of `frontend.subrequests.describe` itself.
pub fn describe_description() -> RequestDescription {
    RequestDescription::rpc(
        REQUEST_DESCRIBE,
        "List available subrequest types",
        None,
        &["result.json", "result.txt"],
    )
}

/// The description of `frontend.targets`.
pub fn targets_description() -> RequestDescription {
    RequestDescription::rpc(
        REQUEST_TARGETS,
        "List all targets current build supports",
        Some(Vec::new()),
        &["result.json", "result.txt"],
    )
}

/// The answer to `frontend.subrequests.describe`: `supported` followed by the
/// describe request itself.
pub fn describe_result(supported: &[RequestDescription]) -> gw::Result {
    let mut all = supported.to_vec();
    if !all.iter().any(|r| r.name == REQUEST_DESCRIBE) {
        all.push(describe_description());
    }
    let json = serde_json::to_vec_pretty(&all).unwrap_or_default();
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|r| {
            vec![
                r.name
                    .strip_prefix("frontend.")
                    .unwrap_or(&r.name)
                    .to_string(),
                r.version.clone(),
                r.description.clone(),
            ]
        })
        .collect();
    let text = table(&["NAME", "VERSION", "DESCRIPTION"], &rows, 1);
    metadata_only(BTreeMap::from([
        ("result.json".to_string(), json),
        ("result.txt".to_string(), text.into_bytes()),
        ("version".to_string(), b"1.0.0".to_vec()),
    ]))
}

/// Where a target is defined: lines of the source with index `source_index`
/// in [`TargetList::sources`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLocation {
    /// Index into the sources; -1 for none.
    pub source_index: i32,
    /// The lines in that source (a target's definition, an argument's use, a finding).
    pub ranges: Vec<LineRange>,
}

impl Serialize for TargetLocation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The JSON shape of BuildKit's pb.Location (zero values omitted).
        #[derive(Serialize)]
        struct Pos {
            line: u32,
        }
        #[derive(Serialize)]
        struct Range {
            start: Pos,
            end: Pos,
        }
        #[derive(Serialize)]
        struct Loc {
            #[serde(rename = "sourceIndex", skip_serializing_if = "is_zero")]
            source_index: i32,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            ranges: Vec<Range>,
        }
        fn is_zero(v: &i32) -> bool {
            *v == 0
        }
        Loc {
            source_index: self.source_index,
            ranges: self
                .ranges
                .iter()
                .map(|r| Range {
                    start: Pos { line: r.start },
                    end: Pos { line: r.end },
                })
                .collect(),
        }
        .serialize(s)
    }
}

/// One build target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The target's name, what `--target` takes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Whether it is built when no target is given.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    /// What it builds.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The image it starts from.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub base: String,
    /// The platform it is pinned to, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub platform: String,
    /// Where it is defined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<TargetLocation>,
}

/// The answer to `frontend.targets`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TargetList {
    /// The targets, by name.
    pub targets: Vec<Target>,
    /// Source files referred to by target locations (base64 in JSON).
    #[serde(serialize_with = "base64_list")]
    pub sources: Vec<Vec<u8>>,
}

fn base64_list<S: serde::Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    let engine = base64::engine::general_purpose::STANDARD;
    s.collect_seq(v.iter().map(|b| engine.encode(b)))
}

/// The result for `frontend.targets`.
pub fn targets_result(list: &TargetList) -> gw::Result {
    let json = serde_json::to_vec_pretty(list).unwrap_or_default();
    let rows: Vec<Vec<String>> = list
        .targets
        .iter()
        .map(|t| {
            let name = match (t.name.is_empty(), t.default) {
                (true, true) => "(default)".to_string(),
                (false, true) => format!("{} (default)", t.name),
                _ => t.name.clone(),
            };
            vec![name, t.description.clone()]
        })
        .collect();
    let text = table(&["TARGET", "DESCRIPTION"], &rows, 1);
    metadata_only(BTreeMap::from([
        ("result.json".to_string(), json),
        ("result.txt".to_string(), text.into_bytes()),
        ("version".to_string(), b"1.0.0".to_vec()),
    ]))
}

/// What answers one subrequest.
type Answer<'a> = Box<dyn FnOnce() -> Result<gw::Result, Status> + 'a>;

/// The subrequests a frontend answers, each registered with its description and a function that
/// computes its answer only when asked. `frontend.subrequests.describe` lists them all;
/// anything unregistered gets the Unimplemented status buildx expects.
///
/// ```
/// use kiln_gateway::subrequests::{Subrequests, TargetList, REQUEST_TARGETS};
/// let answer = Subrequests::new()
///     .targets(|| Ok(TargetList::default()))
///     .answer(REQUEST_TARGETS);
/// assert!(answer.is_ok());
/// ```
#[derive(Default)]
pub struct Subrequests<'a> {
    handlers: Vec<(RequestDescription, Answer<'a>)>,
}

impl<'a> Subrequests<'a> {
    /// No subrequests but `describe`.
    pub fn new() -> Self {
        Subrequests::default()
    }

    /// Registers a subrequest: `answer` runs when `description.name` is requested.
    pub fn with(
        mut self,
        description: RequestDescription,
        answer: impl FnOnce() -> Result<gw::Result, Status> + 'a,
    ) -> Self {
        self.handlers.push((description, Box::new(answer)));
        self
    }

    /// Registers `frontend.targets`, answered with the list `targets` makes.
    pub fn targets(self, targets: impl FnOnce() -> Result<TargetList, Status> + 'a) -> Self {
        self.with(targets_description(), move || {
            targets().map(|list| targets_result(&list))
        })
    }

    /// Answers `request_id`: describe lists every registered subrequest, a registered one runs
    /// its answer, anything else is an Unimplemented status to pass to `Return`.
    pub fn answer(self, request_id: &str) -> Result<gw::Result, Status> {
        if Subrequest::parse(request_id) == Subrequest::Describe {
            let descriptions: Vec<RequestDescription> =
                self.handlers.into_iter().map(|(d, _)| d).collect();
            return Ok(describe_result(&descriptions));
        }
        match self
            .handlers
            .into_iter()
            .find(|(d, _)| d.name == request_id)
        {
            Some((_, answer)) => answer(),
            None => Err(unsupported_subrequest(request_id)),
        }
    }
}

/// Answers the subrequest `request_id` for a frontend whose only subrequest is `frontend.targets`
/// (when `targets` is given); see [`Subrequests`] for more.
pub fn answer(request_id: &str, targets: Option<&TargetList>) -> Result<gw::Result, Status> {
    let requests = match targets {
        Some(list) => Subrequests::new().targets(|| Ok(list.clone())),
        None => Subrequests::new(),
    };
    requests.answer(request_id)
}

/// Lays out rows like Go's tabwriter: every column but the last is as wide as
/// its widest cell plus `padding` spaces; the last is not padded. An empty
/// `header` means no header row.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>], padding: usize) -> String {
    let columns = rows
        .first()
        .map_or(header.len(), Vec::len)
        .max(header.len());
    let mut widths = vec![0usize; columns];
    let header_row = (!header.is_empty()).then(|| header.iter().map(|s| s.to_string()).collect());
    let all_rows: Vec<Vec<String>> = header_row.into_iter().chain(rows.iter().cloned()).collect();
    for row in &all_rows {
        for (i, cell) in row.iter().enumerate().take(columns.saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &all_rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < columns {
                let pad = widths[i] + padding - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn meta(res: &gw::Result, key: &str) -> Vec<u8> {
        res.metadata
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("missing metadata {key}"))
    }

    #[test]
    fn answer_dispatches_by_request_id() {
        let list = TargetList::default();
        let described = answer(REQUEST_DESCRIBE, None).unwrap();
        let v: Value = serde_json::from_slice(&meta(&described, "result.json")).unwrap();
        assert_eq!(
            v.as_array().map(Vec::len),
            Some(1),
            "only describe itself without targets"
        );
        let with_targets = answer(REQUEST_DESCRIBE, Some(&list)).unwrap();
        let v: Value = serde_json::from_slice(&meta(&with_targets, "result.json")).unwrap();
        assert_eq!(v[0]["name"], REQUEST_TARGETS);
        assert!(answer(REQUEST_TARGETS, Some(&list)).is_ok());
        assert_eq!(answer(REQUEST_TARGETS, None).unwrap_err().code, 12);
        let other = answer("frontend.outline", Some(&list)).unwrap_err();
        assert_eq!(other.code, 12);
        assert!(other.message.contains("frontend.outline"));
    }

    #[test]
    fn a_registered_subrequest_is_described_and_answered_only_when_asked() {
        let outline = RequestDescription {
            name: "frontend.outline".to_string(),
            description: "List the build's options".to_string(),
            ..targets_description()
        };
        let registered = || {
            Subrequests::new()
                .targets(|| Ok(TargetList::default()))
                .with(outline.clone(), || {
                    Ok(metadata_only(BTreeMap::from([(
                        "result.txt".to_string(),
                        b"outline".to_vec(),
                    )])))
                })
        };
        let described = registered().answer(REQUEST_DESCRIBE).unwrap();
        let v: Value = serde_json::from_slice(&meta(&described, "result.json")).unwrap();
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [REQUEST_TARGETS, "frontend.outline", REQUEST_DESCRIBE]
        );
        let answered = registered().answer("frontend.outline").unwrap();
        assert_eq!(meta(&answered, "result.txt"), b"outline");
        let never = Subrequests::new().targets(|| panic!("targets computed for describe"));
        assert!(never.answer(REQUEST_DESCRIBE).is_ok());
        assert_eq!(registered().answer("frontend.nope").unwrap_err().code, 12);
    }

    #[test]
    fn classifies_request_ids() {
        assert_eq!(Subrequest::parse("frontend.targets"), Subrequest::Targets);
        assert_eq!(
            Subrequest::parse("frontend.subrequests.describe"),
            Subrequest::Describe
        );
        assert_eq!(
            Subrequest::parse("frontend.outline"),
            Subrequest::Other("frontend.outline")
        );
    }

    #[test]
    fn describe_lists_targets_and_itself() {
        let res = describe_result(&[targets_description()]);
        assert!(res.result.is_none());
        let v: Value = serde_json::from_slice(&meta(&res, "result.json")).unwrap();
        assert_eq!(v[0]["name"], "frontend.targets");
        assert_eq!(v[0]["type"], "rpc");
        assert_eq!(v[0]["opts"], json!([]));
        assert_eq!(
            v[0]["metadata"],
            json!([{"name":"result.json","description":""},{"name":"result.txt","description":""}])
        );
        assert_eq!(v[1]["name"], "frontend.subrequests.describe");
        assert_eq!(v[1]["version"], "1.0.0");
        assert_eq!(v[1]["opts"], Value::Null);
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(meta(&res, "version"), b"1.0.0");
        let txt = String::from_utf8(meta(&res, "result.txt")).unwrap();
        assert_eq!(
            txt,
            // The name column is as wide as "subrequests.describe" plus one space.
            format!(
                "{:21}{:8}DESCRIPTION\n{:21}{:8}List all targets current build supports\n{:21}{:8}List available subrequest types\n",
                "NAME", "VERSION", "targets", "1.0.0", "subrequests.describe", "1.0.0"
            )
        );
    }

    #[test]
    fn targets_json_and_text() {
        let list = TargetList {
            targets: vec![
                Target {
                    name: "gvisor".into(),
                    default: true,
                    description: "gVisor runtime".into(),
                    location: Some(TargetLocation {
                        source_index: 0,
                        ranges: vec![LineRange { start: 1, end: 3 }],
                    }),
                    ..Default::default()
                },
                Target {
                    name: "base".into(),
                    ..Default::default()
                },
            ],
            sources: vec![b"name: gvisor\n".to_vec()],
        };
        let res = targets_result(&list);
        let v: Value = serde_json::from_slice(&meta(&res, "result.json")).unwrap();
        assert_eq!(
            v,
            json!({
                "targets": [
                    {"name":"gvisor","default":true,"description":"gVisor runtime",
                     "location":{"ranges":[{"start":{"line":1},"end":{"line":3}}]}},
                    {"name":"base"}
                ],
                "sources": ["bmFtZTogZ3Zpc29yCg=="]
            })
        );
        let txt = String::from_utf8(meta(&res, "result.txt")).unwrap();
        assert_eq!(
            txt,
            "TARGET           DESCRIPTION\ngvisor (default) gVisor runtime\nbase             \n"
        );
        assert_eq!(meta(&res, "version"), b"1.0.0");
    }
}
