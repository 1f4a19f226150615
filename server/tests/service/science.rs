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

/// `lombscargle_reference.parquet` through ADQL: the same best frequency as astropy for at
/// least 99% of the light curves, power to 1e-6, Baluev FAP to 1e-6 relative (the grid is the
/// one in the file's `grid` metadata).
#[tokio::test]
async fn fourier_search_matches_astropy_through_adql() {
    let engine = engine().await;
    let path = reference("lombscargle_reference.parquet");
    let file = std::fs::File::open(&path).expect("file");
    let meta = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let grid = meta
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| {
            kv.iter()
                .find(|k| k.key == "grid")
                .and_then(|k| k.value.clone())
        })
        .expect("grid metadata");
    let grid: serde_json::Value = serde_json::from_str(&grid).expect("grid json");
    let (fmin, fmax, nf) = (
        grid["fmin"].as_f64().expect("fmin"),
        grid["fmax"].as_f64().expect("fmax"),
        grid["Nf"].as_i64().expect("Nf"),
    );
    let df = grid["df"].as_f64().expect("df");
    let q = format!(
        "SELECT lc_id, best_index, max_power, fap_baluev, \
         get_field(fourier_search(t, y, dy, {fmin}, {fmax}, {nf}), 'best_frequency') AS f, \
         get_field(fourier_search(t, y, dy, {fmin}, {fmax}, {nf}), 'power') AS p, \
         get_field(fourier_search(t, y, dy, {fmin}, {fmax}, {nf}), 'fap') AS fap \
         FROM reference.lombscargle ORDER BY lc_id"
    );
    let b = query(&engine, &q).await;
    let rows = b.num_rows();
    assert_eq!(rows, 200);
    let (f, idx) = (f64s(&b, "f"), i64s(&b, "best_index"));
    let same = (0..rows)
        .filter(|&i| {
            let k = ((f[i].expect("f") - fmin) / df).round() as i64;
            k == idx[i]
        })
        .count();
    assert!(
        same * 100 >= rows * 99,
        "same best index for {same} of {rows}"
    );
    for (i, (p, w)) in f64s(&b, "p").iter().zip(f64s(&b, "max_power")).enumerate() {
        let (p, w) = (p.expect("p"), w.expect("w"));
        assert!((p - w).abs() <= 1e-6, "row {i}: power {p} vs {w}");
    }
    assert_rel(
        &f64s(&b, "fap"),
        &f64s(&b, "fap_baluev"),
        1e-6,
        "fap_baluev",
    );
}

/// The demo catalogue's planted periods (truth/periods.csv) are recovered from the G-band
/// epoch photometry. Two checks that can fail independently: (1) at least 95% of the
/// significant peaks (Baluev FAP < 1e-3) are at the true frequency within 2.5 grid steps, or
/// for the non-sinusoidal shapes (eclipses, sawtooth) at one of its harmonics 2f..6f; (2)
/// every bright, large-amplitude sinusoid (G < 17, amplitude >= 0.1 mag) is detected and
/// recovered.
#[tokio::test]
async fn fourier_search_recovers_the_planted_periods() {
    let f = fixture();
    let engine = engine().await;
    let truth = f.data_dir.join("demo/truth/periods.csv");
    let text =
        std::fs::read_to_string(&truth).unwrap_or_else(|e| panic!("{}: {e}", truth.display()));
    // source_id -> (shape, period_d, amplitude_mag, mean_g_mag)
    let mut planted: std::collections::HashMap<i64, (String, f64, f64, f64)> = Default::default();
    for line in text.lines().skip(1) {
        let v: Vec<&str> = line.split(',').collect();
        let num = |k: usize| v[k].parse::<f64>().expect("number");
        planted.insert(
            v[0].parse().expect("source_id"),
            (v[1].to_string(), num(2), num(3), num(5)),
        );
    }
    assert!(planted.len() >= 20, "{} planted periods", planted.len());
    let b = query(
        &engine,
        "SELECT source_id, get_field(fourier_search(g_transit_time, g_transit_flux, \
         g_transit_flux_error), 'best_frequency') AS f, \
         get_field(fourier_search(g_transit_time, g_transit_flux, g_transit_flux_error), 'fap') \
         AS fap FROM gaiadr3.epoch_photometry",
    )
    .await;
    let (ids, freq, fap) = (i64s(&b, "source_id"), f64s(&b, "f"), f64s(&b, "fap"));
    let (mut significant, mut significant_ok, mut bright, mut bright_ok) = (0, 0, 0, 0);
    for i in 0..ids.len() {
        let Some((shape, period, amplitude, g)) = planted.get(&ids[i]) else {
            continue;
        };
        let truef = 1.0 / period;
        let (got, p) = (freq[i].expect("frequency"), fap[i].expect("fap"));
        // The default grid's step is 2e-4 per day.
        let near = |f: f64| (got - f).abs() < 5e-4;
        // Eclipses and sawtooth profiles put power in harmonics too.
        let hit =
            near(truef) || (shape != "sinusoid" && (2..=6).any(|h| near(f64::from(h) * truef)));
        if p < 1e-3 {
            significant += 1;
            significant_ok += usize::from(hit);
        }
        if shape == "sinusoid" && *amplitude >= 0.1 && *g < 17.0 {
            bright += 1;
            bright_ok += usize::from(hit && p < 1e-3);
        }
        if !hit && std::env::var("SHOW_MISSES").is_ok() {
            eprintln!(
                "miss {} {shape} P={period} A={amplitude} G={g} got P={} fap={p}",
                ids[i],
                1.0 / got
            );
        }
    }
    eprintln!(
        "significant peaks right: {significant_ok} of {significant}; bright sinusoids \
         recovered: {bright_ok} of {bright}"
    );
    assert!(significant >= 50 && bright >= 5, "{significant} {bright}");
    assert!(
        significant_ok * 100 >= significant * 95,
        "{significant_ok} of {significant}"
    );
    assert_eq!(bright_ok, bright, "bright sinusoids recovered");
}

/// The template search runs as a streaming top-k (a sort that keeps `TOP` rows) over a join
/// whose template side is the one-row subquery, not as a full sort of the catalogue.
#[tokio::test]
async fn template_search_is_a_streaming_top_k() {
    let engine = engine().await;
    let q = format!(
        "SELECT TOP 10 c.source_id, \
         mahalanobis({CAND_BP}, {CAND_RP}, {TMPL_BP}, {TMPL_RP}) AS d2 \
         FROM gaiadr3.xp_continuous_mean_spectrum AS c, \
         (SELECT * FROM gaiadr3.xp_continuous_mean_spectrum WHERE source_id = 1) AS t \
         ORDER BY d2"
    );
    let plan = engine.plan(&q).await.expect("plan");
    let physical = engine
        .context()
        .state()
        .create_physical_plan(&plan)
        .await
        .expect("physical plan");
    let text = datafusion::physical_plan::displayable(physical.as_ref())
        .indent(false)
        .to_string();
    eprintln!("{text}");
    assert!(text.contains("TopK(fetch=10)"), "{text}");
}
