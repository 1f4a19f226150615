//! The loaded catalogue: schemas, tables, columns and keys with their IVOA metadata.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::prelude::SessionContext;
use parallax_formats::votable_type;

use crate::CatalogError;

/// Arrow field-metadata keys that carry IVOA column metadata, in Parquet files and in query
/// results alike.
pub mod meta_keys {
    /// Human-readable description.
    pub const DESCRIPTION: &str = "description";
    /// VOUnit.
    pub const UNIT: &str = "unit";
    /// UCD.
    pub const UCD: &str = "ucd";
    /// Data-model utype.
    pub const UTYPE: &str = "utype";
    /// DALI xtype.
    pub const XTYPE: &str = "xtype";
    /// "1"/"true" when the column is principal.
    pub const PRINCIPAL: &str = "principal";
    /// "1"/"true" when the column is indexed.
    pub const INDEXED: &str = "indexed";
    /// "1"/"true" when the column is standard.
    pub const STD: &str = "std";
    /// HEALPix-bearing key scheme: `gaia` or `nested:N`.
    pub const HEALPIX: &str = "healpix";
}

/// One column of a catalogue table.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    /// Column name as used in queries.
    pub name: String,
    /// Arrow type.
    pub data_type: DataType,
    /// Whether NULLs may occur.
    pub nullable: bool,
    /// VOTable datatype (`double`, `char`, ...).
    pub datatype: &'static str,
    /// VOTable arraysize, `None` for scalars.
    pub arraysize: Option<String>,
    /// DALI xtype.
    pub xtype: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// VOUnit.
    pub unit: Option<String>,
    /// UCD.
    pub ucd: Option<String>,
    /// utype.
    pub utype: Option<String>,
    /// TAP_SCHEMA `principal`.
    pub principal: bool,
    /// TAP_SCHEMA `indexed`.
    pub indexed: bool,
    /// TAP_SCHEMA `std`.
    pub std: bool,
}

impl ColumnInfo {
    /// Builds the column description from an Arrow field and its metadata.
    pub fn from_field(table: &str, field: &Field) -> Result<Self, CatalogError> {
        let vo = votable_type(field.data_type()).ok_or_else(|| CatalogError::UnsupportedType {
            table: table.to_string(),
            column: field.name().clone(),
            data_type: field.data_type().to_string(),
        })?;
        let md = field.metadata();
        let text = |k: &str| md.get(k).filter(|v| !v.is_empty()).cloned();
        let flag = |k: &str| {
            md.get(k)
                .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
                .unwrap_or(false)
        };
        Ok(Self {
            name: field.name().clone(),
            data_type: field.data_type().clone(),
            nullable: field.is_nullable(),
            datatype: vo.datatype,
            arraysize: vo.arraysize,
            xtype: text(meta_keys::XTYPE).or(vo.xtype.map(str::to_string)),
            description: text(meta_keys::DESCRIPTION),
            unit: text(meta_keys::UNIT),
            ucd: text(meta_keys::UCD),
            utype: text(meta_keys::UTYPE),
            principal: flag(meta_keys::PRINCIPAL),
            indexed: flag(meta_keys::INDEXED),
            std: flag(meta_keys::STD),
        })
    }

    /// The name to publish in TAP_SCHEMA and `/tables`: the plain name when it is an ADQL
    /// regular identifier, else a delimited identifier (`"size"`), as TAP 1.1 §4.3 asks.
    pub fn adql_name(&self) -> String {
        if crate::reserved::needs_quotes(&self.name) {
            format!("\"{}\"", self.name.replace('"', "\"\""))
        } else {
            self.name.clone()
        }
    }

    /// The TAP 1.0 `"size"` value: the numeric part of the arraysize, NULL for scalars and
    /// unbounded arrays.
    pub fn size(&self) -> Option<i32> {
        let a = self.arraysize.as_deref()?;
        a.trim_end_matches('*').parse().ok()
    }
}

