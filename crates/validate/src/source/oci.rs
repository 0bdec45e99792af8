//! OCI images: a layout directory or tarball (as `--output type=oci` writes) or, through the same
//! [`BlobStore`] trait, a registry. Every platform manifest of the index is flattened — layers in
//! order, `.wh.` whiteouts and `.wh..wh..opq` opaque markers applied — into its own tree.
//! Blobs are verified against their sha256 digests.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::tarball::read_entries;
use super::{platform_matches, LoadError, Target};
use crate::compression::{decompress, Compression};
use crate::tree::{normalize, Entry, EntryKind, Tree};

/// Largest manifest, index or config blob read into memory.
const MAX_JSON: u64 = 16 << 20;

/// Content-addressed access to an image's blobs.
pub trait BlobStore {
    /// The document to start from: `index.json` of a layout, the manifest a reference names.
    fn top(&self) -> Result<Vec<u8>, LoadError>;
    /// A reader over the blob with `digest` (`sha256:…`).
    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + '_>, LoadError>;
    /// A reader over a manifest or index an index refers to (registries serve those apart from
    /// blobs; layouts keep them as blobs).
    fn open_manifest(&self, digest: &str) -> Result<Box<dyn Read + '_>, LoadError> {
        self.open_blob(digest)
    }
    /// How to name this store in errors.
    fn describe(&self) -> String;
}

/// An OCI image layout directory.
pub struct LayoutDir {
    root: PathBuf,
}

impl LayoutDir {
    /// The OCI layout directory at `root` (holding `index.json` and `blobs/`).
    pub fn new(root: &Path) -> LayoutDir {
        LayoutDir {
            root: root.to_owned(),
        }
    }
}

fn blob_rel_path(digest: &str) -> Result<String, LoadError> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| LoadError::new(digest, "not a digest (expected sha256:<hex>)"))?;
    let safe = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| {
                b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'+' || b == b'.'
            })
            && s != "."
            && s != ".."
    };
    if !safe(algorithm) || !safe(hex) {
        return Err(LoadError::new(digest, "not a valid digest"));
    }
    Ok(format!("blobs/{algorithm}/{hex}"))
}

impl BlobStore for LayoutDir {
    fn top(&self) -> Result<Vec<u8>, LoadError> {
        let path = self.root.join("index.json");
        std::fs::read(&path).map_err(|e| LoadError::io(&path, &e))
    }

    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + '_>, LoadError> {
        let path = self.root.join(blob_rel_path(digest)?);
        let file = File::open(&path).map_err(|e| LoadError::io(&path, &e))?;
        Ok(Box::new(file))
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// An OCI layout packed in a tar; blobs are read in place by offset. A compressed tarball
/// (`type=oci,compression=gzip`) is first decompressed into a temporary file.
pub struct OciTar {
    /// The tarball as given, for messages.
    path: PathBuf,
    /// The uncompressed tar the offsets refer to: `path` itself or the temporary file.
    tar: PathBuf,
    members: HashMap<String, (u64, u64)>,
    _decompressed: Option<tempfile::TempPath>,
}

impl OciTar {
    /// Indexes the tar at `path`; `Ok(None)` when it is not an OCI layout (no `index.json` and
    /// `oci-layout` at its root, or not a tar at all).
    pub fn open(path: &Path) -> Result<Option<OciTar>, LoadError> {
        let mut reader = BufReader::new(File::open(path).map_err(|e| LoadError::io(path, &e))?);
        let compression = Compression::detect(&mut reader).map_err(|e| LoadError::io(path, &e))?;
        let decompressed = if compression == Compression::None {
            None
        } else {
            let mut temp = tempfile::NamedTempFile::new().map_err(|e| {
                LoadError::new(
                    path.display().to_string(),
                    format!("cannot create a temporary file to decompress into: {e}"),
                )
            })?;
            let mut stream = decompress(reader).map_err(|e| LoadError::io(path, &e))?;
            io::copy(&mut stream, temp.as_file_mut()).map_err(|e| {
                LoadError::new(
                    path.display().to_string(),
                    format!("cannot decompress ({compression:?}): {e}"),
                )
            })?;
            Some(temp.into_temp_path())
        };
        let tar = decompressed.as_deref().unwrap_or(path).to_owned();
        let file = File::open(&tar).map_err(|e| LoadError::io(&tar, &e))?;
        let mut archive = tar::Archive::new(file);
        let Ok(entries) = archive.entries_with_seek() else {
            return Ok(None);
        };
        let mut members = HashMap::new();
        for entry in entries {
            let Ok(entry) = entry else {
                return Ok(None);
            };
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let Ok(name) = entry.path() else { continue };
            let name = normalize(&name.to_string_lossy());
            members.insert(name, (entry.raw_file_position(), entry.size()));
        }
        if !(members.contains_key("index.json") && members.contains_key("oci-layout")) {
            return Ok(None);
        }
        Ok(Some(OciTar {
            path: path.to_owned(),
            tar,
            members,
            _decompressed: decompressed,
        }))
    }

