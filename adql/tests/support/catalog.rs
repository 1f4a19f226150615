//! A small in-memory Gaia-like catalogue: `gaiadr3.gaia_source`,
//! `gaiadr3.xp_continuous_mean_spectrum`, `tap_schema.tables` and `tap_schema.columns`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

fn field(name: &str, t: DataType, unit: Option<&str>) -> Field {
    let f = Field::new(name, t, true);
    match unit {
        Some(u) => f.with_metadata(HashMap::from([("unit".to_owned(), u.to_owned())])),
        None => f,
    }
}

fn gaia_source_schema() -> SchemaRef {
    use DataType::*;
    Arc::new(Schema::new(vec![
        field("source_id", Int64, None),
        field("random_index", Int64, None),
        field("ref_epoch", Float64, Some("yr")),
        field("ra", Float64, Some("deg")),
        field("ra_error", Float32, Some("mas")),
        field("dec", Float64, Some("deg")),
        field("dec_error", Float32, Some("mas")),
        field("parallax", Float64, Some("mas")),
        field("parallax_error", Float32, Some("mas")),
        field("parallax_over_error", Float32, None),
        field("pmra", Float64, Some("mas.yr**-1")),
        field("pmdec", Float64, Some("mas.yr**-1")),
        field("ruwe", Float32, None),
        field("phot_g_mean_mag", Float32, Some("mag")),
        field("phot_bp_mean_mag", Float32, Some("mag")),
        field("phot_rp_mean_mag", Float32, Some("mag")),
        field("bp_rp", Float32, Some("mag")),
        field("radial_velocity", Float32, Some("km.s**-1")),
        field("phot_variable_flag", Utf8, None),
        field("l", Float64, Some("deg")),
        field("b", Float64, Some("deg")),
        field("teff_gspphot", Float32, Some("K")),
        field("has_xp_continuous", Boolean, None),
        field("in_qso_candidates", Boolean, None),
    ]))
}

/// Ten stars with simple, hand-checkable values.
fn gaia_source() -> RecordBatch {
    let n = 10;
    let ids: Vec<i64> = (1..=n).map(|i| i * 1_000_000_000_000 + i).collect();
    let f64s = |f: fn(i64) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter((1..=n).map(|i| Some(f(i)))))
    };
    let f32s = |f: fn(i64) -> f32| -> ArrayRef {
        Arc::new(Float32Array::from_iter((1..=n).map(|i| Some(f(i)))))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(Int64Array::from_iter_values((0..n).rev())),
        f64s(|_| 2016.0),
        f64s(|i| 10.0 * i as f64),
        f32s(|i| 0.01 * i as f32),
        f64s(|i| -45.0 + 10.0 * i as f64),
        f32s(|i| 0.02 * i as f32),
        // Star 3 has a NULL parallax (set below), star 7 a negative one.
        f64s(|i| if i == 7 { -0.5 } else { i as f64 }),
        f32s(|i| 0.1 * i as f32),
        f32s(|i| 10.0 * i as f32),
        f64s(|i| i as f64 - 5.0),
        f64s(|i| 5.0 - i as f64),
        f32s(|i| 0.8 + 0.1 * i as f32),
        f32s(|i| 10.0 + i as f32),
        f32s(|i| 10.5 + i as f32),
        f32s(|i| 9.5 + i as f32),
        f32s(|i| 0.2 * i as f32),
        f32s(|i| 10.0 * i as f32 - 50.0),
        Arc::new(StringArray::from_iter((1..=n).map(|i| {
            Some(match i % 3 {
                0 => "VARIABLE",
                1 => "NOT_AVAILABLE",
                _ => "CONSTANT",
            })
        }))),
        f64s(|i| 30.0 * i as f64),
        f64s(|i| -20.0 + 4.0 * i as f64),
        f32s(|i| 4000.0 + 300.0 * i as f32),
        Arc::new(BooleanArray::from_iter((1..=n).map(|i| Some(i % 2 == 0)))),
        Arc::new(BooleanArray::from_iter((1..=n).map(|i| Some(i == 9)))),
    ];
    // Star 3: NULL parallax.
    let mut columns = columns;
    columns[7] = Arc::new(Float64Array::from_iter((1..=n).map(|i| match i {
        3 => None,
        7 => Some(-0.5),
        i => Some(i as f64),
    })));
    match RecordBatch::try_new(gaia_source_schema(), columns) {
        Ok(b) => b,
        Err(e) => panic!("gaia_source batch: {e}"),
    }
}

fn xp_schema() -> SchemaRef {
    use DataType::*;
    Arc::new(Schema::new(vec![
        field("source_id", Int64, None),
        field("solution_id", Int64, None),
        field("bp_basis_function_id", Int16, None),
        field("bp_n_parameters", Int16, None),
        field("rp_n_parameters", Int16, None),
        field("bp_standard_deviation", Float32, None),
        field("rp_standard_deviation", Float32, None),
        field("bp_chi_squared", Float32, None),
        field("rp_chi_squared", Float32, None),
    ]))
}

