//! OCI platforms (`linux/arm64`, `linux/arm/v7`): the one platform type of the workspace.
//!
//! [`Platform::parse`] reads `os/arch[/variant]` (or a bare known architecture, meaning linux) and
//! normalises it the way BuildKit and containerd do, so the same platform always has the same
//! [`Platform::id`], which is also its display form and its serde form. It converts to and from
//! the LLB wire form for `Op.platform`.

use std::fmt;
use std::str::FromStr;

use kiln_proto::pb;

/// A normalised OCI platform such as `linux/amd64` or `linux/arm/v7`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    /// Operating system, lowercase (`linux`).
    pub os: String,
    /// Normalised architecture (`amd64`, `arm64`, `arm`, …).
    pub architecture: String,
    /// CPU variant where it matters (`v7` of arm); `None` where it is the default.
    pub variant: Option<String>,
}

/// Why a platform string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}: {reason}; expected os/arch[/variant] such as linux/amd64")]
pub struct PlatformError {
    /// The string as given.
    pub input: String,
    /// What is wrong with it.
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
            os,
            architecture,
            variant: (!variant.is_empty()).then_some(variant),
        }
    }

    /// A Linux platform without variant, e.g. `Platform::linux("arm64")`.
    pub fn linux(architecture: &str) -> Self {
        Platform::new("linux", architecture, None)
    }

    /// Parses `os/arch[/variant]`, or a bare architecture (then the OS is linux, as BuildKit's
    /// Linux workers assume), and normalises it.
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
            [arch] if is_known_arch(arch) => Ok(Platform::linux(arch)),
            [_] => Err(err("a single component must be a known architecture")),
            [os, arch] => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(err("it has more than three components")),
        }
    }

    /// `os/arch[/variant]`: the id BuildKit uses for result maps and
    /// `containerimage.config/<id>`, and how kiln shows a platform everywhere.
    pub fn id(&self) -> String {
        self.to_string()
    }

    /// The wire form, for `Op.platform` and `ResolveImageConfig`.
    pub fn to_pb(&self) -> pb::Platform {
        pb::Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone().unwrap_or_default(),
            ..Default::default()
        }
    }

    /// Reads a wire platform, normalising it.
    pub fn from_pb(p: &pb::Platform) -> Self {
        let variant = (!p.variant.is_empty()).then_some(p.variant.as_str());
        Platform::new(&p.os, &p.architecture, variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Platform::parse(&s).map_err(serde::de::Error::custom)
    }
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

/// Applies containerd's architecture/variant normalisation (aliases, the dropped `v8` of arm64,
/// the default `v7` of arm) so ids compare equal.
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
            "linux",
            "linux/",
            "/amd64",
            "linux//amd64",
            "a/b/c/d",
            "linux/am d64",
            "windowsish",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn display_id_and_serde_are_one_form() {
        let p: Platform = "linux/arm/v7".parse().unwrap();
        assert_eq!(p.variant.as_deref(), Some("v7"));
        assert_eq!(p.to_string(), "linux/arm/v7");
        assert_eq!(p.id(), p.to_string());
        assert_eq!(serde_json::to_string(&p).unwrap(), r#""linux/arm/v7""#);
        let back: Platform = serde_json::from_str(r#""linux/armhf""#).unwrap();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<Platform>(r#""linux/""#).is_err());
    }

    #[test]
    fn pb_round_trip() {
        let p = Platform::parse("linux/arm/v7").unwrap();
        let pbp = p.to_pb();
        assert_eq!(pbp.architecture, "arm");
        assert_eq!(pbp.os, "linux");
        assert_eq!(pbp.variant, "v7");
        assert_eq!(Platform::from_pb(&pbp), p);
        assert_eq!(Platform::linux("amd64").to_pb().variant, "");
    }
}
