//! Reads a tree's definition files (Pkgfile, pkg.yaml, vars.yaml, *.tmpl) from BuildKit's
//! `dockerfile` local: only those files are transferred, thanks to include patterns, and read
//! with concurrent gateway calls, one batch per directory level.

use kiln_gateway::client::CAP_GATEWAY_EVALUATE_SOLVE;
use kiln_gateway::{Client, GatewayError, SolveRequest, Trace};
use kiln_llb::{Local, OpBuilder};

use crate::tree::files::{include_patterns, is_definition_file};
use crate::tree::FileSet;

/// Go's `os.ModeDir`, as fsutil reports it in `Stat.mode`.
const MODE_DIR: u32 = 1 << 31;

/// Gateway calls in flight at once while reading: enough to hide the round trips, few enough not to
/// flood the daemon with a huge tree's requests.
const CONCURRENT_READS: usize = 32;

/// Runs `calls` with at most [`CONCURRENT_READS`] in flight; their values in order, or the first
/// error.
async fn batched<T>(
    calls: impl Iterator<Item = impl std::future::Future<Output = Result<T, GatewayError>>>,
) -> Result<Vec<T>, GatewayError> {
    use futures::stream::{StreamExt, TryStreamExt};
    futures::stream::iter(calls)
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await
}

/// The files, and the digest of the vertex that loaded them (warnings attach to it).
pub async fn read(
    client: &Client,
    local: &str,
    session: &str,
    pkgfile: &str,
    trace: &Trace,
) -> Result<(FileSet, String), GatewayError> {
    let mut source = Local::new(local)
        .include_patterns(include_patterns(pkgfile))
        .follow_paths([pkgfile.to_string()])
        .shared_key_hint(local)
        .custom_name(format!(
            "[internal] load {pkgfile}, pkg.yaml, vars.yaml and templates"
        ));
    if !session.is_empty() {
        source = source.session_id(session);
    }
    let def = kiln_llb::marshal(&source.output());
    let vertex = def.digests().into_iter().next().unwrap_or_default();
    // Evaluated, so the transfer is timed as itself rather than inside the first read.
    let mut req = SolveRequest::definition(def.0, &[]);
    req.evaluate = client.caps().gateway(CAP_GATEWAY_EVALUATE_SOLVE);
    let solved = trace
        .time_async("transfer the definition files", client.solve(req))
        .await?;
    let reading = std::time::Instant::now();
    let ref_id = solved.single_ref()?.to_string();
    let mut files = FileSet::default();
    let mut count = 0;
    // Level by level: every directory of a level is listed, then every definition file found
    // is read, each batch as concurrent calls, so the round trips grow with depth, not size.
    let mut level = vec![String::new()];
    while !level.is_empty() {
        let listings = batched(level.iter().map(|dir| {
            let at = if dir.is_empty() { "/" } else { dir.as_str() };
            client.read_dir(&ref_id, at, None)
        }))
        .await?;
        let mut next = Vec::new();
        let mut to_read = Vec::new();
        for (dir, listing) in level.iter().zip(listings) {
            for entry in listing {
                let name = entry.path.rsplit('/').next().unwrap_or(&entry.path);
                let path = if dir.is_empty() {
                    name.to_string()
                } else {
                    format!("{dir}/{name}")
                };
                if entry.mode & MODE_DIR != 0 {
                    if !name.starts_with('.') {
                        next.push(path);
                    }
                } else if is_definition_file(&path, pkgfile) {
                    let size = u64::try_from(entry.size).unwrap_or(0);
                    if size > crate::tree::files::MAX_FILE_BYTES {
                        files.insert_too_large(path, size);
                    } else {
                        to_read.push(path);
                    }
                }
            }
        }
        let contents = batched(to_read.iter().map(|path| client.read_file(&ref_id, path))).await?;
        count += to_read.len();
        for (path, data) in to_read.into_iter().zip(contents) {
            files.insert(path, data);
        }
        level = next;
    }
    trace.record(format!("read {count} definition files"), reading.elapsed());
    Ok((files, vertex))
}
