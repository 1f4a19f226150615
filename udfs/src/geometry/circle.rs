//! `circle(ra, dec, radius)` or `circle(point, radius)`: ADQL 2.1 CIRCLE.

use std::sync::LazyLock;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};

use super::{build, check_built, circle_type, geometry_field, point_type, split_point};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "A circle on the sky (ADQL 2.1 CIRCLE): DALI circle, double[3] (ra, dec, radius) in \
         degrees. The centre may be given as a POINT. NULL when any part is NULL; an error for a \
         radius outside [0, 180] or a latitude outside [-90, 90].",
        "circle(ra, dec, radius)",
    )
    .with_argument("ra", "Centre longitude, degrees (or a POINT, then no dec).")
    .with_argument("dec", "Centre latitude, degrees.")
    .with_argument("radius", "Radius, degrees.")
    .with_sql_example("```sql\n> SELECT circle(10.5, -3.25, 0.1);\n[10.5, -3.25, 0.1]\n```")
    .build()
});

/// ADQL `CIRCLE(ra, dec, radius)` and `CIRCLE(point, radius)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CircleFunc {
    signature: Signature,
}

impl Default for CircleFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl CircleFunc {
    /// `(double, double, double) -> circle` and `(point, double) -> circle`.
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Uniform(3, vec![DataType::Float64]),
                    TypeSignature::Exact(vec![point_type(), DataType::Float64]),
                    TypeSignature::Exact(vec![point_type(), DataType::Int64]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for CircleFunc {
    fn name(&self) -> &str {
        "circle"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(circle_type())
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(geometry_field(self.name(), "circle", 3))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = match arrays.as_slice() {
            [ra, dec, r] => build(&[
                ra.as_primitive::<Float64Type>(),
                dec.as_primitive::<Float64Type>(),
                r.as_primitive::<Float64Type>(),
            ])?,
            [p, r] => {
                let (ra, dec) = split_point(p)?;
                let r = cast(r, &DataType::Float64)?;
                build(&[&ra, &dec, r.as_primitive::<Float64Type>()])?
            }
            _ => return exec_err!("circle takes (ra, dec, radius) or (point, radius)"),
        };
        check_built(self.name(), &out, 3)?;
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