/// One table.
#[derive(Clone)]
pub struct TableInfo {
    /// Schema name as published (e.g. `gaiadr3`, `TAP_SCHEMA`).
    pub schema: String,
    /// Unqualified table name.
    pub name: String,
    /// `table` or `view`.
    pub table_type: &'static str,
    /// Description.
    pub description: Option<String>,
    /// utype.
    pub utype: Option<String>,
    /// Columns in order.
    pub columns: Vec<ColumnInfo>,
    /// The Arrow schema with IVOA field metadata.
    pub arrow_schema: SchemaRef,
    /// The DataFusion provider.
    pub provider: Arc<dyn TableProvider>,
}

impl std::fmt::Debug for TableInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableInfo")
            .field("schema", &self.schema)
            .field("name", &self.name)
            .field("columns", &self.columns.len())
            .finish()
    }
}

impl TableInfo {
    /// The qualified name used in queries and in TAP_SCHEMA (`schema.table`).
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// Looks a column up by name (ADQL regular identifiers are case-insensitive).
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
    }
}

/// One schema with its tables.
#[derive(Debug, Clone)]
pub struct SchemaInfo {
    /// Name as published.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// utype.
    pub utype: Option<String>,
    /// Tables in publication order.
    pub tables: Vec<TableInfo>,
}

/// A foreign key.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    /// Unique key id.
    pub key_id: String,
    /// Qualified name of the table holding the key.
    pub from_table: String,
    /// Qualified name of the referenced table.
    pub target_table: String,
    /// Column pairs (from, target).
    pub columns: Vec<(String, String)>,
    /// Description.
    pub description: Option<String>,
}

/// A loaded, validated catalogue including TAP_SCHEMA.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Schemas in publication order; TAP_SCHEMA is last.
    pub schemas: Vec<SchemaInfo>,
    /// Foreign keys, including TAP_SCHEMA's own.
    pub keys: Vec<ForeignKey>,
}

impl Catalog {
    /// All tables of all schemas.
    pub fn tables(&self) -> impl Iterator<Item = &TableInfo> {
        self.schemas.iter().flat_map(|s| s.tables.iter())
    }

    /// Finds a table by qualified name, case-insensitively.
    pub fn table(&self, qualified: &str) -> Option<&TableInfo> {
        self.tables()
            .find(|t| t.qualified_name().eq_ignore_ascii_case(qualified))
    }

    /// Registers every schema and table with a DataFusion session, under lower-case names
    /// (ADQL regular identifiers are case-insensitive and DataFusion folds them to lower case).
    pub fn register(&self, ctx: &SessionContext) -> Result<(), CatalogError> {
        let catalog = ctx
            .catalog("datafusion")
            .ok_or_else(|| CatalogError::Registration {
                table: "*".into(),
                reason: "the default DataFusion catalogue is missing".into(),
            })?;
        let mut providers: HashMap<String, Arc<MemorySchemaProvider>> = HashMap::new();
        for schema in &self.schemas {
            let key = schema.name.to_ascii_lowercase();
            let provider = providers
                .entry(key.clone())
                .or_insert_with(|| Arc::new(MemorySchemaProvider::new()))
                .clone();
            for table in &schema.tables {
                provider
                    .register_table(table.name.to_ascii_lowercase(), table.provider.clone())
                    .map_err(|e| CatalogError::Registration {
                        table: table.qualified_name(),
                        reason: e.to_string(),
                    })?;
            }
            catalog
                .register_schema(&key, provider)
                .map_err(|e| CatalogError::Registration {
                    table: schema.name.clone(),
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }

    /// Every table and column name, for "did you mean" suggestions.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in self.tables() {
            out.push(t.qualified_name());
            out.extend(t.columns.iter().map(|c| c.name.clone()));
        }
        out.sort();
        out.dedup();
        out
    }
}
