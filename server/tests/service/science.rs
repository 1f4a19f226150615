//! Science functions against the reference data in `../shared/reference/` (see its README),
//! through ADQL queries on the engine: the reference Parquet files are registered as tables
//! of a `reference` schema next to the demo catalogue.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, ListArray, RecordBatch,
};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use futures::TryStreamExt;
use parallax::engine::Engine;

use crate::common::{fixture, settings};

fn reference(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference")
        .join(name)
}

fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> = builder
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    concat_batches(&schema, &batches).expect("concat")
}

/// The template of `mahalanobis_template.json` as a one-row batch with the catalogue's
/// column names.
fn template_batch() -> RecordBatch {
    let text = std::fs::read_to_string(reference("mahalanobis_template.json")).expect("template");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for band in ["bp", "rp"] {
        for what in [
            "coefficients",
            "coefficient_errors",
            "coefficient_correlations",
        ] {
            let name = format!("{band}_{what}");
            let v: Vec<Option<f64>> = json[&name]
                .as_array()
                .expect("array")
                .iter()
                .map(|x| x.as_f64())
                .collect();
            let a = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![Some(v)]);
            fields.push(Field::new(&name, a.data_type().clone(), true));
            cols.push(Arc::new(a));
        }
        for what in ["standard_deviation", "n_relevant_bases"] {
            let name = format!("{band}_{what}");
            fields.push(Field::new(&name, DataType::Float64, true));
            cols.push(Arc::new(Float64Array::from(vec![json[&name].as_f64()])));
        }
    }
    fields.push(Field::new("g_mag", DataType::Float64, true));
    cols.push(Arc::new(Float64Array::from(vec![json["g_mag"].as_f64()])));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("template batch")
}

/// An engine over the demo catalogue plus the `reference` tables.
async fn engine() -> Engine {
    let f = fixture();
    let catalog = parallax::app::load_catalog(&settings(f.data_dir.clone()))
        .await
        .expect("catalogue");
    let engine = Engine::new(catalog).expect("engine");
    let schema = Arc::new(MemorySchemaProvider::new());
    let ctx = engine.context();
    ctx.catalog("datafusion")
        .expect("default catalogue")
        .register_schema("reference", schema)
        .expect("schema");
    for (table, batch) in [
        (
            "mahalanobis",
            read_parquet(&reference("mahalanobis_reference.parquet")),
        ),
        (
            "lombscargle",
            read_parquet(&reference("lombscargle_reference.parquet")),
        ),
        ("template", template_batch()),
    ] {
        let mem = MemTable::try_new(batch.schema(), vec![vec![batch]]).expect("memtable");
        ctx.register_table(format!("reference.{table}"), Arc::new(mem))
            .expect("register");
    }
    engine
}

async fn query(engine: &Engine, adql: &str) -> RecordBatch {
    let result = engine
        .execute(adql, None)
        .await
        .unwrap_or_else(|e| panic!("{adql}\n{e}"));
    let schema = result.schema.clone();
    let batches: Vec<RecordBatch> = result.stream.try_collect().await.expect("stream");
    concat_batches(&schema, &batches).expect("concat")
}

fn f64s(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let c = cast(
        b.column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}")),
        &DataType::Float64,
    )
    .expect("cast");
    let a = c.as_primitive::<Float64Type>();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect()
}

fn i64s(b: &RecordBatch, name: &str) -> Vec<i64> {
    let c = cast(b.column_by_name(name).expect("column"), &DataType::Int64).expect("cast");
    let a: &Int64Array = c.as_primitive::<Int64Type>();
    a.values().to_vec()
}

/// Asserts `got` equals `want` to `tol` relative on every row.
fn assert_rel(got: &[Option<f64>], want: &[Option<f64>], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (Some(g), Some(w)) = (g, w) else {
            panic!("{what} row {i}: {g:?} vs {w:?}");
        };
        assert!(
            (g - w).abs() <= tol * w.abs(),
            "{what} row {i}: {g} vs {w} (relative {})",
            (g - w).abs() / w.abs()
        );
    }
}

const CAND_BP: &str = "c.bp_coefficients, c.bp_coefficient_errors, c.bp_coefficient_correlations";
const CAND_RP: &str = "c.rp_coefficients, c.rp_coefficient_errors, c.rp_coefficient_correlations";
const TMPL_BP: &str = "t.bp_coefficients, t.bp_coefficient_errors, t.bp_coefficient_correlations";
const TMPL_RP: &str = "t.rp_coefficients, t.rp_coefficient_errors, t.rp_coefficient_correlations";

