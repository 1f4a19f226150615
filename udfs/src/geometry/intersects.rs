//! `intersects(a, b)`: ADQL 2.1 INTERSECTS, 1 when geometries `a` and `b` share a point.

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
        "1 if the two geometries overlap or touch, else 0 (ADQL 2.1 INTERSECTS). Any of point, \
         circle, box and polygon on either side; with a point it is CONTAINS(point, other), as \
         ADQL 2.1 says. Exact on the sphere with great-circle polygon edges: circles overlap \
         when their centres are at most the sum of the radii apart, a circle meets a polygon \
         when its centre is inside or some edge is within a radius, two polygons meet when \
         edges cross or one has a vertex inside the other. NULL if either argument is NULL; an \
         error for an invalid geometry.",
        "intersects(a, b)",
    )
    .with_argument("a", "A POINT, CIRCLE, BOX or POLYGON.")
    .with_argument("b", "A POINT, CIRCLE, BOX or POLYGON.")
    .with_sql_example(
        "```sql\n> SELECT intersects(circle(0, 0, 1), polygon(0.5, 0.5, 3, 0.5, 3, 3));\n1\n```",
    )
    .build()
});

/// ADQL `INTERSECTS(a, b)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IntersectsFunc {
    signature: Signature,
}

impl Default for IntersectsFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl IntersectsFunc {
    /// `(geometry, geometry) -> integer`.
    pub fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for IntersectsFunc {
    fn name(&self) -> &str {
        "intersects"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_geometry_args(self.name(), arg_types)?;
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let types: Vec<_> = args.args.iter().map(ColumnarValue::data_type).collect();
        let kinds = check_geometry_args(self.name(), &types)?;
        let pc = match kinds.as_slice() {
            [Kind::Point, Kind::Circle] => Some((0, 1)),
            [Kind::Circle, Kind::Point] => Some((1, 0)),
            _ => None,
        };
        if let Some((p, c)) = pc {
            let arrays = ColumnarValue::values_to_arrays(&args.args)?;
            return Ok(ColumnarValue::Array(point_in_circle(
                self.name(),
                &arrays[p],
                &arrays[c],
            )?));
        }
        predicate(self.name(), &args, sphere::intersects)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::super::invoke;
    use super::super::testing::{circle, ints, points, polygon, polygons};
    use super::*;

    #[test]
    fn polygon_column_against_a_circle() {
        let g = polygons(&[
            Some(vec![0.5, 0.5, 3.0, 0.5, 3.0, 3.0]),
            Some(vec![10.0, 10.0, 11.0, 10.0, 11.0, 11.0]),
            None,
            // Around the pole, the circle centred on the pole.
            Some(vec![0.0, 85.0, 120.0, 85.0, 240.0, 85.0]),
        ]);
        let out = invoke(
            &IntersectsFunc::new(),
            vec![circle(0.0, 0.0, 1.0), g.clone()],
            4,
        );
        assert_eq!(ints(&out.unwrap()), [Some(1), Some(0), None, Some(0)]);
        let out = invoke(&IntersectsFunc::new(), vec![g, circle(0.0, 90.0, 1.0)], 4);
        assert_eq!(ints(&out.unwrap()), [Some(0), Some(0), None, Some(1)]);
    }

    #[test]
    fn points_either_side() {
        let p = points(&[Some((359.95, 0.0)), Some((0.2, 0.0))]);
        let out = invoke(
            &IntersectsFunc::new(),
            vec![circle(0.05, 0.0, 0.11), p.clone()],
            2,
        );
        assert_eq!(ints(&out.unwrap()), [Some(1), Some(0)]);
        let sq = polygon(&[359.9, -0.1, 0.1, -0.1, 0.1, 0.1, 359.9, 0.1]);
        let out = invoke(&IntersectsFunc::new(), vec![p, sq], 2);
        assert_eq!(ints(&out.unwrap()), [Some(1), Some(0)]);
    }
}
