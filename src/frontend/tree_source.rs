//! Reads a tree's definition files (Pkgfile, pkg.yaml, vars.yaml, *.tmpl) from BuildKit's
//! `dockerfile` local: only those files are transferred, thanks to include patterns, and read
//! with concurrent gateway calls, each directory listed as soon as its parent's listing names it.

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
    let (files, count) = walk(client, &ref_id, pkgfile).await?;
    trace.record(format!("read {count} definition files"), reading.elapsed());
    Ok((files, vertex))
}

/// What one gateway call of the walk brought back.
enum Found {
    Listing(String, Vec<kiln_gateway::Stat>),
    Contents(String, Vec<u8>),
}

/// Lists every directory of the transferred tree and reads its definition files, with up to
/// [`CONCURRENT_READS`] calls in flight. A listing's subdirectories and files are asked for as
/// soon as it arrives, so the round trips on the way grow with the tree's depth, not its size,
/// and reading one level overlaps listing the next. Returns the files and how many were read.
async fn walk(
    client: &Client,
    ref_id: &str,
    pkgfile: &str,
) -> Result<(FileSet, usize), GatewayError> {
    use futures::stream::{FuturesUnordered, StreamExt};
    use std::collections::VecDeque;

    let mut files = FileSet::default();
    let mut count = 0;
    // Directories first: each listing reveals more work.
    let mut dirs: VecDeque<String> = VecDeque::from([String::new()]);
    let mut reads: VecDeque<String> = VecDeque::new();
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < CONCURRENT_READS {
            if let Some(dir) = dirs.pop_front() {
                in_flight.push(futures::future::Either::Left(async move {
                    let at = if dir.is_empty() { "/" } else { dir.as_str() };
                    let listing = client.read_dir(ref_id, at, None).await?;
                    Ok::<_, GatewayError>(Found::Listing(dir, listing))
                }));
            } else if let Some(path) = reads.pop_front() {
                in_flight.push(futures::future::Either::Right(async move {
                    let data = client.read_file(ref_id, &path).await?;
                    Ok::<_, GatewayError>(Found::Contents(path, data))
                }));
            } else {
                break;
            }
        }
        let Some(found) = in_flight.next().await else {
            break;
        };
        match found? {
            Found::Contents(path, data) => {
                count += 1;
                files.insert(path, data);
            }
            Found::Listing(dir, listing) => {
                for entry in listing {
                    let name = entry.path.rsplit('/').next().unwrap_or(&entry.path);
                    let path = if dir.is_empty() {
                        name.to_string()
                    } else {
                        format!("{dir}/{name}")
                    };
                    if entry.mode & MODE_DIR != 0 {
                        if !name.starts_with('.') {
                            dirs.push_back(path);
                        }
                    } else if is_definition_file(&path, pkgfile) {
                        let size = u64::try_from(entry.size).unwrap_or(0);
                        if size > crate::tree::files::MAX_FILE_BYTES {
                            files.insert_too_large(path, size);
                        } else {
                            reads.push_back(path);
                        }
                    }
                }
            }
        }
    }
    Ok((files, count))
}
