//! Where an image comes from: a directory, a tar of an image root, an OCI layout (directory or
//! tarball, every platform flattened with whiteouts) or a registry reference.

pub mod dir;
pub mod oci;
pub mod registry;
pub mod tarball;

use std::fmt;
use std::path::Path;

use crate::Tree;

/// The input could not be read (exit code 2); names the input and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The input path, file inside it, or reference that failed.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

impl LoadError {
    /// An error about `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> LoadError {
        LoadError {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl AsRef<Path>, err: &std::io::Error) -> LoadError {
        LoadError::new(path.as_ref().display().to_string(), err.to_string())
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for LoadError {}

/// One image to validate: a plain image root has no platform, an OCI input one per manifest.
#[derive(Debug, Clone)]
pub struct Target {
    /// `os/arch[/variant]` for OCI and registry inputs.
    pub platform: Option<String>,
    /// The image's files.
    pub tree: Tree,
}

/// Loads `input` — a directory, tar, OCI layout directory or tarball, or registry reference —
/// into one target per platform. `platform` (`linux/arm64`) selects one platform of an index;
/// for a plain image root it is ignored.
pub fn load(input: &str, platform: Option<&str>) -> Result<Vec<Target>, LoadError> {
    let path = Path::new(input);
    match std::fs::metadata(path) {
        Ok(md) if md.is_dir() => {
            if path.join("index.json").is_file() && path.join("oci-layout").is_file() {
                let store = oci::LayoutDir::new(path);
                oci::load_platforms(&store, input, platform)
            } else {
                Ok(vec![Target {
                    platform: None,
                    tree: dir::read(path)?,
                }])
            }
        }
        Ok(_) => {
            if let Some(store) = oci::OciTar::open(path)? {
                oci::load_platforms(&store, input, platform)
            } else {
                Ok(vec![Target {
                    platform: None,
                    tree: tarball::read_file(path)?,
                }])
            }
        }
        Err(err) => match registry::Reference::parse(input) {
            Some(reference) if err.kind() == std::io::ErrorKind::NotFound => {
                registry::load(&reference, platform)
            }
            _ => Err(LoadError::new(
                input,
                format!(
                    "{err}; expected a directory (manifest.yaml + rootfs/), a tar, an OCI layout or a registry reference host[:port]/repo:tag"
                ),
            )),
        },
    }
}

/// Whether a platform (`linux/arm64/v8`) matches a selector (`linux/arm64` matches any variant).
pub fn platform_matches(platform: &str, selector: &str) -> bool {
    let have: Vec<&str> = platform.split('/').collect();
    let want: Vec<&str> = selector.split('/').collect();
    want.len() <= have.len() && want.iter().zip(&have).all(|(w, h)| w == h)
}

#[cfg(test)]
mod tests {
    use super::platform_matches;

    #[test]
    fn platform_selection() {
        assert!(platform_matches("linux/arm64/v8", "linux/arm64"));
        assert!(platform_matches("linux/amd64", "linux/amd64"));
        assert!(!platform_matches("linux/amd64", "linux/arm64"));
        assert!(!platform_matches("linux/arm64", "linux/arm64/v8"));
    }
}
