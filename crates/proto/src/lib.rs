//! Generated bindings for BuildKit's wire protocol, compiled from the workspace's `proto/` tree.
//!
//! Modules are nested like the proto packages: `pb` (LLB), and, when their files are present,
//! `moby::buildkit::v1::{frontend, types, apicaps, sourcepolicy}`, `fsutil::types`, `google::rpc`
//! and `errdefs`. The tree is produced by `build.rs` from whichever packages exist, so adding a
//! `.proto` file needs no change here.

#![warn(missing_docs)]

pub use generated::*;

/// The code prost and tonic generate from the `.proto` files. Its items carry the proto
/// comments or none, and its style is the generator's; lints for both are off here only, so the
/// hand-written rest of the crate is held to the workspace's rules.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rustdoc::all,
    non_camel_case_types,
    unused_qualifications
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/packages.rs"));
}

pub use prost;
pub use prost::Message;
pub use prost_types;
pub use tonic;
