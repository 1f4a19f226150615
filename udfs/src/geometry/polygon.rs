//! `polygon(lon1, lat1, lon2, lat2, lon3, lat3, ...)` or `polygon(point1, point2, point3, ...)`:
//! ADQL 2.1 POLYGON.

use std::sync::LazyLock;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Float64Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};

use super::sphere::Polygon;
use super::{Kind, build_polygons, kind_of, polygon_field, polygon_type, split_point};

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "A spherical polygon (ADQL 2.1 POLYGON): DALI polygon, double[] of vertex (ra, dec) \
         pairs in degrees, joined by great-circle arcs. At least three vertices, the first not \
         repeated at the end; the polygon is the smaller of the two regions its edges bound, so \
         the winding order does not matter. NULL when any coordinate is NULL. An error for a \
         latitude outside [-90, 90], coincident or antipodal consecutive vertices, crossing \
         edges or zero area.",
        "polygon(ra1, dec1, ra2, dec2, ra3, dec3 [, ...])",
    )
    .with_argument("ra1, dec1, ...", "Vertex longitudes and latitudes, degrees.")
    .with_argument("point1, point2, ...", "Alternatively: the vertices as POINTs.")
    .with_sql_example(
        "```sql\n> SELECT polygon(10, 20, 12, 20, 11, 22);\n[10.0, 20.0, 12.0, 20.0, 11.0, 22.0]\n```",
    )
    .build()
});

/// ADQL `POLYGON`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PolygonFunc {
    signature: Signature,
}

impl Default for PolygonFunc {
    fn default() -> Self {
        Self::new()
    }
}

impl PolygonFunc {
    /// `(double, double, ...) -> polygon` (an even number, at least six) and
    /// `(point, point, point, ...) -> polygon`.
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PolygonFunc {
    fn name(&self) -> &str {
        "polygon"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        let numbers = arg_types.iter().all(|t| t.is_numeric() || t.is_null());
        let points = arg_types
            .iter()
            .all(|t| matches!(kind_of(t), Some(Kind::Point | Kind::Null)));
        let n = arg_types.len();
        let as_numbers = numbers && n >= 6 && n.is_multiple_of(2);
        let as_points = points && !numbers && n >= 3;
        if as_numbers || as_points {
            Ok(polygon_type())
        } else {
            plan_err!(
                "polygon takes at least three vertices, as ra, dec number pairs or as points; \
                 got {} arguments",
                arg_types.len()
            )
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
        let mut coords: Vec<ArrayRef> = Vec::with_capacity(arrays.len() * 2);
        for a in &arrays {
            match kind_of(a.data_type()) {
                Some(Kind::Point) => {
                    let (ra, dec) = split_point(a)?;
                    coords.push(std::sync::Arc::new(ra));
                    coords.push(std::sync::Arc::new(dec));
                }
                _ => coords.push(cast(a, &DataType::Float64)?),
            }
        }
        let cols: Vec<_> = coords
            .iter()
            .map(|c| c.as_primitive::<Float64Type>())
            .collect();
        let rows = args.number_rows;
        let mut out = Vec::with_capacity(rows);
        let mut buf = Vec::with_capacity(cols.len());
        for i in 0..rows {
            if cols.iter().any(|c| c.is_null(i)) {
                out.push(None);
                continue;
            }
            buf.clear();
            buf.extend(cols.iter().map(|c| c.value(i)));
            if let Err(e) = Polygon::new(&buf) {
                return exec_err!("polygon: {e}");
            }
            out.push(Some(buf.clone()));
        }
        Ok(ColumnarValue::Array(build_polygons(out.into_iter())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Field, Float64Type};
    use datafusion::common::ScalarValue;
    use datafusion::config::ConfigOptions;

    use super::*;

    fn call(args: Vec<ScalarValue>) -> Result<ArrayRef> {
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        let f = PolygonFunc::new();
        let out = f.invoke_with_args(ScalarFunctionArgs {
            args: args.into_iter().map(ColumnarValue::Scalar).collect(),
            arg_fields,
            number_rows: 1,
            return_field: polygon_field("polygon"),
            config_options: Arc::new(ConfigOptions::default()),
        })?;
        out.to_array(1)
    }

    fn f(x: f64) -> ScalarValue {
        ScalarValue::Float64(Some(x))
    }

    #[test]
    fn builds_and_validates() {
        let a = call([10.0, 20.0, 12.0, 20.0, 11.0, 22.0].map(f).to_vec()).unwrap();
        let l = a.as_list::<i32>();
        let v = l.value(0);
        assert_eq!(
            v.as_primitive::<Float64Type>().values().to_vec(),
            vec![10.0, 20.0, 12.0, 20.0, 11.0, 22.0]
        );
        let mut with_null = [10.0, 20.0, 12.0, 20.0, 11.0, 22.0].map(f).to_vec();
        with_null[3] = ScalarValue::Float64(None);
        assert!(call(with_null).unwrap().is_null(0));
        let bow = call([0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0].map(f).to_vec());
        assert!(bow.unwrap_err().to_string().contains("cross"));
        let pole = call([0.0, 0.0, 1.0, 0.0, 1.0, 90.5].map(f).to_vec());
        assert!(pole.unwrap_err().to_string().contains("latitude 90.5"));
    }

    #[test]
    fn plan_time_arity() {
        let f = PolygonFunc::new();
        assert!(f.return_type(&vec![DataType::Float64; 4]).is_err());
        assert!(f.return_type(&vec![DataType::Float64; 7]).is_err());
        assert!(f.return_type(&vec![DataType::Int64; 6]).is_ok());
        assert!(f.return_type(&vec![super::super::point_type(); 3]).is_ok());
        assert!(f.return_type(&vec![super::super::point_type(); 2]).is_err());
    }
}