/// Spectra for the even-numbered stars.
fn xp() -> RecordBatch {
    let ids: Vec<i64> = (1..=10)
        .filter(|i| i % 2 == 0)
        .map(|i| i * 1_000_000_000_000 + i)
        .collect();
    let k = ids.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(Int64Array::from(vec![375316653866487564_i64; k])),
        Arc::new(Int16Array::from(vec![56_i16; k])),
        Arc::new(Int16Array::from(vec![55_i16; k])),
        Arc::new(Int16Array::from(vec![55_i16; k])),
        Arc::new(Float32Array::from_iter(
            (0..k).map(|i| Some(1.0 + i as f32)),
        )),
        Arc::new(Float32Array::from_iter(
            (0..k).map(|i| Some(2.0 + i as f32)),
        )),
        Arc::new(Float32Array::from_iter(
            (0..k).map(|i| Some(50.0 * i as f32)),
        )),
        Arc::new(Float32Array::from_iter(
            (0..k).map(|i| Some(60.0 * i as f32)),
        )),
    ];
    match RecordBatch::try_new(xp_schema(), columns) {
        Ok(b) => b,
        Err(e) => panic!("xp batch: {e}"),
    }
}

fn tap_tables() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        field("schema_name", DataType::Utf8, None),
        field("table_name", DataType::Utf8, None),
        field("table_type", DataType::Utf8, None),
        field("description", DataType::Utf8, None),
        field("table_index", DataType::Int32, None),
    ]));
    let rows = [
        (
            "gaiadr3",
            "gaiadr3.gaia_source",
            "table",
            "Gaia DR3 sources",
            1,
        ),
        (
            "gaiadr3",
            "gaiadr3.xp_continuous_mean_spectrum",
            "table",
            "XP spectra",
            2,
        ),
        ("tap_schema", "tap_schema.tables", "table", "Tables", 10),
        ("tap_schema", "tap_schema.columns", "table", "Columns", 11),
    ];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.4))),
    ];
    match RecordBatch::try_new(schema, columns) {
        Ok(b) => b,
        Err(e) => panic!("tap_schema.tables batch: {e}"),
    }
}

fn tap_columns() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        field("table_name", DataType::Utf8, None),
        field("column_name", DataType::Utf8, None),
        field("datatype", DataType::Utf8, None),
        field("unit", DataType::Utf8, None),
        field("ucd", DataType::Utf8, None),
        field("indexed", DataType::Int32, None),
        field("principal", DataType::Int32, None),
    ]));
    let mut t = Vec::new();
    let mut c = Vec::new();
    let mut d = Vec::new();
    let mut u = Vec::new();
    for f in gaia_source_schema().fields() {
        t.push("gaiadr3.gaia_source".to_owned());
        c.push(f.name().clone());
        d.push(f.data_type().to_string().to_lowercase());
        u.push(f.metadata().get("unit").cloned());
    }
    let k = t.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(t)),
        Arc::new(StringArray::from(c)),
        Arc::new(StringArray::from(d)),
        Arc::new(StringArray::from(u)),
        Arc::new(StringArray::from(vec![Some("meta.id"); k])),
        Arc::new(Int32Array::from_iter_values(
            (0..k).map(|i| i32::from(i < 2)),
        )),
        Arc::new(Int32Array::from_iter_values(
            (0..k).map(|i| i32::from(i < 8)),
        )),
    ];
    match RecordBatch::try_new(schema, columns) {
        Ok(b) => b,
        Err(e) => panic!("tap_schema.columns batch: {e}"),
    }
}

fn table(batch: RecordBatch) -> Arc<MemTable> {
    match MemTable::try_new(batch.schema(), vec![vec![batch]]) {
        Ok(t) => Arc::new(t),
        Err(e) => panic!("memtable: {e}"),
    }
}

/// A session with the catalogue and every Parallax UDF registered.
pub(crate) async fn context() -> SessionContext {
    let ctx = SessionContext::new();
    parallax_udfs::register_all(&ctx);
    let Some(catalog) = ctx.catalog("datafusion") else {
        panic!("no default catalog");
    };
    for schema in ["gaiadr3", "tap_schema"] {
        if let Err(e) = catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new())) {
            panic!("{schema}: {e}");
        }
    }
    let tables = [
        ("gaiadr3.gaia_source", gaia_source()),
        ("gaiadr3.xp_continuous_mean_spectrum", xp()),
        ("tap_schema.tables", tap_tables()),
        ("tap_schema.columns", tap_columns()),
    ];
    for (name, batch) in tables {
        if let Err(e) = ctx.register_table(name, table(batch)) {
            panic!("{name}: {e}");
        }
    }
    ctx
}
