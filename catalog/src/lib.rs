//! The Parallax catalogue: which tables exist, where their Parquet files live, and what their
//! columns mean.
//!
//! A catalogue is described by a TOML section ([`CatalogConfig`]) or built from
//! `--table SCHEMA.NAME=PATH` arguments, validated, and loaded into a [`Catalog`]: DataFusion
//! listing tables over Parquet whose Arrow field metadata carries the IVOA column metadata
//! (description, unit, UCD, utype, xtype), plus the `TAP_SCHEMA` tables of
//! IVOA TAP 1.1 §4 generated from that same metadata. Because both the TAP_SCHEMA rows and the
//! query results derive a column's VOTable type from its Arrow type through
//! [`parallax_formats::votable_type`], what the catalogue declares is what a query returns.

mod config;
mod error;
mod loader;
mod model;
mod reserved;
pub mod stores;
mod tap_schema;

pub use config::{
    CatalogConfig, ColumnConfig, FlightSqlConfig, ForeignKeyConfig, PostgresConfig,
    RemoteTableConfig, SchemaConfig, TableConfig,
};
pub use error::CatalogError;
pub use loader::{load, load_with, quick_table, remote_schemas, remote_table};
pub use model::{Catalog, ColumnInfo, ForeignKey, SchemaInfo, TableInfo, meta_keys};
pub use tap_schema::TAP_SCHEMA;
