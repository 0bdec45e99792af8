//! The `frontend.targets` answer (`--call targets`): every package with its description and the
//! pkg.yaml lines that define it.

use std::collections::BTreeMap;

use kiln_gateway::subrequests::{Target, TargetList, TargetLocation};
use kiln_gateway::LineRange;

use crate::tree::{Package, Tree};

/// Every package of `tree`, each pkg.yaml sent once as a source.
pub fn list(tree: &Tree) -> TargetList {
    let mut list = TargetList::default();
    let mut source_index: BTreeMap<&str, i32> = BTreeMap::new();
    for package in tree.packages.values() {
        let index = *source_index
            .entry(package.file.as_str())
            .or_insert_with(|| {
                list.sources.push(package.source.as_bytes().to_vec());
                (list.sources.len() - 1) as i32
            });
        list.targets.push(Target {
            name: package.pkg.name.clone(),
            description: describe(package),
            location: Some(TargetLocation {
                source_index: index,
                ranges: vec![LineRange {
                    start: package.pkg.span.line as u32,
                    end: package.pkg.span.end_line as u32,
                }],
            }),
            ..Target::default()
        });
    }
    list
}

/// A package's description: the first line of its manifest's `metadata.description`, else
/// where it lives.
pub fn describe(package: &Package) -> String {
    use saphyr::{YamlLoader, YamlOwned};
    let from_manifest = package
        .templated
        .iter()
        .find(|t| t.path == "manifest.yaml")
        .and_then(|m| {
            // Bounded like every YAML kiln reads: this runs on the user's file.
            let mut loader: YamlLoader<'_, YamlOwned> = YamlLoader::default();
            kiln_validate::load_yaml(&m.contents, &mut loader).ok()?;
            loader.into_documents().into_iter().next()
        })
        .and_then(|doc| {
            let text = doc
                .as_mapping_get("metadata")?
                .as_mapping_get("description")?
                .as_str()?
                .trim()
                .to_string();
            text.lines().next().map(str::to_string)
        });
    from_manifest.unwrap_or_else(|| {
        format!(
            "package in {}",
            if package.dir.is_empty() {
                "."
            } else {
                &package.dir
            }
        )
    })
}
