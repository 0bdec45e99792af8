//! Errors raised while building an LLB graph from user-supplied values.

/// Something given to a builder cannot be expressed as valid LLB.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LlbError {
    /// An image reference that BuildKit would reject.
    #[error("invalid image reference `{reference}`: {reason}")]
    InvalidImageRef {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An exec without a command.
    #[error("exec needs at least one argument (the program to run)")]
    EmptyArgs,
    /// Two mounts of one exec at the same path.
    #[error("exec mounts `{0}` twice; every mount needs its own destination")]
    DuplicateMount(String),
    /// A mount destination that is not absolute.
    #[error("mount destination `{0}` must be an absolute path")]
    RelativeMountDest(String),
    /// A tmpfs mount given a source filesystem.
    #[error("tmpfs mount at `{0}` cannot have a source; tmpfs mounts always start empty")]
    TmpfsWithSource(String),
    /// A checksum not of the form `sha256:<64 hex digits>`.
    #[error("invalid checksum `{0}`: expected sha256:<64 lowercase hex digits>")]
    InvalidChecksum(String),
    /// A timestamp that does not fit BuildKit's nanosecond field.
    #[error("timestamp {0} is out of range")]
    TimestampOutOfRange(i64),
    /// A marshaled definition that cannot be decoded or has no result pointer.
    #[error("invalid LLB definition: {0}")]
    InvalidDefinition(String),
}
