//! `truncate(x [, n])`: ADQL 2.1 `TRUNCATE`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_MATH;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

static DOC: LazyLock<Documentation> =
    LazyLock::new(|| {
        Documentation::builder(
        DOC_SECTION_MATH,
        "Truncates `x` towards zero to `n` decimal places (ADQL 2.1 TRUNCATE). `n` defaults to 0 \
         and may be negative to zero digits left of the decimal point. Returns a double. \
         NULL in either argument gives NULL; NaN and infinities are returned unchanged. Values \
         within a few ulps of the next decimal step are treated as that step, so \
         truncate(0.29, 2) is 0.29 although 0.29 * 100 is 28.999999999999996 in binary.",
        "truncate(x [, n])",
    )
    .with_standard_argument("x", Some("Numeric"))
    .with_argument("n", "Number of decimal places to keep (integer, default 0).")
    .with_sql_example(
        "```sql\n> SELECT truncate(-3.789, 1), truncate(1234.5, -2);\n-3.7, 1200.0\n```",
    )
    .build()
    });

/// ADQL `TRUNCATE(x [, n])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TruncateFunc {
    signature: Signature,
}

impl Default for TruncateFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl TruncateFunc {
    /// The function with its signature `(double [, bigint]) -> double`.
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Float64]),
                    TypeSignature::Exact(vec![DataType::Float64, DataType::Int64]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

/// Truncates one value; the kernel of [`TruncateFunc`].
pub fn truncate_value(x: f64, n: i64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // Beyond ±308 digits the scale overflows; there is nothing left to truncate (or keep).
    if n > 308 {
        return x;
    }
    if n < -308 {
        return 0.0_f64.copysign(x);
    }
    // |n| <= 308 here, so the cast is lossless.
    let scale = 10f64.powi(n.unsigned_abs() as i32);
    let y = if n >= 0 { x * scale } else { x / scale };
    if !y.is_finite() {
        return x;
    }
    let r = y.round();
    let t = if (y - r).abs() <= 4.0 * f64::EPSILON * y.abs().max(1.0) {
        r
    } else {
        y.trunc()
    };
    if n >= 0 { t / scale } else { t * scale }
}

impl ScalarUDFImpl for TruncateFunc {
    fn name(&self) -> &str {
        "truncate"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out: ArrayRef = match arrays.as_slice() {
            [x] => {
                let x = x.as_primitive::<Float64Type>();
                Arc::new(x.unary::<_, Float64Type>(|v| truncate_value(v, 0)))
            }
            [x, n] => {
                let x = x.as_primitive::<Float64Type>();
                let n = n.as_primitive::<Int64Type>();
                let values: Float64Array = x
                    .iter()
                    .zip(n.iter())
                    .map(|(x, n)| Some(truncate_value(x?, n?)))
                    .collect();
                Arc::new(values)
            }
            _ => return exec_err!("truncate takes one or two arguments"),
        };
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel() {
        assert_eq!(truncate_value(-3.789, 1), -3.7);
        assert_eq!(truncate_value(3.789, 0), 3.0);
        assert_eq!(truncate_value(-3.789, 0), -3.0);
        assert_eq!(truncate_value(1234.5, -2), 1200.0);
        assert_eq!(truncate_value(0.29, 2), 0.29);
        assert_eq!(truncate_value(0.289_999_999, 2), 0.28);
        assert_eq!(truncate_value(1.5, 400), 1.5);
        assert_eq!(truncate_value(1.5e300, 10), 1.5e300);
        assert_eq!(truncate_value(-1.5, -400), -0.0);
        assert!(truncate_value(f64::NAN, 2).is_nan());
        assert_eq!(truncate_value(f64::INFINITY, 2), f64::INFINITY);
    }
}
