//! The crate's error type.

use std::path::PathBuf;

use datafusion::arrow::error::ArrowError;
use datafusion::parquet::errors::ParquetError;

/// Everything that can go wrong while generating or checking the demo catalogue.
///
/// `InvalidOptions` is a *user* error (bad `--sources`/`--seed` combination); `Io`, `Parquet`
/// and `Json` are *resource* errors (disk full, permissions); the rest are *internal* (bugs).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The generation options are inconsistent (user error).
    #[error("invalid demo options: {reason}")]
    InvalidOptions {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A file-system operation failed.
    #[error("i/o error on '{}': {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing a Parquet file failed.
    #[error("parquet error writing '{}': {source}", path.display())]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        source: ParquetError,
    },
    /// Building an Arrow record batch failed (a bug in the generator).
    #[error("arrow error building table '{table}': {source}")]
    Arrow {
        /// The table being built.
        table: &'static str,
        /// The underlying error.
        source: ArrowError,
    },
    /// Reading or writing a JSON file failed.
    #[error("json error on '{}': {source}", path.display())]
    Json {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The embedded real XP reference spectra are unusable (a packaging bug).
    #[error("embedded XP reference spectra are invalid: {reason}")]
    Reference {
        /// What is wrong with them.
        reason: String,
    },
    /// A generator invariant was violated (a bug), e.g. a worker thread panicked.
    #[error("internal error in the demo generator: {reason}")]
    Internal {
        /// What went wrong.
        reason: String,
    },
}

impl DemoError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
