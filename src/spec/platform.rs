//! The two platforms bldr-format trees know, with their built-in variables.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Platform {
    #[serde(rename = "linux/amd64")]
    LinuxAmd64,
    #[serde(rename = "linux/arm64")]
    LinuxArm64,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::LinuxAmd64, Platform::LinuxArm64];

    /// The platform this process runs on, falling back to linux/amd64 like bldr does elsewhere.
    pub fn host() -> Platform {
        match std::env::consts::ARCH {
            "aarch64" => Platform::LinuxArm64,
            _ => Platform::LinuxAmd64,
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "linux/amd64",
            Platform::LinuxArm64 => "linux/arm64",
        }
    }

    pub fn os(self) -> &'static str {
        "linux"
    }

    /// The OCI architecture name.
    pub fn architecture(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "amd64",
            Platform::LinuxArm64 => "arm64",
        }
    }

    /// `ARCH`: the GNU machine name.
    pub fn arch(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "x86_64",
            Platform::LinuxArm64 => "aarch64",
        }
    }

    /// `TARGET`: the Talos cross triple.
    pub fn target(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "x86_64-talos-linux-musl",
            Platform::LinuxArm64 => "aarch64-talos-linux-musl",
        }
    }

    /// `BUILD` and `HOST` when this is the build platform.
    pub fn build_triple(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "x86_64-linux-musl",
            Platform::LinuxArm64 => "aarch64-linux-musl",
        }
    }

    /// `CFLAGS` and `CXXFLAGS`.
    pub fn cflags(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "-O2 -g0 -march=x86-64-v2 -mtune=generic",
            Platform::LinuxArm64 => "-O2 -g0",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("platform {0:?} is not supported; use linux/amd64 or linux/arm64")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Platform, UnknownPlatform> {
        // `linux/arm64/v8` is how some tools spell arm64; BuildKit normalises it away too.
        match s.trim() {
            "linux/amd64" | "amd64" => Ok(Platform::LinuxAmd64),
            "linux/arm64" | "linux/arm64/v8" | "arm64" => Ok(Platform::LinuxArm64),
            other => Err(UnknownPlatform(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_and_rejects_others() {
        assert_eq!("linux/amd64".parse(), Ok(Platform::LinuxAmd64));
        assert_eq!("linux/arm64/v8".parse(), Ok(Platform::LinuxArm64));
        let err = "linux/riscv64".parse::<Platform>().unwrap_err();
        assert!(err.to_string().contains("linux/riscv64"));
    }
}
