//! `area(geometry)`: ADQL 2.1 AREA in square degrees.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::Float64Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{check_geometry_args, decode};

/// Square degrees per steradian.
const SQ_DEG_PER_SR: f64 = (180.0 / std::f64::consts::PI) * (180.0 / std::f64::consts::PI);

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The area of a geometry in square degrees (ADQL 2.1 AREA): 0 for a point, \
         2 pi (1 - cos r) steradians for a circle, the spherical excess for a box or polygon \
         (the smaller of the two regions its edges bound, at most half the sky). NULL if the \
         argument is NULL.",
        "area(geometry)",
    )
    .with_argument("geometry", "A POINT, CIRCLE, BOX or POLYGON.")
    .with_sql_example(
        "```sql\n> SELECT area(polygon(0, 0, 90, 0, 0, 90));\n5156.620156177409\n```\n\
         (one octant: 4 pi / 8 steradians)",
    )
    .build()
});

/// ADQL `AREA(geometry)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AreaFunc {
    signature: Signature,
}

impl Default for AreaFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl AreaFunc {
    /// `(geometry) -> double`.
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for AreaFunc {
    fn name(&self) -> &str {
        "area"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_geometry_args(self.name(), arg_types)?;
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [g] = args.args.as_slice() else {
            return exec_err!("area takes one geometry");
        };
        let shapes = decode(self.name(), g)?;
        let out: Float64Array = (0..args.number_rows)
            .map(|i| shapes.get(i).map(|s| s.area() * SQ_DEG_PER_SR))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::super::invoke;
    use super::super::testing::{circle, f64s, points, polygons};
    use super::*;

    #[test]
    fn areas() {
        let g = polygons(&[
            Some(vec![0.0, 0.0, 90.0, 0.0, 0.0, 90.0]),
            None,
            Some(vec![359.0, 0.0, 1.0, 0.0, 1.0, 1.0, 359.0, 1.0]),
        ]);
        let a = f64s(&invoke(&AreaFunc::new(), vec![g], 3).unwrap());
        assert!((a[0].unwrap() - 4.0 * std::f64::consts::PI / 8.0 * SQ_DEG_PER_SR).abs() < 1e-9);
        assert_eq!(a[1], None);
        assert!((a[2].unwrap() - 2.0).abs() < 1e-3, "{a:?}");
        // A 1 arcsec circle is pi square arcsec, to full precision.
        let c = f64s(&invoke(&AreaFunc::new(), vec![circle(10.0, 89.0, 1.0 / 3600.0)], 1).unwrap());
        assert!((c[0].unwrap() * 3600.0 * 3600.0 / std::f64::consts::PI - 1.0).abs() < 1e-9);
        let p =
            f64s(&invoke(&AreaFunc::new(), vec![points(&[Some((1.0, 2.0)), None])], 2).unwrap());
        assert_eq!(p, [Some(0.0), None]);
    }
}
