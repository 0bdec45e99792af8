//! Errors as BuildKit understands them: `google.rpc.Status` values for the
//! `Return` call, carrying BuildKit's typed details (source locations, the
//! unsupported-subrequest marker) so buildx can print file lines, and the
//! forwarding of a failed call's status with its details unchanged.
//!
//! BuildKit reads details with containerd's typeurl registry, whose entries
//! are JSON encoded by Go's `encoding/json` over the generated structs; so the
//! type URLs end in `+json`, field names are the proto names, zero values are
//! omitted and bytes are standard base64.

use base64::Engine as _;
use kiln_proto::google::rpc::Status;
use prost::Message as _;
use prost_types::Any;
use serde::{Deserialize, Serialize};

/// gRPC code `Unknown`, what BuildKit uses for ordinary build failures.
pub const CODE_UNKNOWN: i32 = 2;
/// gRPC code `InvalidArgument`.
pub const CODE_INVALID_ARGUMENT: i32 = 3;
/// gRPC code `Unimplemented`, used for unsupported subrequests.
pub const CODE_UNIMPLEMENTED: i32 = 12;

/// Type URL of a JSON-encoded `errdefs.Source` detail.
pub const SOURCE_TYPE_URL: &str = "github.com/moby/buildkit/errdefs.Source+json";
/// Type URL of a JSON-encoded `errdefs.Subrequest` detail.
pub const SUBREQUEST_TYPE_URL: &str = "github.com/moby/buildkit/errdefs.Subrequest+json";

/// A span of whole lines in a source file, 1-based and inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRange {
    /// First line.
    pub start: u32,
    /// Last line (equal to `start` for one line).
    pub end: u32,
}

impl LineRange {
    /// One line.
    pub fn line(line: u32) -> Self {
        LineRange {
            start: line,
            end: line,
        }
    }
}

/// A file and the lines an error is about; buildx prints those lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// The name shown to the user, e.g. `gvisor/pkg.yaml`.
    pub filename: String,
    /// The whole file; buildx cuts the lines out of it.
    pub data: Vec<u8>,
    /// Syntax hint for the printer, e.g. `yaml`.
    pub language: String,
    /// The lines buildx shows, each range printed with its surrounding lines.
    pub ranges: Vec<LineRange>,
}

impl SourceLocation {
    /// A YAML file location covering `ranges`.
    pub fn yaml(
        filename: impl Into<String>,
        data: impl Into<Vec<u8>>,
        ranges: Vec<LineRange>,
    ) -> Self {
        SourceLocation {
            filename: filename.into(),
            data: data.into(),
            language: "yaml".to_string(),
            ranges,
        }
    }

    /// The `errdefs.Source` detail for a `google.rpc.Status`.
    pub fn to_any(&self) -> Any {
        let json = SourceJson {
            info: Some(SourceInfoJson {
                filename: self.filename.clone(),
                data: base64::engine::general_purpose::STANDARD.encode(&self.data),
                language: self.language.clone(),
            }),
            ranges: self
                .ranges
                .iter()
                .map(|r| RangeJson {
                    start: Some(PositionJson::at_line(r.start)),
                    end: Some(PositionJson::at_line(r.end)),
                })
                .collect(),
        };
        Any {
            type_url: SOURCE_TYPE_URL.to_string(),
            // Serialising plain structs of strings and integers cannot fail.
            value: serde_json::to_vec(&json).unwrap_or_default(),
        }
    }

    /// Reads an `errdefs.Source` detail in the JSON form (what BuildKit sends)
    /// or the binary protobuf form; `None` for other details.
    pub fn from_any(any: &Any) -> Option<Self> {
        let (filename, data, language, ranges) = match any.type_url.as_str() {
            SOURCE_TYPE_URL => {
                let json: SourceJson = serde_json::from_slice(&any.value).ok()?;
                let info = json.info.unwrap_or_default();
                let data = base64::engine::general_purpose::STANDARD
                    .decode(info.data)
                    .ok()?;
                let lines = json
                    .ranges
                    .iter()
                    .map(|r| [&r.start, &r.end].map(|p| p.as_ref().map(|p| p.line)));
                (
                    info.filename,
                    data,
                    info.language,
                    lines.map(line_range).collect(),
                )
            }
            url if url.trim_start_matches("type.googleapis.com/") == "errdefs.Source" => {
                let src = kiln_proto::errdefs::Source::decode(any.value.as_slice()).ok()?;
                let info = src.info.unwrap_or_default();
                let lines = src
                    .ranges
                    .iter()
                    .map(|r| [&r.start, &r.end].map(|p| p.as_ref().map(|p| p.line)));
                (
                    info.filename,
                    info.data,
                    info.language,
                    lines.map(line_range).collect(),
                )
            }
            _ => return None,
        };
        Some(SourceLocation {
            filename,
            data,
            language,
            ranges,
        })
    }
}

