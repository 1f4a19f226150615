//! Cone-search pruning: on a table sorted by a HEALPix-bearing key (`healpix = "gaia"` in the
//! catalogue config), a constant cone reads a few pages of one or two row groups, and returns
//! exactly the rows a brute-force test returns.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::physical_plan::collect;
use parallax::engine::{Engine, scan_metrics};
use parallax_catalog::{CatalogConfig, ColumnConfig, quick_table};
use parallax_udfs::distance::angular_distance_deg;

const ROWS: usize = 400_000;
const ROW_GROUP: usize = 8192;

/// Cones (ra, dec, radius) with a planted cluster in each: mid-sky, across RA 0/360, at the
/// north pole.
const CONES: [(f64, f64, f64); 3] = [(123.4, -31.2, 0.1), (0.02, 5.0, 0.1), (77.0, 89.97, 0.1)];

/// Uniform positions plus 200 planted within 0.12 degrees of each cone centre, as a
/// Gaia-like file: source_id = order-12 NESTED index << 35 + running number, sorted.
fn positions() -> Vec<(i64, f64, f64)> {
    let mut state: u64 = 20261126;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut pos = Vec::with_capacity(ROWS + 600);
    for _ in 0..ROWS {
        let ra = 360.0 * next();
        let dec = (2.0 * next() - 1.0).asin().to_degrees();
        pos.push((ra, dec));
    }
    for (ra, dec, _) in CONES {
        for _ in 0..200 {
            let r = 0.12 * next();
            let t = std::f64::consts::TAU * next();
            let dec2 = (dec + r * t.sin()).clamp(-90.0, 90.0);
            let ra2 = (ra + r * t.cos() / dec2.to_radians().cos().max(1e-3)).rem_euclid(360.0);
            pos.push((ra2, dec2));
        }
    }
    let mut keyed: Vec<(i64, f64, f64)> = pos
        .into_iter()
        .map(|(ra, dec)| {
            let h = cdshealpix::nested::hash(12, ra.to_radians(), dec.to_radians()) as i64;
            (h << 35, ra, dec)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut last = (-1, 0);
    for row in &mut keyed {
        let running = if row.0 == last.0 { last.1 + 1 } else { 0 };
        last = (row.0, running);
        row.0 += running;
    }
    keyed
}

fn write(path: &Path, rows: &[(i64, f64, f64)]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("source_id", DataType::Int64, false),
        Field::new("ra", DataType::Float64, false),
        Field::new("dec", DataType::Float64, false),
    ]));
    let props = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_data_page_row_count_limit(1024)
        .build();
    let file = File::create(path).expect("create");
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).expect("writer");
    for chunk in rows.chunks(65_536) {
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(chunk.iter().map(|r| r.0).collect::<Int64Array>()),
                Arc::new(chunk.iter().map(|r| r.1).collect::<Float64Array>()),
                Arc::new(chunk.iter().map(|r| r.2).collect::<Float64Array>()),
            ],
        )
        .expect("batch");
        w.write(&b).expect("write");
    }
    w.close().expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cone_search_reads_a_few_pages_and_finds_every_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sky.parquet");
    let rows = positions();
    write(&path, &rows);
    let mut table = quick_table(&format!("sky.sources={}", path.display())).expect("table");
    table.columns.insert(
        "source_id".into(),
        ColumnConfig {
            healpix: Some("gaia".into()),
            ..Default::default()
        },
    );
    let config = CatalogConfig {
        tables: vec![table],
        ..Default::default()
    };
    let catalog = parallax_catalog::load(&config, Path::new("/"))
        .await
        .expect("catalogue");
    let engine = Engine::new(catalog).expect("engine");
    let total_groups = rows.len().div_ceil(ROW_GROUP);

    for (ra, dec, r) in CONES {
        let expected: BTreeSet<i64> = rows
            .iter()
            .filter(|(_, a, d)| angular_distance_deg(*a, *d, ra, dec) <= r)
            .map(|row| row.0)
            .collect();
        assert!(expected.len() > 50, "planted cluster missing");
        for q in [
            format!(
                "SELECT source_id FROM sky.sources \
                 WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, {r}))"
            ),
            format!(
                "SELECT s.source_id FROM sky.sources AS s \
                 WHERE DISTANCE(POINT(s.ra, s.dec), POINT({ra}, {dec})) <= {r}"
            ),
        ] {
            let plan = engine.physical_plan(&q).await.expect("plan");
            let ctx = engine.context().task_ctx();
            let batches = collect(plan.clone(), ctx).await.expect("run");
            let got: BTreeSet<i64> = batches
                .iter()
                .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
                .collect();
            assert_eq!(got, expected, "{q}");
            let m = scan_metrics(&plan);
            assert_eq!(
                m.row_groups_matched + m.row_groups_pruned,
                total_groups,
                "{m:?}"
            );
            // A cone is one or two key ranges, except at the poles, where four base cells meet
            // and the cone is four separate places of the file.
            let places = if dec.abs() > 89.0 { 4 } else { 2 };
            assert!(m.row_groups_matched <= places, "{q}: read {m:?}");
            let fraction = m.rows_after_page_index as f64 / rows.len() as f64;
            assert!(
                fraction < 0.005 * places as f64,
                "{q}: read {fraction} of the rows ({m:?})"
            );
        }
    }

    // A polygon and a box around the first cone's cluster: pruned through a cone around them,
    // answers equal to brute force through the same (exact) CONTAINS without pruning below.
    let (ra, dec, _) = CONES[0];
    let region_queries = [
        format!(
            "SELECT source_id FROM sky.sources WHERE 1 = CONTAINS(POINT(ra, dec), \
             POLYGON({}, {}, {}, {}, {}, {}))",
            ra - 0.1,
            dec - 0.1,
            ra + 0.1,
            dec - 0.1,
            ra,
            dec + 0.1
        ),
        format!(
            "SELECT source_id FROM sky.sources WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), \
             BOX('ICRS', {ra}, {dec}, 0.2, 0.1))"
        ),
    ];
    let mut region_results = Vec::new();
    for q in &region_queries {
        let plan = engine.physical_plan(q).await.expect("plan");
        let batches = collect(plan.clone(), engine.context().task_ctx())
            .await
            .expect("run");
        let got: BTreeSet<i64> = batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert!(got.len() > 10, "{q}: {}", got.len());
        let m = scan_metrics(&plan);
        assert!(m.row_groups_matched <= 2, "{q}: read {m:?}");
        region_results.push(got);
    }

    // Without the key the same query reads everything (the measurement can tell).
    let config = CatalogConfig {
        tables: vec![quick_table(&format!("sky.sources={}", path.display())).expect("table")],
        ..Default::default()
    };
    let engine = Engine::new(
        parallax_catalog::load(&config, Path::new("/"))
            .await
            .expect("catalogue"),
    )
    .expect("engine");
    let (ra, dec, r) = CONES[0];
    let plan = engine
        .physical_plan(&format!(
            "SELECT source_id FROM sky.sources WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE({ra}, {dec}, {r}))"
        ))
        .await
        .expect("plan");
    collect(plan.clone(), engine.context().task_ctx())
        .await
        .expect("run");
    let m = scan_metrics(&plan);
    assert_eq!(m.row_groups_pruned, 0, "{m:?}");
    for (q, pruned) in region_queries.iter().zip(&region_results) {
        let plan = engine.physical_plan(q).await.expect("plan");
        let batches = collect(plan, engine.context().task_ctx())
            .await
            .expect("run");
        let all: BTreeSet<i64> = batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        assert_eq!(&all, pruned, "{q}");
    }
}
