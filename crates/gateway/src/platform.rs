//! Target platforms: parsing `os/arch[/variant]` strings, normalising them the
//! way BuildKit does (so ids match the exporter's expectations), and converting
//! to the LLB and OCI representations.

use std::fmt;

use kiln_proto::pb;
use serde::{Deserialize, Serialize};

/// A normalised OCI platform such as `linux/amd64` or `linux/arm/v7`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Field order matches the OCI `Platform` JSON so serialisation reads the same.
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Why a platform string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}: {reason}; expected os/arch[/variant] such as linux/amd64")]
pub struct PlatformError {
    pub input: String,
    pub reason: &'static str,
}

impl Platform {
    /// Builds a normalised platform from its parts.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.to_ascii_lowercase();
        let (architecture, variant) = normalize_arch(
            &architecture.to_ascii_lowercase(),
            &variant.unwrap_or("").to_ascii_lowercase(),
        );
        Platform {
            architecture,
            os,
            variant: if variant.is_empty() {
                None
            } else {
                Some(variant)
            },
        }
    }

    /// Parses `os/arch[/variant]`, or a bare architecture (then the OS is linux,
    /// as BuildKit's Linux workers assume), and normalises it.
    pub fn parse(input: &str) -> Result<Self, PlatformError> {
        let err = |reason| PlatformError {
            input: input.to_string(),
            reason,
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(err("it is empty"));
        }
        let parts: Vec<&str> = trimmed.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(err("it has an empty component"));
        }
        if parts.iter().any(|p| {
            !p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        }) {
            return Err(err(
                "it contains characters other than letters, digits, '_', '-' and '.'",
            ));
        }
        match parts.as_slice() {
            [arch] if is_known_arch(arch) => Ok(Platform::new("linux", arch, None)),
            [_] => Err(err("a single component must be a known architecture")),
            [os, arch] => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(err("it has more than three components")),
        }
    }

    /// The id BuildKit uses for result maps and `containerimage.config/<id>`.
    pub fn id(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    /// The LLB form, for `Op.platform` and `ResolveImageConfig`.
    pub fn to_pb(&self) -> pb::Platform {
        pb::Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone().unwrap_or_default(),
            ..Default::default()
        }
    }

    /// Reads an LLB platform, normalising it.
    pub fn from_pb(p: &pb::Platform) -> Self {
        let variant = (!p.variant.is_empty()).then_some(p.variant.as_str());
        Platform::new(&p.os, &p.architecture, variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

impl std::str::FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

/// Parses a comma-separated platform list as sent in the `platform` option.
pub fn parse_platform_list(input: &str) -> Result<Vec<Platform>, PlatformError> {
    input
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Platform::parse)
        .collect()
}

fn is_known_arch(arch: &str) -> bool {
    matches!(
        arch.to_ascii_lowercase().as_str(),
        "amd64"
            | "x86_64"
            | "x86-64"
            | "arm64"
            | "aarch64"
            | "arm"
            | "armhf"
            | "armel"
            | "386"
            | "i386"
            | "ppc64le"
            | "s390x"
            | "riscv64"
            | "mips64le"
            | "loong64"
    )
}

/// Applies containerd's architecture/variant normalisation (aliases, the
/// dropped `v8` of arm64, the default `v7` of arm) so ids compare equal.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (a, v) = match arch {
        "i386" => ("386", ""),
        "x86_64" | "x86-64" | "amd64" => ("amd64", if variant == "v1" { "" } else { variant }),
        "aarch64" | "arm64" => (
            "arm64",
            if matches!(variant, "8" | "v8") {
                ""
            } else {
                variant
            },
        ),
        "armhf" => ("arm", "v7"),
        "armel" => ("arm", "v6"),
        "arm" => (
            "arm",
            match variant {
                "" | "7" => "v7",
                "5" | "6" | "8" => {
                    return ("arm".to_string(), format!("v{variant}"));
                }
                other => other,
            },
        ),
        other => (other, variant),
    };
    (a.to_string(), v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_aliases_and_variants() {
        let cases = [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/6", "linux/arm/v6"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/i386", "linux/386"),
            ("Linux/AMD64", "linux/amd64"),
            ("arm64", "linux/arm64"),
            ("linux/amd64/v3", "linux/amd64/v3"),
        ];
        for (input, want) in cases {
            assert_eq!(Platform::parse(input).unwrap().id(), want, "input {input}");
        }
    }

    #[test]
    fn rejects_malformed_platforms() {
        for bad in [
            "",
            "linux/",
            "/amd64",
            "a/b/c/d",
            "linux/am d64",
            "windowsish",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn list_keeps_order_and_skips_blanks() {
        let list = parse_platform_list("linux/arm64, linux/amd64,").unwrap();
        let ids: Vec<String> = list.iter().map(Platform::id).collect();
        assert_eq!(ids, ["linux/arm64", "linux/amd64"]);
    }

    #[test]
    fn oci_json_omits_empty_variant() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"architecture":"arm64","os":"linux"}"#
        );
        let arm = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!(
            serde_json::to_string(&arm).unwrap(),
            r#"{"architecture":"arm","os":"linux","variant":"v7"}"#
        );
    }

    #[test]
    fn pb_round_trip() {
        let p = Platform::parse("linux/arm/v7").unwrap();
        let pbp = p.to_pb();
        assert_eq!(pbp.architecture, "arm");
        assert_eq!(pbp.os, "linux");
        assert_eq!(pbp.variant, "v7");
        assert_eq!(Platform::from_pb(&pbp), p);
    }
}