/// A decoded range's lines (start, end); absent or negative lines read as 0.
fn line_range(lines: [Option<i32>; 2]) -> LineRange {
    let line = |l: Option<i32>| l.map_or(0, |l| l.max(0) as u32);
    LineRange {
        start: line(lines[0]),
        end: line(lines[1]),
    }
}

// Mirrors of the Go structs' JSON shape (errdefs.Source, pb.SourceInfo,
// pb.Range, pb.Position), with Go's omitempty behaviour.
#[derive(Serialize, Deserialize, Default)]
struct SourceJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    info: Option<SourceInfoJson>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "vec_or_null"
    )]
    ranges: Vec<RangeJson>,
}

#[derive(Serialize, Deserialize, Default)]
struct SourceInfoJson {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    filename: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    data: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    language: String,
}

#[derive(Serialize, Deserialize, Default)]
struct RangeJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<PositionJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<PositionJson>,
}

#[derive(Serialize, Deserialize, Default)]
struct PositionJson {
    #[serde(default, skip_serializing_if = "is_zero")]
    line: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    character: i32,
}

impl PositionJson {
    fn at_line(line: u32) -> Self {
        PositionJson {
            line: i32::try_from(line).unwrap_or(i32::MAX),
            character: 0,
        }
    }
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

fn vec_or_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A build failure (code Unknown) pointing at zero or more source locations;
/// buildx prints every location it finds.
pub fn build_error(message: impl Into<String>, sources: &[SourceLocation]) -> Status {
    Status {
        code: CODE_UNKNOWN,
        message: message.into(),
        details: sources.iter().map(SourceLocation::to_any).collect(),
    }
}

/// The answer to a subrequest this frontend does not implement; buildx treats
/// it as "not supported" rather than as a failed build.
pub fn unsupported_subrequest(name: &str) -> Status {
    #[derive(Serialize)]
    struct SubrequestJson<'a> {
        #[serde(skip_serializing_if = "str::is_empty")]
        name: &'a str,
    }
    Status {
        code: CODE_UNIMPLEMENTED,
        message: format!("unsupported request {name}"),
        details: vec![Any {
            type_url: SUBREQUEST_TYPE_URL.to_string(),
            value: serde_json::to_vec(&SubrequestJson { name }).unwrap_or_default(),
        }],
    }
}

/// The name in an `errdefs.Subrequest` detail, if `any` is one.
pub fn subrequest_name(any: &Any) -> Option<String> {
    #[derive(Deserialize)]
    struct SubrequestJson {
        #[serde(default)]
        name: String,
    }
    (any.type_url == SUBREQUEST_TYPE_URL)
        .then(|| serde_json::from_slice::<SubrequestJson>(&any.value).ok())
        .flatten()
        .map(|s| s.name)
}

/// The `google.rpc.Status` of a failed gateway call, details included, so a
/// Solve error (e.g. a failing step with BuildKit's own source location) can
/// be returned unchanged.
pub fn status_from_tonic(status: &tonic::Status) -> Status {
    let code = i32::from(status.code());
    // grpc-status-details-bin holds an encoded google.rpc.Status; prefer it,
    // as it carries the details, but keep the header code and message if the
    // encoded form lacks them.
    if !status.details().is_empty() {
        if let Ok(mut decoded) = Status::decode(status.details()) {
            if decoded.code == 0 {
                decoded.code = code;
            }
            if decoded.message.is_empty() {
                decoded.message = status.message().to_string();
            }
            return decoded;
        }
    }
    Status {
        code: if code == 0 { CODE_UNKNOWN } else { code },
        message: status.message().to_string(),
        details: Vec::new(),
    }
}

