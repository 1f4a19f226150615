//! `sign(x)`: ADQL 2.1 `SIGN`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_MATH;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_MATH,
        "Returns -1, 0 or 1 for negative, zero (including -0.0) and positive `x` (ADQL 2.1 SIGN). \
         Integer arguments give a bigint, other numbers a double. NULL gives NULL, NaN gives NaN.",
        "sign(x)",
    )
    .with_standard_argument("x", Some("Numeric"))
    .with_sql_example("```sql\n> SELECT sign(-42), sign(0.0), sign(2.5);\n-1, 0.0, 1.0\n```")
    .build()
});

/// ADQL `SIGN(x)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SignFunc {
    signature: Signature,
}

impl Default for SignFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl SignFunc {
    /// The function with its signatures `(bigint) -> bigint` and `(double) -> double`.
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Int64]),
                    TypeSignature::Exact(vec![DataType::Float64]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

/// The kernel for doubles: -1, 0 or 1; NaN stays NaN.
pub fn sign_f64(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else if x == 0.0 {
        0.0
    } else {
        x.signum()
    }
}

impl ScalarUDFImpl for SignFunc {
    fn name(&self) -> &str {
        "sign"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [DataType::Int64] => Ok(DataType::Int64),
            _ => Ok(DataType::Float64),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [x] = arrays.as_slice() else {
            return exec_err!("sign takes one argument");
        };
        let out: ArrayRef = match x.data_type() {
            DataType::Int64 => Arc::new(
                x.as_primitive::<Int64Type>()
                    .unary::<_, Int64Type>(i64::signum),
            ),
            DataType::Float64 => Arc::new(
                x.as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(sign_f64),
            ),
            other => return exec_err!("sign: unexpected argument type {other}"),
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
        assert_eq!(sign_f64(-2.5), -1.0);
        assert_eq!(sign_f64(-0.0), 0.0);
        assert_eq!(sign_f64(3.0), 1.0);
        assert_eq!(sign_f64(f64::NEG_INFINITY), -1.0);
        assert!(sign_f64(f64::NAN).is_nan());
    }
}
