//! SPDX 2.3 JSON for a step's `sbom:` block, written into the build root like bldr does and
//! returned as the image's SBOM attestation.
//!
//! The document has the fields and values bldr v0.6.3 writes (its syft encoder): a document named
//! `sidero-pkgs-<name>`, the package (name, version, supplier, download location, licenses, CPEs
//! and purl, the checksums of its first source) inside a directory root package, and each source
//! of the package as a file with its sha256 and sha512. It is built while converting to LLB, so
//! it depends only on its inputs: the namespace is derived from a hash of the inputs and the
//! creation time is `SOURCE_DATE_EPOCH`.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::spec::{Sbom, Source, Step};

/// SPDX's value for "the creator made no attempt to find this out".
const NOASSERTION: &str = "NOASSERTION";
const DOCUMENT_ID: &str = "SPDXRef-DOCUMENT";
/// The SPDX license list the license ids are checked against (as in bldr's documents).
const LICENSE_LIST_VERSION: &str = "3.27";
/// bldr's document name prefix, kept so that tooling matching bldr's SBOMs matches kiln's.
const NAME_PREFIX: &str = "sidero-pkgs-";

// Field order of these structs is the key order of the JSON, so the output is stable.

#[derive(Serialize)]
struct Document {
    #[serde(rename = "spdxVersion")]
    spdx_version: &'static str,
    #[serde(rename = "dataLicense")]
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    #[serde(rename = "documentNamespace")]
    document_namespace: String,
    #[serde(rename = "creationInfo")]
    creation_info: CreationInfo,
    packages: Vec<Package>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<File>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreationInfo {
    license_list_version: &'static str,
    creators: Vec<String>,
    created: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    supplier: &'static str,
    download_location: String,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<&'static str>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_package_purpose: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct File {
    file_name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    checksums: Vec<Checksum>,
    license_concluded: &'static str,
    license_info_in_files: Vec<&'static str>,
    copyright_text: &'static str,
    comment: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    related_spdx_element: String,
    relationship_type: &'static str,
}

/// Where `step` asks for its SBOM (absolute and clean; relative paths resolve against `cwd`, as
/// in bldr) and the document to write there; `None` when the step has no `sbom.outputPath`.
/// `sources` are every source of the package (bldr lists them all in each document).
pub fn step_document(
    package_name: &str,
    step: &Step,
    sources: &[Source],
    cwd: &str,
    source_date_epoch: Option<i64>,
) -> Option<(String, String)> {
    let sbom = step.sbom.as_ref()?;
    let out = sbom.output_path.as_deref().filter(|p| !p.is_empty())?;
    let joined = if out.starts_with('/') {
        out.to_string()
    } else {
        format!("{cwd}/{out}")
    };
    let path = kiln_llb::clean_path(&joined);
    let document = spdx_document(package_name, sbom, sources, source_date_epoch);
    Some((path, document))
}

/// Every SPDX document the package's steps write, as (path in the build root, document).
pub fn package_documents(
    pkg: &crate::spec::Pkg,
    cwd: &str,
    source_date_epoch: Option<i64>,
) -> Vec<(String, String)> {
    let sources: Vec<Source> = pkg
        .steps
        .iter()
        .flat_map(|s| s.sources.iter().cloned())
        .collect();
    pkg.steps
        .iter()
        .filter_map(|step| step_document(&pkg.name, step, &sources, cwd, source_date_epoch))
        .collect()
}

fn checksums(source: &Source) -> Vec<Checksum> {
    [("SHA256", &source.sha256), ("SHA512", &source.sha512)]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(algorithm, value)| Checksum {
            algorithm,
            // SPDX wants lower-case hex.
            checksum_value: value.to_ascii_lowercase(),
        })
        .collect()
}

