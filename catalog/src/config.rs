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
