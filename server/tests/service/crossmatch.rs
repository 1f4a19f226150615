//! Crossmatch joins against the reference pair list (`../shared/reference`): the ADQL idioms
//! and `crossmatch_pairs` return exactly the 324 433 pairs within 10 arcsec of
//! `crossmatch_positions_200k.parquet`, as a hash join on HEALPix cells.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::physical_plan::displayable;
use datafusion::prelude::ParquetReadOptions;
use futures::TryStreamExt;
use parallax::engine::Engine;
use parallax_catalog::{CatalogConfig, quick_table};

fn reference(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference")
        .join(name)
}

async fn engine() -> Engine {
    let table = format!(
        "refdata.positions={}",
        reference("crossmatch_positions_200k.parquet").display()
    );
    let config = CatalogConfig {
        tables: vec![quick_table(&table).expect("table")],
        ..Default::default()
    };
    let catalog = parallax_catalog::load(&config, Path::new("/"))
        .await
        .expect("catalogue");
    Engine::new(catalog).expect("engine")
}

fn column<T: datafusion::arrow::datatypes::ArrowPrimitiveType>(
    b: &RecordBatch,
    i: usize,
    t: DataType,
) -> Vec<T::Native> {
    let c = cast(b.column(i), &t).expect("cast");
    let a = c.as_primitive::<T>();
    assert_eq!(a.null_count(), 0);
    a.values().to_vec()
}

/// (id1, id2) -> separation in arcsec, from batches of (id1, id2, sep).
fn pairs(batches: &[RecordBatch]) -> HashMap<(i64, i64), f64> {
    let mut out = HashMap::new();
    for b in batches {
        let id1 = column::<Int64Type>(b, 0, DataType::Int64);
        let id2 = column::<Int64Type>(b, 1, DataType::Int64);
        let sep = column::<Float64Type>(b, 2, DataType::Float64);
        for i in 0..b.num_rows() {
            let (a, c) = (id1[i].min(id2[i]), id1[i].max(id2[i]));
            assert!(
                out.insert((a, c), sep[i]).is_none(),
                "pair ({a}, {c}) twice"
            );
        }
    }
    out
}

async fn reference_pairs(engine: &Engine) -> HashMap<(i64, i64), f64> {
    let path = reference("crossmatch_pairs_10arcsec.parquet");
    let df = engine
        .context()
        .read_parquet(
            path.to_str().expect("utf-8 path"),
            ParquetReadOptions::default(),
        )
        .await
        .expect("reference pairs")
        .select_columns(&["id1", "id2", "sep_arcsec"])
        .expect("columns");
    pairs(&df.collect().await.expect("read"))
}

const QUERIES: [(&str, &str); 4] = [
    (
        "CONTAINS self-join",
        "SELECT a.id AS id1, b.id AS id2, \
           DISTANCE(POINT('ICRS', a.ra_deg, a.dec_deg), POINT('ICRS', b.ra_deg, b.dec_deg)) * 3600 AS sep \
         FROM refdata.positions AS a JOIN refdata.positions AS b \
           ON 1 = CONTAINS(POINT('ICRS', a.ra_deg, a.dec_deg), CIRCLE('ICRS', b.ra_deg, b.dec_deg, 10.0 / 3600)) \
         WHERE a.id < b.id",
    ),
    (
        "DISTANCE self-join",
        "SELECT a.id, b.id, DISTANCE(a.ra_deg, a.dec_deg, b.ra_deg, b.dec_deg) * 3600 \
         FROM refdata.positions AS a, refdata.positions AS b \
         WHERE DISTANCE(POINT(a.ra_deg, a.dec_deg), POINT(b.ra_deg, b.dec_deg)) <= 10.0 / 3600 \
           AND a.id < b.id",
    ),
    (
        "DISTANCE in arcsec",
        "SELECT a.id, b.id, DISTANCE(a.ra_deg, a.dec_deg, b.ra_deg, b.dec_deg) * 3600 \
         FROM refdata.positions AS a JOIN refdata.positions AS b \
           ON 3600 * DISTANCE(POINT(a.ra_deg, a.dec_deg), POINT(b.ra_deg, b.dec_deg)) <= 10 \
         WHERE a.id < b.id",
    ),
    (
        "crossmatch_pairs",
        "SELECT id1, id2, separation_arcsec FROM crossmatch_pairs('refdata.positions', 10)",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reference_pair_and_nothing_else() {
    let engine = engine().await;
    let expected = reference_pairs(&engine).await;
    assert_eq!(expected.len(), 324_433);
    for (what, q) in QUERIES {
        let result = engine
            .execute(q, None)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let batches: Vec<RecordBatch> = result.stream.try_collect().await.expect("run");
        let got = pairs(&batches);
        let missing = expected.keys().filter(|k| !got.contains_key(k)).count();
        let extra = got.keys().filter(|k| !expected.contains_key(k)).count();
        assert_eq!(
            (missing, extra),
            (0, 0),
            "{what}: {missing} pairs missing, {extra} extra"
        );
        let worst = expected
            .iter()
            .map(|(k, s)| (got[k] - s).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-8, "{what}: separation off by {worst} arcsec");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossmatch_is_a_hash_join_on_healpix_cells() {
    let engine = engine().await;
    for (what, q) in QUERIES {
        let plan = engine.plan(q).await.expect("plan");
        let physical = engine
            .context()
            .state()
            .create_physical_plan(&plan)
            .await
            .expect("physical plan");
        let text = displayable(physical.as_ref()).indent(true).to_string();
        assert!(
            text.contains("HashJoinExec") && text.contains("__parallax_xmatch_cell"),
            "{what}: not a hash join on the cell:\n{text}"
        );
        assert!(
            !text.contains("NestedLoopJoinExec") && !text.contains("CrossJoinExec"),
            "{what}: nested loop:\n{text}"
        );
    }
}

/// A radius that is not a constant cannot be partitioned: the plan falls back to a nested
/// loop and the answer stays right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_constant_radius_falls_back_correctly() {
    let engine = engine().await;
    let q = "SELECT COUNT(*) FROM refdata.positions AS a JOIN refdata.positions AS b \
             ON DISTANCE(POINT(a.ra_deg, a.dec_deg), POINT(b.ra_deg, b.dec_deg)) <= 10.0 / 3600 * (1 + 0 * a.dec_deg) \
             WHERE a.id < b.id AND a.tag = 'pole' AND b.tag = 'pole'";
    let fast = "SELECT COUNT(*) FROM refdata.positions AS a JOIN refdata.positions AS b \
             ON DISTANCE(POINT(a.ra_deg, a.dec_deg), POINT(b.ra_deg, b.dec_deg)) <= 10.0 / 3600 \
             WHERE a.id < b.id AND a.tag = 'pole' AND b.tag = 'pole'";
    let count = |q: &'static str| {
        let engine = &engine;
        async move {
            let r = engine.execute(q, None).await.expect("query");
            let b: Vec<RecordBatch> = r.stream.try_collect().await.expect("run");
            column::<Int64Type>(&b[0], 0, DataType::Int64)[0]
        }
    };
    let (slow, quick) = (count(q).await, count(fast).await);
    assert!(quick > 0);
    assert_eq!(slow, quick);
}