/// The tonic form of a `google.rpc.Status` (used by the fake server and by
/// callers that want to raise one as a call error).
pub fn status_to_tonic(status: &Status) -> tonic::Status {
    tonic::Status::with_details(
        tonic::Code::from(status.code),
        status.message.clone(),
        status.encode_to_vec().into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const PKG: &str = "name: gvisor\nvariant: scratch\nsteps:\n  - bad: [\n";

    #[test]
    fn source_detail_json_matches_buildkit_shape() {
        let loc =
            SourceLocation::yaml("gvisor/pkg.yaml", PKG, vec![LineRange { start: 4, end: 5 }]);
        let any = loc.to_any();
        assert_eq!(any.type_url, "github.com/moby/buildkit/errdefs.Source+json");
        let v: Value = serde_json::from_slice(&any.value).unwrap();
        assert_eq!(v["info"]["filename"], "gvisor/pkg.yaml");
        assert_eq!(v["info"]["language"], "yaml");
        let data = base64::engine::general_purpose::STANDARD
            .decode(v["info"]["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(data, PKG.as_bytes());
        assert_eq!(v["ranges"][0]["start"]["line"], 4);
        assert_eq!(v["ranges"][0]["end"]["line"], 5);
        // Go omits zero values: no "character", no "definition".
        assert!(v["ranges"][0]["start"].get("character").is_none());
        assert!(v["info"].get("definition").is_none());
        assert_eq!(v.as_object().unwrap().len(), 2);
    }

    #[test]
    fn build_error_carries_every_location() {
        let a = SourceLocation::yaml("a/pkg.yaml", "x: 1\n", vec![LineRange::line(1)]);
        let b = SourceLocation::yaml("b/pkg.yaml", "y: 2\nz: 3\n", vec![LineRange::line(2)]);
        let st = build_error("two problems", &[a.clone(), b.clone()]);
        assert_eq!(st.code, 2);
        assert_eq!(st.message, "two problems");
        let back: Vec<SourceLocation> = st
            .details
            .iter()
            .filter_map(SourceLocation::from_any)
            .collect();
        assert_eq!(back, vec![a, b]);
    }

    #[test]
    fn reads_protobuf_encoded_source_detail() {
        let src = kiln_proto::errdefs::Source {
            info: Some(kiln_proto::pb::SourceInfo {
                filename: "f.yaml".into(),
                data: b"a\nb\n".to_vec(),
                language: "yaml".into(),
                ..Default::default()
            }),
            ranges: vec![kiln_proto::pb::Range {
                start: Some(kiln_proto::pb::Position {
                    line: 2,
                    character: 0,
                }),
                end: Some(kiln_proto::pb::Position {
                    line: 2,
                    character: 3,
                }),
            }],
        };
        let any = Any {
            type_url: "type.googleapis.com/errdefs.Source".into(),
            value: src.encode_to_vec(),
        };
        let loc = SourceLocation::from_any(&any).unwrap();
        assert_eq!(loc.filename, "f.yaml");
        assert_eq!(loc.ranges, vec![LineRange::line(2)]);
        assert_eq!(
            SourceLocation::from_any(&Any {
                type_url: "other".into(),
                value: vec![]
            }),
            None
        );
    }

    #[test]
    fn unsupported_subrequest_is_unimplemented_with_name() {
        let st = unsupported_subrequest("frontend.outline");
        assert_eq!(st.code, 12);
        assert_eq!(st.details.len(), 1);
        assert_eq!(
            st.details[0].type_url,
            "github.com/moby/buildkit/errdefs.Subrequest+json"
        );
        let v: Value = serde_json::from_slice(&st.details[0].value).unwrap();
        assert_eq!(v, serde_json::json!({"name": "frontend.outline"}));
        assert_eq!(
            subrequest_name(&st.details[0]).as_deref(),
            Some("frontend.outline")
        );
    }

    #[test]
    fn tonic_status_round_trip_keeps_details() {
        let original = build_error(
            "process did not complete successfully",
            &[SourceLocation::yaml(
                "p/pkg.yaml",
                "a\n",
                vec![LineRange::line(1)],
            )],
        );
        let forwarded = status_from_tonic(&status_to_tonic(&original));
        assert_eq!(forwarded, original);

        let plain = status_from_tonic(&tonic::Status::internal("boom"));
        assert_eq!(plain.code, 13);
        assert_eq!(plain.message, "boom");
        assert!(plain.details.is_empty());
    }
}
