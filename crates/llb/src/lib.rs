//! A small typed builder for BuildKit's LLB (low-level build) graphs.
//!
//! Build a graph of [`Output`]s with the source builders ([`Image`], [`Local`], [`Http`]),
//! [`Exec`], [`FileOp`], [`Merge`] and [`Diff`], then [`marshal`] it into a [`Definition`]
//! whose bytes BuildKit accepts. Marshaling follows BuildKit's Go client: inputs come before
//! their users, identical ops are emitted once, a terminal op points at the result, each op
//! lists the capabilities it needs, and the same graph always gives the same bytes.
//!
//! ```
//! use kiln_llb::{marshal, Exec, Image, OpBuilder};
//! let alpine = Image::new("alpine:3.20").unwrap().output();
//! let run = Exec::new(&alpine).args(["sh", "-c", "echo hi"]).custom_name("say hi").build().unwrap();
//! let def = marshal(&run.root());
//! assert_eq!(def.ops().len(), 3); // image, exec, terminal
//! ```

#![warn(missing_docs)]

mod caps;
mod error;
mod exec;
mod file;
mod graph;
mod json;
mod marshal;
mod merge;
mod platform;
mod source;

pub use caps::{
    cap, cap_introduced_in, check_caps, known_caps, Caps, MissingCap, MissingCapsError,
    BUILDKIT_BASELINE,
};
pub use error::LlbError;
pub use exec::{CacheSharing, Exec, ExecResult, Mount, NetworkMode};
pub use file::{
    clean_path, ChownOwner, CopyOptions, FileOp, MkdirOptions, MkfileOptions, RmOptions,
};
pub use graph::{Constraints, OpBuilder, Output, Range, SourceLocation, SourceMap};
pub use json::definition_to_json;
pub use marshal::{digest_of, embed_definition, marshal, Definition};
pub use merge::{diff, merge, Diff, Merge};
pub use platform::{Platform, PlatformError};
pub use source::{normalize_image_ref, Http, Image, Local, ResolveMode};

/// The generated protocol types this crate builds.
pub use kiln_proto::pb;
