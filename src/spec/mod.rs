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
