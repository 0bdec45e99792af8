//! The frontend's own image as LLB: BuildKit (v0.10 and later) mounts the
//! marshaled `pb.Definition` of the running frontend image at
//! [`FRONTEND_BIN_PATH`], pinned by digest, so a frontend can run itself in a
//! build step (e.g. as a validator) without knowing its image reference.

use std::io;
use std::path::Path;

use kiln_proto::pb;
use prost::Message as _;

/// Where BuildKit mounts the frontend image's definition.
pub const FRONTEND_BIN_PATH: &str = "/run/config/buildkit/metadata/frontend.bin";

/// Reads the running frontend's definition; `None` when BuildKit did not
/// provide one (older daemons, or running outside BuildKit).
pub fn current_frontend() -> io::Result<Option<pb::Definition>> {
    read_frontend_definition(Path::new(FRONTEND_BIN_PATH))
}

/// Reads a marshaled definition from `path`; `None` if the file is absent.
pub fn read_frontend_definition(path: &Path) -> io::Result<Option<pb::Definition>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    pb::Definition::decode(bytes.as_slice())
        .map(Some)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} does not hold a valid LLB definition: {e}",
                    path.display()
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_file_is_none_and_garbage_is_an_error() {
        let dir = std::env::temp_dir().join(format!("kiln-gateway-fb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(read_frontend_definition(&dir.join("missing.bin"))
            .unwrap()
            .is_none());

        let def = pb::Definition {
            def: vec![b"op-bytes".to_vec()],
            ..Default::default()
        };
        let good = dir.join("frontend.bin");
        std::fs::write(&good, def.encode_to_vec()).unwrap();
        assert_eq!(read_frontend_definition(&good).unwrap(), Some(def));

        let bad = dir.join("bad.bin");
        std::fs::write(&bad, [0xff, 0xff, 0xff]).unwrap();
        let err = read_frontend_definition(&bad).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("bad.bin"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
