//! The `[catalog]` section of the Parallax configuration file.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Catalogue description: schemas, tables and foreign keys.
///
/// ```toml
/// [[catalog.schema]]
/// name = "gaiadr3"
/// description = "Gaia Data Release 3"
///
/// [[catalog.table]]
/// name = "gaiadr3.gaia_source"            # schema.table, lower-case ADQL identifiers
/// path = "data/gaiadr3/gaia_source"       # a Parquet file, a directory or a glob
/// description = "Gaia DR3 source catalogue"
/// [catalog.table.columns.ra]              # optional overrides of Parquet field metadata
/// unit = "deg"
/// ucd = "pos.eq.ra;meta.main"
///
/// [[catalog.foreign_key]]
/// from = "gaiadr3.xp_continuous_mean_spectrum"
/// target = "gaiadr3.gaia_source"
/// columns = [["source_id", "source_id"]]
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// Schema descriptions. Schemas used by tables but not listed here are created empty.
    #[serde(default, rename = "schema")]
    pub schemas: Vec<SchemaConfig>,
    /// Tables.
    #[serde(default, rename = "table")]
    pub tables: Vec<TableConfig>,
    /// Foreign keys, published in `TAP_SCHEMA.keys` and `TAP_SCHEMA.key_columns`.
    #[serde(default, rename = "foreign_key")]
    pub foreign_keys: Vec<ForeignKeyConfig>,
    /// Remote PostgreSQL sources whose tables are queried in place (`docs/federation.md`).
    #[serde(default)]
    pub postgres: Vec<PostgresConfig>,
    /// Remote Arrow Flight SQL sources (another Parallax, or any Flight SQL server).
    #[serde(default)]
    pub flightsql: Vec<FlightSqlConfig>,
}

/// A remote PostgreSQL database (`[[catalog.postgres]]`).
///
/// ```toml
/// [[catalog.postgres]]
/// name = "archive"                     # source name, used in messages; default local schema
/// schema = "twomass"                   # ADQL schema its tables appear in (default: name)
/// connection = "host=127.0.0.1 port=5432 user=tap dbname=archive"
/// password_file = "secrets/archive.pw" # optional; relative to the config file
/// tables = ["public.psc"]              # remote schema.table, exposed as twomass.psc
/// timeout = 10                         # seconds: connecting, and each wait for rows
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Source name (a lower-case identifier); errors about the source name it.
    pub name: String,
    /// Local ADQL schema of the source's tables (default: `name`).
    pub schema: Option<String>,
    /// Description of the local schema.
    pub description: Option<String>,
    /// libpq-style connection string: `host=... port=... user=... dbname=...` or a
    /// `postgresql://` URL.
    pub connection: Option<String>,
    /// Host (when no `connection` is given).
    pub host: Option<String>,
    /// Port (default 5432).
    pub port: Option<u16>,
    /// User name.
    pub user: Option<String>,
    /// Database name.
    pub dbname: Option<String>,
    /// File holding the password (first line); relative paths against the config file.
    pub password_file: Option<String>,
    /// Remote tables to expose, as `schema.table` (a bare name means `public.name`).
    #[serde(default)]
    pub tables: Vec<String>,
    /// Remote schemas whose every table and view is exposed (listed when the service starts).
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Seconds allowed for connecting and for each wait for rows (default 10).
    pub timeout: Option<u64>,
    /// Per-table metadata, keyed by local table name.
    #[serde(default)]
    pub table: BTreeMap<String, RemoteTableConfig>,
}

/// A remote Arrow Flight SQL service (`[[catalog.flightsql]]`).
///
/// ```toml
/// [[catalog.flightsql]]
/// name = "node2"
/// url = "grpc://127.0.0.1:50051"
/// tables = ["gaiadr3.gaia_source"]     # exposed as node2.gaia_source
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlightSqlConfig {
    /// Source name (a lower-case identifier); errors about the source name it.
    pub name: String,
    /// Local ADQL schema of the source's tables (default: `name`).
    pub schema: Option<String>,
    /// Description of the local schema.
    pub description: Option<String>,
    /// `grpc://host:port` (plain HTTP/2; TLS is not supported yet).
    pub url: String,
    /// User name for HTTP basic authentication.
    pub username: Option<String>,
    /// File holding the password for `username` (first line).
    pub password_file: Option<String>,
    /// File holding a bearer token (first line).
    pub token_file: Option<String>,
    /// Remote tables to expose, as `schema.table` (or a bare `table`).
    #[serde(default)]
    pub tables: Vec<String>,
    /// Seconds allowed for connecting and for each wait for data (default 10).
    pub timeout: Option<u64>,
    /// Per-table metadata, keyed by local table name.
    #[serde(default)]
    pub table: BTreeMap<String, RemoteTableConfig>,
}

/// Metadata of one remote table (`[catalog.postgres.table.NAME]`); every value overrides what
/// the remote side reports (PostgreSQL comments, Flight field metadata).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteTableConfig {
    /// Human-readable description.
    pub description: Option<String>,
    /// Data-model utype.
    pub utype: Option<String>,
    /// Per-column metadata overrides, keyed by column name.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnConfig>,
}

/// One schema.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaConfig {
    /// Schema name: a lower-case ADQL regular identifier.
    pub name: String,
    /// Human-readable description.
    pub description: Option<String>,
    /// Data-model utype.
    pub utype: Option<String>,
}

/// One table over Parquet files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// Qualified name `schema.table`.
    pub name: String,
    /// A Parquet file, a directory of Parquet files, or a glob; relative paths are resolved
    /// against the configuration file's directory.
    pub path: String,
    /// Human-readable description (overrides the Parquet schema metadata `description`).
    pub description: Option<String>,
    /// Data-model utype.
    pub utype: Option<String>,
    /// Per-column metadata overrides, keyed by column name.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnConfig>,
}

/// Column metadata; every field overrides the Parquet field metadata of the same name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// Human-readable description.
    pub description: Option<String>,
    /// VOUnit string, e.g. `deg` or `mas.yr**-1`.
    pub unit: Option<String>,
    /// UCD 1+ string, e.g. `pos.eq.ra;meta.main`.
    pub ucd: Option<String>,
    /// Data-model utype.
    pub utype: Option<String>,
    /// DALI xtype, e.g. `point` (normally derived from the type).
    pub xtype: Option<String>,
    /// Whether the column is shown by default (TAP_SCHEMA `principal`).
    pub principal: Option<bool>,
    /// Whether the column is indexed (TAP_SCHEMA `indexed`).
    pub indexed: Option<bool>,
    /// Whether the column is defined by a standard (TAP_SCHEMA `std`).
    pub std: Option<bool>,
    /// The column carries a NESTED HEALPix index and the files are sorted by it, so cone
    /// searches prune row groups and pages: `gaia` (a Gaia `source_id`: the order-12 index
    /// times 2^35 plus a running number) or `nested:N` (the index at order N).
    pub healpix: Option<String>,
}

/// A foreign key between two tables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignKeyConfig {
    /// Qualified name of the table holding the key.
    pub from: String,
    /// Qualified name of the referenced table.
    pub target: String,
    /// Pairs `[from_column, target_column]`.
    pub columns: Vec<[String; 2]>,
    /// Human-readable description.
    pub description: Option<String>,
}
