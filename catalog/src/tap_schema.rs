//! `TAP_SCHEMA` (IVOA TAP 1.1 §4) generated from the catalogue, self-described.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemTable;
use datafusion::datasource::empty::EmptyTable;

use crate::CatalogError;
use crate::model::{Catalog, ColumnInfo, ForeignKey, SchemaInfo, TableInfo, meta_keys};

/// The published name of the TAP metadata schema. It is registered with DataFusion in lower
/// case, which is what the regular identifier `TAP_SCHEMA` folds to.
pub const TAP_SCHEMA: &str = "TAP_SCHEMA";

fn field(name: &str, dt: DataType, nullable: bool, description: &str) -> Field {
    // Every TAP_SCHEMA column is defined by TAP 1.1 itself: std = 1.
    Field::new(name, dt, nullable).with_metadata(HashMap::from([
        (meta_keys::DESCRIPTION.to_string(), description.to_string()),
        (meta_keys::STD.to_string(), "1".to_string()),
    ]))
}

fn s(name: &str, nullable: bool, description: &str) -> Field {
    field(name, DataType::Utf8, nullable, description)
}

fn i(name: &str, nullable: bool, description: &str) -> Field {
    field(name, DataType::Int32, nullable, description)
}

fn tap_tables() -> Vec<(&'static str, &'static str, Schema)> {
    vec![
        (
            "schemas",
            "Schemas in this service.",
            Schema::new(vec![
                s("schema_name", false, "Fully qualified schema name"),
                s("utype", true, "Data model reference of the schema"),
                s("description", true, "Brief description of the schema"),
                i(
                    "schema_index",
                    true,
                    "Recommended sort order when listing schemas",
                ),
            ]),
        ),
        (
            "tables",
            "Tables in this service.",
            Schema::new(vec![
                s(
                    "schema_name",
                    false,
                    "Name of the schema containing the table",
                ),
                s(
                    "table_name",
                    false,
                    "Fully qualified table name, as used in queries",
                ),
                s("table_type", false, "One of: table, view"),
                s("utype", true, "Data model reference of the table"),
                s("description", true, "Brief description of the table"),
                i(
                    "table_index",
                    true,
                    "Recommended sort order when listing tables",
                ),
            ]),
        ),
        (
            "columns",
            "Columns of the tables in this service.",
            Schema::new(vec![
                s("table_name", false, "Fully qualified name of the table"),
                s("column_name", false, "Column name, as used in queries"),
                s("datatype", false, "VOTable datatype of the column"),
                s("arraysize", true, "VOTable arraysize of the column"),
                s("xtype", true, "DALI or VOTable extended type"),
                i(
                    "size",
                    true,
                    "Length of fixed-size arrays (TAP 1.0 compatibility)",
                ),
                s("description", true, "Brief description of the column"),
                s("utype", true, "Data model reference of the column"),
                s("unit", true, "Unit in VOUnit syntax"),
                s("ucd", true, "UCD 1+ of the column"),
                i("indexed", false, "1 if the column is indexed, 0 otherwise"),
                i(
                    "principal",
                    false,
                    "1 if the column is of primary interest, 0 otherwise",
                ),
                i(
                    "std",
                    false,
                    "1 if the column is defined by a standard, 0 otherwise",
                ),
                i(
                    "column_index",
                    true,
                    "Recommended sort order when listing columns",
                ),
            ]),
        ),
        (
            "keys",
            "Foreign keys between tables of this service.",
            Schema::new(vec![
                s("key_id", false, "Unique key identifier"),
                s(
                    "from_table",
                    false,
                    "Fully qualified name of the table holding the key",
                ),
                s(
                    "target_table",
                    false,
                    "Fully qualified name of the referenced table",
                ),
                s("description", true, "Brief description of the key"),
                s("utype", true, "Data model reference of the key"),
            ]),
        ),
        (
            "key_columns",
            "Columns of the foreign keys of this service.",
            Schema::new(vec![
                s("key_id", false, "Key identifier from TAP_SCHEMA.keys"),
                s("from_column", false, "Column in the from_table"),
                s("target_column", false, "Column in the target_table"),
            ]),
        ),
    ]
}

