//! `fourier_search(times, values, errors [, fmin, fmax [, n_freq [, method]]])`: the highest peak of the
//! generalised Lomb-Scargle periodogram of each row's light curve and its false-alarm
//! probability.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Float64Array, StructArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{GridArgs, LightCurve, Method, astropy_fmax, fap_baluev};
use crate::lists::{FloatLists, coerce_list, coerce_number};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "Period search in one light curve per row: the highest peak of the generalised \
         (floating-mean) Lomb-Scargle periodogram (Zechmeister & Kuerster 2009; astropy's \
         'standard' normalisation, errors as 1/dy^2 weights) on the grid f_k = fmin + k (fmax - \
         fmin) / (n_freq - 1), k = 0..n_freq-1, in cycles per day of the time unit. Returns a \
         struct {best_frequency, best_period, power, fap} with the Baluev (2008) false-alarm \
         probability of the peak (with fmax rounded onto a grid of step 1/(5 baseline) from fmin, as \
         astropy's false_alarm_probability does); read a field with get_field(fourier_search(...), 'best_period'). \
         method 'exact' evaluates the periodogram exactly (a trigonometric recurrence, \
         O(epochs x n_freq)); 'fast' uses extirpolation and FFTs (Press & Rybicki 1989, \
         O(epochs + n_freq log n_freq), powers within ~1e-8 of exact, n_freq up to 524288); \
         'auto' (the default) picks the cheaper, which is 'exact' for Gaia-like light curves of \
         tens of epochs and 'fast' for hundreds or more. Defaults: fmin 0.001, fmax 10, \
         n_freq 50000. Epochs with a NULL or NaN time, value or error, or an error <= 0, are \
         skipped; fewer than 3 remaining epochs, constant values or arrays of different lengths \
         give NULL. fmin <= 0, fmin >= fmax or n_freq outside 2..10000000 are errors.",
        "fourier_search(times, values, errors [, fmin, fmax [, n_freq [, method]]])",
    )
    .with_argument("times", "Observation times, e.g. g_transit_time (days).")
    .with_argument("values", "Measurements, e.g. g_transit_flux or g_transit_mag.")
    .with_argument("errors", "Their uncertainties, e.g. g_transit_flux_error.")
    .with_argument("fmin", "Lowest frequency, > 0 (1/day); default 0.001.")
    .with_argument("fmax", "Highest frequency (1/day); default 10.")
    .with_argument("n_freq", "Number of grid frequencies, 2 to 10000000; default 50000.")
    .with_argument("method", "'auto' (default), 'exact' or 'fast'.")
    .with_sql_example(
        "```sql\n> SELECT TOP 5 source_id, get_field(fourier_search(g_transit_time, \
         g_transit_flux, g_transit_flux_error), 'best_period') AS period\n  FROM \
         gaiadr3.epoch_photometry\n```",
    )
    .build()
});

/// `fourier_search`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FourierSearchFunc {
    signature: Signature,
}

impl Default for FourierSearchFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl FourierSearchFunc {
    /// The function with its 3-, 5-, 6- and 7-argument forms.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn fields() -> Fields {
    Fields::from(vec![
        Field::new("best_frequency", DataType::Float64, true),
        Field::new("best_period", DataType::Float64, true),
        Field::new("power", DataType::Float64, true),
        Field::new("fap", DataType::Float64, true),
    ])
}

/// Coercion shared with `lomb_scargle`.
pub(crate) fn coerce(arg_types: &[DataType], f: &str) -> Result<Vec<DataType>> {
    if !matches!(arg_types.len(), 3 | 5 | 6 | 7) {
        return plan_err!("{f} takes (times, values, errors [, fmin, fmax [, n_freq [, method]]])");
    }
    let names = [
        "times", "values", "errors", "fmin", "fmax", "n_freq", "method",
    ];
    arg_types
        .iter()
        .zip(names)
        .enumerate()
        .map(|(i, (t, name))| match i {
            0..3 => coerce_list(t, f, name),
            3..6 => coerce_number(t, f, name),
            _ => match t {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
                    Ok(DataType::Utf8)
                }
                other => plan_err!(
                    "{f}: method must be a string ('auto', 'exact' or 'fast'), got {other}"
                ),
            },
        })
        .collect()
}