    fn member(&self, name: &str) -> Result<Box<dyn Read + '_>, LoadError> {
        let &(offset, size) = self.members.get(name).ok_or_else(|| {
            LoadError::new(
                format!("{}:{name}", self.path.display()),
                "missing from the OCI tarball",
            )
        })?;
        let mut file = File::open(&self.tar).map_err(|e| LoadError::io(&self.path, &e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| LoadError::io(&self.path, &e))?;
        Ok(Box::new(file.take(size)))
    }
}

impl BlobStore for OciTar {
    fn top(&self) -> Result<Vec<u8>, LoadError> {
        let mut buf = Vec::new();
        self.member("index.json")?
            .read_to_end(&mut buf)
            .map_err(|e| LoadError::io(&self.path, &e))?;
        Ok(buf)
    }

    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + '_>, LoadError> {
        self.member(&blob_rel_path(digest)?)
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Reads a JSON blob (or a manifest when `manifest`), checking its digest.
fn read_json(store: &dyn BlobStore, digest: &str, manifest: bool) -> Result<Value, LoadError> {
    let mut buf = Vec::new();
    let reader = if manifest {
        store.open_manifest(digest)?
    } else {
        store.open_blob(digest)?
    };
    reader
        .take(MAX_JSON)
        .read_to_end(&mut buf)
        .map_err(|e| LoadError::new(format!("{} {digest}", store.describe()), e.to_string()))?;
    verify(store, digest, &Sha256::digest(&buf))?;
    serde_json::from_slice(&buf).map_err(|e| {
        LoadError::new(
            format!("{} {digest}", store.describe()),
            format!("invalid JSON: {e}"),
        )
    })
}

fn verify(store: &dyn BlobStore, digest: &str, actual: &[u8]) -> Result<(), LoadError> {
    let Some(expected) = digest.strip_prefix("sha256:") else {
        return Ok(()); // other algorithms are not verified
    };
    let actual: String = actual.iter().map(|b| format!("{b:02x}")).collect();
    if actual != expected {
        return Err(LoadError::new(
            format!("{} {digest}", store.describe()),
            format!("blob content does not match its digest (sha256:{actual})"),
        ));
    }
    Ok(())
}

/// A platform manifest found in the index tree.
struct PlatformManifest {
    platform: Option<String>,
    manifest: Value,
}

fn platform_string(p: &Value) -> Option<String> {
    let os = p.get("os")?.as_str()?;
    let arch = p.get("architecture")?.as_str()?;
    Some(match p.get("variant").and_then(Value::as_str) {
        Some(v) if !v.is_empty() => format!("{os}/{arch}/{v}"),
        _ => format!("{os}/{arch}"),
    })
}

fn collect(
    store: &dyn BlobStore,
    doc: Value,
    platform: Option<String>,
    depth: usize,
    out: &mut Vec<PlatformManifest>,
) -> Result<(), LoadError> {
    if depth > 8 {
        return Err(LoadError::new(
            store.describe(),
            "image indexes nest too deeply",
        ));
    }
    if let Some(list) = doc.get("manifests").and_then(Value::as_array) {
        for descriptor in list {
            let annotations = descriptor.get("annotations");
            let reference_type = annotations
                .and_then(|a| a.get("vnd.docker.reference.type"))
                .and_then(Value::as_str);
            if reference_type == Some("attestation-manifest") {
                continue; // BuildKit provenance/SBOM, not an image
            }
            let child_platform = descriptor.get("platform").and_then(platform_string);
            if child_platform.as_deref() == Some("unknown/unknown") {
                continue;
            }
            let digest = descriptor
                .get("digest")
                .and_then(Value::as_str)
                .ok_or_else(|| LoadError::new(store.describe(), "index entry without a digest"))?;
            let child = read_json(store, digest, true)?;
            collect(
                store,
                child,
                child_platform.or_else(|| platform.clone()),
                depth + 1,
                out,
            )?;
        }
        return Ok(());
    }
    if doc.get("layers").is_some() {
        out.push(PlatformManifest {
            platform,
            manifest: doc,
        });
        return Ok(());
    }
    Err(LoadError::new(
        store.describe(),
        "neither an image index nor an image manifest",
    ))
}

/// Resolves the top document of `store` to its platform manifests and flattens each.
pub fn load_platforms(
    store: &dyn BlobStore,
    input: &str,
    selector: Option<&str>,
) -> Result<Vec<Target>, LoadError> {
    let top = store.top()?;
    let top: Value = serde_json::from_slice(&top)
        .map_err(|e| LoadError::new(input, format!("invalid index/manifest JSON: {e}")))?;
    let mut manifests = Vec::new();
    collect(store, top, None, 0, &mut manifests)?;
    let mut targets = Vec::new();
    let mut seen = Vec::new();
    for found in manifests {
        let platform = match found.platform {
            Some(p) => Some(p),
            None => match found
                .manifest
                .get("config")
                .and_then(|c| c.get("digest"))
                .and_then(Value::as_str)
            {
                Some(digest) => platform_string(&read_json(store, digest, false)?),
                None => None,
            },
        };
        let name = platform.clone().unwrap_or_else(|| "unknown".to_owned());
        seen.push(name.clone());
        if selector.is_some_and(|s| !platform_matches(&name, s)) {
            continue;
        }
        let layers = found
            .manifest
            .get("layers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let tree = flatten(store, &layers)?;
        targets.push(Target { platform, tree });
    }
    if targets.is_empty() {
        let have = if seen.is_empty() {
            "no image manifests".to_owned()
        } else {
            format!("platforms {}", seen.join(", "))
        };
        return Err(LoadError::new(
            input,
            match selector {
                Some(s) => format!("no manifest for platform {s}; the image has {have}"),
                None => format!("the image has {have}"),
            },
        ));
    }
    Ok(targets)
}

/// Hashes everything read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Applies the layers in order: whiteouts hide lower entries, opaque markers empty a lower
/// directory, a non-directory replaces a lower directory with its subtree.
fn flatten(store: &dyn BlobStore, layers: &[Value]) -> Result<Tree, LoadError> {
    let mut state: BTreeMap<String, Entry> = BTreeMap::new();
    for layer in layers {
        let digest = layer
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| LoadError::new(store.describe(), "layer without a digest"))?;
        let where_ = || format!("{} layer {digest}", store.describe());
        let mut hashing = HashingReader {
            inner: store.open_blob(digest)?,
            hasher: Sha256::new(),
        };
        let entries = {
            let mut reader = decompress(BufReader::new(&mut hashing))
                .map_err(|e| LoadError::new(where_(), e.to_string()))?;
            let entries = read_entries(&mut reader).map_err(|e| LoadError::new(where_(), e))?;
            io::copy(&mut reader, &mut io::sink())
                .map_err(|e| LoadError::new(where_(), e.to_string()))?;
            entries
        };
        io::copy(&mut hashing, &mut io::sink())
            .map_err(|e| LoadError::new(where_(), e.to_string()))?;
        verify(store, digest, &hashing.hasher.finalize())?;
        apply_layer(&mut state, entries);
    }
    Ok(Tree::from_entries(state.into_values().collect()))
}

fn remove_below(state: &mut BTreeMap<String, Entry>, dir: &str) {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let doomed: Vec<String> = state
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for key in doomed {
        state.remove(&key);
    }
}

pub(crate) fn apply_layer(state: &mut BTreeMap<String, Entry>, entries: Vec<Entry>) {
    // Whiteouts only affect lower layers, so apply them all before this layer's own entries.
    let (whiteouts, entries): (Vec<Entry>, Vec<Entry>) = entries
        .into_iter()
        .partition(|e| e.name().starts_with(".wh."));
    for wh in &whiteouts {
        let (parent, name) = wh.path.rsplit_once('/').unwrap_or(("", &wh.path));
        if name == ".wh..wh..opq" {
            remove_below(state, parent);
        } else if let Some(hidden) = name.strip_prefix(".wh.") {
            let target = if parent.is_empty() {
                hidden.to_owned()
            } else {
                format!("{parent}/{hidden}")
            };
            state.remove(&target);
            remove_below(state, &target);
        }
    }
    for entry in entries {
        if entry.kind != EntryKind::Dir {
            remove_below(state, &entry.path);
        }
        state.insert(entry.path.clone(), entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: EntryKind) -> Entry {
        Entry::new(path, kind, 0o755)
    }

    #[test]
    fn whiteouts_and_opaque_dirs() {
        let mut state = BTreeMap::new();
        apply_layer(
            &mut state,
            vec![
                e("rootfs/a/x", EntryKind::File),
                e("rootfs/a/y", EntryKind::File),
                e("rootfs/b/z", EntryKind::File),
                e("rootfs/c/d", EntryKind::File),
                e("rootfs/keep", EntryKind::File),
            ],
        );
        apply_layer(
            &mut state,
            vec![
                e("rootfs/a/new", EntryKind::File),
                e("rootfs/a/.wh..wh..opq", EntryKind::File),
                e("rootfs/.wh.b", EntryKind::File),
                e("rootfs/c", EntryKind::File),
            ],
        );
        let keys: Vec<&str> = state.keys().map(String::as_str).collect();
        assert_eq!(keys, ["rootfs/a/new", "rootfs/c", "rootfs/keep"]);
    }

    #[test]
    fn digests_are_path_safe() {
        assert_eq!(
            blob_rel_path("sha256:abc").ok().as_deref(),
            Some("blobs/sha256/abc")
        );
        assert!(blob_rel_path("sha256:../../etc").is_err());
        assert!(blob_rel_path("nodigest").is_err());
    }
}