fn tap_keys() -> Vec<ForeignKey> {
    let t = |n: &str| format!("{TAP_SCHEMA}.{n}");
    let k = |id: &str, from: &str, target: &str, cols: &[(&str, &str)]| ForeignKey {
        key_id: id.to_string(),
        from_table: t(from),
        target_table: t(target),
        columns: cols
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        description: None,
    };
    vec![
        k(
            "tap_tables_schema",
            "tables",
            "schemas",
            &[("schema_name", "schema_name")],
        ),
        k(
            "tap_columns_table",
            "columns",
            "tables",
            &[("table_name", "table_name")],
        ),
        k(
            "tap_keys_from",
            "keys",
            "tables",
            &[("from_table", "table_name")],
        ),
        k(
            "tap_keys_target",
            "keys",
            "tables",
            &[("target_table", "table_name")],
        ),
        k(
            "tap_key_columns_key",
            "key_columns",
            "keys",
            &[("key_id", "key_id")],
        ),
    ]
}

/// Adds the TAP_SCHEMA schema to `schemas`, fills its tables and returns the catalogue.
pub(crate) fn finish(
    mut schemas: Vec<SchemaInfo>,
    mut keys: Vec<ForeignKey>,
) -> Result<Catalog, CatalogError> {
    let mut tap = SchemaInfo {
        name: TAP_SCHEMA.to_string(),
        description: Some("Metadata of the tables in this service (IVOA TAP 1.1 section 4)".into()),
        utype: None,
        tables: Vec::new(),
    };
    for (name, description, schema) in tap_tables() {
        let qualified = format!("{TAP_SCHEMA}.{name}");
        let schema: SchemaRef = Arc::new(schema);
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnInfo::from_field(&qualified, f))
            .collect::<Result<Vec<_>, _>>()?;
        tap.tables.push(TableInfo {
            schema: TAP_SCHEMA.to_string(),
            name: name.to_string(),
            table_type: "table",
            description: Some(description.to_string()),
            utype: None,
            columns,
            provider: Arc::new(EmptyTable::new(schema.clone())),
            arrow_schema: schema,
        });
    }
    schemas.push(tap);
    keys.extend(tap_keys());

    let batches = rows(&schemas, &keys)?;
    let tap = schemas
        .last_mut()
        .ok_or_else(|| CatalogError::Registration {
            table: TAP_SCHEMA.into(),
            reason: "missing".into(),
        })?;
    for (table, batch) in tap.tables.iter_mut().zip(batches) {
        let mem =
            MemTable::try_new(table.arrow_schema.clone(), vec![vec![batch]]).map_err(|e| {
                CatalogError::Registration {
                    table: table.qualified_name(),
                    reason: e.to_string(),
                }
            })?;
        table.provider = Arc::new(mem);
    }
    Ok(Catalog { schemas, keys })
}

