//! `contains(point, circle)`: ADQL 2.1 CONTAINS, 1 when the point lies in the circle.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, Int32Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{circle_type, components, point_type};
use crate::distance::angular_distance_deg;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "1 if the point lies inside the circle or on its edge, else 0 (ADQL 2.1 CONTAINS, \
         written `1 = CONTAINS(POINT(ra, dec), CIRCLE(ra0, dec0, r))`). The test is exact on \
         the sphere (great-circle distance to the centre). NULL if either argument is NULL.",
        "contains(point, circle)",
    )
    .with_argument("point", "A POINT.")
    .with_argument("circle", "A CIRCLE.")
    .with_sql_example("```sql\n> SELECT contains(point(10, 20), circle(10, 20.05, 0.1));\n1\n```")
    .build()
});

/// ADQL `CONTAINS(point, circle)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ContainsFunc {
    signature: Signature,
}

impl Default for ContainsFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl ContainsFunc {
    /// `(point, circle) -> integer`.
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(vec![point_type(), circle_type()], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ContainsFunc {
    fn name(&self) -> &str {
        "contains"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [p, c] = arrays.as_slice() else {
            return exec_err!("contains takes a point and a circle");
        };
        let (pv, pn) = components(p, 2, "point")?;
        let (cv, cn) = components(c, 3, "circle")?;
        let valid = |n: &Option<datafusion::arrow::buffer::NullBuffer>, i: usize| {
            n.as_ref().is_none_or(|n| n.is_valid(i))
        };
        let out: Int32Array = (0..p.len())
            .map(|i| {
                if !valid(&pn, i) || !valid(&cn, i) {
                    return None;
                }
                let d = angular_distance_deg(pv[2 * i], pv[2 * i + 1], cv[3 * i], cv[3 * i + 1]);
                Some(i32::from(d <= cv[3 * i + 2]))
            })
            .collect();
        debug_assert_eq!(out.len(), p.len());
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
