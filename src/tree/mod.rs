//! A package tree: discovery of its files, loading per platform, and the dependency graph.

pub mod files;
pub mod graph;
pub mod lint;
pub mod load;
pub mod outline;

pub use files::FileSet;
pub use graph::{Plan, ResolvedDep};
pub use load::{load, Definitions, LoadOptions, Package, TemplatedFile, Tree, VarDefinition};

#[cfg(test)]
mod tests;
