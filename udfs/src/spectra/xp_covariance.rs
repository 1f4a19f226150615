//! `xp_covariance(errors, correlations [, standard_deviation, convention [, n_relevant_bases]])`:
//! the covariance matrix of one band of a Gaia DR3 XP continuous spectrum.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, FixedSizeListArray, Float64Array, ListArray};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{
    Convention, FloatLists, Numbers, coerce_list, coerce_number, constant_string, corr_len,
};

/// Coefficients per band of a Gaia DR3 XP spectrum.
pub const N_COEFFICIENTS: usize = 55;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "Covariance matrix of one band (BP or RP) of a Gaia DR3 XP continuous spectrum, as 3025 \
         numbers (55 x 55, row-major). Archive convention (default): C_ij = e_i e_j R_ij, the \
         errors already include the standard-deviation scaling. Convention 'gaiaxpy' divides by \
         standard_deviation^2 as GaiaXPy does. With n_relevant_bases k the result is the leading \
         k x k block (k*k numbers, row-major). Correlations are the DR3 packed strict lower \
         triangle: element i(i-1)/2 + j is row i, column j (i > j). NULL when an argument or an \
         array element is NULL, when the arrays do not have 55 and 1485 elements, or when k is \
         outside 1..55; NaN elements propagate.",
        "xp_covariance(errors, correlations [, standard_deviation, convention [, n_relevant_bases]])",
    )
    .with_argument("errors", "The 55 coefficient errors (bp_coefficient_errors or rp_...).")
    .with_argument(
        "correlations",
        "The 1485 packed correlations (bp_coefficient_correlations or rp_...).",
    )
    .with_argument(
        "standard_deviation",
        "bp_standard_deviation or rp_standard_deviation (used by 'gaiaxpy').",
    )
    .with_argument("convention", "'archive' (default) or 'gaiaxpy'; a constant string.")
    .with_argument(
        "n_relevant_bases",
        "Keep the leading k x k block (bp_n_relevant_bases or rp_...).",
    )
    .with_sql_example(
        "```sql\n> SELECT xp_covariance(bp_coefficient_errors, bp_coefficient_correlations)\n  \
         FROM gaiadr3.xp_continuous_mean_spectrum WHERE source_id = 4295806720;\n```",
    )
    .build()
});

/// `xp_covariance`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct XpCovarianceFunc {
    signature: Signature,
}

impl Default for XpCovarianceFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl XpCovarianceFunc {
    /// The function with its 2-, 4- and 5-argument forms.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The full-matrix result type: `FixedSizeList<Float64, 3025>`.
fn full_type() -> DataType {
    DataType::FixedSizeList(
        Arc::new(Field::new("item", DataType::Float64, true)),
        (N_COEFFICIENTS * N_COEFFICIENTS) as i32,
    )
}

fn truncated_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float64, true)))
}

/// The dense row-major `n x n` matrix `scale * E R E` (full symmetric), written into `out`.
pub(crate) fn dense_covariance(
    errors: &[f64],
    corr: super::Floats<'_>,
    scale: f64,
    k: usize,
    out: &mut Vec<f64>,
) {
    out.clear();
    out.resize(k * k, 0.0);
    for i in 0..k {
        for j in 0..k {
            let r = match i.cmp(&j) {
                std::cmp::Ordering::Equal => 1.0,
                std::cmp::Ordering::Greater => corr.get(i * (i - 1) / 2 + j),
                std::cmp::Ordering::Less => corr.get(j * (j - 1) / 2 + i),
            };
            out[i * k + j] = errors[i] * errors[j] * r * scale;
        }
    }
}

