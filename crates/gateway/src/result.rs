//! Building the `Result` handed to `Return`: one ref with
//! `containerimage.config` for a single-platform build, or a map keyed by
//! platform id with `containerimage.config/<id>` per platform; both with
//! `refs.platforms` listing the platforms, as BuildKit's exporters expect.
//! Also the image config JSON each platform needs.

use std::collections::BTreeMap;

use kiln_proto::moby::buildkit::v1::frontend as gw;
use serde::Serialize;

use crate::client::Caps;
use kiln_llb::Platform;

/// Metadata key of the image config (suffixed `/<platform id>` in maps).
pub const IMAGE_CONFIG_KEY: &str = "containerimage.config";
/// Metadata key of the platform list.
pub const PLATFORMS_KEY: &str = "refs.platforms";
/// Metadata key of the SOURCE_DATE_EPOCH (suffixed like the config).
pub const EPOCH_KEY: &str = "source.date.epoch";
/// The in-toto predicate type of an SPDX document.
pub const PREDICATE_SPDX: &str = "https://spdx.dev/Document";
/// Attestation metadata saying why it exists (`sbom` for SBOMs), as BuildKit's scanner sets it.
pub const ATTESTATION_REASON_KEY: &str = "reason";

/// An in-toto attestation whose predicate is the file at `path` in the solved ref `ref_id`. Its
/// subject is the platform's image (BuildKit fills it in when none is given).
pub fn in_toto_attestation(
    ref_id: impl Into<String>,
    path: impl Into<String>,
    predicate_type: impl Into<String>,
    reason: &str,
) -> gw::Attestation {
    gw::Attestation {
        kind: gw::AttestationKind::InToto as i32,
        metadata: BTreeMap::from([(
            ATTESTATION_REASON_KEY.to_string(),
            reason.as_bytes().to_vec(),
        )]),
        r#ref: Some(gw::Ref {
            id: ref_id.into(),
            def: None,
        }),
        path: path.into(),
        in_toto_predicate_type: predicate_type.into(),
        in_toto_subjects: Vec::new(),
    }
}

/// Why a result could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    /// Nothing was added.
    #[error("the build produced no platform result to return")]
    Empty,
    /// The same platform was added twice.
    #[error("platform {0} was added to the result twice")]
    DuplicatePlatform(String),
    /// Several platforms were added to a single-platform result.
    #[error("a single-platform result can hold one platform, but {0} were added; request a multi-platform result")]
    SeveralInSingle(usize),
}

struct Entry {
    platform: Platform,
    ref_id: String,
    image_config: Vec<u8>,
}

/// Collects per-platform refs and configs, then produces the `Result`.
pub struct ResultBuilder {
    multi_platform: bool,
    entries: Vec<Entry>,
    epoch: Option<i64>,
    metadata: BTreeMap<String, Vec<u8>>,
    attestations: BTreeMap<String, Vec<gw::Attestation>>,
}

impl ResultBuilder {
    /// `multi_platform` is [`crate::BuildOptions::multi_platform`]: it selects
    /// the map form even for one platform.
    pub fn new(multi_platform: bool) -> Self {
        ResultBuilder {
            multi_platform,
            entries: Vec::new(),
            epoch: None,
            metadata: BTreeMap::new(),
            attestations: BTreeMap::new(),
        }
    }

    /// Attaches an attestation to `platform`'s image (keyed by platform id in single- and
    /// multi-platform results alike, as BuildKit's exporters look them up). The daemon must
    /// have [`crate::client::CAP_ATTESTATIONS`].
    pub fn attestation(&mut self, platform: &Platform, attestation: gw::Attestation) -> &mut Self {
        self.attestations
            .entry(platform.id())
            .or_default()
            .push(attestation);
        self
    }