/// `mahalanobis_reference.parquet`: every distance column, all 1000 rows, to 1e-9 relative,
/// with the template joined as a one-row table.
#[tokio::test]
async fn mahalanobis_matches_the_reference_through_adql() {
    let engine = engine().await;
    let q = format!(
        "SELECT c.candidate_id, c.d2_bp, c.d2_rp, c.d2, c.d2_relevant, c.d2_fluxnorm, \
         c.d2_gaiaxpy_convention, c.pvalue_chi2_110, c.dof_relevant, c.pvalue_relevant, \
         mahalanobis({CAND_BP}, {TMPL_BP}) AS got_bp, \
         mahalanobis({CAND_RP}, {TMPL_RP}) AS got_rp, \
         mahalanobis({CAND_BP}, {CAND_RP}, {TMPL_BP}, {TMPL_RP}) AS got, \
         mahalanobis_relevant({CAND_BP}, c.bp_n_relevant_bases, {CAND_RP}, c.rp_n_relevant_bases, \
           {TMPL_BP}, t.bp_n_relevant_bases, {TMPL_RP}, t.rp_n_relevant_bases) AS got_relevant, \
         mahalanobis_fluxnorm({CAND_BP}, {CAND_RP}, c.g_mag, {TMPL_BP}, {TMPL_RP}, t.g_mag) \
           AS got_fluxnorm, \
         mahalanobis_gaiaxpy({CAND_BP}, c.bp_standard_deviation, {CAND_RP}, \
           c.rp_standard_deviation, {TMPL_BP}, t.bp_standard_deviation, {TMPL_RP}, \
           t.rp_standard_deviation) AS got_gaiaxpy, \
         chi2_pvalue(c.d2, 110) AS got_p, chi2_pvalue(c.d2_relevant, c.dof_relevant) AS got_p_rel \
         FROM reference.mahalanobis AS c, reference.template AS t \
         ORDER BY c.candidate_id"
    );
    let b = query(&engine, &q).await;
    assert_eq!(b.num_rows(), 1000);
    for (got, want) in [
        ("got_bp", "d2_bp"),
        ("got_rp", "d2_rp"),
        ("got", "d2"),
        ("got_relevant", "d2_relevant"),
        ("got_fluxnorm", "d2_fluxnorm"),
        ("got_gaiaxpy", "d2_gaiaxpy_convention"),
    ] {
        assert_rel(&f64s(&b, got), &f64s(&b, want), 1e-9, want);
    }
    // p-values: 1e-9 relative where scipy's value is a normal number.
    for (got, want) in [
        ("got_p", "pvalue_chi2_110"),
        ("got_p_rel", "pvalue_relevant"),
    ] {
        for (i, (g, w)) in f64s(&b, got).iter().zip(f64s(&b, want)).enumerate() {
            let (g, w) = (g.expect("p"), w.expect("p"));
            assert!(
                (g - w).abs() <= 1e-9 * w.abs() || (w < 1e-290 && g < 1e-290),
                "{want} row {i}: {g} vs {w}"
            );
        }
    }
}

/// The template as scalar subqueries (ADQL allows a subquery as a value expression).
#[tokio::test]
async fn mahalanobis_takes_the_template_from_scalar_subqueries() {
    let engine = engine().await;
    let sub = |col: &str| format!("(SELECT {col} FROM reference.template)");
    let q = format!(
        "SELECT TOP 20 c.candidate_id, c.d2_rp, mahalanobis({CAND_RP}, {}, {}, {}) AS got \
         FROM reference.mahalanobis AS c ORDER BY got",
        sub("rp_coefficients"),
        sub("rp_coefficient_errors"),
        sub("rp_coefficient_correlations")
    );
    let b = query(&engine, &q).await;
    assert_eq!(b.num_rows(), 20);
    assert_rel(&f64s(&b, "got"), &f64s(&b, "d2_rp"), 1e-9, "d2_rp");
    let got: Vec<f64> = f64s(&b, "got").into_iter().flatten().collect();
    assert!(got.windows(2).all(|w| w[0] <= w[1]), "ordered: {got:?}");
    // The 20 smallest of the reference column.
    let all = query(
        &engine,
        "SELECT TOP 20 d2_rp FROM reference.mahalanobis ORDER BY d2_rp",
    )
    .await;
    assert_rel(
        &f64s(&b, "got"),
        &f64s(&all, "d2_rp"),
        1e-9,
        "top 20 by d2_rp",
    );
}

/// The demo catalogue's planted near-copies (truth/xp_templates.json) are the nearest
/// spectra to their template: a TOP-k template search returns exactly the template and its
/// copies, with d2 of the copies consistent with chi2(110)/2.
#[tokio::test]
async fn template_search_finds_the_planted_near_copies() {
    let f = fixture();
    let engine = engine().await;
    let truth = f.data_dir.join("demo/truth/xp_templates.json");
    let text =
        std::fs::read_to_string(&truth).unwrap_or_else(|e| panic!("{}: {e}", truth.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let templates = json["templates"].as_array().expect("templates");
    assert!(!templates.is_empty());
    for t in templates {
        let id = t["source_id"].as_i64().expect("source_id");
        let mut want: Vec<i64> = t["copies"]
            .as_array()
            .expect("copies")
            .iter()
            .filter_map(|c| c.as_i64())
            .collect();
        want.push(id);
        want.sort_unstable();
        let k = want.len();
        let q = format!(
            "SELECT TOP {k} c.source_id, \
             mahalanobis({CAND_BP}, {CAND_RP}, {TMPL_BP}, {TMPL_RP}) AS d2 \
             FROM gaiadr3.xp_continuous_mean_spectrum AS c, \
             (SELECT * FROM gaiadr3.xp_continuous_mean_spectrum WHERE source_id = {id}) AS t \
             ORDER BY d2"
        );
        let b = query(&engine, &q).await;
        let mut got = i64s(&b, "source_id");
        let d2: Vec<f64> = f64s(&b, "d2").into_iter().flatten().collect();
        got.sort_unstable();
        assert_eq!(got, want, "template {id}: d2 {d2:?}");
        assert_eq!(d2[0], 0.0, "the template itself first");
        // Copies: d2 ~ chi2(110)/2, mean 55, sd ~7.4.
        assert!(
            d2[1..].iter().all(|&d| d > 15.0 && d < 120.0),
            "template {id}: {d2:?}"
        );
        // The next spectrum is far away.
        let next = query(
            &engine,
            &q.replace(&format!("TOP {k} "), &format!("TOP {} ", k + 1)),
        )
        .await;
        let last = f64s(&next, "d2")[k].expect("d2");
        assert!(
            last > 500.0,
            "template {id}: nearest other spectrum d2 = {last}"
        );
    }
}
