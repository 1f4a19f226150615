//! `contains(a, b)`: ADQL 2.1 CONTAINS, 1 when geometry `a` lies within geometry `b`.

use std::sync::LazyLock;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{Kind, check_geometry_args, point_in_circle, predicate, sphere};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "1 if the first geometry lies entirely inside the second (boundary included), else 0 \
         (ADQL 2.1 CONTAINS, written `1 = CONTAINS(POINT(ra, dec), CIRCLE(ra0, dec0, r))`). \
         Any of point, circle, box and polygon on either side; the tests are exact on the \
         sphere with great-circle polygon edges: a point in a circle compares the Vincenty \
         distance with the radius (so it agrees with DISTANCE), a circle in a polygon needs its \
         centre inside and every edge at least a radius away, a polygon in a circle must avoid \
         the complementary cap, a polygon in a polygon needs every vertex inside and no \
         crossing edges. NULL if either argument is NULL; an error for an invalid geometry \
         (latitude outside [-90, 90], radius outside [0, 180], invalid polygon).",
        "contains(a, b)",
    )
    .with_argument("a", "The inner geometry: POINT, CIRCLE, BOX or POLYGON.")
    .with_argument(
        "b",
        "The outer geometry: CIRCLE, BOX or POLYGON (or a POINT).",
    )
    .with_sql_example(
        "```sql\n> SELECT contains(point(10, 20), circle(10, 20.05, 0.1));\n1\n\
         > SELECT contains(circle(0, 0, 0.5), box(0, 0, 2, 2));\n1\n```",
    )
    .build()
});

/// ADQL `CONTAINS(a, b)`.
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
    /// `(geometry, geometry) -> integer`.
    pub fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
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

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_geometry_args(self.name(), arg_types)?;
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let kinds = check_geometry_args(
            self.name(),
            &args
                .args
                .iter()
                .map(ColumnarValue::data_type)
                .collect::<Vec<_>>(),
        )?;
        if kinds == [Kind::Point, Kind::Circle] {
            let arrays = ColumnarValue::values_to_arrays(&args.args)?;
            return Ok(ColumnarValue::Array(point_in_circle(
                self.name(),
                &arrays[0],
                &arrays[1],
            )?));
        }
        predicate(self.name(), &args, sphere::contains)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::super::invoke;
    use super::super::testing::{circle, ints, points, polygon};
    use super::*;

    #[test]
    fn points_in_a_polygon_across_ra_zero_and_nulls() {
        let p = points(&[
            Some((0.0, 0.0)),
            Some((359.5, 0.5)),
            None,
            Some((180.0, 0.0)),
            Some((1.0 + 1e-9, 0.0)),
        ]);
        let g = polygon(&[359.0, -1.0, 1.0, -1.0, 1.0, 1.0, 359.0, 1.0]);
        let out = invoke(&ContainsFunc::new(), vec![p, g], 5).unwrap();
        assert_eq!(ints(&out), [Some(1), Some(1), None, Some(0), Some(0)]);
    }

    #[test]
    fn points_in_circles_poles_antipodes_zero_radius() {
        let p = points(&[Some((0.0, 89.99)), Some((180.0, 89.99)), Some((0.0, -90.0))]);
        let out = invoke(&ContainsFunc::new(), vec![p, circle(90.0, 90.0, 0.02)], 3).unwrap();
        assert_eq!(ints(&out), [Some(1), Some(1), Some(0)]);
        let p = points(&[Some((10.0, 20.0)), Some((10.0, 20.0 + 1e-12))]);
        let out = invoke(&ContainsFunc::new(), vec![p, circle(10.0, 20.0, 0.0)], 2).unwrap();
        assert_eq!(ints(&out), [Some(1), Some(0)]);
        let p = points(&[Some((180.0, 0.0))]);
        let all = invoke(
            &ContainsFunc::new(),
            vec![p.clone(), circle(0.0, 0.0, 180.0)],
            1,
        );
        assert_eq!(ints(&all.unwrap()), [Some(1)]);
        let almost = invoke(&ContainsFunc::new(), vec![p, circle(0.0, 0.0, 179.9999)], 1);
        assert_eq!(ints(&almost.unwrap()), [Some(0)]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let p = points(&[Some((0.0, 0.0))]);
        let e = invoke(
            &ContainsFunc::new(),
            vec![p.clone(), circle(0.0, 0.0, -1.0)],
            1,
        );
        assert!(e.unwrap_err().to_string().contains("radius -1"));
        let e = invoke(
            &ContainsFunc::new(),
            vec![p, polygon(&[0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0])],
            1,
        );
        assert!(e.unwrap_err().to_string().contains("cross"));
        assert!(
            ContainsFunc::new()
                .return_type(&[DataType::Float64, DataType::Float64])
                .is_err()
        );
    }
}
