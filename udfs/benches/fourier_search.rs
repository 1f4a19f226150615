//! `fourier_search` through `invoke_with_args` at the reference grid (50 000 frequencies from
//! 0.001 to 10 per day) on Gaia-like light curves (groups of transits over ~1000 days): 55
//! epochs (Gaia DR3) and 1000 epochs (a long ground-based light curve), with the exact and the
//! fast method. Throughput is in light curves.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::ListArray;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};
use parallax_udfs::timeseries::fourier_search::FourierSearchFunc;

#[path = "support/cpu_time.rs"]
mod cpu_time;

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

fn light_curves(rows: usize, epochs: usize, method: &str) -> Vec<ColumnarValue> {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let (mut t, mut y, mut dy) = (Vec::new(), Vec::new(), Vec::new());
    let gap = 1000.0 / epochs as f64;
    for _ in 0..rows {
        let period = 0.2 + 50.0 * rng.unit();
        let (mut tt, mut yy, mut ee) = (Vec::new(), Vec::new(), Vec::new());
        let mut time = 1700.0;
        while tt.len() < epochs {
            time += gap * (0.3 + 1.4 * rng.unit());
            for k in 0..2 {
                if tt.len() < epochs {
                    let tk = time + 0.074 * f64::from(k);
                    tt.push(Some(tk));
                    let noise = 0.02 * (rng.unit() - 0.5);
                    yy.push(Some(
                        15.0 + 0.1 * (std::f64::consts::TAU * tk / period).sin() + noise,
                    ));
                    ee.push(Some(0.01));
                }
            }
        }
        t.push(Some(tt));
        y.push(Some(yy));
        dy.push(Some(ee));
    }
    let list = |v: Vec<Option<Vec<Option<f64>>>>| {
        ColumnarValue::Array(Arc::new(
            ListArray::from_iter_primitive::<Float64Type, _, _>(v),
        ))
    };
    let num = |v: f64| ColumnarValue::Scalar(ScalarValue::Float64(Some(v)));
    vec![
        list(t),
        list(y),
        list(dy),
        num(0.001),
        num(10.0),
        num(50_000.0),
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(method.to_string()))),
    ]
}

fn bench(c: &mut Criterion) {
    let f = FourierSearchFunc::new();
    let mut g = c.benchmark_group("fourier_search");
    g.sample_size(10);
    for (rows, epochs, method) in [
        (64, 55, "exact"),
        (64, 55, "fast"),
        (8, 1000, "exact"),
        (8, 1000, "fast"),
    ] {
        let args = light_curves(rows, epochs, method);
        let types: Vec<DataType> = args.iter().map(|a| a.data_type()).collect();
        let ret = f.return_type(&types).expect("type");
        let arg_fields: Vec<_> = types
            .iter()
            .map(|t| Arc::new(Field::new("a", t.clone(), true)))
            .collect();
        g.throughput(Throughput::Elements(rows as u64));
        let run = || {
            let out = f
                .invoke_with_args(ScalarFunctionArgs {
                    args: args.clone(),
                    arg_fields: arg_fields.clone(),
                    number_rows: rows,
                    return_field: Arc::new(Field::new("r", ret.clone(), true)),
                    config_options: Arc::new(ConfigOptions::default()),
                })
                .expect("invoke");
            black_box(out);
        };
        let name = format!("{epochs}_epochs_50000_freq_{method}");
        g.bench_function(&name, |b| b.iter(run));
        cpu_time::report(
            &format!("fourier_search/{name}"),
            rows as u64,
            "light curves",
            3.0,
            run,
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
