//! Generic plumbing for a BuildKit gateway frontend, independent of any
//! definition format: the gRPC client over stdio ([`Client`]), the options
//! BuildKit passes ([`FrontendEnv`], [`BuildOptions`]), result assembly for
//! single- and multi-platform builds ([`ResultBuilder`]), errors with source
//! locations ([`errors`]), concurrent solves reporting the most detailed
//! failure ([`concurrent`]), subrequests and their answers ([`subrequests`]),
//! named contexts ([`BuildOptions::named_image`]), the frontend's own
//! image definition ([`frontend_bin`]), and phase timings shown as progress
//! vertices ([`trace`]).
//!
//! With the `testing` feature (always on in this crate's tests), [`fake`]
//! provides an in-process LLBBridge server to test frontends against.

#![warn(missing_docs)]

pub mod client;
#[cfg(test)]
mod client_tests;
pub mod concurrent;
pub mod errors;
#[cfg(any(test, feature = "testing"))]
pub mod fake;
pub mod frontend_bin;
pub mod lint;
pub mod options;
pub mod outline;
pub mod result;
pub mod subrequests;
pub mod trace;
pub mod transport;

pub use client::{
    Caps, Client, GatewayError, ResolveImageRequest, ResolvedImage, SolveRequest, Solved,
    SolvedRefs,
};
pub use errors::{LineRange, SourceLocation};
pub use kiln_llb::{Platform, PlatformError};
pub use options::{
    BuildOptions, CacheImport, FrontendEnv, ImageResolveMode, NamedContextValue, NoCache,
    WorkerInfo,
};
pub use result::{ImageConfig, ResultBuilder};
pub use trace::Trace;

/// The generated protocol types this crate's API uses.
pub use kiln_proto::fsutil::types::Stat;
pub use kiln_proto::google::rpc::Status;
pub use kiln_proto::moby::buildkit::v1::frontend as gateway_pb;
pub use kiln_proto::pb;
