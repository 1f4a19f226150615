//! End-to-end template search: `ORDER BY mahalanobis(...) LIMIT 10` over 100 000 generated
//! XP spectra (both bands, Gaia DR3 types: f64 coefficients, f32 errors and correlations)
//! read from a Parquet file, the template from a one-row subquery, on one partition (one
//! core). The Parquet file (~1.3 GB) is written once to the temporary directory and reused.
//! Throughput is reported in spectra and in Parquet bytes.

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int64Array, RecordBatch,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

#[path = "support/cpu_time.rs"]
mod cpu_time;

const ROWS: usize = 100_000;
const BATCH: usize = 8192;
const N: usize = 55;
const NC: usize = N * (N - 1) / 2;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn fixed(values: ArrayRef, n: usize) -> ArrayRef {
    let t = values.data_type().clone();
    Arc::new(
        FixedSizeListArray::try_new(
            Arc::new(Field::new("item", t, true)),
            n as i32,
            values,
            None,
        )
        .expect("list"),
    )
}

fn schema() -> Arc<Schema> {
    let l = |t: DataType, n: usize| {
        DataType::FixedSizeList(Arc::new(Field::new("item", t, true)), n as i32)
    };
    let mut fields = vec![Field::new("source_id", DataType::Int64, false)];
    for b in ["bp", "rp"] {
        fields.push(Field::new(
            format!("{b}_coefficients"),
            l(DataType::Float64, N),
            true,
        ));
        fields.push(Field::new(
            format!("{b}_coefficient_errors"),
            l(DataType::Float32, N),
            true,
        ));
        fields.push(Field::new(
            format!("{b}_coefficient_correlations"),
            l(DataType::Float32, NC),
            true,
        ));
    }
    Arc::new(Schema::new(fields))
}

fn write(path: &PathBuf) {
    let schema = schema();
    let file = std::fs::File::create(path).expect("create");
    let mut w = ArrowWriter::try_new(file, schema.clone(), None).expect("writer");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut start = 0;
    while start < ROWS {
        let n = BATCH.min(ROWS - start);
        let mut cols: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
            (start..start + n).map(|i| i as i64),
        ))];
        for _ in 0..2 {
            let (mut c, mut e, mut r) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..n {
                let rho = 0.2 + 0.5 * rng.unit();
                for i in 0..N {
                    c.push(1000.0 / (1.0 + i as f64) * (1.0 + 0.1 * rng.unit()));
                    e.push((5.0 + 10.0 * rng.unit()) as f32);
                }
                for i in 1..N {
                    for j in 0..i {
                        r.push(rho.powi((i - j) as i32) as f32);
                    }
                }
            }
            cols.push(fixed(Arc::new(Float64Array::from(c)), N));
            cols.push(fixed(Arc::new(Float32Array::from(e)), N));
            cols.push(fixed(Arc::new(Float32Array::from(r)), NC));
        }
        w.write(&RecordBatch::try_new(schema.clone(), cols).expect("batch"))
            .expect("write");
        start += n;
    }
    w.close().expect("close");
}

const QUERY: &str = "SELECT c.source_id, mahalanobis(\
    c.bp_coefficients, c.bp_coefficient_errors, c.bp_coefficient_correlations, \
    c.rp_coefficients, c.rp_coefficient_errors, c.rp_coefficient_correlations, \
    t.bp_coefficients, t.bp_coefficient_errors, t.bp_coefficient_correlations, \
    t.rp_coefficients, t.rp_coefficient_errors, t.rp_coefficient_correlations) AS d2 \
    FROM xp AS c, (SELECT * FROM xp WHERE source_id = 4242) AS t ORDER BY d2 LIMIT 10";

fn bench(c: &mut Criterion) {
    let path = std::env::temp_dir().join("parallax-bench-xp-100k.parquet");
    if !path.exists() {
        write(&path);
    }
    let bytes = std::fs::metadata(&path).expect("metadata").len();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    parallax_udfs::register_all(&ctx);
    rt.block_on(ctx.register_parquet(
        "xp",
        path.to_str().expect("utf-8 path"),
        ParquetReadOptions::default(),
    ))
    .expect("register");
    let run = || {
        rt.block_on(async {
            let batches = ctx.sql(QUERY).await?.collect().await?;
            Ok::<_, datafusion::error::DataFusionError>(batches)
        })
        .expect("query")
    };
    let first = run();
    assert_eq!(first.iter().map(RecordBatch::num_rows).sum::<usize>(), 10);
    let mut g = c.benchmark_group("template_search_100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("spectra", |b| b.iter(run));
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("parquet_bytes", |b| b.iter(run));
    g.finish();
    let mut run_once = || {
        run();
    };
    cpu_time::report_process(
        "template_search_100k",
        ROWS as u64,
        bytes,
        "spectra",
        10.0,
        &mut run_once,
    );
    println!(
        "template_search_100k: Parquet file {:.1} MB ({:.0} bytes per spectrum)",
        bytes as f64 / 1e6,
        bytes as f64 / ROWS as f64
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