    /// Adds a platform's solved ref id and its image config JSON. Platforms
    /// keep the order they are added in (use the order of the `platform` option).
    pub fn add(
        &mut self,
        platform: Platform,
        ref_id: impl Into<String>,
        image_config: Vec<u8>,
    ) -> Result<&mut Self, ResultError> {
        if self
            .entries
            .iter()
            .any(|e| e.platform.id() == platform.id())
        {
            return Err(ResultError::DuplicatePlatform(platform.id()));
        }
        self.entries.push(Entry {
            platform,
            ref_id: ref_id.into(),
            image_config,
        });
        Ok(self)
    }

    /// Records SOURCE_DATE_EPOCH for every platform (`source.date.epoch`).
    pub fn source_date_epoch(&mut self, epoch: Option<i64>) -> &mut Self {
        self.epoch = epoch;
        self
    }

    /// Adds other metadata verbatim.
    pub fn metadata(&mut self, key: impl Into<String>, value: Vec<u8>) -> &mut Self {
        self.metadata.insert(key.into(), value);
        self
    }

    /// Produces the `Result`. Refs use `Ref` messages when the daemon has the
    /// `proto.refarray` cap, bare ids otherwise.
    /// Long by design: the single- and multi-platform shapes of BuildKit's result side by side.
    pub fn build(self, caps: &Caps) -> Result<gw::Result, ResultError> {
        if self.entries.is_empty() {
            return Err(ResultError::Empty);
        }
        if !self.multi_platform && self.entries.len() > 1 {
            return Err(ResultError::SeveralInSingle(self.entries.len()));
        }
        let ref_array = caps.gateway(crate::client::CAP_PROTO_REF_ARRAY);
        let mut metadata = self.metadata;
        let attestations = self
            .attestations
            .into_iter()
            .map(|(id, list)| (id, gw::Attestations { attestation: list }))
            .collect();
        let platforms = PlatformsJson {
            platforms: self
                .entries
                .iter()
                .map(|e| PlatformJson {
                    id: e.platform.id(),
                    platform: OciPlatform::of(&e.platform),
                })
                .collect(),
        };
        // Serialising strings cannot fail.
        metadata.insert(
            PLATFORMS_KEY.to_string(),
            serde_json::to_vec(&platforms).unwrap_or_default(),
        );

        let result = if self.multi_platform {
            let mut ids = BTreeMap::new();
            for e in self.entries {
                let id = e.platform.id();
                metadata.insert(format!("{IMAGE_CONFIG_KEY}/{id}"), e.image_config);
                if let Some(epoch) = self.epoch {
                    metadata.insert(format!("{EPOCH_KEY}/{id}"), epoch.to_string().into_bytes());
                }
                ids.insert(id, e.ref_id);
            }
            ref_map(ids, ref_array)
        } else {
            let Some(e) = self.entries.into_iter().next() else {
                return Err(ResultError::Empty);
            };
            metadata.insert(IMAGE_CONFIG_KEY.to_string(), e.image_config);
            if let Some(epoch) = self.epoch {
                metadata.insert(EPOCH_KEY.to_string(), epoch.to_string().into_bytes());
            }
            single_ref(e.ref_id, ref_array)
        };
        Ok(gw::Result {
            result: Some(result),
            metadata,
            attestations,
        })
    }
}

/// A sub-frontend's solve handed back unchanged as this frontend's result: its refs (as `Ref`
/// messages when the daemon has the `proto.refarray` cap) and its metadata.
pub fn forwarded(solved: crate::client::Solved, caps: &Caps) -> gw::Result {
    use crate::client::SolvedRefs;
    let ref_array = caps.gateway(crate::client::CAP_PROTO_REF_ARRAY);
    let result = match solved.refs {
        SolvedRefs::None => None,
        SolvedRefs::Single(id) => Some(single_ref(id, ref_array)),
        SolvedRefs::Map(ids) => Some(ref_map(ids, ref_array)),
    };
    gw::Result {
        result,
        metadata: solved.metadata,
        attestations: BTreeMap::new(),
    }
}

