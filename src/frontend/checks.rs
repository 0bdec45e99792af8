//! The `frontend.outline` and `frontend.lint` answers (`--call outline`, `--call check`): what a
//! target reads, and the lint rules' findings, in BuildKit's formats.

use kiln_gateway::{LineRange, Status};

use super::status::load_status;
use super::targets::describe;
use crate::convert::Trees;
use crate::spec::Diagnostics;
use crate::tree::FileSet;

/// Build args kiln itself reads, whatever the target: (name, description).
const FRONTEND_BUILD_ARGS: &[(&str, &str)] = &[
    (
        "SOURCE_DATE_EPOCH",
        "finalize mtimes and SBOM creation time; with it, rebuilds give identical digests",
    ),
    (
        "TALOS_VERSION",
        "the Talos release the validation stage checks against (default: the newest kiln knows)",
    ),
    (
        "KERNEL_RELEASE",
        "the one kernel release directory allowed under the modules directory",
    ),
    (
        crate::tree::lint::CHECK_BUILD_ARG,
        "lint settings, e.g. skip=UnusedVariable;error=true",
    ),
];

/// The outline of `target`: the variables its templates read, then the build args kiln reads.
pub fn outline(
    trees: &Trees,
    tree: &crate::tree::Tree,
    target: &str,
) -> Result<kiln_gateway::outline::Outline, Status> {
    use kiln_gateway::outline::{Arg, Outline};
    use kiln_gateway::subrequests::TargetLocation;
    let files = trees.files();
    let variables =
        crate::tree::outline::variables(files, tree, target).map_err(|e| load_status(e, files))?;
    let mut outline = Outline {
        name: target.to_string(),
        description: describe(&tree.packages[target]),
        ..Default::default()
    };
    for v in variables {
        let location = v.uses.first().map(|first| {
            let data = files.get(&first.file).unwrap_or_default();
            TargetLocation {
                source_index: outline.add_source(data),
                ranges: v
                    .uses
                    .iter()
                    .filter(|u| u.file == first.file)
                    .map(|u| LineRange::line(u.line as u32))
                    .collect(),
            }
        });
        let name = match v.kind {
            crate::tree::outline::VariableKind::BuildArg => v.name,
            // Template variables are not build args: buildx shows them with their `.` prefix.
            _ => format!(".{}", v.name),
        };
        outline.args.push(Arg {
            name,
            description: v.description,
            value: v.value,
            location,
        });
    }
    for (name, description) in FRONTEND_BUILD_ARGS {
        if outline.args.iter().any(|a| a.name == *name) {
            continue;
        }
        outline.args.push(Arg {
            name: name.to_string(),
            description: description.to_string(),
            value: trees
                .options()
                .build_args
                .get(*name)
                .cloned()
                .unwrap_or_default(),
            location: None,
        });
    }
    Ok(outline)
}

/// Lint findings in BuildKit's format, each pointing at its file's lines.
pub fn lint_results(findings: &Diagnostics, files: &FileSet) -> kiln_gateway::lint::LintResults {
    use kiln_gateway::lint::{LintResults, Location, SourceInfo, Warning};
    let mut results = LintResults::default();
    for d in &findings.0 {
        let source = (d.span.line > 0).then(|| {
            results.add_source(SourceInfo {
                filename: d.file.clone(),
                data: files.get(&d.file).unwrap_or_default().to_vec(),
                language: "yaml".to_string(),
            })
        });
        let (rule_name, description) = match d.rule {
            Some(rule) => (rule.id.to_string(), rule.summary.to_string()),
            None => ("InvalidCheckSetting".to_string(), String::new()),
        };
        let severity = d.severity;
        let place = if source.is_some() {
            String::new()
        } else {
            format!("{}: ", d.file)
        };
        results.warnings.push(Warning {
            rule_name,
            description,
            detail: format!("{place}{severity}: {}", d.message),
            location: Location {
                source,
                ranges: source
                    .map(|_| {
                        vec![LineRange {
                            start: d.span.line as u32,
                            end: d.span.end_line.max(d.span.line) as u32,
                        }]
                    })
                    .unwrap_or_default(),
            },
        });
    }
    results
}
