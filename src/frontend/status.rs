//! What buildx shows of kiln's problems: errors as `Return` statuses whose details point at the
//! pkg.yaml lines (buildx prints them), and the tree's warnings attached to the load vertex.

use std::collections::BTreeMap;

use kiln_gateway::errors::build_error;
use kiln_gateway::{Client, LineRange, SourceLocation, Status};

use crate::convert::ConvertError;
use crate::spec::{Diagnostics, LoadError, Span};
use crate::tree::FileSet;

/// An error with no location.
pub fn plain_error(message: impl Into<String>) -> Status {
    build_error(message, &[])
}

fn line_range(span: &Span) -> LineRange {
    LineRange {
        start: span.line as u32,
        end: span.end_line.max(span.line) as u32,
    }
}

/// Runs `work`, turning a panic inside it into a build error that says what kiln was `doing`,
/// so BuildKit shows the user a message instead of a frontend that died.
pub fn guarded<T>(doing: &str, work: impl FnOnce() -> Result<T, Status>) -> Result<T, Status> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => {
            let cause = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".to_string());
            Err(plain_error(format!(
                "kiln failed internally while {doing}: {cause}. This is a bug in kiln; please report it with the tree that triggers it"
            )))
        }
    }
}

/// An error status whose details point at every file and line in `diags`.
pub fn diagnostics_status(summary: &str, diags: &Diagnostics, files: &FileSet) -> Status {
    let mut by_file: BTreeMap<&str, Vec<LineRange>> = BTreeMap::new();
    for d in diags.errors().filter(|d| d.span.line > 0) {
        by_file
            .entry(d.file.as_str())
            .or_default()
            .push(line_range(&d.span));
    }
    let sources: Vec<SourceLocation> = by_file
        .into_iter()
        .map(|(file, ranges)| {
            SourceLocation::yaml(file, files.get(file).unwrap_or_default().to_vec(), ranges)
        })
        .collect();
    // Errors first (they are why the build stopped), then warnings, which may explain them.
    let lines: Vec<String> = diags
        .errors()
        .chain(diags.warnings())
        .map(|d| d.to_string())
        .collect();
    build_error(format!("{summary}:\n{}", lines.join("\n")), &sources)
}

/// A failed conversion, at its pkg.yaml lines.
pub fn convert_status(e: &ConvertError, files: &FileSet) -> Status {
    match e {
        ConvertError::Load(LoadError(diags)) => {
            diagnostics_status("the package tree has errors", diags, files)
        }
        ConvertError::Package {
            file,
            span,
            message,
        } => {
            let mut diags = Diagnostics::default();
            diags.error(file, *span, message.clone());
            diagnostics_status("cannot convert the package", &diags, files)
        }
    }
}

/// A tree that failed to load, at its lines.
pub fn load_status(e: LoadError, files: &FileSet) -> Status {
    convert_status(&ConvertError::Load(e), files)
}

/// Shows the tree's warnings (unknown keys and the like) in the build output, at their lines.
pub async fn warn_all(client: &Client, vertex: &str, warnings: &Diagnostics, files: &FileSet) {
    for w in &warnings.0 {
        let source = (w.span.line > 0).then(|| {
            SourceLocation::yaml(
                w.file.as_str(),
                files.get(&w.file).unwrap_or_default().to_vec(),
                vec![line_range(&w.span)],
            )
        });
        // Warnings are advisory: a daemon that cannot show them must not fail the build.
        let _ = client
            .warn(vertex, &w.to_string(), &[], source.as_ref())
            .await;
    }
}