/// One ref: a `Ref` message with the `proto.refarray` cap, a bare id without it.
fn single_ref(id: String, ref_array: bool) -> gw::result::Result {
    if ref_array {
        gw::result::Result::Ref(gw::Ref { id, def: None })
    } else {
        gw::result::Result::RefDeprecated(id)
    }
}

/// Refs keyed by platform id, as [`single_ref`] shapes one.
fn ref_map(ids: BTreeMap<String, String>, ref_array: bool) -> gw::result::Result {
    if ref_array {
        gw::result::Result::Refs(gw::RefMap {
            refs: ids
                .into_iter()
                .map(|(k, id)| (k, gw::Ref { id, def: None }))
                .collect(),
        })
    } else {
        gw::result::Result::RefsDeprecated(gw::RefMapDeprecated { refs: ids })
    }
}

/// A result carrying only metadata (subrequest answers).
pub fn metadata_only(metadata: BTreeMap<String, Vec<u8>>) -> gw::Result {
    gw::Result {
        result: None,
        metadata,
        attestations: BTreeMap::new(),
    }
}

// BuildKit's Go struct has no JSON tags, hence the capitalised keys.
#[derive(Serialize)]
struct PlatformsJson<'a> {
    #[serde(rename = "Platforms")]
    platforms: Vec<PlatformJson<'a>>,
}

#[derive(Serialize)]
struct PlatformJson<'a> {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Platform")]
    platform: OciPlatform<'a>,
}

/// A platform in OCI's JSON form (field order as in the OCI spec).
#[derive(Serialize)]
struct OciPlatform<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
}

impl<'a> OciPlatform<'a> {
    fn of(p: &'a Platform) -> Self {
        OciPlatform {
            architecture: &p.architecture,
            os: &p.os,
            variant: p.variant.as_deref(),
        }
    }
}

/// The OCI image config for one platform. Fields are the subset kiln's images
/// need; `rootfs` is sent empty because the exporter fills it in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// The platform the image is for (`architecture`, `os`, `variant`).
    pub platform: Option<Platform>,
    /// `config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `config.Env`, `NAME=value` entries.
    pub env: Vec<String>,
    /// `config.Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `config.Cmd`.
    pub cmd: Vec<String>,
    /// `config.WorkingDir`.
    pub working_dir: Option<String>,
    /// RFC 3339 creation time; left out when `None` so outputs stay reproducible.
    pub created: Option<String>,
}

impl ImageConfig {
    /// A config for `platform` with no process settings.
    pub fn for_platform(platform: Platform) -> Self {
        ImageConfig {
            platform: Some(platform),
            ..Default::default()
        }
    }

    /// The JSON bytes for `containerimage.config`.
    pub fn to_json(&self) -> Vec<u8> {
        let platform = self.platform.as_ref();
        let doc = ImageJson {
            created: self.created.as_deref(),
            architecture: platform.map_or("", |p| p.architecture.as_str()),
            os: platform.map_or("", |p| p.os.as_str()),
            variant: platform.and_then(|p| p.variant.as_deref()),
            config: ImageConfigJson {
                env: &self.env,
                entrypoint: &self.entrypoint,
                cmd: &self.cmd,
                working_dir: self.working_dir.as_deref(),
                labels: &self.labels,
            },
            rootfs: RootfsJson {
                kind: "layers",
                diff_ids: &[],
            },
        };
        // Serialising strings cannot fail.
        serde_json::to_vec(&doc).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct ImageJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<&'a str>,
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    config: ImageConfigJson<'a>,
    rootfs: RootfsJson<'a>,
}

#[derive(Serialize)]
struct ImageConfigJson<'a> {
    #[serde(rename = "Env", skip_serializing_if = "<[String]>::is_empty")]
    env: &'a [String],
    #[serde(rename = "Entrypoint", skip_serializing_if = "<[String]>::is_empty")]
    entrypoint: &'a [String],
    #[serde(rename = "Cmd", skip_serializing_if = "<[String]>::is_empty")]
    cmd: &'a [String],
    #[serde(rename = "WorkingDir", skip_serializing_if = "Option::is_none")]
    working_dir: Option<&'a str>,
    #[serde(rename = "Labels", skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct RootfsJson<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: &'a [String],
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ref_array_caps() -> Caps {
        Caps::new(
            [
                crate::client::CAP_PROTO_REF_ARRAY,
                crate::client::CAP_RETURN_MAP,
            ],
            [] as [&str; 0],
        )
    }

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    fn config(platform: &str) -> Vec<u8> {
        ImageConfig::for_platform(p(platform)).to_json()
    }

