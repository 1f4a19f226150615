use std::path::PathBuf;

/// Everything that can go wrong while validating or loading a catalogue.
///
/// Every variant names the configuration key or table it concerns, so a start-up error tells
/// the operator what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// A configuration value is invalid.
    #[error("{key}: {message}")]
    InvalidConfig {
        /// Dotted path of the offending key, e.g. `catalog.table[1].name`.
        key: String,
        /// What is wrong, and how to fix it.
        message: String,
    },
    /// A table's path does not exist.
    #[error("{key}: table {table}: path '{}' does not exist", path.display())]
    MissingPath {
        /// Dotted path of the offending key.
        key: String,
        /// Qualified table name.
        table: String,
        /// The path as resolved.
        path: PathBuf,
    },
    /// A table's files could not be read as Parquet.
    #[error("{key}: table {table}: cannot read '{path}' as Parquet: {reason}")]
    NotParquet {
        /// Dotted path of the offending key.
        key: String,
        /// Qualified table name.
        table: String,
        /// The path or glob.
        path: String,
        /// The reader's message.
        reason: String,
    },
    /// A column has an Arrow type that has no VOTable equivalent.
    #[error(
        "table {table}: column '{column}' has type {data_type}, which cannot be served over TAP"
    )]
    UnsupportedType {
        /// Qualified table name.
        table: String,
        /// Column name.
        column: String,
        /// The Arrow type, printed.
        data_type: String,
    },
    /// DataFusion refused to register a table (an internal error).
    #[error("registering table {table}: {reason}")]
    Registration {
        /// Qualified table name.
        table: String,
        /// DataFusion's message.
        reason: String,
    },
}
