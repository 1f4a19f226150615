//! The one error type of this crate.

use datafusion::arrow::error::ArrowError;
use datafusion::parquet::errors::ParquetError;

/// Who is to blame for a [`FormatError`], so the HTTP layer can pick 4xx or 5xx.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client asked for something we do not offer (bad RESPONSEFORMAT, unwritable column).
    User,
    /// The query failed, or the transport/result file failed, while results were streaming.
    Resource,
    /// A bug in the service.
    Internal,
}

/// Errors raised while negotiating or writing an output format.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The RESPONSEFORMAT/FORMAT value names no format we can write.
    #[error(
        "unknown output format '{value}'; accepted values: {accepted}, or one of their MIME types"
    )]
    UnknownFormat {
        /// The value the client sent.
        value: String,
        /// Comma-separated list of the accepted short names.
        accepted: String,
    },
    /// A result column has an Arrow type the chosen format cannot represent.
    #[error(
        "column '{column}' has type {data_type}, which cannot be written as {format}; cast it to a number, string or timestamp"
    )]
    UnsupportedType {
        /// Column name.
        column: String,
        /// The Arrow data type, as text.
        data_type: String,
        /// The output format's short name.
        format: &'static str,
    },
    /// The query failed after streaming started; the message is the engine's.
    #[error("query failed while writing results: {0}")]
    Execution(String),
    /// Arrow conversion or IPC encoding failed.
    #[error("arrow error while writing results: {0}")]
    Arrow(#[from] ArrowError),
    /// Parquet encoding failed.
    #[error("parquet error while writing results: {0}")]
    Parquet(#[from] ParquetError),
    /// Writing to the sink (result file, socket) failed.
    #[error("i/o error while writing results: {0}")]
    Io(#[from] std::io::Error),
    /// The caller broke an API contract (e.g. metadata count differs from the schema).
    #[error("internal error in result writer: {0}")]
    Internal(String),
}

impl FormatError {
    /// Classify the error (user / resource / internal).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownFormat { .. } | Self::UnsupportedType { .. } => ErrorKind::User,
            Self::Execution(_) | Self::Io(_) => ErrorKind::Resource,
            Self::Arrow(_) | Self::Parquet(_) | Self::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = FormatError> = std::result::Result<T, E>;