impl ScalarUDFImpl for FourierSearchFunc {
    fn name(&self) -> &str {
        "fourier_search"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce(arg_types, "fourier_search")
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let a = &args.args;
        let f = "fourier_search";
        if a.len() < 3 {
            return plan_err!(
                "{f} takes (times, values, errors [, fmin, fmax [, n_freq [, method]]])"
            );
        }
        let times = FloatLists::new(&a[0], "fourier_search: times")?;
        let values = FloatLists::new(&a[1], "fourier_search: values")?;
        let errors = FloatLists::new(&a[2], "fourier_search: errors")?;
        let grids = GridArgs::new(a)?;
        let method = Method::from_arg(a, f)?;
        let mut lc = LightCurve::default();
        let mut cols: [Vec<f64>; 4] = std::array::from_fn(|_| Vec::with_capacity(rows));
        let mut valid = Vec::with_capacity(rows);
        for i in 0..rows {
            let grid = grids.grid(i, f)?;
            let result = match grid {
                Some(grid) if lc.load(&times, &values, &errors, i) => {
                    let mut best = (0usize, f64::NEG_INFINITY);
                    lc.periodogram(&grid, method, f, |k, p| {
                        if p > best.1 {
                            best = (k, p);
                        }
                    })?;
                    let freq = grid.frequency(best.0);
                    let fmax = astropy_fmax(grid.fmin, grid.fmax, lc.baseline);
                    let fap = fap_baluev(best.1, fmax, lc.n, lc.t_var);
                    Some([freq, 1.0 / freq, best.1, fap])
                }
                _ => None,
            };
            valid.push(result.is_some());
            let r = result.unwrap_or([0.0; 4]);
            for (c, v) in cols.iter_mut().zip(r) {
                c.push(v);
            }
        }
        let arrays: Vec<ArrayRef> = cols
            .into_iter()
            .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef)
            .collect();
        let nulls = NullBuffer::from(valid);
        let children: Vec<ArrayRef> = arrays
            .into_iter()
            .map(|c| {
                let data = c
                    .to_data()
                    .into_builder()
                    .nulls(Some(nulls.clone()))
                    .build()?;
                Ok(datafusion::arrow::array::make_array(data))
            })
            .collect::<Result<_>>()?;
        let out = StructArray::try_new(fields(), children, Some(nulls))?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;
    use datafusion::common::ScalarValue;
    use datafusion::common::config::ConfigOptions;

    use super::*;
    use crate::spectra::test_data::{f64s, read};

    pub(crate) fn call(
        f: &dyn ScalarUDFImpl,
        args: Vec<ColumnarValue>,
        rows: usize,
    ) -> Result<ArrayRef> {
        let types: Vec<DataType> = args.iter().map(|a| a.data_type()).collect();
        let ret = f.return_type(&types)?;
        let out = f.invoke_with_args(ScalarFunctionArgs {
            arg_fields: types
                .iter()
                .map(|t| Arc::new(Field::new("a", t.clone(), true)))
                .collect(),
            args,
            number_rows: rows,
            return_field: Arc::new(Field::new("r", ret, true)),
            config_options: Arc::new(ConfigOptions::default()),
        })?;
        out.into_array(rows)
    }

    fn grid_args() -> Vec<ColumnarValue> {
        [0.001, 10.0, 50_000.0]
            .into_iter()
            .map(|v| ColumnarValue::Scalar(ScalarValue::Float64(Some(v))))
            .collect()
    }

    /// `lombscargle_reference.parquet`: astropy's best index for at least 99% of rows (all,
    /// in fact), power to 1e-6, Baluev FAP to 1e-6 relative, with both methods.
    #[test]
    fn matches_astropy_on_the_reference_light_curves() {
        for method in ["exact", "fast"] {
            matches_astropy_with(method);
        }
    }

