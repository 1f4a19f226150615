//! Writer throughput on 1M rows x 10 numeric columns (3 x i64, 4 x f64, 2 x f32, 1 x i32),
//! in batches of 8192 rows, with a NULL every 97th value in two columns.
//! Throughput is reported in output bytes.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use parallax_formats::{EndStatus, OutputFormat, new_writer};

const ROWS: usize = 1 << 20;
const BATCH: usize = 8192;

/// Deterministic xorshift, so every run benchmarks the same bytes.
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

fn data() -> (SchemaRef, Vec<RecordBatch>) {
    let mut fields = Vec::new();
    for i in 0..3 {
        fields.push(Field::new(format!("i64_{i}"), DataType::Int64, true));
    }
    for i in 0..4 {
        fields.push(Field::new(format!("f64_{i}"), DataType::Float64, true));
    }
    for i in 0..2 {
        fields.push(Field::new(format!("f32_{i}"), DataType::Float32, true));
    }
    fields.push(Field::new("i32_0", DataType::Int32, true));
    let schema = Arc::new(Schema::new(fields));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut batches = Vec::new();
    let mut row = 0usize;
    while row < ROWS {
        let n = BATCH.min(ROWS - row);
        let mut cols: Vec<ArrayRef> = Vec::new();
        cols.push(Arc::new(Int64Array::from_iter_values(
            (row..row + n).map(|r| 4_295_806_720 + r as i64 * 1_000_003),
        )));
        cols.push(Arc::new(Int64Array::from_iter(
            (0..n).map(|i| (i % 97 != 0).then(|| (rng.next() >> 20) as i64)),
        )));
        cols.push(Arc::new(Int64Array::from_iter_values(
            (0..n).map(|_| (rng.next() % 100_000) as i64),
        )));
        for c in 0..4 {
            cols.push(Arc::new(Float64Array::from_iter((0..n).map(|i| {
                let v = rng.unit() * 360.0 - 180.0;
                (c != 1 || i % 97 != 0).then_some(v)
            }))));
        }
        for _ in 0..2 {
            cols.push(Arc::new(Float32Array::from_iter_values(
                (0..n).map(|_| (rng.unit() * 20.0) as f32),
            )));
        }
        cols.push(Arc::new(Int32Array::from_iter_values(
            (0..n).map(|_| (rng.next() % 1000) as i32),
        )));
        batches.push(RecordBatch::try_new(schema.clone(), cols).expect("valid batch"));
        row += n;
    }
    (schema, batches)
}

/// Encode everything, dropping the output after each batch as a streaming body would.
fn encode(format: OutputFormat, schema: &SchemaRef, batches: &[RecordBatch]) -> usize {
    let mut w = new_writer(format, schema.clone(), vec![], vec![]).expect("writer");
    let mut out = Vec::with_capacity(1 << 20);
    let mut total = 0;
    w.begin(&mut out).expect("begin");
    for b in batches {
        w.write_batch(b, &mut out).expect("write");
        total += out.len();
        black_box(&out);
        out.clear();
    }
    w.finish(&EndStatus::Complete, &mut out).expect("finish");
    total + out.len()
}

fn writers(c: &mut Criterion) {
    let (schema, batches) = data();
    let mut group = c.benchmark_group("writers_1Mx10");
    for (name, format) in [
        ("votable_binary2", OutputFormat::VotableBinary2),
        ("votable_tabledata", OutputFormat::VotableTabledata),
        ("csv", OutputFormat::Csv),
        ("arrow_ipc", OutputFormat::ArrowStream),
    ] {
        let bytes = encode(format, &schema, &batches);
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(name, |b| b.iter(|| encode(format, &schema, &batches)));
    }
    group.finish();
}

criterion_group!(benches, writers);
criterion_main!(benches);