    #[test]
    fn attestations_are_keyed_by_platform_id() {
        let mut rb = ResultBuilder::new(false);
        rb.add(p("linux/arm64"), "ref-1", config("linux/arm64"))
            .unwrap();
        rb.attestation(
            &p("linux/arm64"),
            in_toto_attestation("sbom-ref", "/hello.spdx.json", PREDICATE_SPDX, "sbom"),
        );
        let res = rb.build(&ref_array_caps()).unwrap();
        let keys: Vec<&str> = res.attestations.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["linux/arm64"],
            "single-platform results key by platform too"
        );
        let a = &res.attestations["linux/arm64"].attestation[0];
        assert_eq!(a.kind, gw::AttestationKind::InToto as i32);
        assert_eq!(a.r#ref.as_ref().map(|r| r.id.as_str()), Some("sbom-ref"));
        assert_eq!(a.path, "/hello.spdx.json");
        assert_eq!(a.in_toto_predicate_type, "https://spdx.dev/Document");
        assert_eq!(a.metadata["reason"], b"sbom");
        assert!(
            a.in_toto_subjects.is_empty(),
            "BuildKit makes the image the subject"
        );
    }

    #[test]
    fn single_platform_shape() {
        let mut rb = ResultBuilder::new(false);
        rb.add(p("linux/amd64"), "ref-1", config("linux/amd64"))
            .unwrap();
        rb.source_date_epoch(Some(42));
        let res = rb.build(&ref_array_caps()).unwrap();
        assert_eq!(
            res.result,
            Some(gw::result::Result::Ref(gw::Ref {
                id: "ref-1".into(),
                def: None
            }))
        );
        let keys: Vec<&str> = res.metadata.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "containerimage.config",
                "refs.platforms",
                "source.date.epoch"
            ]
        );
        let cfg: Value = serde_json::from_slice(&res.metadata["containerimage.config"]).unwrap();
        assert_eq!(cfg["architecture"], "amd64");
        assert_eq!(res.metadata["source.date.epoch"], b"42");
        let plats: Value = serde_json::from_slice(&res.metadata["refs.platforms"]).unwrap();
        assert_eq!(
            plats,
            json!({"Platforms":[{"ID":"linux/amd64","Platform":{"architecture":"amd64","os":"linux"}}]})
        );
    }

    #[test]
    fn multi_platform_shape() {
        let mut rb = ResultBuilder::new(true);
        rb.add(p("linux/amd64"), "ref-a", config("linux/amd64"))
            .unwrap();
        rb.add(p("linux/arm64/v8"), "ref-b", config("linux/arm64"))
            .unwrap();
        let res = rb.build(&ref_array_caps()).unwrap();
        let Some(gw::result::Result::Refs(map)) = &res.result else {
            panic!("expected a ref map, got {:?}", res.result);
        };
        let ids: Vec<(&str, &str)> = map
            .refs
            .iter()
            .map(|(k, v)| (k.as_str(), v.id.as_str()))
            .collect();
        assert_eq!(ids, [("linux/amd64", "ref-a"), ("linux/arm64", "ref-b")]);
        let arm: Value =
            serde_json::from_slice(&res.metadata["containerimage.config/linux/arm64"]).unwrap();
        assert_eq!(arm["architecture"], "arm64");
        assert_eq!(arm["os"], "linux");
        assert!(res
            .metadata
            .contains_key("containerimage.config/linux/amd64"));
        assert!(!res.metadata.contains_key("containerimage.config"));
        let plats: Value = serde_json::from_slice(&res.metadata["refs.platforms"]).unwrap();
        assert_eq!(
            plats,
            json!({"Platforms":[
                {"ID":"linux/amd64","Platform":{"architecture":"amd64","os":"linux"}},
                {"ID":"linux/arm64","Platform":{"architecture":"arm64","os":"linux"}}
            ]})
        );
    }

    #[test]
    fn multi_platform_requested_for_one_platform_uses_map() {
        let mut rb = ResultBuilder::new(true);
        rb.add(p("linux/arm64"), "ref-b", config("linux/arm64"))
            .unwrap();
        let res = rb.build(&ref_array_caps()).unwrap();
        assert!(matches!(res.result, Some(gw::result::Result::Refs(_))));
    }

    #[test]
    fn a_forwarded_solve_keeps_its_refs_and_metadata() {
        use crate::client::{Solved, SolvedRefs};
        let solved = Solved {
            refs: SolvedRefs::Map(BTreeMap::from([
                ("linux/amd64".to_string(), "a".to_string()),
                ("linux/arm64".to_string(), "b".to_string()),
            ])),
            metadata: BTreeMap::from([(PLATFORMS_KEY.to_string(), b"{}".to_vec())]),
        };
        let res = forwarded(solved.clone(), &ref_array_caps());
        let Some(gw::result::Result::Refs(map)) = &res.result else {
            panic!("{:?}", res.result);
        };
        assert_eq!(map.refs["linux/arm64"].id, "b");
        assert_eq!(res.metadata[PLATFORMS_KEY], b"{}");
        let old = forwarded(solved, &Caps::defaults());
        assert!(matches!(
            old.result,
            Some(gw::result::Result::RefsDeprecated(_))
        ));
        let single = Solved {
            refs: SolvedRefs::Single("c".into()),
            metadata: BTreeMap::new(),
        };
        let res = forwarded(single, &ref_array_caps());
        assert!(matches!(res.result, Some(gw::result::Result::Ref(r)) if r.id == "c"));
    }

    #[test]
    fn old_daemons_get_bare_ids() {
        let mut rb = ResultBuilder::new(true);
        rb.add(p("linux/amd64"), "ref-a", config("linux/amd64"))
            .unwrap();
        let res = rb.build(&Caps::defaults()).unwrap();
        let Some(gw::result::Result::RefsDeprecated(map)) = res.result else {
            panic!("expected a deprecated map");
        };
        assert_eq!(map.refs["linux/amd64"], "ref-a");
    }

    #[test]
    fn misuse_is_reported() {
        assert_eq!(
            ResultBuilder::new(false)
                .build(&ref_array_caps())
                .unwrap_err(),
            ResultError::Empty
        );
        let mut rb = ResultBuilder::new(false);
        rb.add(p("linux/amd64"), "a", vec![]).unwrap();
        assert_eq!(
            rb.add(p("linux/x86_64"), "b", vec![]).err(),
            Some(ResultError::DuplicatePlatform("linux/amd64".into()))
        );
        rb.add(p("linux/arm64"), "c", vec![]).unwrap();
        assert_eq!(
            rb.build(&ref_array_caps()).unwrap_err(),
            ResultError::SeveralInSingle(2)
        );
    }

    #[test]
    fn image_config_json() {
        let mut cfg = ImageConfig::for_platform(p("linux/arm/v7"));
        cfg.labels.insert("org.example".into(), "yes".into());
        let v: Value = serde_json::from_slice(&cfg.to_json()).unwrap();
        assert_eq!(
            v,
            json!({
                "architecture": "arm",
                "os": "linux",
                "variant": "v7",
                "config": {"Labels": {"org.example": "yes"}},
                "rootfs": {"type": "layers", "diff_ids": []}
            })
        );
    }
}
