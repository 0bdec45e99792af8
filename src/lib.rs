//! kiln: a BuildKit frontend that builds Talos system-extension images from bldr-format trees.
//!
//! Data flows one way: files → [`spec`] → [`tree`] → convert → LLB → gateway; [`update`] rewrites
//! a tree's checksums from the same loaded tree.

#![warn(missing_docs)]

pub mod cli;
pub mod convert;
pub mod frontend;
pub mod spec;
pub mod tree;
pub mod update;
