//! `box(ra, dec, width, height)` or `box(point, width, height)`: ADQL 2.1 BOX, as a polygon.

use std::sync::LazyLock;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

use super::sphere::box_corners;
use super::{Kind, build_polygons, kind_of, polygon_field, polygon_type, split_point};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "A box on the sky (ADQL 2.1 BOX, deprecated there in favour of POLYGON), returned as a \
         four-vertex DALI polygon. Its sides are great circles: the east and west sides lie \
         width/2 from the centre and the north and south sides height/2 from it, measured \
         along the great circles through the centre towards east and north (a rectangle in the \
         gnomonic projection at the centre). Degrees. NULL when any argument is NULL; an error \
         for a width or height outside (0, 180), a latitude outside [-90, 90] or a centre on a \
         pole.",
        "box(ra, dec, width, height)",
    )
    .with_argument("ra", "Centre longitude, degrees (or a POINT, then no dec).")
    .with_argument("dec", "Centre latitude, degrees.")
    .with_argument(
        "width",
        "Full width along the centre's east-west great circle, degrees.",
    )
    .with_argument(
        "height",
        "Full height along the centre's meridian, degrees.",
    )
    .with_sql_example(
        "```sql\n> SELECT round(area(box(0, 0, 2, 2)), 6);\n3.999594\n```\nThe corners of \
         `box(0, 0, 2, 2)` are (359, -0.9998477), (1, -0.9998477), (1, 0.9998477), \
         (359, 0.9998477): the sides are great circles 1 degree from the centre.",
    )
    .build()
});

/// ADQL `BOX(ra, dec, width, height)` and `BOX(point, width, height)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BoxFunc {
    signature: Signature,
}

impl Default for BoxFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl BoxFunc {
    /// `(double, double, double, double) -> polygon` and `(point, double, double) -> polygon`.
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for BoxFunc {
    fn name(&self) -> &str {
        "box"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let num = |t: &DataType| t.is_numeric() || t.is_null();
        match arg_types {
            [a, b, c, d] if num(a) && num(b) && num(c) && num(d) => Ok(polygon_type()),
            [p, c, d] if kind_of(p) == Some(Kind::Point) && num(c) && num(d) => Ok(polygon_type()),
            _ => plan_err!(
                "box takes (ra, dec, width, height) or (point, width, height), not {arg_types:?}"
            ),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        self.return_type(&types)?;
        Ok(polygon_field(self.name()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let f64s = |a: &datafusion::arrow::array::ArrayRef| cast(a, &DataType::Float64);
        let (ra, dec, w, h) = match arrays.as_slice() {
            [a, b, c, d] => (f64s(a)?, f64s(b)?, f64s(c)?, f64s(d)?),
            [p, c, d] => {
                let (ra, dec) = split_point(p)?;
                (
                    std::sync::Arc::new(ra) as _,
                    std::sync::Arc::new(dec) as _,
                    f64s(c)?,
                    f64s(d)?,
                )
            }
            _ => return exec_err!("box takes (ra, dec, width, height) or (point, width, height)"),
        };
        let cols = [&ra, &dec, &w, &h].map(|c| c.as_primitive::<Float64Type>());
        let mut out = Vec::with_capacity(args.number_rows);
        for i in 0..args.number_rows {
            if cols.iter().any(|c| c.is_null(i)) {
                out.push(None);
                continue;
            }
            let [a, b, c, d] = cols.map(|c| c.value(i));
            match box_corners(a, b, c, d) {
                Ok(v) => out.push(Some(v.to_vec())),
                Err(e) => return exec_err!("box: {e}"),
            }
        }
        Ok(ColumnarValue::Array(build_polygons(out.into_iter())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::AsArray;
    use datafusion::common::ScalarValue;

    use super::super::invoke;
    use super::*;

    fn f(x: Option<f64>) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Float64(x))
    }

    #[test]
    fn corners_nulls_and_errors() {
        let b = invoke(
            &BoxFunc::new(),
            vec![f(Some(0.0)), f(Some(0.0)), f(Some(2.0)), f(Some(2.0))],
            1,
        )
        .unwrap();
        let v = b.as_list::<i32>().value(0);
        let v = v.as_primitive::<Float64Type>().values().to_vec();
        let lat = (1f64.to_radians().tan() / (1.0 + 1f64.to_radians().tan().powi(2)).sqrt())
            .atan()
            .to_degrees();
        let want = [359.0, -lat, 1.0, -lat, 1.0, lat, 359.0, lat];
        assert!(
            v.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12),
            "{v:?}"
        );
        let n = invoke(
            &BoxFunc::new(),
            vec![f(Some(0.0)), f(None), f(Some(2.0)), f(Some(2.0))],
            1,
        );
        assert!(n.unwrap().is_null(0));
        let e = invoke(
            &BoxFunc::new(),
            vec![f(Some(0.0)), f(Some(90.0)), f(Some(2.0)), f(Some(2.0))],
            1,
        );
        assert!(e.unwrap_err().to_string().contains("pole"));
        let e = invoke(
            &BoxFunc::new(),
            vec![f(Some(0.0)), f(Some(0.0)), f(Some(-2.0)), f(Some(2.0))],
            1,
        );
        assert!(e.unwrap_err().to_string().contains("width -2"));
    }
}
