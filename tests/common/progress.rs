//! Reading buildx's `--progress=plain` output back into vertices, so tests can tell which build steps
//! ran, which were taken from the cache and which failed.
//!
//! The plain format prints, for each burst of updates of a vertex, a block separated by blank lines:
//! a header `#N <name>` followed by lines `#N <status or log>`, where the status is `CACHED`,
//! `DONE <secs>`, `ERROR: <message>` or `CANCELED`. A vertex can have several blocks (updates
//! interleave), so blocks are merged by their number.

use std::collections::BTreeMap;

/// One vertex of a build, with everything plain progress said about it.
#[derive(Debug, Clone, Default)]
pub struct Vertex {
    /// The `#N` number buildx gave it.
    pub id: u32,
    /// Its name, e.g. `[linux/arm64] greeting: install 1/1`.
    pub name: String,
    /// A `CACHED` line was printed.
    pub cached_line: bool,
    /// A `DONE` line was printed (the vertex completed, having done work or computed its cache key).
    pub done_line: bool,
    /// A `CANCELED` line was printed: BuildKit started the vertex and abandoned it, e.g. because a
    /// vertex depending on it was then found in the cache; it produced no result.
    pub canceled: bool,
    /// The `ERROR:` message, if it failed.
    pub error: Option<String>,
    /// Every other line of the vertex (logs, transfer notes), without the `#N ` prefix.
    pub lines: Vec<String>,
}

impl Vertex {
    /// Taken from the cache and never reported as run.
    pub fn cached(&self) -> bool {
        self.cached_line && !self.ran()
    }

    /// Reported as completed or failed, i.e. not (only) taken from the cache.
    pub fn ran(&self) -> bool {
        self.done_line || self.error.is_some()
    }

    /// The platform prefix of kiln's vertex names (`linux/arm64`), if any.
    pub fn platform(&self) -> Option<&str> {
        let rest = self.name.strip_prefix('[')?;
        let (platform, _) = rest.split_once("] ")?;
        Some(platform)
    }

    /// The package a kiln vertex belongs to: `greeting` in `[linux/arm64] greeting: install 1/1`.
    pub fn package(&self) -> Option<&str> {
        let platform = self.platform()?;
        let rest = self.name.strip_prefix(&format!("[{platform}] "))?;
        let (package, _) = rest.split_once(": ")?;
        Some(package)
    }

    /// True for vertices whose completion is no build work, so a fully cached build still shows them
    /// as run rather than `CACHED`:
    /// - buildx's own steps (`#0 building with …`, `[internal] load …`), the syntax image and image-config resolution, and
    ///   the exporter (`exporting …`, pushing, cache import/export);
    /// - LLB vertices without inputs. BuildKit reports such a vertex as started and done while it
    ///   computes the vertex's cache key, even when the result is then found in the cache and nothing
    ///   runs: image sources (`docker-image://…`, a manifest lookup), local sources (kiln's
    ///   `<pkg>: context <dir>`, a file sync whose content is hashed for the key), HTTP sources
    ///   (`<pkg>: download …`: pinned by sha256, so the checksum is the key and nothing is fetched —
    ///   tests check the file server's hit count as well), and kiln's `<pkg>: mkdir /pkg`, which for a
    ///   `variant: scratch` package is a file operation on the empty root (the fixture has only
    ///   scratch packages; on alpine it would have an input and must show `CACHED`).
    pub fn is_input_free_or_client_side(&self) -> bool {
        let n = self.name.as_str();
        n.starts_with("building with ")
            || n.starts_with("[internal] ")
            || n.starts_with("resolve image config for ")
            || n.starts_with("docker-image://")
            || n.starts_with("exporting ")
            || n.starts_with("importing cache manifest")
            || n.starts_with("pushing ")
            || n.contains(": context ")
            || n.contains(": download ")
            || n.ends_with(": mkdir /pkg")
    }
}

/// Every vertex in `output`, in order of first appearance.
pub fn parse(output: &str) -> Vec<Vertex> {
    let mut vertices: BTreeMap<u32, Vertex> = BTreeMap::new();
    let mut order = Vec::new();
    let mut block_start = true;
    for line in output.lines() {
        if line.trim().is_empty() {
            block_start = true;
            continue;
        }
        let Some((id, text)) = split_vertex_line(line) else {
            block_start = false;
            continue;
        };
        let vertex = vertices.entry(id).or_insert_with(|| {
            order.push(id);
            Vertex {
                id,
                ..Default::default()
            }
        });
        if block_start {
            // The first line of a block names the vertex.
            if vertex.name.is_empty() {
                vertex.name = text.to_string();
            }
        } else if text == "CACHED" {
            vertex.cached_line = true;
        } else if text == "CANCELED" {
            vertex.canceled = true;
        } else if text == "DONE" || text.starts_with("DONE ") {
            vertex.done_line = true;
        } else if let Some(message) = text.strip_prefix("ERROR:") {
            vertex.error = Some(message.trim().to_string());
        } else if text.starts_with("ERROR") {
            vertex.error = Some(text.to_string());
        } else {
            vertex.lines.push(text.to_string());
        }
        block_start = false;
    }
    order
        .into_iter()
        .filter_map(|id| vertices.remove(&id))
        .collect()
}

/// `#12 text` → (12, "text").
fn split_vertex_line(line: &str) -> Option<(u32, &str)> {
    let rest = line.strip_prefix('#')?;
    let (number, text) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((number.parse().ok()?, text))
}

/// Vertices that did build work: completed (`DONE`) or failed without a `CACHED` line, other than
/// the kinds BuildKit shows as done even when nothing runs (see
/// [`Vertex::is_input_free_or_client_side`]). A vertex that was only `CANCELED` is not counted: it
/// completed nothing and the build's result cannot depend on it. Empty for a fully cached build.
pub fn worked(vertices: &[Vertex]) -> Vec<&Vertex> {
    vertices
        .iter()
        .filter(|v| !v.cached() && !v.is_input_free_or_client_side())
        .filter(|v| v.ran() || !v.canceled)
        .collect()
}

/// Asserts that each vertex named in `names` is present and `state` holds for it (e.g.
/// [`Vertex::cached`] or [`Vertex::ran`]); `what` says which, in the failure message.
pub fn assert_each(vertices: &[Vertex], names: &[String], state: fn(&Vertex) -> bool, what: &str) {
    for name in names {
        assert!(
            vertices.iter().any(|v| &v.name == name && state(v)),
            "{name} is not {what}:\n{}",
            summary(vertices)
        );
    }
}

/// A readable one-line-per-vertex summary, for assertion messages.
pub fn summary(vertices: &[Vertex]) -> String {
    vertices
        .iter()
        .map(|v| {
            let state = if let Some(e) = &v.error {
                format!("ERROR {e}")
            } else if v.cached() {
                "CACHED".to_string()
            } else if v.ran() {
                "RAN".to_string()
            } else if v.canceled {
                "CANCELED".to_string()
            } else {
                "?".to_string()
            };
            format!("#{} {} => {state}", v.id, v.name)
        })
        .collect::<Vec<_>>()
        .join("\n")
}
