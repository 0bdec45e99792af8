//! The input model: Pkgfile, pkg.yaml, vars and platforms, typed and with source positions.
//!
//! This layer reads single files. Discovering a tree, rendering templates with the right
//! variables and resolving the dependency graph happen in [`crate::tree`].

pub mod diag;
pub mod lint;
pub mod pkg;
pub mod pkgfile;
pub mod platform;
pub mod suggest;
pub mod vars;
pub mod yaml;

pub use diag::{Diagnostic, Diagnostics, LoadError, Severity, Span};
pub use pkg::{
    DepRef, Dependency, Finalize, NetworkMode, Phase, Pkg, Sbom, Script, Source, Step, Variant,
};
pub use pkgfile::Pkgfile;
pub use platform::Platform;
pub use vars::Vars;

/// The JSON Schema (from the serde/schemars types) and the hand-written readers (their `*_KEYS`)
/// declare every field twice: they must agree, struct by struct.
#[cfg(test)]
mod schema_agreement {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::pkg::{DEP_KEYS, FINALIZE_KEYS, PKG_KEYS, SBOM_KEYS, SOURCE_KEYS, STEP_KEYS};
    use super::pkgfile::PKGFILE_KEYS;

    /// The reader's keys for each object the schema defines, by schema name.
    fn reader_keys(name: &str) -> &'static [&'static str] {
        match name {
            "pkg.yaml" => PKG_KEYS,
            "Pkgfile" => PKGFILE_KEYS,
            "Dependency" => DEP_KEYS,
            "Step" => STEP_KEYS,
            "Source" => SOURCE_KEYS,
            "Sbom" => SBOM_KEYS,
            "Finalize" => FINALIZE_KEYS,
            other => panic!("the schema has an object {other:?} whose reader keys this test does not know; add them"),
        }
    }

    fn properties(object: &Value) -> BTreeSet<String> {
        object["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Compares the root object and every object in `$defs`; returns how many it compared.
    fn assert_agree(schema: &Value) -> usize {
        let mut objects = vec![(schema["title"].as_str().unwrap().to_string(), schema)];
        if let Some(defs) = schema["$defs"].as_object() {
            objects.extend(
                defs.iter()
                    .filter(|(_, d)| d.get("properties").is_some())
                    .map(|(name, d)| (name.clone(), d)),
            );
        }
        for (name, object) in &objects {
            let in_schema = properties(object);
            let in_reader: BTreeSet<String> =
                reader_keys(name).iter().map(|k| k.to_string()).collect();
            assert_eq!(
                in_schema, in_reader,
                "{name}: the schema's properties (left) and the reader's keys (right) differ"
            );
        }
        objects.len()
    }

    #[test]
    fn every_struct_has_the_same_keys_in_the_schema_and_the_reader() {
        let pkg = serde_json::to_value(schemars::schema_for!(super::Pkg)).unwrap();
        assert_eq!(
            assert_agree(&pkg),
            6,
            "pkg.yaml and its five nested objects"
        );
        let pkgfile = serde_json::to_value(schemars::schema_for!(super::Pkgfile)).unwrap();
        assert_eq!(assert_agree(&pkgfile), 1);
    }

    #[test]
    fn a_key_missing_on_either_side_fails() {
        let mut pkg = serde_json::to_value(schemars::schema_for!(super::Pkg)).unwrap();
        pkg["$defs"]["Step"]["properties"]
            .as_object_mut()
            .unwrap()
            .remove("sbom");
        assert!(std::panic::catch_unwind(|| assert_agree(&pkg)).is_err());
    }
}
