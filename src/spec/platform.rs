//! The platforms bldr-format trees build for, and the toolchain variables each one gives them.
//!
//! The type is [`kiln_llb::Platform`] (one parser, one display form); this module says which of
//! its values a tree can target ([`supported`], [`parse`]) and what bldr's built-in variables are
//! for each ([`Toolchain`]).

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

pub use kiln_llb::Platform;

/// bldr's per-architecture built-in variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toolchain {
    /// The OCI architecture this toolchain is for.
    pub architecture: &'static str,
    /// `ARCH`: the GNU machine name.
    pub arch: &'static str,
    /// `TARGET`: the Talos cross triple.
    pub target: &'static str,
    /// `BUILD` and `HOST` when this is the build platform.
    pub build_triple: &'static str,
    /// `CFLAGS` and `CXXFLAGS`.
    pub cflags: &'static str,
}

/// Every supported platform is linux on one of these, in this order.
const TOOLCHAINS: [Toolchain; 2] = [
    Toolchain {
        architecture: "amd64",
        arch: "x86_64",
        target: "x86_64-talos-linux-musl",
        build_triple: "x86_64-linux-musl",
        cflags: "-O2 -g0 -march=x86-64-v2 -mtune=generic",
    },
    Toolchain {
        architecture: "arm64",
        arch: "aarch64",
        target: "aarch64-talos-linux-musl",
        build_triple: "aarch64-linux-musl",
        cflags: "-O2 -g0",
    },
];

/// The platforms trees can target: linux/amd64 and linux/arm64.
pub fn supported() -> impl Iterator<Item = Platform> {
    TOOLCHAINS.iter().map(|t| Platform::linux(t.architecture))
}

/// A platform's built-in variables, or `None` for a platform trees cannot target.
pub fn toolchain(platform: &Platform) -> Option<&'static Toolchain> {
    if platform.os != "linux" || platform.variant.is_some() {
        return None;
    }
    TOOLCHAINS
        .iter()
        .find(|t| t.architecture == platform.architecture)
}

/// A platform that is malformed or that trees cannot target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("platform {0:?} is not supported; use linux/amd64 or linux/arm64")]
pub struct UnsupportedPlatform(pub String);

/// Refuses a platform trees cannot target.
pub fn check_supported(platform: &Platform) -> Result<(), UnsupportedPlatform> {
    match toolchain(platform) {
        Some(_) => Ok(()),
        None => Err(UnsupportedPlatform(platform.id())),
    }
}

/// Parses a platform a tree can target (`linux/arm64`, `linux/arm64/v8`, `arm64`, …).
pub fn parse(input: &str) -> Result<Platform, UnsupportedPlatform> {
    let platform =
        Platform::parse(input).map_err(|_| UnsupportedPlatform(input.trim().to_string()))?;
    check_supported(&platform)?;
    Ok(platform)
}

/// The platform this process runs on, falling back to linux/amd64 like bldr does elsewhere.
pub fn host() -> Platform {
    match std::env::consts::ARCH {
        "aarch64" => Platform::linux("arm64"),
        _ => Platform::linux("amd64"),
    }
}

/// The JSON Schema of a platform field in pkg.yaml: one of the supported ids.
pub struct PlatformSchema;

impl JsonSchema for PlatformSchema {
    fn schema_name() -> Cow<'static, str> {
        "Platform".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let ids: Vec<String> = supported().map(|p| p.id()).collect();
        json_schema!({ "type": "string", "enum": ids })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_ids_and_rejects_others() {
        assert_eq!(parse("linux/amd64"), Ok(Platform::linux("amd64")));
        assert_eq!(parse("linux/arm64/v8"), Ok(Platform::linux("arm64")));
        let err = parse("linux/riscv64").unwrap_err();
        assert!(err.to_string().contains("linux/riscv64"));
        assert!(parse("linux/").is_err());
        assert!(check_supported(&Platform::new("linux", "arm", Some("v7"))).is_err());
    }

    #[test]
    fn every_supported_platform_has_its_toolchain() {
        let ids: Vec<String> = supported().map(|p| p.id()).collect();
        assert_eq!(ids, ["linux/amd64", "linux/arm64"]);
        assert!(supported().all(|p| toolchain(&p).is_some()));
        assert!(check_supported(&host()).is_ok());
    }
}
