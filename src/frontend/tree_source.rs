//! Reads a tree's definition files (Pkgfile, pkg.yaml, vars.yaml, *.tmpl) from BuildKit's
//! `dockerfile` local: only those files are transferred, thanks to include patterns.

use kiln_gateway::{Client, GatewayError, SolveRequest};
use kiln_llb::{Local, OpBuilder};

use crate::tree::files::{include_patterns, is_definition_file};
use crate::tree::FileSet;

/// Go's `os.ModeDir`, as fsutil reports it in `Stat.mode`.
const MODE_DIR: u32 = 1 << 31;

/// The files, and the digest of the vertex that loaded them (warnings attach to it).
pub async fn read(
    client: &Client,
    local: &str,
    session: &str,
    pkgfile: &str,
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
    let solved = client.solve(SolveRequest::definition(def.0, &[])).await?;
    let ref_id = solved.single_ref()?.to_string();
    let mut files = FileSet::default();
    let mut dirs = vec![String::new()];
    while let Some(dir) = dirs.pop() {
        let listing = client
            .read_dir(&ref_id, if dir.is_empty() { "/" } else { &dir }, None)
            .await?;
        for entry in listing {
            let name = entry
                .path
                .rsplit('/')
                .next()
                .unwrap_or(&entry.path)
                .to_string();
            let path = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            if entry.mode & MODE_DIR != 0 {
                if !name.starts_with('.') {
                    dirs.push(path);
                }
            } else if is_definition_file(&path, pkgfile) {
                let size = u64::try_from(entry.size).unwrap_or(0);
                if size > crate::tree::files::MAX_FILE_BYTES {
                    files.insert_too_large(path, size);
                    continue;
                }
                let data = client.read_file(&ref_id, &path).await?;
                files.insert(path, data);
            }
        }
    }
    Ok((files, vertex))
}