    fn matches_astropy_with(method: &str) {
        let b = read("lombscargle_reference.parquet");
        let rows = b.num_rows();
        let mut args: Vec<ColumnarValue> = ["t", "y", "dy"]
            .iter()
            .map(|n| ColumnarValue::Array(b.column_by_name(n).unwrap().clone()))
            .collect();
        args.extend(grid_args());
        args.push(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            method.to_string(),
        ))));
        let out = call(&FourierSearchFunc::new(), args, rows).unwrap();
        let s = out.as_struct();
        let col = |n: &str| {
            s.column_by_name(n)
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone()
        };
        let (freq, power, fap) = (col("best_frequency"), col("power"), col("fap"));
        let (want_f, want_p, want_fap) = (
            f64s(&b, "best_freq"),
            f64s(&b, "max_power"),
            f64s(&b, "fap_baluev"),
        );
        let mut same_index = 0;
        for i in 0..rows {
            assert!(out.is_valid(i));
            if (freq.value(i) - want_f[i]).abs() < 1e-9 {
                same_index += 1;
            }
            assert!(
                (power.value(i) - want_p[i]).abs() < 1e-6,
                "{method} row {i}: power {} vs {}",
                power.value(i),
                want_p[i]
            );
            assert!(
                (fap.value(i) - want_fap[i]).abs() <= 1e-6 * want_fap[i].abs() + 1e-300,
                "{method} row {i}: fap {} vs {}",
                fap.value(i),
                want_fap[i]
            );
        }
        assert!(
            same_index * 100 >= rows * 99,
            "{method}: {same_index} of {rows}"
        );
    }

    #[test]
    fn bad_input() {
        let list = |v: Vec<Option<f64>>| {
            ColumnarValue::Array(Arc::new(
                datafusion::arrow::array::ListArray::from_iter_primitive::<Float64Type, _, _>(
                    vec![Some(v)],
                ),
            ))
        };
        let f = FourierSearchFunc::new();
        // Two usable epochs (one NULL, one NaN, one with error 0): NULL.
        let out = call(
            &f,
            vec![
                list(vec![Some(1.0), Some(2.0), None, Some(4.0), Some(5.0)]),
                list(vec![
                    Some(1.0),
                    Some(2.0),
                    Some(3.0),
                    Some(f64::NAN),
                    Some(1.0),
                ]),
                list(vec![Some(0.1), Some(0.1), Some(0.1), Some(0.1), Some(0.0)]),
            ],
            1,
        )
        .unwrap();
        assert!(out.is_null(0));
        // Different lengths: NULL.
        let out = call(
            &f,
            vec![
                list(vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)]),
                list(vec![Some(1.0), Some(2.0), Some(3.0)]),
                list(vec![Some(0.1), Some(0.1), Some(0.1), Some(0.1)]),
            ],
            1,
        )
        .unwrap();
        assert!(out.is_null(0));
        // fmin >= fmax and an absurd n_freq: errors.
        let lc = || {
            vec![
                list(vec![Some(1.0), Some(2.0), Some(3.5), Some(4.0)]),
                list(vec![Some(1.0), Some(2.0), Some(3.0), Some(1.0)]),
                list(vec![Some(0.1), Some(0.1), Some(0.1), Some(0.1)]),
            ]
        };
        let num = |v: f64| ColumnarValue::Scalar(ScalarValue::Float64(Some(v)));
        let mut a = lc();
        a.extend([num(2.0), num(1.0)]);
        let e = call(&f, a, 1).unwrap_err().to_string();
        assert!(e.contains("must be smaller than fmax"), "{e}");
        let mut a = lc();
        a.extend([num(0.1), num(1.0), num(1e12)]);
        let e = call(&f, a, 1).unwrap_err().to_string();
        assert!(e.contains("n_freq must be an integer"), "{e}");
        let mut a = lc();
        a.extend([num(0.1), num(1.0), num(100.0)]);
        assert!(call(&f, a, 1).unwrap().is_valid(0));
    }
}