impl ScalarUDFImpl for XpCovarianceFunc {
    fn name(&self) -> &str {
        "xp_covariance"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let f = "xp_covariance";
        match arg_types {
            [e, r] => Ok(vec![
                coerce_list(e, f, "errors")?,
                coerce_list(r, f, "correlations")?,
            ]),
            [e, r, sd, conv] | [e, r, sd, conv, _] => {
                if !matches!(
                    conv,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
                ) {
                    return plan_err!("{f}: the convention must be 'archive' or 'gaiaxpy'");
                }
                let mut out = vec![
                    coerce_list(e, f, "errors")?,
                    coerce_list(r, f, "correlations")?,
                    coerce_number(sd, f, "standard_deviation")?,
                    conv.clone(),
                ];
                if let Some(k) = arg_types.get(4) {
                    out.push(coerce_number(k, f, "n_relevant_bases")?);
                }
                Ok(out)
            }
            _ => plan_err!(
                "{f} takes (errors, correlations [, standard_deviation, convention [, n_relevant_bases]])"
            ),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(if arg_types.len() == 5 {
            truncated_type()
        } else {
            full_type()
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let a = &args.args;
        let errors = FloatLists::new(&a[0], "xp_covariance: errors")?;
        let corr = FloatLists::new(&a[1], "xp_covariance: correlations")?;
        let (sd, convention) = if a.len() >= 4 {
            let c = constant_string(&a[3], "xp_covariance", "convention")?;
            (
                Some(Numbers::new(&a[2])?),
                Convention::parse(&c, "xp_covariance")?,
            )
        } else {
            (None, Convention::Archive)
        };
        let truncate = if a.len() == 5 {
            Some(Numbers::new(&a[4])?)
        } else if a.len() > 5 {
            return exec_err!("xp_covariance takes at most 5 arguments");
        } else {
            None
        };
        let n = N_COEFFICIENTS;
        let mut values: Vec<f64> = Vec::with_capacity(rows * n * n);
        let mut offsets: Vec<usize> = Vec::with_capacity(rows + 1);
        offsets.push(0);
        let mut valid = Vec::with_capacity(rows);
        let mut e = Vec::with_capacity(n);
        let mut block = Vec::with_capacity(n * n);
        for i in 0..rows {
            let matrix = (|| {
                let er = errors.row(i)?;
                let cr = corr.row(i)?;
                if er.len() != n || cr.len() != corr_len(n) {
                    return None;
                }
                let scale = match convention {
                    Convention::Archive => 1.0,
                    Convention::GaiaXpy => {
                        let s = sd.as_ref()?.get(i)?;
                        1.0 / (s * s)
                    }
                };
                let k = match &truncate {
                    None => n,
                    Some(t) => {
                        let k = t.get(i)?;
                        if k.is_nan() || k < 1.0 || k > n as f64 {
                            return None;
                        }
                        k as usize
                    }
                };
                e.clear();
                e.extend((0..n).map(|m| er.get(m)));
                dense_covariance(&e, cr, scale, k, &mut block);
                Some(())
            })();
            match matrix {
                Some(()) => {
                    values.extend_from_slice(&block);
                    valid.push(true);
                }
                None => {
                    if truncate.is_none() {
                        values.resize(values.len() + n * n, 0.0);
                    }
                    valid.push(false);
                }
            }
            offsets.push(values.len());
        }
        let nulls = Some(NullBuffer::from(valid));
        let item = Arc::new(Field::new("item", DataType::Float64, true));
        let out: ArrayRef = if truncate.is_some() {
            Arc::new(ListArray::try_new(
                item,
                OffsetBuffer::from_lengths(offsets.windows(2).map(|w| w[1] - w[0])),
                Arc::new(Float64Array::from(values)),
                nulls,
            )?)
        } else {
            Arc::new(FixedSizeListArray::try_new(
                item,
                (n * n) as i32,
                Arc::new(Float64Array::from(values)),
                nulls,
            )?)
        };
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::Float64Type;
    use datafusion::common::ScalarValue;
    use datafusion::common::config::ConfigOptions;

    use super::*;
    use crate::spectra::test_data::{f64s, lists, read};

    fn call(args: Vec<ColumnarValue>, rows: usize) -> ArrayRef {
        let f = XpCovarianceFunc::new();
        let types: Vec<DataType> = args.iter().map(|a| a.data_type()).collect();
        let ret = f.return_type(&types).unwrap();
        let arg_fields = types
            .iter()
            .map(|t| Arc::new(Field::new("a", t.clone(), true)))
            .collect();
        let out = f
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: rows,
                return_field: Arc::new(Field::new("r", ret, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap();
        out.into_array(rows).unwrap()
    }

    fn rel_close(got: &[f64], want: &[f64], tol: f64) -> Result<(), String> {
        if got.len() != want.len() {
            return Err(format!("length {} != {}", got.len(), want.len()));
        }
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            if (g - w).abs() > tol * w.abs() {
                return Err(format!("element {i}: {g} vs {w}"));
            }
        }
        Ok(())
    }

    /// The reference test vectors (GaiaXPy 2.1.5), all three forms, to 1e-12 relative.
    #[test]
    fn matches_the_reference_test_vectors() {
        let b = read("xp_covariance_testvectors.parquet");
        let rows = b.num_rows();
        let errors = ColumnarValue::Array(b.column_by_name("coefficient_errors").unwrap().clone());
        let corr = ColumnarValue::Array(
            b.column_by_name("coefficient_correlations")
                .unwrap()
                .clone(),
        );
        let sd = ColumnarValue::Array(b.column_by_name("standard_deviation").unwrap().clone());
        let nrel = ColumnarValue::Array(b.column_by_name("n_relevant_bases").unwrap().clone());
        let gaiaxpy = ColumnarValue::Scalar(ScalarValue::Utf8(Some("GaiaXPy".into())));
        let archive = call(vec![errors.clone(), corr.clone()], rows);
        let gx = call(
            vec![errors.clone(), corr.clone(), sd.clone(), gaiaxpy.clone()],
            rows,
        );
        let tr = call(vec![errors, corr, sd, gaiaxpy, nrel], rows);
        let (want_a, want_g, want_t) = (
            lists(&b, "cov_archive_errors"),
            lists(&b, "cov_gaiaxpy"),
            lists(&b, "cov_gaiaxpy_truncated"),
        );
        let k = f64s(&b, "n_relevant_bases");
        for i in 0..rows {
            let a = archive.as_fixed_size_list().value(i);
            rel_close(
                a.as_primitive::<Float64Type>().values(),
                want_a[i].as_ref().unwrap(),
                1e-12,
            )
            .unwrap_or_else(|e| panic!("archive row {i}: {e}"));
            let g = gx.as_fixed_size_list().value(i);
            rel_close(
                g.as_primitive::<Float64Type>().values(),
                want_g[i].as_ref().unwrap(),
                1e-12,
            )
            .unwrap_or_else(|e| panic!("gaiaxpy row {i}: {e}"));
            let t = tr.as_list::<i32>().value(i);
            assert_eq!(t.len(), (k[i] * k[i]) as usize);
            rel_close(
                t.as_primitive::<Float64Type>().values(),
                want_t[i].as_ref().unwrap(),
                1e-12,
            )
            .unwrap_or_else(|e| panic!("truncated row {i}: {e}"));
        }
    }

    #[test]
    fn bad_input_gives_null_or_error() {
        let list = |v: Vec<Option<f64>>| {
            ColumnarValue::Array(Arc::new(
                ListArray::from_iter_primitive::<Float64Type, _, _>(vec![Some(v)]),
            ))
        };
        // Wrong lengths.
        let out = call(vec![list(vec![Some(1.0); 3]), list(vec![Some(0.0); 3])], 1);
        assert!(out.is_null(0));
        // NULL element.
        let mut e = vec![Some(1.0); 55];
        e[3] = None;
        let out = call(vec![list(e), list(vec![Some(0.0); 1485])], 1);
        assert!(out.is_null(0));
        // k out of range.
        let out = call(
            vec![
                list(vec![Some(1.0); 55]),
                list(vec![Some(0.0); 1485]),
                ColumnarValue::Scalar(ScalarValue::Float64(Some(1.0))),
                ColumnarValue::Scalar(ScalarValue::Utf8(Some("archive".into()))),
                ColumnarValue::Array(Arc::new(Int64Array::from(vec![0]))),
            ],
            1,
        );
        assert!(out.is_null(0));
        // Unknown convention: an error, not a panic.
        let f = XpCovarianceFunc::new();
        let r = f.invoke_with_args(ScalarFunctionArgs {
            args: vec![
                list(vec![Some(1.0); 55]),
                list(vec![Some(0.0); 1485]),
                ColumnarValue::Scalar(ScalarValue::Float64(Some(1.0))),
                ColumnarValue::Scalar(ScalarValue::Utf8(Some("e2r".into()))),
            ],
            arg_fields: vec![],
            number_rows: 1,
            return_field: Arc::new(Field::new("r", full_type(), true)),
            config_options: Arc::new(ConfigOptions::default()),
        });
        assert!(r.is_err());
        // A non-constant convention is an error too.
        let r = f.invoke_with_args(ScalarFunctionArgs {
            args: vec![
                list(vec![Some(1.0); 55]),
                list(vec![Some(0.0); 1485]),
                ColumnarValue::Scalar(ScalarValue::Float64(Some(1.0))),
                ColumnarValue::Array(Arc::new(StringArray::from(vec!["archive"]))),
            ],
            arg_fields: vec![],
            number_rows: 1,
            return_field: Arc::new(Field::new("r", full_type(), true)),
            config_options: Arc::new(ConfigOptions::default()),
        });
        assert!(r.is_err());
    }
}
