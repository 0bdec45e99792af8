//! The `frontend.outline` subrequest (`docker buildx build --call outline`, `--print outline` on
//! buildx 0.13): a target's parameters in BuildKit's outline format (`name`, `description`,
//! `args` with value, description and a `pb.Location` into `sources`), which buildx prints as a
//! `TARGET` header and a `BUILD ARG / VALUE / DESCRIPTION` table.

use std::collections::BTreeMap;

use base64::Engine as _;
use kiln_proto::moby::buildkit::v1::frontend as gw;
use serde::Serialize;

use crate::result::metadata_only;
use crate::subrequests::{table, Named, RequestDescription, TargetLocation};

/// What buildx sends for `--call outline`.
pub const REQUEST_OUTLINE: &str = "frontend.outline";

/// One parameter of the target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Arg {
    /// The parameter's name, e.g. a build arg.
    pub name: String,
    /// What it changes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Its value for this build.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Where it is used: lines of one of [`Outline::sources`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<TargetLocation>,
}

/// A target's outline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outline {
    /// The target's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The target's description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The parameters the target reads.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    /// Files the locations point into (base64 in JSON).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "base64_list")]
    pub sources: Vec<Vec<u8>>,
}

fn base64_list<S: serde::Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    let engine = base64::engine::general_purpose::STANDARD;
    s.collect_seq(v.iter().map(|b| engine.encode(b)))
}

impl Outline {
    /// The index of `data` in the sources, adding it when new.
    pub fn add_source(&mut self, data: &[u8]) -> i32 {
        let i = match self.sources.iter().position(|s| s == data) {
            Some(i) => i,
            None => {
                self.sources.push(data.to_vec());
                self.sources.len() - 1
            }
        };
        i as i32
    }

    /// The text buildx prints for this outline.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if !self.name.is_empty() || !self.description.is_empty() {
            let name = if self.name.is_empty() {
                "(default)"
            } else {
                &self.name
            };
            let mut rows = vec![vec!["TARGET:".to_string(), name.to_string()]];
            if !self.description.is_empty() {
                rows.push(vec!["DESCRIPTION:".to_string(), self.description.clone()]);
            }
            out.push_str(&table(&[], &rows, 1));
            out.push('\n');
        }
        if !self.args.is_empty() {
            let rows: Vec<Vec<String>> = self
                .args
                .iter()
                .map(|a| vec![a.name.clone(), a.value.clone(), a.description.clone()])
                .collect();
            out.push_str(&table(&["BUILD ARG", "VALUE", "DESCRIPTION"], &rows, 3));
            out.push('\n');
        }
        out
    }
}

/// The answer to `frontend.outline`.
pub fn outline_result(outline: &Outline) -> gw::Result {
    let json = serde_json::to_vec_pretty(outline).unwrap_or_default();
    metadata_only(BTreeMap::from([
        ("result.json".to_string(), json),
        ("result.txt".to_string(), outline.to_text().into_bytes()),
        ("version".to_string(), b"1.0.0".to_vec()),
    ]))
}

/// The description of `frontend.outline` for `frontend.subrequests.describe`.
pub fn outline_description() -> RequestDescription {
    RequestDescription::rpc(
        REQUEST_OUTLINE,
        "List all parameters current build target supports",
        Some(vec![Named {
            name: "target".to_string(),
            description: "Target build stage".to_string(),
        }]),
        &["result.json", "result.txt"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::LineRange;
    use serde_json::{json, Value};

    fn outline() -> Outline {
        let mut o = Outline {
            name: "hello".into(),
            description: "Says hello".into(),
            ..Default::default()
        };
        let i = o.add_source(b"name: hello\n");
        assert_eq!(o.add_source(b"name: hello\n"), i);
        o.args = vec![
            Arg {
                name: "TAG".into(),
                description: "build arg".into(),
                value: String::new(),
                location: Some(TargetLocation {
                    source_index: i,
                    ranges: vec![LineRange::line(1)],
                }),
            },
            Arg {
                name: "VERSION".into(),
                description: "The release.".into(),
                value: "1.2.3".into(),
                location: None,
            },
        ];
        o
    }

    #[test]
    fn json_has_the_shape_of_buildkit_outline() {
        let res = outline_result(&outline());
        let v: Value = serde_json::from_slice(&res.metadata["result.json"]).unwrap();
        // outline.Outline / outline.Arg / pb.Location (frontend/subrequests/outline).
        assert_eq!(
            v,
            json!({
                "name": "hello",
                "description": "Says hello",
                "args": [
                    {"name": "TAG", "description": "build arg",
                     "location": {"ranges": [{"start": {"line": 1}, "end": {"line": 1}}]}},
                    {"name": "VERSION", "description": "The release.", "value": "1.2.3"}
                ],
                "sources": ["bmFtZTogaGVsbG8K"]
            })
        );
        assert_eq!(res.metadata["version"], b"1.0.0");
        let empty: Value =
            serde_json::from_slice(&outline_result(&Outline::default()).metadata["result.json"])
                .unwrap();
        assert_eq!(empty, json!({}), "empty fields are left out as Go does");
    }

    #[test]
    fn text_is_the_target_header_and_the_args_table() {
        assert_eq!(
            outline().to_text(),
            "TARGET:      hello\nDESCRIPTION: Says hello\n\n\
             BUILD ARG   VALUE   DESCRIPTION\n\
             TAG                 build arg\n\
             VERSION     1.2.3   The release.\n\n"
        );
    }
}