fn strings(v: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn ints(v: Vec<Option<i32>>) -> ArrayRef {
    Arc::new(Int32Array::from(v))
}

/// The rows of the five TAP_SCHEMA tables, in the order of [`tap_tables`].
fn rows(schemas: &[SchemaInfo], keys: &[ForeignKey]) -> Result<Vec<RecordBatch>, CatalogError> {
    let defs = tap_tables();
    let mut out = Vec::new();
    let err = |e: datafusion::arrow::error::ArrowError| CatalogError::Registration {
        table: TAP_SCHEMA.into(),
        reason: e.to_string(),
    };
    let idx = |n: usize| i32::try_from(n).ok();

    // schemas
    out.push(
        RecordBatch::try_new(
            Arc::new(defs[0].2.clone()),
            vec![
                strings(schemas.iter().map(|s| Some(s.name.clone())).collect()),
                strings(schemas.iter().map(|s| s.utype.clone()).collect()),
                strings(schemas.iter().map(|s| s.description.clone()).collect()),
                ints((0..schemas.len()).map(idx).collect()),
            ],
        )
        .map_err(err)?,
    );

    // tables
    let tables: Vec<&TableInfo> = schemas.iter().flat_map(|s| s.tables.iter()).collect();
    out.push(
        RecordBatch::try_new(
            Arc::new(defs[1].2.clone()),
            vec![
                strings(tables.iter().map(|t| Some(t.schema.clone())).collect()),
                strings(tables.iter().map(|t| Some(t.qualified_name())).collect()),
                strings(
                    tables
                        .iter()
                        .map(|t| Some(t.table_type.to_string()))
                        .collect(),
                ),
                strings(tables.iter().map(|t| t.utype.clone()).collect()),
                strings(tables.iter().map(|t| t.description.clone()).collect()),
                ints((0..tables.len()).map(idx).collect()),
            ],
        )
        .map_err(err)?,
    );

    // columns
    let cols: Vec<(String, usize, &ColumnInfo)> = tables
        .iter()
        .flat_map(|t| {
            let q = t.qualified_name();
            t.columns
                .iter()
                .enumerate()
                .map(move |(i, c)| (q.clone(), i, c))
        })
        .collect();
    let flag = |b: bool| Some(i32::from(b));
    out.push(
        RecordBatch::try_new(
            Arc::new(defs[2].2.clone()),
            vec![
                strings(cols.iter().map(|(t, _, _)| Some(t.clone())).collect()),
                strings(cols.iter().map(|(_, _, c)| Some(c.adql_name())).collect()),
                strings(
                    cols.iter()
                        .map(|(_, _, c)| Some(c.datatype.to_string()))
                        .collect(),
                ),
                strings(cols.iter().map(|(_, _, c)| c.arraysize.clone()).collect()),
                strings(cols.iter().map(|(_, _, c)| c.xtype.clone()).collect()),
                ints(cols.iter().map(|(_, _, c)| c.size()).collect()),
                strings(cols.iter().map(|(_, _, c)| c.description.clone()).collect()),
                strings(cols.iter().map(|(_, _, c)| c.utype.clone()).collect()),
                strings(cols.iter().map(|(_, _, c)| c.unit.clone()).collect()),
                strings(cols.iter().map(|(_, _, c)| c.ucd.clone()).collect()),
                ints(cols.iter().map(|(_, _, c)| flag(c.indexed)).collect()),
                ints(cols.iter().map(|(_, _, c)| flag(c.principal)).collect()),
                ints(cols.iter().map(|(_, _, c)| flag(c.std)).collect()),
                ints(cols.iter().map(|(_, i, _)| idx(*i)).collect()),
            ],
        )
        .map_err(err)?,
    );

    // keys
    out.push(
        RecordBatch::try_new(
            Arc::new(defs[3].2.clone()),
            vec![
                strings(keys.iter().map(|k| Some(k.key_id.clone())).collect()),
                strings(keys.iter().map(|k| Some(k.from_table.clone())).collect()),
                strings(keys.iter().map(|k| Some(k.target_table.clone())).collect()),
                strings(keys.iter().map(|k| k.description.clone()).collect()),
                strings(keys.iter().map(|_| None).collect()),
            ],
        )
        .map_err(err)?,
    );

    // key_columns
    let kc: Vec<(&str, &str, &str)> = keys
        .iter()
        .flat_map(|k| {
            k.columns
                .iter()
                .map(move |(a, b)| (k.key_id.as_str(), a.as_str(), b.as_str()))
        })
        .collect();
    out.push(
        RecordBatch::try_new(
            Arc::new(defs[4].2.clone()),
            vec![
                strings(kc.iter().map(|(k, _, _)| Some(k.to_string())).collect()),
                strings(kc.iter().map(|(_, a, _)| Some(a.to_string())).collect()),
                strings(kc.iter().map(|(_, _, b)| Some(b.to_string())).collect()),
            ],
        )
        .map_err(err)?,
    );
    Ok(out)
}