/// The first 16 hex digits of the sha256 of `parts`, for element ids unique within a document.
fn short_hash(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SPDX 2.3 JSON document (pretty-printed, ending in a newline) for `package_name`'s `sbom:`
/// block. The same inputs always give the same bytes.
/// Long by design: it writes one JSON document top to bottom in SPDX's field order.
pub fn spdx_document(
    package_name: &str,
    sbom: &Sbom,
    sources: &[Source],
    source_date_epoch: Option<i64>,
) -> String {
    let name = non_empty(sbom.name.as_deref()).unwrap_or(package_name);
    let version = non_empty(sbom.version.as_deref()).map(str::to_string);
    let package_id = format!(
        "SPDXRef-Package-bldr-package-{}-{}",
        id_string(name),
        short_hash(&[name, version.as_deref().unwrap_or("")])
    );
    let root_name = format!("{NAME_PREFIX}{name}");
    let root_id = format!("SPDXRef-DocumentRoot-Directory-{}", id_string(&root_name));

    let mut external_refs: Vec<ExternalRef> = sbom
        .cpes
        .iter()
        .filter(|c| !c.is_empty())
        .map(|cpe| ExternalRef {
            reference_category: "SECURITY",
            reference_type: "cpe23Type",
            reference_locator: cpe.clone(),
        })
        .collect();
    if let Some(purl) = non_empty(sbom.purl.as_deref()) {
        external_refs.push(ExternalRef {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator: purl.to_string(),
        });
    }

    let first = sources.first();
    let files: Vec<File> = sources
        .iter()
        .map(|s| File {
            file_name: s.url.clone(),
            spdx_id: format!("SPDXRef-File-{}", short_hash(&[&s.url, &s.sha256])),
            checksums: checksums(s),
            license_concluded: NOASSERTION,
            license_info_in_files: vec![NOASSERTION],
            copyright_text: NOASSERTION,
            comment: "the package's source, downloaded and verified by sha256 and sha512",
        })
        .collect();
    let mut relationships = vec![Relationship {
        spdx_element_id: root_id.clone(),
        related_spdx_element: package_id.clone(),
        relationship_type: "CONTAINS",
    }];
    relationships.extend(files.iter().map(|f| Relationship {
        spdx_element_id: package_id.clone(),
        related_spdx_element: f.spdx_id.clone(),
        relationship_type: "CONTAINS",
    }));
    relationships.push(Relationship {
        spdx_element_id: DOCUMENT_ID.to_string(),
        related_spdx_element: root_id.clone(),
        relationship_type: "DESCRIBES",
    });

    let document = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: DOCUMENT_ID,
        name: root_name.clone(),
        document_namespace: namespace(&root_name, package_name, sbom, sources),
        creation_info: CreationInfo {
            license_list_version: LICENSE_LIST_VERSION,
            creators: vec![
                "Organization: kiln".to_string(),
                concat!("Tool: kiln-", env!("CARGO_PKG_VERSION")).to_string(),
            ],
            created: rfc3339_utc(source_date_epoch.unwrap_or(0)),
        },
        packages: vec![
            Package {
                name: name.to_string(),
                spdx_id: package_id,
                version_info: version.clone(),
                supplier: NOASSERTION,
                download_location: first
                    .map(|s| s.url.clone())
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| NOASSERTION.to_string()),
                files_analyzed: false,
                checksums: first.map(checksums).unwrap_or_default(),
                source_info: Some("acquired package info from the following paths: /Pkgfile"),
                license_concluded: NOASSERTION,
                license_declared: license_expression(&sbom.licenses),
                copyright_text: NOASSERTION,
                external_refs,
                primary_package_purpose: None,
            },
            Package {
                name: root_name,
                spdx_id: root_id,
                version_info: version,
                supplier: NOASSERTION,
                download_location: NOASSERTION.to_string(),
                files_analyzed: false,
                checksums: Vec::new(),
                source_info: None,
                license_concluded: NOASSERTION,
                license_declared: NOASSERTION.to_string(),
                copyright_text: NOASSERTION,
                external_refs: Vec::new(),
                primary_package_purpose: Some("FILE"),
            },
        ],
        files,
        relationships,
    };
    // Serialising plain structs of strings cannot fail.
    let mut json = serde_json::to_string_pretty(&document).unwrap_or_default();
    json.push('\n');
    json
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// The declared licenses as one SPDX expression; compound entries (`MIT OR Apache-2.0`) are
/// parenthesised so that joining them with AND keeps their meaning.
fn license_expression(licenses: &[String]) -> String {
    let parts: Vec<&str> = licenses
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    match parts.as_slice() {
        [] => NOASSERTION.to_string(),
        [one] => one.to_string(),
        many => many
            .iter()
            .map(|l| {
                if l.contains(char::is_whitespace) && !(l.starts_with('(') && l.ends_with(')')) {
                    format!("({l})")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" AND "),
    }
}

/// SPDX ids allow only letters, digits, `.` and `-`.
fn id_string(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if id.is_empty() {
        "package".to_string()
    } else {
        id
    }
}

/// A URI unique to these inputs (SPDX asks for one per document), stable across builds. The
/// `.invalid` host is reserved, so the URI can never be mistaken for a real location.
fn namespace(document_name: &str, package_name: &str, sbom: &Sbom, sources: &[Source]) -> String {
    let mut hash = Sha256::new();
    // Length-prefixed fields, so that moving text from one field to the next changes the hash.
    let mut field = |value: &str| {
        hash.update((value.len() as u64).to_be_bytes());
        hash.update(value.as_bytes());
    };
    field("kiln-spdx-v1");
    field(package_name);
    field(sbom.name.as_deref().unwrap_or(""));
    field(sbom.version.as_deref().unwrap_or(""));
    field(sbom.purl.as_deref().unwrap_or(""));
    for list in [&sbom.cpes, &sbom.licenses] {
        field(&list.len().to_string());
        for item in list {
            field(item);
        }
    }
    field(&sources.len().to_string());
    for s in sources {
        field(&s.url);
        field(&s.destination);
        field(&s.sha256);
        field(&s.sha512);
    }
    // Shaped like a UUID, as bldr's (a UUIDv5 of the content) is.
    let h: String = hash
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "https://kiln.invalid/spdx/dir/{}-{}-{}-{}-{}-{}",
        id_string(document_name),
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `seconds` since the Unix epoch as an RFC 3339 UTC timestamp (`2023-11-14T22:13:20Z`).
fn rfc3339_utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01. Counts in 400-year eras (146 097 days),
/// with years starting on 1 March so that the leap day falls at the end of a year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kiln_llb::pb::{self, op::Op as OpKind};
    use serde_json::Value;

    use super::*;
    use crate::convert::{ConvertOptions, Converter, Trees};
    use crate::spec::{Platform, Span};
    use crate::tree::{FileSet, LoadOptions};

    const SHA256: &str = "1f08f2d154f5189b5f1382848a32667b3d34066145b474c49cd3d41a5fba59a7";
    const SHA512: &str = "343fbb19c0ca5f91254d216b6113fb8a7b028bdafc976ba9cb1ff6b7d3442a6a0fbf2cc4bde4f2fcc7cb7293cc17a1914664a943e5c798d261d00b22a0e56989";

    fn source(url: &str) -> Source {
        Source {
            url: url.to_string(),
            destination: "cloudflared".to_string(),
            sha256: SHA256.to_string(),
            sha512: SHA512.to_string(),
            span: Span::default(),
            sha256_span: Span::default(),
            sha512_span: Span::default(),
        }
    }

    fn cloudflared() -> Sbom {
        Sbom {
            output_path: Some("/rootfs/usr/local/share/spdx/cloudflared.spdx.json".into()),
            name: None,
            version: Some("2024.1.5".into()),
            cpes: vec!["cpe:2.3:a:cloudflare:cloudflared:2024.1.5:*:*:*:*:*:*:*".into()],
            purl: Some("pkg:github/cloudflare/cloudflared@2024.1.5".into()),
            licenses: vec!["Apache-2.0".into()],
        }
    }

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("the document is JSON")
    }

    /// Checks `object` against one object definition of the SPDX 2.3 JSON schema: every
    /// required key present, no key the schema does not allow (it sets additionalProperties
    /// false), and every enumerated value one the schema lists.
    fn conforms(what: &str, object: &Value, required: &[&str], allowed: &[&str]) {
        let map = object
            .as_object()
            .unwrap_or_else(|| panic!("{what} is an object"));
        for key in required {
            assert!(map.contains_key(*key), "{what} lacks required {key}");
        }
        for key in map.keys() {
            assert!(
                required.contains(&key.as_str()) || allowed.contains(&key.as_str()),
                "{what} has {key}, which SPDX 2.3 does not allow"
            );
        }
    }

    fn check_schema(doc: &Value) {
        conforms(
            "the document",
            doc,
            &[
                "SPDXID",
                "creationInfo",
                "dataLicense",
                "name",
                "spdxVersion",
                // Optional in the JSON schema, mandatory in the specification (§6.5).
                "documentNamespace",
            ],
            &[
                "packages",
                "files",
                "relationships",
                "documentDescribes",
                "comment",
            ],
        );
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["dataLicense"], "CC0-1.0");
        assert_eq!(doc["SPDXID"], "SPDXRef-DOCUMENT");
        conforms(
            "creationInfo",
            &doc["creationInfo"],
            &["created", "creators"],
            &["comment", "licenseListVersion"],
        );
        let creators = doc["creationInfo"]["creators"].as_array().unwrap();
        assert!(!creators.is_empty(), "creators has minItems 1");
        assert!(creators.iter().all(Value::is_string));
        let packages = doc["packages"].as_array().unwrap();
        let spdx_id = |v: &Value| {
            let id = v.as_str().unwrap();
            let rest = id
                .strip_prefix("SPDXRef-")
                .expect("ids start with SPDXRef-");
            assert!(
                !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
                "{id} is a valid SPDX id"
            );
        };
        for p in packages {
            conforms(
                "a package",
                p,
                &["SPDXID", "downloadLocation", "name"],
                &[
                    "versionInfo",
                    "supplier",
                    "sourceInfo",
                    "primaryPackagePurpose",
                    "filesAnalyzed",
                    "licenseConcluded",
                    "licenseDeclared",
                    "copyrightText",
                    "externalRefs",
                    "checksums",
                ],
            );
            spdx_id(&p["SPDXID"]);
            assert!(p["filesAnalyzed"].is_boolean());
            for r in p["externalRefs"].as_array().into_iter().flatten() {
                conforms(
                    "an external ref",
                    r,
                    &["referenceCategory", "referenceLocator", "referenceType"],
                    &["comment"],
                );
                let category = r["referenceCategory"].as_str().unwrap();
                assert!(
                    ["OTHER", "PERSISTENT-ID", "SECURITY", "PACKAGE-MANAGER"].contains(&category)
                );
                let locator = r["referenceLocator"].as_str().unwrap();
                assert!(!locator.contains(' '), "locators have no spaces");
            }
            for c in p["checksums"].as_array().into_iter().flatten() {
                conforms("a checksum", c, &["algorithm", "checksumValue"], &[]);
                assert!(["SHA256", "SHA512"].contains(&c["algorithm"].as_str().unwrap()));
                let value = c["checksumValue"].as_str().unwrap();
                assert!(value
                    .chars()
                    .all(|ch| ch.is_ascii_digit() || ('a'..='f').contains(&ch)));
            }
        }
        let files = doc["files"].as_array().cloned().unwrap_or_default();
        for f in &files {
            conforms(
                "a file",
                f,
                &["SPDXID", "fileName", "checksums"],
                &[
                    "licenseConcluded",
                    "licenseInfoInFiles",
                    "copyrightText",
                    "comment",
                ],
            );
            spdx_id(&f["SPDXID"]);
        }
        let mut ids: Vec<&Value> = packages.iter().map(|p| &p["SPDXID"]).collect();
        ids.extend(files.iter().map(|f| &f["SPDXID"]));
        let unique: std::collections::BTreeSet<String> =
            ids.iter().map(|v| v.to_string()).collect();
        assert_eq!(unique.len(), ids.len(), "element ids are unique");
        let document = Value::from("SPDXRef-DOCUMENT");
        for r in doc["relationships"].as_array().unwrap() {
            conforms(
                "a relationship",
                r,
                &["spdxElementId", "relatedSpdxElement", "relationshipType"],
                &["comment"],
            );
            assert!(["DESCRIBES", "CONTAINS"].contains(&r["relationshipType"].as_str().unwrap()));
            assert!(r["spdxElementId"] == document || ids.contains(&&r["spdxElementId"]));
            assert!(ids.contains(&&r["relatedSpdxElement"]));
        }
    }

    #[test]
    fn documents_are_deterministic_and_depend_on_their_inputs() {
        let sources = [source("https://example.com/cloudflared")];
        let a = spdx_document("cloudflared", &cloudflared(), &sources, Some(1_700_000_000));
        let b = spdx_document("cloudflared", &cloudflared(), &sources, Some(1_700_000_000));
        assert_eq!(a, b);

        let namespace = |text: &str| parse(text)["documentNamespace"].clone();
        let mut other = cloudflared();
        other.version = Some("2024.1.6".into());
        let c = spdx_document("cloudflared", &other, &sources, Some(1_700_000_000));
        assert_ne!(namespace(&a), namespace(&c));
        let d = spdx_document(
            "cloudflared",
            &cloudflared(),
            &[source("https://example.com/other")],
            Some(1_700_000_000),
        );
        assert_ne!(namespace(&a), namespace(&d));
        let ns = namespace(&a);
        let ns = ns.as_str().unwrap();
        let uuid = ns
            .strip_prefix("https://kiln.invalid/spdx/dir/sidero-pkgs-cloudflared-")
            .expect("namespace names the document");
        let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{uuid} is shaped like a UUID");
        // The creation time is not part of the namespace.
        assert_eq!(
            namespace(&a),
            namespace(&spdx_document(
                "cloudflared",
                &cloudflared(),
                &sources,
                None
            ))
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        // 2024 is a leap year: 29 February exists and 1 March follows it.
        assert_eq!(rfc3339_utc(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339_utc(1_709_251_200), "2024-03-01T00:00:00Z");
        // 2000 is a leap year although divisible by 100.
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(978_307_199), "2000-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");

        let created = |epoch| {
            parse(&spdx_document("x", &Sbom::default(), &[], epoch))["creationInfo"]["created"]
                .clone()
        };
        assert_eq!(created(Some(1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(created(None), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn declared_fields_appear_in_the_package() {
        let sources = [
            source("https://example.com/cloudflared"),
            source("https://example.com/second"),
        ];
        let doc = parse(&spdx_document(
            "cloudflared",
            &cloudflared(),
            &sources,
            Some(1_700_000_000),
        ));
        check_schema(&doc);
        assert_eq!(doc["name"], "sidero-pkgs-cloudflared");
        assert_eq!(
            doc["creationInfo"]["creators"][1],
            format!("Tool: kiln-{}", env!("CARGO_PKG_VERSION"))
        );
        let packages = doc["packages"].as_array().unwrap();
        assert_eq!(packages.len(), 2, "the package and the document root");
        let p = &packages[0];
        assert_eq!(p["name"], "cloudflared");
        assert_eq!(p["versionInfo"], "2024.1.5");
        assert_eq!(p["downloadLocation"], "https://example.com/cloudflared");
        assert_eq!(p["filesAnalyzed"], false);
        assert_eq!(p["licenseConcluded"], "NOASSERTION");
        assert_eq!(p["licenseDeclared"], "Apache-2.0");
        assert_eq!(p["copyrightText"], "NOASSERTION");
        let refs = p["externalRefs"].as_array().unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0]["referenceCategory"], "SECURITY");
        assert_eq!(refs[0]["referenceType"], "cpe23Type");
        assert_eq!(
            refs[0]["referenceLocator"],
            "cpe:2.3:a:cloudflare:cloudflared:2024.1.5:*:*:*:*:*:*:*"
        );
        assert_eq!(refs[1]["referenceCategory"], "PACKAGE-MANAGER");
        assert_eq!(refs[1]["referenceType"], "purl");
        assert_eq!(
            refs[1]["referenceLocator"],
            "pkg:github/cloudflare/cloudflared@2024.1.5"
        );
        let sums = p["checksums"].as_array().unwrap();
        assert_eq!(sums.len(), 2);
        assert_eq!(sums[0]["algorithm"], "SHA256");
        assert_eq!(sums[0]["checksumValue"], SHA256);
        assert_eq!(sums[1]["algorithm"], "SHA512");
        assert_eq!(sums[1]["checksumValue"], SHA512);
        assert_eq!(doc["relationships"][0]["relatedSpdxElement"], p["SPDXID"]);
        // Every source is a file of the package, with both checksums.
        let files = doc["files"].as_array().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[1]["fileName"], "https://example.com/second");
        assert_eq!(files[1]["checksums"][1]["checksumValue"], SHA512);
        let contains: Vec<&Value> = doc["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["spdxElementId"] == p["SPDXID"])
            .map(|r| &r["relatedSpdxElement"])
            .collect();
        assert_eq!(contains, [&files[0]["SPDXID"], &files[1]["SPDXID"]]);

        // sbom.name wins over the package name; ids stay valid; licenses combine safely.
        let mut named = cloudflared();
        named.name = Some("cloudflare tunnel".into());
        named.licenses = vec!["MIT OR Apache-2.0".into(), "BSD-3-Clause".into()];
        let doc = parse(&spdx_document("cloudflared", &named, &sources, None));
        check_schema(&doc);
        assert_eq!(doc["name"], "sidero-pkgs-cloudflare tunnel");
        assert_eq!(doc["packages"][0]["name"], "cloudflare tunnel");
        assert!(doc["packages"][0]["SPDXID"]
            .as_str()
            .unwrap()
            .starts_with("SPDXRef-Package-bldr-package-cloudflare-tunnel-"));
        assert_eq!(
            doc["packages"][0]["licenseDeclared"],
            "(MIT OR Apache-2.0) AND BSD-3-Clause"
        );
    }

    #[test]
    fn missing_fields_are_noassertion() {
        let doc = parse(&spdx_document("bare", &Sbom::default(), &[], None));
        check_schema(&doc);
        let p = &doc["packages"][0];
        assert_eq!(p["name"], "bare");
        assert_eq!(p["downloadLocation"], "NOASSERTION");
        assert_eq!(p["licenseConcluded"], "NOASSERTION");
        assert_eq!(p["licenseDeclared"], "NOASSERTION");
        assert_eq!(p["copyrightText"], "NOASSERTION");
        assert!(doc.get("files").is_none(), "no sources, no files");
        let p = p.as_object().unwrap();
        for absent in ["versionInfo", "externalRefs", "checksums"] {
            assert!(!p.contains_key(absent), "{absent} is left out when unknown");
        }
    }

    #[test]
    fn output_paths_resolve_like_the_working_directory() {
        let step = |path: Option<&str>| Step {
            sources: Vec::new(),
            env: BTreeMap::new(),
            cache_paths: Vec::new(),
            network: Default::default(),
            prepare: Vec::new(),
            build: Vec::new(),
            install: Vec::new(),
            test: Vec::new(),
            sbom: Some(Sbom {
                output_path: path.map(str::to_string),
                ..Sbom::default()
            }),
            span: Span::default(),
        };
        let path =
            |p: Option<&str>| step_document("x", &step(p), &[], "/tmp/build", None).map(|(p, _)| p);
        assert_eq!(
            path(Some("/rootfs/a.json")).as_deref(),
            Some("/rootfs/a.json")
        );
        assert_eq!(
            path(Some("out/a.json")).as_deref(),
            Some("/tmp/build/out/a.json")
        );
        assert_eq!(
            path(Some("//rootfs/./x/../a.json")).as_deref(),
            Some("/rootfs/a.json")
        );
        assert_eq!(
            path(Some("")),
            None,
            "an empty outputPath means no document, as in bldr"
        );
        assert_eq!(path(None), None);
        let mut no_sbom = step(None);
        no_sbom.sbom = None;
        assert!(step_document("x", &no_sbom, &[], "/tmp/build", None).is_none());
    }

    // Conversion: the step's sbom block becomes a file in the build root.

    fn tree(pkg_yaml: String) -> Trees {
        let mut files = FileSet::default();
        files.insert("Pkgfile", "# syntax = kiln:dev\nformat: v1alpha2\n");
        files.insert("hello/pkg.yaml", pkg_yaml.into_bytes());
        let mut opts = LoadOptions::new(Platform::linux("amd64"));
        opts.build_args =
            BTreeMap::from([("SOURCE_DATE_EPOCH".to_string(), "1700000000".to_string())]);
        Trees::new(files, opts)
    }

    /// The ops of `hello`'s definition as (digest, vertex name, op).
    fn convert(trees: &Trees) -> Vec<(String, String, pb::Op)> {
        let helper = kiln_llb::Image::new("kiln-helper:test").unwrap().output();
        let mut opts = ConvertOptions::new(helper);
        opts.source_date_epoch = Some(1_700_000_000);
        opts.native_platform = Platform::linux("amd64");
        let converted = Converter::new(trees, opts)
            .target("hello", &Platform::linux("amd64"))
            .unwrap();
        let def = kiln_llb::marshal(&converted.image);
        let metadata = def.0.metadata.clone();
        def.decode_ops()
            .unwrap()
            .into_iter()
            .map(|(digest, op)| {
                let name = metadata
                    .get(&digest)
                    .and_then(|m| m.description.get("llb.customname").cloned())
                    .unwrap_or_default();
                (digest, name, op)
            })
            .collect()
    }

    #[test]
    fn a_step_with_an_output_path_writes_the_document() {
        let trees = tree(format!(
            "name: hello\nvariant: scratch\nshell: /bin/sh\nsteps:\n  - sources:\n      - url: https://example.com/hello.tar\n        destination: hello.tar\n        sha256: {SHA256}\n        sha512: {SHA512}\n    install:\n      - mkdir -p /rootfs\n    test:\n      - test -d /rootfs\n    sbom:\n      outputPath: /rootfs/usr/local/share/spdx/hello.spdx.json\n      version: 1.2.3\n      licenses:\n        - MIT\nfinalize:\n  - from: /rootfs\n    to: /rootfs\n"
        ));
        let ops = convert(&trees);
        let named: Vec<&pb::Op> = ops
            .iter()
            .filter(|(_, name, _)| {
                name == "[linux/amd64] hello: sbom /rootfs/usr/local/share/spdx/hello.spdx.json"
            })
            .map(|(_, _, op)| op)
            .collect();
        assert_eq!(
            named.len(),
            1,
            "one sbom vertex in {:?}",
            ops.iter().map(|(_, n, _)| n).collect::<Vec<_>>()
        );
        let Some(OpKind::File(file)) = &named[0].op else {
            panic!("the sbom vertex is a file op");
        };
        let mut mkdir = None;
        let mut mkfile = None;
        for action in &file.actions {
            match &action.action {
                Some(pb::file_action::Action::Mkdir(m)) => mkdir = Some(m),
                Some(pb::file_action::Action::Mkfile(m)) => mkfile = Some(m),
                _ => {}
            }
        }
        let mkdir = mkdir.expect("the parent directory is created");
        assert_eq!(mkdir.path, "/rootfs/usr/local/share/spdx");
        assert!(mkdir.make_parents);
        assert_eq!(mkdir.mode, 0o755);
        let mkfile = mkfile.expect("the document is written");
        assert_eq!(mkfile.path, "/rootfs/usr/local/share/spdx/hello.spdx.json");
        assert_eq!(mkfile.mode, 0o644);
        let doc = parse(std::str::from_utf8(&mkfile.data).unwrap());
        check_schema(&doc);
        assert_eq!(doc["packages"][0]["name"], "hello");
        assert_eq!(doc["packages"][0]["versionInfo"], "1.2.3");
        assert_eq!(doc["packages"][0]["licenseDeclared"], "MIT");
        assert_eq!(
            doc["packages"][0]["downloadLocation"],
            "https://example.com/hello.tar"
        );
        assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");

        // The file is written on the main chain, after the step's last script: the tests run on
        // a branch of their own whose changes are discarded, so they can neither see nor drop it.
        let input = &named[0].inputs[0].digest;
        let input_name = ops
            .iter()
            .find(|(digest, _, _)| digest == input)
            .map(|(_, name, _)| name.as_str());
        assert_eq!(input_name, Some("[linux/amd64] hello: install 1/1"));
        assert!(
            !ops.iter().any(|(_, name, _)| name.contains("test")),
            "the image's own definition holds no test: {:?}",
            ops.iter().map(|(_, n, _)| n).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_step_without_an_output_path_writes_nothing() {
        let trees = tree(
            "name: hello\nvariant: scratch\nshell: /bin/sh\nsteps:\n  - install:\n      - mkdir -p /rootfs\n    sbom:\n      version: 1.2.3\nfinalize:\n  - from: /rootfs\n    to: /rootfs\n"
                .to_string(),
        );
        let ops = convert(&trees);
        for (_, name, op) in &ops {
            assert!(!name.contains("sbom"), "{name}");
            if let Some(OpKind::File(file)) = &op.op {
                for action in &file.actions {
                    assert!(
                        !matches!(&action.action, Some(pb::file_action::Action::Mkfile(m)) if m.path.ends_with(".json")),
                        "{name} writes no document"
                    );
                }
            }
        }
    }
}

/// bldr v0.6.3's `sbom` integration test tree (internal/pkg/integration/testdata/sbom): one
/// package, two steps with `sbom:` blocks, no sources. kiln must write documents with the fields
/// and values bldr's golden files hold; only the timestamp, the namespace's UUID, element-id
/// hashes and the creating tool differ.
#[cfg(test)]
mod bldr_compatibility {
    use serde_json::{json, Value};

    use super::tests_support::documents;

    const PKG: &str = "---\nname: pkg\nvariant: scratch\nsteps:\n- sbom:\n    outputPath: /rootfs/usr/share/spdx/runc.spdx.json\n    name: runc\n    version: 1.3.0\n    cpes:\n      - cpe:2.3:a:opencontainers:runc:1.3.0:*:*:*:*:*:*:*\n      - cpe:2.3:a:linuxfoundation:runc:1.3.0:*:*:*:*:*:*:*\n    licenses:\n      - Apache-2.0\n- sbom:\n    outputPath: /rootfs/usr/share/spdx/containerd.spdx.json\n    version: 2.1.2\n    cpes:\n      - cpe:2.3:a:containerd:containerd:2.1.2:*:*:*:*:*:*:*\n    purl: pkg:github/containerd/containerd@2.1.2\n    licenses:\n      - Apache-2.0\nfinalize:\n  - from: /\n    to: /\n";

    /// Blanks what may differ from bldr's documents, checking its form first.
    fn normalise(mut doc: Value) -> Value {
        let ns = doc["documentNamespace"].as_str().unwrap().to_string();
        let name = doc["name"].as_str().unwrap().to_string();
        assert!(ns.contains(&format!("/dir/{name}-")), "{ns}");
        doc["documentNamespace"] = json!("");
        doc["creationInfo"]["created"] = json!("");
        let creators = doc["creationInfo"]["creators"].as_array().unwrap();
        assert_eq!(creators.len(), 2);
        assert!(creators[0].as_str().unwrap().starts_with("Organization: "));
        assert!(creators[1].as_str().unwrap().starts_with("Tool: "));
        doc["creationInfo"]["creators"] = json!([]);
        // The package id ends in a hash of the package (syft's is of its own struct).
        let id = doc["packages"][0]["SPDXID"].as_str().unwrap().to_string();
        let (stem, hash) = id.rsplit_once('-').unwrap();
        assert_eq!(hash.len(), 16, "{id}");
        let text = doc.to_string().replace(&id, stem);
        serde_json::from_str(&text).unwrap()
    }

    fn bldr_document(name: &str, package: &str, version: &str, refs: Value) -> Value {
        let root = format!("sidero-pkgs-{name}");
        let root_id = format!("SPDXRef-DocumentRoot-Directory-{root}");
        let package_id = format!("SPDXRef-Package-bldr-package-{package}");
        json!({
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": root,
            "documentNamespace": "",
            "creationInfo": {"licenseListVersion": "3.27", "creators": [], "created": ""},
            "packages": [
                {
                    "name": package,
                    "SPDXID": package_id,
                    "versionInfo": version,
                    "supplier": "NOASSERTION",
                    "downloadLocation": "NOASSERTION",
                    "filesAnalyzed": false,
                    "sourceInfo": "acquired package info from the following paths: /Pkgfile",
                    "licenseConcluded": "NOASSERTION",
                    "licenseDeclared": "Apache-2.0",
                    "copyrightText": "NOASSERTION",
                    "externalRefs": refs
                },
                {
                    "name": root,
                    "SPDXID": root_id,
                    "versionInfo": version,
                    "supplier": "NOASSERTION",
                    "downloadLocation": "NOASSERTION",
                    "filesAnalyzed": false,
                    "licenseConcluded": "NOASSERTION",
                    "licenseDeclared": "NOASSERTION",
                    "copyrightText": "NOASSERTION",
                    "primaryPackagePurpose": "FILE"
                }
            ],
            "relationships": [
                {"spdxElementId": root_id, "relatedSpdxElement": package_id, "relationshipType": "CONTAINS"},
                {"spdxElementId": "SPDXRef-DOCUMENT", "relatedSpdxElement": root_id, "relationshipType": "DESCRIBES"}
            ]
        })
    }

    #[test]
    fn the_bldr_sbom_tree_gives_bldrs_documents() {
        let docs = documents("pkg", PKG);
        let paths: Vec<&str> = docs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/rootfs/usr/share/spdx/runc.spdx.json",
                "/rootfs/usr/share/spdx/containerd.spdx.json"
            ]
        );
        let cpe = |c: &str| json!({"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": c});
        assert_eq!(
            normalise(docs[0].1.clone()),
            bldr_document(
                "runc",
                "runc",
                "1.3.0",
                json!([
                    cpe("cpe:2.3:a:opencontainers:runc:1.3.0:*:*:*:*:*:*:*"),
                    cpe("cpe:2.3:a:linuxfoundation:runc:1.3.0:*:*:*:*:*:*:*")
                ])
            )
        );
        assert_eq!(
            normalise(docs[1].1.clone()),
            bldr_document(
                "pkg",
                "pkg",
                "2.1.2",
                json!([
                    cpe("cpe:2.3:a:containerd:containerd:2.1.2:*:*:*:*:*:*:*"),
                    {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                     "referenceLocator": "pkg:github/containerd/containerd@2.1.2"}
                ])
            )
        );
    }
}

/// Converts a one-package tree and returns the SPDX documents its definition writes.
#[cfg(test)]
pub(crate) mod tests_support {
    use kiln_llb::pb::{self, op::Op as OpKind};
    use serde_json::Value;

    use crate::convert::{ConvertOptions, Converter, Trees};
    use crate::spec::Platform;
    use crate::tree::{FileSet, LoadOptions};

    pub fn documents(package: &str, pkg_yaml: &str) -> Vec<(String, Value)> {
        let mut files = FileSet::default();
        files.insert("Pkgfile", "# syntax = kiln:dev\nformat: v1alpha2\n");
        files.insert(format!("{package}/pkg.yaml"), pkg_yaml);
        let trees = Trees::new(files, LoadOptions::new(Platform::linux("amd64")));
        let helper = kiln_llb::Image::new("kiln-helper:test").unwrap().output();
        let mut opts = ConvertOptions::new(helper);
        opts.native_platform = Platform::linux("amd64");
        let converted = Converter::new(&trees, opts)
            .target(package, &Platform::linux("amd64"))
            .unwrap();
        let def = kiln_llb::marshal(&converted.image);
        let mut out = Vec::new();
        for (_, op) in def.decode_ops().unwrap() {
            if let Some(OpKind::File(file)) = &op.op {
                for action in &file.actions {
                    if let Some(pb::file_action::Action::Mkfile(m)) = &action.action {
                        if m.path.ends_with(".spdx.json") {
                            out.push((m.path.clone(), serde_json::from_slice(&m.data).unwrap()));
                        }
                    }
                }
            }
        }
        out
    }
}
