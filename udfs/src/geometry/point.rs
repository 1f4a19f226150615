//! `point(ra, dec)`: ADQL 2.1 POINT (the coordinate-system argument is removed by the ADQL
//! front end when it is '' or ICRS).

use std::sync::LazyLock;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

use super::{build, check_built, geometry_field, point_type};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "A position on the sky (ADQL 2.1 POINT): DALI point, double[2] (ra, dec) in degrees. \
         NULL when either coordinate is NULL; an error for a latitude outside [-90, 90] or a \
         non-finite coordinate.",
        "point(ra, dec)",
    )
    .with_argument("ra", "Longitude (right ascension), degrees.")
    .with_argument("dec", "Latitude (declination), degrees.")
    .with_sql_example("```sql\n> SELECT point(10.5, -3.25);\n[10.5, -3.25]\n```")
    .build()
});

/// ADQL `POINT(ra, dec)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PointFunc {
    signature: Signature,
}

impl Default for PointFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl PointFunc {
    /// `(double, double) -> point`.
    pub fn new() -> Self {
        Self {
            signature: Signature::uniform(2, vec![DataType::Float64], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PointFunc {
    fn name(&self) -> &str {
        "point"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(point_type())
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(geometry_field(self.name(), "point", 2))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [ra, dec] = arrays.as_slice() else {
            return exec_err!("point takes two numbers: ra, dec");
        };
        let out = build(&[
            ra.as_primitive::<Float64Type>(),
            dec.as_primitive::<Float64Type>(),
        ])?;
        check_built(self.name(), &out, 2)?;
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
