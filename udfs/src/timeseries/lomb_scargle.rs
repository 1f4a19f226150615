//! `lomb_scargle(times, values, errors [, fmin, fmax [, n_freq [, method]]])`: the generalised
//! Lomb-Scargle periodogram of one light curve, for plotting.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, Float64Array, ListArray, StructArray};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{GridArgs, LightCurve, Method};
use crate::lists::FloatLists;

/// Most periodogram values returned by one call (rows x n_freq), to bound memory.
const MAX_VALUES: usize = 50_000_000;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The generalised (floating-mean) Lomb-Scargle periodogram of one light curve per row, \
         astropy's 'standard' normalisation, on f_k = fmin + k (fmax - fmin) / \
         (n_freq - 1): a struct {frequency, power} of two double arrays (read them with \
         get_field(lomb_scargle(...), 'power')). Same arguments, defaults, methods ('auto', \
         'exact', 'fast') and NULL rules as fourier_search; more than 50 million values in one batch is an error (use a smaller \
         grid or fewer rows).",
        "lomb_scargle(times, values, errors [, fmin, fmax [, n_freq [, method]]])",
    )
    .with_argument("times", "Observation times, e.g. g_transit_time (days).")
    .with_argument("values", "Measurements, e.g. g_transit_flux.")
    .with_argument("errors", "Their uncertainties, e.g. g_transit_flux_error.")
    .with_argument("fmin", "Lowest frequency, > 0 (1/day); default 0.001.")
    .with_argument("fmax", "Highest frequency (1/day); default 10.")
    .with_argument("n_freq", "Number of grid frequencies; default 50000.")
    .with_argument("method", "'auto' (default), 'exact' or 'fast'.")
    .with_sql_example(
        "```sql\n> SELECT TOP 1 get_field(lomb_scargle(g_transit_time, g_transit_flux, \
         g_transit_flux_error, 0.01, 5, 1000), 'power') AS power\n  FROM \
         gaiadr3.epoch_photometry\n```",
    )
    .build()
});

/// `lomb_scargle`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LombScargleFunc {
    signature: Signature,
}

impl Default for LombScargleFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl LombScargleFunc {
    /// The function with its 3-, 5-, 6- and 7-argument forms.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn item() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Float64, true))
}

fn fields() -> Fields {
    Fields::from(vec![
        Field::new("frequency", DataType::List(item()), true),
        Field::new("power", DataType::List(item()), true),
    ])
}

impl ScalarUDFImpl for LombScargleFunc {
    fn name(&self) -> &str {
        "lomb_scargle"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        super::fourier_search::coerce(arg_types, "lomb_scargle")
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let a = &args.args;
        let f = "lomb_scargle";
        if a.len() < 3 {
            return plan_err!(
                "{f} takes (times, values, errors [, fmin, fmax [, n_freq [, method]]])"
            );
        }
        let times = FloatLists::new(&a[0], "lomb_scargle: times")?;
        let values = FloatLists::new(&a[1], "lomb_scargle: values")?;
        let errors = FloatLists::new(&a[2], "lomb_scargle: errors")?;
        let grids = GridArgs::new(a)?;
        let method = Method::from_arg(a, f)?;
        let mut lc = LightCurve::default();
        let (mut freq, mut power) = (Vec::new(), Vec::new());
        let mut lengths = Vec::with_capacity(rows);
        let mut valid = Vec::with_capacity(rows);
        for i in 0..rows {
            let grid = grids.grid(i, f)?;
            match grid {
                Some(grid) if lc.load(&times, &values, &errors, i) => {
                    if power.len() + grid.n > MAX_VALUES {
                        return exec_err!(
                            "{f}: more than {MAX_VALUES} periodogram values in one batch; use a \
                             smaller n_freq or fewer rows"
                        );
                    }
                    freq.extend((0..grid.n).map(|k| grid.frequency(k)));
                    lc.periodogram(&grid, method, f, |_, p| power.push(p))?;
                    lengths.push(grid.n);
                    valid.push(true);
                }
                _ => {
                    lengths.push(0);
                    valid.push(false);
                }
            }
        }
        let nulls = NullBuffer::from(valid);
        let list = |v: Vec<f64>| -> Result<ArrayRef> {
            Ok(Arc::new(ListArray::try_new(
                item(),
                OffsetBuffer::from_lengths(lengths.iter().copied()),
                Arc::new(Float64Array::from(v)),
                Some(nulls.clone()),
            )?))
        };
        let out = StructArray::try_new(fields(), vec![list(freq)?, list(power)?], Some(nulls))?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Float64Type;
    use datafusion::common::ScalarValue;

    use super::*;
    use crate::spectra::test_data::{f64s, read};

    /// The periodogram's maximum is astropy's max_power, at astropy's best frequency.
    #[test]
    fn periodogram_peaks_where_astropy_does() {
        let b = read("lombscargle_reference.parquet").slice(0, 20);
        let mut args: Vec<ColumnarValue> = ["t", "y", "dy"]
            .iter()
            .map(|n| ColumnarValue::Array(b.column_by_name(n).unwrap().clone()))
            .collect();
        args.extend(
            [0.001, 10.0, 50_000.0].map(|v| ColumnarValue::Scalar(ScalarValue::Float64(Some(v)))),
        );
        let out =
            super::super::fourier_search::tests::call(&LombScargleFunc::new(), args, 20).unwrap();
        let s = out.as_struct();
        let (fr, pw) = (
            s.column_by_name("frequency").unwrap().as_list::<i32>(),
            s.column_by_name("power").unwrap().as_list::<i32>(),
        );
        let (want_p, want_i) = (f64s(&b, "max_power"), f64s(&b, "best_index"));
        for i in 0..20 {
            let p = pw.value(i);
            let p = p.as_primitive::<Float64Type>().values();
            assert_eq!(p.len(), 50_000);
            let (k, m) = p
                .iter()
                .enumerate()
                .fold((0, f64::MIN), |a, (k, &v)| if v > a.1 { (k, v) } else { a });
            assert!((m - want_p[i]).abs() < 1e-6);
            assert_eq!(k as f64, want_i[i]);
            let f = fr.value(i);
            let f = f.as_primitive::<Float64Type>().values();
            assert!((f[1] - 0.001 - 0.0001999839996799936).abs() < 1e-15);
        }
    }
}
