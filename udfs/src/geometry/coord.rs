//! `coord1(point)` and `coord2(point)`: ADQL 2.1 COORD1 and COORD2.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{components, point_type};

static DOC1: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The first coordinate (longitude, degrees) of a POINT (ADQL 2.1 COORD1).",
        "coord1(point)",
    )
    .with_argument("point", "A POINT.")
    .with_sql_example("```sql\n> SELECT coord1(point(10.5, -3.25));\n10.5\n```")
    .build()
});

static DOC2: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The second coordinate (latitude, degrees) of a POINT (ADQL 2.1 COORD2).",
        "coord2(point)",
    )
    .with_argument("point", "A POINT.")
    .with_sql_example("```sql\n> SELECT coord2(point(10.5, -3.25));\n-3.25\n```")
    .build()
});

/// ADQL `COORD1(point)` (`index` 0) and `COORD2(point)` (`index` 1).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CoordFunc {
    index: usize,
    signature: Signature,
}

impl CoordFunc {
    /// COORD1 (`index` 0) or COORD2 (`index` 1).
    pub fn new(index: usize) -> Self {
        Self {
            index: index.min(1),
            signature: Signature::exact(vec![point_type()], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CoordFunc {
    fn name(&self) -> &str {
        if self.index == 0 { "coord1" } else { "coord2" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [p] = arrays.as_slice() else {
            return exec_err!("{} takes one point", self.name());
        };
        let (flat, nulls) = components(p, 2, "point")?;
        let values: Vec<f64> = (0..p.len()).map(|i| flat[2 * i + self.index]).collect();
        Ok(ColumnarValue::Array(Arc::new(Float64Array::new(
            values.into(),
            nulls,
        ))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(if self.index == 0 { &DOC1 } else { &DOC2 })
    }
}
