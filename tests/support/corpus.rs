//! Where the siderolabs/extensions corpus is and the build arguments its README names; shared by
//! tests/corpus.rs and benches/plan_corpus.rs.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The corpus directory, or `None` (saying so) when `../shared` is absent.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/siderolabs-extensions");
    if dir.join("Pkgfile").is_file() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent", dir.display());
        None
    }
}

/// The build arguments the corpus expects, with plausible values.
pub fn corpus_build_args() -> BTreeMap<String, String> {
    [
        ("TAG", "v1.14.0"),
        ("PKGS", "v1.14.0"),
        ("PKGS_PREFIX", "ghcr.io/siderolabs"),
        ("TOOLS", "v1.14.0"),
        ("TOOLS_PREFIX", "ghcr.io/siderolabs"),
        ("SOURCE_DATE_EPOCH", "1700000000"),
        ("TEST_STAGE", ""),
        ("GNU_MIRROR_URL", "https://ftp.gnu.org"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
