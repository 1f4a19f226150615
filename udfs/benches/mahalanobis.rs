//! The Mahalanobis kernel through `invoke_with_args`: both XP bands (2 x 55 coefficients,
//! f32 errors and 1485 f32 correlations per band, as stored in Gaia DR3), 8192 rows per
//! batch, the template once as a scalar (a literal) and once as repeated array rows (what a
//! join with a one-row subquery delivers). Throughput is in spectra.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::{Array, ArrayRef, FixedSizeListArray, Float32Array, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};
use parallax_udfs::spectra::mahalanobis::{MahalanobisFunc, Variant};

#[path = "support/cpu_time.rs"]
mod cpu_time;

const ROWS: usize = 8192;
const N: usize = 55;
const NC: usize = N * (N - 1) / 2;

/// Deterministic xorshift.
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

fn fixed<T: Array + 'static>(values: T, n: usize, t: DataType) -> ArrayRef {
    Arc::new(
        FixedSizeListArray::try_new(
            Arc::new(Field::new("item", t, true)),
            n as i32,
            Arc::new(values),
            None,
        )
        .expect("list"),
    )
}

/// `rows` spectra of one band: coefficients, errors, correlations (a positive definite
/// AR(1)-like matrix rho^|i-j| with a per-row rho).
fn band(rng: &mut Rng, rows: usize) -> [ArrayRef; 3] {
    let mut c = Vec::with_capacity(rows * N);
    let mut e = Vec::with_capacity(rows * N);
    let mut r = Vec::with_capacity(rows * NC);
    for _ in 0..rows {
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
    [
        fixed(Float64Array::from(c), N, DataType::Float64),
        fixed(Float32Array::from(e), N, DataType::Float32),
        fixed(Float32Array::from(r), NC, DataType::Float32),
    ]
}

fn args(template_as_scalar: bool) -> Vec<ColumnarValue> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out: Vec<ColumnarValue> = Vec::new();
    for _ in 0..2 {
        out.extend(band(&mut rng, ROWS).into_iter().map(ColumnarValue::Array));
    }
    for _ in 0..2 {
        let t = band(&mut rng, 1);
        if template_as_scalar {
            out.extend(t.into_iter().map(|a| {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0).expect("scalar"))
            }));
        } else {
            out.extend(t.into_iter().map(|a| {
                let idx = datafusion::arrow::array::UInt32Array::from(vec![0u32; ROWS]);
                ColumnarValue::Array(
                    datafusion::arrow::compute::take(&a, &idx, None).expect("take"),
                )
            }));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let f = MahalanobisFunc::new(Variant::Full);
    let mut g = c.benchmark_group("mahalanobis");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    for (name, scalar) in [("template_scalar", true), ("template_joined", false)] {
        let a = args(scalar);
        let arg_fields: Vec<_> = a
            .iter()
            .map(|v| Arc::new(Field::new("a", v.data_type(), true)))
            .collect();
        let run = || {
            let out = f
                .invoke_with_args(ScalarFunctionArgs {
                    args: a.clone(),
                    arg_fields: arg_fields.clone(),
                    number_rows: ROWS,
                    return_field: Arc::new(Field::new("d2", DataType::Float64, true)),
                    config_options: Arc::new(ConfigOptions::default()),
                })
                .expect("invoke");
            black_box(out);
        };
        g.bench_function(name, |b| b.iter(run));
        cpu_time::report(
            &format!("mahalanobis/{name}"),
            ROWS as u64,
            "spectra",
            3.0,
            run,
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
