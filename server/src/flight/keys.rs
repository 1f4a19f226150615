//! Key listings for `CommandGetPrimaryKeys`, `CommandGetImportedKeys` and
//! `CommandGetExportedKeys` and `CommandGetCrossReference`, from the catalogue's foreign keys (TAP_SCHEMA.keys).
//!
//! The catalogue declares no primary keys, so GetPrimaryKeys answers with no rows; a foreign
//! key's target columns are listed as the referenced (`pk_*`) columns.

use std::sync::{Arc, LazyLock};

use arrow_flight::sql::CommandGetCrossReference;
use datafusion::arrow::array::{ArrayRef, Int32Builder, StringBuilder, UInt8Builder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use parallax_catalog::{Catalog, ForeignKey};

use super::CATALOG_NAME;

/// Flight SQL `UpdateDeleteRules.NO_ACTION`.
const NO_ACTION: u8 = 3;

/// The schema of GetImportedKeys, GetExportedKeys and GetCrossReference results.
pub(crate) static FOREIGN_KEYS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let s = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        s("pk_catalog_name", true),
        s("pk_db_schema_name", true),
        s("pk_table_name", false),
        s("pk_column_name", false),
        s("fk_catalog_name", true),
        s("fk_db_schema_name", true),
        s("fk_table_name", false),
        s("fk_column_name", false),
        Field::new("key_sequence", DataType::Int32, false),
        s("fk_key_name", true),
        s("pk_key_name", true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
});

/// The schema of GetPrimaryKeys results.
pub(crate) static PRIMARY_KEYS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
});

/// Which side of a foreign key the requested table is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Keys the table holds (GetImportedKeys): the table is the `fk_` side.
    Imported,
    /// Keys that reference the table (GetExportedKeys): the table is the `pk_` side.
    Exported,
}

fn split(qualified: &str) -> (&str, &str) {
    qualified.split_once('.').unwrap_or(("", qualified))
}

fn matches(qualified: &str, catalog: Option<&str>, schema: Option<&str>, table: &str) -> bool {
    let (s, t) = split(qualified);
    catalog.is_none_or(|c| c == CATALOG_NAME)
        && schema.is_none_or(|want| want.eq_ignore_ascii_case(s))
        && table.eq_ignore_ascii_case(t)
}

/// The foreign keys of `table` on `side`, one row per column pair.
pub(crate) fn foreign_keys(
    catalog: &Catalog,
    side: Side,
    catalog_filter: Option<&str>,
    schema_filter: Option<&str>,
    table: &str,
) -> Result<RecordBatch, ArrowError> {
    keys_where(catalog, |key| {
        let on_side = match side {
            Side::Imported => &key.from_table,
            Side::Exported => &key.target_table,
        };
        matches(on_side, catalog_filter, schema_filter, table)
    })
}

/// GetCrossReference: the keys of the `fk_` table that reference the `pk_` table.
pub(crate) fn cross_reference(
    catalog: &Catalog,
    q: &CommandGetCrossReference,
) -> Result<RecordBatch, ArrowError> {
    keys_where(catalog, |key| {
        matches(
            &key.target_table,
            q.pk_catalog.as_deref(),
            q.pk_db_schema.as_deref(),
            &q.pk_table,
        ) && matches(
            &key.from_table,
            q.fk_catalog.as_deref(),
            q.fk_db_schema.as_deref(),
            &q.fk_table,
        )
    })
}

/// The keys that satisfy `wanted`, one row per column pair.
fn keys_where(
    catalog: &Catalog,
    wanted: impl Fn(&ForeignKey) -> bool,
) -> Result<RecordBatch, ArrowError> {
    let mut cols: Vec<StringBuilder> = (0..8).map(|_| StringBuilder::new()).collect();
    let mut seq = Int32Builder::new();
    let mut fk_name = StringBuilder::new();
    let mut pk_name = StringBuilder::new();
    let mut update = UInt8Builder::new();
    let mut delete = UInt8Builder::new();
    for key in &catalog.keys {
        if !wanted(key) {
            continue;
        }
        let (pk_schema, pk_table) = split(&key.target_table);
        let (fk_schema, fk_table) = split(&key.from_table);
        for (i, (from, target)) in key.columns.iter().enumerate() {
            let values = [
                CATALOG_NAME,
                pk_schema,
                pk_table,
                target,
                CATALOG_NAME,
                fk_schema,
                fk_table,
                from,
            ];
            for (b, v) in cols.iter_mut().zip(values) {
                b.append_value(v);
            }
            seq.append_value(i32::try_from(i + 1).unwrap_or(i32::MAX));
            fk_name.append_value(&key.key_id);
            pk_name.append_null();
            update.append_value(NO_ACTION);
            delete.append_value(NO_ACTION);
        }
    }
    let mut arrays: Vec<ArrayRef> = cols
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    arrays.push(Arc::new(seq.finish()));
    arrays.push(Arc::new(fk_name.finish()));
    arrays.push(Arc::new(pk_name.finish()));
    arrays.push(Arc::new(update.finish()));
    arrays.push(Arc::new(delete.finish()));
    RecordBatch::try_new(FOREIGN_KEYS_SCHEMA.clone(), arrays)
}

/// No primary keys are declared in the catalogue: an empty batch.
pub(crate) fn primary_keys() -> RecordBatch {
    RecordBatch::new_empty(PRIMARY_KEYS_SCHEMA.clone())
}
