//! Generated bindings for BuildKit's wire protocol, compiled from the workspace's `proto/` tree.
//!
//! Modules are nested like the proto packages: `pb` (LLB), and, when their files are present,
//! `moby::buildkit::v1::{frontend, types, apicaps, sourcepolicy}`, `fsutil::types`, `google::rpc`
//! and `errdefs`. The tree is produced by `build.rs` from whichever packages exist, so adding a
//! `.proto` file needs no change here.

#![allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rustdoc::all,
    non_camel_case_types,
    unused_qualifications
)]

include!(concat!(env!("OUT_DIR"), "/packages.rs"));

pub use prost;
pub use prost::Message;
pub use prost_types;
pub use tonic;
