//! OCI platforms (`linux/arm64`), as used for per-op platforms and progress names.

use std::fmt;
use std::str::FromStr;

use kiln_proto::pb;

use crate::LlbError;

/// An `os/architecture[/variant]` triple.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// A platform without variant, e.g. `Platform::new("linux", "amd64")`.
    pub fn new(os: impl Into<String>, architecture: impl Into<String>) -> Self {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// The wire form placed in `Op.platform`.
    pub fn to_pb(&self) -> pb::Platform {
        pb::Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone().unwrap_or_default(),
            ..Default::default()
        }
    }

    /// Reads `Op.platform` back.
    pub fn from_pb(p: &pb::Platform) -> Self {
        Platform {
            os: p.os.clone(),
            architecture: p.architecture.clone(),
            variant: (!p.variant.is_empty()).then(|| p.variant.clone()),
        }
    }
}

impl FromStr for Platform {
    type Err = LlbError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let valid = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        };
        match parts.as_slice() {
            [os, arch] if valid(os) && valid(arch) => Ok(Platform::new(*os, *arch)),
            [os, arch, variant] if valid(os) && valid(arch) && valid(variant) => Ok(Platform {
                variant: Some((*variant).to_string()),
                ..Platform::new(*os, *arch)
            }),
            _ => Err(LlbError::InvalidPlatform(s.to_string())),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert_eq!(Platform::from_pb(&p.to_pb()), p);
        assert!("linux".parse::<Platform>().is_err());
        assert!("Linux/amd64".parse::<Platform>().is_err());
        assert!("linux//amd64".parse::<Platform>().is_err());
    }
}
